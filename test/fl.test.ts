// Federated-learning core: data, model, safetensors, strategies, the round loop.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ready } from '../host-node/index.js';
import { loadDigits } from '../host-node/data.js';
import { shardDirichlet, shardIid, trainTestSplit, type Dataset } from '../runtime/fl/data.js';
import { Mlp, trainSgd } from '../runtime/fl/model.js';
import { Rng, STREAMS } from '../runtime/fl/rng.js';
import { fromSafetensors, paramsFromSafetensors, toSafetensors } from '../runtime/fl/safetensors.js';
import { bitsFor, FedAvg, Median, MultiKrum, stack, TrimmedMean, type EncodedUpdate } from '../runtime/fl/strategy.js';
import { paramsSha256, participantId, simulate } from '../runtime/fl/simulate.js';

await ready();
const digits = loadDigits();
const { train, test: held } = trainTestSplit(digits, 0.2, 1);

test('digits: 1,797 rows of 64 pixels in [0, 1] and labels 0..9; the seeded split is 1,438 / 359 and replays', () => {
  assert.equal(digits.n, 1797);
  assert.ok(digits.x.every((v) => v >= 0 && v <= 1));
  assert.deepEqual(new Set(digits.y), new Set([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]));
  assert.equal(train.n, 1438);
  assert.equal(held.n, 359);
  const again = trainTestSplit(digits, 0.2, 1);
  assert.deepEqual(again.test.y, held.y);
  assert.notDeepEqual(trainTestSplit(digits, 0.2, 2).test.y, held.y);
});

function rowKeys(ds: Dataset): string[] {
  const out: string[] = [];
  for (let i = 0; i < ds.n; i++) out.push(`${Array.from(ds.x.subarray(i * ds.features, (i + 1) * ds.features)).join(',')}|${ds.y[i]}`);
  return out;
}

test('shards: IID sizes differ by at most one; Dirichlet shards partition the rows, none empty, and skew labels', () => {
  const iid = shardIid(train, 20, 1);
  const sizes = iid.map((s) => s.n);
  assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1);
  assert.equal(sizes.reduce((a, b) => a + b), train.n);
  const dir = shardDirichlet(train, 20, 0.5, 1);
  assert.ok(dir.every((s) => s.n > 0));
  assert.deepEqual(dir.flatMap(rowKeys).sort(), rowKeys(train).sort());
  // label skew: the mean share of a participant's most common label is far above the IID ~0.1-0.2
  const topShare = (s: Dataset) => Math.max(...Array.from({ length: 10 }, (_, c) => s.y.filter((y) => y === c).length)) / s.n;
  const meanTop = (ss: Dataset[]) => ss.reduce((a, s) => a + topShare(s), 0) / ss.length;
  assert.ok(meanTop(dir) > meanTop(iid) + 0.15, `dirichlet ${meanTop(dir)} vs iid ${meanTop(iid)}`);
  assert.throws(() => shardDirichlet(train, 20, 0, 1), RangeError);
  assert.throws(() => shardIid(train, 0, 1), RangeError);
});

test('Rng: gamma draws have mean ~shape (fixed seed), ints are in range, streams are independent', () => {
  for (const shape of [0.5, 1, 3]) {
    const r = new Rng(7, STREAMS.shard);
    let s = 0;
    const n = 20000;
    for (let i = 0; i < n; i++) s += r.gamma(shape);
    assert.ok(Math.abs(s / n - shape) < 0.05 * shape + 0.02, `gamma(${shape}) mean ${s / n}`);
  }
  const r = new Rng(1, 1);
  for (let i = 0; i < 1000; i++) { const v = r.int(7); assert.ok(v >= 0 && v < 7 && Number.isInteger(v)); }
  assert.notEqual(new Rng(1, 1).u32(), new Rng(1, 2).u32());
  assert.equal(new Rng(1, 1, 3, 2).u32(), new Rng(1, 1, 3, 2).u32());
  assert.throws(() => new Rng(-1, 1), RangeError);
});

test('MLP gradient matches central finite differences', () => {
  const m = new Mlp([6, 5, 3], { backend: 'js' });
  const w = m.init(3);
  const x = new Float32Array(4 * 6).map((_, i) => ((i * 37) % 11) / 11);
  const y = new Int32Array([0, 2, 1, 2]);
  const { grad } = m.lossAndGrad(w, x, y, 4);
  const lossAt = (v: Float32Array) => m.lossAndGrad(v, x, y, 4).loss;
  for (const i of [0, 7, 29, 30, 34, 40, m.size - 1]) {
    const h = 1e-2;
    const a = w.slice(), b = w.slice();
    a[i] += h; b[i] -= h;
    const fd = (lossAt(a) - lossAt(b)) / (2 * h);
    assert.ok(Math.abs(fd - grad[i]!) < 2e-3 + 0.05 * Math.abs(fd), `param ${i}: analytic ${grad[i]} vs numeric ${fd}`);
  }
});

test('MLP training gives the same bits on js, wasm and wasm-simd', async () => {
  const hashes = [];
  for (const backend of ['js', 'wasm', 'wasm-simd']) {
    const m = new Mlp([64, 32, 10], { backend });
    const w = m.init(5);
    trainSgd(m, w, train.x.subarray(0, 200 * 64), train.y.subarray(0, 200), { lr: 0.1, momentum: 0.9, batch: 16, epochs: 2 }, new Rng(5, STREAMS.shuffle));
    hashes.push(await paramsSha256(w));
  }
  assert.equal(new Set(hashes).size, 1, hashes.join(' '));
});

test('central training of the 64-32-10 MLP reaches >= 0.95 on the held-out digits', () => {
  const m = new Mlp();
  const w = m.init(1);
  const rng = new Rng(1, STREAMS.shuffle);
  for (let e = 0; e < 20; e++) trainSgd(m, w, train.x, train.y, { lr: 0.1, momentum: 0.9, batch: 32, epochs: 1 }, rng);
  const { accuracy } = m.evaluate(w, held.x, held.y);
  assert.ok(accuracy >= 0.95, `central accuracy ${accuracy}`);
});

test('safetensors: round trip, 8-byte aligned header, exact layout; malformed files are rejected', () => {
  const m = new Mlp();
  const w = m.init(2);
  const bytes = toSafetensors(w, m.layout, { format: 'pt' });
  const hlen = Number(new DataView(bytes.buffer).getBigUint64(0, true));
  assert.equal((8 + hlen) % 8, 0);
  const header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + hlen)));
  assert.deepEqual(header['fc1.weight'], { dtype: 'F32', shape: [32, 64], data_offsets: [0, 8192] });
  assert.deepEqual(header.__metadata__, { format: 'pt' });
  const file = fromSafetensors(bytes);
  assert.deepEqual(paramsFromSafetensors(file, m.layout, m.size), w);
  assert.throws(() => fromSafetensors(bytes.subarray(0, 4)), RangeError);
  const bad = bytes.slice();
  new DataView(bad.buffer).setBigUint64(0, BigInt(bytes.length), true);
  assert.throws(() => fromSafetensors(bad), /header length/);
  const other = new Mlp([64, 16, 10]);
  assert.throws(() => paramsFromSafetensors(file, other.layout, other.size), /shape/);
});

function enc(id: string, values: number[], samples = 1): EncodedUpdate {
  return { id, values: new Int32Array(values), samples };
}

test('strategies: exact results on the fixed-point values, independent of arrival order', () => {
  const e = { clip: 1, bits: 10 };
  const rs = [enc('a', [1024, 0, -512], 3), enc('b', [0, 1024, 512], 1), enc('c', [512, 512, 0], 4)];
  const fed = new FedAvg().aggregateRound(1, rs, [], e, 3);
  // weighted mean: (3*1024 + 4*512) / 8 / 1024 = 0.625, (1024 + 4*512) / 8 / 1024 = 0.375, (-1536 + 512) / 8 / 1024 = -0.125
  assert.deepEqual(Array.from(fed.update), [0.625, 0.375, -0.125]);
  assert.deepEqual(new FedAvg().aggregateRound(1, rs.slice().reverse(), [], e, 3).update, fed.update);
  assert.deepEqual(Array.from(new Median().aggregateRound(1, rs, [], e, 3).update), [0.5, 0.5, 0]);
  assert.deepEqual(Array.from(new TrimmedMean(0.34).aggregateRound(1, rs, [], e, 3).update), [0.5, 0.5, 0]);
  // Multi-Krum rejects the one far-away update
  const honest = Array.from({ length: 6 }, (_, i) => enc(`h${i}`, [100 + i, 200 - i, 50]));
  const k = new MultiKrum(0.2).aggregateRound(1, [...honest, enc('z', [100000, -100000, 0])], [], e, 3);
  assert.ok(k.rejected.some((f) => f.id === 'z' && /multi-krum/.test(f.reason)));
  assert.ok(!k.accepted.includes('z'));
  assert.equal(bitsFor(20), 24);
  assert.equal(bitsFor(1000), 21);
  assert.throws(() => new TrimmedMean(0.5), RangeError);
});

test('simulate: same seed, same final weights (SHA-256) on js and wasm-simd; another seed differs', async () => {
  const shards = shardIid(train, 5, 1);
  const run = async (backend: string, seed: number) => paramsSha256(simulate(shards, held, { rounds: 3, seed, kernel: { backend } }).params);
  const a = await run('wasm-simd', 1);
  assert.equal(await run('wasm-simd', 1), a);
  assert.equal(await run('js', 1), a);
  assert.notEqual(await run('wasm-simd', 2), a);
});

test('simulate: FedAvg, IID, 20 participants x 30 rounds reaches >= 0.95 on the held-out digits', () => {
  const res = simulate(shardIid(train, 20, 1), held, { rounds: 30, rule: 'fedavg', seed: 1 });
  const acc = res.rows[res.rows.length - 1]!.accuracy;
  assert.ok(acc >= 0.95, `accuracy ${acc}`);
  assert.equal(res.rows.length, 30);
  assert.ok(res.rows.every((r) => r.rejected === 0 && r.bytesPerParticipant === 8 * res.model.size + 16 && r.levels === 1));
});

test('simulate: a wrong-length, a NaN, an unknown and a duplicate submission are rejected with reasons; the round completes', () => {
  const shards = shardIid(train, 6, 1);
  const res = simulate(shards, held, {
    rounds: 2, rule: 'median', seed: 1,
    tamper: (id, _r, u) => (id === participantId(1) ? u.subarray(1) : id === participantId(2) ? u.map((v, i) => (i === 3 ? NaN : v)) : u),
    intruders: (_r, d) => [{ id: 'mallory', values: new Int32Array(d), samples: 1 }, { id: participantId(0), values: new Int32Array(d), samples: 1 }],
  });
  for (const row of res.rows) {
    const why = new Map(row.failures.map((f) => [f.id, f.reason]));
    assert.equal(row.rejected, 4);
    assert.match(why.get(participantId(1))!, /length/);
    assert.match(why.get(participantId(2))!, /NaN|finite/i);
    assert.match(why.get('mallory')!, /unknown participant/);
    assert.match(why.get(participantId(0))!, /duplicate/);
  }
  assert.ok(res.rows[1]!.accuracy > 0.3);
  assert.throws(() => simulate(shards, held, { rule: 'nope' }), RangeError);
  assert.throws(() => simulate([], held), RangeError);
});

test('robustness (non-IID alpha 0.5, 20 participants, 20% Byzantine, 60 rounds): robust rules keep >= 0.88, FedAvg falls under model replacement', () => {
  const shards = shardDirichlet(train, 20, 0.5, 1);
  const final = (rule: string, attack: string) => {
    const res = simulate(shards, held, { rounds: 60, rule, seed: 1, attack, byzantine: 0.2 });
    assert.equal(res.byzantine.length, 4);
    return res.rows[res.rows.length - 1]!.accuracy;
  };
  const fed = final('fedavg', 'model-replacement');
  assert.ok(fed < 0.5, `fedavg under model replacement ${fed}`);
  for (const rule of ['median', 'trimmed-mean', 'multi-krum']) {
    for (const attack of ['sign-flip', 'label-flip', 'gaussian', 'model-replacement']) {
      const acc = final(rule, attack);
      assert.ok(acc >= 0.88, `${rule} vs ${attack}: ${acc}`);
    }
  }
  for (const attack of ['alie', 'ipm']) {
    const best = Math.max(...['median', 'trimmed-mean', 'multi-krum', 'centered-clip'].map((rule) => final(rule, attack)));
    assert.ok(best >= 0.85, `best rule vs ${attack}: ${best}`);
  }
});

test('detector: Byzantine sign-flippers are flagged and lose reputation; honest participants keep theirs', () => {
  const res = simulate(shardIid(train, 10, 1), held, { rounds: 5, rule: 'median', seed: 1, attack: 'sign-flip', byzantine: 0.2 });
  const byz = new Set(res.byzantine);
  assert.equal(byz.size, 2);
  for (const row of res.rows) assert.deepEqual(new Set(row.flagged), byz);
  for (const [id, rep] of res.reputation) assert.ok(byz.has(id) ? rep < 0.4 : rep === 1, `${id} ${rep}`);
  assert.throws(() => simulate(shardIid(train, 10, 1), held, { attack: 'nope', byzantine: 0.2 }), RangeError);
  assert.throws(() => simulate(shardIid(train, 10, 1), held, { attack: 'ipm' }), /byzantine > 0/);
});

test('normalQuantile inverts the normal CDF (table values)', async () => {
  const { normalQuantile } = await import('../runtime/fl/attacks.js');
  // standard normal table: Phi^-1(0.975) = 1.959964, Phi^-1(0.65) = 0.385320, Phi^-1(0.01) = -2.326348
  assert.ok(Math.abs(normalQuantile(0.975) - 1.959964) < 1e-6);
  assert.ok(Math.abs(normalQuantile(0.65) - 0.38532) < 1e-5);
  assert.ok(Math.abs(normalQuantile(0.01) + 2.326348) < 1e-6);
  assert.throws(() => normalQuantile(1), RangeError);
});

test('discrete Gaussian: exact sampler frequencies at sigma = 1 and the std at sigma = 1000', async () => {
  const { discreteGaussian } = await import('../runtime/fl/dp.js');
  const r = new Rng(3, STREAMS.noise);
  const n = 40000, counts = new Map<number, number>();
  for (let i = 0; i < n; i++) { const v = Number(discreteGaussian(r, 1n, 1n)); counts.set(v, (counts.get(v) ?? 0) + 1); }
  const norm = Array.from({ length: 41 }, (_, k) => Math.exp(-((k - 20) ** 2) / 2)).reduce((a, b) => a + b);
  for (const k of [0, 1, -1, 2, -2]) {
    const p = Math.exp(-(k * k) / 2) / norm;
    const got = (counts.get(k) ?? 0) / n;
    assert.ok(Math.abs(got - p) < 4 * Math.sqrt((p * (1 - p)) / n), `P(${k}) ${got} vs ${p}`);
  }
  let s2 = 0;
  for (let i = 0; i < 5000; i++) s2 += Number(discreteGaussian(r, 1000000n, 1n)) ** 2;
  assert.ok(Math.abs(Math.sqrt(s2 / 5000) / 1000 - 1) < 0.05);
  assert.throws(() => discreteGaussian(r, 0n, 1n), RangeError);
});

test('DP-FedAvg (user level): 1,000 participants, q = 0.1, epsilon <= 8 at delta 1e-5: accuracy >= 0.80, stops at the budget, replays', async () => {
  const { noiseMultiplierFor } = await import('../runtime/fl/accountant.js');
  const shards = shardIid(train, 1000, 1);
  const z = noiseMultiplierFor(8, 1e-5, 0.1, 100);
  const dp = { q: 0.1, noiseMultiplier: z, targetEpsilon: 8, delta: 1e-5 };
  const res = simulate(shards, held, { rounds: 100, seed: 1, clip: 1, lrDecay: 1, dp });
  const last = res.rows[res.rows.length - 1]!;
  assert.equal(res.rows.length, 100);
  assert.ok(last.epsilon! <= 8 && last.epsilon! > 7.9, `epsilon ${last.epsilon}`);
  assert.ok(last.accuracy >= 0.8, `accuracy ${last.accuracy}`);
  // the same budget with twice the rounds allowed: training stops when the next round would exceed it
  const capped = simulate(shards, held, { rounds: 200, seed: 1, clip: 1, lrDecay: 1, dp });
  assert.equal(capped.rows.length, 100);
  assert.equal(await paramsSha256(capped.params), await paramsSha256(res.params));
});

test('hierarchy: a 3-level tree gives the same bytes as flat FedAvg; bytes per participant do not grow with N', async () => {
  const { aggregateTree } = await import('../runtime/fl/hierarchy.js');
  const { runKernel } = await import('../runtime/registry.js');
  const d = 16;
  const perParticipant: number[] = [];
  for (const [n, fanin] of [[100, 5], [1000, 10], [10000, 22]] as const) {
    const rng = new Rng(n, STREAMS.attack);
    const ups: EncodedUpdate[] = Array.from({ length: n }, (_, i) => ({
      id: participantId(i), samples: 1 + rng.int(5), values: Int32Array.from({ length: d }, () => rng.int(1 << 24) - (1 << 23)),
    }));
    const { root, traffic } = aggregateTree(ups.slice().reverse(), d, fanin);
    assert.equal(traffic.levels, 3, `n ${n}: ${traffic.nodesPerLevel}`);
    const [flat] = runKernel('wsum', { x: stack(ups, d), w: new Int32Array(ups.map((u) => u.samples)) }, { n, d }) as [BigInt64Array];
    assert.deepEqual(new Uint8Array(root.sums.buffer), new Uint8Array(flat.buffer));
    assert.equal(root.count, n);
    assert.equal(root.weight, ups.reduce((a, u) => a + u.samples, 0));
    perParticipant.push(traffic.bytesPerParticipant);
  }
  assert.equal(new Set(perParticipant).size, 1);
  assert.throws(() => aggregateTree([], d, 4), RangeError);
  assert.throws(() => aggregateTree([enc('a', [1])], 1, 1), RangeError);
});

test('hierarchy in the round loop: FedAvg and DP-FedAvg through a tree give the same weights as flat; traffic per aggregator is bounded by the fan-in', async () => {
  const shards = shardIid(train, 20, 1);
  const flat = simulate(shards, held, { rounds: 4, seed: 3 });
  for (const fanin of [2, 3, 7]) {
    const tree = simulate(shards, held, { rounds: 4, seed: 3, fanin });
    assert.equal(await paramsSha256(tree.params), await paramsSha256(flat.params), `fan-in ${fanin}`);
    assert.equal(tree.rows[0]!.levels, Math.ceil(Math.log(20) / Math.log(fanin) - 1e-9));
    assert.ok(tree.rows[0]!.bytesPerAggregator < flat.rows[0]!.bytesPerAggregator);
    assert.equal(tree.rows[0]!.bytesPerParticipant, flat.rows[0]!.bytesPerParticipant);
  }
  const many = shardIid(train, 200, 1);
  const dp = { q: 0.2, noiseMultiplier: 1, targetEpsilon: 50, delta: 1e-5 };
  const dpFlat = simulate(many, held, { rounds: 3, seed: 5, clip: 1, dp });
  const dpTree = simulate(many, held, { rounds: 3, seed: 5, clip: 1, dp, fanin: 4 });
  assert.equal(await paramsSha256(dpTree.params), await paramsSha256(dpFlat.params));
  assert.equal(dpTree.rows[2]!.epsilon, dpFlat.rows[2]!.epsilon);
});

test('hierarchy: a robust rule runs at the chosen level; at the root of a one-level tree it equals flat; a poisoned bucket is dropped by name', async () => {
  const { aggregateHierarchy, treeShape } = await import('../runtime/fl/hierarchy.js');
  const shards = shardDirichlet(train, 20, 0.5, 1);
  const opts = { rounds: 3, seed: 2, rule: 'median', attack: 'sign-flip', byzantine: 0.2 } as const;
  const flat = simulate(shards, held, opts);
  const oneLevel = simulate(shards, held, { ...opts, fanin: 20, robustLevel: 1 });
  assert.equal(await paramsSha256(oneLevel.params), await paramsSha256(flat.params));
  const leaves = simulate(shards, held, { ...opts, fanin: 10, robustLevel: 1 });
  const root = simulate(shards, held, { ...opts, fanin: 10, robustLevel: 2 });
  assert.notEqual(await paramsSha256(leaves.params), await paramsSha256(root.params));
  assert.throws(() => simulate(shards, held, { ...opts, fanin: 10, robustLevel: 3 }), /robustLevel must be an integer in \[1, 2\]/);
  assert.throws(() => simulate(shards, held, { ...opts, robustLevel: 1 }), /robustLevel needs fanin/);
  assert.deepEqual(treeShape(10000, 22), [455, 21, 1]);

  // 16 participants, fan-in 4 -> 4 buckets, Multi-Krum (f = 1 of 4) at level 2: the bucket holding a
  // huge update is rejected as a bucket, and its participants are not among the accepted.
  const d = 6, rng = new Rng(9, STREAMS.attack);
  const ups: EncodedUpdate[] = Array.from({ length: 16 }, (_, i) => ({ id: participantId(i), samples: 1 + (i % 3), values: Int32Array.from({ length: d }, () => rng.int(200) - 100) }));
  ups[7]!.values.fill(1 << 20);
  const agg = aggregateHierarchy(new MultiKrum(0.25), 1, ups, [{ id: 'x', reason: 'late' }], { clip: 1, bits: 20 }, d, { fanin: 4, robustLevel: 2 });
  assert.deepEqual(agg.rejected.map((f) => f.id), ['x', 'a1.0001']);
  assert.deepEqual(agg.accepted, ups.map((u) => u.id).filter((id) => !['p0004', 'p0005', 'p0006', 'p0007'].includes(id)));
  assert.deepEqual(agg.traffic.nodesPerLevel, [4, 1]);
  assert.ok(agg.update.every((v) => Math.abs(v) < 1e-3));
});

test('scale round (the bench\'s, small): 1,000 updates through a streaming 3-level tree in a child process; the root equals an independent f64 sum', async () => {
  const { scaleInChild } = await import('../bench/fl.js');
  const lines: string[] = [];
  const res = await scaleInChild(1000, 64, 10, (l) => lines.push(l));
  assert.deepEqual(res.nodesPerLevel, [100, 10, 1]);
  assert.equal(res.rootMatchesF64, true);
  assert.equal(res.bytesPerParticipant, 4 * 64 + 16);
  assert.ok(res.peakRssBytes > 0 && res.aggregateMs > 0 && res.totalMs >= res.aggregateMs);
});

test('learning curve SVG: one point per round on each line, the title escaped, empty input rejected', async () => {
  const { learningCurveSvg } = await import('../runtime/fl/plot.js');
  const rows = Array.from({ length: 7 }, (_, i) => ({ round: i + 1, accuracy: i / 7, loss: 2 - i / 4, epsilon: i * 0.5 }));
  const svg = learningCurveSvg(rows, 'a < b & "c"');
  assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
  assert.ok(svg.includes('a &lt; b &amp; &quot;c&quot;'));
  const lines = [...svg.matchAll(/points="([^"]*)"/g)].map((m) => m[1]!.split(' '));
  assert.deepEqual(lines.map((l) => l.length), [7, 7]);
  assert.ok(lines.flat().every((p) => /^\d+\.\d,\d+\.\d$/.test(p)));
  assert.ok(svg.includes('ε 3.00'));
  assert.throws(() => learningCurveSvg([], 't'), RangeError);
});

test('determinism: local training on the worker pool (shared and transfer memory) gives the same final weights as in-process', async () => {
  const { createThreadPool } = await import('../host-node/pool.js');
  const { simulateWith } = await import('../runtime/fl/simulate.js');
  const shards = shardDirichlet(train, 20, 0.5, 4);
  const opts = { rounds: 6, seed: 4, rule: 'multi-krum', attack: 'label-flip', byzantine: 0.2 } as const;
  const want = await paramsSha256(simulate(shards, held, opts).params);
  for (const mode of ['shared', 'transfer'] as const) {
    const pool = await createThreadPool({ threads: 3, mode });
    try {
      const res = await simulateWith((jobs) => pool.trainLocal(jobs), shards, held, opts);
      assert.equal(await paramsSha256(res.params), want, mode);
      assert.equal(res.rows.length, 6);
    } finally {
      pool.dispose();
    }
  }
  await assert.rejects(simulateWith(async () => [], shards, held, opts), /the trainer returned 0 updates for 20 jobs/);
});

test('federated evaluation: participants evaluate the new model on their own data; the strategy combines it (default: example-weighted mean); training is unchanged', async () => {
  const { weightedEvaluate } = await import('../runtime/fl/strategy.js');
  const shards = shardIid(train, 10, 2);
  const plain = simulate(shards, held, { rounds: 3, seed: 2 });
  const fed = simulate(shards, held, { rounds: 3, seed: 2, federatedEvaluation: true });
  assert.equal(await paramsSha256(fed.params), await paramsSha256(plain.params));
  const f = fed.rows[2]!.federated!;
  assert.equal(f.participants, 10);
  assert.equal(f.examples, train.n);
  const all = fed.model.evaluate(fed.params, train.x, train.y);
  assert.ok(Math.abs(f.accuracy - all.accuracy) < 1e-12, `${f.accuracy} vs ${all.accuracy}`);
  assert.equal(plain.rows[2]!.federated, undefined);
  assert.deepEqual(weightedEvaluate(1, [{ id: 'b', examples: 3, loss: 1, accuracy: 1 }, { id: 'a', examples: 1, loss: 5, accuracy: 0 }]), { loss: 2, accuracy: 0.75, examples: 4, participants: 2 });
  const seen: number[] = [];
  const custom = Object.assign(new FedAvg(), { aggregateEvaluate: (round: number) => { seen.push(round); return { loss: 0, accuracy: 1, examples: 0, participants: 0 }; } });
  const res = simulate(shards, held, { rounds: 2, seed: 2, rule: custom, federatedEvaluation: true });
  assert.deepEqual(seen, [1, 2]);
  assert.equal(res.rows[1]!.federated!.accuracy, 1);
});

test('update payload: little-endian layout, decoded into a given row, range and norm refusals name the field', async () => {
  const { decodeUpdatePayload, encodeUpdatePayload, PayloadError, UPDATE_PAYLOAD_HEADER } = await import('../runtime/fl/protocol.js');
  const enc = { clip: 1, bits: 20 };
  const d = 257;
  const values = new Int32Array(d).map((_, i) => ((i * 7919) % 2001) - 1000);
  values[3] = -(2 ** 19);
  const model = new Uint8Array(32).map((_, i) => i);
  const bytes = encodeUpdatePayload({ model, samples: 42, values });
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  assert.equal(dv.getUint32(32), 42);
  assert.equal(dv.getUint32(36), d);
  for (let i = 0; i < d; i++) assert.equal(dv.getInt32(UPDATE_PAYLOAD_HEADER + 4 * i, true), values[i], `value ${i} as i32 LE`);
  // Into a row of a bigger matrix, at an offset: the other rows are untouched.
  const matrix = new Int32Array(3 * d).fill(7);
  const row = matrix.subarray(d, 2 * d);
  const u = decodeUpdatePayload(bytes, d, enc, 100, row);
  assert.equal(u.values, row);
  assert.deepEqual(Array.from(row), Array.from(values));
  assert.ok(matrix.subarray(0, d).every((v) => v === 7) && matrix.subarray(2 * d).every((v) => v === 7));
  assert.deepEqual(u.model, model);
  assert.equal(u.samples, 42);
  // The payload may start at any byte offset (inside an envelope).
  const shifted = new Uint8Array(bytes.length + 3);
  shifted.set(bytes, 3);
  assert.deepEqual(Array.from(decodeUpdatePayload(shifted.subarray(3), d, enc, 100).values), Array.from(values));
  assert.throws(() => decodeUpdatePayload(bytes, d, enc, 100, new Int32Array(d - 1)), TypeError);
  const big = values.slice();
  big[200] = 2 ** 20 + 1;
  assert.throws(() => decodeUpdatePayload(encodeUpdatePayload({ model, samples: 1, values: big }), d, enc, 100),
    (e: unknown) => e instanceof PayloadError && e.field === 'values[200]' && e.code === 'range');
  const loud = new Int32Array(d).fill(2 ** 20);
  assert.throws(() => decodeUpdatePayload(encodeUpdatePayload({ model, samples: 1, values: loud }), d, enc, 100),
    (e: unknown) => e instanceof PayloadError && e.field === 'values' && e.code === 'norm');
});

test('stack: consecutive rows of one buffer are used as they are; anything else is copied; the rules give the same bytes either way', () => {
  const n = 5, d = 33;
  const matrix = new Int32Array(n * d).map((_, i) => ((i * 104729) % 4001) - 2000);
  const rows: EncodedUpdate[] = Array.from({ length: n }, (_, i) => ({ id: participantId(i), values: matrix.subarray(i * d, (i + 1) * d), samples: 10 + i }));
  const copies: EncodedUpdate[] = rows.map((r) => ({ ...r, values: r.values.slice() }));
  const view = stack(rows, d);
  assert.equal(view.buffer, matrix.buffer);
  assert.deepEqual(view, matrix);
  const copied = stack(copies, d);
  assert.notEqual(copied.buffer, matrix.buffer);
  assert.deepEqual(copied, matrix);
  // Out of order or with a gap: copied.
  assert.notEqual(stack([rows[1]!, rows[0]!], d).buffer, matrix.buffer);
  assert.deepEqual(Array.from(stack([rows[0]!, rows[2]!], d)), [...rows[0]!.values, ...rows[2]!.values]);
  const enc = { clip: 1, bits: 16 };
  for (const s of [new FedAvg(), new Median(), new TrimmedMean(0.2), new MultiKrum(0.2)]) {
    const a = s.aggregateRound(1, rows, [], enc, d), b = s.aggregateRound(1, copies, [], enc, d);
    assert.deepEqual(a.update, b.update, s.name);
    assert.deepEqual(a.accepted, b.accepted, s.name);
  }
  assert.deepEqual(matrix, stack(copies, d), 'the rules leave the shared matrix as it was');
});
