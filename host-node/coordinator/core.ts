/**
 * The coordinator's round loop, without HTTP: joins, round opening and deadlines, the checks every
 * submission goes through (envelope, task, round, selection, duplicate, replay, payload, signature in
 * micro-batches), the durable ledger, and aggregation with the task's strategy, the detector and the server
 * optimizer of the in-process simulation (runtime/fl). server.ts puts HTTP and WebSocket in front of it.
 * @module
 */
import { createHash } from 'node:crypto';
import { toHex } from '../../proofs/bytes.js';
import { verifyBatch, type SignedItem } from '../../proofs/batch.js';
import { MLDSA65_PUBLIC_KEY_BYTES, verifyHybridDetailed } from '../../proofs/hybrid.js';
import type { Rejection } from '../../proofs/ed25519.js';
import { EnvelopeError, parseEnvelope, ReplayGuard, taskId, type Envelope } from '../../proofs/envelope.js';
import type { Dataset } from '../../runtime/fl/data.js';
import { Mlp } from '../../runtime/fl/model.js';
import { decodeUpdatePayload, PayloadError, proofBound, proofChunks, UPDATE_PROOF_BYTES, type UpdateProof, taskDimension, taskEncoding, taskSplit, type CoordinatorEvent, type JoinRequest, type RoundAggregator, type RoundInfo, type Status, type StatusParticipant, type StatusRejection, type TaskSpec } from '../../runtime/fl/protocol.js';
import { decodePartialPayload, partialBytes, unpackEnvelopes, type PartialPayload } from '../../runtime/fl/partial.js';
import { addPartials } from '../../runtime/fl/hierarchy.js';
import { Rng, STREAMS } from '../../runtime/fl/rng.js';
import { detect, participantId, serverStep } from '../../runtime/fl/simulate.js';
import { RdpAccountant } from '../../runtime/fl/accountant.js';
import { DpFedAvg } from '../../runtime/fl/dp.js';
import { isLinear, ordered, strategyByName, weightedSum, weightsOf, type AggregateResult, type EncodedUpdate, type Encoding, type Failure, type LinearStrategy, type Strategy } from '../../runtime/fl/strategy.js';
import { AttestationError, JoinAttestation, type AttestationVerdict } from './attestation.js';
import { checkUrl } from '../follow.js';
import { bytesOf, f32Of, type CoordinatorStore, type ParticipantRecord, type RoundOpenRecord, type RoundRowRecord } from './store.js';
import type { Groth16Artifacts } from '../../proofs/groth16.js';

/** What checking proofs on updates needs: proofs/groth16.ts (snarkjs, the verifier) and the artifacts, loaded on first use. */
interface ProofKit {
  g: typeof import('../../proofs/groth16.js');
  artifacts: Groth16Artifacts;
}

/** A refused request: HTTP status, a machine-readable code and the field at fault. */
export class HttpError extends Error {
  override name = 'HttpError';
  constructor(readonly status: number, readonly code: string, readonly field: string | null, message: string) {
    super(message);
  }
}

/** One refused request, as the status and the dashboard show it. */
export type RejectionRecord = StatusRejection;
/** A participant as `/api/status` shows it. */
export type ParticipantStatus = StatusParticipant;
export type { CoordinatorEvent };

/** What the coordinator reports to metrics. */
export interface CoordinatorMetrics {
  accepted(): void;
  rejected(code: string): void;
  roundClosed(row: RoundRowRecord): void;
  participants(list: ParticipantStatus[]): void;
  round(round: number): void;
}

export interface CoordinatorOptions {
  task: TaskSpec;
  store: CoordinatorStore;
  /** The data set the task's split is cut from (the coordinator evaluates on its test part). */
  data: Dataset;
  onEvent?: (e: CoordinatorEvent) => void;
  metrics?: CoordinatorMetrics;
  log?: (line: string) => void;
  /** Clock (ms); tests may replace it. */
  now?: () => number;
  /**
   * Issues the nonces of `GET /api/attest-nonce` and verifies the TPM evidence of joins (docs/tpm.md,
   * "Attestation at join"). Default: a {@link JoinAttestation} without policy (evidence optional, any AK,
   * any PCR selection).
   */
  attestation?: JoinAttestation;
  /** URL prefixes an aggregator's endpoint must start with (default: any http(s) URL). */
  aggregatorEndpoints?: string[];
}

/** One entry of `GET /api/ledger`. */
export interface LedgerEntry {
  round: number;
  /** The sender: a participant (its update) or an aggregator (its partial sum). */
  id: string;
  kind: 'update' | 'aggregate';
  sequence: number;
  /** SHA-256 (hex) of the envelope as stored. */
  sha256: string;
  /** The envelope's length in bytes. */
  bytes: number;
  /** A partial sum: the updates it covers. */
  covers?: { id: string; sha256: string }[];
}

/** The answer to a join. */
export interface JoinAnswer {
  id: string;
  index: number;
  shard: number;
  round: RoundInfo;
  /** Whether the participant is TPM-attested: by this join's quote, or by an earlier join's. */
  attested: boolean;
  /** TPM name (hex) of the attestation key of its last verified quote. */
  ak?: string;
}

const REJECTIONS_KEPT = 200;

/** A leaf aggregator's partial sum, counted in the open round. */
interface AcceptedPartial {
  id: string;
  /** Participant ids it covers, sorted. */
  members: string[];
  sums: BigInt64Array;
  weight: number;
  audited: boolean;
}

/** An aggregator endpoint as joins give it: an http(s) URL of at most 256 characters, with a trailing slash. */
function checkEndpoint(v: unknown): string {
  if (typeof v !== 'string' || v.length > 256) throw new HttpError(400, 'endpoint', 'payload.endpoint', 'endpoint must be an http(s) URL string of at most 256 characters');
  try {
    return checkUrl(v, 'endpoint').href;
  } catch (e) {
    throw new HttpError(400, 'endpoint', 'payload.endpoint', (e as Error).message);
  }
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Signature checks gathered over one turn of the event loop and verified as one batch (proofs/batch.ts). */
export class MicroBatchVerifier {
  private queue: { item: SignedItem; resolve: (r: Rejection | undefined) => void; reject: (e: unknown) => void }[] = [];

  verify(item: SignedItem): Promise<Rejection | undefined> {
    return new Promise((resolve, reject) => {
      if (this.queue.push({ item, resolve, reject }) === 1) setImmediate(() => void this.flush());
    });
  }

  private async flush(): Promise<void> {
    const batch = this.queue;
    this.queue = [];
    try {
      const res = await verifyBatch(batch.map((b) => b.item));
      batch.forEach((b, i) => b.resolve(res.reasons[i]));
    } catch (e) {
      for (const b of batch) b.reject(e);
    }
  }
}

/**
 * A round's updates, decoded in place: row i of one n x d matrix belongs to the i-th selected participant (ids
 * sorted), so when every selected participant submitted, the rules read the matrix itself (no stacking copy).
 */
class RoundRows {
  private readonly index = new Map<string, number>();
  readonly matrix: Int32Array;

  /** @param reuse the previous round's rows: its matrix is taken over when the size matches (no longer read). */
  constructor(readonly ids: readonly string[], readonly d: number, reuse?: RoundRows) {
    ids.forEach((id, i) => this.index.set(id, i));
    this.matrix = reuse && reuse.matrix.length === ids.length * d ? reuse.matrix : new Int32Array(ids.length * d);
  }

  has(id: string): boolean {
    return this.index.has(id);
  }

  /** Participant `id`'s row (it must be selected). */
  row(id: string): Int32Array {
    const i = this.index.get(id);
    if (i === undefined) throw new Error(`${id} has no row in this round`);
    return this.matrix.subarray(i * this.d, (i + 1) * this.d);
  }
}

/**
 * Verifies an envelope's signature against its sender's keys: Ed25519 in `verifier`'s micro-batches, or hybrid
 * (both parts) with `mlDsaKey`, the sender's ML-DSA-65 key. A sender with such a key must sign hybrid: no
 * downgrade to Ed25519 alone. The coordinator and the leaf aggregators check envelopes with it.
 * @throws HttpError 400 'alg' (a downgrade, or hybrid without a key), 401 'signature'.
 */
export async function checkEnvelopeSignature(env: Envelope, mlDsaKey: Uint8Array | undefined, verifier: MicroBatchVerifier): Promise<void> {
  let why: string | undefined;
  if (env.alg === 'hybrid') {
    if (!mlDsaKey) throw new HttpError(400, 'alg', 'alg', 'a hybrid envelope needs an ML-DSA-65 key registered at join (payload.mlDsaPublicKey of a hybrid-signed join)');
    why = await verifyHybridDetailed({ publicKey: env.sender, mlDsaPublicKey: mlDsaKey }, env.signed, env.signature);
  } else {
    if (mlDsaKey) throw new HttpError(400, 'alg', 'alg', 'this sender registered an ML-DSA-65 key: its envelopes must be hybrid (Ed25519 + ML-DSA-65)');
    why = await verifier.verify({ publicKey: env.sender, message: env.signed, signature: env.signature });
  }
  if (why) throw new HttpError(401, 'signature', 'signature', `signature does not verify (${why})`);
}

/** Maps an envelope or payload error to an HTTP error. */
export function refusal(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  if (e instanceof AttestationError) return new HttpError(e.status, e.code, e.field, e.message);
  if (e instanceof PayloadError) return new HttpError(e.code === 'range' || e.code === 'norm' || e.code === 'samples' ? 422 : 400, e.code, e.field, e.message);
  if (e instanceof EnvelopeError) {
    const status = e.code === 'too-large' ? 413 : e.code === 'signature' ? 401 : e.code === 'unknown-key' ? 403 : e.code === 'replay' ? 409 : 400;
    return new HttpError(status, e.code, e.field, e.message);
  }
  if (e instanceof TypeError || e instanceof RangeError) return new HttpError(400, 'malformed', null, e.message);
  throw e;
}

/** One federated task's coordinator. Create with {@link Coordinator.start}. */
export class Coordinator {
  readonly task: TaskSpec;
  readonly d: number;
  readonly enc: Encoding;
  private readonly strategy: Strategy;
  private readonly model: Mlp;
  private readonly test: Dataset;
  private readonly store: CoordinatorStore;
  private readonly now: () => number;
  private readonly log: (line: string) => void;
  private readonly verifier = new MicroBatchVerifier();
  /** Join nonces and the verification of joins' TPM evidence. */
  readonly attestation: JoinAttestation;
  private taskIdBytes!: Uint8Array;
  taskIdHex!: string;

  private params!: Float32Array;
  private velocity!: Float32Array;
  private modelBytes!: Uint8Array;
  private modelSha!: string;
  private modelShaBytes!: Uint8Array;
  round = 1;
  state: 'waiting' | 'open' | 'aggregating' | 'done' = 'waiting';
  private selected: string[] = [];
  private openedAt = 0;
  private deadline = 0;
  private timer: NodeJS.Timeout | undefined;
  private gather: NodeJS.Timeout | undefined;
  private gatherDue = false;
  private rowsOfRound = new RoundRows([], 0);
  private readonly submitted = new Map<string, EncodedUpdate>();
  /** Tasks with aggregators: the open round's leaf aggregators and the participants each was given. */
  private assignment: RoundAggregator[] = [];
  /** The open round's accepted partial sums, by aggregator id. */
  private readonly partials = new Map<string, AcceptedPartial>();
  /** Participant id -> the aggregator whose accepted partial covers its update. */
  private readonly covered = new Map<string, string>();
  /** Participant id -> the aggregator whose partial covering it is being checked. */
  private readonly claimedBy = new Map<string, string>();
  /** Times the open round's deadline waited for a partial being checked. */
  private deadlineWaits = 0;
  /** Per counted update or partial (by sender id), its ledger write (true once synced; the round's result is committed after them). */
  private readonly written = new Map<string, Promise<boolean>>();
  /** Submissions past their cheap checks, their signature being verified. */
  private readonly inflight = new Set<string>();
  private replay = new ReplayGuard();
  private readonly byKey = new Map<string, ParticipantRecord>();
  private readonly byId = new Map<string, ParticipantRecord>();
  private readonly connections = new Map<string, number>();
  private rows: RoundRowRecord[] = [];
  private reputation = new Map<string, number>();
  private flags = new Map<string, number>();
  private readonly rejections: RejectionRecord[] = [];
  private readonly roundFailures = new Map<string, string>();
  private counts = { accepted: 0, rejected: 0, rejectedByCode: {} as Record<string, number> };
  private closing: Promise<void> | undefined;
  private joining: Promise<unknown> = Promise.resolve();
  /** Requests and writes under way; stop() waits for them so the store is not closed under them. */
  private readonly pending = new Set<Promise<unknown>>();
  private stopped = false;
  /** Resolves with every row when the last round is aggregated. */
  readonly done: Promise<RoundRowRecord[]>;
  private resolveDone!: (rows: RoundRowRecord[]) => void;
  /** DP tasks: the privacy accountant (one step per applied round) and the open round's DP-FedAvg release. */
  private readonly accountant: RdpAccountant | undefined;
  private dpRound: DpFedAvg | undefined;
  /** Proofs tasks: the Groth16 verifier and artifacts, loaded by the first update. */
  private proofKit: Promise<ProofKit> | undefined;

  private constructor(private readonly opts: CoordinatorOptions) {
    this.task = opts.task;
    this.store = opts.store;
    this.d = taskDimension(this.task);
    this.enc = taskEncoding(this.task);
    this.strategy = strategyByName(this.task.rule, this.task.byzantineFraction);
    this.accountant = this.task.dp ? new RdpAccountant() : undefined;
    this.model = new Mlp(this.task.sizes);
    this.test = taskSplit(this.task, opts.data).test;
    this.now = opts.now ?? Date.now;
    this.attestation = opts.attestation ?? new JoinAttestation();
    this.log = opts.log ?? (() => undefined);
    this.done = new Promise((ok) => { this.resolveDone = ok; });
  }

  /** Opens (or resumes from) the store and starts the round loop. */
  static async start(opts: CoordinatorOptions): Promise<Coordinator> {
    const c = new Coordinator(opts);
    await c.resume();
    return c;
  }

  private track<T>(p: Promise<T>): Promise<T> {
    this.pending.add(p);
    const drop = () => { this.pending.delete(p); };
    p.then(drop, drop);
    return p;
  }

  private emit(e: CoordinatorEvent): void {
    this.opts.onEvent?.(e);
  }

  private setModel(params: Float32Array): void {
    this.params = params;
    this.modelBytes = bytesOf(params);
    this.modelSha = sha256Hex(this.modelBytes);
    this.modelShaBytes = Uint8Array.from(Buffer.from(this.modelSha, 'hex'));
  }

  /** Restores the state after the last applied round; reopens a round that was open when the process died. */
  private async resume(): Promise<void> {
    await this.store.bindTask(this.task);
    this.taskIdBytes = await taskId(this.task.name);
    this.taskIdHex = toHex(this.taskIdBytes);
    for (const p of this.store.allParticipants()) this.addKnown(p);
    const { last, rows } = this.store.history();
    this.rows = rows;
    if (last) {
      this.setModel(f32Of(last.params));
      this.velocity = f32Of(last.velocity);
      this.reputation = new Map(last.reputation);
      this.flags = new Map(last.flags);
    } else {
      this.setModel(this.model.init(this.task.seed));
      this.velocity = new Float32Array(this.d);
    }
    this.round = this.store.currentRound();
    if (this.accountant) for (let i = 0; i < this.rows.length; i++) this.accountant.step(this.task.dp!.q, this.task.dp!.noiseMultiplier);
    if (this.round > this.task.rounds) {
      this.state = 'done';
      this.resolveDone(this.rows);
      return;
    }
    const opening = this.store.roundOpening(this.round);
    if (opening && opening.modelSha256 === this.modelSha) {
      // The round was open when the coordinator stopped: same selection, its ledger entries, a fresh deadline.
      this.selected = opening.selected;
      this.rowsOfRound = new RoundRows(this.selected, this.d);
      this.openedAt = opening.openedAt;
      this.assignment = opening.aggregators ?? [];
      if (this.task.dp) {
        this.dpRound = this.dpMechanism(this.round);
        this.dpRound.population = opening.population ?? this.selected.length;
      }
      for (const { index, envelope } of this.store.updatesOf(this.round)) {
        const env = parseEnvelope(envelope);
        const p = this.byKey.get(toHex(env.sender));
        if (!p || p.index !== index) throw new Error(`ledger entry (${this.round}, ${index}) is signed by an unknown key`);
        this.replay.accept(env);
        if (env.kind === 'aggregate') {
          this.countPartial(p.id, this.decodePartial(env.payload), opening.audited?.includes(p.id) ?? false);
          this.written.set(p.id, Promise.resolve(true));
          continue;
        }
        const u = decodeUpdatePayload(env.payload, this.d, this.enc, this.task.maxSamples, this.rowsOfRound.has(p.id) ? this.rowsOfRound.row(p.id) : undefined);
        this.submitted.set(p.id, { id: p.id, values: u.values, samples: u.samples });
        this.written.set(p.id, Promise.resolve(true));
      }
      this.log(`round ${this.round}: resumed with ${this.counted()} of ${this.selected.length} updates from the ledger${this.partials.size ? ` (${this.covered.size} in ${this.partials.size} partial sums)` : ''}`);
      this.state = 'open';
      this.armDeadline();
      this.emit({ type: 'round', ...this.roundInfo() });
      if (this.assignment.length) {
        // Every socket dropped with the old process: an aggregator that does not reconnect soon loses its
        // participants (they submit here), so an update it held is not left waiting for the deadline.
        const round = this.round;
        const t = setTimeout(() => {
          if (this.round !== round || this.stopped) return;
          for (const a of this.assignment.slice()) if (!this.connections.has(a.id)) this.unassign(a.id, 'it did not reconnect after the restart');
        }, Math.min(5000, this.task.roundTimeoutMs / 4));
        t.unref?.();
      }
      if (this.counted() === this.selected.length) void this.closeRound(this.selected.length ? 'all updates in' : 'nobody sampled');
    } else {
      this.state = 'waiting';
      this.maybeOpen();
    }
  }

  private addKnown(p: ParticipantRecord): void {
    this.byKey.set(p.publicKey, p);
    this.byId.set(p.id, p);
    if (!this.reputation.has(p.id)) this.reputation.set(p.id, 1);
  }

  /** The open round, or the one about to open. */
  roundInfo(): RoundInfo {
    return {
      round: Math.min(this.round, this.task.rounds),
      state: this.state === 'aggregating' ? 'open' : this.state === 'done' ? 'done' : this.state,
      selected: this.state === 'waiting' ? [] : this.selected,
      submitted: [...this.submitted.keys(), ...this.covered.keys()].sort(),
      deadline: this.state === 'open' || this.state === 'aggregating' ? this.deadline : 0,
      modelSha256: this.modelSha,
      rounds: this.task.rounds,
      ...(this.assignment.length && (this.state === 'open' || this.state === 'aggregating') ? { aggregators: this.assignment, closesInMs: Math.max(0, this.deadline - this.now()) } : {}),
    };
  }

  /** Updates counted in the open round: submitted to the coordinator, or covered by a partial sum. */
  private counted(): number {
    return this.submitted.size + this.covered.size;
  }

  /** Whether participant `id`'s update for the open round counts already (directly or in a partial). */
  private isCounted(id: string): boolean {
    return this.submitted.has(id) || this.covered.has(id);
  }

  /** The current global model (f32 LE bytes) and its hash. */
  currentModel(): { bytes: Uint8Array; round: number; sha256: string } {
    return { bytes: this.modelBytes, round: Math.min(this.round, this.task.rounds), sha256: this.modelSha };
  }

  private reject(err: HttpError, id: string | null, round = Math.min(this.round, this.task.rounds)): HttpError {
    const rec: RejectionRecord = { at: this.now(), round, id, status: err.status, code: err.code, field: err.field, message: err.message };
    this.rejections.push(rec);
    if (this.rejections.length > REJECTIONS_KEPT) this.rejections.shift();
    this.counts.rejected++;
    this.counts.rejectedByCode[err.code] = (this.counts.rejectedByCode[err.code] ?? 0) + 1;
    this.opts.metrics?.rejected(err.code);
    // The reason shown for a selected participant that ends the round without an update.
    if (id && this.selected.includes(id) && round === this.round && !this.isCounted(id) && err.code !== 'duplicate') {
      this.roundFailures.set(id, `${err.code}: ${err.message}`);
    }
    this.emit({ type: 'rejected', ...rec });
    return err;
  }

  /** Records a refusal that happened before the coordinator saw a participant (bad body, bad route). */
  refuse(err: HttpError): HttpError {
    return this.reject(err, null);
  }

  private async openEnvelope(bytes: Uint8Array, kind: Envelope['kind']): Promise<{ env: Envelope; who: ParticipantRecord | undefined }> {
    let env: Envelope;
    try {
      env = parseEnvelope(bytes, { maxPayload: kind === 'aggregate' ? partialBytes(this.task.aggregators?.fanin ?? 1, this.d) : 40 + 4 * this.d + (this.task.proofs ? 4 + this.task.proofs.chunks * UPDATE_PROOF_BYTES : 0) });
    } catch (e) {
      throw refusal(e);
    }
    if (env.kind !== kind) throw new HttpError(400, 'kind', 'kind', `expected a '${kind}' envelope, got '${env.kind}'`);
    if (toHex(env.task) !== this.taskIdHex) throw new HttpError(409, 'task', 'task', `envelope is for task ${toHex(env.task)}, this coordinator runs ${this.taskIdHex} ('${this.task.name}')`);
    const who = this.byKey.get(toHex(env.sender));
    // A participant that registered an ML-DSA-65 key signs every envelope hybrid: no downgrade to Ed25519.
    if (who?.mlDsaPublicKey && env.alg !== 'hybrid') throw new HttpError(400, 'alg', 'alg', `${who.id} registered an ML-DSA-65 key: its envelopes must be hybrid (Ed25519 + ML-DSA-65)`);
    return { env, who };
  }

  /**
   * Loads proofs/groth16.ts and the committed artifacts (host-node/groth16.ts) on the first update of a proofs
   * task. Dynamic imports: a coordinator whose task has no proofs never loads snarkjs.
   */
  private loadProofKit(): Promise<ProofKit> {
    if (!this.proofKit) {
      const kit = (async () => {
        const [g, node, batch] = await Promise.all([import('../../proofs/groth16.js'), import('../groth16.js'), import('../../proofs/groth16-batch.js')]);
        // The bn128 engine once, before updates verify concurrently (snarkjs would otherwise build one each).
        await batch.sharedBn128();
        return { g, artifacts: await node.readArtifacts() };
      })();
      this.proofKit = kit;
      kit.catch(() => { if (this.proofKit === kit) this.proofKit = undefined; });
    }
    return this.proofKit;
  }

  /**
   * A proofs task's checks of an update's proofs (docs/coordinator.md, "Proofs on updates"): one per chunk
   * {@link proofChunks} picks for this sender and round, in that order; each with B = {@link proofBound},
   * bind = bindingOf(this envelope's task id, round, sender key, chunk), and c = Poseidon(pack(x)) of that
   * chunk of the values received; then all of the update's proofs in one batch verification.
   * @throws HttpError 422 'proof' naming the field (`proofs`, `proofs[i].chunk`, `.bound`, `.bind`, `.commitment`, `proofs[i]`).
   */
  private async checkProofs(env: Envelope, who: ParticipantRecord, values: Int32Array, proofs: UpdateProof[] | undefined): Promise<void> {
    const want = proofChunks(this.task, env.round, who.index);
    const fail = (field: string, message: string) => new HttpError(422, 'proof', field, message);
    if (!proofs?.length) throw fail('proofs', `task '${this.task.name}' requires proofs for chunks ${want.join(', ')} of ${who.id}'s round ${env.round} update; it carries none`);
    if (proofs.length !== want.length) throw fail('proofs', `the update carries ${proofs.length} proofs; the task requires ${want.length} (chunks ${want.join(', ')})`);
    proofs.forEach((p, i) => {
      if (p.chunk !== want[i]) throw fail(`proofs[${i}].chunk`, `proof ${i} is for chunk ${p.chunk}; ${who.id}'s round ${env.round} update must prove chunks ${want.join(', ')} in that order`);
    });
    // Copies of the chunks now: the row is this participant's, but the awaits below must not read a reused matrix.
    const chunks = proofs.map((p) => {
      const c = new Int32Array(64);
      c.set(values.subarray(p.chunk * 64, Math.min(values.length, (p.chunk + 1) * 64)));
      return c;
    });
    const { g, artifacts } = await this.loadProofKit();
    const bound = proofBound(this.task);
    for (let i = 0; i < proofs.length; i++) {
      const p = proofs[i]!;
      const { commitment, bound: b, bind } = g.statementOf(p.publicSignals);
      if (b !== bound) throw fail(`proofs[${i}].bound`, `proof ${i} proves the bound B = ${b}; the task's per-chunk bound is ${bound}`);
      if (bind !== g.bindingOf({ task: env.task, round: env.round, sender: env.sender, chunk: p.chunk })) throw fail(`proofs[${i}].bind`, `proof ${i} is bound to another (task, round, sender, chunk) than this envelope's chunk ${p.chunk}`);
      if (commitment !== await g.commitment(chunks[i]!, artifacts)) throw fail(`proofs[${i}].commitment`, `proof ${i} commits to other values than chunk ${p.chunk} of the update (c != Poseidon(pack(x)))`);
    }
    const res = await g.batchVerify(artifacts.vkey, proofs.map((p) => ({ proof: p.proof, publicSignals: p.publicSignals })));
    if (!res.ok) {
      const i = res.bad[0]!;
      throw fail(`proofs[${i}]`, `proof ${i} (chunk ${proofs[i]!.chunk}) does not verify: ${res.reasons[i]}`);
    }
  }

  /**
   * Verifies an envelope's signature: Ed25519 in micro-batches; a hybrid one with the ML-DSA-65 key given
   * (at join) or registered (afterwards), both parts required.
   */
  private checkSignature(env: Envelope, mlDsaPublicKey?: Uint8Array): Promise<void> {
    return checkEnvelopeSignature(env, mlDsaPublicKey ?? this.mlDsaKeyOf(env.sender), this.verifier);
  }

  private mlDsaKeyOf(sender: Uint8Array): Uint8Array | undefined {
    const b64 = this.byKey.get(toHex(sender))?.mlDsaPublicKey;
    return b64 ? new Uint8Array(Buffer.from(b64, 'base64')) : undefined;
  }

  /** The ML-DSA-65 key of a join request, checked: base64 of exactly 1,952 bytes. */
  private joinMlDsaKey(env: Envelope, req: JoinRequest): Uint8Array | undefined {
    if (req.mlDsaPublicKey === undefined) {
      if (env.alg === 'hybrid') throw new HttpError(400, 'ml-dsa-key', 'payload.mlDsaPublicKey', 'a hybrid-signed join must carry its ML-DSA-65 public key (payload.mlDsaPublicKey, base64)');
      return undefined;
    }
    if (typeof req.mlDsaPublicKey !== 'string' || !/^[A-Za-z0-9+/]+={0,2}$/.test(req.mlDsaPublicKey)) throw new HttpError(400, 'ml-dsa-key', 'payload.mlDsaPublicKey', 'mlDsaPublicKey must be a base64 string');
    const key = new Uint8Array(Buffer.from(req.mlDsaPublicKey, 'base64'));
    if (key.length !== MLDSA65_PUBLIC_KEY_BYTES) throw new HttpError(400, 'ml-dsa-key', 'payload.mlDsaPublicKey', `an ML-DSA-65 public key has ${MLDSA65_PUBLIC_KEY_BYTES} bytes, got ${key.length}`);
    if (env.alg !== 'hybrid') throw new HttpError(400, 'alg', 'alg', 'a join that registers an ML-DSA-65 key must itself be hybrid-signed with it');
    const known = this.byKey.get(toHex(env.sender))?.mlDsaPublicKey;
    if (known && known !== Buffer.from(key).toString('base64')) throw new HttpError(409, 'ml-dsa-key', 'payload.mlDsaPublicKey', 'this participant registered another ML-DSA-65 key (keys are not rotated)');
    return key;
  }

  /** A join: a signed `control` envelope (round 0) whose payload is a {@link JoinRequest}. */
  join(bytes: Uint8Array): Promise<JoinAnswer> {
    if (this.stopped) return Promise.reject(new HttpError(503, 'stopping', null, 'the coordinator is shutting down'));
    return this.track(this.join_(bytes));
  }

  private async join_(bytes: Uint8Array): Promise<JoinAnswer> {
    let who: ParticipantRecord | undefined;
    try {
      const opened = await this.openEnvelope(bytes, 'control');
      const env = opened.env;
      if (env.round !== 0) throw new HttpError(400, 'round', 'round', `a join envelope has round 0, got ${env.round}`);
      let req: JoinRequest;
      try {
        req = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(env.payload)) as JoinRequest;
      } catch (e) {
        throw new HttpError(400, 'payload', 'payload', `join payload is not UTF-8 JSON: ${(e as Error).message}`);
      }
      if (typeof req !== 'object' || req === null || req.op !== 'join') throw new HttpError(400, 'op', 'payload.op', `join payload must have op 'join'`);
      if (req.host !== 'node' && req.host !== 'browser') throw new HttpError(400, 'host', 'payload.host', `host must be 'node' or 'browser', got ${JSON.stringify(req.host)}`);
      if (req.role !== 'participant' && req.role !== 'aggregator') throw new HttpError(400, 'role', 'payload.role', `role must be 'participant' or 'aggregator', got ${JSON.stringify(req.role)}`);
      if (req.role === 'aggregator') {
        if (!this.task.aggregators) throw new HttpError(409, 'role', 'payload.role', `task '${this.task.name}' has no aggregator tier (task.aggregators): join as a participant`);
        req.endpoint = checkEndpoint(req.endpoint);
        const allowed = this.opts.aggregatorEndpoints;
        if (allowed && !allowed.some((p) => req.endpoint!.startsWith(p))) throw new HttpError(403, 'endpoint', 'payload.endpoint', `endpoint ${req.endpoint} is not under the aggregator endpoints this coordinator allows (${allowed.join(', ')})`);
      } else if (req.endpoint !== undefined) {
        throw new HttpError(400, 'endpoint', 'payload.endpoint', 'only an aggregator gives an endpoint');
      }
      const known = opened.who;
      if (known && known.role !== req.role) throw new HttpError(409, 'role', 'payload.role', `${known.id} joined as ${known.role === 'aggregator' ? 'an aggregator' : 'a participant'}; a key keeps its role`);
      const mlDsaKey = this.joinMlDsaKey(env, req);
      await this.checkSignature(env, mlDsaKey);
      // The quote must bind the key that signed this envelope and a nonce issued here (used up now).
      const verdict = await this.attestation.verify(req, env.sender);
      who = await this.admit(env, req, verdict);
    } catch (e) {
      throw this.reject(refusal(e), who?.id ?? null);
    }
    return { id: who.id, index: who.index, shard: who.index % this.task.data.shards, round: this.roundInfo(), attested: who.attested === true, ...(who.ak ? { ak: who.ak } : {}) };
  }

  /**
   * Adds a new key as the next index; joins are serialised so two new keys never get the same index. A
   * verified TPM quote marks the participant attested (a known one too: a later quote replaces the AK). A
   * join without one leaves an earlier attestation as it is: join envelopes carry no freshness, so an old
   * join replayed by someone else must not clear it.
   */
  private admit(env: Envelope, req: JoinRequest, verdict: AttestationVerdict): Promise<ParticipantRecord> {
    const next = this.joining.then(async () => {
      let who = this.byKey.get(toHex(env.sender));
      const attested = verdict.attested ? { attested: true, ak: verdict.ak, attestedAt: this.now() } : {};
      const mlDsa = req.mlDsaPublicKey !== undefined ? { mlDsaPublicKey: req.mlDsaPublicKey } : {};
      const endpoint = req.endpoint !== undefined ? { endpoint: req.endpoint } : {};
      const note = verdict.attested ? `TPM-attested, AK ${verdict.ak!.slice(0, 16)}..., PCRs ${verdict.pcrs!.join(',')}` : 'not attested';
      if (!who) {
        if (this.byKey.size >= this.task.maxParticipants) throw new HttpError(403, 'full', null, `the task admits ${this.task.maxParticipants} participants and has them`);
        const index = this.byKey.size;
        const rec: ParticipantRecord = { id: participantId(index), index, publicKey: toHex(env.sender), host: req.host, role: req.role, joinedAt: this.now(), ...attested, ...mlDsa, ...endpoint };
        who = await this.store.addParticipant(rec);
        this.addKnown(who);
        this.log(`${who.id} joined (${who.host} ${who.role}${who.endpoint ? ` at ${who.endpoint}` : ''}, ${note})`);
        this.emitParticipants();
      } else if (verdict.attested || (mlDsa.mlDsaPublicKey && !who.mlDsaPublicKey) || (endpoint.endpoint && endpoint.endpoint !== who.endpoint)) {
        // A later quote replaces the AK; a first ML-DSA-65 key is registered (hybrid from now on); an
        // aggregator that moved gives its new endpoint.
        const rec: ParticipantRecord = { ...who, ...attested, ...mlDsa, ...endpoint };
        await this.store.updateParticipant(rec);
        this.addKnown(rec);
        who = rec;
        this.log(`${who.id} joined again (${note})`);
        this.emitParticipants();
      }
      return who;
    });
    this.joining = next.catch(() => undefined);
    return next;
  }

  /** A participant's WebSocket opened (`connected`) or closed. */
  presence(id: string, up: boolean): boolean {
    if (!this.byId.has(id)) return false;
    // Shutting down: the server drops every socket itself; that is not participants leaving.
    if (this.stopped) return true;
    const n = (this.connections.get(id) ?? 0) + (up ? 1 : -1);
    if (n > 0) this.connections.set(id, n);
    else this.connections.delete(id);
    this.emitParticipants();
    if (n <= 0 && this.byId.get(id)!.role === 'aggregator') this.unassign(id, 'its connection closed');
    if (up) this.maybeOpen();
    return true;
  }

  private emitParticipants(): void {
    const list = this.participantStatus();
    this.opts.metrics?.participants(list);
    this.emit({ type: 'participants', participants: list });
  }

  participantStatus(): ParticipantStatus[] {
    return [...this.byId.values()].sort((a, b) => a.index - b.index).map((p) => ({
      id: p.id, host: p.host, role: p.role, connected: this.connections.has(p.id), reputation: this.reputation.get(p.id) ?? 1, flags: this.flags.get(p.id) ?? 0, joinedAt: p.joinedAt,
      attested: p.attested === true, ...(p.ak ? { ak: p.ak } : {}),
    }));
  }

  private connectedIds(): string[] {
    return [...this.connections.keys()].filter((id) => this.byId.get(id)?.role === 'participant').sort();
  }

  /** Opens the next round when enough participants are connected. */
  private maybeOpen(): void {
    if (this.state !== 'waiting' || this.stopped) return;
    const dp = this.task.dp;
    if (dp && this.accountant!.epsilonAfter(dp.q, dp.noiseMultiplier, 1, dp.delta) > dp.targetEpsilon) {
      this.finish(`the privacy budget is spent: round ${this.round} would take epsilon past ${dp.targetEpsilon} (spent ${this.accountant!.epsilon(dp.delta).toFixed(3)})`);
      return;
    }
    const available = this.connectedIds();
    if (available.length < this.task.minParticipants) {
      // After round 1, wait up to one round timeout for participants to (re)connect (a coordinator restart
      // drops every socket), then go on with whoever is there, if that is enough for an aggregate.
      if (this.round === 1 || available.length < this.task.minSubmissions) return;
      if (!this.gather) {
        this.gather = setTimeout(() => { this.gatherDue = true; this.gather = undefined; this.maybeOpen(); }, this.task.roundTimeoutMs);
        this.gather.unref?.();
      }
      if (!this.gatherDue) return;
    }
    clearTimeout(this.gather);
    this.gather = undefined;
    this.gatherDue = false;
    // DP: a fresh DP-FedAvg release per round, its noise drawn from the round's own stream (so a restart
    // draws the same noise, never reuses another round's); it samples each participant with probability q.
    this.dpRound = dp ? this.dpMechanism(this.round) : undefined;
    this.selected = (this.dpRound ?? this.strategy).configureRound(this.round, available, new Rng(this.task.seed, STREAMS.sample, 1, this.round)).slice().sort();
    this.rowsOfRound = new RoundRows(this.selected, this.d, this.rowsOfRound);
    this.openedAt = this.now();
    this.state = 'open';
    this.submitted.clear();
    this.written.clear();
    this.roundFailures.clear();
    this.partials.clear();
    this.covered.clear();
    this.replay = new ReplayGuard();
    this.assignment = this.assign();
    const round = this.round;
    this.track(this.store.openRound(this.opening(dp ? available.length : undefined))).then(
      () => {
        if (this.round !== round || this.stopped) return;
        this.armDeadline();
        this.opts.metrics?.round(round);
        this.log(`round ${round}: open, ${this.selected.length} selected${dp ? ` (Poisson sampling, q = ${dp.q}, of ${available.length})` : ''}${this.assignment.length ? `; ${this.assignment.map((a) => `${a.id} aggregates ${a.members.length}`).join(', ')}` : ''}`);
        this.emit({ type: 'round', ...this.roundInfo() });
        // DP sampling may pick nobody: the round is then the noise alone.
        if (!this.selected.length && this.state === 'open') void this.closeRound('nobody sampled');
      },
      (e: unknown) => this.log(`round ${round}: could not record its opening: ${(e as Error).message}`),
    );
  }

  /** The open round's opening record (DP tasks: with the population it was sampled from). */
  private opening(population?: number): RoundOpenRecord {
    return {
      round: this.round, selected: this.selected, modelSha256: this.modelSha, openedAt: this.openedAt,
      ...(population !== undefined ? { population } : {}), ...(this.assignment.length ? { aggregators: this.assignment } : {}),
      ...([...this.partials.values()].some((p) => p.audited) ? { audited: [...this.partials.values()].filter((p) => p.audited).map((p) => p.id) } : {}),
    };
  }

  /**
   * Tasks with aggregators: hands the selected participants (Node workers and browser tabs), `fanin` at a time
   * in id order, to the connected aggregators in id order; whoever is left over submits to the coordinator.
   */
  private assign(): RoundAggregator[] {
    const tier = this.task.aggregators;
    if (!tier) return [];
    const aggs = [...this.connections.keys()].filter((id) => this.byId.get(id)?.role === 'aggregator' && this.byId.get(id)?.endpoint).sort();
    const out: RoundAggregator[] = [];
    for (let k = 0, s = 0; k < aggs.length && s < this.selected.length; k++, s += tier.fanin) {
      out.push({ id: aggs[k]!, endpoint: this.byId.get(aggs[k]!)!.endpoint!, members: this.selected.slice(s, s + tier.fanin) });
    }
    return out;
  }

  /**
   * Takes an aggregator's participants back for the rest of the open round (it disconnected, or its partial
   * failed the audit), unless its partial already counts: they submit to the coordinator from the `round`
   * message on.
   */
  private unassign(id: string, why: string): void {
    if (this.stopped || (this.state !== 'open' && this.state !== 'aggregating')) return;
    // A partial that counts, or is being checked, keeps its participants (a refused one calls this again).
    if (this.partials.has(id) || this.inflight.has(id) || !this.assignment.some((a) => a.id === id)) return;
    const gone = this.assignment.find((a) => a.id === id)!;
    this.assignment = this.assignment.filter((a) => a.id !== id);
    this.log(`round ${this.round}: ${id} no longer aggregates (${why}); its ${gone.members.length} participants submit here`);
    const pop = this.dpRound?.population;
    void this.track(this.store.openRound(this.opening(this.task.dp ? pop : undefined))).catch((e: unknown) => this.log(`round ${this.round}: could not record the reassignment: ${(e as Error).message}`));
    if (this.state === 'open') this.emit({ type: 'round', ...this.roundInfo() });
  }

  /** This round's DP-FedAvg release (DP tasks). */
  private dpMechanism(round: number): DpFedAvg {
    return new DpFedAvg(this.task.dp!, new Rng(this.task.seed, STREAMS.noise, 1, round));
  }

  /** Ends the task before its last round (the privacy budget is spent). */
  private finish(why: string): void {
    this.state = 'done';
    this.log(`task finished after ${this.rows.length} rounds: ${why}`);
    this.emit({ type: 'done', rows: this.rows });
    this.emit({ type: 'round', ...this.roundInfo() });
    this.resolveDone(this.rows);
  }

  private armDeadline(): void {
    clearTimeout(this.timer);
    this.deadlineWaits = 0;
    this.deadline = this.now() + this.task.roundTimeoutMs;
    this.timer = setTimeout(() => this.onDeadline(), this.task.roundTimeoutMs);
    this.timer.unref?.();
  }

  private onDeadline(): void {
    if (this.state !== 'open' || this.stopped) return;
    // A partial sum being checked (its replay may take a moment) is waited for, up to 10 s: its
    // participants' updates were acknowledged by their aggregator before the deadline.
    if (this.assignment.some((a) => this.inflight.has(a.id)) && this.deadlineWaits < 40) {
      this.deadlineWaits++;
      this.timer = setTimeout(() => this.onDeadline(), 250);
      this.timer.unref?.();
      return;
    }
    // DP tasks aggregate whatever came (the release divides by q N, not by the count): no second sampling.
    if (this.counted() >= this.task.minSubmissions || this.task.dp) {
      void this.closeRound('deadline');
      return;
    }
    // Too few updates: select again among whoever is connected now (keeping those counted), everyone
    // submitting here for the rest of the round (aggregators whose partial counts keep it).
    const again = new Set([...this.selected.filter((id) => this.isCounted(id)), ...this.connectedIds()]);
    this.assignment = this.assignment.filter((a) => this.partials.has(a.id));
    this.selected = [...again].sort();
    this.rowsOfRound = new RoundRows(this.selected, this.d);
    for (const u of this.submitted.values()) {
      const row = this.rowsOfRound.row(u.id);
      row.set(u.values);
      u.values = row;
    }
    this.log(`round ${this.round}: ${this.counted()} of ${this.task.minSubmissions} needed updates at the deadline; open again with ${this.selected.length} selected`);
    void this.track(this.store.openRound(this.opening()));
    this.armDeadline();
    this.emit({ type: 'round', ...this.roundInfo() });
  }

  /**
   * A submission: an `update` envelope for the open round from a selected participant.
   * @returns once the update is in the ledger (synced).
   * @throws HttpError (4xx) saying why it was refused; the round goes on.
   */
  submit(bytes: Uint8Array): Promise<{ accepted: true; round: number; id: string }> {
    if (this.stopped) return Promise.reject(new HttpError(503, 'stopping', null, 'the coordinator is shutting down'));
    return this.track(this.submit_(bytes));
  }

  private async submit_(bytes: Uint8Array): Promise<{ accepted: true; round: number; id: string }> {
    let id: string | null = null;
    let round = this.round;
    let claimed = false;
    try {
      const { env, who } = await this.openEnvelope(bytes, 'update');
      round = env.round;
      if (!who) throw new HttpError(403, 'unknown-key', 'sender', `sender ${toHex(env.sender).slice(0, 16)}... has not joined this task`);
      id = who.id;
      if (this.state === 'done') throw new HttpError(409, 'round', 'round', `the task is finished (${this.task.rounds} rounds)`);
      if (this.state !== 'open' || env.round !== this.round) {
        throw new HttpError(409, 'round', 'round', this.state === 'open' ? `round ${env.round} is not open; round ${this.round} is` : this.state === 'aggregating' && env.round === this.round ? `round ${env.round} is closed (aggregating)` : `round ${env.round} is not open (the coordinator is ${this.state === 'waiting' ? `waiting to open round ${this.round}` : `at round ${this.round}`})`);
      }
      if (!this.rowsOfRound.has(who.id)) throw new HttpError(403, 'not-selected', 'sender', `${who.id} is not selected for round ${this.round}`);
      if (this.covered.has(who.id)) throw new HttpError(409, 'duplicate', 'sender', `${who.id}'s update for round ${this.round} counts already, in ${this.covered.get(who.id)}'s partial sum`);
      // Covered by a partial being checked: it counts, or the aggregator is taken off the round; either way the
      // participant learns it by trying again shortly.
      if (this.claimedBy.has(who.id)) throw new HttpError(409, 'checking', 'sender', `${who.id}'s update for round ${this.round} is in ${this.claimedBy.get(who.id)}'s partial sum, being checked now: try again shortly`);
      if (this.submitted.has(who.id) || this.inflight.has(who.id)) throw new HttpError(409, 'duplicate', 'sender', `${who.id} already submitted an update for round ${this.round}${this.inflight.has(who.id) && !this.submitted.has(who.id) ? ' (being checked)' : ''}`);
      this.replay.check(env);
      const u = (() => {
        try {
          return decodeUpdatePayload(env.payload, this.d, this.enc, this.task.maxSamples, this.rowsOfRound.row(who.id));
        } catch (e) {
          throw refusal(e);
        }
      })();
      if (toHex(u.model) !== this.modelSha) throw new HttpError(409, 'stale-model', 'payload.model', `update was trained from model ${toHex(u.model).slice(0, 16)}..., round ${this.round} trains from ${this.modelSha.slice(0, 16)}...`);
      this.inflight.add(who.id);
      claimed = true;
      await this.checkSignature(env);
      if (this.task.proofs) await this.checkProofs(env, who, u.values, u.proofs);
      if (this.state !== 'open' || this.round !== env.round) throw new HttpError(409, 'round', 'round', `round ${env.round} closed while the update was checked`);
      // Verified: it counts from here on (the 202 waits for its ledger write).
      const added = await this.record(who.id, env.round, who.index, bytes, () => this.submitted.set(who.id, { id: who.id, values: u.values, samples: u.samples }), () => this.submitted.delete(who.id));
      if (!added) throw new HttpError(409, 'duplicate', 'sender', `${who.id} already has an update for round ${env.round} in the ledger`);
      this.replay.accept(env);
      this.counts.accepted++;
      this.opts.metrics?.accepted();
      this.emit({ type: 'accepted', round: env.round, id: who.id });
      return { accepted: true, round: env.round, id: who.id };
    } catch (e) {
      throw this.reject(refusal(e), id, round);
    } finally {
      if (claimed && id) this.inflight.delete(id);
    }
  }

  /**
   * Counts a verified update or partial (`count`) from here on, and the round may close while its ledger write
   * syncs; the round's result is committed only after every counted write (see aggregate()). `undo` takes it
   * out again if the ledger already held an entry for (round, index).
   * @returns once the write is synced: whether the ledger took it.
   */
  private async record(id: string, round: number, index: number, bytes: Uint8Array, count: () => void, undo: () => void): Promise<boolean> {
    const write = this.store.addUpdate(round, index, bytes);
    count();
    this.written.set(id, write);
    if (this.counted() === this.selected.length) void this.closeRound('all updates in');
    let added = false;
    try {
      added = await write;
    } finally {
      if (!added && this.written.get(id) === write) {
        undo();
        this.written.delete(id);
      }
    }
    return added;
  }

  /** The linear rule of the open round (tasks with aggregators have one: parseTaskSpec sees to it). */
  private linear(): LinearStrategy {
    const s = this.dpRound ?? this.strategy;
    if (!isLinear(s)) throw new Error(`rule '${s.name}' is not linear; task.aggregators needs fedavg or dp`);
    return s;
  }

  /** A partial-sum payload, checked against the task (weights: examples, or 1 each with DP). */
  private decodePartial(payload: Uint8Array): PartialPayload {
    return decodePartialPayload(payload, this.d, this.task.aggregators?.fanin ?? 1, this.linear().weighting === 'unit' ? 1 : this.task.maxSamples);
  }

  /** Counts an aggregator's partial in the open round. */
  private countPartial(id: string, p: PartialPayload, audited: boolean): AcceptedPartial {
    const members = p.members.map((m) => participantId(m.index));
    const acc: AcceptedPartial = { id, members, sums: p.sums, weight: p.weight, audited };
    this.partials.set(id, acc);
    for (const m of members) this.covered.set(m, id);
    return acc;
  }

  /**
   * A leaf aggregator's partial sum: an `aggregate` envelope for the open round from an aggregator the round
   * assigned participants to, covering some of them (none counted yet), replayed from its envelopes with
   * probability `task.aggregators.audit` (docs/coordinator.md, "Leaf aggregators").
   * @returns once the partial is in the ledger (synced).
   * @throws HttpError (4xx) saying why it was refused; the round goes on, and a partial that failed its audit
   *   loses its aggregator the round's participants (they submit here).
   */
  submitPartial(bytes: Uint8Array, auditToken?: string): Promise<{ accepted: true; round: number; id: string; covers: string[]; audited: boolean }> {
    if (this.stopped) return Promise.reject(new HttpError(503, 'stopping', null, 'the coordinator is shutting down'));
    return this.track(this.submitPartial_(bytes, auditToken));
  }

  private async submitPartial_(bytes: Uint8Array, auditToken: string | undefined): Promise<{ accepted: true; round: number; id: string; covers: string[]; audited: boolean }> {
    let id: string | null = null;
    let round = this.round;
    /** The aggregator and members this partial claims while it is checked (released on every way out). */
    let claim: { agg: string; members: string[] } | undefined;
    const release = () => {
      if (!claim) return;
      this.inflight.delete(claim.agg);
      for (const m of claim.members) this.claimedBy.delete(m);
      claim = undefined;
    };
    /** Set once the aggregator's signature verified: only then is a refusal the aggregator's doing. */
    let signed = false;
    try {
      if (!this.task.aggregators) throw new HttpError(409, 'role', 'kind', `task '${this.task.name}' has no aggregator tier (task.aggregators)`);
      const { env, who } = await this.openEnvelope(bytes, 'aggregate');
      round = env.round;
      if (!who) throw new HttpError(403, 'unknown-key', 'sender', `sender ${toHex(env.sender).slice(0, 16)}... has not joined this task`);
      id = who.id;
      if (who.role !== 'aggregator') throw new HttpError(403, 'role', 'sender', `${who.id} joined as a participant; partial sums come from aggregators`);
      if (this.state === 'done') throw new HttpError(409, 'round', 'round', `the task is finished (${this.task.rounds} rounds)`);
      if (this.state !== 'open' || env.round !== this.round) throw new HttpError(409, 'round', 'round', `round ${env.round} is not open (the coordinator is ${this.state} at round ${this.round})`);
      const a = this.assignment.find((x) => x.id === who.id);
      if (!a) throw new HttpError(403, 'not-assigned', 'sender', `${who.id} aggregates nobody in round ${this.round}`);
      if (this.partials.has(who.id) || this.inflight.has(who.id)) throw new HttpError(409, 'duplicate', 'sender', `${who.id} already sent its partial sum for round ${this.round}`);
      this.replay.check(env);
      let p: PartialPayload;
      try {
        p = this.decodePartial(env.payload);
      } catch (e) {
        throw refusal(e);
      }
      if (toHex(p.model) !== this.modelSha) throw new HttpError(409, 'stale-model', 'payload.model', `partial sums updates of model ${toHex(p.model).slice(0, 16)}..., round ${this.round} trains from ${this.modelSha.slice(0, 16)}...`);
      const mine = new Set(a.members);
      const members = p.members.map((m, i) => {
        const mid = participantId(m.index);
        if (!mine.has(mid)) throw new HttpError(422, 'not-assigned', `payload.members[${i}].index`, `${mid} is not among the participants ${who.id} was given in round ${this.round}`);
        if (this.isCounted(mid) || this.inflight.has(mid)) throw new HttpError(409, 'covered', `payload.members[${i}].index`, `${mid}'s update for round ${this.round} ${this.isCounted(mid) ? 'counts already' : 'is being checked'} (it submitted here); send the partial without it`);
        return mid;
      });
      // Claimed: direct submissions of these participants are told to try again (409 'checking') until the
      // verdict, and the aggregator is not taken off the round meanwhile.
      claim = { agg: who.id, members };
      this.inflight.add(who.id);
      for (const m of members) this.claimedBy.set(m, who.id);
      await this.checkSignature(env);
      signed = true;
      const audited = Math.random() < this.task.aggregators.audit;
      if (audited) await this.audit(a, env, p, auditToken);
      if (this.state !== 'open' || this.round !== env.round) throw new HttpError(409, 'round', 'round', `round ${env.round} closed while the partial sum was checked`);
      const added = await this.record(who.id, env.round, who.index, bytes, () => {
        this.countPartial(who.id, p, audited);
        // Whether it was replayed goes into the round's record (the same LMDB commit as the ledger entry).
        if (audited) void this.track(this.store.openRound(this.opening(this.task.dp ? this.dpRound?.population : undefined))).catch(() => undefined);
      }, () => {
        this.partials.delete(who.id);
        for (const m of members) this.covered.delete(m);
      });
      if (!added) throw new HttpError(409, 'duplicate', 'sender', `${who.id} already has a partial sum for round ${env.round} in the ledger`);
      this.replay.accept(env);
      this.counts.accepted += members.length;
      for (const m of members) {
        this.opts.metrics?.accepted();
        this.emit({ type: 'accepted', round: env.round, id: m });
      }
      this.log(`round ${env.round}: ${who.id}'s partial sum of ${members.length} updates counts${audited ? ' (replayed from its envelopes: exact)' : ''}`);
      return { accepted: true, round: env.round, id: who.id, covers: members, audited };
    } catch (e) {
      const err = refusal(e);
      release();
      // A signed partial that cannot count (it lied, or cannot be checked) loses its aggregator the round's
      // participants: they submit here. Refusals the aggregator mends itself (a covered member, a repeat) or
      // that are about the round keep them; so do unsigned ones (anyone can send those in its name), unless
      // the aggregator is gone anyway.
      if (id && this.assignment.some((x) => x.id === id) && ((signed && !['covered', 'duplicate', 'round', 'stopping'].includes(err.code)) || !this.connections.has(id))) {
        // A flag for what the envelopes disprove; not for an aggregator that could not be reached.
        if (err.code === 'audit' && err.field !== 'envelopes') this.flags.set(id, (this.flags.get(id) ?? 0) + 1);
        this.unassign(id, `its partial was refused (${err.code}): ${err.message}`);
      }
      throw this.reject(err, id, round);
    } finally {
      release();
    }
  }

  /**
   * Replays a partial: fetches the envelopes it covers from its aggregator (`GET /api/envelopes?round=`), and
   * checks that each is the one its hash names, a signed update of the member for this round and model, and
   * that their weighted sum and weight are the partial's, bit for bit.
   * @throws HttpError 422 'audit' naming what differs.
   */
  private async audit(a: RoundAggregator, env: Envelope, p: PartialPayload, token: string | undefined): Promise<void> {
    const fail = (field: string, message: string) => new HttpError(422, 'audit', field, `audit of ${a.id}'s partial: ${message}`);
    const url = new URL(`api/envelopes?round=${env.round}`, a.endpoint);
    const n = p.members.length;
    const limit = n * (4 + 72 + 40 + 4 * this.d + 3373);
    let bytes: Uint8Array;
    try {
      const res = await fetch(url, { headers: token ? { authorization: `Bearer ${token}` } : {}, signal: AbortSignal.timeout(Math.min(10_000, this.task.roundTimeoutMs)) });
      if (!res.ok) throw fail('envelopes', `GET ${url.href} answered ${res.status}`);
      // Read to the limit and no further: the aggregator says how much it sends, and may lie.
      bytes = new Uint8Array(limit);
      let got = 0;
      const reader = res.body?.getReader();
      for (let r = await reader?.read(); r && !r.done; r = await reader!.read()) {
        if (got + r.value.length > limit) {
          await reader!.cancel();
          throw fail('envelopes', `GET ${url.href} sends more than ${limit} bytes for ${n} envelopes`);
        }
        bytes.set(r.value, got);
        got += r.value.length;
      }
      bytes = bytes.subarray(0, got);
    } catch (e) {
      if (e instanceof HttpError) throw e;
      throw fail('envelopes', `GET ${url.href} failed: ${(e as Error).message}`);
    }
    let envs: Uint8Array[];
    try {
      envs = unpackEnvelopes(bytes, n);
    } catch (e) {
      throw fail('envelopes', (e as Error).message);
    }
    if (envs.length !== n) throw fail('envelopes', `the partial covers ${n} updates, ${a.endpoint} gave ${envs.length} envelopes`);
    // Decoded into the rows of one n x d matrix (the sum reads it without stacking); the signatures are
    // checked all at once (one micro-batch), after the cheap checks of every envelope.
    const rows = new Int32Array(n * this.d);
    const updates: EncodedUpdate[] = [];
    const signed: Envelope[] = [];
    for (let i = 0; i < n; i++) {
      const m = p.members[i]!, e = envs[i]!, mid = participantId(m.index);
      if (sha256Hex(e) !== toHex(m.sha256)) throw fail(`payload.members[${i}].sha256`, `envelope ${i} is not the one the partial names for ${mid}`);
      try {
        const ue = parseEnvelope(e, { maxPayload: 40 + 4 * this.d });
        const rec = this.byId.get(mid);
        if (ue.kind !== 'update' || toHex(ue.task) !== this.taskIdHex || ue.round !== env.round || !rec || toHex(ue.sender) !== rec.publicKey) throw new Error(`it is not ${mid}'s update for round ${env.round} of this task`);
        const d = decodeUpdatePayload(ue.payload, this.d, this.enc, this.task.maxSamples, rows.subarray(i * this.d, (i + 1) * this.d));
        // The model of the partial (the round's when it was claimed: the round may have moved on since).
        if (toHex(d.model) !== toHex(p.model)) throw new Error('it was trained from another model than the partial says');
        updates.push({ id: mid, values: d.values, samples: d.samples });
        signed.push(ue);
      } catch (err) {
        throw fail(`payload.members[${i}]`, `${mid}'s envelope: ${(err as Error).message}`);
      }
    }
    const verdicts = await Promise.allSettled(signed.map((ue) => this.checkSignature(ue)));
    verdicts.forEach((v, i) => {
      if (v.status === 'rejected') throw fail(`payload.members[${i}]`, `${updates[i]!.id}'s envelope: ${(v.reason as Error).message}`);
    });
    const w = weightsOf(updates, this.linear().weighting);
    const weight = w.reduce((x, y) => x + y, 0);
    if (weight !== p.weight) throw fail('payload.weight', `weight ${p.weight}, the envelopes give ${weight}`);
    const sums = weightedSum(updates, w, this.d);
    for (let j = 0; j < this.d; j++) if (sums[j] !== p.sums[j]) throw fail(`payload.sums[${j}]`, `sum ${p.sums[j]}, the envelopes give ${sums[j]}`);
  }

  /** Aggregates the open round, applies it and opens the next. */
  private closeRound(why: string): Promise<void> {
    if (this.state !== 'open') return this.closing ?? Promise.resolve();
    this.state = 'aggregating';
    clearTimeout(this.timer);
    this.closing = this.aggregate(why).catch((e: unknown) => {
      this.log(`round ${this.round}: aggregation failed: ${(e as Error).stack ?? e}`);
      this.state = 'open';
      this.armDeadline();
    }).finally(() => { this.closing = undefined; });
    return this.closing;
  }

  private async aggregate(why: string): Promise<void> {
    // One turn of the event loop first, so that the ledger writes queued in this one go to LMDB's write
    // thread (its commits start on setImmediate) and sync while the round is computed. Submissions still
    // having their signature checked are refused: the round is no longer open.
    await new Promise((ok) => setImmediate(ok));
    const r = this.round;
    const t0 = performance.now();
    const results = [...this.submitted.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const partials = [...this.partials.values()].sort((a, b) => (a.id < b.id ? -1 : 1));
    const writes = [...results, ...partials].map((u) => this.written.get(u.id)!);
    const failures: Failure[] = this.selected.filter((id) => !this.isCounted(id)).map((id) => ({ id, reason: this.roundFailures.get(id) ?? 'no update before the deadline' }));
    const flagged = detect(results, this.d);
    const dp = this.task.dp;
    const tDetect = performance.now();
    // New maps, applied once the round is committed (a failed commit leaves them as they were).
    const reputation = new Map(this.reputation), flags = new Map(this.flags);
    for (const res of results) {
      const isFlagged = flagged.includes(res.id);
      reputation.set(res.id, 0.8 * (reputation.get(res.id) ?? 1) + (isFlagged ? 0 : 0.2));
      if (isFlagged) flags.set(res.id, (flags.get(res.id) ?? 0) + 1);
    }
    const agg = partials.length ? this.releaseWithPartials(results, partials, failures) : (this.dpRound ?? this.strategy).aggregateRound(r, results, failures, this.enc, this.d);
    const params = this.params.slice(), velocity = this.velocity.slice();
    serverStep(params, velocity, agg.update, this.task.serverLr, this.task.serverMomentum);
    const t1 = performance.now();
    const ev = this.model.evaluate(params, this.test.x, this.test.y);
    const t2 = performance.now();
    const hosts = { node: 0, browser: 0 };
    for (const id of agg.accepted) hosts[this.byId.get(id)!.host]++;
    const closedAt = this.now();
    const row: RoundRowRecord = {
      round: r, accuracy: ev.accuracy, loss: ev.loss, epsilon: dp ? this.accountant!.epsilonAfter(dp.q, dp.noiseMultiplier, 1, dp.delta) : null, accepted: agg.accepted, rejected: agg.rejected, flagged,
      latencyMs: closedAt - this.openedAt, hosts, closedAt, modelSha256: '',
      ...(partials.length ? { partials: partials.map((p) => ({ id: p.id, members: p.members.length, audited: p.audited })) } : {}),
    };
    const next = r + 1;
    const pBytes = bytesOf(params);
    row.modelSha256 = sha256Hex(pBytes);
    // Every counted update is in the ledger before the round's result is.
    const synced = await Promise.allSettled(writes);
    const lost = [...results, ...partials].filter((_, i) => { const w = synced[i]!; return w.status === 'rejected' || !w.value; }).map((u) => u.id);
    if (lost.length) throw new Error(`the ledger write of ${lost.join(' ')} failed; round ${r} stays open without them`);
    const tSynced = performance.now();
    await this.store.closeRound(r, { row, params: pBytes, velocity: bytesOf(velocity), reputation: [...reputation], flags: [...flags] }, next);
    const t3 = performance.now();
    this.reputation = reputation;
    this.flags = flags;
    if (dp) this.accountant!.step(dp.q, dp.noiseMultiplier);
    this.setModel(params);
    this.velocity = velocity;
    this.rows.push(row);
    this.round = next;
    this.submitted.clear();
    this.written.clear();
    this.roundFailures.clear();
    this.partials.clear();
    this.covered.clear();
    this.assignment = [];
    this.opts.metrics?.roundClosed(row);
    this.log(`round ${r}: ${why}; ${agg.accepted.length} accepted${partials.length ? ` (${partials.reduce((a, p) => a + p.members.length, 0)} of them in ${partials.length} partial sums)` : ''}, ${agg.rejected.length} not counted${flagged.length ? `, flagged ${flagged.join(' ')}` : ''}; accuracy ${ev.accuracy.toFixed(4)}; ${row.latencyMs} ms from opening (detect ${(tDetect - t0).toFixed(0)} ms, aggregate ${(t1 - tDetect).toFixed(0)} ms, evaluate ${(t2 - t1).toFixed(0)} ms, ledger sync wait ${(tSynced - t2).toFixed(0)} ms, commit ${(t3 - tSynced).toFixed(0)} ms)`);
    // Participants first: the server flushes them ahead of the row, so the flag counts a dashboard shows
    // agree with the row it has just drawn.
    this.emitParticipants();
    this.emit({ type: 'row', row });
    if (next > this.task.rounds) {
      this.state = 'done';
      this.emit({ type: 'done', rows: this.rows });
      this.emit({ type: 'round', ...this.roundInfo() });
      this.resolveDone(this.rows);
      return;
    }
    this.state = 'waiting';
    this.maybeOpen();
  }

  /**
   * The round's release from the direct updates' exact weighted sum plus the partial sums: the same wrapping
   * i64 sum, so the same bits, as the flat rule over all the updates (docs/numerics.md).
   */
  private releaseWithPartials(results: EncodedUpdate[], partials: AcceptedPartial[], failures: Failure[]): AggregateResult {
    const s = this.linear();
    const rs = ordered(results);
    const w = weightsOf(rs, s.weighting);
    const parts = partials.map((p) => ({ sums: p.sums, weight: p.weight, count: p.members.length }));
    if (rs.length) parts.push({ sums: weightedSum(rs, w, this.d), weight: w.reduce((a, b) => a + b, 0), count: rs.length });
    const total = parts.length === 1 ? parts[0]! : addPartials(parts, this.d);
    const accepted = [...rs.map((u) => u.id), ...partials.flatMap((p) => p.members)].sort();
    return s.release(total.sums, total.weight, accepted, failures, this.enc, this.d);
  }

  /**
   * `GET /api/keys?ids=p0001,p0002`: the public keys of joined participants, which an aggregator checks its
   * members' envelopes against (keys are public; ML-DSA-65 keys only of hybrid signers).
   * @throws HttpError 400 / 404 naming `ids`.
   */
  keysOf(ids: string | null): { id: string; index: number; publicKey: string; mlDsaPublicKey?: string }[] {
    if (!ids) throw new HttpError(400, 'ids', 'ids', 'give ids=<id>,<id>,... (participant ids)');
    const list = ids.split(','), max = Math.max(64, 4 * (this.task.aggregators?.fanin ?? 1));
    if (list.length > max) throw new HttpError(400, 'ids', 'ids', `at most ${max} ids per request, got ${list.length}`);
    return list.map((id) => {
      const p = this.byId.get(id);
      if (!p) throw new HttpError(404, 'unknown-id', 'ids', `no participant ${JSON.stringify(id.slice(0, 32))}`);
      return { id: p.id, index: p.index, publicKey: p.publicKey, ...(p.mlDsaPublicKey ? { mlDsaPublicKey: p.mlDsaPublicKey } : {}) };
    });
  }

  /** Everything the dashboard shows. */
  status(): Status {
    return {
      task: this.task, taskId: this.taskIdHex, d: this.d, state: this.state,
      round: this.roundInfo(), rows: this.rows, participants: this.participantStatus(),
      rejections: this.rejections, counts: this.counts,
    };
  }

  /**
   * The ledger: every accepted update envelope and partial sum, once, with its hash; a partial (`kind`
   * 'aggregate') lists the participants whose updates it covers and their envelopes' hashes.
   */
  ledger(): LedgerEntry[] {
    const out: LedgerEntry[] = [];
    for (const e of this.store.ledgerEntries()) {
      const env = parseEnvelope(e.envelope);
      const entry: LedgerEntry = { round: e.round, id: participantId(e.index), kind: env.kind === 'aggregate' ? 'aggregate' : 'update', sequence: env.sequence, sha256: sha256Hex(e.envelope), bytes: e.envelope.length };
      if (env.kind === 'aggregate') {
        const p = decodePartialPayload(env.payload, this.d, Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER);
        entry.covers = p.members.map((m) => ({ id: participantId(m.index), sha256: toHex(m.sha256) }));
      }
      out.push(entry);
    }
    return out;
  }

  /**
   * Marks the coordinator as stopping before its server drops the sockets: closing sockets are then not taken
   * for participants and aggregators leaving (no reassignment is written on the way down).
   */
  halt(): void {
    this.stopped = true;
  }

  /** Stops timers (the store is closed by the caller, after in-flight writes). */
  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    clearTimeout(this.gather);
    await this.closing;
    while (this.pending.size) await Promise.allSettled([...this.pending]);
  }
}

