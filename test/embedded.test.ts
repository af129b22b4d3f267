// The embedded C host (wasm2c of the scalar build, gcc -O2 -ffp-contract=off) replays every case's call
// trace and must produce the same output hashes as Node.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { conformanceEmbedded, loadCaseFiles } from '../host-node/conformance.js';

const haveTools = existsSync('/usr/bin/wasm2c') && existsSync('/usr/src/wasm2c/wasm-rt-impl.c');

test('embedded C host gives the reference hashes for every case', { skip: !haveTools && !process.env.CI ? 'wabt (wasm2c) is not installed: apt-get install wabt' : false }, async () => {
  const files = await loadCaseFiles();
  const rows = await conformanceEmbedded(files);
  const total = files.reduce((s, f) => s + f.cases.length, 0);
  assert.equal(rows.length, total);
  const bad = rows.filter((r) => !r.equal).map((r) => `${r.kernel}/${r.case}: ${r.error ?? r.sha256}`);
  assert.deepEqual(bad, []);
  const want = new Set(files.flatMap((f) => f.cases.map((c) => c.sha256)));
  for (const r of rows) assert.ok(want.has(r.sha256), `${r.kernel}/${r.case}`);
});
