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
import { WASM_BINDINGS } from '../backends/wasm-kernels.js';
import { runKernel } from '../registry.js';
import type { PoolWorkerApi } from './worker-api.js';
import { runLocalJob, type LocalJob } from '../fl/local.js';

/** How a host starts one worker: its comlink proxy, a way to end it, and a promise that rejects if it dies. */
export interface WorkerHandle {
  api: Remote<PoolWorkerApi>;
  terminate(): void;
  /** Rejects when the worker errors or exits on its own. */
  failed: Promise<never>;
}

/**
 * The workers of a pool and the pool's life: every worker call races a pool-wide stop, so disposing the
 * pool, or any worker dying, rejects whatever is pending and every later call instead of hanging.
 */
class WorkerSet {
  private reason: Error | undefined;
  private stopWith!: (e: Error) => void;
  private readonly stopped: Promise<never>;

  constructor(private readonly workers: WorkerHandle[]) {
    this.stopped = new Promise<never>((_, reject) => { this.stopWith = reject; });
    this.stopped.catch(() => undefined);
    for (const w of workers) w.failed.catch((e: unknown) => this.stop(new Error(`a thread pool worker died: ${e instanceof Error ? e.message : String(e)}`)));
  }

  get size(): number {
    return this.workers.length;
  }

  /** Throws when the pool was disposed or a worker died. */
  check(): void {
    if (this.reason) throw this.reason;
  }

  /** Calls worker i, rejecting early if the pool stops meanwhile. */
  call<T>(i: number, fn: (api: Remote<PoolWorkerApi>) => Promise<T>): Promise<T> {
    this.check();
    return Promise.race([fn(this.workers[i]!.api), this.stopped]);
  }

  /** Stops the pool for good: ends every worker and rejects pending and later calls with `reason`. */
  stop(reason: Error): void {
    if (this.reason) return;
    this.reason = reason;
    this.stopWith(reason);
    for (const w of this.workers) w.terminate();
  }
}

/**
 * Runs `local` on this thread while the `remote` calls are in flight, then waits for all of them; the first
 * failure (this thread's first) is rethrown only after everything has settled.
 */
async function alongside<L, R>(remote: Promise<R>[], local: () => L): Promise<[L, R[]]> {
  let mine: L | undefined, mainError: unknown, failed = false;
  try {
    mine = local();
  } catch (e) {
    mainError = e;
    failed = true;
  }
  const settled = await Promise.allSettled(remote);
  if (failed) throw mainError;
  return [mine as L, settled.map((r) => {
    if (r.status === 'rejected') throw r.reason;
    return r.value;
  })];
}

/**
 * Local-training jobs spread over the calling thread and the workers (job i on thread i mod threads): the
 * workers' jobs are posted first, the caller trains its own, then all are awaited. Results in job order.
 */
async function trainSpread(workers: WorkerSet, jobs: LocalJob[]): Promise<Float32Array[]> {
  workers.check();
  const threads = workers.size + 1;
  const out: Float32Array[] = new Array<Float32Array>(jobs.length);
  const remote: Promise<void>[] = [];
  jobs.forEach((job, i) => {
    if (i % threads) remote.push(workers.call((i % threads) - 1, (api) => api.trainLocal(job)).then((u) => { out[i] = u; }));
  });
  await alongside(remote, () => jobs.forEach((job, i) => { if (i % threads === 0) out[i] = runLocalJob(job, { backend: 'wasm-simd' }); }));
  return out;
}

/** A usize returned by an export (an i32 in JS): read unsigned. */
const usize = (v: unknown): number => Number(v) >>> 0;

/** Checks a thread count. */
function checkThreads(threads: number): void {
  if (!Number.isInteger(threads) || threads < 1 || threads > 256) throw new RangeError(`threads must be an integer in [1, 256], got ${threads}`);
}

/** Sums partial n x n distance matrices in wrapping i64 (exact: the partial sums add mod 2^64). */
function addPartials(parts: BigInt64Array[], size: number): BigInt64Array {
  const total = new BigInt64Array(size);
  for (const q of parts) for (let i = 0; i < size; i++) total[i] = BigInt.asIntN(64, total[i]! + q[i]!);
  return total;
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
  private readonly workers: WorkerSet;

  private constructor(readonly threads: number, private readonly main: WasmInstance, workers: WorkerHandle[]) {
    this.workers = new WorkerSet(workers);
  }

  /**
   * Starts a pool. `spawn` creates one worker (host-specific).
   * @throws RangeError when threads < 1; Error when shared memory is unavailable.
   */
  static async create(threads: number, spawn: () => WorkerHandle): Promise<ThreadPool> {
    checkThreads(threads);
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

  /** Trains participants' local jobs across the pool's threads (see `simulateWith`); updates in job order. */
  trainLocal(jobs: LocalJob[]): Promise<Float32Array[]> {
    return trainSpread(this.workers, jobs);
  }

  /** Ends the workers; pending and later calls reject. */
  dispose(): void {
    this.workers.stop(new Error('the thread pool was disposed'));
  }

  /**
   * Runs an op, split across the pool when it is one of {@link PARALLEL_OPS} and large enough.
   * Calls are serialised: the pool's memory holds one op at a time.
   * @throws Error when the pool was disposed or a worker died; TypeError/RangeError for bad input.
   */
  async run(op: string, inputs: Inputs, attrs: Attrs = {}): Promise<TypedArray[]> {
    this.workers.check();
    const def = OPS.get(op);
    if (!def) throw new RangeError(`unknown op '${op}'`);
    const plan = def.plan(inputs, attrs);
    const next = this.busy.then(() => this.runPlanned(op, inputs, plan));
    this.busy = next.catch(() => undefined);
    return next;
  }

  /**
   * Runs per-thread call lists: list 0 on this thread, the rest on workers, all at once. Returns only
   * when every thread has stopped, so a failure never lets the next call reuse memory that a thread is
   * still writing; then rethrows the first failure.
   */
  private async parallel(lists: Call[][]): Promise<void> {
    const remote = lists.slice(1).map((calls, i) => this.workers.call(i, (api) => api.run(calls)));
    let mainError: unknown;
    try {
      for (const [name, args] of lists[0] ?? []) this.main.call(name, ...args);
    } catch (e) {
      mainError = e;
    }
    const settled = await Promise.allSettled(remote);
    if (mainError !== undefined) throw mainError;
    for (const r of settled) if (r.status === 'rejected') throw r.reason;
  }

  private async runPlanned(op: string, inputs: Inputs, plan: Plan): Promise<TypedArray[]> {
    this.workers.check(); // a call queued before dispose() must not start after it
    const w = this.main;
    try {
      const p = plan.attrs as Record<string, number>;
      const b = (v: unknown) => (v ? 1 : 0);
      switch (op) {
        case 'matmul': {
          const { m, k, n } = p;
          const pa = w.write(inputs.a!), pb = w.write(inputs.b!), pc = w.alloc(m! * n! * 4);
          const packed = w.alloc(usize(w.call('matmul_packed_b_bytes', k!, n!)));
          const threads = m! * n! * k! < MIN_PARALLEL_WORK ? 1 : this.threads;
          const rowScratch = usize(w.call('matmul_rows_scratch_bytes', m!, k!, n!, b(p.transA)));
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
          const scratchBytes = op === 'median' ? usize(w.call('agg_median_scratch_bytes', n!))
            : op === 'trimmedMean' ? usize(w.call('agg_trimmed_scratch_bytes', n!, p.trim!)) : 0;
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
          const scratchBytes = usize(w.call('agg_sqdist_scratch_bytes', n!));
          const outs = ranges.map(() => w.alloc(n! * n! * 8));
          const scratch = ranges.map(() => (scratchBytes ? w.alloc(scratchBytes) : 0));
          await this.parallel(ranges.map(([k0, k1], t): Call[] => [['agg_pairwise_sqdist_i64', [px, outs[t]!, n!, d!, k0, k1, scratch[t]!]]]));
          const total = addPartials(outs.map((o) => w.read('i64', o, n! * n!) as BigInt64Array), n! * n!);
          return [total];
        }
        default: {
          // Not split: runs on this thread's instance of the kernels.
          const binding = WASM_BINDINGS[op];
          return binding ? binding(w, inputs, plan) : OPS.get(op)!.reference(inputs, plan);
        }
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
  private readonly workers: WorkerSet;

  private constructor(readonly threads: number, workers: WorkerHandle[]) {
    this.workers = new WorkerSet(workers);
  }

  /** Starts `threads - 1` workers; the calling thread runs the first share on its own wasm-simd backend. */
  static async create(threads: number, spawn: () => WorkerHandle): Promise<TransferPool> {
    checkThreads(threads);
    return new TransferPool(threads, Array.from({ length: threads - 1 }, spawn));
  }

  /** Trains participants' local jobs across the pool's threads (see `simulateWith`); updates in job order. */
  trainLocal(jobs: LocalJob[]): Promise<Float32Array[]> {
    return trainSpread(this.workers, jobs);
  }

  /** Ends the workers; pending and later calls reject. */
  dispose(): void {
    this.workers.stop(new Error('the thread pool was disposed'));
  }

  /**
   * Runs one share per thread: the workers' shares are posted first (their inputs transferred), then
   * this thread computes share 0, then all are awaited; the first failure is rethrown after all settle.
   */
  private async runShares(shares: { inputs: Inputs; attrs: Attrs }[], op: string): Promise<TypedArray[][]> {
    const remote = shares.slice(1).map(({ inputs, attrs }, i) => {
      const buffers = Object.values(inputs).map((a) => a.buffer as ArrayBuffer);
      return this.workers.call(i, (api) => api.runOp(op, transfer(inputs, buffers), attrs) as Promise<TypedArray[]>);
    });
    const [first, rest] = await alongside(remote, () => (shares[0] ? runKernel(op, shares[0].inputs, shares[0].attrs, { backend: 'wasm-simd' }) : []));
    return [first, ...rest];
  }

  /** Runs an op, split like {@link ThreadPool.run}. */
  async run(op: string, inputs: Inputs, attrs: Attrs = {}): Promise<TypedArray[]> {
    this.workers.check();
    const def = OPS.get(op);
    if (!def) throw new RangeError(`unknown op '${op}'`);
    const plan = def.plan(inputs, attrs);
    const p = plan.attrs as Record<string, number | boolean>;
    if (!(PARALLEL_OPS as readonly string[]).includes(op)) return runKernel(op, inputs, attrs, { backend: 'wasm-simd' });
    if (op === 'matmul') {
      const m = p.m as number, k = p.k as number, n = p.n as number;
      const ranges = m * n * k < MIN_PARALLEL_WORK ? [[0, m] as [number, number]] : splitRange(m, this.threads, 8);
      const a = inputs.a as Float32Array;
      const parts = await this.runShares(ranges.map(([r0, r1], t) => {
        // Rows r0..r1 of op(A) as a plain row-major block: the definition of C does not depend on storage.
        let rows: Float32Array;
        if (p.transA) {
          rows = new Float32Array((r1 - r0) * k);
          for (let i = r0; i < r1; i++) for (let q = 0; q < k; q++) rows[(i - r0) * k + q] = a[q * m + i]!;
        } else rows = a.slice(r0 * k, r1 * k);
        return { inputs: { a: rows, b: t === 0 ? inputs.b! : inputs.b!.slice() }, attrs: { m: r1 - r0, k, n, transB: p.transB } };
      }), 'matmul');
      const c = new Float32Array(m * n);
      ranges.forEach(([r0], t) => c.set(parts[t]![0] as Float32Array, r0 * n));
      return [c];
    }
    const n = p.n as number, d = p.d as number;
    const x = inputs.x as Int32Array;
    const ranges = (op === 'pairwiseSqDist' ? n * n * d : n * d) < MIN_PARALLEL_WORK ? [[0, d] as [number, number]] : splitRange(d, this.threads, 16);
    const parts = await this.runShares(ranges.map(([j0, j1]) => {
      const sub: Inputs = { x: columns(x, n, d, j0, j1) };
      if (op === 'wsum') sub.w = (inputs.w as Int32Array).slice();
      return { inputs: sub, attrs: { ...attrs, d: j1 - j0 } };
    }), op);
    if (op === 'pairwiseSqDist') return [addPartials(parts.map((q) => q[0] as BigInt64Array), n * n)];
    const out = op === 'wsum' ? new BigInt64Array(d) : new Int32Array(d);
    ranges.forEach(([j0], t) => (out as Int32Array).set(parts[t]![0] as Int32Array, j0));
    return [out];
  }
}
