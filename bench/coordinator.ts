/**
 * Coordinator latency on loopback: 100 participants (a separate load-generator process) submit signed
 * updates of d = 10,000 at once each round; per participant, the time from its submit to the round's
 * aggregate (the WebSocket `row` message: all updates verified, synced to the ledger, aggregated, applied,
 * evaluated and checkpointed). The coordinator runs in this process on a fresh LMDB folder.
 * Model: an MLP [64, 55, 68, 33, 10], which has exactly 10,000 parameters.
 *
 * FedAvg runs flat and through 4 leaf aggregators (fan-in 25, each its own `meshwork worker --role
 * aggregator` process), with every partial replayed (audit 1) and with none (audit 0); per round, the bytes
 * the coordinator takes in: the ledger's envelopes (updates, or partial sums) plus the envelopes it fetches to
 * replay partials.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator, type RunningCoordinator } from '../host-node/coordinator/index.js';
import { median, type BenchRow } from './harness.js';

const LOAD = fileURLToPath(new URL('./coordinator-load.js', import.meta.url));
const CLI = fileURLToPath(new URL('../host-node/cli.js', import.meta.url));

/** Starts `count` aggregator processes and waits until the coordinator has them connected. */
async function startAggregators(coord: RunningCoordinator, count: number, dir: string): Promise<ChildProcess[]> {
  const procs = Array.from({ length: count }, (_, i) => spawn(process.execPath, [CLI, 'worker', '--role', 'aggregator', '--coordinator', coord.url, '--key', join(dir, `agg${i}.pem`), '--quiet'], { stdio: ['ignore', 'ignore', 'inherit'] }));
  const t0 = Date.now();
  while (coord.coordinator.participantStatus().filter((p) => p.role === 'aggregator' && p.connected).length < count) {
    if (Date.now() - t0 > 60_000) throw new Error(`the ${count} aggregators did not connect in 60 s`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
  return procs;
}

interface LoadResult { participants: number; rounds: number; d: number; p50: number; p95: number; max: number; serverMs: number[] }

function runLoad(url: string, n: number, rounds: number): Promise<LoadResult> {
  return new Promise((ok, fail) => {
    const child = spawn(process.execPath, [LOAD, url, String(n), String(rounds)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '', err = '';
    child.stdout.on('data', (d: Buffer) => { out += d; });
    child.stderr.on('data', (d: Buffer) => { err += d; });
    child.on('exit', (code) => (code === 0 ? ok(JSON.parse(out) as LoadResult) : fail(new Error(`load generator exited ${code}: ${err.slice(-2000)}`))));
  });
}

export async function coordinatorSuite(cfg: { quick: boolean; log: (s: string) => void }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const n = 100, rounds = cfg.quick ? 5 : 15, aggregators = 4;
  const cases = [
    { rule: 'fedavg', tier: undefined },
    { rule: 'multi-krum', tier: undefined },
    { rule: 'fedavg', tier: { fanin: n / aggregators, audit: 1 } },
    { rule: 'fedavg', tier: { fanin: n / aggregators, audit: 0 } },
  ] as const;
  for (const { rule, tier } of cases) {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-bench-coord-'));
    const name = `latency-${rule}${tier ? `-agg-audit${tier.audit}` : ''}`;
    const coord = await startCoordinator({ task: { name, sizes: [64, 55, 68, 33, 10], rounds, rule, minParticipants: n, maxParticipants: 128, roundTimeoutMs: 120_000, ...(tier ? { aggregators: tier } : {}) }, dir: join(dir, 'state'), port: 0 });
    let procs: ChildProcess[] = [];
    try {
      const how = tier ? `${rule} via ${aggregators} leaf aggregators (fan-in ${tier.fanin}, audit ${tier.audit})` : rule;
      cfg.log(`  coordinator: ${n} participants, d = ${coord.coordinator.d}, ${how}, ${rounds} rounds`);
      if (tier) procs = await startAggregators(coord, aggregators, dir);
      const r = await runLoad(coord.url, n, rounds);
      const done = await coord.done;
      const c = `${n} participants, d = ${r.d}, ${how}`;
      const row = (metric: string, value: number, unit = 'ms') => rows.push({ suite: 'coordinator', case: c, backend: tier ? 'HTTP + WS loopback, LMDB synced, aggregator processes' : 'HTTP + WS loopback, LMDB synced', threads: 1, metric, value, unit });
      row('submit -> aggregate p50', r.p50);
      row('submit -> aggregate p95', r.p95);
      row('round open -> aggregate (median)', median(r.serverMs));
      // What the coordinator took in per round: the ledger's envelopes, and for each replayed partial the
      // envelopes it covers (all of one size here).
      const ledger = coord.coordinator.ledger();
      const update = ledger.find((e) => e.kind === 'update')?.bytes ?? 72 + 40 + 4 * r.d + 64;
      const replayed = done.reduce((a, row) => a + (row.partials ?? []).filter((p) => p.audited).reduce((b, p) => b + p.members, 0), 0);
      row('bytes into the coordinator per round', (ledger.reduce((a, e) => a + e.bytes, 0) + replayed * update) / done.length, 'B');
    } finally {
      for (const p of procs) p.kill('SIGTERM');
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
