/**
 * A leaf aggregator (`meshwork worker --role aggregator --coordinator URL`): joins the coordinator as role
 * `aggregator` with the URL its participants reach it at, follows rounds over the WebSocket, and serves the
 * participants the round gives it the same `POST /api/submit` the coordinator does. It checks each update as
 * the coordinator would (envelope, task, round, member, duplicate, replay, payload, model, signature),
 * keeps the envelope on disk (LMDB, synced before the 202), and when all its members are in, or shortly
 * before the round's deadline, sends the coordinator one signed `aggregate` envelope: the exact i64 weighted
 * sum of their values and the hashes of the envelopes it covers (runtime/fl/partial.ts). `GET
 * /api/envelopes?round=R` hands those envelopes back so the coordinator can replay the sum (its audit), now
 * or later, to whoever holds the partial's one-time token (sent with the partial; the operator finds it in
 * the `forwarded` event). docs/coordinator.md, "Leaf aggregators".
 * @module
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { open, type Database, type RootDatabase } from 'lmdb';
import { fromHex, ownBytes, toHex } from '../proofs/bytes.js';
import { parseEnvelope, ReplayGuard, sealEnvelope, type Envelope } from '../proofs/envelope.js';
import { decodeUpdatePayload, taskDimension, taskEncoding, type RoundInfo } from '../runtime/fl/protocol.js';
import { openNode, type AttestationEvent, type NodeJoinOptions } from './attest-join.js';
import { encodePartialPayload, packEnvelopes } from '../runtime/fl/partial.js';
import { weightedSum, weightsOf, type EncodedUpdate } from '../runtime/fl/strategy.js';
import { checkEnvelopeSignature, HttpError, MicroBatchVerifier, refusal } from './coordinator/core.js';
import { COMMON, readBody, requireBinary, sendError, sendJson } from './coordinator/server.js';
import { apiError, checkUrl, followRounds, jsonOf, sleep } from './follow.js';

/** Options of {@link runAggregator}. */
export interface AggregatorOptions extends NodeJoinOptions {
  /** Port to listen on for participants (0: any free one). Default 0. */
  port?: number;
  /** Address to listen on. Default 127.0.0.1. */
  host?: string;
  /** The URL participants and the coordinator reach this aggregator at. Default http://<host>:<port>/. */
  endpoint?: string;
  /** Folder of the envelope store (LMDB). Default `<key file>.envelopes` (key file default: .meshwork/aggregator-key.pem). */
  dir?: string;
  event?: (e: AggregatorEvent) => void;
}

/** What the aggregator reports. */
export type AggregatorEvent =
  | { type: 'listening'; endpoint: string }
  | AttestationEvent
  | { type: 'joined'; id: string; endpoint: string; attested: boolean; ak?: string }
  | { type: 'assigned'; round: number; members: string[] }
  | { type: 'received'; round: number; id: string }
  | { type: 'forwarded'; round: number; members: string[]; status: number; audited?: boolean; code?: string; message?: string; token: string }
  | { type: 'done'; rounds: number; forwarded: number };

/** The round the coordinator gave this aggregator participants in. */
interface Duty {
  round: number;
  modelSha: string;
  /** Member public key (hex) -> its id, index and ML-DSA-65 key (loaded once the round arrives). */
  keys: Promise<Map<string, { id: string; index: number; mlDsaPublicKey?: Uint8Array }>>;
  members: Set<string>;
  /** Verified updates, by member id. */
  got: Map<string, { index: number; sha256: Uint8Array; update: EncodedUpdate }>;
  inflight: Set<string>;
  replay: ReplayGuard;
  /** Set once the partial is being sent: later updates go to the coordinator. */
  closed: boolean;
  timer?: NodeJS.Timeout;
}

/** Runs a leaf aggregator until the task is done. */
export async function runAggregator(opts: AggregatorOptions): Promise<{ id: string; forwarded: number; rounds: number }> {
  const emit = opts.event ?? (() => undefined);
  const keyFile = opts.key ?? '.meshwork/aggregator-key.pem';
  const { base, call, log, identity, task, taskHex, taskBytes, join } = await openNode({ ...opts, key: keyFile }, keyFile);
  if (!task.aggregators) throw new Error(`task '${task.name}' at ${base.href} has no aggregator tier (task.aggregators): run a participant instead`);
  const d = taskDimension(task), enc = taskEncoding(task);
  const weighting = task.dp ? 'unit' : 'samples';
  const submitLimit = 72 + 40 + 4 * d + 3373;

  const db: RootDatabase = open({ path: opts.dir ?? `${keyFile}.envelopes`, overlappingSync: false, maxDbs: 4 });
  /** [task id, round, index] -> a member's update envelope, as received. */
  const envelopes: Database<Uint8Array, [string, number, number]> = db.openDB({ name: 'envelopes', encoding: 'binary' });
  /**
   * [task id, round] -> the partial sent: its members' indices in its order, and the token that `GET
   * /api/envelopes` of that round needs (the coordinator gets it with the partial; the operator in the
   * `forwarded` event).
   */
  const sent: Database<{ members: number[]; token: string }, [string, number]> = db.openDB({ name: 'partials' });
  const verifier = new MicroBatchVerifier();
  let me = '';
  let duty: Duty | undefined;
  let forwarded = 0;
  let sequence = Date.now() * 1000;

  async function accept(bytes: Uint8Array): Promise<{ accepted: true; round: number; id: string; aggregator: string }> {
    let env: Envelope;
    try {
      env = parseEnvelope(bytes, { maxPayload: 40 + 4 * d });
    } catch (e) {
      throw refusal(e);
    }
    if (env.kind !== 'update') throw new HttpError(400, 'kind', 'kind', `expected an 'update' envelope, got '${env.kind}'`);
    if (toHex(env.task) !== taskHex) throw new HttpError(409, 'task', 'task', `envelope is for task ${toHex(env.task)}, this aggregator serves ${taskHex} ('${task.name}')`);
    const u = duty;
    if (!u || env.round !== u.round) throw new HttpError(409, 'round', 'round', u ? `this aggregator collects round ${u.round}, not ${env.round}` : `this aggregator collects no round now`);
    if (u.closed) throw new HttpError(409, 'forwarded', 'round', `the partial sum of round ${u.round} is sent: submit to the coordinator`);
    const sender = toHex(env.sender);
    const k = (await u.keys).get(sender);
    if (!k) throw new HttpError(403, 'not-assigned', 'sender', `sender ${sender.slice(0, 16)}... is not among this aggregator's participants of round ${u.round}`);
    const id = k.id;
    if (u.got.has(id) || u.inflight.has(id)) throw new HttpError(409, 'duplicate', 'sender', `${id} already submitted its update for round ${u.round} here`);
    try {
      u.replay.check(env);
    } catch (e) {
      throw refusal(e);
    }
    let update: EncodedUpdate;
    try {
      const p = decodeUpdatePayload(env.payload, d, enc, task.maxSamples);
      if (toHex(p.model) !== u.modelSha) throw new HttpError(409, 'stale-model', 'payload.model', `update was trained from model ${toHex(p.model).slice(0, 16)}..., round ${u.round} trains from ${u.modelSha.slice(0, 16)}...`);
      update = { id, values: p.values, samples: p.samples };
    } catch (e) {
      throw refusal(e);
    }
    u.inflight.add(id);
    try {
      await checkEnvelopeSignature(env, k.mlDsaPublicKey, verifier);
      if (u.closed || duty !== u) throw new HttpError(409, 'forwarded', 'round', `the partial sum of round ${u.round} was sent while the update was checked: submit to the coordinator`);
      // On disk (synced) before the 202: the coordinator may ask for it to replay the partial sum.
      await envelopes.put([taskHex, u.round, k.index], bytes);
      u.got.set(id, { index: k.index, sha256: createHash('sha256').update(bytes).digest(), update });
      u.replay.accept(env);
    } finally {
      u.inflight.delete(id);
    }
    emit({ type: 'received', round: u.round, id });
    if (u.got.size === u.members.size) send(u, 'all updates in');
    return { accepted: true, round: u.round, id, aggregator: me };
  }

  /** {@link forward}, its failure logged (the participants it held then count only if they submit to the coordinator). */
  function send(u: Duty, why: string): void {
    forward(u, why).catch((e: unknown) => log(`${me}: round ${u.round}: could not send the partial sum: ${(e as Error).message}`));
  }

  /**
   * Sends the round's partial sum (at most once); on a 409 `covered` it drops the member the coordinator names
   * (it submitted there) and sends again.
   */
  async function forward(u: Duty, why: string): Promise<void> {
    if (u.closed) return;
    u.closed = true;
    clearTimeout(u.timer);
    while (u.inflight.size) await sleep(5);
    let items = [...u.got.values()].sort((a, b) => a.index - b.index);
    for (let attempt = 0; items.length; attempt++) {
      const updates = items.map((x) => x.update);
      const w = weightsOf(updates, weighting);
      const payload = encodePartialPayload({ model: fromHex(u.modelSha, 'model'), weight: w.reduce((a, b) => a + b, 0), members: items.map((x) => ({ index: x.index, sha256: x.sha256 })), sums: weightedSum(updates, w, d) });
      // A fresh token per partial: only whoever received this partial (the coordinator) can fetch its envelopes.
      const token = randomBytes(16).toString('hex');
      await sent.put([taskHex, u.round], { members: items.map((x) => x.index), token });
      const env = await sealEnvelope({ kind: 'aggregate', task: taskBytes, round: u.round, sequence: ++sequence, payload }, identity);
      const members = updates.map((x) => x.id);
      const t0 = performance.now();
      const res = await call('api/partial', { method: 'POST', headers: { 'content-type': 'application/octet-stream', 'x-meshwork-audit-token': token }, body: ownBytes(env) });
      const body = await res.text();
      if (res.status === 202) {
        const out = JSON.parse(body) as { audited: boolean };
        forwarded++;
        log(`${me}: round ${u.round}: partial sum of ${members.length} updates (${why}) counts at the coordinator${out.audited ? ', replayed by it' : ''} (${(performance.now() - t0).toFixed(0)} ms)`);
        emit({ type: 'forwarded', round: u.round, members, status: 202, audited: out.audited, token });
        return;
      }
      const e = apiError(body);
      emit({ type: 'forwarded', round: u.round, members, status: res.status, code: e.code, message: e.message, token });
      const named = /^payload\.members\[(\d+)\]\.index$/.exec(e.field ?? '');
      if (res.status === 409 && e.code === 'covered' && named && Number(named[1]) < items.length && attempt < 2 * u.members.size) {
        // A member submitted to the coordinator (it could not wait for us): send the sum without it.
        log(`${me}: round ${u.round}: ${e.message}; sending the partial sum without ${members[Number(named[1])]}`);
        items = items.filter((_, i) => i !== Number(named[1]));
        await sleep(50 * Math.min(attempt + 1, 10), opts.signal);
        continue;
      }
      if (res.status >= 500 && res.status !== 503 && attempt < 4) {
        await sleep(500 * (attempt + 1), opts.signal);
        continue;
      }
      log(`${me}: round ${u.round}: the coordinator refused the partial sum (${res.status} ${e.code}): ${e.message}`);
      return;
    }
    if (!items.length) log(`${me}: round ${u.round}: every update it held counts at the coordinator already; no partial sum sent`);
  }

  /** A round message: takes up the round's duty when it gives this aggregator participants. */
  function onRound(info: RoundInfo): void {
    const mine = info.state === 'open' ? info.aggregators?.find((a) => a.id === me) : undefined;
    if (duty && (duty.round !== info.round || !mine)) {
      // The round moved on, or took this aggregator's participants back (they submit to the coordinator).
      if (duty.round === info.round && !duty.closed) log(`${me}: round ${duty.round}: no longer aggregating it (the coordinator took the participants back)`);
      duty.closed = true;
      clearTimeout(duty.timer);
      duty = undefined;
    }
    if (!mine || duty) return;
    const ids = mine.members;
    const u: Duty = {
      round: info.round, modelSha: info.modelSha256, members: new Set(ids), got: new Map(), inflight: new Set(), replay: new ReplayGuard(), closed: false,
      keys: (async () => {
        const list = await jsonOf<{ id: string; index: number; publicKey: string; mlDsaPublicKey?: string }[]>(await call(`api/keys?ids=${ids.map(encodeURIComponent).join(',')}`));
        return new Map(list.map((k) => [k.publicKey, { id: k.id, index: k.index, ...(k.mlDsaPublicKey ? { mlDsaPublicKey: new Uint8Array(Buffer.from(k.mlDsaPublicKey, 'base64')) } : {}) }]));
      })(),
    };
    u.keys.catch((e: unknown) => log(`${me}: round ${u.round}: could not load the participants' keys: ${(e as Error).message}`));
    duty = u;
    // Sent with time to spare before the deadline: whoever has not submitted by then submits to the coordinator.
    // The time left comes from the coordinator (closesInMs), not from its clock compared with this one.
    const margin = Math.max(100, Math.min(5000, 0.2 * task.roundTimeoutMs));
    const left = info.closesInMs ?? info.deadline - Date.now();
    u.timer = setTimeout(() => send(u, 'deadline near'), Math.max(0, left - margin));
    u.timer.unref?.();
    log(`${me}: round ${info.round}: aggregating ${ids.length} participants (${ids.join(' ')})`);
    emit({ type: 'assigned', round: info.round, members: ids.slice() });
  }

  const server: Server = createServer((req, res) => {
    const path = (() => { try { return new URL(req.url ?? '/', 'http://x'); } catch { return undefined; } })();
    const handle = async () => {
      if (!path) throw new HttpError(400, 'url', 'url', 'malformed request URL');
      if (req.method === 'OPTIONS') {
        res.writeHead(204, { ...COMMON, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' });
        res.end();
        return;
      }
      const method = req.method ?? 'GET';
      switch (path.pathname) {
        case '/api/submit': {
          if (method !== 'POST') throw new HttpError(405, 'method', 'method', `${method} is not allowed on /api/submit; use POST`);
          requireBinary(req);
          sendJson(res, 202, await accept(await readBody(req, submitLimit)));
          return;
        }
        case '/api/envelopes': {
          if (method !== 'GET') throw new HttpError(405, 'method', 'method', `${method} is not allowed on /api/envelopes; use GET`);
          const r = Number(path.searchParams.get('round'));
          if (!Number.isInteger(r) || r < 1) throw new HttpError(400, 'round', 'round', `round must be a positive integer, got ${JSON.stringify(path.searchParams.get('round'))}`);
          const partial = sent.get([taskHex, r]);
          if (!partial) throw new HttpError(404, 'round', 'round', `no partial sum was sent for round ${r}`);
          // The members' raw updates: only for whoever holds the partial's token (the coordinator, the operator).
          const given = Buffer.from(/^Bearer ([0-9a-f]{32})$/.exec(req.headers.authorization ?? '')?.[1] ?? '', 'utf8');
          if (given.length !== partial.token.length || !timingSafeEqual(given, Buffer.from(partial.token, 'utf8'))) throw new HttpError(401, 'token', 'authorization', `round ${r}'s envelopes need the partial sum's token (Authorization: Bearer <token>)`);
          const body = packEnvelopes(partial.members.map((i) => envelopes.get([taskHex, r, i])!));
          res.writeHead(200, { ...COMMON, 'Content-Type': 'application/octet-stream', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
          res.end(body);
          return;
        }
        case '/health':
          sendJson(res, 200, { status: 'ok', role: 'aggregator', id: me, task: task.name, round: duty?.round ?? null, forwarded });
          return;
      }
      throw new HttpError(404, 'not-found', 'path', `no route ${path.pathname}`);
    };
    handle().catch((e: unknown) => {
      if (e instanceof HttpError) {
        if (e.status === 413) res.setHeader('Connection', 'close');
        sendError(res, e);
        return;
      }
      log(`internal error on ${req.method} ${req.url}: ${(e as Error).stack ?? e}`);
      sendError(res, new HttpError(500, 'internal', null, 'internal error'));
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  const host = opts.host ?? '127.0.0.1';
  const port = await new Promise<number>((ok, fail) => {
    server.once('error', fail);
    server.listen(opts.port ?? 0, host, () => ok((server.address() as AddressInfo).port));
  });
  const endpoint = checkUrl(opts.endpoint ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}/`, 'endpoint').href;
  log(`listening for participants at ${endpoint}`);
  emit({ type: 'listening', endpoint });

  try {
    // The same join as a worker's, TPM quote included where the host has a TPM.
    const { body } = await join({ op: 'join', host: 'node', role: 'aggregator', endpoint }, emit);
    const joined = JSON.parse(body) as { id: string; attested?: boolean; ak?: string };
    me = joined.id;
    log(`${me}: joined '${task.name}' as a leaf aggregator (fan-in ${task.aggregators.fanin}, ${task.aggregators.audit === 1 ? 'every partial replayed' : `partials replayed with probability ${task.aggregators.audit}`}), ${joined.attested ? `TPM-attested (AK ${joined.ak?.slice(0, 16) ?? '?'}...)` : 'not attested'}`);
    emit({ type: 'joined', id: me, endpoint, attested: joined.attested === true, ...(joined.ak ? { ak: joined.ak } : {}) });
    await followRounds(base, me, onRound, opts.patienceMs ?? 120_000, opts.signal);
  } finally {
    if (duty) clearTimeout(duty.timer);
    server.closeAllConnections();
    await new Promise((ok) => server.close(ok));
    await db.close();
  }
  log(`${me}: task done; ${forwarded} partial sums counted`);
  emit({ type: 'done', rounds: task.rounds, forwarded });
  return { id: me, forwarded, rounds: task.rounds };
}
