/**
 * Browser identities in IndexedDB (through idb): the Ed25519 private key is a non-extractable CryptoKey, which
 * IndexedDB stores by structured clone without ever exposing its bytes to script. Where WebCrypto lacks
 * Ed25519 (older browsers, insecure contexts), the identity falls back to noble with its seed stored in the
 * same record; that seed is readable by the origin's scripts, and the record says so (`backend: 'noble'`).
 *
 * Two tabs creating the identity at once end with one: the key is generated first, then added in one
 * transaction with `add`, which fails when another tab's record landed first; that record is then used.
 * @module
 */
import { openDB, type IDBPDatabase } from 'idb';
import { generateIdentity, hasWebCryptoEd25519, identityFromKeyPair, nobleIdentity, type Identity } from '../proofs/ed25519.js';

/** The object store of identity records (keyPath `name`). */
export const STORE = 'identities';

interface IdentityRecord {
  name: string;
  backend: 'webcrypto' | 'noble';
  publicKey: Uint8Array;
  privateKey?: CryptoKey;
  seed?: Uint8Array;
  created: number;
}

/** The identities database (also used by host-browser/hybrid-keystore.ts for the ML-DSA-65 half). */
export function openIdentities(dbName: string): Promise<IDBPDatabase> {
  return openDB(dbName, 1, {
    upgrade(db) {
      if (!db.objectStoreNames.contains(STORE)) db.createObjectStore(STORE, { keyPath: 'name' });
    },
  });
}

async function fromRecord(r: IdentityRecord): Promise<Identity> {
  if (r.backend === 'noble') return nobleIdentity(r.seed!);
  const publicKey = await crypto.subtle.importKey('raw', r.publicKey as Uint8Array<ArrayBuffer>, { name: 'Ed25519' }, true, ['verify']);
  return identityFromKeyPair({ privateKey: r.privateKey!, publicKey });
}

/**
 * The browser's identity `name` from IndexedDB database `dbName`, created there when missing.
 * @returns the identity and whether this call created it.
 */
export async function loadOrCreateIdentity(opts: { dbName?: string; name?: string } = {}): Promise<{ identity: Identity; created: boolean }> {
  const dbName = opts.dbName ?? 'meshwork', name = opts.name ?? 'default';
  if (typeof dbName !== 'string' || !dbName) throw new TypeError('dbName must be a non-empty string');
  if (typeof name !== 'string' || !name) throw new TypeError('name must be a non-empty string');
  const db = await openIdentities(dbName);
  try {
    const existing = (await db.get(STORE, name)) as IdentityRecord | undefined;
    if (existing) return { identity: await fromRecord(existing), created: false };
    let record: IdentityRecord;
    if (await hasWebCryptoEd25519()) {
      const fresh = await generateIdentity({ backend: 'webcrypto' });
      record = { name, backend: 'webcrypto', publicKey: fresh.publicKey, privateKey: fresh.privateKey!, created: Date.now() };
    } else {
      const seed = crypto.getRandomValues(new Uint8Array(32));
      record = { name, backend: 'noble', publicKey: nobleIdentity(seed).publicKey, seed, created: Date.now() };
    }
    try {
      await db.add(STORE, record);
    } catch (e) {
      if ((e as DOMException).name !== 'ConstraintError') throw e;
      const winner = (await db.get(STORE, name)) as IdentityRecord;
      return { identity: await fromRecord(winner), created: false };
    }
    return { identity: await fromRecord(record), created: true };
  } finally {
    db.close();
  }
}

/** Deletes the identity `name` (the node gets a new id next time). */
export async function deleteIdentity(opts: { dbName?: string; name?: string } = {}): Promise<void> {
  const db = await openIdentities(opts.dbName ?? 'meshwork');
  try {
    await db.delete(STORE, opts.name ?? 'default');
  } finally {
    db.close();
  }
}
