/**
 * f32 linear algebra ops: matmul, gemv, dot, l2norm, scale, axpy, biasAct, softmaxXent.
 * Bits are defined by the references in runtime/reference/.
 * @module
 */
import { checkBool, checkLength, checkNumber, type TypedArray } from '../errors.js';
import { matmulRef } from '../reference/matmul.js';
import { axpyRef, biasActRef, dotRef, gemvRef, l2normRef, scaleRef, softmaxXentRef } from '../reference/vector.js';
import { checkInputs, product, size } from './_check.js';
import type { OpDef } from './types.js';

const f32 = 'f32' as const;

/** C = op(A) op(B): A is m x k (k x m when transA), B is k x n (n x k when transB); k ascending per C[i][j]. */
export const matmul: OpDef = {
  name: 'matmul',
  summary: 'C = op(A)·op(B), f32, k ascending per element (transA, transB)',
  inputs: [{ name: 'a', dtype: f32 }, { name: 'b', dtype: f32 }],
  outputs: [{ name: 'c', dtype: f32 }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    const m = size('matmul', attrs, 'm'), k = size('matmul', attrs, 'k'), n = size('matmul', attrs, 'n');
    const transA = checkBool('matmul', 'transA', attrs.transA), transB = checkBool('matmul', 'transB', attrs.transB);
    product('matmul', 'k*n padded to 8-column panels', k, Math.ceil(n / 8) * 8);
    checkLength('matmul', 'a', inputs.a!, product('matmul', 'm*k', m, k), 'm*k');
    checkLength('matmul', 'b', inputs.b!, product('matmul', 'k*n', k, n), 'k*n');
    return { attrs: { m, k, n, transA, transB }, outLengths: [product('matmul', 'm*n', m, n)] };
  },
  reference(inputs, { attrs: p }) {
    return [matmulRef(inputs.a as Float32Array, inputs.b as Float32Array, p.m as number, p.k as number, p.n as number, p.transA as boolean, p.transB as boolean)];
  },
};

/** y = A x (A is m x n) or y = Aᵀ x with transA. */
export const gemv: OpDef = {
  name: 'gemv',
  summary: 'y = A·x or Aᵀ·x, f32, index order per output',
  inputs: [{ name: 'a', dtype: f32 }, { name: 'x', dtype: f32 }],
  outputs: [{ name: 'y', dtype: f32 }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    const m = size('gemv', attrs, 'm'), n = size('gemv', attrs, 'n');
    const transA = checkBool('gemv', 'transA', attrs.transA);
    checkLength('gemv', 'a', inputs.a!, product('gemv', 'm*n', m, n), 'm*n');
    checkLength('gemv', 'x', inputs.x!, transA ? m : n, transA ? 'm' : 'n');
    return { attrs: { m, n, transA }, outLengths: [transA ? n : m] };
  },
  reference(inputs, { attrs: p }) {
    return [gemvRef(inputs.a as Float32Array, inputs.x as Float32Array, p.m as number, p.n as number, p.transA as boolean)];
  },
};

function sameLength(op: string, x: TypedArray, y: TypedArray): void {
  checkLength(op, 'y', y, x.length, 'x.length');
}

/** Dot product in 16 lanes (see kernels/assembly/vector.ts). */
export const dot: OpDef = {
  name: 'dot',
  summary: 'x·y, f32, 16 interleaved lanes then a fixed tree',
  inputs: [{ name: 'x', dtype: f32 }, { name: 'y', dtype: f32 }],
  outputs: [{ name: 'out', dtype: f32 }],
  plan(inputs) {
    checkInputs(this, inputs);
    sameLength('dot', inputs.x!, inputs.y!);
    return { attrs: {}, outLengths: [1] };
  },
  reference(inputs) {
    return [Float32Array.of(dotRef(inputs.x as Float32Array, inputs.y as Float32Array))];
  },
};

/** L2 norm with an f64 sum of squares in 8 lanes, rounded once to f32. */
export const l2norm: OpDef = {
  name: 'l2norm',
  summary: '‖x‖₂, f64 sum of squares in 8 lanes, rounded once',
  inputs: [{ name: 'x', dtype: f32 }],
  outputs: [{ name: 'out', dtype: f32 }],
  plan(inputs) {
    checkInputs(this, inputs);
    return { attrs: {}, outLengths: [1] };
  },
  reference(inputs) {
    return [Float32Array.of(l2normRef(inputs.x as Float32Array))];
  },
};

/** out = a·x. */
export const scale: OpDef = {
  name: 'scale',
  summary: 'out = a·x, f32',
  inputs: [{ name: 'x', dtype: f32 }],
  outputs: [{ name: 'out', dtype: f32 }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    const a = checkNumber('scale', 'a', attrs?.a);
    return { attrs: { a: Math.fround(a) }, outLengths: [inputs.x!.length] };
  },
  reference(inputs, { attrs: p }) {
    return [scaleRef(inputs.x as Float32Array, p.a as number)];
  },
};

/** out = a·x + y. */
export const axpy: OpDef = {
  name: 'axpy',
  summary: 'out = a·x + y, f32 (two roundings, no FMA)',
  inputs: [{ name: 'x', dtype: f32 }, { name: 'y', dtype: f32 }],
  outputs: [{ name: 'out', dtype: f32 }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    const a = checkNumber('axpy', 'a', attrs?.a);
    sameLength('axpy', inputs.x!, inputs.y!);
    return { attrs: { a: Math.fround(a) }, outLengths: [inputs.x!.length] };
  },
  reference(inputs, { attrs: p }) {
    return [axpyRef(p.a as number, inputs.x as Float32Array, inputs.y as Float32Array)];
  },
};

/** out = x + b (bias broadcast over rows), then ReLU when relu. */
export const biasAct: OpDef = {
  name: 'biasAct',
  summary: 'out = max(x + b, 0) per row (relu) or x + b',
  inputs: [{ name: 'x', dtype: f32 }, { name: 'b', dtype: f32 }],
  outputs: [{ name: 'out', dtype: f32 }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    const rows = size('biasAct', attrs, 'rows'), cols = size('biasAct', attrs, 'cols');
    const relu = checkBool('biasAct', 'relu', attrs.relu, true);
    checkLength('biasAct', 'x', inputs.x!, product('biasAct', 'rows*cols', rows, cols), 'rows*cols');
    checkLength('biasAct', 'b', inputs.b!, cols, 'cols');
    return { attrs: { rows, cols, relu }, outLengths: [rows * cols] };
  },
  reference(inputs, { attrs: p }) {
    return [biasActRef(inputs.x as Float32Array, inputs.b as Float32Array, p.rows as number, p.cols as number, p.relu as boolean)];
  },
};

/** Row-wise softmax and cross-entropy loss against integer labels. */
export const softmaxXent: OpDef = {
  name: 'softmaxXent',
  summary: 'softmax probabilities and cross-entropy per row (shared exp/log)',
  inputs: [{ name: 'logits', dtype: f32 }, { name: 'labels', dtype: 'i32' }],
  outputs: [{ name: 'probs', dtype: f32 }, { name: 'loss', dtype: f32 }],
  plan(inputs, attrs) {
    checkInputs(this, inputs);
    const rows = size('softmaxXent', attrs, 'rows'), classes = size('softmaxXent', attrs, 'classes', 1);
    checkLength('softmaxXent', 'logits', inputs.logits!, product('softmaxXent', 'rows*classes', rows, classes), 'rows*classes');
    const labels = inputs.labels as Int32Array;
    checkLength('softmaxXent', 'labels', labels, rows, 'rows');
    for (let i = 0; i < rows; i++) {
      const l = labels[i]!;
      if (l < 0 || l >= classes) throw new RangeError(`softmaxXent: labels[${i}] = ${l} is outside [0, ${classes})`);
    }
    return { attrs: { rows, classes }, outLengths: [rows * classes, rows] };
  },
  reference(inputs, { attrs: p }) {
    const { probs, loss } = softmaxXentRef(inputs.logits as Float32Array, inputs.labels as Int32Array, p.rows as number, p.classes as number);
    return [probs, loss];
  },
};
