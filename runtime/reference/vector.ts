/**
 * Reference f32 vector kernels: they define the bits the Wasm builds must reproduce. Every f32 operation
 * is rounded (Float32Array stores or Math.fround); the orders are those documented in
 * kernels/assembly/vector.ts.
 * @module
 */
import { expf, logf } from './math.js';

const fr = Math.fround;

/** Dot product, 16 lanes (lane i % 16, ascending i), combined (s_l+s_{l+8})+(s_{l+4}+s_{l+12}) then (c0+c2)+(c1+c3). */
export function dotRef(x: Float32Array, y: Float32Array): number {
  const s = new Float32Array(16);
  for (let i = 0; i < x.length; i++) s[i & 15] = s[i & 15]! + fr(x[i]! * y[i]!);
  const c = new Float32Array(4);
  for (let l = 0; l < 4; l++) c[l] = fr(fr(s[l]! + s[l + 8]!) + fr(s[l + 4]! + s[l + 12]!));
  return fr(fr(c[0]! + c[2]!) + fr(c[1]! + c[3]!));
}

/** Sum of squares in f64, 8 lanes (lane i % 8), combined ((l0+l4)+(l2+l6))+((l1+l5)+(l3+l7)). */
export function sumsqRef(x: Float32Array): number {
  const l = new Float64Array(8);
  for (let i = 0; i < x.length; i++) { const v = x[i]!; l[i & 7] = l[i & 7]! + v * v; }
  return ((l[0]! + l[4]!) + (l[2]! + l[6]!)) + ((l[1]! + l[5]!) + (l[3]! + l[7]!));
}

/** L2 norm: sqrt(sumsq) rounded once to f32. */
export function l2normRef(x: Float32Array): number {
  return fr(Math.sqrt(sumsqRef(x)));
}

/** out = fround(a * x). */
export function scaleRef(x: Float32Array, a: number): Float32Array {
  const out = new Float32Array(x.length);
  const fa = fr(a);
  for (let i = 0; i < x.length; i++) out[i] = fa * x[i]!;
  return out;
}

/** out = fround(fround(a * x) + y). */
export function axpyRef(a: number, x: Float32Array, y: Float32Array): Float32Array {
  const out = new Float32Array(x.length);
  const fa = fr(a);
  for (let i = 0; i < x.length; i++) out[i] = fr(fa * x[i]!) + y[i]!;
  return out;
}

/** y = A x (A m x n, row-major) or, with transA, y = A^T x; each output accumulated in index order from +0. */
export function gemvRef(a: Float32Array, x: Float32Array, m: number, n: number, transA: boolean): Float32Array {
  if (transA) {
    const y = new Float32Array(n);
    for (let j = 0; j < n; j++) {
      let acc = 0;
      for (let i = 0; i < m; i++) acc = fr(acc + fr(a[i * n + j]! * x[i]!));
      y[j] = acc;
    }
    return y;
  }
  const y = new Float32Array(m);
  for (let i = 0; i < m; i++) {
    let acc = 0;
    for (let j = 0; j < n; j++) acc = fr(acc + fr(a[i * n + j]! * x[j]!));
    y[i] = acc;
  }
  return y;
}

/** out_ij = fround(x_ij + b_j), then max(v, +0) (IEEE maximum: NaN propagates) when relu. */
export function biasActRef(x: Float32Array, b: Float32Array, rows: number, cols: number, relu: boolean): Float32Array {
  const out = new Float32Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      const v = fr(x[i * cols + j]! + b[j]!);
      out[i * cols + j] = relu ? Math.max(v, 0) : v;
    }
  }
  return out;
}

/** Softmax probabilities and per-row cross-entropy loss (see kernels/assembly/vector.ts for the order). */
export function softmaxXentRef(logits: Float32Array, labels: Int32Array, rows: number, classes: number): { probs: Float32Array; loss: Float32Array } {
  const probs = new Float32Array(rows * classes);
  const loss = new Float32Array(rows);
  for (let i = 0; i < rows; i++) {
    const base = i * classes;
    let mx = logits[base]!;
    for (let j = 1; j < classes; j++) mx = Math.max(mx, logits[base + j]!);
    let s = 0;
    for (let j = 0; j < classes; j++) {
      const e = expf(fr(logits[base + j]! - mx));
      probs[base + j] = e;
      s = fr(s + e);
    }
    for (let j = 0; j < classes; j++) probs[base + j] = probs[base + j]! / s;
    loss[i] = fr(logf(s) - fr(logits[base + labels[i]!]! - mx));
  }
  return { probs, loss };
}
