// f32 vector kernels. Each documents its evaluation order; runtime/reference/vector.ts defines the bits.
// SIMD code vectorises only across independent outputs or across the documented lanes, so the scalar
// build and the SIMD build round the same operations in the same order.
import { expf, logf } from './_math';

// ---------------------------------------------------------------------------------------------------
// dot: 16 lanes. Element i goes to lane i % 16; each lane sums fround(x*y) in ascending i starting at +0;
// lanes combine as c_l = (s_l + s_{l+8}) + (s_{l+4} + s_{l+12}) for l < 4, result (c0 + c2) + (c1 + c3).

export function dot_f32(x: usize, y: usize, n: i32, out: usize): void {
  store<f32>(out, dot(x, y, n));
}

function dot(x: usize, y: usize, n: i32): f32 {
  const full = n & ~15;
  let c0: f32, c1: f32, c2: f32, c3: f32;
  if (ASC_FEATURE_SIMD) {
    let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0), a3 = f32x4.splat(0);
    for (let i = 0; i < full; i += 16) {
      const o = <usize>i << 2;
      a0 = f32x4.add(a0, f32x4.mul(v128.load(x + o), v128.load(y + o)));
      a1 = f32x4.add(a1, f32x4.mul(v128.load(x + o, 16), v128.load(y + o, 16)));
      a2 = f32x4.add(a2, f32x4.mul(v128.load(x + o, 32), v128.load(y + o, 32)));
      a3 = f32x4.add(a3, f32x4.mul(v128.load(x + o, 48), v128.load(y + o, 48)));
    }
    // tail: lane i % 16
    for (let i = full; i < n; i++) {
      const p = fmul(load<f32>(x + (<usize>i << 2)), load<f32>(y + (<usize>i << 2)));
      const l = i & 15;
      const q = l >> 2, r = l & 3;
      if (q == 0) a0 = addLane(a0, r, p);
      else if (q == 1) a1 = addLane(a1, r, p);
      else if (q == 2) a2 = addLane(a2, r, p);
      else a3 = addLane(a3, r, p);
    }
    const c = f32x4.add(f32x4.add(a0, a2), f32x4.add(a1, a3));
    c0 = f32x4.extract_lane(c, 0); c1 = f32x4.extract_lane(c, 1);
    c2 = f32x4.extract_lane(c, 2); c3 = f32x4.extract_lane(c, 3);
  } else {
    let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0, s3: f32 = 0, s4: f32 = 0, s5: f32 = 0, s6: f32 = 0, s7: f32 = 0;
    let s8: f32 = 0, s9: f32 = 0, s10: f32 = 0, s11: f32 = 0, s12: f32 = 0, s13: f32 = 0, s14: f32 = 0, s15: f32 = 0;
    for (let i = 0; i < full; i += 16) {
      const px = x + (<usize>i << 2), py = y + (<usize>i << 2);
      s0 += load<f32>(px) * load<f32>(py); s1 += load<f32>(px, 4) * load<f32>(py, 4);
      s2 += load<f32>(px, 8) * load<f32>(py, 8); s3 += load<f32>(px, 12) * load<f32>(py, 12);
      s4 += load<f32>(px, 16) * load<f32>(py, 16); s5 += load<f32>(px, 20) * load<f32>(py, 20);
      s6 += load<f32>(px, 24) * load<f32>(py, 24); s7 += load<f32>(px, 28) * load<f32>(py, 28);
      s8 += load<f32>(px, 32) * load<f32>(py, 32); s9 += load<f32>(px, 36) * load<f32>(py, 36);
      s10 += load<f32>(px, 40) * load<f32>(py, 40); s11 += load<f32>(px, 44) * load<f32>(py, 44);
      s12 += load<f32>(px, 48) * load<f32>(py, 48); s13 += load<f32>(px, 52) * load<f32>(py, 52);
      s14 += load<f32>(px, 56) * load<f32>(py, 56); s15 += load<f32>(px, 60) * load<f32>(py, 60);
    }
    for (let i = full; i < n; i++) {
      const p = load<f32>(x + (<usize>i << 2)) * load<f32>(y + (<usize>i << 2));
      switch (i & 15) {
        case 0: s0 += p; break; case 1: s1 += p; break; case 2: s2 += p; break; case 3: s3 += p; break;
        case 4: s4 += p; break; case 5: s5 += p; break; case 6: s6 += p; break; case 7: s7 += p; break;
        case 8: s8 += p; break; case 9: s9 += p; break; case 10: s10 += p; break; case 11: s11 += p; break;
        case 12: s12 += p; break; case 13: s13 += p; break; case 14: s14 += p; break; default: s15 += p;
      }
    }
    c0 = (s0 + s8) + (s4 + s12); c1 = (s1 + s9) + (s5 + s13);
    c2 = (s2 + s10) + (s6 + s14); c3 = (s3 + s11) + (s7 + s15);
  }
  return (c0 + c2) + (c1 + c3);
}

// @ts-ignore: decorator
@inline function fmul(a: f32, b: f32): f32 { return a * b; }

// @ts-ignore: decorator
@inline function addLane(v: v128, lane: i32, p: f32): v128 {
  if (lane == 0) return f32x4.replace_lane(v, 0, f32x4.extract_lane(v, 0) + p);
  if (lane == 1) return f32x4.replace_lane(v, 1, f32x4.extract_lane(v, 1) + p);
  if (lane == 2) return f32x4.replace_lane(v, 2, f32x4.extract_lane(v, 2) + p);
  return f32x4.replace_lane(v, 3, f32x4.extract_lane(v, 3) + p);
}

// ---------------------------------------------------------------------------------------------------
// Sum of squares in f64: 8 lanes, element i to lane i % 8 (squares of f32 values are exact in f64);
// combine ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7)).

export function sumsq_f64(x: usize, n: i32): f64 {
  const full = n & ~7;
  let l0: f64 = 0, l1: f64 = 0, l2: f64 = 0, l3: f64 = 0, l4: f64 = 0, l5: f64 = 0, l6: f64 = 0, l7: f64 = 0;
  if (ASC_FEATURE_SIMD) {
    let a0 = f64x2.splat(0), a1 = f64x2.splat(0), a2 = f64x2.splat(0), a3 = f64x2.splat(0);
    for (let i = 0; i < full; i += 8) {
      const p = x + (<usize>i << 2);
      const v = v128.load(p), w = v128.load(p, 16);
      const v0 = f64x2.promote_low_f32x4(v), v1 = f64x2.promote_low_f32x4(i32x4.shuffle(v, v, 2, 3, 0, 1));
      const w0 = f64x2.promote_low_f32x4(w), w1 = f64x2.promote_low_f32x4(i32x4.shuffle(w, w, 2, 3, 0, 1));
      a0 = f64x2.add(a0, f64x2.mul(v0, v0));
      a1 = f64x2.add(a1, f64x2.mul(v1, v1));
      a2 = f64x2.add(a2, f64x2.mul(w0, w0));
      a3 = f64x2.add(a3, f64x2.mul(w1, w1));
    }
    l0 = f64x2.extract_lane(a0, 0); l1 = f64x2.extract_lane(a0, 1);
    l2 = f64x2.extract_lane(a1, 0); l3 = f64x2.extract_lane(a1, 1);
    l4 = f64x2.extract_lane(a2, 0); l5 = f64x2.extract_lane(a2, 1);
    l6 = f64x2.extract_lane(a3, 0); l7 = f64x2.extract_lane(a3, 1);
  } else {
    for (let i = 0; i < full; i += 8) {
      const p = x + (<usize>i << 2);
      const v0 = <f64>load<f32>(p), v1 = <f64>load<f32>(p, 4), v2 = <f64>load<f32>(p, 8), v3 = <f64>load<f32>(p, 12);
      const v4 = <f64>load<f32>(p, 16), v5 = <f64>load<f32>(p, 20), v6 = <f64>load<f32>(p, 24), v7 = <f64>load<f32>(p, 28);
      l0 += v0 * v0; l1 += v1 * v1; l2 += v2 * v2; l3 += v3 * v3;
      l4 += v4 * v4; l5 += v5 * v5; l6 += v6 * v6; l7 += v7 * v7;
    }
  }
  for (let i = full; i < n; i++) {
    const v = <f64>load<f32>(x + (<usize>i << 2));
    const q = v * v;
    switch (i & 7) {
      case 0: l0 += q; break; case 1: l1 += q; break; case 2: l2 += q; break; case 3: l3 += q; break;
      case 4: l4 += q; break; case 5: l5 += q; break; case 6: l6 += q; break; default: l7 += q;
    }
  }
  return ((l0 + l4) + (l2 + l6)) + ((l1 + l5) + (l3 + l7));
}

/** L2 norm: sqrt of sumsq_f64, rounded once to f32, stored at out. */
export function l2norm_f32(x: usize, n: i32, out: usize): void {
  store<f32>(out, <f32>Math.sqrt(sumsq_f64(x, n)));
}

// ---------------------------------------------------------------------------------------------------
// Elementwise: scale y = fround(a*x); axpy out = fround(fround(a*x) + y) (out may alias y).

export function scale_f32(x: usize, out: usize, n: i32, a: f32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.mul(v128.load(x + o), va));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, load<f32>(x + o) * a);
  }
}

export function axpy_f32(a: f32, x: usize, y: usize, out: usize, n: i32): void {
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    const va = f32x4.splat(a);
    for (; i + 4 <= n; i += 4) {
      const o = <usize>i << 2;
      v128.store(out + o, f32x4.add(f32x4.mul(va, v128.load(x + o)), v128.load(y + o)));
    }
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(out + o, a * load<f32>(x + o) + load<f32>(y + o));
  }
}

// ---------------------------------------------------------------------------------------------------
// gemv. transA = 0: A is m x n, y (m) with y_i = fold over j ascending of fround(y + fround(A_ij x_j)).
// transA = 1: y (n) = A^T x with y_j = fold over i ascending of fround(y + fround(A_ij x_i)).
// Both start at +0. The plain case vectorises across 4 rows with a 4x4 in-register transpose.

export function gemv_f32(a: usize, x: usize, y: usize, m: i32, n: i32, transA: i32): void {
  const rowBytes = <usize>n << 2;
  if (transA) {
    // y_j accumulates over rows in order: vectorise across j.
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      for (; j + 8 <= n; j += 8) {
        let acc0 = f32x4.splat(0), acc1 = f32x4.splat(0);
        let p = a + (<usize>j << 2);
        for (let i = 0; i < m; i++) {
          const xi = v128.load32_splat(x + (<usize>i << 2));
          acc0 = f32x4.add(acc0, f32x4.mul(v128.load(p), xi));
          acc1 = f32x4.add(acc1, f32x4.mul(v128.load(p, 16), xi));
          p += rowBytes;
        }
        v128.store(y + (<usize>j << 2), acc0);
        v128.store(y + (<usize>j << 2), acc1, 16);
      }
    }
    for (; j < n; j++) {
      let acc: f32 = 0;
      let p = a + (<usize>j << 2);
      for (let i = 0; i < m; i++) { acc += load<f32>(p) * load<f32>(x + (<usize>i << 2)); p += rowBytes; }
      store<f32>(y + (<usize>j << 2), acc);
    }
    return;
  }
  let i = 0;
  if (ASC_FEATURE_SIMD) {
    for (; i + 4 <= m; i += 4) {
      const r0 = a + <usize>i * rowBytes, r1 = r0 + rowBytes, r2 = r1 + rowBytes, r3 = r2 + rowBytes;
      let acc = f32x4.splat(0);
      let j = 0;
      for (; j + 4 <= n; j += 4) {
        const o = <usize>j << 2;
        const v0 = v128.load(r0 + o), v1 = v128.load(r1 + o), v2 = v128.load(r2 + o), v3 = v128.load(r3 + o);
        // transpose: column q holds A[i..i+3][j+q]
        const t0 = i32x4.shuffle(v0, v1, 0, 4, 1, 5), t1 = i32x4.shuffle(v2, v3, 0, 4, 1, 5);
        const t2 = i32x4.shuffle(v0, v1, 2, 6, 3, 7), t3 = i32x4.shuffle(v2, v3, 2, 6, 3, 7);
        const c0 = i64x2.shuffle(t0, t1, 0, 2), c1 = i64x2.shuffle(t0, t1, 1, 3);
        const c2 = i64x2.shuffle(t2, t3, 0, 2), c3 = i64x2.shuffle(t2, t3, 1, 3);
        acc = f32x4.add(acc, f32x4.mul(c0, v128.load32_splat(x + o)));
        acc = f32x4.add(acc, f32x4.mul(c1, v128.load32_splat(x + o + 4)));
        acc = f32x4.add(acc, f32x4.mul(c2, v128.load32_splat(x + o + 8)));
        acc = f32x4.add(acc, f32x4.mul(c3, v128.load32_splat(x + o + 12)));
      }
      for (; j < n; j++) {
        const o = <usize>j << 2;
        let col = f32x4.splat(load<f32>(r0 + o));
        col = f32x4.replace_lane(col, 1, load<f32>(r1 + o));
        col = f32x4.replace_lane(col, 2, load<f32>(r2 + o));
        col = f32x4.replace_lane(col, 3, load<f32>(r3 + o));
        acc = f32x4.add(acc, f32x4.mul(col, v128.load32_splat(x + o)));
      }
      v128.store(y + (<usize>i << 2), acc);
    }
  }
  for (; i < m; i++) {
    const r = a + <usize>i * rowBytes;
    let acc: f32 = 0;
    for (let j = 0; j < n; j++) acc += load<f32>(r + (<usize>j << 2)) * load<f32>(x + (<usize>j << 2));
    store<f32>(y + (<usize>i << 2), acc);
  }
}

// ---------------------------------------------------------------------------------------------------
// bias + activation over a rows x cols matrix: out_ij = fround(x_ij + b_j), then ReLU = max(v, +0) with
// IEEE maximum semantics (NaN propagates; -0 becomes +0) when relu != 0.

export function bias_act_f32(x: usize, b: usize, out: usize, rows: i32, cols: i32, relu: i32): void {
  const rowBytes = <usize>cols << 2;
  for (let i = 0; i < rows; i++) {
    const px = x + <usize>i * rowBytes, po = out + <usize>i * rowBytes;
    let j = 0;
    if (ASC_FEATURE_SIMD) {
      const zero = f32x4.splat(0);
      for (; j + 4 <= cols; j += 4) {
        const o = <usize>j << 2;
        let v = f32x4.add(v128.load(px + o), v128.load(b + o));
        if (relu) v = f32x4.max(v, zero);
        v128.store(po + o, v);
      }
    }
    for (; j < cols; j++) {
      const o = <usize>j << 2;
      let v = load<f32>(px + o) + load<f32>(b + o);
      if (relu) v = max<f32>(v, 0);
      store<f32>(po + o, v);
    }
  }
}

// ---------------------------------------------------------------------------------------------------
// Softmax + cross-entropy per row of logits (rows x classes), labels i32 in [0, classes):
//   mx = max_j x_j (IEEE maximum, j ascending); e_j = expf(fround(x_j - mx)); s = fold fround(s + e_j)
//   over j ascending from +0; p_j = fround(e_j / s); loss = fround(logf(s) - fround(x_label - mx)).
// probs (rows x classes) and loss (rows) are written.

export function softmax_xent_f32(logits: usize, labels: usize, probs: usize, loss: usize, rows: i32, classes: i32): void {
  const rowBytes = <usize>classes << 2;
  for (let i = 0; i < rows; i++) {
    const px = logits + <usize>i * rowBytes, pp = probs + <usize>i * rowBytes;
    let mx = load<f32>(px);
    for (let j = 1; j < classes; j++) mx = max<f32>(mx, load<f32>(px + (<usize>j << 2)));
    let s: f32 = 0;
    for (let j = 0; j < classes; j++) {
      const e = expf(load<f32>(px + (<usize>j << 2)) - mx);
      store<f32>(pp + (<usize>j << 2), e);
      s += e;
    }
    for (let j = 0; j < classes; j++) {
      const o = pp + (<usize>j << 2);
      store<f32>(o, load<f32>(o) / s);
    }
    const label = load<i32>(labels + (<usize>i << 2));
    store<f32>(loss + (<usize>i << 2), logf(s) - (load<f32>(px + (<usize>label << 2)) - mx));
  }
}
