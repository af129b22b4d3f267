/**
 * `meshwork serve` and `meshwork worker`: argument parsing, progress on screen, clean shutdown on SIGINT/SIGTERM.
 * @module
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

function portOf(s: string | undefined, dflt: number): number {
  if (s === undefined) return dflt;
  const n = Number(s);
  if (!/^\d+$/.test(s) || n > 65535) throw new RangeError(`--port must be an integer in [0, 65535], got '${s}'`);
  return n;
}

/** Reads a task file (JSON). */
export function readTaskFile(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new Error(`--task ${file}: ${(e as Error).message}`);
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RangeError(`--task ${file} is not JSON: ${(e as Error).message}`);
  }
}

const stamp = () => new Date().toISOString().slice(11, 23);

export async function serveMain(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: {
    port: { type: 'string' }, host: { type: 'string', default: '127.0.0.1' }, task: { type: 'string' }, dir: { type: 'string' },
    'exit-when-done': { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false },
  } });
  const task = values.task ? readTaskFile(values.task) : {};
  const { parseTaskSpec } = await import('../runtime/fl/protocol.js');
  const spec = parseTaskSpec(task);
  const { startCoordinator } = await import('./coordinator/index.js');
  const dir = values.dir ?? `.meshwork/${spec.name}`;
  const coord = await startCoordinator({ task: spec, dir, port: portOf(values.port, 8080), host: values.host, log: values.quiet ? undefined : (l) => console.log(`${stamp()} ${l}`) });
  console.log(`meshwork coordinator: task '${spec.name}' (${spec.rounds} rounds, ${spec.rule}, ${spec.minParticipants} participants to start), state in ${dir}`);
  console.log(`  participants   npx meshwork worker --coordinator ${coord.url}   or open ${coord.url}/ in a browser`);
  console.log(`  dashboard      ${coord.url}/dashboard/`);
  console.log(`  metrics        ${coord.url}/metrics`);
  const stop = new Promise<number>((ok) => {
    const bye = (sig: string) => {
      console.log(`${stamp()} ${sig}: closing (the ledger is synced; a restart with --dir ${dir} resumes)`);
      void coord.close().then(() => ok(0));
    };
    process.once('SIGINT', () => bye('SIGINT'));
    process.once('SIGTERM', () => bye('SIGTERM'));
  });
  void coord.done.then((rows) => {
    const last = rows[rows.length - 1];
    console.log(`${stamp()} task done: ${rows.length} rounds, final test accuracy ${last ? last.accuracy.toFixed(4) : 'n/a'}`);
    if (values['exit-when-done']) void coord.close().then(() => process.exit(0));
  });
  return stop;
}

export async function workerMain(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: {
    coordinator: { type: 'string' }, data: { type: 'string' }, key: { type: 'string' }, role: { type: 'string', default: 'participant' },
    attack: { type: 'string' }, json: { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false },
  } });
  if (!values.coordinator) throw new RangeError('--coordinator URL is required (e.g. --coordinator http://127.0.0.1:8080)');
  if (values.role !== 'participant') throw new RangeError(`--role ${values.role}: only 'participant' is implemented so far (leaf aggregators are not yet)`);
  const { runWorker } = await import('./worker.js');
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const out = await runWorker({
    coordinator: values.coordinator, data: values.data, key: values.key, attack: values.attack, signal: ac.signal,
    log: values.quiet ? undefined : (l) => console.error(`${stamp()} ${l}`),
    event: values.json ? (e) => console.log(JSON.stringify(e)) : undefined,
  });
  if (!values.json) console.log(`${out.id}: ${out.accepted} of ${out.rounds} rounds' updates accepted`);
  return 0;
}
