/**
 * Starts a coordinator: the task, its LMDB folder, the round loop, and the HTTP + WebSocket server.
 * @example
 * const coord = await startCoordinator({ task: { rounds: 10, minParticipants: 3 }, dir: '.meshwork/digits', port: 8080 });
 * console.log(coord.url);            // http://127.0.0.1:8080
 * const rows = await coord.done;     // every round's row
 * await coord.close();
 * @module
 */
import { fileURLToPath } from 'node:url';
import { loadDigits } from '../data.js';
import { ready } from '../index.js';
import { parseTaskSpec, type TaskSpec } from '../../runtime/fl/protocol.js';
import { JoinAttestation, type JoinAttestationOptions } from './attestation.js';
import { Coordinator, type CoordinatorEvent } from './core.js';
import { createMetrics } from './metrics.js';
import { createCoordinatorServer } from './server.js';
import { CoordinatorStore, type RoundRowRecord } from './store.js';

export interface StartOptions {
  /** The task (fields default as in runtime/fl/protocol.ts DEFAULT_TASK). */
  task?: Partial<TaskSpec> | unknown;
  /** Folder of the embedded database (created if missing; a restart with the same folder resumes). */
  dir: string;
  /** TCP port (0: a free one). Default 8080. */
  port?: number;
  /** Interface to listen on. Default 127.0.0.1. */
  host?: string;
  /** Folder holding the web bundles (embed/, dashboard/). Default: the package's dist/web. */
  webRoot?: string;
  /** Where log lines go (default: nowhere). */
  log?: (line: string) => void;
  /**
   * TPM attestation at join (docs/tpm.md, "Attestation at join"): options of a new {@link JoinAttestation}
   * (require it, pin AKs, a PCR policy), or one to use. Default: evidence optional, any AK, any PCRs.
   */
  attestation?: JoinAttestationOptions | JoinAttestation;
  /**
   * Tasks with aggregators: URL prefixes an aggregator's endpoint must start with (e.g.
   * `['http://10.0.0.', 'https://agg.example.org/']`); the coordinator fetches from those endpoints to replay
   * partials. Default: any http(s) endpoint.
   */
  aggregatorEndpoints?: string[];
}

/** A running coordinator. */
export interface RunningCoordinator {
  /** Base URL of the HTTP + WebSocket server, e.g. http://127.0.0.1:8080 (an IPv6 host in brackets). */
  url: string;
  /** The bound TCP port (the free one picked when `port` was 0). */
  port: number;
  /** The round loop itself: status, events, the current model. */
  coordinator: Coordinator;
  /** Every round's row, once the last round is aggregated. */
  done: Promise<RoundRowRecord[]>;
  /** Stops the server, then the round loop, then closes the database. Idempotent: every call returns the same promise. */
  close(): Promise<void>;
}

/**
 * Starts a coordinator: parses the task, starts the Node backends, opens (or resumes) the LMDB ledger in
 * `dir`, starts the round loop and serves the API, the dashboard and the embed script on `host:port`.
 * @throws TypeError when `opts` or `dir` is missing; RangeError for a bad port; TypeError or RangeError
 *   naming the task field (from {@link parseTaskSpec}); the listen error (e.g. EADDRINUSE), after the loop
 *   and the database are closed again.
 */
export async function startCoordinator(opts: StartOptions): Promise<RunningCoordinator> {
  if (typeof opts !== 'object' || opts === null) throw new TypeError('startCoordinator: options must be an object');
  if (typeof opts.dir !== 'string' || !opts.dir) throw new TypeError('startCoordinator: dir must be a folder path');
  const port = opts.port ?? 8080;
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new RangeError(`startCoordinator: port must be an integer in [0, 65535], got ${port}`);
  const task = parseTaskSpec(opts.task ?? {});
  if (opts.aggregatorEndpoints !== undefined && (!Array.isArray(opts.aggregatorEndpoints) || !opts.aggregatorEndpoints.length || opts.aggregatorEndpoints.some((p) => typeof p !== 'string' || !/^https?:\/\/./.test(p)))) {
    throw new TypeError('startCoordinator: aggregatorEndpoints must be a non-empty array of http(s) URL prefixes');
  }
  const log = opts.log ?? (() => undefined);
  const attestation = opts.attestation instanceof JoinAttestation ? opts.attestation : new JoinAttestation(opts.attestation ?? {});
  await ready();
  const store = new CoordinatorStore(opts.dir);
  const metrics = createMetrics();
  let broadcast: (e: CoordinatorEvent) => void = () => undefined;
  let coordinator: Coordinator;
  try {
    coordinator = await Coordinator.start({ task, store, data: loadDigits(), metrics, log, attestation, onEvent: (e) => broadcast(e), ...(opts.aggregatorEndpoints ? { aggregatorEndpoints: opts.aggregatorEndpoints } : {}) });
  } catch (e) {
    await store.close();
    throw e;
  }
  const web = createCoordinatorServer({
    coordinator, metrics, log,
    webRoot: opts.webRoot ?? fileURLToPath(new URL('../../web/', import.meta.url)),
    dataRoot: fileURLToPath(new URL('../../../data/', import.meta.url)),
  });
  broadcast = web.broadcast;
  const host = opts.host ?? '127.0.0.1';
  let bound: number;
  try {
    bound = await web.listen(port, host);
  } catch (e) {
    await coordinator.stop();
    await store.close();
    throw e;
  }
  const shown = host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host.includes(':') ? `[${host}]` : host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${shown}:${bound}`,
    port: bound,
    coordinator,
    done: coordinator.done,
    close() {
      closing ??= (async () => {
        coordinator.halt();
        await web.close();
        await coordinator.stop();
        await store.close();
        // A proofs task's verifier started the bn128 thread pool (globalThis.curve_bn128); Node does not exit
        // while it runs. A task without proofs never loaded snarkjs and skips this.
        if (task.proofs && (globalThis as { curve_bn128?: unknown }).curve_bn128) await (await import('../../proofs/groth16.js')).dispose();
      })();
      return closing;
    },
  };
}

export { Coordinator, HttpError, type CoordinatorOptions, type CoordinatorMetrics, type CoordinatorEvent, type RejectionRecord, type ParticipantStatus, type JoinAnswer, type LedgerEntry } from './core.js';
export { AttestationError, JoinAttestation, type AttestationVerdict, type JoinAttestationOptions } from './attestation.js';
export type { CoordinatorStore, RoundRowRecord, ParticipantRecord, RoundOpenRecord, RoundResultRecord } from './store.js';
