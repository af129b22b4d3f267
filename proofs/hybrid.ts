/**
 * Hybrid signatures: Ed25519 and ML-DSA-65 (FIPS 204, @noble/post-quantum) over the same message. A hybrid
 * signature is valid only when both parts verify, so it stays unforgeable while either scheme holds.
 *
 * Both parts sign the message under a hybrid label (Ed25519 over `LABEL || message`, ML-DSA with the label as
 * its FIPS 204 context), so neither part can be cut out and passed off as a plain signature.
 * Wire form: Ed25519 signature (64 bytes) || ML-DSA-65 signature (3,309 bytes).
 * @module
 */
import { ml_dsa65 } from '@noble/post-quantum/ml-dsa.js';
import { checkBytes, concat, utf8 } from './bytes.js';
import { SIGNATURE_BYTES, generateIdentity, identityFromSeed, verifyDetailed, type Ed25519Backend, type Identity, type Rejection } from './ed25519.js';

/** ML-DSA-65 public key length. */
export const MLDSA65_PUBLIC_KEY_BYTES = 1952;
/** ML-DSA-65 signature length. */
export const MLDSA65_SIGNATURE_BYTES = 3309;
/** Hybrid signature length: Ed25519 then ML-DSA-65. */
export const HYBRID_SIGNATURE_BYTES = SIGNATURE_BYTES + MLDSA65_SIGNATURE_BYTES;

const LABEL = utf8('meshwork hybrid ed25519+ml-dsa-65 v1');

/** A hybrid identity: the Ed25519 key is the id; the ML-DSA-65 public key is published beside it. */
export interface HybridIdentity {
  readonly ed25519: Identity;
  readonly publicKey: Uint8Array;
  readonly id: string;
  readonly mlDsaPublicKey: Uint8Array;
  /** The hybrid signature of the exact bytes given. */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** A hybrid identity from an Ed25519 identity and a 32-byte ML-DSA-65 key-generation seed. */
export function hybridIdentity(ed: Identity, mlDsaSeed: Uint8Array): HybridIdentity {
  checkBytes('mlDsaSeed', mlDsaSeed, 32);
  const { secretKey, publicKey } = ml_dsa65.keygen(mlDsaSeed);
  return {
    ed25519: ed,
    publicKey: ed.publicKey,
    id: ed.id,
    mlDsaPublicKey: publicKey,
    async sign(message) {
      checkBytes('message', message);
      const edSig = await ed.sign(concat(LABEL, message));
      return concat(edSig, ml_dsa65.sign(message, secretKey, { context: LABEL }));
    },
  };
}

/** A new hybrid identity (random seeds; the Ed25519 part as {@link generateIdentity} makes it). */
export async function generateHybridIdentity(opts: { backend?: Ed25519Backend } = {}): Promise<HybridIdentity> {
  return hybridIdentity(await generateIdentity(opts), crypto.getRandomValues(new Uint8Array(32)));
}

/** The hybrid identity of two seeds (Ed25519 secret key, ML-DSA-65 key-generation seed). */
export async function hybridFromSeeds(edSeed: Uint8Array, mlDsaSeed: Uint8Array, backend: Ed25519Backend = 'auto'): Promise<HybridIdentity> {
  return hybridIdentity(await identityFromSeed(edSeed, backend), mlDsaSeed);
}

/** Why a hybrid signature fails: the Ed25519 part's reason, or the ML-DSA part's. */
export type HybridRejection = Rejection | 'bad-ml-dsa-signature';

/**
 * Verifies a hybrid signature: both parts must verify (Ed25519 under meshwork's rule, see ed25519.ts).
 * @returns undefined when valid, else why not.
 * @throws TypeError / RangeError for arguments of the wrong type or length.
 */
export async function verifyHybridDetailed(
  keys: { publicKey: Uint8Array; mlDsaPublicKey: Uint8Array },
  message: Uint8Array,
  signature: Uint8Array,
  backend: Ed25519Backend = 'auto',
): Promise<HybridRejection | undefined> {
  checkBytes('mlDsaPublicKey', keys.mlDsaPublicKey, MLDSA65_PUBLIC_KEY_BYTES);
  checkBytes('message', message);
  checkBytes('signature', signature, HYBRID_SIGNATURE_BYTES);
  const ed = await verifyDetailed(keys.publicKey, concat(LABEL, message), signature.subarray(0, SIGNATURE_BYTES), backend);
  if (ed) return ed;
  return ml_dsa65.verify(signature.subarray(SIGNATURE_BYTES), message, keys.mlDsaPublicKey, { context: LABEL }) ? undefined : 'bad-ml-dsa-signature';
}

/** {@link verifyHybridDetailed} as a boolean. */
export async function verifyHybrid(keys: { publicKey: Uint8Array; mlDsaPublicKey: Uint8Array }, message: Uint8Array, signature: Uint8Array, backend: Ed25519Backend = 'auto'): Promise<boolean> {
  return (await verifyHybridDetailed(keys, message, signature, backend)) === undefined;
}
