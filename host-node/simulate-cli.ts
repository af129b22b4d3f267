/**
 * `meshwork simulate`: a federated run on the shipped digits, in-process, with a live progress line, a
 * final table and optional per-round JSON.
 * @module
 */
import { writeFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { shardDirichlet, shardIid, trainTestSplit } from '../runtime/fl/data.js';
import { paramsSha256, simulate } from '../runtime/fl/simulate.js';
import { RULES } from '../runtime/fl/strategy.js';
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
      json: { type: 'string' }, backend: { type: 'string' },
    },
  });
  const participants = num('participants', values.participants, 20, 1, 1437, true);
  const rounds = num('rounds', values.rounds, 30, 1, 100000, true);
  const seed = num('seed', values.seed, 1, 0, Number.MAX_SAFE_INTEGER, true);
  const rule = values.rule!;
  if (!(RULES as readonly string[]).includes(rule)) throw new RangeError(`simulate: --rule must be one of ${RULES.join(', ')}, got '${rule}'`);
  if (values.iid && values.alpha !== undefined) throw new RangeError('simulate: give --iid or --alpha, not both');
  const alpha = values.alpha === undefined ? undefined : num('alpha', values.alpha, 0.5, 1e-3, 1e6);
  await ready();
  const { train, test } = trainTestSplit(loadDigits(), 0.2, seed);
  const shards = alpha === undefined ? shardIid(train, participants, seed) : shardDirichlet(train, participants, alpha, seed);
  console.log(`meshwork simulate: ${participants} participants, ${rounds} rounds, rule ${rule}, ${alpha === undefined ? 'IID' : `non-IID (alpha ${alpha})`}, seed ${seed}; digits ${train.n} train / ${test.n} test`);
  const tty = process.stdout.isTTY;
  const result = simulate(shards, test, {
    rounds, rule, seed, kernel: values.backend ? { backend: values.backend } : {},
    onRound: (r) => {
      const line = `round ${String(r.round).padStart(4)}/${rounds}  accuracy ${r.accuracy.toFixed(4)}  loss ${r.loss.toFixed(4)}  epsilon ${r.epsilon ?? '-'}  rejected ${r.rejected}`;
      if (tty) process.stdout.write(`\r${line}`);
      else if (r.round % 10 === 0 || r.round === rounds) console.log(line);
    },
  });
  if (tty) process.stdout.write('\n');
  const last = result.rows[result.rows.length - 1]!;
  const best = result.rows.reduce((a, r) => (r.accuracy > a.accuracy ? r : a));
  console.log('');
  console.log(`final accuracy  ${last.accuracy.toFixed(4)} (best ${best.accuracy.toFixed(4)} at round ${best.round})`);
  console.log(`final loss      ${last.loss.toFixed(4)}`);
  console.log(`rounds time     ${(result.ms / 1000).toFixed(2)} s (in-process, after start-up)`);
  console.log(`bytes/participant/round  ${last.bytesPerParticipant}`);
  console.log(`weights sha256  ${await paramsSha256(result.params)}`);
  if (values.json) {
    writeFileSync(values.json, JSON.stringify(result.rows.map(({ failures: _f, ...r }) => r), null, 1));
    console.log(`wrote ${result.rows.length} rows to ${values.json}`);
  }
  return 0;
}
