/**
 * Node identities on disk: the Ed25519 private key in a PKCS#8 PEM file (what `openssl pkey` reads) with mode
 * 0600 in a 0700 folder, loaded into a non-extractable WebCrypto key. Files are written whole (temporary file,
 * fsync, hard link into place), so a crash never leaves a half-written key and two processes creating the same
 * identity at once end up with one key. A key file that group or others can read is refused, as ssh does.
 * @module
 */
import { constants } from 'node:fs';
import { link, mkdir, open, readFile, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import { toHex } from '../proofs/bytes.js';
import { identityFromSeed, pkcs8ToSeed, seedToPkcs8, type Identity } from '../proofs/ed25519.js';
import { hybridIdentity, type HybridIdentity } from '../proofs/hybrid.js';

const ED_LABEL = 'PRIVATE KEY';
const ML_LABEL = 'MESHWORK ML-DSA-65 SEED';

function pem(label: string, der: Uint8Array): string {
  const b64 = Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function unpem(label: string, text: string, file: string): Uint8Array {
  const m = text.match(new RegExp(`-----BEGIN ${label}-----([A-Za-z0-9+/=\\s]+)-----END ${label}-----`));
  if (!m) throw new RangeError(`${file} is not a PEM '${label}' file`);
  return new Uint8Array(Buffer.from(m[1]!.replace(/\s+/g, ''), 'base64'));
}

/** Writes `text` to `file` with mode 0600 unless it exists; returns false when another writer won. */
async function writeOnce(file: string, text: string): Promise<boolean> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.${toHex(crypto.getRandomValues(new Uint8Array(6)))}.tmp`;
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600);
  try {
    await fh.writeFile(text);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await link(tmp, file);
    return true;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw e;
  } finally {
    await unlink(tmp).catch(() => {});
  }
}

/** Reads a key file after checking that only its owner can read it. */
async function readPrivate(file: string): Promise<string> {
  const st = await stat(file);
  if (!st.isFile()) throw new RangeError(`${file} is not a regular file`);
  if (st.mode & 0o077) throw new Error(`${file} is readable by group or others (mode ${(st.mode & 0o777).toString(8)}); run 'chmod 600 ${file}'`);
  return readFile(file, 'utf8');
}

async function loadOrCreateSeed(file: string, label: string): Promise<{ seed: Uint8Array; created: boolean }> {
  let created = false;
  try {
    await stat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    const seed = crypto.getRandomValues(new Uint8Array(32));
    created = await writeOnce(file, pem(label, label === ED_LABEL ? seedToPkcs8(seed) : seed));
    seed.fill(0);
  }
  const der = unpem(label, await readPrivate(file), file);
  const seed = label === ED_LABEL ? pkcs8ToSeed(der) : der;
  if (seed.length !== 32) throw new RangeError(`${file}: the seed must be 32 bytes, got ${seed.length}`);
  return { seed, created };
}

/**
 * The node's Ed25519 identity from `file`, created there (mode 0600) when missing. The private key is loaded
 * as a non-extractable WebCrypto key.
 * @throws Error when the file is readable by group or others, RangeError when it is not an Ed25519 PKCS#8 PEM.
 */
export async function loadOrCreateIdentity(file: string): Promise<{ identity: Identity; created: boolean }> {
  if (typeof file !== 'string' || !file) throw new TypeError('file must be a non-empty path string');
  const { seed, created } = await loadOrCreateSeed(file, ED_LABEL);
  const identity = await identityFromSeed(seed);
  seed.fill(0);
  return { identity, created };
}

/**
 * A hybrid identity: the Ed25519 key in `file` and an ML-DSA-65 key-generation seed in `file + '.mldsa65'`
 * (both mode 0600, created when missing). The ML-DSA secret is held by @noble/post-quantum in memory.
 */
export async function loadOrCreateHybridIdentity(file: string): Promise<{ identity: HybridIdentity; created: boolean }> {
  const ed = await loadOrCreateIdentity(file);
  const ml = await loadOrCreateSeed(`${file}.mldsa65`, ML_LABEL);
  const identity = hybridIdentity(ed.identity, ml.seed);
  ml.seed.fill(0);
  return { identity, created: ed.created || ml.created };
}
