// The numerics contract on Node: every case of every op gives the reference's bytes on js, wasm and
// wasm-simd, and the reference still produces the hashes stored in the case files.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { loadCaseFiles } from '../host-node/conformance.js';
import { runConformance } from '../runtime/conformance.js';
import { OPS } from '../runtime/ops/index.js';
import { NODE_BACKENDS, startBackends } from './helpers.js';

const files = await loadCaseFiles();
await startBackends();

test('every op has a case file of at least 5 cases, each with a reference hash', () => {
  const ops = new Set(files.map((f) => f.op));
  for (const op of OPS.keys()) assert.ok(ops.has(op), `no case file for ${op}`);
  for (const f of files) {
    assert.ok(f.cases.length >= 5, `${f.op}: only ${f.cases.length} cases`);
    for (const c of f.cases) assert.match(c.sha256 ?? '', /^[0-9a-f]{64}$/, `${f.op}/${c.name}: no reference hash`);
  }
});

for (const backend of NODE_BACKENDS) {
  test(`conformance on node, backend ${backend}`, async () => {
    const rows = await runConformance(files, [backend], 'node');
    const bad = rows.filter((r) => !r.equal).map((r) => `${r.kernel}/${r.case}: ${r.error ?? r.sha256}`);
    assert.deepEqual(bad, [], `${bad.length} of ${rows.length} cases differ from the reference`);
    assert.equal(rows.length, files.reduce((s, f) => s + f.cases.length, 0));
  });
}
