/**
 * Conformance on Node: loads the shipped case files, runs them on the chosen backends, and, for the
 * embedded host, records each case's scalar-Wasm call trace and replays it in the wasm2c-built C driver.
 * @module
 */
import { readdir, readFile } from 'node:fs/promises';
import { caseInputs, outputBytes, outputDtypes, runConformance, sha256Hex, type CaseFile, type ConformanceRow } from '../runtime/conformance.js';
import { OPS } from '../runtime/ops/index.js';
import { WasmBackend } from '../runtime/backends/wasm.js';
import { allocOf, bytesOf } from '../runtime/errors.js';
import { installNodeHost, ready } from './index.js';

/** The shipped case files (<package root>/test/cases/). */
export const CASES_DIR = new URL('../../test/cases/', import.meta.url);

/** Reads every case file, in op-table order. */
export async function loadCaseFiles(dir: URL = CASES_DIR): Promise<CaseFile[]> {
  const names = (await readdir(dir)).filter((n) => n.endsWith('.json'));
  const files = await Promise.all(names.map(async (n) => JSON.parse(await readFile(new URL(n, dir), 'utf8')) as CaseFile));
  const order = [...OPS.keys()];
  return files.sort((a, b) => order.indexOf(a.op) - order.indexOf(b.op));
}

/** Runs the cases on Node backends. */
export async function conformanceNode(files: CaseFile[], backends: string[]): Promise<ConformanceRow[]> {
  await ready(backends);
  return runConformance(files, backends, 'node');
}

/** Runs the cases on the embedded C host (scalar build through wasm2c), by trace replay. */
export async function conformanceEmbedded(files: CaseFile[]): Promise<ConformanceRow[]> {
  const { runOnEmbedded } = await import('./embedded.js');
  installNodeHost();
  const scalar = await WasmBackend.create('wasm'); // its own instance: tracing must not touch the shared backend
  const traces = [];
  const meta: { op: string; name: string; sha256: string | undefined; error?: string }[] = [];
  for (const file of files) {
    const def = OPS.get(file.op)!;
    for (const spec of file.cases) {
      const inputs = caseInputs(file.op, spec);
      const w = scalar.instance;
      w.trace = [];
      w.traceHighWater = 0;
      try {
        scalar.run(file.op, inputs, def.plan(inputs, spec.attrs));
        traces.push({ name: `${file.op}/${spec.name}`, memoryBytes: w.traceHighWater, steps: w.trace });
        meta.push({ op: file.op, name: spec.name, sha256: spec.sha256 });
      } catch (e) {
        meta.push({ op: file.op, name: spec.name, sha256: spec.sha256, error: (e as Error).message });
      } finally {
        w.trace = undefined;
      }
    }
  }
  const results = await runOnEmbedded(traces);
  const rows: ConformanceRow[] = [];
  for (const m of meta) {
    const key = `${m.op}/${m.name}`;
    const reads = results.get(key);
    let sha = '', error = m.error;
    if (!error && !reads) error = 'the embedded host returned no output for this case';
    if (!error && reads) {
      const dtypes = outputDtypes(m.op);
      const outs = reads.map((bytes, i) => {
        const dt = dtypes[i]!;
        const arr = allocOf(dt, bytes.length / bytesOf(dt));
        new Uint8Array(arr.buffer).set(bytes);
        return arr;
      });
      sha = await sha256Hex(outputBytes(outs, dtypes));
    }
    rows.push({ kernel: m.op, case: m.name, backend: 'wasm', host: 'embedded', sha256: sha, equal: !error && sha === m.sha256, ...(error ? { error } : {}) });
  }
  return rows;
}
