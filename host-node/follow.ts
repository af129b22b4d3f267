/**
 * What a Node worker and a leaf aggregator share in talking to a coordinator: its base URL, HTTP calls that
 * wait out a restarting coordinator, the JSON errors it answers with, and the WebSocket that follows rounds
 * (reconnecting with back-off until the task is done).
 * @module
 */
import WebSocket from 'ws';
import type { RoundInfo } from '../runtime/fl/protocol.js';

/** A coordinator (or aggregator) base URL: http(s), with a trailing slash. */
export function checkUrl(s: string, what = 'coordinator'): URL {
  if (typeof s !== 'string') throw new TypeError(`${what} must be a URL string`);
  let u: URL;
  try {
    u = new URL(s);
  } catch {
    throw new RangeError(`${what} must be an http(s) URL, got '${s}'`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new RangeError(`${what} must be an http(s) URL, got '${s}'`);
  if (!u.pathname.endsWith('/')) u.pathname += '/';
  return u;
}

export const sleep = (ms: number, signal?: AbortSignal) => new Promise<void>((ok) => {
  const t = setTimeout(ok, ms);
  signal?.addEventListener('abort', () => { clearTimeout(t); ok(); }, { once: true });
});

/** A refusal as a coordinator or aggregator answers it (`{ error: { code, field, message } }`). */
export interface ApiError {
  code: string;
  field?: string | null;
  message: string;
}

/** The error of a non-2xx answer's body (plain text bodies become code 'unknown'). */
export function apiError(body: string): ApiError {
  try {
    const e = (JSON.parse(body) as { error?: ApiError }).error;
    if (e && typeof e.code === 'string') return e;
  } catch { /* plain text */ }
  return { code: 'unknown', message: body.slice(0, 200) };
}

/**
 * fetch against `base` with retries while it cannot be reached (restarting), for up to `patienceMs`; HTTP
 * answers are returned as they are.
 */
export function caller(base: URL, patienceMs: number, signal?: AbortSignal): (path: string, init?: RequestInit) => Promise<Response> {
  return async (path, init) => {
    const t0 = Date.now();
    for (let wait = 250; ; wait = Math.min(wait * 2, 4000)) {
      try {
        return await fetch(new URL(path, base), { ...init, signal });
      } catch (e) {
        if (signal?.aborted) throw e;
        if (Date.now() - t0 > patienceMs) throw new Error(`${base.href} unreachable for ${patienceMs / 1000} s: ${(e as Error).message}`);
        await sleep(wait, signal);
      }
    }
  };
}

/** The JSON body of a 2xx answer. @throws Error with the refusal's message otherwise. */
export async function jsonOf<T>(res: Response): Promise<T> {
  const body = await res.text();
  if (!res.ok) throw new Error(`${res.url}: ${res.status} ${apiError(body).message}`);
  return JSON.parse(body) as T;
}

/**
 * Follows the coordinator's rounds as participant (or aggregator) `id` over `/ws`: `onRound` gets the round of
 * each `hello` and `round` message; resolves when the task is done, rejects when the coordinator stays
 * unreachable for `patienceMs` or on abort.
 */
export function followRounds(base: URL, id: string, onRound: (info: RoundInfo) => void, patienceMs: number, signal?: AbortSignal): Promise<void> {
  return new Promise<void>((resolveRun, rejectRun) => {
    let down = 0;
    let backoff = 250;
    let finished = false;
    let current: WebSocket | undefined;
    const wsUrl = new URL(`ws?id=${encodeURIComponent(id)}`, base);
    wsUrl.protocol = base.protocol === 'https:' ? 'wss:' : 'ws:';
    const connect = () => {
      if (finished || signal?.aborted) return;
      const ws = new WebSocket(wsUrl);
      current = ws;
      ws.on('open', () => {
        down = 0;
        backoff = 250;
      });
      ws.on('message', (raw) => {
        let msg: { type: string; status?: { round: RoundInfo } } & Partial<RoundInfo>;
        try { msg = JSON.parse(String(raw)); } catch { return; }
        if (msg.type === 'hello' && msg.status) onRound(msg.status.round);
        else if (msg.type === 'round') onRound(msg as RoundInfo);
        if (msg.type === 'done' || (msg.type === 'hello' && msg.status?.round.state === 'done')) {
          finished = true;
          ws.close();
          resolveRun();
        }
      });
      ws.on('error', () => undefined);
      ws.on('close', () => {
        if (finished || signal?.aborted) return;
        down ||= Date.now();
        if (Date.now() - down > patienceMs) {
          rejectRun(new Error(`coordinator ${base.href} unreachable for ${patienceMs / 1000} s`));
          return;
        }
        setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, 4000);
      });
    };
    signal?.addEventListener('abort', () => {
      current?.terminate();
      rejectRun(new Error('aborted'));
    }, { once: true });
    connect();
  });
}
