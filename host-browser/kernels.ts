/**
 * The browser host's kernel loader: where each kernel build lives next to the compiled module, and how it is
 * fetched and compiled. Its own module (not index.ts) so module workers can install it without importing
 * index.ts, which would make a cycle of workers bundlers refuse (index.ts exports `join`, whose worker
 * installs this loader, and the thread pool, whose worker imports index.ts).
 * @module
 */
import { env } from '../runtime/env.js';

/**
 * Where each kernel build lives relative to this module as it ships: it runs from dist/host-browser/ and
 * the binaries are in <package root>/kernels/build/ (so served unbundled, it works too). The paths are
 * relative to the compiled file: bundle dist/ (what users get), not these .ts sources, from which they
 * would point outside the package.
 * One `new URL('<literal>', import.meta.url)` per file on purpose: bundlers that handle this pattern
 * (vite, webpack 5, Parcel) only recognise a string literal there, copy the file into the bundle and
 * rewrite the URL; a computed path would be left unresolved. Wrapped in functions so no URL is built
 * before a kernel is asked for.
 */
const KERNEL_URLS: Readonly<Record<string, () => URL>> = {
  'simd.wasm': () => new URL('../../kernels/build/simd.wasm', import.meta.url),
  'scalar.wasm': () => new URL('../../kernels/build/scalar.wasm', import.meta.url),
  'simd-threads.wasm': () => new URL('../../kernels/build/simd-threads.wasm', import.meta.url),
};

/** The URL a kernel build is fetched from: under `env.wasm.wasmPaths` when set, else the bundled asset. */
export function kernelUrl(file: string): URL {
  const base = env.wasm.wasmPaths;
  if (base !== undefined) return new URL(file, base);
  const bundled = KERNEL_URLS[file];
  if (!bundled) throw new Error(`no bundled URL for kernel build ${file}; set env.wasm.wasmPaths to the folder that holds it`);
  return bundled();
}

/**
 * Fetches and compiles one build. Streaming compilation overlaps download and compile, but the engine
 * refuses it unless the server sends `application/wasm`, so other responses are compiled from bytes.
 */
async function fetchKernel(file: string): Promise<WebAssembly.Module | ArrayBuffer> {
  const url = kernelUrl(file);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch kernel build ${file} from ${url.href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch kernel build ${file} from ${url.href}: HTTP ${res.status}`);
  const type = res.headers.get('content-type') ?? '';
  if (typeof WebAssembly.compileStreaming === 'function' && /^application\/wasm\s*(;|$)/i.test(type)) {
    return WebAssembly.compileStreaming(res);
  }
  return res.arrayBuffer();
}

/** Installs the fetch loader unless the user set their own. Idempotent. */
export function installBrowserHost(): void {
  // The core count needs no hint here: the runtime reads navigator.hardwareConcurrency itself.
  env.wasm.loader ??= fetchKernel;
}

