// Ed25519 identities and signatures: RFC 8032 vectors and mutations on every path (WebCrypto, noble,
// node:crypto), the edge-case table with one verdict everywhere, hybrid ML-DSA-65 signatures, batch
// verification, the node key store.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { ed25519 } from '@noble/curves/ed25519.js';
import { fromHex, toHex } from '../proofs/bytes.js';
import {
  SMALL_ORDER_ENCODINGS, generateIdentity, identityFromSeed, nobleIdentity, precheck, verify, verifyDetailed,
  loadSodium, verifyNobleDetailed, verifySodiumDetailedSync, verifyWebCryptoDetailed, type Rejection,
} from '../proofs/ed25519.js';
import { verifyBatch, type SignedItem } from '../proofs/batch.js';
import { HYBRID_SIGNATURE_BYTES, generateHybridIdentity, verifyHybrid, verifyHybridDetailed } from '../proofs/hybrid.js';
import { verifyNodeCryptoDetailed } from '../host-node/ed25519.js';
import { loadOrCreateHybridIdentity, loadOrCreateIdentity } from '../host-node/keystore.js';

const root = new URL('../../', import.meta.url);
interface Vector { name: string; secretKey: string; publicKey: string; message: string; signature: string }
const RFC: Vector[] = JSON.parse(readFileSync(new URL('test/vectors/rfc8032-ed25519.json', root), 'utf8')).vectors;
interface Edge { name: string; publicKey: string; message: string; signature: string; verdict: 'accept' | 'reject'; reason: Rejection | null }
const EDGE: Edge[] = JSON.parse(readFileSync(new URL('test/vectors/ed25519-edge.json', root), 'utf8')).cases;

/** Every Node path, each returning undefined (valid) or a reason. */
const PATHS: Record<string, (p: Uint8Array, m: Uint8Array, s: Uint8Array) => Promise<Rejection | undefined> | Rejection | undefined> = {
  webcrypto: verifyWebCryptoDetailed,
  noble: verifyNobleDetailed,
  'node:crypto': verifyNodeCryptoDetailed,
  'libsodium (wasm)': async (p, m, s) => verifySodiumDetailedSync(await loadSodium(), p, m, s),
};

const flip = (b: Uint8Array, i: number) => { const c = b.slice(); c[i] = c[i]! ^ (1 << (i % 8)); return c; };

test('RFC 8032 test vectors: WebCrypto and noble sign the same bytes; every path verifies them', async () => {
  assert.equal(RFC.length, 5);
  for (const v of RFC) {
    const seed = fromHex(v.secretKey), msg = fromHex(v.message), sig = fromHex(v.signature), pub = fromHex(v.publicKey);
    for (const backend of ['webcrypto', 'noble'] as const) {
      const id = await identityFromSeed(seed, backend);
      assert.equal(id.backend, backend);
      assert.equal(id.id, v.publicKey, `${v.name} ${backend} public key`);
      assert.equal(toHex(await id.sign(msg)), v.signature, `${v.name} ${backend} signature`);
    }
    for (const [name, fn] of Object.entries(PATHS)) assert.equal(await fn(pub, msg, sig), undefined, `${v.name} on ${name}`);
  }
});

test('RFC 8032 vectors mutated (every byte of the signature, key bits, message) are rejected on every path', async () => {
  for (const v of RFC.slice(0, 3)) {
    const msg = fromHex(v.message), sig = fromHex(v.signature), pub = fromHex(v.publicKey);
    const mutants: [Uint8Array, Uint8Array, Uint8Array][] = [];
    for (let i = 0; i < 64; i++) mutants.push([pub, msg, flip(sig, i)]);
    for (const i of [0, 7, 15, 31]) mutants.push([flip(pub, i), msg, sig]);
    mutants.push([pub, new Uint8Array([...msg, 0]), sig]);
    if (msg.length) mutants.push([pub, flip(msg, 0), sig]);
    for (const [p, m, s] of mutants) {
      for (const [name, fn] of Object.entries(PATHS)) assert.notEqual(await fn(p, m, s), undefined, `${v.name} mutant on ${name}`);
    }
  }
});

test('edge-case table: non-canonical S/A/R, small-order A/R, mixed order give one verdict on every path', async () => {
  assert.ok(EDGE.length >= 15);
  for (const c of EDGE) {
    const p = fromHex(c.publicKey), m = fromHex(c.message), s = fromHex(c.signature);
    for (const [name, fn] of Object.entries(PATHS)) {
      const got = await fn(p, m, s);
      assert.equal(got === undefined ? 'accept' : 'reject', c.verdict, `${c.name} on ${name}: ${got}`);
      if (c.reason) assert.equal(got, c.reason, `${c.name} on ${name}: reason`);
    }
  }
  // Without the pre-check the native and noble verifiers disagree on this table: the rule is what aligns them.
  const disagree = [];
  for (const c of EDGE) {
    const p = fromHex(c.publicKey), m = fromHex(c.message), s = fromHex(c.signature);
    const raw = ed25519.verify(s, m, p, { zip215: false });
    let native = false;
    try {
      native = await crypto.subtle.verify('Ed25519', await crypto.subtle.importKey('raw', p, 'Ed25519', false, ['verify']), s, m);
    } catch { native = false; }
    if (raw !== native) disagree.push(c.name);
  }
  assert.ok(disagree.length >= 3, `raw noble and WebCrypto should disagree somewhere, got ${disagree.join(', ')}`);
});

test('the small-order table is the torsion subgroup: 8 distinct canonical encodings, each of order dividing 8', () => {
  const T8 = ed25519.Point.fromBytes(SMALL_ORDER_ENCODINGS[4]!);
  const multiples = new Set<string>();
  for (let k = 0n; k < 8n; k++) multiples.add(toHex((k === 0n ? ed25519.Point.ZERO : T8.multiplyUnsafe(k)).toBytes()));
  assert.deepEqual(new Set(SMALL_ORDER_ENCODINGS.map(toHex)), multiples);
  for (const e of SMALL_ORDER_ENCODINGS) assert.ok(ed25519.Point.fromBytes(e).isSmallOrder());
});

test('precheck and verify reject arguments of the wrong type or length with errors naming the field', async () => {
  const id = nobleIdentity(new Uint8Array(32).fill(1));
  const sig = await id.sign(new Uint8Array(3));
  assert.throws(() => precheck(new Uint8Array(31), sig), { name: 'RangeError', message: /publicKey must be 32 bytes/ });
  assert.throws(() => precheck(id.publicKey, sig.subarray(1)), { name: 'RangeError', message: /signature must be 64 bytes/ });
  await assert.rejects(verify(id.publicKey, 'abc' as unknown as Uint8Array, sig), { name: 'TypeError', message: /message must be a Uint8Array, got string/ });
  await assert.rejects(verify(id.publicKey, new Uint8Array(3), sig, 'openssl' as never), { name: 'RangeError', message: /backend must be/ });
  await assert.rejects(identityFromSeed(new Uint8Array(5)), { name: 'RangeError', message: /seed must be 32 bytes/ });
});

test('identities cross-verify: WebCrypto-made signatures on noble and node:crypto, noble-made on WebCrypto', async () => {
  const msg = new TextEncoder().encode('cross');
  const web = await generateIdentity({ backend: 'webcrypto' });
  assert.equal(web.privateKey?.extractable, false);
  const nob = await generateIdentity({ backend: 'noble' });
  for (const id of [web, nob]) {
    const sig = await id.sign(msg);
    for (const [name, fn] of Object.entries(PATHS)) assert.equal(await fn(id.publicKey, msg, sig), undefined, `${id.backend} -> ${name}`);
    assert.equal(await verifyDetailed(id.publicKey, msg, flip(sig, 9)), 'bad-signature');
  }
});

test('hybrid Ed25519 + ML-DSA-65: valid only when both parts verify; parts cannot be cut out', async () => {
  const h = await generateHybridIdentity();
  const msg = new TextEncoder().encode('hybrid update');
  const sig = await h.sign(msg);
  assert.equal(sig.length, HYBRID_SIGNATURE_BYTES);
  assert.ok(await verifyHybrid(h, msg, sig));
  assert.ok(await verifyHybrid(h, msg, sig, 'noble'));
  assert.equal(await verifyHybridDetailed(h, msg, flip(sig, 10)), 'bad-signature');
  assert.equal(await verifyHybridDetailed(h, msg, flip(sig, 200)), 'bad-ml-dsa-signature');
  assert.equal(await verifyHybridDetailed(h, flip(msg, 0), sig), 'bad-signature');
  const other = await generateHybridIdentity();
  assert.equal(await verifyHybridDetailed({ publicKey: h.publicKey, mlDsaPublicKey: other.mlDsaPublicKey }, msg, sig), 'bad-ml-dsa-signature');
  // The Ed25519 part signs under the hybrid label: as a plain signature over the message it fails.
  assert.equal(await verify(h.publicKey, msg, sig.subarray(0, 64)), false);
  await assert.rejects(verifyHybrid(h, msg, sig.subarray(0, 100)), { name: 'RangeError', message: /signature must be 3373 bytes/ });
});

test('batch verification reports exactly the bad items, the same on WebCrypto, libsodium and noble', async () => {
  const ids = await Promise.all(Array.from({ length: 8 }, () => generateIdentity()));
  const items: SignedItem[] = [];
  for (let i = 0; i < 300; i++) {
    const id = ids[i % ids.length]!, message = new TextEncoder().encode(`update ${i}`);
    items.push({ publicKey: id.publicKey, message, signature: await id.sign(message) });
  }
  const bad = new Map<number, Rejection>([[3, 'bad-signature'], [77, 'non-canonical-s'], [150, 'small-order-key'], [151, 'small-order-r'], [299, 'bad-signature']]);
  items[3] = { ...items[3]!, message: new TextEncoder().encode('changed') };
  const s77 = items[77]!.signature.slice();
  s77[63] = 0xff; // S >= L
  items[77] = { ...items[77]!, signature: s77 };
  items[150] = { ...items[150]!, publicKey: SMALL_ORDER_ENCODINGS[0]! };
  const s151 = items[151]!.signature.slice();
  s151.set(SMALL_ORDER_ENCODINGS[6]!, 0);
  items[151] = { ...items[151]!, signature: s151 };
  items[299] = { ...items[299]!, signature: flip(items[299]!.signature, 20) };
  for (const backend of ['webcrypto', 'sodium', 'noble'] as const) {
    const r = await verifyBatch(items, { backend, inFlight: 64 });
    assert.equal(r.ok, false);
    assert.deepEqual(r.failed, [...bad.keys()]);
    for (const [i, why] of bad) assert.equal(r.reasons[i], why, `${backend} item ${i}`);
  }
  const good = await verifyBatch(items.filter((_, i) => !bad.has(i)));
  assert.deepEqual([good.ok, good.failed], [true, []]);
  assert.deepEqual(await verifyBatch([]), { ok: true, reasons: [], failed: [] });
  await assert.rejects(verifyBatch([items[0]!, { ...items[1]!, signature: new Uint8Array(10) }]), { name: 'RangeError', message: /items\[1\]\.signature must be 64 bytes/ });
  await assert.rejects(verifyBatch([items[0]!], { inFlight: 0 }), { name: 'RangeError', message: /inFlight/ });
});

test('node key store: PKCS#8 PEM with mode 0600 in a 0700 folder, reloads the same id, refuses an open file', async () => {
  const dir = await mkdtemp(path.join(tmpdir(), 'meshwork-keys-'));
  try {
    const file = path.join(dir, 'node', 'id.pem');
    const a = await loadOrCreateIdentity(file);
    assert.equal(a.created, true);
    assert.equal((await stat(file)).mode & 0o777, 0o600);
    assert.equal((await stat(path.dirname(file))).mode & 0o777, 0o700);
    assert.match(await readFile(file, 'utf8'), /^-----BEGIN PRIVATE KEY-----\n/);
    assert.equal(a.identity.privateKey?.extractable, false);
    const b = await loadOrCreateIdentity(file);
    assert.deepEqual([b.created, b.identity.id], [false, a.identity.id]);
    // node:crypto reads the same file as the same key.
    const { createPrivateKey, createPublicKey } = await import('node:crypto');
    const spki = createPublicKey(createPrivateKey(await readFile(file, 'utf8'))).export({ format: 'der', type: 'spki' });
    assert.equal(toHex(new Uint8Array(spki).subarray(12)), a.identity.id);
    const msg = new Uint8Array([1, 2, 3]);
    assert.ok(await verify(a.identity.publicKey, msg, await b.identity.sign(msg)));
    // Two creators racing on one path end with one key.
    const race = path.join(dir, 'race.pem');
    const [x, y] = await Promise.all([loadOrCreateIdentity(race), loadOrCreateIdentity(race)]);
    assert.equal(x.identity.id, y.identity.id);
    assert.equal([x.created, y.created].filter(Boolean).length, 1);
    await chmod(file, 0o644);
    await assert.rejects(loadOrCreateIdentity(file), /readable by group or others \(mode 644\)/);
    const h = await loadOrCreateHybridIdentity(path.join(dir, 'hybrid.pem'));
    const h2 = await loadOrCreateHybridIdentity(path.join(dir, 'hybrid.pem'));
    assert.equal((await stat(path.join(dir, 'hybrid.pem.mldsa65'))).mode & 0o777, 0o600);
    assert.equal(toHex(h2.identity.mlDsaPublicKey), toHex(h.identity.mlDsaPublicKey));
    assert.ok(await verifyHybrid(h.identity, msg, await h2.identity.sign(msg)));
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
