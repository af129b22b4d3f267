// Shared helpers for the Node test files.
import { ready } from '../host-node/index.js';

/** Every backend the Node host runs. */
export const NODE_BACKENDS = ['js', 'wasm', 'wasm-simd'] as const;

let started: Promise<string[]> | undefined;
/** Starts all Node backends once per test file and asserts that none was skipped. */
export function startBackends(): Promise<string[]> {
  started ??= ready([...NODE_BACKENDS]).then((got) => {
    const missing = NODE_BACKENDS.filter((b) => !got.includes(b));
    if (missing.length) throw new Error(`backends failed to start: ${missing.join(', ')}`);
    return got;
  });
  return started;
}

/** Byte view of a typed array, for exact comparison. */
export function bytes(a: ArrayBufferView): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}
