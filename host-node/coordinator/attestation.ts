/**
 * TPM attestation at join, coordinator side (docs/tpm.md, "Attestation at join"). The coordinator hands out
 * single-use nonces (`GET /api/attest-nonce`); a joining participant with a TPM quotes its PCRs with
 * qualifying data SHA-256("meshwork/tpm-quote/v1" || 0x00 || its Ed25519 key || nonce) and puts the quote,
 * the nonce and its attestation key's public area in the join payload (`JoinRequest.attestation`). The
 * coordinator checks, once the join envelope's signature verified: the nonce was issued here, is unexpired
 * and unused (it is used up by this check, whatever the verdict); the AK's public area is that of a
 * restricted P-256 signing key (and, when the coordinator pins AKs, one of them); the quote's signature under
 * that AK, its structure, its binding to the envelope's sender key and this nonce, and its PCRs (exactly the
 * policy's, when one is set; otherwise whatever the quote selects, with values that must hash to its
 * pcrDigest). No TPM and no tpm2-tools are needed here: host-node/tpm.ts verifies in TypeScript.
 *
 * A join without evidence is accepted (not attested) unless the coordinator requires attestation.
 * @module
 */
import { randomBytes } from 'node:crypto';
import type { JoinRequest } from '../../runtime/fl/protocol.js';
import { parseAkPublic, PCR_MAX, verifyQuote, type TpmQuote } from '../tpm.js';

/** Options of a {@link JoinAttestation}. */
export interface JoinAttestationOptions {
  /** How long an issued nonce is accepted (ms). Default 300 000 (5 minutes). */
  nonceTtlMs?: number;
  /** Most nonces outstanding at once; issuing one more drops the oldest. Default 10 000. */
  maxNonces?: number;
  /** Refuse joins without evidence. Default false: they are accepted, not attested. */
  required?: boolean;
  /**
   * Expected SHA-256 PCR values by index (hex, 64 digits): a quote must select exactly these PCRs, with
   * these values. Default: none; whatever PCRs the quote selects are accepted, and recorded.
   */
  pcrPolicy?: Record<number, string>;
  /**
   * TPM names (hex, `000b` + SHA-256 of the TPMT_PUBLIC: what `/api/status` shows as `ak`) of the attestation
   * keys this coordinator trusts; a quote by any other AK is refused. Default: none; any AK whose public
   * area is that of a restricted signing key is taken as presented (see docs/tpm.md for what that proves).
   */
  trustedAks?: string[];
  /** Clock (epoch ms); tests may replace it. */
  now?: () => number;
}

/** The outcome of {@link JoinAttestation.verify} for a join that is not refused. */
export interface AttestationVerdict {
  /** True when the join carried a quote that verified. */
  attested: boolean;
  /** TPM name (hex) of the attestation key that signed the quote. */
  ak?: string;
  /** The PCR indices the quote covered (SHA-256 bank), ascending. */
  pcrs?: number[];
}

/**
 * A refused attestation. `code` is always `'attestation'`; `field` names the part of the join payload at
 * fault (`attestation`, `attestation.nonce`, `attestation.akPublic`, `attestation.quote.signature`, ...);
 * `status` is the HTTP status to answer: 400 malformed evidence, 403 evidence that does not verify or is
 * missing where required, 409 a nonce that was not issued here, is used up or expired (fetch a fresh one).
 */
export class AttestationError extends Error {
  override name = 'AttestationError';
  readonly code = 'attestation' as const;
  constructor(readonly status: 400 | 403 | 409, readonly field: string, message: string) {
    super(message);
  }
}

const NONCE_BYTES = 32;
const HEX = /^(?:[0-9a-f]{2})*$/;

function typeName(v: unknown): string {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function hexField(v: unknown, field: string, maxChars = 8192): string {
  if (typeof v !== 'string') throw new AttestationError(400, field, `${field} must be a hex string, got ${typeName(v)}`);
  if (v.length > maxChars) throw new AttestationError(400, field, `${field} is ${v.length} hex digits, more than ${maxChars}`);
  if (!HEX.test(v.toLowerCase())) throw new AttestationError(400, field, `${field} is not an even-length hex string`);
  return v.toLowerCase();
}

/** The verifier's field for a reason of `verifyQuote` (its reasons start with the check that failed). */
function fieldOfReason(reason: string): string {
  if (reason.startsWith('signature')) return 'attestation.quote.signature';
  if (reason.startsWith('PCR')) return 'attestation.quote.pcrs';
  return 'attestation.quote.attest'; // attest structure, qualifying data (extraData)
}

/**
 * Issues join nonces and verifies the TPM evidence of joins. One per coordinator; nonces live in memory (a
 * restarted coordinator refuses the nonces of the one before with 409, and the worker fetches a new one).
 */
export class JoinAttestation {
  readonly nonceTtlMs: number;
  readonly maxNonces: number;
  readonly required: boolean;
  readonly pcrPolicy: Record<number, string> | undefined;
  readonly trustedAks: ReadonlySet<string> | undefined;
  private readonly now: () => number;
  /** Outstanding nonces (hex) -> expiry; insertion order is issue order. */
  private readonly nonces = new Map<string, number>();

  /**
   * @throws TypeError / RangeError naming the option for a bad TTL, limit, PCR policy or AK name.
   */
  constructor(opts: JoinAttestationOptions = {}) {
    if (!isObject(opts)) throw new TypeError(`JoinAttestation: options must be an object, got ${typeName(opts)}`);
    const known = ['nonceTtlMs', 'maxNonces', 'required', 'pcrPolicy', 'trustedAks', 'now'];
    for (const k of Object.keys(opts)) if (!known.includes(k)) throw new RangeError(`JoinAttestation: ${k} is not an option (known: ${known.join(', ')})`);
    const ttl = opts.nonceTtlMs ?? 300_000, max = opts.maxNonces ?? 10_000;
    if (typeof ttl !== 'number' || !Number.isInteger(ttl) || ttl < 1000 || ttl > 86_400_000) throw new RangeError(`JoinAttestation: nonceTtlMs must be an integer in [1000, 86400000], got ${String(ttl)}`);
    if (typeof max !== 'number' || !Number.isInteger(max) || max < 1 || max > 10_000_000) throw new RangeError(`JoinAttestation: maxNonces must be an integer in [1, 10000000], got ${String(max)}`);
    if (opts.required !== undefined && typeof opts.required !== 'boolean') throw new TypeError(`JoinAttestation: required must be a boolean, got ${typeName(opts.required)}`);
    this.nonceTtlMs = ttl;
    this.maxNonces = max;
    this.required = opts.required ?? false;
    if (opts.pcrPolicy !== undefined) {
      if (!isObject(opts.pcrPolicy)) throw new TypeError(`JoinAttestation: pcrPolicy must be an object of PCR index -> hex SHA-256 value, got ${typeName(opts.pcrPolicy)}`);
      const policy: Record<number, string> = {};
      for (const [k, v] of Object.entries(opts.pcrPolicy)) {
        const i = Number(k);
        if (!/^\d+$/.test(k) || i > PCR_MAX) throw new RangeError(`JoinAttestation: pcrPolicy key ${JSON.stringify(k)} is not a PCR index 0..${PCR_MAX}`);
        if (typeof v !== 'string' || !/^[0-9a-fA-F]{64}$/.test(v)) throw new RangeError(`JoinAttestation: pcrPolicy[${k}] must be a SHA-256 value (64 hex digits)`);
        policy[i] = v.toLowerCase();
      }
      if (!Object.keys(policy).length) throw new RangeError('JoinAttestation: pcrPolicy must name at least one PCR');
      this.pcrPolicy = policy;
    }
    if (opts.trustedAks !== undefined) {
      if (!Array.isArray(opts.trustedAks)) throw new TypeError(`JoinAttestation: trustedAks must be an array of AK names (hex), got ${typeName(opts.trustedAks)}`);
      for (const [i, n] of opts.trustedAks.entries()) {
        if (typeof n !== 'string' || !/^000b[0-9a-f]{64}$/i.test(n)) throw new RangeError(`JoinAttestation: trustedAks[${i}] must be a TPM name: 000b followed by 64 hex digits`);
      }
      this.trustedAks = new Set(opts.trustedAks.map((n) => n.toLowerCase()));
    }
    const now: unknown = opts.now ?? Date.now;
    if (typeof now !== 'function') throw new TypeError('JoinAttestation: now must be a function');
    this.now = now as () => number;
  }

  /** Nonces issued and neither used nor expired yet (expired ones are dropped when the next is issued). */
  get outstanding(): number {
    return this.nonces.size;
  }

  /** A fresh nonce (32 random bytes, hex) for one join's quote, accepted once until `expiresAt` (epoch ms). */
  issueNonce(): { nonce: string; expiresAt: number } {
    const now = this.now();
    for (const [n, exp] of this.nonces) {
      if (exp > now && this.nonces.size < this.maxNonces) break;
      this.nonces.delete(n); // expired, or the oldest when at the limit
    }
    const nonce = randomBytes(NONCE_BYTES).toString('hex');
    const expiresAt = now + this.nonceTtlMs;
    this.nonces.set(nonce, expiresAt);
    return { nonce, expiresAt };
  }

  /** Uses up `nonce`: true when it was issued here, unused and unexpired. */
  private take(nonce: string): 'ok' | 'unknown' | 'expired' {
    const exp = this.nonces.get(nonce);
    if (exp === undefined) return 'unknown';
    this.nonces.delete(nonce);
    return exp > this.now() ? 'ok' : 'expired';
  }

  /**
   * Verifies the TPM evidence of a join whose envelope signature has already verified; `sender` is that
   * envelope's sender key (raw Ed25519, 32 bytes). The nonce is used up by this call, whatever the verdict.
   * @returns `{ attested: false }` for a join without evidence (when not required), `{ attested: true, ak,
   *   pcrs }` for evidence that verifies.
   * @throws AttestationError (code 'attestation', with the field and the HTTP status) for evidence that is
   *   malformed, does not verify, uses a nonce that is not outstanding, or is missing where required.
   */
  async verify(req: JoinRequest, sender: Uint8Array): Promise<AttestationVerdict> {
    if (!(sender instanceof Uint8Array) || sender.length !== 32) throw new TypeError('JoinAttestation.verify: sender must be a 32-byte Ed25519 public key');
    const ev = (req as { attestation?: unknown } | null)?.attestation;
    if (ev === undefined) {
      if (this.required) throw new AttestationError(403, 'attestation', 'this coordinator admits only TPM-attested participants: the join carries no attestation (run the worker on a host with a TPM, with --tpm)');
      return { attested: false };
    }
    if (!isObject(ev)) throw new AttestationError(400, 'attestation', `attestation must be an object, got ${typeName(ev)}`);
    if (ev.type !== 'tpm2-quote') throw new AttestationError(400, 'attestation.type', `attestation.type must be 'tpm2-quote', got ${JSON.stringify(ev.type) ?? 'nothing'}`);
    const nonce = hexField(ev.nonce, 'attestation.nonce', 2 * NONCE_BYTES);
    if (nonce.length !== 2 * NONCE_BYTES) throw new AttestationError(400, 'attestation.nonce', `attestation.nonce must be ${NONCE_BYTES} bytes (${2 * NONCE_BYTES} hex digits), got ${nonce.length / 2} bytes`);
    const taken = this.take(nonce);
    if (taken !== 'ok') {
      throw new AttestationError(409, 'attestation.nonce', taken === 'expired'
        ? `attestation.nonce expired (nonces are accepted for ${this.nonceTtlMs / 1000} s); GET /api/attest-nonce for a fresh one`
        : 'attestation.nonce was not issued by this coordinator or was already used; GET /api/attest-nonce for a fresh one');
    }

    const akPublic = hexField(ev.akPublic, 'attestation.akPublic', 1024);
    let ak;
    try {
      ak = parseAkPublic(new Uint8Array(Buffer.from(akPublic, 'hex')));
    } catch (e) {
      throw new AttestationError(403, 'attestation.akPublic', `attestation.akPublic is not an attestation key's public area: ${(e as Error).message}`);
    }
    const akName = Buffer.from(ak.name).toString('hex');
    if (this.trustedAks && !this.trustedAks.has(akName)) throw new AttestationError(403, 'attestation.akPublic', `attestation key ${akName} is not one this coordinator trusts`);

    const q = ev.quote;
    if (!isObject(q)) throw new AttestationError(400, 'attestation.quote', `attestation.quote must be an object, got ${typeName(q)}`);
    const quote: TpmQuote = {
      attest: hexField(q.attest, 'attestation.quote.attest'),
      signature: hexField(q.signature, 'attestation.quote.signature'),
      pcrBank: 'sha256',
      pcrs: {},
    };
    if (q.pcrBank !== 'sha256') throw new AttestationError(400, 'attestation.quote.pcrBank', `attestation.quote.pcrBank must be 'sha256', got ${JSON.stringify(q.pcrBank) ?? 'nothing'}`);
    if (!isObject(q.pcrs)) throw new AttestationError(400, 'attestation.quote.pcrs', `attestation.quote.pcrs must be an object of PCR index -> hex value, got ${typeName(q.pcrs)}`);
    for (const [k, v] of Object.entries(q.pcrs)) {
      if (!/^\d+$/.test(k) || Number(k) > PCR_MAX) throw new AttestationError(400, 'attestation.quote.pcrs', `attestation.quote.pcrs key ${JSON.stringify(k.slice(0, 8))} is not a PCR index 0..${PCR_MAX}`);
      const h = hexField(v, `attestation.quote.pcrs.${k}`, 64);
      if (h.length !== 64) throw new AttestationError(400, `attestation.quote.pcrs.${k}`, `attestation.quote.pcrs.${k} must be a SHA-256 value (64 hex digits)`);
      quote.pcrs[Number(k)] = h;
    }
    const policy = this.pcrPolicy ?? quote.pcrs;
    if (!Object.keys(policy).length) throw new AttestationError(400, 'attestation.quote.pcrs', 'attestation.quote.pcrs names no PCR (the values quoted are needed when the coordinator has no PCR policy)');

    let verdict;
    try {
      verdict = verifyQuote(quote, { akPublicPem: ak.publicKeyPem, nodePublicKey: sender, nonce: new Uint8Array(Buffer.from(nonce, 'hex')), pcrPolicy: policy });
    } catch (e) {
      if (e instanceof TypeError || e instanceof RangeError) throw new AttestationError(400, 'attestation.quote', `attestation.quote: ${e.message}`);
      throw e;
    }
    if (!verdict.ok) throw new AttestationError(403, fieldOfReason(verdict.reason), `TPM quote refused: ${verdict.reason}`);
    const pcrs = verdict.attest.pcrSelect.flatMap((s) => s.pcrs).sort((a, b) => a - b);
    return { attested: true, ak: akName, pcrs };
  }
}
