/**
 * Linear-memory bookkeeping for one Wasm kernel instance: an arena that hands out 64-byte aligned
 * regions above the module's heap base for one call, grows memory when needed, and can record the call as
 * a trace (writes, calls, reads) that another host (the embedded C driver) replays.
 * Views are always taken from `memory.buffer` at the moment of use, so growth never leaves one stale.
 * @module
 */
import { allocOf, bytesOf, type DType, type TypedArray } from '../errors.js';

/** An argument of a traced export call. */
export type TraceArg = { type: 'i32' | 'i64' | 'f32' | 'f64'; value: number | bigint };
/** One step of a recorded call. */
export type TraceStep =
  | { kind: 'write'; offset: number; bytes: Uint8Array }
  | { kind: 'call'; name: string; args: TraceArg[] }
  | { kind: 'read'; offset: number; length: number };

const PAGE = 65536;
const ALIGN = 64;

/** Typed wrappers for export arguments that are not i32. */
export const f32 = (value: number): TraceArg => ({ type: 'f32', value });
export const f64 = (value: number): TraceArg => ({ type: 'f64', value });
export const i64 = (value: number | bigint): TraceArg => ({ type: 'i64', value: BigInt(value) });

type Export = (...args: (number | bigint)[]) => unknown;

/** One kernel module instance and its memory. */
export class WasmInstance {
  readonly exports: Record<string, Export>;
  readonly memory: WebAssembly.Memory;
  readonly heapBase: number;
  private top: number;
  /** When set, every write, call and read is appended here. */
  trace: TraceStep[] | undefined;
  /** Highest byte offset touched since the trace started. */
  traceHighWater = 0;

  constructor(instance: WebAssembly.Instance, memory?: WebAssembly.Memory) {
    this.exports = instance.exports as unknown as Record<string, Export>;
    this.memory = memory ?? (instance.exports.memory as WebAssembly.Memory);
    const base = (this.exports.heap_base as () => number)();
    this.heapBase = Math.ceil(base / ALIGN) * ALIGN;
    this.top = this.heapBase;
  }

  /** Reserves `bytes` (64-byte aligned) and grows memory when needed. */
  alloc(bytes: number): number {
    const ptr = this.top;
    const end = ptr + Math.ceil(Math.max(bytes, 1) / ALIGN) * ALIGN;
    if (end > 2 ** 32 - PAGE) throw new RangeError(`wasm: allocation of ${bytes} bytes exceeds 4 GiB of linear memory`);
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / PAGE));
    this.top = end;
    if (this.trace) this.traceHighWater = Math.max(this.traceHighWater, end);
    return ptr;
  }

  /** Releases everything allocated since the arena was last reset. */
  reset(): void {
    this.top = this.heapBase;
  }

  /** Allocates room for `src` and copies it in. */
  write(src: TypedArray): number {
    const ptr = this.alloc(src.byteLength);
    const bytes = new Uint8Array(src.buffer, src.byteOffset, src.byteLength);
    new Uint8Array(this.memory.buffer, ptr, src.byteLength).set(bytes);
    if (this.trace) this.trace.push({ kind: 'write', offset: ptr, bytes: bytes.slice() });
    return ptr;
  }

  /** Calls an export; plain numbers are i32 arguments, bigints i64. */
  call(name: string, ...args: (number | bigint | TraceArg)[]): unknown {
    const fn = this.exports[name];
    if (typeof fn !== 'function') throw new Error(`wasm: the kernel module has no export '${name}' (stale build? run npm run build)`);
    const raw = args.map((a) => (typeof a === 'object' ? a.value : a));
    if (this.trace) {
      this.trace.push({
        kind: 'call', name,
        args: args.map((a): TraceArg => (typeof a === 'object' ? a : typeof a === 'bigint' ? { type: 'i64', value: a } : { type: 'i32', value: a })),
      });
    }
    return fn(...raw);
  }

  /** Copies `length` elements of `dtype` at `ptr` out into a new typed array. */
  read(dtype: DType, ptr: number, length: number): TypedArray {
    const bytes = length * bytesOf(dtype);
    if (this.trace) this.trace.push({ kind: 'read', offset: ptr, length: bytes });
    const out = allocOf(dtype, length);
    new Uint8Array(out.buffer).set(new Uint8Array(this.memory.buffer, ptr, bytes));
    return out;
  }
}
