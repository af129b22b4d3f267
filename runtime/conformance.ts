/**
 * Conformance: kernel cases as data (inputs described by seeded fills or literal values, attributes, and
 * the SHA-256 of the reference output), run on any backend and host, compared by output bytes.
 * f32 outputs are hashed with every NaN written as 0x7fc00000: Wasm leaves NaN sign and payload
 * unspecified, so NaN bits are outside the contract (a NaN must stay a NaN).
 * @module
 */
import { allocOf, bytesOf, type DType, type TypedArray } from './errors.js';
import { OPS } from './ops/index.js';
import type { Inputs } from './ops/types.js';
import { randomNormalRef, randomU32Ref, randomUniformRef } from './reference/random.js';
import { runKernel } from './registry.js';

/** How one input is filled: seeded draws, a literal list (cycled), or the edge-value mix. */
export interface FillSpec {
  fill: 'normal' | 'uniform' | 'int' | 'values' | 'edge';
  length: number;
  seed?: number;
  /** normal: standard deviation; default 1. */
  scale?: number;
  /** uniform / int: bounds (int: inclusive). */
  lo?: number;
  hi?: number;
  /** values: numbers or 'inf', '-inf', 'nan', '-0'; cycled to length. */
  values?: (number | string)[];
}

/** One case: attributes, inputs by name, and the expected output hash (the reference's). */
export interface CaseSpec {
  name: string;
  attrs: Record<string, unknown>;
  inputs: Record<string, FillSpec>;
  sha256?: string;
}

/** One case file: all cases of one op. */
export interface CaseFile {
  op: string;
  cases: CaseSpec[];
}

/** One row of a conformance report. */
export interface ConformanceRow {
  kernel: string;
  case: string;
  backend: string;
  host: string;
  sha256: string;
  /** The output hash equals the case file's reference hash. */
  equal: boolean;
  /** Set when the backend threw (the hash is then empty). */
  error?: string;
}

// f32 edge values: ±0, smallest/largest subnormals, smallest normal, ±max, ±1, values near the 2^24 step.
const EDGE_F32 = [0, -0, 1.401298464324817e-45, -1.401298464324817e-45, 1.1754942106924411e-38, 1.1754943508222875e-38,
  -1.1754943508222875e-38, 3.4028234663852886e38, -3.4028234663852886e38, 1, -1, 0.5, 16777216, 16777217, -3.0000001192092896, 1e-30, 1e30];
const EDGE_I64 = [0n, 1n, -1n, 2n ** 63n - 1n, -(2n ** 63n), 2n ** 63n - 2n, -(2n ** 63n) + 1n, 2n ** 53n, -(2n ** 53n) - 1n, 2n ** 32n, -(2n ** 31n)];
const EDGE_I32 = [0, 1, -1, 2147483647, -2147483648, 2147483646, -2147483647, 65536, -65536, 12345, -12345];

function literal(v: number | string): number {
  if (typeof v === 'number') return v;
  switch (v) {
    case 'inf': return Infinity;
    case '-inf': return -Infinity;
    case 'nan': return NaN;
    case '-0': return -0;
    default: throw new RangeError(`case value '${v}' is not a number, 'inf', '-inf', 'nan' or '-0'`);
  }
}

/** Builds one input array from its fill spec. Fills draw from the reference Philox (stream 0xCA5E). */
export function fillInput(dtype: DType, spec: FillSpec): TypedArray {
  const n = spec.length;
  const out = allocOf(dtype, n);
  const pos = { seedLo: spec.seed ?? 0, seedHi: 0, stream: 0xca5e, offset: 0 };
  const set = (i: number, v: number) => {
    if (dtype === 'i64') (out as BigInt64Array)[i] = BigInt(Math.trunc(v));
    else (out as Float32Array)[i] = v;
  };
  switch (spec.fill) {
    case 'normal': {
      const z = randomNormalRef(n, pos);
      for (let i = 0; i < n; i++) set(i, dtype === 'f32' ? z[i]! * (spec.scale ?? 1) : Math.round(z[i]! * (spec.scale ?? 1)));
      break;
    }
    case 'uniform': {
      const u = randomUniformRef(n, pos);
      const lo = spec.lo ?? 0, hi = spec.hi ?? 1;
      for (let i = 0; i < n; i++) set(i, lo + u[i]! * (hi - lo));
      break;
    }
    case 'int': {
      if (dtype === 'i64' && spec.lo === undefined && spec.hi === undefined) {
        // Full 64-bit range: two draws per value, low word first.
        const r = randomU32Ref(2 * n, pos);
        for (let i = 0; i < n; i++) (out as BigInt64Array)[i] = BigInt.asIntN(64, (BigInt(r[2 * i + 1]!) << 32n) | BigInt(r[2 * i]!));
        break;
      }
      const r = randomU32Ref(n, pos);
      const lo = spec.lo ?? -(2 ** 31), hi = spec.hi ?? 2 ** 31 - 1;
      const span = hi - lo + 1;
      for (let i = 0; i < n; i++) set(i, lo + (span >= 2 ** 32 ? r[i]! : r[i]! % span));
      break;
    }
    case 'values': {
      const vals = (spec.values ?? []).map(literal);
      if (!vals.length && n) throw new RangeError("a 'values' fill needs a non-empty values list");
      for (let i = 0; i < n; i++) set(i, vals[i % vals.length]!);
      break;
    }
    case 'edge': {
      // Edge values interleaved with seeded ordinary ones, so both meet in one kernel call.
      if (dtype === 'i64') {
        const z = randomU32Ref(n, pos);
        for (let i = 0; i < n; i++) (out as BigInt64Array)[i] = i % 3 === 0 ? EDGE_I64[(i / 3) % EDGE_I64.length]! : BigInt(z[i]! | 0) * 4096n;
        break;
      }
      const base = dtype === 'f32' ? EDGE_F32 : EDGE_I32;
      const z = randomNormalRef(n, pos);
      for (let i = 0; i < n; i++) set(i, i % 3 === 0 ? base[(i / 3) % base.length]! : dtype === 'f32' ? z[i]! : Math.round(z[i]! * 1000));
      break;
    }
    default:
      throw new RangeError(`unknown fill '${(spec as FillSpec).fill}'`);
  }
  return out;
}

/** Builds all inputs of a case for its op. */
export function caseInputs(op: string, spec: CaseSpec): Inputs {
  const def = OPS.get(op);
  if (!def) throw new RangeError(`unknown op '${op}'`);
  const inputs: Inputs = {};
  for (const { name, dtype } of def.inputs) {
    const fill = spec.inputs[name];
    if (!fill) throw new RangeError(`case ${op}/${spec.name}: input '${name}' is missing`);
    inputs[name] = fillInput(dtype, fill);
  }
  return inputs;
}

/** The bytes that are hashed for a list of outputs (NaNs canonicalised in f32 outputs). */
export function outputBytes(outputs: TypedArray[], dtypes: readonly DType[]): Uint8Array {
  const total = outputs.reduce((s, o, i) => s + o.length * bytesOf(dtypes[i]!), 0);
  const bytes = new Uint8Array(total);
  let at = 0;
  outputs.forEach((o, i) => {
    const view = new Uint8Array(o.buffer, o.byteOffset, o.byteLength);
    bytes.set(view, at);
    if (dtypes[i] === 'f32') {
      const f = new Float32Array(bytes.buffer, at, o.length);
      const u = new Uint32Array(bytes.buffer, at, o.length);
      for (let j = 0; j < f.length; j++) if (f[j] !== f[j]) u[j] = 0x7fc00000;
    }
    at += o.byteLength;
  });
  return bytes;
}

/** SHA-256 (hex) through WebCrypto, available in Node 20 and in secure browser contexts. */
export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}

/** The output dtypes of an op. */
export function outputDtypes(op: string): DType[] {
  return OPS.get(op)!.outputs.map((o) => o.dtype);
}

/** Runs every case of the files on each backend (in this host) and compares with the reference hash. */
export async function runConformance(files: CaseFile[], backends: string[], host: string): Promise<ConformanceRow[]> {
  const rows: ConformanceRow[] = [];
  for (const file of files) {
    const dtypes = outputDtypes(file.op);
    for (const spec of file.cases) {
      const inputs = caseInputs(file.op, spec);
      for (const backend of backends) {
        let sha = '', error: string | undefined;
        try {
          sha = await sha256Hex(outputBytes(runKernel(file.op, inputs, spec.attrs, { backend }), dtypes));
        } catch (e) {
          error = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
        }
        rows.push({ kernel: file.op, case: spec.name, backend, host, sha256: sha, equal: !error && sha === spec.sha256, ...(error ? { error } : {}) });
      }
    }
  }
  return rows;
}

