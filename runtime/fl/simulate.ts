/**
 * One round loop for federated learning, run in-process: the coordinator samples participants, each trains
 * locally from the global model and submits its fixed-point encoded update, the aggregator checks every
 * submission (known participant, right length, finite) and applies the strategy, and the coordinator
 * applies the aggregate with the server optimizer (plain, or FedAvgM with server momentum).
 * Every random choice comes from the task seed, so a run replays bit for bit.
 * @module
 */
import { checkInt, checkNumber } from '../errors.js';
import { aggregateHierarchy, flatTraffic } from './hierarchy.js';
import { runKernel, type RunOptions } from '../registry.js';
import type { Dataset } from './data.js';
import { Mlp } from './model.js';
import { runLocalJob, type LocalJob } from './local.js';
import { Rng, STREAMS } from './rng.js';
import { attackByName, type Attack, type AttackParams } from './attacks.js';
import { DpFedAvg, type DpOptions } from './dp.js';
import { bitsFor, encodeUpdate, ordered, sqDistF64, stack, strategyByName, weightedEvaluate, type EvaluateAggregate, type EvaluateResult, type EncodedUpdate, type Encoding, type Failure, type Strategy } from './strategy.js';

/** Options of {@link simulate}; every field has a default. */
export interface SimulationOptions {
  rounds: number;
  rule: string | Strategy;
  seed: number;
  /** Model widths, input first. */
  sizes: number[];
  localEpochs: number;
  batch: number;
  lr: number;
  /** The local learning rate of round r is lr * lrDecay^(r - 1). */
  lrDecay: number;
  momentum: number;
  /** Server learning rate applied to the aggregate. */
  serverLr: number;
  /** Server momentum (FedAvgM when > 0). */
  serverMomentum: number;
  /** L2 clip bound of one update (the fixed-point range). */
  clip: number;
  /** Fixed-point bits (default: the most that cannot overflow a sum over all participants). */
  bits?: number;
  /** Assumed Byzantine fraction for the robust rules. */
  byzantineFraction: number;
  /** A Byzantine attack (CLI name or object) played by `byzantine` of the participants. */
  attack?: string | Attack;
  /** Fraction of participants that are Byzantine (chosen by the seed). */
  byzantine: number;
  attackParams?: Partial<AttackParams>;
  /** User-level DP-FedAvg (replaces `rule`): Poisson sampling, discrete Gaussian noise, stops at the target epsilon. */
  dp?: DpOptions;
  /** Aggregator tree fan-in (>= 2); absent: one flat aggregator. */
  fanin?: number;
  /** With `fanin`: the tree level whose aggregators apply a robust rule (1 = leaf aggregators; default 1). */
  robustLevel?: number;
  /** Kernel backend (default: the best ready one). */
  kernel: RunOptions;
  /**
   * Federated evaluation: after each round every selected participant evaluates the new global model on its
   * own data, and the strategy combines the results (`aggregateEvaluate`) into the row's `federated` field.
   */
  federatedEvaluation?: boolean;
  /** Called after every round. */
  onRound?: (row: RoundRow) => void;
  /**
   * Replaces participant `id`'s honest update before it is encoded (tests and attacks); may return a
   * Float32Array of the wrong length or with NaN to exercise the aggregator's checks.
   */
  tamper?: (id: string, round: number, update: Float32Array) => Float32Array;
  /** Extra submissions from ids that were not selected (tests of the unknown-participant check). */
  intruders?: (round: number, d: number) => EncodedUpdate[];
}

/** One row of the per-round record (the `--json` format). */
export interface RoundRow {
  round: number;
  accuracy: number;
  loss: number;
  /** Privacy spent so far (null without differential privacy). */
  epsilon: number | null;
  rejected: number;
  /** Bytes one participant receives and sends this round (model down: 4d; encoded update up: 4d + header). */
  bytesPerParticipant: number;
  /** Most bytes one aggregator receives plus sends this round. */
  bytesPerAggregator: number;
  /** Levels of aggregators (1: flat). */
  levels: number;
  /** Why each rejected participant did not count. */
  failures: Failure[];
  /** Participants the detector flagged this round (distance to the median > 4x the median distance). */
  flagged: string[];
  /** With `federatedEvaluation`: the participants' own evaluation of the new model, combined by the strategy. */
  federated?: EvaluateAggregate;
}

/** The outcome of a simulation. */
export interface SimulationResult {
  rows: RoundRow[];
  /** Reputation per participant in [0, 1]: r <- 0.8 r + 0.2 (not flagged), starting at 1. */
  reputation: Map<string, number>;
  /** The Byzantine participants. */
  byzantine: string[];
  params: Float32Array;
  model: Mlp;
  /** Wall time of the rounds (ms), excluding data loading and backend start-up. */
  ms: number;
}

export const DEFAULTS: Omit<SimulationOptions, 'onRound' | 'tamper' | 'intruders'> = {
  rounds: 30,
  rule: 'fedavg',
  seed: 1,
  sizes: [64, 32, 10],
  localEpochs: 1,
  batch: 8,
  lr: 0.2,
  lrDecay: 0.97,
  momentum: 0.9,
  serverLr: 1,
  serverMomentum: 0,
  clip: 100,
  byzantineFraction: 0.2,
  byzantine: 0,
  kernel: {},
};

/** Participant ids p0000, p0001, ... (sortable). */
export function participantId(p: number): string {
  return `p${String(p).padStart(4, '0')}`;
}

/** Runs local-training jobs and returns their updates in job order (in-process, or on a thread pool). */
export type LocalTrainer = (jobs: LocalJob[]) => Promise<Float32Array[]>;

/**
 * Runs federated rounds over participant shards (one Dataset each) in-process and evaluates the global
 * model on `test` after every round.
 */
export function simulate(shards: Dataset[], test: Dataset, options: Partial<SimulationOptions> = {}): SimulationResult {
  const loop = rounds(shards, test, options);
  for (let step = loop.next(); ; ) {
    if (step.done) return step.value;
    step = loop.next(step.value.map((job) => runLocalJob(job, options.kernel)));
  }
}

/**
 * The same rounds with local training handed to `train` (e.g. a thread pool's `trainLocal`): every job
 * carries its own inputs and stream, so the final weights are byte-identical to {@link simulate}'s.
 */
export async function simulateWith(train: LocalTrainer, shards: Dataset[], test: Dataset, options: Partial<SimulationOptions> = {}): Promise<SimulationResult> {
  const loop = rounds(shards, test, options);
  for (let step = loop.next(); ; ) {
    if (step.done) return step.value;
    step = loop.next(await train(step.value));
  }
}

/** The round loop: yields each round's local-training jobs and resumes with their updates. */
function* rounds(shards: Dataset[], test: Dataset, options: Partial<SimulationOptions>): Generator<LocalJob[], SimulationResult, Float32Array[]> {
  const o = { ...DEFAULTS, ...options };
  const rounds = checkInt('simulate', 'rounds', o.rounds, 1, 1e6);
  if (!Array.isArray(shards) || shards.length === 0) throw new RangeError('simulate: shards must list at least one participant data set');
  for (const f of ['lr', 'clip'] as const) checkNumber('simulate', f, o[f], true);
  checkNumber('simulate', 'momentum', o.momentum);
  checkNumber('simulate', 'lrDecay', o.lrDecay, true);
  checkNumber('simulate', 'serverLr', o.serverLr, true);
  checkNumber('simulate', 'serverMomentum', o.serverMomentum);
  const dp = o.dp ? new DpFedAvg(o.dp, new Rng(o.seed, STREAMS.noise)) : undefined;
  const strategy: Strategy = dp ?? (typeof o.rule === 'string' ? strategyByName(o.rule, o.byzantineFraction) : o.rule);
  if (o.fanin !== undefined) checkInt('simulate', 'fanin', o.fanin, 2, 1 << 20);
  if (o.robustLevel !== undefined) {
    checkInt('simulate', 'robustLevel', o.robustLevel, 1, 64);
    if (o.fanin === undefined) throw new RangeError('simulate: robustLevel needs fanin (an aggregator tree)');
  }
  const model = new Mlp(o.sizes, o.kernel);
  if (shards.some((s) => s.features !== model.inputs)) throw new RangeError(`simulate: every shard must have ${model.inputs} features`);
  const d = model.size;
  const ids = shards.map((_, p) => participantId(p));
  const byId = new Map(ids.map((id, p) => [id, p]));
  // With DP the integer sum also carries noise of std z * 2^bits: leave room for it (and for all N).
  const enc: Encoding = { clip: o.clip, bits: o.bits ?? (dp ? Math.min(16, bitsFor(2 * shards.length + Math.ceil(64 * o.dp!.noiseMultiplier))) : bitsFor(shards.length)) };
  const params = model.init(o.seed);
  const velocity = new Float32Array(d);
  const sampleRng = new Rng(o.seed, STREAMS.sample);
  checkNumber('simulate', 'byzantine', o.byzantine);
  if (!(o.byzantine >= 0 && o.byzantine < 1)) throw new RangeError(`simulate: byzantine must be in [0, 1), got ${o.byzantine}`);
  const attack = o.attack === undefined ? undefined : typeof o.attack === 'string' ? attackByName(o.attack, o.attackParams) : o.attack;
  if (attack && o.byzantine === 0) throw new RangeError('simulate: an attack needs byzantine > 0');
  const order = ids.slice();
  new Rng(o.seed, STREAMS.attack).shuffle(order);
  const byzantine = new Set(attack ? order.slice(0, Math.floor(o.byzantine * ids.length)) : []);
  const reputation = new Map(ids.map((id) => [id, 1]));
  const rows: RoundRow[] = [];
  const t0 = performance.now();
  for (let r = 1; r <= rounds; r++) {
    if (dp && !dp.canRun()) break; // the privacy budget is spent
    const selected = strategy.configureRound(r, ids, sampleRng);
    const results: EncodedUpdate[] = [];
    const failures: Failure[] = [];
    const sgd = { lr: o.lr * o.lrDecay ** (r - 1), momentum: o.momentum, batch: o.batch, epochs: o.localEpochs };
    const jobs = selected.map((id): LocalJob => {
      const p = byId.get(id)!, shard = shards[p]!;
      const y = attack?.poisonLabels && byzantine.has(id) ? shard.y.map((v) => model.classes - 1 - v) : shard.y;
      return { sizes: o.sizes, params, x: shard.x, y, sgd, seed: o.seed, participant: p, round: r };
    });
    const updates = yield jobs;
    if (updates.length !== jobs.length) throw new Error(`simulate: the trainer returned ${updates.length} updates for ${jobs.length} jobs`);
    const trained = new Map(selected.map((id, i) => [id, updates[i]!]));
    const honest = selected.filter((id) => !byzantine.has(id)).map((id) => trained.get(id)!);
    const attackRng = new Rng(o.seed, STREAMS.attack, 1, r);
    for (const id of selected) {
      const p = byId.get(id)!;
      let update: Float32Array = trained.get(id)!;
      if (attack && byzantine.has(id)) update = attack.craft(update, honest, { n: selected.length, f: byzantine.size, rng: attackRng });
      if (o.tamper) update = o.tamper(id, r, update);
      // The aggregator's checks: right length, finite (encode rejects NaN/Inf).
      if (!(update instanceof Float32Array) || update.length !== d) {
        failures.push({ id, reason: `update has length ${update?.length}, expected ${d}` });
        continue;
      }
      try {
        results.push({ id, values: encodeUpdate(update, enc, o.seed, STREAMS.encode, (r * shards.length + p) * d, o.kernel), samples: shards[p]!.n });
      } catch (e) {
        failures.push({ id, reason: (e as Error).message });
      }
    }
    const selectedSet = new Set(selected);
    for (const extra of o.intruders?.(r, d) ?? []) {
      if (!selectedSet.has(extra.id)) failures.push({ id: extra.id, reason: `${byId.has(extra.id) ? 'not selected this round' : 'unknown participant'}` });
      else failures.push({ id: extra.id, reason: 'duplicate submission' });
    }
    const flagged = detect(results, d);
    for (const res of results) reputation.set(res.id, 0.8 * reputation.get(res.id)! + (flagged.includes(res.id) ? 0 : 0.2));
    const agg = o.fanin === undefined
      ? { ...strategy.aggregateRound(r, results, failures, enc, d), traffic: flatTraffic(results.length, d) }
      : aggregateHierarchy(strategy, r, results, failures, enc, d, { fanin: o.fanin, robustLevel: o.robustLevel });
    serverStep(params, velocity, agg.update, o.serverLr, o.serverMomentum);
    const ev = model.evaluate(params, test.x, test.y);
    let federated: EvaluateAggregate | undefined;
    if (o.federatedEvaluation) {
      const evals = selected.map((id): EvaluateResult => {
        const shard = shards[byId.get(id)!]!;
        return { id, examples: shard.n, ...model.evaluate(params, shard.x, shard.y) };
      });
      federated = (strategy.aggregateEvaluate ?? weightedEvaluate).call(strategy, r, evals, []);
    }
    const row: RoundRow = { round: r, accuracy: ev.accuracy, loss: ev.loss, epsilon: dp ? dp.epsilon() : null, rejected: agg.rejected.length,
      bytesPerParticipant: 4 * d + agg.traffic.bytesPerParticipant, bytesPerAggregator: agg.traffic.maxBytesPerAggregator, levels: agg.traffic.levels, failures: agg.rejected, flagged, ...(federated ? { federated } : {}) };
    rows.push(row);
    o.onRound?.(row);
  }
  return { rows, params, model, ms: performance.now() - t0, reputation, byzantine: [...byzantine].sort() };
}

/**
 * The server optimizer, in place: v = beta v + update; params += serverLr v (f32, in index order), so the
 * simulation and the coordinator apply an aggregate to the same bits.
 */
export function serverStep(params: Float32Array, velocity: Float32Array, update: Float32Array, serverLr: number, serverMomentum: number): void {
  const beta = Math.fround(serverMomentum), slr = Math.fround(serverLr);
  for (let i = 0; i < params.length; i++) {
    velocity[i] = Math.fround(beta * velocity[i]!) + update[i]!;
    params[i] = params[i]! + Math.fround(slr * velocity[i]!);
  }
}

/**
 * The per-round detector: each update's squared distance to the coordinate-wise median (f64, fixed order),
 * over the median of those distances; above 4 is flagged.
 */
export function detect(results: EncodedUpdate[], d: number): string[] {
  const n = results.length;
  if (n < 3) return [];
  const rs = ordered(results);
  const [med] = runKernel('median', { x: stack(rs, d) }, { n, d }) as [Int32Array];
  const dist = rs.map((r) => sqDistF64(r.values, med));
  const sorted = dist.slice().sort((a, b) => a - b);
  const m = sorted[n >> 1]!;
  return rs.filter((_, i) => dist[i]! > 4 * m).map((r) => r.id);
}

/** SHA-256 (hex) of a parameter vector's bytes (WebCrypto: Node and browsers). */
export async function paramsSha256(params: Float32Array): Promise<string> {
  const bytes = new Uint8Array(params.buffer, params.byteOffset, params.byteLength);
  const h = await crypto.subtle.digest('SHA-256', bytes.slice());
  return Array.from(new Uint8Array(h), (b) => b.toString(16).padStart(2, '0')).join('');
}
