/**
 * The partial sum a leaf aggregator sends the coordinator (inside an `aggregate` envelope signed by the
 * aggregator): the exact wrapping i64 weighted sum of the update values of the participants it covers, their
 * weight total, and which updates those were (participant index and SHA-256 of the update envelope), so the
 * coordinator can fetch the envelopes and replay the sum, and the ledger can tell later whether it was honest.
 *
 * Payload (integers big-endian except the sums):
 * ```
 * offset   size  field
 *      0     32  SHA-256 of the global model the covered updates were trained from
 *     32      4  n: updates covered (>= 1)
 *     36      4  d: number of sums
 *     40      8  weight: the total of the covered updates' weights (examples for FedAvg, 1 each for DP-FedAvg)
 *     48    36n  per covered update, by ascending index: u32 participant index, 32-byte SHA-256 of its envelope
 *  48+36n    8d  sums: i64 little-endian, sum_i weight_i * values_i mod 2^64
 * ```
 * @module
 */
import { checkInt } from '../errors.js';
import { PayloadError } from './protocol.js';

/** Bytes before the covered list. */
export const PARTIAL_HEADER = 48;
/** Bytes per covered update. */
export const PARTIAL_MEMBER_BYTES = 36;

/** A leaf aggregator's partial sum. */
export interface PartialPayload {
  /** SHA-256 of the model (32 bytes). */
  model: Uint8Array;
  weight: number;
  /** Covered updates, by ascending participant index. */
  members: { index: number; sha256: Uint8Array }[];
  sums: BigInt64Array;
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

/** Payload bytes of a partial covering `n` updates of dimension `d`. */
export function partialBytes(n: number, d: number): number {
  return PARTIAL_HEADER + PARTIAL_MEMBER_BYTES * n + 8 * d;
}

/** Encodes a partial sum. @throws TypeError / RangeError naming the field. */
export function encodePartialPayload(p: PartialPayload): Uint8Array {
  if (!(p.model instanceof Uint8Array) || p.model.length !== 32) throw new TypeError('partial model must be 32 bytes (a SHA-256)');
  if (!(p.sums instanceof BigInt64Array) || !p.sums.length) throw new TypeError('partial sums must be a non-empty BigInt64Array');
  if (!Array.isArray(p.members) || !p.members.length) throw new RangeError('partial members must list at least one update');
  checkInt('partial', 'weight', p.weight, 1, Number.MAX_SAFE_INTEGER);
  const n = p.members.length, d = p.sums.length;
  const out = new Uint8Array(partialBytes(n, d));
  const dv = new DataView(out.buffer);
  out.set(p.model, 0);
  dv.setUint32(32, n);
  dv.setUint32(36, d);
  dv.setBigUint64(40, BigInt(p.weight));
  let last = -1;
  p.members.forEach((m, i) => {
    checkInt('partial', `members[${i}].index`, m.index, last + 1, 0xffffffff);
    if (!(m.sha256 instanceof Uint8Array) || m.sha256.length !== 32) throw new TypeError(`partial members[${i}].sha256 must be 32 bytes`);
    last = m.index;
    const o = PARTIAL_HEADER + PARTIAL_MEMBER_BYTES * i;
    dv.setUint32(o, m.index);
    out.set(m.sha256, o + 4);
  });
  const at = PARTIAL_HEADER + PARTIAL_MEMBER_BYTES * n;
  if (LITTLE_ENDIAN) out.set(new Uint8Array(p.sums.buffer, p.sums.byteOffset, 8 * d), at);
  else for (let j = 0; j < d; j++) dv.setBigInt64(at + 8 * j, p.sums[j]!, true);
  return out;
}

/**
 * Parses and checks a partial sum for a task of dimension `d`: exact length, 1 <= n <= maxMembers, indices
 * strictly ascending, weight in [n, n * maxWeight].
 * @throws PayloadError naming the field.
 */
export function decodePartialPayload(payload: Uint8Array, d: number, maxMembers: number, maxWeight: number): PartialPayload {
  if (payload.length < PARTIAL_HEADER) throw new PayloadError('payload', 'length', `${payload.length} bytes, shorter than the ${PARTIAL_HEADER}-byte partial header`, 'partial');
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const n = dv.getUint32(32), dd = dv.getUint32(36);
  if (dd !== d) throw new PayloadError('d', 'dimension', `has ${dd} sums, the task's model has ${d}`, 'partial');
  if (n < 1 || n > maxMembers) throw new PayloadError('members', 'range', `covers ${n} updates; a partial covers 1 to ${maxMembers}`, 'partial');
  if (payload.length !== partialBytes(n, d)) throw new PayloadError('payload', 'length', `${payload.length} bytes, expected ${partialBytes(n, d)} for ${n} updates and d = ${d}`, 'partial');
  const weight = dv.getBigUint64(40);
  if (weight < BigInt(n) || weight > BigInt(n) * BigInt(maxWeight)) throw new PayloadError('weight', 'range', `weight ${weight} is outside [${n}, ${n} * ${maxWeight}] for ${n} updates`, 'partial');
  const members: PartialPayload['members'] = [];
  let last = -1;
  for (let i = 0; i < n; i++) {
    const o = PARTIAL_HEADER + PARTIAL_MEMBER_BYTES * i;
    const index = dv.getUint32(o);
    if (index <= last) throw new PayloadError(`members[${i}].index`, 'order', `index ${index} after ${last}: covered updates must be listed by strictly ascending index`, 'partial');
    last = index;
    members.push({ index, sha256: payload.slice(o + 4, o + 36) });
  }
  const at = PARTIAL_HEADER + PARTIAL_MEMBER_BYTES * n;
  const sums = new BigInt64Array(d);
  if (LITTLE_ENDIAN) new Uint8Array(sums.buffer).set(payload.subarray(at, at + 8 * d));
  else for (let j = 0; j < d; j++) sums[j] = dv.getBigInt64(at + 8 * j, true);
  return { model: payload.slice(0, 32), weight: Number(weight), members, sums };
}

/**
 * Envelopes an aggregator hands back for an audit (`GET /api/envelopes`): each as a u32 big-endian length and
 * its bytes, in the partial's order.
 */
export function packEnvelopes(envelopes: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(envelopes.reduce((a, e) => a + 4 + e.length, 0));
  const dv = new DataView(out.buffer);
  let o = 0;
  for (const e of envelopes) {
    dv.setUint32(o, e.length);
    out.set(e, o + 4);
    o += 4 + e.length;
  }
  return out;
}

/** The inverse of {@link packEnvelopes}. @throws PayloadError on a damaged list. */
export function unpackEnvelopes(bytes: Uint8Array, maxCount: number): Uint8Array[] {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const out: Uint8Array[] = [];
  for (let o = 0; o < bytes.length;) {
    if (o + 4 > bytes.length) throw new PayloadError('envelopes', 'length', `truncated length at byte ${o}`, 'partial');
    const n = dv.getUint32(o);
    if (o + 4 + n > bytes.length) throw new PayloadError('envelopes', 'length', `envelope ${out.length} runs past the end (${n} bytes at ${o + 4} of ${bytes.length})`, 'partial');
    if (out.length === maxCount) throw new PayloadError('envelopes', 'range', `more than ${maxCount} envelopes`, 'partial');
    out.push(bytes.subarray(o + 4, o + 4 + n));
    o += 4 + n;
  }
  return out;
}
