// Signed binary envelopes (strict parser, typed errors, replay protection) and Freivalds' check.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { generateIdentity, type Identity } from '../proofs/ed25519.js';
import { generateHybridIdentity } from '../proofs/hybrid.js';
import {
  EnvelopeError, HEADER_BYTES, ReplayError, ReplayGuard, openEnvelope, openEnvelopes, parseEnvelope, sealEnvelope, taskId,
  type EnvelopeFields,
} from '../proofs/envelope.js';
import { FREIVALDS_PRIME, freivalds } from '../proofs/freivalds.js';

let alice: Identity;
let task: Uint8Array;
const fields = (over: Partial<EnvelopeFields> = {}): EnvelopeFields => ({ kind: 'update', task, round: 7, sequence: 1, payload: new Uint8Array([1, 2, 3, 4, 5]), ...over });

test('envelope round trip: the header fields and payload come back; the signature covers the exact bytes', async () => {
  alice = await generateIdentity();
  task = await taskId('digits-mlp');
  assert.equal(task.length, 16);
  const bytes = await sealEnvelope(fields({ payload: new Uint8Array(1000).fill(9), sequence: 2 ** 40 }), alice);
  assert.equal(bytes.length, HEADER_BYTES + 1000 + 64);
  const env = await openEnvelope(bytes);
  assert.deepEqual([env.kind, env.alg, env.round, env.sequence, env.version], ['update', 'ed25519', 7, 2 ** 40, 1]);
  assert.deepEqual(env.sender, alice.publicKey);
  assert.deepEqual(env.task, task);
  assert.equal(env.payload.length, 1000);
  // Any single changed byte is refused: a header or payload byte by the signature (or the parser first), a
  // signature byte by the verifier.
  for (const i of [0, 3, 9, 25, 30, 62, 70, HEADER_BYTES, HEADER_BYTES + 999, HEADER_BYTES + 1000, bytes.length - 1]) {
    const m = bytes.slice();
    m[i]! ^= 0x01;
    await assert.rejects(openEnvelope(m), EnvelopeError, `byte ${i}`);
  }
});

test('the strict parser names the field: magic, version, kind, alg, reserved, length, limit, truncation', async () => {
  const bytes = await sealEnvelope(fields(), alice);
  const bad = (i: number, v: number) => { const m = bytes.slice(); m[i] = v; return m; };
  const cases: [Uint8Array, string, string][] = [
    [bytes.subarray(0, 10), 'header', 'truncated'],
    [bad(0, 0x4e), 'magic', 'magic'],
    [bad(2, 2), 'version', 'version'],
    [bad(3, 99), 'kind', 'kind'],
    [bad(4, 7), 'alg', 'alg'],
    [bad(6, 1), 'reserved', 'reserved'],
    [bad(60, 0xff), 'sequence', 'sequence'],
    [bytes.subarray(0, bytes.length - 1), 'payloadLength', 'truncated'],
    [new Uint8Array([...bytes, 0]), 'payloadLength', 'length'],
    [bad(69, 0x10), 'payloadLength', 'too-large'],
  ];
  for (const [b, field, code] of cases) {
    assert.throws(() => parseEnvelope(b, { maxPayload: 1 << 16 }), (e: unknown) => e instanceof EnvelopeError && e instanceof RangeError && e.field === field && e.code === code, `${field}/${code}`);
  }
  assert.throws(() => parseEnvelope('MW' as unknown as Uint8Array), { name: 'TypeError', message: /envelope must be a Uint8Array, got string/ });
  await assert.rejects(sealEnvelope(fields({ kind: 'gossip' as never }), alice), { name: 'RangeError', message: /kind must be one of/ });
  await assert.rejects(sealEnvelope(fields({ task: new Uint8Array(15) }), alice), { name: 'RangeError', message: /task must be 16 bytes/ });
  await assert.rejects(sealEnvelope(fields({ round: -1 }), alice), { name: 'RangeError', message: /round must be an integer/ });
  await assert.rejects(sealEnvelope(fields({ sequence: 1.5 }), alice), { name: 'RangeError', message: /sequence must be an integer/ });
  await assert.rejects(sealEnvelope(fields({ payload: [1, 2] as unknown as Uint8Array }), alice), { name: 'TypeError', message: /payload must be a Uint8Array, got Array/ });
  await assert.rejects(sealEnvelope(fields({ payload: new Uint8Array(100) }), alice, { maxPayload: 99 }), { name: 'RangeError', message: /over the limit/ });
});

test('replay protection: per sender, task and round the sequence must increase; other rounds are separate', async () => {
  const guard = new ReplayGuard();
  const e1 = await sealEnvelope(fields({ sequence: 1 }), alice);
  const e2 = await sealEnvelope(fields({ sequence: 2 }), alice);
  const r8 = await sealEnvelope(fields({ sequence: 1, round: 8 }), alice);
  await openEnvelope(e1, { replay: guard });
  await assert.rejects(openEnvelope(e1, { replay: guard }), ReplayError);
  await openEnvelope(e2, { replay: guard });
  await assert.rejects(openEnvelope(e1, { replay: guard }), (e: unknown) => e instanceof ReplayError && e.field === 'sequence' && e.code === 'replay');
  await openEnvelope(r8, { replay: guard });
  const bob = await generateIdentity();
  await openEnvelope(await sealEnvelope(fields({ sequence: 1 }), bob), { replay: guard });
  assert.equal(guard.last(task, 7, alice.publicKey), 2);
  // A tampered copy is refused for its signature and does not advance the sequence.
  const e5 = await sealEnvelope(fields({ sequence: 5 }), alice);
  const t5 = e5.slice();
  t5[HEADER_BYTES]! ^= 1;
  await assert.rejects(openEnvelope(t5, { replay: guard }), (e: unknown) => e instanceof EnvelopeError && e.code === 'signature' && e.reason === 'bad-signature');
  assert.equal(guard.last(task, 7, alice.publicKey), 2);
  guard.forgetRound(task, 7);
  assert.equal(guard.last(task, 7, alice.publicKey), -1);
});

test('openEnvelopes verifies a mixed batch and reports each failure by index, in input order for replays', async () => {
  const guard = new ReplayGuard();
  const ids = await Promise.all([generateIdentity(), generateIdentity(), generateIdentity()]);
  const list: Uint8Array[] = [];
  for (let i = 0; i < 30; i++) list.push(await sealEnvelope(fields({ sequence: 10 + i, payload: new Uint8Array([i]) }), ids[i % 3]!));
  list[4] = list[4]!.slice(0, 20); // truncated
  list[9] = list[9]!.slice();
  list[9]![HEADER_BYTES]! ^= 1; // payload changed
  list[12] = list[0]!; // replay of item 0
  const r = await openEnvelopes(list, { replay: guard });
  assert.deepEqual(r.failed, [4, 9, 12]);
  const err = (i: number) => (r.results[i] as { error: EnvelopeError }).error;
  assert.deepEqual([err(4).code, err(9).code, err(12).code], ['truncated', 'signature', 'replay']);
  assert.equal((r.results[29] as { envelope: { payload: Uint8Array } }).envelope.payload[0], 29);
});

test('hybrid envelopes need the sender\'s ML-DSA-65 key; policies refuse unknown senders and plain signatures', async () => {
  const h = await generateHybridIdentity();
  const bytes = await sealEnvelope(fields(), h);
  const mlDsaKeyOf = (s: Uint8Array) => (s.every((b, i) => b === h.publicKey[i]) ? h.mlDsaPublicKey : undefined);
  const env = await openEnvelope(bytes, { mlDsaKeyOf, requireHybrid: true });
  assert.equal(env.alg, 'hybrid');
  await assert.rejects(openEnvelope(bytes), (e: unknown) => e instanceof EnvelopeError && e.code === 'unknown-key');
  const t = bytes.slice();
  t[t.length - 5]! ^= 1; // inside the ML-DSA part
  await assert.rejects(openEnvelope(t, { mlDsaKeyOf }), (e: unknown) => e instanceof EnvelopeError && e.reason === 'bad-ml-dsa-signature');
  await assert.rejects(openEnvelope(await sealEnvelope(fields(), alice), { requireHybrid: true }), (e: unknown) => e instanceof EnvelopeError && e.field === 'alg');
  await assert.rejects(openEnvelope(await sealEnvelope(fields(), alice), { isKnownSender: () => false }), (e: unknown) => e instanceof EnvelopeError && e.field === 'sender');
});

/** A seeded byte source (xorshift32) so the rate tests are reproducible. */
function seeded(seed: number): (buf: Uint8Array) => void {
  let x = seed >>> 0 || 1;
  return (buf) => {
    for (let i = 0; i < buf.length; i++) {
      x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
      buf[i] = x & 0xff;
    }
  };
}

function matmulI32(a: Int32Array, b: Int32Array, m: number, k: number, n: number): Int32Array {
  const c = new Int32Array(m * n);
  for (let i = 0; i < m; i++) for (let p = 0; p < k; p++) {
    const x = a[i * k + p]!;
    for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j]! + Math.imul(x, b[p * n + j]!)) | 0;
  }
  return c;
}

test('Freivalds accepts correct products and rejects one wrong element at the stated rate (2^-k)', () => {
  const m = 12, k = 9, n = 16, rnd = seeded(42);
  const buf = new Uint8Array(4 * (m * k + k * n));
  rnd(buf);
  const w = new Int32Array(buf.buffer);
  const a = w.slice(0, m * k), b = w.slice(m * k);
  const c = matmulI32(a, b, m, k, n); // wraps mod 2^32, as i32 kernels do
  const ok = freivalds(a, b, c, { m, k, n }, { trials: 30, random: rnd });
  assert.deepEqual([ok.ok, ok.trials, ok.falseAcceptBound], [true, 30, 2 ** -30]);
  const wrong = c.slice();
  wrong[5 * n + 11]! += 1;
  assert.equal(freivalds(a, b, wrong, { m, k, n }).ok, false); // 20 trials: 2^-20
  // Rate over many independent checks: with k trials a single wrong element passes exactly when every draw
  // has r_11 = 0, probability 2^-k. 4,000 runs each; accept counts must sit within 5 sigma of the binomial.
  const runs = 4000;
  for (const trials of [1, 2, 3]) {
    let accepted = 0;
    for (let t = 0; t < runs; t++) if (freivalds(a, b, wrong, { m, k, n }, { trials, random: rnd }).ok) accepted++;
    const p = 2 ** -trials, sigma = Math.sqrt(runs * p * (1 - p));
    assert.ok(Math.abs(accepted - runs * p) < 5 * sigma, `k=${trials}: ${accepted}/${runs} accepted, expected ${runs * p}`);
  }
});

test('Freivalds over GF(2^31 - 1): correct products pass, a wrong one never does; bad input gets typed errors', () => {
  const p = FREIVALDS_PRIME, m = 5, k = 7, n = 6, rnd = seeded(7);
  const rand = () => { const b = new Uint8Array(4); rnd(b); return new Uint32Array(b.buffer)[0]! % p; };
  const a = Uint32Array.from({ length: m * k }, rand), b = Uint32Array.from({ length: k * n }, rand);
  const c = new Uint32Array(m * n);
  for (let i = 0; i < m; i++) for (let j = 0; j < n; j++) {
    let s = 0n;
    for (let q = 0; q < k; q++) s += BigInt(a[i * k + q]!) * BigInt(b[q * n + j]!);
    c[i * n + j] = Number(s % BigInt(p));
  }
  const r = freivalds(a, b, c, { m, k, n }, { algebra: 'prime', trials: 2, random: rnd });
  assert.equal(r.ok, true);
  assert.equal(r.falseAcceptBound, (1 / p) ** 2);
  const wrong = c.slice();
  wrong[7] = (wrong[7]! + p - 1) % p;
  for (let t = 0; t < 300; t++) assert.equal(freivalds(a, b, wrong, { m, k, n }, { algebra: 'prime', trials: 1, random: rnd }).ok, false);
  assert.throws(() => freivalds(a, b, c, { m, k: 0, n }, { algebra: 'prime' }), { name: 'RangeError', message: /dims\.k must be a positive integer/ });
  assert.throws(() => freivalds(new Float32Array(m * k) as never, b, c, { m, k, n }), { name: 'TypeError', message: /a must be an Int32Array/ });
  assert.throws(() => freivalds(new Int32Array(3), new Int32Array(k * n), new Int32Array(m * n), { m, k, n }), { name: 'RangeError', message: /a must have m\*k = 35 elements, got 3/ });
  assert.throws(() => freivalds(Uint32Array.of(...a.subarray(0, m * k - 1), p), b, c, { m, k, n }, { algebra: 'prime' }), { name: 'RangeError', message: /a\[34\] = 2147483647 is not in/ });
  assert.throws(() => freivalds(a, b, c, { m, k, n }, { algebra: 'prime', trials: 0 }), { name: 'RangeError', message: /trials/ });
});
