/**
 * `npm run bench` / `meshwork bench [--json FILE] [--quick] [--suite matmul,aggregate,fl,signatures,browser-signatures,freivalds,tpm,groth16,coordinator]`: runs the suites,
 * prints a table, and optionally writes the rows as JSON.
 * @module
 */
import { writeFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { availableParallelism } from 'node:os';
import { ready } from '../host-node/index.js';
import { createThreadPool } from '../host-node/pool.js';
import { printTable, type BenchRow } from './harness.js';
import { aggregateSuite, matmulSuite } from './suites.js';
import { flSuite } from './fl.js';
import { freivaldsSuite, signaturesSuite } from './signatures.js';
import { browserSignaturesSuite } from './browser-signatures.js';
import { tpmSuite } from './tpm.js';
import { groth16Suite } from './groth16.js';
import { coordinatorSuite } from './coordinator.js';

/** Runs the benchmark CLI; returns the exit code. */
export async function benchMain(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { json: { type: 'string' }, quick: { type: 'boolean', default: false }, suite: { type: 'string' }, quiet: { type: 'boolean', default: false } } });
  const known = ['matmul', 'aggregate', 'fl', 'signatures', 'browser-signatures', 'freivalds', 'tpm', 'groth16', 'coordinator'];
  const suites = values.suite ? values.suite.split(',') : known;
  for (const s of suites) if (!known.includes(s)) throw new RangeError(`--suite must be ${known.join(', ')} (comma-separated), got '${s}'`);
  await ready(['wasm-simd', 'wasm', 'js']);
  const cfg = { quick: values.quick!, log: (line: string) => { if (!values.quiet) process.stderr.write(`${line}\n`); } };
  const threads = Math.max(2, availableParallelism());
  const pool2 = await createThreadPool({ threads, mode: 'shared' });
  const pool1 = await createThreadPool({ threads: 1, mode: 'shared' });
  const rows: BenchRow[] = [];
  const t0 = performance.now();
  try {
    if (suites.includes('matmul')) { cfg.log('bench: matmul'); rows.push(...(await matmulSuite(cfg, pool2, pool1))); }
    if (suites.includes('aggregate')) { cfg.log('bench: aggregate'); rows.push(...(await aggregateSuite(cfg, pool2))); }
    if (suites.includes('fl')) { cfg.log('bench: fl'); rows.push(...(await flSuite(cfg))); }
    if (suites.includes('signatures')) { cfg.log('bench: signatures'); rows.push(...(await signaturesSuite(cfg))); }
    if (suites.includes('browser-signatures')) { cfg.log('bench: browser-signatures'); rows.push(...(await browserSignaturesSuite(cfg))); }
    if (suites.includes('freivalds')) { cfg.log('bench: freivalds'); rows.push(...(await freivaldsSuite(cfg))); }
    if (suites.includes('tpm')) { cfg.log('bench: tpm'); rows.push(...(await tpmSuite(cfg))); }
    if (suites.includes('groth16')) { cfg.log('bench: groth16'); rows.push(...(await groth16Suite(cfg))); }
    if (suites.includes('coordinator')) { cfg.log('bench: coordinator'); rows.push(...(await coordinatorSuite(cfg))); }
  } finally {
    pool2.dispose();
    pool1.dispose();
  }
  console.log(`meshwork bench (${values.quick ? 'quick' : 'full'}; medians; node ${process.version}, ${availableParallelism()} cores; ${((performance.now() - t0) / 1000).toFixed(0)} s)`);
  printTable(rows);
  if (values.json) {
    await writeFile(values.json, JSON.stringify(rows, null, 1) + '\n');
    console.log(`rows written to ${values.json}`);
  }
  return 0;
}
