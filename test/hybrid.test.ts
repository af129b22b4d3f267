// Hybrid (Ed25519 + ML-DSA-65) envelopes at the coordinator: the ML-DSA-65 key is registered by a
// hybrid-signed join; from then on every envelope of that participant must be hybrid, and both parts verify.
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { utf8 } from '../proofs/bytes.js';
import { generateIdentity } from '../proofs/ed25519.js';
import { parseEnvelope, sealEnvelope } from '../proofs/envelope.js';
import { generateHybridIdentity, hybridIdentity, type HybridIdentity } from '../proofs/hybrid.js';
import { startCoordinator } from '../host-node/coordinator/index.js';
import { postBytes, TestParticipant, until } from './coordinator-helpers.js';

const b64 = (b: Uint8Array) => Buffer.from(b).toString('base64');

describe('coordinator: hybrid (Ed25519 + ML-DSA-65) envelopes', () => {
  it('a hybrid participant and a plain one train together; bad keys, missing keys and downgrades are refused with reasons', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-hybrid-'));
    const coord = await startCoordinator({ task: { name: 'hybrid', rounds: 2, rule: 'fedavg', minParticipants: 2, data: { shards: 2, alpha: 0.5 } }, dir, port: 0, log: () => {} });
    const ps: TestParticipant[] = [];
    try {
      const { url } = coord;
      const taskId = (await new TestParticipant(url).join()).taskId; // a third, plain participant (never connected)
      const joinEnv = (signer: Parameters<typeof sealEnvelope>[1], extra: Record<string, unknown>) =>
        sealEnvelope({ kind: 'control', task: taskId, round: 0, sequence: 0, payload: utf8(JSON.stringify({ op: 'join', host: 'node', role: 'participant', ...extra })) }, signer);
      const refused = async (what: string, bytes: Uint8Array, path: string, status: number, code: string, field: string) => {
        const r = await postBytes(`${url}${path}`, bytes);
        assert.equal(r.status, status, `${what}: ${JSON.stringify(r.body)}`);
        assert.equal(r.body.error?.code, code, what);
        assert.equal(r.body.error?.field, field, what);
      };

      const h = await generateHybridIdentity();
      await refused('hybrid join without its key', await joinEnv(h, {}), '/api/join', 400, 'ml-dsa-key', 'payload.mlDsaPublicKey');
      await refused('a key of the wrong size', await joinEnv(h, { mlDsaPublicKey: b64(h.mlDsaPublicKey.subarray(1)) }), '/api/join', 400, 'ml-dsa-key', 'payload.mlDsaPublicKey');
      await refused('a key that is not base64', await joinEnv(h, { mlDsaPublicKey: '*'.repeat(2604) }), '/api/join', 400, 'ml-dsa-key', 'payload.mlDsaPublicKey');
      await refused('a plain join that names a key', await joinEnv(h.ed25519, { mlDsaPublicKey: b64(h.mlDsaPublicKey) }), '/api/join', 400, 'alg', 'alg');
      const other = await generateHybridIdentity();
      await refused('signed with another ML-DSA key than it names', await joinEnv(hybridIdentity(h.ed25519, new Uint8Array(32).fill(9)), { mlDsaPublicKey: b64(h.mlDsaPublicKey) }), '/api/join', 401, 'signature', 'signature');
      assert.notDeepEqual(other.mlDsaPublicKey, h.mlDsaPublicKey);

      const hybrid = await new TestParticipant(url).join(h, { mlDsaPublicKey: b64(h.mlDsaPublicKey) });
      const plainId = await generateIdentity();
      const plain = await new TestParticipant(url).join(plainId);
      ps.push(hybrid, plain);
      // The same key cannot be re-registered as another ML-DSA key.
      await refused('a second, different ML-DSA key', await joinEnv(hybridIdentity(h.ed25519, new Uint8Array(32).fill(7)), { mlDsaPublicKey: b64(hybridIdentity(h.ed25519, new Uint8Array(32).fill(7)).mlDsaPublicKey) }), '/api/join', 409, 'ml-dsa-key', 'payload.mlDsaPublicKey');

      // Hold round 1 of both to try the refusals on a real open round first.
      hybrid.hold.add(1);
      plain.hold.add(1);
      hybrid.connect();
      plain.connect();
      await until('round 1 opens', async () => ((await (await fetch(`${url}/api/round`)).json()) as { state: string }).state === 'open' || undefined, 20_000);
      const hybridUpdate = await hybrid.updateEnvelope(1);
      assert.equal(parseEnvelope(hybridUpdate).alg, 'hybrid');
      // Downgrade: the hybrid participant's update signed with its Ed25519 key alone.
      const env = parseEnvelope(hybridUpdate);
      const downgraded = await sealEnvelope({ kind: 'update', task: taskId, round: 1, sequence: 90, payload: env.payload }, h.ed25519);
      await refused('a downgrade to Ed25519', downgraded, '/api/submit', 400, 'alg', 'alg');
      // A hybrid update from a participant that registered no ML-DSA key.
      const stray: HybridIdentity = hybridIdentity(plainId, new Uint8Array(32).fill(3));
      const plainEnv = parseEnvelope(await plain.updateEnvelope(1));
      await refused('hybrid without a registered key', await sealEnvelope({ kind: 'update', task: taskId, round: 1, sequence: 91, payload: plainEnv.payload }, stray), '/api/submit', 400, 'alg', 'alg');
      // A hybrid update whose ML-DSA part is from another key.
      const forged = await sealEnvelope({ kind: 'update', task: taskId, round: 1, sequence: 92, payload: env.payload }, hybridIdentity(h.ed25519, new Uint8Array(32).fill(5)));
      await refused('a hybrid update with a foreign ML-DSA part', forged, '/api/submit', 401, 'signature', 'signature');

      await Promise.all([hybrid.release(1), plain.release(1)]);
      const rows = await coord.done;
      assert.equal(rows.length, 2);
      for (const r of rows) assert.deepEqual(r.accepted.slice().sort(), [hybrid.id, plain.id].sort(), `round ${r.round}`);
      for (const [round, bytes] of hybrid.acked) assert.equal(parseEnvelope(bytes).alg, 'hybrid', `round ${round} of the hybrid participant`);
      const shas = new Set(coord.coordinator.ledger().map((e) => e.sha256));
      const { createHash } = await import('node:crypto');
      for (const bytes of hybrid.acked.values()) assert.ok(shas.has(createHash('sha256').update(bytes).digest('hex')), 'its hybrid envelopes are in the ledger');
    } finally {
      for (const p of ps) p.close();
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('meshwork worker --hybrid', () => {
  it('two Node workers sign hybrid, one plain; all train; the hybrid workers\' ledger envelopes are hybrid', async () => {
    const { spawnWorker } = await import('./coordinator-helpers.js');
    const dir = await mkdtemp(join(tmpdir(), 'meshwork-hybrid-worker-'));
    const coord = await startCoordinator({ task: { name: 'hybrid-workers', rounds: 2, rule: 'fedavg', minParticipants: 3, data: { shards: 3, alpha: 0.5 } }, dir: join(dir, 'db'), port: 0, log: () => {} });
    const workers: ReturnType<typeof spawnWorker>[] = [];
    try {
      for (let i = 0; i < 3; i++) workers.push(spawnWorker(coord.url, join(dir, `w${i}.pem`), i < 2 ? ['--hybrid'] : []));
      const rows = await Promise.race([coord.done, new Promise<never>((_, fail) => setTimeout(() => fail(new Error('not done in 60 s')), 60_000).unref())]);
      assert.equal(rows.length, 2);
      for (const r of rows) assert.equal(r.accepted.length, 3, `round ${r.round}`);
      for (const w of workers) assert.equal(await w.exited, 0, w.stderr.join(''));
      const { readFile } = await import('node:fs/promises');
      for (let i = 0; i < 2; i++) assert.equal((await readFile(join(dir, `w${i}.pem.mldsa65`))).length > 0, true, 'the ML-DSA seed is kept beside the key');
      // The envelopes in the ledger: two participants' hybrid, one plain.
      const store = (coord.coordinator as unknown as { store: { ledgerEntries(): Iterable<{ index: number; envelope: Uint8Array }> } }).store;
      const algs = new Map<number, Set<string>>();
      for (const e of store.ledgerEntries()) {
        const set = algs.get(e.index) ?? new Set<string>();
        set.add(parseEnvelope(e.envelope).alg);
        algs.set(e.index, set);
      }
      const kinds = [...algs.values()].map((s) => [...s].join()).sort();
      assert.deepEqual(kinds, ['ed25519', 'hybrid', 'hybrid']);
    } finally {
      for (const w of workers) w.child.kill('SIGKILL');
      await coord.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});
