/**
 * Batch verification of Groth16 proofs (BN254, one verification key) with one random linear combination,
 * on ffjavascript's Wasm engine and its thread pool.
 *
 * Each proof i is valid when e(A_i, B_i) = e(alpha, beta) * e(L_i, gamma) * e(C_i, delta), with
 * L_i = IC_0 + sum_j pub_ij IC_j. With random non-zero 128-bit r_i the k equations are checked at once:
 *
 *   prod_i e(r_i A_i, B_i) * e(-L', gamma) * e(-C', delta) == e(alpha, beta)^R
 *
 * where R = sum r_i, C' = sum r_i C_i and L' = R IC_0 + sum_j (sum_i r_i pub_ij) IC_j (one multi-scalar
 * product over the key's IC points for all proofs). Cost of one check of k proofs: k + 2 Miller loops, one
 * final exponentiation, one exponentiation in GT (e(alpha, beta), computed once per key, raised to R),
 * 2k 128-bit G1 scalar multiplications, and on the first pass k G2 subgroup checks. The per-proof work
 * runs as tasks on the engine's threads; L', the GT power and the last two Miller loops on the caller's.
 * If any proof is invalid the check fails except with probability 2^-128; the culprits are then found by
 * bisection (each half re-checked with fresh r_i), so a batch with b bad proofs costs about 1 + 2b log2(k / b)
 * checks of shrinking size.
 *
 * Before any pairing every proof is checked: coordinates in [0, q), A and C on G1, B on the twist and in
 * the order-r subgroup (psi(B) = [6x^2] B, psi the untwist-Frobenius-twist endomorphism: snarkjs's own
 * verifier checks only the curve equation), public signals in [0, r) and as many as the key has. A proof
 * that fails these is reported as bad with its reason, never fed to the pairing.
 * @module
 */
import { buildBn128, type Bn128, type TaskCommand } from 'ffjavascript';
import { numberToBytesLE } from '@noble/curves/utils.js';
import { concat } from './bytes.js';
import { BASE_FIELD, FIELD_ORDER, parseProof, parsePublicSignals, parseVerificationKey, type FieldValue, type G1Affine, type G2Affine, type Groth16Proof, type VerificationKey } from './groth16-format.js';

/** One proof to check, with the public signals it claims. */
export interface BatchItem {
  proof: Groth16Proof;
  publicSignals: readonly FieldValue[];
}

/** The outcome of {@link batchVerify}. */
export interface Groth16BatchResult {
  /** Whether every proof verified. */
  ok: boolean;
  /** Indices of the proofs that did not verify, ascending. */
  bad: number[];
  /** Per item: undefined when valid, else why not. */
  reasons: (string | undefined)[];
  /** How many batch equations were evaluated (1 when all are valid). */
  checks: number;
}

/** The BN parameter x of BN254 (p and r are polynomials in x). */
const BN_X = 4965661367192848881n;
/** psi acts on G2 as multiplication by p = 6x^2 (mod r); a twist point is in G2 iff psi(P) = [6x^2] P. */
const SIX_X_SQUARED = 6n * BN_X * BN_X;

/** Per-engine constants: the psi coefficients, checked on the generator. */
interface CurveConsts {
  psiX: Uint8Array;
  psiY: Uint8Array;
  sixX2: Uint8Array;
}
const curveConsts = new WeakMap<Bn128, CurveConsts>();

/** psi(x, y) = (conj(x) psiX, conj(y) psiY) on an affine G2 point in Montgomery form (128 bytes). */
function psi(curve: Bn128, c: CurveConsts, p: Uint8Array): Uint8Array {
  const n = curve.F1.n8;
  const conj = (a: Uint8Array) => concat(a.subarray(0, n), curve.F1.neg(a.slice(n, 2 * n)));
  return concat(curve.F2.mul(conj(p.subarray(0, 2 * n)), c.psiX), curve.F2.mul(conj(p.subarray(2 * n, 4 * n)), c.psiY));
}

function constsFor(curve: Bn128): CurveConsts {
  let c = curveConsts.get(curve);
  if (c) return c;
  // With the D-type twist y^2 = x^3 + 3 / xi, xi = 9 + u: psi's coefficients are xi^((q-1)/3) and xi^((q-1)/2).
  const xi = curve.F2.fromObject([9n, 1n]);
  const sixX2 = numberToBytesLE(SIX_X_SQUARED, 16);
  const cand = { psiX: curve.F2.exp(xi, (BASE_FIELD - 1n) / 3n), psiY: curve.F2.exp(xi, (BASE_FIELD - 1n) / 2n), sixX2 };
  const g = curve.G2.toAffine(curve.G2.g);
  if (!curve.G2.eq(curve.G2.timesScalar(g, sixX2), psi(curve, cand, g))) throw new Error('groth16-batch: psi self-test on the G2 generator failed');
  c = cand;
  curveConsts.set(curve, c);
  return c;
}

/** A verification key in engine form, computed once per key object. */
interface PreparedKey {
  nPublic: number;
  /** IC points, affine Montgomery. */
  ic: Uint8Array[];
  /** e(alpha, beta) in GT. */
  alphaBeta: Uint8Array;
  gammaPrep: Uint8Array;
  deltaPrep: Uint8Array;
}
const preparedKeys = new WeakMap<object, PreparedKey>();

function g1(curve: Bn128, p: G1Affine): Uint8Array {
  return concat(curve.F1.fromObject(p[0]), curve.F1.fromObject(p[1]));
}
function g2(curve: Bn128, p: G2Affine): Uint8Array {
  return concat(curve.F2.fromObject(p[0]), curve.F2.fromObject(p[1]));
}

function prepareKey(curve: Bn128, vk: VerificationKey): PreparedKey {
  let k = preparedKeys.get(vk);
  if (k) return k;
  const parsed = parseVerificationKey(vk);
  const ic = parsed.ic.map((p) => g1(curve, p));
  const alpha = g1(curve, parsed.alpha), beta = g2(curve, parsed.beta), gamma = g2(curve, parsed.gamma), delta = g2(curve, parsed.delta);
  ic.forEach((p, i) => { if (!curve.G1.isValid(p)) throw new RangeError(`vk.IC[${i}] is not on BN254 G1`); });
  if (!curve.G1.isValid(alpha)) throw new RangeError('vk.vk_alpha_1 is not on BN254 G1');
  for (const [name, p] of [['vk_beta_2', beta], ['vk_gamma_2', gamma], ['vk_delta_2', delta]] as const) {
    if (!curve.G2.isValid(p)) throw new RangeError(`vk.${name} is not on the BN254 twist`);
  }
  k = {
    nPublic: parsed.nPublic,
    ic,
    alphaBeta: curve.pairing(alpha, beta),
    gammaPrep: curve.prepareG2(curve.G2.toJacobian(gamma)),
    deltaPrep: curve.prepareG2(curve.G2.toJacobian(delta)),
  };
  preparedKeys.set(vk, k);
  return k;
}

/** A proof in engine form after the pre-checks. */
interface EngineProof {
  a: Uint8Array;
  /** Jacobian (z = 1). */
  b: Uint8Array;
  c: Uint8Array;
  /** Affine, for the subgroup check. */
  bAffine: Uint8Array;
  signals: bigint[];
}

/**
 * Parses and pre-checks one item.
 * @throws TypeError for a malformed item (wrong types); RangeError for values that cannot be a valid proof.
 */
function toEngine(curve: Bn128, key: PreparedKey, item: BatchItem, i: number): EngineProof {
  if (typeof item !== 'object' || item === null) throw new TypeError(`items[${i}] must be { proof, publicSignals }`);
  const p = parseProof(item.proof, `items[${i}].proof`);
  const signals = parsePublicSignals(item.publicSignals, key.nPublic, `items[${i}].publicSignals`);
  const a = g1(curve, p.a), c = g1(curve, p.c), bAffine = g2(curve, p.b);
  if (!curve.G1.isValid(a)) throw new RangeError(`items[${i}].proof.pi_a is not on BN254 G1`);
  if (!curve.G1.isValid(c)) throw new RangeError(`items[${i}].proof.pi_c is not on BN254 G1`);
  if (!curve.G2.isValid(bAffine)) throw new RangeError(`items[${i}].proof.pi_b is not on the BN254 twist`);
  return { a, c, bAffine, b: concat(bAffine, curve.F2.one), signals };
}

/** Random non-zero 128-bit scalars, one per proof. */
function randomScalars(k: number): bigint[] {
  const bytes = new Uint8Array(16 * k);
  crypto.getRandomValues(bytes);
  const out: bigint[] = [];
  for (let i = 0; i < k; i++) {
    let v = 0n;
    for (let j = 15; j >= 0; j--) v = (v << 8n) | BigInt(bytes[16 * i + j]!);
    while (v === 0n) {
      const one = new Uint8Array(16);
      crypto.getRandomValues(one);
      for (let j = 15; j >= 0; j--) v = (v << 8n) | BigInt(one[j]!);
    }
    out.push(v);
  }
  return out;
}

/**
 * One engine task for a slice of proofs: the product of their Miller loops ML(r_i A_i, B_i), the sum of
 * r_i C_i, and (when `subgroup`) [6x^2] B_i for each.
 */
function sliceTask(curve: Bn128, proofs: EngineProof[], rs: bigint[], subgroup: boolean, sixX2: Uint8Array): TaskCommand[] {
  const n1 = curve.F1.n8, n2 = curve.F2.n8, nt = curve.Gt.n8;
  const t: TaskCommand[] = [
    { cmd: 'ALLOC', var: 0, len: 2 * n1 }, // A
    { cmd: 'ALLOC', var: 1, len: 16 }, // r
    { cmd: 'ALLOC', var: 2, len: 3 * n1 }, // r A
    { cmd: 'ALLOC', var: 3, len: curve.prePSize },
    { cmd: 'ALLOC', var: 4, len: 3 * n2 }, // B
    { cmd: 'ALLOC', var: 5, len: curve.preQSize },
    { cmd: 'ALLOC', var: 6, len: nt }, // one Miller loop
    { cmd: 'ALLOC', var: 7, len: nt }, // their product
    { cmd: 'ALLOC', var: 8, len: 2 * n1 }, // C
    { cmd: 'ALLOC', var: 9, len: 3 * n1 }, // r C
    { cmd: 'ALLOC', var: 10, len: 3 * n1 }, // sum r C (alternates with 11)
    { cmd: 'ALLOC', var: 11, len: 3 * n1 },
    { cmd: 'ALLOCSET', var: 12, buff: sixX2 },
    { cmd: 'ALLOC', var: 13, len: 3 * n2 }, // [6x^2] B
    { cmd: 'CALL', fnName: 'ftm_one', params: [{ var: 7 }] },
    { cmd: 'CALL', fnName: 'g1m_zero', params: [{ var: 10 }] },
  ];
  let sum = 10;
  proofs.forEach((p, i) => {
    t.push({ cmd: 'SET', var: 0, buff: p.a }, { cmd: 'SET', var: 1, buff: numberToBytesLE(rs[i]!, 16) }, { cmd: 'SET', var: 8, buff: p.c }, { cmd: 'SET', var: 4, buff: p.b });
    if (subgroup) {
      t.push({ cmd: 'CALL', fnName: 'g2m_timesScalar', params: [{ var: 4 }, { var: 12 }, { val: 16 }, { var: 13 }] }, { cmd: 'GET', out: 2 + i, var: 13, len: 3 * n2 });
    }
    t.push(
      { cmd: 'CALL', fnName: 'g1m_timesScalarAffine', params: [{ var: 0 }, { var: 1 }, { val: 16 }, { var: 2 }] },
      { cmd: 'CALL', fnName: 'g1m_timesScalarAffine', params: [{ var: 8 }, { var: 1 }, { val: 16 }, { var: 9 }] },
      { cmd: 'CALL', fnName: 'g1m_add', params: [{ var: sum }, { var: 9 }, { var: 21 - sum }] },
      { cmd: 'CALL', fnName: `${curve.name}_prepareG1`, params: [{ var: 2 }, { var: 3 }] },
      { cmd: 'CALL', fnName: `${curve.name}_prepareG2`, params: [{ var: 4 }, { var: 5 }] },
      { cmd: 'CALL', fnName: `${curve.name}_millerLoop`, params: [{ var: 3 }, { var: 5 }, { var: 6 }] },
      { cmd: 'CALL', fnName: 'ftm_mul', params: [{ var: 7 }, { var: 6 }, { var: 7 }] },
    );
    sum = 21 - sum;
  });
  t.push({ cmd: 'GET', out: 0, var: 7, len: nt }, { cmd: 'GET', out: 1, var: sum, len: 3 * n1 });
  return t;
}

/**
 * Evaluates the batch equation for `ids` with fresh randomness. With `subgroup`, also runs the G2 subgroup
 * check of each B and returns the ids that fail it (the equation's verdict is then void).
 */
async function check(curve: Bn128, key: PreparedKey, proofs: EngineProof[], ids: number[], subgroup: boolean): Promise<{ ok: boolean; outside: number[] }> {
  const consts = constsFor(curve);
  const rs = randomScalars(ids.length);
  // Slices for the engine's threads: about two per thread, so that one slow thread does not hold the rest.
  const per = Math.max(1, Math.ceil(ids.length / (2 * Math.max(1, curve.tm.concurrency))));
  const slices: Promise<Uint8Array[]>[] = [];
  for (let at = 0; at < ids.length; at += per) {
    const part = ids.slice(at, at + per);
    slices.push(curve.tm.queueAction(sliceTask(curve, part.map((i) => proofs[i]!), rs.slice(at, at + per), subgroup, consts.sixX2)));
  }
  // Meanwhile, on this thread: R, L' and e(-L', gamma), and e(alpha, beta)^R.
  let bigR = 0n;
  const coef = new Array<bigint>(key.nPublic).fill(0n); // sum_i r_i pub_ij, per public input j
  ids.forEach((id, i) => {
    const r = rs[i]!;
    bigR += r;
    proofs[id]!.signals.forEach((v, j) => { coef[j] = (coef[j]! + r * v) % FIELD_ORDER; });
  });
  bigR %= FIELD_ORDER;
  let lp = curve.G1.timesScalar(key.ic[0]!, numberToBytesLE(bigR, 32));
  coef.forEach((sj, j) => { if (sj !== 0n) lp = curve.G1.add(lp, curve.G1.timesScalar(key.ic[j + 1]!, numberToBytesLE(sj, 32))); });
  const mlL = curve.millerLoop(curve.prepareG1(curve.G1.neg(lp)), key.gammaPrep);
  const target = curve.Gt.exp(key.alphaBeta, numberToBytesLE(bigR, 32));

  const results = await Promise.all(slices);
  const outside: number[] = [];
  if (subgroup) {
    let at = 0;
    results.forEach((out) => {
      for (let j = 2; j < out.length; j++, at++) {
        const id = ids[at]!;
        if (!curve.G2.eq(out[j]!, psi(curve, consts, proofs[id]!.bAffine))) outside.push(id);
      }
    });
    if (outside.length) return { ok: false, outside };
  }
  let cp = curve.G1.zero;
  let prod = mlL;
  for (const out of results) {
    prod = curve.Gt.mul(prod, out[0]!);
    cp = curve.G1.add(cp, out[1]!);
  }
  prod = curve.Gt.mul(prod, curve.millerLoop(curve.prepareG1(curve.G1.neg(cp)), key.deltaPrep));
  return { ok: curve.Gt.eq(curve.finalExponentiation(prod), target), outside };
}

let building: Promise<Bn128> | undefined;

/**
 * The shared bn128 engine. ffjavascript caches it on globalThis only once built, so calls that overlap
 * while it is being built would each start a thread pool and leak all but one (a process that never exits):
 * they share one build here.
 */
export function sharedBn128(): Promise<Bn128> {
  const cached = (globalThis as { curve_bn128?: Bn128 | null }).curve_bn128;
  if (cached) return Promise.resolve(cached);
  building ??= buildBn128().finally(() => { building = undefined; });
  return building;
}

/**
 * Verifies many Groth16 proofs under one verification key together (see the module comment for the
 * equation and its cost), and names the ones that fail.
 * @returns `ok` when all verify; otherwise `bad` lists the failing indices (found by bisection) and `reasons`
 *   says why each failed (a pre-check's message, or 'pairing check failed').
 * @throws TypeError naming `items[i]...` when an item has the wrong shape or types (values that cannot be a
 *   valid proof, such as a point off the curve, are reported in the result instead); TypeError / RangeError
 *   naming `vk.field` for a malformed key.
 * @example
 * const { ok, bad } = await batchVerify(artifacts.vkey, proofs.map((p) => ({ proof: p.proof, publicSignals: p.publicSignals })));
 */
export async function batchVerify(vk: VerificationKey, items: readonly BatchItem[]): Promise<Groth16BatchResult> {
  if (!Array.isArray(items)) throw new TypeError(`items must be an array, got ${typeof items}`);
  const curve = await sharedBn128();
  const key = prepareKey(curve, vk);
  const reasons: (string | undefined)[] = new Array(items.length).fill(undefined);
  const proofs: EngineProof[] = new Array(items.length);
  const live: number[] = [];
  items.forEach((item, i) => {
    try {
      proofs[i] = toEngine(curve, key, item, i);
      live.push(i);
    } catch (e) {
      if (!(e instanceof RangeError)) throw e;
      reasons[i] = e.message;
    }
  });
  let checks = 0;
  const fail = (ids: number[]) => { for (const id of ids) reasons[id] = 'pairing check failed'; };
  // First pass: subgroup checks, then the equation over the survivors.
  let first = live;
  let verdict: boolean;
  for (let subgroup = true; ; subgroup = false) {
    if (!first.length) { verdict = true; break; }
    checks++;
    const res = await check(curve, key, proofs, first, subgroup);
    if (res.outside.length) {
      for (const id of res.outside) reasons[id] = `items[${id}].proof.pi_b is not in the order-r subgroup of the BN254 twist`;
      first = first.filter((id) => !res.outside.includes(id));
      continue;
    }
    verdict = res.ok;
    break;
  }
  if (!verdict) {
    // Bisection: `ids` is known to hold at least one invalid proof.
    const find = async (ids: number[]): Promise<void> => {
      if (ids.length === 1) return fail(ids);
      const half = ids.length >> 1;
      const left = ids.slice(0, half), right = ids.slice(half);
      checks++;
      const leftOk = (await check(curve, key, proofs, left, false)).ok;
      if (leftOk) return find(right); // the bad one is on the right
      await find(left);
      checks++;
      if (!(await check(curve, key, proofs, right, false)).ok) await find(right);
    };
    await find(first);
  }
  const bad = reasons.flatMap((r, i) => (r === undefined ? [] : [i]));
  return { ok: bad.length === 0, bad, reasons, checks };
}
