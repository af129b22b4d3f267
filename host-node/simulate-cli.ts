/**
 * `meshwork simulate`: a federated run on the shipped digits, in-process, with a live progress line, a
 * final table and optional per-round JSON.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { shardDirichlet, shardIid, trainTestSplit, type Dataset } from '../runtime/fl/data.js';
import { paramsSha256, simulate, simulateWith, type SimulationOptions } from '../runtime/fl/simulate.js';
import { createThreadPool } from './pool.js';
import { RULES } from '../runtime/fl/strategy.js';
import { ATTACKS } from '../runtime/fl/attacks.js';
import { noiseMultiplierFor } from '../runtime/fl/accountant.js';
import { learningCurveSvg } from '../runtime/fl/plot.js';
import { loadDigits } from './data.js';
import { ready } from './index.js';

function num(name: string, v: string | undefined, fallback: number, min: number, max: number, integer = false): number {
  if (v === undefined) return fallback;
  const x = Number(v);
  if (!Number.isFinite(x) || x < min || x > max || (integer && !Number.isInteger(x))) throw new RangeError(`simulate: --${name} must be ${integer ? 'an integer' : 'a number'} in [${min}, ${max}], got '${v}'`);
  return x;
}

/** Runs the command; returns the exit code. */
export async function simulateMain(args: string[]): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      participants: { type: 'string' }, rounds: { type: 'string' }, rule: { type: 'string', default: 'fedavg' },
      iid: { type: 'boolean', default: false }, alpha: { type: 'string' }, seed: { type: 'string' },
      json: { type: 'string' }, plot: { type: 'string' }, backend: { type: 'string' }, attack: { type: 'string' }, byzantine: { type: 'string' },
      matrix: { type: 'boolean', default: false }, 'dp-epsilon': { type: 'string' }, 'sample-rate': { type: 'string' },
      fanin: { type: 'string' }, 'robust-level': { type: 'string' }, threads: { type: 'string' }, 'server-momentum': { type: 'string' }, 'server-lr': { type: 'string' }, 'federated-eval': { type: 'boolean', default: false },
    },
  });
  if (values.plot !== undefined && !values.plot.toLowerCase().endsWith('.svg')) throw new RangeError(`simulate: --plot writes an SVG learning curve; give a file name ending in .svg, got '${values.plot}'`);
  if (values.plot !== undefined && values.matrix) throw new RangeError('simulate: --plot draws one run; it does not combine with --matrix');
  const participants = num('participants', values.participants, 20, 1, 1438, true);
  const rounds = num('rounds', values.rounds, 30, 1, 100000, true);
  const seed = num('seed', values.seed, 1, 0, Number.MAX_SAFE_INTEGER, true);
  const rule = values.rule!;
  if (!(RULES as readonly string[]).includes(rule)) throw new RangeError(`simulate: --rule must be one of ${RULES.join(', ')}, got '${rule}'`);
  const attack = values.attack;
  if (attack !== undefined && !(ATTACKS as readonly string[]).includes(attack)) throw new RangeError(`simulate: --attack must be one of ${ATTACKS.join(', ')}, got '${attack}'`);
  const byzantine = num('byzantine', values.byzantine, attack || values.matrix ? 0.2 : 0, 0, 0.99);
  if (values.byzantine !== undefined && !attack && !values.matrix) throw new RangeError('simulate: --byzantine needs --attack NAME');
  if (values.iid && values.alpha !== undefined) throw new RangeError('simulate: give --iid or --alpha, not both');
  const alpha = values.alpha === undefined ? undefined : num('alpha', values.alpha, 0.5, 1e-3, 1e6);
  const fanin = values.fanin === undefined ? undefined : num('fanin', values.fanin, 10, 2, 1 << 20, true);
  const robustLevel = values['robust-level'] === undefined ? undefined : num('robust-level', values['robust-level'], 1, 1, 64, true);
  if (robustLevel !== undefined && fanin === undefined) throw new RangeError('simulate: --robust-level needs --fanin K (an aggregator tree)');
  const threads = num('threads', values.threads, 1, 1, 256, true);
  const serverMomentum = num('server-momentum', values['server-momentum'], 0, 0, 0.999);
  const serverLr = num('server-lr', values['server-lr'], 1, 1e-6, 100);
  if (threads > 1 && values.matrix) throw new RangeError('simulate: --threads runs one simulation on the worker pool; --matrix runs in-process');
  const tree = fanin === undefined ? {} : { fanin, ...(robustLevel === undefined ? {} : { robustLevel }) };
  await ready();
  const { train, test } = trainTestSplit(loadDigits(), 0.2, seed);
  const shards = alpha === undefined ? shardIid(train, participants, seed) : shardDirichlet(train, participants, alpha, seed);
  const dpEps = values['dp-epsilon'] === undefined ? undefined : num('dp-epsilon', values['dp-epsilon'], 8, 0.01, 1000);
  const q = num('sample-rate', values['sample-rate'], 0.1, 1e-6, 1);
  if (dpEps !== undefined && (attack || values.matrix)) throw new RangeError('simulate: --dp-epsilon runs DP-FedAvg; it does not combine with --attack or --matrix yet');
  const dp = dpEps === undefined ? undefined : { q, noiseMultiplier: noiseMultiplierFor(dpEps, 1e-5, q, rounds), targetEpsilon: dpEps, delta: 1e-5 };
  if (values.matrix) return matrix(shards, test, values.rounds === undefined ? 60 : rounds, seed, byzantine, values.json, tree);
  console.log(`meshwork simulate: ${participants} participants, ${rounds} rounds, ${dp ? `DP-FedAvg (q ${q}, noise multiplier ${dp.noiseMultiplier.toFixed(3)}, epsilon <= ${dpEps} at delta 1e-5)` : `rule ${rule}`}${attack ? `, attack ${attack} by ${Math.floor(byzantine * participants)} Byzantine` : ''}, ${alpha === undefined ? 'IID' : `non-IID (alpha ${alpha})`}${fanin === undefined ? '' : `, aggregator tree fan-in ${fanin}${dp || rule === 'fedavg' ? '' : ` (${rule} at level ${robustLevel ?? 1})`}`}, seed ${seed}; digits ${train.n} train / ${test.n} test`);
  const tty = process.stdout.isTTY;
  const pool = threads > 1 ? await createThreadPool({ threads }) : undefined;
  if (pool) console.log(`local training on a worker pool of ${threads} threads (${pool.mode} memory)`);
  const options: Partial<SimulationOptions> = {
    rounds, rule, seed, serverMomentum, serverLr, federatedEvaluation: values['federated-eval'], ...tree, ...(attack ? { attack, byzantine } : {}), ...(dp ? { dp, clip: 1, lrDecay: 1 } : {}), kernel: values.backend ? { backend: values.backend } : {},
    onRound: (r) => {
      const line = `round ${String(r.round).padStart(4)}/${rounds}  accuracy ${r.accuracy.toFixed(4)}  loss ${r.loss.toFixed(4)}  epsilon ${r.epsilon === null ? '-' : r.epsilon.toFixed(3)}  rejected ${r.rejected}`;
      if (tty) process.stdout.write(`\r${line}`);
      else if (r.round % 10 === 0 || r.round === rounds) console.log(line);
    },
  };
  let result;
  try {
    result = pool ? await simulateWith((jobs) => pool.trainLocal(jobs), shards, test, options) : simulate(shards, test, options);
  } finally {
    pool?.dispose();
  }
  if (tty) process.stdout.write('\n');
  console.log('');
  console.log(learningCurve(result.rows.map((r) => r.accuracy)));
  const last = result.rows[result.rows.length - 1]!;
  const best = result.rows.reduce((a, r) => (r.accuracy > a.accuracy ? r : a));
  console.log('');
  console.log(`final accuracy  ${last.accuracy.toFixed(4)} (best ${best.accuracy.toFixed(4)} at round ${best.round})`);
  console.log(`final loss      ${last.loss.toFixed(4)}`);
  if (last.federated) console.log(`federated eval  accuracy ${last.federated.accuracy.toFixed(4)}, loss ${last.federated.loss.toFixed(4)} (participants on their own data, ${last.federated.examples} examples)`);
  if (last.epsilon !== null) console.log(`privacy spent   epsilon ${last.epsilon.toFixed(3)} at delta 1e-5 (RDP, Poisson-sampled Gaussian)`);
  console.log(`rounds time     ${(result.ms / 1000).toFixed(2)} s (${pool ? `${threads} threads` : 'in-process'}, after start-up)`);
  console.log(`traffic/round   ${last.bytesPerParticipant} B per participant, at most ${last.bytesPerAggregator} B per aggregator (${last.levels} level${last.levels > 1 ? 's' : ''} of aggregators)`);
  if (result.byzantine.length) {
    const byz = new Set(result.byzantine);
    const mean = (ids: string[]) => ids.reduce((a, id) => a + result.reputation.get(id)!, 0) / Math.max(1, ids.length);
    const all = [...result.reputation.keys()];
    console.log(`detector        reputation: Byzantine ${mean(all.filter((id) => byz.has(id))).toFixed(2)}, honest ${mean(all.filter((id) => !byz.has(id))).toFixed(2)} (flagged this round: ${last.flagged.length})`);
  }
  console.log(`weights sha256  ${await paramsSha256(result.params)}`);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify(result.rows.map(({ failures: _f, ...r }) => r), null, 1));
    console.log(`wrote ${result.rows.length} rows to ${values.json}`);
  }
  if (values.plot) {
    const title = `meshwork: ${participants} participants, ${dp ? `DP-FedAvg (ε ≤ ${dpEps})` : rule}${attack ? `, ${attack} by ${Math.floor(byzantine * participants)}` : ''}, ${alpha === undefined ? 'IID' : `α ${alpha}`}, seed ${seed}`;
    writeFileSync(values.plot, learningCurveSvg(result.rows, title));
    console.log(`wrote the learning curve to ${values.plot}`);
  }
  return 0;
}

/** Every rule against every attack (and none): final accuracy, printed as a table and optionally as JSON. */
function matrix(shards: Dataset[], test: Dataset, rounds: number, seed: number, byzantine: number, json: string | undefined, tree: { fanin?: number; robustLevel?: number }): number {
  const attacks = ['none', ...ATTACKS];
  console.log(`meshwork simulate --matrix: ${shards.length} participants, ${Math.floor(byzantine * shards.length)} Byzantine, ${rounds} rounds, seed ${seed}${tree.fanin ? `, fan-in ${tree.fanin} (robust at level ${tree.robustLevel ?? 1})` : ''}: final accuracy`);
  console.log('rule'.padEnd(15) + attacks.map((a) => a.padStart(18)).join(''));
  const out: { rule: string; attack: string; accuracy: number }[] = [];
  for (const rule of RULES) {
    const cells: string[] = [];
    for (const attack of attacks) {
      const res = simulate(shards, test, { rounds, rule, seed, ...tree, ...(attack === 'none' ? {} : { attack, byzantine }) });
      const accuracy = res.rows[res.rows.length - 1]!.accuracy;
      out.push({ rule, attack, accuracy });
      cells.push(accuracy.toFixed(3));
      if (process.stdout.isTTY) process.stdout.write(`\r${rule.padEnd(15)}${cells.map((c) => c.padStart(18)).join('')}`);
    }
    if (process.stdout.isTTY) process.stdout.write('\r');
    console.log(rule.padEnd(15) + cells.map((c) => c.padStart(18)).join(''));
  }
  if (json) {
    writeFileSync(json, JSON.stringify(out, null, 1));
    console.log(`wrote ${out.length} rows to ${json}`);
  }
  return 0;
}

/** An ASCII learning curve: accuracy (0.0-1.0, 10 rows) against round. */
export function learningCurve(acc: number[]): string {
  const width = Math.min(acc.length, 60);
  const cols = Array.from({ length: width }, (_, c) => acc[Math.min(acc.length - 1, Math.floor(((c + 1) * acc.length) / width) - 1)]!);
  const lines: string[] = [];
  for (let row = 10; row >= 1; row--) {
    const lo = (row - 1) / 10;
    lines.push(`${row === 10 ? '1.0' : row === 5 ? '0.5' : '   '} |${cols.map((a) => (a >= lo + 0.05 ? '█' : a >= lo ? '▄' : ' ')).join('')}`);
  }
  lines.push(`    +${'-'.repeat(width)}`);
  lines.push(`     accuracy by round (1..${acc.length})`);
  return lines.join('\n');
}
