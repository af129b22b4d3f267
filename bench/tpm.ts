/**
 * TPM attestation bench on a software TPM (swtpm on 127.0.0.1, started and stopped here): time to create
 * and to reload the attestation key, to take a quote (tpm2_quote + tpm2_flushcontext processes, the TPM's
 * ECDSA signature), and to verify one in TypeScript (node:crypto, no TPM) beside tpm2_checkquote. Medians.
 * Without swtpm the suite logs why and returns no rows.
 * @module
 */
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { startSwtpm, swtpmAvailable } from '../host-node/swtpm.js';
import { runTpmTool, TpmAttestor, verifyQuote, type QuoteExpectations } from '../host-node/tpm.js';
import { medianMs, type BenchRow } from './harness.js';

/** The PCR sets quoted: TOOLCHAIN.md's four, and the firmware/boot chain 0-7 plus 16 and 23. */
const PCR_SETS = [[0, 1, 16, 23], [0, 1, 2, 3, 4, 5, 6, 7, 16, 23]];

/** The TPM suite's rows (none when swtpm or tpm2-tools are missing). */
export async function tpmSuite(cfg: { quick: boolean; log: (s: string) => void }): Promise<BenchRow[]> {
  const avail = swtpmAvailable();
  if (!avail.ok) {
    cfg.log(`  tpm: skipped (${avail.reason})`);
    return [];
  }
  const rows: BenchRow[] = [];
  const row = (c: string, backend: string, metric: string, value: number, unit: string) => rows.push({ suite: 'tpm', case: c, backend, threads: 1, metric, value, unit });
  const tpm = await startSwtpm();
  const work = mkdtempSync(path.join(tmpdir(), 'meshwork-bench-tpm-'));
  try {
    const tools = 'swtpm 0.7 + tpm2-tools';
    cfg.log(`  tpm: attestation key on ${tpm.tcti}`);
    let n = 0;
    const createMs = await medianMs(async () => {
      const a = await TpmAttestor.open({ stateDir: path.join(work, `ak${n++}`), tcti: tpm.tcti });
      await a.attestationKey();
    }, cfg.quick ? 3 : 7, 1);
    row('create EK + AK (ECC P-256)', tools, 'median time', createMs, 'ms');
    const stateDir = path.join(work, 'ak0');
    const reloadMs = await medianMs(async () => {
      const a = await TpmAttestor.open({ stateDir, tcti: tpm.tcti });
      if ((await a.attestationKey()).created) throw new Error('bench tpm: expected to reload the AK');
    }, cfg.quick ? 3 : 7, 1);
    row('reload AK (EK + policy session + load)', tools, 'median time', reloadMs, 'ms');

    const attestor = await TpmAttestor.open({ stateDir, tcti: tpm.tcti });
    const ak = await attestor.attestationKey();
    const node = new Uint8Array(Buffer.from(generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x!, 'base64url'));
    const nonce = randomBytes(32);
    writeFileSync(path.join(work, 'ak.pem'), ak.publicKeyPem);
    for (const pcrs of PCR_SETS) {
      const c = `quote, SHA-256 PCRs ${pcrs.join(',')}`;
      cfg.log(`  tpm: ${c}`);
      const quoteMs = await medianMs(() => attestor.quote({ nodePublicKey: node, nonce, pcrs }), cfg.quick ? 9 : 31);
      row(c, tools, 'median time', quoteMs, 'ms');

      const q = await attestor.quote({ nodePublicKey: node, nonce, pcrs });
      const expected: QuoteExpectations = { akPublicPem: ak.publicKeyPem, nodePublicKey: node, nonce, pcrPolicy: q.pcrs };
      const verdict = verifyQuote(q, expected);
      if (!verdict.ok) throw new Error(`bench tpm: the quote does not verify: ${verdict.reason}`);
      const keyed = { ...expected, akPublicPem: createPublicKey(ak.publicKeyPem) };
      const batch = 200;
      for (const [label, exp] of [['PEM key', expected], ['KeyObject', keyed]] as const) {
        const ms = (await medianMs(() => { for (let i = 0; i < batch; i++) verifyQuote(q, exp); }, cfg.quick ? 7 : 21)) / batch;
        row(`verify ${c}`, `TypeScript node:crypto, ${label}`, 'median time', ms * 1000, 'us');
        row(`verify ${c}`, `TypeScript node:crypto, ${label}`, 'rate', 1000 / ms, 'verifies/s');
      }
      // tpm2_checkquote 5.4 fails on a values file of 8 or more PCRs (tpm2-tools issue #3542)
      if (pcrs.length < 8) {
        writeFileSync(path.join(work, 'quote.msg'), Buffer.from(q.attest, 'hex'));
        writeFileSync(path.join(work, 'quote.sig'), Buffer.from(q.signature, 'hex'));
        writeFileSync(path.join(work, 'quote.pcrs'), Buffer.concat(pcrs.map((p) => Buffer.from(q.pcrs[p]!, 'hex'))));
        const args = ['-u', 'ak.pem', '-m', 'quote.msg', '-s', 'quote.sig', '-f', 'quote.pcrs', '-F', 'values', '-l', `sha256:${pcrs.join(',')}`,
          '-g', 'sha256', '-q', Buffer.from(verdict.attest.extraData).toString('hex')];
        const checkMs = await medianMs(() => runTpmTool('tpm2_checkquote', args, { tcti: tpm.tcti, cwd: work }), cfg.quick ? 5 : 15);
        row(`verify ${c}`, 'tpm2_checkquote (one process)', 'median time', checkMs * 1000, 'us');
      }
    }
  } finally {
    await tpm.stop();
    rmSync(work, { recursive: true, force: true });
  }
  return rows;
}
