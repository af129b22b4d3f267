/**
 * Reference integer aggregation kernels for federated learning: they define, bit for bit, what the Wasm
 * kernels in kernels/assembly/aggregate.ts must return (DESIGN.md, numerics contract points 4 and 5).
 *
 * Input layout: n participant vectors of length d in one row-major Int32Array, x[i * d + j].
 * Everything is exact integer arithmetic; where a result can exceed 2^53 the code uses BigInt, so these
 * functions are written for clarity, not speed (tests run them on small inputs).
 * @module
 */

function checkShape(x: Int32Array | BigInt64Array, n: number, d: number): void {
  if (!Number.isInteger(n) || !Number.isInteger(d) || n < 0 || d < 0) throw new RangeError(`bad shape n=${n} d=${d}`);
  if (x.length < n * d) throw new RangeError(`x has ${x.length} values, n*d = ${n * d}`);
}

/** Values of coordinate j, one per participant, sorted ascending. */
function sortedColumn(x: Int32Array, n: number, d: number, j: number): Int32Array {
  const col = new Int32Array(n);
  for (let i = 0; i < n; i++) col[i] = x[i * d + j]!;
  return col.sort(); // TypedArray sort is numeric
}

/** out[j] = sum over i of x[i][j], wrapping mod 2^32 (two's complement i32). */
export function sumI32Ref(x: Int32Array, n: number, d: number): Int32Array {
  checkShape(x, n, d);
  const out = new Int32Array(d);
  for (let j = 0; j < d; j++) {
    let acc = 0;
    // acc and x are both in i32 range, so acc + x is exact in a double and `| 0` reduces it mod 2^32.
    for (let i = 0; i < n; i++) acc = (acc + x[i * d + j]!) | 0;
    out[j] = acc;
  }
  return out;
}

/** out[j] = sum over i of x[i][j], wrapping mod 2^64 (two's complement i64): partial sums up an aggregator tree. */
export function sumI64Ref(x: BigInt64Array, n: number, d: number): BigInt64Array {
  checkShape(x, n, d);
  const out = new BigInt64Array(d);
  for (let j = 0; j < d; j++) {
    let acc = 0n;
    for (let i = 0; i < n; i++) acc += x[i * d + j]!;
    out[j] = BigInt.asIntN(64, acc);
  }
  return out;
}

/** out[j] = sum over i of w[i] * x[i][j], products exact, sum wrapping mod 2^64 (two's complement i64). */
export function wsumI64Ref(x: Int32Array, w: Int32Array, n: number, d: number): BigInt64Array {
  checkShape(x, n, d);
  if (w.length < n) throw new RangeError(`w has ${w.length} weights, n = ${n}`);
  const out = new BigInt64Array(d);
  for (let j = 0; j < d; j++) {
    let acc = 0n;
    for (let i = 0; i < n; i++) acc += BigInt(w[i]!) * BigInt(x[i * d + j]!);
    out[j] = BigInt.asIntN(64, acc);
  }
  return out;
}

/**
 * Coordinate-wise median (n >= 1). Odd n: the middle value. Even n: floor((a + b) / 2) of the two middle
 * values a <= b (exact in doubles: |a + b| <= 2^32).
 */
export function medianI32Ref(x: Int32Array, n: number, d: number): Int32Array {
  checkShape(x, n, d);
  if (n < 1) throw new RangeError('median needs n >= 1');
  const out = new Int32Array(d);
  for (let j = 0; j < d; j++) {
    const col = sortedColumn(x, n, d, j);
    out[j] = n % 2 === 1 ? col[(n - 1) / 2]! : Math.floor((col[n / 2 - 1]! + col[n / 2]!) / 2);
  }
  return out;
}

/** floor(a / b) for BigInt, rounding toward -infinity (BigInt `/` truncates toward zero); b > 0. */
function floorDiv(a: bigint, b: bigint): bigint {
  const q = a / b;
  return a < 0n && q * b !== a ? q - 1n : q;
}

/**
 * Coordinate-wise trimmed mean: drop the `trim` smallest and `trim` largest values (0 <= 2*trim < n), then
 * floor(S / (n - 2*trim)) where S is the exact sum of the rest. The result lies between the kept minimum
 * and maximum, so it is an i32.
 */
export function trimmedMeanI32Ref(x: Int32Array, n: number, d: number, trim: number): Int32Array {
  checkShape(x, n, d);
  if (!Number.isInteger(trim) || trim < 0 || 2 * trim >= n) throw new RangeError(`bad trim ${trim} for n = ${n}`);
  const out = new Int32Array(d);
  const m = BigInt(n - 2 * trim);
  for (let j = 0; j < d; j++) {
    const col = sortedColumn(x, n, d, j);
    let s = 0n;
    for (let r = trim; r < n - trim; r++) s += BigInt(col[r]!);
    out[j] = Number(floorDiv(s, m));
  }
  return out;
}

/**
 * Pairwise squared Euclidean distances, out[i * n + q] = sum over p of (x[i][p] - x[q][p])^2, each
 * difference exact (|diff| < 2^32 is exact in a double, the square is taken in BigInt), the sum wrapping
 * mod 2^64. Symmetric with a zero diagonal.
 */
export function pairwiseSqDistI64Ref(x: Int32Array, n: number, d: number): BigInt64Array {
  checkShape(x, n, d);
  const out = new BigInt64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let q = i + 1; q < n; q++) {
      let acc = 0n;
      for (let p = 0; p < d; p++) {
        const diff = BigInt(x[i * d + p]! - x[q * d + p]!);
        acc += diff * diff;
      }
      out[i * n + q] = out[q * n + i] = BigInt.asIntN(64, acc);
    }
  }
  return out;
}
