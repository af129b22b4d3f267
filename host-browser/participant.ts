/**
 * A browser tab as a federated-learning participant of a meshwork coordinator (docs/coordinator.md).
 *
 * `join({ coordinator })` joins with the tab's Ed25519 identity (IndexedDB, non-extractable), listens on the
 * coordinator's WebSocket, and in every round it is selected for fetches the global model, trains on its
 * local data in a module Web Worker, and submits a signed update envelope. Everything it needs to pick up
 * after a reload is in IndexedDB: its key, its data shard, the round it is in, how far it got, the next
 * envelope sequence number and the sealed update it has not yet seen acknowledged.
 *
 * Storage (IndexedDB, through idb):
 * - the identity in database `dbName` (default 'meshwork'), store `identities` (host-browser/keystore.ts),
 *   named `participant <coordinator URL>|<task id>`;
 * - this module's state in database `<dbName>.participant`, stores `progress` (one record per coordinator
 *   and task) and `data` (the local data set).
 * One tab per identity participates: the others wait on a Web Lock and say state 'paused'.
 * @example
 * import { join } from 'meshwork/browser';
 * const p = join({ coordinator: 'https://fl.example.org' });
 * p.addEventListener('state', (e) => console.log((e as CustomEvent).detail));
 * @module
 */
import { wrap, type Remote } from 'comlink';
import { openDB, type IDBPDatabase } from 'idb';
import { fromHex, toHex, utf8 } from '../proofs/bytes.js';
import type { Identity } from '../proofs/ed25519.js';
import type { HybridIdentity } from '../proofs/hybrid.js';
import { sealEnvelope, taskId } from '../proofs/envelope.js';
import type { Dataset } from '../runtime/fl/data.js';
import { encodeUpdatePayload, proofBound, proofChunks, taskSplit, type JoinRequest, type RoundInfo, type TaskSpec, type UpdateProof } from '../runtime/fl/protocol.js';
import { loadDigits } from './data.js';
import { loadOrCreateIdentity } from './keystore.js';
import type { ParticipantWorkerApi } from './participant-worker.js';
import type { BrowserGroth16Prover } from './groth16.js';

/** What a participant is doing. */
export type ParticipantState = 'joining' | 'waiting' | 'training' | 'submitting' | 'submitted' | 'paused' | 'done' | 'error';

/** Detail of a `state` event. */
export interface StateDetail {
  state: ParticipantState;
  round: number;
  /** Why: for 'paused' (hidden tab, low battery, another tab), 'error' and 'done'. */
  reason?: string;
  /** True when this state continues a round that was in progress before a reload. */
  resumed?: boolean;
}

/** Detail of a `progress` event: `phase` of `round` is `fraction` (0..1) done. */
export interface ProgressDetail {
  round: number;
  phase: 'data' | 'model' | 'training' | 'proving' | 'submitting';
  fraction: number;
}

/** Detail of an `error` event. A fatal error also moves the participant to state 'error'. */
export interface ErrorDetail {
  message: string;
  round: number;
  fatal: boolean;
  /** HTTP status and the coordinator's error code, when the coordinator refused a request. */
  status?: number;
  code?: string;
  error: unknown;
}

/** Options of {@link join}. */
export interface JoinOptions {
  /** The coordinator's base URL (http: or https:), e.g. 'https://fl.example.org/'. */
  coordinator: string | URL;
  /**
   * The local data: a data set of the task's shape, or 'shard' (default) for the coordinator's demo split:
   * the digits from `<coordinator>/data/digits.csv.gz`, shard `join.shard` of the task's split.
   */
  data?: Dataset | 'shard';
  /** IndexedDB database name (default 'meshwork'); see the module comment. */
  dbName?: string;
  /** The task name the page expects; joining fails (state 'error') when the coordinator runs another. */
  task?: string;
  /** Aborting it is `leave()`. */
  signal?: AbortSignal;
  /** Do not start training while the page is hidden (default true). */
  pauseWhenHidden?: boolean;
  /** Do not start training when the battery is below this level and not charging (default 0.2; 0: never). */
  minBattery?: number;
  /**
   * Sign hybrid (Ed25519 + ML-DSA-65): the join registers an ML-DSA-65 key (its seed kept in IndexedDB beside
   * the Ed25519 key) and every envelope carries both signatures; the coordinator then refuses Ed25519 alone
   * from this participant. The signer is a separate chunk, loaded only then. Default false.
   */
  hybrid?: boolean;
}

/** A joined participant: an EventTarget with `state`, `progress` and `error` events (CustomEvent details above). */
export interface Participant extends EventTarget {
  /** The current state. */
  readonly state: ParticipantState;
  /** The coordinator's id for this participant (e.g. 'p0003'); undefined until joined. */
  readonly id: string | undefined;
  /** Hex of the Ed25519 public key; undefined until the identity is loaded. */
  readonly publicKey: string | undefined;
  /** The latest round the coordinator announced (0 before the first). */
  readonly round: number;
  /** The task as the coordinator runs it; undefined until fetched. */
  readonly task: TaskSpec | undefined;
  /** Resolves once joined (id known), rejects when joining fails. */
  readonly joined: Promise<void>;
  /** Stops: closes the socket, ends the worker, releases the tab lock. IndexedDB state is kept (a later join resumes). */
  leave(): Promise<void>;
}

/** Phases of a round as stored in IndexedDB. */
type Phase = 'idle' | 'training' | 'trained' | 'held' | 'acknowledged' | 'failed';

interface ProgressRecord {
  key: string;
  publicKey: string;
  id?: string;
  index?: number;
  shard?: number;
  /** Next envelope sequence number (one counter for all rounds, so sequences strictly increase in each). */
  nextSequence: number;
  /** The round `phase` is about; 0 for none. */
  round: number;
  phase: Phase;
  modelSha256?: string;
  /** The sealed update of `round`, kept until acknowledged (or, `held`, until it counts at the coordinator). */
  envelope?: Uint8Array;
  /** Phase `held`: the leaf aggregator that acknowledged the update. */
  via?: string;
  updatedAt: number;
}

interface DataRecord {
  key: string;
  /** The shard index it is, or -1 for data the page passed. */
  shard: number;
  x: Float32Array;
  y: Int32Array;
  n: number;
  features: number;
  classes: number;
}

/** A request the coordinator refused with an HTTP error. */
export class CoordinatorError extends Error {
  override name = 'CoordinatorError';
  constructor(readonly status: number, readonly code: string | undefined, readonly field: string | undefined, message: string) {
    super(message);
  }
}

const OPTION_KEYS = new Set(['coordinator', 'data', 'dbName', 'task', 'signal', 'pauseWhenHidden', 'minBattery', 'hybrid']);

function describe(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  if (typeof v === 'object') return (v as object).constructor?.name ?? 'object';
  return typeof v;
}

/** Checks a data set passed in `data` (the task's shape is checked once the task is known). */
function checkDataset(d: unknown): Dataset {
  if (typeof d !== 'object' || d === null) throw new TypeError(`join: data must be a Dataset ({ x, y, n, features, classes }) or 'shard', got ${describe(d)}`);
  const ds = d as Dataset;
  if (!(ds.x instanceof Float32Array)) throw new TypeError(`join: data.x must be a Float32Array, got ${describe(ds.x)}`);
  if (!(ds.y instanceof Int32Array)) throw new TypeError(`join: data.y must be an Int32Array, got ${describe(ds.y)}`);
  for (const f of ['n', 'features', 'classes'] as const) {
    if (typeof ds[f] !== 'number') throw new TypeError(`join: data.${f} must be a number, got ${describe(ds[f])}`);
    if (!Number.isInteger(ds[f]) || ds[f] < 1) throw new RangeError(`join: data.${f} must be a positive integer, got ${ds[f]}`);
  }
  if (ds.x.length !== ds.n * ds.features) throw new RangeError(`join: data.x has length ${ds.x.length}, expected data.n * data.features = ${ds.n * ds.features}`);
  if (ds.y.length !== ds.n) throw new RangeError(`join: data.y has length ${ds.y.length}, expected data.n = ${ds.n}`);
  for (let i = 0; i < ds.n; i++) {
    const v = ds.y[i]!;
    if (v < 0 || v >= ds.classes) throw new RangeError(`join: data.y[${i}] is ${v}, outside [0, data.classes = ${ds.classes})`);
  }
  return ds;
}

/** The checked options, with defaults. */
interface Checked {
  base: URL;
  data: Dataset | 'shard';
  dbName: string;
  task: string | undefined;
  signal: AbortSignal | undefined;
  pauseWhenHidden: boolean;
  minBattery: number;
  hybrid: boolean;
}

function checkOptions(options: unknown): Checked {
  if (typeof options !== 'object' || options === null || Array.isArray(options)) throw new TypeError(`join: options must be an object ({ coordinator }), got ${describe(options)}`);
  const o = options as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!OPTION_KEYS.has(k)) throw new RangeError(`join: ${k} is not an option (known: ${[...OPTION_KEYS].join(', ')})`);
  const c = o.coordinator;
  if (typeof c !== 'string' && !(c instanceof URL)) throw new TypeError(`join: coordinator must be a URL string or URL, got ${describe(c)}`);
  let base: URL;
  try {
    base = new URL(String(c), typeof location !== 'undefined' ? location.href : undefined);
  } catch {
    throw new RangeError(`join: coordinator is not a valid URL: ${JSON.stringify(String(c))}`);
  }
  if (base.protocol !== 'http:' && base.protocol !== 'https:') throw new RangeError(`join: coordinator must be an http: or https: URL, got ${base.protocol}`);
  base.search = '';
  base.hash = '';
  if (!base.pathname.endsWith('/')) base.pathname += '/';
  const data = o.data === undefined || o.data === 'shard' ? 'shard' : typeof o.data === 'string' ? (() => { throw new RangeError(`join: data must be a Dataset or 'shard', got ${JSON.stringify(o.data)}`); })() : checkDataset(o.data);
  const dbName = o.dbName ?? 'meshwork';
  if (typeof dbName !== 'string') throw new TypeError(`join: dbName must be a string, got ${describe(dbName)}`);
  if (!dbName) throw new RangeError('join: dbName must not be empty');
  if (o.task !== undefined && typeof o.task !== 'string') throw new TypeError(`join: task must be a string, got ${describe(o.task)}`);
  if (o.signal !== undefined && !(typeof AbortSignal !== 'undefined' && o.signal instanceof AbortSignal)) throw new TypeError(`join: signal must be an AbortSignal, got ${describe(o.signal)}`);
  if (o.pauseWhenHidden !== undefined && typeof o.pauseWhenHidden !== 'boolean') throw new TypeError(`join: pauseWhenHidden must be a boolean, got ${describe(o.pauseWhenHidden)}`);
  const minBattery = o.minBattery ?? 0.2;
  if (typeof minBattery !== 'number') throw new TypeError(`join: minBattery must be a number, got ${describe(minBattery)}`);
  if (!(minBattery >= 0 && minBattery <= 1)) throw new RangeError(`join: minBattery must be in [0, 1], got ${minBattery}`);
  if (o.hybrid !== undefined && typeof o.hybrid !== 'boolean') throw new TypeError(`join: hybrid must be a boolean, got ${describe(o.hybrid)}`);
  return { base, data, dbName, task: o.task as string | undefined, signal: o.signal as AbortSignal | undefined, pauseWhenHidden: (o.pauseWhenHidden as boolean | undefined) ?? true, minBattery, hybrid: o.hybrid === true };
}

/** Hex SHA-256 of bytes. */
async function sha256Hex(bytes: Uint8Array): Promise<string> {
  return toHex(new Uint8Array(await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>)));
}

/** The coordinator's error (docs/coordinator.md: `{ error: { status, code, field, message } }`) or a plain one. */
async function httpError(res: Response, what: string): Promise<CoordinatorError> {
  let body: { error?: { code?: string; field?: string; message?: string } } | undefined;
  try {
    body = (await res.json()) as typeof body;
  } catch {
    // not JSON
  }
  const e = body?.error;
  return new CoordinatorError(res.status, e?.code, e?.field, `${what}: HTTP ${res.status}${e?.code ? ` ${e.code}` : ''}${e?.message ? `: ${e.message}` : ''}`);
}

/** Retryable: the network failed, or the coordinator is restarting / overloaded. */
/** Standard base64 of bytes. */
function base64(b: Uint8Array): string {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}

function transient(e: unknown): boolean {
  // 409 'checking': a leaf aggregator's partial covering the update is being checked; it counts, or comes back.
  return !(e instanceof CoordinatorError) || e.status >= 500 || e.status === 429 || e.status === 408 || (e.status === 409 && e.code === 'checking');
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const t = setTimeout(done, ms);
    signal.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(t);
      signal.removeEventListener('abort', done);
      resolve();
    }
  });
}

/** Exponential back-off with jitter (+-20 %): 0.25 s, 0.5 s, 1 s ... up to 30 s. */
function backoffMs(attempt: number): number {
  const ms = Math.min(30_000, 250 * 2 ** Math.min(attempt, 10));
  return ms * (0.8 + 0.4 * Math.random());
}

/** A worker constructor that also works when the module is on another origin than the page. */
const PortableWorker = function (url: string | URL, options?: WorkerOptions): Worker {
  const href = new URL(String(url), typeof location !== 'undefined' ? location.href : undefined);
  if (typeof location === 'undefined' || href.origin === location.origin) return new globalThis.Worker(href, options);
  // A Worker's script must be same-origin: start one from a blob: URL (the page's origin) that imports the
  // module by its absolute URL (fetched with CORS; the coordinator allows any origin).
  const blobUrl = URL.createObjectURL(new Blob([`import ${JSON.stringify(href.href)};\n`], { type: 'text/javascript' }));
  try {
    return new globalThis.Worker(blobUrl, { ...options, type: 'module' });
  } finally {
    // The URL is resolved when the worker is constructed; the blob is not needed after that.
    setTimeout(() => URL.revokeObjectURL(blobUrl), 30_000);
  }
} as unknown as typeof globalThis.Worker;

/** Starts the training worker. */
function startWorker(): Worker {
  // `Worker` is the portable constructor above; the literal `new Worker(new URL('./x.js', import.meta.url), ...)`
  // is what bundlers (vite, webpack 5) recognise to bundle the worker and rewrite its URL.
  const Worker = PortableWorker;
  return new Worker(new URL('./participant-worker.js', import.meta.url), { type: 'module' });
}

type Battery = EventTarget & { level: number; charging: boolean };

class BrowserParticipant extends EventTarget implements Participant {
  state: ParticipantState = 'joining';
  id: string | undefined;
  publicKey: string | undefined;
  round = 0;
  task: TaskSpec | undefined;
  readonly joined: Promise<void>;

  private readonly opts: Checked;
  private readonly stop = new AbortController();
  private resolveJoined!: () => void;
  private rejectJoined!: (e: unknown) => void;
  private db: IDBPDatabase | undefined;
  private key = '';
  private identity: Identity | HybridIdentity | undefined;
  private taskIdBytes: Uint8Array | undefined;
  private progress: ProgressRecord | undefined;
  private data: Dataset | undefined;
  private index = 0;
  private info: RoundInfo | undefined;
  private ws: WebSocket | undefined;
  private worker: Worker | undefined;
  private api: Remote<ParticipantWorkerApi> | undefined;
  private workerFailed: Promise<never> | undefined;
  /** Proofs tasks: the Groth16 prover (a Web Worker), loaded by the first round that needs proofs. */
  private prover: Promise<BrowserGroth16Prover> | undefined;
  /** The round left unfinished before this page started (0: none), and whether it was resumed yet. */
  private resumeRound = 0;
  private ticking = false;
  private again = false;
  private pauses = new Map<string, string>();
  private battery: Battery | undefined;
  private cleanups: (() => void)[] = [];
  private lastDetail = '';
  private lastResumed = false;

  constructor(opts: Checked) {
    super();
    this.opts = opts;
    this.joined = new Promise((res, rej) => {
      this.resolveJoined = res;
      this.rejectJoined = rej;
    });
    this.joined.catch(() => undefined);
    if (opts.signal) {
      if (opts.signal.aborted) queueMicrotask(() => void this.leave());
      else opts.signal.addEventListener('abort', () => void this.leave(), { once: true });
    }
    // Start after the caller has had the chance to add listeners.
    queueMicrotask(() => void this.run());
  }

  private url(path: string): URL {
    return new URL(path, this.opts.base);
  }

  private get stopped(): boolean {
    return this.stop.signal.aborted;
  }

  private emit(type: 'state' | 'progress' | 'error', detail: StateDetail | ProgressDetail | ErrorDetail): void {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  private setState(state: ParticipantState, extra: { round?: number; reason?: string; resumed?: boolean } = {}): void {
    if (this.state === 'done' || (this.state === 'error' && state !== 'error')) return;
    const detail: StateDetail = { state, round: extra.round ?? this.round };
    if (extra.reason !== undefined) detail.reason = extra.reason;
    if (extra.resumed) detail.resumed = true;
    // Said once: the same state, round and reason again is not news (nor is it when only `resumed` drops).
    const s = JSON.stringify({ ...detail, resumed: undefined });
    if (s === this.lastDetail && !(detail.resumed && !this.lastResumed)) return;
    this.lastDetail = s;
    this.lastResumed = !!detail.resumed;
    this.state = state;
    this.emit('state', detail);
  }

  private progressOf(phase: ProgressDetail['phase'], fraction: number, round = this.round): void {
    this.emit('progress', { round, phase, fraction });
  }

  private fail(error: unknown, fatal: boolean, round = this.round): void {
    if (this.stopped) return;
    const e = error instanceof Error ? error : new Error(String(error));
    const detail: ErrorDetail = { message: e.message, round, fatal, error };
    if (e instanceof CoordinatorError) {
      detail.status = e.status;
      if (e.code) detail.code = e.code;
    }
    this.emit('error', detail);
    if (fatal) {
      this.setState('error', { reason: e.message });
      this.rejectJoined(e);
      void this.shutdown();
    }
  }

  /** Runs `fn` until it succeeds, backing off on transient failures; fatal errors propagate. */
  private async retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (this.stopped || !transient(e)) throw e;
        this.fail(new Error(`${what}: ${(e as Error).message}; retrying`, { cause: e }), false);
        await sleep(backoffMs(attempt), this.stop.signal);
        if (this.stopped) throw new Error('left');
      }
    }
  }

  private async getJson<T>(path: string): Promise<T> {
    const res = await fetch(this.url(path), { signal: this.stop.signal, cache: 'no-store' });
    if (!res.ok) throw await httpError(res, `GET /${path}`);
    return (await res.json()) as T;
  }

  private async post(path: string | URL, body: Uint8Array): Promise<Response> {
    return fetch(typeof path === 'string' ? this.url(path) : path, {
      method: 'POST',
      headers: { 'Content-Type': 'application/octet-stream' },
      body: body as Uint8Array<ArrayBuffer>,
      signal: this.stop.signal,
    });
  }

  // ---- IndexedDB ----

  private openState(): Promise<IDBPDatabase> {
    return openDB(`${this.opts.dbName}.participant`, 1, {
      upgrade(db) {
        if (!db.objectStoreNames.contains('progress')) db.createObjectStore('progress', { keyPath: 'key' });
        if (!db.objectStoreNames.contains('data')) db.createObjectStore('data', { keyPath: 'key' });
      },
    });
  }

  private async save(patch: Partial<ProgressRecord>): Promise<void> {
    const next = { ...this.progress!, ...patch, updatedAt: Date.now() };
    for (const k of Object.keys(patch) as (keyof ProgressRecord)[]) if (patch[k] === undefined) delete next[k];
    // In memory first, so concurrent saves build on each other; IndexedDB applies the puts in order.
    this.progress = next;
    await this.db!.put('progress', next);
  }

  /** Takes the next sequence number, persisted before the envelope that carries it exists. */
  private async nextSequence(): Promise<number> {
    const seq = this.progress!.nextSequence;
    await this.save({ nextSequence: seq + 1 });
    return seq;
  }

  // ---- lifecycle ----

  private async run(): Promise<void> {
    if (this.stopped) return;
    this.setState('joining', { round: 0 });
    try {
      const { task } = await this.retry('fetching the task', () => this.getJson<{ task: TaskSpec }>('api/task'));
      if (this.stopped) return;
      if (this.opts.task !== undefined && task.name !== this.opts.task) throw new RangeError(`join: the page expects task ${JSON.stringify(this.opts.task)}, the coordinator at ${this.opts.base.href} runs ${JSON.stringify(task.name)}`);
      if (task.data && (task.data as { alpha?: number | null }).alpha === null) delete task.data.alpha;
      this.task = task;
      this.taskIdBytes = await taskId(task.name);
      this.key = `${this.opts.base.href}|${toHex(this.taskIdBytes)}`;
      const locks = typeof navigator !== 'undefined' ? navigator.locks : undefined;
      if (!locks) return await this.participate();
      const name = `meshwork participant ${this.opts.dbName} ${this.key}`;
      await locks.request(name, { ifAvailable: true }, async (lock) => {
        if (lock) return this.participate();
        this.setState('paused', { reason: 'another tab of this site is the participant for this task; waiting for it to close' });
        await locks.request(name, { signal: this.stop.signal }, () => this.participate());
      });
    } catch (e) {
      if (!this.stopped) this.fail(e, true);
    }
  }

  /** Holds the tab lock until leave(). */
  private async participate(): Promise<void> {
    if (this.stopped) return;
    this.db = await this.openState();
    const name = `participant ${this.key}`;
    const { identity: ed } = await loadOrCreateIdentity({ dbName: this.opts.dbName, name });
    // Hybrid: the ML-DSA-65 signer (and @noble/post-quantum) is a chunk of its own, fetched only now.
    const identity = this.opts.hybrid ? (await (await import('./hybrid-keystore.js')).loadOrCreateHybrid(ed, { dbName: this.opts.dbName, name })).identity : ed;
    this.identity = identity;
    this.publicKey = identity.id;
    const stored = (await this.db.get('progress', this.key)) as ProgressRecord | undefined;
    this.progress = stored && stored.publicKey === identity.id ? stored : { key: this.key, publicKey: identity.id, nextSequence: 0, round: 0, phase: 'idle', updatedAt: Date.now() };
    if (this.progress.phase === 'training' || this.progress.phase === 'trained') this.resumeRound = this.progress.round;
    await this.join();
    await this.loadData();
    this.watchPauses();
    // Rounds are handled once the socket is open (its 'open' reads GET /api/round): a participant the
    // coordinator sees connected is selected for the next round too. Without a socket, after 3 s anyway.
    this.connect(0);
    this.resolveJoined();
    const fallback = setTimeout(() => this.schedule(), 3_000);
    this.cleanups.push(() => clearTimeout(fallback));
    await new Promise<void>((resolve) => {
      if (this.stopped) resolve();
      this.stop.signal.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** One signed join request (a `control` envelope, round 0); the same key joins again as the same id. */
  private async postJoin(): Promise<{ id: string; index: number; shard: number; round?: RoundInfo }> {
    const ml = this.identity && 'mlDsaPublicKey' in this.identity ? this.identity.mlDsaPublicKey : undefined;
    const request: JoinRequest = { op: 'join', host: 'browser', role: 'participant', ...(ml ? { mlDsaPublicKey: base64(ml) } : {}) };
    const sequence = await this.nextSequence();
    const env = await sealEnvelope({ kind: 'control', task: this.taskIdBytes!, round: 0, sequence, payload: utf8(JSON.stringify(request)) }, this.identity!);
    const res = await this.post('api/join', env);
    if (!res.ok) throw await httpError(res, 'POST /api/join');
    const ans = (await res.json()) as { id: string; index: number; shard: number; round?: RoundInfo };
    if (typeof ans.id !== 'string' || !Number.isInteger(ans.index) || !Number.isInteger(ans.shard)) throw new Error(`POST /api/join answered ${JSON.stringify(ans)}, expected { id, index, shard, round }`);
    return ans;
  }

  private async join(): Promise<void> {
    const ans = await this.retry('joining', () => this.postJoin());
    this.id = ans.id;
    this.index = ans.index;
    await this.save({ id: ans.id, index: ans.index, shard: ans.shard });
    if (ans.round) this.onRound(ans.round, false);
  }

  private async loadData(): Promise<void> {
    const task = this.task!;
    const [features, classes] = [task.sizes[0]!, task.sizes[task.sizes.length - 1]!];
    if (this.opts.data !== 'shard') {
      const d = this.opts.data;
      if (d.features !== features || d.classes !== classes) throw new RangeError(`join: data has ${d.features} features and ${d.classes} classes, the task's model takes ${features} and ${classes}`);
      this.data = d;
      await this.db!.put('data', { key: this.key, shard: -1, x: d.x, y: d.y, n: d.n, features: d.features, classes: d.classes } satisfies DataRecord);
      return;
    }
    const shard = this.progress!.shard!;
    const stored = (await this.db!.get('data', this.key)) as DataRecord | undefined;
    if (stored && stored.shard === shard) {
      this.data = { x: stored.x, y: stored.y, n: stored.n, features: stored.features, classes: stored.classes };
      return;
    }
    this.progressOf('data', 0, 0);
    const all = await this.retry('loading the data', () => loadDigits(this.url('data/digits.csv.gz')));
    const shards = taskSplit(task, all).shards;
    const mine = shards[shard];
    if (!mine) throw new RangeError(`the coordinator gave shard ${shard}, the task has ${shards.length}`);
    this.data = mine;
    await this.db!.put('data', { key: this.key, shard, x: mine.x, y: mine.y, n: mine.n, features: mine.features, classes: mine.classes } satisfies DataRecord);
    this.progressOf('data', 1, 0);
  }

  // ---- WebSocket ----

  private connect(attempt: number): void {
    if (this.stopped || this.state === 'done') return;
    const u = this.url(`ws?id=${encodeURIComponent(this.id!)}`);
    u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
    let ws: WebSocket;
    try {
      ws = new WebSocket(u);
    } catch (e) {
      this.fail(e, true);
      return;
    }
    this.ws = ws;
    let openedAt = 0;
    ws.addEventListener('open', () => {
      openedAt = Date.now();
      // Whatever was announced while disconnected.
      void this.refreshRound();
    });
    ws.addEventListener('message', (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg: { type?: string; [k: string]: unknown };
      try {
        msg = JSON.parse(ev.data) as typeof msg;
      } catch {
        return;
      }
      this.onMessage(msg);
    });
    ws.addEventListener('close', (ev) => {
      if (this.ws === ws) this.ws = undefined;
      if (this.stopped || this.state === 'done') return;
      // A socket that stayed up a while was healthy: reconnect soon. One that failed to open, or closed at
      // once, or that the coordinator closed with a 4xxx code (4003: unknown participant) backs off further
      // and joins again first (a coordinator that lost its state, or is not up yet).
      const healthy = openedAt > 0 && Date.now() - openedAt > 5_000 && ev.code < 4000;
      const next = healthy ? 0 : attempt + 1;
      void sleep(backoffMs(next), this.stop.signal).then(async () => {
        if (this.stopped || this.state === 'done') return;
        if (!healthy) await this.rejoin();
        this.connect(next);
      });
    });
  }

  /** One join attempt when reconnecting (the socket's back-off paces retries). */
  private async rejoin(): Promise<void> {
    try {
      const ans = await this.postJoin();
      if (ans.id !== this.id || ans.index !== this.index || ans.shard !== this.progress!.shard) {
        // A coordinator that lost its state: take the new place (and its data shard); its rounds count anew.
        this.info = undefined;
        this.id = ans.id;
        this.index = ans.index;
        await this.save({ id: ans.id, index: ans.index, shard: ans.shard });
        if (this.opts.data === 'shard') await this.loadData();
      }
      if (ans.round) this.onRound(ans.round, false);
    } catch (e) {
      if (!this.stopped) this.fail(new Error(`reconnecting: ${(e as Error).message}`, { cause: e }), false);
    }
  }

  private onMessage(msg: { type?: string; [k: string]: unknown }): void {
    switch (msg.type) {
      case 'hello': {
        const status = msg.status as { round?: RoundInfo } | undefined;
        if (status?.round) this.onRound(status.round);
        break;
      }
      case 'round':
        this.onRound(msg as unknown as RoundInfo);
        break;
      case 'done':
        this.finish();
        break;
      case 'rejected':
        if ((msg as { id?: string }).id === this.id) {
          const r = msg as unknown as { status?: number; code?: string; field?: string; message?: string; round?: number };
          this.fail(new CoordinatorError(r.status ?? 0, r.code, r.field, `the coordinator refused a request: ${r.message ?? r.code ?? 'no reason given'}`), false, r.round ?? this.round);
        }
        break;
      default:
        break;
    }
  }

  private async refreshRound(): Promise<void> {
    try {
      this.onRound(await this.getJson<RoundInfo>('api/round'));
    } catch (e) {
      if (!this.stopped) this.fail(e, false);
    }
  }

  private onRound(info: RoundInfo, schedule = true): void {
    if (!info || typeof info.round !== 'number') return;
    if (this.info && info.round < this.info.round) return;
    this.info = info;
    this.round = info.round;
    if (info.state === 'done') return this.finish();
    if (schedule) this.schedule();
  }

  private finish(): void {
    if (this.state === 'done') return;
    this.setState('done', { reason: 'the task is finished' });
    void this.shutdown();
  }

  // ---- pausing ----

  private watchPauses(): void {
    if (this.opts.pauseWhenHidden && typeof document !== 'undefined') {
      const onVis = () => this.setPause('hidden', document.hidden ? 'the page is hidden' : undefined);
      document.addEventListener('visibilitychange', onVis);
      this.cleanups.push(() => document.removeEventListener('visibilitychange', onVis));
      onVis();
    }
    const nav = typeof navigator !== 'undefined' ? (navigator as Navigator & { getBattery?: () => Promise<Battery> }) : undefined;
    if (this.opts.minBattery > 0 && typeof nav?.getBattery === 'function') {
      nav.getBattery().then(
        (b) => {
          if (this.stopped) return;
          this.battery = b;
          const onBat = () => this.setPause('battery', b.level < this.opts.minBattery && !b.charging ? `the battery is at ${Math.round(b.level * 100)}% and not charging` : undefined);
          b.addEventListener('levelchange', onBat);
          b.addEventListener('chargingchange', onBat);
          this.cleanups.push(() => {
            b.removeEventListener('levelchange', onBat);
            b.removeEventListener('chargingchange', onBat);
          });
          onBat();
        },
        () => undefined, // the browser does not tell
      );
    }
  }

  private setPause(what: string, reason: string | undefined): void {
    const had = this.pauses.size > 0;
    if (reason) this.pauses.set(what, reason);
    else this.pauses.delete(what);
    if (this.pauses.size) {
      if (!this.ticking) this.setState('paused', { reason: [...this.pauses.values()].join('; ') });
    } else if (had) {
      this.schedule();
    }
  }

  // ---- rounds ----

  /** Runs `tick` now, or again after the running one. */
  private schedule(): void {
    if (this.stopped || !this.progress) return;
    if (this.ticking) {
      this.again = true;
      return;
    }
    this.ticking = true;
    void (async () => {
      try {
        do {
          this.again = false;
          await this.tick();
        } while (this.again && !this.stopped);
      } finally {
        this.ticking = false;
      }
    })();
  }

  private async tick(): Promise<void> {
    const info = this.info;
    if (this.stopped || this.state === 'done' || this.state === 'error' || !info) return;
    const p = this.progress!;
    const r = info.round;
    const mine = p.round === r;
    if (info.state !== 'open' || !info.selected.includes(this.id!)) {
      if (!this.pauses.size) this.setState(mine && (p.phase === 'acknowledged' || p.phase === 'held') ? 'submitted' : 'waiting', { round: r });
      return;
    }
    if (info.submitted.includes(this.id!) || (mine && p.phase === 'acknowledged')) {
      if (mine && p.phase !== 'acknowledged') await this.save({ phase: 'acknowledged', envelope: undefined });
      this.setState('submitted', { round: r });
      return;
    }
    if (mine && p.phase === 'failed') {
      if (!this.pauses.size) this.setState('waiting', { round: r });
      return;
    }
    if (mine && p.phase === 'held' && p.envelope) {
      // A leaf aggregator holds the update: fine while the round still gives it this participant; once the
      // coordinator takes the participant back (the aggregator went away), the same bytes go to the coordinator.
      if (info.aggregators?.some((a) => a.id === p.via && a.members.includes(this.id!))) {
        this.setState('submitted', { round: r });
        return;
      }
      await this.submit(r, p.envelope, this.resumeRound === r, true);
      return;
    }
    const resumed = this.resumeRound === r && mine;
    this.resumeRound = 0;
    if (mine && p.phase === 'trained' && p.envelope) {
      // Trained before a reload: send the very bytes that were sealed (a duplicate is answered 409).
      await this.submit(r, p.envelope, resumed);
      return;
    }
    if (this.pauses.size) {
      this.setState('paused', { round: r, reason: [...this.pauses.values()].join('; '), resumed });
      return;
    }
    await this.trainAndSubmit(info, resumed);
  }

  private async trainAndSubmit(info: RoundInfo, resumed: boolean): Promise<void> {
    const r = info.round;
    try {
      await this.save({ round: r, phase: 'training', modelSha256: info.modelSha256, envelope: undefined, via: undefined });
      this.setState('training', { round: r, resumed });
      this.progressOf('model', 0, r);
      const { params, sha } = await this.retry('fetching the model', () => this.fetchModel(info));
      if (this.stopped) return;
      if (sha === undefined) {
        // The model moved on (a newer round): handle that one.
        this.again = true;
        return;
      }
      this.progressOf('model', 1, r);
      this.progressOf('training', 0, r);
      const api = this.startWorker();
      const { values } = await Promise.race([api.train({ task: this.task!, params, data: this.data!, index: this.index, round: r }), this.workerFailed!]);
      if (this.stopped) return;
      this.progressOf('training', 1, r);
      const proofs = this.task!.proofs ? await this.prove(r, values) : undefined;
      if (this.stopped) return;
      const payload = encodeUpdatePayload({ model: fromHex(sha), samples: this.data!.n, values, ...(proofs ? { proofs } : {}) });
      const sequence = await this.nextSequence();
      const envelope = await sealEnvelope({ kind: 'update', task: this.taskIdBytes!, round: r, sequence, payload }, this.identity!);
      await this.save({ phase: 'trained', envelope });
      if (this.stopped) return;
      await this.submit(r, envelope, resumed);
    } catch (e) {
      if (this.stopped) return;
      this.fail(e, false, r);
      await this.save({ phase: 'failed', envelope: undefined }).catch(() => undefined);
      this.setState('waiting', { round: r });
    }
  }

  /**
   * A proofs task: proves the round's chosen chunks (proofChunks) of the encoded update. The prover, its Web
   * Worker, snarkjs and the circuit artifacts are a separate chunk of the embed, fetched here on first use:
   * a page in a task without proofs never loads them.
   */
  private async prove(r: number, values: Int32Array): Promise<UpdateProof[]> {
    const want = proofChunks(this.task!, r, this.index);
    this.progressOf('proving', 0, r);
    const g = await import('./groth16.js');
    if (!this.prover) {
      const p = g.createGroth16Prover();
      this.prover = p;
      p.catch(() => { if (this.prover === p) this.prover = undefined; });
    }
    const prover = await this.prover;
    const chunks = g.chunksOf(values);
    const bound = proofBound(this.task!);
    const out: UpdateProof[] = [];
    for (const [k, chunk] of want.entries()) {
      if (this.stopped) break;
      const bind = g.bindingOf({ task: this.taskIdBytes!, round: r, sender: this.identity!.publicKey, chunk });
      const { proof, publicSignals } = await prover.prove({ x: chunks[chunk]!, bound, bind });
      out.push({ chunk, publicSignals, proof });
      this.progressOf('proving', (k + 1) / want.length, r);
    }
    return out;
  }

  /** The round's model, checked against the SHA-256 the coordinator announced; sha undefined when stale. */
  private async fetchModel(info: RoundInfo): Promise<{ params: Float32Array; sha: string | undefined }> {
    const res = await fetch(this.url('api/model'), { signal: this.stop.signal, cache: 'no-store' });
    if (!res.ok) throw await httpError(res, 'GET /api/model');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sha = await sha256Hex(bytes);
    // Cross-origin, the header is readable only when the coordinator exposes it (Access-Control-Expose-Headers).
    const header = res.headers.get('X-Meshwork-Model-Sha256');
    if (header !== null && header.toLowerCase() !== sha) throw new Error(`GET /api/model: the body's SHA-256 is ${sha}, X-Meshwork-Model-Sha256 says ${header}`);
    if (sha !== info.modelSha256.toLowerCase()) {
      const now = await this.getJson<RoundInfo>('api/round');
      this.onRound(now, false);
      if (now.round !== info.round || now.modelSha256 !== info.modelSha256) return { params: new Float32Array(0), sha: undefined };
      throw new Error(`GET /api/model: the body's SHA-256 is ${sha}, round ${info.round} announced ${info.modelSha256}`);
    }
    if (bytes.length % 4) throw new Error(`GET /api/model: ${bytes.length} bytes is not a whole number of f32 values`);
    const params = new Float32Array(bytes.length / 4);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (let i = 0; i < params.length; i++) params[i] = dv.getFloat32(4 * i, true);
    return { params, sha };
  }

  /**
   * Sends the round's update: to the leaf aggregator the round gives this participant (once; any answer but
   * 202 and it goes to the coordinator), or to the coordinator (`direct`, or no aggregator), retrying while
   * that is unreachable.
   */
  private async submit(r: number, envelope: Uint8Array, resumed: boolean, direct = false): Promise<void> {
    this.setState('submitting', { round: r, resumed });
    this.progressOf('submitting', 0, r);
    const agg = direct ? undefined : this.info?.aggregators?.find((a) => a.members.includes(this.id!));
    if (agg && this.info?.round === r) {
      try {
        const res = await this.post(new URL('api/submit', agg.endpoint), envelope);
        if (res.status === 202) {
          await this.save({ phase: 'held', via: agg.id });
          this.progressOf('submitting', 1, r);
          this.setState('submitted', { round: r, resumed });
          return;
        }
        this.fail(await httpError(res, `POST ${agg.endpoint}api/submit (aggregator ${agg.id})`), false, r);
      } catch (e) {
        if (this.stopped) return;
        this.fail(new Error(`aggregator ${agg.id} unreachable: ${(e as Error).message}; submitting to the coordinator`, { cause: e }), false, r);
      }
    }
    for (let attempt = 0; ; attempt++) {
      if (this.stopped) return;
      if (this.info && this.info.round !== r) {
        await this.save({ phase: 'failed', envelope: undefined });
        this.fail(new Error(`round ${r} closed before its update was acknowledged`), false, r);
        return;
      }
      try {
        const res = await this.post('api/submit', envelope);
        if (res.status === 202 || res.ok) break;
        const err = await httpError(res, 'POST /api/submit');
        if (res.status === 409 && err.code === 'duplicate') break;
        throw err;
      } catch (e) {
        if (this.stopped) return;
        if (!transient(e)) {
          await this.save({ phase: 'failed', envelope: undefined });
          this.fail(e, false, r);
          this.setState('waiting', { round: r });
          return;
        }
        this.fail(new Error(`submitting round ${r}: ${(e as Error).message}; retrying`, { cause: e }), false, r);
        await sleep(backoffMs(attempt), this.stop.signal);
      }
    }
    await this.save({ phase: 'acknowledged', envelope: undefined, via: undefined });
    this.progressOf('submitting', 1, r);
    this.setState('submitted', { round: r, resumed });
  }

  private startWorker(): Remote<ParticipantWorkerApi> {
    if (this.api) return this.api;
    const worker = startWorker();
    this.worker = worker;
    this.workerFailed = new Promise<never>((_, reject) => {
      worker.addEventListener('error', (e) => {
        e.preventDefault?.();
        reject(new Error(`the training worker failed to load or threw: ${e.message || 'no message (a blocked or missing module?)'}`));
        this.api = undefined;
        this.worker = undefined;
        worker.terminate();
      });
    });
    this.workerFailed.catch(() => undefined);
    this.api = wrap<ParticipantWorkerApi>(worker);
    return this.api;
  }

  private async shutdown(): Promise<void> {
    this.stop.abort();
    this.ws?.close();
    this.ws = undefined;
    this.worker?.terminate();
    this.worker = undefined;
    this.api = undefined;
    void this.prover?.then((p) => p.dispose(), () => undefined);
    this.prover = undefined;
    for (const c of this.cleanups.splice(0)) c();
    this.db?.close();
  }

  async leave(): Promise<void> {
    if (this.stopped) return;
    this.rejectJoined(new Error('left before joining'));
    this.setState('done', { reason: 'left' });
    await this.shutdown();
  }
}

/**
 * Joins the federated task of a coordinator from this page (see the module comment). Returns at once; the
 * participant reports through events: `state` ({@link StateDetail}), `progress` ({@link ProgressDetail}),
 * `error` ({@link ErrorDetail}).
 * @throws TypeError / RangeError naming the option for bad options.
 */
export function join(options: JoinOptions): Participant {
  return new BrowserParticipant(checkOptions(options));
}
