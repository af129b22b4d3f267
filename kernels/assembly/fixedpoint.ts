// Fixed-point encoding of model updates (numerics contract, point 4). Integer aggregates are exact and
// independent of arrival order and host; this is where floats stop.
//
// encode: norm = sqrt(sumsq_f64(x)); factor = 2^bits / max(norm, clip) (f64), so the update is clipped to
// L2 norm `clip` and scaled so that norm maps to 2^bits. v_i = f64(x_i) * factor; the result is
// floor(v_i) + (u_i < v_i - floor(v_i) ? 1 : 0) where u_i = (raw draw offset+i of (seed, stream)) * 2^-32:
// unbiased stochastic rounding from the counter-based generator. |v_i| <= 2^bits <= 2^30 fits i32.
// decode: out_i = fround(f64(v_i) * ((clip * 2^-bits) / divisor)).
import { sumsq_f64 } from './vector';
import { rawDraw } from './random';
import { pow2 } from './_math';

/** Encodes n f32 values into out (i32). Returns the update's L2 norm before clipping; if that norm is not
 *  finite (a NaN or infinity in x) nothing is written and the host must reject the input.
 *  scratch: 16 bytes. */
export function fixed_encode(x: usize, out: usize, n: i32, clip: f64, bits: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u64, scratch: usize): f64 {
  const norm = Math.sqrt(sumsq_f64(x, n));
  if (!isFinite(norm)) return norm;
  const factor = pow2(bits) / (norm > clip ? norm : clip);
  const unit = pow2(-32);
  for (let i = 0; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2)) * factor;
    const fl = Math.floor(v);
    const u = <f64>rawDraw(offset + <u64>i, i == 0, seedLo, seedHi, stream, scratch) * unit;
    store<i32>(out + (<usize>i << 2), <i32>fl + (u < v - fl ? 1 : 0));
  }
  return norm;
}

/** Decodes n i32 values (a single update, or a sum over `divisor` updates) back to f32. */
export function fixed_decode(v: usize, out: usize, n: i32, clip: f64, bits: i32, divisor: f64): void {
  const factor = (clip * pow2(-bits)) / divisor;
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const vf = f64x2.splat(factor);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      const w = v128.load(v + o);
      const lo = f64x2.mul(f64x2.convert_low_i32x4_s(w), vf);
      const hi = f64x2.mul(f64x2.convert_low_i32x4_s(i32x4.shuffle(w, w, 2, 3, 0, 1)), vf);
      v128.store(out + o, i32x4.shuffle(f32x4.demote_f64x2_zero(lo), f32x4.demote_f64x2_zero(hi), 0, 1, 4, 5));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, <f32>(<f64>load<i32>(v + o) * factor));
  }
}
