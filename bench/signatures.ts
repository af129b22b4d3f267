/**
 * Signature and useful-work benches, with the peers in the same run:
 * - Ed25519 verification in Node: @noble/curves, node:crypto one by one, WebCrypto awaited one by one and
 *   with 64 / 256 in flight (the best native paths), against meshwork's batch (pre-check + WebCrypto in
 *   flight). The must-show ratio is meshwork's batch over the best native path, from interleaved runs.
 * - ML-DSA-65 and hybrid verification, envelope opening.
 * - The same batch in Chromium against noble in Chromium (bench/browser-signatures.ts).
 * - Freivalds' check against recomputing the product.
 * @module
 */
import { verify as nodeVerify } from 'node:crypto';
import { ed25519 } from '@noble/curves/ed25519.js';
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { generateIdentity, importVerifyKey } from '../proofs/ed25519.js';
import { verifyBatch, type SignedItem } from '../proofs/batch.js';
import { generateHybridIdentity, verifyHybrid } from '../proofs/hybrid.js';
import { openEnvelopes, sealEnvelope, taskId } from '../proofs/envelope.js';
import { freivalds } from '../proofs/freivalds.js';
import { nodePublicKey, verifyNodeCrypto } from '../host-node/ed25519.js';
import { interleaved, medianMs, type BenchRow } from './harness.js';
import type { BenchConfig } from './suites.js';

/** `n` signed items over `keys` identities with 256-byte messages. */
export async function signedItems(n: number, keys: number): Promise<SignedItem[]> {
  const ids = await Promise.all(Array.from({ length: keys }, () => generateIdentity()));
  const items: SignedItem[] = [];
  for (let i = 0; i < n; i++) {
    const id = ids[i % keys]!, message = crypto.getRandomValues(new Uint8Array(256));
    items.push({ publicKey: id.publicKey, message, signature: await id.sign(message) });
  }
  return items;
}

/** Raw WebCrypto (no pre-check), keys imported beforehand, `inFlight` verifications at once. */
async function webCryptoInFlight(items: SignedItem[], keys: CryptoKey[], inFlight: number): Promise<number> {
  let next = 0, valid = 0;
  const lane = async () => {
    for (let i = next++; i < items.length; i = next++) {
      if (await crypto.subtle.verify('Ed25519', keys[i]!, items[i]!.signature as Uint8Array<ArrayBuffer>, items[i]!.message as Uint8Array<ArrayBuffer>)) valid++;
    }
  };
  await Promise.all(Array.from({ length: inFlight }, lane));
  return valid;
}

export async function signaturesSuite(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const row = (c: string, backend: string, metric: string, value: number, unit: string, threads = 1) => rows.push({ suite: 'signatures', case: c, backend, threads, metric, value, unit });
  const n = cfg.quick ? 2048 : 8192;
  const items = await signedItems(n, 64);
  const keys = await Promise.all(items.map((it) => importVerifyKey(it.publicKey)));
  const perSec = (count: number, ms: number) => (count / ms) * 1000;
  const reps = cfg.quick ? 5 : 9;
  const c = `ed25519 verify x${n}`;

  // Peers, one at a time.
  const nobleN = Math.min(n, 512);
  row(c, '@noble/curves 2.4 (one by one)', 'throughput', perSec(nobleN, await medianMs(() => { for (let i = 0; i < nobleN; i++) ed25519.verify(items[i]!.signature, items[i]!.message, items[i]!.publicKey); }, 3, 1)), 'verifies/s');
  const nodeKeys = items.map((it) => nodePublicKey(it.publicKey));
  row(c, 'node:crypto (one by one)', 'throughput', perSec(n, await medianMs(() => { for (let i = 0; i < n; i++) nodeVerify(null, items[i]!.message, nodeKeys[i]!, items[i]!.signature); }, reps)), 'verifies/s');
  row(c, 'WebCrypto (awaited one by one)', 'throughput', perSec(n, await medianMs(() => webCryptoInFlight(items, keys, 1), reps)), 'verifies/s');
  row(c, 'meshwork verifyNodeCrypto (pre-check + node:crypto)', 'throughput', perSec(n, await medianMs(() => { for (const it of items) verifyNodeCrypto(it.publicKey, it.message, it.signature); }, reps)), 'verifies/s');

  // Best native path and meshwork's batch, interleaved pair by pair.
  let best = { inFlight: 0, ms: Infinity };
  for (const inFlight of [64, 256]) {
    const ms = await medianMs(() => webCryptoInFlight(items, keys, inFlight), reps);
    row(c, `WebCrypto (${inFlight} in flight)`, 'throughput', perSec(n, ms), 'verifies/s', 2);
    if (ms < best.ms) best = { inFlight, ms };
  }
  cfg.log(`signatures: best native path is WebCrypto with ${best.inFlight} in flight`);
  let checked = true;
  const pair = await interleaved(async () => { checked &&= (await verifyBatch(items)).ok; }, () => webCryptoInFlight(items, keys, best.inFlight), reps);
  if (!checked) throw new Error('bench: a valid signature failed in the batch');
  row(c, 'meshwork verifyBatch (pre-check + WebCrypto)', 'throughput', perSec(n, pair.medianA), 'verifies/s', 2);
  row(c, `meshwork batch / WebCrypto ${best.inFlight} in flight`, 'ratio', 1 / pair.ratio, 'x (>= 0.9 wanted)', 2);

  // Post-quantum and hybrid.
  const h = await generateHybridIdentity();
  const msgs = Array.from({ length: 64 }, () => crypto.getRandomValues(new Uint8Array(256)));
  const sigs = await Promise.all(msgs.map((m) => h.sign(m)));
  const ml = ml_dsa65.keygen(crypto.getRandomValues(new Uint8Array(32)));
  const mlSigs = msgs.map((m) => ml_dsa65.sign(m, ml.secretKey));
  const mlPk = ml.publicKey;
  row('ml-dsa-65 verify x64', '@noble/post-quantum 0.7', 'throughput', perSec(64, await medianMs(() => { msgs.forEach((m, i) => ml_dsa65.verify(mlSigs[i]!, m, mlPk)); }, 3, 1)), 'verifies/s');
  row('hybrid verify x64', 'meshwork verifyHybrid', 'throughput', perSec(64, await medianMs(() => Promise.all(msgs.map((m, i) => verifyHybrid(h, m, sigs[i]!))), 3, 1)), 'verifies/s');

  // Envelopes: 1 KiB payloads, parsed, batch-verified and replay-checked.
  const task = await taskId('bench');
  const senders = await Promise.all(Array.from({ length: 32 }, () => generateIdentity()));
  const envs = await Promise.all(Array.from({ length: n }, (_, i) => sealEnvelope({ kind: 'update', task, round: 1, sequence: i, payload: crypto.getRandomValues(new Uint8Array(1024)) }, senders[i % 32]!)));
  row(`open envelopes x${n} (1 KiB)`, 'meshwork openEnvelopes', 'throughput', perSec(n, await medianMs(async () => { if (!(await openEnvelopes(envs)).ok) throw new Error('bench: envelope failed'); }, reps)), 'envelopes/s', 2);
  return rows;
}

/** Freivalds (20 trials, i32 ring) against recomputing the product in JS, n x n x n. */
export async function freivaldsSuite(cfg: BenchConfig): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  for (const n of cfg.quick ? [256] : [256, 512]) {
    const a = Int32Array.from({ length: n * n }, (_, i) => (i * 2654435761) | 0), b = Int32Array.from({ length: n * n }, (_, i) => (i * 40503 + 7) | 0);
    const c = new Int32Array(n * n);
    const recompute = () => {
      c.fill(0);
      for (let i = 0; i < n; i++) for (let p = 0; p < n; p++) {
        const x = a[i * n + p]!;
        for (let j = 0; j < n; j++) c[i * n + j] = (c[i * n + j]! + Math.imul(x, b[p * n + j]!)) | 0;
      }
    };
    const re = await medianMs(recompute, 3, 1);
    let ok = true;
    const fr = await medianMs(() => { ok &&= freivalds(a, b, c, { m: n, k: n, n }, { trials: 20 }).ok; }, 5, 1);
    if (!ok) throw new Error('bench: Freivalds rejected a correct product');
    const cs = `i32 ${n}x${n}x${n}`;
    rows.push({ suite: 'freivalds', case: cs, backend: 'JS recompute (i32)', threads: 1, metric: 'time', value: re, unit: 'ms' });
    rows.push({ suite: 'freivalds', case: cs, backend: 'meshwork freivalds (k = 20, <= 2^-20)', threads: 1, metric: 'time', value: fr, unit: 'ms' });
    rows.push({ suite: 'freivalds', case: cs, backend: 'recompute / freivalds', threads: 1, metric: 'ratio', value: re / fr, unit: 'x' });
  }
  return rows;
}
