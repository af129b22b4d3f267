/**
 * The coordinator's Prometheus metrics (prom-client), on a registry of its own (several coordinators may share
 * a process in tests).
 * @module
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { CoordinatorMetrics, ParticipantStatus } from './core.js';
import type { RoundRowRecord } from './store.js';

/** Metrics plus the registry `/metrics` renders. */
export interface PromMetrics extends CoordinatorMetrics {
  registry: Registry;
  /** Observes one HTTP request's handling time. */
  request(route: string, status: number, seconds: number): void;
}

export function createMetrics(): PromMetrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'meshwork_process_' });
  const registers = [registry];
  const accepted = new Counter({ name: 'meshwork_updates_accepted_total', help: 'Update envelopes accepted into the ledger', registers });
  const rejected = new Counter({ name: 'meshwork_requests_rejected_total', help: 'Requests refused with a 4xx, by reason code', labelNames: ['code'], registers });
  const round = new Gauge({ name: 'meshwork_round', help: 'The round open or about to open', registers });
  const rounds = new Counter({ name: 'meshwork_rounds_completed_total', help: 'Rounds aggregated and applied', registers });
  const accuracy = new Gauge({ name: 'meshwork_test_accuracy', help: 'Test accuracy of the global model after the last round', registers });
  const loss = new Gauge({ name: 'meshwork_test_loss', help: 'Test loss of the global model after the last round', registers });
  const epsilon = new Gauge({ name: 'meshwork_privacy_epsilon', help: 'Privacy budget spent (epsilon; absent without differential privacy)', registers });
  const participants = new Gauge({ name: 'meshwork_participants', help: 'Joined participants, by host and whether connected now', labelNames: ['host', 'connected'], registers });
  const flagged = new Counter({ name: 'meshwork_updates_flagged_total', help: 'Accepted updates the detector flagged as outliers', registers });
  const roundSeconds = new Histogram({ name: 'meshwork_round_duration_seconds', help: 'From a round opening to its aggregate applied', buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120], registers });
  const requestSeconds = new Histogram({ name: 'meshwork_http_request_duration_seconds', help: 'HTTP request handling time, by route and status', labelNames: ['route', 'status'], buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers });
  return {
    registry,
    accepted: () => accepted.inc(),
    rejected: (code) => rejected.inc({ code }),
    round: (r) => round.set(r),
    roundClosed(row: RoundRowRecord) {
      rounds.inc();
      accuracy.set(row.accuracy);
      loss.set(row.loss);
      if (row.epsilon !== null) epsilon.set(row.epsilon);
      if (row.flagged.length) flagged.inc(row.flagged.length);
      roundSeconds.observe(row.latencyMs / 1000);
    },
    participants(list: ParticipantStatus[]) {
      participants.reset();
      for (const host of ['node', 'browser'] as const) {
        for (const connected of [true, false]) participants.set({ host, connected: String(connected) }, list.filter((p) => p.host === host && p.connected === connected).length);
      }
    },
    request: (route, status, seconds) => requestSeconds.observe({ route, status: String(status) }, seconds),
  };
}
