/**
 * Node loader for the shipped data sets (data/ at the package root).
 * @module
 */
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { gunzipSync } from 'node:zlib';
import { parseCsvDataset, type Dataset } from '../runtime/fl/data.js';

const DIGITS_SHA256 = '46abec6b12486ad9e51943373abcf22bbea1b5a51a1619b361570d8893f1464a';

/** The UCI digits (1,797 8x8 images, pixels scaled to [0, 1], labels 0..9); checks the file's SHA-256. */
export function loadDigits(): Dataset {
  const url = new URL('../../data/digits.csv.gz', import.meta.url);
  const gz = readFileSync(url);
  const sha = createHash('sha256').update(gz).digest('hex');
  if (sha !== DIGITS_SHA256) throw new Error(`loadDigits: ${url.pathname} has SHA-256 ${sha}, expected ${DIGITS_SHA256}`);
  return parseCsvDataset(gunzipSync(gz).toString('utf8'), 64, 10, 16);
}
