/**
 * A browser tab (the one-script embed) in a task with leaf aggregators: it submits to the aggregator the round
 * gives it (cross-origin, with a CORS preflight), and when that aggregator goes away holding its update, the
 * tab sends the same update to the coordinator. Every update counts exactly once.
 * @module
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { describe, test } from 'node:test';
import { runAggregator, type AggregatorEvent } from '../../host-node/aggregator.js';
import { startCoordinator } from '../../host-node/coordinator/index.js';
import { getJson, TestParticipant, until } from '../coordinator-helpers.js';
import { chromiumSkip, ensureEmbed, launchChromium } from './harness.js';

type Status = { rows: { round: number; accepted: string[]; hosts: { node: number; browser: number }; partials?: { id: string; members: number; audited: boolean }[] }[]; participants: { id: string; host: string; role: string; connected: boolean }[] };
type Ledger = { round: number; id: string; kind: 'update' | 'aggregate'; covers?: { id: string }[] }[];

describe('browser participant with a leaf aggregator', { skip: chromiumSkip() }, () => {
  test('the tab submits to its aggregator; after the aggregator goes away holding its round-2 update, the tab sends it to the coordinator, and it counts once', async () => {
    ensureEmbed();
    const tmp = await mkdtemp(joinPath(tmpdir(), 'meshwork-agg-browser-'));
    const log: string[] = [];
    const problems: string[] = [];
    const coord = await startCoordinator({ task: { name: 'agg-browser', rounds: 2, minParticipants: 2, rule: 'fedavg', roundTimeoutMs: 60_000, aggregators: { fanin: 2 }, data: { shards: 2, alpha: null } }, dir: joinPath(tmp, 'state'), port: 0, log: (l) => log.push(l) });
    const ac = new AbortController();
    const events: AggregatorEvent[] = [];
    const agg = runAggregator({ coordinator: coord.url, key: joinPath(tmp, 'agg.pem'), signal: ac.signal, event: (e) => events.push(e) });
    agg.catch(() => undefined);
    const context = await launchChromium({ userDataDir: joinPath(tmp, 'profile') });
    const node = new TestParticipant(coord.url);
    try {
      const aggId = (await until('the aggregator joins', () => events.find((e): e is Extract<AggregatorEvent, { type: 'joined' }> => e.type === 'joined'), 20_000)).id;
      await until('the aggregator is connected', async () => (await getJson<Status>(`${coord.url}/api/status`)).participants.find((p) => p.id === aggId)?.connected || undefined, 20_000);
      await node.join();
      node.viaAggregators = true;
      node.hold.add(2);
      node.connect();
      const page = await context.newPage();
      page.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`console.error: ${m.text()}`); });
      page.on('response', (r) => { if (r.status() >= 400 && !r.url().endsWith('/favicon.ico')) problems.push(`HTTP ${r.status()} for ${r.url()}`); });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      await page.goto(`${coord.url}/`);
      const tab = (await until('the tab joins', async () => (await getJson<Status>(`${coord.url}/api/status`)).participants.find((p) => p.host === 'browser'), 60_000)).id;
      // Round 1: both updates through the aggregator, one partial sum.
      await until('round 1 is aggregated', async () => (await getJson<Status>(`${coord.url}/api/status`)).rows[0], 90_000, () => `\n${log.join('\n')}\n${problems.join('\n')}`);
      // Round 2: the tab's update reaches the aggregator (the node participant holds its own), then the aggregator goes away.
      await until("the aggregator holds the tab's round 2 update", () => events.find((e) => e.type === 'received' && e.round === 2 && e.id === tab), 90_000, () => `\n${log.join('\n')}\n${problems.join('\n')}`);
      ac.abort();
      await agg.catch(() => undefined);
      await until('the coordinator takes the participants back', () => log.find((l) => new RegExp(`round 2: ${aggId} no longer aggregates`).test(l)), 20_000, () => `\n${log.join('\n')}`);
      await until("the tab's update counts at the coordinator", async () => (await getJson<{ submitted: string[] }>(`${coord.url}/api/round`)).submitted.includes(tab) || undefined, 30_000, () => `\n${log.join('\n')}\n${problems.join('\n')}`);
      await node.release(2);
      const rows = await coord.done;
      const status = await getJson<Status>(`${coord.url}/api/status`);
      assert.deepEqual(status.rows[0]!.partials, [{ id: aggId, members: 2, audited: true }], 'round 1 went through the aggregator');
      assert.deepEqual(status.rows[0]!.hosts, { node: 1, browser: 1 });
      assert.equal(status.rows[1]!.partials, undefined, 'round 2 did not');
      for (const row of rows) assert.deepEqual(row.accepted.slice().sort(), [node.id, tab].sort(), `round ${row.round}`);
      const ledger = await getJson<Ledger>(`${coord.url}/api/ledger`);
      for (const r of [1, 2]) {
        const counted = ledger.filter((e) => e.round === r).flatMap((e) => (e.kind === 'aggregate' ? e.covers!.map((c) => c.id) : [e.id]));
        assert.deepEqual(counted.sort(), [node.id, tab].sort(), `round ${r}: each update once`);
      }
      assert.deepEqual(problems, []);
      await page.close();
    } finally {
      ac.abort();
      node.close();
      await context.close();
      await coord.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
