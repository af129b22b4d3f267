/**
 * Groth16 proving in a browser: a module Web Worker fetches the committed artifacts (checked against
 * checksums.json) and proves chunks there, so the page stays responsive during the ~1 s proofs.
 * Verification (`verify`, `batchVerify` from `meshwork/proofs/groth16`) runs wherever it is called.
 * @module
 */
import { wrap, type Remote } from 'comlink';
import { ARTIFACT_FILES, checkProveInput, type ProofWithSignals, type ProveInput } from '../proofs/groth16.js';
import type { BrowserGroth16WorkerApi } from './groth16-worker.js';

// What a participant needs besides the prover; here so that one lazy import (participant.ts) brings it all.
export { bindingOf, chunksOf } from '../proofs/groth16.js';

/**
 * The URLs of the committed artifacts, resolved against this module. Bundlers that understand
 * `new URL(literal, import.meta.url)` (vite, webpack 5) copy the files into the build.
 */
export function defaultArtifactUrls(): Record<string, string> {
  return {
    [ARTIFACT_FILES.wasm]: new URL('../../proofs/artifacts/update_chunk_64.wasm', import.meta.url).href,
    [ARTIFACT_FILES.zkey]: new URL('../../proofs/artifacts/update_chunk_64.zkey', import.meta.url).href,
    [ARTIFACT_FILES.vkey]: new URL('../../proofs/artifacts/update_chunk_64_verification_key.json', import.meta.url).href,
    'checksums.json': new URL('../../proofs/artifacts/checksums.json', import.meta.url).href,
  };
}

/** A Groth16 prover on a Web Worker. */
export interface BrowserGroth16Prover {
  /** Proves one chunk. @throws TypeError / RangeError naming the field for bad input (checked here first). */
  prove(input: ProveInput): Promise<ProofWithSignals>;
  /** Stops the worker. */
  dispose(): Promise<void>;
}

/** Starts the worker and loads the artifacts (from `urls`, default {@link defaultArtifactUrls}). */
export async function createGroth16Prover(opts: { urls?: Record<string, string> } = {}): Promise<BrowserGroth16Prover> {
  // The literal `new Worker(new URL(...), { type: 'module' })` is what bundlers recognise.
  const worker = new Worker(new URL('./groth16-worker.js', import.meta.url), { type: 'module' });
  const failed = new Promise<never>((_, reject) => {
    worker.addEventListener('error', (e) => reject(new Error(`groth16 worker failed to load or threw: ${e.message || 'no message'}`)));
  });
  failed.catch(() => undefined);
  const api: Remote<BrowserGroth16WorkerApi> = wrap<BrowserGroth16WorkerApi>(worker);
  try {
    await Promise.race([api.load(opts.urls ?? defaultArtifactUrls()), failed]);
  } catch (e) {
    worker.terminate();
    throw e;
  }
  let disposed = false;
  return {
    async prove(input) {
      if (disposed) throw new Error('the groth16 prover was disposed');
      const { x, bound, bind } = checkProveInput('prove', input);
      return Promise.race([api.prove({ x, bound, bind }), failed]);
    },
    async dispose() {
      if (disposed) return;
      disposed = true;
      await Promise.race([api.dispose(), new Promise((r) => setTimeout(r, 2000))]).catch(() => undefined);
      worker.terminate();
    },
  };
}
