/**
 * Conformance inside a module Web Worker, so a suite can show that a worker gives the same output bits
 * as a page and as Node. Start it as a module worker and talk to it through comlink:
 * @example
 * const worker = new Worker(new URL('./conformance-worker.js', import.meta.url), { type: 'module' });
 * const api = wrap<ConformanceWorkerApi>(worker);
 * const rows = await api.run(files, ['js', 'wasm', 'wasm-simd']);
 * @module
 */
import { expose } from 'comlink';
import { runConformance, type CaseFile, type ConformanceRow } from '../runtime/conformance.js';
import { detectCapabilities, ready, type Capabilities } from './index.js';

/** The host label of the worker's rows. */
export const WORKER_HOST = 'chromium-worker';

const api = {
  /** Runs every case on each backend in this worker; rows carry host 'chromium-worker'. */
  async run(files: CaseFile[], backends: string[]): Promise<ConformanceRow[]> {
    // A backend that cannot start is not skipped: its rows carry the reason as `error`.
    await ready(backends).catch(() => undefined);
    return runConformance(files, backends, WORKER_HOST);
  },
  /** Starts the backends and reports which did, with the engine's capabilities as the worker sees them. */
  async probe(backends: string[]): Promise<{ capabilities: Capabilities; ready: string[] }> {
    const started = await ready(backends).catch(() => []);
    return { capabilities: detectCapabilities(), ready: started };
  },
};

/** The worker's API as seen through comlink's `wrap`. */
export type ConformanceWorkerApi = typeof api;

// Listen only when running as a worker, so importing this module elsewhere touches no page global.
const g = globalThis as { WorkerGlobalScope?: abstract new () => unknown };
if (typeof g.WorkerGlobalScope === 'function' && globalThis instanceof g.WorkerGlobalScope) expose(api);
