/**
 * Groth16 bench (the update-chunk circuit, 2,642 constraints): proving on the Node worker and on the main
 * thread, one snarkjs verification, 64 snarkjs verifications one after another against meshwork's batch
 * verifier on the same 64 proofs (interleaved runs, ratio of medians per pair), a batch with one bad proof
 * (bisection), and the chunk commitment. The 64 proofs are 8 distinct proofs, each 8 times: every item of
 * a batch gets its own random scalar and its own Miller loop, so repeats cost what distinct proofs do.
 * @module
 */
import { availableParallelism } from 'node:os';
import * as snarkjs from 'snarkjs';
import { createGroth16Prover, readArtifacts } from '../host-node/groth16.js';
import { bindingOf, commitment, dispose, prove, sumOfSquares, CHUNK, type ProofWithSignals } from '../proofs/groth16.js';
import { batchVerify, type BatchItem } from '../proofs/groth16-batch.js';
import { interleaved, medianMs, type BenchRow } from './harness.js';

/** The Groth16 suite's rows. */
export async function groth16Suite(cfg: { quick: boolean; log: (s: string) => void }): Promise<BenchRow[]> {
  const rows: BenchRow[] = [];
  const row = (c: string, backend: string, metric: string, value: number, unit: string, threads = 1) => rows.push({ suite: 'groth16', case: c, backend, threads, metric, value, unit });
  const cores = availableParallelism();
  const artifacts = await readArtifacts();
  const chunk = (seed: number) => Int32Array.from({ length: CHUNK }, (_, i) => ((i * 7919 + seed * 104729) % 20001) - 10000);
  const input = (seed: number) => {
    const x = chunk(seed);
    return { x, bound: sumOfSquares(x), bind: bindingOf({ task: 'bench', round: 1, sender: new Uint8Array(32).fill(seed), chunk: seed }) };
  };
  const prover = await createGroth16Prover();
  try {
    const distinct = 8;
    cfg.log(`  groth16: proving ${distinct} chunks on the worker`);
    const proofs: ProofWithSignals[] = [];
    const proveTimes: number[] = [];
    await prover.prove(input(99)); // warm-up: worker start, artifact read, engine build
    for (let i = 0; i < distinct; i++) {
      const t0 = performance.now();
      proofs.push(await prover.prove(input(i)));
      proveTimes.push(performance.now() - t0);
    }
    proveTimes.sort((a, b) => a - b);
    const pc = `prove one ${CHUNK}-value chunk (2,642 constraints)`;
    row(pc, 'snarkjs 0.7.6 fullProve, Node worker', 'time', proveTimes[proveTimes.length >> 1]!, 'ms');
    cfg.log('  groth16: proving on the main thread (bn128 thread pool)');
    row(pc, 'snarkjs 0.7.6 fullProve, main thread', 'time', await medianMs(() => prove(input(1), artifacts), cfg.quick ? 3 : 5, 1), 'ms', cores);

    cfg.log('  groth16: verification');
    const vk = artifacts.vkey;
    const p0 = proofs[0]!;
    row('verify one proof', 'snarkjs 0.7.6 groth16.verify', 'time', await medianMs(() => snarkjs.groth16.verify(vk, p0.publicSignals, p0.proof), cfg.quick ? 15 : 41, 3), 'ms', cores);
    const items: BatchItem[] = Array.from({ length: 64 }, (_, i) => ({ proof: proofs[i % distinct]!.proof, publicSignals: proofs[i % distinct]!.publicSignals }));
    const sequential = async () => {
      for (const it of items) if (!(await snarkjs.groth16.verify(vk, it.publicSignals as string[], it.proof))) throw new Error('bench: a valid proof failed snarkjs verify');
    };
    const batch = async () => {
      if (!(await batchVerify(vk, items)).ok) throw new Error('bench: the batch of valid proofs failed');
    };
    const r = await interleaved(sequential, batch, cfg.quick ? 3 : 7);
    const vc = 'verify 64 proofs (8 distinct x 8)';
    row(vc, 'snarkjs groth16.verify x64, one after another', 'time', r.medianA, 'ms', cores);
    row(vc, 'meshwork batchVerify (k + 2 Miller loops)', 'time', r.medianB, 'ms', cores);
    row(vc, 'batch vs sequential snarkjs', 'speedup', r.ratio, 'x', cores);

    const oneBad = items.map((it) => ({ proof: it.proof, publicSignals: [...it.publicSignals] }));
    oneBad[37]!.publicSignals[2] = '1';
    row('verify 64 proofs, 1 bad (found by bisection)', 'meshwork batchVerify', 'time', await medianMs(async () => {
      const res = await batchVerify(vk, oneBad);
      if (res.bad.length !== 1 || res.bad[0] !== 37) throw new Error('bench: bisection missed the bad proof');
    }, cfg.quick ? 3 : 7, 1), 'ms', cores);

    const x = chunk(5);
    row(`commitment of one ${CHUNK}-value chunk`, 'circuit witness generator (compiled once)', 'time', await medianMs(() => commitment(x, artifacts), cfg.quick ? 20 : 100, 3), 'ms');
  } finally {
    await prover.dispose();
    await dispose();
  }
  return rows;
}
