/**
 * The coordinator's crash-safe state: an embedded LMDB database (lmdb-js) in one folder. Every write is a
 * synced commit before its promise resolves (`overlappingSync: false`), and concurrent writes share one
 * commit (lmdb-js batches them), so acknowledging an update after `await` means it survives `kill -9`.
 *
 * Databases:
 * - `meta`: the task (refused if a different task reuses the folder) and the round the task is at;
 * - `participants`: public key (hex) -> id, index, host, role, joined time, TPM attestation;
 * - `ledger`: [round, index] -> the accepted update envelope, or an aggregator's partial-sum envelope (under
 *   the aggregator's index), exactly once (`ifNoExists`);
 * - `rounds`: round -> its opening (selection, model hash, open time);
 * - `results`: round -> the model after it, server momentum, reputation and the round's row (one
 *   transaction with the `meta` round pointer, so a round is either wholly applied or not at all).
 * @module
 */
import { mkdirSync } from 'node:fs';
import { open, type Database, type RootDatabase } from 'lmdb';
import type { RoundAggregator, StatusRow, TaskSpec } from '../../runtime/fl/protocol.js';

/** A joined participant. */
export interface ParticipantRecord {
  id: string;
  index: number;
  publicKey: string;
  host: 'node' | 'browser';
  role: 'participant' | 'aggregator';
  joinedAt: number;
  /** True once a join of this key carried a TPM quote that verified (absent in records written before). */
  attested?: boolean;
  /** TPM name (hex) of the attestation key of the last verified quote. */
  ak?: string;
  /** When the last verified quote came (epoch ms). */
  attestedAt?: number;
  /** ML-DSA-65 public key (base64) registered at join: its envelopes are all hybrid. */
  mlDsaPublicKey?: string;
  /** Role `aggregator`: the base URL its participants submit to (its last join's). */
  endpoint?: string;
}

/** A round's opening. */
export interface RoundOpenRecord {
  round: number;
  selected: string[];
  modelSha256: string;
  openedAt: number;
  /** DP tasks: participants available when the round was sampled (DP-FedAvg divides by q times this). */
  population?: number;
  /** Tasks with `aggregators`: the leaf aggregators of the round and their members (reassignments rewrite it). */
  aggregators?: RoundAggregator[];
  /** Aggregators whose counted partial was replayed from its envelopes. */
  audited?: string[];
}

/** One round's row (the status row of the protocol). */
export type RoundRowRecord = StatusRow;

/** A round's result: everything the next round starts from. */
export interface RoundResultRecord {
  row: RoundRowRecord;
  params: Uint8Array;
  velocity: Uint8Array;
  reputation: [string, number][];
  flags: [string, number][];
}

const bytesOf = (a: Float32Array): Uint8Array => new Uint8Array(a.buffer.slice(a.byteOffset, a.byteOffset + a.byteLength));
const f32Of = (b: Uint8Array): Float32Array => new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength));
export { bytesOf, f32Of };

/** The coordinator's database. */
export class CoordinatorStore {
  private readonly root: RootDatabase;
  private readonly meta: Database;
  private readonly participants: Database<ParticipantRecord, string>;
  private readonly ledger: Database<Uint8Array, [number, number]>;
  private readonly rounds: Database<RoundOpenRecord, number>;
  private readonly results: Database<RoundResultRecord, number>;

  constructor(readonly dir: string) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    this.root = open({ path: dir, overlappingSync: false, maxDbs: 8 });
    this.meta = this.root.openDB({ name: 'meta' });
    this.participants = this.root.openDB({ name: 'participants' });
    this.ledger = this.root.openDB({ name: 'ledger', encoding: 'binary' });
    this.rounds = this.root.openDB({ name: 'rounds' });
    this.results = this.root.openDB({ name: 'results' });
  }

  /** Stores the task on first use; afterwards refuses a different one (a folder holds one task). */
  async bindTask(task: TaskSpec): Promise<void> {
    const held = this.meta.get('task') as TaskSpec | undefined;
    if (held === undefined) {
      await this.meta.put('task', task);
      return;
    }
    if (JSON.stringify(held) !== JSON.stringify(task)) {
      throw new RangeError(`${this.dir} holds a different task ('${held.name}', ${held.rounds} rounds); use another --dir, or the same task file`);
    }
  }

  /** The round the task is at (the open or next round; rounds + 1 when done). */
  currentRound(): number {
    return (this.meta.get('round') as number | undefined) ?? 1;
  }

  allParticipants(): ParticipantRecord[] {
    return [...this.participants.getRange()].map((e) => e.value).sort((a, b) => a.index - b.index);
  }

  /** Adds a participant unless its key is known; returns the stored record (the earlier one for a known key). */
  async addParticipant(rec: ParticipantRecord): Promise<ParticipantRecord> {
    const added = await this.participants.ifNoExists(rec.publicKey, () => { this.participants.put(rec.publicKey, rec); });
    return added ? rec : this.participants.get(rec.publicKey)!;
  }

  /** Replaces a known participant's record (same key, id and index), e.g. with a new TPM attestation. */
  async updateParticipant(rec: ParticipantRecord): Promise<void> {
    await this.participants.put(rec.publicKey, rec);
  }

  /** Records an accepted update; false when (round, index) already holds one (nothing is written). */
  async addUpdate(round: number, index: number, envelope: Uint8Array): Promise<boolean> {
    const key: [number, number] = [round, index];
    return this.ledger.ifNoExists(key, () => { this.ledger.put(key, envelope); });
  }

  /** The accepted update envelopes of a round, by participant index. */
  updatesOf(round: number): { index: number; envelope: Uint8Array }[] {
    return [...this.ledger.getRange({ start: [round, 0], end: [round + 1, 0] })].map((e) => ({ index: e.key[1], envelope: e.value }));
  }

  /** Every ledger entry, in (round, index) order. */
  *ledgerEntries(): Generator<{ round: number; index: number; envelope: Uint8Array }> {
    for (const e of this.ledger.getRange()) yield { round: e.key[0], index: e.key[1], envelope: e.value };
  }

  async openRound(rec: RoundOpenRecord): Promise<void> {
    await this.rounds.put(rec.round, rec);
  }

  roundOpening(round: number): RoundOpenRecord | undefined {
    return this.rounds.get(round);
  }

  /** Applies a round: its result and the round pointer in one synced transaction. */
  async closeRound(round: number, result: RoundResultRecord, next: number): Promise<void> {
    // Two puts in one event turn go into one LMDB transaction (lmdb-js batches a turn's writes), without
    // the main-thread callback a transaction() needs.
    await Promise.all([this.results.put(round, result), this.meta.put('round', next)]);
  }

  /** The last applied round's result, and every row so far. */
  history(): { last?: RoundResultRecord; rows: RoundRowRecord[] } {
    let last: RoundResultRecord | undefined;
    const rows: RoundRowRecord[] = [];
    for (const e of this.results.getRange()) {
      rows.push(e.value.row);
      last = e.value;
    }
    return { last, rows };
  }

  async close(): Promise<void> {
    await this.root.close();
  }
}
