/**
 * The Chromium proofs page: exposes `window.__meshworkProofs`, which the Node side (proofs.test.ts, the
 * browser bench) calls through Playwright with inputs made in Node and gets back what the browser made and
 * saw: RFC 8032 vectors and the edge-case table on WebCrypto and noble, signatures and envelopes to check in
 * Node, Node's to check here, the IndexedDB identity, and batch-verification timings.
 *
 * vite bundles tsc's output of this file (dist/test/browser/proofs-page.js).
 * @module
 */
import { fromHex, toHex } from '../../proofs/bytes.js';
import { generateIdentity, hasWebCryptoEd25519, identityFromSeed, verifyDetailed, type Identity, type Rejection } from '../../proofs/ed25519.js';
import { verifyBatch, type SignedItem } from '../../proofs/batch.js';
import { generateHybridIdentity, verifyHybrid } from '../../proofs/hybrid.js';
import { openEnvelope, sealEnvelope, taskId } from '../../proofs/envelope.js';
import { loadOrCreateIdentity } from '../../host-browser/keystore.js';
import { createBatchVerifier } from '../../host-browser/verify.js';
import { createGroth16Prover, defaultArtifactUrls } from '../../host-browser/groth16.js';
import { ARTIFACT_FILES, publicSignalsFor, statementOf, verify as verifyGroth16, type ProofWithSignals, type VerificationKey } from '../../proofs/groth16.js';
import { batchVerify } from '../../proofs/groth16-batch.js';

/** A signature as hex strings (what crosses the Playwright boundary). */
export interface HexItem {
  publicKey: string;
  message: string;
  signature: string;
}

/** What Node sends in. */
export interface ProofsInput {
  rfc: (HexItem & { name: string; secretKey: string })[];
  edge: (HexItem & { name: string })[];
  /** Signatures made in Node, to verify here. */
  fromNode: HexItem[];
  /** An envelope sealed in Node (hex), to open here. */
  envelopeFromNode: string;
}

/** What the page reports. */
export interface ProofsReport {
  webCrypto: boolean;
  secureContext: boolean;
  userAgent: string;
  /** Per vector and backend: public key and signature reproduced, signature verified. */
  rfc: { name: string; backend: string; publicKey: boolean; signature: boolean; verified: boolean }[];
  /** Per edge case: the verdict (undefined = accept, else the reason) per backend, and raw WebCrypto's. */
  edge: { name: string; webcrypto?: Rejection; noble?: Rejection; sodium?: Rejection; rawWebCrypto: boolean }[];
  /** The edge table through createBatchVerifier with the libsodium worker and one WebCrypto lane sharing the items, and with WebCrypto alone. */
  edgeVerifier: { shared: (Rejection | undefined)[]; webCryptoOnly: (Rejection | undefined)[] };
  /** Node's signatures checked here, per backend. */
  fromNode: { webcrypto: boolean[]; noble: boolean[] };
  /** Made here, for Node to check. */
  toNode: { items: HexItem[]; hybrid: { publicKey: string; mlDsaPublicKey: string; message: string; signature: string }; envelope: string };
  envelopeFromNode: { ok: boolean; sender?: string; payload?: string; error?: string };
  hybridHere: boolean;
}

async function backendReport(input: ProofsInput): Promise<ProofsReport> {
  const webCrypto = await hasWebCryptoEd25519();
  const backends = webCrypto ? (['webcrypto', 'noble'] as const) : (['noble'] as const);
  const rfc: ProofsReport['rfc'] = [];
  for (const v of input.rfc) {
    for (const backend of backends) {
      const id = await identityFromSeed(fromHex(v.secretKey), backend);
      const sig = await id.sign(fromHex(v.message));
      rfc.push({
        name: v.name, backend, publicKey: id.id === v.publicKey, signature: toHex(sig) === v.signature,
        verified: (await verifyDetailed(fromHex(v.publicKey), fromHex(v.message), fromHex(v.signature), backend)) === undefined,
      });
    }
  }
  const edge: ProofsReport['edge'] = [];
  for (const c of input.edge) {
    const p = fromHex(c.publicKey), m = fromHex(c.message), s = fromHex(c.signature);
    let raw = false;
    try {
      raw = await crypto.subtle.verify('Ed25519', await crypto.subtle.importKey('raw', p, 'Ed25519', false, ['verify']), s, m);
    } catch {
      raw = false;
    }
    edge.push({
      name: c.name,
      webcrypto: webCrypto ? await verifyDetailed(p, m, s, 'webcrypto') : undefined,
      noble: await verifyDetailed(p, m, s, 'noble'),
      sodium: await verifyDetailed(p, m, s, 'sodium'),
      rawWebCrypto: raw,
    });
  }
  const edgeItems: SignedItem[] = input.edge.map((x) => ({ publicKey: fromHex(x.publicKey), message: fromHex(x.message), signature: fromHex(x.signature) }));
  // inFlight 1 with chunk 1: the worker and one WebCrypto lane take items in turn; workers 0: WebCrypto takes all.
  const viaWorker = await createBatchVerifier({ workers: 1, inFlight: 1, chunk: 1 });
  const viaPage = await createBatchVerifier({ workers: 0 });
  const edgeVerifier = { shared: (await viaWorker.verifyBatch(edgeItems)).reasons, webCryptoOnly: (await viaPage.verifyBatch(edgeItems)).reasons };
  viaWorker.dispose();
  viaPage.dispose();
  const items: SignedItem[] = input.fromNode.map((x) => ({ publicKey: fromHex(x.publicKey), message: fromHex(x.message), signature: fromHex(x.signature) }));
  const fromNode = {
    webcrypto: webCrypto ? (await verifyBatch(items, { backend: 'webcrypto' })).reasons.map((r) => r === undefined) : [],
    noble: (await verifyBatch(items, { backend: 'noble' })).reasons.map((r) => r === undefined),
  };
  // Made here: with a non-extractable WebCrypto key and with noble.
  const toNode: HexItem[] = [];
  for (const backend of backends) {
    const id: Identity = await generateIdentity({ backend });
    for (let i = 0; i < 3; i++) {
      const message = new TextEncoder().encode(`from chromium ${backend} ${i}`);
      toNode.push({ publicKey: id.id, message: toHex(message), signature: toHex(await id.sign(message)) });
    }
  }
  const h = await generateHybridIdentity();
  const hm = new TextEncoder().encode('hybrid from chromium');
  const hs = await h.sign(hm);
  const task = await taskId('chromium-task');
  const envSigner = await generateIdentity();
  const envelope = toHex(await sealEnvelope({ kind: 'update', task, round: 3, sequence: 9, payload: new TextEncoder().encode('chromium payload') }, envSigner));
  let envelopeFromNode: ProofsReport['envelopeFromNode'];
  try {
    const env = await openEnvelope(fromHex(input.envelopeFromNode));
    envelopeFromNode = { ok: true, sender: toHex(env.sender), payload: toHex(env.payload) };
  } catch (e) {
    envelopeFromNode = { ok: false, error: String(e) };
  }
  return {
    webCrypto, secureContext: isSecureContext, userAgent: navigator.userAgent, rfc, edge, edgeVerifier, fromNode,
    toNode: { items: toNode, hybrid: { publicKey: h.id, mlDsaPublicKey: toHex(h.mlDsaPublicKey), message: toHex(hm), signature: toHex(hs) }, envelope },
    envelopeFromNode,
    hybridHere: await verifyHybrid(h, hm, hs),
  };
}

/** The IndexedDB identity: created once, the same after a reload, private key non-extractable. */
export interface IdbReport {
  id: string;
  created: boolean;
  backend: string;
  extractable: boolean | undefined;
  signatureVerifies: boolean;
  /** Two loads racing on a fresh name: how many created, and whether they agree. */
  race: { created: number; sameId: boolean };
}

async function idb(dbName: string): Promise<IdbReport> {
  const { identity, created } = await loadOrCreateIdentity({ dbName });
  const msg = new TextEncoder().encode('idb');
  const sig = await identity.sign(msg);
  const race = `race-${Date.now()}-${Math.random()}`;
  const [a, b] = await Promise.all([loadOrCreateIdentity({ dbName, name: race }), loadOrCreateIdentity({ dbName, name: race })]);
  return {
    id: identity.id, created, backend: identity.backend, extractable: identity.privateKey?.extractable,
    signatureVerifies: (await verifyDetailed(identity.publicKey, msg, sig)) === undefined,
    race: { created: Number(a.created) + Number(b.created), sameId: a.identity.id === b.identity.id },
  };
}

/** Batch verification timings here, interleaved on the same items: meshwork's browser verifier (WebCrypto
 * plus libsodium workers), WebCrypto alone through verifyBatch, and noble. */
export interface BatchTiming {
  n: number;
  workers: number;
  meshworkMs: number[];
  webCryptoMs: number[];
  nobleMs: number[];
  allValid: boolean;
}

async function batchTiming(n: number, repeats: number): Promise<BatchTiming> {
  const ids = await Promise.all(Array.from({ length: 16 }, () => generateIdentity()));
  const items: SignedItem[] = [];
  for (let i = 0; i < n; i++) {
    const id = ids[i % ids.length]!, message = crypto.getRandomValues(new Uint8Array(256));
    items.push({ publicKey: id.publicKey, message, signature: await id.sign(message) });
  }
  const meshworkMs: number[] = [], webCryptoMs: number[] = [], nobleMs: number[] = [];
  let allValid = true;
  const verifier = await createBatchVerifier();
  try {
    // Interleaved, after one warm-up each, so load changes hit all alike.
    await verifier.verifyBatch(items.slice(0, 256));
    await verifyBatch(items.slice(0, 64));
    await verifyBatch(items.slice(0, 64), { backend: 'noble' });
    for (let r = 0; r < repeats; r++) {
      let t0 = performance.now();
      allValid &&= (await verifier.verifyBatch(items)).ok;
      meshworkMs.push(performance.now() - t0);
      t0 = performance.now();
      allValid &&= (await verifyBatch(items)).ok;
      webCryptoMs.push(performance.now() - t0);
      t0 = performance.now();
      allValid &&= (await verifyBatch(items, { backend: 'noble' })).ok;
      nobleMs.push(performance.now() - t0);
    }
  } finally {
    verifier.dispose();
  }
  return { n, workers: verifier.workers, meshworkMs, webCryptoMs, nobleMs, allValid };
}

/** What Node sends for the Groth16 exchange: a chunk to prove here (decimal strings) and a proof made in Node. */
export interface Groth16Input {
  x: number[];
  bound: string;
  bind: string;
  fromNode: ProofWithSignals;
}

/** What the page made and saw. */
export interface Groth16Report {
  /** The proof made on a module Web Worker here. */
  proof: ProofWithSignals;
  proveMs: number;
  /** Node's proof, checked here with snarkjs (verify) and the batch verifier. */
  nodeVerifies: boolean;
  nodeBatch: boolean;
  /** Node's proof with the bound signal changed: must fail. */
  tamperedVerifies: boolean;
  /** The page's own proof verifies here. */
  ownVerifies: boolean;
}

async function groth16(input: Groth16Input): Promise<Groth16Report> {
  const vk = (await (await fetch(defaultArtifactUrls()[ARTIFACT_FILES.vkey]!)).json()) as VerificationKey;
  const prover = await createGroth16Prover();
  try {
    const t0 = performance.now();
    const proof = await prover.prove({ x: Int32Array.from(input.x), bound: BigInt(input.bound), bind: BigInt(input.bind) });
    const proveMs = performance.now() - t0;
    const st = statementOf(input.fromNode.publicSignals);
    const tampered = publicSignalsFor({ ...st, bound: st.bound + 1n });
    return {
      proof, proveMs,
      nodeVerifies: await verifyGroth16(vk, input.fromNode.publicSignals, input.fromNode.proof),
      nodeBatch: (await batchVerify(vk, [input.fromNode, proof])).ok,
      tamperedVerifies: await verifyGroth16(vk, tampered, input.fromNode.proof),
      ownVerifies: await verifyGroth16(vk, proof.publicSignals, proof.proof),
    };
  } finally {
    await prover.dispose();
  }
}

declare global {
  interface Window {
    __meshworkProofs?: {
      signatures(input: ProofsInput): Promise<ProofsReport>;
      idb(dbName: string): Promise<IdbReport>;
      batchTiming(n: number, repeats: number): Promise<BatchTiming>;
      groth16(input: Groth16Input): Promise<Groth16Report>;
    };
  }
}

window.__meshworkProofs = { signatures: backendReport, idb, batchTiming, groth16 };
