/**
 * HTTP + WebSocket in front of the {@link Coordinator}: the API of docs/coordinator.md, `/metrics`, `/health`,
 * the embed script, the dashboard and a demo page. Every refusal is a 4xx with a JSON reason; a handler that
 * throws anything else answers 500 and the server keeps serving.
 * @module
 */
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, resolve, sep } from 'node:path';
import { WebSocketServer, type WebSocket } from 'ws';
import { HttpError, type Coordinator, type CoordinatorEvent } from './core.js';
import type { PromMetrics } from './metrics.js';
import { partialBytes } from '../../runtime/fl/partial.js';

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.wasm': 'application/wasm',
  '.gz': 'application/gzip',
};

/** Headers on every response: the embed script and its API calls work from any origin. */
export const COMMON = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': 'X-Meshwork-Round, X-Meshwork-Model-Sha256',
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'X-Content-Type-Options': 'nosniff',
};

export interface ServerOptions {
  coordinator: Coordinator;
  metrics: PromMetrics;
  /** Folder with embed/ and dashboard/ (dist/web). */
  webRoot: string;
  /** Folder with digits.csv.gz (data/). */
  dataRoot: string;
  log: (line: string) => void;
}

/** The HTTP server and the WebSocket broadcaster. */
export interface CoordinatorServer {
  server: Server;
  broadcast(e: CoordinatorEvent): void;
  listen(port: number, host: string): Promise<number>;
  close(): Promise<void>;
}

export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { ...COMMON, 'Content-Type': 'application/json', 'Cache-Control': 'no-store', 'Content-Length': Buffer.byteLength(text) });
  res.end(text);
}

export function sendError(res: ServerResponse, e: HttpError): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  sendJson(res, e.status, { error: { status: e.status, code: e.code, field: e.field, message: e.message } });
}

/** Reads a request body of at most `limit` bytes (413 beyond, without reading the rest). */
export function readBody(req: IncomingMessage, limit: number): Promise<Uint8Array> {
  const declared = req.headers['content-length'];
  if (declared !== undefined && !/^\d+$/.test(declared)) return Promise.reject(new HttpError(400, 'content-length', 'content-length', `Content-Length '${declared}' is not a byte count`));
  if (declared !== undefined && Number(declared) > limit) return Promise.reject(new HttpError(413, 'too-large', 'body', `body of ${declared} bytes is over the limit of ${limit}`));
  return new Promise((ok, fail) => {
    // With a declared length (node's parser holds the body to it) the chunks go straight into one buffer.
    const body = declared !== undefined ? new Uint8Array(Number(declared)) : undefined;
    const parts: Buffer[] = [];
    let n = 0;
    req.on('data', (chunk: Buffer) => {
      if (n + chunk.length > limit) {
        req.removeAllListeners('data');
        req.pause();
        fail(new HttpError(413, 'too-large', 'body', `body is over the limit of ${limit} bytes`));
        return;
      }
      if (body && n + chunk.length > body.length) {
        req.removeAllListeners('data');
        req.pause();
        fail(new HttpError(400, 'content-length', 'content-length', `body is longer than its Content-Length of ${body.length}`));
        return;
      }
      if (body) body.set(chunk, n);
      else parts.push(chunk);
      n += chunk.length;
    });
    req.on('end', () => ok(body ? body.subarray(0, n) : new Uint8Array(Buffer.concat(parts))));
    req.on('error', (e) => fail(new HttpError(400, 'body', 'body', `request body could not be read: ${e.message}`)));
  });
}

export function requireBinary(req: IncomingMessage): void {
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/octet-stream') throw new HttpError(415, 'content-type', 'content-type', `body must be application/octet-stream (a signed envelope), got '${type || 'none'}'`);
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

/** The page at `/`: the embed script tag, so opening it makes the tab a participant. */
function demoPage(origin: string, task: string): string {
  const o = escapeHtml(origin), t = escapeHtml(task);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>meshwork: ${t}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<style>body{font:16px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem}code{background:#f3f3f3;padding:0 .2em}</style></head>
<body><h1>meshwork task <code>${t}</code></h1>
<p>This tab is a participant: it trains on its share of the data in a Web Worker and sends signed updates.</p>
<p>Status: <span id="meshwork-status">starting</span></p>
<p><a href="dashboard/">Dashboard</a> · <a href="api/status">status (JSON)</a> · <a href="metrics">metrics</a></p>
<p>Embed it in any page:</p>
<pre><code>&lt;script type="module" src="${o}/meshwork.js" data-coordinator="${o}" data-task="${t}"&gt;&lt;/script&gt;</code></pre>
<script type="module" src="meshwork.js" data-coordinator="${o}" data-task="${t}" data-status="meshwork-status"></script>
</body></html>
`;
}

export function createCoordinatorServer(opts: ServerOptions): CoordinatorServer {
  const { coordinator: c, metrics, log } = opts;
  const webRoot = resolve(opts.webRoot);
  const submitLimit = 72 + 40 + 4 * c.d + 3373;
  // A join carries its JSON request: with an ML-DSA-65 key (2,604 base64 characters) and a TPM quote.
  const joinLimit = 72 + 8192 + 3373;
  // A partial sum from a leaf aggregator: fan-in hashes and d i64 sums (tasks with aggregators).
  const partialLimit = 72 + partialBytes(c.task.aggregators?.fanin ?? 1, c.d) + 3373;
  const started = Date.now();

  async function serveFile(res: ServerResponse, root: string, rel: string, cache: string): Promise<void> {
    let file: string;
    try {
      file = resolve(root, `.${sep}${decodeURIComponent(rel)}`);
    } catch {
      throw new HttpError(400, 'path', 'path', 'malformed path');
    }
    if (file !== root && !file.startsWith(root + sep)) throw new HttpError(404, 'not-found', 'path', 'no such file');
    let st;
    try {
      st = await stat(file);
    } catch {
      throw new HttpError(404, 'not-found', 'path', `no such file${rel.startsWith('dashboard') || rel.startsWith('embed') ? ' (run npm run build to build the web bundles)' : ''}`);
    }
    if (st.isDirectory()) return serveFile(res, root, `${rel.replace(/\/$/, '')}/index.html`, cache);
    res.writeHead(200, { ...COMMON, 'Content-Type': MIME[extname(file)] ?? 'application/octet-stream', 'Content-Length': st.size, 'Cache-Control': cache });
    await new Promise<void>((ok, fail) => createReadStream(file).on('error', fail).on('end', ok).pipe(res));
  }

  /** The GET routes that answer a JSON document (the route's metric label is the path after /api/). */
  const JSON_GETS = new Map<string, () => unknown>([
    ['/api/task', () => ({ task: c.task, taskId: c.taskIdHex, d: c.d, encoding: c.enc })],
    ['/api/round', () => c.roundInfo()],
    // A single-use nonce for the TPM quote of one join (docs/tpm.md, "Attestation at join").
    ['/api/attest-nonce', () => c.attestation.issueNonce()],
    ['/api/status', () => c.status()],
    ['/api/ledger', () => c.ledger()],
  ]);

  async function route(req: IncomingMessage, res: ServerResponse, path: string): Promise<string> {
    const method = req.method ?? 'GET';
    if (method === 'OPTIONS') {
      res.writeHead(204, { ...COMMON, 'Access-Control-Allow-Methods': 'GET, POST, OPTIONS', 'Access-Control-Allow-Headers': 'Content-Type', 'Access-Control-Max-Age': '600' });
      res.end();
      return 'options';
    }
    const get = method === 'GET' || method === 'HEAD';
    const only = (want: 'GET' | 'POST') => {
      if (want === 'GET' ? !get : method !== 'POST') throw new HttpError(405, 'method', 'method', `${method} is not allowed on ${path}; use ${want}`);
    };
    const json = JSON_GETS.get(path);
    if (json) {
      only('GET');
      sendJson(res, 200, json());
      return path.slice('/api/'.length);
    }
    switch (path) {
      case '/health':
        only('GET');
        sendJson(res, 200, { status: 'ok', task: c.task.name, round: c.roundInfo().round, state: c.state, uptimeS: Math.round((Date.now() - started) / 1000) });
        return 'health';
      case '/metrics': {
        only('GET');
        const text = await metrics.registry.metrics();
        res.writeHead(200, { ...COMMON, 'Content-Type': metrics.registry.contentType, 'Cache-Control': 'no-store' });
        res.end(text);
        return 'metrics';
      }
      case '/api/model': {
        only('GET');
        const m = c.currentModel();
        res.writeHead(200, { ...COMMON, 'Content-Type': 'application/octet-stream', 'Content-Length': m.bytes.length, 'Cache-Control': 'no-store', 'X-Meshwork-Round': String(m.round), 'X-Meshwork-Model-Sha256': m.sha256 });
        res.end(m.bytes);
        return 'model';
      }
      case '/api/join': {
        only('POST');
        requireBinary(req);
        const out = await c.join(await readBody(req, joinLimit));
        sendJson(res, 200, out);
        return 'join';
      }
      case '/api/submit': {
        only('POST');
        requireBinary(req);
        const out = await c.submit(await readBody(req, submitLimit));
        sendJson(res, 202, out);
        return 'submit';
      }
      case '/api/partial': {
        only('POST');
        requireBinary(req);
        // The aggregator's one-time token for GET /api/envelopes of this partial (its audit).
        const token = req.headers['x-meshwork-audit-token'];
        const out = await c.submitPartial(await readBody(req, partialLimit), typeof token === 'string' && /^[0-9a-f]{16,128}$/.test(token) ? token : undefined);
        sendJson(res, 202, out);
        return 'partial';
      }
      case '/api/keys': {
        only('GET');
        sendJson(res, 200, c.keysOf(new URL(req.url ?? '/', 'http://x').searchParams.get('ids')));
        return 'keys';
      }
      case '/':
        only('GET');
        {
          const host = /^[\w.:[\]-]+$/.test(req.headers.host ?? '') ? req.headers.host! : `127.0.0.1`;
          const html = demoPage(`http://${host}`, c.task.name);
          res.writeHead(200, { ...COMMON, 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
          res.end(html);
        }
        return 'page';
      case '/data/digits.csv.gz':
        only('GET');
        await serveFile(res, resolve(opts.dataRoot), 'digits.csv.gz', 'public, max-age=3600');
        return 'data';
      case '/meshwork.js':
        only('GET');
        await serveFile(res, webRoot, 'embed/meshwork.js', 'no-cache');
        return 'embed';
    }
    if (path.startsWith('/m/')) {
      only('GET');
      await serveFile(res, webRoot, `embed${path}`, 'no-cache');
      return 'embed';
    }
    if (path === '/dashboard') {
      res.writeHead(301, { ...COMMON, Location: 'dashboard/' });
      res.end();
      return 'dashboard';
    }
    if (path.startsWith('/dashboard/')) {
      only('GET');
      await serveFile(res, webRoot, path.slice(1), 'no-cache');
      return 'dashboard';
    }
    throw new HttpError(404, 'not-found', 'path', `no route ${path}`);
  }

  const server = createServer((req, res) => {
    const t0 = performance.now();
    let path: string;
    try {
      path = new URL(req.url ?? '/', 'http://x').pathname;
    } catch {
      path = '';
    }
    const finish = (name: string) => metrics.request(name, res.statusCode, (performance.now() - t0) / 1000);
    if (!path) {
      sendError(res, c.refuse(new HttpError(400, 'url', 'url', 'malformed request URL')));
      finish('bad');
      return;
    }
    route(req, res, path).then(finish, (e: unknown) => {
      if (e instanceof HttpError) {
        // Submissions and joins record their own refusals (with the participant); record the rest here.
        if (!(path === '/api/submit' || path === '/api/join' || path === '/api/partial') || e.code === 'too-large' || e.code === 'content-type' || e.code === 'method' || e.code === 'content-length' || e.code === 'body') c.refuse(e);
        if (e.status === 413) res.setHeader('Connection', 'close');
        sendError(res, e);
      } else {
        log(`internal error on ${req.method} ${path}: ${(e as Error).stack ?? e}`);
        sendError(res, new HttpError(500, 'internal', null, 'internal error'));
      }
      finish('error');
    });
  });
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;

  const wss = new WebSocketServer({ noServer: true, maxPayload: 4096 });
  const alive = new WeakSet<WebSocket>();
  /** Each socket's participant id (null: a dashboard). */
  const ids = new Map<WebSocket, string | null>();
  let pendingParticipants: CoordinatorEvent | undefined;
  let participantsTimer: NodeJS.Timeout | undefined;
  const send = (e: CoordinatorEvent, to: (id: string | null) => boolean) => {
    const sockets: WebSocket[] = [];
    for (const [ws, id] of ids) if (ws.readyState === ws.OPEN && to(id)) sockets.push(ws);
    if (!sockets.length) return;
    // Encoded once, sent as a text frame to each socket (a string would be encoded again for every one).
    const data = Buffer.from(JSON.stringify(e));
    for (const ws of sockets) ws.send(data, { binary: false });
  };
  const flushParticipants = () => {
    clearTimeout(participantsTimer);
    participantsTimer = undefined;
    if (pendingParticipants) send(pendingParticipants, (id) => id === null);
    pendingParticipants = undefined;
  };
  server.on('upgrade', (req, socket, head) => {
    let url: URL;
    try {
      url = new URL(req.url ?? '/', 'http://x');
    } catch {
      socket.destroy();
      return;
    }
    if (url.pathname !== '/ws') {
      socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
      return;
    }
    const id = url.searchParams.get('id');
    wss.handleUpgrade(req, socket, head, (ws) => {
      alive.add(ws);
      ws.on('pong', () => alive.add(ws));
      ws.on('message', () => alive.add(ws));
      ws.on('error', () => ws.terminate());
      ids.set(ws, id);
      // Participants get the round (all they act on); dashboards the whole status.
      ws.send(JSON.stringify({ type: 'hello', status: id === null ? c.status() : { round: c.roundInfo() } }));
      ws.on('close', () => ids.delete(ws));
      if (id !== null) {
        if (!c.presence(id, true)) {
          ws.close(4003, `unknown participant ${id.slice(0, 32)}`);
          return;
        }
        ws.on('close', () => c.presence(id, false));
      }
    });
  });
  const heartbeat = setInterval(() => {
    for (const ws of wss.clients) {
      if (!alive.has(ws)) {
        ws.terminate();
        continue;
      }
      alive.delete(ws);
      ws.ping();
    }
  }, 15_000);
  heartbeat.unref();

  return {
    server,
    /**
     * Sends an event to the sockets that need it: participants get rounds, rows, the end and their own
     * refusals; dashboards get everything, with participant lists coalesced (at most 5 a second).
     */
    broadcast(e) {
      if (e.type === 'participants') {
        pendingParticipants = e;
        participantsTimer ??= setTimeout(flushParticipants, 200);
        return;
      }
      // A round, row or the end flushes the pending participant list first, so a dashboard that sees
      // `done` already has every participant's final flag count.
      if (e.type === 'round' || e.type === 'row' || e.type === 'done') flushParticipants();
      if (e.type === 'accepted') send(e, (id) => id === null);
      else if (e.type === 'rejected') send(e, (id) => id === null || id === e.id);
      else send(e, () => true);
    },
    listen(port, host) {
      return new Promise((ok, fail) => {
        server.once('error', fail);
        server.listen(port, host, () => ok((server.address() as AddressInfo).port));
      });
    },
    async close() {
      clearInterval(heartbeat);
      clearTimeout(participantsTimer);
      for (const ws of wss.clients) ws.terminate();
      wss.close();
      server.closeAllConnections();
      await new Promise((ok) => server.close(ok));
    },
  };
}
