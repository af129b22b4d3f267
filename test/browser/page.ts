/**
 * The Chromium conformance page: runs every case file on js, wasm and wasm-simd in the page and in a
 * module Web Worker, and publishes a {@link BrowserReport} as `window.__meshworkResults` (a promise, so
 * Playwright's `page.evaluate` can await it) and as a summary in the document.
 *
 * vite bundles tsc's output of this file (dist/test/browser/page.js), not this source: the browser host's
 * kernel URLs are relative to dist/host-browser/, as in the published package. Relative paths below are
 * the same from either tree; the case glob is root-absolute (the vite root is the repository).
 * @module
 */
import { wrap } from 'comlink';
import { detectCapabilities, loadDigits, ready, type Capabilities } from '../../host-browser/index.js';
import { shardIid, trainTestSplit } from '../../runtime/fl/data.js';
import { paramsSha256, simulate, simulateWith } from '../../runtime/fl/simulate.js';
import type { ConformanceWorkerApi } from '../../host-browser/conformance-worker.js';
import { caseInputs, outputBytes, outputDtypes, runConformance, type CaseFile, type ConformanceRow } from '../../runtime/conformance.js';
import { runKernel } from '../../runtime/registry.js';
import { createThreadPool } from '../../host-browser/pool.js';
import { OPS } from '../../runtime/ops/index.js';

/** Every backend the suite covers; each must run in each host. */
export const BACKENDS = ['js', 'wasm', 'wasm-simd'];

/** What one host (page or worker) saw: capabilities, the backends that started, and its rows. */
export interface HostReport {
  host: string;
  capabilities: Capabilities;
  ready: string[];
  rows: ConformanceRow[];
}

/** Everything the page hands to the test. */
export interface BrowserReport {
  crossOriginIsolated: boolean;
  userAgent: string;
  hosts: HostReport[];
  /** Thread-pool runs in Web Workers: each op's bytes compared with one thread. */
  pools: PoolReport[];
  /** The federated simulation (FL_RUN) in the page and on a Web Worker pool. */
  fl: FlReport;
  ms: number;
}

/** The simulation every host runs for the determinism check: digits, seed 1, IID, FedAvg. */
export const FL_RUN = { participants: 20, rounds: 10, seed: 1 } as const;

/** Final weights' SHA-256 of FL_RUN in the page (in-process) and with local training on a Web Worker pool. */
export interface FlReport {
  inPage?: string;
  onPool?: string;
  poolMode?: string;
  accuracy?: number;
  ms?: number;
  error?: string;
}

async function inSimulation(): Promise<FlReport> {
  try {
    const t0 = performance.now();
    const { train, test } = trainTestSplit(await loadDigits(), 0.2, FL_RUN.seed);
    const shards = shardIid(train, FL_RUN.participants, FL_RUN.seed);
    const opts = { rounds: FL_RUN.rounds, seed: FL_RUN.seed };
    const local = simulate(shards, test, opts);
    const pool = await createThreadPool({ threads: 2 });
    try {
      const pooled = await simulateWith((jobs) => pool.trainLocal(jobs), shards, test, opts);
      return { inPage: await paramsSha256(local.params), onPool: await paramsSha256(pooled.params), poolMode: pool.mode, accuracy: local.rows[local.rows.length - 1]!.accuracy, ms: Math.round(performance.now() - t0) };
    } finally {
      pool.dispose();
    }
  } catch (e) {
    return { error: String((e as Error).stack ?? e) };
  }
}

/** One op run on a browser thread pool. */
export interface PoolReport {
  mode: 'shared' | 'transfer';
  pool: string;
  op: string;
  equal: boolean;
  error?: string;
}

/** Ops the pool splits, with shapes big enough to be split, given as conformance-style fills. */
const POOL_CASES: [string, Record<string, unknown>, Record<string, { fill: 'normal' | 'int'; length: number; seed: number }>][] = [
  ['matmul', { m: 150, k: 90, n: 140 }, { a: { fill: 'normal', length: 150 * 90, seed: 1 }, b: { fill: 'normal', length: 90 * 140, seed: 2 } }],
  ['matmul', { m: 96, k: 140, n: 130, transA: true, transB: true }, { a: { fill: 'normal', length: 96 * 140, seed: 3 }, b: { fill: 'normal', length: 130 * 140, seed: 4 } }],
  ['matmul', { m: 400, k: 70, n: 20 }, { a: { fill: 'normal', length: 400 * 70, seed: 13 }, b: { fill: 'normal', length: 70 * 20, seed: 14 } }],
  ['sum', { n: 30, d: 9001 }, { x: { fill: 'int', length: 30 * 9001, seed: 5 } }],
  ['wsum', { n: 30, d: 9001 }, { x: { fill: 'int', length: 30 * 9001, seed: 6 }, w: { fill: 'int', length: 30, seed: 7 } }],
  ['median', { n: 31, d: 9001 }, { x: { fill: 'int', length: 31 * 9001, seed: 8 } }],
  ['trimmedMean', { n: 40, d: 7001, trim: 4 }, { x: { fill: 'int', length: 40 * 7001, seed: 9 } }],
  ['pairwiseSqDist', { n: 20, d: 5003 }, { x: { fill: 'int', length: 20 * 5003, seed: 10 } }],
];

async function inPools(): Promise<PoolReport[]> {
  const out: PoolReport[] = [];
  for (const mode of ['shared', 'transfer'] as const) {
    const pool = await createThreadPool({ threads: 2, mode });
    try {
      for (const [op, attrs, fills] of POOL_CASES) {
        try {
          const inputs = caseInputs(op, { name: op, attrs, inputs: fills });
          const want = outputBytes(runKernel(op, inputs, attrs, { backend: 'wasm-simd' }), outputDtypes(op));
          const got = outputBytes(await pool.run(op, inputs, attrs), outputDtypes(op));
          out.push({ mode, pool: pool.mode, op, equal: want.length === got.length && want.every((b, i) => b === got[i]) });
        } catch (e) {
          out.push({ mode, pool: pool.mode, op, equal: false, error: String(e) });
        }
      }
    } finally {
      pool.dispose();
    }
  }
  return out;
}

declare global {
  interface Window {
    __meshworkResults?: Promise<BrowserReport>;
  }
}

// vite replaces this call with the parsed JSON of every case file at build time. Typed locally rather than
// through vite/client, whose ambient declarations would reach every file of the tsc program.
type Glob = <T>(pattern: string, options: { eager: true; import: 'default' }) => Record<string, T>;
const caseModules = (import.meta as ImportMeta & { glob: Glob }).glob<CaseFile>('/test/cases/*.json', { eager: true, import: 'default' });

/** The case files in op-table order (as Node runs them), so rows line up across hosts. */
function caseFiles(): CaseFile[] {
  const order = [...OPS.keys()];
  return Object.values(caseModules).sort((a, b) => order.indexOf(a.op) - order.indexOf(b.op));
}

async function inPage(files: CaseFile[]): Promise<HostReport> {
  const started = await ready(BACKENDS).catch(() => []);
  return { host: 'chromium-page', capabilities: detectCapabilities(), ready: started, rows: await runConformance(files, BACKENDS, 'chromium-page') };
}

async function inWorker(files: CaseFile[]): Promise<HostReport> {
  // The literal `new Worker(new URL(…), { type: 'module' })` is what vite recognises to bundle the worker.
  const worker = new Worker(new URL('../../host-browser/conformance-worker.js', import.meta.url), { type: 'module' });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (e) => reject(new Error(`conformance worker failed to load or threw: ${e.message || 'no message'}`)));
  });
  try {
    const api = wrap<ConformanceWorkerApi>(worker);
    const { capabilities, ready: started } = await Promise.race([api.probe(BACKENDS), failed]);
    const rows = await Promise.race([api.run(files, BACKENDS), failed]);
    return { host: 'chromium-worker', capabilities, ready: started, rows };
  } finally {
    worker.terminate();
  }
}

async function main(): Promise<BrowserReport> {
  const t0 = performance.now();
  const files = caseFiles();
  // Worker first: it computes on its own thread while the page's run blocks this one.
  const worker = inWorker(files);
  const page = await inPage(files);
  const hosts = [page, await worker];
  const pools = await inPools();
  const fl = await inSimulation();
  const report: BrowserReport = { crossOriginIsolated, userAgent: navigator.userAgent, hosts, pools, fl, ms: Math.round(performance.now() - t0) };
  const out = document.getElementById('summary');
  if (out) {
    out.textContent = hosts
      .map((h) => `${h.host}: ${h.rows.filter((r) => r.equal).length}/${h.rows.length} rows equal (ready: ${h.ready.join(', ')})`)
      .concat(`crossOriginIsolated: ${report.crossOriginIsolated}; ${report.ms} ms`)
      .join('\n');
  }
  return report;
}

window.__meshworkResults = main();
// Keep an unobserved failure visible in the console when the page is opened by hand.
window.__meshworkResults.catch((e: unknown) => console.error('meshwork conformance failed:', e));
