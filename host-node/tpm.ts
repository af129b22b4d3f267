/**
 * TPM 2.0 attestation of a node's Ed25519 identity (issue #4, item 8).
 *
 * Attester side (needs a TPM and tpm2-tools): {@link TpmAttestor} creates an endorsement key (EK) and an
 * attestation key (AK: restricted ECC P-256 ECDSA/SHA-256 signing key under the EK) with `tpm2_createek` /
 * `tpm2_createak`, keeps the AK's loadable blobs in a state directory, and signs quotes with `tpm2_quote`
 * whose qualifying data binds the node's Ed25519 public key and a verifier's nonce:
 *
 *   qualifyingData = SHA-256( "meshwork/tpm-quote/v1" || 0x00 || nodePublicKey (32 bytes) || nonce )
 *
 * Verifier side (no TPM, no tpm2-tools): {@link verifyQuote} parses the TPMS_ATTEST strictly, checks the
 * ECDSA signature with node:crypto, the qualifying data, and the PCR selection and digest against a policy.
 *
 * No TPM is a capability ({@link tpmCapability}), not an error. tpm2-tools run through `execFile` (never a
 * shell) with an explicit environment whose `TPM2TOOLS_TCTI` names the TPM; without a resource manager (swtpm,
 * `/dev/tpm0`) every step is followed by `tpm2_flushcontext -t`, and one attestor runs one tool at a time.
 * @module
 */
import { execFile } from 'node:child_process';
import { createHash, createPublicKey, timingSafeEqual, verify as cryptoVerify, KeyObject } from 'node:crypto';
import { existsSync, statSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readFile, rename, rm } from 'node:fs/promises';
import path from 'node:path';

/** Domain-separation tag at the start of the hashed qualifying data (ASCII, followed by one 0x00 byte). */
export const QUOTE_TAG = 'meshwork/tpm-quote/v1';
/** `TPM_GENERATED_VALUE`: the magic at the start of every TPMS_ATTEST the TPM itself produced. */
export const TPM_GENERATED_VALUE = 0xff544347;
/** `TPM_ST_ATTEST_QUOTE`: the TPMS_ATTEST type of a quote. */
export const TPM_ST_ATTEST_QUOTE = 0x8018;
const TPM_ALG_SHA256 = 0x000b, TPM_ALG_NULL = 0x0010, TPM_ALG_ECDSA = 0x0018, TPM_ALG_ECDAA = 0x001a, TPM_ALG_ECC = 0x0023;
const TPM_ECC_NIST_P256 = 0x0003;
/** Highest PCR index of a PC-client TPM (24 PCRs per bank). */
export const PCR_MAX = 23;
/** Accepted verifier nonce lengths in bytes (128 bits of freshness at least). */
export const NONCE_MIN = 16, NONCE_MAX = 1024;

/** TPMA_OBJECT bits an attestation key must have: fixedTPM, fixedParent, sensitiveDataOrigin, restricted, sign. */
const AK_ATTRIBUTES = (1 << 1) | (1 << 4) | (1 << 5) | (1 << 16) | (1 << 18);
const DECRYPT = 1 << 17;

// ---------------------------------------------------------------------------------------------------------
// Capability and tool runner

/** Whether this host can attest with a TPM. */
export interface TpmCapability {
  present: boolean;
  /** The TCTI tpm2-tools would use (`TPM2TOOLS_TCTI`, or `device:/dev/tpmrm0`). */
  tcti?: string;
  /** Why there is no usable TPM (absent when `present`). */
  reason?: string;
}

/** The tpm2-tools an attestor runs. */
export const TPM_TOOLS = ['tpm2_createek', 'tpm2_createak', 'tpm2_startauthsession', 'tpm2_policysecret', 'tpm2_load', 'tpm2_quote', 'tpm2_flushcontext'] as const;

/** Looks `name` up on `env.PATH`; returns its path or undefined. */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  for (const dir of (env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const p = path.join(dir, name);
    try {
      if (statSync(p).isFile()) return p;
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

/**
 * Reports whether a TPM is usable: `TPM2TOOLS_TCTI` is set in `env` or `devicePath` (the kernel's resource
 * manager, `/dev/tpmrm0`) exists, and tpm2-tools are on `env.PATH`. Never throws.
 */
export function tpmCapability(env: NodeJS.ProcessEnv = process.env, devicePath = '/dev/tpmrm0'): TpmCapability {
  const tcti = env.TPM2TOOLS_TCTI || (existsSync(devicePath) ? `device:${devicePath}` : undefined);
  if (!tcti) return { present: false, reason: `no TPM: TPM2TOOLS_TCTI is not set and ${devicePath} does not exist` };
  const missing = TPM_TOOLS.filter((t) => !findOnPath(t, env));
  if (missing.length) return { present: false, tcti, reason: `TPM at ${tcti}, but tpm2-tools are not on PATH (${missing.join(', ')}): apt-get install tpm2-tools` };
  return { present: true, tcti };
}

/** A tpm2-tools command that failed; the message carries the tool's stderr. */
export class TpmToolError extends Error {
  override name = 'TpmToolError';
  constructor(readonly tool: string, readonly args: readonly string[], readonly stderr: string, readonly exitCode: number | string | null) {
    super(`${tool} ${args.join(' ')} failed (exit ${exitCode}): ${stderr.trim() || '(no stderr)'}`);
  }
}

/** Options of {@link runTpmTool}. */
export interface TpmToolOptions {
  /** TCTI passed as `TPM2TOOLS_TCTI` (the child's only TPM setting). */
  tcti: string;
  /** Working directory (relative file arguments resolve against it). */
  cwd?: string;
  /** PATH for the child; default `process.env.PATH`. */
  path?: string;
  /** Kill the tool after this many ms. Default 60 000 (an RSA EK on a slow hardware TPM takes seconds). */
  timeoutMs?: number;
}

/**
 * Runs one tpm2-tools command with `execFile` (no shell) and an explicit environment (PATH and
 * TPM2TOOLS_TCTI only). Resolves with its stdout.
 * @throws TpmToolError with the tool's stderr when it fails.
 */
export function runTpmTool(tool: string, args: readonly string[], opts: TpmToolOptions): Promise<string> {
  const env = { PATH: opts.path ?? process.env.PATH ?? '/usr/bin:/bin', TPM2TOOLS_TCTI: opts.tcti };
  return new Promise((resolve, reject) => {
    execFile(tool, args, { env, cwd: opts.cwd, timeout: opts.timeoutMs ?? 60_000, maxBuffer: 1 << 20, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) reject(new TpmToolError(tool, args, stderr || err.message, err.code ?? err.signal ?? null));
      else resolve(stdout);
    });
  });
}

// ---------------------------------------------------------------------------------------------------------
// Input checks and byte helpers

function typeName(v: unknown): string {
  return v === null ? 'null' : typeof v === 'object' ? (v as object).constructor?.name ?? 'object' : typeof v;
}

function checkBytes(where: string, field: string, v: unknown, min: number, max: number): asserts v is Uint8Array {
  if (!(v instanceof Uint8Array)) throw new TypeError(`${where}: ${field} must be a Uint8Array, got ${typeName(v)}`);
  if (v.length < min || v.length > max) throw new RangeError(`${where}: ${field} must be ${min === max ? `${min}` : `${min} to ${max}`} bytes, got ${v.length}`);
}

function fromHex(where: string, field: string, v: unknown): Uint8Array {
  if (typeof v !== 'string') throw new TypeError(`${where}: ${field} must be a hex string, got ${typeName(v)}`);
  if (!/^(?:[0-9a-fA-F]{2})*$/.test(v)) throw new RangeError(`${where}: ${field} is not an even-length hex string`);
  return new Uint8Array(Buffer.from(v, 'hex'));
}

const toHex = (b: Uint8Array) => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
const sha256 = (...parts: Uint8Array[]) => { const h = createHash('sha256'); for (const p of parts) h.update(p); return new Uint8Array(h.digest()); };
const equal = (a: Uint8Array, b: Uint8Array) => a.length === b.length && timingSafeEqual(a, b);

/**
 * The quote's qualifying data: SHA-256(QUOTE_TAG as ASCII || 0x00 || nodePublicKey || nonce), 32 bytes.
 * The key has a fixed length, so the variable-length nonce at the end is unambiguous.
 * @throws TypeError / RangeError naming the field for a key that is not 32 bytes or a nonce outside
 * NONCE_MIN..NONCE_MAX bytes.
 */
export function qualifyingData(nodePublicKey: Uint8Array, nonce: Uint8Array): Uint8Array {
  checkBytes('qualifyingData', 'nodePublicKey', nodePublicKey, 32, 32);
  checkBytes('qualifyingData', 'nonce', nonce, NONCE_MIN, NONCE_MAX);
  return sha256(new TextEncoder().encode(QUOTE_TAG), Uint8Array.of(0), nodePublicKey, nonce);
}

function checkPcrIndex(where: string, field: string, v: unknown): number {
  const n = typeof v === 'string' && /^\d+$/.test(v) ? Number(v) : v;
  if (typeof n !== 'number') throw new TypeError(`${where}: ${field} must be a PCR index (number), got ${typeName(v)}`);
  if (!Number.isInteger(n) || n < 0 || n > PCR_MAX) throw new RangeError(`${where}: ${field} must be an integer PCR index 0..${PCR_MAX}, got ${String(v)}`);
  return n;
}

/** Big-endian reader over TPM marshalled bytes; every short read or bad size is a RangeError naming the field. */
class Reader {
  private off = 0;
  constructor(private readonly b: Uint8Array, private readonly what: string) {}
  private need(n: number, field: string): void {
    if (this.off + n > this.b.length) throw new RangeError(`${this.what}: truncated at ${field} (offset ${this.off}, ${this.b.length} bytes)`);
  }
  u8(field: string): number { this.need(1, field); return this.b[this.off++]!; }
  u16(field: string): number { this.need(2, field); const v = (this.b[this.off]! << 8) | this.b[this.off + 1]!; this.off += 2; return v; }
  u32(field: string): number { this.need(4, field); const v = new DataView(this.b.buffer, this.b.byteOffset + this.off, 4).getUint32(0); this.off += 4; return v; }
  u64(field: string): bigint { this.need(8, field); const v = new DataView(this.b.buffer, this.b.byteOffset + this.off, 8).getBigUint64(0); this.off += 8; return v; }
  bytes(n: number, field: string): Uint8Array { this.need(n, field); const v = this.b.slice(this.off, this.off + n); this.off += n; return v; }
  /** A TPM2B: u16 size, then that many bytes (at most `max`). */
  tpm2b(max: number, field: string): Uint8Array {
    const n = this.u16(`${field}.size`);
    if (n > max) throw new RangeError(`${this.what}: ${field}.size ${n} exceeds ${max}`);
    return this.bytes(n, field);
  }
  get offset(): number { return this.off; }
  end(): void {
    if (this.off !== this.b.length) throw new RangeError(`${this.what}: ${this.b.length - this.off} trailing bytes after offset ${this.off}`);
  }
}

// ---------------------------------------------------------------------------------------------------------
// TPM structures

/** One bank's selection in a TPML_PCR_SELECTION. */
export interface PcrSelection {
  /** TPM_ALG_ID of the bank (0x000b = SHA-256). */
  hashAlg: number;
  /** Selected PCR indices, ascending. */
  pcrs: number[];
}

/** A parsed TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE. */
export interface TpmAttest {
  magic: number;
  type: number;
  /** TPM2B_NAME: the qualified name of the signing key. */
  qualifiedSigner: Uint8Array;
  /** TPM2B_DATA: the qualifying data the caller passed (here {@link qualifyingData}). */
  extraData: Uint8Array;
  /** TPMS_CLOCK_INFO: milliseconds the TPM has been powered since its clock was set, and reset counters. */
  clock: bigint;
  resetCount: number;
  restartCount: number;
  safe: boolean;
  firmwareVersion: bigint;
  /** TPMS_QUOTE_INFO: the PCR selection and the hash of the selected PCR values in selection order. */
  pcrSelect: PcrSelection[];
  pcrDigest: Uint8Array;
}

/**
 * Parses a TPMS_ATTEST holding a TPMS_QUOTE_INFO (TPM 2.0 Part 2, 10.12.8 and 10.12.4), strictly: the magic
 * must be TPM_GENERATED_VALUE, the type TPM_ST_ATTEST_QUOTE, every size within its TPM2B's bound, `safe` 0
 * or 1, and no byte may follow the structure.
 * @throws RangeError naming the field that is wrong.
 */
export function parseQuoteAttest(bytes: Uint8Array): TpmAttest {
  if (!(bytes instanceof Uint8Array)) throw new TypeError(`parseQuoteAttest: attest must be a Uint8Array, got ${typeName(bytes)}`);
  const r = new Reader(bytes, 'TPMS_ATTEST');
  const magic = r.u32('magic');
  if (magic !== TPM_GENERATED_VALUE) throw new RangeError(`TPMS_ATTEST: magic 0x${magic.toString(16)} is not TPM_GENERATED_VALUE 0xff544347`);
  const type = r.u16('type');
  if (type !== TPM_ST_ATTEST_QUOTE) throw new RangeError(`TPMS_ATTEST: type 0x${type.toString(16)} is not TPM_ST_ATTEST_QUOTE 0x8018`);
  const qualifiedSigner = r.tpm2b(2 + 64, 'qualifiedSigner'); // TPMU_NAME: a handle or nameAlg + digest
  const extraData = r.tpm2b(2 + 64, 'extraData'); // TPM2B_DATA: at most sizeof(TPMT_HA)
  const clock = r.u64('clockInfo.clock');
  const resetCount = r.u32('clockInfo.resetCount');
  const restartCount = r.u32('clockInfo.restartCount');
  const safeByte = r.u8('clockInfo.safe');
  if (safeByte > 1) throw new RangeError(`TPMS_ATTEST: clockInfo.safe is ${safeByte}, not a TPMI_YES_NO`);
  const firmwareVersion = r.u64('firmwareVersion');
  const count = r.u32('quote.pcrSelect.count');
  if (count > 16) throw new RangeError(`TPMS_ATTEST: quote.pcrSelect.count ${count} exceeds 16 banks`);
  const pcrSelect: PcrSelection[] = [];
  for (let i = 0; i < count; i++) {
    const hashAlg = r.u16(`quote.pcrSelect[${i}].hash`);
    const size = r.u8(`quote.pcrSelect[${i}].sizeofSelect`);
    if (size < 1 || size > 4) throw new RangeError(`TPMS_ATTEST: quote.pcrSelect[${i}].sizeofSelect ${size} is not 1..4`);
    const bits = r.bytes(size, `quote.pcrSelect[${i}].pcrSelect`);
    const pcrs: number[] = [];
    for (let p = 0; p < size * 8; p++) if (bits[p >> 3]! & (1 << (p & 7))) pcrs.push(p);
    pcrSelect.push({ hashAlg, pcrs });
  }
  const pcrDigest = r.tpm2b(64, 'quote.pcrDigest');
  r.end();
  return { magic, type, qualifiedSigner, extraData, clock, resetCount, restartCount, safe: safeByte === 1, firmwareVersion, pcrSelect, pcrDigest };
}

/**
 * Parses a TPMT_SIGNATURE as `tpm2_quote` writes it by default (`-f tss`) and returns the ECDSA signature
 * as r || s (IEEE P1363, 64 bytes). Only ECDSA with SHA-256 over P-256 is accepted.
 * @throws RangeError for another algorithm or a malformed structure.
 */
export function parseEcdsaSignature(bytes: Uint8Array): Uint8Array {
  const r = new Reader(bytes, 'TPMT_SIGNATURE');
  const sigAlg = r.u16('sigAlg');
  if (sigAlg !== TPM_ALG_ECDSA) throw new RangeError(`TPMT_SIGNATURE: sigAlg 0x${sigAlg.toString(16).padStart(4, '0')} is not TPM_ALG_ECDSA`);
  const hash = r.u16('signature.hash');
  if (hash !== TPM_ALG_SHA256) throw new RangeError(`TPMT_SIGNATURE: hash 0x${hash.toString(16).padStart(4, '0')} is not TPM_ALG_SHA256`);
  const out = new Uint8Array(64);
  for (const [k, field] of [[0, 'signatureR'], [1, 'signatureS']] as const) {
    let v = r.tpm2b(66, `signature.${field}`);
    while (v.length > 32 && v[0] === 0) v = v.subarray(1);
    if (v.length === 0 || v.length > 32) throw new RangeError(`TPMT_SIGNATURE: ${field} has ${v.length} significant bytes, not 1..32`);
    out.set(v, k * 32 + 32 - v.length);
  }
  r.end();
  return out;
}

/** An attestation key's public area, checked. */
export interface AkPublic {
  /** The key as SPKI PEM (what {@link verifyQuote} takes). */
  publicKeyPem: string;
  /** TPM name: nameAlg (u16) || SHA-256(TPMT_PUBLIC). */
  name: Uint8Array;
  /** TPMA_OBJECT bits. */
  objectAttributes: number;
}

/**
 * Parses a TPMT_PUBLIC (or a TPM2B_PUBLIC, with its u16 size first when `sized`) of an ECC P-256 key, checks
 * that it is an attestation key (restricted signing key, fixedTPM, fixedParent, sensitiveDataOrigin, not
 * decrypt; ECDSA with SHA-256 or no scheme; no symmetric part), and returns its PEM and TPM name. A
 * registrar that trusts this public area (for example after credential activation against the EK) can hand
 * the PEM to verifiers.
 * @throws RangeError naming what is wrong.
 */
export function parseAkPublic(bytes: Uint8Array, sized = false): AkPublic {
  let area = bytes;
  if (sized) {
    const r = new Reader(bytes, 'TPM2B_PUBLIC');
    area = r.tpm2b(bytes.length, 'size');
    r.end();
  }
  const r = new Reader(area, 'TPMT_PUBLIC');
  const type = r.u16('type');
  if (type !== TPM_ALG_ECC) throw new RangeError(`TPMT_PUBLIC: type 0x${type.toString(16)} is not TPM_ALG_ECC`);
  const nameAlg = r.u16('nameAlg');
  if (nameAlg !== TPM_ALG_SHA256) throw new RangeError(`TPMT_PUBLIC: nameAlg 0x${nameAlg.toString(16)} is not SHA-256`);
  const objectAttributes = r.u32('objectAttributes');
  if ((objectAttributes & AK_ATTRIBUTES) !== AK_ATTRIBUTES || objectAttributes & DECRYPT) {
    throw new RangeError(`TPMT_PUBLIC: objectAttributes 0x${objectAttributes.toString(16)} are not those of an attestation key (fixedTPM|fixedParent|sensitiveDataOrigin|restricted|sign, no decrypt)`);
  }
  r.tpm2b(64, 'authPolicy');
  const sym = r.u16('parameters.symmetric.algorithm');
  if (sym !== TPM_ALG_NULL) throw new RangeError('TPMT_PUBLIC: a signing key has no symmetric algorithm');
  const scheme = r.u16('parameters.scheme.scheme');
  if (scheme !== TPM_ALG_NULL) {
    const hash = r.u16('parameters.scheme.details.hashAlg');
    if (scheme === TPM_ALG_ECDAA) r.u16('parameters.scheme.details.count');
    if (scheme !== TPM_ALG_ECDSA || hash !== TPM_ALG_SHA256) throw new RangeError(`TPMT_PUBLIC: scheme 0x${scheme.toString(16)}/0x${hash.toString(16)} is not ECDSA with SHA-256`);
  }
  const curve = r.u16('parameters.curveID');
  if (curve !== TPM_ECC_NIST_P256) throw new RangeError(`TPMT_PUBLIC: curve 0x${curve.toString(16)} is not NIST P-256`);
  const kdf = r.u16('parameters.kdf.scheme');
  if (kdf !== TPM_ALG_NULL) r.u16('parameters.kdf.details.hashAlg');
  const x = r.tpm2b(32, 'unique.x'), y = r.tpm2b(32, 'unique.y');
  r.end();
  if (x.length !== 32 || y.length !== 32) throw new RangeError('TPMT_PUBLIC: unique.x and unique.y must be 32 bytes');
  const b64u = (b: Uint8Array) => Buffer.from(b).toString('base64url');
  let key: KeyObject;
  try {
    key = createPublicKey({ key: { kty: 'EC', crv: 'P-256', x: b64u(x), y: b64u(y) }, format: 'jwk' });
  } catch (e) {
    throw new RangeError(`TPMT_PUBLIC: unique is not a P-256 point (${(e as Error).message})`);
  }
  const name = new Uint8Array(2 + 32);
  name.set([nameAlg >> 8, nameAlg & 0xff]);
  name.set(sha256(area), 2);
  return { publicKeyPem: key.export({ type: 'spki', format: 'pem' }) as string, name, objectAttributes };
}

// ---------------------------------------------------------------------------------------------------------
// Attester

/** The attestation key of a {@link TpmAttestor}. */
export interface AttestationKey {
  /** SPKI PEM of the AK's public key (ECC P-256), for {@link verifyQuote}. */
  publicKeyPem: string;
  /** The AK's TPM name (hex): 000b || SHA-256(TPMT_PUBLIC). */
  name: string;
  /** The AK's TPMT_PUBLIC (hex), for a registrar that checks it with `parseAkPublic`. */
  publicArea: string;
  /** True when this call created the key, false when it was loaded from the state directory. */
  created: boolean;
}

/** What {@link TpmAttestor.quote} signs. */
export interface QuoteRequest {
  /** The node's raw Ed25519 public key (its id), 32 bytes. */
  nodePublicKey: Uint8Array;
  /** The verifier's fresh nonce, NONCE_MIN..NONCE_MAX bytes. */
  nonce: Uint8Array;
  /** PCR indices (0..23) of the SHA-256 bank to quote; order and duplicates do not matter, at least one. */
  pcrs: number[];
}

/** A signed quote; plain JSON (hex strings), as sent to a verifier. */
export interface TpmQuote {
  /** The TPMS_ATTEST bytes the TPM signed (`tpm2_quote -m`), hex. */
  attest: string;
  /** The TPMT_SIGNATURE (`tpm2_quote -s`, ECDSA SHA-256), hex. */
  signature: string;
  /** The PCR bank quoted. */
  pcrBank: 'sha256';
  /** The PCR values as read with the quote (`tpm2_quote -o`), by index, hex; they hash to the quote's pcrDigest. */
  pcrs: Record<number, string>;
}

/** Options of {@link TpmAttestor.open}. */
export interface TpmAttestorOptions {
  /** Directory for the key files (created with mode 0700; files are 0600). */
  stateDir: string;
  /** TCTI of the TPM. Default: what {@link tpmCapability} finds in `env`. */
  tcti?: string;
  /** Environment for the capability check and tools' PATH. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
  /** Timeout in ms for each tpm2-tools command the attestor runs. Default 60 000. */
  toolTimeoutMs?: number;
}

const FILES = { ekCtx: 'ek.ctx', ekPub: 'ek.pub', akCtx: 'ak.ctx', akPriv: 'ak.priv', akPub: 'ak.tpub', akName: 'ak.name' } as const;

/**
 * Attests this node's Ed25519 key with the host's TPM. One instance runs one tpm2-tools command at a time
 * (a TPM without a resource manager serves one client); separate processes must not share a TPM that has
 * no resource manager at the same moment.
 *
 * State directory: `ak.priv` / `ak.tpub` (the AK's blob wrapped by the TPM's EK, and its public area; useless
 * without that TPM), `ak.name`, and saved contexts `ek.ctx`, `ak.ctx` that are valid until the TPM resets,
 * so {@link attestationKey} re-loads the AK under a re-derived EK once per attestor.
 */
export class TpmAttestor {
  private chain: Promise<unknown> = Promise.resolve();
  private key: Promise<AttestationKey> | undefined;

  private constructor(readonly tcti: string, readonly stateDir: string, private readonly toolPath: string | undefined, private readonly timeoutMs: number | undefined) {}

  /**
   * Opens an attestor on the TPM named by `opts.tcti` or found by {@link tpmCapability}. Creates nothing on
   * the TPM yet.
   * @throws Error with the capability's reason when there is no usable TPM (check {@link tpmCapability}
   * first: no TPM is a capability, not an error).
   */
  static async open(opts: TpmAttestorOptions): Promise<TpmAttestor> {
    if (typeof opts?.stateDir !== 'string' || !opts.stateDir) throw new TypeError('TpmAttestor.open: stateDir must be a non-empty string');
    const env = opts.env ?? process.env;
    const cap = tpmCapability(opts.tcti ? { ...env, TPM2TOOLS_TCTI: opts.tcti } : env);
    if (!cap.present) throw new Error(`TpmAttestor.open: ${cap.reason}`);
    const dir = path.resolve(opts.stateDir);
    await mkdir(dir, { recursive: true, mode: 0o700 });
    await chmod(dir, 0o700);
    return new TpmAttestor(cap.tcti!, dir, env.PATH, opts.toolTimeoutMs);
  }

  /** Runs `fn` after every earlier operation of this attestor has settled. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.chain.then(fn, fn);
    this.chain = next.catch(() => undefined);
    return next;
  }

  private tool(tool: string, args: string[], cwd = this.stateDir): Promise<string> {
    return runTpmTool(tool, args, { tcti: this.tcti, cwd, path: this.toolPath, timeoutMs: this.timeoutMs });
  }

  /** Runs a tool, then flushes transient objects whether it succeeded or not (no resource manager). */
  private async step(tool: string, args: string[], cwd?: string): Promise<string> {
    try {
      return await this.tool(tool, args, cwd);
    } finally {
      await this.tool('tpm2_flushcontext', ['-t'], cwd).catch(() => undefined);
    }
  }

  private async restrict(...files: string[]): Promise<void> {
    for (const f of files) await chmod(path.join(this.stateDir, f), 0o600);
  }

  /** Creates the EK (RSA 2048, TCG default template: the same key every time on one TPM) as ek.ctx. */
  private async createEk(): Promise<void> {
    await this.step('tpm2_createek', ['-c', FILES.ekCtx, '-G', 'rsa', '-u', FILES.ekPub]);
    await this.restrict(FILES.ekCtx, FILES.ekPub);
  }

  private async describe(created: boolean): Promise<AttestationKey> {
    const tpub = new Uint8Array(await readFile(path.join(this.stateDir, FILES.akPub)));
    const nameFile = new Uint8Array(await readFile(path.join(this.stateDir, FILES.akName)));
    const ak = parseAkPublic(tpub, true);
    if (!equal(ak.name, nameFile)) throw new Error(`TpmAttestor: the AK's name ${toHex(nameFile)} from the TPM does not match its public area (${toHex(ak.name)})`);
    return { publicKeyPem: ak.publicKeyPem, name: toHex(ak.name), publicArea: toHex(tpub.subarray(2)), created };
  }

  /**
   * Creates a new attestation key (ECC P-256, ECDSA, SHA-256; restricted signing key under the EK) and
   * stores it in the state directory, replacing any earlier one.
   */
  createAttestationKey(): Promise<AttestationKey> {
    const p = this.exclusive(async () => {
      await this.createEk();
      const tmp = ['ak.ctx.new', 'ak.priv.new', 'ak.tpub.new', 'ak.name.new'];
      await this.step('tpm2_createak', ['-C', FILES.ekCtx, '-c', tmp[0]!, '-G', 'ecc', '-g', 'sha256', '-s', 'ecdsa', '-u', tmp[2]!, '-f', 'tss', '-r', tmp[1]!, '-n', tmp[3]!]);
      await this.restrict(...tmp);
      for (const [i, f] of [FILES.akCtx, FILES.akPriv, FILES.akPub, FILES.akName].entries()) await rename(path.join(this.stateDir, tmp[i]!), path.join(this.stateDir, f));
      return this.describe(true);
    });
    this.key = p;
    return p;
  }

  /** Re-derives the EK and loads the stored AK blob under it (a policy session with PolicySecret(endorsement)). */
  private async reload(): Promise<AttestationKey> {
    await this.createEk();
    const work = await mkdtemp(path.join(this.stateDir, 'load-'));
    try {
      await this.tool('tpm2_startauthsession', ['--policy-session', '-S', 'session.ctx'], work);
      try {
        await this.tool('tpm2_policysecret', ['-S', 'session.ctx', '-c', 'e'], work);
        await this.tool('tpm2_load', ['-C', path.join(this.stateDir, FILES.ekCtx), '-u', path.join(this.stateDir, FILES.akPub), '-r', path.join(this.stateDir, FILES.akPriv),
          '-c', 'ak.ctx', '-n', 'ak.name', '-P', 'session:session.ctx'], work);
      } finally {
        await this.tool('tpm2_flushcontext', ['session.ctx'], work).catch(() => undefined);
        await this.tool('tpm2_flushcontext', ['-t'], work).catch(() => undefined);
      }
      const loaded = new Uint8Array(await readFile(path.join(work, 'ak.name')));
      const stored = new Uint8Array(await readFile(path.join(this.stateDir, FILES.akName)));
      if (!equal(loaded, stored)) throw new Error(`TpmAttestor: the reloaded AK's name ${toHex(loaded)} differs from the stored ${toHex(stored)}`);
      await chmod(path.join(work, 'ak.ctx'), 0o600);
      await rename(path.join(work, 'ak.ctx'), path.join(this.stateDir, FILES.akCtx));
    } finally {
      await rm(work, { recursive: true, force: true });
    }
    return this.describe(false);
  }

  /**
   * The attestation key: loaded from the state directory (once per attestor, so a TPM reset since the last
   * run does not matter) or created there when there is none.
   */
  attestationKey(): Promise<AttestationKey> {
    this.key ??= this.exclusive(async () => {
      const have = await Promise.all([FILES.akPriv, FILES.akPub, FILES.akName].map((f) => readFile(path.join(this.stateDir, f)).then(() => true, () => false)));
      return have.every(Boolean) ? this.reload() : undefined;
    }).then((k) => k ?? this.createAttestationKey());
    this.key.catch(() => { this.key = undefined; });
    return this.key;
  }

  /**
   * Quotes the SHA-256 bank's `pcrs` with qualifying data {@link qualifyingData}(nodePublicKey, nonce),
   * signed by the attestation key (created first if needed). The PCR values come from the same tpm2_quote
   * run; if a PCR changes between the quote and the read (their hash then differs from the quote's
   * pcrDigest), the quote is taken again, up to 3 times. If the saved AK context no longer loads (the TPM
   * was reset since), the AK is reloaded from the state directory and the quote retried once.
   * @throws TypeError / RangeError naming the field for bad input; TpmToolError when the TPM fails.
   */
  async quote(req: QuoteRequest): Promise<TpmQuote> {
    if (typeof req !== 'object' || req === null) throw new TypeError(`quote: request must be an object, got ${typeName(req)}`);
    checkBytes('quote', 'nodePublicKey', req.nodePublicKey, 32, 32);
    checkBytes('quote', 'nonce', req.nonce, NONCE_MIN, NONCE_MAX);
    if (!Array.isArray(req.pcrs)) throw new TypeError(`quote: pcrs must be an array of PCR indices, got ${typeName(req.pcrs)}`);
    const pcrs = [...new Set(req.pcrs.map((p, i) => checkPcrIndex('quote', `pcrs[${i}]`, p)))].sort((a, b) => a - b);
    if (!pcrs.length) throw new RangeError('quote: pcrs must name at least one PCR');
    const qd = toHex(qualifyingData(req.nodePublicKey, req.nonce));
    await this.attestationKey();
    return this.exclusive(async () => {
      const work = await mkdtemp(path.join(this.stateDir, 'quote-'));
      try {
        const args = ['-c', path.join(this.stateDir, FILES.akCtx), '-l', `sha256:${pcrs.join(',')}`, '-q', qd, '-g', 'sha256',
          '-m', 'quote.msg', '-s', 'quote.sig', '-f', 'tss', '-o', 'quote.pcrs', '-F', 'values'];
        for (let attempt = 1; ; attempt++) {
          try {
            await this.step('tpm2_quote', args, work);
          } catch (e) {
            // The saved AK context dies with a TPM Reset (reboot, swtpm restart): reload the AK once and retry.
            if (!(e instanceof TpmToolError) || attempt > 1) throw e;
            await this.reload();
            await this.step('tpm2_quote', args, work);
          }
          const [attest, sig, values] = await Promise.all(['quote.msg', 'quote.sig', 'quote.pcrs'].map(async (f) => new Uint8Array(await readFile(path.join(work, f)))));
          if (values!.length !== 32 * pcrs.length) throw new Error(`quote: tpm2_quote wrote ${values!.length} bytes of PCR values for ${pcrs.length} PCRs`);
          const parsed = parseQuoteAttest(attest!);
          if (!equal(parsed.pcrDigest, sha256(values!)) && attempt < 3) continue; // a PCR changed between quote and read
          const out: Record<number, string> = {};
          pcrs.forEach((p, i) => { out[p] = toHex(values!.subarray(32 * i, 32 * i + 32)); });
          return { attest: toHex(attest!), signature: toHex(sig!), pcrBank: 'sha256', pcrs: out };
        }
      } finally {
        await rm(work, { recursive: true, force: true });
      }
    });
  }
}

// ---------------------------------------------------------------------------------------------------------
// Verifier

/** What a verifier expects of a quote. */
export interface QuoteExpectations {
  /** The attestation key the verifier trusts for this node (SPKI PEM, or a KeyObject made from it). */
  akPublicPem: string | KeyObject;
  /** The node's raw Ed25519 public key, 32 bytes. */
  nodePublicKey: Uint8Array;
  /** The nonce the verifier sent. */
  nonce: Uint8Array;
  /** Expected SHA-256 bank values by PCR index (hex, 64 digits); the quote must select exactly these PCRs. */
  pcrPolicy: Record<number, string>;
}

/** The result of {@link verifyQuote}. */
export type QuoteVerdict = { ok: true; reason?: undefined; attest: TpmAttest } | { ok: false; reason: string; attest?: undefined };

function checkAkKey(v: unknown): KeyObject {
  let key: KeyObject;
  if (v instanceof KeyObject) key = v;
  else if (typeof v === 'string') {
    try {
      key = createPublicKey(v);
    } catch (e) {
      throw new RangeError(`verifyQuote: akPublicPem is not a public key (${(e as Error).message})`);
    }
  } else throw new TypeError(`verifyQuote: akPublicPem must be a PEM string or KeyObject, got ${typeName(v)}`);
  if (key.type !== 'public' || key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new RangeError(`verifyQuote: akPublicPem must be an EC P-256 public key, got ${key.type} ${key.asymmetricKeyType ?? ''} ${key.asymmetricKeyDetails?.namedCurve ?? ''}`.trim());
  }
  return key;
}

function checkPolicy(v: unknown): Map<number, Uint8Array> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new TypeError(`verifyQuote: pcrPolicy must be an object of PCR index -> hex digest, got ${typeName(v)}`);
  const out = new Map<number, Uint8Array>();
  for (const [k, d] of Object.entries(v)) {
    const idx = checkPcrIndex('verifyQuote', `pcrPolicy key ${JSON.stringify(k)}`, k);
    const digest = fromHex('verifyQuote', `pcrPolicy[${idx}]`, d);
    if (digest.length !== 32) throw new RangeError(`verifyQuote: pcrPolicy[${idx}] must be a SHA-256 digest (64 hex digits), got ${digest.length} bytes`);
    out.set(idx, digest);
  }
  if (!out.size) throw new RangeError('verifyQuote: pcrPolicy must name at least one PCR');
  return new Map([...out].sort((a, b) => a[0] - b[0]));
}

/**
 * Verifies a quote without a TPM: (1) the TPMT_SIGNATURE is ECDSA P-256/SHA-256 by the attestation key over
 * the exact attest bytes; (2) the attest is a well-formed TPMS_ATTEST quote (`parseQuoteAttest`);
 * (3) its extraData equals {@link qualifyingData}(nodePublicKey, nonce), so a wrong nonce or another node's
 * key fails; (4) it selects exactly the policy's PCRs in the SHA-256 bank and nothing else; (5) its
 * pcrDigest equals SHA-256 of the policy's values concatenated in ascending PCR order, so a changed PCR
 * fails (when the quote's reported values hash to pcrDigest, the reason names the PCRs that differ).
 *
 * Content that does not verify is a verdict `{ ok: false, reason }`; input of the wrong shape throws.
 * @throws TypeError for a wrong type, RangeError for a bad value (the message names the field): a quote that
 * is not an object of hex strings, a key that is not EC P-256, a node key that is not 32 bytes, a nonce
 * outside NONCE_MIN..NONCE_MAX bytes, a policy with bad indices or digests.
 */
export function verifyQuote(quote: TpmQuote, expected: QuoteExpectations): QuoteVerdict {
  if (typeof quote !== 'object' || quote === null) throw new TypeError(`verifyQuote: quote must be an object, got ${typeName(quote)}`);
  if (typeof expected !== 'object' || expected === null) throw new TypeError(`verifyQuote: expectations must be an object, got ${typeName(expected)}`);
  const attest = fromHex('verifyQuote', 'quote.attest', quote.attest);
  const sigBytes = fromHex('verifyQuote', 'quote.signature', quote.signature);
  if (quote.pcrBank !== undefined && quote.pcrBank !== 'sha256') throw new RangeError(`verifyQuote: quote.pcrBank must be 'sha256', got ${String(quote.pcrBank)}`);
  const key = checkAkKey(expected.akPublicPem);
  const qd = qualifyingData(expected.nodePublicKey, expected.nonce);
  const policy = checkPolicy(expected.pcrPolicy);
  let reported: Map<number, Uint8Array> | undefined;
  if (quote.pcrs !== undefined) {
    if (typeof quote.pcrs !== 'object' || quote.pcrs === null) throw new TypeError(`verifyQuote: quote.pcrs must be an object, got ${typeName(quote.pcrs)}`);
    reported = new Map(Object.entries(quote.pcrs).map(([k, d]) => [checkPcrIndex('verifyQuote', `quote.pcrs key ${JSON.stringify(k)}`, k), fromHex('verifyQuote', `quote.pcrs[${k}]`, d)]));
  }

  let rs: Uint8Array;
  try {
    rs = parseEcdsaSignature(sigBytes);
  } catch (e) {
    return { ok: false, reason: `signature: ${(e as Error).message}` };
  }
  if (!cryptoVerify('sha256', attest, { key, dsaEncoding: 'ieee-p1363' }, rs)) return { ok: false, reason: 'signature: does not verify under the attestation key' };

  let a: TpmAttest;
  try {
    a = parseQuoteAttest(attest);
  } catch (e) {
    return { ok: false, reason: `attest: ${(e as Error).message}` };
  }
  if (!equal(a.extraData, qd)) return { ok: false, reason: 'qualifying data: extraData is not SHA-256(tag || node key || nonce) for this node key and nonce (wrong nonce or another node\'s key)' };

  const want = [...policy.keys()];
  const banks = a.pcrSelect.filter((s) => s.pcrs.length);
  const got = banks.length === 1 && banks[0]!.hashAlg === TPM_ALG_SHA256 ? banks[0]!.pcrs : undefined;
  if (!got || got.join(',') !== want.join(',')) {
    const desc = banks.map((s) => `0x${s.hashAlg.toString(16).padStart(4, '0')}:{${s.pcrs.join(',')}}`).join(' ') || 'none';
    return { ok: false, reason: `PCR selection: the quote selects ${desc}, the policy wants sha256:{${want.join(',')}}` };
  }
  if (!equal(a.pcrDigest, sha256(...policy.values()))) {
    let which = '';
    if (reported && want.every((i) => reported!.get(i)?.length === 32) && equal(a.pcrDigest, sha256(...want.map((i) => reported!.get(i)!)))) {
      const diff = want.filter((i) => !equal(reported!.get(i)!, policy.get(i)!));
      which = ` (PCR ${diff.join(', ')} ${diff.length > 1 ? 'differ' : 'differs'} from the policy)`;
    }
    return { ok: false, reason: `PCR digest: pcrDigest does not match the policy's PCR values${which}` };
  }
  return { ok: true, attest: a };
}
