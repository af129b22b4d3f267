// Module Web Worker entry of the browser batch verifier: Ed25519 verification with libsodium (Wasm) on its
// own core, beside WebCrypto on the page (see verify.ts).
import { expose } from 'comlink';
import { loadSodium, verifySodiumDetailedSync, type Rejection } from '../proofs/ed25519.js';

/** What the worker offers the page. */
export interface VerifyWorkerApi {
  /** Loads libsodium; resolves when the worker can verify. */
  ready(): Promise<void>;
  /** Verifies packed items: for each, 32-byte key, 64-byte signature, message; returns reasons (undefined = valid). */
  verify(keys: Uint8Array, sigs: Uint8Array, messages: Uint8Array[]): Promise<(Rejection | undefined)[]>;
}

const api: VerifyWorkerApi = {
  async ready() {
    await loadSodium();
  },
  async verify(keys, sigs, messages) {
    const sodium = await loadSodium();
    return messages.map((m, i) => verifySodiumDetailedSync(sodium, keys.subarray(32 * i, 32 * i + 32), m, sigs.subarray(64 * i, 64 * i + 64)));
  },
};
expose(api);
