/**
 * Federated-learning bench: the reference setup (digits, 64-32-10 MLP, 20 IID participants, 30
 * rounds of FedAvg, 1 local epoch, 20% held out) run by meshwork in-process, beside the same FedAvg loop on
 * TF.js's pure-JS CPU backend (the engine DISCO trains with), central training of the same model, and the
 * scale round (1,000,000 updates of d = 1,000 through a 3-level tree) in a child process of its own so
 * that its peak memory is measured alone.
 * @module
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { loadDigits } from '../host-node/data.js';
import { shardIid, trainTestSplit, type Dataset } from '../runtime/fl/data.js';
import { Mlp, trainSgd } from '../runtime/fl/model.js';
import { Rng, STREAMS } from '../runtime/fl/rng.js';
import { DEFAULTS, paramsSha256, simulate } from '../runtime/fl/simulate.js';
import type { BenchRow } from './harness.js';
import type { BenchConfig } from './suites.js';
import type { ScaleResult } from './fl-scale.js';
import type { Scalar, Tensor, Tensor2D } from '@tensorflow/tfjs';

const PARTICIPANTS = 20, ROUNDS = 30;

/**
 * The same FedAvg loop on TF.js (tfjs-core ops, CPU backend): each participant starts from the global
 * weights, trains one epoch of SGD with momentum 0.9 (batch 8, lr 0.2 * 0.97^(r-1), fresh momentum), and
 * the server takes the sample-weighted mean of the updates in f32. Same data, shards, init and order of
 * examples as meshwork's run; only the arithmetic engine differs.
 */
async function tfjsFedAvg(shards: Dataset[], test: Dataset, seed: number): Promise<{ ms: number; accuracy: number }> {
  const log = console.log;
  console.log = () => undefined; // tfjs-core prints a banner suggesting tfjs-node
  const tf = await import('@tensorflow/tfjs'); // the package DISCO builds on: core, gradients, CPU backend
  const before = tf.getBackend();
  await tf.setBackend('cpu');
  console.log = log;
  try {
    const model = new Mlp([64, 32, 10]);
    const init = model.init(seed);
    // meshwork stores fc.weight as [out, in] (PyTorch's layout); TF.js multiplies x [rows, in] by W [in, out].
    const toTf = (p: Float32Array) => model.layout.map((s) => (s.shape.length === 2 ? tf.transpose(tf.tensor2d(p.subarray(s.offset, s.offset + s.length), s.shape as [number, number])) : tf.tensor1d(p.subarray(s.offset, s.offset + s.length))));
    let global = toTf(init);
    const forward = (ws: Tensor[], x: Tensor2D) => tf.add(tf.matMul(tf.relu(tf.add(tf.matMul(x, ws[0] as Tensor2D), ws[1]!)), ws[2] as Tensor2D), ws[3]!) as Tensor2D;
    const total = shards.reduce((a, s) => a + s.n, 0);
    const t0 = performance.now();
    for (let r = 1; r <= ROUNDS; r++) {
      const lr = DEFAULTS.lr * DEFAULTS.lrDecay ** (r - 1);
      const next = global.map((g) => tf.zerosLike(g));
      for (let p = 0; p < shards.length; p++) {
        const shard = shards[p]!;
        const vars = global.map((g) => tf.variable(g.clone()));
        const opt = tf.train.momentum(lr, DEFAULTS.momentum);
        const order = new Int32Array(shard.n).map((_, i) => i);
        new Rng(seed, STREAMS.shuffle, p, r).shuffle(order);
        for (let s = 0; s < shard.n; s += DEFAULTS.batch) {
          const idx = order.subarray(s, Math.min(shard.n, s + DEFAULTS.batch));
          const bx = new Float32Array(idx.length * 64), by = new Int32Array(idx.length);
          idx.forEach((i, k) => { bx.set(shard.x.subarray(i * 64, (i + 1) * 64), k * 64); by[k] = shard.y[i]!; });
          tf.tidy(() => {
            const xb = tf.tensor2d(bx, [idx.length, 64]);
            const yb = tf.oneHot(tf.tensor1d(by, 'int32'), 10);
            opt.minimize(() => tf.losses.softmaxCrossEntropy(yb, forward(vars, xb)) as Scalar, false, vars);
          });
        }
        const w = shard.n / total;
        for (let k = 0; k < next.length; k++) {
          const acc = next[k]!;
          next[k] = tf.tidy(() => tf.add(acc, tf.mul(vars[k]!, w)));
          acc.dispose();
        }
        opt.dispose();
        vars.forEach((v) => v.dispose());
      }
      global.forEach((g) => g.dispose());
      global = next;
    }
    const ms = performance.now() - t0;
    const accuracy = tf.tidy(() => {
      const logits = forward(global, tf.tensor2d(test.x, [test.n, 64]));
      const pred = tf.argMax(logits, 1).dataSync();
      let correct = 0;
      for (let i = 0; i < test.n; i++) if (pred[i] === test.y[i]) correct++;
      return correct / test.n;
    });
    global.forEach((g) => g.dispose());
    return { ms, accuracy };
  } finally {
    if (before) await tf.setBackend(before);
  }
}

/** Runs the scale round in a child process and returns its report. */
export function scaleInChild(n: number, d: number, fanin: number, log: (line: string) => void): Promise<ScaleResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [fileURLToPath(new URL('./fl-scale.js', import.meta.url)), String(n), String(d), String(fanin)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => { out += b.toString(); });
    child.stderr.on('data', (b: Buffer) => { for (const line of b.toString().split('\n')) if (line.trim()) log(line); });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code !== 0) reject(new Error(`fl-scale exited with code ${code}`));
      else {
        try { resolve(JSON.parse(out) as ScaleResult); } catch (e) { reject(new Error(`fl-scale printed no report: ${(e as Error).message}`)); }
      }
    });
  });
}

/** The FL suite's rows. */
export async function flSuite(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const row = (c: string, backend: string, metric: string, value: number, unit: string, threads = 1) => rows.push({ suite: 'fl', case: c, backend, threads, metric, value, unit });
  const seed = 1;
  const { train, test } = trainTestSplit(loadDigits(), 0.2, seed);
  const shards = shardIid(train, PARTICIPANTS, seed);
  const c = `digits ${PARTICIPANTS}x${ROUNDS} IID FedAvg`;

  cfg.log(`  fl: ${c}, meshwork in-process`);
  const runs = cfg.quick ? 3 : 5;
  const times: number[] = [];
  const hashes = new Set<string>();
  let accuracy = 0;
  for (let i = 0; i < runs + 1; i++) {
    const res = simulate(shards, test, { rounds: ROUNDS, rule: 'fedavg', seed });
    if (i > 0) times.push(res.ms); // the first run warms the JIT
    hashes.add(await paramsSha256(res.params));
    accuracy = res.rows[res.rows.length - 1]!.accuracy;
  }
  times.sort((a, b) => a - b);
  const meshMs = times[times.length >> 1]!;
  row(c, 'meshwork wasm-simd', 'time', meshMs / 1000, 's');
  row(c, 'meshwork wasm-simd', 'accuracy', accuracy, '');
  row(c, 'meshwork wasm-simd', `same weights in ${runs + 1} runs`, hashes.size === 1 ? 1 : 0, 'bool');

  cfg.log(`  fl: ${c}, TF.js CPU backend`);
  const tfjs = await tfjsFedAvg(shards, test, seed);
  row(c, 'tfjs-cpu (DISCO\'s engine)', 'time', tfjs.ms / 1000, 's');
  row(c, 'tfjs-cpu (DISCO\'s engine)', 'accuracy', tfjs.accuracy, '');
  row(c, 'meshwork vs tfjs-cpu', 'speedup', tfjs.ms / meshMs, 'x');

  // Central training of the same model on all training rows: SGD with momentum 0.9, batch 32, lr 0.1 (the
  // federated settings, batch 8 and lr 0.2, are tuned for 70-row shards and overshoot on 1,438 rows).
  const cc = 'digits central, 30 epochs (batch 32, lr 0.1)';
  cfg.log(`  fl: ${cc}`);
  const model = new Mlp([64, 32, 10]);
  const params = model.init(seed);
  const t0 = performance.now();
  trainSgd(model, params, train.x, train.y, { lr: 0.1, momentum: DEFAULTS.momentum, batch: 32, epochs: ROUNDS }, new Rng(seed, STREAMS.shuffle));
  const centralMs = performance.now() - t0;
  row(cc, 'meshwork wasm-simd', 'time', centralMs / 1000, 's');
  row(cc, 'meshwork wasm-simd', 'accuracy', model.evaluate(params, test.x, test.y).accuracy, '');

  const [n, d, fanin] = cfg.quick ? [100_000, 1000, 100] : [1_000_000, 1000, 100];
  const sc = `FedAvg round ${n.toLocaleString('en-US')}x${d}, fan-in ${fanin}`;
  cfg.log(`  fl: ${sc} (child process)`);
  const s = await scaleInChild(n, d, fanin, cfg.log);
  row(sc, `tree ${s.nodesPerLevel.join('/')}`, 'time', s.totalMs / 1000, 's');
  row(sc, `tree ${s.nodesPerLevel.join('/')}`, 'of which aggregation', s.aggregateMs / 1000, 's');
  row(sc, `tree ${s.nodesPerLevel.join('/')}`, 'peak memory', s.peakRssBytes / 2 ** 20, 'MiB');
  row(sc, `tree ${s.nodesPerLevel.join('/')}`, 'root = f64 check', s.rootMatchesF64 ? 1 : 0, 'bool');
  row(sc, `tree ${s.nodesPerLevel.join('/')}`, 'bytes per participant', s.bytesPerParticipant, 'B');
  row(sc, `tree ${s.nodesPerLevel.join('/')}`, 'max bytes per aggregator', s.maxBytesPerAggregator, 'B');
  return rows;
}
