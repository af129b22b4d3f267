/**
 * Fixed-point ops (numerics contract, point 4): encode clips an f32 update to L2 norm `clip`, scales it
 * so that norm maps to 2^bits and rounds stochastically with a counter-based generator; decode maps
 * integers (one update or a sum of `divisor` updates) back to f32.
 * @module
 */
import { checkInt, checkNumber, checkSeed } from '../errors.js';
import { decodeRef, encodeRef } from '../reference/fixedpoint.js';
import { checkDrawRange, checkInputs, nonFiniteUpdate } from './_check.js';
import type { OpDef, Plan } from './types.js';

/** Largest `bits`: |values| <= 2^bits must fit in i32. */
export const MAX_BITS = 30;

/** Reads the (seed, stream, offset) attributes shared by encode and the random ops. */
export function drawAttrs(op: string, attrs: Record<string, unknown>): Plan['attrs'] {
  const seed = checkSeed(op, 'seed', attrs.seed ?? 0);
  const stream = checkInt(op, 'stream', attrs.stream ?? 0, 0, 0xffffffff);
  const offset = checkInt(op, 'offset', attrs.offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
  return { seedLo: seed.lo, seedHi: seed.hi, stream, offset };
}

/** encode: f32 update -> i32 fixed point (clip, scale 2^bits / max(norm, clip), stochastic rounding). */
export const encode: OpDef = {
  name: 'encode',
  summary: 'f32 -> i32: clip to L2 norm, scale 2^bits/clip, stochastic rounding (Philox)',
  inputs: [{ name: 'x', dtype: 'f32' }],
  outputs: [{ name: 'values', dtype: 'i32' }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    if (typeof attrs !== 'object' || attrs === null) throw new TypeError('encode: attrs must be an object');
    const clip = checkNumber('encode', 'clip', attrs.clip, true);
    const bits = checkInt('encode', 'bits', attrs.bits, 1, MAX_BITS);
    const draws = drawAttrs('encode', attrs);
    checkDrawRange('encode', draws.offset as number, inputs.x!.length);
    return { attrs: { clip, bits, ...draws }, outLengths: [inputs.x!.length] };
  },
  reference(inputs, { attrs: p }) {
    const { values, norm } = encodeRef(inputs.x as Float32Array, p.clip as number, p.bits as number, {
      seedLo: p.seedLo as number, seedHi: p.seedHi as number, stream: p.stream as number, offset: p.offset as number,
    });
    if (!Number.isFinite(norm)) throw nonFiniteUpdate('encode');
    return [values];
  },
};

/** decode: i32 fixed point -> f32, dividing by `divisor` (the number of summed updates). */
export const decode: OpDef = {
  name: 'decode',
  summary: 'i32 -> f32: v · clip · 2^-bits / divisor',
  inputs: [{ name: 'values', dtype: 'i32' }],
  outputs: [{ name: 'x', dtype: 'f32' }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    if (typeof attrs !== 'object' || attrs === null) throw new TypeError('decode: attrs must be an object');
    const clip = checkNumber('decode', 'clip', attrs.clip, true);
    const bits = checkInt('decode', 'bits', attrs.bits, 1, MAX_BITS);
    const divisor = checkNumber('decode', 'divisor', attrs.divisor ?? 1, true);
    return { attrs: { clip, bits, divisor }, outLengths: [inputs.values!.length] };
  },
  reference(inputs, { attrs: p }) {
    return [decodeRef(inputs.values as Int32Array, p.clip as number, p.bits as number, p.divisor as number)];
  },
};
