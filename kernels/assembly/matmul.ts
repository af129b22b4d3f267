// f32 matrix multiply kernels: C = op(A) · op(B), bit-exact with runtime/reference/matmul.ts.
// EXPERIMENT TEMPLATE: 3 3 128 120 apre

const MR: i32 = 3;
const NR: i32 = 12;
const KC: i32 = 128;
const MC: i32 = 120;
const A_SPLAT: bool = true;
// Bytes per packed A value: the SIMD build may store each value pre-splatted (16 B).
const AS: usize = ASC_FEATURE_SIMD && A_SPLAT ? 16 : 4;

// @ts-ignore: decorator
@inline function putA(d: usize, v: f32): void {
  if (ASC_FEATURE_SIMD && A_SPLAT) v128.store(d, f32x4.splat(v)); else store<f32>(d, v);
}

// @ts-ignore: decorator
@inline function align64(x: usize): usize { return (x + 63) & ~<usize>63; }

export function matmul_col_align(): i32 { return NR; }
export function matmul_row_align(): i32 { return MR; }

export function matmul_packed_b_bytes(k: i32, n: i32): usize {
  if (k <= 0 || n <= 0) return 0;
  return <usize>((n + NR - 1) / NR) * <usize>k * <usize>(NR * 4);
}

export function matmul_rows_scratch_bytes(m: i32, k: i32, n: i32, transA: i32): usize {
  if (m <= 0 || k <= 0 || n <= 0) return 0;
  let rows = (min(m, MC) + MR - 1) / MR * MR;
  return <usize>rows * <usize>min(k, KC) * AS + <usize>(MR * NR * 4);
}

export function matmul_scratch_bytes(m: i32, k: i32, n: i32, transA: i32, transB: i32): usize {
  return align64(matmul_packed_b_bytes(k, n)) + matmul_rows_scratch_bytes(m, k, n, transA);
}

export function matmul_pack_b(b: usize, packed: usize, k: i32, n: i32, transB: i32, colStart: i32, colEnd: i32): void {
  if (k <= 0 || n <= 0) return;
  let jp0 = max(colStart, 0) / NR;
  let jp1 = (min(colEnd, n) + NR - 1) / NR;
  let panelBytes = <usize>k * <usize>(NR * 4);
  for (let jp = jp0; jp < jp1; jp++) {
    let j0 = jp * NR;
    let w = min(NR, n - j0);
    let dst = packed + <usize>jp * panelBytes;
    if (transB) packPanelT(b + (<usize>j0 * <usize>k << 2), dst, k, w);
    else packPanelN(b + (<usize>j0 << 2), dst, k, n, w);
  }
}

function packPanelN(src: usize, dst: usize, k: i32, n: i32, w: i32): void {
  let ldb = <usize>n << 2;
  if (w == NR) {
    for (let p = 0; p < k; p++) {
      if (ASC_FEATURE_SIMD) {
        for (let q = 0; q < NR; q += 4) v128.store(dst + (<usize>q << 2), v128.load(src + (<usize>q << 2)));
      } else {
        for (let q = 0; q < NR; q++) store<f32>(dst + (<usize>q << 2), load<f32>(src + (<usize>q << 2)));
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

function packPanelT(src: usize, dst: usize, k: i32, w: i32): void {
  let ldb = <usize>k << 2;
  let p = 0;
  if (ASC_FEATURE_SIMD) {
    if (w == NR) {
      for (; p <= k - 4; p += 4) {
        for (let q = 0; q < NR; q += 4) {
          let s = src + <usize>q * ldb + (<usize>p << 2);
          let r0 = v128.load(s), r1 = v128.load(s + ldb), r2 = v128.load(s + 2 * ldb), r3 = v128.load(s + 3 * ldb);
          let t0 = v128.shuffle<f32>(r0, r1, 0, 4, 1, 5);
          let t1 = v128.shuffle<f32>(r2, r3, 0, 4, 1, 5);
          let t2 = v128.shuffle<f32>(r0, r1, 2, 6, 3, 7);
          let t3 = v128.shuffle<f32>(r2, r3, 2, 6, 3, 7);
          let d = dst + (<usize>p * NR + q << 2);
          v128.store(d, v128.shuffle<f32>(t0, t1, 0, 1, 4, 5));
          v128.store(d, v128.shuffle<f32>(t0, t1, 2, 3, 6, 7), NR * 4);
          v128.store(d, v128.shuffle<f32>(t2, t3, 0, 1, 4, 5), NR * 8);
          v128.store(d, v128.shuffle<f32>(t2, t3, 2, 3, 6, 7), NR * 12);
        }
      }
    }
  }
  for (; p < k; p++) {
    let d = dst + (<usize>p * NR << 2);
    let s = src + (<usize>p << 2);
    for (let q = 0; q < NR; q++) store<f32>(d + (<usize>q << 2), q < w ? load<f32>(s + <usize>q * ldb) : 0);
  }
}

function packA(a: usize, dst: usize, m: i32, k: i32, transA: i32, i0: i32, mc: i32, pc: i32, kc: i32): void {
  for (let ir = 0; ir < mc; ir += MR) {
    let h = min(MR, mc - ir);
    if (transA) {
      let s = a + (<usize>pc * <usize>m + <usize>(i0 + ir) << 2);
      let lda = <usize>m << 2;
      let d = dst;
      for (let p = 0; p < kc; p++) {
        for (let r = 0; r < MR; r++) putA(d + <usize>r * AS, r < h ? load<f32>(s + (<usize>r << 2)) : 0);
        s += lda; d += <usize>MR * AS;
      }
    } else {
      for (let r = 0; r < MR; r++) {
        let d = dst + <usize>r * AS;
        if (r < h) {
          let s = a + (<usize>(i0 + ir + r) * <usize>k + <usize>pc << 2);
          for (let p = 0; p < kc; p++) { putA(d, load<f32>(s)); s += 4; d += <usize>MR * AS; }
        } else {
          for (let p = 0; p < kc; p++) { putA(d, 0); d += <usize>MR * AS; }
        }
      }
    }
    dst += <usize>kc * <usize>MR * AS;
  }
}

function kernelSimd(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, accumulate: bool): void {
  let z = f32x4.splat(0);
  let c00 = z, c01 = z, c02 = z, c10 = z, c11 = z, c12 = z, c20 = z, c21 = z, c22 = z;
  if (accumulate) {
    c00 = v128.load(c);
    c01 = v128.load(c, 16);
    c02 = v128.load(c, 32);
    c10 = v128.load(c + ldc);
    c11 = v128.load(c + ldc, 16);
    c12 = v128.load(c + ldc, 32);
    c20 = v128.load(c + 2 * ldc);
    c21 = v128.load(c + 2 * ldc, 16);
    c22 = v128.load(c + 2 * ldc, 32);
  }
  let end = bp + (<usize>kc * 48);
  while (bp < end) {
    let b0_0 = v128.load(bp, 0);
    let b1_0 = v128.load(bp, 16);
    let b2_0 = v128.load(bp, 32);
    let a0_0 = v128.load(ap, 0);
    c00 = f32x4.add(c00, f32x4.mul(a0_0, b0_0));
    c01 = f32x4.add(c01, f32x4.mul(a0_0, b1_0));
    c02 = f32x4.add(c02, f32x4.mul(a0_0, b2_0));
    let a1_0 = v128.load(ap, 16);
    c10 = f32x4.add(c10, f32x4.mul(a1_0, b0_0));
    c11 = f32x4.add(c11, f32x4.mul(a1_0, b1_0));
    c12 = f32x4.add(c12, f32x4.mul(a1_0, b2_0));
    let a2_0 = v128.load(ap, 32);
    c20 = f32x4.add(c20, f32x4.mul(a2_0, b0_0));
    c21 = f32x4.add(c21, f32x4.mul(a2_0, b1_0));
    c22 = f32x4.add(c22, f32x4.mul(a2_0, b2_0));
    ap += 48; bp += 48;
  }
  v128.store(c, c00);
  v128.store(c, c01, 16);
  v128.store(c, c02, 32);
  v128.store(c + ldc, c10);
  v128.store(c + ldc, c11, 16);
  v128.store(c + ldc, c12, 32);
  v128.store(c + 2 * ldc, c20);
  v128.store(c + 2 * ldc, c21, 16);
  v128.store(c + 2 * ldc, c22, 32);
}

function kernel(ap: usize, bp: usize, c: usize, ldc: usize, kc: i32, accumulate: bool): void {
  if (ASC_FEATURE_SIMD) {
    kernelSimd(ap, bp, c, ldc, kc, accumulate);
  } else {
    for (let q = 0; q < NR; q += 4) {
      let r = 0;
      for (; r + 1 < MR; r += 2) kernelScalar2x4(ap + (<usize>r << 2), bp + (<usize>q << 2), c + <usize>r * ldc + (<usize>q << 2), ldc, kc, accumulate);
      if (r < MR) kernelScalar1x4(ap + (<usize>r << 2), bp + (<usize>q << 2), c + <usize>r * ldc + (<usize>q << 2), kc, accumulate);
    }
  }
}

function kernelScalar2x4(pa: usize, pb: usize, c0: usize, ldc: usize, kc: i32, accumulate: bool): void {
  let c1 = c0 + ldc;
  let c00: f32 = 0, c01: f32 = 0, c02: f32 = 0, c03: f32 = 0;
  let c10: f32 = 0, c11: f32 = 0, c12: f32 = 0, c13: f32 = 0;
  if (accumulate) {
    c00 = load<f32>(c0); c01 = load<f32>(c0, 4); c02 = load<f32>(c0, 8); c03 = load<f32>(c0, 12);
    c10 = load<f32>(c1); c11 = load<f32>(c1, 4); c12 = load<f32>(c1, 8); c13 = load<f32>(c1, 12);
  }
  for (let p = 0; p < kc; p++) {
    let a0 = load<f32>(pa), a1 = load<f32>(pa, 4);
    let b0 = load<f32>(pb), b1 = load<f32>(pb, 4), b2 = load<f32>(pb, 8), b3 = load<f32>(pb, 12);
    c00 += a0 * b0; c01 += a0 * b1; c02 += a0 * b2; c03 += a0 * b3;
    c10 += a1 * b0; c11 += a1 * b1; c12 += a1 * b2; c13 += a1 * b3;
    pa += <usize>MR * 4; pb += NR * 4;
  }
  store<f32>(c0, c00); store<f32>(c0, c01, 4); store<f32>(c0, c02, 8); store<f32>(c0, c03, 12);
  store<f32>(c1, c10); store<f32>(c1, c11, 4); store<f32>(c1, c12, 8); store<f32>(c1, c13, 12);
}

function kernelScalar1x4(pa: usize, pb: usize, c0: usize, kc: i32, accumulate: bool): void {
  let c00: f32 = 0, c01: f32 = 0, c02: f32 = 0, c03: f32 = 0;
  if (accumulate) { c00 = load<f32>(c0); c01 = load<f32>(c0, 4); c02 = load<f32>(c0, 8); c03 = load<f32>(c0, 12); }
  for (let p = 0; p < kc; p++) {
    let a0 = load<f32>(pa);
    c00 += a0 * load<f32>(pb); c01 += a0 * load<f32>(pb, 4); c02 += a0 * load<f32>(pb, 8); c03 += a0 * load<f32>(pb, 12);
    pa += <usize>MR * 4; pb += NR * 4;
  }
  store<f32>(c0, c00); store<f32>(c0, c01, 4); store<f32>(c0, c02, 8); store<f32>(c0, c03, 12);
}

export function matmul_rows(a: usize, packed: usize, c: usize, m: i32, k: i32, n: i32, transA: i32, rowStart: i32, rowEnd: i32, scratch: usize): void {
  rowStart = max(rowStart, 0);
  rowEnd = min(rowEnd, m);
  if (rowStart >= rowEnd || n <= 0) return;
  let ldc = <usize>n << 2;
  if (k <= 0) {
    let p = c + <usize>rowStart * ldc, e = c + <usize>rowEnd * ldc;
    for (; p < e; p += 4) store<f32>(p, 0);
    return;
  }
  let ap = scratch;
  let rowsCap = (min(m, MC) + MR - 1) / MR * MR;
  let tile = scratch + <usize>rowsCap * <usize>min(k, KC) * AS;
  let np = (n + NR - 1) / NR;
  let panelBytes = <usize>k * <usize>(NR * 4);
  for (let pc = 0; pc < k; pc += KC) {
    let kc = min(KC, k - pc);
    let acc = pc > 0;
    for (let ic = rowStart; ic < rowEnd; ic += MC) {
      let mc = min(MC, rowEnd - ic);
      packA(a, ap, m, k, transA, ic, mc, pc, kc);
      for (let jp = 0; jp < np; jp++) {
        let j0 = jp * NR;
        let w = min(NR, n - j0);
        let bp = packed + <usize>jp * panelBytes + (<usize>pc * NR << 2);
        for (let ir = 0; ir < mc; ir += MR) {
          let h = min(MR, mc - ir);
          let cp = c + <usize>(ic + ir) * ldc + (<usize>j0 << 2);
          let app = ap + <usize>ir * <usize>kc * AS;
          if (h == MR && w == NR) {
            kernel(app, bp, cp, ldc, kc, acc);
          } else {
            for (let r = 0; r < MR; r++) for (let q = 0; q < NR; q++)
              store<f32>(tile + (<usize>(r * NR + q) << 2), acc && r < h && q < w ? load<f32>(cp + <usize>r * ldc + (<usize>q << 2)) : 0);
            kernel(app, bp, tile, NR * 4, kc, acc);
            for (let r = 0; r < h; r++) for (let q = 0; q < w; q++)
              store<f32>(cp + <usize>r * ldc + (<usize>q << 2), load<f32>(tile + (<usize>(r * NR + q) << 2)));
          }
        }
      }
    }
  }
}

export function matmul(a: usize, b: usize, c: usize, m: i32, k: i32, n: i32, transA: i32, transB: i32, scratch: usize): void {
  let packed = scratch;
  matmul_pack_b(b, packed, k, n, transB, 0, n);
  matmul_rows(a, packed, c, m, k, n, transA, 0, m, scratch + align64(matmul_packed_b_bytes(k, n)));
}
