/**
 * `meshwork/proofs`: identities and signatures (Ed25519 with one verdict on every host, ML-DSA-65 hybrid),
 * signed envelopes, batch verification, Freivalds' check. Host-agnostic: WebCrypto, @noble/*, libsodium.js.
 * @example
 * import { generateIdentity, sealEnvelope, openEnvelope, taskId, ReplayGuard } from 'meshwork/proofs';
 * const me = await generateIdentity();
 * const bytes = await sealEnvelope({ kind: 'update', task: await taskId('digits'), round: 1, sequence: 1, payload }, me);
 * const env = await openEnvelope(bytes, { replay: new ReplayGuard() });
 * @module
 */
export { toHex, fromHex } from './bytes.js';
export {
  PUBLIC_KEY_BYTES, SIGNATURE_BYTES, SEED_BYTES, SMALL_ORDER_ENCODINGS, precheck, verify, verifyDetailed, verifyNoble,
  verifyNobleDetailed, verifyWebCryptoDetailed, hasWebCryptoEd25519, resolveBackend, generateIdentity, identityFromSeed,
  identityFromKeyPair, nobleIdentity, seedToPkcs8, pkcs8ToSeed, loadSodium,
  type Identity, type Rejection, type Ed25519Backend, type Sodium,
} from './ed25519.js';
export {
  MLDSA65_PUBLIC_KEY_BYTES, MLDSA65_SIGNATURE_BYTES, HYBRID_SIGNATURE_BYTES, hybridIdentity, generateHybridIdentity, hybridFromSeeds,
  verifyHybrid, verifyHybridDetailed, type HybridIdentity, type HybridRejection,
} from './hybrid.js';
export { verifyBatch, type SignedItem, type BatchResult, type BatchOptions } from './batch.js';
export {
  HEADER_BYTES, ENVELOPE_VERSION, DEFAULT_MAX_PAYLOAD, EnvelopeKind, SignatureAlg, EnvelopeError, ReplayError, ReplayGuard,
  taskId, sealEnvelope, parseEnvelope, openEnvelope, openEnvelopes,
  type EnvelopeHeader, type Envelope, type EnvelopeFields, type EnvelopeKindName, type EnvelopeErrorCode, type OpenOptions, type OpenResult,
} from './envelope.js';
export { FREIVALDS_PRIME, freivalds, type FreivaldsOptions, type FreivaldsResult, type MatDims } from './freivalds.js';
