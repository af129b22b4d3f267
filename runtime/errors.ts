/**
 * Input validation shared by every op and backend. Errors name the op and the field:
 * TypeError for a wrong type, RangeError for a wrong value.
 * @module
 */

/** Typed array kinds that kernels take and return. */
export type TypedArray = Float32Array | Int32Array | Uint32Array | BigInt64Array;
/** Element types, named as in the Wasm ABI. */
export type DType = 'f32' | 'i32' | 'u32' | 'i64';

const CTORS = { f32: Float32Array, i32: Int32Array, u32: Uint32Array, i64: BigInt64Array } as const;

/** Bytes per element of a dtype. */
export function bytesOf(dtype: DType): number {
  return dtype === 'i64' ? 8 : 4;
}

/** Allocates a typed array of a dtype. */
export function allocOf(dtype: DType, length: number): TypedArray {
  return new (CTORS[dtype] as new (n: number) => TypedArray)(length);
}

/**
 * Checks that `value` is a typed array of `dtype`.
 * @throws TypeError naming `op` and `field`.
 */
export function checkArray(op: string, field: string, value: unknown, dtype: DType): asserts value is TypedArray {
  if (!(value instanceof CTORS[dtype])) {
    const got = value === null ? 'null' : typeof value === 'object' ? (value as object).constructor?.name ?? 'object' : typeof value;
    throw new TypeError(`${op}: ${field} must be a ${CTORS[dtype].name}, got ${got}`);
  }
}

/**
 * Checks an array's length.
 * @throws RangeError naming `op`, `field` and the expected length formula.
 */
export function checkLength(op: string, field: string, value: TypedArray, expected: number, formula: string): void {
  if (value.length !== expected) {
    throw new RangeError(`${op}: ${field} has length ${value.length}, expected ${formula} = ${expected}`);
  }
}

/**
 * Checks an integer attribute within [min, max].
 * @throws TypeError when not a number, RangeError when not an integer in range.
 */
export function checkInt(op: string, field: string, value: unknown, min: number, max: number): number {
  if (typeof value !== 'number') throw new TypeError(`${op}: ${field} must be a number, got ${typeof value}`);
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new RangeError(`${op}: ${field} must be an integer in [${min}, ${max}], got ${value}`);
  }
  return value;
}

/**
 * Checks a finite number attribute, optionally strictly positive.
 * @throws TypeError when not a number, RangeError when not finite (or not > 0 when `positive`).
 */
export function checkNumber(op: string, field: string, value: unknown, positive = false): number {
  if (typeof value !== 'number') throw new TypeError(`${op}: ${field} must be a number, got ${typeof value}`);
  if (!Number.isFinite(value)) throw new RangeError(`${op}: ${field} must be finite, got ${value}`);
  if (positive && !(value > 0)) throw new RangeError(`${op}: ${field} must be > 0, got ${value}`);
  return value;
}

/**
 * Checks a boolean attribute (undefined means `fallback`).
 * @throws TypeError when present and not a boolean.
 */
export function checkBool(op: string, field: string, value: unknown, fallback = false): boolean {
  if (value === undefined) return fallback;
  if (typeof value !== 'boolean') throw new TypeError(`${op}: ${field} must be a boolean, got ${typeof value}`);
  return value;
}

/**
 * A 64-bit seed given as a non-negative safe integer or bigint, split into two u32 words.
 * @throws TypeError / RangeError naming the field.
 */
export function checkSeed(op: string, field: string, value: unknown): { lo: number; hi: number } {
  let big: bigint;
  if (typeof value === 'bigint') big = value;
  else if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new RangeError(`${op}: ${field} must be a safe integer or a bigint, got ${value}`);
    big = BigInt(value);
  } else throw new TypeError(`${op}: ${field} must be a number or bigint, got ${typeof value}`);
  if (big < 0n || big >= 1n << 64n) throw new RangeError(`${op}: ${field} must be in [0, 2^64), got ${big}`);
  return { lo: Number(big & 0xffffffffn), hi: Number(big >> 32n) };
}
