/**
 * Browser loader for the shipped data sets: fetches data/digits.csv.gz (by default from the package, next to
 * dist/), checks its SHA-256 with WebCrypto and gunzips it with DecompressionStream.
 * @module
 */
import { DIGITS, parseDigits, type Dataset } from '../runtime/fl/data.js';

/** The UCI digits (1,797 8x8 images, pixels scaled to [0, 1], labels 0..9); checks the file's SHA-256. */
export async function loadDigits(url: string | URL = new URL('../../data/digits.csv.gz', import.meta.url)): Promise<Dataset> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`loadDigits: ${String(url)} answered ${res.status}`);
  const gz = await res.arrayBuffer();
  const sha = Array.from(new Uint8Array(await crypto.subtle.digest('SHA-256', gz)), (b) => b.toString(16).padStart(2, '0')).join('');
  if (sha !== DIGITS.sha256) throw new Error(`loadDigits: ${String(url)} has SHA-256 ${sha}, expected ${DIGITS.sha256}`);
  const text = await new Response(new Blob([gz]).stream().pipeThrough(new DecompressionStream('gzip'))).text();
  return parseDigits(text);
}
