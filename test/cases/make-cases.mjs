#!/usr/bin/env node
// Writes test/cases/<op>.json: the case lists below, each stamped with the SHA-256 of the JS reference's
// output. Run after `npm run build`, only when adding cases or changing a reference on purpose.
import { writeFileSync } from 'node:fs';
import { OPS } from '../../dist/runtime/ops/index.js';
import { caseInputs, outputBytes, outputDtypes, sha256Hex } from '../../dist/runtime/conformance.js';

const dir = new URL('./', import.meta.url);
const f = (fill, length, extra = {}) => ({ fill, length, ...extra });
let seed = 1;
const normal = (length, scale = 1) => f('normal', length, { seed: seed++, scale });
const edge = (length) => f('edge', length, { seed: seed++ });
const ints = (length, lo, hi) => f('int', length, { seed: seed++, lo, hi });

const cases = {};

cases.matmul = [];
for (const [m, k, n] of [[0, 3, 4], [3, 0, 4], [1, 1, 1], [3, 5, 7], [5, 7, 3], [17, 19, 23], [33, 65, 31], [64, 64, 64], [100, 37, 129]]) {
  for (const [transA, transB] of [[false, false], [false, true], [true, false]]) {
    cases.matmul.push({ name: `${m}x${k}x${n}${transA ? '-tA' : ''}${transB ? '-tB' : ''}`, attrs: { m, k, n, transA, transB }, inputs: { a: normal(m * k), b: normal(k * n) } });
  }
}
// Wide and deep: several column chunks (n > 512) and k blocks (k > 256). Explicit seeds keep the seeds of
// the cases after these unchanged.
for (const [m, k, n, transA, transB, seed] of [[7, 300, 1030, false, false, 1001], [6, 300, 1030, true, true, 1003], [11, 520, 600, false, true, 1005]]) {
  cases.matmul.push({ name: `wide-${m}x${k}x${n}${transA ? '-tA' : ''}${transB ? '-tB' : ''}`, attrs: { m, k, n, transA, transB },
    inputs: { a: f('normal', m * k, { seed, scale: 1 }), b: f('normal', k * n, { seed: seed + 1, scale: 1 }) } });
}
cases.matmul.push({ name: 'edge-13x17x9', attrs: { m: 13, k: 17, n: 9 }, inputs: { a: edge(13 * 17), b: edge(17 * 9) } });
cases.matmul.push({ name: 'edge-9x8x12-tB', attrs: { m: 9, k: 8, n: 12, transB: true }, inputs: { a: edge(72), b: edge(96) } });
cases.matmul.push({ name: 'inf-nan-4x3x5', attrs: { m: 4, k: 3, n: 5 }, inputs: { a: f('values', 12, { values: [1, 'inf', -2, 'nan', 0, '-0'] }), b: f('values', 15, { values: [0, 1, '-inf', 3e38, -0.5] }) } });

cases.gemv = [];
for (const [m, n] of [[0, 5], [5, 0], [1, 1], [7, 13], [13, 7], [64, 100], [101, 33]]) {
  for (const transA of [false, true]) cases.gemv.push({ name: `${m}x${n}${transA ? '-tA' : ''}`, attrs: { m, n, transA }, inputs: { a: normal(m * n), x: normal(transA ? m : n) } });
}
cases.gemv.push({ name: 'edge-9x11', attrs: { m: 9, n: 11 }, inputs: { a: edge(99), x: edge(11) } });

const vecLens = [0, 1, 3, 15, 16, 17, 33, 1000, 1003];
cases.dot = vecLens.map((n) => ({ name: `n${n}`, attrs: {}, inputs: { x: normal(n), y: normal(n) } }));
cases.dot.push({ name: 'edge-101', attrs: {}, inputs: { x: edge(101), y: edge(101) } });
cases.l2norm = vecLens.map((n) => ({ name: `n${n}`, attrs: {}, inputs: { x: normal(n) } }));
cases.l2norm.push({ name: 'edge-101', attrs: {}, inputs: { x: edge(101) } });
cases.l2norm.push({ name: 'max-float', attrs: {}, inputs: { x: f('values', 9, { values: [3.4028234663852886e38, -3.4028234663852886e38, 1e-45] }) } });
cases.scale = [[0, 2], [1, -3], [17, 0.1], [1003, 1e-40], [33, -1e-45]].map(([n, a]) => ({ name: `n${n}-a${a}`, attrs: { a }, inputs: { x: normal(n) } }));
cases.scale.push({ name: 'edge-50', attrs: { a: 3 }, inputs: { x: edge(50) } });
cases.axpy = [[0, 2], [1, -3], [17, 0.1], [1003, 0.5]].map(([n, a]) => ({ name: `n${n}-a${a}`, attrs: { a }, inputs: { x: normal(n), y: normal(n) } }));
cases.axpy.push({ name: 'edge-50', attrs: { a: -1.5 }, inputs: { x: edge(50), y: edge(50) } });
cases.biasAct = [];
for (const [rows, cols] of [[0, 4], [1, 1], [3, 7], [8, 32], [5, 10]]) {
  for (const relu of [true, false]) cases.biasAct.push({ name: `${rows}x${cols}${relu ? '-relu' : ''}`, attrs: { rows, cols, relu }, inputs: { x: normal(rows * cols), b: normal(cols) } });
}
cases.biasAct.push({ name: 'edge-6x9-relu', attrs: { rows: 6, cols: 9, relu: true }, inputs: { x: edge(54), b: edge(9) } });
cases.softmaxXent = [];
for (const [rows, classes, scale] of [[0, 10, 1], [1, 1, 1], [5, 10, 1], [7, 3, 10], [32, 10, 3], [4, 10, 60]]) {
  cases.softmaxXent.push({ name: `${rows}x${classes}-s${scale}`, attrs: { rows, classes }, inputs: { logits: normal(rows * classes, scale), labels: ints(rows, 0, classes - 1) } });
}
cases.softmaxXent.push({ name: 'edge-6x10', attrs: { rows: 6, classes: 10 }, inputs: { logits: edge(60), labels: ints(6, 0, 9) } });

cases.encode = [];
for (const [n, clip, bits] of [[0, 1, 16], [1, 1, 16], [7, 0.5, 20], [1000, 1, 16], [1003, 0.05, 24], [64, 10, 30]]) {
  cases.encode.push({ name: `n${n}-c${clip}-b${bits}`, attrs: { clip, bits, seed: 42 + n, stream: 3, offset: n * 7 }, inputs: { x: normal(n, 0.1) } });
}
cases.encode.push({ name: 'at-clip-bound', attrs: { clip: 1, bits: 16, seed: 7 }, inputs: { x: f('values', 2, { values: [0.6, 0.8] }) } });
cases.encode.push({ name: 'edge-100', attrs: { clip: 2, bits: 24, seed: 9, stream: 1, offset: 2 ** 40 + 3 }, inputs: { x: edge(100) } });
cases.encode.push({ name: 'big-seed', attrs: { clip: 1, bits: 12, seed: Number.MAX_SAFE_INTEGER, stream: 0xffffffff }, inputs: { x: normal(37) } });
cases.decode = [[0, 1, 16, 1], [1, 1, 16, 1], [1003, 0.5, 24, 3], [64, 10, 30, 100]].map(([n, clip, bits, divisor]) => (
  { name: `n${n}-c${clip}-b${bits}-div${divisor}`, attrs: { clip, bits, divisor }, inputs: { values: ints(n, -(2 ** 30), 2 ** 30) } }));
cases.decode.push({ name: 'edge-50', attrs: { clip: 1, bits: 30 }, inputs: { values: edge(50) } });

const aggShapes = [[1, 0], [1, 7], [2, 5], [3, 33], [4, 17], [5, 100], [10, 64], [11, 1], [100, 37]];
for (const op of ['sum', 'median']) {
  cases[op] = aggShapes.map(([n, d]) => ({ name: `${n}x${d}`, attrs: { n, d }, inputs: { x: ints(n * d) } }));
  cases[op].push({ name: 'ties-25x40', attrs: { n: 25, d: 40 }, inputs: { x: ints(1000, -3, 3) } });
  cases[op].push({ name: 'edge-12x30', attrs: { n: 12, d: 30 }, inputs: { x: edge(360) } });
}
cases.wsum = aggShapes.map(([n, d]) => ({ name: `${n}x${d}`, attrs: { n, d }, inputs: { x: ints(n * d), w: ints(n, -(2 ** 31), 2 ** 31 - 1) } }));
cases.wsum.push({ name: 'edge-12x30', attrs: { n: 12, d: 30 }, inputs: { x: edge(360), w: edge(12) } });
cases.trimmedMean = [[1, 7, 0], [3, 33, 1], [5, 100, 2], [10, 64, 1], [20, 50, 2], [100, 37, 10], [100, 5, 49]].map(([n, d, trim]) => (
  { name: `${n}x${d}-t${trim}`, attrs: { n, d, trim }, inputs: { x: ints(n * d) } }));
cases.trimmedMean.push({ name: 'ties-25x40-t5', attrs: { n: 25, d: 40, trim: 5 }, inputs: { x: ints(1000, -3, 3) } });
cases.trimmedMean.push({ name: 'edge-12x30-t2', attrs: { n: 12, d: 30, trim: 2 }, inputs: { x: edge(360) } });
cases.pairwiseSqDist = [[1, 5], [2, 0], [3, 33], [5, 100], [16, 64], [20, 257]].map(([n, d]) => (
  { name: `${n}x${d}`, attrs: { n, d }, inputs: { x: ints(n * d) } }));
cases.pairwiseSqDist.push({ name: 'edge-7x30', attrs: { n: 7, d: 30 }, inputs: { x: edge(210) } });

// Kernel paths that only larger shapes reach (explicit seeds keep the other cases' seeds unchanged):
// several row blocks of matmul (m > 120); sums wider than their column blocks (16K, wsum 8K); several
// staged 320-column blocks of the sorting-network kernels; several chunks of the distance kernel, on the
// Winograd path (|x| < 2^30, as encoded updates are) and on its full-range fallback.
const sized = (fill, length, seed, extra = {}) => f(fill, length, { seed, ...extra });
cases.matmul.push({ name: 'rowblocks-250x40x30', attrs: { m: 250, k: 40, n: 30 }, inputs: { a: sized('normal', 250 * 40, 2001), b: sized('normal', 40 * 30, 2002) } });
cases.matmul.push({ name: 'rowblocks-260x33x17-tA', attrs: { m: 260, k: 33, n: 17, transA: true }, inputs: { a: sized('normal', 260 * 33, 2003), b: sized('normal', 33 * 17, 2004) } });
cases.sum.push({ name: 'wide-3x20000', attrs: { n: 3, d: 20000 }, inputs: { x: sized('int', 60000, 2005) } });
cases.wsum.push({ name: 'wide-3x9000', attrs: { n: 3, d: 9000 }, inputs: { x: sized('int', 27000, 2006), w: sized('int', 3, 2007) } });
cases.median.push({ name: 'blocks-33x1000', attrs: { n: 33, d: 1000 }, inputs: { x: sized('int', 33000, 2008, { lo: -(2 ** 20), hi: 2 ** 20 }) } });
cases.trimmedMean.push({ name: 'blocks-30x1000-t3', attrs: { n: 30, d: 1000, trim: 3 }, inputs: { x: sized('int', 30000, 2009, { lo: -(2 ** 20), hi: 2 ** 20 }) } });
cases.pairwiseSqDist.push({ name: 'winograd-10x20000', attrs: { n: 10, d: 20000 }, inputs: { x: sized('int', 200000, 2010, { lo: -(2 ** 29), hi: 2 ** 29 - 1 }) } });
cases.pairwiseSqDist.push({ name: 'winograd-17x3001', attrs: { n: 17, d: 3001 }, inputs: { x: sized('int', 17 * 3001, 2011, { lo: -(2 ** 16), hi: 2 ** 16 }) } });
cases.pairwiseSqDist.push({ name: 'fullrange-9x20000', attrs: { n: 9, d: 20000 }, inputs: { x: sized('int', 180000, 2012) } });
// The i64 sum of partial sums (explicit seeds): full-range values wrap; several column blocks (8K).
cases.sum64 = [[1, 5], [2, 0], [2, 7], [3, 33], [4, 100], [9, 257]].map(([n, d], k) => (
  { name: `${n}x${d}`, attrs: { n, d }, inputs: { x: sized('int', n * d, 3001 + k) } }));
cases.sum64.push({ name: 'partials-100x1000', attrs: { n: 100, d: 1000 }, inputs: { x: sized('normal', 100000, 3010, { scale: 1e12 }) } });
cases.sum64.push({ name: 'edge-12x30', attrs: { n: 12, d: 30 }, inputs: { x: sized('edge', 360, 3011) } });
cases.sum64.push({ name: 'wide-3x9000', attrs: { n: 3, d: 9000 }, inputs: { x: sized('int', 27000, 3012) } });

for (const op of ['randomU32', 'randomUniform', 'randomNormal']) {
  cases[op] = [[0, 0, 0, 0], [1, 1, 0, 0], [5, 2, 1, 3], [1001, 2 ** 53 - 1, 0xffffffff, 2 ** 40 + 1], [64, 77, 5, 1]].map(([count, s, stream, offset]) => (
    { name: `c${count}-s${s}-st${stream}-o${offset}`, attrs: { count, seed: s, stream, offset }, inputs: {} }));
}

for (const [op, list] of Object.entries(cases)) {
  const def = OPS.get(op);
  for (const spec of list) {
    const out = def.reference(caseInputs(op, spec), def.plan(caseInputs(op, spec), spec.attrs));
    spec.sha256 = await sha256Hex(outputBytes(out, outputDtypes(op)));
  }
  writeFileSync(new URL(`${op}.json`, dir), JSON.stringify({ op, cases: list }, null, 1) + '\n');
  console.log(`${op}: ${list.length} cases`);
}
