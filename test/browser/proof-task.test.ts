/**
 * A browser tab in a proofs task, through the one-script embed: the participant imports the Groth16 prover
 * (its chunk, its worker with snarkjs, the circuit artifacts) only when the task asks for proofs. One Chromium
 * profile, two coordinators: a proofs task (the tab's proven updates are accepted, and Playwright's request
 * log shows the prover chunks fetched) and a task without proofs (the tab trains and submits without them).
 * @module
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext } from 'playwright-core';
import { startCoordinator, type RunningCoordinator } from '../../host-node/coordinator/index.js';
import { chromiumSkip, ensureEmbed, launchChromium } from './harness.js';



const PROVER = /\/m\/groth16-[\w-]+\.js$/;
const PROVER_WORKER = /\/m\/groth16-worker-[\w-]+\.js$/;
const ZKEY = /\/m\/update_chunk_64-[\w-]+\.zkey$/;

describe('browser participant in a proofs task: the prover is loaded lazily', { skip: chromiumSkip() }, () => {
  let tmp: string;
  let context: BrowserContext | undefined;
  const coords: RunningCoordinator[] = [];
  const problems: string[] = [];
  /** Requests by coordinator origin (Playwright's request log of the whole context, workers included). */
  const requests = new Map<string, string[]>();
  const run: { proofs?: { rows: { accepted: string[] }[]; ms: number }; plain?: { rows: { accepted: string[] }[]; ms: number } } = {};

  before(async () => {
    ensureEmbed();
    tmp = await mkdtemp(joinPath(tmpdir(), 'meshwork-proof-browser-'));
    context = await launchChromium({ userDataDir: joinPath(tmp, 'profile') });
    context.on('request', (r) => {
      const u = new URL(r.url());
      if (!requests.has(u.origin)) requests.set(u.origin, []);
      requests.get(u.origin)!.push(u.pathname);
    });
    const join = async (name: string, task: Record<string, unknown>) => {
      const coord = await startCoordinator({ task: { name, minParticipants: 1, minSubmissions: 1, rule: 'fedavg', roundTimeoutMs: 60_000, data: { shards: 2, alpha: null }, ...task }, dir: joinPath(tmp, name), port: 0 });
      coords.push(coord);
      const page = await context!.newPage();
      // 'Failed to load resource' is the browser's line for a 4xx (the favicon); failed responses are checked below.
      page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${name} console.error: ${m.text()}`); });
      page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`${name}: HTTP ${r.status()} for ${r.url()}`); });
      page.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
      const t0 = performance.now();
      await page.goto(`${coord.url}/`);
      const timeout = new Promise<never>((_, fail) => setTimeout(() => fail(new Error(`${name}: the task did not finish in 90 s; ${problems.join('\n')}`)), 90_000).unref());
      const rows = await Promise.race([coord.done, timeout]);
      const ms = performance.now() - t0;
      await page.close();
      return { rows, ms, origin: new URL(coord.url).origin };
    };
    const p = await join('proofs-browser', { rounds: 2, proofs: { chunks: 1 } });
    run.proofs = p;
    const q = await join('plain-browser', { rounds: 1 });
    run.plain = q;
    (run as Record<string, unknown>).origins = [p.origin, q.origin];
  });
  after(async () => {
    await context?.close();
    for (const c of coords) await c.close();
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('a tab joins a proofs task through the embed; its proven updates are accepted every round, and it fetched the prover chunks and the proving key', (t) => {
    const [origin] = (run as unknown as { origins: string[] }).origins;
    assert.equal(run.proofs!.rows.length, 2);
    for (const row of run.proofs!.rows) assert.equal(row.accepted.length, 1, JSON.stringify(row));
    const log = requests.get(origin!) ?? [];
    t.diagnostic(`proofs task: 2 rounds in ${(run.proofs!.ms / 1000).toFixed(1)} s; prover requests: ${log.filter((p) => PROVER.test(p) || PROVER_WORKER.test(p) || ZKEY.test(p)).join(', ')}`);
    assert.ok(log.some((p) => PROVER.test(p)), `the prover chunk was not fetched: ${log.join(', ')}`);
    assert.ok(log.some((p) => PROVER_WORKER.test(p)), `the prover worker was not fetched: ${log.join(', ')}`);
    assert.ok(log.some((p) => ZKEY.test(p)), `the proving key was not fetched: ${log.join(', ')}`);
    assert.deepEqual(problems, []);
  });

  test('on a task without proofs the tab trains and submits without fetching the prover', (t) => {
    const [, origin] = (run as unknown as { origins: string[] }).origins;
    assert.equal(run.plain!.rows.length, 1);
    assert.equal(run.plain!.rows[0]!.accepted.length, 1);
    const log = requests.get(origin!) ?? [];
    t.diagnostic(`task without proofs: 1 round in ${(run.plain!.ms / 1000).toFixed(1)} s, ${log.length} requests`);
    assert.ok(log.some((p) => p === '/meshwork.js') && log.some((p) => p === '/api/submit'), log.join(', '));
    assert.deepEqual(log.filter((p) => PROVER.test(p) || PROVER_WORKER.test(p) || ZKEY.test(p) || p.endsWith('.zkey')), []);
  });
});
