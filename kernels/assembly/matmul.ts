// f32 matrix multiply, C = op(A) · op(B); runtime/reference/matmul.ts defines the bits.
//
// Contract (same in the scalar and SIMD builds): all matrices row-major f32; op(A) is m×k (A stored m×k,
// or k×m when transA), op(B) is k×n (B stored k×n, or n×k when transB). Each C[i][j] starts at +0 and
// adds fround(op(A)[i][p] * op(B)[p][j]) for p ascending, every multiply and add rounded to f32, no FMA.
// SIMD lanes run across j (independent outputs), and the k loop is only cut into blocks whose partial C
// is stored as f32 between blocks, which is exactly the value the next step would have added to anyway.
//
// Layout (GotoBLAS-style, sized for a 32 KiB L1 / 512 KiB L2 core and V8's 15 usable xmm registers):
// - op(B) is packed once into column panels NR = 8 wide: panel jp holds op(B)[p][8jp .. 8jp+7] for
//   p = 0..k-1, 32 contiguous bytes per p; the last panel is zero-padded. Transposes are absorbed here.
// - For each k block (≤ KC) and each block of ≤ MC rows, op(A) is packed into MR = 5-row panels
//   (MR contiguous values per p, zero-padded rows) in the caller's scratch.
// - The micro-kernel keeps a 5×8 tile of C in ten f32x4 registers and walks one A panel and one B
//   panel through the k block: per p, one splat load per row, two B vector loads, 10 mul + 10 add.
//   V8 (x64) leaves 15 xmm registers to wasm code: 10 accumulators + 2 B vectors + the A splat + one
//   product temporary fit; 6×8 needs 16, spills an accumulator and measured ~35% slower. Among the
//   tiles that fit (4×8, 5×8, 3×12, 2×16, 8×4) 5×8 needs the fewest loads and loop instructions per
//   multiply-add, which is what limits the loop (V8 folds no loads into mulps; 31 instructions for
//   20 vector ops per step, see microTile). Storing A pre-splatted (16 B per value, plain loads)
//   measured no faster.
// - Loop order: k block > column chunk of ≤ NCP panels (its KC-deep slice of packed B, 512 KiB, stays
//   in L2) > row block (packed A, ≤ 120 KiB, in L2) > B panel (its KC×8 slice stays in L1) > A panel >
//   micro-kernel.
// Kernels allocate nothing and keep no state between calls: several instances may run them at once on
// one shared memory (the thread pool gives each thread a column range: it packs its own panels of B and
// computes those columns of C with matmul_block; narrow products are split by rows instead).
// Pointers need no alignment. C must not overlap A, B, packed B or scratch.

/** Rows of the register tile; row ranges that are multiples of it keep every tile full. */
const MR: i32 = 5;
/** Columns of the register tile and width of a packed-B panel (two f32x4). */
const NR: i32 = 8;
/** Largest k block: a KC×NR B slice (8 KiB) plus a KC×MR A panel stay in L1. */
const KC: i32 = 256;
/** Largest row block (multiple of MR): its packed A (≤ 120 KiB) stays in L2 next to the B slice. */
const MC: i32 = 120;
/** Panels per column chunk (NCP x NR = 512 columns): a KC-deep chunk of packed B is 512 KiB, within L2. */
const NCP: i32 = 64;
/** Scratch bytes where microTile round-trips its pointers (see there). */
const SLOT_BYTES: usize = 16;

// @ts-ignore: decorator
@inline function align64(x: usize): usize { return (x + 63) & ~<usize>63; }

// ---------------------------------------------------------------------------------------------------
// Sizes and alignment

/** Column granularity of matmul_pack_b ranges: colStart a multiple of it, colEnd a multiple or n. */
export function matmul_col_align(): i32 { return NR; }

/** Row granularity that keeps matmul_rows efficient; any split gives the same bits. */
export function matmul_row_align(): i32 { return MR; }

/** Bytes of packed op(B): ceil(n / NR) panels of k × NR f32. */
export function matmul_packed_b_bytes(k: i32, n: i32): usize {
  if (k <= 0 || n <= 0) return 0;
  return <usize>((n + NR - 1) / NR) * <usize>k * <usize>(NR * 4);
}

/** Per-call scratch of matmul_rows: one packed A block, one edge tile, the micro-kernel's pointer slot. */
export function matmul_rows_scratch_bytes(m: i32, k: i32, n: i32, transA: i32): usize {
  if (m <= 0 || k <= 0 || n <= 0) return 0;
  return <usize>rowBlockCap(m) * <usize>min(k, KC) * 4 + <usize>(MR * NR * 4) + SLOT_BYTES;
}

/** Scratch of matmul: packed B, then (64-byte aligned) the matmul_rows scratch. */
export function matmul_scratch_bytes(m: i32, k: i32, n: i32, transA: i32, transB: i32): usize {
  return align64(matmul_packed_b_bytes(k, n)) + matmul_rows_scratch_bytes(m, k, n, transA);
}

// @ts-ignore: decorator
@inline function rowBlockCap(m: i32): i32 { return (min(m, MC) + MR - 1) / MR * MR; }

// ---------------------------------------------------------------------------------------------------
// Whole product, single thread

/** C (m×n) = op(A) · op(B). `scratch`: matmul_scratch_bytes(m, k, n, transA, transB) bytes. */
export function matmul(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: i32, transB: i32, scratch: usize): void {
  matmul_pack_b(b, scratch, k, n, transB, 0, n);
  matmul_rows(a, scratch, c, m, k, n, transA, 0, m, scratch + align64(matmul_packed_b_bytes(k, n)));
}

// ---------------------------------------------------------------------------------------------------
// Packing op(B)

/**
 * Packs the panels of op(B) covering columns [colStart, colEnd) into `packed`
 * (matmul_packed_b_bytes(k, n) bytes, shared by all row ranges). Ranges should start at a multiple of
 * matmul_col_align() and end at one or at n; a range that does not is widened to whole panels, so two
 * ranges may then write the same panel (with the same bytes).
 */
export function matmul_pack_b(b: usize, packed: usize, k: i32, n: i32, transB: i32, colStart: i32, colEnd: i32): void {
  if (k <= 0 || n <= 0) return;
  const jp0 = max(colStart, 0) / NR;
  const jp1 = (min(colEnd, n) + NR - 1) / NR;
  const panelBytes = <usize>k * <usize>(NR * 4);
  for (let jp = jp0; jp < jp1; jp++) {
    const j0 = jp * NR;
    const w = min(NR, n - j0);
    const dst = packed + <usize>jp * panelBytes;
    if (transB) packPanelT(b + (<usize>j0 * <usize>k << 2), dst, k, w);
    else packPanelN(b + (<usize>j0 << 2), dst, k, n, w);
  }
}

/** B stored k×n: each panel row is w contiguous values of a B row (row stride n), zero-padded to NR. */
function packPanelN(src: usize, dst: usize, k: i32, n: i32, w: i32): void {
  const ldb = <usize>n << 2;
  if (w == NR) {
    for (let p = 0; p < k; p++) {
      if (ASC_FEATURE_SIMD) {
        v128.store(dst, v128.load(src));
        v128.store(dst, v128.load(src, 16), 16);
      } else {
        for (let q = 0; q < NR * 4; q += 4) store<f32>(dst + q, load<f32>(src + q));
      }
      src += ldb; dst += NR * 4;
    }
  } else {
    for (let p = 0; p < k; p++) {
      for (let q = 0; q < NR; q++) store<f32>(dst + (<usize>q << 2), q < w ? load<f32>(src + (<usize>q << 2)) : 0);
      src += ldb; dst += NR * 4;
    }
  }
}

/** B stored n×k (op(B) = Bᵀ): panel column q is source row q (stride k); 4×4 transposes in SIMD. */
function packPanelT(src: usize, dst: usize, k: i32, w: i32): void {
  const ldb = <usize>k << 2;
  let p = 0;
  if (ASC_FEATURE_SIMD) {
    if (w == NR) {
      for (; p <= k - 4; p += 4) {
        for (let q = 0; q < NR; q += 4) {
          const s = src + <usize>q * ldb + (<usize>p << 2);
          const r0 = v128.load(s), r1 = v128.load(s + ldb), r2 = v128.load(s + 2 * ldb), r3 = v128.load(s + 3 * ldb);
          const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
          const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
          const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          const d = dst + (<usize>(p * NR + q) << 2);
          v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), NR * 4);
          v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), NR * 8);
          v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), NR * 12);
        }
      }
    }
  }
  for (; p < k; p++) {
    const d = dst + (<usize>(p * NR) << 2);
    const s = src + (<usize>p << 2);
    for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), q < w ? load<f32>(s + <usize>q * ldb) : 0);
  }
}

// ---------------------------------------------------------------------------------------------------
// Packing op(A)

/**
 * Packs rows [i0, i0+mc) × k range [pc, pc+kc) of op(A) into MR-row panels at `dst`:
 * panel t (rows i0+MR·t ..) holds, for each p, its MR values contiguously; missing rows are zero.
 */
function packA(a: usize, dst: usize, m: i32, k: i32, transA: i32, i0: i32, mc: i32, pc: i32, kc: i32): void {
  const panelBytes = <usize>kc * <usize>(MR * 4);
  for (let ir = 0; ir < mc; ir += MR) {
    const h = min(MR, mc - ir);
    if (transA) packPanelAT(a + (<usize>pc * <usize>m + <usize>(i0 + ir) << 2), dst, <usize>m << 2, kc, h);
    else packPanelAN(a + (<usize>(i0 + ir) * <usize>k + <usize>pc << 2), dst, <usize>k << 2, kc, h);
    dst += panelBytes;
  }
}

/** A stored m×k: the panel's rows are h source rows (stride lda bytes), read along p. */
function packPanelAN(src: usize, dst: usize, lda: usize, kc: i32, h: i32): void {
  let p = 0;
  if (ASC_FEATURE_SIMD) {
    if (h == MR) {
      // 4 p at a time: transpose rows 0-3 (4×4) into 16-byte stores, row 4 by lanes.
      for (; p <= kc - 4; p += 4) {
        const s = src + (<usize>p << 2);
        const r0 = v128.load(s), r1 = v128.load(s + lda), r2 = v128.load(s + 2 * lda), r3 = v128.load(s + 3 * lda);
        const r4 = v128.load(s + 4 * lda);
        const t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
        const t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
        const t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
        const t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
        const d = dst + (<usize>(p * MR) << 2);
        v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
        v128.store32_lane(d, r4, 0, 16);
        v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), MR * 4);
        v128.store32_lane(d, r4, 1, MR * 4 + 16);
        v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), MR * 8);
        v128.store32_lane(d, r4, 2, MR * 8 + 16);
        v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), MR * 12);
        v128.store32_lane(d, r4, 3, MR * 12 + 16);
      }
    }
  }
  for (; p < kc; p++) {
    const d = dst + (<usize>(p * MR) << 2);
    const s = src + (<usize>p << 2);
    for (let r = 0; r < MR; r++) store<f32>(d + (<usize>r << 2), r < h ? load<f32>(s + <usize>r * lda) : 0);
  }
}

/** A stored k×m (op(A) = Aᵀ): for each p the panel's h values are contiguous in the source row p. */
function packPanelAT(src: usize, dst: usize, lda: usize, kc: i32, h: i32): void {
  if (h == MR) {
    for (let p = 0; p < kc; p++) {
      if (ASC_FEATURE_SIMD) {
        v128.store(dst, v128.load(src));
      } else {
        store<f32>(dst, load<f32>(src)); store<f32>(dst, load<f32>(src, 4), 4);
        store<f32>(dst, load<f32>(src, 8), 8); store<f32>(dst, load<f32>(src, 12), 12);
      }
      store<f32>(dst, load<f32>(src, 16), 16);
      src += lda; dst += MR * 4;
    }
  } else {
    for (let p = 0; p < kc; p++) {
      for (let r = 0; r < MR; r++) store<f32>(dst + (<usize>r << 2), r < h ? load<f32>(src + (<usize>r << 2)) : 0);
      src += lda; dst += MR * 4;
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Row ranges against packed B

/**
 * Computes rows [rowStart, rowEnd) of C from op(A) (`a`: base of the whole A) and packed op(B)
 * (`packed`, from matmul_pack_b over all columns); `c` is the base of the whole C.
 * `scratch`: matmul_rows_scratch_bytes(m, k, n, transA) bytes, private to this call.
 */
export function matmul_rows(a: usize, packed: usize, c: usize, m: i32, k: i32, n: i32, transA: i32, rowStart: i32, rowEnd: i32, scratch: usize): void {
  matmul_block(a, packed, c, m, k, n, transA, rowStart, rowEnd, 0, n, scratch);
}

/**
 * Computes the block rows [rowStart, rowEnd) x columns [colStart, colEnd) of C (column bounds widened
 * to whole NR panels, clamped to n). The thread pool splits C by columns: each thread then reads only
 * its own panels of packed B, half the bytes per k block, which stay in its private L2 instead of both
 * threads streaming all of B from the shared L3. Same bits for any split. Scratch as matmul_rows.
 */
export function matmul_block(a: usize, packed: usize, c: usize, m: i32, k: i32, n: i32, transA: i32, rowStart: i32, rowEnd: i32, colStart: i32, colEnd: i32, scratch: usize): void {
  rowStart = max(rowStart, 0);
  rowEnd = min(rowEnd, m);
  const jp0 = max(colStart, 0) / NR;
  const jp1 = (min(colEnd, n) + NR - 1) / NR;
  if (rowStart >= rowEnd || n <= 0 || jp0 >= jp1) return;
  const ldc = <usize>n << 2;
  if (k <= 0) { // empty sum: +0
    for (let i = rowStart; i < rowEnd; i++) {
      for (let j = jp0 * NR, e = min(jp1 * NR, n); j < e; j++) store<f32>(c + <usize>i * ldc + (<usize>j << 2), 0);
    }
    return;
  }
  const ap = scratch;
  const tile = scratch + <usize>rowBlockCap(m) * <usize>min(k, KC) * 4;
  const slot = tile + <usize>(MR * NR * 4);
  const panelBytes = <usize>k * <usize>(NR * 4);
  // Equal k blocks (k = 257 gives 129 + 128, not 256 + 1): each block costs a pass over C.
  const kBlocks = (k + KC - 1) / KC;
  const kStep = (k + kBlocks - 1) / kBlocks;
  for (let pc = 0; pc < k; pc += kStep) {
    const kc = min(kStep, k - pc);
    const accumulate = pc > 0;
    // Column chunks of at most NCP panels: the chunk's slice of packed B (kc x 512 x 4 = 512 KiB)
    // stays in L2 while every row block passes over it; A is packed again per chunk (cheap).
    for (let jc = jp0; jc < jp1; jc += NCP) {
      const jcEnd = min(jc + NCP, jp1);
      for (let ic = rowStart; ic < rowEnd; ic += MC) {
        const mc = min(MC, rowEnd - ic);
        packA(a, ap, m, k, transA, ic, mc, pc, kc);
        for (let jp = jc; jp < jcEnd; jp++) {
          const j0 = jp * NR;
          const w = min(NR, n - j0);
          const bp = packed + <usize>jp * panelBytes + (<usize>(pc * NR) << 2);
          for (let ir = 0; ir < mc; ir += MR) {
            const h = min(MR, mc - ir);
            const cp = c + <usize>(ic + ir) * ldc + (<usize>j0 << 2);
            const app = ap + <usize>ir * <usize>kc * 4;
            if (h == MR && w == NR) {
              microTile(app, bp, cp, ldc, kc, accumulate, slot);
            } else {
              // Edge tile: run the full tile on a copy; padded rows/columns hold zeros and are dropped.
              for (let r = 0; r < MR; r++) {
                for (let q = 0; q < NR; q++) {
                  const v: f32 = accumulate && r < h && q < w ? load<f32>(cp + <usize>r * ldc + (<usize>q << 2)) : 0;
                  store<f32>(tile + (<usize>(r * NR + q) << 2), v);
                }
              }
              microTile(app, bp, tile, NR * 4, kc, accumulate, slot);
              for (let r = 0; r < h; r++) {
                for (let q = 0; q < w; q++) store<f32>(cp + <usize>r * ldc + (<usize>q << 2), load<f32>(tile + (<usize>(r * NR + q) << 2)));
              }
            }
          }
        }
      }
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Micro-kernel: the MR×NR tile of C at `c` (row stride ldc bytes) gets kc more steps of
// c = c + a·b from one packed A panel (`ap`) and one packed B panel slice (`bp`). Starts from the
// stored tile when `accumulate`, else from +0. `slot`: 16 scratch bytes private to the caller.
//
// The pointers go through `slot` in memory on purpose. V8 must zero-extend a wasm address to 64 bits
// before using it; for a function parameter it cannot prove the upper half is zero, so the loop pays a
// `movl` per pointer per step, while a value loaded by i32.load is known to be zero-extended. Likewise
// re-reading c and ldc after the loop keeps V8 from holding the five C row addresses in registers
// through it, which frees registers for the splat addresses (no `lea` per row per step). Together:
// 31 instead of 37 instructions per step, 10-15% faster (measured, Node 20 / V8 11.3; the scalar
// kernels use the same trick for ~10%). Other engines just pay a few stores and loads per call.

function microTile(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, accumulate: bool, slot: usize): void {
  if (ASC_FEATURE_SIMD) {
    const z = f32x4.splat(0);
    let c00 = z, c01 = z, c10 = z, c11 = z, c20 = z, c21 = z, c30 = z, c31 = z, c40 = z, c41 = z;
    if (accumulate) {
      c00 = v128.load(c); c01 = v128.load(c, 16);
      c10 = v128.load(c + ldc); c11 = v128.load(c + ldc, 16);
      c20 = v128.load(c + 2 * ldc); c21 = v128.load(c + 2 * ldc, 16);
      c30 = v128.load(c + 3 * ldc); c31 = v128.load(c + 3 * ldc, 16);
      c40 = v128.load(c + 4 * ldc); c41 = v128.load(c + 4 * ldc, 16);
    }
    // One step per iteration, ended by the B pointer: unrolling k makes V8 hoist the next step's loads
    // above this step's arithmetic and spill accumulators (measured 30-50% slower).
    const end = bp + <usize>kc * (NR * 4);
    store<usize>(slot, ap); store<usize>(slot, bp, 4); store<usize>(slot, c, 8); store<usize>(slot, ldc, 12);
    ap = load<usize>(slot); bp = load<usize>(slot, 4);
    while (bp < end) {
      const b0 = v128.load(bp), b1 = v128.load(bp, 16);
      let a = v128.load32_splat(ap);
      c00 = f32x4.add(c00, f32x4.mul(a, b0)); c01 = f32x4.add(c01, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 4);
      c10 = f32x4.add(c10, f32x4.mul(a, b0)); c11 = f32x4.add(c11, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 8);
      c20 = f32x4.add(c20, f32x4.mul(a, b0)); c21 = f32x4.add(c21, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 12);
      c30 = f32x4.add(c30, f32x4.mul(a, b0)); c31 = f32x4.add(c31, f32x4.mul(a, b1));
      a = v128.load32_splat(ap, 16);
      c40 = f32x4.add(c40, f32x4.mul(a, b0)); c41 = f32x4.add(c41, f32x4.mul(a, b1));
      ap += MR * 4; bp += NR * 4;
    }
    c = load<usize>(slot, 8); ldc = load<usize>(slot, 12);
    v128.store(c, c00); v128.store(c, c01, 16);
    v128.store(c + ldc, c10); v128.store(c + ldc, c11, 16);
    v128.store(c + 2 * ldc, c20); v128.store(c + 2 * ldc, c21, 16);
    v128.store(c + 3 * ldc, c30); v128.store(c + 3 * ldc, c31, 16);
    v128.store(c + 4 * ldc, c40); v128.store(c + 4 * ldc, c41, 16);
  } else {
    // Scalar: 2×4 sub-tiles (8 accumulators fit the registers): rows 0-1, 2-3, then row 4 as a 1×4 strip.
    for (let q: usize = 0; q < <usize>(NR * 4); q += 16) {
      microScalar2x4(ap, bp + q, c + q, ldc, kc, accumulate, slot);
      microScalar2x4(ap + 8, bp + q, c + 2 * ldc + q, ldc, kc, accumulate, slot);
      microScalar1x4(ap + 16, bp + q, c + 4 * ldc + q, kc, accumulate, slot);
    }
  }
}

function microScalar2x4(pa: usize, pb: usize, c0: usize, ldc: usize, kc: i32, accumulate: bool, slot: usize): void {
  const c1 = c0 + ldc;
  let c00: f32 = 0, c01: f32 = 0, c02: f32 = 0, c03: f32 = 0;
  let c10: f32 = 0, c11: f32 = 0, c12: f32 = 0, c13: f32 = 0;
  if (accumulate) {
    c00 = load<f32>(c0); c01 = load<f32>(c0, 4); c02 = load<f32>(c0, 8); c03 = load<f32>(c0, 12);
    c10 = load<f32>(c1); c11 = load<f32>(c1, 4); c12 = load<f32>(c1, 8); c13 = load<f32>(c1, 12);
  }
  const end = pb + <usize>kc * (NR * 4);
  store<usize>(slot, pa); store<usize>(slot, pb, 4);
  pa = load<usize>(slot); pb = load<usize>(slot, 4);
  while (pb < end) {
    const a0 = load<f32>(pa), a1 = load<f32>(pa, 4);
    const b0 = load<f32>(pb), b1 = load<f32>(pb, 4), b2 = load<f32>(pb, 8), b3 = load<f32>(pb, 12);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    pa += MR * 4; pb += NR * 4;
  }
  store<f32>(c0, c00); store<f32>(c0, c01, 4); store<f32>(c0, c02, 8); store<f32>(c0, c03, 12);
  store<f32>(c1, c10); store<f32>(c1, c11, 4); store<f32>(c1, c12, 8); store<f32>(c1, c13, 12);
}

function microScalar1x4(pa: usize, pb: usize, c0: usize, kc: i32, accumulate: bool, slot: usize): void {
  let c00: f32 = 0, c01: f32 = 0, c02: f32 = 0, c03: f32 = 0;
  if (accumulate) {
    c00 = load<f32>(c0); c01 = load<f32>(c0, 4); c02 = load<f32>(c0, 8); c03 = load<f32>(c0, 12);
  }
  const end = pb + <usize>kc * (NR * 4);
  store<usize>(slot, pa); store<usize>(slot, pb, 4);
  pa = load<usize>(slot); pb = load<usize>(slot, 4);
  while (pb < end) {
    const a0 = load<f32>(pa);
    c00 += a0 * load<f32>(pb); c01 += a0 * load<f32>(pb, 4); c02 += a0 * load<f32>(pb, 8); c03 += a0 * load<f32>(pb, 12);
    pa += MR * 4; pb += NR * 4;
  }
  store<f32>(c0, c00); store<f32>(c0, c01, 4); store<f32>(c0, c02, 8); store<f32>(c0, c03, 12);
}
