/**
 * Ed25519 batch verification in a real Chromium (Debian's, headless, through playwright-core): meshwork's
 * browser verifier (pre-check + WebCrypto/BoringSSL on the page + libsodium Wasm workers) against WebCrypto
 * alone and @noble/curves on the same items in the same page, interleaved. Needs the dev dependencies (vite, playwright-core) and /usr/bin/chromium: it runs from a
 * checkout, not from the published package.
 * @module
 */
import { withChromiumPage } from '../test/browser/harness.js';
import { median, type BenchRow } from './harness.js';
import type { BenchConfig } from './suites.js';

export async function browserSignaturesSuite(cfg: BenchConfig): Promise<BenchRow[]> {
  const n = cfg.quick ? 1024 : 2048, repeats = cfg.quick ? 3 : 5;
  const t = await withChromiumPage('test/browser/proofs.html', async (page) => {
    await page.waitForFunction(() => window.__meshworkProofs !== undefined);
    return page.evaluate(([n, r]) => window.__meshworkProofs!.batchTiming(n!, r!), [n, repeats]);
  }, { timeoutMs: 300_000 });
  if (!t.allValid) throw new Error('bench: a valid signature failed in Chromium');
  const c = `ed25519 verify x${n} (Chromium)`;
  const row = (backend: string, metric: string, value: number, unit: string): BenchRow => ({ suite: 'browser-signatures', case: c, backend, threads: 1, metric, value, unit });
  return [
    row('@noble/curves 2.4 in Chromium', 'throughput', (n / median(t.nobleMs)) * 1000, 'verifies/s'),
    row('WebCrypto alone (verifyBatch, 256 in flight)', 'throughput', (n / median(t.webCryptoMs)) * 1000, 'verifies/s'),
    row(`meshwork createBatchVerifier (WebCrypto + ${t.workers} libsodium worker${t.workers === 1 ? '' : 's'})`, 'throughput', (n / median(t.meshworkMs)) * 1000, 'verifies/s'),
    row('meshwork / noble', 'ratio', median(t.nobleMs.map((x, i) => x / t.meshworkMs[i]!)), 'x (>= 8 wanted)'),
  ];
}
