// Worker entry of the Node Groth16 prover: reads and checks the artifacts once, then proves over comlink.
//
// ffjavascript starts its thread pool through the `web-worker` package, which cannot run inside a
// worker_threads Worker (it takes every non-main thread for one of its own workers). So this thread installs
// a single-threaded bn128 engine as globalThis.curve_bn128, the cache snarkjs and ffjavascript look up before
// building their multi-threaded one: proofs made here use this one thread, and several prover workers prove
// in parallel.
import { parentPort, workerData } from 'node:worker_threads';
import { expose } from 'comlink';
import { buildBn128 } from 'ffjavascript';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { dispose, prove, type Groth16Artifacts, type ProofWithSignals, type ProveInput } from '../proofs/groth16.js';
import { readArtifacts } from './groth16.js';

/** What the prover worker offers its parent. */
export interface Groth16WorkerApi {
  /** Proves one chunk (input already checked by the caller; checked again here). */
  prove(input: ProveInput): Promise<ProofWithSignals>;
  /** Stops this worker's bn128 thread pool. */
  dispose(): Promise<void>;
}

if (!parentPort) throw new Error('groth16-worker must run in a worker_threads Worker');
const dir = (workerData as { dir: string }).dir;
let artifacts: Promise<Groth16Artifacts> | undefined;
const api: Groth16WorkerApi = {
  async prove(input) {
    const g = globalThis as { curve_bn128?: unknown };
    g.curve_bn128 ??= await buildBn128(true);
    artifacts ??= readArtifacts(new URL(dir));
    return prove(input, await artifacts);
  },
  dispose,
};
expose(api, nodeEndpoint(parentPort));
