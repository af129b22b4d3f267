/**
 * Runtime flags, one namespace per backend. Set them before `ready()`; every field is documented with its
 * default.
 * @module
 */

/** Fetches a kernel binary by file name (e.g. 'simd.wasm'); host adapters install one. */
export type WasmLoader = (file: string) => Promise<ArrayBuffer | Uint8Array | WebAssembly.Module>;

export interface Env {
  /** Backends to try, highest priority first. Default `['wasm-simd', 'wasm', 'js']`. */
  backends: string[];
  /** Log level for backend selection notices. Default `'warning'`. */
  logLevel: 'error' | 'warning' | 'info';
  wasm: {
    /** Allow the SIMD build when the engine validates SIMD. Default `true`. */
    simd: boolean;
    /** Threads for pool ops (the calling thread counts as one). Default 0: one per logical core. */
    threads: number;
    /** Base URL of the kernel binaries (kernels/build/). Default: next to the host adapter's module. */
    wasmPaths: string | URL | undefined;
    /** How binaries are loaded. Default: set by the host adapter (Node reads files, browsers fetch). */
    loader: WasmLoader | undefined;
  };
  webgpu: {
    /** Use WebGPU when an adapter exists (no WebGPU kernels ship yet). Default `true`. */
    enabled: boolean;
  };
}

/** The one env object. */
export const env: Env = {
  backends: ['wasm-simd', 'wasm', 'js'],
  logLevel: 'warning',
  wasm: { simd: true, threads: 0, wasmPaths: undefined, loader: undefined },
  webgpu: { enabled: true },
};
