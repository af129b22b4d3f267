/**
 * Byzantine participants for tests and demos. Attackers are omniscient and collude: each round they see
 * the honest updates of the round (the strongest standard threat model). Parameters (defaults in
 * ATTACK_DEFAULTS):
 * - `sign-flip`: sends -scale * (its honest update); scale 4.
 * - `label-flip`: trains honestly on labels y -> classes - 1 - y and sends that update.
 * - `gaussian`: sends N(0, sigma^2) per coordinate; sigma 0.5.
 * - `alie` ("a little is enough", Baruch et al. 2019): mean - z * std of the honest updates, per coordinate,
 *   with z = Phi^-1((n - s) / n), s = floor(n / 2 + 1) - f (n participants, f Byzantine).
 * - `ipm` (inner-product manipulation, Xie et al. 2020): -epsilon * mean of the honest updates; epsilon 0.5.
 * - `model-replacement` (Bagdasaryan et al. 2020): trains on flipped labels and boosts its update by
 *   `boost` (default n, the number of participants), so plain averaging lands on the attacker's model.
 * @module
 */
import { log64 } from '../reference/math.js';
import type { Rng } from './rng.js';

export const ATTACKS = ['sign-flip', 'label-flip', 'gaussian', 'alie', 'ipm', 'model-replacement'] as const;
export type AttackName = (typeof ATTACKS)[number];

/** Tunable attack parameters. */
export interface AttackParams {
  signFlipScale: number;
  gaussianSigma: number;
  ipmEpsilon: number;
  /** Model replacement boost (default: the number of participants). */
  boost?: number;
}

export const ATTACK_DEFAULTS: AttackParams = { signFlipScale: 4, gaussianSigma: 0.5, ipmEpsilon: 0.5 };

/** An attack: whether the attacker poisons its labels, and how it crafts its update. */
export interface Attack {
  readonly name: AttackName;
  readonly poisonLabels: boolean;
  /** The update to send: `own` is the attacker's own (possibly label-poisoned) update. */
  craft(own: Float32Array, honest: Float32Array[], ctx: { n: number; f: number; rng: Rng }): Float32Array;
}

/** Inverse of the standard normal CDF (Acklam's rational approximation, relative error < 1.2e-9). */
export function normalQuantile(p: number): number {
  if (!(p > 0 && p < 1)) throw new RangeError(`normalQuantile: p must be in (0, 1), got ${p}`);
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const lo = 0.02425;
  if (p < lo) {
    const q = Math.sqrt(-2 * log64(p));
    return (((((c[0]! * q + c[1]!) * q + c[2]!) * q + c[3]!) * q + c[4]!) * q + c[5]!) / ((((d[0]! * q + d[1]!) * q + d[2]!) * q + d[3]!) * q + 1);
  }
  if (p > 1 - lo) return -normalQuantile(1 - p);
  const q = p - 0.5, r = q * q;
  return ((((((a[0]! * r + a[1]!) * r + a[2]!) * r + a[3]!) * r + a[4]!) * r + a[5]!) * q) / (((((b[0]! * r + b[1]!) * r + b[2]!) * r + b[3]!) * r + b[4]!) * r + 1);
}

/** Per-round statistics of the honest updates, computed once for all colluding attackers of the round. */
const stats = new WeakMap<Float32Array[], { mean: Float64Array; std: Float64Array }>();

function meanStd(honest: Float32Array[], d: number): { mean: Float64Array; std: Float64Array } {
  const cached = stats.get(honest);
  if (cached && cached.mean.length === d) return cached;
  const mean = new Float64Array(d), std = new Float64Array(d);
  const n = honest.length || 1;
  for (const u of honest) for (let i = 0; i < d; i++) mean[i] += u[i]!;
  for (let i = 0; i < d; i++) mean[i] /= n;
  for (const u of honest) for (let i = 0; i < d; i++) { const t = u[i]! - mean[i]!; std[i] += t * t; }
  for (let i = 0; i < d; i++) std[i] = Math.sqrt(std[i]! / n);
  stats.set(honest, { mean, std });
  return { mean, std };
}

/** An attack by CLI name. */
export function attackByName(name: string, params: Partial<AttackParams> = {}): Attack {
  const p = { ...ATTACK_DEFAULTS, ...params };
  switch (name) {
    case 'sign-flip':
      return { name, poisonLabels: false, craft: (own) => own.map((v) => -p.signFlipScale * v) };
    case 'label-flip':
      return { name, poisonLabels: true, craft: (own) => own };
    case 'gaussian':
      return { name, poisonLabels: false, craft: (own, _h, { rng }) => own.map(() => p.gaussianSigma * rng.normal()) };
    case 'alie':
      return {
        name, poisonLabels: false,
        craft: (own, honest, { n, f }) => {
          const s = Math.floor(n / 2 + 1) - f;
          const z = normalQuantile(Math.min(0.999, Math.max(0.5, (n - s) / n)));
          const { mean, std } = meanStd(honest, own.length);
          return own.map((_, i) => mean[i]! - z * std[i]!);
        },
      };
    case 'ipm':
      return { name, poisonLabels: false, craft: (own, honest) => { const { mean } = meanStd(honest, own.length); return own.map((_, i) => -p.ipmEpsilon * mean[i]!); } };
    case 'model-replacement':
      return { name, poisonLabels: true, craft: (own, _h, { n }) => own.map((v) => (p.boost ?? n) * v) };
    default:
      throw new RangeError(`unknown attack '${name}' (known: ${ATTACKS.join(', ')})`);
  }
}
