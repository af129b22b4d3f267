/**
 * meshwork runtime: host-agnostic kernels, backends and the numerics contract. Importing it touches no
 * host global; host adapters (`meshwork/node`, `meshwork/browser`) install the kernel loader.
 * @example
 * import { ready, runKernel } from 'meshwork/node';
 * await ready();
 * const [c] = runKernel('matmul', { a, b }, { m: 64, k: 64, n: 64 });
 * @module
 */
export { env, type Env, type WasmLoader } from './env.js';
export { detectCapabilities, type Capabilities } from './capabilities.js';
export { readyAll as ready, runKernel, backendFor, readyBackends, backendFailures, registerBackend, registerKernel, getKernel, initBackend, type Kernel, type BackendFactory, type RunOptions } from './registry.js';
export { OPS, type OpDef, type Plan, type Inputs, type Attrs } from './ops/index.js';
export type { TypedArray, DType } from './errors.js';
export * from './fl/index.js';
