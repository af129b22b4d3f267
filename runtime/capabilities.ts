/**
 * Engine capability probes: tiny `WebAssembly.validate` modules (no code runs) plus global checks, all
 * done lazily on first call so importing the runtime touches no host global.
 * @module
 */

// (func (result v128) i32.const 0 i8x16.splat i8x16.popcnt)
const SIMD_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5, 1, 96, 0, 1, 123, 3, 2, 1, 0, 10, 10, 1, 8, 0, 65, 0, 253, 15, 253, 98, 11]);
// (memory 1 1 shared) (func i32.const 0 i32.atomic.load drop)
const THREADS_PROBE = new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 4, 1, 96, 0, 0, 3, 2, 1, 0, 5, 4, 1, 3, 1, 1, 10, 11, 1, 9, 0, 65, 0, 254, 16, 2, 0, 26, 11]);

/** What this engine and host can do. */
export interface Capabilities {
  /** The engine runs WebAssembly at all. */
  wasm: boolean;
  /** 128-bit Wasm SIMD validates. */
  simd: boolean;
  /** Shared memory and atomics validate and SharedArrayBuffer is usable. */
  threads: boolean;
  /** SharedArrayBuffer is exposed (browsers: only when cross-origin isolated). */
  sharedArrayBuffer: boolean;
  /** Browsers: the page is cross-origin isolated (COOP + COEP); null outside browsers. */
  crossOriginIsolated: boolean | null;
  /** A WebGPU entry point (`navigator.gpu`) exists; an adapter may still be refused. */
  webgpu: boolean;
  /** Logical cores reported by the host. */
  hardwareConcurrency: number;
}

let cached: Capabilities | undefined;

/** Facts a host adapter knows better than the globals (Node has no `navigator` before v21). */
export const hostHints: { hardwareConcurrency: number | undefined } = { hardwareConcurrency: undefined };

function validate(bytes: Uint8Array<ArrayBuffer>): boolean {
  try {
    return WebAssembly.validate(bytes);
  } catch {
    return false;
  }
}

/** Probes the engine once and caches the answer (the core count is read fresh: a host hint may come later). */
export function detectCapabilities(): Capabilities {
  if (cached) return { ...cached, hardwareConcurrency: cores() };
  const g = globalThis as { crossOriginIsolated?: boolean; navigator?: { gpu?: unknown; hardwareConcurrency?: number }; SharedArrayBuffer?: unknown; window?: unknown; WorkerGlobalScope?: unknown };
  const wasm = typeof WebAssembly === 'object' && typeof WebAssembly.validate === 'function';
  const sab = typeof g.SharedArrayBuffer === 'function';
  const inBrowser = typeof g.window === 'object' || typeof g.WorkerGlobalScope === 'function';
  cached = {
    wasm,
    simd: wasm && validate(SIMD_PROBE),
    threads: wasm && sab && validate(THREADS_PROBE),
    sharedArrayBuffer: sab,
    crossOriginIsolated: inBrowser ? g.crossOriginIsolated === true : null,
    webgpu: typeof g.navigator === 'object' && g.navigator !== null && 'gpu' in g.navigator && g.navigator.gpu != null,
    hardwareConcurrency: cores(),
  };
  return { ...cached };
}

function cores(): number {
  const nav = (globalThis as { navigator?: { hardwareConcurrency?: number } }).navigator;
  return Math.max(1, hostHints.hardwareConcurrency ?? nav?.hardwareConcurrency ?? 1);
}

/** Forgets the cached probe (tests). */
export function resetCapabilities(): void {
  cached = undefined;
}
