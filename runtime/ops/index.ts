/**
 * The table of op definitions, keyed by name.
 * @module
 */
import * as linalg from './linalg.js';
import * as fixedpoint from './fixedpoint.js';
import * as aggregate from './aggregate.js';
import * as random from './random.js';
import type { OpDef } from './types.js';

const all: OpDef[] = [
  linalg.matmul, linalg.gemv, linalg.dot, linalg.l2norm, linalg.scale, linalg.axpy, linalg.biasAct, linalg.softmaxXent,
  fixedpoint.encode, fixedpoint.decode,
  aggregate.sum, aggregate.wsum, aggregate.sum64, aggregate.median, aggregate.trimmedMean, aggregate.pairwiseSqDist,
  random.randomU32, random.randomUniform, random.randomNormal,
];

/** Every op, by name, in a stable order. */
export const OPS: ReadonlyMap<string, OpDef> = new Map(all.map((op) => [op.name, op]));

export type { OpDef, Plan, Inputs, Attrs } from './types.js';
