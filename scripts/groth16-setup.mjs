#!/usr/bin/env node
// Groth16 trusted setup for meshwork's update-chunk circuit, start to finish:
//   1. compile proofs/circuits/update_chunk_64.circom with circom2 (--O2; r1cs, wasm, sym);
//   2. phase 1, powers of tau on bn128 at the smallest power that fits the circuit: new accumulator, two
//      contributions with fresh random entropy, a random beacon, prepare phase 2, verify;
//   3. phase 2 for this circuit: zkey new, two contributions, a beacon, verify against the r1cs and ptau;
//   4. export the verification key (JSON) and the Solidity verifier;
//   5. copy the small artifacts to proofs/artifacts/ and write checksums.json (SHA-256 of each) and
//      setup-transcript.md (every step, its time, the contribution hashes snarkjs printed).
// The .ptau files and intermediate zkeys stay in proofs/artifacts/build/ (gitignored). Preparing phase 2 is
// the slow step (about a minute for 2^12 on 2 cores): run this by hand when the circuit changes, never in CI.
//
//   node scripts/groth16-setup.mjs [--reuse-ptau]
//
// --reuse-ptau keeps an existing prepared ptau of the right power in build/ (phase 1 does not depend on the
// circuit) and redoes only compilation and phase 2.
//
// A note on the beacon: a real ceremony uses public randomness fixed after the last contribution (a future
// block hash, a drand round). This script draws the beacon from the local CSPRNG and records it in the
// transcript; the setup is as trustworthy as the machine that ran it (any one honest contribution suffices).
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as snarkjs from 'snarkjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root); // circom2 (a WASI sandbox) sees only the current folder and below: paths stay relative
const reusePtau = process.argv.includes('--reuse-ptau');

const CIRCUIT = 'update_chunk_64';
const ART = 'proofs/artifacts';
const BUILD = `${ART}/build`;
const BEACON_ITERATIONS_EXP = 10; // 2^10 hash iterations of the beacon

const transcript = [];
const t0 = performance.now();
const secs = (t) => ((performance.now() - t) / 1000).toFixed(1);
/** Prints a progress line and keeps it for the transcript. */
function note(line) {
  console.log(`groth16-setup: ${line}`);
  transcript.push(line);
}
/** snarkjs logger: info lines (contribution hashes, verification results) go to the console and transcript. */
const logger = {
  debug: () => undefined,
  info: (s) => { console.log(`  ${s}`); transcript.push(`    ${s}`); },
  warn: (s) => { console.warn(`  warning: ${s}`); transcript.push(`    warning: ${s}`); },
  error: (s) => { console.error(`  error: ${s}`); transcript.push(`    error: ${s}`); },
};
/** Runs one named step, timing it; a snarkjs step that returns false or -1 fails the setup. */
async function step(name, fn) {
  const t = performance.now();
  note(`${name} ...`);
  const res = await fn();
  if (res === false || res === -1) throw new Error(`${name} failed`);
  transcript.push(`    (${secs(t)} s)`);
  return res;
}
const entropy = () => randomBytes(64).toString('hex');
const sha256 = (file) => createHash('sha256').update(readFileSync(file)).digest('hex');
const version = (pkg) => JSON.parse(readFileSync(`node_modules/${pkg}/package.json`, 'utf8')).version;

mkdirSync(BUILD, { recursive: true });
note(`circuit ${CIRCUIT}; snarkjs ${version('snarkjs')}, circom2 ${version('circom2')}, circomlib ${version('circomlib')}, node ${process.version}`);

// 1. Compile.
await step(`compile proofs/circuits/${CIRCUIT}.circom (circom2 --O2)`, () => {
  const out = execFileSync(process.execPath, ['node_modules/circom2/cli.js', `proofs/circuits/${CIRCUIT}.circom`, '--O2', '--r1cs', '--wasm', '--sym', '-l', 'node_modules', '-o', BUILD], { encoding: 'utf8' });
  // eslint-disable-next-line no-control-regex
  for (const line of out.replace(/\x1b\[[0-9;]*m/g, '').split('\n')) if (line.trim()) logger.info(line.trim());
});
const r1cs = `${BUILD}/${CIRCUIT}.r1cs`;
const wasm = `${BUILD}/${CIRCUIT}_js/${CIRCUIT}.wasm`;
const info = await step('r1cs info', () => snarkjs.r1cs.info(r1cs, logger));
// zkey new needs 2^power >= constraints + public inputs + outputs + 1 (snarkjs's own test).
const rows = info.nConstraints + info.nPubInputs + info.nOutputs + 1;
const power = Math.max(1, Math.ceil(Math.log2(rows)));
note(`${info.nConstraints} constraints, ${info.nPubInputs} public inputs, ${info.nOutputs} outputs: powers of tau 2^${power}`);

// 2. Phase 1.
const curve = await snarkjs.curves.getCurveFromName('bn128');
const ptauFinal = `${BUILD}/pot${power}_final.ptau`;
if (reusePtau && existsSync(ptauFinal)) {
  note(`phase 1: reusing ${ptauFinal} (sha256 ${sha256(ptauFinal)})`);
  await step('phase 1: verify the reused ptau', () => snarkjs.powersOfTau.verify(ptauFinal, logger));
} else {
  const p = (i) => `${BUILD}/pot${power}_${i}.ptau`;
  await step(`phase 1: new accumulator (bn128, 2^${power})`, () => snarkjs.powersOfTau.newAccumulator(curve, power, p('0000'), logger));
  await step('phase 1: contribution 1 (random entropy)', () => snarkjs.powersOfTau.contribute(p('0000'), p('0001'), 'meshwork contribution 1', entropy(), logger));
  await step('phase 1: contribution 2 (random entropy)', () => snarkjs.powersOfTau.contribute(p('0001'), p('0002'), 'meshwork contribution 2', entropy(), logger));
  const beacon = randomBytes(32).toString('hex');
  note(`phase 1: beacon ${beacon}, 2^${BEACON_ITERATIONS_EXP} iterations`);
  await step('phase 1: beacon', () => snarkjs.powersOfTau.beacon(p('0002'), p('beacon'), 'meshwork phase 1 beacon', beacon, BEACON_ITERATIONS_EXP, logger));
  await step('phase 1: prepare phase 2 (slow)', () => snarkjs.powersOfTau.preparePhase2(p('beacon'), ptauFinal, logger));
  await step('phase 1: verify', () => snarkjs.powersOfTau.verify(ptauFinal, logger));
  for (const i of ['0000', '0001', '0002', 'beacon']) rmSync(p(i));
  note(`phase 1: ${ptauFinal} sha256 ${sha256(ptauFinal)} (not committed)`);
}

// 3. Phase 2.
const z = (i) => `${BUILD}/${CIRCUIT}_${i}.zkey`;
await step('phase 2: zkey new', () => snarkjs.zKey.newZKey(r1cs, ptauFinal, z('0000'), logger));
await step('phase 2: contribution 1 (random entropy)', () => snarkjs.zKey.contribute(z('0000'), z('0001'), 'meshwork phase 2 contribution 1', entropy(), logger));
await step('phase 2: contribution 2 (random entropy)', () => snarkjs.zKey.contribute(z('0001'), z('0002'), 'meshwork phase 2 contribution 2', entropy(), logger));
const beacon2 = randomBytes(32).toString('hex');
note(`phase 2: beacon ${beacon2}, 2^${BEACON_ITERATIONS_EXP} iterations`);
await step('phase 2: beacon', () => snarkjs.zKey.beacon(z('0002'), z('final'), 'meshwork phase 2 beacon', beacon2, BEACON_ITERATIONS_EXP, logger));
await step('phase 2: verify the final zkey against the r1cs and ptau', () => snarkjs.zKey.verifyFromR1cs(r1cs, ptauFinal, z('final'), logger));

// 4. Exports.
const vkey = await step('export verification key', () => snarkjs.zKey.exportVerificationKey(z('final'), logger));
const template = readFileSync('node_modules/snarkjs/templates/verifier_groth16.sol.ejs', 'utf8');
const sol = await step('export Solidity verifier', () => snarkjs.zKey.exportSolidityVerifier(z('final'), { groth16: template }, logger));

// 5. Artifacts, checksums, transcript.
const files = {
  [`${CIRCUIT}.wasm`]: wasm,
  [`${CIRCUIT}.r1cs`]: r1cs,
  [`${CIRCUIT}.zkey`]: z('final'),
};
for (const [name, from] of Object.entries(files)) copyFileSync(from, `${ART}/${name}`);
writeFileSync(`${ART}/${CIRCUIT}_verification_key.json`, JSON.stringify(vkey, null, 1) + '\n');
writeFileSync(`${ART}/${CIRCUIT}_verifier.sol`, sol);
note(`done in ${secs(t0)} s`);
const transcriptName = 'setup-transcript.md';
writeFileSync(`${ART}/${transcriptName}`, [
  `# Groth16 setup transcript: ${CIRCUIT}`,
  '',
  `Written by scripts/groth16-setup.mjs on ${new Date().toISOString()}. Contribution hashes are as snarkjs printed them.`,
  '',
  '```',
  ...transcript,
  '```',
  '',
].join('\n'));
const committed = [`${CIRCUIT}.wasm`, `${CIRCUIT}.r1cs`, `${CIRCUIT}.zkey`, `${CIRCUIT}_verification_key.json`, `${CIRCUIT}_verifier.sol`, transcriptName];
const checksums = { circuit: CIRCUIT, algorithm: 'sha256', power, constraints: info.nConstraints, files: Object.fromEntries(committed.map((f) => [f, sha256(`${ART}/${f}`)])) };
writeFileSync(`${ART}/checksums.json`, JSON.stringify(checksums, null, 2) + '\n');
for (const f of committed) console.log(`groth16-setup: ${ART}/${f} ${(readFileSync(`${ART}/${f}`).length / 1024).toFixed(0)} KiB`);
await curve.terminate();
