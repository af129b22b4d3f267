// Groth16 for update chunks: proofs made on the Node worker verify with snarkjs, verify() and the batch
// verifier; tampering with any proof point or public signal is rejected; the circuit refuses chunks over
// the bound or out of range (also with a hand-forged witness); a batch names exactly its bad proofs; the
// artifacts are checked against checksums.json; bindings differ per sender, round, task and chunk.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import * as snarkjs from 'snarkjs';
import { bn254 } from '@noble/curves/bn254.js';
import { ARTIFACTS_DIR, createGroth16Prover, readArtifacts, type Groth16Prover } from '../host-node/groth16.js';
import {
  ARTIFACT_FILES, BASE_FIELD, CHUNK, ChecksumError, FIELD_ORDER, WitnessCalculator, WitnessError,
  bindingOf, chunksOf, commitment, dispose, loadArtifacts, publicSignalsFor, statementOf, sumOfSquares, verify,
  type FieldValue, type Groth16Artifacts, type Groth16Proof, type ProofWithSignals,
} from '../proofs/groth16.js';
import { batchVerify, type BatchItem } from '../proofs/groth16-batch.js';

/** A chunk from a seed: values spread over the whole int32 range at the ends, small in the middle. */
function chunk(seed: number): Int32Array {
  const x = new Int32Array(CHUNK);
  for (let i = 0; i < CHUNK; i++) x[i] = ((i * 7919 + seed * 104729) % 20001) - 10000;
  x[0] = seed % 2 ? -(2 ** 31) : 2 ** 31 - 1;
  return x;
}

const sender = (b: number) => new Uint8Array(32).fill(b);
let artifacts: Groth16Artifacts;
let prover: Groth16Prover;
/** Proofs made once on the worker, reused (and copied before tampering) by every test. */
const made: { x: Int32Array; bound: bigint; bind: bigint; res: ProofWithSignals }[] = [];

before(async () => {
  artifacts = await readArtifacts();
  prover = await createGroth16Prover();
  for (let i = 0; i < 6; i++) {
    const x = chunk(i);
    const bound = sumOfSquares(x) + BigInt(i); // tight bound (i = 0: exactly the sum)
    const bind = bindingOf({ task: 'groth16 test', round: 1, sender: sender(i), chunk: i });
    made.push({ x, bound, bind, res: await prover.prove({ x, bound, bind }) });
  }
});

after(async () => {
  await prover?.dispose();
  await dispose();
});

const clone = <T>(v: T): T => structuredClone(v);
const items = (): (BatchItem & { publicSignals: FieldValue[] })[] => made.map((m) => ({ proof: clone(m.res.proof), publicSignals: [...m.res.publicSignals] }));

/** 2P for a proof point, via noble: another valid point of the same group. */
function doubled(proof: Groth16Proof, which: 'pi_a' | 'pi_b' | 'pi_c'): Groth16Proof {
  const p = clone(proof);
  if (which === 'pi_b') {
    const { Fp2 } = bn254.fields;
    const b = p.pi_b.map((c) => c.map((v) => BigInt(v))) as bigint[][];
    const q = bn254.G2.Point.fromAffine({ x: Fp2.fromBigTuple([b[0]![0]!, b[0]![1]!]), y: Fp2.fromBigTuple([b[1]![0]!, b[1]![1]!]) }).double().toAffine();
    p.pi_b = [[q.x.c0, q.x.c1], [q.y.c0, q.y.c1], [1n, 0n]].map((c) => c.map(String));
  } else {
    const q = bn254.G1.Point.fromAffine({ x: BigInt(p[which][0]!), y: BigInt(p[which][1]!) }).double().toAffine();
    p[which] = [String(q.x), String(q.y), '1'];
  }
  return p;
}

async function artifactFiles(): Promise<Record<string, Uint8Array>> {
  const files: Record<string, Uint8Array> = {};
  for (const name of Object.values(ARTIFACT_FILES)) files[name] = new Uint8Array(await readFile(new URL(name, ARTIFACTS_DIR)));
  return files;
}
const checksumsFile = async () => new Uint8Array(await readFile(new URL('checksums.json', ARTIFACTS_DIR)));

test('the committed artifacts match checksums.json; a changed byte, an unlisted file and a missing file are refused', async () => {
  const files = await artifactFiles();
  const sums = await checksumsFile();
  const ok = loadArtifacts(files, sums);
  assert.equal(ok.vkey.nPublic, 3);
  const zkey = files[ARTIFACT_FILES.zkey]!.slice();
  zkey[zkey.length >> 1] ^= 1;
  assert.throws(() => loadArtifacts({ ...files, [ARTIFACT_FILES.zkey]: zkey }, sums), (e: unknown) => e instanceof ChecksumError && e.file === ARTIFACT_FILES.zkey && /does not match checksums\.json/.test(e.message));
  assert.throws(() => loadArtifacts({ ...files, 'other.bin': new Uint8Array(1) }, sums), (e: unknown) => e instanceof ChecksumError && e.file === 'other.bin');
  const { [ARTIFACT_FILES.wasm]: _wasm, ...noWasm } = files;
  assert.throws(() => loadArtifacts(noWasm, sums), new RegExp(`missing ${ARTIFACT_FILES.wasm.replace('.', '\\.')}`));
});

test('a proof made on the worker verifies with snarkjs, verify() and the batch verifier; its signals are [c, B, bind]', async () => {
  for (const m of made) {
    const c = await commitment(m.x, artifacts);
    assert.deepEqual(statementOf(m.res.publicSignals), { commitment: c, bound: m.bound, bind: m.bind });
    assert.deepEqual(m.res.publicSignals, publicSignalsFor({ commitment: c, bound: m.bound, bind: m.bind }));
    assert.equal(await snarkjs.groth16.verify(artifacts.vkey, m.res.publicSignals, m.res.proof), true);
    assert.equal(await verify(artifacts.vkey, m.res.publicSignals, m.res.proof), true);
  }
  const all = await batchVerify(artifacts.vkey, items());
  assert.deepEqual({ ok: all.ok, bad: all.bad, checks: all.checks }, { ok: true, bad: [], checks: 1 });
});

test('tampered A, B or C (another curve point) does not verify; a point off the curve is a RangeError naming it', async () => {
  const m = made[1]!;
  for (const which of ['pi_a', 'pi_b', 'pi_c'] as const) {
    const p = doubled(m.res.proof, which);
    assert.equal(await snarkjs.groth16.verify(artifacts.vkey, m.res.publicSignals, p), false, which);
    assert.equal(await verify(artifacts.vkey, m.res.publicSignals, p), false, which);
    const res = await batchVerify(artifacts.vkey, [...items(), { proof: p, publicSignals: m.res.publicSignals }]);
    assert.deepEqual(res.bad, [made.length], which);
    const off = clone(m.res.proof);
    if (which === 'pi_b') off.pi_b[0]![1] = String((BigInt(off.pi_b[0]![1]!) + 1n) % BASE_FIELD);
    else off[which][1] = String((BigInt(off[which][1]!) + 1n) % BASE_FIELD);
    await assert.rejects(verify(artifacts.vkey, m.res.publicSignals, off), (e: unknown) => e instanceof RangeError && e.message.includes(`proof.${which}`));
    const res2 = await batchVerify(artifacts.vkey, [{ proof: off, publicSignals: m.res.publicSignals }, ...items()]);
    assert.deepEqual(res2.bad, [0]);
    assert.match(res2.reasons[0]!, new RegExp(`items\\[0\\]\\.proof\\.${which} is not on`));
  }
});

test('a tampered public signal (c, B or bind) does not verify: a proof holds for its own chunk, bound and binding only', async () => {
  const m = made[2]!;
  for (let j = 0; j < 3; j++) {
    const signals = [...m.res.publicSignals];
    signals[j] = String((BigInt(signals[j]!) + 1n) % FIELD_ORDER);
    assert.equal(await verify(artifacts.vkey, signals, m.res.proof), false, `signal ${j}`);
    const res = await batchVerify(artifacts.vkey, [{ proof: m.res.proof, publicSignals: signals }]);
    assert.deepEqual(res.bad, [0]);
  }
  // Another sender's, round's or chunk's binding, or another chunk's commitment.
  const other = [
    bindingOf({ task: 'groth16 test', round: 1, sender: sender(9), chunk: 2 }),
    bindingOf({ task: 'groth16 test', round: 2, sender: sender(2), chunk: 2 }),
    bindingOf({ task: 'groth16 test', round: 1, sender: sender(2), chunk: 3 }),
  ];
  const c = await commitment(m.x, artifacts);
  for (const bind of other) assert.equal(await verify(artifacts.vkey, publicSignalsFor({ commitment: c, bound: m.bound, bind }), m.res.proof), false);
  const y = m.x.slice();
  y[5]! += 1;
  assert.equal(await verify(artifacts.vkey, publicSignalsFor({ commitment: await commitment(y, artifacts), bound: m.bound, bind: m.bind }), m.res.proof), false);
  // Malformed signals are errors naming the field.
  await assert.rejects(verify(artifacts.vkey, [...m.res.publicSignals.slice(0, 2), FIELD_ORDER.toString()], m.res.proof), /publicSignals\[2\] must be in \[0, r\)/);
  await assert.rejects(verify(artifacts.vkey, m.res.publicSignals.slice(0, 2), m.res.proof), RangeError);
  await assert.rejects(verify(artifacts.vkey, [1 as unknown as string, '2', '3'], m.res.proof), TypeError);
});

test('a chunk over the bound or out of range cannot be proved: refused up front, by the circuit, and a forged witness gives no valid proof', async () => {
  const m = made[0]!; // bound = sum of squares exactly
  await assert.rejects(prover.prove({ x: m.x, bound: m.bound - 1n, bind: m.bind }), (e: unknown) => e instanceof RangeError && /exceeds the bound/.test(e.message));
  await assert.rejects(prover.prove({ x: [...m.x.slice(1), 2 ** 31], bound: 1n << 69n, bind: m.bind }), (e: unknown) => e instanceof RangeError && /x\[63\] = 2147483648 is outside/.test(e.message));
  await assert.rejects(prover.prove({ x: m.x, bound: 1n << 70n, bind: m.bind }), RangeError);
  // The circuit itself: its witness generator fails an assert.
  const calc = await WitnessCalculator.create(artifacts.wasm);
  const xs = Array.from(m.x, BigInt);
  assert.throws(() => calc.witness({ x: xs, B: [m.bound - 1n], bind: [m.bind] }), (e: unknown) => e instanceof WitnessError && /assert failed/.test(e.message));
  assert.throws(() => calc.witness({ x: [...xs.slice(1), 1n << 31n], B: [1n << 69n], bind: [m.bind] }), WitnessError);
  assert.throws(() => calc.witness({ x: [...xs.slice(1), -(1n << 31n) - 1n], B: [1n << 69n], bind: [m.bind] }), WitnessError);
  // A forged witness: the honest one for a loose bound, with B (witness index 2) lowered below the sum.
  const w = calc.witness({ x: xs, B: [m.bound + 1000n], bind: [m.bind] });
  assert.equal(w[1], await commitment(m.x, artifacts));
  w[2] = m.bound - 1n;
  const wtns = { type: 'mem' as const, data: wtnsBytes(w) };
  const r1cs = new Uint8Array(await readFile(new URL('update_chunk_64.r1cs', ARTIFACTS_DIR)));
  loadArtifacts({ ...(await artifactFiles()), 'update_chunk_64.r1cs': r1cs }, await checksumsFile()); // the r1cs is the committed one
  const warnings: string[] = [];
  const logger = { debug: () => undefined, info: () => undefined, warn: (s: string) => { warnings.push(s); }, error: (s: string) => { warnings.push(s); } };
  assert.equal(await snarkjs.wtns.check({ type: 'mem', data: r1cs }, wtns, logger), false);
  assert.ok(warnings.length > 0);
  const forged = await snarkjs.groth16.prove({ type: 'mem', data: artifacts.zkey }, wtns);
  assert.equal(forged.publicSignals[1], String(m.bound - 1n));
  assert.equal(await snarkjs.groth16.verify(artifacts.vkey, forged.publicSignals, forged.proof), false);
  assert.deepEqual((await batchVerify(artifacts.vkey, [...items(), { proof: forged.proof as Groth16Proof, publicSignals: forged.publicSignals }])).bad, [made.length]);
});

/** A .wtns file (format 2, as circom's witness calculator writes it) for a witness over the BN254 scalar field. */
function wtnsBytes(w: bigint[]): Uint8Array {
  const n8 = 32;
  const out = new Uint8Array(12 + 12 + 4 + n8 + 4 + 12 + n8 * w.length);
  const dv = new DataView(out.buffer);
  out.set([0x77, 0x74, 0x6e, 0x73]); // 'wtns'
  dv.setUint32(4, 2, true); // version
  dv.setUint32(8, 2, true); // sections
  let o = 12;
  const le = (v: bigint) => { for (let i = 0; i < n8; i++, o++) { out[o] = Number(v & 0xffn); v >>= 8n; } };
  dv.setUint32(o, 1, true); dv.setBigUint64(o + 4, BigInt(n8 + 4 + 4), true); o += 12;
  dv.setUint32(o, n8, true); o += 4;
  le(FIELD_ORDER);
  dv.setUint32(o, w.length, true); o += 4;
  dv.setUint32(o, 2, true); dv.setBigUint64(o + 4, BigInt(n8 * w.length), true); o += 12;
  for (const v of w) le(v);
  return out;
}

test('a batch of 8 with 2 bad proofs names exactly those; all good is ok in one check', async () => {
  const base = items();
  const batch = [...base, base[0]!, base[3]!].map((it) => ({ proof: clone(it.proof), publicSignals: [...it.publicSignals] }));
  assert.equal(batch.length, 8);
  batch[2]!.publicSignals[2] = String(BigInt(batch[2]!.publicSignals[2]!) ^ 1n); // another binding
  batch[6] = { proof: doubled(batch[6]!.proof, 'pi_c'), publicSignals: batch[6]!.publicSignals };
  const res = await batchVerify(artifacts.vkey, batch);
  assert.equal(res.ok, false);
  assert.deepEqual(res.bad, [2, 6]);
  assert.equal(res.reasons[2], 'pairing check failed');
  assert.ok(res.checks > 1);
  const good = await batchVerify(artifacts.vkey, [...base, base[0]!, base[3]!]);
  assert.deepEqual({ ok: good.ok, bad: good.bad, checks: good.checks }, { ok: true, bad: [], checks: 1 });
  assert.deepEqual(await batchVerify(artifacts.vkey, []), { ok: true, bad: [], reasons: [], checks: 0 });
});

test('batch pre-checks: a B outside the order-r subgroup, a signal >= r or a wrong signal count is reported with its index; a wrong type throws', async () => {
  // An on-curve twist point outside G2 (x = 2 + u): noble's validity check refuses it too.
  const { Fp2 } = bn254.fields;
  const x = Fp2.fromBigTuple([2n, 1n]);
  const y = Fp2.sqrt(Fp2.add(Fp2.mul(Fp2.sqr(x), x), bn254.G2.Point.CURVE().b));
  assert.throws(() => bn254.G2.Point.fromAffine({ x, y }).assertValidity(), /subgroup/);
  const batch = items();
  batch[1]!.proof.pi_b = [[String(x.c0), String(x.c1)], [String(y.c0), String(y.c1)], ['1', '0']];
  batch[3]!.publicSignals[0] = FIELD_ORDER.toString();
  batch[4]!.publicSignals = batch[4]!.publicSignals.slice(0, 2);
  const res = await batchVerify(artifacts.vkey, batch);
  assert.deepEqual(res.bad, [1, 3, 4]);
  assert.match(res.reasons[1]!, /items\[1\]\.proof\.pi_b is not in the order-r subgroup/);
  assert.match(res.reasons[3]!, /items\[3\]\.publicSignals\[0\] must be in \[0, r\)/);
  assert.match(res.reasons[4]!, /items\[4\]\.publicSignals must have 3 entries/);
  await assert.rejects(verify(artifacts.vkey, made[1]!.res.publicSignals, batch[1]!.proof), /pi_b is not a point of BN254 G2/);
  const typo = items();
  (typo[2]!.proof as unknown as Record<string, unknown>).pi_a = 'nope';
  await assert.rejects(batchVerify(artifacts.vkey, typo), (e: unknown) => e instanceof TypeError && /items\[2\]\.proof\.pi_a must be an array/.test(e.message));
});

test('bindingOf: deterministic, in [0, r), different for another task, round, sender or chunk', () => {
  const base = { task: 'groth16 test', round: 7, sender: sender(1), chunk: 0 };
  const b = bindingOf(base);
  assert.equal(bindingOf({ ...base, sender: sender(1) }), b);
  assert.ok(b >= 0n && b < FIELD_ORDER);
  const others = [
    bindingOf({ ...base, task: 'groth16 test 2' }),
    bindingOf({ ...base, task: new Uint8Array(16) }),
    bindingOf({ ...base, round: 8 }),
    bindingOf({ ...base, sender: sender(2) }),
    bindingOf({ ...base, chunk: 1 }),
  ];
  assert.equal(new Set([b, ...others]).size, 6);
  assert.throws(() => bindingOf({ ...base, round: -1 }), RangeError);
  assert.throws(() => bindingOf({ ...base, sender: 'key' as unknown as Uint8Array }), TypeError);
});

test('commitment: one changed value changes it; chunksOf pads the last chunk with zeros; bad values name their index', async () => {
  const x = chunk(3);
  const c = await commitment(x, artifacts);
  const y = x.slice();
  y[63] = -y[63]! - 1;
  assert.notEqual(await commitment(y, artifacts), c);
  assert.equal(await commitment(Array.from(x), artifacts), c);
  const parts = chunksOf(new Int32Array(130).fill(-1));
  assert.deepEqual(parts.map((p) => p.length), [64, 64, 64]);
  assert.equal(parts[2]![1], -1);
  assert.equal(parts[2]![2], 0);
  await assert.rejects(commitment(x.subarray(1), artifacts), /x must have 64 values/);
  await assert.rejects(commitment([...Array.from(x).slice(1), 0.5], artifacts), /x\[63\] must be an integer/);
});
