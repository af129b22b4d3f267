/**
 * Groth16 on Node: the committed artifacts read from the package's proofs/artifacts/ (checked against
 * checksums.json), and a prover that runs in a worker_threads Worker so that proving (about a second of
 * Wasm and bigint work per chunk) never blocks the caller's event loop.
 * @example
 * const prover = await createGroth16Prover();
 * const { proof, publicSignals } = await prover.prove({ x: chunk, bound, bind });
 * await prover.dispose();
 * @module
 */
import { readFile } from 'node:fs/promises';
import { Worker } from 'node:worker_threads';
import { wrap, releaseProxy, type Remote } from 'comlink';
import nodeEndpoint from 'comlink/dist/esm/node-adapter.mjs';
import { ARTIFACT_FILES, checkProveInput, loadArtifacts, type Groth16Artifacts, type ProofWithSignals, type ProveInput } from '../proofs/groth16.js';
import type { Groth16WorkerApi } from './groth16-worker.js';

/** Where the committed Groth16 artifacts live: <package root>/proofs/artifacts/ (this module runs from dist/host-node/). */
export const ARTIFACTS_DIR = new URL('../../proofs/artifacts/', import.meta.url);

/**
 * Reads the prover's and verifier's artifacts and checksums.json from `dir` and checks them.
 * @throws ChecksumError when a file does not match checksums.json; Error when a file cannot be read.
 */
export async function readArtifacts(dir: URL = ARTIFACTS_DIR): Promise<Groth16Artifacts> {
  const read = async (name: string) => {
    try {
      return new Uint8Array(await readFile(new URL(name, dir)));
    } catch (e) {
      throw new Error(`cannot read Groth16 artifact ${name} in ${dir.pathname} (${(e as Error).message}); run 'node scripts/groth16-setup.mjs'`);
    }
  };
  const files: Record<string, Uint8Array> = {};
  for (const name of Object.values(ARTIFACT_FILES)) files[name] = await read(name);
  return loadArtifacts(files, await read('checksums.json'));
}

/** A Groth16 prover on a worker thread. */
export interface Groth16Prover {
  /**
   * Proves one chunk on the worker.
   * @throws TypeError / RangeError naming the field for bad input (checked on the caller's thread first).
   */
  prove(input: ProveInput): Promise<ProofWithSignals>;
  /** Stops the worker (and its bn128 thread pool); later calls reject. */
  dispose(): Promise<void>;
}

/** comlink keeps an error's name and message, not its class: rebuild TypeError and RangeError. */
function revive(e: unknown): unknown {
  if (e instanceof Error && !(e instanceof TypeError) && !(e instanceof RangeError) && (e.name === 'TypeError' || e.name === 'RangeError')) {
    const r = e.name === 'TypeError' ? new TypeError(e.message) : new RangeError(e.message);
    r.stack = e.stack;
    return r;
  }
  return e;
}

/**
 * Starts a prover worker that reads the artifacts from `dir` (default {@link ARTIFACTS_DIR}) on its first
 * proof. Calls are served one at a time, in order.
 */
export async function createGroth16Prover(opts: { dir?: URL } = {}): Promise<Groth16Prover> {
  const dir = opts.dir ?? ARTIFACTS_DIR;
  // `mod: 'data:,'`: ffjavascript's web-worker shim, loaded in every thread, evaluates workerData.mod in any
  // worker_threads thread; an empty script keeps it quiet (see groth16-worker.ts).
  const worker = new Worker(new URL('./groth16-worker.js', import.meta.url), { workerData: { dir: dir.href, mod: 'data:,' } });
  worker.unref();
  let ending = false;
  let disposed = false;
  const failed = new Promise<never>((_, reject) => {
    worker.on('error', reject);
    worker.on('exit', (code) => { if (!ending) reject(new Error(`groth16 worker exited with code ${code}`)); });
  });
  failed.catch(() => undefined); // observed through the race in prove()
  const api: Remote<Groth16WorkerApi> = wrap<Groth16WorkerApi>(nodeEndpoint(worker));
  return {
    async prove(input) {
      if (disposed) throw new Error('the groth16 prover was disposed');
      const { x, bound, bind } = checkProveInput('prove', input);
      try {
        return await Promise.race([api.prove({ x, bound, bind }), failed]);
      } catch (e) {
        throw revive(e);
      }
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      ending = true;
      try {
        await Promise.race([api.dispose(), new Promise((r) => setTimeout(r, 2000).unref())]);
      } finally {
        api[releaseProxy]();
        await worker.terminate();
      }
    },
  };
}
