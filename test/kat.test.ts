// Known-answer tests. Philox4x32-10 vectors: Random123 (D. E. Shaw Research), tests/kat_vectors,
// the three "philox4x32 10" lines (counter[4] key[2] -> output[4]).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { philox4x32_10 } from '../runtime/reference/random.js';
import { expf, logf, exp64, log64 } from '../runtime/reference/math.js';
import { KERNELS_DIR } from '../host-node/index.js';

const KAT: [number[], number[], number[]][] = [
  [[0, 0, 0, 0], [0, 0], [0x6627e8d5, 0xe169c58d, 0xbc57ac4c, 0x9b00dbd8]],
  [[0xffffffff, 0xffffffff, 0xffffffff, 0xffffffff], [0xffffffff, 0xffffffff], [0x408f276d, 0x41c83b0e, 0xa20bc7c6, 0x6d5451fd]],
  [[0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0], [0xd16cfe09, 0x94fdcceb, 0x5001e420, 0x24126ea1]],
];

async function instances() {
  const out: [string, Record<string, any>, WebAssembly.Memory][] = [];
  for (const build of ['simd.wasm', 'scalar.wasm']) {
    const { instance } = await WebAssembly.instantiate(await readFile(new URL(build, KERNELS_DIR)));
    out.push([build, instance.exports as Record<string, any>, instance.exports.memory as WebAssembly.Memory]);
  }
  return out;
}

test('Philox4x32-10 matches Random123 known answers in JS and both Wasm builds', async () => {
  for (const [ctr, key, want] of KAT) {
    assert.deepEqual([...philox4x32_10(ctr[0]!, ctr[1]!, ctr[2]!, ctr[3]!, key[0]!, key[1]!)], want);
  }
  for (const [build, x, mem] of await instances()) {
    const p = x.heap_base() as number;
    for (const [ctr, key, want] of KAT) {
      x.random_philox(...ctr, ...key, p);
      assert.deepEqual([...new Uint32Array(mem.buffer, p, 4)], want, build);
    }
  }
});

test('shared exp/log: Wasm builds equal the JS port bit for bit, including edge values', async () => {
  const xs: number[] = [0, -0, 1, -1, 88.72, 88.73, 100, 100.5, -103.9, -104, -110, -111, 1e-45, -1e-45, 3.4e38, -3.4e38, Infinity, -Infinity, NaN, 0.5, 2, 1e-30];
  for (let i = 0; i < 20000; i++) xs.push(Math.fround((i / 20000 - 0.5) * 240), Math.fround(Math.exp((i / 20000 - 0.5) * 180)));
  for (const [build, x] of await instances()) {
    for (const v of xs) {
      assert.ok(Object.is(x.math_expf(v), expf(v)) || (Number.isNaN(x.math_expf(v)) && Number.isNaN(expf(v))), `${build} expf(${v})`);
      assert.ok(Object.is(x.math_logf(v), logf(v)) || (Number.isNaN(x.math_logf(v)) && Number.isNaN(logf(v))), `${build} logf(${v})`);
      assert.ok(Object.is(x.math_log64(Math.abs(v)), log64(Math.abs(v))) || Number.isNaN(v), `${build} log64(${v})`);
    }
  }
});

test('shared exp/log are accurate: within 1 ulp of the correctly rounded f32 result', () => {
  const ulp = (v: number) => { const f = new Float32Array([v]); const u = new Uint32Array(f.buffer); const a = u[0]!; u[0] = a + 1; return Math.abs(f[0]! - v); };
  let worstExp = 0, worstLog = 0;
  for (let i = 0; i < 50000; i++) {
    const x = Math.fround((i / 50000 - 0.5) * 170);
    const want = Math.fround(Math.exp(x));
    if (want > 0 && Number.isFinite(want)) worstExp = Math.max(worstExp, Math.abs(expf(x) - want) / ulp(want));
    const y = Math.fround(Math.exp((i / 50000 - 0.5) * 160));
    const wl = Math.fround(Math.log(y));
    if (wl !== 0) worstLog = Math.max(worstLog, Math.abs(logf(y) - wl) / ulp(Math.abs(wl)));
  }
  assert.ok(worstExp <= 1, `expf worst error ${worstExp} ulp`);
  assert.ok(worstLog <= 1, `logf worst error ${worstLog} ulp`);
  assert.ok(Math.abs(exp64(1) - Math.E) <= 2 * Number.EPSILON * Math.E);
  assert.ok(Math.abs(log64(10) - Math.LN10) <= 2 * Number.EPSILON * Math.LN10);
});
