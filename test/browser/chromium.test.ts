/**
 * Chromium conformance: every case on js, wasm and wasm-simd, in a page and in a module Web Worker, must
 * give the case files' hashes (the same bits as Node).
 *
 * Bundles the page (test/browser/index.html, which loads tsc's dist/test/browser/page.js) with vite's JS
 * API into a temporary folder, serves it from 127.0.0.1 (WebCrypto needs a secure context) with COOP/COEP
 * so it is cross-origin isolated, and drives Debian's /usr/bin/chromium through playwright-core (no
 * browser download). Run after `npm run build`: `node --test dist/test/browser/`.
 * @module
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { CaseFile } from '../../runtime/conformance.js';
import type { BrowserReport, HostReport } from './page.js';

const CHROMIUM = '/usr/bin/chromium';
/** Headless flags known to work here (see ../shared/TOOLCHAIN.md, Browsers). */
const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** This file runs from dist/test/browser/. */
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const HOSTS = ['chromium-page', 'chromium-worker'];
// Not imported from page.ts: importing it would run the page's top level here.
const BACKENDS = ['js', 'wasm', 'wasm-simd'];
/** Generous bound on the page's whole run (it takes a few seconds); a hang fails instead of stalling CI. */
const RUN_TIMEOUT_MS = 90_000;

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.css': 'text/css',
  // Required for WebAssembly.compileStreaming, which the browser host uses when it sees this type.
  '.wasm': 'application/wasm',
};

/** Serves `dir` read-only on a free port of 127.0.0.1, every response cross-origin isolating. */
async function serve(dir: string): Promise<{ server: Server; origin: string }> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    let file: string;
    try {
      file = resolve(root, `.${decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)}`);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
          'Cache-Control': 'no-store',
        });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/** The case files, read in Node: the expected hashes. */
async function caseFiles(): Promise<CaseFile[]> {
  const dir = join(REPO, 'test/cases');
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  return Promise.all(names.map(async (n) => JSON.parse(await readFile(join(dir, n), 'utf8')) as CaseFile));
}

/** Builds, serves and opens the page; returns its report. Everything it starts is stopped before it returns. */
async function runInChromium(): Promise<BrowserReport> {
  const { build } = await import('vite');
  const { chromium } = await import('playwright-core');
  const outDir = await mkdtemp(join(tmpdir(), 'meshwork-browser-'));
  let server: Server | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    await build({
      configFile: join(REPO, 'vite.config.ts'),
      root: REPO,
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, rolldownOptions: { input: join(REPO, 'test/browser/index.html') } },
    });
    const served = await serve(outDir);
    server = served.server;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
    const page = await browser.newPage();
    // Kept for the failure message: a module that fails to load shows up only here.
    const log: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => log.push(`page error: ${e.message}`));
    await page.goto(`${served.origin}/test/browser/index.html`);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        page.evaluate(() => {
          if (!window.__meshworkResults) throw new Error('the page did not start (window.__meshworkResults is unset)');
          return window.__meshworkResults;
        }),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no results after ${RUN_TIMEOUT_MS} ms`)), RUN_TIMEOUT_MS);
        }),
      ]);
    } catch (e) {
      throw new Error(`Chromium run failed: ${(e as Error).message}${log.length ? `\n${log.join('\n')}` : ''}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise((ok) => server!.close(ok));
    }
    await rm(outDir, { recursive: true, force: true });
  }
}

// Without chromium a developer's run skips; CI must have it (.ci/run installs it), so there it fails.
const missing = !existsSync(CHROMIUM);
const skip = missing && !process.env.CI ? `${CHROMIUM} is missing (apt-get install chromium); CI fails instead of skipping` : false;

describe('Chromium conformance (page and module worker)', { skip }, () => {
  let report: BrowserReport;
  let files: CaseFile[];

  before(async () => {
    if (missing) throw new Error(`${CHROMIUM} is missing; install it with apt-get install chromium`);
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
