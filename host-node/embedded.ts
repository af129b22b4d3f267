// Node side of the embedded C host (host-embedded/): builds the wasm2c driver, encodes call traces for it
// and decodes what it reads back, so tests can check that the C translation of the scalar kernels gives
// the same bytes as the Wasm engines. The binary formats are specified in host-embedded/driver.c.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** Trace steps and arguments: the types the Wasm backend records (runtime/backends/wasm-memory.ts).
 *  i32 takes -2^31 .. 2^32-1 (unsigned values wrap); i64 a bigint (or safe integer) in -2^63 .. 2^64-1;
 *  for f32/f64 a number is converted and a bigint is taken as the raw IEEE bit pattern (a way to pass a
 *  specific NaN payload). A write grows memory if it reaches past the end; a call's result is dropped
 *  (a trap fails the run); a read must lie inside memory. */
import type { TraceArg, TraceStep } from '../runtime/backends/wasm-memory.js';
export type { TraceArg, TraceStep };

export interface TraceCase { name: string; memoryBytes: number; steps: TraceStep[] }

/** Options for {@link buildEmbeddedHost} and {@link runOnEmbedded}. */
export interface EmbeddedHostOptions {
  /** Repository (or installed package) root holding host-embedded/ and kernels/build/; found from this
   *  module's location by default. */
  root?: string;
  /** Rebuild even if the binary looks up to date. */
  force?: boolean;
}

const TRACE_MAGIC = 'MWTR';
const OUTPUT_MAGIC = 'MWTO';
const FORMAT_VERSION = 1;
const STEP_CODE = { write: 1, call: 2, read: 3 } as const;
const ARG_CODE = { i32: 0, i64: 1, f32: 2, f64: 3 } as const;
const BINARY = 'host-embedded/build/meshwork-embedded';
/** Edits to these make the binary stale as well as a new scalar.wasm. */
const INPUTS = ['kernels/build/scalar.wasm', 'host-embedded/driver.c', 'host-embedded/build.mjs'];

/** This file runs as host-node/embedded.ts's output in dist/host-node/ (and from source in tests), so the
 *  root is found by looking upwards rather than by a fixed number of `..`. */
function findRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(path.join(dir, 'host-embedded', 'build.mjs'))) return dir;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('meshwork embedded host: host-embedded/build.mjs not found above ' + fileURLToPath(import.meta.url));
    dir = parent;
  }
}

interface ProcessResult { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

function runProcess(cmd: string, args: string[], cwd: string): Promise<ProcessResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s: string) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s; });
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
  });
}

// One build per root at a time: concurrent callers share it instead of racing on the same output files.
const building = new Map<string, Promise<string>>();

/**
 * Makes sure the embedded C host is built and returns the path of its binary. Runs
 * host-embedded/build.mjs (wasm2c + gcc, a few seconds) when the binary is missing or older than
 * kernels/build/scalar.wasm, host-embedded/driver.c or host-embedded/build.mjs, or when `force` is set.
 * Rejects with the build script's message (e.g. which apt package is missing) if the build fails.
 */
export async function buildEmbeddedHost(opts: EmbeddedHostOptions = {}): Promise<string> {
  const root = path.resolve(opts.root ?? findRoot());
  const pending = building.get(root);
  if (pending) return pending;
  const job = (async () => {
    const bin = path.join(root, BINARY);
    const wasm = path.join(root, INPUTS[0]!);
    if (!existsSync(wasm)) throw new Error(`meshwork embedded host: ${wasm} is missing (npm run build:kernels)`);
    const newestInput = Math.max(...INPUTS.map((f) => path.join(root, f)).filter(existsSync).map((f) => statSync(f).mtimeMs));
    if (!opts.force && existsSync(bin) && statSync(bin).mtimeMs >= newestInput) return bin;
    const r = await runProcess(process.execPath, [path.join(root, 'host-embedded', 'build.mjs')], root);
    if (r.code !== 0) {
      throw new Error(`meshwork embedded host: build failed (${r.code ?? r.signal}):\n${(r.stderr || r.stdout).trim()}`);
    }
    return bin;
  })();
  building.set(root, job);
  try {
    return await job;
  } finally {
    building.delete(root);
  }
}

// ---------------------------------------------------------------------------------------------------
// Trace encoding

const utf8 = new TextEncoder();

function checkU32(value: number, what: string): number {
  if (!Number.isInteger(value) || value < 0 || value > 0xffffffff) throw new RangeError(`${what} must be a u32, got ${value}`);
  return value;
}

function toBigInt(arg: TraceArg, where: string): bigint {
  if (typeof arg.value === 'bigint') return arg.value;
  if (!Number.isSafeInteger(arg.value)) throw new RangeError(`${where}: ${arg.type} value ${arg.value} is not a safe integer (use a bigint)`);
  return BigInt(arg.value);
}

/** The 8 bytes of an argument record, as the trace format defines them. */
function encodeArg(view: DataView, at: number, arg: TraceArg, where: string): void {
  switch (arg.type) {
    case 'i32': {
      const v = toBigInt(arg, where);
      if (v < -(2n ** 31n) || v >= 2n ** 32n) throw new RangeError(`${where}: i32 value ${v} out of range`);
      view.setBigInt64(at, BigInt.asIntN(32, v), true);
      return;
    }
    case 'i64': {
      const v = toBigInt(arg, where);
      if (v < -(2n ** 63n) || v >= 2n ** 64n) throw new RangeError(`${where}: i64 value ${v} out of range`);
      view.setBigUint64(at, BigInt.asUintN(64, v), true);
      return;
    }
    case 'f32':
      if (typeof arg.value === 'bigint') {
        if (arg.value < 0n || arg.value >= 2n ** 32n) throw new RangeError(`${where}: f32 bit pattern ${arg.value} out of range`);
        view.setUint32(at, Number(arg.value), true);
      } else {
        view.setFloat32(at, arg.value, true);
      }
      view.setUint32(at + 4, 0, true);
      return;
    case 'f64':
      if (typeof arg.value === 'bigint') {
        if (arg.value < 0n || arg.value >= 2n ** 64n) throw new RangeError(`${where}: f64 bit pattern ${arg.value} out of range`);
        view.setBigUint64(at, arg.value, true);
      } else {
        view.setFloat64(at, arg.value, true);
      }
      return;
    default:
      throw new TypeError(`${where}: unknown argument type ${String((arg as { type: unknown }).type)}`);
  }
}

/**
 * Encodes cases as a binary call trace for the embedded driver (format in host-embedded/driver.c).
 * Case names must be unique, since results are keyed by name. Throws RangeError/TypeError on values the
 * format cannot carry (offsets, lengths and memoryBytes are u32; write steps must not pass 4 GiB).
 */
export function encodeTrace(cases: TraceCase[]): Uint8Array {
  // Strings are encoded once up front so the buffer can be sized exactly.
  const seen = new Set<string>();
  const names = cases.map((c) => {
    if (seen.has(c.name)) throw new Error(`duplicate trace case name '${c.name}'`);
    seen.add(c.name);
    return utf8.encode(c.name);
  });
  const callNames = cases.map((c) => c.steps.map((s) => (s.kind === 'call' ? utf8.encode(s.name) : null)));
  let size = 12;
  cases.forEach((c, k) => {
    size += 12 + names[k]!.length;
    c.steps.forEach((s, i) => {
      if (s.kind === 'write') size += 9 + s.bytes.length;
      else if (s.kind === 'read') size += 9;
      else size += 9 + callNames[k]![i]!.length + 9 * s.args.length;
    });
  });

  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  const u8 = (v: number) => { view.setUint8(at, v); at += 1; };
  const u32 = (v: number) => { view.setUint32(at, v, true); at += 4; };
  const bytes = (b: Uint8Array) => { out.set(b, at); at += b.length; };

  bytes(utf8.encode(TRACE_MAGIC));
  u32(FORMAT_VERSION);
  u32(checkU32(cases.length, 'case count'));
  cases.forEach((c, k) => {
    const where = `case '${c.name}'`;
    u32(names[k]!.length);
    bytes(names[k]!);
    u32(checkU32(c.memoryBytes, `${where}: memoryBytes`));
    u32(checkU32(c.steps.length, `${where}: step count`));
    c.steps.forEach((s, i) => {
      const stepWhere = `${where}, step ${i}`;
      switch (s.kind) {
        case 'write':
          if (checkU32(s.offset, `${stepWhere}: offset`) + checkU32(s.bytes.length, `${stepWhere}: length`) > 2 ** 32) throw new RangeError(`${stepWhere}: write ends past 4 GiB`);
          u8(STEP_CODE.write);
          u32(s.offset);
          u32(s.bytes.length);
          bytes(s.bytes);
          break;
        case 'read':
          if (checkU32(s.offset, `${stepWhere}: offset`) + checkU32(s.length, `${stepWhere}: length`) > 2 ** 32) {
            throw new RangeError(`${stepWhere}: read ends past 4 GiB`);
          }
          u8(STEP_CODE.read);
          u32(s.offset);
          u32(s.length);
          break;
        case 'call': {
          const name = callNames[k]![i]!;
          if (name.length === 0) throw new RangeError(`${stepWhere}: empty export name`);
          u8(STEP_CODE.call);
          u32(name.length);
          bytes(name);
          u32(s.args.length);
          s.args.forEach((a, j) => {
            const code = ARG_CODE[a.type];
            if (code === undefined) throw new TypeError(`${stepWhere}, argument ${j}: unknown type ${String(a.type)}`);
            u8(code);
            encodeArg(view, at, a, `${stepWhere}, argument ${j}`);
            at += 8;
          });
          break;
        }
        default:
          throw new TypeError(`${stepWhere}: unknown step kind ${String((s as { kind: unknown }).kind)}`);
      }
    });
  });
  return out;
}

// ---------------------------------------------------------------------------------------------------
// Output decoding

const utf8Strict = new TextDecoder('utf-8', { fatal: true });

/**
 * Decodes the embedded driver's output file: case name -> the bytes of each READ step, in order. The
 * arrays are copies, independent of `bytes`. Throws on a malformed or truncated file.
 */
export function decodeTraceOutput(bytes: Uint8Array): Map<string, Uint8Array[]> {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let at = 0;
  const need = (n: number, what: string) => {
    if (n > bytes.length - at) throw new Error(`embedded output truncated: ${what} at byte ${at} needs ${n} bytes, ${bytes.length - at} left`);
  };
  const u32 = (what: string) => { need(4, what); const v = view.getUint32(at, true); at += 4; return v; };
  // A plain Uint8Array copy: Buffer#slice would return a view, and a Buffer compares unequal to a
  // Uint8Array with the same bytes under assert.deepStrictEqual.
  const take = (n: number, what: string) => { need(n, what); const b = new Uint8Array(bytes.subarray(at, at + n)); at += n; return b; };

  if (utf8Strict.decode(take(4, 'magic')) !== OUTPUT_MAGIC) throw new Error('embedded output: bad magic (want MWTO)');
  const version = u32('version');
  if (version !== FORMAT_VERSION) throw new Error(`embedded output: version ${version} not supported`);
  const result = new Map<string, Uint8Array[]>();
  const caseCount = u32('case count');
  for (let k = 0; k < caseCount; k++) {
    const name = utf8Strict.decode(take(u32('case name length'), 'case name'));
    if (result.has(name)) throw new Error(`embedded output: duplicate case '${name}'`);
    const reads: Uint8Array[] = [];
    const readCount = u32('read count');
    for (let i = 0; i < readCount; i++) reads.push(take(u32('read length'), 'read bytes'));
    result.set(name, reads);
  }
  if (at !== bytes.length) throw new Error(`embedded output: ${bytes.length - at} trailing bytes`);
  return result;
}

// ---------------------------------------------------------------------------------------------------

/**
 * Runs cases on the embedded C host (building it first if needed) and returns, per case name, the bytes
 * of its READ steps in order. The trace and output go through a temporary directory that is removed
 * afterwards. Rejects with the driver's message if the trace is malformed, an export is unknown or
 * called with the wrong argument types, a READ is out of bounds, or a kernel traps.
 */
export async function runOnEmbedded(cases: TraceCase[], opts: EmbeddedHostOptions = {}): Promise<Map<string, Uint8Array[]>> {
  const bin = await buildEmbeddedHost(opts);
  const trace = encodeTrace(cases);
  const dir = mkdtempSync(path.join(tmpdir(), 'meshwork-embedded-'));
  try {
    const tracePath = path.join(dir, 'trace.bin');
    const outPath = path.join(dir, 'output.bin');
    writeFileSync(tracePath, trace);
    const r = await runProcess(bin, [tracePath, outPath], dir);
    if (r.code !== 0) {
      throw new Error(`meshwork embedded host exited with ${r.code ?? r.signal}: ${r.stderr.trim() || r.stdout.trim()}`);
    }
    return decodeTraceOutput(readFileSync(outPath));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
