/**
 * The FedAvg scale run: one round of aggregation for N simulated participant updates of length d through a
 * streaming aggregator tree of fan-in K (default 1,000,000 x 1,000, K = 100: three levels). Participants'
 * encoded updates are drawn from Philox (valid fixed-point values for N participants) leaf by leaf, so memory
 * holds one leaf's updates and at most K partial sums per level. The root is checked against an independent
 * f64 sum of the same values. Runs in its own process (`node dist/bench/fl-scale.js [N d K]`) so its peak
 * memory is its own; prints one JSON object on stdout, progress on stderr.
 * @module
 */
import { ready } from '../host-node/index.js';
import { runKernel } from '../runtime/registry.js';
import { SumTree, treeShape } from '../runtime/fl/hierarchy.js';
import { bitsFor } from '../runtime/fl/strategy.js';

/** What one scale run reports. */
export interface ScaleResult {
  participants: number;
  d: number;
  fanin: number;
  levels: number;
  nodesPerLevel: number[];
  bits: number;
  /** Wall time of the whole round: drawing the updates plus aggregating them (ms; the check excluded). */
  totalMs: number;
  /** Time of the independent f64 check (ms). */
  checkMs: number;
  /** Time inside the aggregator tree (leaf weighted sums and partial-sum additions), ms. */
  aggregateMs: number;
  /** Peak resident memory of the process (bytes). */
  peakRssBytes: number;
  bytesPerParticipant: number;
  maxBytesPerAggregator: number;
  /** The root equals an independent f64 sum of every weighted update. */
  rootMatchesF64: boolean;
}

/** Runs the scale round in this process. */
export async function scaleRound(n: number, d: number, fanin: number, log: (line: string) => void = () => {}): Promise<ScaleResult> {
  await ready(['wasm-simd']);
  const bits = bitsFor(n);
  const shift = 31 - bits; // (u32 | 0) >> shift lies in [-2^bits, 2^bits)
  const tree = new SumTree(d, fanin);
  const check = new Float64Array(d);
  const leaves = Math.ceil(n / fanin);
  let aggregateMs = 0, checkMs = 0, weightTotal = 0;
  const t0 = performance.now();
  let lastLog = t0;
  for (let leaf = 0; leaf < leaves; leaf++) {
    const k = Math.min(fanin, n - leaf * fanin);
    const [raw] = runKernel('randomU32', {}, { count: k * d + k, seed: 20261121, stream: 1, offset: leaf * (fanin * d + fanin) }) as [Uint32Array];
    const x = new Int32Array(raw.buffer, raw.byteOffset, k * d);
    for (let i = 0; i < x.length; i++) x[i] = x[i]! >> shift;
    const w = new Int32Array(k);
    for (let i = 0; i < k; i++) w[i] = 1 + (raw[k * d + i]! & 7); // 1..8 examples each
    const tc = performance.now();
    for (let i = 0; i < k; i++) {
      weightTotal += w[i]!;
      const wi = w[i]!, row = i * d;
      for (let j = 0; j < d; j++) check[j] += wi * x[row + j]!;
    }
    const ta = performance.now();
    checkMs += ta - tc;
    tree.addLeaf(x, w);
    aggregateMs += performance.now() - ta;
    if (performance.now() - lastLog > 5000) {
      lastLog = performance.now();
      log(`  scale: ${((leaf + 1) * fanin).toLocaleString('en-US')} of ${n.toLocaleString('en-US')} updates aggregated (${((lastLog - t0) / 1000).toFixed(0)} s)`);
    }
  }
  const ta = performance.now();
  const { root, traffic } = tree.finish();
  aggregateMs += performance.now() - ta;
  const totalMs = performance.now() - t0 - checkMs;
  let match = root.count === n && root.weight === weightTotal;
  for (let j = 0; j < d && match; j++) match = root.sums[j] === BigInt(check[j]!);
  const shape = treeShape(n, fanin);
  if (JSON.stringify(shape) !== JSON.stringify(traffic.nodesPerLevel)) throw new Error(`scale: tree shape ${traffic.nodesPerLevel} differs from ${shape}`);
  return {
    participants: n, d, fanin, levels: traffic.levels, nodesPerLevel: traffic.nodesPerLevel, bits, totalMs, checkMs, aggregateMs,
    peakRssBytes: process.resourceUsage().maxRSS * 1024, bytesPerParticipant: traffic.bytesPerParticipant,
    maxBytesPerAggregator: traffic.maxBytesPerAggregator, rootMatchesF64: match,
  };
}

// Entry point when run as its own process.
if (import.meta.url === `file://${process.argv[1]}`) {
  const [n = 1_000_000, d = 1000, fanin = 100] = process.argv.slice(2).map(Number);
  const res = await scaleRound(n, d, fanin, (line) => process.stderr.write(`${line}\n`));
  process.stdout.write(`${JSON.stringify(res)}\n`);
}
