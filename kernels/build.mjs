#!/usr/bin/env node
// Builds every Wasm kernel target of asconfig.json (release: simd, scalar, threads; debug: simd-debug,
// scalar-debug) with the pinned AssemblyScript compiler, then writes kernels/build/manifest.json with the
// SHA-256 of each binary so hosts and the embedded driver can tell which build they run.
import { main } from 'assemblyscript/asc';
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import path from 'node:path';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);
const config = JSON.parse(readFileSync('asconfig.json', 'utf8'));
const wanted = process.argv.slice(2);
const targets = wanted.length ? wanted : Object.keys(config.targets);
mkdirSync('kernels/build', { recursive: true });
const manifest = {};
for (const target of targets) {
  const t0 = performance.now();
  const { error, stderr } = await main(['--target', target]);
  if (error) {
    process.stderr.write(stderr.toString());
    console.error(`kernels: target ${target} failed: ${error.message}`);
    process.exit(1);
  }
  const out = config.targets[target].outFile;
  const bytes = readFileSync(out);
  manifest[target] = { file: path.basename(out), bytes: bytes.length, sha256: createHash('sha256').update(bytes).digest('hex') };
  console.log(`kernels: ${target.padEnd(13)} ${out} ${(bytes.length / 1024).toFixed(1)} KiB in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
}
if (!wanted.length) writeFileSync('kernels/build/manifest.json', JSON.stringify(manifest, null, 2) + '\n');
