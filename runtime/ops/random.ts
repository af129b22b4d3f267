/**
 * Counter-based random draws (Philox4x32-10): draw i of (seed, stream) is the same on every backend,
 * thread split and replay.
 * @module
 */
import { randomNormalRef, randomU32Ref, randomUniformRef, type DrawPosition } from '../reference/random.js';
import { drawAttrs } from './fixedpoint.js';
import { checkDrawRange, size } from './_check.js';
import type { OpDef, Plan } from './types.js';

function position(p: Plan['attrs']): DrawPosition {
  return { seedLo: p.seedLo as number, seedHi: p.seedHi as number, stream: p.stream as number, offset: p.offset as number };
}

function randomOp(name: string, summary: string, dtype: 'u32' | 'f32', ref: (count: number, pos: DrawPosition) => Uint32Array | Float32Array): OpDef {
  return {
    name,
    summary,
    inputs: [],
    outputs: [{ name: 'out', dtype }],
    plan(_inputs, attrs) {
      const count = size(name, attrs, 'count');
      const draws = drawAttrs(name, attrs);
      checkDrawRange(name, draws.offset as number, count);
      return { attrs: { count, ...draws }, outLengths: [count] };
    },
    reference(_inputs, { attrs: p }) {
      return [ref(p.count as number, position(p))];
    },
  };
}

export const randomU32 = randomOp('randomU32', 'raw Philox4x32-10 u32 draws', 'u32', randomU32Ref);
export const randomUniform = randomOp('randomUniform', 'uniform f32 draws in [0, 1)', 'f32', randomUniformRef);
export const randomNormal = randomOp('randomNormal', 'standard-normal f32 draws (polar method)', 'f32', randomNormalRef);
