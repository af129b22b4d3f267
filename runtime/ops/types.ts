/**
 * An op is backend-neutral: its definition validates inputs and attributes, sizes the outputs, and names
 * the JS reference that defines its bits. Backends register kernels for ops by name.
 * @module
 */
import type { DType, TypedArray } from '../errors.js';

/** Inputs of a kernel call, by name. */
export type Inputs = Record<string, TypedArray>;
/** Attributes of a kernel call (sizes, flags, seeds). */
export type Attrs = Record<string, unknown>;

/** What validation produced: normalised attributes and the length of every output. */
export interface Plan {
  /** Attributes with defaults filled in and seeds split into u32 words. */
  attrs: Record<string, number | boolean>;
  /** Output lengths, in the order of {@link OpDef.outputs}. */
  outLengths: number[];
}

/** The definition of one op. */
export interface OpDef {
  name: string;
  /** One line for `meshwork info` and the docs. */
  summary: string;
  inputs: readonly { name: string; dtype: DType }[];
  outputs: readonly { name: string; dtype: DType }[];
  /**
   * Validates inputs and attributes and sizes the outputs.
   * @throws TypeError for a wrong type, RangeError for a wrong value, naming the field.
   */
  plan(inputs: Inputs, attrs: Attrs): Plan;
  /** The JS reference: defines the output bits. */
  reference(inputs: Inputs, plan: Plan): TypedArray[];
}
