/**
 * Node loader for the shipped data sets (data/ at the package root).
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { DIGITS, parseDigits, type Dataset } from '../runtime/fl/data.js';

/** The UCI digits (1,797 8x8 images, pixels scaled to [0, 1], labels 0..9); checks the file's SHA-256. */
export function loadDigits(): Dataset {
  const url = new URL(`../../data/${DIGITS.file}`, import.meta.url);
  const gz = readFileSync(url);
  const sha = createHash('sha256').update(gz).digest('hex');
  if (sha !== DIGITS.sha256) throw new Error(`loadDigits: ${url.pathname} has SHA-256 ${sha}, expected ${DIGITS.sha256}`);
  return parseDigits(gunzipSync(gz).toString('utf8'));
}
