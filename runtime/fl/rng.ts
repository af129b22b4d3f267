/**
 * Seeded randomness for federated learning (numerics contract, point 7): one Philox4x32-10 stream per
 * (seed, stream id), drawn in order. Everything built on it (shuffles, shards, Dirichlet proportions,
 * participant sampling, attack noise) is replayable bit for bit on every host: only IEEE-exact operations
 * (+, -, *, /, sqrt) and the project's own log64/exp64 are used, never Math.log or Math.exp.
 * @module
 */
import { checkInt, checkSeed } from '../errors.js';
import { exp64, log64, pow2 } from '../reference/math.js';
import { philox4x32_10 } from '../reference/random.js';

/** Stream ids, one per purpose, so draws for one purpose never shift another's. */
export const STREAMS = {
  split: 1,
  shard: 2,
  init: 3,
  shuffle: 4,
  sample: 5,
  encode: 6,
  noise: 7,
  attack: 8,
  proofs: 9,
} as const;

/** An in-order stream of draws from Philox4x32-10 keyed by a 64-bit seed, with a stream id. */
export class Rng {
  private readonly lo: number;
  private readonly hi: number;
  private readonly block = new Uint32Array(4);
  private counter = 0;
  private word = 4;

  /**
   * @param seed 64-bit seed (safe integer or bigint). @param stream stream id (u32).
   * @param sub a second id (u32), e.g. a participant. @param epoch starts the stream at draw epoch * 2^26
   * (e.g. the round), so each epoch has 2^26 draws of its own.
   */
  constructor(seed: number | bigint, readonly stream: number, readonly sub = 0, epoch = 0) {
    const s = checkSeed('Rng', 'seed', seed);
    checkInt('Rng', 'stream', stream, 0, 0xffffffff);
    checkInt('Rng', 'sub', sub, 0, 0xffffffff);
    checkInt('Rng', 'epoch', epoch, 0, 2 ** 28);
    this.counter = epoch * 2 ** 24;
    this.lo = s.lo;
    this.hi = s.hi;
  }

  /** A raw u32 draw. */
  u32(): number {
    if (this.word === 4) {
      const c = this.counter++;
      philox4x32_10(c >>> 0, Math.floor(c / 4294967296) >>> 0, this.stream, this.sub, this.lo, this.hi, this.block);
      this.word = 0;
    }
    return this.block[this.word++]!;
  }

  /** Uniform in [0, 1) with 53 random bits. */
  float(): number {
    const a = this.u32() >>> 5, b = this.u32() >>> 6;
    return (a * 67108864 + b) * pow2(-53);
  }

  /** Uniform integer in [0, m), m in [1, 2^32], without bias (rejection). */
  int(m: number): number {
    if (!Number.isInteger(m) || m < 1 || m > 4294967296) throw new RangeError(`Rng.int: m must be an integer in [1, 2^32], got ${m}`);
    const limit = 4294967296 - (4294967296 % m);
    for (;;) {
      const r = this.u32();
      if (r < limit) return r % m;
    }
  }

  /** Standard normal (Marsaglia polar method, f64). */
  normal(): number {
    for (;;) {
      const u = 2 * this.float() - 1, v = 2 * this.float() - 1;
      const s = u * u + v * v;
      if (s > 0 && s < 1) return u * Math.sqrt((-2 * log64(s)) / s);
    }
  }

  /** Gamma(shape, 1) (Marsaglia-Tsang; shape < 1 by the boost Gamma(shape + 1) * U^(1/shape)). */
  gamma(shape: number): number {
    if (!(shape > 0) || !Number.isFinite(shape)) throw new RangeError(`Rng.gamma: shape must be a finite number > 0, got ${shape}`);
    if (shape < 1) {
      const g = this.gamma(shape + 1);
      let u = this.float();
      while (u === 0) u = this.float();
      return g * exp64(log64(u) / shape);
    }
    const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
    for (;;) {
      let x: number, v: number;
      do {
        x = this.normal();
        v = 1 + c * x;
      } while (v <= 0);
      v = v * v * v;
      const u = this.float();
      if (u < 1 - 0.0331 * x * x * x * x) return d * v;
      if (u > 0 && log64(u) < 0.5 * x * x + d * (1 - v + log64(v))) return d * v;
    }
  }

  /** Fisher-Yates shuffle in place. */
  shuffle<T>(a: T[] | Int32Array): void {
    for (let i = a.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      const t = a[i]!;
      a[i] = a[j]!;
      a[j] = t as never;
    }
  }
}
