/**
 * The Node thread pool: worker_threads Workers driven over comlink, all on one shared Wasm memory.
 * @example
 * const pool = await createThreadPool({ threads: 2 });
 * const [c] = await pool.run('matmul', { a, b }, { m: 1024, k: 1024, n: 1024 });
 * pool.dispose();
 * @module
 */
import { Worker } from 'node:worker_threads';
import { wrap } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { createPool, type KernelPool, type PoolOptions } from '../runtime/threads/create.js';
import type { PoolWorkerApi } from '../runtime/threads/worker-api.js';
import { ready } from './index.js';

/** Starts a pool (the caller plus threads - 1 workers); see {@link PoolOptions}. */
export async function createThreadPool(options: PoolOptions | number = {}): Promise<KernelPool> {
  await ready(['wasm-simd']);
  const opts = typeof options === 'number' ? { threads: options } : options;
  return createPool(opts, () => {
    const worker = new Worker(new URL('./pool-worker.js', import.meta.url));
    worker.unref();
    let ending = false;
    const failed = new Promise<never>((_, reject) => {
      worker.on('error', reject);
      worker.on('exit', (code) => { if (!ending) reject(new Error(`worker exited with code ${code}`)); });
    });
    const terminate = () => { ending = true; void worker.terminate(); };
    return { api: wrap<PoolWorkerApi>(nodeEndpoint(worker)), terminate, failed };
  });
}

export { ThreadPool, TransferPool, PARALLEL_OPS, splitRange } from '../runtime/threads/pool.js';
export type { KernelPool, PoolOptions } from '../runtime/threads/create.js';
