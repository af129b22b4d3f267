// Module Web Worker entry of the browser Groth16 prover: fetches and checks the artifacts once, then proves
// over comlink on this thread (snarkjs's browser build, ffjavascript's Wasm engine).
import { expose } from 'comlink';
import { dispose, loadArtifacts, prove, type Groth16Artifacts, type ProofWithSignals, type ProveInput } from '../proofs/groth16.js';

/** What the prover worker offers the page. */
export interface BrowserGroth16WorkerApi {
  /** Fetches the artifacts from these URLs (file name to URL) and checks them against checksums.json. */
  load(urls: Record<string, string>): Promise<void>;
  /** Proves one chunk. */
  prove(input: ProveInput): Promise<ProofWithSignals>;
  /** Stops the bn128 engine. */
  dispose(): Promise<void>;
}

let artifacts: Groth16Artifacts | undefined;

async function fetchBytes(name: string, url: string): Promise<Uint8Array> {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`cannot fetch Groth16 artifact ${name} from ${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

const api: BrowserGroth16WorkerApi = {
  async load(urls) {
    const files: Record<string, Uint8Array> = {};
    let checksums: Uint8Array | undefined;
    await Promise.all(Object.entries(urls).map(async ([name, url]) => {
      const bytes = await fetchBytes(name, url);
      if (name === 'checksums.json') checksums = bytes;
      else files[name] = bytes;
    }));
    if (!checksums) throw new Error('checksums.json is missing from the artifact URLs');
    artifacts = loadArtifacts(files, checksums);
  },
  async prove(input) {
    if (!artifacts) throw new Error('the Groth16 worker has no artifacts: call load() first');
    return prove(input, artifacts);
  },
  dispose,
};
expose(api);
