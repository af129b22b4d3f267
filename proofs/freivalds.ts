/**
 * Freivalds' check: is C = A·B, for a product an untrusted worker returned, in O(k(mn + nk + mk)) instead of
 * recomputing it in O(mkn)? Each trial draws a random vector r and compares A(Br) with Cr.
 *
 * Two algebras, each with its stated false-accept bound for a wrong C, per trial and for k trials:
 * - `ring` (default): Int32Array matrices with wrapping 32-bit arithmetic (what WebAssembly's i32.mul and
 *   i32.add compute), r in {0,1}^n. If C != AB some entry E_ij of E = C - AB is non-zero mod 2^32, and for any
 *   choice of the other r's at most one of r_j = 0, 1 makes (Er)_i vanish: at most 1/2 per trial, 2^-k in all.
 *   One wrong element is caught exactly when r_j = 1, so its false-accept rate is exactly 2^-k (tested).
 * - `prime`: matrices over GF(p), p = 2^31 - 1 (entries given as integers in [0, p)), r uniform in GF(p)^n:
 *   by Schwartz-Zippel at most 1/p per trial, p^-k in all.
 * Floating-point products are not a ring (rounding), so f32 results are checked by replica agreement under the
 * numerics contract (bit-exact), not by this test.
 * @module
 */

/** The Mersenne prime 2^31 - 1 of the `prime` algebra. */
export const FREIVALDS_PRIME = 2147483647;

/** Options of {@link freivalds}. */
export interface FreivaldsOptions {
  /** Trials k (default 20). */
  trials?: number;
  /** `ring` (i32, wrapping) or `prime` (GF(2^31 - 1)). */
  algebra?: 'ring' | 'prime';
  /** Fills a buffer with random bytes (default crypto.getRandomValues); inject a seeded one for tests. */
  random?: (buf: Uint8Array) => void;
}

/** The verdict. */
export interface FreivaldsResult {
  /** Whether every trial agreed. */
  ok: boolean;
  /** Trials run (stops at the first disagreement). */
  trials: number;
  /** The probability bound that a wrong product passes all `trials` trials: 2^-k or p^-k. */
  falseAcceptBound: number;
  /** A row index where A(Br) and Cr differed, when !ok. */
  row?: number;
}

/** Shapes: A is m x k, B is k x n, C is m x n, row-major. */
export interface MatDims {
  m: number;
  k: number;
  n: number;
}

function checkDims(d: MatDims): void {
  if (typeof d !== 'object' || d === null) throw new TypeError('dims must be an object {m, k, n}');
  for (const f of ['m', 'k', 'n'] as const) {
    if (typeof d[f] !== 'number') throw new TypeError(`dims.${f} must be a number, got ${typeof d[f]}`);
    if (!Number.isInteger(d[f]) || d[f] < 1) throw new RangeError(`dims.${f} must be a positive integer, got ${d[f]}`);
  }
}

function checkMat(name: string, x: unknown, len: number, formula: string, algebra: 'ring' | 'prime'): asserts x is Int32Array | Uint32Array {
  const ok = algebra === 'ring' ? x instanceof Int32Array : x instanceof Uint32Array || x instanceof Int32Array;
  if (!ok) throw new TypeError(`${name} must be ${algebra === 'ring' ? 'an Int32Array' : 'an Int32Array or Uint32Array'}, got ${x === null ? 'null' : (x as object)?.constructor?.name ?? typeof x}`);
  if ((x as Int32Array).length !== len) throw new RangeError(`${name} must have ${formula} = ${len} elements, got ${(x as Int32Array).length}`);
}

/** (a * b) mod p for a, b in [0, p), exact in doubles: split a into 16-bit halves. */
function mulmod(a: number, b: number): number {
  const hi = Math.floor(a / 65536), lo = a % 65536;
  return (((hi * b) % FREIVALDS_PRIME) * 65536 + lo * b) % FREIVALDS_PRIME;
}

/**
 * Checks C = A·B with k random trials.
 * @throws TypeError / RangeError naming the argument for bad shapes or types; in the `prime` algebra, entries
 *   must lie in [0, p).
 */
export function freivalds(a: Int32Array | Uint32Array, b: Int32Array | Uint32Array, c: Int32Array | Uint32Array, dims: MatDims, opts: FreivaldsOptions = {}): FreivaldsResult {
  checkDims(dims);
  const algebra = opts.algebra ?? 'ring';
  if (algebra !== 'ring' && algebra !== 'prime') throw new RangeError(`algebra must be 'ring' or 'prime', got ${String(algebra)}`);
  const { m, k, n } = dims;
  checkMat('a', a, m * k, 'm*k', algebra);
  checkMat('b', b, k * n, 'k*n', algebra);
  checkMat('c', c, m * n, 'm*n', algebra);
  const trials = opts.trials ?? 20;
  if (!Number.isInteger(trials) || trials < 1) throw new RangeError(`trials must be a positive integer, got ${trials}`);
  const random = opts.random ?? ((buf: Uint8Array) => { crypto.getRandomValues(buf); });
  if (algebra === 'prime') for (const [name, x] of [['a', a], ['b', b], ['c', c]] as const) {
    for (let i = 0; i < x.length; i++) if (x[i]! < 0 || x[i]! >= FREIVALDS_PRIME) throw new RangeError(`${name}[${i}] = ${x[i]} is not in [0, 2^31 - 1)`);
  }
  const perTrial = algebra === 'ring' ? 0.5 : 1 / FREIVALDS_PRIME;
  const r = new Int32Array(n), br = new Int32Array(k), abr = new Int32Array(m), cr = new Int32Array(m);
  const bytes = new Uint8Array(algebra === 'ring' ? Math.ceil(n / 8) : 4 * n);
  for (let t = 0; t < trials; t++) {
    random(bytes);
    if (algebra === 'ring') {
      for (let j = 0; j < n; j++) r[j] = (bytes[j >> 3]! >> (j & 7)) & 1;
      ringMatVec(b, r, br, k, n);
      ringMatVec(a, br, abr, m, k);
      ringMatVec(c, r, cr, m, n);
    } else {
      const words = new Uint32Array(bytes.buffer);
      for (let j = 0; j < n; j++) r[j] = words[j]! % FREIVALDS_PRIME; // bias < 2^-31 per draw
      primeMatVec(b, r, br, k, n);
      primeMatVec(a, br, abr, m, k);
      primeMatVec(c, r, cr, m, n);
    }
    for (let i = 0; i < m; i++) {
      if (abr[i] !== cr[i]) return { ok: false, trials: t + 1, falseAcceptBound: perTrial ** (t + 1), row: i };
    }
  }
  return { ok: true, trials, falseAcceptBound: perTrial ** trials };
}

/** y = X·v with wrapping i32 arithmetic; X is rows x cols. */
function ringMatVec(x: ArrayLike<number>, v: Int32Array, y: Int32Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s = (s + Math.imul(x[o + j]!, v[j]!)) | 0;
    y[i] = s;
  }
}

/** y = X·v over GF(2^31 - 1). */
function primeMatVec(x: ArrayLike<number>, v: Int32Array, y: Int32Array, rows: number, cols: number): void {
  for (let i = 0; i < rows; i++) {
    let s = 0;
    const o = i * cols;
    for (let j = 0; j < cols; j++) s = (s + mulmod(x[o + j]!, v[j]!)) % FREIVALDS_PRIME;
    y[i] = s;
  }
}
