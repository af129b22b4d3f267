// The coordinator with real processes: refusals with reasons, kill -9 in the middle of a round, and a
// fast-check storm of malformed requests against the running server while workers train.
import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { fromHex, utf8 } from '../proofs/bytes.js';
import { generateIdentity } from '../proofs/ed25519.js';
import { sealEnvelope } from '../proofs/envelope.js';
import { startCoordinator, type RunningCoordinator } from '../host-node/coordinator/index.js';
import { encodeUpdatePayload, type RoundInfo } from '../runtime/fl/protocol.js';
import { freePort, getJson, postBytes, spawnCoordinator, spawnWorker, TestParticipant, until } from './coordinator-helpers.js';

type Status = { rows: { round: number; accuracy: number; accepted: string[] }[]; rejections: { code: string; status: number }[]; counts: { accepted: number; rejected: number }; state: string };
type LedgerEntry = { round: number; id: string; sequence: number; sha256: string };

describe('coordinator: every bad request is refused with a 4xx and a reason, and the round goes on', () => {
  let dir: string;
  let coord: RunningCoordinator;
  let a: TestParticipant, b: TestParticipant;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshwork-coord-'));
    coord = await startCoordinator({ task: { rounds: 3, minParticipants: 2, rule: 'fedavg', data: { shards: 2, alpha: null } }, dir, port: 0 });
    a = await new TestParticipant(coord.url).join();
    b = await new TestParticipant(coord.url).join();
    a.hold.add(1);
    a.connect();
    b.connect();
    await until('b to submit round 1', () => b.acked.has(1) || undefined, 30_000);
  });
  after(async () => {
    a?.close();
    b?.close();
    await coord?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses each kind of bad submission with its status and code', async () => {
    const url = `${coord.url}/api/submit`;
    const good = await a.updateEnvelope(1);
    const d = coord.coordinator.d;
    const model = fromHex((await getJson<RoundInfo>(`${coord.url}/api/round`)).modelSha256);
    const seal = (fields: { round?: number; kind?: 'update' | 'control'; payload?: Uint8Array; task?: Uint8Array }, who = a.identity) =>
      sealEnvelope({ kind: fields.kind ?? 'update', task: fields.task ?? a.taskId, round: fields.round ?? 1, sequence: a.sequence++, payload: fields.payload ?? good.subarray(72, good.length - 64) }, who);
    const values = (f: (v: Int32Array) => void, dd = d) => {
      const v = new Int32Array(dd);
      f(v);
      return encodeUpdatePayload({ model, samples: 10, values: v });
    };
    const flipped = good.slice();
    flipped[good.length - 1]! ^= 1;
    const badMagic = good.slice();
    badMagic[0] = 0;
    const cases: [string, () => Promise<{ status: number; body: { error?: { code: string; message: string } } }>, number, string][] = [
      ['wrong content type', async () => postBytes(url, good, 'application/json'), 415, 'content-type'],
      ['NaN in a JSON body', async () => postBytes(url, utf8('{"values":[NaN]}'), 'application/json'), 415, 'content-type'],
      ['oversize body', async () => postBytes(url, new Uint8Array(200_000)), 413, 'too-large'],
      ['truncated', async () => postBytes(url, good.subarray(0, 50)), 400, 'truncated'],
      ['bad magic', async () => postBytes(url, badMagic), 400, 'magic'],
      ['wrong length', async () => postBytes(url, good.subarray(0, good.length - 1)), 400, 'truncated'],
      ['wrong round', async () => postBytes(url, await seal({ round: 2 })), 409, 'round'],
      ['wrong dimension', async () => postBytes(url, await seal({ payload: values(() => undefined, d - 1) })), 400, 'dimension'],
      ['values out of range', async () => postBytes(url, await seal({ payload: values((v) => { v[3] = 2 ** 30; }) })), 422, 'range'],
      ['over the clip norm', async () => postBytes(url, await seal({ payload: values((v) => v.fill(2 ** 23)) })), 422, 'norm'],
      ['stale model', async () => postBytes(url, await seal({ payload: encodeUpdatePayload({ model: new Uint8Array(32), samples: 10, values: new Int32Array(d) }) })), 409, 'stale-model'],
      ['bad signature', async () => postBytes(url, flipped), 401, 'signature'],
      ['unknown key', async () => postBytes(url, await seal({}, await generateIdentity())), 403, 'unknown-key'],
      ['wrong kind', async () => postBytes(url, await seal({ kind: 'control' })), 400, 'kind'],
      ['wrong task', async () => postBytes(url, await seal({ task: new Uint8Array(16) })), 409, 'task'],
      ['replayed accepted update', async () => postBytes(url, b.acked.get(1)!), 409, 'duplicate'],
      ['join with NaN in its JSON', async () => postBytes(`${coord.url}/api/join`, await sealEnvelope({ kind: 'control', task: a.taskId, round: 0, sequence: 0, payload: utf8('{"op":"join","host":NaN}') }, a.identity)), 400, 'payload'],
    ];
    for (const [what, send, status, code] of cases) {
      const res = await send();
      assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.code, code, `${what}: ${JSON.stringify(res.body)}`);
      assert.ok((res.body.error?.message.length ?? 0) > 10, `${what}: a reason`);
    }
    for (const [method, path, status] of [['GET', '/api/submit', 405], ['PUT', '/api/round', 405], ['GET', '/nope', 404], ['DELETE', '/api/join', 405]] as const) {
      const res = await fetch(`${coord.url}${path}`, { method });
      assert.equal(res.status, status, `${method} ${path}`);
      assert.ok(((await res.json()) as { error: { message: string } }).error.message);
    }
    // The round went on: a's good update is accepted (closing the round); a replay of it is refused.
    assert.equal((await postBytes(url, good)).status, 202);
    assert.equal((await postBytes(url, good)).status, 409, 'a replay after the round closed');
    a.acked.set(1, good);
    const rows = await coord.done;
    assert.equal(rows.length, 3);
    for (const row of rows) assert.deepEqual(row.accepted, [a.id, b.id].sort());
    const ledger = await getJson<LedgerEntry[]>(`${coord.url}/api/ledger`);
    assert.equal(ledger.length, 6, 'two updates a round, once each');
    const status = await getJson<Status>(`${coord.url}/api/status`);
    assert.ok(status.counts.rejected >= cases.length + 5);
    const metrics = await (await fetch(`${coord.url}/metrics`)).text();
    assert.match(metrics, /meshwork_requests_rejected_total\{code="signature"\} 1/);
    assert.match(metrics, /meshwork_updates_accepted_total 6/);
  });
});

describe('coordinator: kill -9 in the middle of a round', () => {
  it('restarts, finishes the training, and the ledger holds every accepted update exactly once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-kill-'));
    const taskFile = join(dir, 'task.json');
    const rounds = 6, k = 3;
    await writeFile(taskFile, JSON.stringify({ rounds, minParticipants: 4, rule: 'multi-krum', roundTimeoutMs: 60_000, data: { shards: 4, alpha: 0.5 } }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let proc = spawnCoordinator(port, taskFile, join(dir, 'state'));
    const workers: ReturnType<typeof spawnWorker>[] = [];
    let held: TestParticipant | undefined;
    try {
      await proc.waitFor(/meshwork coordinator/);
      // The test's own participant holds back round k, so the coordinator dies with round k open.
      held = await new TestParticipant(url).join();
      held.hold.add(k);
      held.connect();
      for (let i = 0; i < 3; i++) workers.push(spawnWorker(url, join(dir, `w${i}.pem`)));
      await until(`the workers' round ${k} updates`, () => workers.every((w) => w.events.some((e) => e.type === 'accepted' && e.round === k)) || undefined, 60_000);
      const before = await getJson<RoundInfo>(`${url}/api/round`);
      assert.equal(before.round, k);
      assert.equal(before.state, 'open');
      assert.equal(before.submitted.length, 3);
      proc.child.kill('SIGKILL');
      await proc.exited;
      held.close();
      proc = spawnCoordinator(port, taskFile, join(dir, 'state'));
      await proc.waitFor(new RegExp(`round ${k}: resumed with 3 of 4 updates from the ledger`));
      await proc.waitFor(/meshwork coordinator/);
      // An update acknowledged before the crash is refused as a duplicate, not counted twice.
      const replay = await postBytes(`${url}/api/submit`, held.acked.get(k - 1)!);
      assert.equal(replay.status, 409);
      held.connect(url);
      await held.release(k);
      await proc.waitFor(/task done/, 60_000);
      for (const w of workers) assert.equal(await w.exited, 0, w.stderr.join(''));
      const status = await getJson<Status>(`${url}/api/status`);
      assert.equal(status.rows.length, rounds);
      const ledger = await getJson<LedgerEntry[]>(`${url}/api/ledger`);
      const keys = ledger.map((e) => `${e.round}/${e.id}`);
      assert.equal(new Set(keys).size, keys.length, 'no (round, participant) twice');
      assert.equal(ledger.length, 4 * rounds, `every selected participant once a round: ${JSON.stringify(ledger.map((e) => [e.round, e.id]))} ${JSON.stringify(status.rows.map((r) => r.accepted))}`);
      const shas = new Set(ledger.map((e) => e.sha256));
      for (const w of workers) {
        const acks = w.events.filter((e) => e.type === 'accepted');
        assert.equal(acks.length, rounds);
        for (const e of acks) assert.ok(shas.has(e.sha256 as string), `acknowledged update ${e.round} of a worker is in the ledger`);
      }
      for (const row of status.rows) {
        // What the rule counted came from the ledger (Multi-Krum may leave some ledger entries out).
        const inLedger = new Set(ledger.filter((e) => e.round === row.round).map((e) => e.id));
        for (const id of row.accepted) assert.ok(inLedger.has(id), `round ${row.round} counted ${id}, which is not in its ledger`);
        assert.ok(row.accepted.length >= 3, `round ${row.round} aggregated its ledger entries`);
      }
    } finally {
      held?.close();
      for (const w of workers) w.child.kill('SIGKILL');
      proc.child.kill('SIGKILL');
      await proc.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('coordinator: 10,000 malformed requests (fast-check) while workers train', () => {
  it('answers each with a 4xx and a reason, never crashes, and the training completes', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-fuzz-'));
    const coord = await startCoordinator({ task: { rounds: 8, minParticipants: 3, rule: 'median', data: { shards: 3, alpha: null } }, dir, port: 0 });
    const workers: ReturnType<typeof spawnWorker>[] = [];
    try {
      const url = coord.url;
      const insider = await new TestParticipant(url).join();
      const good = await insider.updateEnvelope(1);
      const join0 = await sealEnvelope({ kind: 'control', task: insider.taskId, round: 0, sequence: 0, payload: utf8('{"op":"join","host":"node","role":"participant"}') }, await generateIdentity());
      // Mutations of signed envelopes (never valid: any change breaks the signature or the format) and junk.
      const mutate = fc.oneof(
        fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const m = good.slice(); m[i % m.length]! ^= x; return m; }),
        fc.nat().map((n) => good.subarray(0, n % good.length)),
        fc.uint8Array({ maxLength: 64 }).map((extra) => { const m = new Uint8Array(good.length + 1 + extra.length); m.set(good); m.set(extra, good.length + 1); return m; }),
        fc.tuple(fc.nat(), fc.integer({ min: 1, max: 255 })).map(([i, x]) => { const m = join0.slice(); m[i % m.length]! ^= x; return m; }),
        fc.uint8Array({ maxLength: 512 }),
        fc.constantFrom('MW', '{"round":NaN}', 'null', '').map((s) => utf8(s)),
      );
      const request = fc.oneof(
        { weight: 6, arbitrary: fc.tuple(fc.constantFrom('/api/submit', '/api/join'), mutate).map(([path, body]) => ({ method: 'POST', path, type: 'application/octet-stream', body })) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('/api/submit', '/api/join'), fc.constantFrom('application/json', 'text/plain', 'multipart/form-data', ''), fc.string({ maxLength: 64 })).map(([path, type, s]) => ({ method: 'POST', path, type, body: utf8(s) })) },
        { weight: 1, arbitrary: fc.tuple(fc.constantFrom('PUT', 'DELETE', 'PATCH'), fc.constantFrom('/api/submit', '/api/join', '/api/round', '/api/model', '/health')).map(([method, path]) => ({ method, path, type: 'application/octet-stream', body: new Uint8Array(0) })) },
        { weight: 1, arbitrary: fc.stringMatching(/^\/[a-z0-9_%~-]{0,24}$/).map((path) => ({ method: 'GET', path: `/zz${path}`, type: '', body: undefined as Uint8Array | undefined })) },
        { weight: 1, arbitrary: fc.integer({ min: 20_000, max: 400_000 }).map((n) => ({ method: 'POST', path: '/api/submit', type: 'application/octet-stream', body: new Uint8Array(n) })) },
      );
      const samples = fc.sample(request, { numRuns: 10_000, seed: 20261121 });
      const bad: string[] = [];
      let done = 0;
      const next = { i: 0 };
      const lane = async () => {
        for (;;) {
          const i = next.i++;
          if (i >= samples.length) return;
          if (i === 2000) for (let w = 0; w < 3; w++) workers.push(spawnWorker(url, join(dir, `w${w}.pem`)));
          const r = samples[i]!;
          const res = await fetch(`${url}${r.path}`, { method: r.method, headers: r.type ? { 'content-type': r.type } : {}, body: r.body as BodyInit | undefined });
          const text = await res.text();
          let reason = '';
          try { reason = (JSON.parse(text) as { error: { message: string } }).error.message; } catch { /* not JSON */ }
          if (res.status < 400 || res.status >= 500 || !reason) bad.push(`${r.method} ${r.path} (${r.body?.length ?? 0} bytes): ${res.status} ${text.slice(0, 120)}`);
          done++;
        }
      };
      await Promise.all(Array.from({ length: 8 }, lane));
      assert.equal(done, 10_000);
      assert.deepEqual(bad.slice(0, 5), [], `${bad.length} requests were not answered 4xx with a reason`);
      const rows = await Promise.race([coord.done, new Promise<never>((_, fail) => setTimeout(() => fail(new Error('training did not complete')), 90_000))]);
      assert.equal(rows.length, 8);
      assert.ok(rows[7]!.accuracy > 0.8, `final accuracy ${rows[7]!.accuracy}`);
      assert.equal((await fetch(`${url}/health`)).status, 200);
      const status = await getJson<Status>(`${url}/api/status`);
      assert.ok(status.counts.rejected >= 10_000);
      for (const w of workers) assert.equal(await w.exited, 0, w.stderr.join(''));
    } finally {
      for (const w of workers) w.child.kill('SIGKILL');
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('coordinator: a differentially private task (DP-FedAvg) spends its budget and stops', () => {
  it('task.dp is checked field by field, and replaces the rule', async () => {
    const { parseTaskSpec, taskEncoding } = await import('../runtime/fl/protocol.js');
    const dp = { q: 0.8, noiseMultiplier: 1, targetEpsilon: 5, delta: 1e-5 };
    const t = parseTaskSpec({ dp });
    assert.equal(t.rule, 'fedavg');
    assert.deepEqual(t.dp, dp);
    assert.ok(taskEncoding(t).bits <= 16, 'room in i32 for the noise');
    assert.throws(() => parseTaskSpec({ dp, rule: 'multi-krum' }), (e: unknown) => e instanceof RangeError && /task\.rule/.test(e.message));
    assert.throws(() => parseTaskSpec({ dp: { ...dp, delta: undefined } }), (e: unknown) => e instanceof TypeError && /task\.dp\.delta/.test(e.message));
    assert.throws(() => parseTaskSpec({ dp: { ...dp, q: 1.5 } }), (e: unknown) => e instanceof RangeError && /task\.dp\.q/.test(e.message));
    assert.throws(() => parseTaskSpec({ dp: { ...dp, sigma: 1 } }), (e: unknown) => e instanceof RangeError && /task\.dp\.sigma/.test(e.message));
    assert.throws(() => parseTaskSpec({ dp: 3 }), TypeError);
  });

  it('Node workers train; each row reports the epsilon the accountant gives; the task ends when the next round would overspend', async (t) => {
    const { RdpAccountant } = await import('../runtime/fl/accountant.js');
    const dp = { q: 0.75, noiseMultiplier: 1.5, targetEpsilon: 0, delta: 1e-5 };
    // The budget fits exactly 3 rounds: the target lies between the epsilon after 3 and after 4 steps.
    const acc = new RdpAccountant();
    const expected: number[] = [];
    for (let i = 0; i < 4; i++) { acc.step(dp.q, dp.noiseMultiplier); expected.push(acc.epsilon(dp.delta)); }
    dp.targetEpsilon = (expected[2]! + expected[3]!) / 2;
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-dp-'));
    const coord = await startCoordinator({ task: { name: 'dp-test', rounds: 10, minParticipants: 4, roundTimeoutMs: 20_000, data: { shards: 4, alpha: 0.5 }, dp }, dir: join(dir, 'state'), port: 0, log: () => {} });
    const workers: ReturnType<typeof spawnWorker>[] = [];
    try {
      for (let i = 0; i < 4; i++) workers.push(spawnWorker(coord.url, join(dir, `w${i}.pem`)));
      const rows = await Promise.race([coord.done, new Promise<never>((_, fail) => setTimeout(() => fail(new Error('DP task not done in 90 s')), 90_000).unref())]);
      t.diagnostic(`rows: ${rows.map((r) => `round ${r.round}: ${r.accepted.length} counted, accuracy ${r.accuracy.toFixed(3)}, epsilon ${r.epsilon!.toFixed(3)}`).join('; ')}`);
      assert.equal(rows.length, 3, `3 rounds fit the budget, ran ${rows.length}`);
      assert.ok(rows.some((r) => r.accepted.length > 0), 'some round counted sampled updates');
      rows.forEach((r, i) => assert.ok(Math.abs(r.epsilon! - expected[i]!) < 1e-12, `round ${r.round}: epsilon ${r.epsilon} vs the accountant's ${expected[i]}`));
      assert.ok(rows.at(-1)!.epsilon! <= dp.targetEpsilon);
      const status = await getJson<{ state: string; task: { dp?: unknown } }>(`${coord.url}/api/status`);
      assert.equal(status.state, 'done');
      assert.deepEqual(status.task.dp, dp);
      const metrics = await (await fetch(`${coord.url}/metrics`)).text();
      const m = /^meshwork_privacy_epsilon ([\d.e+-]+)$/m.exec(metrics);
      assert.ok(m && Math.abs(Number(m[1]) - expected[2]!) < 1e-9, `epsilon gauge: ${m?.[1]}`);
      // Poisson sampling: every counted update is in the ledger and came from a sampled participant.
      const ledger = await getJson<LedgerEntry[]>(`${coord.url}/api/ledger`);
      for (const r of rows) {
        const inLedger = new Set(ledger.filter((e) => e.round === r.round).map((e) => e.id));
        assert.deepEqual([...inLedger].sort(), r.accepted.slice().sort(), `round ${r.round}: counted = its ledger entries`);
      }
      for (const w of workers) assert.equal(await w.exited, 0, w.stderr.join(''));
    } finally {
      for (const w of workers) w.child.kill('SIGKILL');
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('coordinator: a round short of updates at its deadline opens again and keeps what came', () => {
  it('the early update is kept (moved to the new selection) and the aggregate is bit-exact FedAvg of all three', async () => {
    const { parseEnvelope } = await import('../proofs/envelope.js');
    const { decodeUpdatePayload, parseTaskSpec, taskEncoding } = await import('../runtime/fl/protocol.js');
    const { FedAvg } = await import('../runtime/fl/strategy.js');
    const { serverStep } = await import('../runtime/fl/simulate.js');
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-reopen-'));
    const log: string[] = [];
    const task = { name: 'reopen', rounds: 1, rule: 'fedavg' as const, minParticipants: 3, minSubmissions: 2, roundTimeoutMs: 800, data: { shards: 3, alpha: 0.5 } };
    const coord = await startCoordinator({ task, dir, port: 0, log: (l) => log.push(l) });
    const ps: TestParticipant[] = [];
    try {
      for (let i = 0; i < 3; i++) ps.push(await new TestParticipant(coord.url).join());
      ps[1]!.hold.add(1);
      ps[2]!.hold.add(1);
      const before = new Float32Array(await (await fetch(`${coord.url}/api/model`)).arrayBuffer());
      for (const p of ps) p.connect();
      await until('round 1 opens again at its deadline', () => log.find((l) => /round 1: 1 of 2 needed updates at the deadline; open again/.test(l)), 10_000, () => log.join('\n'));
      await Promise.all([ps[1]!.release(1), ps[2]!.release(1)]);
      const rows = await coord.done;
      assert.deepEqual(rows[0]!.accepted.slice().sort(), ps.map((p) => p.id).sort());
      const t = parseTaskSpec(task), enc = taskEncoding(t), d = before.length;
      const results = ps.map((p) => {
        const u = decodeUpdatePayload(parseEnvelope(p.acked.get(1)!).payload, d, enc, t.maxSamples);
        return { id: p.id, values: u.values, samples: u.samples };
      });
      const params = before.slice(), velocity = new Float32Array(d);
      serverStep(params, velocity, new FedAvg().aggregateRound(1, results, [], enc, d).update, t.serverLr, t.serverMomentum);
      const after = new Uint8Array(await (await fetch(`${coord.url}/api/model`)).arrayBuffer());
      assert.ok(Buffer.from(after).equals(Buffer.from(params.buffer)), 'the new model is FedAvg of the three updates, bit for bit');
    } finally {
      for (const p of ps) p.close();
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
