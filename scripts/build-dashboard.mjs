#!/usr/bin/env node
// Builds the dashboard page (host-browser/dashboard/index.html, its TypeScript and uPlot) with vite into
// dist/web/dashboard/, where the coordinator serves it at /dashboard/. Relative asset URLs (base './' from
// vite.config.ts), so the page works under any path. Prints each file written with its raw and gzipped size.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { build } from 'vite';

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)));
const root = join(repo, 'host-browser/dashboard');
const outDir = join(repo, 'dist/web/dashboard');

await build({
  configFile: join(repo, 'vite.config.ts'),
  root,
  base: './',
  logLevel: 'warn',
  // The page needs no cross-origin isolation and loads no kernels; source maps stay for debugging.
  build: { outDir, emptyOutDir: true, rolldownOptions: { input: join(root, 'index.html') } },
});

const files = [];
(function walk(dir) {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p);
    else files.push(p);
  }
})(outDir);

const kb = (n) => `${(n / 1024).toFixed(1)} KiB`;
let raw = 0, gz = 0;
console.log(`dashboard: wrote ${relative(repo, outDir)}/`);
for (const f of files) {
  const body = readFileSync(f);
  const z = gzipSync(body, { level: 9 }).length;
  const shipped = !f.endsWith('.map');
  if (shipped) {
    raw += body.length;
    gz += z;
  }
  console.log(`  ${relative(outDir, f).padEnd(36)} ${kb(body.length).padStart(10)}  gzip ${kb(z).padStart(9)}${shipped ? '' : '  (source map, not loaded)'}`);
}
console.log(`dashboard: ${kb(raw)}, ${kb(gz)} gzipped (without source maps)`);
