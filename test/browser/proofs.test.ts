/**
 * Proofs in a real Chromium: RFC 8032 vectors and the edge-case table on WebCrypto (BoringSSL) and noble give
 * the verdicts Node gives; signatures, hybrid signatures and envelopes made on either side verify on the other;
 * the IndexedDB identity survives a reload with a non-extractable private key.
 * @module
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import type { Page } from 'playwright-core';
import { fromHex, toHex } from '../../proofs/bytes.js';
import { generateIdentity, type Rejection } from '../../proofs/ed25519.js';
import { verifyBatch } from '../../proofs/batch.js';
import { verifyHybrid } from '../../proofs/hybrid.js';
import { openEnvelope, sealEnvelope, taskId } from '../../proofs/envelope.js';
import { verifyNodeCrypto } from '../../host-node/ed25519.js';
import { REPO, chromiumSkip, withChromiumPage } from './harness.js';
import type { Groth16Input, Groth16Report, HexItem, IdbReport, ProofsInput, ProofsReport } from './proofs-page.js';
import { createGroth16Prover, readArtifacts } from '../../host-node/groth16.js';
import { bindingOf, dispose as disposeGroth16, publicSignalsFor, statementOf, sumOfSquares, verify as verifyGroth16, type Groth16Artifacts } from '../../proofs/groth16.js';
import { batchVerify } from '../../proofs/groth16-batch.js';

interface Edge extends HexItem { name: string; verdict: 'accept' | 'reject'; reason: Rejection | null }
const vectors = (f: string) => JSON.parse(readFileSync(join(REPO, 'test/vectors', f), 'utf8'));

describe('proofs in Chromium (WebCrypto Ed25519, noble, IndexedDB)', { skip: chromiumSkip() }, () => {
  let report: ProofsReport;
  let idb: [IdbReport, IdbReport];
  let edge: Edge[];
  let fromNode: HexItem[];
  let nodeEnvelope: { sender: string; payload: string; bytes: string };

  before(async () => {
    edge = vectors('ed25519-edge.json').cases;
    const ids = [await generateIdentity({ backend: 'webcrypto' }), await generateIdentity({ backend: 'noble' })];
    fromNode = [];
    for (const id of ids) for (let i = 0; i < 3; i++) {
      const m = new TextEncoder().encode(`from node ${id.backend} ${i}`);
      fromNode.push({ publicKey: id.id, message: toHex(m), signature: toHex(await id.sign(m)) });
    }
    fromNode.push({ ...fromNode[0]!, message: toHex(new TextEncoder().encode('tampered')) });
    const envId = await generateIdentity();
    const payload = new TextEncoder().encode('node payload');
    const bytes = await sealEnvelope({ kind: 'result', task: await taskId('node-task'), round: 1, sequence: 4, payload }, envId);
    nodeEnvelope = { sender: envId.id, payload: toHex(payload), bytes: toHex(bytes) };
    const input: ProofsInput = { rfc: vectors('rfc8032-ed25519.json').vectors, edge, fromNode, envelopeFromNode: nodeEnvelope.bytes };
    [report, idb] = await withChromiumPage('test/browser/proofs.html', async (page: Page) => {
      await page.waitForFunction(() => window.__meshworkProofs !== undefined);
      const r = await page.evaluate((i) => window.__meshworkProofs!.signatures(i), input);
      const first = await page.evaluate(() => window.__meshworkProofs!.idb('meshwork-test'));
      await page.reload();
      await page.waitForFunction(() => window.__meshworkProofs !== undefined);
      const second = await page.evaluate(() => window.__meshworkProofs!.idb('meshwork-test'));
      return [r, [first, second]] as [ProofsReport, [IdbReport, IdbReport]];
    });
  });

  test('Chromium has WebCrypto Ed25519 in a secure context; RFC 8032 vectors reproduce on WebCrypto and noble', (t) => {
    t.diagnostic(report.userAgent);
    assert.equal(report.secureContext, true);
    assert.equal(report.webCrypto, true);
    assert.equal(report.rfc.length, 10);
    const bad = report.rfc.filter((r) => !(r.publicKey && r.signature && r.verified)).map((r) => `${r.name}/${r.backend}`);
    assert.deepEqual(bad, []);
  });

  test('edge-case table: the same verdict and reason as Node on WebCrypto, libsodium (Wasm), noble and the worker-backed batch verifier', (t) => {
    assert.equal(report.edge.length, edge.length);
    const rawDiffers = [];
    for (const [i, c] of edge.entries()) {
      const got = report.edge[i]!;
      const viaVerifier = { workers: report.edgeVerifier.shared[i], page: report.edgeVerifier.webCryptoOnly[i] };
      for (const [backend, v] of [['webcrypto', got.webcrypto], ['noble', got.noble], ['sodium', got.sodium], ['batch verifier, worker + page', viaVerifier.workers], ['batch verifier, page', viaVerifier.page]] as const) {
        assert.equal(v === undefined ? 'accept' : 'reject', c.verdict, `${c.name} on Chromium ${backend}: ${v}`);
        if (c.reason) assert.equal(v, c.reason, `${c.name} on Chromium ${backend}: reason`);
      }
      if (got.rawWebCrypto !== (c.verdict === 'accept')) rawDiffers.push(c.name);
    }
    t.diagnostic(`raw WebCrypto (no pre-check) differs from the rule on: ${rawDiffers.join('; ') || 'none'}`);
  });

  test('signatures cross hosts: Node-made verify in Chromium, Chromium-made (WebCrypto and noble) verify in Node', async () => {
    const want = fromNode.map((_, i) => i < fromNode.length - 1);
    assert.deepEqual(report.fromNode.webcrypto, want);
    assert.deepEqual(report.fromNode.noble, want);
    const items = report.toNode.items.map((x) => ({ publicKey: fromHex(x.publicKey), message: fromHex(x.message), signature: fromHex(x.signature) }));
    assert.equal(items.length, 6);
    assert.deepEqual((await verifyBatch(items)).failed, []);
    assert.deepEqual((await verifyBatch(items, { backend: 'noble' })).failed, []);
    for (const it of items) assert.ok(verifyNodeCrypto(it.publicKey, it.message, it.signature));
    const h = report.toNode.hybrid;
    assert.equal(report.hybridHere, true);
    assert.ok(await verifyHybrid({ publicKey: fromHex(h.publicKey), mlDsaPublicKey: fromHex(h.mlDsaPublicKey) }, fromHex(h.message), fromHex(h.signature)));
  });

  test('envelopes cross hosts: sealed in Node, opened in Chromium, and the other way round', async () => {
    assert.deepEqual(report.envelopeFromNode, { ok: true, sender: nodeEnvelope.sender, payload: nodeEnvelope.payload });
    const env = await openEnvelope(fromHex(report.toNode.envelope));
    assert.deepEqual([env.kind, env.round, env.sequence, new TextDecoder().decode(env.payload)], ['update', 3, 9, 'chromium payload']);
  });

  test('IndexedDB identity: created once, the same id after a reload, private key non-extractable', () => {
    const [first, second] = idb;
    assert.equal(first.created, true);
    assert.equal(second.created, false);
    assert.equal(second.id, first.id);
    for (const r of idb) {
      assert.equal(r.backend, 'webcrypto');
      assert.equal(r.extractable, false);
      assert.equal(r.signatureVerifies, true);
      assert.deepEqual(r.race, { created: 1, sameId: true });
    }
  });
});

describe('Groth16 across Node and Chromium (Web Worker proving)', { skip: chromiumSkip() }, () => {
  let report: Groth16Report;
  let input: Groth16Input;
  let artifacts: Groth16Artifacts;

  before(async () => {
    artifacts = await readArtifacts();
    const prover = await createGroth16Prover();
    try {
      const x = Int32Array.from({ length: 64 }, (_, i) => (i * 7919) % 2001 - 1000);
      const bound = sumOfSquares(x) + 5n;
      const fromNode = await prover.prove({ x, bound, bind: bindingOf({ task: 'chromium', round: 2, sender: new Uint8Array(32).fill(1), chunk: 0 }) });
      const y = Int32Array.from({ length: 64 }, (_, i) => (i * 104729) % 4001 - 2000);
      input = { x: [...y], bound: String(sumOfSquares(y)), bind: String(bindingOf({ task: 'chromium', round: 2, sender: new Uint8Array(32).fill(2), chunk: 1 })), fromNode };
    } finally {
      await prover.dispose();
    }
    report = await withChromiumPage('test/browser/proofs.html', async (page: Page) => {
      await page.waitForFunction(() => window.__meshworkProofs !== undefined);
      return page.evaluate((i) => window.__meshworkProofs!.groth16(i), input);
    }, { timeoutMs: 180_000 });
  });

  test('a proof made in Node verifies in Chromium (snarkjs and the batch verifier); a tampered signal does not', (t) => {
    t.diagnostic(`proving on a Chromium Web Worker: ${report.proveMs.toFixed(0)} ms`);
    assert.equal(report.nodeVerifies, true);
    assert.equal(report.nodeBatch, true);
    assert.equal(report.tamperedVerifies, false);
    assert.equal(report.ownVerifies, true);
  });

  test('a proof made on a Chromium Web Worker verifies in Node; tampered copies do not', async () => {
    const { proof, publicSignals } = report.proof;
    assert.equal(await verifyGroth16(artifacts.vkey, publicSignals, proof), true);
    const st = statementOf(publicSignals);
    assert.equal(st.bound, BigInt(input.bound));
    assert.equal(st.bind, BigInt(input.bind));
    assert.equal(await verifyGroth16(artifacts.vkey, publicSignalsFor({ ...st, bind: st.bind + 1n }), proof), false);
    const swapped = { ...proof, pi_a: input.fromNode.proof.pi_a };
    assert.equal(await verifyGroth16(artifacts.vkey, publicSignals, swapped), false);
    const batch = await batchVerify(artifacts.vkey, [report.proof, input.fromNode, { proof: swapped, publicSignals }]);
    assert.deepEqual(batch.bad, [2]);
    await disposeGroth16();
  });
});
