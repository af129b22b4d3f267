/**
 * One participant's local training as a self-contained job: everything it needs travels with it (model
 * widths, the global weights, the participant's data, SGD settings and its shuffle stream), so any thread
 * or host can run it and return the same bits.
 * @module
 */
import type { RunOptions } from '../registry.js';
import { Mlp, trainSgd, type SgdOptions } from './model.js';
import { Rng, STREAMS } from './rng.js';

/** A local-training job (structured-cloneable: it can be posted to a worker). */
export interface LocalJob {
  /** Model widths, input first. */
  sizes: number[];
  /** The global weights the participant starts from. */
  params: Float32Array;
  x: Float32Array;
  /** Labels as the participant trains on them (a label-flipping attacker's are already flipped). */
  y: Int32Array;
  sgd: SgdOptions;
  /** The task seed; the shuffle stream is (seed, shuffle, participant, round). */
  seed: number;
  participant: number;
  round: number;
}

/** Trains a job and returns its update (local weights minus the global weights, f32). */
export function runLocalJob(job: LocalJob, kernel: RunOptions = {}): Float32Array {
  const model = new Mlp(job.sizes, kernel);
  const local = job.params.slice();
  trainSgd(model, local, job.x, job.y, job.sgd, new Rng(job.seed, STREAMS.shuffle, job.participant, job.round));
  const update = new Float32Array(local.length);
  for (let i = 0; i < local.length; i++) update[i] = local[i]! - job.params[i]!;
  return update;
}
