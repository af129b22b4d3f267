// Transcendentals shared by every backend. runtime/reference/math.ts is a line-for-line port: both use
// only IEEE f64 add/sub/mul/div/sqrt/floor and bit casts, which JS and Wasm round identically, so the
// results agree bit for bit (numerics contract, point 3). Never use Math.exp/Math.log in a
// deterministic path: engines implement them differently.

// ln 2 split so that k * LN2_HI is exact for |k| < 2^11 (fdlibm's constants).
const LN2_HI: f64 = 0.6931471803691238;
const LN2_LO: f64 = 1.9082149292705877e-10;
const LOG2E: f64 = 1.4426950408889634;
const SQRT2: f64 = 1.4142135623730951;

/** 2^k for -1022 <= k <= 1023, exactly. */
// @ts-ignore: decorator
@inline export function pow2(k: i32): f64 {
  return reinterpret<f64>(<u64>(k + 1023) << 52);
}

/** e^x in f64 for -745 <= x <= 709 region used by expf (|x| <= 110): range reduction x = k ln2 + r,
 *  |r| <= ln2/2, then a degree-12 Taylor polynomial (error < 1e-15 relative). */
export function exp64(x: f64): f64 {
  if (x != x) return x;
  if (x > 709.0) return Infinity;
  if (x < -708.0) return 0.0;
  const k = Math.floor(x * LOG2E + 0.5);
  const r = (x - k * LN2_HI) - k * LN2_LO;
  let p: f64 = 2.08767569878681e-9;
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
  return p * pow2(<i32>k);
}

/** e^x for f32, rounded once from the f64 result (so f32 subnormals come out right). */
export function expf(x: f32): f32 {
  if (x != x) return x;
  if (x > 100.0) return Infinity;
  if (x < -110.0) return 0.0;
  return <f32>exp64(<f64>x);
}

/** Natural log in f64: x = m 2^e with m in [sqrt(1/2), sqrt(2)), log m = 2 atanh((m-1)/(m+1)) by its
 *  odd series to z^10 (|s| <= 0.1716, truncation error < 1e-17). */
export function log64(x: f64): f64 {
  if (x != x) return x;
  if (x < 0.0) return NaN;
  if (x == 0.0) return -Infinity;
  if (x == Infinity) return x;
  let e: i32 = 0;
  if (x < 2.2250738585072014e-308) { x = x * 18014398509481984.0; e = -54; } // subnormal: scale by 2^54
  const bits = reinterpret<u64>(x);
  e += <i32>((bits >> 52) & 0x7ff) - 1023;
  let m = reinterpret<f64>((bits & 0x000fffffffffffff) | 0x3ff0000000000000);
  if (m > SQRT2) { m = m * 0.5; e += 1; }
  const s = (m - 1.0) / (m + 1.0);
  const z = s * s;
  let p: f64 = 0.047619047619047616;
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
  const fe = <f64>e;
  return fe * LN2_HI + (fe * LN2_LO + (t + t));
}

/** Natural log for f32, rounded once from the f64 result. */
export function logf(x: f32): f32 {
  return <f32>log64(<f64>x);
}

