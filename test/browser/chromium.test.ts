/**
 * Chromium conformance: every case on js, wasm and wasm-simd, in a page and in a module Web Worker, must
 * give the case files' hashes (the same bits as Node).
 *
 * The page (test/browser/index.html, which loads tsc's dist/test/browser/page.js) is bundled, served and
 * opened by harness.ts. Run after `npm run build`: `node test/run.mjs browser`.
 * @module
 */
import assert from 'node:assert/strict';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { REPO, chromiumSkip, withChromiumPage } from './harness.js';
import type { CaseFile } from '../../runtime/conformance.js';
import type { BrowserReport, HostReport } from './page.js';

const HOSTS = ['chromium-page', 'chromium-worker'];
// Not imported from page.ts: importing it would run the page's top level here.
const BACKENDS = ['js', 'wasm', 'wasm-simd'];
/** Generous bound on the page's whole run (it takes a few seconds); a hang fails instead of stalling CI. */
const RUN_TIMEOUT_MS = 90_000;

/** The case files, read in Node: the expected hashes. */
async function caseFiles(): Promise<CaseFile[]> {
  const dir = join(REPO, 'test/cases');
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as CaseFile));
}

/** Builds, serves and opens the conformance page; returns its report. */
function runInChromium(): Promise<BrowserReport> {
  return withChromiumPage('test/browser/index.html', (page) => page.evaluate(() => {
    if (!window.__meshworkResults) throw new Error('the page did not start (window.__meshworkResults is unset)');
    return window.__meshworkResults;
  }), { timeoutMs: RUN_TIMEOUT_MS });
}

// Without chromium a developer's run skips; CI must have it (.ci/run installs it), so there it fails.
const skip = chromiumSkip();

describe('Chromium conformance (page and module worker)', { skip }, () => {
  let report: BrowserReport;
  let files: CaseFile[];

  before(async () => {
    [files, report] = await Promise.all([caseFiles(), runInChromium()]);
  });

  const host = (name: string): HostReport => {
    const h = report.hosts.find((x) => x.host === name);
    assert.ok(h, `no report from host ${name}`);
    return h;
  };

  test('the page is cross-origin isolated', (t) => {
    t.diagnostic(`${report.userAgent}; ${report.hosts.map((h) => `${h.host}: ${h.rows.length} rows`).join(', ')}; ${report.ms} ms in the page`);
    assert.equal(report.crossOriginIsolated, true);
    for (const name of HOSTS) {
      assert.equal(host(name).capabilities.crossOriginIsolated, true, `${name}: crossOriginIsolated`);
      assert.equal(host(name).capabilities.sharedArrayBuffer, true, `${name}: SharedArrayBuffer`);
    }
  });

  test('federated simulation: the same final weights (SHA-256) in Node, in the page and on a Web Worker pool', async () => {
    const { ready } = await import('../../host-node/index.js');
    const { loadDigits } = await import('../../host-node/data.js');
    const { shardIid, trainTestSplit } = await import('../../runtime/fl/data.js');
    const { paramsSha256, simulate } = await import('../../runtime/fl/simulate.js');
    assert.equal(report.fl.error, undefined);
    await ready();
    const run = { participants: 20, rounds: 10, seed: 1 }; // page.ts FL_RUN (not imported: see BACKENDS)
    const { train, test: held } = trainTestSplit(loadDigits(), 0.2, run.seed);
    const res = simulate(shardIid(train, run.participants, run.seed), held, { rounds: run.rounds, seed: run.seed });
    const want = await paramsSha256(res.params);
    assert.equal(report.fl.inPage, want, 'page');
    assert.equal(report.fl.onPool, want, `Web Worker pool (${report.fl.poolMode})`);
    assert.equal(report.fl.poolMode, 'shared');
    assert.equal(report.fl.accuracy, res.rows[res.rows.length - 1]!.accuracy);
  });

  for (const mode of ['shared', 'transfer'] as const) {
    test(`thread pool in Web Workers (${mode} memory): same bytes as one thread`, () => {
      const runs = report.pools.filter((p) => p.mode === mode);
      assert.ok(runs.length >= 8, `only ${runs.length} pool runs in ${mode} mode`);
      assert.equal(runs[0]!.pool, mode, 'the pool that ran');
      const bad = runs.filter((r) => !r.equal).map((r) => `${r.op}: ${r.error ?? 'bytes differ'}`);
      assert.deepEqual(bad, []);
    });
  }

  for (const name of HOSTS) {
    test(`${name}: every backend starts, wasm-simd included`, () => {
      const h = host(name);
      assert.equal(h.capabilities.simd, true, `${name}: the engine does not validate Wasm SIMD`);
      assert.deepEqual([...h.ready].sort(), [...BACKENDS].sort(), `${name}: backends that started`);
    });

    for (const backend of BACKENDS) {
      test(`${name} / ${backend}: every case gives the reference hash`, () => {
        const expected = new Map(files.flatMap((f) => f.cases.map((c) => [`${f.op}/${c.name}`, c.sha256] as const)));
        const rows = host(name).rows.filter((r) => r.backend === backend);
        const got = new Map(rows.map((r) => [`${r.kernel}/${r.case}`, r] as const));
        assert.equal(rows.length, got.size, 'a case ran more than once');
        assert.deepEqual([...got.keys()].sort(), [...expected.keys()].sort(), 'cases run differ from the case files');
        // One message listing every failing case, rather than stopping at the first.
        const bad = rows
          .filter((r) => !r.equal || r.error || r.sha256 !== expected.get(`${r.kernel}/${r.case}`))
          .map((r) => `${r.kernel}/${r.case}: ${r.error ?? `sha256 ${r.sha256}, expected ${expected.get(`${r.kernel}/${r.case}`)}`}`);
        assert.deepEqual(bad, [], `${bad.length} of ${rows.length} cases differ on ${name} / ${backend}`);
      });
    }
  }
});
