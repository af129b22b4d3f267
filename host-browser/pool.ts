/**
 * The browser thread pool: module Web Workers over comlink; one shared Wasm memory when the page is
 * cross-origin isolated, copies by transfer otherwise.
 * @example
 * const pool = await createThreadPool();
 * const [median] = await pool.run('median', { x }, { n: 100, d: 100_000 });
 * @module
 */
import { wrap } from 'comlink';
import { createPool, type KernelPool, type PoolOptions } from '../runtime/threads/create.js';
import type { PoolWorkerApi } from '../runtime/threads/worker-api.js';
import { ready } from './index.js';

/** Starts a pool (the caller plus threads - 1 workers); see {@link PoolOptions}. */
export async function createThreadPool(options: PoolOptions | number = {}): Promise<KernelPool> {
  await ready(['wasm-simd']);
  const opts = typeof options === 'number' ? { threads: options } : options;
  return createPool(opts, () => {
    const worker = new Worker(new URL('./pool-worker.js', import.meta.url), { type: 'module' });
    const failed = new Promise<never>((_, reject) => {
      worker.addEventListener('error', (e) => reject(new Error(e.message || 'the worker failed to load or threw')));
    });
    return { api: wrap<PoolWorkerApi>(worker), terminate: () => worker.terminate(), failed };
  });
}

export { ThreadPool, TransferPool, PARALLEL_OPS, splitRange } from '../runtime/threads/pool.js';
export type { KernelPool, PoolOptions } from '../runtime/threads/create.js';
