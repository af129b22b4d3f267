/**
 * User-level differential privacy for federated averaging (DP-FedAvg, McMahan et al. 2018) on the integer
 * aggregate, with the exact discrete Gaussian sampler of Canonne, Kamath and Steinke (NeurIPS 2020).
 *
 * Mechanism: each round every participant is included independently with probability q (Poisson
 * sampling); each included update is clipped to L2 norm C and encoded to integers with scale 2^bits / C
 * (so its integer L2 norm is at most 2^bits + sqrt(d) after stochastic rounding: the sensitivity Delta);
 * the integer sum gets independent discrete Gaussian noise N_Z(0, (z Delta)^2) per coordinate; the noisy
 * sum is divided by the expected count q N. What it protects: whether any one participant (all of its
 * data) took part, at (epsilon, delta) as the RDP accountant reports for the Poisson-sampled Gaussian with
 * noise multiplier z. The discrete Gaussian's RDP is at most the continuous one's (Canonne et al. Thm 4),
 * so the accountant's bound holds. Not protected: a malicious aggregator that sees individual updates
 * (that needs secure aggregation, planned), and timing or participation side channels.
 * @module
 */
import { checkInt, checkNumber } from '../errors.js';
import { pow2 } from '../reference/math.js';
import { RdpAccountant } from './accountant.js';
import type { Rng } from './rng.js';
import { decodeI32, ordered, weightedSum, weightsOf, type AggregateResult, type EncodedUpdate, type Encoding, type Failure, type LinearStrategy } from './strategy.js';

/** Uniform BigInt in [0, m), m >= 1 (rejection on 32-bit words). */
function uniformBig(rng: Rng, m: bigint): bigint {
  if (m <= 4294967296n) return BigInt(rng.int(Number(m)));
  const words = Math.ceil(m.toString(2).length / 32);
  const span = 1n << BigInt(32 * words);
  const limit = span - (span % m);
  for (;;) {
    let r = 0n;
    for (let i = 0; i < words; i++) r = (r << 32n) | BigInt(rng.u32());
    if (r < limit) return r % m;
  }
}

/** Bernoulli(n / d) exactly. */
function bernoulli(rng: Rng, n: bigint, d: bigint): boolean {
  return uniformBig(rng, d) < n;
}

/** Bernoulli(exp(-n / d)) exactly, n / d >= 0 (Canonne et al. Algorithm 1). */
function bernoulliExp(rng: Rng, n: bigint, d: bigint): boolean {
  while (n > d) {
    if (!bernoulliExp(rng, 1n, 1n)) return false;
    n -= d;
  }
  let k = 1n;
  while (bernoulli(rng, n, d * k)) k++;
  return k % 2n === 1n;
}

/**
 * One exact draw from the discrete Gaussian N_Z(0, sigma^2) with sigma^2 = num / den (Canonne et al.
 * Algorithm 3): discrete Laplace proposals, accepted with probability exp(-(|Z| - sigma^2/t)^2 / (2 sigma^2)).
 */
export function discreteGaussian(rng: Rng, num: bigint, den: bigint): bigint {
  if (num <= 0n || den <= 0n) throw new RangeError('discreteGaussian: sigma^2 must be > 0');
  // t = floor(sigma) + 1: estimated in doubles, then made exact
  let t = BigInt(Math.floor(Math.sqrt(Number(num) / Number(den)))) + 1n;
  while (t > 1n && (t - 1n) * (t - 1n) * den > num) t--;
  while (t * t * den <= num) t++;
  for (;;) {
    const u = uniformBig(rng, t);
    if (!bernoulliExp(rng, u, t)) continue;
    let v = 0n;
    while (bernoulliExp(rng, 1n, 1n)) v++;
    const x = u + t * v;
    const neg = rng.u32() & 1;
    if (neg && x === 0n) continue;
    const z = neg ? -x : x;
    // gamma = (|z| - sigma^2/t)^2 / (2 sigma^2) = (|z| t den - num)^2 / (2 num t^2 den)
    const a = x * t * den - num;
    if (bernoulliExp(rng, a * a, 2n * num * t * t * den)) return z;
  }
}

/** A double as a fraction num / den with den a power of two: exact when its binary expansion ends by 2^-60. */
function asFraction(x: number): [bigint, bigint] {
  let den = 1n, v = x;
  while (!Number.isInteger(v) && den < 1n << 60n) { v *= 2; den *= 2n; }
  return [BigInt(Math.round(v)), den];
}

/** DP-FedAvg settings. */
export interface DpOptions {
  /** Poisson sampling rate q of participants per round. */
  q: number;
  /** Noise multiplier z (noise std / sensitivity). */
  noiseMultiplier: number;
  /** Stop when the next round would push epsilon past this. */
  targetEpsilon: number;
  delta: number;
}

/** DP-FedAvg: Poisson sampling, integer sum plus discrete Gaussian noise, fixed denominator q N. */
export class DpFedAvg implements LinearStrategy {
  readonly name = 'dp-fedavg';
  readonly weighting = 'unit';
  readonly accountant = new RdpAccountant();
  /**
   * Participants available when the round was sampled (the release divides by q times this). Set by
   * configureRound; a coordinator resuming a round it sampled before a restart sets it back.
   */
  population = 0;

  constructor(readonly opts: DpOptions, private readonly noiseRng: Rng) {
    checkNumber('DpFedAvg', 'q', opts.q, true);
    if (opts.q > 1) throw new RangeError(`DpFedAvg: q must be in (0, 1], got ${opts.q}`);
    checkNumber('DpFedAvg', 'noiseMultiplier', opts.noiseMultiplier);
    if (!(opts.noiseMultiplier >= 0)) throw new RangeError(`DpFedAvg: noiseMultiplier must be >= 0 (0: no noise, no privacy), got ${opts.noiseMultiplier}`);
    checkNumber('DpFedAvg', 'targetEpsilon', opts.targetEpsilon, true);
    if (!(opts.delta > 0 && opts.delta < 1)) throw new RangeError(`DpFedAvg: delta must be in (0, 1), got ${opts.delta}`);
  }

  /** Epsilon spent so far. */
  epsilon(): number {
    if (this.opts.noiseMultiplier === 0) return Infinity;
    return this.accountant.epsilon(this.opts.delta);
  }

  /** Whether one more round stays within the target. */
  canRun(): boolean {
    if (this.opts.noiseMultiplier === 0) return true;
    return this.accountant.epsilonAfter(this.opts.q, this.opts.noiseMultiplier, 1, this.opts.delta) <= this.opts.targetEpsilon;
  }

  configureRound(_round: number, available: string[], rng: Rng): string[] {
    this.population = available.length;
    const threshold = Math.floor(this.opts.q * 4294967296);
    return available.filter(() => rng.u32() < threshold);
  }

  aggregateRound(_round: number, results: EncodedUpdate[], failures: Failure[], enc: Encoding, d: number): AggregateResult {
    checkInt('DpFedAvg', 'd', d, 1, 2 ** 28);
    const rs = ordered(results);
    return this.release(weightedSum(rs, weightsOf(rs, 'unit'), d), rs.length, rs.map((r) => r.id), failures, enc, d);
  }

  /** Adds the discrete Gaussian noise to the exact sum (at the root of a tree, or flat) and decodes it over q N. */
  release(sum: BigInt64Array, _weight: number, accepted: string[], failures: Failure[], enc: Encoding, d: number): AggregateResult {
    const sensitivity = pow2(enc.bits) + Math.sqrt(d);
    const sigma = this.opts.noiseMultiplier * sensitivity;
    const [num, den] = asFraction(sigma * sigma);
    const noisy = new Int32Array(d);
    for (let i = 0; i < d; i++) {
      const v = sum[i]! + (num > 0n ? discreteGaussian(this.noiseRng, num, den) : 0n);
      if (v >= 2n ** 31n || v < -(2n ** 31n)) throw new RangeError('DpFedAvg: the noisy sum overflows i32; lower the encoding bits');
      noisy[i] = Number(v);
    }
    if (this.opts.noiseMultiplier > 0) this.accountant.step(this.opts.q, this.opts.noiseMultiplier);
    return { update: decodeI32(noisy, enc, this.opts.q * Math.max(1, this.population)), accepted, rejected: failures.slice() };
  }
}
