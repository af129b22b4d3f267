/**
 * Module Web Worker entry of the browser participant ({@link join} in participant.ts): trains one round's
 * local job and encodes the update, off the page's main thread. The same two protocol calls a Node worker
 * makes (`runLocalJob(localJob(...))`, `encodeForSubmit`), so a tab and a Node worker give the same bits
 * for the same job.
 *
 * Kernels load through the browser host's loader (kernels.ts), installed here without importing
 * ./index.js (see kernels.ts for why).
 * @module
 */
import { expose, transfer } from 'comlink';
import type { Dataset } from '../runtime/fl/data.js';
import { runLocalJob } from '../runtime/fl/local.js';
import { encodeForSubmit, localJob, type TaskSpec } from '../runtime/fl/protocol.js';
import { readyAll } from '../runtime/registry.js';
import { installBrowserHost } from './kernels.js';

function ready(): Promise<string[]> {
  installBrowserHost();
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
