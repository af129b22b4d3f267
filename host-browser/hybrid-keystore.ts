/**
 * The ML-DSA-65 half of a browser's hybrid (Ed25519 + ML-DSA-65) identity: a 32-byte key-generation seed in
 * the same IndexedDB store as the Ed25519 key (host-browser/keystore.ts), record `<name>/ml-dsa-65`,
 * created once. WebCrypto has no ML-DSA, so unlike the Ed25519 key these bytes are readable by the origin's
 * scripts; the record says so (`backend: 'ml-dsa-65-seed'`). A separate chunk of the embed: the participant
 * imports it (and @noble/post-quantum with it) only when it joins with `hybrid`.
 * @module
 */
import { equalBytes } from '../proofs/bytes.js';
import type { Identity } from '../proofs/ed25519.js';
import { hybridIdentity, type HybridIdentity } from '../proofs/hybrid.js';
import { openIdentities, STORE } from './keystore.js';

interface SeedRecord {
  name: string;
  backend: 'ml-dsa-65-seed';
  /** The Ed25519 public key it goes with. */
  publicKey: Uint8Array;
  seed: Uint8Array;
  created: number;
}

/**
 * The hybrid identity of Ed25519 identity `ed` (stored as `name` in database `dbName`): its ML-DSA-65 seed
 * from IndexedDB, created there when missing (two tabs creating it at once end with one).
 */
export async function loadOrCreateHybrid(ed: Identity, opts: { dbName: string; name: string }): Promise<{ identity: HybridIdentity; created: boolean }> {
  const db = await openIdentities(opts.dbName);
  const name = `${opts.name}/ml-dsa-65`;
  try {
    const existing = (await db.get(STORE, name)) as SeedRecord | undefined;
    if (existing) {
      if (!equalBytes(existing.publicKey, ed.publicKey)) throw new Error(`IndexedDB ${opts.dbName}: the ML-DSA-65 seed '${name}' belongs to another Ed25519 key`);
      return { identity: hybridIdentity(ed, existing.seed), created: false };
    }
    const record: SeedRecord = { name, backend: 'ml-dsa-65-seed', publicKey: ed.publicKey, seed: crypto.getRandomValues(new Uint8Array(32)), created: Date.now() };
    try {
      await db.add(STORE, record);
    } catch (e) {
      if ((e as DOMException).name !== 'ConstraintError') throw e;
      return { identity: hybridIdentity(ed, ((await db.get(STORE, name)) as SeedRecord).seed), created: false };
    }
    return { identity: hybridIdentity(ed, record.seed), created: true };
  } finally {
    db.close();
  }
}
