/**
 * A browser tab that signs hybrid (Ed25519 + ML-DSA-65) through the one-script embed (`data-hybrid`): it
 * fetches the ML-DSA signer chunk, registers its ML-DSA-65 key at join, and every update it sends carries both
 * signatures, which the coordinator verifies. A page without the attribute never fetches the chunk.
 * @module
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { describe, test } from 'node:test';
import { startCoordinator } from '../../host-node/coordinator/index.js';
import { getJson, until } from '../coordinator-helpers.js';
import { chromiumSkip, ensureEmbed, launchChromium } from './harness.js';

const SIGNER = /\/m\/hybrid-keystore-[\w-]+\.js$/;

/** A page on its own origin embedding the coordinator's script, with `attrs` on the tag. */
async function servePage(coordinator: string, attrs: string): Promise<{ server: Server; url: string }> {
  const html = `<!doctype html><html><head><meta charset="utf-8"><title>app</title></head><body><span id="s"></span>
<script type="module" src="${coordinator}/meshwork.js" data-coordinator="${coordinator}" data-status="s" ${attrs}></script></body></html>`;
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
    res.end(html);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/app.html` };
}

describe('browser participant signing hybrid (Ed25519 + ML-DSA-65)', { skip: chromiumSkip() }, () => {
  test('with data-hybrid the tab registers an ML-DSA-65 key and its hybrid-signed updates are accepted; without it the signer chunk is never fetched', async () => {
    ensureEmbed();
    const tmp = await mkdtemp(joinPath(tmpdir(), 'meshwork-hybrid-browser-'));
    const context = await launchChromium({ userDataDir: joinPath(tmp, 'profile') });
    const requests: string[] = [];
    context.on('request', (r) => requests.push(new URL(r.url()).pathname));
    const problems: string[] = [];
    const servers: Server[] = [];
    const coords: Awaited<ReturnType<typeof startCoordinator>>[] = [];
    try {
      const run = async (name: string, attrs: string) => {
        const coord = await startCoordinator({ task: { name, rounds: 2, minParticipants: 1, rule: 'fedavg', roundTimeoutMs: 60_000, data: { shards: 2, alpha: null } }, dir: joinPath(tmp, name), port: 0 });
        coords.push(coord);
        const page = await servePage(coord.url, attrs);
        servers.push(page.server);
        const tab = await context.newPage();
        tab.on('console', (m) => { if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) problems.push(`${name} console.error: ${m.text()}`); });
        tab.on('pageerror', (e) => problems.push(`${name} page error: ${e.message}`));
        requests.length = 0;
        await tab.goto(page.url);
        const rows = await until(`${name}: the task finishes`, async () => { const s = await getJson<{ state: string; rows: { accepted: string[] }[] }>(`${coord.url}/api/status`); return s.state === 'done' ? s.rows : undefined; }, 90_000, () => `\n${problems.join('\n')}`);
        const fetched = requests.slice();
        await tab.close();
        return { coord, rows, fetched };
      };

      const hybrid = await run('hybrid-browser', 'data-hybrid');
      assert.equal(hybrid.rows.length, 2);
      const id = hybrid.rows[0]!.accepted[0]!;
      for (const row of hybrid.rows) assert.deepEqual(row.accepted, [id]);
      const [keys] = await getJson<{ id: string; mlDsaPublicKey?: string }[]>(`${hybrid.coord.url}/api/keys?ids=${id}`);
      assert.equal(Buffer.from(keys!.mlDsaPublicKey ?? '', 'base64').length, 1952, 'the join registered an ML-DSA-65 key');
      const d = hybrid.coord.coordinator.d;
      const ledger = await getJson<{ id: string; bytes: number }[]>(`${hybrid.coord.url}/api/ledger`);
      assert.equal(ledger.length, 2);
      for (const e of ledger) assert.equal(e.bytes, 72 + 40 + 4 * d + 64 + 3309, 'each update envelope carries the Ed25519 and the ML-DSA-65 signature');
      assert.ok(hybrid.fetched.some((p) => SIGNER.test(p)), `the signer chunk was fetched: ${hybrid.fetched.join(', ')}`);

      const plain = await run('plain-browser', '');
      assert.equal(plain.rows.length, 2);
      assert.ok(!plain.fetched.some((p) => SIGNER.test(p)), `a page without data-hybrid fetched the signer: ${plain.fetched.join(', ')}`);
      const plainLedger = await getJson<{ bytes: number }[]>(`${plain.coord.url}/api/ledger`);
      for (const e of plainLedger) assert.equal(e.bytes, 72 + 40 + 4 * d + 64);
      assert.deepEqual(problems, []);
    } finally {
      await context.close();
      for (const s of servers) s.close();
      for (const c of coords) await c.close();
      await rm(tmp, { recursive: true, force: true });
    }
  });
});
