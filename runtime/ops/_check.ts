// Validation helpers shared by the op definitions.
import { checkArray, checkInt, type DType } from '../errors.js';
import type { Attrs, Inputs, OpDef } from './types.js';

/** Largest element count a kernel takes: keeps every buffer inside 32-bit Wasm memory. */
export const MAX_ELEMENTS = 2 ** 28;

/** Checks every declared input's presence and type. */
export function checkInputs(def: Pick<OpDef, 'name' | 'inputs'>, inputs: Inputs): void {
  if (typeof inputs !== 'object' || inputs === null) throw new TypeError(`${def.name}: inputs must be an object`);
  for (const { name, dtype } of def.inputs) {
    checkArray(def.name, name, inputs[name], dtype as DType);
    const length = inputs[name]!.length;
    if (length > MAX_ELEMENTS) throw new RangeError(`${def.name}: ${name} has ${length} elements, more than the limit of ${MAX_ELEMENTS}`);
  }
}

/** Checks that draws offset .. offset+count-1 keep exact (safe integer) indices on every backend. */
export function checkDrawRange(op: string, offset: number, count: number): void {
  if (offset + count > Number.MAX_SAFE_INTEGER + 1) {
    throw new RangeError(`${op}: offset + count = ${offset + count} exceeds 2^53 (draw indices must stay exact)`);
  }
}

/** Checks the attrs object and reads a size attribute. */
export function size(op: string, attrs: Attrs, field: string, min = 0): number {
  if (typeof attrs !== 'object' || attrs === null) throw new TypeError(`${op}: attrs must be an object`);
  return checkInt(op, field, attrs[field], min, MAX_ELEMENTS);
}

/** Checks that a product of sizes stays addressable. */
export function product(op: string, what: string, ...dims: number[]): number {
  const p = dims.reduce((a, b) => a * b, 1);
  if (p > MAX_ELEMENTS) throw new RangeError(`${op}: ${what} = ${p} elements exceeds the limit of ${MAX_ELEMENTS}`);
  return p;
}

/** The error every backend throws when encode meets a NaN or infinity. */
export function nonFiniteUpdate(op: string): RangeError {
  return new RangeError(`${op}: x contains NaN or Infinity (its L2 norm is not finite)`);
}
