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
// Columns are done in blocks whose accumulator (out[jb..je)) stays in L1 while the rows stream past, four
// rows per pass: per 16 bytes of output, one accumulator load and store for four input loads, and only four
// concurrent streams, which the hardware prefetcher follows. (Register-resident accumulators over all n rows
// at once read 100 rows 4 MB apart a cache line at a time, which the prefetcher does not follow.)

const SUM_BLOCK: i32 = 16384; // columns: 64 KiB of accumulator (L2)

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
// Weighted sum: out_i64[j] = sum_i (i64)w[i] * (i64)x[i][j] mod 2^64. Same blocking as the sum; SIMD uses
// i64x2.extmul_{low,high}_i32x4_s against the splatted weight, which is the exact 64-bit product.

const WSUM_BLOCK: i32 = 8192; // columns: 64 KiB of i64 accumulator (L2)

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
// Each "wire" is a slot in scratch holding one participant's values for COLS consecutive columns (a plain
// copy of x[i][j..j+COLS): no transpose needed, row i is wire i). A comparator (a, b) puts the lane-wise
// min in a and max in b (i32x4.min_s / max_s in the SIMD build, one select per column in the scalar one).
//
// The network is built from n, inside the kernel, for every call (tens of microseconds at n = 100):
//  1. Parberry's pairwise sorting network on N = 2^ceil(log2 n) wires (fewer comparators survive pruning
//     than for Batcher's odd-even merge or bitonic sorts: 805 vs 905 and 1132 for the median of 100).
//  2. The N - n padding wires hold -inf (the first `lo`) and +inf sentinels. Forward pass: a comparator that
//     touches a sentinel never needs to run; it either leaves both wires alone or swaps them, and a swap is
//     done by renaming wires, not moving data. Only real-vs-real comparators are emitted, on physical wires.
//  3. Backward pass from the outputs that are needed, dropping every comparator that cannot change them:
//     median: those whose outputs are both unused; trimmed mean: also those whose two outputs end up in the
//     same class (bottom `trim`, middle, top `trim`), since the middle sum does not depend on the order
//     inside a class.
//  The sentinel split `lo` is picked from {0, (N-n)/2, N-n} by the smallest surviving network.
// Sizes seen at n = 100: median 776 comparators, trimmed mean (trim 10) 836.

const G: i32 = 2;                 // SIMD: v128 groups of 4 columns per wire, run by each comparator read
const SIMD_COLS: i32 = 4 * G;
const SCALAR_COLS: i32 = 4;       // scalar build: columns per wire
const HDR: usize = 64;            // scratch header: [0] list end address, [4],[8] output wires, [12] mids end
const ALIGN: usize = 64;

// @ts-ignore: decorator
@inline function wireBytes(): usize {
  return ASC_FEATURE_SIMD ? <usize>(SIMD_COLS << 2) : <usize>(SCALAR_COLS << 2);
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

/** Writes Parberry's pairwise sorting network on N wires as (a, b) i32 pairs, min to a; returns the count. */
function pairwiseNetwork(N: i32, dst: usize): i32 {
  let cnt = 0;
  let a = 1;
  for (; a < N; a <<= 1) {
    let b = a, c = 0;
    while (b < N) {
      store<i32>(dst + (<usize>cnt << 3), b - a);
      store<i32>(dst + (<usize>cnt << 3), b, 4);
      cnt++;
      b++;
      if (++c >= a) { b += a; c = 0; }
    }
  }
  a >>= 2;
  let e = 1;
  for (; a > 0; a >>= 1, e = 2 * e + 1) {
    for (let dd = e; dd > 0; dd >>= 1) {
      let b = (dd + 1) * a, c = 0;
      while (b < N) {
        store<i32>(dst + (<usize>cnt << 3), b - dd * a);
        store<i32>(dst + (<usize>cnt << 3), b, 4);
        cnt++;
        b++;
        if (++c >= a) { b += a; c = 0; }
      }
    }
  }
  return cnt;
}

// Scratch layout (byte offsets from the scratch base):
//   [0, HDR)                         header
//   [HDR, HDR + 8 * full)            comparator list (absolute wire addresses a, b)
//   then n * 4 bytes                 middle-wire addresses (trimmed mean)
//   then ALIGN slack, the wires      max(n * wireBytes, 12 * N): generation temporaries live there first
//   then wireBytes                   result staging for a partial last block

function listBytes(n: i32): usize {
  return <usize>fullNetworkSize(ceilPow2(n)) << 3;
}

function wiresOffset(n: i32): usize {
  return HDR + listBytes(n) + (<usize>n << 2);
}

function networkScratchBytes(n: i32): usize {
  if (n < 1) return 0;
  const N = ceilPow2(n);
  const wires = max<usize>(<usize>n * wireBytes(), <usize>N * 12);
  return wiresOffset(n) + ALIGN + wires + wireBytes();
}

// @ts-ignore: decorator
@inline function wireBase(s: usize, n: i32): usize {
  return (s + wiresOffset(n) + ALIGN - 1) & ~(ALIGN - 1);
}

const KIND_NEG: i32 = -1, KIND_REAL: i32 = 0, KIND_POS: i32 = 1;
const DEAD: i32 = -1, LIVE: i32 = 0; // labels; > 0 is a class of the trimmed mean

/**
 * Builds the pruned network for n values with sentinel split lo. mode 0: median, 1: trimmed mean.
 * With emit false it only returns the number of surviving comparators; with emit true it also writes the
 * list as absolute wire addresses, the header and (trimmed mean) the middle-wire addresses.
 */
function buildNetwork(s: usize, n: i32, mode: i32, trim: i32, lo: i32, emit: bool): i32 {
  const N = ceilPow2(n);
  const list = s + HDR;
  const wires = wireBase(s, n);
  const kind = wires, phys = wires + (<usize>N << 2), label = wires + (<usize>N << 3);
  const full = pairwiseNetwork(N, list);

  // Forward: sentinel elimination by renaming. Logical wire w holds kind[w]; real ones live at phys[w].
  let pi = 0;
  for (let w = 0; w < N; w++) {
    const k = w < lo ? KIND_NEG : (w < lo + n ? KIND_REAL : KIND_POS);
    store<i32>(kind + (<usize>w << 2), k);
    store<i32>(phys + (<usize>w << 2), k == KIND_REAL ? pi++ : -1);
  }
  let cnt = 0;
  for (let t = 0; t < full; t++) {
    const a = load<i32>(list + (<usize>t << 3)), b = load<i32>(list + (<usize>t << 3), 4);
    const ka = load<i32>(kind + (<usize>a << 2)), kb = load<i32>(kind + (<usize>b << 2));
    if (ka == KIND_NEG || kb == KIND_POS) continue;          // already in order
    if (ka == KIND_POS || kb == KIND_NEG) {                  // swap: rename
      store<i32>(kind + (<usize>a << 2), kb);
      store<i32>(kind + (<usize>b << 2), ka);
      const pa = load<i32>(phys + (<usize>a << 2));
      store<i32>(phys + (<usize>a << 2), load<i32>(phys + (<usize>b << 2)));
      store<i32>(phys + (<usize>b << 2), pa);
      continue;
    }
    store<i32>(list + (<usize>cnt << 3), load<i32>(phys + (<usize>a << 2)));
    store<i32>(list + (<usize>cnt << 3), load<i32>(phys + (<usize>b << 2)), 4);
    cnt++;
  }
  // Now logical wire lo + r holds the value of rank r (the sentinels sort to the ends).

  // Backward: label the physical wires by what the output needs from them.
  for (let w = 0; w < n; w++) store<i32>(label + (<usize>w << 2), DEAD);
  let out0 = 0, out1 = 0;
  if (mode == 0) {
    out0 = load<i32>(phys + (<usize>(lo + ((n - 1) >> 1)) << 2));
    out1 = load<i32>(phys + (<usize>(lo + (n >> 1)) << 2));
    store<i32>(label + (<usize>out0 << 2), LIVE);
    store<i32>(label + (<usize>out1 << 2), LIVE);
  } else {
    for (let r = 0; r < n; r++) {
      const cls = r < trim ? 1 : (r >= n - trim ? 2 : 3);
      store<i32>(label + (<usize>load<i32>(phys + (<usize>(lo + r) << 2)) << 2), cls);
    }
  }
  let kept = 0;
  for (let t = cnt - 1; t >= 0; t--) {
    const e = list + (<usize>t << 3);
    const a = load<i32>(e), b = load<i32>(e, 4);
    const la = load<i32>(label + (<usize>a << 2)), lb = load<i32>(label + (<usize>b << 2));
    if ((la == DEAD && lb == DEAD) || (la > 0 && la == lb)) {
      store<i32>(e, -1); // dropped
      continue;
    }
    store<i32>(label + (<usize>a << 2), LIVE);
    store<i32>(label + (<usize>b << 2), LIVE);
    kept++;
  }
  if (!emit) return kept;

  // Middle wires of the trimmed mean (read from phys before it is overwritten by wire data).
  const wb = wireBytes();
  const mids = list + listBytes(n);
  let me = mids;
  if (mode == 1) {
    for (let r = trim; r < n - trim; r++) {
      store<u32>(me, <u32>(wires + <usize>load<i32>(phys + (<usize>(lo + r) << 2)) * wb));
      me += 4;
    }
  }
  // Compact the kept comparators in order, as absolute addresses.
  let o = list;
  for (let t = 0; t < cnt; t++) {
    const e = list + (<usize>t << 3);
    const a = load<i32>(e);
    if (a < 0) continue;
    const b = load<i32>(e, 4);
    store<u32>(o, <u32>(wires + <usize>a * wb));
    store<u32>(o, <u32>(wires + <usize>b * wb), 4);
    o += 8;
  }
  store<u32>(s, <u32>o);
  store<u32>(s, <u32>(wires + <usize>out0 * wb), 4);
  store<u32>(s, <u32>(wires + <usize>out1 * wb), 8);
  store<u32>(s, <u32>me, 12);
  return kept;
}

/** Builds the smallest of the pruned networks for the sentinel splits {0, (N-n)/2, N-n}. */
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

/** Copies x[i][j..j+cols) to wire i for every row (cols <= the wire width; other lanes are don't-care). */
// @ts-ignore: decorator
@inline function loadWires(x: usize, n: i32, d: i32, j: i32, cols: i32, wires: usize): void {
  const wb = wireBytes();
  if (ASC_FEATURE_SIMD && cols == SIMD_COLS) {
    let src = at(x, 0, d, j), dst = wires;
    const stride = <usize>d << 2;
    for (let i = 0; i < n; i++, src += stride, dst += wb) {
      for (let g: usize = 0; g < <usize>G << 4; g += 16) v128.store(dst + g, v128.load(src + g));
    }
  } else {
    for (let i = 0; i < n; i++) memory.copy(wires + <usize>i * wb, at(x, i, d, j), <usize>cols << 2);
  }
}

/** Runs the comparator list [p, end) on every column of the wires. */
// @ts-ignore: decorator
@inline function runNetwork(p: usize, end: usize): void {
  if (ASC_FEATURE_SIMD) {
    if (G == 1) {
      for (; p < end; p += 8) {
        const a = <usize>load<u32>(p), b = <usize>load<u32>(p, 4);
        const a0 = v128.load(a), b0 = v128.load(b);
        v128.store(a, i32x4.min_s(a0, b0));
        v128.store(b, i32x4.max_s(a0, b0));
      }
    } else if (G == 2) {
      for (; p < end; p += 8) {
        const a = <usize>load<u32>(p), b = <usize>load<u32>(p, 4);
        const a0 = v128.load(a), b0 = v128.load(b), a1 = v128.load(a, 16), b1 = v128.load(b, 16);
        v128.store(a, i32x4.min_s(a0, b0));
        v128.store(b, i32x4.max_s(a0, b0));
        v128.store(a, i32x4.min_s(a1, b1), 16);
        v128.store(b, i32x4.max_s(a1, b1), 16);
      }
    } else {
      for (; p < end; p += 8) {
        const a = <usize>load<u32>(p), b = <usize>load<u32>(p, 4);
        const a0 = v128.load(a), b0 = v128.load(b), a1 = v128.load(a, 16), b1 = v128.load(b, 16);
        const a2 = v128.load(a, 32), b2 = v128.load(b, 32), a3 = v128.load(a, 48), b3 = v128.load(b, 48);
        v128.store(a, i32x4.min_s(a0, b0));
        v128.store(b, i32x4.max_s(a0, b0));
        v128.store(a, i32x4.min_s(a1, b1), 16);
        v128.store(b, i32x4.max_s(a1, b1), 16);
        v128.store(a, i32x4.min_s(a2, b2), 32);
        v128.store(b, i32x4.max_s(a2, b2), 32);
        v128.store(a, i32x4.min_s(a3, b3), 48);
        v128.store(b, i32x4.max_s(a3, b3), 48);
      }
    }
  } else {
    for (; p < end; p += 8) {
      const a = <usize>load<u32>(p), b = <usize>load<u32>(p, 4);
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

export function agg_median_scratch_bytes(n: i32): usize {
  return networkScratchBytes(n);
}

/** Median of the n values of each column j in [j0, j1); even n: floor((a + b) / 2) of the middle two. */
export function agg_median_i32(x: usize, out: usize, n: i32, d: i32, j0: i32, j1: i32, scratch: usize): void {
  if (n < 1 || j1 <= j0) return;
  prepareNetwork(scratch, n, 0, 0);
  const end = <usize>load<u32>(scratch);
  const wa = <usize>load<u32>(scratch, 4), wb = <usize>load<u32>(scratch, 8);
  const wires = wireBase(scratch, n);
  const stage = wires + <usize>n * wireBytes();
  const list = scratch + HDR;
  const cols = ASC_FEATURE_SIMD ? SIMD_COLS : SCALAR_COLS;
  for (let j = j0; j < j1; j += cols) {
    const c = min(cols, j1 - j);
    loadWires(x, n, d, j, c, wires);
    runNetwork(list, end);
    const full = c == cols;
    const dst = full ? out + (<usize>j << 2) : stage;
    if (ASC_FEATURE_SIMD) {
      for (let g: usize = 0; g < <usize>G * 16; g += 16) {
        const va = v128.load(wa + g), vb = v128.load(wb + g);
        // floor((a + b) / 2) = (a >> 1) + (b >> 1) + (a & b & 1); for odd n, wa == wb and this is a.
        const r = i32x4.add(i32x4.add(i32x4.shr_s(va, 1), i32x4.shr_s(vb, 1)),
          v128.and(v128.and(va, vb), i32x4.splat(1)));
        v128.store(dst + g, r);
      }
    } else {
      for (let k: usize = 0; k < <usize>cols << 2; k += 4) store<i32>(dst + k, mid2(load<i32>(wa + k), load<i32>(wb + k)));
    }
    if (!full) memory.copy(out + (<usize>j << 2), stage, <usize>c << 2);
  }
}

export function agg_trimmed_scratch_bytes(n: i32, trim: i32): usize {
  return networkScratchBytes(n);
}

/**
 * Trimmed mean of each column j in [j0, j1): drop the trim smallest and trim largest of the n values
 * (0 <= 2 * trim < n), out = floor(S / (n - 2 * trim)) with S the exact i64 sum of the rest.
 */
export function agg_trimmed_mean_i32(x: usize, out: usize, n: i32, d: i32, trim: i32, j0: i32, j1: i32, scratch: usize): void {
  if (n < 1 || trim < 0 || 2 * trim >= n || j1 <= j0) return;
  prepareNetwork(scratch, n, 1, trim);
  const end = <usize>load<u32>(scratch);
  const mids = scratch + HDR + listBytes(n), midsEnd = <usize>load<u32>(scratch, 12);
  const wires = wireBase(scratch, n);
  const stage = wires + <usize>n * wireBytes();
  const list = scratch + HDR;
  const m = <i64>(n - 2 * trim);
  const cols = ASC_FEATURE_SIMD ? SIMD_COLS : SCALAR_COLS;
  for (let j = j0; j < j1; j += cols) {
    const c = min(cols, j1 - j);
    loadWires(x, n, d, j, c, wires);
    runNetwork(list, end);
    const full = c == cols;
    const dst = full ? out + (<usize>j << 2) : stage;
    if (ASC_FEATURE_SIMD) {
      for (let g: usize = 0; g < <usize>G << 4; g += 16) {
        let s0 = i64x2.splat(0), s1 = i64x2.splat(0);
        for (let p = mids; p < midsEnd; p += 4) {
          const v = v128.load(<usize>load<u32>(p) + g);
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
        const w = <usize>load<u32>(p);
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
    if (!full) memory.copy(out + (<usize>j << 2), stage, <usize>c << 2);
  }
}

// ---------------------------------------------------------------------------------------------------------
// Pairwise squared distances over coordinates [k0, k1): out_i64[i * n + q] = sum_p (x[i][p] - x[q][p])^2
// mod 2^64, the full n x n matrix (symmetric, zero diagonal), overwritten.
//
// Gram method: D[i][q] = G[i][i] + G[q][q] - 2 G[i][q] with G = X X^T over the range. It is exact mod 2^64
// (a ring identity), so no bound on the inputs is needed and partial results of a split range add up
// (wrapping) to the full one. G is accumulated in out itself (upper triangle and diagonal), in chunks of
// coordinates that stay in L2, with register tiles of RI x RQ rows so each loaded vector feeds several
// products (SIMD: i64x2.extmul_{low,high}_i32x4_s, the exact 64-bit product).

const KCHUNK: i32 = 512; // coordinates per chunk: n rows x 2 KiB

// @ts-ignore: decorator
@inline function dotTail(a: usize, b: usize, from: usize, to: usize): i64 {
  let s: i64 = 0;
  for (let k = from; k < to; k += 4) s += <i64>load<i32>(a + k) * <i64>load<i32>(b + k);
  return s;
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

/** G[i..i+2][q..q+4] += dot products over len coordinates starting at byte column offset c. */
function gramTile2x4(x: usize, out: usize, n: i32, d: i32, i: i32, q: i32, c: i32, len: i32): void {
  const a0 = at(x, i, d, c), a1 = at(x, i + 1, d, c);
  const b0 = at(x, q, d, c), b1 = at(x, q + 1, d, c), b2 = at(x, q + 2, d, c), b3 = at(x, q + 3, d, c);
  const end = <usize>len << 2;
  const end4 = <usize>(len & ~3) << 2;
  let k: usize = 0;
  let s00: i64 = 0, s01: i64 = 0, s02: i64 = 0, s03: i64 = 0, s10: i64 = 0, s11: i64 = 0, s12: i64 = 0, s13: i64 = 0;
  if (ASC_FEATURE_SIMD) {
    let t00 = i64x2.splat(0), t01 = i64x2.splat(0), t02 = i64x2.splat(0), t03 = i64x2.splat(0);
    let t10 = i64x2.splat(0), t11 = i64x2.splat(0), t12 = i64x2.splat(0), t13 = i64x2.splat(0);
    for (; k < end4; k += 16) {
      const u0 = v128.load(a0 + k), u1 = v128.load(a1 + k);
      let v = v128.load(b0 + k);
      t00 = i64x2.add(t00, i64x2.add(i64x2.extmul_low_i32x4_s(u0, v), i64x2.extmul_high_i32x4_s(u0, v)));
      t10 = i64x2.add(t10, i64x2.add(i64x2.extmul_low_i32x4_s(u1, v), i64x2.extmul_high_i32x4_s(u1, v)));
      v = v128.load(b1 + k);
      t01 = i64x2.add(t01, i64x2.add(i64x2.extmul_low_i32x4_s(u0, v), i64x2.extmul_high_i32x4_s(u0, v)));
      t11 = i64x2.add(t11, i64x2.add(i64x2.extmul_low_i32x4_s(u1, v), i64x2.extmul_high_i32x4_s(u1, v)));
      v = v128.load(b2 + k);
      t02 = i64x2.add(t02, i64x2.add(i64x2.extmul_low_i32x4_s(u0, v), i64x2.extmul_high_i32x4_s(u0, v)));
      t12 = i64x2.add(t12, i64x2.add(i64x2.extmul_low_i32x4_s(u1, v), i64x2.extmul_high_i32x4_s(u1, v)));
      v = v128.load(b3 + k);
      t03 = i64x2.add(t03, i64x2.add(i64x2.extmul_low_i32x4_s(u0, v), i64x2.extmul_high_i32x4_s(u0, v)));
      t13 = i64x2.add(t13, i64x2.add(i64x2.extmul_low_i32x4_s(u1, v), i64x2.extmul_high_i32x4_s(u1, v)));
    }
    s00 = hsum(t00); s01 = hsum(t01); s02 = hsum(t02); s03 = hsum(t03);
    s10 = hsum(t10); s11 = hsum(t11); s12 = hsum(t12); s13 = hsum(t13);
  }
  for (; k < end; k += 4) {
    const u0 = <i64>load<i32>(a0 + k), u1 = <i64>load<i32>(a1 + k);
    const v0 = <i64>load<i32>(b0 + k), v1 = <i64>load<i32>(b1 + k), v2 = <i64>load<i32>(b2 + k), v3 = <i64>load<i32>(b3 + k);
    s00 += u0 * v0; s01 += u0 * v1; s02 += u0 * v2; s03 += u0 * v3;
    s10 += u1 * v0; s11 += u1 * v1; s12 += u1 * v2; s13 += u1 * v3;
  }
  addOut(out, n, i, q, s00); addOut(out, n, i, q + 1, s01); addOut(out, n, i, q + 2, s02); addOut(out, n, i, q + 3, s03);
  addOut(out, n, i + 1, q, s10); addOut(out, n, i + 1, q + 1, s11); addOut(out, n, i + 1, q + 2, s12); addOut(out, n, i + 1, q + 3, s13);
}

/** G[i][q] += dot product over len coordinates starting at column c. */
function gramPair(x: usize, out: usize, n: i32, d: i32, i: i32, q: i32, c: i32, len: i32): void {
  const a = at(x, i, d, c), b = at(x, q, d, c);
  const end = <usize>len << 2;
  let k: usize = 0;
  let s: i64 = 0;
  if (ASC_FEATURE_SIMD) {
    const end4 = <usize>(len & ~3) << 2;
    let t = i64x2.splat(0);
    for (; k < end4; k += 16) {
      const u = v128.load(a + k), v = v128.load(b + k);
      t = i64x2.add(t, i64x2.add(i64x2.extmul_low_i32x4_s(u, v), i64x2.extmul_high_i32x4_s(u, v)));
    }
    s = hsum(t);
  }
  s += dotTail(a, b, k, end);
  addOut(out, n, i, q, s);
}

export function agg_sqdist_scratch_bytes(n: i32): usize {
  return 0;
}

export function agg_pairwise_sqdist_i64(x: usize, out: usize, n: i32, d: i32, k0: i32, k1: i32, scratch: usize): void {
  if (n <= 0) return;
  memory.fill(out, 0, (<usize>n * <usize>n) << 3);
  for (let c = k0; c < k1; c += KCHUNK) {
    const len = min(KCHUNK, k1 - c);
    // Tiles of 2 x 4 rows cover the pairs i <= q (a tile may also fill a few cells below the diagonal:
    // those are overwritten at the end); leftover rows and columns go pair by pair.
    let i = 0;
    for (; i + 2 <= n; i += 2) {
      let q = i;
      for (; q + 4 <= n; q += 4) gramTile2x4(x, out, n, d, i, q, c, len);
      for (; q < n; q++) {
        gramPair(x, out, n, d, i, q, c, len);
        gramPair(x, out, n, d, i + 1, q, c, len);
      }
    }
    for (; i < n; i++) for (let q = i; q < n; q++) gramPair(x, out, n, d, i, q, c, len);
  }
  // D[i][q] = G[i][i] + G[q][q] - 2 G[i][q] for i < q (reading the diagonal, which is zeroed last).
  const rowBytes = <usize>n << 3;
  for (let i = 0; i < n; i++) {
    const gii = load<i64>(out + <usize>i * rowBytes + (<usize>i << 3));
    for (let q = i + 1; q < n; q++) {
      const gqq = load<i64>(out + <usize>q * rowBytes + (<usize>q << 3));
      const p = out + <usize>i * rowBytes + (<usize>q << 3);
      const v = gii + gqq - (load<i64>(p) << 1);
      store<i64>(p, v);
      store<i64>(out + <usize>q * rowBytes + (<usize>i << 3), v);
    }
  }
  for (let i = 0; i < n; i++) store<i64>(out + <usize>i * rowBytes + (<usize>i << 3), 0);
}
