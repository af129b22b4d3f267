/**
 * Base vite config for meshwork's browser bundles (the Chromium conformance page, the embed script).
 * Callers set `root` and inputs; what is shared is how meshwork must be bundled.
 */
import { defineConfig } from 'vite';

// SharedArrayBuffer (threaded kernels) needs a cross-origin isolated page.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  // Relative asset URLs, so a build works from any path it is served or embedded under.
  base: './',
  build: {
    target: 'es2022',
    // Kernel binaries stay separate files: fetched as application/wasm they compile while streaming, and
    // a strict CSP may refuse data: URLs.
    assetsInlineLimit: (file) => (file.endsWith('.wasm') ? false : undefined),
    sourcemap: true,
    reportCompressedSize: false,
  },
  // Module workers, so workers share the page's ES module graph format (comlink, the runtime).
  worker: { format: 'es' },
  server: { headers: isolation },
  preview: { headers: isolation },
});
