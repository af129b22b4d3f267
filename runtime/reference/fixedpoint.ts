/**
 * Reference fixed-point encoding (numerics contract, point 4); see kernels/assembly/fixedpoint.ts.
 * @module
 */
import { sumsqRef } from './vector.js';
import { rawDraw, type DrawPosition } from './random.js';
import { pow2 } from './math.js';

/** Clip to L2 norm `clip`, scale so that norm maps to 2^bits, stochastically round with raw draws
 *  offset+i of (seed, stream). Returns the values and the pre-clip norm (non-finite: nothing encoded). */
export function encodeRef(x: Float32Array, clip: number, bits: number, pos: DrawPosition): { values: Int32Array; norm: number } {
  const norm = Math.sqrt(sumsqRef(x));
  const values = new Int32Array(x.length);
  if (!Number.isFinite(norm)) return { values, norm };
  const factor = pow2(bits) / (norm > clip ? norm : clip);
  const unit = pow2(-32);
  const blk = new Uint32Array(4);
  for (let i = 0; i < x.length; i++) {
    const v = x[i]! * factor;
    const fl = Math.floor(v);
    const u = rawDraw(pos.offset + i, i === 0, pos, blk) * unit;
    values[i] = fl + (u < v - fl ? 1 : 0);
  }
  return { values, norm };
}

/** out_i = fround(v_i * ((clip * 2^-bits) / divisor)). */
export function decodeRef(v: Int32Array, clip: number, bits: number, divisor: number): Float32Array {
  const factor = (clip * pow2(-bits)) / divisor;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) out[i] = v[i]! * factor;
  return out;
}
