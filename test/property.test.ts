// Property tests (fast-check): on random shapes and values, both Wasm builds give the reference's bytes
// (f32 NaNs compared as NaN), and the aggregation results satisfy their definitions.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { runKernel } from '../runtime/registry.js';
import { outputBytes, outputDtypes } from '../runtime/conformance.js';
import type { TypedArray } from '../runtime/errors.js';
import { startBackends } from './helpers.js';

await startBackends();
const RUNS = Number(process.env.MESHWORK_PROPERTY_RUNS ?? 60);

function sameOnAllBackends(op: string, inputs: Record<string, TypedArray>, attrs: Record<string, unknown>): TypedArray[] {
  const ref = runKernel(op, inputs, attrs, { backend: 'js' });
  const want = outputBytes(ref, outputDtypes(op));
  for (const backend of ['wasm', 'wasm-simd']) {
    const got = outputBytes(runKernel(op, inputs, attrs, { backend }), outputDtypes(op));
    assert.deepEqual(got, want, `${op} on ${backend} differs from the reference for attrs ${JSON.stringify(attrs)}`);
  }
  return ref;
}

const anyF32 = fc.float({ noDefaultInfinity: false, noNaN: false });
const smallF32 = fc.float({ min: -8, max: 8, noNaN: true });
const f32s = (n: number, g = smallF32) => fc.array(g, { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));
const i32s = (n: number, g = fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })) => fc.array(g, { minLength: n, maxLength: n }).map((a) => Int32Array.from(a));

test('matmul (all three layouts) on random shapes', () => {
  fc.assert(fc.property(
    fc.record({ m: fc.integer({ min: 0, max: 24 }), k: fc.integer({ min: 0, max: 24 }), n: fc.integer({ min: 0, max: 24 }), transA: fc.boolean(), transB: fc.boolean(), edge: fc.boolean() })
      .chain((s) => fc.tuple(fc.constant(s), f32s(s.m * s.k, s.edge ? anyF32 : smallF32), f32s(s.k * s.n, s.edge ? anyF32 : smallF32))),
    ([s, a, b]) => { sameOnAllBackends('matmul', { a, b }, { m: s.m, k: s.k, n: s.n, transA: s.transA, transB: s.transB }); },
  ), { numRuns: RUNS });
});

test('gemv, dot, l2norm, axpy, scale, biasAct on random vectors', () => {
  fc.assert(fc.property(fc.integer({ min: 0, max: 70 }).chain((n) => fc.tuple(fc.constant(n), f32s(n, anyF32), f32s(n, anyF32), anyF32)), ([n, x, y, a]) => {
    sameOnAllBackends('dot', { x, y }, {});
    sameOnAllBackends('l2norm', { x }, {});
    if (Number.isFinite(a)) {
      sameOnAllBackends('axpy', { x, y }, { a });
      sameOnAllBackends('scale', { x }, { a });
    }
    const rows = n % 7, cols = rows ? Math.floor(n / rows) : 0;
    sameOnAllBackends('gemv', { a: x.slice(0, rows * cols), x: y.slice(0, cols) }, { m: rows, n: cols });
    sameOnAllBackends('gemv', { a: x.slice(0, rows * cols), x: y.slice(0, rows) }, { m: rows, n: cols, transA: true });
    sameOnAllBackends('biasAct', { x: x.slice(0, rows * cols), b: y.slice(0, cols) }, { rows, cols, relu: n % 2 === 0 });
  }), { numRuns: RUNS });
});

test('softmaxXent on random logits', () => {
  fc.assert(fc.property(
    fc.record({ rows: fc.integer({ min: 0, max: 9 }), classes: fc.integer({ min: 1, max: 12 }) })
      .chain((s) => fc.tuple(fc.constant(s), f32s(s.rows * s.classes, fc.float({ min: -200, max: 200, noNaN: true })), i32s(s.rows, fc.integer({ min: 0, max: s.classes - 1 })))),
    ([s, logits, labels]) => {
      const [probs, loss] = sameOnAllBackends('softmaxXent', { logits, labels }, s) as Float32Array[];
      for (let i = 0; i < s.rows; i++) {
        let sum = 0;
        for (let j = 0; j < s.classes; j++) sum += probs![i * s.classes + j]!;
        assert.ok(Math.abs(sum - 1) < 1e-5, `row ${i} sums to ${sum}`);
        assert.ok(loss![i]! >= -1e-6, `loss ${loss![i]}`);
      }
    },
  ), { numRuns: RUNS });
});

test('encode / decode round trip within the rounding step, clipped to the bound', () => {
  fc.assert(fc.property(
    fc.record({ n: fc.integer({ min: 1, max: 300 }), bits: fc.integer({ min: 8, max: 30 }), clip: fc.double({ min: 0.01, max: 100, noNaN: true }), seed: fc.nat(), offset: fc.nat() })
      .chain((s) => fc.tuple(fc.constant(s), f32s(s.n, fc.float({ min: -10, max: 10, noNaN: true })))),
    ([s, x]) => {
      const attrs = { clip: s.clip, bits: s.bits, seed: s.seed, offset: s.offset };
      const [v] = sameOnAllBackends('encode', { x }, attrs);
      const [y] = sameOnAllBackends('decode', { values: v! }, { clip: s.clip, bits: s.bits }) as Float32Array[];
      const norm = Math.hypot(...x);
      const factor = Math.min(1, s.clip / norm || 1);
      const step = s.clip / 2 ** s.bits;
      for (let i = 0; i < s.n; i++) assert.ok(Math.abs(y![i]! - x[i]! * factor) <= step * 1.0001 + Math.abs(x[i]! * factor) * 1e-6, `element ${i}`);
    },
  ), { numRuns: RUNS });
});

test('aggregation kernels on random n x d, with ties and extremes', () => {
  fc.assert(fc.property(
    fc.record({ n: fc.integer({ min: 1, max: 40 }), d: fc.integer({ min: 0, max: 40 }), narrow: fc.boolean() })
      .chain((s) => fc.tuple(fc.constant(s), i32s(s.n * s.d, s.narrow ? fc.integer({ min: -2, max: 2 }) : fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })), i32s(s.n), fc.nat({ max: 100 }))),
    ([s, x, w, t]) => {
      const { n, d } = s;
      sameOnAllBackends('sum', { x }, { n, d });
      sameOnAllBackends('wsum', { x, w }, { n, d });
      // i64 sums of wide values (products x * w * 2^2 reach the whole i64 range, so sums wrap).
      const wide = new BigInt64Array(n * d);
      for (let i = 0; i < n * d; i++) wide[i] = BigInt(x[i]!) * BigInt(w[i % n]!) * 4n;
      const [s64] = sameOnAllBackends('sum64', { x: wide }, { n, d }) as BigInt64Array[];
      for (let j = 0; j < d; j++) {
        let acc = 0n;
        for (let i = 0; i < n; i++) acc += wide[i * d + j]!;
        assert.equal(s64![j], BigInt.asIntN(64, acc), `sum64 column ${j}`);
      }
      const [med] = sameOnAllBackends('median', { x }, { n, d }) as Int32Array[];
      const trim = t % Math.ceil(n / 2);
      const [tm] = sameOnAllBackends('trimmedMean', { x }, { n, d, trim }) as Int32Array[];
      const [dist] = sameOnAllBackends('pairwiseSqDist', { x }, { n, d });
      for (let j = 0; j < d; j++) {
        const col = Array.from({ length: n }, (_, i) => x[i * d + j]!).sort((a, b) => a - b);
        const lo = col[(n - 1) >> 1]!, hi = col[n >> 1]!;
        assert.equal(med![j], Math.floor((lo + hi) / 2), `median column ${j}`);
        const kept = col.slice(trim, n - trim);
        assert.equal(tm![j], Math.floor(kept.reduce((a, b) => a + b, 0) / kept.length), `trimmed mean column ${j}`);
      }
      const D = dist as BigInt64Array;
      for (let i = 0; i < n; i++) {
        assert.equal(D[i * n + i], 0n);
        for (let q = 0; q < i; q++) assert.equal(D[i * n + q], D[q * n + i]);
      }
    },
  ), { numRuns: RUNS });
});

test('random draws: any offset split reproduces the same stream', () => {
  fc.assert(fc.property(fc.record({ count: fc.integer({ min: 0, max: 200 }), split: fc.nat(), seed: fc.nat(), stream: fc.nat({ max: 0xffffffff }), offset: fc.nat() }), (s) => {
    const cut = s.count ? s.split % (s.count + 1) : 0;
    for (const op of ['randomU32', 'randomUniform', 'randomNormal']) {
      const [whole] = sameOnAllBackends(op, {}, { count: s.count, seed: s.seed, stream: s.stream, offset: s.offset });
      const [a] = runKernel(op, {}, { count: cut, seed: s.seed, stream: s.stream, offset: s.offset }, { backend: 'wasm-simd' });
      const [b] = runKernel(op, {}, { count: s.count - cut, seed: s.seed, stream: s.stream, offset: s.offset + cut }, { backend: 'wasm-simd' });
      assert.deepEqual([...a!, ...b!], [...whole!], `${op} split at ${cut}`);
    }
  }), { numRuns: RUNS });
});
