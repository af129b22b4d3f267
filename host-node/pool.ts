/**
 * The Node thread pool: worker_threads Workers driven over comlink, all on one shared Wasm memory.
 * @example
 * const pool = await createThreadPool(2);
 * const [c] = await pool.run('matmul', { a, b }, { m: 1024, k: 1024, n: 1024 });
 * pool.dispose();
 * @module
 */
import { Worker } from 'node:worker_threads';
import { wrap } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ThreadPool } from '../runtime/threads/pool.js';
import type { PoolWorkerApi } from '../runtime/threads/worker-api.js';
import { detectCapabilities } from '../runtime/capabilities.js';
import { env } from '../runtime/env.js';
import { installNodeHost } from './index.js';

/**
 * Starts a pool of `threads` threads (the caller plus threads - 1 workers).
 * Default: env.wasm.threads, or one per logical core.
 */
export async function createThreadPool(threads?: number): Promise<ThreadPool> {
  installNodeHost();
  const n = threads ?? (env.wasm.threads || detectCapabilities().hardwareConcurrency);
  return ThreadPool.create(n, () => {
    const worker = new Worker(new URL('./pool-worker.js', import.meta.url));
    worker.unref();
    return { api: wrap<PoolWorkerApi>(nodeEndpoint(worker)), terminate: () => void worker.terminate() };
  });
}

export { ThreadPool, PARALLEL_OPS, splitRange } from '../runtime/threads/pool.js';
