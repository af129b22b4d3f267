/**
 * Node host adapter: the runtime API plus a kernel loader that reads the binaries from the package's
 * kernels/build/ and the host's core count. Nothing happens at import time; `ready()` installs them.
 * @example
 * import { ready, runKernel } from 'meshwork/node';
 * await ready();
 * const [c] = runKernel('matmul', { a, b }, { m: 64, k: 64, n: 64 });
 * @module
 */
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { env } from '../runtime/env.js';
import { hostHints } from '../runtime/capabilities.js';
import { readyAll } from '../runtime/registry.js';

/** Where the kernel binaries live: <package root>/kernels/build/ (this module runs from dist/host-node/). */
export const KERNELS_DIR = new URL('../../kernels/build/', import.meta.url);

/** Installs the Node loader and core count unless the user set their own. Idempotent. */
export function installNodeHost(): void {
  env.wasm.loader ??= async (file) => {
    try {
      return await readFile(new URL(file, env.wasm.wasmPaths ?? KERNELS_DIR));
    } catch (e) {
      throw new Error(`cannot read kernel build ${file} (${(e as Error).message}); run 'npm run build:kernels'`);
    }
  };
  hostHints.hardwareConcurrency ??= availableParallelism();
}

/**
 * Initialises the backends (see the runtime's `ready`) with the Node host installed.
 * @throws Error naming every backend's failure when none can start.
 */
export async function ready(backends?: string[]): Promise<string[]> {
  installNodeHost();
  return readyAll(backends);
}

export * from '../runtime/index.js';
export { createThreadPool, type KernelPool, type PoolOptions, type ThreadPool, type TransferPool, PARALLEL_OPS } from './pool.js';
export { loadDigits } from './data.js';
export { loadOrCreateIdentity, loadOrCreateHybridIdentity } from './keystore.js';
export { verifyNodeCrypto, verifyNodeCryptoDetailed } from './ed25519.js';
export {
  TpmAttestor, tpmCapability, verifyQuote, qualifyingData, type TpmCapability, type TpmQuote, type QuoteExpectations, type QuoteVerdict,
  type TpmAttest, type PcrSelection, type AttestationKey, type QuoteRequest, type TpmAttestorOptions,
} from './tpm.js';
export { startSwtpm, swtpmAvailable, type Swtpm, type SwtpmOptions } from './swtpm.js';
