#!/usr/bin/env node
// Builds the one-script embed (host-browser/embed.ts) with vite into dist/web/embed/: the entry is
// `meshwork.js`, everything else (the training worker, shared chunks, kernel .wasm) is under `m/`, which is
// what the coordinator serves at /meshwork.js and /m/*. It bundles the COMPILED dist/host-browser/embed.js
// (run `tsc` first): the kernel URLs in host-browser are relative to the dist/ layout.
// Prints the gzipped size of the JavaScript it wrote (entry + chunks) and, apart, of the wasm. The Groth16
// prover (host-browser/groth16.ts, its worker with snarkjs, the circuit artifacts) is a lazy part: the
// participant imports it dynamically in a task with proofs only, so its chunks (m/groth16-*) are counted apart
// and the rest, what every page loads, must not contain snarkjs.
// Usage: node scripts/build-embed.mjs [--out DIR]
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';

const REPO = resolve(fileURLToPath(new URL('..', import.meta.url)));
const args = process.argv.slice(2);
const outIdx = args.indexOf('--out');
const outDir = outIdx >= 0 ? resolve(args[outIdx + 1]) : join(REPO, 'dist/web/embed');
const entry = join(REPO, 'dist/host-browser/embed.js');
if (!existsSync(entry)) {
  console.error(`build-embed: ${relative(REPO, entry)} is missing; compile first (npx tsc -p tsconfig.json)`);
  process.exit(1);
}

const { build } = await import('vite');
const names = { entryFileNames: 'm/[name]-[hash].js', chunkFileNames: 'm/[name]-[hash].js', assetFileNames: 'm/[name]-[hash][extname]' };
await build({
  configFile: join(REPO, 'vite.config.ts'),
  root: REPO,
  logLevel: 'warn',
  // Relative URLs (base './'): chunks and assets resolve against the script's own URL, on any origin.
  base: './',
  build: {
    outDir,
    emptyOutDir: true,
    assetsDir: 'm',
    // Maps would land beside meshwork.js, outside what the coordinator serves.
    sourcemap: false,
    copyPublicDir: false,
    modulePreload: false,
    rolldownOptions: {
      input: { meshwork: entry },
      output: { ...names, entryFileNames: 'meshwork.js' },
    },
  },
  worker: { format: 'es', rolldownOptions: { output: names } },
});

/** Every file under `dir`, relative paths. */
function files(dir, base = dir) {
  return readdirSync(dir).flatMap((n) => {
    const p = join(dir, n);
    return statSync(p).isDirectory() ? files(p, base) : [relative(base, p)];
  });
}

const all = files(outDir).sort();
const stray = all.filter((f) => f !== 'meshwork.js' && !f.startsWith('m/'));
if (stray.length) {
  console.error(`build-embed: files outside m/: ${stray.join(', ')}`);
  process.exit(1);
}
/** The lazily imported prover's chunks (and snarkjs inside them): fetched only for tasks with proofs. */
const LAZY = /^m\/groth16(-worker)?-[\w-]+\.js$/;
let js = 0, jsGz = 0, wasm = 0, wasmGz = 0, lazyJs = 0, lazyGz = 0;
const rows = [];
for (const f of all) {
  const bytes = readFileSync(join(outDir, f));
  const gz = gzipSync(bytes, { level: 9 }).length;
  if (LAZY.test(f)) {
    lazyJs += bytes.length;
    lazyGz += gz;
  } else if (f.endsWith('.js')) {
    js += bytes.length;
    jsGz += gz;
    if (bytes.includes('snarkjs') || bytes.includes('fullProve')) {
      console.error(`build-embed: ${f} contains snarkjs; only the lazy prover chunks (m/groth16-*) may`);
      process.exit(1);
    }
  } else if (f.endsWith('.wasm')) {
    wasm += bytes.length;
    wasmGz += gz;
  }
  rows.push(`  ${f.padEnd(40)} ${(bytes.length / 1024).toFixed(1).padStart(8)} KB  ${(gz / 1024).toFixed(1).padStart(7)} KB gzipped`);
}
console.log(`embed: ${relative(process.cwd(), outDir) || '.'}\n${rows.join('\n')}`);
console.log(`embed JS (entry + chunks): ${(js / 1024).toFixed(1)} KB, ${(jsGz / 1024).toFixed(1)} KB gzipped; wasm: ${(wasm / 1024).toFixed(1)} KB, ${(wasmGz / 1024).toFixed(1)} KB gzipped`);
console.log(`lazy Groth16 prover JS (proofs tasks only; with snarkjs): ${(lazyJs / 1024).toFixed(1)} KB, ${(lazyGz / 1024).toFixed(1)} KB gzipped; its artifacts are the update_chunk_64 .wasm and .zkey above`);
