/**
 * Reference f32 matrix multiply: it defines the bits the Wasm builds (kernels/assembly/matmul.ts) must
 * reproduce. Every multiply and add is rounded to f32 (Math.fround); no fused multiply-add.
 * @module
 */

const fr = Math.fround;

/**
 * C = op(A) · op(B), all matrices row-major f32.
 *
 * op(A) is m×k: `a` holds A as m×k, or as k×m when `transA` (then op(A) = Aᵀ).
 * op(B) is k×n: `b` holds B as k×n, or as n×k when `transB` (then op(B) = Bᵀ).
 * Returns C, m×n.
 *
 * Definition of each element (this order is the contract):
 *   c = +0; for p = 0 .. k-1 ascending: c = fround(c + fround(op(A)[i][p] * op(B)[p][j])); C[i][j] = c
 * The accumulator starts at +0, so an all-(-0) sum gives +0 and k = 0 gives +0.
 *
 * The loops run i, p, j (row of C updated one p at a time) only so that the inner loop walks memory
 * contiguously; every C[i][j] still sees its products in ascending p, so the bits are those of the
 * definition above.
 *
 * @throws RangeError when a size is not a non-negative integer or an input is shorter than its shape.
 */
export function matmulRef(
  a: Float32Array,
  b: Float32Array,
  m: number,
  k: number,
  n: number,
  transA: boolean,
  transB: boolean,
): Float32Array {
  for (const [name, v] of [['m', m], ['k', k], ['n', n]] as const) {
    if (!Number.isSafeInteger(v) || v < 0) throw new RangeError(`matmulRef: ${name} must be a non-negative integer, got ${v}`);
  }
  if (a.length < m * k) throw new RangeError(`matmulRef: a has ${a.length} elements, needs ${m * k} (${m}×${k})`);
  if (b.length < k * n) throw new RangeError(`matmulRef: b has ${b.length} elements, needs ${k * n} (${k}×${n})`);

  const c = new Float32Array(m * n); // +0 everywhere: the accumulators' start value
  // Element strides of op(A)[i][p] and op(B)[p][j] in the stored arrays.
  const aRow = transA ? 1 : k;
  const aCol = transA ? m : 1;
  const bRow = transB ? 1 : n;
  const bCol = transB ? k : 1;
  for (let i = 0; i < m; i++) {
    const ci = i * n;
    for (let p = 0; p < k; p++) {
      const aip = a[i * aRow + p * aCol]!;
      const bp = p * bRow;
      for (let j = 0; j < n; j++) {
        c[ci + j] = fr(c[ci + j]! + fr(aip * b[bp + j * bCol]!));
      }
    }
  }
  return c;
}
