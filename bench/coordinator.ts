/**
 * Coordinator latency on loopback: 100 participants (a separate load-generator process) submit signed
 * updates of d = 10,000 at once each round; per participant, the time from its submit to the round's
 * aggregate (the WebSocket `row` message: all updates verified, synced to the ledger, aggregated, applied,
 * evaluated and checkpointed). The coordinator runs in this process on a fresh LMDB folder.
 * Model: an MLP [64, 55, 68, 33, 10], which has exactly 10,000 parameters.
 * @module
 */
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { startCoordinator } from '../host-node/coordinator/index.js';
import { median, type BenchRow } from './harness.js';

const LOAD = fileURLToPath(new URL('./coordinator-load.js', import.meta.url));

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
  const n = 100, rounds = cfg.quick ? 5 : 15;
  for (const rule of ['fedavg', 'multi-krum'] as const) {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-bench-coord-'));
    const coord = await startCoordinator({ task: { name: `latency-${rule}`, sizes: [64, 55, 68, 33, 10], rounds, rule, minParticipants: n, maxParticipants: 128, roundTimeoutMs: 120_000 }, dir, port: 0 });
    try {
      cfg.log(`  coordinator: ${n} participants, d = ${coord.coordinator.d}, ${rule}, ${rounds} rounds`);
      const r = await runLoad(coord.url, n, rounds);
      await coord.done;
      const c = `${n} participants, d = ${r.d}, ${rule}`;
      const row = (metric: string, value: number) => rows.push({ suite: 'coordinator', case: c, backend: 'HTTP + WS loopback, LMDB synced', threads: 1, metric, value, unit: 'ms' });
      row('submit -> aggregate p50', r.p50);
      row('submit -> aggregate p95', r.p95);
      row('round open -> aggregate (median)', median(r.serverMs));
    } finally {
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  }
  return rows;
}
