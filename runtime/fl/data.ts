/**
 * Data sets for federated learning: parsing, a seeded train/test split, and participant shards (IID, or
 * non-IID by label skew with Dirichlet(alpha) proportions). Host-agnostic: hosts load the bytes
 * (host-node/data.ts reads the shipped digits file).
 * @module
 */
import { checkInt } from '../errors.js';
import { Rng, STREAMS } from './rng.js';

/** Examples as rows: x is n x features (f32), y the labels in [0, classes). */
export interface Dataset {
  x: Float32Array;
  y: Int32Array;
  n: number;
  features: number;
  classes: number;
}

/**
 * Parses CSV rows of `features` numbers then an integer label (the digits format: 64 pixels 0..16, then
 * 0..9). Pixels are divided by `scale` (16 for digits) so inputs lie in [0, 1].
 * @throws RangeError naming the line for a malformed row.
 */
export function parseCsvDataset(text: string, features: number, classes: number, scale = 1): Dataset {
  if (typeof text !== 'string') throw new TypeError('parseCsvDataset: text must be a string');
  const lines = text.split('\n').filter((l) => l.trim() !== '');
  const n = lines.length;
  const x = new Float32Array(n * features), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const cells = lines[i]!.split(',');
    if (cells.length !== features + 1) throw new RangeError(`parseCsvDataset: line ${i + 1} has ${cells.length} fields, expected ${features + 1}`);
    for (let j = 0; j < features; j++) {
      const v = Number(cells[j]);
      if (!Number.isFinite(v)) throw new RangeError(`parseCsvDataset: line ${i + 1} field ${j + 1} is not a number`);
      x[i * features + j] = v / scale;
    }
    const label = Number(cells[features]);
    if (!Number.isInteger(label) || label < 0 || label >= classes) throw new RangeError(`parseCsvDataset: line ${i + 1} label ${cells[features]} is outside [0, ${classes})`);
    y[i] = label;
  }
  return { x, y, n, features, classes };
}

/** The shipped digits file (data/digits.csv.gz): its SHA-256 and how to read it. */
export const DIGITS = { file: 'digits.csv.gz', sha256: '46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a', features: 64, classes: 10, scale: 16 } as const;

/** Parses the digits CSV (64 pixels 0..16, then the label) with pixels scaled to [0, 1]. */
export function parseDigits(csv: string): Dataset {
  return parseCsvDataset(csv, DIGITS.features, DIGITS.classes, DIGITS.scale);
}

/** The rows `idx` of a data set, in that order. */
export function subset(ds: Dataset, idx: ArrayLike<number>): Dataset {
  const f = ds.features, n = idx.length;
  const x = new Float32Array(n * f), y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const r = idx[i]!;
    x.set(ds.x.subarray(r * f, (r + 1) * f), i * f);
    y[i] = ds.y[r]!;
  }
  return { x, y, n, features: f, classes: ds.classes };
}

/** A seeded split: a shuffled `testFraction` of the rows is held out (rounded down). */
export function trainTestSplit(ds: Dataset, testFraction: number, seed: number | bigint): { train: Dataset; test: Dataset } {
  if (typeof testFraction !== 'number' || !(testFraction > 0 && testFraction < 1)) throw new RangeError(`trainTestSplit: testFraction must be in (0, 1), got ${testFraction}`);
  const order = Array.from({ length: ds.n }, (_, i) => i);
  new Rng(seed, STREAMS.split).shuffle(order);
  const nTest = Math.floor(ds.n * testFraction);
  return { test: subset(ds, order.slice(0, nTest)), train: subset(ds, order.slice(nTest)) };
}

/** IID shards: a seeded shuffle dealt round-robin, so shard sizes differ by at most one. */
export function shardIid(ds: Dataset, parts: number, seed: number | bigint): Dataset[] {
  checkInt('shardIid', 'parts', parts, 1, ds.n);
  const order = Array.from({ length: ds.n }, (_, i) => i);
  new Rng(seed, STREAMS.shard).shuffle(order);
  const idx: number[][] = Array.from({ length: parts }, () => []);
  order.forEach((r, i) => idx[i % parts]!.push(r));
  return idx.map((s) => subset(ds, s));
}

/**
 * Non-IID shards by label skew: for each class, proportions over participants are drawn from
 * Dirichlet(alpha) and that class's (shuffled) examples are cut accordingly. Small alpha: each participant
 * sees few classes. Every participant is guaranteed at least one example (the draw is repeated, with the
 * next draws of the same stream, until none is empty; at most 1000 times).
 */
export function shardDirichlet(ds: Dataset, parts: number, alpha: number, seed: number | bigint): Dataset[] {
  checkInt('shardDirichlet', 'parts', parts, 1, ds.n);
  if (typeof alpha !== 'number' || !(alpha > 0) || !Number.isFinite(alpha)) throw new RangeError(`shardDirichlet: alpha must be a finite number > 0, got ${alpha}`);
  const rng = new Rng(seed, STREAMS.shard);
  const byClass: number[][] = Array.from({ length: ds.classes }, () => []);
  for (let i = 0; i < ds.n; i++) byClass[ds.y[i]!]!.push(i);
  for (let attempt = 0; attempt < 1000; attempt++) {
    const idx: number[][] = Array.from({ length: parts }, () => []);
    for (const rows of byClass) {
      const order = rows.slice();
      rng.shuffle(order);
      const g = Array.from({ length: parts }, () => rng.gamma(alpha));
      const total = g.reduce((a, b) => a + b, 0);
      let start = 0, acc = 0;
      for (let p = 0; p < parts; p++) {
        acc += g[p]!;
        const end = p === parts - 1 ? order.length : Math.floor((acc / total) * order.length);
        for (let k = start; k < end; k++) idx[p]!.push(order[k]!);
        start = Math.max(start, end);
      }
    }
    if (idx.every((s) => s.length > 0)) return idx.map((s) => subset(ds, s.sort((a, b) => a - b)));
  }
  throw new RangeError(`shardDirichlet: could not give each of ${parts} participants an example with alpha = ${alpha}; use fewer participants or a larger alpha`);
}
