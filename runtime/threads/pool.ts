/**
 * A thread pool for the kernels that split: matmul (C by column ranges, each thread packing its own panels
 * of B; row ranges when C is too narrow)
 * and the aggregation kernels (column ranges; distances by coordinate ranges whose partial n x n sums add
 * exactly). All threads run the same kernel code on one shared Wasm memory, so every split gives the
 * same bits as one thread. The calling thread computes one share itself.
 * @module
 */
import { transfer, type Remote } from 'comlink';
import type { TypedArray } from '../errors.js';
import { OPS } from '../ops/index.js';
import type { Attrs, Inputs, Plan } from '../ops/types.js';
import { compileKernelModule, WASM_FILES } from '../backends/wasm.js';
import { WasmInstance } from '../backends/wasm-memory.js';
import { runKernel } from '../registry.js';
import type { PoolWorkerApi } from './worker-api.js';

/** How a host starts one worker and gets its comlink proxy (plus a way to end it). */
export interface WorkerHandle {
  api: Remote<PoolWorkerApi>;
  terminate(): void;
}

/** Ops the pool splits across threads; others run on the calling thread. */
export const PARALLEL_OPS = ['matmul', 'sum', 'wsum', 'median', 'trimmedMean', 'pairwiseSqDist'] as const;

type Call = [string, (number | bigint)[]];

/** Smallest amount of work (multiply-adds or elements read) worth a round trip to the workers. */
const MIN_PARALLEL_WORK = 1 << 18;

/** Splits [0, total) into `parts` ranges whose inner boundaries are multiples of `align`. */
export function splitRange(total: number, parts: number, align: number): [number, number][] {
  const units = Math.ceil(total / align);
  const out: [number, number][] = [];
  let at = 0;
  for (let p = 0; p < parts; p++) {
    const end = p === parts - 1 ? total : Math.min(total, Math.round((units * (p + 1)) / parts) * align);
    if (end > at) out.push([at, end]);
    at = Math.max(at, end);
  }
  return out;
}

/** A pool of `threads` threads: the calling thread plus `threads - 1` workers. */
export class ThreadPool {
  /** Shared Wasm memory: no input copies beyond the one into the pool's memory. */
  readonly mode = 'shared' as const;
  private busy: Promise<unknown> = Promise.resolve();

  private constructor(readonly threads: number, private readonly main: WasmInstance, private readonly workers: WorkerHandle[]) {}

  /**
   * Starts a pool. `spawn` creates one worker (host-specific).
   * @throws RangeError when threads < 1; Error when shared memory is unavailable.
   */
  static async create(threads: number, spawn: () => WorkerHandle): Promise<ThreadPool> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be an integer in [1, 256], got ${threads}`);
    if (typeof SharedArrayBuffer !== 'function') throw new Error('threads need SharedArrayBuffer (in browsers: a crossOriginIsolated page)');
    const module = await compileKernelModule(WASM_FILES.threads);
    const memory = new WebAssembly.Memory({ initial: 32, maximum: 65536, shared: true });
    const instance = await WebAssembly.instantiate(module, { env: { memory } });
    const workers: WorkerHandle[] = [];
    try {
      for (let i = 1; i < threads; i++) workers.push(spawn());
      await Promise.all(workers.map((w) => w.api.init(module, memory)));
    } catch (e) {
      for (const w of workers) w.terminate();
      throw e;
    }
    return new ThreadPool(threads, new WasmInstance(instance, memory), workers);
  }

  /** Ends the workers. */
  dispose(): void {
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }

  /**
   * Runs an op, split across the pool when it is one of {@link PARALLEL_OPS} and large enough.
   * Calls are serialised: the pool's memory holds one op at a time.
   */
  async run(op: string, inputs: Inputs, attrs: Attrs = {}): Promise<TypedArray[]> {
    const def = OPS.get(op);
    if (!def) throw new RangeError(`unknown op '${op}'`);
    const plan = def.plan(inputs, attrs);
    const next = this.busy.then(() => this.runPlanned(op, inputs, plan));
    this.busy = next.catch(() => undefined);
    return next;
  }

  /** Runs per-thread call lists: list 0 on this thread, the rest on workers, all at once. */
  private async parallel(lists: Call[][]): Promise<void> {
    const remote = lists.slice(1).map((calls, i) => this.workers[i]!.api.run(calls));
    for (const [name, args] of lists[0] ?? []) this.main.call(name, ...args);
    await Promise.all(remote);
  }

  private async runPlanned(op: string, inputs: Inputs, plan: Plan): Promise<TypedArray[]> {
    const w = this.main;
    try {
      const p = plan.attrs as Record<string, number>;
      const b = (v: unknown) => (v ? 1 : 0);
      switch (op) {
        case 'matmul': {
          const { m, k, n } = p;
          const pa = w.write(inputs.a!), pb = w.write(inputs.b!), pc = w.alloc(m! * n! * 4);
          const packed = w.alloc(Number(w.call('matmul_packed_b_bytes', k!, n!)));
          const threads = m! * n! * k! < MIN_PARALLEL_WORK ? 1 : this.threads;
          const rowScratch = Number(w.call('matmul_rows_scratch_bytes', m!, k!, n!, b(p.transA)));
          const scratch = Array.from({ length: threads }, () => w.alloc(rowScratch));
          const colAlign = w.call('matmul_col_align') as number;
          const cols = splitRange(n!, threads, colAlign);
          if (n! >= colAlign * threads * 4) {
            // Column split: each thread packs its own panels of B and computes its columns of C, one
            // round trip, and reads only its share of packed B (which then stays in its own L2).
            await this.parallel(cols.map(([c0, c1], t) => [
              ['matmul_pack_b', [pb, packed, k!, n!, b(p.transB), c0, c1]],
              ['matmul_block', [pa, packed, pc, m!, k!, n!, b(p.transA), 0, m!, c0, c1, scratch[t]!]],
            ]));
          } else {
            // Too few columns to share out: pack B in parallel, then split the rows.
            await this.parallel(cols.map(([c0, c1]) => [['matmul_pack_b', [pb, packed, k!, n!, b(p.transB), c0, c1]]]));
            const rows = splitRange(m!, threads, w.call('matmul_row_align') as number);
            await this.parallel(rows.map(([r0, r1], t) => [['matmul_rows', [pa, packed, pc, m!, k!, n!, b(p.transA), r0, r1, scratch[t]!]]]));
          }
          return [w.read('f32', pc, m! * n!)];
        }
        case 'sum':
        case 'wsum':
        case 'median':
        case 'trimmedMean': {
          const { n, d } = p;
          const px = w.write(inputs.x!);
          const wide = op === 'wsum';
          const po = w.alloc(d! * (wide ? 8 : 4));
          const pw = op === 'wsum' ? w.write(inputs.w!) : 0;
          const threads = n! * d! < MIN_PARALLEL_WORK ? 1 : this.threads;
          const ranges = splitRange(d!, threads, 16);
          const scratchBytes = op === 'median' ? Number(w.call('agg_median_scratch_bytes', n!))
            : op === 'trimmedMean' ? Number(w.call('agg_trimmed_scratch_bytes', n!, p.trim!)) : 0;
          const scratch = ranges.map(() => (scratchBytes ? w.alloc(scratchBytes) : 0));
          await this.parallel(ranges.map(([j0, j1], t): Call[] => {
            switch (op) {
              case 'sum': return [['agg_sum_i32', [px, po, n!, d!, j0, j1]]];
              case 'wsum': return [['agg_wsum_i64', [px, pw, po, n!, d!, j0, j1]]];
              case 'median': return [['agg_median_i32', [px, po, n!, d!, j0, j1, scratch[t]!]]];
              default: return [['agg_trimmed_mean_i32', [px, po, n!, d!, p.trim!, j0, j1, scratch[t]!]]];
            }
          }));
          return [w.read(wide ? 'i64' : 'i32', po, d!)];
        }
        case 'pairwiseSqDist': {
          const { n, d } = p;
          const px = w.write(inputs.x!);
          const threads = n! * n! * d! < MIN_PARALLEL_WORK ? 1 : this.threads;
          const ranges = splitRange(d!, threads, 16);
          const scratchBytes = Number(w.call('agg_sqdist_scratch_bytes', n!));
          const outs = ranges.map(() => w.alloc(n! * n! * 8));
          const scratch = ranges.map(() => (scratchBytes ? w.alloc(scratchBytes) : 0));
          await this.parallel(ranges.map(([k0, k1], t): Call[] => [['agg_pairwise_sqdist_i64', [px, outs[t]!, n!, d!, k0, k1, scratch[t]!]]]));
          const total = w.read('i64', outs[0] ?? w.alloc(n! * n! * 8), n! * n!) as BigInt64Array;
          if (!ranges.length) total.fill(0n);
          for (let t = 1; t < outs.length; t++) {
            const part = w.read('i64', outs[t]!, n! * n!) as BigInt64Array;
            for (let i = 0; i < total.length; i++) total[i] = BigInt.asIntN(64, total[i]! + part[i]!);
          }
          return [total];
        }
        default:
          return OPS.get(op)!.reference(inputs, plan);
      }
    } finally {
      w.reset();
    }
  }
}

/** Copies columns [j0, j1) of an n x d row-major matrix into a new n x (j1 - j0) matrix. */
function columns<T extends Int32Array>(x: T, n: number, d: number, j0: number, j1: number): T {
  const w = j1 - j0;
  const out = new (x.constructor as new (len: number) => T)(n * w);
  for (let i = 0; i < n; i++) out.set(x.subarray(i * d + j0, i * d + j1), i * w);
  return out;
}

/**
 * The pool without shared memory (browsers that are not cross-origin isolated): each worker has its own
 * memory and receives copies of its slice of the inputs; results come back by transfer. Slower than
 * {@link ThreadPool} (the copies), same bits.
 */
export class TransferPool {
  /** Each worker has its own memory and gets copies of its slice. */
  readonly mode = 'transfer' as const;
  private constructor(readonly threads: number, private readonly workers: WorkerHandle[]) {}

  /** Starts `threads - 1` workers; the calling thread runs the first share on its own wasm-simd backend. */
  static async create(threads: number, spawn: () => WorkerHandle): Promise<TransferPool> {
    if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be an integer in [1, 256], got ${threads}`);
    return new TransferPool(threads, Array.from({ length: threads - 1 }, spawn));
  }

  /** Ends the workers. */
  dispose(): void {
    for (const w of this.workers) w.terminate();
    this.workers.length = 0;
  }

  private share(t: number, op: string, inputs: Inputs, attrs: Attrs): Promise<TypedArray[]> {
    if (t === 0) return Promise.resolve(runKernel(op, inputs, attrs, { backend: 'wasm-simd' }));
    const buffers = Object.values(inputs).map((a) => a.buffer as ArrayBuffer);
    return this.workers[t - 1]!.api.runOp(op, transfer(inputs, buffers), attrs) as Promise<TypedArray[]>;
  }

  /** Runs an op, split like {@link ThreadPool.run}. */
  async run(op: string, inputs: Inputs, attrs: Attrs = {}): Promise<TypedArray[]> {
    const def = OPS.get(op);
    if (!def) throw new RangeError(`unknown op '${op}'`);
    const plan = def.plan(inputs, attrs);
    const p = plan.attrs as Record<string, number | boolean>;
    if (!(PARALLEL_OPS as readonly string[]).includes(op)) return runKernel(op, inputs, attrs, { backend: 'wasm-simd' });
    if (op === 'matmul') {
      const m = p.m as number, k = p.k as number, n = p.n as number;
      const ranges = m * n * k < MIN_PARALLEL_WORK ? [[0, m] as [number, number]] : splitRange(m, this.threads, 8);
      const a = inputs.a as Float32Array;
      const parts = await Promise.all(ranges.map(([r0, r1], t) => {
        // Rows r0..r1 of op(A) as a plain row-major block: the definition of C does not depend on storage.
        let rows: Float32Array;
        if (p.transA) {
          rows = new Float32Array((r1 - r0) * k);
          for (let i = r0; i < r1; i++) for (let q = 0; q < k; q++) rows[(i - r0) * k + q] = a[q * m + i]!;
        } else rows = a.slice(r0 * k, r1 * k);
        return this.share(t, 'matmul', { a: rows, b: t === 0 ? inputs.b! : inputs.b!.slice() }, { m: r1 - r0, k, n, transB: p.transB });
      }));
      const c = new Float32Array(m * n);
      ranges.forEach(([r0], t) => c.set(parts[t]![0] as Float32Array, r0 * n));
      return [c];
    }
    const n = p.n as number, d = p.d as number;
    const x = inputs.x as Int32Array;
    const ranges = (op === 'pairwiseSqDist' ? n * n * d : n * d) < MIN_PARALLEL_WORK ? [[0, d] as [number, number]] : splitRange(d, this.threads, 16);
    const parts = await Promise.all(ranges.map(([j0, j1], t) => {
      const sub: Inputs = { x: columns(x, n, d, j0, j1) };
      if (op === 'wsum') sub.w = (inputs.w as Int32Array).slice();
      return this.share(t, op, sub, { ...attrs, d: j1 - j0 });
    }));
    if (op === 'pairwiseSqDist') {
      const total = new BigInt64Array(n * n);
      for (const [part] of parts) {
        const q = part as BigInt64Array;
        for (let i = 0; i < total.length; i++) total[i] = BigInt.asIntN(64, total[i]! + q[i]!);
      }
      return [total];
    }
    const out = op === 'wsum' ? new BigInt64Array(d) : new Int32Array(d);
    ranges.forEach(([j0], t) => (out as Int32Array).set(parts[t]![0] as Int32Array, j0));
    return [out];
  }
}
