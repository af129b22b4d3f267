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
import { fromHex, ownBytes, toHex, utf8 } from '../proofs/bytes.js';
import type { Identity } from '../proofs/ed25519.js';
import { sealEnvelope } from '../proofs/envelope.js';
import type { HybridIdentity } from '../proofs/hybrid.js';
import type { JoinRequest, TaskSpec } from '../runtime/fl/protocol.js';
import { apiError, caller, checkUrl, jsonOf } from './follow.js';
import { ready } from './index.js';
import { loadOrCreateHybridIdentity, loadOrCreateIdentity } from './keystore.js';
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

/** The TPM options of a node that joins a coordinator (a worker or a leaf aggregator). */
export interface TpmJoinOptions {
  /**
   * TPM attestation at join (docs/tpm.md, "Attestation at join"). `'auto'` (default): when the host has a
   * TPM (`TPM2TOOLS_TCTI` set, or /dev/tpmrm0, and tpm2-tools on PATH), quote and attach the quote to the
   * join; if the TPM fails, the coordinator has no nonce route or refuses the quote, join unattested. `true`:
   * all of those are errors. `false`: never attest.
   */
  tpm?: TpmMode;
  /** Folder of the TPM attestation key (created, mode 0700). Default: beside the key file, `<key name>.tpm`. */
  tpmDir?: string;
  /** PCRs of the SHA-256 bank to quote. Default 0-7. */
  tpmPcrs?: number[];
  /** Environment in which the TPM is looked for (`TPM2TOOLS_TCTI`, `PATH`). Default `process.env`. */
  tpmEnv?: NodeJS.ProcessEnv;
}

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

/**
 * What a joining node reports of its attestation: `quoted` (with the AK's TPM name, the PCRs and the quote's
 * time) or `skipped` (with the reason) before the join, `refused` when the coordinator turned the quote down.
 */
export type AttestationEvent = { type: 'attestation'; status: 'quoted' | 'skipped' | 'refused'; ak?: string; pcrs?: number[]; ms?: number; reason?: string };

/** What {@link joinWithAttestation} needs. */
export interface AttestedJoinOptions {
  /** HTTP calls to the coordinator (relative paths), retried while it is unreachable. */
  call: (path: string, init?: RequestInit) => Promise<Response>;
  /** The coordinator's base URL (for messages). */
  base: URL;
  identity: Identity | HybridIdentity;
  taskId: Uint8Array;
  /** The join request without its evidence (and without the ML-DSA-65 key: a hybrid identity's is added). */
  request: Omit<JoinRequest, 'attestation' | 'mlDsaPublicKey'>;
  attester: JoinAttester;
  mode: TpmMode;
  pcrs: readonly number[];
  log: (line: string) => void;
  emit: (e: AttestationEvent) => void;
}

/**
 * Joins a coordinator, with TPM evidence when the node has a TPM (docs/tpm.md, "Attestation at join"): a
 * fresh nonce from `GET /api/attest-nonce`, a quote over it, the signed join. A nonce refused as used up or
 * expired is quoted once more; a quote the coordinator refuses means joining without one (in `'auto'` mode;
 * with `mode` true that is an error, as is any failure to quote).
 * @returns the coordinator's answer (JSON text) and the evidence that went with the join.
 * @throws Error with the coordinator's refusal.
 */
export async function joinWithAttestation(o: AttestedJoinOptions): Promise<{ body: string; attestation: JoinEvidence | undefined }> {
  const { attester, log, emit } = o;
  const skip = (reason: string) => {
    log(`tpm: not attesting: ${reason}`);
    emit({ type: 'attestation', status: 'skipped', reason });
  };
  if (attester.ok) log(`tpm: attestation key ${attester.ak.name.slice(0, 16)}... ${attester.ak.created ? 'created' : 'loaded'} in ${attester.ms.toFixed(0)} ms (${attester.tcti}; state in ${attester.stateDir})`);
  else skip(attester.reason);

  /** A fresh nonce from the coordinator and a quote over it; undefined (in 'auto' mode) when that cannot be had. */
  async function evidence(): Promise<JoinEvidence | undefined> {
    if (!attester.ok) return undefined;
    const res = await o.call('api/attest-nonce');
    let why: string;
    if (res.ok) {
      try {
        const { nonce } = JSON.parse(await res.text()) as { nonce: string };
        let ms = 0;
        const { evidence: ev } = await withTpmLock(attester.tcti, () => retryTpm(async () => {
          const t0 = performance.now();
          const out = await buildJoinAttestation(attester.attestor, o.identity.publicKey, nonce, o.pcrs);
          ms = performance.now() - t0;
          return out;
        }));
        log(`tpm: quoted PCRs ${o.pcrs.join(',')} (sha256) with the coordinator's nonce in ${ms.toFixed(0)} ms`);
        emit({ type: 'attestation', status: 'quoted', ak: attester.ak.name, pcrs: [...o.pcrs], ms });
        return ev;
      } catch (e) {
        why = `the quote failed: ${(e as Error).message}`;
      }
    } else {
      await res.body?.cancel();
      why = res.status === 404 ? 'the coordinator issues no attestation nonces (GET /api/attest-nonce: 404)' : `GET /api/attest-nonce answered ${res.status}`;
    }
    if (o.mode === true) throw new Error(`--tpm: ${why}`);
    skip(why);
    return undefined;
  }
  /** Posts a signed join; resolves with the status, the body and the error of a refusal. */
  async function postJoin(attestation: JoinEvidence | undefined): Promise<{ status: number; body: string; error?: { code: string; field: string | null; message: string } }> {
    const join: JoinRequest = { ...o.request, ...('mlDsaPublicKey' in o.identity ? { mlDsaPublicKey: Buffer.from(o.identity.mlDsaPublicKey).toString('base64') } : {}), ...(attestation ? { attestation } : {}) };
    const joinEnv = await sealEnvelope({ kind: 'control', task: o.taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify(join)) }, o.identity);
    const res = await o.call('api/join', { method: 'POST', headers: { 'content-type': 'application/octet-stream' }, body: ownBytes(joinEnv) });
    const body = await res.text();
    if (res.ok) return { status: res.status, body };
    const e = apiError(body);
    return { status: res.status, body, error: { code: e.code, field: e.field ?? null, message: e.message } };
  }

  let attestation = await evidence();
  let ans = await postJoin(attestation);
  if (attestation && ans.error?.code === 'attestation' && ans.error.field === 'attestation.nonce') {
    // The nonce expired, or the coordinator restarted in between: once more with a fresh one.
    log(`tpm: nonce refused (${ans.status}): ${ans.error.message}; quoting again`);
    attestation = await evidence();
    ans = await postJoin(attestation);
  }
  if (attestation && ans.error?.code === 'attestation') {
    const reason = `${ans.status} ${ans.error.field}: ${ans.error.message}`;
    log(`tpm: the coordinator refused the attestation (${reason})`);
    emit({ type: 'attestation', status: 'refused', ak: attester.ok ? attester.ak.name : undefined, reason });
    if (o.mode === true) throw new Error(`--tpm: the coordinator refused the attestation (${reason})`);
    log('tpm: joining without attestation (with --tpm this is an error)');
    attestation = undefined;
    ans = await postJoin(undefined);
  }
  if (ans.error) throw new Error(`${new URL('api/join', o.base).href}: ${ans.status} ${ans.error.message}`);
  return { body: ans.body, attestation };
}

/** The checks of the TPM options a worker or aggregator takes; returns the PCR list (default 0-7). */
export function checkTpmOptions(mode: unknown, pcrs: unknown): number[] {
  if (mode !== true && mode !== false && mode !== 'auto') throw new RangeError(`tpm must be true, false or 'auto', got ${JSON.stringify(mode)}`);
  const list = pcrs ?? [...DEFAULT_ATTEST_PCRS];
  if (!Array.isArray(list) || !list.length || list.some((p) => !Number.isInteger(p) || p < 0 || p > 23)) throw new RangeError(`tpmPcrs must be a non-empty array of PCR indices 0..23, got ${JSON.stringify(pcrs)}`);
  return list as number[];
}

/** What a node that joins a coordinator (a worker or a leaf aggregator) is given. */
export interface NodeJoinOptions extends TpmJoinOptions {
  /** Coordinator base URL, e.g. http://127.0.0.1:8080. */
  coordinator: string;
  /** Key file (PKCS#8 PEM, mode 0600), created on first use. */
  key?: string;
  /**
   * Sign hybrid (Ed25519 + ML-DSA-65): the ML-DSA-65 seed lives beside the key file (`<key>.mldsa65`, mode
   * 0600), the join registers its public key and every envelope carries both signatures.
   */
  hybrid?: boolean;
  /** Gives up when the coordinator cannot be reached for this long (ms). Default 120000. */
  patienceMs?: number;
  /** Human-readable progress lines. */
  log?: (line: string) => void;
  signal?: AbortSignal;
}

/**
 * The start every joining node shares: its key (loaded or created), the Node backends, the coordinator's
 * task and the host's TPM (per the options); `join` then joins with `request` as {@link joinWithAttestation}.
 */
export async function openNode(opts: NodeJoinOptions, defaultKey: string) {
  const base = checkUrl(opts.coordinator);
  const log = opts.log ?? (() => undefined);
  const mode = opts.tpm ?? 'auto';
  const pcrs = checkTpmOptions(mode, opts.tpmPcrs);
  const keyFile = opts.key ?? defaultKey;
  const { identity, created } = opts.hybrid ? await loadOrCreateHybridIdentity(keyFile) : await loadOrCreateIdentity(keyFile);
  log(`${created ? 'created' : 'loaded'} key ${toHex(identity.publicKey).slice(0, 16)}...${'mlDsaPublicKey' in identity ? ' with an ML-DSA-65 key (hybrid signatures)' : ''} (${keyFile})`);
  await ready();
  /** fetch with retries while the coordinator is unreachable (restarting); HTTP answers are returned as they are. */
  const call = caller(base, opts.patienceMs ?? 120_000, opts.signal);
  const [taskRes, attester] = await Promise.all([call('api/task'), openJoinAttester(mode, opts.tpmDir ?? tpmStateDirFor(keyFile), opts.tpmEnv)]);
  const { task, taskId: taskHex } = await jsonOf<{ task: TaskSpec; taskId: string }>(taskRes);
  const taskBytes = fromHex(taskHex, 'taskId');
  return {
    base, call, log, identity, task, taskHex, taskBytes,
    join: (request: AttestedJoinOptions['request'], emit: (e: AttestationEvent) => void) => joinWithAttestation({ call, base, identity, taskId: taskBytes, attester, mode, pcrs, log, emit, request }),
  };
}
