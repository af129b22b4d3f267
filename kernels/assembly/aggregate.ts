// Integer aggregation kernels for federated learning (DESIGN.md, numerics contract points 4 and 5).
// runtime/reference/aggregate.ts defines the bits; the scalar build (--disable simd, the one wasm2c turns
// into C) and the SIMD build must return exactly the same bytes.
//
// ABI: the host owns linear memory and passes byte offsets. x holds n vectors of length d, row-major
// (x[i * d + j], i32). Each kernel works on a column range [j0, j1) (pairwise distances: a coordinate range
// [k0, k1)) so a thread pool can split the work, and writes only that range of its output. No kernel
// allocates or keeps state in globals: several instances may run at once on one shared memory. Data a
// kernel needs beyond its inputs (comparator networks) is built from n inside the kernel, in host-provided
// scratch whose size the matching agg_*_scratch_bytes function returns. Alignment is never assumed.

// ---------------------------------------------------------------------------------------------------------
// Small helpers

/** Byte address of x[i][j]. usize arithmetic: n * d may exceed 2^31 bytes but not 2^32. */
// @ts-ignore: decorator
@inline function at(x: usize, i: i32, d: i32, j: i32): usize {
  return x + ((<usize>i * <usize>d + <usize>j) << 2);
}

/** floor(s / m) for m > 0 (i64 `/` truncates toward zero). */
// @ts-ignore: decorator
@inline function floorDiv(s: i64, m: i64): i64 {
  const q = s / m;
  return s - q * m < 0 ? q - 1 : q;
}

/** floor((a + b) / 2) without overflow. */
// @ts-ignore: decorator
@inline function mid2(a: i32, b: i32): i32 {
  return (a >> 1) + (b >> 1) + (a & b & 1);
}

// ---------------------------------------------------------------------------------------------------------
// Wrapping i32 sum: out[j] = sum_i x[i][j] mod 2^32.
//
// Columns are done in blocks whose accumulator (out[jb..je), 64 KiB) stays in L2 while the rows stream
// past, four rows per pass: per 16 bytes of output, one accumulator load and store for four input loads, and
// four concurrent sequential streams of 64 KiB, long enough for the prefetcher to ramp up. Measured at
// n = 100, d = 1e6: 2K-column blocks (L1) were about 15% slower, 8 rows per pass no faster, and register
// accumulators over all rows at once (100 rows 4 MB apart, a cache line at a time) half the speed.

const SUM_BLOCK: i32 = 16384; // columns

// @ts-ignore: decorator
@inline function sumPass4(o: usize, a: usize, b: usize, c: usize, e: usize, len: i32, init: bool): void {
  const end = <usize>len << 2;
  let k: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const end16 = <usize>(len & ~15) << 2;
    for (; k < end16; k += 64) {
      let s0 = i32x4.add(i32x4.add(v128.load(a + k), v128.load(b + k)), i32x4.add(v128.load(c + k), v128.load(e + k)));
      let s1 = i32x4.add(i32x4.add(v128.load(a + k, 16), v128.load(b + k, 16)), i32x4.add(v128.load(c + k, 16), v128.load(e + k, 16)));
      let s2 = i32x4.add(i32x4.add(v128.load(a + k, 32), v128.load(b + k, 32)), i32x4.add(v128.load(c + k, 32), v128.load(e + k, 32)));
      let s3 = i32x4.add(i32x4.add(v128.load(a + k, 48), v128.load(b + k, 48)), i32x4.add(v128.load(c + k, 48), v128.load(e + k, 48)));
      if (!init) {
        s0 = i32x4.add(s0, v128.load(o + k));
        s1 = i32x4.add(s1, v128.load(o + k, 16));
        s2 = i32x4.add(s2, v128.load(o + k, 32));
        s3 = i32x4.add(s3, v128.load(o + k, 48));
      }
      v128.store(o + k, s0);
      v128.store(o + k, s1, 16);
      v128.store(o + k, s2, 32);
      v128.store(o + k, s3, 48);
    }
    const end4 = <usize>(len & ~3) << 2;
    for (; k < end4; k += 16) {
      let s = i32x4.add(i32x4.add(v128.load(a + k), v128.load(b + k)), i32x4.add(v128.load(c + k), v128.load(e + k)));
      if (!init) s = i32x4.add(s, v128.load(o + k));
      v128.store(o + k, s);
    }
  }
  for (; k < end; k += 4) {
    let s = load<i32>(a + k) + load<i32>(b + k) + load<i32>(c + k) + load<i32>(e + k);
    if (!init) s += load<i32>(o + k);
    store<i32>(o + k, s);
  }
}

// @ts-ignore: decorator
@inline function sumPass1(o: usize, a: usize, len: i32, init: bool): void {
  const end = <usize>len << 2;
  let k: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const end4 = <usize>(len & ~3) << 2;
    for (; k < end4; k += 16) {
      let s = v128.load(a + k);
      if (!init) s = i32x4.add(s, v128.load(o + k));
      v128.store(o + k, s);
    }
  }
  for (; k < end; k += 4) {
    let s = load<i32>(a + k);
    if (!init) s += load<i32>(o + k);
    store<i32>(o + k, s);
  }
}

/** out_i32[j] = sum over i of x[i][j] mod 2^32 for j in [j0, j1) (n <= 0: zeros). */
export function agg_sum_i32(x: usize, out: usize, n: i32, d: i32, j0: i32, j1: i32): void {
  for (let jb = j0; jb < j1; jb += SUM_BLOCK) {
    const len = min(SUM_BLOCK, j1 - jb);
    const o = out + (<usize>jb << 2);
    if (n <= 0) {
      memory.fill(o, 0, <usize>len << 2);
      continue;
    }
    let i = 0;
    if (n >= 4) {
      sumPass4(o, at(x, 0, d, jb), at(x, 1, d, jb), at(x, 2, d, jb), at(x, 3, d, jb), len, true);
      i = 4;
    } else {
      sumPass1(o, at(x, 0, d, jb), len, true);
      i = 1;
    }
    for (; i + 4 <= n; i += 4) {
      sumPass4(o, at(x, i, d, jb), at(x, i + 1, d, jb), at(x, i + 2, d, jb), at(x, i + 3, d, jb), len, false);
    }
    for (; i < n; i++) sumPass1(o, at(x, i, d, jb), len, false);
  }
}

// ---------------------------------------------------------------------------------------------------------
// i64 sum: out_i64[j] = sum_i x_i64[i][j] mod 2^64 (an aggregator adding its children's partial sums).
// Columns in blocks of 8192 (64 KiB of accumulator), rows two at a time.

const SUM64_BLOCK: i32 = 8192;

// @ts-ignore: decorator
@inline function at64(x: usize, i: i32, d: i32, j: i32): usize {
  return x + ((<usize>i * <usize>d + <usize>j) << 3);
}

// @ts-ignore: decorator
@inline function sum64Pass(o: usize, a: usize, b: usize, len: i32, init: bool, two: bool): void {
  const end = <usize>len << 3;
  let k: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const end2 = <usize>(len & ~1) << 3;
    for (; k < end2; k += 16) {
      let s = v128.load(a + k);
      if (two) s = i64x2.add(s, v128.load(b + k));
      if (!init) s = i64x2.add(s, v128.load(o + k));
      v128.store(o + k, s);
    }
  }
  for (; k < end; k += 8) {
    let s = load<i64>(a + k);
    if (two) s += load<i64>(b + k);
    if (!init) s += load<i64>(o + k);
    store<i64>(o + k, s);
  }
}

/** out_i64[j] = sum over i of x_i64[i][j] mod 2^64 for j in [j0, j1) (n <= 0: zeros). */
export function agg_sum_i64(x: usize, out: usize, n: i32, d: i32, j0: i32, j1: i32): void {
  for (let jb = j0; jb < j1; jb += SUM64_BLOCK) {
    const len = min(SUM64_BLOCK, j1 - jb);
    const o = out + (<usize>jb << 3);
    if (n <= 0) {
      memory.fill(o, 0, <usize>len << 3);
      continue;
    }
    let i = 0;
    for (; i + 2 <= n; i += 2) sum64Pass(o, at64(x, i, d, jb), at64(x, i + 1, d, jb), len, i == 0, true);
    if (i < n) sum64Pass(o, at64(x, i, d, jb), 0, len, i == 0, false);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Weighted sum: out_i64[j] = sum_i (i64)w[i] * (i64)x[i][j] mod 2^64. Same blocking as the sum; SIMD uses
// i64x2.extmul_{low,high}_i32x4_s against the splatted weight, which is the exact 64-bit product.

const WSUM_BLOCK: i32 = 8192; // columns: 64 KiB of i64 accumulator

// @ts-ignore: decorator
@inline function wsumPass4(o: usize, a: usize, b: usize, c: usize, e: usize, wp: usize, len: i32, init: bool): void {
  const end = <usize>len << 2;
  let k: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const wa = v128.load32_splat(wp), wb = v128.load32_splat(wp, 4);
    const wc = v128.load32_splat(wp, 8), we = v128.load32_splat(wp, 12);
    const end4 = <usize>(len & ~3) << 2;
    for (; k < end4; k += 16) {
      const va = v128.load(a + k), vb = v128.load(b + k), vc = v128.load(c + k), ve = v128.load(e + k);
      let lo = i64x2.add(
        i64x2.add(i64x2.extmul_low_i32x4_s(va, wa), i64x2.extmul_low_i32x4_s(vb, wb)),
        i64x2.add(i64x2.extmul_low_i32x4_s(vc, wc), i64x2.extmul_low_i32x4_s(ve, we)));
      let hi = i64x2.add(
        i64x2.add(i64x2.extmul_high_i32x4_s(va, wa), i64x2.extmul_high_i32x4_s(vb, wb)),
        i64x2.add(i64x2.extmul_high_i32x4_s(vc, wc), i64x2.extmul_high_i32x4_s(ve, we)));
      const ok = o + (k << 1);
      if (!init) {
        lo = i64x2.add(lo, v128.load(ok));
        hi = i64x2.add(hi, v128.load(ok, 16));
      }
      v128.store(ok, lo);
      v128.store(ok, hi, 16);
    }
  }
  const w0 = <i64>load<i32>(wp), w1 = <i64>load<i32>(wp, 4), w2 = <i64>load<i32>(wp, 8), w3 = <i64>load<i32>(wp, 12);
  for (; k < end; k += 4) {
    let s = w0 * <i64>load<i32>(a + k) + w1 * <i64>load<i32>(b + k) + w2 * <i64>load<i32>(c + k) + w3 * <i64>load<i32>(e + k);
    const ok = o + (k << 1);
    if (!init) s += load<i64>(ok);
    store<i64>(ok, s);
  }
}

// @ts-ignore: decorator
@inline function wsumPass1(o: usize, a: usize, wp: usize, len: i32, init: bool): void {
  const end = <usize>len << 2;
  let k: usize = 0;
  if (ASC_FEATURE_SIMD) {
    const wa = v128.load32_splat(wp);
    const end4 = <usize>(len & ~3) << 2;
    for (; k < end4; k += 16) {
      const va = v128.load(a + k);
      let lo = i64x2.extmul_low_i32x4_s(va, wa), hi = i64x2.extmul_high_i32x4_s(va, wa);
      const ok = o + (k << 1);
      if (!init) {
        lo = i64x2.add(lo, v128.load(ok));
        hi = i64x2.add(hi, v128.load(ok, 16));
      }
      v128.store(ok, lo);
      v128.store(ok, hi, 16);
    }
  }
  const w0 = <i64>load<i32>(wp);
  for (; k < end; k += 4) {
    let s = w0 * <i64>load<i32>(a + k);
    const ok = o + (k << 1);
    if (!init) s += load<i64>(ok);
    store<i64>(ok, s);
  }
}

/** out_i64[j] = sum over i of (i64)w[i] * (i64)x[i][j] mod 2^64 for j in [j0, j1); w is i32[n]. */
export function agg_wsum_i64(x: usize, w: usize, out: usize, n: i32, d: i32, j0: i32, j1: i32): void {
  for (let jb = j0; jb < j1; jb += WSUM_BLOCK) {
    const len = min(WSUM_BLOCK, j1 - jb);
    const o = out + (<usize>jb << 3);
    if (n <= 0) {
      memory.fill(o, 0, <usize>len << 3);
      continue;
    }
    let i = 0;
    if (n >= 4) {
      wsumPass4(o, at(x, 0, d, jb), at(x, 1, d, jb), at(x, 2, d, jb), at(x, 3, d, jb), w, len, true);
      i = 4;
    } else {
      wsumPass1(o, at(x, 0, d, jb), w, len, true);
      i = 1;
    }
    for (; i + 4 <= n; i += 4) {
      wsumPass4(o, at(x, i, d, jb), at(x, i + 1, d, jb), at(x, i + 2, d, jb), at(x, i + 3, d, jb),
        w + (<usize>i << 2), len, false);
    }
    for (; i < n; i++) wsumPass1(o, at(x, i, d, jb), w + (<usize>i << 2), len, false);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Median and trimmed mean: a comparator network over the n values of a column, run on many columns at once.
//
// Each "wire" holds one participant's values for a run of consecutive columns: a plain copy of x[i][j..],
// so no transpose is needed, row i is wire i. A comparator (a, b) puts the lane-wise min in a and the max
// in b: i32x4.min_s / max_s on COLS = 4 * G columns at a time in the SIMD build (G = 2 vectors per
// comparator read from the list: G = 1 was 1.5x slower, G = 4 no faster), a select per column on COLS = 4
// columns in the scalar build.
//
// Columns are staged a super-block at a time (SB columns of every row copied into the wire area, one
// sequential run per row): copying COLS columns per row per block instead reads 100 rows 4 MB apart a few
// bytes at a time, which cost a third of the run time. The network then runs once per block of COLS
// columns inside the super-block, at a byte offset from the wire addresses of the list.
//
// The network is built from n, inside the kernel, on every call (40 us at n = 100, 0.7 ms at n = 1000):
//  1. Parberry's pairwise sorting network on N = 2^ceil(log2 n) wires (fewer comparators survive pruning
//     than for Batcher's odd-even merge or bitonic sorts: 776 vs 898 and 1079 for the median of 100).
//  2. The N - n padding wires hold -inf (the first `lo`) and +inf sentinels. Forward pass: a comparator that
//     touches a sentinel never needs to run; it either leaves both wires alone or swaps them, and a swap is
//     done by renaming wires, not moving data. Only real-vs-real comparators are emitted, on physical wires.
//  3. Backward pass from the outputs that are needed, dropping every comparator that cannot change them:
//     median: those whose outputs are both unused; trimmed mean: also those whose two outputs end up in the
//     same class (bottom `trim`, middle, top `trim`), since the middle sum does not depend on the order
//     inside a class.
//  4. Pairs of phase-1 layers run as 4-wire butterflies ("quads") with the values in registers: the
//     interpreter is bound by vector stores (2 per comparator and 4 columns), a quad halves them.
//  The sentinel split `lo` is picked from {0, (N-n)/2, N-n} by the cheapest surviving network.
// At n = 100: median 65 quads + 516 comparators (776 in all), trimmed mean (trim 10) 65 + 576 (836). The
// quads made both about 13% faster; fusing three layers (8 wires) would save another ~5% of the stores.

const G: i32 = 2;                 // SIMD: v128 groups of 4 columns per block
const MAX_SEG: i32 = 32;          // program segments: at most log2(N) / 2 + 1
const SEG_TABLE: usize = 64;      // header: [0] segments, [4] [8] output wires, [12] mids end; then the table
const HDR: usize = SEG_TABLE + 12 * <usize>MAX_SEG;
const ALIGN: usize = 64;
const STAGE_BYTES: i32 = 131072;  // target size of one staged super-block (L2)

// @ts-ignore: decorator
@inline function blockCols(): i32 {
  return ASC_FEATURE_SIMD ? 4 * G : 4;
}

/** Super-block width: a multiple of 32 columns, so the wire stride below is an odd number of cache lines. */
function superCols(n: i32): i32 {
  return min(512, max(32, (STAGE_BYTES / (n << 2)) & ~31));
}

/** Bytes between wires: one line of padding spreads the rows over all cache sets. */
function wireStride(n: i32): usize {
  return (<usize>superCols(n) << 2) + 64;
}

function ceilPow2(n: i32): i32 {
  let N = 1;
  while (N < n) N <<= 1;
  return N;
}

/** Comparators in the pairwise (or Batcher) network on N = 2^p wires: (p^2 - p + 4) 2^(p-2) - 1. */
function fullNetworkSize(N: i32): i32 {
  if (N < 2) return 0;
  const p = 31 - clz(N);
  return (((p * p - p + 4) << p) >> 2) - 1;
}

// Scratch layout (byte offsets from the scratch base):
//   [0, HDR)                      header and segment table
//   [HDR, HDR + 8 * full)         the program (full = comparators in the unpruned network; a quad takes
//                                 16 bytes for 4 comparators, a single comparator 8)
//   then n * 4 bytes              middle-wire addresses (trimmed mean)
//   then ALIGN slack, the wires   n * wireStride (at least 12 * N: the generation temporaries live there)
//   then blockCols * 4 bytes      result staging for a partial last block
//
// The program is a list of segments, each a run of quads then a run of single comparators, all as
// absolute wire addresses (of the first column block; blocks add a byte offset).

function listBytes(n: i32): usize {
  return <usize>fullNetworkSize(ceilPow2(n)) << 3;
}

function wiresOffset(n: i32): usize {
  return HDR + listBytes(n) + (<usize>n << 2);
}

function networkScratchBytes(n: i32): usize {
  if (n < 1) return 0;
  return wiresOffset(n) + ALIGN + <usize>n * wireStride(n) + (<usize>blockCols() << 2);
}

// @ts-ignore: decorator
@inline function wireBase(s: usize, n: i32): usize {
  return (s + wiresOffset(n) + ALIGN - 1) & ~(ALIGN - 1);
}

const KIND_NEG: i32 = -1, KIND_REAL: i32 = 0, KIND_POS: i32 = 1;
const DEAD: i32 = -1, LIVE: i32 = 0; // labels; > 0 is a class of the trimmed mean

// @ts-ignore: decorator
@inline function ld(arr: usize, i: i32): i32 {
  return load<i32>(arr + (<usize>i << 2));
}

// @ts-ignore: decorator
@inline function st(arr: usize, i: i32, v: i32): void {
  store<i32>(arr + (<usize>i << 2), v);
}

/**
 * Forward step for comparator (a, b) on logical wires: drops it if a sentinel makes it a no-op, renames
 * if it would swap a sentinel, else appends it (physical wires) at o. Returns the new end of the program.
 */
// @ts-ignore: decorator
@inline function forward(kind: usize, phys: usize, a: i32, b: i32, o: usize): usize {
  const ka = ld(kind, a), kb = ld(kind, b);
  if (ka == KIND_NEG || kb == KIND_POS) return o;        // already in order
  if (ka == KIND_POS || kb == KIND_NEG) {                // a swap: rename the wires
    st(kind, a, kb);
    st(kind, b, ka);
    const pa = ld(phys, a);
    st(phys, a, ld(phys, b));
    st(phys, b, pa);
    return o;
  }
  store<i32>(o, ld(phys, a));
  store<i32>(o, ld(phys, b), 4);
  return o + 8;
}

/**
 * Builds the pruned network for n values with sentinel split lo (mode 0: median, 1: trimmed mean) and
 * returns its cost (vector loads and stores per block / 4). With emit it also converts the program to
 * addresses and writes the header and (trimmed mean) the middle-wire addresses.
 *
 * Parberry's network on N wires: phase 1 is the layers a = 1, 2, 4, ..., N/2, each comparing w with w + a
 * for (w & a) == 0; phase 2 merges. Phase-1 layers a and 2a are fused: on each group {w, w+a, w+2a, w+3a}
 * ((w & 3a) == 0) they form a butterfly (w, w+a) (w+2a, w+3a), then (w, w+2a) (w+a, w+3a), run as one
 * "quad" with the 4 wires in registers (half the loads and stores of 4 single comparators) whenever all 4
 * wires hold real values. Groups are disjoint, so quads may run before the segment's other comparators.
 */
function buildNetwork(s: usize, n: i32, mode: i32, trim: i32, lo: i32, emit: bool): i32 {
  const N = ceilPow2(n);
  const prog = s + HDR, table = s + SEG_TABLE;
  const wires = wireBase(s, n);
  const kind = wires, phys = wires + (<usize>N << 2), label = wires + (<usize>N << 3);

  // Forward: logical wire w holds kind[w]; real ones live on physical wire phys[w].
  let pi = 0;
  for (let w = 0; w < N; w++) {
    const k = w < lo ? KIND_NEG : (w < lo + n ? KIND_REAL : KIND_POS);
    st(kind, w, k);
    st(phys, w, k == KIND_REAL ? pi++ : -1);
  }
  let o = prog, nseg = 0;
  let a = 1;
  for (; 2 * a < N; a <<= 2) {
    const m = 3 * a;
    store<u32>(table + 12 * <usize>nseg, <u32>o);
    for (let w = 0; w < N; w++) {
      if ((w & m) != 0) continue;
      if ((ld(kind, w) | ld(kind, w + a) | ld(kind, w + 2 * a) | ld(kind, w + 3 * a)) != KIND_REAL) continue;
      store<i32>(o, ld(phys, w));
      store<i32>(o, ld(phys, w + a), 4);
      store<i32>(o, ld(phys, w + 2 * a), 8);
      store<i32>(o, ld(phys, w + 3 * a), 12);
      o += 16;
    }
    store<u32>(table + 12 * <usize>nseg, <u32>o, 4);
    for (let w = 0; w < N; w++) {
      if ((w & m) != 0) continue;
      if ((ld(kind, w) | ld(kind, w + a) | ld(kind, w + 2 * a) | ld(kind, w + 3 * a)) == KIND_REAL) continue;
      o = forward(kind, phys, w, w + a, o);
      o = forward(kind, phys, w + 2 * a, w + 3 * a, o);
      o = forward(kind, phys, w, w + 2 * a, o);
      o = forward(kind, phys, w + a, w + 3 * a, o);
    }
    store<u32>(table + 12 * <usize>nseg, <u32>o, 8);
    nseg++;
  }
  // Last segment: singles only (an unpaired last phase-1 layer, then phase 2).
  store<u32>(table + 12 * <usize>nseg, <u32>o);
  store<u32>(table + 12 * <usize>nseg, <u32>o, 4);
  if (a < N) {
    for (let w = 0; w < N; w++) if ((w & a) == 0) o = forward(kind, phys, w, w + a, o);
  }
  let e = 1;
  for (a = N >> 2; a > 0; a >>= 1, e = 2 * e + 1) {
    for (let dd = e; dd > 0; dd >>= 1) {
      let b = (dd + 1) * a, c = 0;
      while (b < N) {
        o = forward(kind, phys, b - dd * a, b, o);
        b++;
        if (++c >= a) { b += a; c = 0; }
      }
    }
  }
  store<u32>(table + 12 * <usize>nseg, <u32>o, 8);
  nseg++;
  // Now logical wire lo + r holds the value of rank r (the sentinels sort to the ends).

  // Backward: label the physical wires by what the output needs from them.
  for (let w = 0; w < n; w++) st(label, w, DEAD);
  let out0 = 0, out1 = 0;
  if (mode == 0) {
    out0 = ld(phys, lo + ((n - 1) >> 1));
    out1 = ld(phys, lo + (n >> 1));
    st(label, out0, LIVE);
    st(label, out1, LIVE);
  } else {
    for (let r = 0; r < n; r++) st(label, ld(phys, lo + r), r < trim ? 1 : (r >= n - trim ? 2 : 3));
  }
  let cost = 0;
  for (let g = nseg - 1; g >= 0; g--) {
    const t = table + 12 * <usize>g;
    const qs = <usize>load<u32>(t), ss = <usize>load<u32>(t, 4), se = <usize>load<u32>(t, 8);
    for (let q = se; q > ss; ) {
      q -= 8;
      const x0 = load<i32>(q), x1 = load<i32>(q, 4);
      const la = ld(label, x0), lb = ld(label, x1);
      if ((la == DEAD && lb == DEAD) || (la > 0 && la == lb)) {
        store<i32>(q, -1); // dropped
        continue;
      }
      st(label, x0, LIVE);
      st(label, x1, LIVE);
      cost++;
    }
    // Quads are always run (running an unneeded comparator is harmless).
    for (let q = qs; q < ss; q += 16) {
      st(label, load<i32>(q), LIVE);
      st(label, load<i32>(q, 4), LIVE);
      st(label, load<i32>(q, 8), LIVE);
      st(label, load<i32>(q, 12), LIVE);
      cost += 2;
    }
  }
  if (!emit) return cost;

  // Middle wires of the trimmed mean (read from phys before wire data overwrites it).
  const ws = wireStride(n);
  const mids = prog + listBytes(n);
  let me = mids;
  if (mode == 1) {
    for (let r = trim; r < n - trim; r++) {
      store<u32>(me, <u32>(wires + <usize>ld(phys, lo + r) * ws));
      me += 4;
    }
  }
  // Compact the program in order, as absolute addresses.
  o = prog;
  for (let g = 0; g < nseg; g++) {
    const t = table + 12 * <usize>g;
    const qs = <usize>load<u32>(t), ss = <usize>load<u32>(t, 4), se = <usize>load<u32>(t, 8);
    store<u32>(t, <u32>o);
    for (let q = qs; q < ss; q += 16, o += 16) {
      const w0 = load<i32>(q), w1 = load<i32>(q, 4), w2 = load<i32>(q, 8), w3 = load<i32>(q, 12);
      store<u32>(o, <u32>(wires + <usize>w0 * ws));
      store<u32>(o, <u32>(wires + <usize>w1 * ws), 4);
      store<u32>(o, <u32>(wires + <usize>w2 * ws), 8);
      store<u32>(o, <u32>(wires + <usize>w3 * ws), 12);
    }
    store<u32>(t, <u32>o, 4);
    for (let q = ss; q < se; q += 8) {
      const x0 = load<i32>(q);
      if (x0 < 0) continue;
      const x1 = load<i32>(q, 4);
      store<u32>(o, <u32>(wires + <usize>x0 * ws));
      store<u32>(o, <u32>(wires + <usize>x1 * ws), 4);
      o += 8;
    }
    store<u32>(t, <u32>o, 8);
  }
  store<u32>(s, <u32>nseg);
  store<u32>(s, <u32>(wires + <usize>out0 * ws), 4);
  store<u32>(s, <u32>(wires + <usize>out1 * ws), 8);
  store<u32>(s, <u32>me, 12);
  return cost;
}

/** Builds the cheapest of the pruned networks for the sentinel splits {0, (N-n)/2, N-n}. */
function prepareNetwork(s: usize, n: i32, mode: i32, trim: i32): void {
  const pad = ceilPow2(n) - n;
  let bestLo = 0;
  if (pad > 0) {
    let best = buildNetwork(s, n, mode, trim, 0, false);
    const c1 = buildNetwork(s, n, mode, trim, pad >> 1, false);
    if (c1 < best) { best = c1; bestLo = pad >> 1; }
    const c2 = buildNetwork(s, n, mode, trim, pad, false);
    if (c2 < best) { best = c2; bestLo = pad; }
  }
  buildNetwork(s, n, mode, trim, bestLo, true);
}

/** Stages x[i][j..j+cols) into wire i for every row. */
function stageWires(x: usize, n: i32, d: i32, j: i32, cols: i32, wires: usize, stride: usize): void {
  const bytes = <usize>cols << 2;
  const src0 = at(x, 0, d, j);
  const rowBytes = <usize>d << 2;
  for (let i = 0; i < n; i++) {
    const src = src0 + <usize>i * rowBytes, dst = wires + <usize>i * stride;
    let k: usize = 0;
    if (ASC_FEATURE_SIMD) {
      for (; k + 64 <= bytes; k += 64) {
        const v0 = v128.load(src + k), v1 = v128.load(src + k, 16), v2 = v128.load(src + k, 32), v3 = v128.load(src + k, 48);
        v128.store(dst + k, v0);
        v128.store(dst + k, v1, 16);
        v128.store(dst + k, v2, 32);
        v128.store(dst + k, v3, 48);
      }
    } else {
      for (; k + 8 <= bytes; k += 8) store<u64>(dst + k, load<u64>(src + k));
    }
    for (; k < bytes; k += 4) store<u32>(dst + k, load<u32>(src + k));
  }
}

/** Runs the comparator list [p, end) on the block of columns at byte offset off in every wire. */
// @ts-ignore: decorator
@inline function runComparators(p: usize, end: usize, off: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (; p < end; p += 8) {
      const a = <usize>load<u32>(p) + off, b = <usize>load<u32>(p, 4) + off;
      const a0 = v128.load(a), b0 = v128.load(b), a1 = v128.load(a, 16), b1 = v128.load(b, 16);
      v128.store(a, i32x4.min_s(a0, b0));
      v128.store(b, i32x4.max_s(a0, b0));
      v128.store(a, i32x4.min_s(a1, b1), 16);
      v128.store(b, i32x4.max_s(a1, b1), 16);
    }
  } else {
    for (; p < end; p += 8) {
      const a = <usize>load<u32>(p) + off, b = <usize>load<u32>(p, 4) + off;
      const a0 = load<i32>(a), b0 = load<i32>(b), a1 = load<i32>(a, 4), b1 = load<i32>(b, 4);
      const a2 = load<i32>(a, 8), b2 = load<i32>(b, 8), a3 = load<i32>(a, 12), b3 = load<i32>(b, 12);
      store<i32>(a, select(a0, b0, a0 < b0));
      store<i32>(b, select(b0, a0, a0 < b0));
      store<i32>(a, select(a1, b1, a1 < b1), 4);
      store<i32>(b, select(b1, a1, a1 < b1), 4);
      store<i32>(a, select(a2, b2, a2 < b2), 8);
      store<i32>(b, select(b2, a2, a2 < b2), 8);
      store<i32>(a, select(a3, b3, a3 < b3), 12);
      store<i32>(b, select(b3, a3, a3 < b3), 12);
    }
  }
}

/** Runs the quads [p, end): butterfly (w0,w1) (w2,w3) then (w0,w2) (w1,w3), values kept in registers. */
// @ts-ignore: decorator
@inline function runQuads(p: usize, end: usize, off: usize): void {
  for (; p < end; p += 16) {
    const w0 = <usize>load<u32>(p) + off, w1 = <usize>load<u32>(p, 4) + off;
    const w2 = <usize>load<u32>(p, 8) + off, w3 = <usize>load<u32>(p, 12) + off;
    if (ASC_FEATURE_SIMD) {
      for (let g: usize = 0; g < <usize>G << 4; g += 16) {
        const v0 = v128.load(w0 + g), v1 = v128.load(w1 + g), v2 = v128.load(w2 + g), v3 = v128.load(w3 + g);
        const l01 = i32x4.min_s(v0, v1), h01 = i32x4.max_s(v0, v1);
        const l23 = i32x4.min_s(v2, v3), h23 = i32x4.max_s(v2, v3);
        v128.store(w0 + g, i32x4.min_s(l01, l23));
        v128.store(w2 + g, i32x4.max_s(l01, l23));
        v128.store(w1 + g, i32x4.min_s(h01, h23));
        v128.store(w3 + g, i32x4.max_s(h01, h23));
      }
    } else {
      for (let k: usize = 0; k < 16; k += 4) {
        const v0 = load<i32>(w0 + k), v1 = load<i32>(w1 + k), v2 = load<i32>(w2 + k), v3 = load<i32>(w3 + k);
        const l01 = select(v0, v1, v0 < v1), h01 = select(v1, v0, v0 < v1);
        const l23 = select(v2, v3, v2 < v3), h23 = select(v3, v2, v2 < v3);
        store<i32>(w0 + k, select(l01, l23, l01 < l23));
        store<i32>(w2 + k, select(l23, l01, l01 < l23));
        store<i32>(w1 + k, select(h01, h23, h01 < h23));
        store<i32>(w3 + k, select(h23, h01, h01 < h23));
      }
    }
  }
}

/** Median of one block (blockCols columns at byte offset off) from output wires wa <= wb, to dst. */
// @ts-ignore: decorator
@inline function medianBlock(wa: usize, wb: usize, off: usize, dst: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (let g: usize = 0; g < <usize>G << 4; g += 16) {
      const va = v128.load(wa + off + g), vb = v128.load(wb + off + g);
      // floor((a + b) / 2) = (a >> 1) + (b >> 1) + (a & b & 1); for odd n, wa == wb and this is a.
      const r = i32x4.add(i32x4.add(i32x4.shr_s(va, 1), i32x4.shr_s(vb, 1)),
        v128.and(v128.and(va, vb), i32x4.splat(1)));
      v128.store(dst + g, r);
    }
  } else {
    for (let k: usize = 0; k < 16; k += 4) store<i32>(dst + k, mid2(load<i32>(wa + off + k), load<i32>(wb + off + k)));
  }
}

/** Trimmed mean of one block: floor(sum of the middle wires [mids, midsEnd) / m), to dst. */
// @ts-ignore: decorator
@inline function trimmedBlock(mids: usize, midsEnd: usize, m: i64, off: usize, dst: usize): void {
  if (ASC_FEATURE_SIMD) {
    for (let g: usize = 0; g < <usize>G << 4; g += 16) {
      let s0 = i64x2.splat(0), s1 = i64x2.splat(0);
      for (let p = mids; p < midsEnd; p += 4) {
        const v = v128.load(<usize>load<u32>(p) + off + g);
        s0 = i64x2.add(s0, i64x2.extend_low_i32x4_s(v));
        s1 = i64x2.add(s1, i64x2.extend_high_i32x4_s(v));
      }
      store<i32>(dst + g, <i32>floorDiv(i64x2.extract_lane(s0, 0), m));
      store<i32>(dst + g, <i32>floorDiv(i64x2.extract_lane(s0, 1), m), 4);
      store<i32>(dst + g, <i32>floorDiv(i64x2.extract_lane(s1, 0), m), 8);
      store<i32>(dst + g, <i32>floorDiv(i64x2.extract_lane(s1, 1), m), 12);
    }
  } else {
    let s0: i64 = 0, s1: i64 = 0, s2: i64 = 0, s3: i64 = 0;
    for (let p = mids; p < midsEnd; p += 4) {
      const w = <usize>load<u32>(p) + off;
      s0 += <i64>load<i32>(w);
      s1 += <i64>load<i32>(w, 4);
      s2 += <i64>load<i32>(w, 8);
      s3 += <i64>load<i32>(w, 12);
    }
    store<i32>(dst, <i32>floorDiv(s0, m));
    store<i32>(dst, <i32>floorDiv(s1, m), 4);
    store<i32>(dst, <i32>floorDiv(s2, m), 8);
    store<i32>(dst, <i32>floorDiv(s3, m), 12);
  }
}

/** Shared driver: mode 0 median, 1 trimmed mean. */
// @ts-ignore: decorator
@inline function networkKernel(x: usize, out: usize, n: i32, d: i32, trim: i32, j0: i32, j1: i32, s: usize, mode: i32): void {
  prepareNetwork(s, n, mode, trim);
  const nseg = <usize>load<u32>(s), table = s + SEG_TABLE, tableEnd = table + 12 * nseg;
  const wa = <usize>load<u32>(s, 4), wb = <usize>load<u32>(s, 8);
  const mids = s + HDR + listBytes(n), midsEnd = <usize>load<u32>(s, 12);
  const m = <i64>(n - 2 * trim);
  const wires = wireBase(s, n), stride = wireStride(n);
  const stage = wires + <usize>n * stride;
  const sb = superCols(n), bc = blockCols();
  for (let js = j0; js < j1; js += sb) {
    const sc = min(sb, j1 - js);
    stageWires(x, n, d, js, sc, wires, stride);
    for (let jb = 0; jb < sc; jb += bc) {
      const off = <usize>jb << 2;
      for (let t = table; t < tableEnd; t += 12) {
        runQuads(<usize>load<u32>(t), <usize>load<u32>(t, 4), off);
        runComparators(<usize>load<u32>(t, 4), <usize>load<u32>(t, 8), off);
      }
      const full = jb + bc <= sc;
      const dst = full ? out + (<usize>(js + jb) << 2) : stage;
      if (mode == 0) medianBlock(wa, wb, off, dst);
      else trimmedBlock(mids, midsEnd, m, off, dst);
      if (!full) memory.copy(out + (<usize>(js + jb) << 2), stage, <usize>(sc - jb) << 2);
    }
  }
}

/** Scratch for agg_median_i32: comparator list, wires of one staged super-block (147 KiB at n = 100). */
export function agg_median_scratch_bytes(n: i32): usize {
  return networkScratchBytes(n);
}

/**
 * Median of the n values of each column j in [j0, j1) (n >= 1, else nothing is written): odd n the middle
 * value, even n floor((a + b) / 2) of the middle two a <= b.
 */
export function agg_median_i32(x: usize, out: usize, n: i32, d: i32, j0: i32, j1: i32, scratch: usize): void {
  if (n < 1 || j1 <= j0) return;
  networkKernel(x, out, n, d, 0, j0, j1, scratch, 0);
}

/** Scratch for agg_trimmed_mean_i32 (the same layout as the median's; trim does not change it). */
export function agg_trimmed_scratch_bytes(n: i32, trim: i32): usize {
  return networkScratchBytes(n);
}

/**
 * Trimmed mean of each column j in [j0, j1): drop the trim smallest and trim largest of the n values
 * (0 <= 2 * trim < n, else nothing is written), out = floor(S / (n - 2 * trim)) rounding toward -inf,
 * with S the exact i64 sum of the rest.
 */
export function agg_trimmed_mean_i32(x: usize, out: usize, n: i32, d: i32, trim: i32, j0: i32, j1: i32, scratch: usize): void {
  if (n < 1 || trim < 0 || 2 * trim >= n || j1 <= j0) return;
  networkKernel(x, out, n, d, trim, j0, j1, scratch, 1);
}

// ---------------------------------------------------------------------------------------------------------
// Pairwise squared distances over coordinates [k0, k1): out_i64[i * n + q] = sum_p (x[i][p] - x[q][p])^2
// mod 2^64, the full n x n matrix (symmetric, zero diagonal), overwritten.
//
// D[i][q] = A[i][i] + A[q][q] - 2 A[i][q] holds for the Gram matrix A = X X^T, and also for Winograd's
// A[i][q] = sum_k (x_i[2k] + x_q[2k+1]) (x_i[2k+1] + x_q[2k]): that one is the Gram entry plus
// xi_i + xi_q (xi_i = sum_k x_i[2k] x_i[2k+1]), and the xi terms cancel in D. Both identities hold exactly
// mod 2^64, so partial matrices over split ranges add up (wrapping) to the full one. Winograd needs one
// multiplication per two coordinates instead of two; in the SIMD build that halves the
// i64x2.extmul_{low,high}_i32x4_s count (V8 spends two shuffles on each, the bottleneck), but the sums must
// fit in i32, so a chunk with any |value| >= 2^30 uses the plain Gram form instead. The scalar build sums
// in i64 and always uses Winograd. A is accumulated in out (upper triangle and diagonal) chunk by chunk.
//
// SIMD: each chunk of coordinates is packed into scratch, every 8 coordinates as [even 4 | odd 4], rows
// zero-padded to a multiple of 8 (a zero pair adds 0 to both forms, and a lone last coordinate v pairs
// with 0 into the plain product v * w), then 2 x 2 tiles of rows reuse every loaded vector twice.
// Measured at n = 100, d = 1e5: the plain Gram form is 2x slower; 3x2, 2x3, 3x3, 4x2 tiles, unrolling and
// larger or smaller chunks no faster; exact f64 products (small inputs only) slower, V8 spills them.
// Also measured, same bits and not faster (the loop runs at about 4.2 instructions per cycle on this Zen 3,
// 3.1 GHz): an f64 Gram path for chunks with |v| <= 2^24 (4 x 2 tiles, pointer-increment loops, exact
// flushes to i64; 3 x 3 tiles spill in V8), 5-15% slower; an i16-limb Karatsuba path (three
// i32x4.dot_i16x8_s per 8 coordinates, 1 x 2 tiles, widened before overflow), 12-17% slower; L1 row
// blocking of the 2 x 2 tiles, no change.

const SQ_CHUNK_BYTES: i32 = 262144; // packed chunk of all rows: about half of L2

/** Coordinates per chunk: a multiple of 8. */
function sqChunk(n: i32): i32 {
  return min(4096, max(8, (SQ_CHUNK_BYTES / (max(n, 1) << 2)) & ~7));
}

// @ts-ignore: decorator
@inline function addOut(out: usize, n: i32, i: i32, q: i32, v: i64): void {
  const p = out + ((<usize>i * <usize>n + <usize>q) << 3);
  store<i64>(p, load<i64>(p) + v);
}

// @ts-ignore: decorator
@inline function hsum(v: v128): i64 {
  return i64x2.extract_lane(v, 0) + i64x2.extract_lane(v, 1);
}

/** sum over lanes of s1 * s2 (i32 lanes, exact i64 products), added to acc. */
// @ts-ignore: decorator
@inline function mac(acc: v128, s1: v128, s2: v128): v128 {
  return i64x2.add(acc, i64x2.add(i64x2.extmul_low_i32x4_s(s1, s2), i64x2.extmul_high_i32x4_s(s1, s2)));
}

/**
 * Packs coordinates [c, c + len) of every row into dst ([even 4 | odd 4] per 8, zero-padded, rows
 * rowBytes apart); returns whether every value lies in [-2^30, 2^30), so Winograd's sums fit in i32.
 */
function packChunk(x: usize, n: i32, d: i32, c: i32, len: i32, dst: usize, rowBytes: usize): bool {
  let lo = i32x4.splat(0), hi = i32x4.splat(0);
  const full = <usize>(len & ~7) << 2, rem = len & 7;
  for (let i = 0; i < n; i++) {
    const src = at(x, i, d, c), row = dst + <usize>i * rowBytes;
    for (let k: usize = 0; k < full; k += 32) {
      const v0 = v128.load(src + k), v1 = v128.load(src + k, 16);
      v128.store(row + k, i32x4.shuffle(v0, v1, 0, 2, 4, 6));
      v128.store(row + k, i32x4.shuffle(v0, v1, 1, 3, 5, 7), 16);
      lo = i32x4.min_s(lo, i32x4.min_s(v0, v1));
      hi = i32x4.max_s(hi, i32x4.max_s(v0, v1));
    }
    if (rem) {
      v128.store(row + full, i32x4.splat(0));
      v128.store(row + full, i32x4.splat(0), 16);
      for (let r = 0; r < rem; r++) {
        const v = load<i32>(src + full + (<usize>r << 2));
        store<i32>(row + full + ((r & 1) << 4) + (<usize>(r >> 1) << 2), v);
        lo = i32x4.min_s(lo, i32x4.splat(v));
        hi = i32x4.max_s(hi, i32x4.splat(v));
      }
    }
  }
  // min >= -2^30 and max < 2^30 in every lane
  return !v128.any_true(v128.or(i32x4.lt_s(lo, i32x4.splat(-0x40000000)), i32x4.gt_s(hi, i32x4.splat(0x3fffffff))));
}

/** A[i..i+1][q..q+1] += over a packed chunk of `bytes` bytes per row: Winograd (wino) or plain Gram. */
function sqTile2x2(p: usize, rowBytes: usize, bytes: usize, out: usize, n: i32, i: i32, q: i32, wino: bool): void {
  const a0 = p + <usize>i * rowBytes, a1 = a0 + rowBytes, b0 = p + <usize>q * rowBytes, b1 = b0 + rowBytes;
  let t00 = i64x2.splat(0), t01 = i64x2.splat(0), t10 = i64x2.splat(0), t11 = i64x2.splat(0);
  if (wino) {
    for (let k: usize = 0; k < bytes; k += 32) {
      const e0 = v128.load(a0 + k), o0 = v128.load(a0 + k, 16), e1 = v128.load(a1 + k), o1 = v128.load(a1 + k, 16);
      let f = v128.load(b0 + k), g = v128.load(b0 + k, 16);
      t00 = mac(t00, i32x4.add(e0, g), i32x4.add(o0, f));
      t10 = mac(t10, i32x4.add(e1, g), i32x4.add(o1, f));
      f = v128.load(b1 + k); g = v128.load(b1 + k, 16);
      t01 = mac(t01, i32x4.add(e0, g), i32x4.add(o0, f));
      t11 = mac(t11, i32x4.add(e1, g), i32x4.add(o1, f));
    }
  } else {
    for (let k: usize = 0; k < bytes; k += 32) {
      const e0 = v128.load(a0 + k), o0 = v128.load(a0 + k, 16), e1 = v128.load(a1 + k), o1 = v128.load(a1 + k, 16);
      let f = v128.load(b0 + k), g = v128.load(b0 + k, 16);
      t00 = mac(mac(t00, e0, f), o0, g);
      t10 = mac(mac(t10, e1, f), o1, g);
      f = v128.load(b1 + k); g = v128.load(b1 + k, 16);
      t01 = mac(mac(t01, e0, f), o0, g);
      t11 = mac(mac(t11, e1, f), o1, g);
    }
  }
  addOut(out, n, i, q, hsum(t00));
  addOut(out, n, i, q + 1, hsum(t01));
  addOut(out, n, i + 1, q, hsum(t10));
  addOut(out, n, i + 1, q + 1, hsum(t11));
}

/** A[i][q] += over a packed chunk (single pair: odd n leftovers). */
function sqPair(p: usize, rowBytes: usize, bytes: usize, out: usize, n: i32, i: i32, q: i32, wino: bool): void {
  const a = p + <usize>i * rowBytes, b = p + <usize>q * rowBytes;
  let t = i64x2.splat(0);
  for (let k: usize = 0; k < bytes; k += 32) {
    const e = v128.load(a + k), o = v128.load(a + k, 16), f = v128.load(b + k), g = v128.load(b + k, 16);
    t = wino ? mac(t, i32x4.add(e, g), i32x4.add(o, f)) : mac(mac(t, e, f), o, g);
  }
  addOut(out, n, i, q, hsum(t));
}

/** Scalar build: A[i..i+1][q..q+1] += Winograd over coordinates [c, c + len) read from x (i64 sums). */
function sqTileScalar(x: usize, d: i32, c: i32, len: i32, out: usize, n: i32, i: i32, q: i32, two: bool): void {
  const a0 = at(x, i, d, c), a1 = at(x, i + 1, d, c), b0 = at(x, q, d, c), b1 = at(x, q + 1, d, c);
  const end = <usize>(len & ~1) << 2;
  let t00: i64 = 0, t01: i64 = 0, t10: i64 = 0, t11: i64 = 0;
  for (let k: usize = 0; k < end; k += 8) {
    const e0 = <i64>load<i32>(a0 + k), o0 = <i64>load<i32>(a0 + k, 4);
    const f0 = <i64>load<i32>(b0 + k), g0 = <i64>load<i32>(b0 + k, 4);
    t00 += (e0 + g0) * (o0 + f0);
    if (two) {
      const e1 = <i64>load<i32>(a1 + k), o1 = <i64>load<i32>(a1 + k, 4);
      const f1 = <i64>load<i32>(b1 + k), g1 = <i64>load<i32>(b1 + k, 4);
      t01 += (e0 + g1) * (o0 + f1);
      t10 += (e1 + g0) * (o1 + f0);
      t11 += (e1 + g1) * (o1 + f1);
    }
  }
  if (len & 1) { // the lone last coordinate: plain product
    const k = end;
    const e0 = <i64>load<i32>(a0 + k), f0 = <i64>load<i32>(b0 + k);
    t00 += e0 * f0;
    if (two) {
      const e1 = <i64>load<i32>(a1 + k), f1 = <i64>load<i32>(b1 + k);
      t01 += e0 * f1;
      t10 += e1 * f0;
      t11 += e1 * f1;
    }
  }
  addOut(out, n, i, q, t00);
  if (two) {
    addOut(out, n, i, q + 1, t01);
    addOut(out, n, i + 1, q, t10);
    addOut(out, n, i + 1, q + 1, t11);
  }
}

/** Scratch for agg_pairwise_sqdist_i64: one packed chunk of all rows (SIMD, about 256 KiB); 0 in the scalar build. */
export function agg_sqdist_scratch_bytes(n: i32): usize {
  return ASC_FEATURE_SIMD ? (<usize>max(n, 0) * <usize>sqChunk(n) << 2) : 0;
}

/**
 * out_i64[i * n + q] = sum over p in [k0, k1) of (x[i][p] - x[q][p])^2 mod 2^64: the whole n x n matrix is
 * overwritten (a thread pool splitting [k0, k1) adds the partial matrices, wrapping).
 */
export function agg_pairwise_sqdist_i64(x: usize, out: usize, n: i32, d: i32, k0: i32, k1: i32, scratch: usize): void {
  if (n <= 0) return;
  memory.fill(out, 0, (<usize>n * <usize>n) << 3);
  const kc = sqChunk(n);
  const rowBytes = <usize>kc << 2;
  for (let c = k0; c < k1; c += kc) {
    const len = min(kc, k1 - c);
    // 2 x 2 tiles cover the pairs i <= q (a diagonal tile also adds into one cell below the diagonal,
    // overwritten at the end); an odd n leaves a last row and column done pair by pair.
    if (ASC_FEATURE_SIMD) {
      const wino = packChunk(x, n, d, c, len, scratch, rowBytes);
      const bytes = <usize>((len + 7) & ~7) << 2;
      let i = 0;
      for (; i + 2 <= n; i += 2) {
        let q = i;
        for (; q + 2 <= n; q += 2) sqTile2x2(scratch, rowBytes, bytes, out, n, i, q, wino);
        if (q < n) {
          sqPair(scratch, rowBytes, bytes, out, n, i, q, wino);
          sqPair(scratch, rowBytes, bytes, out, n, i + 1, q, wino);
        }
      }
      if (i < n) sqPair(scratch, rowBytes, bytes, out, n, i, i, wino);
    } else {
      let i = 0;
      for (; i + 2 <= n; i += 2) {
        let q = i;
        for (; q + 2 <= n; q += 2) sqTileScalar(x, d, c, len, out, n, i, q, true);
        if (q < n) {
          sqTileScalar(x, d, c, len, out, n, i, q, false);
          sqTileScalar(x, d, c, len, out, n, i + 1, q, false);
        }
      }
      if (i < n) sqTileScalar(x, d, c, len, out, n, i, i, false);
    }
  }
  // D[i][q] = A[i][i] + A[q][q] - 2 A[i][q] for i < q (reading the diagonal, which is zeroed last).
  const rowOut = <usize>n << 3;
  for (let i = 0; i < n; i++) {
    const aii = load<i64>(out + <usize>i * rowOut + (<usize>i << 3));
    for (let q = i + 1; q < n; q++) {
      const aqq = load<i64>(out + <usize>q * rowOut + (<usize>q << 3));
      const p = out + <usize>i * rowOut + (<usize>q << 3);
      const v = aii + aqq - (load<i64>(p) << 1);
      store<i64>(p, v);
      store<i64>(out + <usize>q * rowOut + (<usize>i << 3), v);
    }
  }
  for (let i = 0; i < n; i++) store<i64>(out + <usize>i * rowOut + (<usize>i << 3), 0);
}
