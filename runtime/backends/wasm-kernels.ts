/**
 * How each op calls the Wasm kernel module: allocate, copy in, call the export, copy out. One table for
 * both Wasm backends (SIMD and scalar builds export the same functions). Export signatures are documented
 * beside each kernel in kernels/assembly/.
 * @module
 */
import type { TypedArray } from '../errors.js';
import { nonFiniteUpdate } from '../ops/_check.js';
import type { Inputs, Plan } from '../ops/types.js';
import { f32, f64, i64, type WasmInstance } from './wasm-memory.js';

/** Runs one op on a Wasm instance; the arena is reset afterwards. */
export type WasmBinding = (w: WasmInstance, inputs: Inputs, plan: Plan) => TypedArray[];

const b = (v: boolean | number | undefined): number => (v ? 1 : 0);
const num = (v: boolean | number | undefined): number => v as number;

/** Allocates the scratch a kernel asked for; its usize answer comes back as i32, so read it unsigned. */
function scratch(w: WasmInstance, bytes: unknown): number {
  return w.alloc(Number(bytes) >>> 0);
}

/** The binding of every op that has a Wasm kernel. */
export const WASM_BINDINGS: Record<string, WasmBinding> = {
  matmul(w, { a, b: bb }, { attrs: p, outLengths }) {
    const pa = w.write(a!), pb = w.write(bb!);
    const pc = w.alloc(outLengths[0]! * 4);
    const s = scratch(w, w.call('matmul_scratch_bytes', num(p.m), num(p.k), num(p.n), b(p.transA), b(p.transB)));
    w.call('matmul', pa, pb, pc, num(p.m), num(p.k), num(p.n), b(p.transA), b(p.transB), s);
    return [w.read('f32', pc, outLengths[0]!)];
  },
  gemv(w, { a, x }, { attrs: p, outLengths }) {
    const pa = w.write(a!), px = w.write(x!), py = w.alloc(outLengths[0]! * 4);
    w.call('gemv_f32', pa, px, py, num(p.m), num(p.n), b(p.transA));
    return [w.read('f32', py, outLengths[0]!)];
  },
  dot(w, { x, y }) {
    const px = w.write(x!), py = w.write(y!), po = w.alloc(4);
    w.call('dot_f32', px, py, x!.length, po);
    return [w.read('f32', po, 1)];
  },
  l2norm(w, { x }) {
    const px = w.write(x!), po = w.alloc(4);
    w.call('l2norm_f32', px, x!.length, po);
    return [w.read('f32', po, 1)];
  },
  scale(w, { x }, { attrs: p }) {
    const px = w.write(x!), po = w.alloc(x!.length * 4);
    w.call('scale_f32', px, po, x!.length, f32(num(p.a)));
    return [w.read('f32', po, x!.length)];
  },
  axpy(w, { x, y }, { attrs: p }) {
    const px = w.write(x!), py = w.write(y!);
    w.call('axpy_f32', f32(num(p.a)), px, py, py, x!.length);
    return [w.read('f32', py, x!.length)];
  },
  biasAct(w, { x, b: bias }, { attrs: p, outLengths }) {
    const px = w.write(x!), pb = w.write(bias!), po = w.alloc(outLengths[0]! * 4);
    w.call('bias_act_f32', px, pb, po, num(p.rows), num(p.cols), b(p.relu));
    return [w.read('f32', po, outLengths[0]!)];
  },
  softmaxXent(w, { logits, labels }, { attrs: p, outLengths }) {
    const px = w.write(logits!), pl = w.write(labels!);
    const pp = w.alloc(outLengths[0]! * 4), ploss = w.alloc(outLengths[1]! * 4);
    w.call('softmax_xent_f32', px, pl, pp, ploss, num(p.rows), num(p.classes));
    return [w.read('f32', pp, outLengths[0]!), w.read('f32', ploss, outLengths[1]!)];
  },
  encode(w, { x }, { attrs: p }) {
    const px = w.write(x!), po = w.alloc(x!.length * 4), s = w.alloc(16);
    const norm = w.call('fixed_encode', px, po, x!.length, f64(num(p.clip)), num(p.bits), num(p.seedLo) | 0, num(p.seedHi) | 0, num(p.stream) | 0, i64(num(p.offset)), s) as number;
    if (!Number.isFinite(norm)) throw nonFiniteUpdate('encode');
    return [w.read('i32', po, x!.length)];
  },
  decode(w, { values }, { attrs: p }) {
    const pv = w.write(values!), po = w.alloc(values!.length * 4);
    w.call('fixed_decode', pv, po, values!.length, f64(num(p.clip)), num(p.bits), f64(num(p.divisor)));
    return [w.read('f32', po, values!.length)];
  },
  sum(w, { x }, { attrs: p }) {
    const d = num(p.d), px = w.write(x!), po = w.alloc(d * 4);
    w.call('agg_sum_i32', px, po, num(p.n), d, 0, d);
    return [w.read('i32', po, d)];
  },
  wsum(w, { x, w: weights }, { attrs: p }) {
    const d = num(p.d), px = w.write(x!), pw = w.write(weights!), po = w.alloc(d * 8);
    w.call('agg_wsum_i64', px, pw, po, num(p.n), d, 0, d);
    return [w.read('i64', po, d)];
  },
  sum64(w, { x }, { attrs: p }) {
    const d = num(p.d), px = w.write(x!), po = w.alloc(d * 8);
    w.call('agg_sum_i64', px, po, num(p.n), d, 0, d);
    return [w.read('i64', po, d)];
  },
  median(w, { x }, { attrs: p }) {
    const n = num(p.n), d = num(p.d), px = w.write(x!), po = w.alloc(d * 4);
    const s = scratch(w, w.call('agg_median_scratch_bytes', n));
    w.call('agg_median_i32', px, po, n, d, 0, d, s);
    return [w.read('i32', po, d)];
  },
  trimmedMean(w, { x }, { attrs: p }) {
    const n = num(p.n), d = num(p.d), t = num(p.trim), px = w.write(x!), po = w.alloc(d * 4);
    const s = scratch(w, w.call('agg_trimmed_scratch_bytes', n, t));
    w.call('agg_trimmed_mean_i32', px, po, n, d, t, 0, d, s);
    return [w.read('i32', po, d)];
  },
  pairwiseSqDist(w, { x }, { attrs: p }) {
    const n = num(p.n), d = num(p.d), px = w.write(x!), po = w.alloc(n * n * 8);
    const s = scratch(w, w.call('agg_sqdist_scratch_bytes', n));
    w.call('agg_pairwise_sqdist_i64', px, po, n, d, 0, d, s);
    return [w.read('i64', po, n * n)];
  },
  randomU32: randomBinding('random_u32', 'u32'),
  randomUniform: randomBinding('random_uniform_f32', 'f32'),
  randomNormal: randomBinding('random_normal_f32', 'f32'),
};

function randomBinding(exportName: string, dtype: 'u32' | 'f32'): WasmBinding {
  return (w, _inputs, { attrs: p }) => {
    const count = num(p.count), po = w.alloc(count * 4), s = w.alloc(16);
    w.call(exportName, po, count, num(p.seedLo) | 0, num(p.seedHi) | 0, num(p.stream) | 0, i64(num(p.offset)), s);
    return [w.read(dtype, po, count)];
  };
}
