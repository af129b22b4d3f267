// Tasks with Groth16 proofs on updates (task.proofs, docs/coordinator.md "Proofs on updates"): the payload's
// proofs section round-trips (and a payload without proofs is byte-identical to the format before it),
// parseTaskSpec checks task.proofs, the chunk choice is deterministic; a coordinator with 3 real `meshwork
// worker` processes runs a proofs task to the end, and refuses missing, misplaced, tampered and
// non-matching proofs with 422 'proof' naming the field.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import WebSocket from 'ws';
import { fromHex, utf8 } from '../proofs/bytes.js';
import { generateIdentity, type Identity } from '../proofs/ed25519.js';
import { sealEnvelope } from '../proofs/envelope.js';
import { FIELD_ORDER } from '../proofs/groth16-format.js';
import { startCoordinator, type RunningCoordinator } from '../host-node/coordinator/index.js';
import { createGroth16Prover, type Groth16Prover } from '../host-node/groth16.js';
import { bindingOf, chunksOf } from '../proofs/groth16.js';
import { loadDigits } from '../host-node/data.js';
import {
  decodeUpdatePayload, encodeUpdatePayload, parseTaskSpec, PayloadError, proofBound, proofChunks, taskDimension, taskEncoding, taskSplit, trainAndEncode,
  UPDATE_PAYLOAD_HEADER, UPDATE_PROOF_BYTES, type RoundInfo, type TaskSpec, type UpdateProof,
} from '../runtime/fl/protocol.js';
import { getJson, postBytes, spawnWorker, until, type WorkerProc } from './coordinator-helpers.js';

/** A syntactically valid proof (coordinates below q; not a valid proof). */
const fakeProof = (k: number) => ({
  pi_a: [String(1 + k), '2', '1'], pi_b: [[String(3 + k), '4'], ['5', String(6 + k)], ['1', '0']], pi_c: [String(7 + k), '8', '1'], protocol: 'groth16' as const, curve: 'bn128' as const,
});

describe('update payload: proofs section', () => {
  const model = new Uint8Array(32).map((_, i) => i);
  const values = Int32Array.from({ length: 130 }, (_, i) => (i % 2 ? -i : i) * 1000);
  const enc = { clip: 100, bits: 20 };

  it('without proofs: byte-identical to the header + little-endian values layout', () => {
    const bytes = encodeUpdatePayload({ model, samples: 77, values });
    const expected = new Uint8Array(UPDATE_PAYLOAD_HEADER + 4 * values.length);
    const dv = new DataView(expected.buffer);
    expected.set(model);
    dv.setUint32(32, 77);
    dv.setUint32(36, values.length);
    values.forEach((v, i) => dv.setInt32(40 + 4 * i, v, true));
    assert.deepEqual(bytes, expected);
    const back = decodeUpdatePayload(bytes, values.length, enc, 1000);
    assert.equal(back.proofs, undefined);
    assert.deepEqual(back.values, values);
  });

  it('with proofs: appended after the values, round-trips', () => {
    const proofs: UpdateProof[] = [
      { chunk: 0, publicSignals: ['12345', '99', String(FIELD_ORDER - 1n)], proof: fakeProof(0) },
      { chunk: 2, publicSignals: ['1', '2', '3'], proof: fakeProof(10) },
    ];
    const plain = encodeUpdatePayload({ model, samples: 77, values });
    const bytes = encodeUpdatePayload({ model, samples: 77, values, proofs });
    assert.equal(bytes.length, plain.length + 4 + 2 * UPDATE_PROOF_BYTES);
    assert.deepEqual(bytes.subarray(0, plain.length), plain);
    const back = decodeUpdatePayload(bytes, values.length, enc, 1000);
    assert.deepEqual(back.values, values);
    assert.deepEqual(back.proofs, proofs);
    // Truncated, or a coordinate >= q: PayloadError naming the field.
    assert.throws(() => decodeUpdatePayload(bytes.subarray(0, bytes.length - 1), values.length, enc, 1000), (e: unknown) => e instanceof PayloadError && e.field === 'proofs');
    const bad = bytes.slice();
    bad.fill(0xff, plain.length + 4 + 4 + 96, plain.length + 4 + 4 + 96 + 32);
    assert.throws(() => decodeUpdatePayload(bad, values.length, enc, 1000), (e: unknown) => e instanceof PayloadError && e.code === 'proof' && e.field === 'proofs[0].proof.pi_a[0]');
  });
});

describe('parseTaskSpec: task.proofs', () => {
  const bad: [unknown, ErrorConstructor, RegExp][] = [
    [3, TypeError, /task\.proofs must be an object/],
    [{ chunks: '2' }, TypeError, /task\.proofs\.chunks must be a number/],
    [{ chunks: 0 }, RangeError, /task\.proofs\.chunks must be an integer in \[1, 38\]/],
    [{ chunks: 39 }, RangeError, /task\.proofs\.chunks must be an integer in \[1, 38\]/],
    [{ chunks: 1.5 }, RangeError, /task\.proofs\.chunks/],
    [{ chunks: 2, every: 1 }, RangeError, /task\.proofs\.every is not a proofs field/],
  ];
  for (const [proofs, type, re] of bad) {
    it(`refuses ${JSON.stringify(proofs)}`, () => {
      assert.throws(() => parseTaskSpec({ proofs }), (e: unknown) => e instanceof type && re.test((e as Error).message));
    });
  }

  it('a good one; chunks are deterministic, distinct, sorted, and differ by participant and round', () => {
    const t = parseTaskSpec({ proofs: { chunks: 3 } });
    assert.deepEqual(t.proofs, { chunks: 3 });
    assert.equal(parseTaskSpec({}).proofs, undefined);
    const a = proofChunks(t, 1, 0);
    assert.deepEqual(a, proofChunks(t, 1, 0));
    assert.equal(new Set(a).size, 3);
    assert.deepEqual(a, [...a].sort((x, y) => x - y));
    assert.ok(a.every((c) => c >= 0 && c < Math.ceil(taskDimension(t) / 64)));
    const others = [proofChunks(t, 1, 1), proofChunks(t, 2, 0), proofChunks(t, 3, 5)];
    assert.ok(others.some((o) => o.join() !== a.join()));
    // B: the square of the whole update's L2 bound; below 2^70.
    assert.equal(proofBound(t), (2n ** BigInt(taskEncoding(t).bits) + 50n) ** 2n);
  });
});

/** A participant driven by hand: joins, keeps a WebSocket open (presence), builds proven updates. */
class Prover {
  identity!: Identity;
  id = '';
  index = -1;
  task!: TaskSpec;
  taskId!: Uint8Array;
  sequence = 1;
  ws!: WebSocket;
  data!: ReturnType<typeof taskSplit>['shards'][number];
  constructor(readonly base: string, readonly prover: Groth16Prover) {}

  async join(): Promise<this> {
    this.identity = await generateIdentity();
    const t = await getJson<{ task: TaskSpec; taskId: string }>(`${this.base}/api/task`);
    this.task = t.task;
    this.taskId = fromHex(t.taskId);
    const env = await sealEnvelope({ kind: 'control', task: this.taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', role: 'participant' })) }, this.identity);
    const res = await postBytes(`${this.base}/api/join`, env);
    assert.equal(res.status, 200, JSON.stringify(res.body));
    this.id = res.body.id as string;
    this.index = res.body.index as number;
    this.data = taskSplit(this.task, loadDigits()).shards[res.body.shard as number]!;
    this.ws = new WebSocket(`${this.base.replace(/^http/, 'ws')}/ws?id=${this.id}`);
    this.ws.on('error', () => undefined);
    return this;
  }

  /** The round's values and their proofs (the chosen chunks). */
  async trained(round: number): Promise<{ model: Uint8Array; values: Int32Array; proofs: UpdateProof[] }> {
    const bytes = new Uint8Array(await (await fetch(`${this.base}/api/model`)).arrayBuffer());
    const model = fromHex(createHash('sha256').update(bytes).digest('hex'));
    const values = trainAndEncode(this.task, new Float32Array(bytes.buffer, 0, bytes.length / 4), this.data, this.index, round);
    const chunks = chunksOf(values);
    const proofs: UpdateProof[] = [];
    for (const chunk of proofChunks(this.task, round, this.index)) {
      const bind = bindingOf({ task: this.taskId, round, sender: this.identity.publicKey, chunk });
      proofs.push({ chunk, ...(await this.prover.prove({ x: chunks[chunk]!, bound: proofBound(this.task), bind })) });
    }
    return { model, values, proofs };
  }

  async submit(round: number, u: { model: Uint8Array; values: Int32Array; proofs?: UpdateProof[] }) {
    const payload = encodeUpdatePayload({ model: u.model, samples: this.data.n, values: u.values, ...(u.proofs ? { proofs: u.proofs } : {}) });
    return postBytes(`${this.base}/api/submit`, await sealEnvelope({ kind: 'update', task: this.taskId, round, sequence: this.sequence++, payload }, this.identity));
  }
}

describe('coordinator: a proofs task (chunks: 2) with 3 Node workers and a hand-driven participant', () => {
  let dir: string;
  let coord: RunningCoordinator;
  let prover: Groth16Prover;
  let me: Prover;
  const workers: WorkerProc[] = [];
  const ROUNDS = 2;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'meshwork-proof-task-'));
    coord = await startCoordinator({ task: { name: 'proof-task', rounds: ROUNDS, minParticipants: 4, rule: 'fedavg', roundTimeoutMs: 60_000, proofs: { chunks: 2 }, data: { shards: 4, alpha: null } }, dir, port: 0 });
    prover = await createGroth16Prover();
    me = await new Prover(coord.url, prover).join();
    for (let i = 0; i < 3; i++) workers.push(spawnWorker(coord.url, join(dir, `w${i}.pem`)));
  });
  after(async () => {
    me?.ws.terminate();
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
    await prover?.dispose();
    await coord?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it('refuses missing, misplaced, tampered and non-matching proofs with 422 proof naming the field; a good update is accepted', async () => {
    const info = await until('round 1 open', async () => {
      const r = await getJson<RoundInfo>(`${coord.url}/api/round`);
      return r.state === 'open' ? r : undefined;
    }, 60_000, () => workers.map((w) => w.stderr.join('')).join('\n'));
    const r = info.round;
    const good = await me.trained(r);
    const want = proofChunks(me.task, r, me.index);
    assert.deepEqual(good.proofs.map((p) => p.chunk), want);
    const wrongChunk = want[0] === 0 ? 1 : 0;
    const tampered = { ...good.proofs[0]!, proof: { ...good.proofs[0]!.proof, pi_c: good.proofs[0]!.proof.pi_a } };
    const changed = good.values.slice();
    changed[want[1]! * 64 + 5]! += 1;
    const cases: [string, Parameters<Prover['submit']>[1], string][] = [
      ['no proofs', { model: good.model, values: good.values }, 'proofs'],
      ['one proof of two', { ...good, proofs: good.proofs.slice(0, 1) }, 'proofs'],
      ['a proof for the wrong chunk', { ...good, proofs: [{ ...good.proofs[0]!, chunk: wrongChunk === want[1] ? 2 : wrongChunk }, good.proofs[1]!] }, 'proofs[0].chunk'],
      ['a tampered proof', { ...good, proofs: [tampered, good.proofs[1]!] }, 'proofs[0]'],
      ['values that do not match the commitment', { ...good, values: changed }, 'proofs[1].commitment'],
      ['another bound', { ...good, proofs: [{ ...good.proofs[0]!, publicSignals: [good.proofs[0]!.publicSignals[0]!, '5', good.proofs[0]!.publicSignals[2]!] }, good.proofs[1]!] }, 'proofs[0].bound'],
    ];
    for (const [what, u, field] of cases) {
      const res = await me.submit(r, u);
      assert.equal(res.status, 422, `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.code, 'proof', `${what}: ${JSON.stringify(res.body)}`);
      assert.equal(res.body.error?.field, field, `${what}: ${JSON.stringify(res.body)}`);
    }
    // The good update after all the refusals.
    const res = await me.submit(r, good);
    assert.equal(res.status, 202, JSON.stringify(res.body));
  });

  it('the task completes: every round aggregates the 4 proven updates', async () => {
    // Rounds after the first: the hand-driven participant proves again.
    for (let r = 2; r <= ROUNDS; r++) {
      await until(`round ${r} open`, async () => {
        const i = await getJson<RoundInfo>(`${coord.url}/api/round`);
        return i.state === 'open' && i.round === r ? i : undefined;
      }, 60_000);
      const res = await me.submit(r, await me.trained(r));
      assert.equal(res.status, 202, JSON.stringify(res.body));
    }
    const rows = await coord.done;
    assert.equal(rows.length, ROUNDS);
    for (const row of rows) assert.equal(row.accepted.length, 4, JSON.stringify(row));
    const codes = await Promise.all(workers.map((w) => w.exited));
    assert.deepEqual(codes, [0, 0, 0], workers.map((w) => w.stderr.join('')).join('\n'));
    for (const w of workers) {
      const proved = w.events.filter((e) => e.type === 'proved');
      assert.equal(proved.length, 2 * ROUNDS, JSON.stringify(w.events));
      assert.equal(w.events.filter((e) => e.type === 'accepted').length, ROUNDS);
    }
  });
});
