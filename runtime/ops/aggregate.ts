/**
 * Integer aggregation ops over n fixed-point vectors of length d, stored row-major in one Int32Array
 * (x[i*d + j]): wrapping sums, weighted sums, and the robust statistics, all exact (numerics contract,
 * point 5). n = 0 is rejected: an aggregate of nothing is a caller's bug, not an empty vector.
 * @module
 */
import { checkInt, checkLength } from '../errors.js';
import { medianI32Ref, pairwiseSqDistI64Ref, sumI32Ref, sumI64Ref, trimmedMeanI32Ref, wsumI64Ref } from '../reference/aggregate.js';
import { checkInputs, MAX_ELEMENTS, product, size } from './_check.js';
import type { Attrs, Inputs, OpDef } from './types.js';

const i32 = 'i32' as const;

/** Most vectors the sorting-network kernels (median, trimmed mean) take: their network grows as n log² n. */
export const MAX_SORTED_N = 65536;

function nd(def: OpDef, inputs: Inputs, attrs: Attrs, maxN = MAX_ELEMENTS): { n: number; d: number } {
  checkInputs(def, inputs);
  const n = size(def.name, attrs, 'n', 1), d = size(def.name, attrs, 'd');
  if (n > maxN) throw new RangeError(`${def.name}: n must be an integer in [1, ${maxN}], got ${n}`);
  checkLength(def.name, 'x', inputs.x!, product(def.name, 'n*d', n, d), 'n*d');
  return { n, d };
}

/** An op over n x d that yields one i32 per coordinate. */
function columnOp(name: string, summary: string, ref: (x: Int32Array, n: number, d: number) => Int32Array, maxN = MAX_ELEMENTS): OpDef {
  return {
    name,
    summary,
    inputs: [{ name: 'x', dtype: i32 }],
    outputs: [{ name: 'out', dtype: i32 }],
    plan(inputs, attrs) {
      const { n, d } = nd(this, inputs, attrs, maxN);
      return { attrs: { n, d }, outLengths: [d] };
    },
    reference(inputs, { attrs: p }) {
      return [ref(inputs.x as Int32Array, p.n as number, p.d as number)];
    },
  };
}

/** out[j] = Σ_i x[i][j] mod 2^32. */
export const sum = columnOp('sum', 'wrapping i32 sum of n vectors', sumI32Ref);

/** Coordinate-wise median; for even n, floor of the mean of the two middle values. */
export const median = columnOp('median', 'coordinate-wise median (even n: floor of the middle pair mean)', medianI32Ref, MAX_SORTED_N);

/** out[j] = Σ_i w[i]·x[i][j] mod 2^64. */
export const wsum: OpDef = {
  name: 'wsum',
  summary: 'weighted sum of n vectors, wrapping i64 accumulation',
  inputs: [{ name: 'x', dtype: i32 }, { name: 'w', dtype: i32 }],
  outputs: [{ name: 'out', dtype: 'i64' }],
  plan(inputs, attrs) {
    const { n, d } = nd(this, inputs, attrs);
    checkLength('wsum', 'w', inputs.w!, n, 'n');
    return { attrs: { n, d }, outLengths: [d] };
  },
  reference(inputs, { attrs: p }) {
    return [wsumI64Ref(inputs.x as Int32Array, inputs.w as Int32Array, p.n as number, p.d as number)];
  },
};

/** out[j] = Σ_i x[i][j] mod 2^64, over i64 vectors: how an aggregator adds its children's partial sums. */
export const sum64: OpDef = {
  name: 'sum64',
  summary: 'wrapping i64 sum of n i64 vectors (partial sums up a tree)',
  inputs: [{ name: 'x', dtype: 'i64' }],
  outputs: [{ name: 'out', dtype: 'i64' }],
  plan(inputs, attrs) {
    const { n, d } = nd(this, inputs, attrs);
    return { attrs: { n, d }, outLengths: [d] };
  },
  reference(inputs, { attrs: p }) {
    return [sumI64Ref(inputs.x as BigInt64Array, p.n as number, p.d as number)];
  },
};

/** Coordinate-wise trimmed mean: drop `trim` values at each end, floor of the mean of the rest. */
export const trimmedMean: OpDef = {
  name: 'trimmedMean',
  summary: 'coordinate-wise trimmed mean (drop trim each side, floor of the mean)',
  inputs: [{ name: 'x', dtype: i32 }],
  outputs: [{ name: 'out', dtype: i32 }],
  plan(inputs, attrs) {
    const { n, d } = nd(this, inputs, attrs, MAX_SORTED_N);
    const trim = checkInt('trimmedMean', 'trim', attrs.trim, 0, Math.floor((n - 1) / 2));
    return { attrs: { n, d, trim }, outLengths: [d] };
  },
  reference(inputs, { attrs: p }) {
    return [trimmedMeanI32Ref(inputs.x as Int32Array, p.n as number, p.d as number, p.trim as number)];
  },
};

/** Exact pairwise squared L2 distances (n x n, wrapping i64). */
export const pairwiseSqDist: OpDef = {
  name: 'pairwiseSqDist',
  summary: 'exact pairwise squared L2 distances (n×n, i64), for Krum',
  inputs: [{ name: 'x', dtype: i32 }],
  outputs: [{ name: 'out', dtype: 'i64' }],
  plan(inputs, attrs) {
    const { n, d } = nd(this, inputs, attrs);
    return { attrs: { n, d }, outLengths: [product('pairwiseSqDist', 'n*n', n, n)] };
  },
  reference(inputs, { attrs: p }) {
    return [pairwiseSqDistI64Ref(inputs.x as Int32Array, p.n as number, p.d as number)];
  },
};
