/**
 * Plain-JavaScript baselines for the aggregation benchmarks: what a competent JS developer writes without
 * Wasm, on one Int32Array per participant. They are the honest peers of kernels/assembly/aggregate.ts, so
 * each one is the fastest plain variant we measured, not a straw man (the alternatives tried are noted).
 * They are exact wherever the kernels are, except pairwiseSqDistPlain, which accumulates in a double as
 * plain code would (exact while the sum stays below 2^53).
 * @module
 */

/**
 * Wrapping i32 column sum. Four rows per pass: one load/store of out[j] per four inputs, four sequential
 * streams for the prefetcher; the sum of five i32 values is exact in a double and `| 0` wraps it mod 2^32.
 * (Also measured at 100 x 1e6: one row per pass 2x slower; eight rows per pass, 4-column register
 * accumulators down the rows, and 4K-column blocks no faster.)
 */
export function sumI32Plain(rows: Int32Array[], d: number): Int32Array {
  const out = new Int32Array(d);
  const n = rows.length;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const r0 = rows[i]!, r1 = rows[i + 1]!, r2 = rows[i + 2]!, r3 = rows[i + 3]!;
    for (let j = 0; j < d; j++) out[j] = (out[j]! + r0[j]! + r1[j]! + r2[j]! + r3[j]!) | 0;
  }
  for (; i < n; i++) {
    const r = rows[i]!;
    for (let j = 0; j < d; j++) out[j] = (out[j]! + r[j]!) | 0;
  }
  return out;
}

/**
 * Rearranges a[lo..hi] (inclusive) so that a[k] holds the value of rank k, everything before it is <= and
 * everything after it is >=. Hoare partition around a median-of-3 pivot, iterating into the side that
 * holds k; insertion sort once the range is small (cutoffs 4 to 32 measured within 10%; 8 was among the
 * fastest).
 */
function quickselect(a: Int32Array, lo: number, hi: number, k: number): void {
  while (hi - lo > 8) {
    const mid = (lo + hi) >>> 1;
    // Median of three into a[mid]; a[lo] <= pivot <= a[hi] then act as sentinels for the scans.
    if (a[mid]! < a[lo]!) { const t = a[mid]!; a[mid] = a[lo]!; a[lo] = t; }
    if (a[hi]! < a[lo]!) { const t = a[hi]!; a[hi] = a[lo]!; a[lo] = t; }
    if (a[hi]! < a[mid]!) { const t = a[hi]!; a[hi] = a[mid]!; a[mid] = t; }
    const pivot = a[mid]!;
    let i = lo, j = hi;
    for (;;) {
      do i++; while (a[i]! < pivot);
      do j--; while (a[j]! > pivot);
      if (i >= j) break;
      const t = a[i]!; a[i] = a[j]!; a[j] = t;
    }
    // Now a[lo..j] <= pivot <= a[j+1..hi].
    if (k <= j) hi = j; else lo = j + 1;
  }
  for (let i = lo + 1; i <= hi; i++) {
    const v = a[i]!;
    let j = i - 1;
    while (j >= lo && a[j]! > v) { a[j + 1] = a[j]!; j--; }
    a[j + 1] = v;
  }
}

/**
 * Coordinate-wise median (same result as medianI32Ref): gather the column into a scratch array, quickselect
 * the upper middle; for even n the lower middle is the maximum of the part left of it.
 */
export function medianPlain(rows: Int32Array[], d: number): Int32Array {
  const n = rows.length;
  const out = new Int32Array(d);
  const col = new Int32Array(n);
  const k = n >> 1;
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) col[i] = rows[i]![j]!;
    quickselect(col, 0, n - 1, k);
    const b = col[k]!;
    if (n & 1) { out[j] = b; continue; }
    let a = col[0]!;
    for (let i = 1; i < k; i++) if (col[i]! > a) a = col[i]!;
    out[j] = Math.floor((a + b) / 2);
  }
  return out;
}

/**
 * Coordinate-wise trimmed mean (same result as trimmedMeanI32Ref): quickselect rank `trim` (the `trim`
 * smallest land left of it), then rank n-1-trim in the rest, and sum the middle. The sum is exact in a
 * double (|S| < 2^53 for n < 2^22) and so is floor(S / m): a non-integer quotient is at least 1/m away
 * from an integer, far more than the division's rounding error. (Sorting each column with
 * Int32Array.prototype.sort instead was measured about 1.2x slower at n = 100.)
 */
export function trimmedMeanPlain(rows: Int32Array[], d: number, trim: number): Int32Array {
  const n = rows.length;
  const m = n - 2 * trim;
  const out = new Int32Array(d);
  const col = new Int32Array(n);
  for (let j = 0; j < d; j++) {
    for (let i = 0; i < n; i++) col[i] = rows[i]![j]!;
    if (trim > 0) {
      quickselect(col, 0, n - 1, trim);
      quickselect(col, trim, n - 1, n - 1 - trim);
    }
    let s = 0;
    for (let i = trim; i < n - trim; i++) s += col[i]!;
    out[j] = Math.floor(s / m);
  }
  return out;
}

/**
 * Pairwise squared distances, the plain double loop over i < q with a Number accumulator (row-major n x n,
 * symmetric, zero diagonal). Exact while each partial sum stays below 2^53.
 */
export function pairwiseSqDistPlain(rows: Int32Array[], d: number): Float64Array {
  const n = rows.length;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    const a = rows[i]!;
    for (let q = i + 1; q < n; q++) {
      const b = rows[q]!;
      let s = 0;
      for (let p = 0; p < d; p++) { const t = a[p]! - b[p]!; s += t * t; }
      out[i * n + q] = s;
      out[q * n + i] = s;
    }
  }
  return out;
}
