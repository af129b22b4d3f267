/**
 * JS port of kernels/assembly/random.ts: Philox4x32-10 and the uniform / normal draws built on it.
 * Counter layout [block low, block high, stream, tag]; tag 0 for raw and uniform draws, 1 + attempt for
 * the normal pairs of the polar method.
 * @module
 */
import { log64, pow2 } from './math.js';

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;

/** High and low 32-bit halves of a 32x32 -> 64-bit unsigned product, via 16-bit limbs (exact in f64). */
function mulhilo(a: number, b: number, out: Uint32Array, hiIdx: number, loIdx: number): void {
  const aL = a & 0xffff, aH = a >>> 16, bL = b & 0xffff, bH = b >>> 16;
  const ll = aL * bL, lh = aL * bH, hl = aH * bL, hh = aH * bH;
  const mid = (ll >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  out[loIdx] = ((mid & 0xffff) << 16) | (ll & 0xffff);
  out[hiIdx] = hh + (lh >>> 16) + (hl >>> 16) + Math.floor(mid / 65536);
}

const tmp = new Uint32Array(4);

/** One Philox4x32-10 block for counter (c0..c3) and key (k0, k1): four u32 words. */
export function philox4x32_10(c0: number, c1: number, c2: number, c3: number, k0: number, k1: number, out: Uint32Array = new Uint32Array(4)): Uint32Array {
  c0 >>>= 0; c1 >>>= 0; c2 >>>= 0; c3 >>>= 0; k0 >>>= 0; k1 >>>= 0;
  for (let round = 0; round < 10; round++) {
    mulhilo(M0, c0, tmp, 0, 1); // hi0, lo0
    mulhilo(M1, c2, tmp, 2, 3); // hi1, lo1
    const hi0 = tmp[0]!, lo0 = tmp[1]!, hi1 = tmp[2]!, lo1 = tmp[3]!;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0; out[1] = c1; out[2] = c2; out[3] = c3;
  return out;
}

/** Where a stream of draws starts: the 64-bit seed as two u32 words, the stream id and the first draw. */
export interface DrawPosition { seedLo: number; seedHi: number; stream: number; offset: number }

function blockOf(idx: number): [number, number] {
  const block = Math.floor(idx / 4);
  return [block >>> 0, Math.floor(block / 4294967296) >>> 0];
}

/** Raw draw `idx` when draws are taken in order: `blk` holds the current block, recomputed only when
 *  `idx` starts one (or `first` is set). Same as rawDraw in kernels/assembly/random.ts. */
export function rawDraw(idx: number, first: boolean, pos: DrawPosition, blk: Uint32Array): number {
  const word = idx % 4;
  if (first || word === 0) {
    const [lo, hi] = blockOf(idx);
    philox4x32_10(lo, hi, pos.stream, 0, pos.seedLo, pos.seedHi, blk);
  }
  return blk[word]!;
}

/** Raw u32 draws offset .. offset+count-1. */
export function randomU32Ref(count: number, pos: DrawPosition): Uint32Array {
  const out = new Uint32Array(count);
  const blk = new Uint32Array(4);
  for (let i = 0; i < count; i++) out[i] = rawDraw(pos.offset + i, i === 0, pos, blk);
  return out;
}

/** Uniform f32 draws in [0, 1): top 24 bits of each raw word times 2^-24. */
export function randomUniformRef(count: number, pos: DrawPosition): Float32Array {
  const raw = randomU32Ref(count, pos);
  const out = new Float32Array(count);
  for (let i = 0; i < count; i++) out[i] = (raw[i]! >>> 8) * 5.9604644775390625e-8;
  return out;
}

function signedUnit(a: number, b: number): number {
  const u = ((a >>> 5) * 67108864.0 + (b >>> 6)) * pow2(-53);
  return u + u - 1.0;
}

/** Standard-normal f32 draws (Marsaglia polar method in f64, rounded once). */
export function randomNormalRef(count: number, pos: DrawPosition): Float32Array {
  const out = new Float32Array(count);
  const blk = new Uint32Array(4);
  let i = 0;
  while (i < count) {
    const idx = pos.offset + i;
    const pair = Math.floor(idx / 2);
    let z0 = 0, z1 = 0;
    for (let a = 0; a < 64; a++) {
      philox4x32_10(pair >>> 0, Math.floor(pair / 4294967296) >>> 0, pos.stream, 1 + a, pos.seedLo, pos.seedHi, blk);
      const u = signedUnit(blk[0]!, blk[1]!);
      const v = signedUnit(blk[2]!, blk[3]!);
      const s = u * u + v * v;
      if (s > 0.0 && s < 1.0) {
        const f = Math.sqrt(-2.0 * log64(s) / s);
        z0 = u * f;
        z1 = v * f;
        break;
      }
    }
    if (idx % 2 === 0) {
      out[i++] = z0;
      if (i < count) out[i++] = z1;
    } else {
      out[i++] = z1;
    }
  }
  return out;
}
