/**
 * Groth16 data as snarkjs writes it (proof, public signals, verification key JSON), the constants of
 * meshwork's update-chunk circuit, and strict parsers that turn that JSON into bigints or say which field
 * is wrong. No curve arithmetic here: this module is shared by the snarkjs path (groth16.ts) and the batch
 * verifier (groth16-batch.ts) and pulls in neither.
 * @module
 */

/** BN254 scalar field order r: public signals and witness values live in [0, r). */
export const FIELD_ORDER = 21888242871839275222246405745257275088548364400416034343698204186575808495617n;
/** BN254 base field modulus q: point coordinates live in [0, q). */
export const BASE_FIELD = 21888242871839275222246405745257275088696311157297823662689037894645226208583n;

/** The circuit meshwork ships (proofs/circuits/update_chunk_64.circom). */
export const CIRCUIT = 'update_chunk_64';
/** Values per chunk. */
export const CHUNK = 64;
/** Each value is a signed integer of this many bits: x in [-2^31, 2^31), the runtime's int32 encoding. */
export const VALUE_BITS = 32;
/** The bound B must lie in [0, 2^BOUND_BITS): the circuit proves B - S in [0, 2^70), K = 2 * 32 + log2(64). */
export const BOUND_BITS = 70;
/** Public signals, in the order the circuit outputs them. */
export const PUBLIC_SIGNALS = ['commitment', 'bound', 'bind'] as const;

/** The artifact files the prover and verifier need, by role. */
export const ARTIFACT_FILES = {
  wasm: `${CIRCUIT}.wasm`,
  zkey: `${CIRCUIT}.zkey`,
  vkey: `${CIRCUIT}_verification_key.json`,
} as const;

/** A field element as snarkjs writes it (decimal string); bigints are accepted on input. */
export type FieldValue = string | bigint;

/** A Groth16 proof in snarkjs's JSON form: points as projective decimal coordinates with z = 1. */
export interface Groth16Proof {
  pi_a: FieldValue[];
  pi_b: FieldValue[][];
  pi_c: FieldValue[];
  protocol: 'groth16';
  curve: 'bn128';
}

/** A proof with its public signals, as `prove` returns them. */
export interface ProofWithSignals {
  proof: Groth16Proof;
  /** [commitment, bound, bind] as decimal strings. */
  publicSignals: string[];
}

/** A Groth16 verification key in snarkjs's JSON form (`zkey export verificationkey`). */
export interface VerificationKey {
  protocol: 'groth16';
  curve: 'bn128';
  nPublic: number;
  vk_alpha_1: FieldValue[];
  vk_beta_2: FieldValue[][];
  vk_gamma_2: FieldValue[][];
  vk_delta_2: FieldValue[][];
  IC: FieldValue[][];
  [extra: string]: unknown;
}

/** checksums.json as scripts/groth16-setup.mjs writes it. */
export interface Checksums {
  circuit: string;
  algorithm: 'sha256';
  /** Powers of tau 2^power. */
  power: number;
  constraints: number;
  /** Lower-case hex SHA-256 of each committed artifact, by file name. */
  files: Record<string, string>;
}

/** An affine G1 point (x, y), coordinates in [0, q). */
export type G1Affine = [bigint, bigint];
/** An affine G2 point ((x.c0, x.c1), (y.c0, y.c1)), coordinates in [0, q). */
export type G2Affine = [[bigint, bigint], [bigint, bigint]];

/** A proof's points as bigints (not yet checked against the curve). */
export interface ParsedProof {
  a: G1Affine;
  b: G2Affine;
  c: G1Affine;
}

/** A verification key's points as bigints (not yet checked against the curve). */
export interface ParsedKey {
  nPublic: number;
  alpha: G1Affine;
  beta: G2Affine;
  gamma: G2Affine;
  delta: G2Affine;
  ic: G1Affine[];
}

const DECIMAL = /^(0|[1-9][0-9]*)$/;

/**
 * A field element from a decimal string or bigint, checked to lie in [0, modulus).
 * @throws TypeError naming `field` for another type; RangeError for a non-decimal string or a value out of range.
 */
export function parseField(field: string, value: unknown, modulus: bigint): bigint {
  let v: bigint;
  if (typeof value === 'bigint') v = value;
  else if (typeof value === 'string') {
    if (!DECIMAL.test(value)) throw new RangeError(`${field} must be a decimal integer string, got '${value.length > 20 ? value.slice(0, 20) + '...' : value}'`);
    v = BigInt(value);
  } else throw new TypeError(`${field} must be a decimal string or bigint, got ${value === null ? 'null' : typeof value}`);
  if (v < 0n || v >= modulus) throw new RangeError(`${field} must be in [0, ${modulus === FIELD_ORDER ? 'r' : 'q'}), got ${v}`);
  return v;
}

function checkArrayOf(field: string, value: unknown, lengths: readonly number[]): asserts value is unknown[] {
  if (!Array.isArray(value)) throw new TypeError(`${field} must be an array, got ${value === null ? 'null' : typeof value}`);
  if (!lengths.includes(value.length)) throw new RangeError(`${field} must have ${lengths.join(' or ')} entries, got ${value.length}`);
}

/**
 * An affine G1 point from [x, y] or [x, y, 1].
 * @throws TypeError / RangeError naming `field` (a z other than 1, which includes the point at infinity, is rejected).
 */
export function parseG1(field: string, value: unknown): G1Affine {
  checkArrayOf(field, value, [2, 3]);
  if (value.length === 3 && parseField(`${field}[2]`, value[2], BASE_FIELD) !== 1n) throw new RangeError(`${field}[2] must be 1 (an affine point; the identity is not a valid proof element)`);
  return [parseField(`${field}[0]`, value[0], BASE_FIELD), parseField(`${field}[1]`, value[1], BASE_FIELD)];
}

/**
 * An affine G2 point from [[x0, x1], [y0, y1]] or with a third entry [1, 0].
 * @throws TypeError / RangeError naming `field`.
 */
export function parseG2(field: string, value: unknown): G2Affine {
  checkArrayOf(field, value, [2, 3]);
  const coord = (i: number): [bigint, bigint] => {
    const c = value[i];
    checkArrayOf(`${field}[${i}]`, c, [2]);
    return [parseField(`${field}[${i}][0]`, c[0], BASE_FIELD), parseField(`${field}[${i}][1]`, c[1], BASE_FIELD)];
  };
  if (value.length === 3) {
    const z = coord(2);
    if (z[0] !== 1n || z[1] !== 0n) throw new RangeError(`${field}[2] must be [1, 0] (an affine point; the identity is not a valid proof element)`);
  }
  return [coord(0), coord(1)];
}

/**
 * A proof's points (shape and ranges only; curve membership is the verifier's job).
 * @throws TypeError / RangeError naming `${where}.pi_a` etc.
 */
export function parseProof(proof: unknown, where = 'proof'): ParsedProof {
  if (typeof proof !== 'object' || proof === null) throw new TypeError(`${where} must be an object with pi_a, pi_b and pi_c`);
  const p = proof as Record<string, unknown>;
  if (p.protocol !== undefined && p.protocol !== 'groth16') throw new RangeError(`${where}.protocol must be 'groth16', got '${String(p.protocol)}'`);
  if (p.curve !== undefined && p.curve !== 'bn128') throw new RangeError(`${where}.curve must be 'bn128', got '${String(p.curve)}'`);
  return { a: parseG1(`${where}.pi_a`, p.pi_a), b: parseG2(`${where}.pi_b`, p.pi_b), c: parseG1(`${where}.pi_c`, p.pi_c) };
}

/**
 * Public signals as bigints in [0, r).
 * @throws TypeError / RangeError naming `${where}[i]`; RangeError when there are not `count` of them.
 */
export function parsePublicSignals(signals: unknown, count: number, where = 'publicSignals'): bigint[] {
  checkArrayOf(where, signals, [count]);
  return signals.map((s, i) => parseField(`${where}[${i}]`, s, FIELD_ORDER));
}

/**
 * A verification key's points.
 * @throws TypeError / RangeError naming `vk.field`.
 */
export function parseVerificationKey(vk: unknown): ParsedKey {
  if (typeof vk !== 'object' || vk === null) throw new TypeError('vk must be a verification key object');
  const k = vk as Record<string, unknown>;
  if (k.protocol !== 'groth16') throw new RangeError(`vk.protocol must be 'groth16', got '${String(k.protocol)}'`);
  if (k.curve !== 'bn128') throw new RangeError(`vk.curve must be 'bn128', got '${String(k.curve)}'`);
  const n = k.nPublic;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new RangeError(`vk.nPublic must be a non-negative integer, got ${String(n)}`);
  checkArrayOf('vk.IC', k.IC, [n + 1]);
  return {
    nPublic: n,
    alpha: parseG1('vk.vk_alpha_1', k.vk_alpha_1),
    beta: parseG2('vk.vk_beta_2', k.vk_beta_2),
    gamma: parseG2('vk.vk_gamma_2', k.vk_gamma_2),
    delta: parseG2('vk.vk_delta_2', k.vk_delta_2),
    ic: k.IC.map((p, i) => parseG1(`vk.IC[${i}]`, p)),
  };
}

/** Bytes of a proof in meshwork's compact binary form: A (x, y), B (x.c0, x.c1, y.c0, y.c1), C (x, y), 32-byte big-endian coordinates. */
export const PROOF_BYTES = 8 * 32;
/** Bytes of the public signals in binary form: [commitment, bound, bind], 32-byte big-endian each. */
export const SIGNALS_BYTES = 32 * PUBLIC_SIGNALS.length;

function put32(out: Uint8Array, offset: number, v: bigint): void {
  for (let i = 31; i >= 0; i--, v >>= 8n) out[offset + i] = Number(v & 0xffn);
}

function get32(bytes: Uint8Array, offset: number): bigint {
  let v = 0n;
  for (let i = 0; i < 32; i++) v = (v << 8n) | BigInt(bytes[offset + i]!);
  return v;
}

/**
 * A proof in the compact binary form ({@link PROOF_BYTES} bytes; affine points, z dropped).
 * @throws TypeError / RangeError naming `${where}.pi_a` etc. (see {@link parseProof}).
 */
export function proofToBytes(proof: unknown, where = 'proof'): Uint8Array {
  const p = parseProof(proof, where);
  const out = new Uint8Array(PROOF_BYTES);
  [p.a[0], p.a[1], p.b[0][0], p.b[0][1], p.b[1][0], p.b[1][1], p.c[0], p.c[1]].forEach((v, i) => put32(out, 32 * i, v));
  return out;
}

/**
 * A proof from its compact binary form, as snarkjs JSON (z = 1). Coordinates are checked to lie in [0, q);
 * curve membership is the verifier's job.
 * @throws RangeError naming `${where}` for a wrong length or `${where}.pi_a[0]` etc. for a coordinate >= q.
 */
export function proofFromBytes(bytes: Uint8Array, where = 'proof'): Groth16Proof {
  if (bytes.length !== PROOF_BYTES) throw new RangeError(`${where} must be ${PROOF_BYTES} bytes, got ${bytes.length}`);
  const v = (i: number, field: string) => parseField(`${where}.${field}`, get32(bytes, 32 * i), BASE_FIELD).toString();
  return {
    pi_a: [v(0, 'pi_a[0]'), v(1, 'pi_a[1]'), '1'],
    pi_b: [[v(2, 'pi_b[0][0]'), v(3, 'pi_b[0][1]')], [v(4, 'pi_b[1][0]'), v(5, 'pi_b[1][1]')], ['1', '0']],
    pi_c: [v(6, 'pi_c[0]'), v(7, 'pi_c[1]'), '1'],
    protocol: 'groth16',
    curve: 'bn128',
  };
}

/**
 * Public signals in binary form ({@link SIGNALS_BYTES} bytes).
 * @throws TypeError / RangeError naming `${where}[i]`.
 */
export function signalsToBytes(signals: unknown, where = 'publicSignals'): Uint8Array {
  const s = parsePublicSignals(signals, PUBLIC_SIGNALS.length, where);
  const out = new Uint8Array(SIGNALS_BYTES);
  s.forEach((v, i) => put32(out, 32 * i, v));
  return out;
}

/**
 * Public signals from binary form, as decimal strings, each checked to lie in [0, r).
 * @throws RangeError naming `${where}` or `${where}[i]`.
 */
export function signalsFromBytes(bytes: Uint8Array, where = 'publicSignals'): string[] {
  if (bytes.length !== SIGNALS_BYTES) throw new RangeError(`${where} must be ${SIGNALS_BYTES} bytes, got ${bytes.length}`);
  return PUBLIC_SIGNALS.map((_, i) => parseField(`${where}[${i}]`, get32(bytes, 32 * i), FIELD_ORDER).toString());
}
