/**
 * Signed binary envelopes: every message between nodes travels in one, signed over its exact bytes.
 *
 * Layout (big-endian integers; 72-byte header, then the payload, then the signature):
 * ```
 * offset  size  field
 *      0     2  magic 'MW' (0x4d 0x57)
 *      2     1  version (1)
 *      3     1  kind (EnvelopeKind)
 *      4     1  alg: 0 Ed25519, 1 Ed25519 + ML-DSA-65 hybrid
 *      5     3  reserved, zero
 *      8    16  task id
 *     24     4  round
 *     28    32  sender: Ed25519 public key
 *     60     8  sequence (per sender, task and round; at most 2^53 - 1)
 *     68     4  payload length L
 *     72     L  payload
 *   72+L    64  signature over bytes [0, 72 + L)  (3,373 for the hybrid: Ed25519 || ML-DSA-65)
 * ```
 * The parser is strict: the total length must be exactly header + L + signature, reserved bytes zero, the kind
 * and alg known, L within the caller's limit. Errors are {@link EnvelopeError}s naming the field.
 * @module
 */
import { checkBytes, toHex, utf8 } from './bytes.js';
import { SIGNATURE_BYTES, type Ed25519Backend, type Identity, type Rejection } from './ed25519.js';
import { verifyBatch } from './batch.js';
import { HYBRID_SIGNATURE_BYTES, verifyHybridDetailed, type HybridIdentity, type HybridRejection } from './hybrid.js';

/** Header length in bytes. */
export const HEADER_BYTES = 72;
/** Current envelope version. */
export const ENVELOPE_VERSION = 1;
/** Default payload limit: 64 MiB. */
export const DEFAULT_MAX_PAYLOAD = 64 * 1024 * 1024;

/** What an envelope carries. */
export const EnvelopeKind = {
  update: 1,
  aggregate: 2,
  result: 3,
  proof: 4,
  attestation: 5,
  control: 6,
} as const;
export type EnvelopeKindName = keyof typeof EnvelopeKind;
const KIND_NAMES = new Map<number, EnvelopeKindName>(Object.entries(EnvelopeKind).map(([k, v]) => [v, k as EnvelopeKindName]));

/** Signature algorithm ids. */
export const SignatureAlg = { ed25519: 0, hybrid: 1 } as const;

/** What is wrong with an envelope. */
export type EnvelopeErrorCode =
  | 'truncated'
  | 'magic'
  | 'version'
  | 'kind'
  | 'alg'
  | 'reserved'
  | 'sequence'
  | 'too-large'
  | 'length'
  | 'signature'
  | 'unknown-key'
  | 'replay';

/** A bad envelope: `field` names the part at fault, `code` what is wrong with it. */
export class EnvelopeError extends RangeError {
  override name = 'EnvelopeError';
  constructor(
    readonly field: string,
    readonly code: EnvelopeErrorCode,
    message: string,
    /** For code 'signature': the verifier's reason. */
    readonly reason?: Rejection | HybridRejection,
  ) {
    super(`envelope ${field}: ${message}`);
  }
}

/** A replayed (or out-of-order) sequence number. */
export class ReplayError extends EnvelopeError {
  override name = 'ReplayError';
  constructor(message: string) {
    super('sequence', 'replay', message);
  }
}

/** The header fields. */
export interface EnvelopeHeader {
  version: number;
  kind: EnvelopeKindName;
  alg: 'ed25519' | 'hybrid';
  task: Uint8Array;
  round: number;
  sender: Uint8Array;
  sequence: number;
}

/** A parsed envelope; `signed` is the exact byte range the signature covers. */
export interface Envelope extends EnvelopeHeader {
  payload: Uint8Array;
  signature: Uint8Array;
  signed: Uint8Array;
}

/** What a sender fills in. */
export interface EnvelopeFields {
  kind: EnvelopeKindName;
  task: Uint8Array;
  round: number;
  sequence: number;
  payload: Uint8Array;
}

/** The 16-byte task id of a task name: the first 16 bytes of SHA-256('meshwork task ' || name). */
export async function taskId(name: string): Promise<Uint8Array> {
  if (typeof name !== 'string' || !name) throw new TypeError('task name must be a non-empty string');
  return new Uint8Array(await crypto.subtle.digest('SHA-256', utf8(`meshwork task ${name}`))).slice(0, 16);
}

function checkUint(field: string, v: unknown, max: number): asserts v is number {
  if (typeof v !== 'number') throw new TypeError(`${field} must be a number, got ${typeof v}`);
  if (!Number.isInteger(v) || v < 0 || v > max) throw new RangeError(`${field} must be an integer in [0, ${max}], got ${v}`);
}

/**
 * Builds and signs an envelope.
 * @throws TypeError / RangeError naming the field for bad input.
 */
export async function sealEnvelope(fields: EnvelopeFields, signer: Identity | HybridIdentity, opts: { maxPayload?: number } = {}): Promise<Uint8Array> {
  if (typeof fields !== 'object' || fields === null) throw new TypeError('fields must be an object');
  const kind = EnvelopeKind[fields.kind];
  if (kind === undefined) throw new RangeError(`kind must be one of ${Object.keys(EnvelopeKind).join(', ')}, got ${String(fields.kind)}`);
  checkBytes('task', fields.task, 16);
  checkUint('round', fields.round, 0xffffffff);
  checkUint('sequence', fields.sequence, Number.MAX_SAFE_INTEGER);
  checkBytes('payload', fields.payload);
  const max = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (fields.payload.length > max) throw new RangeError(`payload is ${fields.payload.length} bytes, over the limit of ${max}`);
  const hybrid = 'mlDsaPublicKey' in signer;
  const L = fields.payload.length;
  const signed = new Uint8Array(HEADER_BYTES + L);
  const dv = new DataView(signed.buffer);
  signed[0] = 0x4d;
  signed[1] = 0x57;
  signed[2] = ENVELOPE_VERSION;
  signed[3] = kind;
  signed[4] = hybrid ? SignatureAlg.hybrid : SignatureAlg.ed25519;
  signed.set(fields.task, 8);
  dv.setUint32(24, fields.round);
  signed.set(signer.publicKey, 28);
  dv.setBigUint64(60, BigInt(fields.sequence));
  dv.setUint32(68, L);
  signed.set(fields.payload, HEADER_BYTES);
  const sig = await signer.sign(signed);
  const out = new Uint8Array(signed.length + sig.length);
  out.set(signed);
  out.set(sig, signed.length);
  return out;
}

/**
 * Parses an envelope strictly, without checking the signature (see {@link openEnvelope}).
 * @throws TypeError when `bytes` is not a Uint8Array; EnvelopeError naming the field otherwise.
 */
export function parseEnvelope(bytes: Uint8Array, opts: { maxPayload?: number } = {}): Envelope {
  checkBytes('envelope', bytes);
  const max = opts.maxPayload ?? DEFAULT_MAX_PAYLOAD;
  if (bytes.length < HEADER_BYTES) throw new EnvelopeError('header', 'truncated', `${bytes.length} bytes, shorter than the ${HEADER_BYTES}-byte header`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes[0] !== 0x4d || bytes[1] !== 0x57) throw new EnvelopeError('magic', 'magic', 'not a meshwork envelope (magic is not MW)');
  if (bytes[2] !== ENVELOPE_VERSION) throw new EnvelopeError('version', 'version', `version ${bytes[2]} is not supported (only ${ENVELOPE_VERSION})`);
  const kind = KIND_NAMES.get(bytes[3]!);
  if (!kind) throw new EnvelopeError('kind', 'kind', `unknown kind ${bytes[3]}`);
  const algId = bytes[4]!;
  if (algId !== SignatureAlg.ed25519 && algId !== SignatureAlg.hybrid) throw new EnvelopeError('alg', 'alg', `unknown signature algorithm ${algId}`);
  if (bytes[5] || bytes[6] || bytes[7]) throw new EnvelopeError('reserved', 'reserved', 'reserved bytes 5-7 must be zero');
  const round = dv.getUint32(24);
  const seq = dv.getBigUint64(60);
  if (seq > BigInt(Number.MAX_SAFE_INTEGER)) throw new EnvelopeError('sequence', 'sequence', `sequence ${seq} is over 2^53 - 1`);
  const L = dv.getUint32(68);
  if (L > max) throw new EnvelopeError('payloadLength', 'too-large', `payload of ${L} bytes is over the limit of ${max}`);
  const sigLen = algId === SignatureAlg.hybrid ? HYBRID_SIGNATURE_BYTES : SIGNATURE_BYTES;
  const want = HEADER_BYTES + L + sigLen;
  if (bytes.length !== want) {
    throw new EnvelopeError('payloadLength', bytes.length < want ? 'truncated' : 'length', `header says ${L} payload bytes and a ${sigLen}-byte signature (${want} bytes in all), got ${bytes.length}`);
  }
  return {
    version: bytes[2]!,
    kind,
    alg: algId === SignatureAlg.hybrid ? 'hybrid' : 'ed25519',
    task: bytes.subarray(8, 24),
    round,
    sender: bytes.subarray(28, 60),
    sequence: Number(seq),
    payload: bytes.subarray(HEADER_BYTES, HEADER_BYTES + L),
    signature: bytes.subarray(HEADER_BYTES + L),
    signed: bytes.subarray(0, HEADER_BYTES + L),
  };
}

/**
 * Replay protection: per (task, round, sender), sequence numbers must strictly increase. Checks and records
 * only envelopes whose signature verified (see {@link openEnvelope}).
 */
export class ReplayGuard {
  private rounds = new Map<string, Map<string, number>>();

  private roundKey(task: Uint8Array, round: number): string {
    return `${toHex(task)}/${round}`;
  }

  /** The last accepted sequence of a sender in a round, or -1. */
  last(task: Uint8Array, round: number, sender: Uint8Array): number {
    return this.rounds.get(this.roundKey(task, round))?.get(toHex(sender)) ?? -1;
  }

  /** @throws ReplayError when the envelope's sequence is not above the sender's last in its round. */
  check(h: EnvelopeHeader): void {
    const last = this.last(h.task, h.round, h.sender);
    if (h.sequence <= last) throw new ReplayError(`sequence ${h.sequence} from ${toHex(h.sender).slice(0, 16)}... in round ${h.round} is not above the last accepted (${last}): replayed or out of order`);
  }

  /** Checks, then records the envelope's sequence as the sender's last. */
  accept(h: EnvelopeHeader): void {
    this.check(h);
    const k = this.roundKey(h.task, h.round);
    let m = this.rounds.get(k);
    if (!m) this.rounds.set(k, (m = new Map()));
    m.set(toHex(h.sender), h.sequence);
  }

  /** Drops the state of a finished round (its envelopes are then refused by round number, by the caller). */
  forgetRound(task: Uint8Array, round: number): void {
    this.rounds.delete(this.roundKey(task, round));
  }
}

/** Options of {@link openEnvelope} and {@link openEnvelopes}. */
export interface OpenOptions {
  maxPayload?: number;
  backend?: Ed25519Backend;
  /** Records sequences and refuses replays; omit to skip replay checks. */
  replay?: ReplayGuard;
  /** The ML-DSA-65 public key of a sender (needed for hybrid envelopes). */
  mlDsaKeyOf?: (sender: Uint8Array) => Uint8Array | undefined;
  /** Require hybrid signatures (refuse plain Ed25519 envelopes). */
  requireHybrid?: boolean;
  /** Only these senders are accepted (omit to accept any valid signature). */
  isKnownSender?: (sender: Uint8Array) => boolean;
}

function checkPolicy(env: Envelope, opts: OpenOptions): void {
  if (opts.isKnownSender && !opts.isKnownSender(env.sender)) throw new EnvelopeError('sender', 'unknown-key', `sender ${toHex(env.sender).slice(0, 16)}... is not a known node`);
  if (opts.requireHybrid && env.alg !== 'hybrid') throw new EnvelopeError('alg', 'alg', 'a hybrid (Ed25519 + ML-DSA-65) signature is required');
}

async function verifyHybridEnvelope(env: Envelope, opts: OpenOptions): Promise<void> {
  const mlKey = opts.mlDsaKeyOf?.(env.sender);
  if (!mlKey) throw new EnvelopeError('sender', 'unknown-key', 'no ML-DSA-65 public key is known for this sender');
  const why = await verifyHybridDetailed({ publicKey: env.sender, mlDsaPublicKey: mlKey }, env.signed, env.signature, opts.backend);
  if (why) throw new EnvelopeError('signature', 'signature', `signature does not verify (${why})`, why);
}

/**
 * Parses, verifies and (with `replay`) records one envelope.
 * @throws EnvelopeError naming the field (bad format, bad signature), ReplayError for a replay.
 */
export async function openEnvelope(bytes: Uint8Array, opts: OpenOptions = {}): Promise<Envelope> {
  const { results } = await openEnvelopes([bytes], opts);
  const r = results[0]!;
  if ('error' in r) throw r.error;
  return r.envelope;
}

/** One outcome of {@link openEnvelopes}. */
export type OpenResult = { envelope: Envelope } | { error: EnvelopeError | TypeError };

/**
 * Opens many envelopes: parses each, verifies all Ed25519 signatures in one parallel batch (see batch.ts)
 * and hybrid ones concurrently, then applies the replay guard in input order to those that verified.
 * @returns per envelope its result, and the indices that failed.
 */
export async function openEnvelopes(list: readonly Uint8Array[], opts: OpenOptions = {}): Promise<{ ok: boolean; results: OpenResult[]; failed: number[] }> {
  if (!Array.isArray(list)) throw new TypeError(`envelopes must be an array, got ${typeof list}`);
  const results: OpenResult[] = new Array(list.length);
  const parsed: (Envelope | undefined)[] = new Array(list.length);
  const plain: number[] = [];
  const hybrid: number[] = [];
  list.forEach((bytes, i) => {
    try {
      const env = parseEnvelope(bytes, opts);
      checkPolicy(env, opts);
      parsed[i] = env;
      (env.alg === 'hybrid' ? hybrid : plain).push(i);
    } catch (e) {
      results[i] = { error: e as EnvelopeError };
    }
  });
  const batch = await verifyBatch(plain.map((i) => ({ publicKey: parsed[i]!.sender, message: parsed[i]!.signed, signature: parsed[i]!.signature })), { backend: opts.backend });
  plain.forEach((i, j) => {
    const why = batch.reasons[j];
    if (why) results[i] = { error: new EnvelopeError('signature', 'signature', `signature does not verify (${why})`, why) };
  });
  await Promise.all(hybrid.map(async (i) => {
    try {
      await verifyHybridEnvelope(parsed[i]!, opts);
    } catch (e) {
      results[i] = { error: e as EnvelopeError };
    }
  }));
  for (let i = 0; i < list.length; i++) {
    if (results[i]) continue;
    try {
      opts.replay?.accept(parsed[i]!);
      results[i] = { envelope: parsed[i]! };
    } catch (e) {
      results[i] = { error: e as ReplayError };
    }
  }
  const failed: number[] = [];
  results.forEach((r, i) => { if ('error' in r) failed.push(i); });
  return { ok: failed.length === 0, results, failed };
}

