/**
 * What a pool worker does: instantiate the threads build of the kernels on the pool's shared memory and
 * call exports by name. Host-agnostic; host adapters expose it over comlink from a worker_threads Worker
 * (Node) or a Web Worker (browsers).
 * @module
 */
import { transfer } from 'comlink';
import type { TypedArray } from '../errors.js';
import type { Attrs, Inputs } from '../ops/types.js';
import { runKernel } from '../registry.js';
import { runLocalJob, type LocalJob } from '../fl/local.js';

/** The API a pool worker exposes. */
export interface PoolWorkerApi {
  /** Instantiates the kernels on the shared memory. */
  init(module: WebAssembly.Module, memory: WebAssembly.Memory): Promise<void>;
  /** Runs a batch of export calls in order (one round trip); returns their results. */
  run(calls: [string, (number | bigint)[]][]): (number | bigint | undefined)[];
  /** Transfer mode (no shared memory): runs a whole op on this worker's own wasm-simd instance. */
  runOp(op: string, inputs: Inputs, attrs: Attrs): Promise<TypedArray[]>;
  /** Trains one participant's local-training job on this worker's own wasm-simd instance; returns its update. */
  trainLocal(job: LocalJob): Promise<Float32Array>;
}

/** Creates the worker-side implementation; `ready` starts the host's backends (transfer mode). */
export function createPoolWorkerApi(ready: (backends: string[]) => Promise<string[]>): PoolWorkerApi {
  let started: Promise<string[]> | undefined;
  let exports: Record<string, (...a: (number | bigint)[]) => number | bigint | undefined> | undefined;
  return {
    async init(module, memory) {
      const instance = await WebAssembly.instantiate(module, { env: { memory } });
      exports = instance.exports as typeof exports;
    },
    run(calls) {
      if (!exports) throw new Error('pool worker: init() was not called');
      return calls.map(([name, args]) => {
        const fn = exports![name];
        if (typeof fn !== 'function') throw new Error(`pool worker: no export '${name}'`);
        return fn(...args);
      });
    },
    async trainLocal(job) {
      started ??= ready(['wasm-simd']);
      await started;
      const update = runLocalJob(job, { backend: 'wasm-simd' });
      return transfer(update, [update.buffer as ArrayBuffer]);
    },
    async runOp(op, inputs, attrs) {
      started ??= ready(['wasm-simd']);
      await started;
      const outputs = runKernel(op, inputs, attrs, { backend: 'wasm-simd' });
      return transfer(outputs, outputs.map((o) => o.buffer as ArrayBuffer));
    },
  };
}
