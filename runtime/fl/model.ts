/**
 * A multilayer perceptron on the deterministic kernels: forward and backward passes with matmul (A·Bᵀ,
 * Aᵀ·B, A·B), bias + ReLU and softmax + cross-entropy; every other step (the softmax gradient, bias
 * gradients, the ReLU mask, SGD) is plain f32 arithmetic with Math.fround in a fixed order. So training
 * gives the same bits on every backend and host.
 *
 * Parameters live in one flat Float32Array with a named layout after PyTorch's nn.Linear: `fc1.weight`
 * [out, in], `fc1.bias` [out], `fc2.weight`, ... (see safetensors.ts to exchange them with PyTorch).
 * @module
 */
import { checkInt } from '../errors.js';
import { runKernel, type RunOptions } from '../registry.js';
import { Rng, STREAMS } from './rng.js';

/** One named tensor in a flat parameter vector. */
export interface ParamSpec {
  name: string;
  shape: number[];
  offset: number;
  length: number;
}

/** The loss and the gradient (same layout as the parameters) of one batch. */
export interface BatchGrad {
  loss: number;
  grad: Float32Array;
}

const fr = Math.fround;

/** A multilayer perceptron with ReLU hidden layers and a softmax output. */
export class Mlp {
  readonly layout: ParamSpec[];
  readonly size: number;

  /** @param sizes layer widths, input first (default digits: [64, 32, 10]). @param kernel which backend runs the kernels (default: the best ready one). */
  constructor(readonly sizes: number[] = [64, 32, 10], readonly kernel: RunOptions = {}) {
    if (!Array.isArray(sizes) || sizes.length < 2) throw new RangeError('Mlp: sizes must list at least an input and an output width');
    sizes.forEach((s, i) => checkInt('Mlp', `sizes[${i}]`, s, 1, 1 << 16));
    const layout: ParamSpec[] = [];
    let offset = 0;
    for (let l = 1; l < sizes.length; l++) {
      const out = sizes[l]!, inp = sizes[l - 1]!;
      layout.push({ name: `fc${l}.weight`, shape: [out, inp], offset, length: out * inp });
      offset += out * inp;
      layout.push({ name: `fc${l}.bias`, shape: [out], offset, length: out });
      offset += out;
    }
    this.layout = layout;
    this.size = offset;
  }

  get inputs(): number { return this.sizes[0]!; }
  get classes(): number { return this.sizes[this.sizes.length - 1]!; }

  /** Initial parameters as PyTorch's nn.Linear default: weights and biases U(-1/sqrt(in), 1/sqrt(in)), seeded. */
  init(seed: number | bigint): Float32Array {
    const w = new Float32Array(this.size);
    const rng = new Rng(seed, STREAMS.init);
    this.layout.forEach((p, k) => {
      const bound = 1 / Math.sqrt(this.sizes[k >> 1]!); // fan-in of layer (k >> 1) + 1, weight and bias alike
      for (let i = 0; i < p.length; i++) w[p.offset + i] = (2 * rng.float() - 1) * bound;
    });
    return w;
  }

  private check(params: Float32Array): void {
    if (!(params instanceof Float32Array)) throw new TypeError('Mlp: params must be a Float32Array');
    if (params.length !== this.size) throw new RangeError(`Mlp: params has length ${params.length}, expected ${this.size}`);
  }

  private tensor(params: Float32Array, l: number, which: 'weight' | 'bias'): Float32Array {
    const p = this.layout[2 * (l - 1) + (which === 'weight' ? 0 : 1)]!;
    return params.subarray(p.offset, p.offset + p.length);
  }

  /** Activations of every layer for a batch of `rows` inputs (the last entry is the logits). */
  private forwardAll(params: Float32Array, x: Float32Array, rows: number): Float32Array[] {
    const acts: Float32Array[] = [x];
    const L = this.sizes.length - 1;
    let a = x;
    for (let l = 1; l <= L; l++) {
      const inp = this.sizes[l - 1]!, out = this.sizes[l]!;
      const [z] = runKernel('matmul', { a, b: this.tensor(params, l, 'weight') }, { m: rows, k: inp, n: out, transA: false, transB: true }, this.kernel);
      [a] = runKernel('biasAct', { x: z!, b: this.tensor(params, l, 'bias') }, { rows, cols: out, relu: l < L }, this.kernel) as [Float32Array];
      acts.push(a);
    }
    return acts;
  }

  /** Logits (rows x classes) of a batch. */
  forward(params: Float32Array, x: Float32Array, rows: number): Float32Array {
    this.check(params);
    checkInt('Mlp.forward', 'rows', rows, 0, 1 << 24);
    if (x.length !== rows * this.inputs) throw new RangeError(`Mlp.forward: x has length ${x.length}, expected rows*${this.inputs} = ${rows * this.inputs}`);
    return this.forwardAll(params, x, rows).pop()!;
  }

  /** Mean cross-entropy and its gradient for one batch. */
  lossAndGrad(params: Float32Array, x: Float32Array, labels: Int32Array, rows: number): BatchGrad {
    this.check(params);
    const L = this.sizes.length - 1;
    const acts = this.forwardAll(params, x, rows);
    const classes = this.classes;
    const [probs, losses] = runKernel('softmaxXent', { logits: acts[L]!, labels }, { rows, classes }, this.kernel) as [Float32Array, Float32Array];
    let loss = 0;
    for (let i = 0; i < rows; i++) loss = fr(loss + losses[i]!);
    loss = fr(loss / rows);
    // dL/dlogits = (probs - onehot) / rows
    let dz: Float32Array = new Float32Array(rows * classes);
    for (let i = 0; i < rows; i++) {
      for (let c = 0; c < classes; c++) {
        const t = labels[i] === c ? 1 : 0;
        dz[i * classes + c] = fr(probs[i * classes + c]! - t) / rows;
      }
    }
    const grad = new Float32Array(this.size);
    for (let l = L; l >= 1; l--) {
      const inp = this.sizes[l - 1]!, out = this.sizes[l]!;
      const wSpec = this.layout[2 * (l - 1)]!, bSpec = this.layout[2 * (l - 1) + 1]!;
      const [dw] = runKernel('matmul', { a: dz, b: acts[l - 1]! }, { m: out, k: rows, n: inp, transA: true, transB: false }, this.kernel) as [Float32Array];
      grad.set(dw!, wSpec.offset);
      for (let j = 0; j < out; j++) {
        let s = 0;
        for (let i = 0; i < rows; i++) s = fr(s + dz[i * out + j]!);
        grad[bSpec.offset + j] = s;
      }
      if (l > 1) {
        const [da] = runKernel('matmul', { a: dz, b: this.tensor(params, l, 'weight') }, { m: rows, k: out, n: inp, transA: false, transB: false }, this.kernel) as [Float32Array];
        const prev = acts[l - 1]!;
        for (let i = 0; i < da.length; i++) if (!(prev[i]! > 0)) da[i] = 0;
        dz = da;
      }
    }
    return { loss, grad };
  }

  /** Accuracy and mean loss over a data set, in batches of `batch` rows. */
  evaluate(params: Float32Array, x: Float32Array, labels: Int32Array, batch = 512): { accuracy: number; loss: number } {
    this.check(params);
    const n = labels.length, f = this.inputs, classes = this.classes;
    let correct = 0, loss = 0;
    for (let s = 0; s < n; s += batch) {
      const rows = Math.min(batch, n - s);
      const logits = this.forward(params, x.subarray(s * f, (s + rows) * f), rows);
      const lab = labels.subarray(s, s + rows);
      const [, losses] = runKernel('softmaxXent', { logits, labels: lab }, { rows, classes }, this.kernel) as [Float32Array, Float32Array];
      for (let i = 0; i < rows; i++) {
        loss += losses[i]!;
        let best = 0;
        for (let c = 1; c < classes; c++) if (logits[i * classes + c]! > logits[i * classes + best]!) best = c;
        if (best === lab[i]) correct++;
      }
    }
    return { accuracy: n ? correct / n : 0, loss: n ? loss / n : 0 };
  }
}

/** Local SGD settings. */
export interface SgdOptions {
  lr: number;
  momentum: number;
  batch: number;
  epochs: number;
}

/**
 * Trains in place with SGD + momentum (v = momentum v + g; w -= lr v, f32), `epochs` passes over the
 * data in batches, shuffled per epoch by `rng`. Returns the mean batch loss of the last epoch.
 */
export function trainSgd(model: Mlp, params: Float32Array, x: Float32Array, y: Int32Array, opts: SgdOptions, rng: Rng): number {
  const n = y.length, f = model.inputs;
  const v = new Float32Array(model.size);
  const order = new Int32Array(n).map((_, i) => i);
  const bx = new Float32Array(Math.min(opts.batch, n) * f), by = new Int32Array(Math.min(opts.batch, n));
  const lr = fr(opts.lr), mu = fr(opts.momentum);
  let last = 0;
  for (let e = 0; e < opts.epochs; e++) {
    rng.shuffle(order);
    let sum = 0, batches = 0;
    for (let s = 0; s < n; s += opts.batch) {
      const rows = Math.min(opts.batch, n - s);
      for (let i = 0; i < rows; i++) {
        const r = order[s + i]!;
        bx.set(x.subarray(r * f, (r + 1) * f), i * f);
        by[i] = y[r]!;
      }
      const { loss, grad } = model.lossAndGrad(params, bx.subarray(0, rows * f), by.subarray(0, rows), rows);
      for (let i = 0; i < params.length; i++) {
        v[i] = fr(fr(mu * v[i]!) + grad[i]!);
        params[i] = fr(params[i]! - fr(lr * v[i]!));
      }
      sum += loss;
      batches++;
    }
    last = batches ? sum / batches : 0;
  }
  return last;
}
