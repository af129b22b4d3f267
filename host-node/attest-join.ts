/**
 * TPM attestation at join, worker side (docs/tpm.md, "Attestation at join"): opens the host's TPM (when
 * {@link tpmCapability} finds one, or when asked to), creates or loads the worker's attestation key in a
 * state folder beside its key file, and quotes PCRs with qualifying data binding the worker's Ed25519 key and
 * the coordinator's nonce. The result is the `attestation` field of the join payload (`JoinRequest`).
 * @module
 */
import { createHash } from 'node:crypto';
import { open, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { JoinRequest } from '../runtime/fl/protocol.js';
import { tpmCapability, TpmAttestor, TpmToolError, type AttestationKey } from './tpm.js';

/** The evidence a join carries. */
export type JoinEvidence = NonNullable<JoinRequest['attestation']>;

/** PCRs a worker quotes by default: 0-7, the platform firmware, configuration and boot-loader measurements. */
export const DEFAULT_ATTEST_PCRS: readonly number[] = [0, 1, 2, 3, 4, 5, 6, 7];

/** The worker's TPM state folder for key file `keyFile`: `node1.pem` -> `node1.tpm` in the same folder. */
export function tpmStateDirFor(keyFile: string): string {
  const dir = path.dirname(keyFile);
  const base = path.basename(keyFile, path.extname(keyFile)) || path.basename(keyFile);
  return path.join(dir, `${base}.tpm`);
}

/**
 * Parses a PCR list: comma-separated indices and ranges, e.g. `0-7` or `0,1,7,16`.
 * @throws RangeError naming the bad part.
 */
export function parsePcrList(s: string): number[] {
  if (typeof s !== 'string' || !s.trim()) throw new RangeError('--tpm-pcrs must be a list such as 0-7 or 0,2,4,7');
  const out = new Set<number>();
  for (const part of s.split(',')) {
    const m = /^\s*(\d{1,2})(?:\s*-\s*(\d{1,2}))?\s*$/.exec(part);
    const a = m ? Number(m[1]) : NaN, b = m?.[2] !== undefined ? Number(m[2]) : a;
    if (!m || a > 23 || b > 23 || b < a) throw new RangeError(`--tpm-pcrs: '${part.trim()}' is not a PCR index or range within 0..23`);
    for (let i = a; i <= b; i++) out.add(i);
  }
  return [...out].sort((x, y) => x - y);
}

/**
 * Quotes `pcrs` with `attestor`'s AK (created in its state folder on first use), with qualifying data
 * binding `nodePublicKey` and the coordinator's nonce (hex), and returns the join evidence.
 * @throws TypeError / RangeError for bad input (a nonce that is not 16..1024 bytes of hex); TpmToolError when
 *   the TPM fails.
 */
export async function buildJoinAttestation(attestor: TpmAttestor, nodePublicKey: Uint8Array, nonceHex: string, pcrs: readonly number[] = DEFAULT_ATTEST_PCRS): Promise<{ evidence: JoinEvidence; ak: AttestationKey }> {
  if (typeof nonceHex !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(nonceHex)) throw new RangeError('buildJoinAttestation: nonce must be a non-empty even-length hex string');
  const ak = await attestor.attestationKey();
  const q = await attestor.quote({ nodePublicKey, nonce: new Uint8Array(Buffer.from(nonceHex, 'hex')), pcrs: [...pcrs] });
  return { evidence: { type: 'tpm2-quote', nonce: nonceHex.toLowerCase(), akPublic: ak.publicArea, quote: q }, ak };
}

/**
 * Runs `fn` again, up to `attempts` times in all, after 100-600 ms, while it fails with a TPM warning
 * (response codes 0x900 and up, which tpm2-tools print as `tpm:warn`: "out of memory for session
 * contexts", "... is not loaded", "retry"). A TPM without a resource manager (swtpm, /dev/tpm0) that
 * several processes drive at once answers with those, and they pass; other errors are thrown at once.
 */
export async function retryTpm<T>(fn: () => Promise<T>, attempts = 4): Promise<T> {
  for (let i = 1; ; i++) {
    try {
      return await fn();
    } catch (e) {
      if (i >= attempts || !(e instanceof TpmToolError) || !/tpm:warn/.test(e.stderr)) throw e;
      await new Promise((ok) => setTimeout(ok, 100 + Math.random() * 500));
    }
  }
}

/** Whether process `pid` exists (one of another user counts). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Runs `fn` holding this host's lock for the TPM at `tcti`: a file `meshwork-tpm-<hash of tcti>.lock` in
 * `dir` (default the OS temp folder), created exclusively, holding this process's id, removed afterwards.
 * A TPM without a resource manager (swtpm, /dev/tpm0) serves one client: tools of several processes
 * interleaved there fail and leave sessions loaded ("out of memory for session contexts" until the TPM
 * restarts or they are flushed), so meshwork workers on one host take turns. A lock whose process is gone
 * (or that has no process id after 10 s) is taken over.
 * @throws Error when the lock is still held by a live process after `timeoutMs` (default 60 000).
 */
export async function withTpmLock<T>(tcti: string, fn: () => Promise<T>, opts: { dir?: string; timeoutMs?: number } = {}): Promise<T> {
  const file = path.join(opts.dir ?? tmpdir(), `meshwork-tpm-${createHash('sha256').update(tcti).digest('hex').slice(0, 16)}.lock`);
  const until = Date.now() + (opts.timeoutMs ?? 60_000);
  for (;;) {
    try {
      const fh = await open(file, 'wx', 0o600);
      try {
        await fh.writeFile(`${process.pid}\n`);
      } finally {
        await fh.close();
      }
      break;
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
    }
    const text = await readFile(file, 'utf8').catch(() => undefined);
    if (text === undefined) continue; // released in between
    const pid = Number(text.trim());
    const old = await stat(file).then((st) => Date.now() - st.mtimeMs > 10_000, () => false);
    if ((Number.isSafeInteger(pid) && pid > 0 && !alive(pid)) || (!text.trim() && old)) {
      await rm(file, { force: true });
      continue;
    }
    if (Date.now() > until) throw new Error(`the TPM at ${tcti} is locked by process ${text.trim() || '?'} (${file}) for over ${(opts.timeoutMs ?? 60_000) / 1000} s`);
    await new Promise((ok) => setTimeout(ok, 20 + Math.random() * 60));
  }
  try {
    return await fn();
  } finally {
    await rm(file, { force: true });
  }
}

/** How a worker uses the TPM: `'auto'` when one is found (failures fall back to joining unattested), `true` required, `false` never. */
export type TpmMode = boolean | 'auto';

/** What {@link openJoinAttester} found. */
export type JoinAttester =
  | { ok: true; attestor: TpmAttestor; ak: AttestationKey; tcti: string; stateDir: string; ms: number }
  | { ok: false; reason: string };

/**
 * Opens the TPM for join attestation according to `mode`, and creates or loads the attestation key in
 * `stateDir`. With `'auto'` and no TPM (or a TPM that fails), returns `{ ok: false, reason }`; with `true`,
 * those are errors; with `false`, always `{ ok: false }`.
 * @throws Error when `mode` is true and there is no usable TPM or the key cannot be made.
 */
export async function openJoinAttester(mode: TpmMode, stateDir: string, env: NodeJS.ProcessEnv = process.env): Promise<JoinAttester> {
  if (mode === false) return { ok: false, reason: 'TPM attestation turned off (--no-tpm)' };
  const cap = tpmCapability(env);
  if (!cap.present) {
    if (mode === true) throw new Error(`--tpm: ${cap.reason}`);
    return { ok: false, reason: cap.reason! };
  }
  const t0 = performance.now();
  try {
    const attestor = await TpmAttestor.open({ stateDir, tcti: cap.tcti, env });
    const ak = await withTpmLock(cap.tcti!, () => retryTpm(() => attestor.attestationKey()));
    return { ok: true, attestor, ak, tcti: cap.tcti!, stateDir: attestor.stateDir, ms: performance.now() - t0 };
  } catch (e) {
    if (mode === true) throw new Error(`--tpm: the TPM at ${cap.tcti} could not make or load the attestation key: ${(e as Error).message}`);
    return { ok: false, reason: `the TPM at ${cap.tcti} failed: ${(e as Error).message}` };
  }
}
