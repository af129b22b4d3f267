/**
 * Helpers for the coordinator suites: an in-process participant the test controls (join, follow rounds over
 * the WebSocket, train with the shared protocol step, hold back a round on request), worker processes, and a
 * coordinator process that can be killed with SIGKILL.
 * @module
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import { fromHex, ownBytes, toHex, utf8 } from '../proofs/bytes.js';
import { generateIdentity, type Identity } from '../proofs/ed25519.js';
import type { HybridIdentity } from '../proofs/hybrid.js';
import { sealEnvelope } from '../proofs/envelope.js';
import { loadDigits } from '../host-node/data.js';
import { encodeUpdatePayload, taskSplit, trainAndEncode, type RoundInfo, type TaskSpec } from '../runtime/fl/protocol.js';

export const CLI = fileURLToPath(new URL('../host-node/cli.js', import.meta.url));

/**
 * Polls `probe` every 100 ms until it returns something other than undefined (a thrown error counts as not
 * yet); fails after `timeoutMs` naming `what`, the last error and `context()`.
 */
export async function until<T>(what: string, probe: () => Promise<T | undefined> | T | undefined, timeoutMs: number, context = () => ''): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > end) throw new Error(`${what}: not after ${timeoutMs} ms${last ? ` (last error: ${(last as Error).message})` : ''}${context()}`);
    await new Promise((ok) => setTimeout(ok, 100));
  }
}

export async function getJson<T>(url: string): Promise<T> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

export async function postBytes(url: string, body: Uint8Array, type = 'application/octet-stream'): Promise<{ status: number; body: { error?: { code: string; field: string | null; message: string; status: number } } & Record<string, unknown> }> {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': type }, body: ownBytes(body) });
  const text = await res.text();
  let json: Record<string, unknown>;
  try { json = JSON.parse(text) as Record<string, unknown>; } catch { json = { raw: text }; }
  return { status: res.status, body: json };
}

/** A participant driven by the test: joins, and trains + submits each round it is selected for unless held. */
export class TestParticipant {
  id = '';
  index = -1;
  task!: TaskSpec;
  taskId!: Uint8Array;
  identity!: Identity | HybridIdentity;
  sequence = 1;
  /** Envelopes the coordinator acknowledged, by round. */
  readonly acked = new Map<number, Uint8Array>();
  /** Rounds to hold back (not submitted until released). */
  readonly hold = new Set<number>();
  /** Submit to the leaf aggregator the round names for this participant, when there is one (tasks with aggregators). */
  viaAggregators = false;
  private ws: WebSocket | undefined;
  private stopped = false;
  private data!: { x: Float32Array; y: Int32Array; n: number; features: number; classes: number };
  private last: RoundInfo | undefined;
  private busy = Promise.resolve();

  constructor(public base: string) {}

  /** Joins; `extra` adds fields to the join request (e.g. `mlDsaPublicKey` with a hybrid identity). */
  async join(identity?: Identity | HybridIdentity, extra: Record<string, unknown> = {}): Promise<this> {
    this.identity = identity ?? await generateIdentity();
    const t = await getJson<{ task: TaskSpec; taskId: string }>(`${this.base}/api/task`);
    this.task = t.task;
    this.taskId = fromHex(t.taskId);
    const env = await sealEnvelope({ kind: 'control', task: this.taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', role: 'participant', ...extra })) }, this.identity);
    const res = await postBytes(`${this.base}/api/join`, env);
    if (res.status !== 200) throw new Error(`join: ${res.status} ${JSON.stringify(res.body)}`);
    this.id = res.body.id as string;
    this.index = res.body.index as number;
    this.data = taskSplit(this.task, loadDigits()).shards[res.body.shard as number]!;
    return this;
  }

  /** Connects the WebSocket (again after a coordinator restart: call with the new base). */
  connect(base = this.base): void {
    this.base = base;
    this.stopped = false;
    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws?id=${this.id}`);
    this.ws = ws;
    ws.on('message', (raw) => {
      const msg = JSON.parse(String(raw)) as { type: string; status?: { round: RoundInfo } } & RoundInfo;
      const info = msg.type === 'hello' ? msg.status!.round : msg.type === 'round' ? msg : undefined;
      if (info) {
        this.last = info;
        this.busy = this.busy.then(() => this.maybeSubmit(info)).catch(() => undefined);
      }
    });
    ws.on('error', () => undefined);
  }

  /** The signed update envelope for `round` from the current model (downloaded). */
  async updateEnvelope(round: number): Promise<Uint8Array> {
    const res = await fetch(`${this.base}/api/model`);
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sha = createHash('sha256').update(bytes).digest('hex');
    const params = new Float32Array(bytes.buffer, 0, bytes.length / 4);
    const values = trainAndEncode(this.task, params, this.data, this.index, round);
    const payload = encodeUpdatePayload({ model: fromHex(sha), samples: this.data.n, values });
    return sealEnvelope({ kind: 'update', task: this.taskId, round, sequence: this.sequence++, payload }, this.identity);
  }

  private async maybeSubmit(info: RoundInfo): Promise<void> {
    if (this.stopped || info.state !== 'open' || !info.selected.includes(this.id) || info.submitted.includes(this.id) || this.acked.has(info.round) || this.hold.has(info.round)) return;
    const env = await this.updateEnvelope(info.round);
    const agg = this.viaAggregators ? info.aggregators?.find((a) => a.members.includes(this.id)) : undefined;
    const res = await postBytes(agg ? `${agg.endpoint}api/submit` : `${this.base}/api/submit`, env);
    if (res.status === 202) this.acked.set(info.round, env);
  }

  /** Submits a held round now. */
  release(round: number): Promise<void> {
    this.hold.delete(round);
    return this.last ? this.maybeSubmit({ ...this.last, submitted: [] }) : Promise.resolve();
  }

  close(): void {
    this.stopped = true;
    this.ws?.terminate();
  }

  get publicKeyHex(): string {
    return toHex(this.identity.publicKey);
  }
}

/** A `meshwork worker` process; its JSON events are collected. */
export interface WorkerProc {
  child: ChildProcess;
  events: Record<string, unknown>[];
  stderr: string[];
  exited: Promise<number | null>;
}

export function spawnWorker(url: string, key: string, extra: string[] = []): WorkerProc {
  const child = spawn(process.execPath, [CLI, 'worker', '--coordinator', url, '--key', key, '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr!.on('data', (d: Buffer) => { stderr.push(d.toString()); });
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, events, stderr, exited };
}

/** A `meshwork serve` process on a fixed port, with its log; `waitFor` resolves when a log line matches. */
export function spawnCoordinator(port: number, taskFile: string, dir: string): { child: ChildProcess; log: string[]; waitFor(re: RegExp, ms?: number): Promise<string>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, 'serve', '--port', String(port), '--task', taskFile, '--dir', dir], { stdio: ['ignore', 'pipe', 'pipe'] });
  const log: string[] = [];
  const waiters: { re: RegExp; ok: (l: string) => void }[] = [];
  const onLine = (d: Buffer) => {
    for (const line of d.toString().split('\n')) {
      if (!line) continue;
      log.push(line);
      for (const w of waiters.slice()) if (w.re.test(line)) { waiters.splice(waiters.indexOf(w), 1); w.ok(line); }
    }
  };
  child.stdout!.on('data', onLine);
  child.stderr!.on('data', onLine);
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return {
    child, log, exited,
    waitFor(re, ms = 60_000) {
      const seen = log.find((l) => re.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((ok, fail) => {
        const t = setTimeout(() => fail(new Error(`no log line matching ${re} in ${ms} ms; log:\n${log.join('\n')}`)), ms);
        waiters.push({ re, ok: (l) => { clearTimeout(t); ok(l); } });
      });
    },
  };
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  const { createServer } = await import('node:net');
  return new Promise((ok) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const p = (s.address() as { port: number }).port;
      s.close(() => ok(p));
    });
  });
}
