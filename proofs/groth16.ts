/**
 * Groth16 proofs (snarkjs, BN254) that one chunk of a fixed-point model update is small: "the 64 int32 values
 * x of this chunk have sum of squares at most B, and commit to c", bound to one (task, round, sender, chunk)
 * of the federated flow so that a proof cannot be replayed elsewhere. The circuit is
 * proofs/circuits/update_chunk.circom; docs/proofs-groth16.md has the statement, packing and bounds.
 *
 * Host-agnostic: artifacts come in as bytes (the Node host reads them from proofs/artifacts/, a browser
 * fetches them) and are checked against checksums.json before use. Proving and verifying run on snarkjs;
 * many proofs are verified together by groth16-batch.ts.
 *
 * snarkjs starts a pool of Wasm threads on first use (shared with ffjavascript as globalThis.curve_bn128);
 * call {@link dispose} when done or Node does not exit.
 * @example
 * const artifacts = loadArtifacts(files, checksums);
 * const bind = bindingOf({ task, round: 3, sender: publicKey, chunk: 0 });
 * const { proof, publicSignals } = await prove({ x: chunk, bound: 1n << 40n, bind }, artifacts);
 * const ok = await verify(artifacts.vkey, publicSignalsFor({ commitment: await commitment(chunk, artifacts), bound: 1n << 40n, bind }), proof);
 * await dispose();
 * @module
 */
import * as snarkjs from 'snarkjs';
import { sha256 } from '@noble/hashes/sha2.js';
import { bn254 } from '@noble/curves/bn254.js';
import { checkBytes, concat, toHex, utf8 } from './bytes.js';
import { WitnessCalculator } from './groth16-witness.js';
import {
  ARTIFACT_FILES, BOUND_BITS, CHUNK, CIRCUIT, FIELD_ORDER, PUBLIC_SIGNALS, VALUE_BITS,
  parseField, parseProof, parsePublicSignals, parseVerificationKey,
  type Checksums, type FieldValue, type Groth16Proof, type ProofWithSignals, type VerificationKey,
} from './groth16-format.js';

export * from './groth16-format.js';
export { WitnessCalculator, WitnessError } from './groth16-witness.js';

/** The artifacts `prove`, `commitment` and `verify` need, checked against checksums.json. */
export interface Groth16Artifacts {
  /** The circuit's witness generator (circom --wasm). */
  wasm: Uint8Array;
  /** The final proving key of the trusted setup. */
  zkey: Uint8Array;
  /** The verification key. */
  vkey: VerificationKey;
}

/** An artifact whose bytes do not match checksums.json (or that checksums.json does not list). */
export class ChecksumError extends Error {
  override name = 'ChecksumError';
  constructor(readonly file: string, readonly expected: string | undefined, readonly actual: string) {
    super(expected === undefined
      ? `artifact ${file} is not listed in checksums.json`
      : `artifact ${file} does not match checksums.json: sha256 ${actual}, expected ${expected}; re-fetch the artifacts or re-run scripts/groth16-setup.mjs`);
  }
}

/** A chunk of update values: signed integers in [-2^31, 2^31), CHUNK of them. */
export type ChunkValues = Int32Array | readonly (number | bigint)[];

/** What `prove` proves: x has sum of squares <= bound, for this binding. */
export interface ProveInput {
  x: ChunkValues;
  /** B, an integer in [0, 2^70). */
  bound: bigint | number;
  /** The binding field element, from {@link bindingOf}. */
  bind: bigint;
}

/** The public statement of a proof. */
export interface Statement {
  /** Poseidon commitment to the chunk ({@link commitment}). */
  commitment: bigint;
  /** B: the proven bound on the sum of squares. */
  bound: bigint;
  /** The binding ({@link bindingOf}). */
  bind: bigint;
}

/** What a proof is bound to: the envelope fields of the update chunk it speaks for. */
export interface Binding {
  /** The task id (the envelope's 16-byte id) or a task name (UTF-8). */
  task: Uint8Array | string;
  /** Round number, u32. */
  round: number;
  /** The sender's public key (its id). */
  sender: Uint8Array;
  /** Index of the chunk within the update, u32. */
  chunk: number;
}

const BIND_TAG = 'meshwork/groth16/bind/v1';

function u32be(field: string, v: unknown): Uint8Array {
  if (typeof v !== 'number') throw new TypeError(`bindingOf: ${field} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RangeError(`bindingOf: ${field} must be an integer in [0, 2^32), got ${v}`);
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, v);
  return b;
}

/**
 * The `bind` public input for one chunk: SHA-256('meshwork/groth16/bind/v1' || u32 len(task) || task ||
 * u32 round || u32 len(sender) || sender || u32 chunk) as a big-endian integer mod r (u32s big-endian, as in
 * the envelope header). A proof made for one binding does not verify for another.
 * @throws TypeError / RangeError naming the field.
 * @example
 * const bind = bindingOf({ task: env.task, round: env.round, sender: env.sender, chunk: 0 });
 */
export function bindingOf(b: Binding): bigint {
  if (typeof b !== 'object' || b === null) throw new TypeError('bindingOf: expected { task, round, sender, chunk }');
  const task = typeof b.task === 'string' ? utf8(b.task) : b.task;
  checkBytes('bindingOf: task', task);
  checkBytes('bindingOf: sender', b.sender);
  const digest = sha256(concat(utf8(BIND_TAG), u32be('task length', task.length), task, u32be('round', b.round), u32be('sender length', b.sender.length), b.sender, u32be('chunk', b.chunk)));
  return BigInt('0x' + toHex(digest)) % FIELD_ORDER;
}

/**
 * Checks a chunk and returns its values as bigints.
 * @throws TypeError when `x` is not an Int32Array or array of integers; RangeError naming `x[i]` for a value
 *   outside [-2^31, 2^31), or for a length other than CHUNK.
 */
export function chunkValues(op: string, x: unknown): bigint[] {
  if (!(x instanceof Int32Array) && !Array.isArray(x)) throw new TypeError(`${op}: x must be an Int32Array or an array of integers, got ${x === null ? 'null' : typeof x}`);
  if (x.length !== CHUNK) throw new RangeError(`${op}: x must have ${CHUNK} values (pad the last chunk with zeros, see chunksOf), got ${x.length}`);
  const lo = -(1n << BigInt(VALUE_BITS - 1)), hi = 1n << BigInt(VALUE_BITS - 1);
  const out = new Array<bigint>(CHUNK);
  for (let i = 0; i < CHUNK; i++) {
    const v = (x as ArrayLike<unknown>)[i];
    let b: bigint;
    if (typeof v === 'bigint') b = v;
    else if (typeof v === 'number' && Number.isInteger(v)) b = BigInt(v);
    else throw new TypeError(`${op}: x[${i}] must be an integer (number or bigint), got ${typeof v === 'number' ? v : typeof v}`);
    if (b < lo || b >= hi) throw new RangeError(`${op}: x[${i}] = ${b} is outside [-2^${VALUE_BITS - 1}, 2^${VALUE_BITS - 1})`);
    out[i] = b;
  }
  return out;
}

/** Splits an encoded update into CHUNK-value chunks, the last one padded with zeros. */
export function chunksOf(update: Int32Array): Int32Array[] {
  if (!(update instanceof Int32Array)) throw new TypeError(`chunksOf: update must be an Int32Array, got ${typeof update}`);
  const out: Int32Array[] = [];
  for (let o = 0; o < update.length; o += CHUNK) {
    const c = new Int32Array(CHUNK);
    c.set(update.subarray(o, Math.min(update.length, o + CHUNK)));
    out.push(c);
  }
  return out;
}

/** The sum of squares of a chunk's values (exact). */
export function sumOfSquares(x: ChunkValues): bigint {
  return chunkValues('sumOfSquares', x).reduce((s, v) => s + v * v, 0n);
}

function checkBound(op: string, bound: unknown): bigint {
  if (typeof bound !== 'bigint' && !(typeof bound === 'number' && Number.isSafeInteger(bound))) throw new TypeError(`${op}: bound must be a bigint or safe integer, got ${typeof bound}`);
  const b = BigInt(bound);
  if (b < 0n || b >= 1n << BigInt(BOUND_BITS)) throw new RangeError(`${op}: bound must be in [0, 2^${BOUND_BITS}), got ${b}`);
  return b;
}

/**
 * Reads and checks the artifacts. `files` maps artifact file names (as in checksums.json) to their bytes; it
 * must hold the wasm, zkey and verification key (ARTIFACT_FILES), and may hold others (each is checked).
 * `checksums` is checksums.json, parsed or as bytes.
 * @throws ChecksumError naming the first file whose SHA-256 differs from checksums.json or that it does not
 *   list; TypeError / RangeError for a missing file or malformed checksums.json or verification key.
 */
export function loadArtifacts(files: Record<string, Uint8Array>, checksums: Checksums | Uint8Array): Groth16Artifacts {
  const sums = checksums instanceof Uint8Array ? JSON.parse(new TextDecoder().decode(checksums)) as Checksums : checksums;
  if (typeof sums !== 'object' || sums === null || typeof sums.files !== 'object' || sums.files === null) throw new TypeError('checksums must be checksums.json with a files map');
  if (sums.algorithm !== 'sha256') throw new RangeError(`checksums.algorithm must be 'sha256', got '${String(sums.algorithm)}'`);
  if (sums.circuit !== CIRCUIT) throw new RangeError(`checksums.circuit must be '${CIRCUIT}', got '${String(sums.circuit)}'`);
  if (typeof files !== 'object' || files === null) throw new TypeError('files must map artifact names to bytes');
  for (const name of Object.values(ARTIFACT_FILES)) if (!(name in files)) throw new TypeError(`files is missing ${name}`);
  for (const [name, bytes] of Object.entries(files)) {
    checkBytes(`files['${name}']`, bytes);
    const actual = toHex(sha256(bytes));
    const expected = Object.hasOwn(sums.files, name) ? sums.files[name] : undefined;
    if (expected !== actual) throw new ChecksumError(name, expected, actual);
  }
  const vkey = JSON.parse(new TextDecoder().decode(files[ARTIFACT_FILES.vkey])) as VerificationKey;
  if (parseVerificationKey(vkey).nPublic !== PUBLIC_SIGNALS.length) throw new RangeError(`vk.nPublic must be ${PUBLIC_SIGNALS.length}, got ${vkey.nPublic}`);
  return { wasm: files[ARTIFACT_FILES.wasm]!, zkey: files[ARTIFACT_FILES.zkey]!, vkey };
}

function checkArtifacts(op: string, a: unknown): asserts a is Groth16Artifacts {
  if (typeof a !== 'object' || a === null || !((a as Groth16Artifacts).wasm instanceof Uint8Array) || !((a as Groth16Artifacts).zkey instanceof Uint8Array)) {
    throw new TypeError(`${op}: artifacts must come from loadArtifacts ({ wasm, zkey, vkey })`);
  }
}

const calculators = new WeakMap<Uint8Array, Promise<WitnessCalculator>>();
/** One witness calculator per circuit binary, compiled once. */
function calculatorFor(wasm: Uint8Array): Promise<WitnessCalculator> {
  let c = calculators.get(wasm);
  if (!c) {
    c = WitnessCalculator.create(wasm);
    calculators.set(wasm, c);
    c.catch(() => calculators.delete(wasm));
  }
  return c;
}

/**
 * The Poseidon commitment c of a chunk, as the circuit computes it (packing: u_i = x_i + 2^31, seven u_i per
 * field element little-endian, c = Poseidon(10 elements) with circomlib's constants), read from the circuit's
 * own witness generator (compiled once per `artifacts.wasm`, then about a millisecond per chunk).
 * @throws TypeError / RangeError naming `x[i]` (see {@link chunkValues}).
 * @example
 * const c = await commitment(chunk, artifacts);
 */
export async function commitment(x: ChunkValues, artifacts: Pick<Groth16Artifacts, 'wasm'>): Promise<bigint> {
  const values = chunkValues('commitment', x);
  if (typeof artifacts !== 'object' || artifacts === null || !(artifacts.wasm instanceof Uint8Array)) throw new TypeError('commitment: artifacts must hold the circuit wasm');
  const calc = await calculatorFor(artifacts.wasm);
  // The largest bound accepts every chunk; bind does not enter c.
  const [c] = calc.signals({ x: values, B: [(1n << BigInt(BOUND_BITS)) - 1n], bind: [0n] }, [1]);
  return c!;
}

/** The public signals of a statement, in the circuit's order, as snarkjs takes them. */
export function publicSignalsFor(s: Statement): string[] {
  if (typeof s !== 'object' || s === null) throw new TypeError('publicSignalsFor: expected { commitment, bound, bind }');
  return [
    parseField('commitment', s.commitment, FIELD_ORDER).toString(),
    checkBound('publicSignalsFor', s.bound).toString(),
    parseField('bind', s.bind, FIELD_ORDER).toString(),
  ];
}

/**
 * The statement a proof's public signals make.
 * @throws TypeError / RangeError naming `publicSignals[i]`.
 */
export function statementOf(publicSignals: readonly FieldValue[]): Statement {
  const [commitment, bound, bind] = parsePublicSignals(publicSignals, PUBLIC_SIGNALS.length);
  return { commitment: commitment!, bound: bound!, bind: bind! };
}

/**
 * Checks a proving input (as `prove` does before it starts) and returns it normalised: values as bigints.
 * @throws TypeError / RangeError naming the field (see {@link prove}).
 */
export function checkProveInput(op: string, input: unknown): { x: bigint[]; bound: bigint; bind: bigint } {
  if (typeof input !== 'object' || input === null) throw new TypeError(`${op}: input must be { x, bound, bind }`);
  const { x: rawX, bound: rawBound, bind: rawBind } = input as Record<string, unknown>;
  const x = chunkValues(op, rawX);
  const bound = checkBound(op, rawBound);
  const bind = parseField(`${op}: bind`, rawBind, FIELD_ORDER);
  const s = x.reduce((a, v) => a + v * v, 0n);
  if (s > bound) throw new RangeError(`${op}: the chunk's sum of squares ${s} exceeds the bound ${bound}`);
  return { x, bound, bind };
}

/**
 * Proves that `input.x` has sum of squares at most `input.bound`, bound to `input.bind` (snarkjs
 * groth16.fullProve on the in-memory wasm and zkey; about 0.5-1 s for the 2,642-constraint circuit).
 * @throws TypeError / RangeError naming the field: a value outside [-2^31, 2^31), a bound outside [0, 2^70),
 *   a bind outside [0, r), or a sum of squares above the bound (these are checked before proving; the circuit
 *   refuses them too).
 * @example
 * const { proof, publicSignals } = await prove({ x, bound: 1n << 40n, bind }, artifacts);
 */
export async function prove(input: ProveInput, artifacts: Groth16Artifacts): Promise<ProofWithSignals> {
  const { x, bound, bind } = checkProveInput('prove', input);
  checkArtifacts('prove', artifacts);
  const { proof, publicSignals } = await snarkjs.groth16.fullProve(
    { x: x.map((v) => (v < 0n ? v + FIELD_ORDER : v).toString()), B: bound.toString(), bind: bind.toString() },
    { type: 'mem', data: artifacts.wasm },
    { type: 'mem', data: artifacts.zkey },
  );
  return { proof: { pi_a: proof.pi_a, pi_b: proof.pi_b, pi_c: proof.pi_c, protocol: 'groth16', curve: 'bn128' }, publicSignals };
}

/**
 * Checks that a proof's points are on BN254 and in the prime-order subgroups (G2 has a cofactor; snarkjs
 * itself only checks the curve equation), with noble's curve code.
 * @throws TypeError / RangeError naming `${where}.pi_a` etc.
 */
export function checkProofPoints(proof: unknown, where = 'proof'): void {
  const p = parseProof(proof, where);
  const { Fp2 } = bn254.fields;
  for (const [name, pt] of [['pi_a', p.a], ['pi_c', p.c]] as const) {
    try {
      bn254.G1.Point.fromAffine({ x: pt[0], y: pt[1] }).assertValidity();
    } catch {
      throw new RangeError(`${where}.${name} is not a point of BN254 G1`);
    }
  }
  try {
    bn254.G2.Point.fromAffine({ x: Fp2.fromBigTuple(p.b[0]), y: Fp2.fromBigTuple(p.b[1]) }).assertValidity();
  } catch (e) {
    throw new RangeError(`${where}.pi_b is not a point of BN254 G2 (${(e as Error).message})`);
  }
}

/**
 * Verifies one proof with snarkjs after strict checks of its inputs.
 * @returns whether the proof verifies for these public signals.
 * @throws TypeError / RangeError naming the field when the verification key, public signals or proof are
 *   malformed: wrong shape, a value outside its field, a point off the curve or outside its subgroup.
 * @example
 * const ok = await verify(artifacts.vkey, publicSignalsFor({ commitment: c, bound, bind }), proof);
 */
export async function verify(vk: VerificationKey, publicSignals: readonly FieldValue[], proof: Groth16Proof): Promise<boolean> {
  const key = parseVerificationKey(vk);
  const signals = parsePublicSignals(publicSignals, key.nPublic);
  checkProofPoints(proof);
  return snarkjs.groth16.verify(vk, signals.map(String), proof);
}

/**
 * Stops the bn128 Wasm thread pool that snarkjs and ffjavascript share (globalThis.curve_bn128); the next
 * call starts a new one. Without it Node does not exit after a snarkjs call.
 */
export async function dispose(): Promise<void> {
  const g = globalThis as { curve_bn128?: { terminate(): Promise<void> } | null };
  if (g.curve_bn128) await g.curve_bn128.terminate();
}

export { batchVerify, type BatchItem, type Groth16BatchResult } from './groth16-batch.js';
