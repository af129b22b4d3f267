/**
 * Rényi-DP accountant for the Poisson-sampled Gaussian mechanism (Mironov, Talwar and Zhang, "Rényi
 * Differential Privacy of the Sampled Gaussian Mechanism", 2019): RDP at a grid of orders, composed by
 * addition over rounds, converted to (epsilon, delta) with the bound of Balle et al. 2020 (as Google's
 * dp_accounting, TensorFlow Privacy and Opacus do). Integer orders use the exact binomial expansion,
 * fractional orders the two-sided series with erfc terms (Section 3.3 of the paper), both in log space.
 * Uses the project's log64/exp64, so the spent budget (and where training stops) is the same on every host.
 * @module
 */
import { checkNumber } from '../errors.js';
import { exp64, log64 } from '../reference/math.js';

/** The default order grid (Opacus's and dp_accounting's): 1.1, 1.2, ..., 10.9, then 12, 13, ..., 63. */
export const DEFAULT_ORDERS: readonly number[] = [...Array.from({ length: 99 }, (_, x) => 1 + (x + 1) / 10), ...Array.from({ length: 52 }, (_, x) => 12 + x)];

function logAdd(a: number, b: number): number {
  const hi = Math.max(a, b), lo = Math.min(a, b);
  if (hi === -Infinity) return -Infinity;
  return hi + log1p(exp64(lo - hi));
}

function logSub(a: number, b: number): number {
  if (b === -Infinity) return a;
  if (a === b) return -Infinity;
  if (a < b) throw new RangeError('accountant: logSub of a larger value (the series did not converge)');
  return a + log1p(-exp64(b - a));
}

/** log(1 + x), accurate for small |x| (x > -1). */
function log1p(x: number): number {
  const u = 1 + x;
  if (u === 1) return x;
  return (log64(u) * x) / (u - 1);
}

// W. J. Cody, "Rational Chebyshev approximations for the error function", Math. Comp. 23 (1969) 631-638;
// coefficients from his netlib specfun CALERF (public domain), at least 18 significant digits.
const ERF_A = [3.1611237438705656, 113.864154151050156, 377.485237685302021, 3209.37758913846947, 0.185777706184603153];
const ERF_B = [23.6012909523441209, 244.024637934444173, 1282.61652607737228, 2844.23683343917062];
const ERFC_C = [0.564188496988670089, 8.88314979438837594, 66.1191906371416295, 298.635138197400131, 881.95222124176909, 1712.04761263407058, 2051.07837782607147, 1230.33935479799725, 2.15311535474403846e-8];
const ERFC_D = [15.7449261107098347, 117.693950891312499, 537.181101862009858, 1621.38957456669019, 3290.79923573345963, 4362.61909014324716, 3439.36767414372164, 1230.33935480374942];
const ERFC_P = [0.305326634961232344, 0.360344899949804439, 0.125781726111229246, 0.0160837851487422766, 6.58749161529837803e-4, 0.0163153871373020978];
const ERFC_Q = [2.56852019228982242, 1.87295284992346047, 0.527905102951428412, 0.0605183413124413191, 0.00233520497626869185];
const SQRT_PI_INV = 0.56418958354775628695;

/** log(erfc(y)) for y >= 0, without underflow: -y^2 + log(erfcx(y)) past 0.46875. */
function logErfcPos(y: number): number {
  if (y <= 0.46875) {
    const ysq = y * y;
    let num = ERF_A[4]! * ysq, den = ysq;
    for (let i = 0; i < 3; i++) { num = (num + ERF_A[i]!) * ysq; den = (den + ERF_B[i]!) * ysq; }
    return log1p(-(y * (num + ERF_A[3]!)) / (den + ERF_B[3]!));
  }
  let erfcx: number;
  if (y <= 4) {
    let num = ERFC_C[8]! * y, den = y;
    for (let i = 0; i < 7; i++) { num = (num + ERFC_C[i]!) * y; den = (den + ERFC_D[i]!) * y; }
    erfcx = (num + ERFC_C[7]!) / (den + ERFC_D[7]!);
  } else {
    const ysq = 1 / (y * y);
    let num = ERFC_P[5]! * ysq, den = ysq;
    for (let i = 0; i < 4; i++) { num = (num + ERFC_P[i]!) * ysq; den = (den + ERFC_Q[i]!) * ysq; }
    erfcx = (SQRT_PI_INV - (ysq * (num + ERFC_P[4]!)) / (den + ERFC_Q[4]!)) / y;
  }
  return -y * y + log64(erfcx);
}

/** log(erfc(x)), accurate far into both tails (erfc(x) = 2 - erfc(-x) below 0). */
export function logErfc(x: number): number {
  if (x >= 0) return logErfcPos(x);
  return log64(2) + log1p(-exp64(logErfcPos(-x)) / 2);
}

/** log A_alpha for an integer order. */
function logAInt(q: number, sigma: number, alpha: number): number {
  let logA = -Infinity;
  let logBinom = 0; // log C(alpha, i)
  const lq = log64(q), l1q = log1p(-q);
  for (let i = 0; i <= alpha; i++) {
    if (i > 0) logBinom += log64((alpha - i + 1) / i);
    logA = logAdd(logA, logBinom + i * lq + (alpha - i) * l1q + (i * i - i) / (2 * sigma * sigma));
  }
  return logA;
}

/** log A_alpha for a fractional order (series until both terms are below e^-30). */
function logAFrac(q: number, sigma: number, alpha: number): number {
  let a0 = -Infinity, a1 = -Infinity;
  const z0 = sigma * sigma * log64(1 / q - 1) + 0.5;
  const lq = log64(q), l1q = log1p(-q), s2 = Math.sqrt(2) * sigma;
  let coef = 1; // generalized binomial C(alpha, i), sign included
  for (let i = 0; ; i++) {
    if (i > 0) coef *= (alpha - i + 1) / i;
    const logCoef = log64(Math.abs(coef));
    const j = alpha - i;
    const t0 = logCoef + i * lq + j * l1q, t1 = logCoef + j * lq + i * l1q;
    const e0 = log64(0.5) + logErfc((i - z0) / s2), e1 = log64(0.5) + logErfc((z0 - j) / s2);
    const s0 = t0 + (i * i - i) / (2 * sigma * sigma) + e0, s1 = t1 + (j * j - j) / (2 * sigma * sigma) + e1;
    if (coef > 0) { a0 = logAdd(a0, s0); a1 = logAdd(a1, s1); } else { a0 = logSub(a0, s0); a1 = logSub(a1, s1); }
    if (Math.max(s0, s1) < -30 || i > 100000) break;
  }
  return logAdd(a0, a1);
}

/** RDP of one Poisson-sampled Gaussian step (sampling rate q, noise multiplier sigma) at `order`. */
export function rdpSampledGaussian(q: number, sigma: number, order: number): number {
  if (q === 0) return 0;
  if (sigma === 0) return Infinity;
  if (q === 1) return order / (2 * sigma * sigma);
  if (order === Infinity) return Infinity;
  const logA = Number.isInteger(order) ? logAInt(q, sigma, order) : logAFrac(q, sigma, order);
  return logA / (order - 1);
}

/** The smallest epsilon over the orders for `delta`, and the order that gives it. */
export function epsilonFromRdp(orders: readonly number[], rdp: readonly number[], delta: number): { epsilon: number; order: number } {
  let best = Infinity, bestOrder = NaN;
  orders.forEach((a, k) => {
    const r = rdp[k]!;
    let eps: number;
    if (delta * delta + (exp64(-r) - 1) > 0) eps = 0;
    else if (a > 1.01) eps = r + log1p(-1 / a) - log64(delta * a) / (a - 1);
    else eps = Infinity;
    if (eps < best) { best = eps; bestOrder = a; }
  });
  return { epsilon: Math.max(0, best), order: bestOrder };
}

/** The RDP of one step, per (q, sigma, orders). */
const ONE_STEP = new Map<string, readonly number[]>();

/** Accumulates RDP over steps of the sampled Gaussian mechanism; reports (epsilon, delta). */
export class RdpAccountant {
  private readonly rdp: number[];

  constructor(readonly orders: readonly number[] = DEFAULT_ORDERS) {
    if (!orders.length || orders.some((a) => !(a > 1))) throw new RangeError('RdpAccountant: orders must be numbers > 1');
    this.rdp = orders.map(() => 0);
  }

  /** Adds `steps` steps with sampling rate q in [0, 1] and noise multiplier sigma >= 0. */
  step(q: number, sigma: number, steps = 1): void {
    const one = this.oneStep(q, sigma);
    this.orders.forEach((_, k) => { this.rdp[k] += steps * one[k]!; });
  }

  /** Epsilon spent so far at `delta` in (0, 1). */
  epsilon(delta: number): number {
    return this.epsilonAfter(0, 1, 0, delta);
  }

  /** Epsilon at `delta` if `steps` more steps (q, sigma) were taken; nothing is recorded. */
  epsilonAfter(q: number, sigma: number, steps: number, delta: number): number {
    if (!(delta > 0 && delta < 1)) throw new RangeError(`RdpAccountant.epsilon: delta must be in (0, 1), got ${delta}`);
    const one = steps ? this.oneStep(q, sigma) : undefined;
    return epsilonFromRdp(this.orders, this.rdp.map((r, k) => (one ? r + steps * one[k]! : r)), delta).epsilon;
  }

  private oneStep(q: number, sigma: number): readonly number[] {
    checkNumber('RdpAccountant.step', 'q', q);
    checkNumber('RdpAccountant.step', 'sigma', sigma);
    if (!(q >= 0 && q <= 1)) throw new RangeError(`RdpAccountant.step: q must be in [0, 1], got ${q}`);
    if (!(sigma >= 0)) throw new RangeError(`RdpAccountant.step: sigma must be >= 0, got ${sigma}`);
    // A pure function of (orders, q, sigma), costly (~15 ms): shared by every accountant in the process.
    const key = `${q}|${sigma}|${this.orders.join(',')}`;
    let one = ONE_STEP.get(key);
    if (!one) {
      if (ONE_STEP.size >= 256) ONE_STEP.clear();
      ONE_STEP.set(key, (one = this.orders.map((a) => rdpSampledGaussian(q, sigma, a))));
    }
    return one;
  }
}

/**
 * The smallest noise multiplier (bisection to relative 1e-6) for which `steps` steps at rate q stay within
 * (targetEpsilon, delta).
 */
export function noiseMultiplierFor(targetEpsilon: number, delta: number, q: number, steps: number, orders: readonly number[] = DEFAULT_ORDERS): number {
  checkNumber('noiseMultiplierFor', 'targetEpsilon', targetEpsilon, true);
  const eps = (sigma: number) => { const acc = new RdpAccountant(orders); acc.step(q, sigma, steps); return acc.epsilon(delta); };
  let lo = 0, hi = 10;
  while (eps(hi) > targetEpsilon) { lo = hi; hi *= 2; if (hi > 1e6) throw new RangeError('noiseMultiplierFor: no noise multiplier below 1e6 reaches the target'); }
  while (hi - lo > 1e-6 * hi) { const mid = (lo + hi) / 2; if (eps(mid) > targetEpsilon) lo = mid; else hi = mid; }
  return hi;
}
