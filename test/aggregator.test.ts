// Leaf aggregators (`meshwork worker --role aggregator`): a round through partial sums gives the flat rule's
// bits; a lying aggregator is caught by the replay and its participants go to the coordinator; every bad
// partial is refused with a reason; and with real processes, kill -9 of an aggregator in the middle of a round
// loses no update and counts none twice.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { fromHex, utf8 } from '../proofs/bytes.js';
import { generateIdentity, type Identity } from '../proofs/ed25519.js';
import { generateHybridIdentity } from '../proofs/hybrid.js';
import { parseEnvelope, sealEnvelope } from '../proofs/envelope.js';
import { runAggregator, type AggregatorEvent } from '../host-node/aggregator.js';
import { startCoordinator } from '../host-node/coordinator/index.js';
import { ready } from '../host-node/index.js';
import { decodeUpdatePayload, parseTaskSpec, taskEncoding, type RoundInfo, type TaskSpec } from '../runtime/fl/protocol.js';
import { encodePartialPayload, packEnvelopes, unpackEnvelopes } from '../runtime/fl/partial.js';
import { serverStep } from '../runtime/fl/simulate.js';
import { FedAvg, weightedSum, weightsOf, type EncodedUpdate } from '../runtime/fl/strategy.js';
import { freePort, getJson, postBytes, spawnCoordinator, spawnWorker, TestParticipant, until } from './coordinator-helpers.js';

type Row = { round: number; accuracy: number; accepted: string[]; partials?: { id: string; members: number; audited: boolean }[] };
type Ledger = { round: number; id: string; kind: 'update' | 'aggregate'; sha256: string; covers?: { id: string; sha256: string }[] }[];

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();

/** The round's FedAvg of `envelopes` applied to `before`, as the flat coordinator computes it. */
function flatFedAvg(task: TaskSpec, before: Float32Array, envelopes: Map<string, Uint8Array>): Float32Array {
  const t = parseTaskSpec(task), enc = taskEncoding(t), d = before.length;
  const results: EncodedUpdate[] = [...envelopes].map(([id, e]) => {
    const u = decodeUpdatePayload(parseEnvelope(e).payload, d, enc, t.maxSamples);
    return { id, values: u.values, samples: u.samples };
  });
  const params = before.slice(), velocity = new Float32Array(d);
  serverStep(params, velocity, new FedAvg().aggregateRound(1, results, [], enc, d).update, t.serverLr, t.serverMomentum);
  return params;
}

/** An aggregator the test plays itself: joined with the endpoint of a server that answers the audit with `envelopes`. */
async function fakeAggregator(base: string, taskId: Uint8Array): Promise<{ id: string; index: number; identity: Identity; envelopes: Uint8Array[]; server: Server; seq: number; gate?: Promise<void>; flood?: boolean }> {
  const fake = { id: '', index: -1, identity: await generateIdentity(), envelopes: [] as Uint8Array[], server: undefined as unknown as Server, seq: 1, gate: undefined as Promise<void> | undefined, flood: false };
  fake.server = createServer(async (req, res) => {
    // `gate`: the audit's fetch waits for it; `flood`: an answer without a length that never ends.
    await fake.gate;
    if (fake.flood) {
      res.writeHead(200, { 'Content-Type': 'application/octet-stream' });
      const chunk = new Uint8Array(1 << 16);
      const more = () => { while (!res.destroyed && res.write(chunk)); if (!res.destroyed) res.once('drain', more); };
      res.on('close', () => res.destroy());
      more();
      return;
    }
    const body = packEnvelopes(fake.envelopes);
    res.writeHead(req.url?.startsWith('/api/envelopes') ? 200 : 404, { 'Content-Type': 'application/octet-stream', 'Content-Length': body.length });
    res.end(body);
  });
  await new Promise<void>((ok) => fake.server.listen(0, '127.0.0.1', ok));
  const endpoint = `http://127.0.0.1:${(fake.server.address() as AddressInfo).port}/`;
  const join = await sealEnvelope({ kind: 'control', task: taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', role: 'aggregator', endpoint })) }, fake.identity);
  const res = await postBytes(`${base}/api/join`, join);
  assert.equal(res.status, 200, JSON.stringify(res.body));
  fake.id = res.body.id as string;
  fake.index = res.body.index as number;
  return fake;
}

/**
 * A coordinator of a 1-round FedAvg task with `aggregators`, three joined test participants and a fake
 * aggregator (joined, its socket open); `done()` tears it all down.
 */
async function fakeTier(name: string, aggregators: { fanin: number; audit: number }) {
  const dir = await mkdtemp(join(tmpdir(), `meshwork-${name}-`));
  const log: string[] = [];
  const task = { name, rounds: 1, rule: 'fedavg' as const, minParticipants: 3, roundTimeoutMs: 30_000, aggregators, data: { shards: 3, alpha: 0.5 } };
  const coord = await startCoordinator({ task, dir: join(dir, 'state'), port: 0, log: (l) => log.push(l) });
  const ps: TestParticipant[] = [];
  let fake: Awaited<ReturnType<typeof fakeAggregator>> | undefined;
  let ws: import('ws').WebSocket | undefined;
  const done = async () => {
    ws?.terminate();
    fake?.server.close();
    for (const p of ps) p.close();
    await coord.close();
    await rm(dir, { recursive: true, force: true });
  };
  try {
    const t = await getJson<{ task: TaskSpec; taskId: string; d: number }>(`${coord.url}/api/task`);
    const taskId = fromHex(t.taskId);
    for (let i = 0; i < 3; i++) ps.push(await new TestParticipant(coord.url).join());
    fake = await fakeAggregator(coord.url, taskId);
    const { default: WebSocket } = await import('ws');
    ws = new WebSocket(`${coord.url.replace(/^http/, 'ws')}/ws?id=${fake.id}`);
    await new Promise((ok) => ws!.once('open', ok));
    return { coord, log, ps, fake, taskId, task: t.task, spec: task, dir, d: t.d, done };
  } catch (e) {
    await done();
    throw e;
  }
}

/** The round's open info once the coordinator has assigned an aggregator. */
function assigned(url: string): Promise<RoundInfo> {
  return until('round 1 opens with an aggregator assigned', async () => { const r = await getJson<RoundInfo>(`${url}/api/round`); return r.state === 'open' && r.aggregators?.length ? r : undefined; }, 20_000);
}

describe('leaf aggregators: partial sums', () => {
  it('a round through a real aggregator (3 updates) plus one direct update gives the flat FedAvg bits; the aggregator hands back the envelopes it covered', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-agg-exact-'));
    const log: string[] = [];
    const task = { name: 'agg-exact', rounds: 1, rule: 'fedavg' as const, minParticipants: 4, roundTimeoutMs: 30_000, aggregators: { fanin: 3 }, data: { shards: 4, alpha: 0.5 } };
    const coord = await startCoordinator({ task, dir: join(dir, 'state'), port: 0, log: (l) => log.push(l) });
    const ps: TestParticipant[] = [];
    const ac = new AbortController();
    const events: AggregatorEvent[] = [];
    let agg: Promise<unknown> | undefined;
    try {
      // The first participant signs hybrid (Ed25519 + ML-DSA-65): the aggregator checks both signatures.
      const h = await generateHybridIdentity();
      ps.push(await new TestParticipant(coord.url).join(h, { mlDsaPublicKey: Buffer.from(h.mlDsaPublicKey).toString('base64') }));
      for (let i = 1; i < 4; i++) ps.push(await new TestParticipant(coord.url).join());
      agg = runAggregator({ coordinator: coord.url, key: join(dir, 'agg.pem'), signal: ac.signal, event: (e) => events.push(e) });
      await until('the aggregator is connected', () => events.find((e) => e.type === 'joined'), 20_000);
      const aggId = (events.find((e) => e.type === 'joined') as { id: string }).id;
      await until('the aggregator is connected', async () => (await getJson<{ participants: { id: string; connected: boolean }[] }>(`${coord.url}/api/status`)).participants.find((p) => p.id === aggId)?.connected || undefined, 20_000);
      for (const p of ps) p.hold.add(1);
      const before = new Float32Array(await (await fetch(`${coord.url}/api/model`)).arrayBuffer());
      for (const p of ps) p.connect();
      const info = await until('round 1 opens with the aggregator assigned', async () => { const r = await getJson<RoundInfo>(`${coord.url}/api/round`); return r.state === 'open' && r.aggregators?.length ? r : undefined; }, 20_000);
      const a = info.aggregators![0]!;
      assert.equal(a.id, aggId);
      assert.deepEqual(a.members, ps.map((p) => p.id).sort().slice(0, 3), 'the first fan-in participants, in id order');
      const envs = new Map<string, Uint8Array>();
      for (const p of ps) envs.set(p.id, await p.updateEnvelope(1));
      const direct = ps.find((p) => !a.members.includes(p.id))!;
      assert.ok(a.members.includes(ps[0]!.id));
      // A downgrade to Ed25519 alone is refused by the aggregator, as by the coordinator.
      const plain = parseEnvelope(envs.get(ps[0]!.id)!);
      const downgraded = await sealEnvelope({ kind: 'update', task: plain.task, round: 1, sequence: plain.sequence + 100, payload: plain.payload }, h.ed25519);
      const down = await postBytes(`${a.endpoint}api/submit`, downgraded);
      assert.equal(down.status, 400, JSON.stringify(down.body));
      assert.equal(down.body.error!.code, 'alg');
      for (const id of a.members) {
        const res = await postBytes(`${a.endpoint}api/submit`, envs.get(id)!);
        assert.equal(res.status, 202, JSON.stringify(res.body));
        assert.equal(res.body.aggregator, aggId);
        // Twice: refused by the aggregator, like the coordinator does.
        if (id === a.members[0]) assert.equal((await postBytes(`${a.endpoint}api/submit`, envs.get(id)!)).status, 409);
      }
      // The partial counts (replayed) while the round waits for the direct update.
      await until('the partial counts', async () => { const r = await getJson<RoundInfo>(`${coord.url}/api/round`); return a.members.every((id) => r.submitted.includes(id)) || undefined; }, 20_000, () => log.join('\n'));
      // The ledger: the partial, which names the three envelopes by hash; the aggregator hands them back for a later replay.
      const ledger = await getJson<Ledger>(`${coord.url}/api/ledger`);
      assert.deepEqual(ledger.map((e) => [e.id, e.kind]), [[aggId, 'aggregate']]);
      assert.deepEqual(ledger[0]!.covers, a.members.map((id) => ({ id, sha256: sha(envs.get(id)!).toString('hex') })));
      // Only with the partial's token (the coordinator had it with the partial; the operator has it in the event).
      assert.equal((await fetch(`${a.endpoint}api/envelopes?round=1`)).status, 401);
      assert.equal((await fetch(`${a.endpoint}api/envelopes?round=1`, { headers: { authorization: `Bearer ${'0'.repeat(32)}` } })).status, 401);
      const fwd = await until('the forwarded event', () => events.find((e): e is Extract<AggregatorEvent, { type: 'forwarded' }> => e.type === 'forwarded' && e.status === 202), 10_000);
      const back = new Uint8Array(await (await fetch(`${a.endpoint}api/envelopes?round=1`, { headers: { authorization: `Bearer ${fwd.token}` } })).arrayBuffer());
      assert.ok(Buffer.from(back).equals(Buffer.from(packEnvelopes(a.members.map((id) => envs.get(id)!)))));
      // A member that submits here too is refused: its update counts already.
      const again = await postBytes(`${coord.url}/api/submit`, envs.get(a.members[1]!)!);
      assert.equal(again.status, 409);
      assert.equal(again.body.error!.code, 'duplicate');
      assert.equal((await postBytes(`${coord.url}/api/submit`, envs.get(direct.id)!)).status, 202);
      const rows = await coord.done;
      const row = rows[0] as Row;
      assert.deepEqual(row.accepted.slice().sort(), ps.map((p) => p.id).sort());
      assert.deepEqual(row.partials, [{ id: aggId, members: 3, audited: true }]);
      const after = new Uint8Array(await (await fetch(`${coord.url}/api/model`)).arrayBuffer());
      assert.ok(Buffer.from(after).equals(Buffer.from(flatFedAvg(task as TaskSpec, before, envs).buffer)), 'the model after the round is flat FedAvg of the four updates, bit for bit');
      const final = await getJson<Ledger>(`${coord.url}/api/ledger`);
      assert.deepEqual(final.map((e) => [e.id, e.kind]).sort(), [[aggId, 'aggregate'], [direct.id, 'update']].sort());
      await agg;
      assert.ok(events.some((e) => e.type === 'forwarded' && e.status === 202 && e.audited === true));
    } finally {
      ac.abort();
      await agg?.catch(() => undefined);
      for (const p of ps) p.close();
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('bad partials are refused with a reason; a partial whose sum the envelopes do not give fails the audit, its aggregator is flagged and loses its participants, and the round completes', async () => {
    const { coord, ps, fake, taskId, task, d, done, log } = await fakeTier('agg-audit', { fanin: 2, audit: 1 });
    try {
      // An aggregator must give an http(s) endpoint.
      const idn = await generateIdentity();
      const bad = await postBytes(`${coord.url}/api/join`, await sealEnvelope({ kind: 'control', task: taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', role: 'aggregator', endpoint: 'ftp://x/' })) }, idn));
      assert.equal(bad.status, 400);
      assert.equal(bad.body.error!.field, 'payload.endpoint');
      for (const p of ps) { p.hold.add(1); p.connect(); }
      const info = await assigned(coord.url);
      const members = info.aggregators![0]!.members;
      assert.equal(members.length, 2);
      const byId = new Map(ps.map((p) => [p.id, p]));
      const envs = new Map<string, Uint8Array>();
      for (const p of ps) envs.set(p.id, await p.updateEnvelope(1));
      const enc = taskEncoding(task);
      const updates = members.map((id) => { const u = decodeUpdatePayload(parseEnvelope(envs.get(id)!).payload, d, enc, task.maxSamples); return { id, values: u.values, samples: u.samples }; });
      const w = weightsOf(updates, 'samples');
      const honest = { model: fromHex(info.modelSha256), weight: w.reduce((a, b) => a + b, 0), members: members.map((id) => ({ index: byId.get(id)!.index, sha256: sha(envs.get(id)!) })), sums: weightedSum(updates, w, d) };
      const send = async (payload: Uint8Array, who: Identity = fake.identity, round = 1) => postBytes(`${coord.url}/api/partial`, await sealEnvelope({ kind: 'aggregate', task: taskId, round, sequence: ++fake.seq, payload }, who));
      fake.envelopes = members.map((id) => envs.get(id)!);
      const refusals: [string, Awaited<ReturnType<typeof send>>, number, string, string | null][] = [];
      refusals.push(['from a participant', await send(encodePartialPayload(honest), ps[0]!.identity as Identity), 403, 'role', 'sender']);
      refusals.push(['for another round', await send(encodePartialPayload(honest), fake.identity, 2), 409, 'round', 'round']);
      refusals.push(['of another model', await send(encodePartialPayload({ ...honest, model: new Uint8Array(32) })), 409, 'stale-model', 'payload.model']);
      refusals.push(['with a weight below its count', await send(encodePartialPayload({ ...honest, weight: 1 })), 422, 'range', 'weight']);
      const outsider = ps.find((p) => !members.includes(p.id))!;
      refusals.push(['covering someone not given to it', await send(encodePartialPayload({ ...honest, members: [honest.members[0]!, { index: outsider.index, sha256: new Uint8Array(32) }].sort((a, b) => a.index - b.index) })), 422, 'not-assigned', null]);
      const short = encodePartialPayload(honest).subarray(0, 100);
      refusals.push(['cut short', await send(short), 400, 'length', 'payload']);
      const forged = await sealEnvelope({ kind: 'aggregate', task: taskId, round: 1, sequence: ++fake.seq, payload: encodePartialPayload(honest) }, fake.identity);
      forged[forged.length - 1]! ^= 1;
      refusals.push(['with a bad signature', await postBytes(`${coord.url}/api/partial`, forged), 401, 'signature', 'signature']);
      for (const [what, res, status, code, field] of refusals) {
        assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
        assert.equal(res.body.error!.code, code, what);
        if (field) assert.equal(res.body.error!.field, field, what);
        else assert.match(res.body.error!.field!, /^payload\.members\[\d\]\.index$/, what);
      }
      // A sum that is one off in one coordinate: the replay finds it. While it is being checked, a member's own
      // submission is told to try again (409 'checking'), neither counted nor lost.
      const lying = { ...honest, sums: honest.sums.slice() };
      lying.sums[7]! += 1n;
      let open!: () => void;
      fake.gate = new Promise((ok) => { open = ok; });
      const pending = send(encodePartialPayload(lying));
      await new Promise((ok) => setTimeout(ok, 200)); // the partial is past its cheap checks, its audit waiting
      const early = await postBytes(`${coord.url}/api/submit`, envs.get(members[0]!)!);
      assert.equal(early.status, 409, JSON.stringify(early.body));
      assert.equal(early.body.error!.code, 'checking');
      open();
      const lie = await pending;
      assert.equal(lie.status, 422, JSON.stringify(lie.body));
      assert.equal(lie.body.error!.code, 'audit');
      assert.equal(lie.body.error!.field, 'payload.sums[7]');
      const after = await getJson<RoundInfo>(`${coord.url}/api/round`);
      assert.equal(after.aggregators, undefined, 'the aggregator lost its participants');
      // Its participants now submit here; the round completes with all three.
      for (const p of ps) assert.equal((await postBytes(`${coord.url}/api/submit`, envs.get(p.id)!)).status, 202);
      const rows = await coord.done;
      assert.deepEqual(rows[0]!.accepted.slice().sort(), ps.map((p) => p.id).sort());
      const status = await getJson<{ participants: { id: string; flags: number }[] }>(`${coord.url}/api/status`);
      assert.equal(status.participants.find((p) => p.id === fake.id)!.flags, 1, 'the lying aggregator is flagged');
      assert.ok(log.some((l) => /p\d+ no longer aggregates \(its partial was refused \(audit\)/.test(l)), log.join('\n'));
      const ledger = await getJson<Ledger>(`${coord.url}/api/ledger`);
      assert.deepEqual(ledger.map((e) => e.kind), ['update', 'update', 'update'], 'no refused partial in the ledger');
    } finally {
      await done();
    }
  });

  it('a participant that submitted here is left out of a partial (409 covered), and the task refuses aggregators without a linear rule', async () => {
    assert.throws(() => parseTaskSpec({ aggregators: { fanin: 4 } }), /task\.aggregators needs a linear rule/);
    assert.throws(() => parseTaskSpec({ rule: 'fedavg', aggregators: { fanin: 1 } }), /aggregators\.fanin must be an integer in \[2/);
    assert.throws(() => parseTaskSpec({ rule: 'fedavg', aggregators: { fanin: 2, audit: 2 } }), /aggregators\.audit must be in \[0, 1\]/);
    assert.throws(() => parseTaskSpec({ rule: 'fedavg', aggregators: { fanin: 2, every: 1 } }), /task\.aggregators\.every is not an aggregators field/);
    assert.throws(() => parseTaskSpec({ rule: 'fedavg', aggregators: 3 }), TypeError);
    assert.equal(parseTaskSpec({ dp: { q: 1, noiseMultiplier: 1, targetEpsilon: 10, delta: 1e-5 }, aggregators: { fanin: 2 } }).aggregators?.audit, 1);
    const { coord, ps, fake, taskId, task, d, done } = await fakeTier('agg-covered', { fanin: 2, audit: 0 });
    try {
      for (const p of ps) { p.hold.add(1); p.connect(); }
      const info = await assigned(coord.url);
      const sorted = ps.slice().sort((a, b) => a.index - b.index);
      assert.deepEqual(info.aggregators![0]!.members, sorted.slice(0, 2).map((p) => p.id));
      const envs = new Map<string, Uint8Array>();
      for (const p of ps) envs.set(p.id, await p.updateEnvelope(1));
      // p0 could not reach its aggregator and submitted here.
      const [first, second, third] = sorted as [TestParticipant, TestParticipant, TestParticipant];
      assert.equal((await postBytes(`${coord.url}/api/submit`, envs.get(first.id)!)).status, 202);
      const enc = taskEncoding(task);
      const part = (ids: TestParticipant[]) => {
        const updates = ids.map((p) => { const u = decodeUpdatePayload(parseEnvelope(envs.get(p.id)!).payload, d, enc, task.maxSamples); return { id: p.id, values: u.values, samples: u.samples }; });
        const w = weightsOf(updates, 'samples');
        return encodePartialPayload({ model: fromHex(info.modelSha256), weight: w.reduce((a, b) => a + b, 0), members: ids.map((p) => ({ index: p.index, sha256: sha(envs.get(p.id)!) })), sums: weightedSum(updates, w, d) });
      };
      const both = await postBytes(`${coord.url}/api/partial`, await sealEnvelope({ kind: 'aggregate', task: taskId, round: 1, sequence: ++fake.seq, payload: part([first, second]) }, fake.identity));
      assert.equal(both.status, 409);
      assert.equal(both.body.error!.code, 'covered');
      assert.equal(both.body.error!.field, 'payload.members[0].index');
      const rest = await postBytes(`${coord.url}/api/partial`, await sealEnvelope({ kind: 'aggregate', task: taskId, round: 1, sequence: ++fake.seq, payload: part([second]) }, fake.identity));
      assert.equal(rest.status, 202, JSON.stringify(rest.body));
      assert.equal(rest.body.audited, false, 'audit 0: not replayed');
      // The covered participant cannot count twice by submitting here too.
      const twice = await postBytes(`${coord.url}/api/submit`, envs.get(second.id)!);
      assert.equal(twice.status, 409, JSON.stringify(twice.body));
      assert.equal(twice.body.error!.code, 'duplicate');
      assert.equal((await postBytes(`${coord.url}/api/submit`, envs.get(third.id)!)).status, 202);
      const rows = await coord.done;
      assert.deepEqual(rows[0]!.accepted.slice().sort(), ps.map((p) => p.id).sort());
    } finally {
      await done();
    }
  });
});

describe('leaf aggregators: joining', () => {
  it('an aggregator must give an endpoint under the allowed prefixes (aggregatorEndpoints), a participant none, and a task without aggregators refuses the role', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-agg-join-'));
    const tier = await startCoordinator({ task: { name: 'agg-join', rule: 'fedavg', aggregators: { fanin: 2 } }, dir: join(dir, 'a'), port: 0, aggregatorEndpoints: ['http://10.1.2.3:'] });
    const flat = await startCoordinator({ task: { name: 'agg-join', rule: 'fedavg' }, dir: join(dir, 'b'), port: 0 });
    try {
      await assert.rejects(startCoordinator({ task: {}, dir: join(dir, 'c'), port: 0, aggregatorEndpoints: ['ftp://x'] }), TypeError);
      const taskId = fromHex((await getJson<{ taskId: string }>(`${tier.url}/api/task`)).taskId);
      const joinAs = async (url: string, request: Record<string, unknown>) => postBytes(`${url}/api/join`, await sealEnvelope({ kind: 'control', task: taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', ...request })) }, await generateIdentity()));
      const cases: [string, Awaited<ReturnType<typeof joinAs>>, number, string, string][] = [
        ['an endpoint outside the allowed prefixes', await joinAs(tier.url, { role: 'aggregator', endpoint: 'http://127.0.0.1:9000/' }), 403, 'endpoint', 'payload.endpoint'],
        ['no endpoint', await joinAs(tier.url, { role: 'aggregator' }), 400, 'endpoint', 'payload.endpoint'],
        ['a participant with an endpoint', await joinAs(tier.url, { role: 'participant', endpoint: 'http://10.1.2.3:9000/' }), 400, 'endpoint', 'payload.endpoint'],
        ['the role in a task without aggregators', await joinAs(flat.url, { role: 'aggregator', endpoint: 'http://10.1.2.3:9000/' }), 409, 'role', 'payload.role'],
      ];
      for (const [what, res, status, code, field] of cases) {
        assert.equal(res.status, status, `${what}: ${JSON.stringify(res.body)}`);
        assert.deepEqual([res.body.error!.code, res.body.error!.field], [code, field], what);
      }
      const ok = await joinAs(tier.url, { role: 'aggregator', endpoint: 'http://10.1.2.3:9000' });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      const p = (await getJson<{ participants: { id: string; role: string }[] }>(`${tier.url}/api/status`)).participants.find((x) => x.id === ok.body.id);
      assert.equal(p?.role, 'aggregator');
    } finally {
      await tier.close();
      await flat.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('leaf aggregators: an aggregator that floods the audit, and a graceful shutdown', () => {
  it('an endless answer to the audit is cut off at the limit; the aggregator loses its participants but is not flagged (nothing was disproved)', async () => {
    const { coord, ps, fake, taskId, task, d, done, log } = await fakeTier('agg-flood', { fanin: 2, audit: 1 });
    try {
      for (const p of ps) { p.hold.add(1); p.connect(); }
      const info = await assigned(coord.url);
      const members = info.aggregators![0]!.members;
      const byId = new Map(ps.map((p) => [p.id, p]));
      const updates: EncodedUpdate[] = [];
      const shas: Uint8Array[] = [];
      for (const id of members) {
        const e = await byId.get(id)!.updateEnvelope(1);
        const u = decodeUpdatePayload(parseEnvelope(e).payload, d, taskEncoding(task), task.maxSamples);
        updates.push({ id, values: u.values, samples: u.samples });
        shas.push(sha(e));
      }
      const w = weightsOf(updates, 'samples');
      fake.flood = true;
      const res = await postBytes(`${coord.url}/api/partial`, await sealEnvelope({ kind: 'aggregate', task: taskId, round: 1, sequence: ++fake.seq, payload: encodePartialPayload({ model: fromHex(info.modelSha256), weight: w.reduce((a, b) => a + b, 0), members: members.map((id, i) => ({ index: byId.get(id)!.index, sha256: shas[i]! })), sums: weightedSum(updates, w, d) }) }, fake.identity));
      assert.equal(res.status, 422, JSON.stringify(res.body));
      assert.equal(res.body.error!.code, 'audit');
      assert.equal(res.body.error!.field, 'envelopes');
      assert.match(res.body.error!.message, /sends more than \d+ bytes for 2 envelopes/);
      assert.equal((await getJson<RoundInfo>(`${coord.url}/api/round`)).aggregators, undefined);
      const status = await getJson<{ participants: { id: string; flags: number }[] }>(`${coord.url}/api/status`);
      assert.equal(status.participants.find((p) => p.id === fake.id)!.flags, 0);
      assert.ok(log.some((l) => /no longer aggregates \(its partial was refused \(audit\)/.test(l)));
    } finally {
      await done();
    }
  });

  it('closing the coordinator drops the sockets without taking participants off their aggregator: a restart resumes the round as it was', async () => {
    const { coord, ps, fake, spec, dir, done } = await fakeTier('agg-halt', { fanin: 2, audit: 1 });
    let again: Awaited<ReturnType<typeof startCoordinator>> | undefined;
    try {
      for (const p of ps) { p.hold.add(1); p.connect(); }
      const info = await assigned(coord.url);
      assert.equal(info.aggregators![0]!.id, fake.id);
      await coord.close();
      again = await startCoordinator({ task: spec, dir: join(dir, 'state'), port: 0 });
      const resumed = await getJson<RoundInfo>(`${again.url}/api/round`);
      assert.deepEqual(resumed.aggregators?.map((a) => [a.id, a.members]), info.aggregators!.map((a) => [a.id, a.members]));
    } finally {
      await again?.close();
      await done();
    }
  });
});

describe('leaf aggregators: kill -9 of an aggregator in the middle of a round', () => {
  it('its participants go to the coordinator, training completes, and every update counts exactly once', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-agg-kill-'));
    const taskFile = join(dir, 'task.json');
    const rounds = 4;
    await writeFile(taskFile, JSON.stringify({ name: 'agg-kill', rounds, minParticipants: 4, rule: 'fedavg', roundTimeoutMs: 20_000, aggregators: { fanin: 2 }, data: { shards: 4, alpha: 0.5 } }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    const proc = spawnCoordinator(port, taskFile, join(dir, 'state'));
    const aggs: ReturnType<typeof spawnWorker>[] = [];
    const workers: ReturnType<typeof spawnWorker>[] = [];
    try {
      await proc.waitFor(/meshwork coordinator/);
      for (let i = 0; i < 2; i++) aggs.push(spawnWorker(url, join(dir, `a${i}.pem`), ['--role', 'aggregator']));
      await until('both aggregators connected', async () => (await getJson<{ participants: { role: string; connected: boolean }[] }>(`${url}/api/status`)).participants.filter((p) => p.role === 'aggregator' && p.connected).length === 2 || undefined, 30_000, () => aggs.map((a) => a.stderr.join('')).join('\n'));
      for (let i = 0; i < 4; i++) workers.push(spawnWorker(url, join(dir, `w${i}.pem`)));
      // Round 2: the moment an aggregator holds an update (acknowledged to its participant), kill it.
      const victim = await new Promise<ReturnType<typeof spawnWorker>>((ok) => {
        let killed = false;
        for (const a of aggs) {
          a.child.stdout!.on('data', (chunk: Buffer) => {
            if (!killed && /"type":"received","round":2\b/.test(chunk.toString())) {
              killed = true;
              a.child.kill('SIGKILL');
              ok(a);
            }
          });
        }
      });
      await victim.exited;
      await proc.waitFor(/task done/, 120_000);
      if (proc.log.some((l) => /round 2: p\d+ no longer aggregates \(its connection closed\)/.test(l))) {
        // The usual case: its partial had not gone out; the update it held reaches the coordinator from its participant.
        assert.ok(workers.some((w) => /submitting to the coordinator/.test(w.stderr.join(''))), 'a participant of the killed aggregator submitted to the coordinator');
      }
      for (const w of workers) assert.equal(await w.exited, 0, w.stderr.join(''));
      const survivor = aggs.find((a) => a !== victim)!;
      assert.equal(await survivor.exited, 0, survivor.stderr.join(''));
      const status = await getJson<{ rows: Row[] }>(`${url}/api/status`);
      assert.equal(status.rows.length, rounds);
      const ledger = await getJson<Ledger>(`${url}/api/ledger`);
      for (let r = 1; r <= rounds; r++) {
        // Each participant's update once: directly, or in exactly one partial.
        const counted = ledger.filter((e) => e.round === r).flatMap((e) => (e.kind === 'aggregate' ? e.covers!.map((c) => c.id) : [e.id]));
        assert.equal(new Set(counted).size, counted.length, `round ${r}: nobody twice (${counted.join(' ')})`);
        assert.deepEqual(counted.slice().sort(), status.rows[r - 1]!.accepted.slice().sort(), `round ${r}: the ledger holds what the round counted`);
        assert.equal(counted.length, 4, `round ${r}: all four participants counted`);
      }
      // Every update a worker had acknowledged (by an aggregator or the coordinator) is in the ledger: directly or by hash in a partial.
      const shas = new Set(ledger.flatMap((e) => (e.kind === 'aggregate' ? e.covers!.map((c) => c.sha256) : [e.sha256])));
      for (const w of workers) {
        const acks = w.events.filter((e) => e.type === 'accepted');
        assert.equal(acks.length, rounds, w.stderr.join(''));
        for (const e of acks) assert.ok(shas.has(e.sha256 as string), `worker update of round ${e.round} is in the ledger`);
      }
      assert.ok(status.rows[0]!.partials?.length === 2, `round 1 went through both aggregators: ${JSON.stringify(status.rows[0]!.partials)}`);
      assert.ok(status.rows.slice(2).every((r) => (r.partials ?? []).length <= 1), 'after the kill, one aggregator at most');
      assert.ok(status.rows[rounds - 1]!.accuracy > 0.5, `trains: ${status.rows.map((r) => r.accuracy.toFixed(3)).join(' ')}`);
    } finally {
      for (const w of [...workers, ...aggs]) w.child.kill('SIGKILL');
      proc.child.kill('SIGKILL');
      await proc.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('leaf aggregators: kill -9 of the coordinator in the middle of a round', () => {
  it('with a partial sum of the open round in the ledger: the restart resumes the round with it, training completes, and every participant counts exactly once a round', async () => {
    await ready(); // the test's own participant trains in this process (whether or not an earlier test started a coordinator here)
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-agg-coord-kill-'));
    const taskFile = join(dir, 'task.json');
    const rounds = 3, k = 2;
    await writeFile(taskFile, JSON.stringify({ name: 'agg-coord-kill', rounds, minParticipants: 3, rule: 'fedavg', roundTimeoutMs: 20_000, aggregators: { fanin: 2 }, data: { shards: 3, alpha: 0.5 } }));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let proc = spawnCoordinator(port, taskFile, join(dir, 'state'));
    const workers: ReturnType<typeof spawnWorker>[] = [];
    let agg: ReturnType<typeof spawnWorker> | undefined;
    let held: TestParticipant | undefined;
    type Participants = { participants: { id: string; role: string; connected: boolean }[] };
    const context = () => `\ncoordinator:\n${proc.log.join('\n')}\naggregator:\n${agg?.stderr.join('') ?? ''}\nworkers:\n${workers.map((w) => w.stderr.join('')).join('\n')}`;
    try {
      await proc.waitFor(/meshwork coordinator/);
      // The aggregator joins first, then two workers: they are the first fan-in (2) participants by id, and
      // go through the aggregator. The test's own participant joins last (highest id) and submits directly.
      agg = spawnWorker(url, join(dir, 'a0.pem'), ['--role', 'aggregator']);
      const aggId = (await until('the aggregator connected', async () => (await getJson<Participants>(`${url}/api/status`)).participants.find((p) => p.role === 'aggregator' && p.connected), 30_000, context)).id;
      for (let i = 0; i < 2; i++) workers.push(spawnWorker(url, join(dir, `w${i}.pem`)));
      const workerIds = (await until('both workers joined', async () => { const ps = (await getJson<Participants>(`${url}/api/status`)).participants.filter((p) => p.role === 'participant'); return ps.length === 2 ? ps.map((p) => p.id).sort() : undefined; }, 30_000, context));
      // It holds back round k: the round stays open after the aggregator's partial of round k counts.
      held = await new TestParticipant(url).join();
      held.hold.add(k);
      held.connect();
      const ledgerOf = (r: number) => getJson<Ledger>(`${url}/api/ledger`).then((l) => l.filter((e) => e.round === r));
      const partial = await until(`the aggregator's round ${k} partial in the ledger`, async () => (await ledgerOf(k)).find((e) => e.kind === 'aggregate'), 30_000, context);
      const before = await getJson<RoundInfo>(`${url}/api/round`);
      assert.equal(before.round, k);
      assert.equal(before.state, 'open');
      assert.deepEqual(before.aggregators?.map((a) => [a.id, a.members]), [[aggId, workerIds]], 'the two workers go through the aggregator; the test participant (highest id) submits directly');
      assert.deepEqual(before.submitted, workerIds);
      assert.equal(partial.id, aggId);
      assert.deepEqual(partial.covers!.map((c) => c.id), workerIds);
      // The envelopes the partial covers, from the aggregator (as the audit fetches them).
      const fwd = await until('the aggregator reports the partial and its token', () => agg!.events.find((e) => e.type === 'forwarded' && e.round === k && e.status === 202), 10_000, context);
      const res = await fetch(`${before.aggregators![0]!.endpoint}api/envelopes?round=${k}`, { headers: { authorization: `Bearer ${fwd.token as string}` } });
      assert.equal(res.status, 200);
      const covered = unpackEnvelopes(new Uint8Array(await res.arrayBuffer()), 2);
      assert.deepEqual(covered.map((e) => sha(e).toString('hex')), partial.covers!.map((c) => c.sha256));

      proc.child.kill('SIGKILL');
      await proc.exited;
      held.close();
      proc = spawnCoordinator(port, taskFile, join(dir, 'state'));
      await proc.waitFor(new RegExp(`round ${k}: resumed with 2 of 3 updates from the ledger \\(2 in 1 partial sums\\)`));
      await proc.waitFor(/meshwork coordinator/);
      const resumed = await getJson<RoundInfo>(`${url}/api/round`);
      assert.equal(resumed.round, k);
      assert.equal(resumed.state, 'open');
      assert.deepEqual(resumed.submitted, workerIds, 'the covered participants count after the restart');
      assert.deepEqual(resumed.aggregators?.map((a) => [a.id, a.members]), [[aggId, workerIds]], 'the assignment is restored');
      // A covered update sent straight to the restarted coordinator is a duplicate: it counts once, in the partial.
      for (const e of covered) {
        const again = await postBytes(`${url}/api/submit`, e);
        assert.equal(again.status, 409, JSON.stringify(again.body));
        assert.equal(again.body.error!.code, 'duplicate');
      }
      // Everyone back (the aggregator too, so the next round goes through it again), then the held update.
      held.connect(url);
      await until('the aggregator and all participants reconnected', async () => { const ps = (await getJson<Participants>(`${url}/api/status`)).participants; return ps.length === 4 && ps.every((p) => p.connected) || undefined; }, 20_000, context);
      await held.release(k);
      await proc.waitFor(/task done/, 30_000);
      for (const w of workers) assert.equal(await w.exited, 0, w.stderr.join(''));
      assert.equal(await agg.exited, 0, agg.stderr.join(''));

      const status = await getJson<{ rows: Row[] }>(`${url}/api/status`);
      assert.equal(status.rows.length, rounds);
      const ledger = await getJson<Ledger>(`${url}/api/ledger`);
      const everyone = [...workerIds, held.id].sort();
      for (let r = 1; r <= rounds; r++) {
        const entries = ledger.filter((e) => e.round === r);
        const counted = entries.flatMap((e) => (e.kind === 'aggregate' ? e.covers!.map((c) => c.id) : [e.id]));
        assert.equal(new Set(counted).size, counted.length, `round ${r}: nobody twice (${counted.join(' ')})`);
        assert.deepEqual(counted.slice().sort(), everyone, `round ${r}: every participant counted`);
        assert.deepEqual(status.rows[r - 1]!.accepted.slice().sort(), everyone, `round ${r}: the row counts what the ledger holds`);
        assert.ok(entries.filter((e) => e.kind === 'aggregate').every((e) => e.id === aggId));
      }
      const roundK = ledger.filter((e) => e.round === k);
      assert.deepEqual(roundK.map((e) => [e.id, e.kind]).sort(), [[aggId, 'aggregate'], [held.id, 'update']].sort(), `round ${k}: the partial from before the crash and the held update`);
      assert.equal(roundK.find((e) => e.kind === 'aggregate')!.sha256, partial.sha256, 'the partial in the ledger is the one from before the crash');
      assert.deepEqual(status.rows[k - 1]!.partials, [{ id: aggId, members: 2, audited: true }], 'replayed before the crash, and the row says so after it');
      assert.deepEqual(status.rows[rounds - 1]!.partials?.map((p) => [p.id, p.members]), [[aggId, 2]], 'after the restart, the aggregator aggregates again');
      // Every update a worker had acknowledged is in the ledger, by hash in a partial.
      const shas = new Set(ledger.flatMap((e) => (e.kind === 'aggregate' ? e.covers!.map((c) => c.sha256) : [e.sha256])));
      for (const w of workers) {
        const acks = w.events.filter((e) => e.type === 'accepted');
        assert.equal(acks.length, rounds, w.stderr.join(''));
        for (const e of acks) assert.ok(shas.has(e.sha256 as string), `worker update of round ${e.round} is in the ledger`);
      }
    } finally {
      held?.close();
      for (const w of [...workers, ...(agg ? [agg] : [])]) w.child.kill('SIGKILL');
      proc.child.kill('SIGKILL');
      await proc.exited;
      await rm(dir, { recursive: true, force: true });
    }
  });
});
