/**
 * Batch verification of Ed25519 signatures at native speed: every item is pre-checked (byte comparisons),
 * then the survivors go to WebCrypto with many verifications in flight, which spreads them over the host's
 * crypto threads (libuv's pool in Node, BoringSSL on a Chromium worker thread). The result says which failed
 * and why. Where WebCrypto lacks Ed25519 the same rule runs on noble, one by one.
 *
 * Ed25519 has no cheap batch equation that gives the same verdict as single verification (random-linear-
 * combination batching is cofactored and accepts what cofactorless verifiers reject), so "batch" here means
 * parallel single verifications with one verdict each.
 * @module
 */
import { checkBytes, ownBytes } from './bytes.js';
import { cachedVerifyKey, importVerifyKey, loadSodium, precheck, resolveBackend, verifyNobleDetailed, verifySodiumDetailedSync, type Ed25519Backend, type Rejection } from './ed25519.js';

/** One signature to check. */
export interface SignedItem {
  publicKey: Uint8Array;
  message: Uint8Array;
  signature: Uint8Array;
}

/** The outcome of a batch. */
export interface BatchResult {
  /** Whether every item verified. */
  ok: boolean;
  /** Per item: undefined when valid, else why not. */
  reasons: (Rejection | undefined)[];
  /** Indices of the items that failed, ascending. */
  failed: number[];
}

/** Options of {@link verifyBatch}. */
export interface BatchOptions {
  /** Which implementation verifies (default: WebCrypto where available). */
  backend?: Ed25519Backend;
  /** Most verifications in flight at once (default 256). */
  inFlight?: number;
}

/**
 * Verifies many signatures, each under meshwork's rule (see ed25519.ts), with up to `inFlight` native
 * verifications at once.
 * @throws TypeError naming `items[i].field` when an item is malformed (wrong type or length); a signature that
 *   does not verify is reported in the result, not thrown.
 */
export async function verifyBatch(items: readonly SignedItem[], opts: BatchOptions = {}): Promise<BatchResult> {
  checkSignedItems(items);
  const inFlight = opts.inFlight ?? 256;
  if (!Number.isInteger(inFlight) || inFlight < 1) throw new RangeError(`inFlight must be a positive integer, got ${inFlight}`);
  const n = items.length;
  const reasons: (Rejection | undefined)[] = new Array(n).fill(undefined);
  const backend = await resolveBackend(opts.backend ?? 'auto');
  if (backend === 'noble') {
    for (let i = 0; i < n; i++) reasons[i] = verifyNobleDetailed(items[i]!.publicKey, items[i]!.message, items[i]!.signature);
    return result(reasons);
  }
  if (backend === 'sodium') {
    const sodium = await loadSodium();
    for (let i = 0; i < n; i++) reasons[i] = verifySodiumDetailedSync(sodium, items[i]!.publicKey, items[i]!.message, items[i]!.signature);
    return result(reasons);
  }
  const subtle = crypto.subtle;
  let next = 0;
  const lane = async () => {
    for (;;) {
      const i = next++;
      if (i >= n) return;
      const it = items[i]!;
      const pre = precheck(it.publicKey, it.signature);
      if (pre) {
        reasons[i] = pre;
        continue;
      }
      let key = cachedVerifyKey(it.publicKey);
      if (!key) {
        try {
          key = await importVerifyKey(it.publicKey);
        } catch {
          reasons[i] = 'invalid-key';
          continue;
        }
      }
      let ok = false;
      try {
        ok = await subtle.verify('Ed25519', key, ownBytes(it.signature), ownBytes(it.message));
      } catch {
        ok = false;
      }
      if (!ok) reasons[i] = 'bad-signature';
    }
  };
  await Promise.all(Array.from({ length: Math.min(inFlight, n) }, lane));
  return result(reasons);
}

/**
 * Checks that `items` is an array of {publicKey: 32 bytes, message, signature: 64 bytes}.
 * @throws TypeError / RangeError naming `items[i].field`.
 */
export function checkSignedItems(items: readonly SignedItem[]): void {
  if (!Array.isArray(items)) throw new TypeError(`items must be an array, got ${typeof items}`);
  for (let i = 0; i < items.length; i++) {
    const it = items[i]!;
    if (typeof it !== 'object' || it === null) throw new TypeError(`items[${i}] must be an object with publicKey, message and signature`);
    try {
      checkBytes('publicKey', it.publicKey, 32);
      checkBytes('signature', it.signature, 64);
      checkBytes('message', it.message);
    } catch (e) {
      (e as Error).message = `items[${i}].${(e as Error).message}`;
      throw e;
    }
  }
}

function result(reasons: (Rejection | undefined)[]): BatchResult {
  const failed: number[] = [];
  for (let i = 0; i < reasons.length; i++) if (reasons[i] !== undefined) failed.push(i);
  return { ok: failed.length === 0, reasons, failed };
}
