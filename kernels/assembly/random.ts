// Counter-based randomness: Philox4x32-10 (Salmon et al., SC'11), the generator of Random123, cuRAND and
// JAX. Draw i of a stream is a pure function of (seed, stream, i), so any backend, thread split or replay
// reproduces it. runtime/reference/random.ts is the JS port; the known-answer vectors of Random123's
// tests/kat_vectors are checked by the test suite.
//
// Counter layout for one 128-bit block: [block index low, block index high, stream, tag]
//   tag 0: uniform and raw u32 draws (block b holds draws 4b..4b+3)
//   tag 1 + a: standard-normal pair p, attempt a of the polar method
import { log64, pow2 } from './_math';

const M0: u32 = 0xD2511F53;
const M1: u32 = 0xCD9E8D57;
const W0: u32 = 0x9E3779B9;
const W1: u32 = 0xBB67AE85;

/** One Philox4x32-10 block: writes 4 u32 words to dst. */
export function philox4x32_10(c0: u32, c1: u32, c2: u32, c3: u32, k0: u32, k1: u32, dst: usize): void {
  for (let round = 0; round < 10; round++) {
    const p0 = <u64>M0 * <u64>c0;
    const p1 = <u64>M1 * <u64>c2;
    const hi0 = <u32>(p0 >> 32), lo0 = <u32>p0;
    const hi1 = <u32>(p1 >> 32), lo1 = <u32>p1;
    c0 = hi1 ^ c1 ^ k0;
    c1 = lo1;
    c2 = hi0 ^ c3 ^ k1;
    c3 = lo0;
    k0 += W0;
    k1 += W1;
  }
  store<u32>(dst, c0);
  store<u32>(dst, c1, 4);
  store<u32>(dst, c2, 8);
  store<u32>(dst, c3, 12);
}

/** Raw draw `idx` of (seed, stream) when draws are taken in order: the block is recomputed only when
 *  `idx` starts one (or `first` is set); `scratch` (16 bytes) holds the current block. */
// @ts-ignore: decorator
@inline export function rawDraw(idx: u64, first: bool, seedLo: u32, seedHi: u32, stream: u32, scratch: usize): u32 {
  const word = <i32>(idx & 3);
  if (first || word == 0) {
    const block = idx >> 2;
    philox4x32_10(<u32>block, <u32>(block >> 32), stream, 0, seedLo, seedHi, scratch);
  }
  return load<u32>(scratch + (<usize>word << 2));
}

/** Raw u32 draws offset .. offset+count-1 of (seed, stream) into out (u32[count]).
 *  scratch: 16 bytes. */
export function random_u32(out: usize, count: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u64, scratch: usize): void {
  for (let i = 0; i < count; i++) {
    store<u32>(out + (<usize>i << 2), rawDraw(offset + <u64>i, i == 0, seedLo, seedHi, stream, scratch));
  }
}

/** Uniform f32 draws in [0, 1): the top 24 bits of each raw word times 2^-24 (exact). */
export function random_uniform_f32(out: usize, count: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u64, scratch: usize): void {
  random_u32(out, count, seedLo, seedHi, stream, offset, scratch);
  for (let i = 0; i < count; i++) {
    const p = out + (<usize>i << 2);
    store<f32>(p, <f32>(load<u32>(p) >>> 8) * <f32>5.9604644775390625e-8);
  }
}

// 53-bit uniform in [-1, 1) from two words.
// @ts-ignore: decorator
@inline function signedUnit(a: u32, b: u32): f64 {
  const u = (<f64>(a >>> 5) * 67108864.0 + <f64>(b >>> 6)) * pow2(-53);
  return u + u - 1.0;
}

/** Standard-normal draws (Marsaglia's polar method, computed in f64, rounded once to f32).
 *  Draw i is component i & 1 of pair i >> 1; pair p tries blocks [p, stream, 1 + a] for a = 0..63 until
 *  u^2 + v^2 lies in (0, 1) (P(reject) = 1 - pi/4; 64 rejections in a row, p < 1e-42, give 0).
 *  scratch: 16 bytes. */
export function random_normal_f32(out: usize, count: i32, seedLo: u32, seedHi: u32, stream: u32, offset: u64, scratch: usize): void {
  let i = 0;
  while (i < count) {
    const idx = offset + <u64>i;
    const pair = idx >> 1;
    let z0: f64 = 0.0, z1: f64 = 0.0;
    for (let a: u32 = 0; a < 64; a++) {
      philox4x32_10(<u32>pair, <u32>(pair >> 32), stream, 1 + a, seedLo, seedHi, scratch);
      const u = signedUnit(load<u32>(scratch), load<u32>(scratch, 4));
      const v = signedUnit(load<u32>(scratch, 8), load<u32>(scratch, 12));
      const s = u * u + v * v;
      if (s > 0.0 && s < 1.0) {
        const f = Math.sqrt(-2.0 * log64(s) / s);
        z0 = u * f;
        z1 = v * f;
        break;
      }
    }
    if ((idx & 1) == 0) {
      store<f32>(out + (<usize>i << 2), <f32>z0);
      i++;
      if (i < count) { store<f32>(out + (<usize>i << 2), <f32>z1); i++; }
    } else {
      store<f32>(out + (<usize>i << 2), <f32>z1);
      i++;
    }
  }
}
