/**
 * Timing helpers: warm up, repeat, take the median. The machine is shared and noisy, so every comparison
 * is measured side by side in one run and reported as a ratio of medians.
 * @module
 */

/** One result row (also the JSON format of `--json FILE`). */
export interface BenchRow {
  suite: string;
  case: string;
  backend: string;
  threads: number;
  metric: string;
  value: number;
  unit: string;
}

/** The median of `values` (the mean of the middle two for an even count). */
export function median(values: readonly number[]): number {
  const v = [...values].sort((a, b) => a - b);
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** Median wall time in ms of `fn` over `repeats` runs after `warmup` runs. */
export async function medianMs(fn: () => unknown, repeats: number, warmup = 2): Promise<number> {
  for (let i = 0; i < warmup; i++) await fn();
  const times: number[] = [];
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    await fn();
    times.push(performance.now() - t0);
  }
  return median(times);
}

/**
 * Runs `a` and `b` alternately `pairs` times (after two warm-up pairs): medians of each, and the median of
 * the per-pair ratios time(a) / time(b), which is robust to load that changes during the run.
 */
export async function interleaved(a: () => unknown, b: () => unknown, pairs: number): Promise<{ medianA: number; medianB: number; ratio: number }> {
  for (let i = 0; i < 2; i++) { await a(); await b(); }
  const ta: number[] = [], tb: number[] = [];
  for (let i = 0; i < pairs; i++) {
    let t0 = performance.now();
    await a();
    ta.push(performance.now() - t0);
    t0 = performance.now();
    await b();
    tb.push(performance.now() - t0);
  }
  return { medianA: median(ta), medianB: median(tb), ratio: median(ta.map((t, i) => t / tb[i]!)) };
}

/** Prints rows as an aligned table. */
export function printTable(rows: BenchRow[]): void {
  const head = ['suite', 'case', 'backend', 'threads', 'metric', 'value', 'unit'];
  const cells = rows.map((r) => [r.suite, r.case, r.backend, String(r.threads), r.metric, formatValue(r.value), r.unit]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => c[i]!.length)));
  const line = (c: string[]) => c.map((s, i) => (i === 5 ? s.padStart(widths[i]!) : s.padEnd(widths[i]!))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const c of cells) console.log(line(c));
}

function formatValue(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Math.abs(v) >= 100) return v.toFixed(1);
  if (Math.abs(v) >= 1) return v.toFixed(2);
  return v.toPrecision(3);
}

/** Byte equality of two typed arrays. */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  if (a.byteLength !== b.byteLength) return false;
  const x = new Uint8Array(a.buffer, a.byteOffset, a.byteLength), y = new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}
