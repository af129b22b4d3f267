/**
 * Ed25519 identities and signatures with one verdict on every host.
 *
 * Ed25519 verifiers disagree on edge cases (non-canonical encodings, small-order points, cofactored versus
 * cofactorless equations: Chalkias et al., "Taming the many EdDSAs", 2020), so a Byzantine sender could make
 * one host accept what another rejects. meshwork fixes the rule and enforces it before any native verifier:
 *
 * 1. the public key A and the signature's R are canonical encodings (y < p, and no sign bit on x = 0);
 * 2. neither A nor R is one of the eight small-order points;
 * 3. S is canonical (S < L);
 * 4. the cofactorless equation [S]B = R + [k]A holds, k = SHA-512(R || A || M) mod L (RFC 8032 5.1.7 with the
 *    optional cofactor left out, which is what OpenSSL, BoringSSL and so WebCrypto in Node and Chromium compute).
 *
 * {@link precheck} enforces 1-3 with byte comparisons only (no point decoding), so it costs nothing next to a
 * verification. The WebCrypto path then asks the native verifier for 4; the noble path computes 4 itself
 * (noble's own `verify` checks the cofactored equation, which accepts R with a torsion component).
 * @module
 */
import { ed25519 } from '@noble/curves/ed25519.js';
import { sha512 } from '@noble/hashes/sha2.js';
import { bytesToNumberLE } from '@noble/curves/utils.js';
import { checkBytes, equalBytes, fromHex, ownBytes, toHex } from './bytes.js';

/** Public key (= identity) length in bytes. */
export const PUBLIC_KEY_BYTES = 32;
/** Signature length in bytes. */
export const SIGNATURE_BYTES = 64;
/** Secret seed length in bytes. */
export const SEED_BYTES = 32;

/** Why a signature is rejected before or by verification. */
export type Rejection =
  | 'non-canonical-key'
  | 'small-order-key'
  | 'non-canonical-r'
  | 'small-order-r'
  | 'non-canonical-s'
  | 'invalid-key'
  | 'bad-signature';

/** The group order L, little-endian. */
const L_LE = fromHex('edd3f55c1a631258d69cf7a2def9de1400000000000000000000000000000010');

/**
 * The canonical encodings of the eight points of order 1, 2, 4 and 8 (the torsion subgroup). With
 * non-canonical encodings rejected first, these are all the small-order encodings left.
 */
export const SMALL_ORDER_ENCODINGS: readonly Uint8Array[] = [
  '0100000000000000000000000000000000000000000000000000000000000000', // identity, order 1
  'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f', // (0, -1), order 2
  '0000000000000000000000000000000000000000000000000000000000000000', // order 4
  '0000000000000000000000000000000000000000000000000000000000000080', // order 4
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05', // order 8
  '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a', // order 8
  'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa', // order 8
].map((h) => fromHex(h));

/** Whether the 32 bytes at `o` encode y >= p = 2^255 - 19, or x = 0 with the sign bit set (y = 1 or y = p - 1). */
function nonCanonicalPoint(b: Uint8Array, o: number): boolean {
  const top = b[o + 31]!;
  let allFF = (top & 0x7f) === 0x7f;
  for (let i = 1; allFF && i < 31; i++) allFF = b[o + i] === 0xff;
  if (allFF && b[o]! >= 0xed) return true; // y in [p, 2^255)
  if (top & 0x80) {
    // sign bit with x = 0: y = 1 (01 00..00) or y = p - 1 (ec ff..ff)
    if (allFF && b[o] === 0xec) return true;
    if (b[o] === 1 && (top & 0x7f) === 0) {
      let zero = true;
      for (let i = 1; zero && i < 31; i++) zero = b[o + i] === 0;
      if (zero) return true;
    }
  }
  return false;
}

function smallOrder(b: Uint8Array, o: number): boolean {
  next: for (const t of SMALL_ORDER_ENCODINGS) {
    for (let i = 0; i < 32; i++) if (b[o + i] !== t[i]) continue next;
    return true;
  }
  return false;
}

/** Whether the little-endian scalar at signature[32..64) is < L. */
function canonicalS(sig: Uint8Array): boolean {
  for (let i = 31; i >= 0; i--) {
    const s = sig[32 + i]!, l = L_LE[i]!;
    if (s !== l) return s < l;
  }
  return false; // S == L
}

/**
 * Rules 1-3 of the verdict (see the module doc) on a public key and a signature, by byte comparisons.
 * @returns the first rule broken, or undefined when both may go to a verifier.
 * @throws TypeError / RangeError when they are not Uint8Arrays of 32 and 64 bytes.
 */
export function precheck(publicKey: Uint8Array, signature: Uint8Array): Rejection | undefined {
  checkBytes('publicKey', publicKey, PUBLIC_KEY_BYTES);
  checkBytes('signature', signature, SIGNATURE_BYTES);
  if (nonCanonicalPoint(publicKey, 0)) return 'non-canonical-key';
  if (smallOrder(publicKey, 0)) return 'small-order-key';
  if (nonCanonicalPoint(signature, 0)) return 'non-canonical-r';
  if (smallOrder(signature, 0)) return 'small-order-r';
  if (!canonicalS(signature)) return 'non-canonical-s';
  return undefined;
}

const L = 2n ** 252n + 27742317777372353535851937790883648493n;

/**
 * The verdict computed with @noble/curves alone (pure JS, any host): {@link precheck}, then the
 * cofactorless equation [S]B - [k]A == R compared as encodings.
 * @returns undefined when valid, else why not.
 */
export function verifyNobleDetailed(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Rejection | undefined {
  checkBytes('message', message);
  const pre = precheck(publicKey, signature);
  if (pre) return pre;
  let A;
  try {
    A = ed25519.Point.fromBytes(publicKey);
  } catch {
    return 'invalid-key';
  }
  const R = signature.subarray(0, 32);
  const s = bytesToNumberLE(signature.subarray(32));
  const h = sha512.create().update(R).update(publicKey).update(message).digest();
  const k = bytesToNumberLE(h) % L;
  const SB = s === 0n ? ed25519.Point.ZERO : ed25519.Point.BASE.multiply(s);
  const Rp = k === 0n ? SB : SB.subtract(A.multiplyUnsafe(k));
  return equalBytes(Rp.toBytes(), R) ? undefined : 'bad-signature';
}

/** {@link verifyNobleDetailed} as a boolean. */
export function verifyNoble(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyNobleDetailed(publicKey, message, signature) === undefined;
}

// ---- WebCrypto ----

const ALG = { name: 'Ed25519' } as const;

function subtle(): SubtleCrypto | undefined {
  return (globalThis.crypto as Crypto | undefined)?.subtle;
}

let webCryptoProbe: Promise<boolean> | undefined;
/**
 * Whether this host's WebCrypto verifies Ed25519 (Node 20, Chromium 137+ in a secure context). Probed once with
 * RFC 8032's first test vector.
 */
export function hasWebCryptoEd25519(): Promise<boolean> {
  webCryptoProbe ??= (async () => {
    const s = subtle();
    if (!s) return false;
    try {
      const key = await s.importKey('raw', fromHex('d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'), ALG, false, ['verify']);
      const sig = fromHex('e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b');
      return await s.verify(ALG, key, sig, new Uint8Array(0));
    } catch {
      return false;
    }
  })();
  return webCryptoProbe;
}

/** Imported verification keys, by public key (first in, first out past `KEY_CACHE_SIZE`): the pending import,
 * and once it resolved the key itself, so a cached key costs no await. */
const keyCache = new Map<string, Promise<CryptoKey>>();
const keyReady = new Map<string, CryptoKey>();
const KEY_CACHE_SIZE = 4096;

function cacheKey(b: Uint8Array): string {
  return String.fromCharCode.apply(null, b as unknown as number[]);
}

/** The imported key of a public key if it is cached and ready (no await needed). */
export function cachedVerifyKey(publicKey: Uint8Array): CryptoKey | undefined {
  return keyReady.get(cacheKey(publicKey));
}

/** The WebCrypto verification key of a (pre-checked) public key, imported once. */
export function importVerifyKey(publicKey: Uint8Array): Promise<CryptoKey> {
  const id = cacheKey(publicKey);
  let key = keyCache.get(id);
  if (!key) {
    key = subtle()!.importKey('raw', ownBytes(publicKey), ALG, false, ['verify']);
    key.then((k) => { if (keyCache.has(id)) keyReady.set(id, k); }, () => keyCache.delete(id));
    if (keyCache.size >= KEY_CACHE_SIZE) {
      const oldest = keyCache.keys().next().value!;
      keyCache.delete(oldest);
      keyReady.delete(oldest);
    }
    keyCache.set(id, key);
  }
  return key;
}

/**
 * The verdict with WebCrypto's native verifier: {@link precheck}, then `crypto.subtle.verify`.
 * @returns undefined when valid, else why not.
 */
export async function verifyWebCryptoDetailed(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Promise<Rejection | undefined> {
  checkBytes('message', message);
  const pre = precheck(publicKey, signature);
  if (pre) return pre;
  let key: CryptoKey;
  try {
    key = await importVerifyKey(publicKey);
  } catch {
    return 'invalid-key';
  }
  try {
    return (await subtle()!.verify(ALG, key, ownBytes(signature), ownBytes(message))) ? undefined : 'bad-signature';
  } catch {
    return 'bad-signature';
  }
}

// ---- libsodium (Wasm) ----

/** The part of libsodium.js that {@link loadSodium} resolves to and the verifiers use. */
export type Sodium = { ready: Promise<void>; crypto_sign_verify_detached(sig: Uint8Array, msg: Uint8Array, pk: Uint8Array): boolean };
let sodium: Promise<Sodium> | undefined;

/** libsodium.js (Wasm), loaded on first use. */
export function loadSodium(): Promise<Sodium> {
  sodium ??= import('libsodium-wrappers').then(async (m) => {
    const s = (m as unknown as { default: Sodium }).default;
    await s.ready;
    return s;
  });
  return sodium;
}

/**
 * The verdict with libsodium (Wasm): {@link precheck}, then `crypto_sign_verify_detached`, whose own checks
 * (canonical S and A, no small-order A or R, cofactorless equation compared as bytes) are meshwork's rule.
 * Synchronous once loaded (`sodium`); used by browser workers beside WebCrypto, whose verifier in Chromium
 * runs on one thread.
 */
export function verifySodiumDetailedSync(sodium: Sodium, publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Rejection | undefined {
  checkBytes('message', message);
  const pre = precheck(publicKey, signature);
  if (pre) return pre;
  return sodium.crypto_sign_verify_detached(signature, message, publicKey) ? undefined : 'bad-signature';
}

/** Which implementation verifies: WebCrypto (native), libsodium (Wasm), noble (pure JS), or the first that works here. */
export type Ed25519Backend = 'webcrypto' | 'sodium' | 'noble' | 'auto';

/**
 * Verifies one signature under meshwork's rule. `auto` uses WebCrypto where the host has Ed25519 in it and
 * noble elsewhere; both give the same verdict (tested on the RFC 8032 vectors and the edge-case table).
 * @throws TypeError / RangeError for arguments of the wrong type or length (a wrong signature is `false`).
 */
export async function verify(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, backend: Ed25519Backend = 'auto'): Promise<boolean> {
  return (await verifyDetailed(publicKey, message, signature, backend)) === undefined;
}

/** {@link verify} with the reason for a rejection. */
export async function verifyDetailed(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array, backend: Ed25519Backend = 'auto'): Promise<Rejection | undefined> {
  const use = await resolveBackend(backend);
  if (use === 'sodium') return verifySodiumDetailedSync(await loadSodium(), publicKey, message, signature);
  return use === 'webcrypto' ? verifyWebCryptoDetailed(publicKey, message, signature) : verifyNobleDetailed(publicKey, message, signature);
}

/** The backend `auto` stands for on this host, checking that a named one is available. */
export async function resolveBackend(backend: Ed25519Backend): Promise<'webcrypto' | 'sodium' | 'noble'> {
  if (backend !== 'auto' && backend !== 'webcrypto' && backend !== 'noble' && backend !== 'sodium') throw new RangeError(`backend must be 'auto', 'webcrypto', 'sodium' or 'noble', got ${String(backend)}`);
  if (backend === 'noble' || backend === 'sodium') return backend;
  const has = await hasWebCryptoEd25519();
  if (backend === 'webcrypto' && !has) throw new Error('WebCrypto Ed25519 is not available on this host (in browsers it needs a secure context: https or localhost)');
  return has ? 'webcrypto' : 'noble';
}

// ---- identities ----

/** A signing identity: its public key is its id. The private key never leaves it. */
export interface Identity {
  /** The Ed25519 public key (32 bytes): the node's id. */
  readonly publicKey: Uint8Array;
  /** Hex of the public key. */
  readonly id: string;
  /** Which implementation signs. */
  readonly backend: 'webcrypto' | 'noble';
  /** The WebCrypto private key (non-extractable unless asked otherwise), on the WebCrypto backend. */
  readonly privateKey?: CryptoKey;
  /** Signs the exact bytes given. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** PKCS#8 DER prefix of an Ed25519 private key; the 32-byte seed follows (RFC 8410). */
const PKCS8_PREFIX = fromHex('302e020100300506032b657004220420');

/** PKCS#8 DER of an Ed25519 seed. */
export function seedToPkcs8(seed: Uint8Array): Uint8Array {
  checkBytes('seed', seed, SEED_BYTES);
  const out = new Uint8Array(48);
  out.set(PKCS8_PREFIX);
  out.set(seed, 16);
  return out;
}

/** The seed inside a PKCS#8 DER Ed25519 private key. @throws RangeError when it is not one. */
export function pkcs8ToSeed(der: Uint8Array): Uint8Array {
  checkBytes('pkcs8', der);
  if (der.length !== 48 || !equalBytes(der.subarray(0, 16), PKCS8_PREFIX)) throw new RangeError('pkcs8 is not an Ed25519 PKCS#8 private key (48 bytes, RFC 8410)');
  return der.slice(16);
}

/** An identity around a WebCrypto key pair (the private key may be non-extractable). */
export async function identityFromKeyPair(pair: CryptoKeyPair): Promise<Identity> {
  const publicKey = new Uint8Array(await subtle()!.exportKey('raw', pair.publicKey));
  const privateKey = pair.privateKey;
  return {
    publicKey,
    id: toHex(publicKey),
    backend: 'webcrypto',
    privateKey,
    async sign(message) {
      checkBytes('message', message);
      return new Uint8Array(await subtle()!.sign(ALG, privateKey, ownBytes(message)));
    },
  };
}

/** An identity signing with noble from a 32-byte seed held in memory. */
export function nobleIdentity(seed: Uint8Array): Identity {
  checkBytes('seed', seed, SEED_BYTES);
  const secret = seed.slice();
  const publicKey = ed25519.getPublicKey(secret);
  return {
    publicKey,
    id: toHex(publicKey),
    backend: 'noble',
    async sign(message) {
      checkBytes('message', message);
      return ed25519.sign(message, secret);
    },
  };
}

/**
 * A new identity. WebCrypto when the host has Ed25519 there: the private key is a non-extractable CryptoKey
 * (unless `extractable`); noble with a random seed elsewhere.
 */
export async function generateIdentity(opts: { backend?: Ed25519Backend; extractable?: boolean } = {}): Promise<Identity> {
  const use = await resolveBackend(opts.backend ?? 'auto');
  if (use !== 'webcrypto') return nobleIdentity(crypto.getRandomValues(new Uint8Array(SEED_BYTES)));
  const pair = (await subtle()!.generateKey(ALG, opts.extractable ?? false, ['sign', 'verify'])) as CryptoKeyPair;
  return identityFromKeyPair(pair);
}

/**
 * The identity of a 32-byte seed (RFC 8032 secret key). With WebCrypto the seed is imported as a
 * non-extractable key; callers should drop their copy.
 */
export async function identityFromSeed(seed: Uint8Array, backend: Ed25519Backend = 'auto'): Promise<Identity> {
  checkBytes('seed', seed, SEED_BYTES);
  const use = await resolveBackend(backend);
  if (use !== 'webcrypto') return nobleIdentity(seed);
  const s = subtle()!;
  const privateKey = await s.importKey('pkcs8', seedToPkcs8(seed) as Uint8Array<ArrayBuffer>, ALG, false, ['sign']);
  const publicKey = ed25519.getPublicKey(seed);
  const publicCryptoKey = await s.importKey('raw', publicKey as Uint8Array<ArrayBuffer>, ALG, true, ['verify']);
  return identityFromKeyPair({ privateKey, publicKey: publicCryptoKey });
}
