/**
 * The Node participant (`meshwork worker --coordinator URL`): joins a coordinator with its Ed25519 key (a
 * PKCS#8 file, created on first run), follows rounds over the WebSocket, trains on its own data on a
 * worker_threads Worker (comlink, wasm-simd kernels), and submits signed update envelopes. It survives
 * coordinator restarts: the socket reconnects with back-off and an unacknowledged update is sent again (a
 * 409 `duplicate` means the coordinator already holds it). In a task with leaf aggregators it submits to the
 * aggregator the round gives it, and to the coordinator when that one does not take the update or is taken
 * off the round before the update counts. On a host with a TPM it attests at join: a quote
 * binding its key and the coordinator's nonce (host-node/attest-join.ts, docs/tpm.md "Attestation at join").
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { Worker } from 'node:worker_threads';
import { gunzipSync } from 'node:zlib';
import { wrap, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { fromHex, ownBytes } from '../proofs/bytes.js';
import { sealEnvelope } from '../proofs/envelope.js';
import { attackByName, type Attack } from '../runtime/fl/attacks.js';
import { parseDigits, type Dataset } from '../runtime/fl/data.js';
import { encodeForSubmit, encodeUpdatePayload, localJob, proofBound, proofChunks, taskSplit, type RoundInfo, type UpdateProof } from '../runtime/fl/protocol.js';
import { Rng, STREAMS } from '../runtime/fl/rng.js';
import type { PoolWorkerApi } from '../runtime/threads/worker-api.js';
import { openNode, type AttestationEvent, type NodeJoinOptions, type TpmJoinOptions, type TpmMode } from './attest-join.js';
import { loadDigits } from './data.js';
import { apiError, checkUrl, followRounds, sleep } from './follow.js';
import type { Groth16Prover } from './groth16.js';

/** Options of {@link runWorker}. */
export interface WorkerOptions extends NodeJoinOptions {
  /** Own data: a CSV (optionally .gz) of 64 pixel values 0..16 and a label per line (the digits format). Default: the task's shard of the shipped digits. */
  data?: string;
  /** Plays a Byzantine attack (sign-flip, label-flip, gaussian): for robustness demos and tests. */
  attack?: string;
  /** Machine-readable events (one object per accepted or refused update). Key file default: .meshwork/worker-key.pem. */
  event?: (e: WorkerEvent) => void;
}

/**
 * What the worker reports: its TPM attestation (before the join: `quoted` with the AK's TPM name, the PCRs
 * and the quote's time, or `skipped` with the reason; `refused` when the coordinator turned the quote down),
 * the join (`attested` as the coordinator answered), then per round.
 */
export type { AttestationEvent, NodeJoinOptions, TpmJoinOptions, TpmMode };

export type WorkerEvent =
  | AttestationEvent
  | { type: 'joined'; id: string; index: number; shard: number; examples: number; attested: boolean; ak?: string }
  | { type: 'proved'; round: number; chunk: number; done: number; of: number; ms: number }
  | { type: 'accepted'; round: number; sha256: string; status: 202 | 409; ms: number }
  | { type: 'refused'; round: number; status: number; code: string; message: string }
  | { type: 'done'; rounds: number; accepted: number };

const ATTACKS_ALONE = ['sign-flip', 'label-flip', 'gaussian'];

/** Reads a digits-format CSV (plain or gzipped). */
export function readDataFile(file: string): Dataset {
  const raw = readFileSync(file);
  const text = raw[0] === 0x1f && raw[1] === 0x8b ? gunzipSync(raw).toString('utf8') : raw.toString('utf8');
  return parseDigits(text);
}

/** Runs a participant until the task is done; resolves with how many of its updates were accepted. */
export async function runWorker(opts: WorkerOptions): Promise<{ id: string; accepted: number; rounds: number }> {
  if (opts.attack !== undefined && !ATTACKS_ALONE.includes(opts.attack)) throw new RangeError(`attack must be one of ${ATTACKS_ALONE.join(', ')} (the others need the honest updates), got '${opts.attack}'`);
  const emit = opts.event ?? (() => undefined);
  const patience = opts.patienceMs ?? 120_000;
  const { base, call, log, identity, task, taskBytes, join } = await openNode(opts, '.meshwork/worker-key.pem');
  const { body: joinBody, attestation } = await join({ op: 'join', host: 'node', role: 'participant' }, emit);
  const joined = JSON.parse(joinBody) as { id: string; index: number; shard: number; round: RoundInfo; attested?: boolean; ak?: string };
  const attested = joined.attested === true;
  const me = joined.id;
  let data = opts.data ? readDataFile(opts.data) : taskSplit(task, loadDigits()).shards[joined.shard]!;
  const attack: Attack | undefined = opts.attack ? attackByName(opts.attack) : undefined;
  if (attack?.poisonLabels) data = { ...data, y: data.y.map((v) => data.classes - 1 - v) };
  const attestNote = attested ? `TPM-attested${attestation ? '' : ' by an earlier join'} (AK ${joined.ak?.slice(0, 16) ?? '?'}...)`
    : attestation ? 'sent a TPM quote, but the coordinator does not report it verified' : 'not attested';
  log(`${me}: joined '${task.name}' (${task.rounds} rounds, ${task.rule}), ${attestNote}; training on ${data.n} examples${opts.data ? ` from ${opts.data}` : ` (shard ${joined.shard} of the digits)`}${attack ? `; playing the ${attack.name} attack` : ''}`);
  emit({ type: 'joined', id: me, index: joined.index, shard: joined.shard, examples: data.n, attested, ...(joined.ak ? { ak: joined.ak } : {}) });

  const thread = new Worker(new URL('./pool-worker.js', import.meta.url));
  const api: Remote<PoolWorkerApi> = wrap<PoolWorkerApi>(nodeEndpoint(thread));
  const handled = new Set<number>();
  let busy: Promise<void> = Promise.resolve();
  let accepted = 0;
  let sequence = Date.now() * 1000; // increases across restarts without being stored
  let prover: Promise<Groth16Prover> | undefined;

  /**
   * A proofs task: proves the round's chosen chunks (proofChunks) of the encoded update on the Groth16 worker
   * thread, one after another. snarkjs and the prover load on the first call (a task without proofs never loads them).
   */
  async function proveChunks(r: number, values: Int32Array): Promise<UpdateProof[]> {
    const want = proofChunks(task, r, joined.index);
    const [node, g] = await Promise.all([import('./groth16.js'), import('../proofs/groth16.js')]);
    if (!prover) {
      prover = node.createGroth16Prover();
      prover.catch(() => { prover = undefined; });
    }
    const p = await prover;
    const chunks = g.chunksOf(values);
    const bound = proofBound(task);
    const out: UpdateProof[] = [];
    for (const [k, chunk] of want.entries()) {
      const t = performance.now();
      const bind = g.bindingOf({ task: taskBytes, round: r, sender: identity.publicKey, chunk });
      const { proof, publicSignals } = await p.prove({ x: chunks[chunk]!, bound, bind });
      out.push({ chunk, publicSignals, proof });
      const ms = performance.now() - t;
      log(`${me}: round ${r}: proved chunk ${chunk} (${k + 1} of ${want.length}) in ${ms.toFixed(0)} ms`);
      emit({ type: 'proved', round: r, chunk, done: k + 1, of: want.length, ms });
    }
    return out;
  }

  async function work(info: RoundInfo): Promise<void> {
    if (info.state !== 'open' || !info.selected.includes(me) || info.submitted.includes(me) || handled.has(info.round)) return;
    handled.add(info.round);
    const r = info.round;
    const t0 = performance.now();
    const res = await call('api/model');
    const bytes = new Uint8Array(await res.arrayBuffer());
    const sha = createHash('sha256').update(bytes).digest('hex');
    if (!res.ok || sha !== res.headers.get('x-meshwork-model-sha256') || Number(res.headers.get('x-meshwork-round')) !== r) {
      handled.delete(r); // the round moved on or the download is damaged: the next round message decides
      return;
    }
    const params = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
    log(`${me}: round ${r}: training on ${data.n} examples`);
    let update = await api.trainLocal(localJob(task, params, data, joined.index, r));
    if (attack) update = attack.craft(update, [update], { n: info.selected.length, f: 1, rng: new Rng(task.seed, STREAMS.attack, 2 + joined.index, r) });
    const values = encodeForSubmit(task, update, joined.index, r);
    const proofs = task.proofs ? await proveChunks(r, values) : undefined;
    const payload = encodeUpdatePayload({ model: fromHex(sha, 'model'), samples: data.n, values, ...(proofs ? { proofs } : {}) });
    const env = await sealEnvelope({ kind: 'update', task: taskBytes, round: r, sequence: ++sequence, payload }, identity);
    const envSha = createHash('sha256').update(env).digest('hex');
    const trainedMs = performance.now() - t0;
    const held: Held = { round: r, env, sha256: envSha, via: null };
    pending = held;
    const agg = info.aggregators?.find((a) => a.members.includes(me));
    if (agg && await viaAggregator(held, agg.id, agg.endpoint, trainedMs)) return;
    await toCoordinator(held, trainedMs);
  }

  /** An update of this round not yet known to count at the coordinator: kept until the round closes. */
  interface Held { round: number; env: Uint8Array; sha256: string; via: string | null }
  let pending: Held | undefined;
  const counted = new Set<number>();
  const acknowledged = (h: Held, status: 202 | 409, ms: number, where: string, trainedMs?: number) => {
    if (counted.has(h.round)) return;
    counted.add(h.round);
    accepted++;
    log(`${me}: round ${h.round}: ${trainedMs !== undefined ? `trained${task.proofs ? ' and proved' : ''} in ${(trainedMs / 1000).toFixed(2)} s; ` : ''}${status === 202 ? 'accepted' : 'already in the ledger'} (${status}) ${where}in ${ms.toFixed(0)} ms`);
    emit({ type: 'accepted', round: h.round, sha256: h.sha256, status, ms });
  };

  /**
   * Submits to the leaf aggregator the round gave this participant; true once it holds the update (202). Any
   * other answer, or no answer, and the update goes to the coordinator instead.
   */
  async function viaAggregator(h: Held, id: string, endpoint: string, trainedMs: number): Promise<boolean> {
    const t1 = performance.now();
    try {
      const res = await fetch(new URL('api/submit', checkUrl(endpoint, 'aggregator endpoint')), { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: ownBytes(h.env), signal: opts.signal ? AbortSignal.any([opts.signal, AbortSignal.timeout(30_000)]) : AbortSignal.timeout(30_000) });
      const body = await res.text();
      if (res.status === 202) {
        h.via = id;
        acknowledged(h, 202, performance.now() - t1, `by aggregator ${id} `, trainedMs);
        return true;
      }
      const e = apiError(body);
      log(`${me}: round ${h.round}: aggregator ${id} answered ${res.status} (${e.code}: ${e.message}); submitting to the coordinator`);
    } catch (e) {
      if (opts.signal?.aborted) throw e;
      log(`${me}: round ${h.round}: aggregator ${id} unreachable (${(e as Error).message}); submitting to the coordinator`);
    }
    return false;
  }

  async function toCoordinator(h: Held, trainedMs?: number): Promise<void> {
    h.via = null;
    for (let attempt = 0; ; attempt++) {
      const t1 = performance.now();
      const sub = await call('api/submit', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: ownBytes(h.env) });
      const body = await sub.text();
      const err = sub.ok ? undefined : apiError(body);
      if (sub.status === 202 || (sub.status === 409 && err?.code === 'duplicate')) {
        if (sub.status === 202 && pending === h) pending = undefined;
        acknowledged(h, sub.status as 202 | 409, performance.now() - t1, '', trainedMs);
        return;
      }
      if (sub.status >= 500 && attempt < 5) {
        await sleep(500 * (attempt + 1), opts.signal);
        continue;
      }
      if (sub.status === 409 && err?.code === 'checking' && attempt < 60) {
        // An aggregator's partial covering this update is being checked: it counts, or comes back here.
        await sleep(250, opts.signal);
        continue;
      }
      if (pending === h) pending = undefined;
      log(`${me}: round ${h.round}: refused (${sub.status} ${err?.code}): ${err?.message}`);
      emit({ type: 'refused', round: h.round, status: sub.status, code: err?.code ?? 'unknown', message: err?.message ?? '' });
      return;
    }
  }

  /**
   * An update an aggregator holds whose aggregator the round took back (it went away, or its partial failed
   * its audit), and that does not count yet: sent to the coordinator.
   */
  async function reroute(info: RoundInfo): Promise<void> {
    const h = pending;
    if (!h || h.round !== info.round) return;
    if (info.state !== 'open' || info.submitted.includes(me)) {
      if (info.state !== 'open' || info.round !== h.round) pending = undefined;
      return;
    }
    if (h.via === null || info.aggregators?.some((a) => a.id === h.via && a.members.includes(me))) return;
    log(`${me}: round ${h.round}: aggregator ${h.via} no longer aggregates this round and my update does not count yet; submitting to the coordinator`);
    await toCoordinator(h);
  }

  function onRound(info: RoundInfo): void {
    if (pending && (info.round !== pending.round || info.state !== 'open')) pending = undefined;
    busy = busy.then(() => reroute(info)).then(() => work(info)).catch((e: unknown) => {
      handled.delete(info.round);
      log(`${me}: round ${info.round}: ${(e as Error).message}`);
    });
  }

  try {
    await followRounds(base, me, onRound, patience, opts.signal);
    await busy;
  } finally {
    await thread.terminate();
    if (prover) await prover.then((p) => p.dispose(), () => undefined);
  }
  log(`${me}: task done; ${accepted} of my updates accepted`);
  emit({ type: 'done', rounds: task.rounds, accepted });
  return { id: me, accepted, rounds: task.rounds };
}
