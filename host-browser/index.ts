/**
 * Browser host adapter (pages and module Web Workers): the runtime API plus a kernel loader that fetches
 * the binaries. Nothing happens at import time; `ready()` installs the loader.
 * @example
 * import { ready, runKernel } from 'meshwork/browser';
 * await ready();
 * const [c] = runKernel('matmul', { a, b }, { m: 64, k: 64, n: 64 });
 * @module
 */
import { installBrowserHost } from './kernels.js';
import { readyAll } from '../runtime/registry.js';

/**
 * Initialises the backends (see the runtime's `ready`) with the browser host installed.
 * @throws Error naming every backend's failure when none can start.
 */
export async function ready(backends?: string[]): Promise<string[]> {
  installBrowserHost();
  return readyAll(backends);
}

export * from '../runtime/index.js';
export { installBrowserHost, kernelUrl } from './kernels.js';
export { createThreadPool, type KernelPool, type PoolOptions, type ThreadPool, type TransferPool, PARALLEL_OPS } from './pool.js';
export { loadDigits } from './data.js';
export { loadOrCreateIdentity, deleteIdentity } from './keystore.js';
export { createBatchVerifier, type BrowserBatchVerifier, type BrowserVerifierOptions } from './verify.js';
export { join, CoordinatorError, type Participant, type JoinOptions, type ParticipantState, type StateDetail, type ProgressDetail, type ErrorDetail } from './participant.js';
