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
    'exit-when-done': { type: 'boolean', default: false }, quiet: { type: 'boolean', default: false }, attestation: { type: 'string' },
    'aggregator-endpoints': { type: 'string' },
  } });
  const task = values.task ? readTaskFile(values.task) : {};
  const { parseTaskSpec } = await import('../runtime/fl/protocol.js');
  const spec = parseTaskSpec(task);
  const { startCoordinator, JoinAttestation } = await import('./coordinator/index.js');
  let attestation;
  if (values.attestation !== undefined) {
    try {
      attestation = new JoinAttestation(JSON.parse(readFileSync(values.attestation, 'utf8')));
    } catch (e) {
      throw new Error(`--attestation ${values.attestation}: ${(e as Error).message}`);
    }
  }
  const dir = values.dir ?? `.meshwork/${spec.name}`;
  const aggregatorEndpoints = values['aggregator-endpoints']?.split(',').map((p) => p.trim()).filter(Boolean);
  const coord = await startCoordinator({ task: spec, dir, port: portOf(values.port, 8080), host: values.host, attestation, ...(aggregatorEndpoints ? { aggregatorEndpoints } : {}), log: values.quiet ? undefined : (l) => console.log(`${stamp()} ${l}`) });
  const att = coord.coordinator.attestation;
  console.log(`meshwork coordinator: task '${spec.name}' (${spec.rounds} rounds, ${spec.rule}, ${spec.minParticipants} participants to start), state in ${dir}`);
  console.log(`  TPM attestation at join ${att.required ? 'required' : 'optional'}; ${att.trustedAks ? `${att.trustedAks.size} pinned AK(s)` : 'any AK'}; ${att.pcrPolicy ? `PCR policy over ${Object.keys(att.pcrPolicy).join(',')}` : 'any PCRs'}`);
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
    hybrid: { type: 'boolean', default: false }, tpm: { type: 'boolean', default: false }, 'no-tpm': { type: 'boolean', default: false }, 'tpm-dir': { type: 'string' }, 'tpm-pcrs': { type: 'string' },
    port: { type: 'string' }, host: { type: 'string' }, endpoint: { type: 'string' }, dir: { type: 'string' },
  } });
  if (!values.coordinator) throw new RangeError('--coordinator URL is required (e.g. --coordinator http://127.0.0.1:8080)');
  if (values.role !== 'participant' && values.role !== 'aggregator') throw new RangeError(`--role must be 'participant' or 'aggregator', got '${values.role}'`);
  const aggregatorOnly = (['port', 'host', 'endpoint', 'dir'] as const).filter((k) => values[k] !== undefined);
  if (values.tpm && values['no-tpm']) throw new RangeError('--tpm and --no-tpm exclude each other');
  const { parsePcrList } = await import('./attest-join.js');
  const tpmPcrs = values['tpm-pcrs'] !== undefined ? parsePcrList(values['tpm-pcrs']) : undefined;
  const tpm = values.tpm ? true : values['no-tpm'] ? false : 'auto';
  if (values.role === 'aggregator') {
    const participantOnly = (['data', 'attack'] as const).filter((k) => values[k] !== undefined);
    if (participantOnly.length) throw new RangeError(`--${participantOnly[0]} is for participants; an aggregator trains nothing`);
    const { runAggregator } = await import('./aggregator.js');
    const ac = new AbortController();
    process.once('SIGINT', () => ac.abort());
    process.once('SIGTERM', () => ac.abort());
    const out = await runAggregator({
      coordinator: values.coordinator, key: values.key, hybrid: values.hybrid, port: values.port === undefined ? 0 : portOf(values.port, 0), host: values.host,
      endpoint: values.endpoint, dir: values.dir, signal: ac.signal,
      tpm, tpmDir: values['tpm-dir'], tpmPcrs,
      log: values.quiet ? undefined : (l) => console.error(`${stamp()} ${l}`),
      event: values.json ? (e) => console.log(JSON.stringify(e)) : undefined,
    });
    if (!values.json) console.log(`${out.id}: ${out.forwarded} partial sums counted in ${out.rounds} rounds`);
    return 0;
  }
  if (aggregatorOnly.length) throw new RangeError(`--${aggregatorOnly[0]} is for --role aggregator`);
  const { runWorker } = await import('./worker.js');
  const ac = new AbortController();
  process.once('SIGINT', () => ac.abort());
  process.once('SIGTERM', () => ac.abort());
  const out = await runWorker({
    coordinator: values.coordinator, data: values.data, key: values.key, attack: values.attack, signal: ac.signal,
    hybrid: values.hybrid, tpm, tpmDir: values['tpm-dir'], tpmPcrs,
    log: values.quiet ? undefined : (l) => console.error(`${stamp()} ${l}`),
    event: values.json ? (e) => console.log(JSON.stringify(e)) : undefined,
  });
  if (!values.json) console.log(`${out.id}: ${out.accepted} of ${out.rounds} rounds' updates accepted`);
  return 0;
}

/**
 * `npm start`: a coordinator and five Node workers (one playing the sign-flip attack) on this machine, with
 * the dashboard URL printed first; the coordinator keeps serving the finished run until Ctrl-C (or exits with
 * --exit-when-done).
 */
export async function startMain(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { port: { type: 'string' }, rounds: { type: 'string', default: '20' }, 'exit-when-done': { type: 'boolean', default: false } } });
  const rounds = Number(values.rounds);
  if (!Number.isInteger(rounds) || rounds < 1) throw new RangeError(`--rounds must be a positive integer, got '${values.rounds}'`);
  const { mkdtemp } = await import('node:fs/promises');
  const { tmpdir } = await import('node:os');
  const { join } = await import('node:path');
  const { spawn } = await import('node:child_process');
  const { fileURLToPath } = await import('node:url');
  const { startCoordinator } = await import('./coordinator/index.js');
  const dir = await mkdtemp(join(tmpdir(), 'meshwork-demo-'));
  const task = { name: 'digits-demo', rounds, rule: 'multi-krum', minParticipants: 5, data: { shards: 4, alpha: 1 } };
  let coord;
  try {
    coord = await startCoordinator({ task, dir: join(dir, 'state'), port: portOf(values.port, 8080), log: (l) => console.log(`${stamp()} ${l}`) });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EADDRINUSE' || values.port) throw e;
    coord = await startCoordinator({ task, dir: join(dir, 'state'), port: 0, log: (l) => console.log(`${stamp()} ${l}`) });
  }
  console.log(`meshwork demo: federated digits (non-IID), ${rounds} rounds, Multi-Krum; 5 Node workers, one of them sign-flipping`);
  console.log(`  dashboard      ${coord.url}/dashboard/`);
  console.log(`  join from a browser tab: ${coord.url}/   (state in ${dir})`);
  const cli = fileURLToPath(new URL('./cli.js', import.meta.url));
  const children = Array.from({ length: 5 }, (_, i) => spawn(process.execPath, [cli, 'worker', '--coordinator', coord.url, '--key', join(dir, `worker${i}.pem`), '--quiet', ...(i === 4 ? ['--attack', 'sign-flip'] : [])], { stdio: ['ignore', 'ignore', 'inherit'] }));
  const rows = await coord.done;
  const last = rows[rows.length - 1]!;
  const flagged = new Map<string, number>();
  for (const r of rows) for (const id of r.flagged) flagged.set(id, (flagged.get(id) ?? 0) + 1);
  console.log(`${stamp()} done: final test accuracy ${last.accuracy.toFixed(4)}; flagged: ${[...flagged].map(([id, n]) => `${id} in ${n} of ${rows.length} rounds`).join(', ') || 'nobody'}`);
  await Promise.all(children.map((c) => new Promise((ok) => (c.exitCode !== null ? ok(0) : c.on('exit', ok)))));
  if (values['exit-when-done']) {
    await coord.close();
    return 0;
  }
  console.log(`the dashboard stays up at ${coord.url}/dashboard/ — Ctrl-C to stop`);
  return new Promise<number>((ok) => {
    const bye = () => void coord.close().then(() => ok(0));
    process.once('SIGINT', bye);
    process.once('SIGTERM', bye);
  });
}
