/**
 * Node's own Ed25519 verifier (node:crypto, OpenSSL) under meshwork's rule: {@link precheck} first, then
 * `crypto.verify`. Synchronous, one core; WebCrypto (proofs/batch.ts) is the parallel path. Kept as a third
 * implementation the edge-case table and the bench compare against.
 * @module
 */
import { createPublicKey, verify as nodeVerify, type KeyObject } from 'node:crypto';
import { checkBytes } from '../proofs/bytes.js';
import { precheck, type Rejection } from '../proofs/ed25519.js';

/** SPKI DER prefix of an Ed25519 public key (RFC 8410); the 32 key bytes follow. */
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');
const keys = new Map<string, KeyObject>();

/** The KeyObject of a raw public key, cached (first in, first out past 4,096 keys). */
export function nodePublicKey(publicKey: Uint8Array): KeyObject {
  const id = Buffer.from(publicKey.buffer, publicKey.byteOffset, 32).toString('latin1');
  let k = keys.get(id);
  if (!k) {
    k = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    if (keys.size >= 4096) keys.delete(keys.keys().next().value!);
    keys.set(id, k);
  }
  return k;
}

/**
 * Verifies with node:crypto under meshwork's rule.
 * @returns undefined when valid, else why not.
 */
export function verifyNodeCryptoDetailed(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): Rejection | undefined {
  checkBytes('message', message);
  const pre = precheck(publicKey, signature);
  if (pre) return pre;
  let key: KeyObject;
  try {
    key = nodePublicKey(publicKey);
  } catch {
    return 'invalid-key';
  }
  try {
    return nodeVerify(null, message, key, signature) ? undefined : 'bad-signature';
  } catch {
    return 'bad-signature';
  }
}

/** {@link verifyNodeCryptoDetailed} as a boolean. */
export function verifyNodeCrypto(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyNodeCryptoDetailed(publicKey, message, signature) === undefined;
}
