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
import { detectCapabilities, ready, type Capabilities } from '../../host-browser/index.js';
import type { ConformanceWorkerApi } from '../../host-browser/conformance-worker.js';
import { runConformance, type CaseFile, type ConformanceRow } from '../../runtime/conformance.js';
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
  ms: number;
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
  const report: BrowserReport = { crossOriginIsolated, userAgent: navigator.userAgent, hosts, ms: Math.round(performance.now() - t0) };
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
