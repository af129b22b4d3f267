// TPM attestation against a real software TPM (swtpm on 127.0.0.1, started here and stopped by PID):
// quotes binding a node's Ed25519 key verify in TypeScript and with tpm2_checkquote; a wrong nonce, another
// node's key, a changed PCR and tampered bytes are rejected; malformed input throws typed errors.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSwtpm, swtpmAvailable, type Swtpm } from '../host-node/swtpm.js';
import {
  parseAkPublic, parseQuoteAttest, qualifyingData, runTpmTool, tpmCapability, TpmAttestor, TpmToolError, verifyQuote,
  type AttestationKey, type QuoteExpectations, type TpmQuote,
} from '../host-node/tpm.js';

const avail = swtpmAvailable();

/** A fresh Ed25519 key's raw 32-byte public key (a node id). */
function nodeKey(): Uint8Array {
  const jwk = generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' });
  return new Uint8Array(Buffer.from(jwk.x!, 'base64url'));
}

test('tpmCapability: no TCTI and no device is "absent" with a reason, not an error', () => {
  const none = tpmCapability({ PATH: process.env.PATH }, '/nonexistent/tpmrm0');
  assert.equal(none.present, false);
  assert.match(none.reason!, /TPM2TOOLS_TCTI is not set and \/nonexistent\/tpmrm0 does not exist/);
  const noTools = tpmCapability({ PATH: '', TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=1' }, '/nonexistent/tpmrm0');
  assert.equal(noTools.present, false);
  assert.equal(noTools.tcti, 'swtpm:host=127.0.0.1,port=1');
  assert.match(noTools.reason!, /tpm2-tools are not on PATH/);
  if (avail.ok) assert.deepEqual(tpmCapability({ PATH: process.env.PATH, TPM2TOOLS_TCTI: 'swtpm:host=127.0.0.1,port=1' }, '/nonexistent/tpmrm0'), { present: true, tcti: 'swtpm:host=127.0.0.1,port=1' });
});

test('swtpm and tpm2-tools are installed (required when CI is set)', { skip: !avail.ok && !process.env.CI ? `swtpm not available: ${avail.reason}` : false }, () => {
  assert.ok(avail.ok, avail.reason);
});

describe('TPM quotes on swtpm', { skip: !avail.ok && !process.env.CI ? `swtpm not available: ${avail.reason}` : false }, () => {
  let tpm: Swtpm | undefined;
  let attestor: TpmAttestor;
  let ak: AttestationKey;
  const tpmState = mkdtempSync(path.join(tmpdir(), 'meshwork-swtpm-test-'));
  const akState = mkdtempSync(path.join(tmpdir(), 'meshwork-ak-test-'));
  const work = mkdtempSync(path.join(tmpdir(), 'meshwork-tpm-test-'));
  const node = nodeKey(), other = nodeKey();
  const PCRS = [0, 1, 16, 23];

  before(async () => {
    if (!avail.ok) throw new Error(`swtpm is required in CI: ${avail.reason}`);
    tpm = await startSwtpm({ stateDir: tpmState });
    attestor = await TpmAttestor.open({ stateDir: akState, tcti: tpm.tcti });
    ak = await attestor.attestationKey();
  });
  after(async () => {
    await tpm?.stop();
    for (const d of [tpmState, akState, work]) rmSync(d, { recursive: true, force: true });
  });

  const expect = (q: TpmQuote, over: Partial<QuoteExpectations> & { nonce: Uint8Array }): QuoteExpectations =>
    ({ akPublicPem: ak.publicKeyPem, nodePublicKey: node, pcrPolicy: q.pcrs, ...over });

  /** tpm2_checkquote on a quote (files written from the JSON), with an expected nonce-derived qualification and PCR values. */
  async function checkquote(q: TpmQuote, qd: Uint8Array, pcrs: Record<number, string>): Promise<boolean> {
    const dir = mkdtempSync(path.join(work, 'cq-'));
    writeFileSync(path.join(dir, 'ak.pem'), ak.publicKeyPem);
    writeFileSync(path.join(dir, 'quote.msg'), Buffer.from(q.attest, 'hex'));
    writeFileSync(path.join(dir, 'quote.sig'), Buffer.from(q.signature, 'hex'));
    const idx = Object.keys(pcrs).map(Number).sort((a, b) => a - b);
    writeFileSync(path.join(dir, 'quote.pcrs'), Buffer.concat(idx.map((i) => Buffer.from(pcrs[i]!, 'hex'))));
    try {
      await runTpmTool('tpm2_checkquote', ['-u', 'ak.pem', '-m', 'quote.msg', '-s', 'quote.sig', '-f', 'quote.pcrs', '-F', 'values',
        '-l', `sha256:${idx.join(',')}`, '-g', 'sha256', '-q', Buffer.from(qd).toString('hex')], { tcti: tpm!.tcti, cwd: dir });
      return true;
    } catch (e) {
      if (e instanceof TpmToolError) return false;
      throw e;
    }
  }

  test('the AK is a restricted P-256 signing key; its PEM and name agree with tpm2_readpublic', async () => {
    const parsed = parseAkPublic(new Uint8Array(Buffer.from(ak.publicArea, 'hex')));
    assert.equal(parsed.publicKeyPem, ak.publicKeyPem);
    assert.equal(Buffer.from(parsed.name).toString('hex'), ak.name);
    const dir = mkdtempSync(path.join(work, 'rp-'));
    try {
      await runTpmTool('tpm2_readpublic', ['-c', path.join(akState, 'ak.ctx'), '-f', 'pem', '-o', 'ak.pem', '-n', 'ak.name'], { tcti: tpm!.tcti, cwd: dir });
    } finally {
      await runTpmTool('tpm2_flushcontext', ['-t'], { tcti: tpm!.tcti });
    }
    const der = (pem: string) => createPublicKey(pem).export({ type: 'spki', format: 'der' });
    assert.deepEqual(der(readFileSync(path.join(dir, 'ak.pem'), 'utf8')), der(ak.publicKeyPem));
    assert.equal(readFileSync(path.join(dir, 'ak.name')).toString('hex'), ak.name);
  });

  test('a quote binding the node key verifies (TypeScript verifier and tpm2_checkquote), also after a JSON round trip', async () => {
    const nonce = randomBytes(32);
    const q = await attestor.quote({ nodePublicKey: node, nonce, pcrs: [23, 0, 16, 1, 16] });
    assert.deepEqual(Object.keys(q.pcrs).map(Number), PCRS);
    const v = verifyQuote(q, expect(q, { nonce }));
    assert.equal(v.ok, true, v.reason);
    assert.deepEqual(v.attest!.pcrSelect, [{ hashAlg: 0x000b, pcrs: PCRS }]);
    assert.deepEqual(v.attest!.extraData, qualifyingData(node, nonce));
    const json = JSON.parse(JSON.stringify(q)) as TpmQuote;
    assert.equal(verifyQuote(json, expect(json, { nonce, akPublicPem: createPublicKey(ak.publicKeyPem) })).ok, true);
    assert.equal(await checkquote(q, qualifyingData(node, nonce), q.pcrs), true);
  });

  test('a wrong nonce and another node\'s key are rejected (and tpm2_checkquote agrees)', async () => {
    const nonce = randomBytes(32);
    const q = await attestor.quote({ nodePublicKey: node, nonce, pcrs: PCRS });
    const wrongNonce = verifyQuote(q, expect(q, { nonce: randomBytes(32) }));
    assert.equal(wrongNonce.ok, false);
    assert.match(wrongNonce.reason!, /qualifying data/);
    const otherNode = verifyQuote(q, expect(q, { nonce, nodePublicKey: other }));
    assert.equal(otherNode.ok, false);
    assert.match(otherNode.reason!, /another node's key/);
    // a quote made for the other node does not pass for this one either
    const q2 = await attestor.quote({ nodePublicKey: other, nonce, pcrs: PCRS });
    assert.equal(verifyQuote(q2, expect(q2, { nonce })).ok, false);
    assert.equal(verifyQuote(q2, expect(q2, { nonce, nodePublicKey: other })).ok, true);
    assert.equal(await checkquote(q, qualifyingData(node, randomBytes(32)), q.pcrs), false);
    assert.equal(await checkquote(q, qualifyingData(other, nonce), q.pcrs), false);
  });

  test('a changed PCR is rejected: policy recorded, PCR 16 extended, quoted again', async () => {
    const nonce = randomBytes(32);
    const before16 = await attestor.quote({ nodePublicKey: node, nonce, pcrs: PCRS });
    const policy = { ...before16.pcrs };
    assert.equal(verifyQuote(before16, expect(before16, { nonce, pcrPolicy: policy })).ok, true);
    await runTpmTool('tpm2_pcrextend', [`16:sha256=${randomBytes(32).toString('hex')}`], { tcti: tpm!.tcti });
    const nonce2 = randomBytes(32);
    const after16 = await attestor.quote({ nodePublicKey: node, nonce: nonce2, pcrs: PCRS });
    assert.notEqual(after16.pcrs[16], policy[16]);
    assert.equal(after16.pcrs[0], policy[0]);
    const v = verifyQuote(after16, expect(after16, { nonce: nonce2, pcrPolicy: policy }));
    assert.equal(v.ok, false);
    assert.match(v.reason!, /PCR digest.*PCR 16 differs/);
    // without the reported values the verifier still rejects, it just cannot say which PCR
    const bare = { attest: after16.attest, signature: after16.signature } as TpmQuote;
    assert.match(verifyQuote(bare, expect(after16, { nonce: nonce2, pcrPolicy: policy })).reason!, /^PCR digest: pcrDigest does not match the policy's PCR values$/);
    // the new values are a policy the new quote meets; tpm2_checkquote agrees on both
    assert.equal(verifyQuote(after16, expect(after16, { nonce: nonce2 })).ok, true);
    assert.equal(await checkquote(after16, qualifyingData(node, nonce2), after16.pcrs), true);
    assert.equal(await checkquote(after16, qualifyingData(node, nonce2), policy), false);
  });

  test('a policy over other PCRs than the quote selects is rejected', async () => {
    const nonce = randomBytes(32);
    const q = await attestor.quote({ nodePublicKey: node, nonce, pcrs: [0, 1] });
    const more = verifyQuote(q, expect(q, { nonce, pcrPolicy: { ...q.pcrs, 2: '00'.repeat(32) } }));
    assert.match(more.reason!, /PCR selection: the quote selects 0x000b:\{0,1\}, the policy wants sha256:\{0,1,2\}/);
    assert.equal(verifyQuote(q, expect(q, { nonce, pcrPolicy: { 0: q.pcrs[0]! } })).ok, false);
  });

  test('tampered attest bytes or signature are rejected', async () => {
    const nonce = randomBytes(32);
    const q = await attestor.quote({ nodePublicKey: node, nonce, pcrs: PCRS });
    const flip = (hex: string, at: number) => { const b = Buffer.from(hex, 'hex'); b[at]! ^= 1; return b.toString('hex'); };
    const extraAt = 4 + 2 + 2 + 34 + 2; // magic, type, qualifiedSigner (size + 34), extraData.size
    const clockAt = extraAt + 32 + 7; // last byte of clockInfo.clock
    for (const at of [extraAt, clockAt, Buffer.from(q.attest, 'hex').length - 1]) {
      const v = verifyQuote({ ...q, attest: flip(q.attest, at) }, expect(q, { nonce }));
      assert.deepEqual([v.ok, v.reason], [false, 'signature: does not verify under the attestation key'], `byte ${at}`);
    }
    const sigLen = Buffer.from(q.signature, 'hex').length;
    assert.equal(verifyQuote({ ...q, signature: flip(q.signature, sigLen - 1) }, expect(q, { nonce })).reason, 'signature: does not verify under the attestation key');
    assert.match(verifyQuote({ ...q, signature: flip(q.signature, 1) }, expect(q, { nonce })).reason!, /sigAlg 0x0019 is not TPM_ALG_ECDSA/);
    assert.match(verifyQuote({ ...q, signature: q.signature + '00' }, expect(q, { nonce })).reason!, /trailing bytes/);
    assert.match(verifyQuote({ ...q, signature: q.signature.slice(0, 20) }, expect(q, { nonce })).reason!, /truncated/);
    // an AK that is not the one that signed
    const otherAk = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.equal(verifyQuote(q, expect(q, { nonce, akPublicPem: otherAk })).reason, 'signature: does not verify under the attestation key');
    assert.equal(await checkquote({ ...q, attest: flip(q.attest, clockAt) }, qualifyingData(node, nonce), q.pcrs), false);
  });

  test('parseQuoteAttest is strict: magic, type, sizes, safe flag, trailing bytes', async () => {
    const q = await attestor.quote({ nodePublicKey: node, nonce: randomBytes(16), pcrs: [0] });
    const good = new Uint8Array(Buffer.from(q.attest, 'hex'));
    const a = parseQuoteAttest(good);
    assert.equal(a.magic, 0xff544347);
    assert.equal(a.type, 0x8018);
    assert.equal(a.qualifiedSigner.length, 34);
    const edit = (at: number, v: number) => { const b = good.slice(); b[at] = v; return b; };
    assert.throws(() => parseQuoteAttest(edit(0, 0xfe)), { name: 'RangeError', message: /magic/ });
    assert.throws(() => parseQuoteAttest(edit(5, 0x17)), { name: 'RangeError', message: /type 0x8017 is not TPM_ST_ATTEST_QUOTE/ });
    assert.throws(() => parseQuoteAttest(edit(6, 0xff)), { name: 'RangeError', message: /qualifiedSigner.size/ });
    assert.throws(() => parseQuoteAttest(edit(4 + 2 + 36 + 2 + 32 + 16, 2)), { name: 'RangeError', message: /clockInfo.safe/ });
    assert.throws(() => parseQuoteAttest(Uint8Array.from([...good, 0])), { name: 'RangeError', message: /1 trailing bytes/ });
    assert.throws(() => parseQuoteAttest(good.subarray(0, good.length - 1)), { name: 'RangeError', message: /truncated at quote.pcrDigest/ });
    // a structurally bad attest under a valid-looking signature is a verdict, not a throw
    assert.equal(verifyQuote({ ...q, attest: Buffer.from(edit(0, 0xfe)).toString('hex') }, expect(q, { nonce: randomBytes(16) })).ok, false);
  });

  test('malformed input throws TypeError / RangeError naming the field', async () => {
    const nonce = randomBytes(32);
    const q = await attestor.quote({ nodePublicKey: node, nonce, pcrs: [0] });
    const e = expect(q, { nonce });
    assert.throws(() => verifyQuote(null as unknown as TpmQuote, e), { name: 'TypeError', message: /quote must be an object/ });
    assert.throws(() => verifyQuote({ ...q, attest: 5 as unknown as string }, e), { name: 'TypeError', message: /quote\.attest/ });
    assert.throws(() => verifyQuote({ ...q, attest: 'abc' }, e), { name: 'RangeError', message: /quote\.attest/ });
    assert.throws(() => verifyQuote({ ...q, signature: 'zz' }, e), { name: 'RangeError', message: /quote\.signature/ });
    assert.throws(() => verifyQuote(q, { ...e, nodePublicKey: node.subarray(1) }), { name: 'RangeError', message: /nodePublicKey must be 32 bytes, got 31/ });
    assert.throws(() => verifyQuote(q, { ...e, nodePublicKey: Array.from(node) as unknown as Uint8Array }), { name: 'TypeError', message: /nodePublicKey must be a Uint8Array, got Array/ });
    assert.throws(() => verifyQuote(q, { ...e, nonce: 'n' as unknown as Uint8Array }), { name: 'TypeError', message: /nonce/ });
    assert.throws(() => verifyQuote(q, { ...e, nonce: new Uint8Array(8) }), { name: 'RangeError', message: /nonce must be 16 to 1024 bytes/ });
    assert.throws(() => verifyQuote(q, { ...e, pcrPolicy: [] as unknown as Record<number, string> }), { name: 'TypeError', message: /pcrPolicy/ });
    assert.throws(() => verifyQuote(q, { ...e, pcrPolicy: {} }), { name: 'RangeError', message: /pcrPolicy must name at least one PCR/ });
    assert.throws(() => verifyQuote(q, { ...e, pcrPolicy: { 24: '00'.repeat(32) } }), { name: 'RangeError', message: /pcrPolicy key "24"/ });
    assert.throws(() => verifyQuote(q, { ...e, pcrPolicy: { 0: '00'.repeat(20) } }), { name: 'RangeError', message: /pcrPolicy\[0\] must be a SHA-256 digest/ });
    assert.throws(() => verifyQuote(q, { ...e, pcrPolicy: { 0: 7 as unknown as string } }), { name: 'TypeError', message: /pcrPolicy\[0\]/ });
    assert.throws(() => verifyQuote(q, { ...e, akPublicPem: 42 as unknown as string }), { name: 'TypeError', message: /akPublicPem/ });
    assert.throws(() => verifyQuote(q, { ...e, akPublicPem: 'not a key' }), { name: 'RangeError', message: /akPublicPem is not a public key/ });
    const ed = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'pem' }) as string;
    assert.throws(() => verifyQuote(q, { ...e, akPublicPem: ed }), { name: 'RangeError', message: /akPublicPem must be an EC P-256 public key/ });
    assert.throws(() => verifyQuote({ ...q, pcrs: { x: '00' } as unknown as Record<number, string> }, e), { name: 'TypeError', message: /quote\.pcrs key "x"/ });
    await assert.rejects(attestor.quote({ nodePublicKey: node, nonce, pcrs: [] }), { name: 'RangeError', message: /at least one PCR/ });
    await assert.rejects(attestor.quote({ nodePublicKey: node, nonce, pcrs: [1.5] }), { name: 'RangeError', message: /pcrs\[0\]/ });
    await assert.rejects(attestor.quote({ nodePublicKey: node, nonce, pcrs: [24] }), { name: 'RangeError', message: /pcrs\[0\]/ });
    await assert.rejects(attestor.quote({ nodePublicKey: 'k' as unknown as Uint8Array, nonce, pcrs: [0] }), { name: 'TypeError', message: /nodePublicKey/ });
    await assert.rejects(attestor.quote(undefined as unknown as { nodePublicKey: Uint8Array; nonce: Uint8Array; pcrs: number[] }), { name: 'TypeError', message: /request/ });
  });

  test('concurrent quotes on one attestor are serialised and all verify', async () => {
    const nonces = Array.from({ length: 4 }, () => randomBytes(32));
    const qs = await Promise.all(nonces.map((nonce) => attestor.quote({ nodePublicKey: node, nonce, pcrs: [0, 16] })));
    qs.forEach((q, i) => assert.equal(verifyQuote(q, expect(q, { nonce: nonces[i]! })).ok, true));
  });

  test('the AK survives a TPM restart: the open attestor reloads it, a new one loads it from the state directory', async () => {
    const before = await attestor.quote({ nodePublicKey: node, nonce: randomBytes(32), pcrs: [0] });
    const ctx = path.join(akState, 'ak.ctx');
    const inode = statSync(ctx).ino;
    await tpm!.stop();
    tpm = await startSwtpm({ stateDir: tpmState, port: tpm!.port }); // same TCTI for the open attestor
    // its saved AK context died with the TPM Reset: the attestor reloads the AK under the re-derived EK
    const nonce = randomBytes(32);
    const q1 = await attestor.quote({ nodePublicKey: node, nonce, pcrs: [0, 16] });
    assert.notEqual(statSync(ctx).ino, inode, 'ak.ctx was not reloaded');
    const v1 = verifyQuote(q1, expect(q1, { nonce }));
    assert.equal(v1.ok, true, v1.reason);
    assert.ok(v1.attest!.resetCount > parseQuoteAttest(new Uint8Array(Buffer.from(before.attest, 'hex'))).resetCount); // a TPM Reset happened
    assert.equal(q1.pcrs[16], '00'.repeat(32)); // and cleared PCR 16
    const again = await TpmAttestor.open({ stateDir: akState, tcti: tpm.tcti });
    const k = await again.attestationKey();
    assert.deepEqual([k.created, k.name, k.publicKeyPem], [false, ak.name, ak.publicKeyPem]);
    const q2 = await again.quote({ nodePublicKey: node, nonce, pcrs: [0, 16] });
    assert.equal(verifyQuote(q2, expect(q2, { nonce })).ok, true);
  });
});
