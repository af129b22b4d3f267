/**
 * Load generator of the coordinator bench, run as its own process (so its work does not share the
 * coordinator's event loop): N participants join, hold a WebSocket each, and every round all of them submit
 * a signed update envelope at once; per participant, the time from its submit to the round's aggregate (the
 * `row` message) is recorded. Updates are random within the clip bound: the bench measures the coordinator,
 * not local training. In a task with leaf aggregators each participant submits to the aggregator the round
 * names for it. Prints one JSON object on stdout.
 * Usage: node dist/bench/coordinator-load.js URL PARTICIPANTS ROUNDS
 * @module
 */
import http from 'node:http';
import WebSocket from 'ws';
import { fromHex, utf8 } from '../proofs/bytes.js';
import { generateIdentity, type Identity } from '../proofs/ed25519.js';
import { sealEnvelope } from '../proofs/envelope.js';
import { encodeUpdatePayload, type RoundInfo, type TaskSpec } from '../runtime/fl/protocol.js';

const [url, nArg, roundsArg] = process.argv.slice(2);
const n = Number(nArg), rounds = Number(roundsArg);
if (!url || !(n > 0) || !(rounds > 0)) throw new RangeError('usage: coordinator-load URL PARTICIPANTS ROUNDS');

const { task, taskId, d, encoding } = await (await fetch(`${url}/api/task`)).json() as { task: TaskSpec; taskId: string; d: number; encoding: { bits: number } };
const tid = fromHex(taskId);
// Each participant posts on its own kept-alive connection, as participants on their own machines would;
// node:http costs this one process far less per request than fetch (undici), whose overhead for 100
// concurrent posts delayed the first body's arrival by 20-45 ms and was measured as coordinator latency.
const agent = new http.Agent({ keepAlive: true, maxSockets: Infinity });
const post = (path: string, body: Uint8Array, base = url) => new Promise<{ status: number; text: string }>((ok, fail) => {
  const req = http.request(`${base}${path}`, { method: 'POST', agent, headers: { 'content-type': 'application/octet-stream', 'content-length': body.length } }, (res) => {
    let text = '';
    res.setEncoding('utf8');
    res.on('data', (c: string) => { text += c; });
    res.on('end', () => ok({ status: res.statusCode ?? 0, text }));
    res.on('error', fail);
  });
  req.on('error', fail);
  req.end(body);
});

interface Client { id: string; identity: Identity; ws: WebSocket }
const clients: Client[] = [];
for (let i = 0; i < n; i++) {
  const identity = await generateIdentity();
  const env = await sealEnvelope({ kind: 'control', task: tid, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', role: 'participant' })) }, identity);
  const res = await post('/api/join', env);
  if (res.status !== 200) throw new Error(`join: ${res.status} ${res.text}`);
  const { id } = JSON.parse(res.text) as { id: string };
  clients.push({ id, identity, ws: new WebSocket(`${url.replace(/^http/, 'ws')}/ws?id=${id}`) });
}

// Round events, seen on the first client's socket; each participant's own socket tells when it got the
// round's aggregate (the `row` message), so fan-out to all 100 sockets is part of what is measured.
let onRound: ((info: RoundInfo) => void) | undefined;
let lastOpen: RoundInfo | undefined;
const rowAt = new Map<number, number[]>();
const rowsSeen = new Map<number, number>();
clients.forEach((c, i) => c.ws.on('message', (raw) => {
  const msg = JSON.parse(String(raw)) as { type: string; status?: { round: RoundInfo }; row?: { round: number; latencyMs: number } } & RoundInfo;
  if (msg.type === 'row') {
    const at = rowAt.get(msg.row!.round) ?? [];
    at[i] = performance.now();
    rowAt.set(msg.row!.round, at);
    const seen = (rowsSeen.get(msg.row!.round) ?? 0) + 1;
    rowsSeen.set(msg.row!.round, seen);
    if (seen === n) onRow?.(msg.row!.round, msg.row!.latencyMs);
  }
  if (i !== 0) return;
  const info = msg.type === 'hello' ? msg.status!.round : msg.type === 'round' ? msg : undefined;
  if (info && info.state === 'open') {
    lastOpen = info;
    onRound?.(info);
  }
}));
let onRow: ((round: number, latencyMs: number) => void) | undefined;
/** The first open round after `after` (it may have opened already: row and round can arrive in one read). */
const nextOpen = (after: number) => new Promise<RoundInfo>((ok) => {
  if (lastOpen && lastOpen.round > after) return ok(lastOpen);
  onRound = (i) => { if (i.round > after) { onRound = undefined; ok(i); } };
});

const lim = 2 ** encoding.bits;
const perCoord = Math.floor(lim / Math.sqrt(d) / 2);
const latencies: number[] = [];
const serverMs: number[] = [];
let seq = 1;
let previous = 0;
for (let r = 1; r <= rounds; r++) {
  const info = await nextOpen(previous);
  previous = info.round;
  const model = fromHex(info.modelSha256);
  const envs = await Promise.all(clients.map((c, i) => {
    const values = new Int32Array(d);
    for (let j = 0; j < d; j++) values[j] = ((i * 7919 + j * 104729 + r) % (2 * perCoord + 1)) - perCoord;
    return sealEnvelope({ kind: 'update', task: tid, round: info.round, sequence: seq++, payload: encodeUpdatePayload({ model, samples: 100, values }) }, c.identity);
  }));
  const rowSeen = new Promise<number>((ok) => { onRow = (round, latencyMs) => { if (round === info.round) ok(latencyMs); }; });
  const sent: number[] = [];
  const statuses = await Promise.all(envs.map(async (env, i) => {
    sent[i] = performance.now();
    // A task with leaf aggregators: to the aggregator the round names for this participant.
    const agg = info.aggregators?.find((a) => a.members.includes(clients[i]!.id));
    return (await post(agg ? 'api/submit' : '/api/submit', env, agg ? agg.endpoint : url)).status;
  }));
  const bad = statuses.filter((s) => s !== 202);
  if (bad.length) throw new Error(`round ${info.round}: ${bad.length} submissions not accepted (${bad[0]})`);
  serverMs.push(await rowSeen);
  const at = rowAt.get(info.round)!;
  sent.forEach((t, i) => latencies.push(at[i]! - t));
}
for (const c of clients) c.ws.terminate();
const sorted = latencies.slice().sort((a, b) => a - b);
const q = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))]!;
process.stdout.write(JSON.stringify({ participants: n, rounds, d, task: task.name, p50: q(0.5), p95: q(0.95), max: sorted[sorted.length - 1], serverMs, samples: latencies.length }) + '\n');
