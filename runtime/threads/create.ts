/**
 * Chooses the pool for a host: shared Wasm memory when SharedArrayBuffer is usable, transfer otherwise
 * (announced loudly: in browsers it means the page is not cross-origin isolated).
 * @module
 */
import { detectCapabilities } from '../capabilities.js';
import { env } from '../env.js';
import { ThreadPool, TransferPool, type WorkerHandle } from './pool.js';

/** Options of `createThreadPool`. */
export interface PoolOptions {
  /** Threads including the caller. Default: env.wasm.threads, or one per logical core. */
  threads?: number;
  /** 'shared' (one shared Wasm memory), 'transfer' (copies), or 'auto' (default): shared when possible. */
  mode?: 'auto' | 'shared' | 'transfer';
}

/** A started pool of either kind. */
export type KernelPool = ThreadPool | TransferPool;

/** Creates a pool with the host's worker spawner. */
export async function createPool(options: PoolOptions, spawn: () => WorkerHandle): Promise<KernelPool> {
  const caps = detectCapabilities();
  const threads = options.threads ?? (env.wasm.threads || caps.hardwareConcurrency);
  const mode = options.mode ?? 'auto';
  if (!['auto', 'shared', 'transfer'].includes(mode)) throw new RangeError(`mode must be 'auto', 'shared' or 'transfer', got '${mode}'`);
  if (mode === 'transfer' || (mode === 'auto' && !caps.threads)) {
    if (mode === 'auto' && env.logLevel !== 'error') {
      console.warn(`meshwork: no shared memory (${caps.crossOriginIsolated === false ? 'the page is not crossOriginIsolated: serve it with COOP same-origin and COEP require-corp' : 'SharedArrayBuffer is unavailable'}); the thread pool copies inputs to its workers`);
    }
    return TransferPool.create(threads, spawn);
  }
  return ThreadPool.create(threads, spawn);
}
