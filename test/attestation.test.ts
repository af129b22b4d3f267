// TPM attestation at join: the coordinator's nonces and verifier (host-node/coordinator/attestation.ts) and
// the worker's evidence (host-node/attest-join.ts), against a real software TPM (swtpm on 127.0.0.1, started
// here and stopped by PID, as in tpm.test.ts); the last suite runs workers against a real coordinator.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer } from 'ws';
import { createHash, generateKeyPairSync, sign as cryptoSign } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fromHex, utf8 } from '../proofs/bytes.js';
import { generateIdentity, type Identity } from '../proofs/ed25519.js';
import { parseEnvelope, sealEnvelope, taskId } from '../proofs/envelope.js';
import { parseTaskSpec, type JoinRequest } from '../runtime/fl/protocol.js';
import { AttestationError, JoinAttestation, type JoinAttestationOptions } from '../host-node/coordinator/attestation.js';
import { buildJoinAttestation, DEFAULT_ATTEST_PCRS, openJoinAttester, parsePcrList, retryTpm, tpmStateDirFor, withTpmLock, type JoinEvidence } from '../host-node/attest-join.js';
import { startSwtpm, swtpmAvailable, type Swtpm } from '../host-node/swtpm.js';
import { runWorker, type WorkerEvent } from '../host-node/worker.js';
import { qualifyingData, TpmAttestor, TpmToolError, type AttestationKey } from '../host-node/tpm.js';
import { CLI, freePort, getJson, postBytes } from './coordinator-helpers.js';

const avail = swtpmAvailable();
const noSwtpm = !avail.ok && !process.env.CI ? `swtpm not available: ${avail.reason}` : false;
const NO_TPM_ENV = { PATH: process.env.PATH };
const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');

/** Runs `fn` and returns the AttestationError it throws (fails when it does not throw one). */
async function refused(fn: () => Promise<unknown>): Promise<AttestationError> {
  try {
    await fn();
  } catch (e) {
    if (e instanceof AttestationError) return e;
    throw e;
  }
  assert.fail('expected an AttestationError');
}

const join = (attestation?: unknown): JoinRequest => ({ op: 'join', host: 'node', role: 'participant', ...(attestation !== undefined ? { attestation } : {}) }) as JoinRequest;

/**
 * Evidence made without a TPM: a software P-256 key posing as an AK (a TPMT_PUBLIC with the AK attributes) and
 * a TPMS_ATTEST quote of PCR 0 it signs itself. Structurally it is a valid quote.
 */
function forgedEvidence(sender: Uint8Array, nonceHex: string): JoinEvidence {
  const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = publicKey.export({ format: 'jwk' });
  const u16 = (v: number) => [v >> 8, v & 0xff];
  const u32 = (v: number) => [v >>> 24, (v >> 16) & 0xff, (v >> 8) & 0xff, v & 0xff];
  const b2 = (b: Uint8Array) => [...u16(b.length), ...b];
  const x = Buffer.from(jwk.x!, 'base64url'), y = Buffer.from(jwk.y!, 'base64url');
  const attrs = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 18); // fixedTPM fixedParent sensitiveDataOrigin restricted sign
  const tpub = Uint8Array.from([...u16(0x0023), ...u16(0x000b), ...u32(attrs), ...u16(0), ...u16(0x0010), ...u16(0x0018), ...u16(0x000b), ...u16(0x0003), ...u16(0x0010), ...b2(x), ...b2(y)]);
  const pcr0 = new Uint8Array(32);
  const attest = Uint8Array.from([
    ...u32(0xff544347), ...u16(0x8018), ...b2(new Uint8Array(34)), ...b2(qualifyingData(sender, fromHex(nonceHex))),
    ...new Array(8).fill(0), ...u32(1), ...u32(0), 1, ...new Array(8).fill(0),
    ...u32(1), ...u16(0x000b), 3, 1, 0, 0, ...b2(createHash('sha256').update(pcr0).digest()),
  ]);
  const rs = cryptoSign('sha256', attest, { key: privateKey, dsaEncoding: 'ieee-p1363' });
  const sig = Uint8Array.from([...u16(0x0018), ...u16(0x000b), ...b2(rs.subarray(0, 32)), ...b2(rs.subarray(32))]);
  return { type: 'tpm2-quote', nonce: nonceHex, akPublic: hex(tpub), quote: { attest: hex(attest), signature: hex(sig), pcrBank: 'sha256', pcrs: { 0: hex(pcr0) } } };
}

describe('JoinAttestation: nonces and evidence checks (no TPM needed)', () => {
  let id: Identity;
  before(async () => { id = await generateIdentity(); });

  test('a nonce is 32 random bytes (hex), valid for the TTL', () => {
    let now = 1_000_000;
    const ja = new JoinAttestation({ now: () => now, nonceTtlMs: 60_000 });
    const a = ja.issueNonce(), b = ja.issueNonce();
    assert.match(a.nonce, /^[0-9a-f]{64}$/);
    assert.notEqual(a.nonce, b.nonce);
    assert.equal(a.expiresAt, 1_060_000);
    assert.equal(ja.outstanding, 2);
    now += 60_001;
    ja.issueNonce(); // drops the two expired ones
    assert.equal(ja.outstanding, 1);
  });

  test('a nonce is used up by the first join that presents it, whatever the verdict; the second gets 409', async () => {
    const ja = new JoinAttestation();
    const { nonce } = ja.issueNonce();
    const first = await refused(() => ja.verify(join({ ...forgedEvidence(id.publicKey, nonce), akPublic: '00' }), id.publicKey));
    assert.deepEqual([first.code, first.status, first.field], ['attestation', 403, 'attestation.akPublic']);
    assert.equal(ja.outstanding, 0);
    const again = await refused(() => ja.verify(join(forgedEvidence(id.publicKey, nonce)), id.publicKey));
    assert.deepEqual([again.code, again.status, again.field], ['attestation', 409, 'attestation.nonce']);
    assert.match(again.message, /already used.*GET \/api\/attest-nonce/);
  });

  test('an expired nonce and one never issued are refused with 409 naming attestation.nonce', async () => {
    let now = 0;
    const ja = new JoinAttestation({ now: () => now, nonceTtlMs: 1000 });
    const { nonce } = ja.issueNonce();
    now = 1000;
    const expired = await refused(() => ja.verify(join(forgedEvidence(id.publicKey, nonce)), id.publicKey));
    assert.deepEqual([expired.status, expired.field], [409, 'attestation.nonce']);
    assert.match(expired.message, /expired/);
    const unknown = await refused(() => ja.verify(join(forgedEvidence(id.publicKey, 'ab'.repeat(32))), id.publicKey));
    assert.deepEqual([unknown.status, unknown.field], [409, 'attestation.nonce']);
    assert.match(unknown.message, /not issued by this coordinator/);
  });

  test('at maxNonces, issuing drops the oldest nonce', async () => {
    const ja = new JoinAttestation({ maxNonces: 2 });
    const first = ja.issueNonce();
    ja.issueNonce();
    const third = ja.issueNonce();
    assert.equal(ja.outstanding, 2);
    assert.equal((await refused(() => ja.verify(join(forgedEvidence(id.publicKey, first.nonce)), id.publicKey))).status, 409);
    assert.equal((await ja.verify(join(forgedEvidence(id.publicKey, third.nonce)), id.publicKey)).attested, true);
  });

  test('a join without evidence is accepted unattested, or refused 403 when attestation is required', async () => {
    assert.deepEqual(await new JoinAttestation().verify(join(), id.publicKey), { attested: false });
    const e = await refused(() => new JoinAttestation({ required: true }).verify(join(), id.publicKey));
    assert.deepEqual([e.code, e.status, e.field], ['attestation', 403, 'attestation']);
  });

  test('malformed evidence is refused with 400 naming the field', async () => {
    const ja = new JoinAttestation();
    const ok = (n = ja.issueNonce().nonce) => forgedEvidence(id.publicKey, n);
    const cases: [string, () => unknown, string][] = [
      ['not an object', () => 'quote', 'attestation'],
      ['wrong type', () => ({ ...ok(), type: 'sgx' }), 'attestation.type'],
      ['nonce not hex', () => ({ ...ok(), nonce: 'zz'.repeat(32) }), 'attestation.nonce'],
      ['nonce too short', () => ({ ...ok(), nonce: 'ab'.repeat(16) }), 'attestation.nonce'],
      ['akPublic not a string', () => ({ ...ok(), akPublic: 5 }), 'attestation.akPublic'],
      ['quote missing', () => ({ ...ok(), quote: undefined }), 'attestation.quote'],
      ['attest not hex', () => { const e = ok(); return { ...e, quote: { ...e.quote, attest: 'xyz' } }; }, 'attestation.quote.attest'],
      ['signature not a string', () => { const e = ok(); return { ...e, quote: { ...e.quote, signature: null } }; }, 'attestation.quote.signature'],
      ['another bank', () => { const e = ok(); return { ...e, quote: { ...e.quote, pcrBank: 'sha1' } }; }, 'attestation.quote.pcrBank'],
      ['PCR index 24', () => { const e = ok(); return { ...e, quote: { ...e.quote, pcrs: { 24: '00'.repeat(32) } } }; }, 'attestation.quote.pcrs'],
      ['PCR value not 32 bytes', () => { const e = ok(); return { ...e, quote: { ...e.quote, pcrs: { 0: '00'.repeat(20) } } }; }, 'attestation.quote.pcrs.0'],
      ['no PCR values and no policy', () => { const e = ok(); return { ...e, quote: { ...e.quote, pcrs: {} } }; }, 'attestation.quote.pcrs'],
    ];
    for (const [what, make, field] of cases) {
      const e = await refused(() => ja.verify(join(make()), id.publicKey));
      assert.deepEqual([e.code, e.status, e.field], ['attestation', 400, field], `${what}: ${e.message}`);
    }
  });

  test('without pinned AKs, a software key that claims the AK attributes passes; trustedAks refuses it', async () => {
    // This is what "attested" means without AK enrollment: a well-formed quote under the key the joiner
    // presents (docs/tpm.md). Pinning the AK names closes it.
    const open = new JoinAttestation();
    const forged = forgedEvidence(id.publicKey, open.issueNonce().nonce);
    const v = await open.verify(join(forged), id.publicKey);
    assert.equal(v.attested, true);
    assert.deepEqual(v.pcrs, [0]);
    const pinned = new JoinAttestation({ trustedAks: ['000b' + '11'.repeat(32)] });
    const e = await refused(() => pinned.verify(join(forgedEvidence(id.publicKey, pinned.issueNonce().nonce)), id.publicKey));
    assert.deepEqual([e.status, e.field], [403, 'attestation.akPublic']);
    assert.match(e.message, /not one this coordinator trusts/);
  });

  test('options are checked', () => {
    const bad: [unknown, RegExp][] = [
      [{ nonceTtlMs: 10 }, /nonceTtlMs/], [{ maxNonces: 0 }, /maxNonces/], [{ required: 'yes' }, /required/],
      [{ pcrPolicy: { 24: '00'.repeat(32) } }, /pcrPolicy key "24"/], [{ pcrPolicy: { 0: 'ab' } }, /pcrPolicy\[0\]/], [{ pcrPolicy: {} }, /at least one PCR/],
      [{ trustedAks: ['abcd'] }, /trustedAks\[0\]/], [{ trustedAks: 'x' }, /trustedAks must be an array/], [{ nonce: 1 }, /nonce is not an option/], [{ now: 5 }, /now must be a function/],
    ];
    for (const [opts, re] of bad) assert.throws(() => new JoinAttestation(opts as JoinAttestationOptions), re);
  });

  test('worker side without a TPM: auto skips with the reason, --tpm is an error, --no-tpm never looks', async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'meshwork-attest-none-'));
    try {
      const env = { ...NO_TPM_ENV };
      // tpmCapability also looks for /dev/tpmrm0; on a host that has one, 'auto' would find it.
      const auto = await openJoinAttester('auto', dir, env);
      if (!auto.ok) {
        assert.match(auto.reason, /no TPM|tpm2-tools/);
        await assert.rejects(openJoinAttester(true, dir, env), /--tpm: /);
      }
      assert.deepEqual(await openJoinAttester(false, dir, env), { ok: false, reason: 'TPM attestation turned off (--no-tpm)' });
      assert.equal(tpmStateDirFor('/k/node1.pem'), '/k/node1.tpm');
      assert.equal(tpmStateDirFor('.meshwork/worker-key.pem'), path.join('.meshwork', 'worker-key.tpm'));
      assert.deepEqual(parsePcrList('0-3,7, 16'), [0, 1, 2, 3, 7, 16]);
      assert.throws(() => parsePcrList('0-24'), /within 0..23/);
      assert.throws(() => parsePcrList('3-1'), /'3-1'/);
      assert.deepEqual(DEFAULT_ATTEST_PCRS, [0, 1, 2, 3, 4, 5, 6, 7]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('worker side: the host TPM lock and retries (no TPM needed)', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'meshwork-tpm-lock-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  test('withTpmLock: holders of one TCTI take turns, another TCTI does not wait; the lock file is removed', async () => {
    const log: string[] = [];
    const held = (name: string, ms: number) => async () => { log.push(`${name}+`); await new Promise((ok) => setTimeout(ok, ms)); log.push(`${name}-`); return name; };
    const out = await Promise.all([
      withTpmLock('swtpm:port=1', held('a', 60), { dir }), withTpmLock('swtpm:port=1', held('b', 10), { dir }),
      withTpmLock('swtpm:port=1', held('c', 10), { dir }), withTpmLock('swtpm:port=2', held('x', 10), { dir }),
    ]);
    assert.deepEqual(out, ['a', 'b', 'c', 'x']);
    const one = log.filter((l) => l[0] !== 'x');
    for (let i = 0; i < one.length; i += 2) assert.equal(one[i]![0], one[i + 1]![0], `overlap: ${log.join(' ')}`);
    assert.ok(log.indexOf('x-') < log.indexOf('a-'), `port 2 waited for port 1: ${log.join(' ')}`);
    assert.deepEqual(readdirSync(dir), []);
    await assert.rejects(withTpmLock('swtpm:port=1', async () => { throw new Error('tool failed'); }, { dir }), /tool failed/);
    assert.deepEqual(readdirSync(dir), []);
  });

  test('withTpmLock: a lock left by a dead process is taken over; one held by a live process times out', async () => {
    const dead = spawn(process.execPath, ['-e', '']);
    const pid = dead.pid!;
    await new Promise((ok) => dead.on('exit', ok));
    const name = (tcti: string) => `meshwork-tpm-${createHash('sha256').update(tcti).digest('hex').slice(0, 16)}.lock`;
    writeFileSync(path.join(dir, name('swtpm:port=3')), `${pid}\n`);
    assert.equal(await withTpmLock('swtpm:port=3', async () => 'taken over', { dir }), 'taken over');
    writeFileSync(path.join(dir, name('swtpm:port=4')), `${process.pid}\n`);
    await assert.rejects(withTpmLock('swtpm:port=4', async () => 'never', { dir, timeoutMs: 150 }), new RegExp(`locked by process ${process.pid}`));
    assert.ok(existsSync(path.join(dir, name('swtpm:port=4'))), 'a live holder\'s lock stays');
    rmSync(path.join(dir, name('swtpm:port=4')));
  });

  test('retryTpm: TPM warnings are retried, other errors are not', async () => {
    let n = 0;
    const warn = new TpmToolError('tpm2_createek', [], 'ERROR: Esys_StartAuthSession(0x903) - tpm:warn(2.0): out of memory for session contexts', 1);
    assert.equal(await retryTpm(async () => { if (++n < 3) throw warn; return n; }), 3);
    n = 0;
    await assert.rejects(retryTpm(async () => { n++; throw warn; }, 2), (e) => e === warn);
    assert.equal(n, 2);
    n = 0;
    const err = new TpmToolError('tpm2_createek', [], 'ERROR: Invalid owner hierarchy authorization', 1);
    await assert.rejects(retryTpm(async () => { n++; throw err; }), (e) => e === err);
    assert.equal(n, 1);
  });
});

test('swtpm and tpm2-tools are installed (required when CI is set)', { skip: noSwtpm }, () => {
  assert.ok(avail.ok, avail.reason);
});

describe('join attestation with quotes from swtpm', { skip: noSwtpm }, () => {
  let tpm: Swtpm | undefined;
  let attestor: TpmAttestor;
  let ak: AttestationKey;
  let node: Identity, other: Identity;
  const akState = mkdtempSync(path.join(tmpdir(), 'meshwork-attest-ak-'));
  const akState2 = mkdtempSync(path.join(tmpdir(), 'meshwork-attest-ak2-'));

  before(async () => {
    if (!avail.ok) throw new Error(`swtpm is required in CI: ${avail.reason}`);
    tpm = await startSwtpm();
    const opened = await openJoinAttester(true, akState, { PATH: process.env.PATH, TPM2TOOLS_TCTI: tpm.tcti });
    assert.ok(opened.ok);
    ({ attestor, ak } = opened);
    assert.equal(ak.created, true);
    node = await generateIdentity();
    other = await generateIdentity();
  });
  after(async () => {
    await tpm?.stop();
    for (const d of [akState, akState2]) rmSync(d, { recursive: true, force: true });
  });

  /** The worker's evidence for `who`, sent as the worker sends it: JSON inside a signed join envelope, parsed back. */
  async function viaEnvelope(who: Identity, evidence: JoinEvidence): Promise<{ req: JoinRequest; sender: Uint8Array }> {
    const bytes = await sealEnvelope({ kind: 'control', task: new Uint8Array(16), round: 0, sequence: 0, payload: utf8(JSON.stringify(join(evidence))) }, who);
    const env = parseEnvelope(bytes, { maxPayload: 40 + 4 * 650 }); // the smallest digits model's limit (sizes [64, 10])
    return { req: JSON.parse(new TextDecoder().decode(env.payload)) as JoinRequest, sender: env.sender };
  }

  test('the worker\'s evidence, through a signed join envelope, verifies: attested, with the AK name and PCRs 0-7', async () => {
    const ja = new JoinAttestation();
    const { nonce } = ja.issueNonce();
    const { evidence, ak: used } = await buildJoinAttestation(attestor, node.publicKey, nonce);
    assert.equal(used.name, ak.name);
    const { req, sender } = await viaEnvelope(node, evidence);
    const v = await ja.verify(req, sender);
    assert.deepEqual(v, { attested: true, ak: ak.name, pcrs: [0, 1, 2, 3, 4, 5, 6, 7] });
    assert.equal(ja.outstanding, 0);
  });

  test('a replayed quote (its nonce used) is refused 409; another node\'s key 403 naming the quote', async () => {
    const ja = new JoinAttestation();
    const { evidence } = await buildJoinAttestation(attestor, node.publicKey, ja.issueNonce().nonce, [0, 7]);
    assert.equal((await ja.verify(join(evidence), node.publicKey)).attested, true);
    const replay = await refused(() => ja.verify(join(evidence), node.publicKey));
    assert.deepEqual([replay.code, replay.status, replay.field], ['attestation', 409, 'attestation.nonce']);
    // node's quote presented by other (under a fresh, outstanding nonce it does not cover)
    const fresh = ja.issueNonce().nonce;
    const q = await buildJoinAttestation(attestor, node.publicKey, fresh, [0, 7]);
    const wrongKey = await refused(() => ja.verify(join(q.evidence), other.publicKey));
    assert.deepEqual([wrongKey.code, wrongKey.status, wrongKey.field], ['attestation', 403, 'attestation.quote.attest']);
    assert.match(wrongKey.message, /another node's key/);
    // a quote over one nonce sent with another (outstanding) nonce
    const n2 = ja.issueNonce().nonce, n3 = ja.issueNonce().nonce;
    const q2 = await buildJoinAttestation(attestor, node.publicKey, n2, [0, 7]);
    const wrongNonce = await refused(() => ja.verify(join({ ...q2.evidence, nonce: n3 }), node.publicKey));
    assert.deepEqual([wrongNonce.status, wrongNonce.field], [403, 'attestation.quote.attest']);
  });

  test('a tampered quote, PCR value or AK public area is refused 403 naming the field', async () => {
    const ja = new JoinAttestation();
    const flip = (h: string, at: number) => { const b = Buffer.from(h, 'hex'); b[at]! ^= 1; return b.toString('hex'); };
    const fresh = async () => (await buildJoinAttestation(attestor, node.publicKey, ja.issueNonce().nonce, [0, 1, 16])).evidence;
    const cases: [string, (e: JoinEvidence) => JoinEvidence, string, RegExp][] = [
      ['attest: clock byte', (e) => ({ ...e, quote: { ...e.quote, attest: flip(e.quote.attest, 4 + 2 + 36 + 34 + 7) } }), 'attestation.quote.signature', /does not verify/],
      ['signature: last byte', (e) => ({ ...e, quote: { ...e.quote, signature: flip(e.quote.signature, Buffer.from(e.quote.signature, 'hex').length - 1) } }), 'attestation.quote.signature', /does not verify/],
      ['a reported PCR value', (e) => ({ ...e, quote: { ...e.quote, pcrs: { ...e.quote.pcrs, 16: 'ff'.repeat(32) } } }), 'attestation.quote.pcrs', /PCR digest/],
      ['a PCR left out of the report', (e) => ({ ...e, quote: { ...e.quote, pcrs: { 0: e.quote.pcrs[0]!, 1: e.quote.pcrs[1]! } } }), 'attestation.quote.pcrs', /PCR selection/],
      ['AK attributes (not restricted)', (e) => ({ ...e, akPublic: flip(e.akPublic, 4 + 1) }), 'attestation.akPublic', /not an attestation key/],
    ];
    for (const [what, tamper, field, re] of cases) {
      const e = await refused(async () => ja.verify(join(tamper(await fresh())), node.publicKey));
      assert.deepEqual([e.code, e.status, e.field], ['attestation', 403, field], `${what}: ${e.message}`);
      assert.match(e.message, re, what);
    }
    // another AK of the same TPM (a second state folder) in place of the one that signed
    const second = await TpmAttestor.open({ stateDir: akState2, tcti: tpm!.tcti });
    const ak2 = await second.attestationKey();
    assert.notEqual(ak2.name, ak.name);
    const e = await refused(async () => ja.verify(join({ ...(await fresh()), akPublic: ak2.publicArea }), node.publicKey));
    assert.deepEqual([e.status, e.field], [403, 'attestation.quote.signature']);
  });

  test('a PCR policy: the recorded values pass; a changed or differently selected PCR is refused', async () => {
    const probe = await buildJoinAttestation(attestor, node.publicKey, 'cd'.repeat(32), [0, 16]);
    const policy = probe.evidence.quote.pcrs;
    const ja = new JoinAttestation({ pcrPolicy: policy });
    const good = await buildJoinAttestation(attestor, node.publicKey, ja.issueNonce().nonce, [0, 16]);
    assert.deepEqual(await ja.verify(join(good.evidence), node.publicKey), { attested: true, ak: ak.name, pcrs: [0, 16] });
    const more = await buildJoinAttestation(attestor, node.publicKey, ja.issueNonce().nonce, [0, 1, 16]);
    const sel = await refused(() => ja.verify(join(more.evidence), node.publicKey));
    assert.deepEqual([sel.status, sel.field], [403, 'attestation.quote.pcrs']);
    const changed = new JoinAttestation({ pcrPolicy: { ...policy, 16: '11'.repeat(32) } });
    const q = await buildJoinAttestation(attestor, node.publicKey, changed.issueNonce().nonce, [0, 16]);
    const e = await refused(() => changed.verify(join(q.evidence), node.publicKey));
    assert.deepEqual([e.status, e.field], [403, 'attestation.quote.pcrs']);
    assert.match(e.message, /PCR 16 differs from the policy/);
  });

  test('trustedAks: the pinned AK is admitted, another AK is refused', async () => {
    const pinned = new JoinAttestation({ trustedAks: [ak.name.toUpperCase()] });
    const q = await buildJoinAttestation(attestor, node.publicKey, pinned.issueNonce().nonce, [0]);
    assert.equal((await pinned.verify(join(q.evidence), node.publicKey)).ak, ak.name);
    const second = await TpmAttestor.open({ stateDir: akState2, tcti: tpm!.tcti });
    const q2 = await buildJoinAttestation(second, node.publicKey, pinned.issueNonce().nonce, [0]);
    const e = await refused(() => pinned.verify(join(q2.evidence), node.publicKey));
    assert.deepEqual([e.status, e.field], [403, 'attestation.akPublic']);
  });

  test('four attesters opened and quoting at once on one swtpm all succeed (they take turns on the host lock)', async () => {
    // Without the lock, tools of several clients interleave on a TPM without a resource manager and fail
    // ("out of memory for session contexts"); this is what several workers starting together do.
    const env = { PATH: process.env.PATH, TPM2TOOLS_TCTI: tpm!.tcti };
    const dirs = Array.from({ length: 4 }, (_, i) => mkdtempSync(path.join(tmpdir(), `meshwork-attest-many${i}-`)));
    try {
      const ja = new JoinAttestation();
      const results = await Promise.all(dirs.map(async (d) => {
        const a = await openJoinAttester(true, d, env);
        assert.ok(a.ok);
        const { evidence } = await withTpmLock(a.tcti, () => retryTpm(() => buildJoinAttestation(a.attestor, node.publicKey, ja.issueNonce().nonce, [0])));
        return ja.verify(join(evidence), node.publicKey);
      }));
      assert.equal(new Set(results.map((r) => r.attested && r.ak)).size, 4); // four AKs, all verified
    } finally {
      for (const d of dirs) rmSync(d, { recursive: true, force: true });
    }
  });

  test('a reopened attester loads the same AK from its state folder', async () => {
    const again = await openJoinAttester('auto', akState, { PATH: process.env.PATH, TPM2TOOLS_TCTI: tpm!.tcti });
    assert.ok(again.ok);
    assert.deepEqual([again.ak.created, again.ak.name], [false, ak.name]);
  });
});

/**
 * A stand-in coordinator for the worker's join logic: /api/task, /api/attest-nonce (unless `nonces` is
 * false) and /api/join, whose answers `answerJoin` scripts (the evidence is checked with a real
 * JoinAttestation first), and a WebSocket that says the task is done, so the worker ends right after joining.
 */
async function fakeCoordinator(answerJoin: (n: number, req: JoinRequest, verdict: { attested: boolean; ak?: string } | Error) => { status: number; body: unknown }, nonces = true) {
  const task = parseTaskSpec({ name: 'fake', rounds: 1 });
  const tid = hex(await taskId(task.name));
  const ja = new JoinAttestation();
  const joins: JoinRequest[] = [];
  const server: Server = createServer((req, res) => {
    const send = (status: number, body: unknown) => { res.writeHead(status, { 'content-type': 'application/json' }); res.end(JSON.stringify(body)); };
    if (req.url === '/api/task') return send(200, { task, taskId: tid });
    if (req.url === '/api/attest-nonce' && nonces) return send(200, ja.issueNonce());
    if (req.url === '/api/join') {
      const parts: Buffer[] = [];
      req.on('data', (d: Buffer) => parts.push(d)).on('end', async () => {
        const env = parseEnvelope(new Uint8Array(Buffer.concat(parts)), { maxPayload: 4096 });
        const jr = JSON.parse(new TextDecoder().decode(env.payload)) as JoinRequest;
        joins.push(jr);
        const verdict = await ja.verify(jr, env.sender).catch((e: Error) => e);
        const a = answerJoin(joins.length, jr, verdict);
        send(a.status, a.body);
      });
      return;
    }
    send(404, { error: { status: 404, code: 'not-found', field: 'path', message: 'no route' } });
  });
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.send(JSON.stringify({ type: 'hello', status: { round: { round: 1, state: 'done', selected: [], submitted: [], deadline: 0, modelSha256: '', rounds: 1 } } })));
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    joins,
    close: async () => { for (const c of wss.clients) c.terminate(); wss.close(); server.closeAllConnections(); await new Promise((ok) => server.close(ok)); },
  };
}

const JOINED = { id: 'p0000', index: 0, shard: 0, round: { round: 1, state: 'done', selected: [], submitted: [], deadline: 0, modelSha256: '', rounds: 1 } };
const refusal = (status: number, field: string, message: string) => ({ status, body: { error: { status, code: 'attestation', field, message } } });

describe('the worker\'s join with a TPM, against a stand-in coordinator', { skip: noSwtpm }, () => {
  let tpm: Swtpm | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'meshwork-attest-worker-'));
  let env: NodeJS.ProcessEnv;
  before(async () => {
    if (!avail.ok) throw new Error(`swtpm is required in CI: ${avail.reason}`);
    tpm = await startSwtpm();
    env = { PATH: process.env.PATH, TPM2TOOLS_TCTI: tpm.tcti };
  });
  after(async () => {
    await tpm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  async function run(fake: Awaited<ReturnType<typeof fakeCoordinator>>, tpmMode: boolean | 'auto') {
    const events: WorkerEvent[] = [], log: string[] = [];
    try {
      await runWorker({ coordinator: fake.url, key: path.join(dir, 'w.pem'), tpm: tpmMode, tpmEnv: env, tpmPcrs: [0, 7], patienceMs: 5000, event: (e) => events.push(e), log: (l) => log.push(l) });
      return { events, log };
    } finally {
      await fake.close();
    }
  }

  test('a refused nonce (coordinator restarted) is fetched again and quoted again, once', async () => {
    const fake = await fakeCoordinator((n, _req, v) => (n === 1 ? refusal(409, 'attestation.nonce', 'was not issued by this coordinator') : v instanceof Error ? refusal(403, 'attestation', v.message) : { status: 200, body: { ...JOINED, ...v } }));
    const { events, log } = await run(fake, true);
    assert.equal(fake.joins.length, 2);
    assert.notEqual(fake.joins[0]!.attestation!.nonce, fake.joins[1]!.attestation!.nonce);
    assert.deepEqual(events.filter((e) => e.type === 'attestation').map((e) => e.type === 'attestation' && e.status), ['quoted', 'quoted']);
    const joined = events.find((e) => e.type === 'joined');
    assert.ok(joined?.type === 'joined' && joined.attested && /^000b/.test(joined.ak!), JSON.stringify(events));
    assert.ok(log.some((l) => /tpm: nonce refused \(409\).*quoting again/.test(l)), log.join('\n'));
    assert.ok(log.some((l) => /joined 'fake'.*TPM-attested \(AK 000b/.test(l)), log.join('\n'));
  });

  test('a refused quote: in auto mode the worker says so and joins unattested; with --tpm it stops', async () => {
    const answer = (_n: number, req: JoinRequest) => (req.attestation ? refusal(403, 'attestation.quote.pcrs', 'TPM quote refused: PCR digest: ...') : { status: 200, body: { ...JOINED, attested: false } });
    const auto = await run(await fakeCoordinator(answer), 'auto');
    assert.deepEqual(auto.events.map((e) => e.type === 'attestation' ? `attestation:${e.status}` : e.type), ['attestation:quoted', 'attestation:refused', 'joined', 'done']);
    const refusedEv = auto.events[1]!;
    assert.ok(refusedEv.type === 'attestation' && /403 attestation.quote.pcrs/.test(refusedEv.reason!));
    assert.ok(auto.log.some((l) => /joining without attestation/.test(l)) && auto.log.some((l) => /joined 'fake'.*not attested/.test(l)), auto.log.join('\n'));
    await assert.rejects(run(await fakeCoordinator(answer), true), /--tpm: the coordinator refused the attestation \(403 attestation.quote.pcrs/);
  });

  test('a coordinator without the nonce route: auto joins unattested, --tpm stops', async () => {
    const answer = (_n: number, req: JoinRequest) => ({ status: 200, body: { ...JOINED, attested: req.attestation !== undefined } });
    const fake = await fakeCoordinator(answer, false);
    const auto = await run(fake, 'auto');
    assert.equal(fake.joins[0]!.attestation, undefined);
    assert.deepEqual(auto.events[0], { type: 'attestation', status: 'skipped', reason: 'the coordinator issues no attestation nonces (GET /api/attest-nonce: 404)' });
    await assert.rejects(run(await fakeCoordinator(answer, false), true), /--tpm: the coordinator issues no attestation nonces/);
  });
});

/** A `meshwork worker` process with its own environment; its JSON events are collected. */
function worker(url: string, key: string, extra: string[], env: NodeJS.ProcessEnv) {
  const child = spawn(process.execPath, [CLI, 'worker', '--coordinator', url, '--key', key, '--json', ...extra], { stdio: ['ignore', 'pipe', 'pipe'], env });
  const events: Record<string, unknown>[] = [];
  const stderr: string[] = [];
  let buf = '';
  child.stdout.on('data', (d: Buffer) => {
    buf += d.toString();
    for (let i = buf.indexOf('\n'); i >= 0; i = buf.indexOf('\n')) {
      const line = buf.slice(0, i);
      buf = buf.slice(i + 1);
      if (line.startsWith('{')) events.push(JSON.parse(line) as Record<string, unknown>);
    }
  });
  child.stderr.on('data', (d: Buffer) => { stderr.push(d.toString()); });
  const exited = new Promise<number | null>((ok) => child.on('exit', (code) => ok(code)));
  return { child, events, stderr, exited };
}

type StatusP = { id: string; attested?: boolean; ak?: string };

describe('worker and coordinator end to end: attested join', { skip: noSwtpm }, () => {
  let tpm: Swtpm | undefined;
  const dir = mkdtempSync(path.join(tmpdir(), 'meshwork-attest-e2e-'));
  const closers: (() => Promise<void>)[] = [];
  // The coordinator module is loaded here, not at the top, so the suites above run without it.
  const start = async (opts: Record<string, unknown>) => {
    const { startCoordinator } = await import('../host-node/coordinator/index.js');
    const c = await startCoordinator(opts as unknown as Parameters<typeof startCoordinator>[0]);
    closers.push(() => c.close());
    return c;
  };

  before(async () => {
    if (!avail.ok) throw new Error(`swtpm is required in CI: ${avail.reason}`);
    tpm = await startSwtpm();
  });
  after(async () => {
    for (const c of closers) await c();
    await tpm?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  test('a worker with --tpm joins attested, one with --no-tpm unattested; /api/status shows it; the task completes', async () => {
    const coord = await start({ task: { name: 'attest-e2e', rounds: 2, minParticipants: 2, rule: 'fedavg', data: { shards: 2, alpha: null } }, dir: path.join(dir, 'c1'), port: await freePort() });
    const n = await getJson<{ nonce: string; expiresAt: number }>(`${coord.url}/api/attest-nonce`);
    assert.match(n.nonce, /^[0-9a-f]{64}$/);
    assert.ok(n.expiresAt > Date.now());
    const withTpm = worker(coord.url, path.join(dir, 'a.pem'), ['--tpm', '--tpm-pcrs', '0-7'], { ...process.env, TPM2TOOLS_TCTI: tpm!.tcti });
    const noTpm = worker(coord.url, path.join(dir, 'b.pem'), ['--no-tpm'], { ...process.env, TPM2TOOLS_TCTI: '' });
    const codes = await Promise.all([withTpm.exited, noTpm.exited]);
    assert.deepEqual(codes, [0, 0], withTpm.stderr.join('') + noTpm.stderr.join(''));
    const quoted = withTpm.events.find((e) => e.type === 'attestation');
    assert.equal(quoted?.status, 'quoted', JSON.stringify(withTpm.events));
    assert.deepEqual(quoted?.pcrs, [0, 1, 2, 3, 4, 5, 6, 7]);
    const ak = quoted!.ak as string;
    assert.match(ak, /^000b[0-9a-f]{64}$/);
    const a = withTpm.events.find((e) => e.type === 'joined')!;
    assert.deepEqual([a.attested, a.ak], [true, ak]);
    assert.match(withTpm.stderr.join(''), /joined 'attest-e2e'.*TPM-attested \(AK 000b/);
    assert.deepEqual(noTpm.events.find((e) => e.type === 'attestation'), { type: 'attestation', status: 'skipped', reason: 'TPM attestation turned off (--no-tpm)' });
    const b = noTpm.events.find((e) => e.type === 'joined')!;
    assert.equal(b.attested, false);
    assert.ok(withTpm.events.some((e) => e.type === 'done') && noTpm.events.some((e) => e.type === 'done'));
    const status = await getJson<{ participants: StatusP[] }>(`${coord.url}/api/status`);
    const pa = status.participants.find((p) => p.id === a.id), pb = status.participants.find((p) => p.id === b.id);
    assert.deepEqual([pa?.attested, pa?.ak], [true, ak]);
    assert.deepEqual([pb?.attested, pb?.ak], [false, undefined]);

    // By hand, through HTTP: a quote for another key, and a replayed nonce, are refused with code 'attestation'.
    const attestor = await TpmAttestor.open({ stateDir: path.join(dir, 'a.tpm'), tcti: tpm!.tcti });
    const task = await getJson<{ taskId: string }>(`${coord.url}/api/task`);
    const me = await generateIdentity(), someoneElse = await generateIdentity();
    const sealJoin = (who: Identity, ev?: JoinEvidence) => sealEnvelope({ kind: 'control', task: fromHex(task.taskId), round: 0, sequence: 0, payload: utf8(JSON.stringify(join(ev))) }, who);
    const nonce1 = (await getJson<{ nonce: string }>(`${coord.url}/api/attest-nonce`)).nonce;
    const forOther = await buildJoinAttestation(attestor, someoneElse.publicKey, nonce1);
    const r1 = await postBytes(`${coord.url}/api/join`, await sealJoin(me, forOther.evidence));
    assert.equal(r1.status, 403, JSON.stringify(r1.body));
    assert.deepEqual([r1.body.error?.code, r1.body.error?.field], ['attestation', 'attestation.quote.attest']);
    const nonce2 = (await getJson<{ nonce: string }>(`${coord.url}/api/attest-nonce`)).nonce;
    const mine = await buildJoinAttestation(attestor, me.publicKey, nonce2);
    const ok = await postBytes(`${coord.url}/api/join`, await sealJoin(me, mine.evidence));
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual([ok.body.attested, ok.body.ak], [true, ak]);
    const replay = await postBytes(`${coord.url}/api/join`, await sealJoin(me, mine.evidence));
    assert.equal(replay.status, 409, JSON.stringify(replay.body));
    assert.deepEqual([replay.body.error?.code, replay.body.error?.field], ['attestation', 'attestation.nonce']);
    // a join without evidence leaves an earlier verified attestation in place (an old join envelope replayed
    // by someone else cannot clear it)
    assert.equal((await postBytes(`${coord.url}/api/join`, await sealJoin(me))).status, 200);
    const after2 = await getJson<{ participants: StatusP[] }>(`${coord.url}/api/status`);
    assert.equal(after2.participants.find((p) => p.id === ok.body.id)?.attested, true);
    const rejections = (await getJson<{ rejections: { code: string; field: string | null }[] }>(`${coord.url}/api/status`)).rejections;
    assert.ok(rejections.some((r) => r.code === 'attestation' && r.field === 'attestation.nonce'));
  });

  test('a leaf aggregator (--role aggregator --tpm) attests at join like a worker; /api/status shows it attested with its AK', async () => {
    const coord = await start({ task: { name: 'attest-aggregator', rounds: 1, minParticipants: 1, rule: 'fedavg', aggregators: { fanin: 2 }, data: { shards: 2, alpha: null } }, dir: path.join(dir, 'c3'), port: 0 });
    const agg = worker(coord.url, path.join(dir, 'agg.pem'), ['--role', 'aggregator', '--tpm', '--tpm-pcrs', '0,7'], { ...process.env, TPM2TOOLS_TCTI: tpm!.tcti });
    try {
      const deadline = Date.now() + 60_000;
      while (!agg.events.some((e) => e.type === 'joined') && Date.now() < deadline && agg.child.exitCode === null) await new Promise((ok) => setTimeout(ok, 100));
      const quoted = agg.events.find((e) => e.type === 'attestation');
      assert.equal(quoted?.status, 'quoted', JSON.stringify(agg.events) + agg.stderr.join(''));
      assert.deepEqual(quoted?.pcrs, [0, 7]);
      const joined = agg.events.find((e) => e.type === 'joined')!;
      assert.deepEqual([joined.attested, joined.ak], [true, quoted!.ak]);
      const p = (await getJson<{ participants: (StatusP & { role: string })[] }>(`${coord.url}/api/status`)).participants.find((x) => x.id === joined.id);
      assert.deepEqual([p?.role, p?.attested, p?.ak], ['aggregator', true, quoted!.ak]);
    } finally {
      agg.child.kill('SIGTERM');
      await agg.exited;
    }
  });

  test('a coordinator that requires attestation refuses a join without it and admits an attested one; the status survives a restart', async () => {
    const opts = { task: { name: 'attest-required', rounds: 1, minParticipants: 5 }, dir: path.join(dir, 'c2'), port: 0, attestation: { required: true } };
    const coord = await start(opts);
    const task = await getJson<{ taskId: string }>(`${coord.url}/api/task`);
    const me = await generateIdentity();
    const sealJoin = (ev?: JoinEvidence) => sealEnvelope({ kind: 'control', task: fromHex(task.taskId), round: 0, sequence: 0, payload: utf8(JSON.stringify(join(ev))) }, me);
    const bare = await postBytes(`${coord.url}/api/join`, await sealJoin());
    assert.equal(bare.status, 403, JSON.stringify(bare.body));
    assert.deepEqual([bare.body.error?.code, bare.body.error?.field], ['attestation', 'attestation']);
    const attestor = await TpmAttestor.open({ stateDir: path.join(dir, 'a.tpm'), tcti: tpm!.tcti });
    const { evidence, ak } = await buildJoinAttestation(attestor, me.publicKey, (await getJson<{ nonce: string }>(`${coord.url}/api/attest-nonce`)).nonce);
    const res = await postBytes(`${coord.url}/api/join`, await sealJoin(evidence));
    assert.equal(res.status, 200, JSON.stringify(res.body));
    assert.equal(res.body.attested, true);
    await closers.pop()!();
    const again = await start(opts);
    const p = (await getJson<{ participants: StatusP[] }>(`${again.url}/api/status`)).participants.find((x) => x.id === res.body.id);
    assert.deepEqual([p?.attested, p?.ak], [true, ak.name]);
  });
});
