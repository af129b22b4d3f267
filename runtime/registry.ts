/**
 * Backends and the kernel table. Backends are tried in `env.backends` order; each initialises lazily
 * behind one shared promise, records why it failed, and a backend the user asked for that cannot run is
 * reported loudly. `runKernel(name, inputs, attrs)` validates once, then runs the kernel of the best ready
 * backend (or the one named in options).
 * @module
 */
import { env } from './env.js';
import type { TypedArray } from './errors.js';
import { OPS } from './ops/index.js';
import type { Attrs, Inputs, Plan } from './ops/types.js';
import { WasmBackend } from './backends/wasm.js';

/** A kernel: runs one op on one backend. */
export interface Kernel {
  op: string;
  backend: string;
  run(inputs: Inputs, plan: Plan): TypedArray[];
}

/** A backend factory: `init` resolves to the kernels it provides, or rejects saying why it can't run. */
export interface BackendFactory {
  name: string;
  init(): Promise<Kernel[]>;
}

const factories = new Map<string, BackendFactory>();
const initPromises = new Map<string, Promise<void>>();
const kernels = new Map<string, Kernel>(); // key `${op}|${backend}`
const ready = new Set<string>();
/** Why each backend that failed to initialise failed. */
export const backendFailures = new Map<string, string>();

/** Registers (or replaces) a backend factory. */
export function registerBackend(factory: BackendFactory): void {
  factories.set(factory.name, factory);
}

/** Registers one kernel in the table. */
export function registerKernel(kernel: Kernel): void {
  kernels.set(`${kernel.op}|${kernel.backend}`, kernel);
}

/** The kernel for (op, backend), if registered. */
export function getKernel(op: string, backend: string): Kernel | undefined {
  return kernels.get(`${op}|${backend}`);
}

/** Initialises one backend (once; concurrent callers share the promise). */
export function initBackend(name: string): Promise<void> {
  let p = initPromises.get(name);
  if (p) return p;
  const factory = factories.get(name);
  if (!factory) {
    const why = `unknown backend '${name}' (known: ${[...factories.keys()].join(', ')})`;
    backendFailures.set(name, why);
    return Promise.reject(new Error(why));
  }
  p = factory.init().then(
    (list) => {
      for (const k of list) registerKernel(k);
      ready.add(name);
      backendFailures.delete(name);
    },
    (err: unknown) => {
      backendFailures.set(name, err instanceof Error ? err.message : String(err));
      initPromises.delete(name); // a later call may retry, e.g. after a loader is installed
      throw err;
    },
  );
  initPromises.set(name, p);
  return p;
}

/** Names of the backends that initialised. */
export function readyBackends(): string[] {
  return env.backends.filter((b) => ready.has(b)).concat([...ready].filter((b) => !env.backends.includes(b)));
}

/**
 * Initialises the backends in `env.backends` (or `backends`). Warns about each one that cannot run;
 * throws one error naming every failure when none works.
 * @example
 * await ready();
 * const c = runKernel('matmul', { a, b }, { m: 2, k: 3, n: 4 })[0];
 */
export async function readyAll(backends: string[] = env.backends): Promise<string[]> {
  const results = await Promise.allSettled(backends.map((b) => initBackend(b)));
  const failed = backends.filter((_, i) => results[i]!.status === 'rejected');
  if (failed.length === backends.length) {
    throw new Error(`no backend could start: ${failed.map((b) => `${b}: ${backendFailures.get(b)}`).join('; ')}`);
  }
  if (env.logLevel !== 'error') {
    for (const b of failed) console.warn(`meshwork: backend ${b} is unavailable: ${backendFailures.get(b)}`);
  }
  return backends.filter((b) => ready.has(b));
}

/** Which backend `runKernel` would use for an op now (the first ready one in priority order). */
export function backendFor(op: string): string | undefined {
  return readyBackends().find((b) => kernels.has(`${op}|${b}`));
}

/** Options of {@link runKernel}. */
export interface RunOptions {
  /** Run on this backend (it must be ready). Default: the best ready backend with the kernel. */
  backend?: string;
}

/**
 * Runs an op: validates inputs and attrs (TypeError/RangeError naming the field), then runs the kernel.
 * Returns the outputs in the op's declared order.
 * @throws Error when the op is unknown or no ready backend has it.
 */
export function runKernel(op: string, inputs: Inputs, attrs: Attrs = {}, options: RunOptions = {}): TypedArray[] {
  const def = OPS.get(op);
  if (!def) throw new RangeError(`unknown op '${op}' (known: ${[...OPS.keys()].join(', ')})`);
  const plan = def.plan(inputs, attrs);
  const backend = options.backend ?? backendFor(op);
  if (!backend) throw new Error(`${op}: no ready backend has this kernel; await ready() first`);
  const kernel = kernels.get(`${op}|${backend}`);
  if (!kernel) {
    const why = backendFailures.get(backend);
    throw new Error(`${op}: backend '${backend}' is not ready${why ? `: ${why}` : '; await ready() first'}`);
  }
  return kernel.run(inputs, plan);
}

// Built-in backends: the JS reference and the two Wasm builds.
registerBackend({
  name: 'js',
  init: async () => [...OPS.values()].map((def) => ({ op: def.name, backend: 'js', run: (inputs, plan) => def.reference(inputs, plan) })),
});
for (const name of ['wasm', 'wasm-simd'] as const) {
  registerBackend({
    name,
    init: async () => {
      const be = await WasmBackend.create(name);
      return [...OPS.keys()].filter((op) => be.has(op)).map((op) => ({ op, backend: name, run: (inputs, plan) => be.run(op, inputs, plan) }));
    },
  });
}
