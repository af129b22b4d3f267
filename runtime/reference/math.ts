/**
 * JS port of kernels/assembly/_math.ts. Only IEEE f64 add/sub/mul/div/sqrt/floor and bit casts are used,
 * which JS and Wasm evaluate identically, so expf/logf here give the same bits as every Wasm build.
 * Math.exp / Math.log are never used in a deterministic path (engines differ).
 * @module
 */
const LN2_HI = 0.6931471803691238;
const LN2_LO = 1.9082149292705877e-10;
const LOG2E = 1.4426950408889634;
const SQRT2 = 1.4142135623730951;

const f64 = new Float64Array(1);
const u32 = new Uint32Array(f64.buffer);

/** 2^k for -1022 <= k <= 1023, exactly. */
export function pow2(k: number): number {
  u32[0] = 0;
  u32[1] = (k + 1023) << 20;
  return f64[0];
}

/** e^x in f64, accurate to ~1e-15 relative for -708 <= x <= 709 (0 below, Infinity above). */
export function exp64(x: number): number {
  if (x !== x) return x;
  if (x > 709.0) return Infinity;
  if (x < -708.0) return 0.0;
  const k = Math.floor(x * LOG2E + 0.5);
  const r = (x - k * LN2_HI) - k * LN2_LO;
  let p = 2.08767569878681e-9;
  p = 2.505210838544172e-8 + r * p;
  p = 2.755731922398589e-7 + r * p;
  p = 0.0000027557319223985893 + r * p;
  p = 0.0000248015873015873 + r * p;
  p = 0.0001984126984126984 + r * p;
  p = 0.001388888888888889 + r * p;
  p = 0.008333333333333333 + r * p;
  p = 0.041666666666666664 + r * p;
  p = 0.16666666666666666 + r * p;
  p = 0.5 + r * p;
  p = 1.0 + r * p;
  p = 1.0 + r * p;
  return p * pow2(k);
}

/** e^x for an f32 value, rounded once to f32. */
export function expf(x: number): number {
  x = Math.fround(x);
  if (x !== x) return x;
  if (x > 100.0) return Infinity;
  if (x < -110.0) return 0.0;
  return Math.fround(exp64(x));
}

/** Natural log in f64 (see kernels/assembly/_math.ts for the method). */
export function log64(x: number): number {
  if (x !== x) return x;
  if (x < 0.0) return NaN;
  if (x === 0.0) return -Infinity;
  if (x === Infinity) return x;
  let e = 0;
  if (x < 2.2250738585072014e-308) { x = x * 18014398509481984.0; e = -54; }
  f64[0] = x;
  const hi = u32[1]!;
  e += ((hi >>> 20) & 0x7ff) - 1023;
  u32[1] = (hi & 0x000fffff) | 0x3ff00000;
  let m = f64[0]!;
  if (m > SQRT2) { m = m * 0.5; e += 1; }
  const s = (m - 1.0) / (m + 1.0);
  const z = s * s;
  let p = 0.047619047619047616;
  p = 0.05263157894736842 + z * p;
  p = 0.058823529411764705 + z * p;
  p = 0.06666666666666667 + z * p;
  p = 0.07692307692307693 + z * p;
  p = 0.09090909090909091 + z * p;
  p = 0.1111111111111111 + z * p;
  p = 0.14285714285714285 + z * p;
  p = 0.2 + z * p;
  p = 0.3333333333333333 + z * p;
  p = 1.0 + z * p;
  const t = s * p;
  return e * LN2_HI + (e * LN2_LO + (t + t));
}

/** Natural log for an f32 value, rounded once to f32. */
export function logf(x: number): number {
  return Math.fround(log64(Math.fround(x)));
}
