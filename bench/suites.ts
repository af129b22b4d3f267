/**
 * Benchmark suites: f32 matmul against tfjs-backend-wasm (XNNPACK, 1 thread) and the JS reference, the
 * thread pool against one thread, and the aggregation kernels against plain-JS baselines.
 * Aggregation kernels are timed with their inputs already in Wasm memory (where an aggregator decodes
 * updates); a second row includes copying the inputs in.
 * @module
 */
import { runKernel } from '../runtime/registry.js';
import { WasmBackend } from '../runtime/backends/wasm.js';
import { randomNormalRef, randomU32Ref } from '../runtime/reference/random.js';
import type { KernelPool as ThreadPool } from '../runtime/threads/create.js';
import { interleaved, medianMs, sameBytes, type BenchRow } from './harness.js';
import { medianPlain, pairwiseSqDistPlain, sumI32Plain, trimmedMeanPlain } from './baselines.js';

/** Size and repeat settings. */
export interface BenchConfig {
  quick: boolean;
  log: (line: string) => void;
}

const gflops = (n: number, ms: number) => (2 * n ** 3) / ms / 1e6;

function normals(n: number, seed: number): Float32Array {
  return randomNormalRef(n, { seedLo: seed, seedHi: 0, stream: 0xbe7c, offset: 0 });
}

function ints(n: number, seed: number, span: number): Int32Array {
  const r = randomU32Ref(n, { seedLo: seed, seedHi: 0, stream: 0xbe7c, offset: 0 });
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) out[i] = (r[i]! % span) - (span >> 1);
  return out;
}

interface Tfjs { matmul(a: Float32Array, b: Float32Array, n: number, transA: boolean, transB: boolean): () => Float32Array; version: string }

async function loadTfjs(log: (s: string) => void): Promise<Tfjs | undefined> {
  try {
    const quiet = console.log;
    console.log = () => undefined; // tfjs-core prints a banner suggesting tfjs-node
    const tf = await import('@tensorflow/tfjs-core');
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    console.log = quiet;
    const { fileURLToPath } = await import('node:url');
    const dir = fileURLToPath(new URL('.', import.meta.resolve('@tensorflow/tfjs-backend-wasm/dist/tfjs-backend-wasm.wasm')));
    wasm.setWasmPaths(dir.endsWith('/') ? dir : `${dir}/`);
    wasm.setThreadsCount(1);
    await tf.setBackend('wasm');
    await tf.ready();
    if (!tf.env().getBool('WASM_HAS_SIMD_SUPPORT')) log('tfjs-wasm: SIMD not detected; it runs the scalar build');
    return {
      version: wasm.version_wasm,
      matmul(a, b, n, transA, transB) {
        const ta = tf.tensor2d(a, [n, n]), tb = tf.tensor2d(b, [n, n]);
        return () => {
          const c = tf.matMul(ta, tb, transA, transB);
          const out = c.dataSync() as Float32Array;
          c.dispose();
          return out;
        };
      },
    };
  } catch (e) {
    log(`tfjs-wasm unavailable: ${(e as Error).message}`);
    return undefined;
  }
}

/** f32 matmul: wasm-simd (1 thread), wasm scalar, JS reference, tfjs-wasm, and the pool. */
export async function matmulSuite(cfg: BenchConfig, pool2: ThreadPool | undefined, pool1: ThreadPool | undefined): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const tf = await loadTfjs(cfg.log);
  const sizes = cfg.quick ? [256] : [256, 512, 1024];
  for (const n of sizes) {
    const a = normals(n * n, n), b = normals(n * n, n + 1);
    const reps = n >= 1024 ? 5 : n >= 512 ? 9 : 15;
    const row = (backend: string, threads: number, ms: number, c = `n=${n}`) => {
      rows.push({ suite: 'matmul', case: c, backend, threads, metric: 'GFLOP/s', value: gflops(n, ms), unit: 'GFLOP/s' });
      cfg.log(`  matmul ${c} ${backend} x${threads}: ${ms.toFixed(2)} ms (${gflops(n, ms).toFixed(1)} GFLOP/s)`);
    };
    const attrs = { m: n, k: n, n };
    const simd = runKernel('matmul', { a, b }, attrs, { backend: 'wasm-simd' })[0] as Float32Array;
    // tfjs and ours alternate run by run so both see the same machine load; the speedup is the median of
    // the per-pair ratios.
    const tfRun = tf?.matmul(a, b, n, false, false);
    const ours = () => runKernel('matmul', { a, b }, attrs, { backend: 'wasm-simd' });
    if (tfRun) {
      const { medianA: tTf, medianB: tOurs, ratio } = await interleaved(tfRun, ours, 2 * reps + 1);
      row('wasm-simd', 1, tOurs);
      row(`tfjs-wasm ${tf!.version}`, 1, tTf);
      rows.push({ suite: 'matmul', case: `n=${n}`, backend: 'wasm-simd vs tfjs-wasm', threads: 1, metric: 'speedup', value: ratio, unit: 'x' });
      const tfOut = tfRun();
      let maxRel = 0;
      for (let i = 0; i < tfOut.length; i += 97) maxRel = Math.max(maxRel, Math.abs(tfOut[i]! - simd[i]!) / (Math.abs(simd[i]!) + 1e-6));
      cfg.log(`  tfjs-wasm differs from the reference by up to ${maxRel.toExponential(1)} relative (sampled); meshwork is bit-exact`);
    } else row('wasm-simd', 1, await medianMs(ours, reps));
    if (n <= 512) row('wasm', 1, await medianMs(() => runKernel('matmul', { a, b }, attrs, { backend: 'wasm' }), n >= 512 ? 3 : 5));
    if (n <= 256) row('js', 1, await medianMs(() => runKernel('matmul', { a, b }, attrs, { backend: 'js' }), 3));
    for (const [transA, transB, tag] of [[false, true, 'A·Bᵀ'], [true, false, 'Aᵀ·B']] as const) {
      if (n !== 512 && !cfg.quick) continue;
      const at = { ...attrs, transA, transB };
      const oursT = () => runKernel('matmul', { a, b }, at, { backend: 'wasm-simd' });
      if (tf) {
        const { medianA: tTf, medianB: tOurs } = await interleaved(tf.matmul(a, b, n, transA, transB), oursT, 5);
        row('wasm-simd', 1, tOurs, `${tag} n=${n}`);
        row(`tfjs-wasm ${tf.version}`, 1, tTf, `${tag} n=${n}`);
      } else row('wasm-simd', 1, await medianMs(oursT, reps), `${tag} n=${n}`);
    }
    if (pool2 && pool1 && (n === 1024 || cfg.quick)) {
      const [c2] = await pool2.run('matmul', { a, b }, attrs);
      // One-thread and two-thread runs alternate, so a neighbour waking up on the second core hits both;
      // the speedup is the median of the per-pair ratios.
      const { medianA: t1, medianB: t2, ratio } = await interleaved(() => pool1.run('matmul', { a, b }, attrs), () => pool2.run('matmul', { a, b }, attrs), 2 * reps + 1);
      row('wasm-simd pool', 1, t1);
      row('wasm-simd pool', pool2.threads, t2);
      rows.push({ suite: 'matmul', case: `n=${n}`, backend: `pool ${pool2.threads} vs 1 thread`, threads: pool2.threads, metric: 'speedup', value: ratio, unit: 'x' });
      rows.push({ suite: 'matmul', case: `n=${n}`, backend: `pool ${pool2.threads} threads`, threads: pool2.threads, metric: 'same bits as 1 thread', value: sameBytes(c2!, simd) ? 1 : 0, unit: 'bool' });
    }
  }
  return rows;
}

/** Aggregation: wrapping sum, median, trimmed mean, pairwise distances against plain JS. */
export async function aggregateSuite(cfg: BenchConfig, pool2: ThreadPool | undefined): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const n = 100, d = cfg.quick ? 100_000 : 1_000_000, dDist = cfg.quick ? 10_000 : 100_000;
  const be = await WasmBackend.create('wasm-simd');
  const w = be.instance;
  const x = ints(n * d, 7, 1 << 24);
  const rowsJs = Array.from({ length: n }, (_, i) => x.subarray(i * d, (i + 1) * d));
  const caseName = `${n}x${d.toLocaleString('en-US')}`;
  const px = w.alloc(x.byteLength);
  new Int32Array(w.memory.buffer, px, x.length).set(x);
  const po = w.alloc(d * 4);
  const base = w.alloc(0);
  const reps = 5;
  const record = (c: string, backend: string, threads: number, ms: number, bytes?: number) => {
    rows.push({ suite: 'aggregate', case: c, backend, threads, metric: 'time', value: ms, unit: 'ms' });
    if (bytes) rows.push({ suite: 'aggregate', case: c, backend, threads, metric: 'read bandwidth', value: bytes / ms / 1e6, unit: 'GB/s' });
    cfg.log(`  ${c} ${backend} x${threads}: ${ms.toFixed(2)} ms`);
  };
  // Speedups are medians of per-pair ratios from interleaved runs (see harness.interleaved).
  const ratio = (c: string, what: string, value: number) => rows.push({ suite: 'aggregate', case: c, backend: what, threads: 1, metric: 'speedup', value, unit: 'x' });

  // wrapping sum
  const scratchAt = (bytes: number) => { w.reset(); w.alloc(base - w.heapBase); return w.alloc(bytes); };
  const { medianA: tSum, medianB: tSumJs, ratio: rSum } = await interleaved(() => w.call('agg_sum_i32', px, po, n, d, 0, d), () => sumI32Plain(rowsJs, d), reps);
  const tSumCopy = await medianMs(() => runKernel('sum', { x }, { n, d }, { backend: 'wasm-simd' }), reps);
  record(`sum ${caseName}`, 'wasm-simd (resident)', 1, tSum, x.byteLength);
  record(`sum ${caseName}`, 'wasm-simd (copy in)', 1, tSumCopy);
  record(`sum ${caseName}`, 'plain JS 4-accumulator', 1, tSumJs, x.byteLength);
  ratio(`sum ${caseName}`, 'wasm-simd vs plain JS', 1 / rSum);

  // median
  const sMed = scratchAt(Number(w.call('agg_median_scratch_bytes', n)));
  const { medianA: tMed, medianB: tMedJs, ratio: rMed } = await interleaved(() => w.call('agg_median_i32', px, po, n, d, 0, d, sMed), () => medianPlain(rowsJs, d), 3);
  record(`median ${caseName}`, 'wasm-simd (resident)', 1, tMed);
  record(`median ${caseName}`, 'wasm-simd (copy in)', 1, await medianMs(() => runKernel('median', { x }, { n, d }, { backend: 'wasm-simd' }), 3));
  record(`median ${caseName}`, 'plain JS quickselect', 1, tMedJs);
  ratio(`median ${caseName}`, 'wasm-simd vs plain JS', 1 / rMed);

  // trimmed mean, 10% each side
  const trim = n / 10;
  const sTm = scratchAt(Number(w.call('agg_trimmed_scratch_bytes', n, trim)));
  const { medianA: tTm, medianB: tTmJs, ratio: rTm } = await interleaved(() => w.call('agg_trimmed_mean_i32', px, po, n, d, trim, 0, d, sTm), () => trimmedMeanPlain(rowsJs, d, trim), 3);
  record(`trimmed mean 10% ${caseName}`, 'wasm-simd (resident)', 1, tTm);
  record(`trimmed mean 10% ${caseName}`, 'wasm-simd (copy in)', 1, await medianMs(() => runKernel('trimmedMean', { x }, { n, d, trim }, { backend: 'wasm-simd' }), 3));
  record(`trimmed mean 10% ${caseName}`, 'plain JS', 1, tTmJs);
  ratio(`trimmed mean 10% ${caseName}`, 'wasm-simd vs plain JS', 1 / rTm);

  // pairwise squared distances
  const distCase = `pairwise sqdist ${n}x${dDist.toLocaleString('en-US')}`;
  const xd = x.subarray(0, n * dDist);
  const rowsD = Array.from({ length: n }, (_, i) => xd.subarray(i * dDist, (i + 1) * dDist));
  w.reset();
  const pxd = w.write(xd), pod = w.alloc(n * n * 8), sD = w.alloc(Number(w.call('agg_sqdist_scratch_bytes', n)));
  const { medianA: tD, medianB: tDJs, ratio: rD } = await interleaved(() => w.call('agg_pairwise_sqdist_i64', pxd, pod, n, dDist, 0, dDist, sD), () => pairwiseSqDistPlain(rowsD, dDist), 3);
  record(distCase, 'wasm-simd (resident)', 1, tD);
  record(distCase, 'wasm-simd (copy in)', 1, await medianMs(() => runKernel('pairwiseSqDist', { x: xd }, { n, d: dDist }, { backend: 'wasm-simd' }), 3));
  record(distCase, 'plain JS double loop', 1, tDJs);
  ratio(distCase, 'wasm-simd vs plain JS', 1 / rD);
  w.reset();

  if (pool2) {
    // The thread pool copies its inputs into shared memory on every call; that copy is timed here.
    // Its speedups are against the same single-threaded plain-JS baselines, and labelled so.
    const c = `median ${caseName}`;
    const med = await interleaved(() => pool2.run('median', { x }, { n, d }), () => medianPlain(rowsJs, d), 3);
    record(c, 'wasm-simd pool (copy in)', pool2.threads, med.medianA);
    rows.push({ suite: 'aggregate', case: c, backend: `pool ${pool2.threads} threads vs plain JS 1 thread`, threads: pool2.threads, metric: 'speedup', value: 1 / med.ratio, unit: 'x' });
    const dist = await interleaved(() => pool2.run('pairwiseSqDist', { x: xd }, { n, d: dDist }), () => pairwiseSqDistPlain(rowsD, dDist), 3);
    record(distCase, 'wasm-simd pool (copy in)', pool2.threads, dist.medianA);
    rows.push({ suite: 'aggregate', case: distCase, backend: `pool ${pool2.threads} threads vs plain JS 1 thread`, threads: pool2.threads, metric: 'speedup', value: 1 / dist.ratio, unit: 'x' });
  }
  return rows;
}
