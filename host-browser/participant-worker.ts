/**
 * Module Web Worker entry of the browser participant ({@link join} in participant.ts): trains one round's
 * local job and encodes the update, off the page's main thread. The same two protocol calls a Node worker
 * makes (`runLocalJob(localJob(...))`, `encodeForSubmit`), so a tab and a Node worker give the same bits
 * for the same job.
 *
 * Kernels load as the browser host's `ready()` loads them (fetched next to this module, compiled while
 * streaming when served as application/wasm), but through a loader of its own: importing ./index.js here
 * would make a cycle of workers that bundlers refuse (index.js exports `join`, whose worker is this file,
 * and the thread pool, whose worker imports index.js).
 * @module
 */
import { expose, transfer } from 'comlink';
import { env } from '../runtime/env.js';
import type { Dataset } from '../runtime/fl/data.js';
import { runLocalJob } from '../runtime/fl/local.js';
import { encodeForSubmit, localJob, type TaskSpec } from '../runtime/fl/protocol.js';
import { readyAll } from '../runtime/registry.js';

/**
 * The kernel builds, relative to this compiled file (dist/host-browser/ -> kernels/build/), one literal
 * `new URL(..., import.meta.url)` each so bundlers copy them (as in index.ts).
 */
const KERNEL_URLS: Readonly<Record<string, () => URL>> = {
  'simd.wasm': () => new URL('../../kernels/build/simd.wasm', import.meta.url),
  'scalar.wasm': () => new URL('../../kernels/build/scalar.wasm', import.meta.url),
  'simd-threads.wasm': () => new URL('../../kernels/build/simd-threads.wasm', import.meta.url),
};

async function fetchKernel(file: string): Promise<WebAssembly.Module | ArrayBuffer> {
  const url = env.wasm.wasmPaths !== undefined ? new URL(file, env.wasm.wasmPaths) : KERNEL_URLS[file]?.();
  if (!url) throw new Error(`no bundled URL for kernel build ${file}`);
  let res: Response;
  try {
    res = await fetch(url);
  } catch (e) {
    throw new Error(`cannot fetch kernel build ${file} from ${url.href}: ${(e as Error).message}`);
  }
  if (!res.ok) throw new Error(`cannot fetch kernel build ${file} from ${url.href}: HTTP ${res.status}`);
  if (typeof WebAssembly.compileStreaming === 'function' && /^application\/wasm\s*(;|$)/i.test(res.headers.get('content-type') ?? '')) return WebAssembly.compileStreaming(res);
  return res.arrayBuffer();
}

function ready(): Promise<string[]> {
  env.wasm.loader ??= fetchKernel;
  return readyAll();
}

/** One round's training request. */
export interface TrainRequest {
  task: TaskSpec;
  /** The global model of the round (f32). */
  params: Float32Array;
  data: Dataset;
  /** The participant's index (from the coordinator's join answer): its shuffle and rounding streams. */
  index: number;
  round: number;
}

/** What the worker offers the page. */
export interface ParticipantWorkerApi {
  /** Starts the kernels; resolves to the backends that started. */
  start(): Promise<string[]>;
  /** Trains and encodes; returns the fixed-point update (transferred) and the backend list it ran on. */
  train(req: TrainRequest): Promise<{ values: Int32Array; backends: string[] }>;
}

let started: Promise<string[]> | undefined;

const api: ParticipantWorkerApi = {
  start() {
    started ??= ready();
    return started;
  },
  async train({ task, params, data, index, round }) {
    const backends = await api.start();
    const update = runLocalJob(localJob(task, params, data, index, round));
    const values = encodeForSubmit(task, update, index, round);
    return transfer({ values, backends }, [values.buffer as ArrayBuffer]);
  },
};

expose(api);
