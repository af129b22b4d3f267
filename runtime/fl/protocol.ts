/**
 * The participant protocol, host-agnostic: what a coordinator, a Node worker and a browser participant agree
 * on. A task (model, rounds, rule, local training, fixed-point encoding, the demo data split), the binary
 * update payload that travels inside a signed envelope, and the one local-training step every participant
 * runs, so a Node worker and a browser tab produce the same bits for the same job.
 *
 * Update payload (inside an `update` envelope; integers big-endian except the values):
 * ```
 * offset  size  field
 *      0    32  SHA-256 of the global model the update was trained from
 *     32     4  samples: local training examples (the FedAvg weight)
 *     36     4  d: number of values
 *     40    4d  values: i32 little-endian, the fixed-point encoded update
 * ```
 * A task with `proofs` (docs/coordinator.md, "Proofs on updates") appends a proofs section; without it the
 * payload ends after the values:
 * ```
 * 40+4d     4  count: number of proofs
 * then per proof (UPDATE_PROOF_BYTES = 356 bytes):
 *      0     4  chunk: index of the 64-value chunk it speaks for
 *      4    96  public signals [c, B, bind], 32-byte big-endian each (proofs/groth16-format.ts)
 *    100   256  proof points A, B, C, 32-byte big-endian coordinates (proofs/groth16-format.ts)
 * ```
 * @module
 */
import { checkInt, checkNumber } from '../errors.js';
import { shardDirichlet, shardIid, trainTestSplit, type Dataset } from './data.js';
import { Mlp } from './model.js';
import { runLocalJob, type LocalJob } from './local.js';
import type { DpOptions } from './dp.js';
import { Rng, STREAMS } from './rng.js';
import { CHUNK, PROOF_BYTES, SIGNALS_BYTES, proofFromBytes, proofToBytes, signalsFromBytes, signalsToBytes, type Groth16Proof } from '../../proofs/groth16-format.js';
import { bitsFor, encodeUpdate, RULES, type Encoding, type RuleName } from './strategy.js';
import type { RunOptions } from '../registry.js';

/** Where participants' data comes from when they bring none: a seeded split of the shipped digits. */
export interface TaskData {
  dataset: 'digits';
  /** Number of shards the training split is cut into; participant i trains on shard i mod shards. */
  shards: number;
  /** Dirichlet label-skew alpha (non-IID); null in a task file: IID shards. */
  alpha?: number;
  /** Held-out fraction the coordinator evaluates on. */
  testFraction: number;
}

/** A federated task as the coordinator runs it and participants fetch it (`GET /api/task`). */
export interface TaskSpec {
  /** Task name; its 16-byte id (proofs' `taskId`) goes into every envelope. */
  name: string;
  rounds: number;
  /** Model widths, input first. */
  sizes: number[];
  rule: RuleName;
  /** Assumed Byzantine fraction for the robust rules. */
  byzantineFraction: number;
  /**
   * Connected participants a round waits for before it opens. Round 1 waits for them; later rounds wait at most
   * `roundTimeoutMs`, then open with whoever is connected (at least `minSubmissions`).
   */
  minParticipants: number;
  /** Updates a round needs at its deadline to be aggregated; with fewer, the round opens again. */
  minSubmissions: number;
  /** Round deadline, from opening (ms). */
  roundTimeoutMs: number;
  /** Most participants the task admits (sizes the fixed-point range and the encode streams). */
  maxParticipants: number;
  localEpochs: number;
  batch: number;
  lr: number;
  lrDecay: number;
  momentum: number;
  serverLr: number;
  serverMomentum: number;
  /** L2 clip bound of one update. */
  clip: number;
  /** Fixed-point bits (default: the most that cannot overflow a sum over maxParticipants). */
  bits?: number;
  seed: number;
  /** Largest `samples` one update may claim. */
  maxSamples: number;
  data: TaskData;
  /**
   * User-level differential privacy (DP-FedAvg: Poisson sampling with rate q, discrete Gaussian noise on the
   * integer sum, an RDP accountant). It replaces `rule`; the task ends early once one more round would
   * spend more than `targetEpsilon`. Absent: no noise, `epsilon` is null in every row.
   */
  dp?: DpOptions;
  /**
   * Groth16 proofs on updates (docs/coordinator.md, "Proofs on updates"): every update carries proofs for
   * `chunks` of its 64-value chunks, chosen by {@link proofChunks} from (seed, round, participant index), that
   * each chunk's values are int32 with sum of squares at most {@link proofBound} and commit to the values sent.
   * Absent: updates carry no proofs.
   */
  proofs?: { chunks: number };
  /**
   * A tier of leaf aggregators (docs/coordinator.md, "Leaf aggregators"): at each round's opening the
   * coordinator hands the selected Node participants, `fanin` at a time in id order, to the connected
   * aggregators (`meshwork worker --role aggregator`); each verifies its members' updates and sends one signed
   * exact partial sum. With probability `audit` (default 1) the coordinator fetches the envelopes a partial
   * covers from its aggregator and replays it before counting it. Needs a linear rule: `fedavg` or `dp`.
   * Absent: every participant submits to the coordinator.
   */
  aggregators?: AggregatorTier;
}

/** `task.aggregators`. */
export interface AggregatorTier {
  /** Most participants one aggregator is given per round (>= 2). */
  fanin: number;
  /** Probability in [0, 1] that a partial is replayed from its envelopes before it counts. */
  audit: number;
}

/** The defaults of {@link parseTaskSpec}: non-IID digits, 6 shards, Multi-Krum, 20 rounds. */
export const DEFAULT_TASK: TaskSpec = {
  name: 'digits',
  rounds: 20,
  sizes: [64, 32, 10],
  rule: 'multi-krum',
  byzantineFraction: 0.2,
  minParticipants: 3,
  minSubmissions: 1,
  roundTimeoutMs: 30_000,
  maxParticipants: 64,
  localEpochs: 1,
  batch: 8,
  lr: 0.1,
  lrDecay: 0.97,
  momentum: 0.9,
  serverLr: 1,
  serverMomentum: 0,
  clip: 100,
  seed: 1,
  maxSamples: 1_000_000,
  data: { dataset: 'digits', shards: 6, alpha: 0.5, testFraction: 0.2 },
};

const TASK_KEYS = new Set(Object.keys(DEFAULT_TASK).concat('bits', 'dp', 'proofs', 'aggregators'));
const DP_KEYS = ['q', 'noiseMultiplier', 'targetEpsilon', 'delta'];

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A task from JSON-like input: every field optional (defaults from {@link DEFAULT_TASK}), unknown fields
 * refused, every value checked.
 * @throws TypeError / RangeError naming the field (`task.<field>`).
 */
export function parseTaskSpec(input: unknown = {}): TaskSpec {
  if (!isObject(input)) throw new TypeError(`task must be an object, got ${Array.isArray(input) ? 'array' : typeof input}`);
  for (const k of Object.keys(input)) if (!TASK_KEYS.has(k)) throw new RangeError(`task.${k} is not a task field (known: ${[...TASK_KEYS].join(', ')})`);
  const t = { ...DEFAULT_TASK, ...input, data: { ...DEFAULT_TASK.data, ...(isObject(input.data) ? input.data : {}) } } as TaskSpec;
  if (input.data !== undefined && !isObject(input.data)) throw new TypeError('task.data must be an object');
  const op = 'task';
  if (typeof t.name !== 'string' || !/^[\w.-]{1,64}$/.test(t.name)) throw new (typeof t.name === 'string' ? RangeError : TypeError)(`task.name must be 1-64 letters, digits, '.', '_' or '-', got ${JSON.stringify(t.name)}`);
  checkInt(op, 'rounds', t.rounds, 1, 100_000);
  if (!Array.isArray(t.sizes)) throw new TypeError('task.sizes must be an array of layer widths');
  new Mlp(t.sizes); // checks the widths
  if (!(RULES as readonly string[]).includes(t.rule)) throw new RangeError(`task.rule must be one of ${RULES.join(', ')}, got ${JSON.stringify(t.rule)}`);
  if (input.dp !== undefined) {
    if (!isObject(input.dp)) throw new TypeError('task.dp must be an object { q, noiseMultiplier, targetEpsilon, delta }');
    for (const k of Object.keys(input.dp)) if (!DP_KEYS.includes(k)) throw new RangeError(`task.dp.${k} is not a DP field (known: ${DP_KEYS.join(', ')})`);
    for (const k of DP_KEYS) if (input.dp[k] === undefined) throw new TypeError(`task.dp.${k} is missing`);
    const dp = { ...input.dp } as unknown as DpOptions;
    checkNumber(op, 'dp.q', dp.q, true);
    if (!(dp.q <= 1)) throw new RangeError(`task.dp.q must be in (0, 1], got ${dp.q}`);
    checkNumber(op, 'dp.noiseMultiplier', dp.noiseMultiplier, true);
    checkNumber(op, 'dp.targetEpsilon', dp.targetEpsilon, true);
    checkNumber(op, 'dp.delta', dp.delta, true);
    if (!(dp.delta < 1)) throw new RangeError(`task.dp.delta must be in (0, 1), got ${dp.delta}`);
    // DP-FedAvg is the rule: a robust rule given as well would silently not run.
    if (input.rule !== undefined && input.rule !== 'fedavg') throw new RangeError(`task.rule must be 'fedavg' (or left out) with task.dp: DP-FedAvg replaces it; got ${JSON.stringify(input.rule)}`);
    t.rule = 'fedavg';
    t.dp = dp;
  }
  checkNumber(op, 'byzantineFraction', t.byzantineFraction);
  if (!(t.byzantineFraction >= 0 && t.byzantineFraction < 0.5)) throw new RangeError(`task.byzantineFraction must be in [0, 0.5), got ${t.byzantineFraction}`);
  checkInt(op, 'maxParticipants', t.maxParticipants, 1, 1 << 20);
  checkInt(op, 'minParticipants', t.minParticipants, 1, t.maxParticipants);
  checkInt(op, 'minSubmissions', t.minSubmissions, 1, t.maxParticipants);
  checkInt(op, 'roundTimeoutMs', t.roundTimeoutMs, 100, 86_400_000);
  checkInt(op, 'localEpochs', t.localEpochs, 1, 1000);
  checkInt(op, 'batch', t.batch, 1, 1 << 16);
  for (const f of ['lr', 'lrDecay', 'serverLr', 'clip'] as const) checkNumber(op, f, t[f], true);
  for (const f of ['momentum', 'serverMomentum'] as const) {
    checkNumber(op, f, t[f]);
    if (!(t[f] >= 0 && t[f] < 1)) throw new RangeError(`task.${f} must be in [0, 1), got ${t[f]}`);
  }
  if (t.bits !== undefined) checkInt(op, 'bits', t.bits, 1, 30);
  checkInt(op, 'seed', t.seed, 0, 0xffffffff);
  checkInt(op, 'maxSamples', t.maxSamples, 1, 0x7fffffff);
  const d = t.data;
  for (const k of Object.keys(d)) if (!['dataset', 'shards', 'alpha', 'testFraction'].includes(k)) throw new RangeError(`task.data.${k} is not a data field (known: dataset, shards, alpha, testFraction)`);
  if (d.dataset !== 'digits') throw new RangeError(`task.data.dataset must be 'digits', got ${JSON.stringify(d.dataset)}`);
  checkInt(op, 'data.shards', d.shards, 1, 1000);
  if (d.alpha !== undefined && d.alpha !== null) checkNumber(op, 'data.alpha', d.alpha, true);
  else delete d.alpha;
  checkNumber(op, 'data.testFraction', d.testFraction, true);
  if (!(d.testFraction < 1)) throw new RangeError(`task.data.testFraction must be in (0, 1), got ${d.testFraction}`);
  if (t.sizes[0] !== 64 || t.sizes[t.sizes.length - 1] !== 10) throw new RangeError(`task.sizes must start at 64 inputs and end at 10 classes for the digits data, got [${t.sizes.join(', ')}]`);
  if (input.proofs !== undefined) t.proofs = parseProofsOption(input.proofs, Math.ceil(new Mlp(t.sizes).size / CHUNK));
  if (input.aggregators !== undefined) {
    t.aggregators = parseAggregatorTier(input.aggregators, t.maxParticipants);
    if (t.rule !== 'fedavg') throw new RangeError(`task.aggregators needs a linear rule (rule 'fedavg', or task.dp): partial sums cannot carry ${JSON.stringify(t.rule)}, which needs every update`);
    if (t.proofs) throw new RangeError('task.aggregators and task.proofs exclude each other for now: aggregators do not check proofs');
  }
  return t;
}

/** Checks `task.aggregators`. */
function parseAggregatorTier(a: unknown, maxParticipants: number): AggregatorTier {
  if (!isObject(a)) throw new TypeError(`task.aggregators must be an object { fanin, audit? }, got ${a === null ? 'null' : Array.isArray(a) ? 'array' : typeof a}`);
  for (const k of Object.keys(a)) if (k !== 'fanin' && k !== 'audit') throw new RangeError(`task.aggregators.${k} is not an aggregators field (known: fanin, audit)`);
  if (a.fanin === undefined) throw new TypeError('task.aggregators.fanin is missing');
  checkInt('task', 'aggregators.fanin', a.fanin, 2, Math.max(2, maxParticipants));
  const audit = a.audit ?? 1;
  checkNumber('task', 'aggregators.audit', audit);
  if (!((audit as number) >= 0 && (audit as number) <= 1)) throw new RangeError(`task.aggregators.audit must be in [0, 1], got ${audit as number}`);
  return { fanin: a.fanin as number, audit: audit as number };
}

/** Checks `task.proofs` against the model's number of chunks. */
function parseProofsOption(p: unknown, chunksOfModel: number): { chunks: number } {
  if (!isObject(p)) throw new TypeError(`task.proofs must be an object { chunks }, got ${p === null ? 'null' : Array.isArray(p) ? 'array' : typeof p}`);
  for (const k of Object.keys(p)) if (k !== 'chunks') throw new RangeError(`task.proofs.${k} is not a proofs field (known: chunks)`);
  const c = p.chunks;
  if (typeof c !== 'number') throw new TypeError(`task.proofs.chunks must be a number, got ${c === null ? 'null' : typeof c}`);
  if (!Number.isInteger(c) || c < 1 || c > chunksOfModel) throw new RangeError(`task.proofs.chunks must be an integer in [1, ${chunksOfModel}] (the model has ${chunksOfModel} chunks of ${CHUNK} values), got ${c}`);
  return { chunks: c };
}

/**
 * The chunks (indices of 64-value chunks of the encoded update, ascending) that participant `index` proves in
 * `round` of a task with `proofs`: `task.proofs.chunks` distinct ones, drawn from the task's proofs stream at
 * (seed, index, round), so they are fixed before any training and the same on every host. Empty without proofs.
 */
export function proofChunks(t: TaskSpec, round: number, index: number): number[] {
  if (!t.proofs) return [];
  const n = Math.ceil(taskDimension(t) / CHUNK);
  const rng = new Rng(t.seed, STREAMS.proofs, index, round);
  const order = Array.from({ length: n }, (_, i) => i);
  for (let i = 0; i < t.proofs.chunks; i++) {
    const j = i + rng.int(n - i);
    [order[i], order[j]] = [order[j]!, order[i]!];
  }
  return order.slice(0, t.proofs.chunks).sort((a, b) => a - b);
}

/**
 * B, the bound on one chunk's sum of squares that proofs of a task's updates prove: (2^bits + ceil(sqrt(d)))^2,
 * the square of the L2 bound every whole update must meet (clip plus stochastic rounding, as
 * {@link decodeUpdatePayload} checks), so no honest chunk can exceed it. Below 2^70 for every task (bits <= 30).
 */
export function proofBound(t: TaskSpec): bigint {
  const r = (1n << BigInt(taskEncoding(t).bits)) + BigInt(Math.ceil(Math.sqrt(taskDimension(t))));
  return r * r;
}

/** The fixed-point encoding of a task. */
export function taskEncoding(t: TaskSpec): Encoding {
  // With DP the integer sum also carries noise of std z * 2^bits: leave room for it (as simulate does).
  if (t.bits === undefined && t.dp) return { clip: t.clip, bits: Math.min(16, bitsFor(2 * t.maxParticipants + Math.ceil(64 * t.dp.noiseMultiplier))) };
  return { clip: t.clip, bits: t.bits ?? bitsFor(t.maxParticipants) };
}

/** Number of model parameters of a task. */
export function taskDimension(t: TaskSpec): number {
  return new Mlp(t.sizes).size;
}

/** The task's demo split of a data set: the coordinator's held-out test set and the participants' shards. */
export function taskSplit(t: TaskSpec, all: Dataset): { test: Dataset; shards: Dataset[] } {
  const { train, test } = trainTestSplit(all, t.data.testFraction, t.seed);
  const shards = t.data.alpha === undefined ? shardIid(train, t.data.shards, t.seed) : shardDirichlet(train, t.data.shards, t.data.alpha, t.seed);
  return { test, shards };
}

/** Bytes before the values in an update payload. */
export const UPDATE_PAYLOAD_HEADER = 40;

/** Bytes of one proof in an update payload's proofs section: u32 chunk, the public signals, the proof. */
export const UPDATE_PROOF_BYTES = 4 + SIGNALS_BYTES + PROOF_BYTES;

/** A Groth16 proof for one chunk of an update (docs/proofs-groth16.md). */
export interface UpdateProof {
  /** Index of the 64-value chunk of the values. */
  chunk: number;
  /** [c, B, bind] as decimal strings. */
  publicSignals: string[];
  proof: Groth16Proof;
}

/** A decoded update payload. */
export interface UpdatePayload {
  /** SHA-256 (32 bytes) of the global model it was trained from. */
  model: Uint8Array;
  samples: number;
  values: Int32Array;
  /** Proofs of chunks (tasks with `proofs`); absent: the payload ends after the values. */
  proofs?: UpdateProof[];
}

/** A bad update payload; `field` names the part at fault. */
export class PayloadError extends RangeError {
  override name = 'PayloadError';
  constructor(readonly field: string, readonly code: 'length' | 'dimension' | 'samples' | 'range' | 'norm' | 'proof' | 'order', message: string, what = 'update') {
    super(`${what} ${field}: ${message}`);
  }
}

const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

/** Builds an update payload (see the module comment for the layout). */
export function encodeUpdatePayload(p: UpdatePayload): Uint8Array {
  if (!(p.model instanceof Uint8Array) || p.model.length !== 32) throw new TypeError('update model must be a 32-byte SHA-256');
  checkInt('update', 'samples', p.samples, 0, 0xffffffff);
  if (!(p.values instanceof Int32Array)) throw new TypeError('update values must be an Int32Array');
  if (p.proofs !== undefined && !Array.isArray(p.proofs)) throw new TypeError('update proofs must be an array');
  const end = UPDATE_PAYLOAD_HEADER + 4 * p.values.length;
  const out = new Uint8Array(end + (p.proofs ? 4 + p.proofs.length * UPDATE_PROOF_BYTES : 0));
  const dv = new DataView(out.buffer);
  out.set(p.model, 0);
  dv.setUint32(32, p.samples);
  dv.setUint32(36, p.values.length);
  if (LITTLE_ENDIAN) out.set(new Uint8Array(p.values.buffer, p.values.byteOffset, p.values.byteLength), UPDATE_PAYLOAD_HEADER);
  else for (let i = 0; i < p.values.length; i++) dv.setInt32(UPDATE_PAYLOAD_HEADER + 4 * i, p.values[i]!, true);
  if (p.proofs) {
    dv.setUint32(end, p.proofs.length);
    p.proofs.forEach((q, i) => {
      const o = end + 4 + i * UPDATE_PROOF_BYTES;
      checkInt('update', `proofs[${i}].chunk`, q.chunk, 0, 0xffffffff);
      dv.setUint32(o, q.chunk);
      out.set(signalsToBytes(q.publicSignals, `update proofs[${i}].publicSignals`), o + 4);
      out.set(proofToBytes(q.proof, `update proofs[${i}].proof`), o + 4 + SIGNALS_BYTES);
    });
  }
  return out;
}

/** The proofs section of a payload that goes on after its values at `end`. @throws PayloadError naming the field. */
function decodeProofs(payload: Uint8Array, end: number): UpdateProof[] {
  if (payload.length < end + 4) throw new PayloadError('payload', 'length', `${payload.length} bytes: more than the values, too few for a proofs section`);
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const count = dv.getUint32(end);
  if (payload.length !== end + 4 + count * UPDATE_PROOF_BYTES) throw new PayloadError('proofs', 'length', `${payload.length - end - 4} bytes for ${count} proofs, expected ${count * UPDATE_PROOF_BYTES} (${UPDATE_PROOF_BYTES} each)`);
  const out: UpdateProof[] = [];
  for (let i = 0; i < count; i++) {
    const o = end + 4 + i * UPDATE_PROOF_BYTES;
    try {
      out.push({
        chunk: dv.getUint32(o),
        publicSignals: signalsFromBytes(payload.subarray(o + 4, o + 4 + SIGNALS_BYTES), `proofs[${i}].publicSignals`),
        proof: proofFromBytes(payload.subarray(o + 4 + SIGNALS_BYTES, o + UPDATE_PROOF_BYTES), `proofs[${i}].proof`),
      });
    } catch (e) {
      if (e instanceof RangeError) throw new PayloadError(e.message.split(' ')[0]!, 'proof', e.message);
      throw e;
    }
  }
  return out;
}

/**
 * Parses and checks an update payload for a task of dimension `d`: exact length, `samples` in
 * [1, maxSamples], every value within the encoding's range [-2^bits, 2^bits] and the L2 norm within what
 * clipping plus stochastic rounding can give (2^bits + sqrt(d)).
 * @param into where the values go (length d); a new array when left out. On a throw it holds partial values.
 * @throws PayloadError naming the field.
 */
export function decodeUpdatePayload(payload: Uint8Array, d: number, enc: Encoding, maxSamples: number, into?: Int32Array): UpdatePayload {
  if (payload.length < UPDATE_PAYLOAD_HEADER) throw new PayloadError('payload', 'length', `${payload.length} bytes, shorter than the ${UPDATE_PAYLOAD_HEADER}-byte update header`);
  const dv = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const samples = dv.getUint32(32), n = dv.getUint32(36);
  if (n !== d) throw new PayloadError('d', 'dimension', `has ${n} values, the task's model has ${d}`);
  if (payload.length < UPDATE_PAYLOAD_HEADER + 4 * d) throw new PayloadError('payload', 'length', `${payload.length} bytes, expected ${UPDATE_PAYLOAD_HEADER + 4 * d} for d = ${d}`);
  const proofs = payload.length > UPDATE_PAYLOAD_HEADER + 4 * d ? decodeProofs(payload, UPDATE_PAYLOAD_HEADER + 4 * d) : undefined;
  if (samples < 1 || samples > maxSamples) throw new PayloadError('samples', 'samples', `must be in [1, ${maxSamples}], got ${samples}`);
  if (into !== undefined && (!(into instanceof Int32Array) || into.length !== d)) throw new TypeError(`decodeUpdatePayload: into must be an Int32Array of length ${d}`);
  const lim = 2 ** enc.bits;
  const values = into ?? new Int32Array(d);
  if (LITTLE_ENDIAN) {
    // The values are little-endian i32: one copy of the bytes, then the checks on the copy.
    new Uint8Array(values.buffer, values.byteOffset, 4 * d).set(payload.subarray(UPDATE_PAYLOAD_HEADER, UPDATE_PAYLOAD_HEADER + 4 * d));
  } else {
    for (let i = 0; i < d; i++) values[i] = dv.getInt32(UPDATE_PAYLOAD_HEADER + 4 * i, true);
  }
  let sq = 0;
  for (let i = 0; i < d; i++) {
    const v = values[i]!;
    if (v > lim || v < -lim) throw new PayloadError(`values[${i}]`, 'range', `${v} is outside the encoding's range [-2^${enc.bits}, 2^${enc.bits}]`);
    sq += v * v;
  }
  const bound = lim + Math.sqrt(d);
  if (Math.sqrt(sq) > bound) throw new PayloadError('values', 'norm', `L2 norm ${Math.sqrt(sq).toFixed(0)} is over the clip bound ${bound.toFixed(0)} (2^${enc.bits} + sqrt(d))`);
  return { model: payload.slice(0, 32), samples, values, ...(proofs ? { proofs } : {}) };
}

/** The local-training job of participant `index` in `round` on its data, from the global `params`. */
export function localJob(t: TaskSpec, params: Float32Array, data: Dataset, index: number, round: number): LocalJob {
  const sgd = { lr: t.lr * t.lrDecay ** (round - 1), momentum: t.momentum, batch: t.batch, epochs: t.localEpochs };
  return { sizes: t.sizes, params, x: data.x, y: data.y, sgd, seed: t.seed, participant: index, round };
}

/**
 * Encodes a trained update as the participant sends it: clipped and fixed-point encoded with stochastic
 * rounding drawn at the participant's own offset of the task's encode stream (the same offsets as the
 * in-process simulation, so a distributed run and `simulate` encode alike).
 */
export function encodeForSubmit(t: TaskSpec, update: Float32Array, index: number, round: number, kernel: RunOptions = {}): Int32Array {
  const d = update.length;
  return encodeUpdate(update, taskEncoding(t), t.seed, STREAMS.encode, (round * t.maxParticipants + index) * d, kernel);
}

/** Trains in-process and returns the encoded update (hosts with a worker run `localJob` there instead). */
export function trainAndEncode(t: TaskSpec, params: Float32Array, data: Dataset, index: number, round: number, kernel: RunOptions = {}): Int32Array {
  return encodeForSubmit(t, runLocalJob(localJob(t, params, data, index, round), kernel), index, round, kernel);
}

/** Join request payload (UTF-8 JSON inside a `control` envelope with round 0). */
export interface JoinRequest {
  op: 'join';
  host: 'node' | 'browser';
  role: 'participant' | 'aggregator';
  /**
   * The participant's ML-DSA-65 public key (base64, 1,952 bytes) for hybrid (Ed25519 + ML-DSA-65)
   * envelopes; the join itself must then be hybrid-signed with it. Once registered, every envelope of this
   * participant must be hybrid (no downgrade).
   */
  mlDsaPublicKey?: string;
  /**
   * Role `aggregator`: the base URL (http or https) where its participants reach its `POST /api/submit`, and
   * the coordinator its `GET /api/envelopes`. Required for that role, refused for a participant.
   */
  endpoint?: string;
  /**
   * TPM evidence (docs/tpm.md, "Attestation at join"); left out by a participant without a TPM. A TPM 2.0
   * quote over SHA-256 PCRs whose qualifying data is SHA-256("meshwork/tpm-quote/v1" || 0x00 || the
   * envelope's sender key || nonce), signed by the attestation key (AK) whose public area is `akPublic`.
   */
  attestation?: {
    /** Evidence format. */
    type: 'tpm2-quote';
    /** The single-use nonce from `GET /api/attest-nonce` (hex, 32 bytes). */
    nonce: string;
    /** The AK's TPMT_PUBLIC (hex): a restricted ECC P-256 ECDSA/SHA-256 signing key. */
    akPublic: string;
    /** The quote as the TPM gave it: TPMS_ATTEST and TPMT_SIGNATURE (hex), and the quoted PCR values by index (hex). */
    quote: { attest: string; signature: string; pcrBank: 'sha256'; pcrs: Record<number, string> };
  };
}

/** The round as `GET /api/round` and the WebSocket `round` message describe it. */
export interface RoundInfo {
  round: number;
  state: 'waiting' | 'open' | 'done';
  /** Participant ids selected for this round. */
  selected: string[];
  /** Ids whose update for this round is in the ledger. */
  submitted: string[];
  /** Deadline (epoch ms); 0 when no round is open. */
  deadline: number;
  /** SHA-256 (hex) of the global model this round trains from. */
  modelSha256: string;
  rounds: number;
  /**
   * Tasks with `aggregators`: which leaf aggregator each assigned participant submits to (the others submit to
   * the coordinator). Absent when no aggregator is assigned.
   */
  aggregators?: RoundAggregator[];
  /** With `aggregators`: ms left to the deadline when this was sent (an aggregator's clock may differ). */
  closesInMs?: number;
}

/** A leaf aggregator of the open round and the participants it was given. */
export interface RoundAggregator {
  id: string;
  endpoint: string;
  /** Participant ids, sorted. */
  members: string[];
}

/** One aggregated round, as `rows[]` of `GET /api/status` and the WebSocket `row` message. */
export interface StatusRow {
  round: number;
  accuracy: number;
  loss: number;
  /** Privacy budget spent up to this round; null when the task adds no noise. */
  epsilon: number | null;
  accepted: string[];
  /** Who did not count: left out by the rule (with its reason) or selected without an update in time. */
  rejected: { id: string; reason: string }[];
  /** Participants the detector flagged this round. */
  flagged: string[];
  /** From the round's opening to its aggregate applied (ms). */
  latencyMs: number;
  /** Participants whose update counted, by host. */
  hosts: { node: number; browser: number };
  /**
   * Tasks with `aggregators`: the partial sums the round counted (aggregator id, updates covered, whether it
   * was replayed from its envelopes). Absent when none.
   */
  partials?: { id: string; members: number; audited: boolean }[];
  closedAt: number;
  /** SHA-256 (hex) of the model after the round. */
  modelSha256: string;
}

/** A participant, as `participants[]` of `GET /api/status`. */
export interface StatusParticipant {
  id: string;
  host: 'node' | 'browser';
  role: 'participant' | 'aggregator';
  connected: boolean;
  reputation: number;
  /** Times the detector flagged it. */
  flags: number;
  joinedAt: number;
  /**
   * Whether a join of this participant carried a TPM quote that the coordinator verified: bound to its key
   * and a fresh nonce, signed by an attestation key (AK), PCRs as policy required. How much that proves
   * depends on whether the coordinator pins the AK (docs/tpm.md, "Attestation at join"). False or absent:
   * no join of it did.
   */
  attested?: boolean;
  /** TPM name (hex) of the attestation key of its last verified quote. */
  ak?: string;
}

/** A refused request, as `rejections[]` of `GET /api/status` and the WebSocket `rejected` message. */
export interface StatusRejection {
  at: number;
  round: number;
  /** Null when the request was refused before its sender was known. */
  id: string | null;
  status: number;
  code: string;
  field: string | null;
  message: string;
}

/** `GET /api/status`, and the `status` of a dashboard's WebSocket `hello`. */
export interface Status {
  task: TaskSpec;
  taskId: string;
  d: number;
  state: 'waiting' | 'open' | 'aggregating' | 'done';
  round: RoundInfo;
  rows: StatusRow[];
  participants: StatusParticipant[];
  rejections: StatusRejection[];
  counts: { accepted: number; rejected: number; rejectedByCode: Record<string, number> };
}

/** The events a coordinator sends on `/ws` after `hello` (docs/coordinator.md). */
export type CoordinatorEvent =
  | ({ type: 'round' } & RoundInfo)
  | { type: 'accepted'; round: number; id: string }
  | ({ type: 'rejected' } & StatusRejection)
  | { type: 'row'; row: StatusRow }
  | { type: 'participants'; participants: StatusParticipant[] }
  | { type: 'done'; rows: StatusRow[] };
