// The thread pool (worker_threads + comlink on one shared Wasm memory) gives the same bytes as one
// thread for every op it splits, for several thread counts and split-sensitive shapes.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createThreadPool, splitRange } from '../host-node/pool.js';
import { runKernel } from '../runtime/registry.js';
import { caseInputs } from '../runtime/conformance.js';
import { bytes, startBackends } from './helpers.js';

await startBackends();

test('splitRange covers [0, total) with aligned inner boundaries', () => {
  for (const [total, parts, align] of [[0, 2, 4], [1, 3, 4], [10, 2, 4], [1027, 3, 16], [64, 8, 16]] as const) {
    const r = splitRange(total, parts, align);
    let at = 0;
    for (const [a, b] of r) {
      assert.equal(a, at);
      assert.ok(b > a);
      if (b !== total) assert.equal(b % align, 0);
      at = b;
    }
    assert.equal(at, total);
    assert.ok(r.length <= parts);
  }
});

for (const mode of ['shared', 'transfer'] as const) {
  test(`${mode} pool: dispose rejects the call in flight and every later call`, { timeout: 30_000 }, async () => {
    const pool = await createThreadPool({ threads: 2, mode });
    const n = 700;
    const a = new Float32Array(n * n).fill(1), b = new Float32Array(n * n).fill(1);
    const inFlight = pool.run('matmul', { a, b }, { m: n, k: n, n });
    const queued = pool.run('sum', { x: new Int32Array(4) }, { n: 2, d: 2 });
    await new Promise((r) => setTimeout(r, 5));
    pool.dispose();
    const results = await Promise.allSettled([inFlight, queued]);
    // The call in flight may have finished before dispose; neither may hang, and a rejection names why.
    for (const r of results) if (r.status === 'rejected') assert.match(String(r.reason), /disposed/);
    await assert.rejects(pool.run('sum', { x: new Int32Array(4) }, { n: 2, d: 2 }), /the thread pool was disposed/);
  });

  test(`${mode} pool: calls queued before dispose() do not start after it`, { timeout: 30_000 }, async () => {
    const pool = await createThreadPool({ threads: 2, mode });
    const x = new Int32Array(2 * 300_000).fill(1);
    const calls = [pool.run('sum', { x }, { n: 2, d: 300_000 }), pool.run('median', { x }, { n: 2, d: 300_000 })];
    pool.dispose();
    for (const r of await Promise.allSettled(calls)) {
      assert.equal(r.status, 'rejected');
      assert.match(String((r as PromiseRejectedResult).reason), /the thread pool was disposed/);
    }
  });
}

for (const [threads, mode] of [[2, 'shared'], [3, 'shared'], [2, 'transfer'], [3, 'transfer']] as const) {
  test(`${mode} pool of ${threads} threads: same bytes as one thread`, async () => {
    const pool = await createThreadPool({ threads, mode });
    try {
      const shapes: [string, Record<string, unknown>, Record<string, { fill: 'normal' | 'int'; length: number; seed: number; lo?: number; hi?: number }>][] = [
        ['matmul', { m: 131, k: 77, n: 203 }, { a: { fill: 'normal', length: 131 * 77, seed: 1 }, b: { fill: 'normal', length: 77 * 203, seed: 2 } }],
        ['matmul', { m: 96, k: 150, n: 130, transA: true }, { a: { fill: 'normal', length: 96 * 150, seed: 3 }, b: { fill: 'normal', length: 150 * 130, seed: 4 } }],
        ['matmul', { m: 120, k: 120, n: 97, transB: true }, { a: { fill: 'normal', length: 120 * 120, seed: 5 }, b: { fill: 'normal', length: 120 * 97, seed: 6 } }],
        ['matmul', { m: 400, k: 70, n: 20 }, { a: { fill: 'normal', length: 400 * 70, seed: 13 }, b: { fill: 'normal', length: 70 * 20, seed: 14 } }],
        ['sum', { n: 30, d: 9001 }, { x: { fill: 'int', length: 30 * 9001, seed: 7 } }],
        ['wsum', { n: 30, d: 9001 }, { x: { fill: 'int', length: 30 * 9001, seed: 8 }, w: { fill: 'int', length: 30, seed: 9 } }],
        ['median', { n: 31, d: 9001 }, { x: { fill: 'int', length: 31 * 9001, seed: 10 } }],
        ['trimmedMean', { n: 40, d: 7001, trim: 4 }, { x: { fill: 'int', length: 40 * 7001, seed: 11, lo: -5, hi: 5 } }],
        ['pairwiseSqDist', { n: 20, d: 5003 }, { x: { fill: 'int', length: 20 * 5003, seed: 12 } }],
      ];
      for (const [op, attrs, fills] of shapes) {
        const inputs = caseInputs(op, { name: op, attrs, inputs: fills });
        const [want] = runKernel(op, inputs, attrs, { backend: 'wasm-simd' });
        const [got] = await pool.run(op, inputs, attrs);
        assert.deepEqual(bytes(got!), bytes(want!), `${op} ${JSON.stringify(attrs)}`);
      }
      await assert.rejects(pool.run('median', { x: new Int32Array(3) }, { n: 0, d: 3 }), RangeError);
      const [again] = await pool.run('sum', { x: Int32Array.of(1, 2, 3, 4) }, { n: 2, d: 2 });
      assert.deepEqual([...again!], [4, 6], 'the pool keeps working after a rejected call');
    } finally {
      pool.dispose();
    }
  });
}
