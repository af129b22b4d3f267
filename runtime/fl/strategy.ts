/**
 * Aggregation strategies (after Flower's `Strategy`): each round's updates arrive fixed-point encoded
 * (clipped to L2 norm `clip`, scaled by 2^bits / clip, stochastically rounded) and every rule runs on those
 * integers through the kernels, so an aggregate is exact and the same on every host. Failures (dropped or
 * rejected participants) are explicit inputs and outputs, never swallowed.
 * @module
 */
import { checkInt, checkNumber } from '../errors.js';
import { runKernel, type RunOptions } from '../registry.js';
import { pow2 } from '../reference/math.js';
import { Rng } from './rng.js';

/** Fixed-point parameters shared by every participant of a task. */
export interface Encoding {
  /** L2 clip bound C of one update. */
  clip: number;
  /** Scale: an update of norm C maps to 2^bits; each coordinate lies in [-2^bits, 2^bits]. */
  bits: number;
}

/** One participant's encoded update for a round. */
export interface EncodedUpdate {
  id: string;
  values: Int32Array;
  /** Local training examples (the FedAvg weight). */
  samples: number;
}

/** A participant that did not count this round, and why. */
export interface Failure {
  id: string;
  reason: string;
}

/** What a rule returns: the aggregate update (f32), who counted, who did not. */
export interface AggregateResult {
  update: Float32Array;
  accepted: string[];
  rejected: Failure[];
}

/** A rule's aggregate kept at the encoding's scale (the rounded mean), to travel further up an aggregator tree. */
export interface EncodedAggregate {
  values: Int32Array;
  /** Weight (examples) of the inputs that counted. */
  weight: number;
  accepted: string[];
  rejected: Failure[];
}

/** A federated strategy: picks participants, and turns encoded updates into one model update. */
export interface Strategy {
  readonly name: string;
  /** Participants for round `round` out of `available` (default: all). */
  configureRound(round: number, available: string[], rng: Rng): string[];
  /** Aggregates one round. `failures` are the participants already known not to count. */
  aggregateRound(round: number, results: EncodedUpdate[], failures: Failure[], enc: Encoding, d: number): AggregateResult;
  /**
   * The same rule with its result kept encoded (the rounded mean): how an aggregator below the root of a
   * tree applies a robust rule. Linear strategies do not need it: their exact sums compose instead.
   */
  aggregateEncoded?(round: number, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate;
  /** Combines participants' evaluations of the global model on their own data (default: {@link weightedEvaluate}). */
  aggregateEvaluate?(round: number, results: EvaluateResult[], failures: Failure[]): EvaluateAggregate;
}

/** One participant's evaluation of the global model on its own data. */
export interface EvaluateResult {
  id: string;
  examples: number;
  loss: number;
  accuracy: number;
}

/** A round's federated evaluation. */
export interface EvaluateAggregate {
  /** Example-weighted means (NaN when nobody evaluated). */
  loss: number;
  accuracy: number;
  examples: number;
  participants: number;
}

/** Example-weighted mean of the participants' loss and accuracy, in id order (Flower's default). */
export function weightedEvaluate(_round: number, results: EvaluateResult[], _failures: Failure[] = []): EvaluateAggregate {
  const rs = ordered(results);
  let examples = 0, loss = 0, accuracy = 0;
  for (const r of rs) {
    checkInt('weightedEvaluate', 'examples', r.examples, 0, Number.MAX_SAFE_INTEGER);
    examples += r.examples;
    loss += r.loss * r.examples;
    accuracy += r.accuracy * r.examples;
  }
  return { loss: loss / examples, accuracy: accuracy / examples, examples, participants: rs.length };
}

/**
 * A strategy whose aggregate is a function of the exact sum of the updates (FedAvg, DP-FedAvg): its
 * integer partial sums compose exactly up an aggregator tree, and the root releases the result.
 */
export interface LinearStrategy extends Strategy {
  /** Weight of each update in the sum: its examples (FedAvg) or 1 (DP-FedAvg: bounded sensitivity). */
  readonly weighting: 'samples' | 'unit';
  /** The aggregate from the wrapping i64 sum of the accepted updates (their weights totalling `weight`). */
  release(sum: BigInt64Array, weight: number, accepted: string[], failures: Failure[], enc: Encoding, d: number): AggregateResult;
}

/** Whether a strategy aggregates through exact sums ({@link LinearStrategy}). */
export function isLinear(s: Strategy): s is LinearStrategy {
  return typeof (s as Partial<LinearStrategy>).release === 'function';
}

/** The weights a linear strategy gives the updates. */
export function weightsOf(results: EncodedUpdate[], weighting: 'samples' | 'unit'): Int32Array {
  return new Int32Array(results.map((r) => (weighting === 'samples' ? r.samples : 1)));
}

/** Exact wrapping i64 weighted sum of updates (the `wsum` kernel). */
export function weightedSum(results: EncodedUpdate[], weights: Int32Array, d: number): BigInt64Array {
  if (!results.length) return new BigInt64Array(d);
  return (runKernel('wsum', { x: stack(results, d), w: weights }, { n: results.length, d }) as [BigInt64Array])[0];
}

/** round(sum / weight) per coordinate, exactly (halves away from zero), as i32: a bucket's mean update. */
export function meanI32(sums: BigInt64Array, weight: number): Int32Array {
  checkInt('meanI32', 'weight', weight, 1, Number.MAX_SAFE_INTEGER);
  const w = BigInt(weight), out = new Int32Array(sums.length);
  for (let i = 0; i < sums.length; i++) {
    const s = sums[i]!;
    const q = s >= 0n ? (2n * s + w) / (2n * w) : -((-2n * s + w) / (2n * w));
    if (q > 2147483647n || q < -2147483648n) throw new RangeError(`meanI32: mean ${q} at ${i} exceeds i32`);
    out[i] = Number(q);
  }
  return out;
}

/**
 * The largest `bits` such that a sum of `n` updates cannot overflow: each coordinate is at most 2^bits in
 * magnitude, so the wrapping i32 sum of n is exact when n * 2^bits < 2^31 (n up to 2^29 with bits >= 1).
 */
export function bitsFor(n: number, maxBits = 24): number {
  checkInt('bitsFor', 'n', n, 1, 2 ** 29);
  let b = Math.min(maxBits, 30);
  while (b > 1 && n * pow2(b) >= 2 ** 31) b--;
  return b;
}

/** Encodes one f32 update (draws at `offset` of the task's encode stream). */
export function encodeUpdate(update: Float32Array, enc: Encoding, seed: number | bigint, stream: number, offset: number, kernel: RunOptions = {}): Int32Array {
  return runKernel('encode', { x: update }, { clip: enc.clip, bits: enc.bits, seed, stream, offset }, kernel)[0] as Int32Array;
}

/** out_i = fround(v_i * ((clip * 2^-bits) / divisor)) for exact i64 sums (|v| < 2^53, checked). */
export function decodeI64(v: BigInt64Array, enc: Encoding, divisor: number): Float32Array {
  const factor = (enc.clip * pow2(-enc.bits)) / divisor;
  const out = new Float32Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i]!;
    if (x > 9007199254740991n || x < -9007199254740991n) throw new RangeError(`decodeI64: sum ${x} at ${i} exceeds 2^53; lower the encoding bits`);
    out[i] = Number(x) * factor;
  }
  return out;
}

/** Decodes an i32 vector that stands for `divisor` summed updates. */
export function decodeI32(v: Int32Array, enc: Encoding, divisor = 1): Float32Array {
  return runKernel('decode', { values: v }, { clip: enc.clip, bits: enc.bits, divisor })[0] as Float32Array;
}

/** sum_i (x_i - v_i)^2 in f64, index order: deterministic on every host, exact while below 2^53. */
export function sqDistF64(x: Int32Array, v: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) { const t = x[i]! - v[i]!; s += t * t; }
  return s;
}

/**
 * Stacks updates row by row into one n x d matrix. When the updates already are consecutive rows of one
 * buffer (the coordinator decodes a round's updates into one matrix), that part of the buffer is returned
 * as it is, without a copy; callers only read it.
 */
export function stack(results: EncodedUpdate[], d: number): Int32Array {
  const first = results[0]?.values;
  if (first && results.every((r, i) => r.values.length === d && r.values.buffer === first.buffer && r.values.byteOffset === first.byteOffset + 4 * d * i)) {
    return new Int32Array(first.buffer, first.byteOffset, results.length * d);
  }
  const x = new Int32Array(results.length * d);
  results.forEach((r, i) => x.set(r.values, i * d));
  return x;
}

/** Sorted by id, so a result does not depend on arrival order. */
export function ordered<T extends { id: string }>(results: T[]): T[] {
  return results.slice().sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0));
}

function zeros(d: number, failures: Failure[]): AggregateResult {
  return { update: new Float32Array(d), accepted: [], rejected: failures.slice() };
}

const allParticipants = (_round: number, available: string[]): string[] => available.slice();

/** FedAvg: the sample-weighted mean (`fedavg`); weighted i64 sums, exact. */
export class FedAvg implements LinearStrategy {
  readonly name = 'fedavg';
  readonly weighting = 'samples';
  configureRound = allParticipants;
  aggregateRound(_round: number, results: EncodedUpdate[], failures: Failure[], enc: Encoding, d: number): AggregateResult {
    const rs = ordered(results);
    const w = weightsOf(rs, 'samples');
    return this.release(weightedSum(rs, w, d), w.reduce((a, b) => a + b, 0), rs.map((r) => r.id), failures, enc, d);
  }
  release(sum: BigInt64Array, weight: number, accepted: string[], failures: Failure[], enc: Encoding, d: number): AggregateResult {
    if (!accepted.length) return zeros(d, failures);
    return { update: decodeI64(sum, enc, weight), accepted, rejected: failures.slice() };
  }
}

/**
 * A rule whose result is one encoded vector (median, trimmed mean, centered clipping): the round's update is
 * that vector decoded, and inside a tree the vector itself travels up.
 */
abstract class EncodedRule implements Strategy {
  abstract readonly name: string;
  configureRound = allParticipants;
  abstract aggregateEncoded(round: number, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate;
  aggregateRound(round: number, results: EncodedUpdate[], failures: Failure[], enc: Encoding, d: number): AggregateResult {
    const a = this.aggregateEncoded(round, results, failures, d);
    return { update: decodeI32(a.values, enc), accepted: a.accepted, rejected: a.rejected };
  }
}

/** What every input counted for: all accepted, their whole weight (zeros when there were none). */
function allCounted(rs: EncodedUpdate[], values: Int32Array, failures: Failure[]): EncodedAggregate {
  return { values, weight: rs.reduce((a, r) => a + r.samples, 0), accepted: rs.map((r) => r.id), rejected: failures.slice() };
}

/** A coordinate-wise kernel rule (median, trimmed mean) over the updates in id order. */
function coordinateRule(op: string, attrs: (n: number) => Record<string, number>, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate {
  if (!results.length) return allCounted([], new Int32Array(d), failures);
  const rs = ordered(results);
  const [m] = runKernel(op, { x: stack(rs, d) }, { n: rs.length, d, ...attrs(rs.length) }) as [Int32Array];
  return allCounted(rs, m, failures);
}

/** Coordinate-wise median (`median`). */
export class Median extends EncodedRule {
  readonly name = 'median';
  aggregateEncoded(_round: number, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate {
    return coordinateRule('median', () => ({}), results, failures, d);
  }
}

/** Coordinate-wise trimmed mean (`trimmed-mean`): drops floor(beta n) values at each end. */
export class TrimmedMean extends EncodedRule {
  readonly name = 'trimmed-mean';
  constructor(readonly beta = 0.2) {
    super();
    checkNumber('TrimmedMean', 'beta', beta, false);
    if (!(beta >= 0 && beta < 0.5)) throw new RangeError(`TrimmedMean: beta must be in [0, 0.5), got ${beta}`);
  }
  aggregateEncoded(_round: number, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate {
    return coordinateRule('trimmedMean', (n) => ({ trim: Math.min(Math.floor(this.beta * n), (n - 1) >> 1) }), results, failures, d);
  }
}

/**
 * Multi-Krum (`multi-krum`, Blanchard et al. 2017): with f assumed Byzantine, each update's score is the
 * sum of its n - f - 2 smallest squared distances to the others (exact i64 distances); the m = n - f
 * lowest-scoring updates are averaged (sample-weighted), the rest are rejected with their score.
 */
export class MultiKrum implements Strategy {
  readonly name = 'multi-krum';
  configureRound = allParticipants;
  /** @param byzantineFraction the assumed Byzantine fraction f / n. */
  constructor(readonly byzantineFraction = 0.2) {
    checkNumber('MultiKrum', 'byzantineFraction', byzantineFraction, false);
    if (!(byzantineFraction >= 0 && byzantineFraction < 0.5)) throw new RangeError(`MultiKrum: byzantineFraction must be in [0, 0.5), got ${byzantineFraction}`);
  }
  /** Krum scores (sum of the n - f - 2 nearest squared distances), in `rs` order. */
  scores(rs: EncodedUpdate[], d: number, f: number): bigint[] {
    const n = rs.length;
    const [dist] = runKernel('pairwiseSqDist', { x: stack(rs, d) }, { n, d }) as [BigInt64Array];
    const k = Math.max(1, n - f - 2);
    // One row buffer, sorted natively (a BigInt64Array sorts by signed value, as the comparison did).
    const row = new BigInt64Array(n - 1);
    return rs.map((_, i) => {
      let m = 0;
      for (let q = 0; q < n; q++) if (q !== i) row[m++] = dist[i * n + q]!;
      row.sort();
      let sum = 0n;
      for (let j = 0; j < k && j < m; j++) sum += row[j]!;
      return sum;
    });
  }
  /** The updates kept (the n - f lowest scores; all of them below 3) and the rejected ones with their score. */
  select(results: EncodedUpdate[], failures: Failure[], d: number): { chosen: EncodedUpdate[]; rejected: Failure[] } {
    const rs = ordered(results);
    if (rs.length < 3) return { chosen: rs, rejected: failures.slice() };
    const n = rs.length, f = Math.floor(this.byzantineFraction * n);
    const s = this.scores(rs, d, f);
    const rank = rs.map((_, i) => i).sort((a, b) => (s[a]! < s[b]! ? -1 : s[a]! > s[b]! ? 1 : a - b));
    const keep = new Set(rank.slice(0, n - f));
    const rejected = failures.concat(rank.slice(n - f).map((i) => ({ id: rs[i]!.id, reason: `multi-krum: score ${s[i]} among the ${f} highest` })));
    return { chosen: rs.filter((_, i) => keep.has(i)), rejected };
  }
  aggregateRound(round: number, results: EncodedUpdate[], failures: Failure[], enc: Encoding, d: number): AggregateResult {
    const { chosen, rejected } = this.select(results, failures, d);
    const avg = new FedAvg().aggregateRound(round, chosen, [], enc, d);
    return { update: avg.update, accepted: avg.accepted, rejected };
  }
  aggregateEncoded(_round: number, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate {
    const { chosen, rejected } = this.select(results, failures, d);
    const w = weightsOf(chosen, 'samples'), weight = w.reduce((a, b) => a + b, 0);
    const values = chosen.length ? meanI32(weightedSum(chosen, w, d), weight) : new Int32Array(d);
    return { values, weight, accepted: chosen.map((r) => r.id), rejected };
  }
}

/**
 * Centered clipping (`centered-clip`, Karimireddy, He and Jaggi 2021): starting from the coordinate-wise
 * median v, `iterations` times v <- v + (1/n) sum_i clip_tau(x_i - v), with clip_tau scaling a difference
 * down to L2 norm tau, and tau the median of the distances |x_i - v| at the start. Runs on the integer
 * values in f64 in a fixed order (deterministic, not exact: the result is rounded to integers once, at
 * the end).
 */
export class CenteredClip extends EncodedRule {
  readonly name = 'centered-clip';
  constructor(readonly iterations = 3) {
    super();
    checkInt('CenteredClip', 'iterations', iterations, 1, 100);
  }
  aggregateEncoded(_round: number, results: EncodedUpdate[], failures: Failure[], d: number): EncodedAggregate {
    if (!results.length) return allCounted([], new Int32Array(d), failures);
    const rs = ordered(results);
    const n = rs.length;
    const [med] = runKernel('median', { x: stack(rs, d) }, { n, d }) as [Int32Array];
    const v = Float64Array.from(med);
    const dist = (x: Int32Array): number => Math.sqrt(sqDistF64(x, v));
    const d0 = rs.map((r) => dist(r.values)).sort((a, b) => a - b);
    const tau = n % 2 ? d0[n >> 1]! : (d0[n / 2 - 1]! + d0[n / 2]!) / 2;
    for (let it = 0; it < this.iterations; it++) {
      const step = new Float64Array(d);
      for (const r of rs) {
        const norm = dist(r.values);
        const f = norm > tau ? tau / norm : 1;
        for (let i = 0; i < d; i++) step[i] += (r.values[i]! - v[i]!) * f;
      }
      for (let i = 0; i < d; i++) v[i] += step[i]! / n;
    }
    const out = new Int32Array(d);
    for (let i = 0; i < d; i++) out[i] = Math.round(v[i]!);
    return allCounted(rs, out, failures);
  }
}

/** Rule names as the CLI spells them. */
export const RULES = ['fedavg', 'median', 'trimmed-mean', 'multi-krum', 'centered-clip'] as const;
export type RuleName = (typeof RULES)[number];

/** A strategy by CLI name. */
export function strategyByName(name: string, byzantineFraction = 0.2): Strategy {
  switch (name) {
    case 'fedavg': return new FedAvg();
    case 'median': return new Median();
    case 'trimmed-mean': return new TrimmedMean(Math.max(0.1, Math.min(0.45, byzantineFraction)));
    case 'multi-krum': return new MultiKrum(byzantineFraction);
    case 'centered-clip': return new CenteredClip();
    default: throw new RangeError(`unknown rule '${name}' (known: ${RULES.join(', ')})`);
  }
}
