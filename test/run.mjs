#!/usr/bin/env node
// Runs the whole suite with Node's test runner on the compiled tests (dist/test/), shows the spec report,
// and ends with one plain line: `N passed, N failed, N skipped`.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

const root = path.resolve(path.dirname(new URL(import.meta.url).pathname), '..');
const only = process.argv.slice(2);
const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else if (name.endsWith('.test.js') && (!only.length || only.some((o) => p.includes(o)))) files.push(p);
  }
})(path.join(root, 'dist/test'));
if (!files.length) {
  console.error('test: no compiled tests in dist/test (run npm run build first)');
  process.exit(1);
}
const tapDir = mkdtempSync(path.join(tmpdir(), 'meshwork-test-'));
const tap = path.join(tapDir, 'report.tap');
const child = spawn(process.execPath, ['--test', '--test-reporter=spec', '--test-reporter-destination=stdout',
  '--test-reporter=tap', `--test-reporter-destination=${tap}`, ...files], { cwd: root, stdio: 'inherit' });
child.on('exit', (code) => {
  const report = readFileSync(tap, 'utf8');
  rmSync(tapDir, { recursive: true, force: true });
  const count = (key) => Number((report.match(new RegExp(`^# ${key} (\\d+)$`, 'm')) ?? [])[1] ?? 0);
  const passed = count('pass'), failed = count('fail') + count('cancelled'), skipped = count('skipped') + count('todo');
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  process.exit(code === 0 && failed === 0 && passed > 0 ? 0 : 1);
});
