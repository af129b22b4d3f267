// Bad input is rejected before any kernel runs, with TypeError (wrong type) or RangeError (wrong value)
// naming the op and the field, on every backend.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runKernel } from '../runtime/registry.js';
import { NODE_BACKENDS, startBackends } from './helpers.js';

await startBackends();

const f32 = (n: number) => new Float32Array(n).fill(0.5);
const i32 = (n: number) => new Int32Array(n).fill(3);

type Bad = [string, string, Record<string, unknown>, Record<string, unknown>, ErrorConstructor, RegExp];
const BAD: Bad[] = [
  ['wrong input type', 'matmul', { a: [1, 2], b: f32(2) }, { m: 1, k: 2, n: 1 }, TypeError, /matmul: a must be a Float32Array, got Array/],
  ['wrong dtype', 'matmul', { a: f32(2), b: new Float64Array(2) }, { m: 1, k: 2, n: 1 }, TypeError, /matmul: b must be a Float32Array, got Float64Array/],
  ['missing input', 'dot', { x: f32(3) }, {}, TypeError, /dot: y must be a Float32Array, got undefined/],
  ['wrong length', 'matmul', { a: f32(5), b: f32(6) }, { m: 2, k: 3, n: 2 }, RangeError, /matmul: a has length 5, expected m\*k = 6/],
  ['shape mismatch', 'gemv', { a: f32(6), x: f32(2) }, { m: 2, n: 3 }, RangeError, /gemv: x has length 2, expected n = 3/],
  ['length mismatch', 'axpy', { x: f32(3), y: f32(4) }, { a: 1 }, RangeError, /axpy: y has length 4, expected x.length = 3/],
  ['non-integer size', 'matmul', { a: f32(2), b: f32(2) }, { m: 1.5, k: 2, n: 1 }, RangeError, /matmul: m must be an integer/],
  ['size as string', 'matmul', { a: f32(2), b: f32(2) }, { m: '1', k: 2, n: 1 }, TypeError, /matmul: m must be a number, got string/],
  ['negative size', 'biasAct', { x: f32(0), b: f32(0) }, { rows: -1, cols: 0 }, RangeError, /biasAct: rows must be an integer in \[0/],
  ['flag not boolean', 'matmul', { a: f32(2), b: f32(2) }, { m: 1, k: 2, n: 1, transA: 1 }, TypeError, /matmul: transA must be a boolean/],
  ['NaN in encode', 'encode', { x: Float32Array.of(1, NaN, 2) }, { clip: 1, bits: 16 }, RangeError, /encode: x contains NaN or Infinity/],
  ['Inf in encode', 'encode', { x: Float32Array.of(1, -Infinity) }, { clip: 1, bits: 16 }, RangeError, /encode: x contains NaN or Infinity/],
  ['clip = 0', 'encode', { x: f32(4) }, { clip: 0, bits: 16 }, RangeError, /encode: clip must be > 0, got 0/],
  ['clip < 0', 'encode', { x: f32(4) }, { clip: -1, bits: 16 }, RangeError, /encode: clip must be > 0, got -1/],
  ['clip NaN', 'decode', { values: i32(4) }, { clip: NaN, bits: 16 }, RangeError, /decode: clip must be finite, got NaN/],
  ['bits too large', 'encode', { x: f32(4) }, { clip: 1, bits: 31 }, RangeError, /encode: bits must be an integer in \[1, 30\], got 31/],
  ['divisor 0', 'decode', { values: i32(4) }, { clip: 1, bits: 16, divisor: 0 }, RangeError, /decode: divisor must be > 0/],
  ['seed negative', 'encode', { x: f32(4) }, { clip: 1, bits: 16, seed: -1 }, RangeError, /encode: seed must be in \[0, 2\^64\)/],
  ['seed unsafe', 'randomU32', {}, { count: 1, seed: 2 ** 60 }, RangeError, /randomU32: seed must be a safe integer or a bigint/],
  ['seed type', 'randomNormal', {}, { count: 1, seed: '1' }, TypeError, /randomNormal: seed must be a number or bigint, got string/],
  ['n = 0', 'sum', { x: i32(0) }, { n: 0, d: 0 }, RangeError, /sum: n must be an integer in \[1, /],
  ['n = 0 median', 'median', { x: i32(0) }, { n: 0, d: 5 }, RangeError, /median: n must be an integer in \[1, /],
  ['aggregate shape', 'median', { x: i32(10) }, { n: 3, d: 3 }, RangeError, /median: x has length 10, expected n\*d = 9/],
  ['trim too large', 'trimmedMean', { x: i32(12) }, { n: 4, d: 3, trim: 2 }, RangeError, /trimmedMean: trim must be an integer in \[0, 1\], got 2/],
  ['weights length', 'wsum', { x: i32(6), w: i32(3) }, { n: 2, d: 3 }, RangeError, /wsum: w has length 3, expected n = 2/],
  ['label out of range', 'softmaxXent', { logits: f32(6), labels: Int32Array.of(0, 3) }, { rows: 2, classes: 3 }, RangeError, /softmaxXent: labels\[1\] = 3 is outside \[0, 3\)/],
  ['classes = 0', 'softmaxXent', { logits: f32(0), labels: i32(0) }, { rows: 0, classes: 0 }, RangeError, /softmaxXent: classes must be an integer in \[1, /],
  ['attrs not object', 'scale', { x: f32(2) }, null as unknown as Record<string, unknown>, TypeError, /scale: a must be a number|attrs must be an object/],
  ['padded B too large', 'matmul', { a: f32(1), b: f32(1) }, { m: 1, k: 2 ** 26, n: 1 }, RangeError, /matmul: k\*n padded to 8-column panels = 536870912 elements exceeds the limit/],
  ['median n too large', 'median', { x: i32(0) }, { n: 70000, d: 0 }, RangeError, /median: n must be an integer in \[1, 65536\], got 70000/],
  ['trimmed n too large', 'trimmedMean', { x: i32(0) }, { n: 70000, d: 0, trim: 1 }, RangeError, /trimmedMean: n must be an integer in \[1, 65536\]/],
  ['draws past 2^53', 'randomU32', {}, { count: 8, offset: 2 ** 53 - 3 }, RangeError, /randomU32: offset \+ count = .* exceeds 2\^53/],
  ['encode draws past 2^53', 'encode', { x: f32(8) }, { clip: 1, bits: 8, offset: 2 ** 53 - 3 }, RangeError, /encode: offset \+ count = .* exceeds 2\^53/],
  ['too large', 'matmul', { a: f32(1), b: f32(1) }, { m: 2 ** 20, k: 2 ** 20, n: 1 }, RangeError, /matmul: m\*k = .* exceeds the limit/],
];

for (const backend of NODE_BACKENDS) {
  test(`bad inputs are rejected with named fields on ${backend}`, () => {
    for (const [what, op, inputs, attrs, Err, msg] of BAD) {
      assert.throws(() => runKernel(op, inputs as never, attrs, { backend }), (e: unknown) => {
        assert.ok(e instanceof Err, `${what}: expected ${Err.name}, got ${(e as Error)?.name}: ${(e as Error)?.message}`);
        assert.match((e as Error).message, msg, what);
        return true;
      });
    }
  });
}

test('an unknown backend is reported with its reason', async () => {
  const { ready } = await import('../host-node/index.js');
  await assert.rejects(ready(['nope']), /no backend could start: nope: unknown backend 'nope' \(known: js, wasm, wasm-simd\)/);
});

test('unknown op and unknown backend are reported', () => {
  assert.throws(() => runKernel('conv2d', {}, {}), /unknown op 'conv2d' \(known: matmul, /);
  assert.throws(() => runKernel('dot', { x: f32(1), y: f32(1) }, {}, { backend: 'webgpu' }), /dot: backend 'webgpu' is not ready/);
});

test('a backend that keeps working after rejecting input', () => {
  for (const backend of NODE_BACKENDS) {
    assert.throws(() => runKernel('encode', { x: Float32Array.of(NaN) }, { clip: 1, bits: 8 }, { backend }));
    const [v] = runKernel('encode', { x: Float32Array.of(0.25, -0.5) }, { clip: 1, bits: 8, seed: 1 }, { backend });
    assert.ok(v instanceof Int32Array && Math.abs(v[0]! - 64) <= 1 && Math.abs(v[1]! + 128) <= 1, `${backend}: ${v}`);
  }
});
