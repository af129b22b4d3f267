/**
 * Ed25519 batch verification at native speed in browsers. Chromium runs every WebCrypto verification of a
 * page, its workers included, on one sequenced thread (measured: ~12,500/s with 1, 2 or 4 workers alike), so
 * WebCrypto alone leaves the other cores idle. This verifier takes items from one queue with two kinds of
 * consumers: WebCrypto lanes on the calling thread, and module Web Workers running libsodium (Wasm), each
 * pulling chunks. Both apply meshwork's rule (proofs/ed25519.ts: the same pre-check; libsodium's own checks
 * and equation are that rule), so the verdicts do not depend on which consumer took an item.
 * @module
 */
import { wrap, type Remote } from 'comlink';
import { checkSignedItems, verifyBatch, type BatchResult, type SignedItem } from '../proofs/batch.js';
import type { Rejection } from '../proofs/ed25519.js';
import type { VerifyWorkerApi } from './verify-worker.js';

/** A batch verifier with its workers; call `dispose()` to stop them. */
export interface BrowserBatchVerifier {
  /** How many Wasm workers help WebCrypto. */
  readonly workers: number;
  verifyBatch(items: readonly SignedItem[]): Promise<BatchResult>;
  dispose(): void;
}

/** Options of {@link createBatchVerifier}. */
export interface BrowserVerifierOptions {
  /** Wasm workers beside WebCrypto (default: hardwareConcurrency - 1, at least 1). */
  workers?: number;
  /** Items a worker takes at a time (default 32). */
  chunk?: number;
  /** WebCrypto verifications in flight on the calling thread (default 256, in four lanes). */
  inFlight?: number;
}

/** Starts the workers (libsodium loaded in each) and returns the verifier. */
export async function createBatchVerifier(opts: BrowserVerifierOptions = {}): Promise<BrowserBatchVerifier> {
  const count = opts.workers ?? Math.max(1, (navigator.hardwareConcurrency || 2) - 1);
  if (!Number.isInteger(count) || count < 0) throw new RangeError(`workers must be a non-negative integer, got ${count}`);
  const chunk = opts.chunk ?? 32, inFlight = opts.inFlight ?? 256;
  if (!Number.isInteger(inFlight) || inFlight < 1) throw new RangeError(`inFlight must be a positive integer, got ${inFlight}`);
  const lanes = Math.min(4, inFlight), perLane = Math.ceil(inFlight / lanes);
  if (!Number.isInteger(chunk) || chunk < 1) throw new RangeError(`chunk must be a positive integer, got ${chunk}`);
  const workers: { worker: Worker; api: Remote<VerifyWorkerApi> }[] = [];
  for (let i = 0; i < count; i++) {
    // The literal `new Worker(new URL(...), { type: 'module' })` is what bundlers recognise.
    const worker = new Worker(new URL('./verify-worker.js', import.meta.url), { type: 'module' });
    workers.push({ worker, api: wrap<VerifyWorkerApi>(worker) });
  }
  try {
    await Promise.all(workers.map((w) => w.api.ready()));
  } catch (e) {
    for (const w of workers) w.worker.terminate();
    throw new Error(`batch verifier: a worker failed to start (${(e as Error).message})`, { cause: e });
  }
  return {
    workers: count,
    async verifyBatch(items) {
      checkSignedItems(items);
      const n = items.length;
      const reasons: (Rejection | undefined)[] = new Array(n).fill(undefined);
      let next = 0;
      const take = (k: number) => { const start = next; next = Math.min(n, next + k); return [start, next] as const; };
      const webcrypto = async () => {
        for (;;) {
          const [a, b] = take(perLane);
          if (a >= b) return;
          const r = await verifyBatch(items.slice(a, b), { backend: 'webcrypto', inFlight: perLane });
          for (let i = a; i < b; i++) reasons[i] = r.reasons[i - a];
        }
      };
      const worker = async (api: Remote<VerifyWorkerApi>) => {
        for (;;) {
          const [a, b] = take(chunk);
          if (a >= b) return;
          const keys = new Uint8Array(32 * (b - a)), sigs = new Uint8Array(64 * (b - a));
          const messages: Uint8Array[] = [];
          for (let i = a; i < b; i++) {
            const it = items[i]!;
            keys.set(it.publicKey, 32 * (i - a));
            sigs.set(it.signature, 64 * (i - a));
            messages.push(it.message);
          }
          const r = await api.verify(keys, sigs, messages);
          for (let i = a; i < b; i++) reasons[i] = r[i - a];
        }
      };
      await Promise.all([...Array.from({ length: lanes }, webcrypto), ...workers.map((w) => worker(w.api))]);
      const failed: number[] = [];
      for (let i = 0; i < n; i++) if (reasons[i] !== undefined) failed.push(i);
      return { ok: failed.length === 0, reasons, failed };
    },
    dispose() {
      for (const w of workers) w.worker.terminate();
    },
  };
}
