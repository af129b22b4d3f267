/**
 * The Wasm backends: `wasm-simd` (kernels/build/simd.wasm) and `wasm` (scalar.wasm, also the build the
 * embedded C host runs). Modules are compiled once per build and shared.
 * @module
 */
import { detectCapabilities } from '../capabilities.js';
import { env } from '../env.js';
import type { TypedArray } from '../errors.js';
import type { Inputs, Plan } from '../ops/types.js';
import { WASM_BINDINGS } from './wasm-kernels.js';
import { WasmInstance } from './wasm-memory.js';

/** Kernel builds, by backend name. */
export const WASM_FILES = { 'wasm-simd': 'simd.wasm', wasm: 'scalar.wasm', threads: 'simd-threads.wasm' } as const;

const modules = new Map<string, Promise<WebAssembly.Module>>();

/** Compiles (once) the kernel build in `file` through the host's loader. */
export function compileKernelModule(file: string): Promise<WebAssembly.Module> {
  let p = modules.get(file);
  if (!p) {
    p = (async () => {
      const loader = env.wasm.loader;
      let src: ArrayBuffer | Uint8Array | WebAssembly.Module;
      if (loader) src = await loader(file);
      else {
        const base = env.wasm.wasmPaths;
        if (base === undefined) throw new Error(`no kernel loader: import 'meshwork/node' or 'meshwork/browser', or set env.wasm.wasmPaths`);
        const res = await fetch(new URL(file, base));
        if (!res.ok) throw new Error(`fetching ${file}: HTTP ${res.status}`);
        src = await res.arrayBuffer();
      }
      return src instanceof WebAssembly.Module ? src : WebAssembly.compile(src as BufferSource);
    })();
    modules.set(file, p);
    p.catch(() => modules.delete(file));
  }
  return p;
}

/** A ready Wasm backend: one instance with its own memory, used synchronously. */
export class WasmBackend {
  constructor(readonly name: 'wasm' | 'wasm-simd', readonly instance: WasmInstance) {}

  /** Creates the backend, or throws saying why it cannot run here. */
  static async create(name: 'wasm' | 'wasm-simd'): Promise<WasmBackend> {
    const caps = detectCapabilities();
    if (!caps.wasm) throw new Error('WebAssembly is not available');
    if (name === 'wasm-simd') {
      if (!env.wasm.simd) throw new Error('disabled by env.wasm.simd = false');
      if (!caps.simd) throw new Error('this engine does not validate 128-bit Wasm SIMD');
    }
    const module = await compileKernelModule(WASM_FILES[name]);
    const instance = await WebAssembly.instantiate(module, {});
    return new WasmBackend(name, new WasmInstance(instance));
  }

  /** Whether this backend has a kernel for `op`. */
  has(op: string): boolean {
    return op in WASM_BINDINGS;
  }

  /** Runs a validated op. */
  run(op: string, inputs: Inputs, plan: Plan): TypedArray[] {
    const binding = WASM_BINDINGS[op];
    if (!binding) throw new Error(`${this.name}: no kernel for ${op}`);
    try {
      return binding(this.instance, inputs, plan);
    } finally {
      this.instance.reset();
    }
  }
}
