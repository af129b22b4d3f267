/**
 * Byte helpers shared by proofs/: hex, concatenation, comparison, argument checks that name the field.
 * @module
 */

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'));

/** Lower-case hex of bytes. */
export function toHex(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i++) s += HEX[bytes[i]!]!;
  return s;
}

/**
 * Bytes of an even-length hex string.
 * @throws TypeError when `hex` is not a string; RangeError naming `field` when it is not hex.
 */
export function fromHex(hex: string, field = 'hex'): Uint8Array<ArrayBuffer> {
  if (typeof hex !== 'string') throw new TypeError(`${field} must be a hex string, got ${typeof hex}`);
  if (hex.length % 2 || !/^[0-9a-fA-F]*$/.test(hex)) throw new RangeError(`${field} must be an even-length hex string`);
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(hex.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** The concatenation of byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** Whether two byte arrays are equal (not constant-time: for public data only). */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** UTF-8 bytes of a string. */
export function utf8(s: string): Uint8Array<ArrayBuffer> {
  return new TextEncoder().encode(s) as Uint8Array<ArrayBuffer>;
}

/**
 * Checks that `value` is a Uint8Array (of `length` bytes when given).
 * @throws TypeError naming `field` for another type; RangeError for a wrong length.
 */
export function checkBytes(field: string, value: unknown, length?: number): asserts value is Uint8Array {
  if (!(value instanceof Uint8Array)) {
    const got = value === null ? 'null' : typeof value === 'object' ? (value as object).constructor?.name ?? 'object' : typeof value;
    throw new TypeError(`${field} must be a Uint8Array, got ${got}`);
  }
  if (length !== undefined && value.length !== length) throw new RangeError(`${field} must be ${length} bytes, got ${value.length}`);
}

/** An ArrayBuffer-backed copy when `b` views a SharedArrayBuffer or a larger buffer (WebCrypto takes either, but
 * copying a view of a shared buffer guards against the bytes changing while a verification is in flight). */
export function ownBytes(b: Uint8Array): Uint8Array<ArrayBuffer> {
  return (b.buffer instanceof ArrayBuffer ? b : new Uint8Array(b)) as Uint8Array<ArrayBuffer>;
}
