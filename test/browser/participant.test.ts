/**
 * The browser participant and the one-script embed, end to end: a real coordinator (LMDB, HTTP + WebSocket),
 * three real Node worker processes and three real Chromium tabs, each with its own persistent profile (its
 * own IndexedDB identity). One tab is the coordinator's own page, two are a web app on another origin that
 * embeds `<script type="module" src="<coordinator>/meshwork.js">` (one of them cross-origin isolated). One
 * tab starts hidden (it must not train until shown) and one is reloaded between sealing its update and the
 * coordinator's acknowledgement: it comes back with the same id, says `resumed: true`, and the very bytes it
 * had sealed are in the ledger; another is reloaded while training and trains that round again. The
 * coordinator restarts in the middle of a round and everyone carries on. A Chromium update equals Node's for
 * the same job, bit for bit. Training reaches the accuracy the task promises. Also: `join`'s option checks
 * (in Node) and the embed bundle's size. MW_DEBUG=1 prints each tab's states around the restart.
 * @module
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { gzipSync } from 'node:zlib';
import { after, before, describe, test } from 'node:test';
import type { BrowserContext, Page } from 'playwright-core';
import { join } from '../../host-browser/participant.js';
import { loadDigits } from '../../host-node/data.js';
import { ready } from '../../host-node/index.js';
import { parseEnvelope } from '../../proofs/envelope.js';
import { decodeUpdatePayload, parseTaskSpec, taskDimension, taskEncoding, taskSplit, trainAndEncode, type TaskSpec } from '../../runtime/fl/protocol.js';
import { startCoordinator, type RunningCoordinator } from '../../host-node/coordinator/index.js';
import { EMBED, REPO, chromiumSkip, ensureEmbed, launchChromium, startChild, stopChild, type Child } from './harness.js';
import { getJson, until } from '../coordinator-helpers.js';

const ROUNDS = 15;
/**
 * Every round waits for all six (minSubmissions 6: a round opens when six are connected and needs six
 * updates), so each tab is in every round, including those right after a reload or a restart.
 */
const TASK = { rounds: ROUNDS, minParticipants: 6, minSubmissions: 6, roundTimeoutMs: 20_000, data: { shards: 6, alpha: 0.5 } };
/** The reloaded tab's first submission from this round on is held until the reload. */
const HOLD_FROM_ROUND = 2;
const EMBED_JS_LIMIT = 100 * 1024;

const sleep = (ms: number) => new Promise((ok) => setTimeout(ok, ms));

/** Every file under `dir`, relative. */
function filesUnder(dir: string): string[] {
  return readdirSync(dir).flatMap((n) => {
    const p = joinPath(dir, n);
    return statSync(p).isDirectory() ? filesUnder(p).map((f) => `${n}/${f}`) : [n];
  });
}


describe('join: options are checked, naming the field', () => {
  const bad: [string, unknown, ErrorConstructor, RegExp][] = [
    ['no options', undefined, TypeError, /options must be an object/],
    ['coordinator missing', {}, TypeError, /coordinator must be a URL/],
    ['coordinator a number', { coordinator: 8080 }, TypeError, /coordinator must be a URL/],
    ['coordinator not a URL', { coordinator: 'not a url' }, RangeError, /coordinator is not a valid URL/],
    ['coordinator ftp:', { coordinator: 'ftp://example.org' }, RangeError, /coordinator must be an http: or https: URL/],
    ['unknown option', { coordinator: 'http://127.0.0.1:1', shard: 2 }, RangeError, /shard is not an option/],
    ['data a string', { coordinator: 'http://127.0.0.1:1', data: 'mine' }, RangeError, /data must be a Dataset or 'shard'/],
    ['data.x an array', { coordinator: 'http://127.0.0.1:1', data: { x: [1], y: new Int32Array(1), n: 1, features: 1, classes: 2 } }, TypeError, /data\.x must be a Float32Array/],
    ['data.y too short', { coordinator: 'http://127.0.0.1:1', data: { x: new Float32Array(4), y: new Int32Array(1), n: 2, features: 2, classes: 2 } }, RangeError, /data\.y has length 1, expected data\.n = 2/],
    ['data.y out of range', { coordinator: 'http://127.0.0.1:1', data: { x: new Float32Array(2), y: Int32Array.of(5), n: 1, features: 2, classes: 2 } }, RangeError, /data\.y\[0\] is 5/],
    ['dbName empty', { coordinator: 'http://127.0.0.1:1', dbName: '' }, RangeError, /dbName must not be empty/],
    ['dbName a number', { coordinator: 'http://127.0.0.1:1', dbName: 3 }, TypeError, /dbName must be a string/],
    ['signal not a signal', { coordinator: 'http://127.0.0.1:1', signal: {} }, TypeError, /signal must be an AbortSignal/],
    ['task a number', { coordinator: 'http://127.0.0.1:1', task: 1 }, TypeError, /task must be a string/],
    ['minBattery over 1', { coordinator: 'http://127.0.0.1:1', minBattery: 2 }, RangeError, /minBattery must be in \[0, 1\]/],
    ['pauseWhenHidden a string', { coordinator: 'http://127.0.0.1:1', pauseWhenHidden: 'yes' }, TypeError, /pauseWhenHidden must be a boolean/],
  ];
  for (const [name, options, type, message] of bad) {
    test(name, () => {
      assert.throws(() => join(options as never), (e: unknown) => e instanceof type && message.test((e as Error).message));
    });
  }

  test('good options return a participant at once (an EventTarget); an aborted signal leaves before anything is fetched', async () => {
    const ac = new AbortController();
    ac.abort();
    const p = join({ coordinator: new URL('http://127.0.0.1:1/fl'), signal: ac.signal });
    assert.ok(p instanceof EventTarget);
    assert.equal(p.state, 'joining');
    await sleep(10);
    assert.equal(p.state, 'done');
    assert.equal(p.id, undefined);
    await assert.rejects(p.joined, /left before joining/);
  });
});

describe('embed bundle (dist/web/embed)', () => {
  let files: string[];
  before(() => {
    ensureEmbed();
    files = filesUnder(EMBED);
  });

  test('meshwork.js at the top, everything else under m/ (worker, kernels)', () => {
    assert.ok(files.includes('meshwork.js'));
    assert.deepEqual(files.filter((f) => f !== 'meshwork.js' && !f.startsWith('m/')), []);
    assert.ok(files.some((f) => /^m\/participant-worker-.*\.js$/.test(f)), `no worker chunk in ${files.join(', ')}`);
    assert.ok(files.some((f) => f.endsWith('.wasm')), 'no kernel .wasm');
  });

  test(`the JavaScript is at most ${EMBED_JS_LIMIT / 1024} KB gzipped and holds no snarkjs (the Groth16 prover is a lazy chunk)`, (t) => {
    // The prover (m/groth16-*.js, m/groth16-worker-*.js: snarkjs) is imported dynamically, for proofs tasks only.
    const lazy = files.filter((f) => /^m\/groth16(-worker)?-[\w-]+\.js$/.test(f));
    assert.equal(lazy.length, 2, `the lazy prover chunks: ${files.join(', ')}`);
    assert.ok(lazy.some((f) => readFileSync(joinPath(EMBED, f)).includes('fullProve')), 'snarkjs is in the lazy prover');
    const entry = readFileSync(joinPath(EMBED, 'meshwork.js'), 'utf8');
    const prover = lazy.find((f) => !f.includes('worker'))!;
    assert.match(entry, new RegExp(`import\\(\`\\./${prover.replace(/[.-]/g, '\\$&')}\``), 'the entry imports the prover dynamically');
    let gz = 0;
    const each: string[] = [];
    for (const f of files.filter((x) => x.endsWith('.js') && !lazy.includes(x))) {
      const bytes = readFileSync(joinPath(EMBED, f));
      const n = gzipSync(bytes, { level: 9 }).length;
      gz += n;
      each.push(`${f} ${(n / 1024).toFixed(1)} KB`);
      assert.equal(bytes.includes('snarkjs') || bytes.includes('fullProve'), false, `${f} contains snarkjs`);
    }
    t.diagnostic(`embed JS gzipped: ${(gz / 1024).toFixed(1)} KB (${each.join(', ')})`);
    assert.ok(gz <= EMBED_JS_LIMIT, `embed JS is ${gz} bytes gzipped, over ${EMBED_JS_LIMIT}`);
  });
});

/** One logged window event (the embed's re-dispatched participant events). */
interface Logged { type: string; at: number; state?: string; round?: number; reason?: string; resumed?: boolean; phase?: string; fraction?: number; message?: string; fatal?: boolean }

declare global {
  interface Window {
    __mwLog?: Logged[];
    __mwHidden?: boolean;
  }
}

/** Records the embed's events from the first script on (an init script runs before the page's own). */
function recorder(): void {
  window.__mwLog = [];
  for (const type of ['meshwork:state', 'meshwork:progress', 'meshwork:error']) {
    window.addEventListener(type, (e) => {
      const d = (e as CustomEvent).detail as Record<string, unknown>;
      const { error: _error, ...plain } = d;
      window.__mwLog!.push({ type, at: Date.now(), ...(plain as object) });
    });
  }
}

/** Makes the page report itself hidden until `window.__mwHidden = false` and a visibilitychange. */
function startHidden(): void {
  window.__mwHidden = true;
  Object.defineProperty(Document.prototype, 'hidden', { configurable: true, get: () => window.__mwHidden !== false });
  Object.defineProperty(Document.prototype, 'visibilityState', { configurable: true, get: () => (window.__mwHidden !== false ? 'hidden' : 'visible') });
}

/**
 * A battery at 10 % and not charging (Chromium headless reports a full one) until the test plugs it in;
 * plugged in for good once `sessionStorage.mwCharging` is set (it survives the tab's reload).
 */
function lowBattery(): void {
  const battery = Object.assign(new EventTarget(), { level: 0.1, charging: sessionStorage.getItem('mwCharging') === '1' });
  (window as unknown as { __mwBattery: typeof battery }).__mwBattery = battery;
  Object.defineProperty(Navigator.prototype, 'getBattery', { configurable: true, value: () => Promise.resolve(battery) });
}

/** Serves the fixture page on its own origin; `?isolated` adds COOP/COEP (a cross-origin isolated app). */
async function serveFixture(coordinator: string): Promise<{ server: Server; origin: string }> {
  const html = readFileSync(joinPath(REPO, 'test/browser/embed-page.html'), 'utf8').replaceAll('{{COORDINATOR}}', coordinator);
  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (url.pathname !== '/app.html') {
      res.writeHead(404).end();
      return;
    }
    const isolated = url.searchParams.has('isolated') ? { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' } : {};
    res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store', ...isolated });
    res.end(html);
  });
  await new Promise<void>((ok) => server.listen(0, '127.0.0.1', ok));
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

interface Tab { name: string; context: BrowserContext; page: Page; problems: string[] }

interface Report {
  url: string;
  fixture: string;
  rows: { round: number; accuracy: number; hosts: { node: number; browser: number } }[];
  ledger: { round: number; id: string; sequence: number; sha256: string }[];
  participants: { id: string; host: string }[];
  tabs: { name: string; origin: string; id: string; log: Logged[]; statusText: string; crossOriginIsolated: boolean }[];
  hidden: { shownAt: number; roundOpenedWhileHidden: boolean; roundOpenedOnLowBattery: boolean; second: { log: Logged[]; states: (string | undefined)[] } };
  reload: { round: number; heldSha256: string; heldBody: Buffer; heldModel: Float32Array; idBefore: string; idAfter: string; before: Logged[]; after: Logged[] };
  retrain: { round: number; log: Logged[] };
  restart: { round: number; at: number; reopened: { state: string; round: number; submitted: string[] } };
  task: TaskSpec;
}

describe('browser participants end to end: coordinator, 3 Node workers, 3 Chromium tabs (embed, cross-origin, reloads mid-round, a coordinator restart)', { skip: chromiumSkip() }, () => {
  let tmp: string;
  let coord: RunningCoordinator | undefined;
  let fixture: Server | undefined;
  const workers: Child[] = [];
  const tabs: Tab[] = [];
  let report: Report;

  const context = () => `\n${workers.map((w) => `--- ${w.name}:\n${w.output()}`).join('\n')}\n${tabs.map((t) => `--- ${t.name}: ${t.problems.slice(-10).join('\n')}`).join('\n')}`;

  before(async () => {
    ensureEmbed();
    tmp = await mkdtemp(joinPath(tmpdir(), 'meshwork-participant-'));
    coord = await startCoordinator({ task: TASK, dir: joinPath(tmp, 'coordinator'), port: 0 });
    const url = coord.url;
    const fx = await serveFixture(url);
    fixture = fx.server;

    const openTab = async (name: string, opts: { hidden?: boolean; lowBattery?: boolean } = {}): Promise<Tab> => {
      const ctx = await launchChromium({ userDataDir: joinPath(tmp, `profile-${name}`) });
      await ctx.addInitScript(recorder);
      if (opts.hidden) await ctx.addInitScript(startHidden);
      if (opts.lowBattery) await ctx.addInitScript(lowBattery);
      const page = ctx.pages()[0] ?? (await ctx.newPage());
      const tab: Tab = { name, context: ctx, page, problems: [] };
      page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') tab.problems.push(`console.${m.type()}: ${m.text()}`); });
      page.on('pageerror', (e) => tab.problems.push(`page error: ${e.message}`));
      tabs.push(tab);
      return tab;
    };
    const log = (t: Tab) => t.page.evaluate(() => window.__mwLog ?? []);

    // The coordinator's own page (same origin), shown hidden at first.
    const home = await openTab('home', { hidden: true });
    // The web app on another origin, cross-origin isolated, on a low battery at first.
    const isolated = await openTab('app-isolated', { lowBattery: true });
    // The web app on another origin; its first update from round 2 on is held, then the tab reloads.
    const reloader = await openTab('app-reload');
    let held: { round: number; body: Buffer } | undefined;
    let release!: () => void;
    const released = new Promise<void>((ok) => { release = ok; });
    await reloader.page.route(`${url}/api/submit`, async (route) => {
      const body = route.request().postDataBuffer();
      const round = body && body.length >= 28 ? body.readUInt32BE(24) : 0;
      if (!held && round >= HOLD_FROM_ROUND && route.request().method() === 'POST') {
        held = { round, body: body! };
        await released;
        await route.abort().catch(() => undefined);
        return;
      }
      await route.continue().catch(() => undefined);
    });

    // The cross-origin isolated app: once armed, its next model download is held and the tab reloads while
    // it is in state 'training' (nothing sealed yet): it must train that round again.
    let armModelHold = false;
    let modelHeld = false;
    let releaseModel!: () => void;
    const modelReleased = new Promise<void>((ok) => { releaseModel = ok; });
    await isolated.page.route(`${url}/api/model`, async (route) => {
      if (armModelHold && !modelHeld) {
        modelHeld = true;
        await modelReleased;
        await route.abort().catch(() => undefined);
        return;
      }
      await route.continue().catch(() => undefined);
    });

    await home.page.goto(`${url}/`);
    await isolated.page.goto(`${fx.origin}/app.html?isolated`);
    await reloader.page.goto(`${fx.origin}/app.html`);
    for (let i = 0; i < 3; i++) workers.push(startChild(`worker ${i}`, process.execPath, ['dist/host-node/cli.js', 'worker', '--coordinator', url, '--key', joinPath(tmp, `k${i}.pem`)]));

    // Round 1 opens with all six connected; the hidden tab must say 'paused' and not train.
    await until('round 1 opens', async () => {
      const r = (await (await fetch(`${url}/api/round`)).json()) as { state: string; round: number };
      return r.state === 'open' ? r : undefined;
    }, 60_000, context);
    // A second tab of the home profile (same site, same identity) waits for the first.
    const second = await home.context.newPage();
    await second.goto(`${url}/`);
    const secondLog = await until('the second tab of a profile says paused', async () => {
      const l = await second.evaluate(() => window.__mwLog ?? []);
      return l.some((e) => e.state === 'paused') ? l : undefined;
    }, 10_000, context);
    await sleep(1000);
    const homeLog = await log(home);
    const isolatedLog = await log(isolated);
    const secondStates = (await second.evaluate(() => window.__mwLog ?? [])).filter((e) => e.type === 'meshwork:state').map((e) => e.state);
    await second.close();
    const roundOpenedWhileHidden = !homeLog.some((e) => e.state === 'training');
    const roundOpenedOnLowBattery = !isolatedLog.some((e) => e.state === 'training');
    assert.ok(homeLog.some((e) => e.state === 'paused' && /hidden/.test(e.reason ?? '')), `the hidden tab did not say paused: ${JSON.stringify(homeLog)}${context()}`);
    assert.ok(isolatedLog.some((e) => e.state === 'paused' && /battery/.test(e.reason ?? '')), `the low-battery tab did not say paused: ${JSON.stringify(isolatedLog)}${context()}`);
    const shownAt = Date.now();
    await home.page.evaluate(() => {
      window.__mwHidden = false;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    await isolated.page.evaluate(() => {
      const b = (window as unknown as { __mwBattery: EventTarget & { charging: boolean } }).__mwBattery;
      sessionStorage.setItem('mwCharging', '1');
      b.charging = true;
      b.dispatchEvent(new Event('chargingchange'));
    });

    // The reload: between sealing (state 'submitting', the request held) and the acknowledgement.
    const h = await until('the reloading tab submits a held update', () => held, 90_000, context);
    await until(`the reloading tab says submitting round ${h.round}`, async () => ((await log(reloader)).some((e) => e.state === 'submitting' && e.round === h.round) ? true : undefined), 10_000, context);
    const idBefore = await reloader.page.evaluate(() => window.meshwork!.participant.id!);
    const before = await log(reloader);
    // The global model of the held round, while it is still open: Node trains the same job below.
    const heldModel = new Float32Array((await (await fetch(`${url}/api/model`)).arrayBuffer()));
    await reloader.page.reload();
    release();
    const after = await until('the reloaded tab resumes', async () => {
      const l = await log(reloader);
      return l.some((e) => e.type === 'meshwork:state' && e.resumed) && l.some((e) => e.state === 'submitted' && e.round === h.round) ? l : undefined;
    }, 30_000, context);
    const idAfter = await reloader.page.evaluate(() => window.meshwork!.participant.id!);

    // The reload during training (before anything is sealed).
    armModelHold = true;
    await until('the isolated tab asks for a model', () => (modelHeld ? true : undefined), 30_000, context);
    const trainingRound = await until('the isolated tab says training', async () => {
      const l = await log(isolated);
      const last = l.filter((e) => e.type === 'meshwork:state').at(-1);
      return last?.state === 'training' ? last.round : undefined;
    }, 10_000, context);
    await isolated.page.reload();
    releaseModel();
    const retrained = await until('the isolated tab trains again after its reload', async () => {
      const l = await log(isolated);
      return l.some((e) => e.state === 'submitted' && e.round === trainingRound) ? l : undefined;
    }, 30_000, context);

    // The coordinator restarts (same folder, same port) in the middle of a round: the home tab is hidden so
    // the round waits for it; once the other five updates are in the ledger (nothing in flight: see the
    // report on close() during submissions), the coordinator stops and starts again, reopening the round
    // from its ledger; every participant reconnects, the home tab is shown and completes the round.
    const homeId = await home.page.evaluate(() => window.meshwork!.participant.id!);
    await home.page.evaluate(() => {
      window.__mwHidden = true;
      document.dispatchEvent(new Event('visibilitychange'));
    });
    const restartRound = await until('a round waits for the hidden tab only', async () => {
      const r = (await (await fetch(`${url}/api/round`)).json()) as { state: string; round: number; submitted: string[] };
      if (r.state !== 'open' || r.submitted.length !== 5 || r.submitted.includes(homeId)) return undefined;
      const last = (await log(home)).filter((e) => e.type === 'meshwork:state').at(-1);
      return last?.state === 'paused' && last.round === r.round ? r.round : undefined;
    }, 30_000, context);
    await coord.close();
    coord = await startCoordinator({ task: TASK, dir: joinPath(tmp, 'coordinator'), port: Number(new URL(url).port) });
    const restartedAt = Date.now();
    // The first fetch after the restart may go out on a kept-alive socket of the old server ("other side
    // closed"): a client retries a GET, so does the test.
    const reopened = await until('the restarted coordinator answers /api/round', () => getJson<{ state: string; round: number; submitted: string[] }>(`${url}/api/round`), 10_000);
    await home.page.evaluate(() => {
      window.__mwHidden = false;
      document.dispatchEvent(new Event('visibilitychange'));
    });

    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      coord.done,
      new Promise((_, fail) => { timer = setTimeout(() => fail(new Error(`training did not finish in 120 s${context()}`)), 120_000); }),
    ]).finally(() => clearTimeout(timer));
    const status = await until('/api/status', () => getJson<{ rows: Report['rows']; participants: Report['participants'] }>(`${url}/api/status`), 10_000);
    const ledger = await until('/api/ledger', () => getJson<Report['ledger']>(`${url}/api/ledger`), 10_000);
    const tabReports: Report['tabs'] = [];
    for (const t of tabs) {
      await until(`${t.name} says done`, async () => ((await log(t)).some((e) => e.state === 'done') ? true : undefined), 15_000, context);
      tabReports.push(await t.page.evaluate(() => ({
        name: '',
        origin: location.origin,
        id: window.meshwork!.participant.id!,
        log: window.__mwLog ?? [],
        statusText: document.querySelector('#meshwork-status, #fl-status')?.textContent ?? '',
        crossOriginIsolated: self.crossOriginIsolated,
      })));
      tabReports[tabReports.length - 1]!.name = t.name;
    }
    report = {
      url, fixture: fx.origin, rows: status.rows, ledger, participants: status.participants, tabs: tabReports,
      hidden: { shownAt, roundOpenedWhileHidden, roundOpenedOnLowBattery, second: { log: secondLog, states: secondStates } },
      reload: { round: h.round, heldSha256: createHash('sha256').update(h.body).digest('hex'), heldBody: h.body, heldModel, idBefore, idAfter, before, after },
      retrain: { round: trainingRound, log: retrained },
      restart: { round: restartRound, at: restartedAt, reopened },
      task: ((await (await fetch(`${url}/api/task`)).json()) as { task: TaskSpec }).task,
    };
  }, { timeout: 175_000 });

  after(async () => {
    for (const t of tabs) await t.context.close().catch(() => undefined);
    await Promise.all(workers.map(stopChild));
    await coord?.close();
    if (fixture) {
      fixture.closeAllConnections();
      await new Promise((ok) => fixture!.close(ok));
    }
    if (tmp) await rm(tmp, { recursive: true, force: true });
  });

  test('three browser tabs and three Node workers join; the embed runs same-origin and cross-origin (one tab cross-origin isolated)', () => {
    const hosts = report.participants.map((p) => p.host).sort();
    assert.deepEqual(hosts, ['browser', 'browser', 'browser', 'node', 'node', 'node']);
    const [home, isolated, reloaded] = report.tabs;
    assert.equal(home!.origin, new URL(report.url).origin);
    assert.equal(isolated!.origin, report.fixture);
    assert.equal(isolated!.crossOriginIsolated, true);
    assert.equal(reloaded!.origin, report.fixture);
    assert.equal(new Set(report.tabs.map((t) => t.id)).size, 3, 'each profile has its own identity');
    for (const t of report.tabs) {
      assert.match(t.statusText, /done/, `${t.name}'s status element`);
      assert.equal(t.log.filter((e) => e.fatal).length, 0, `${t.name} had a fatal error: ${JSON.stringify(t.log.filter((e) => e.fatal))}`);
    }
  });

  test('a hidden tab and a tab on a low battery say paused and do not train; shown, plugged in, they train', () => {
    const [home, isolated] = report.tabs;
    assert.equal(report.hidden.roundOpenedWhileHidden, true, 'the hidden tab trained');
    assert.equal(report.hidden.roundOpenedOnLowBattery, true, 'the low-battery tab trained');
    for (const tab of [home!, isolated!]) {
      const firstTraining = tab.log.find((e) => e.state === 'training');
      assert.ok(firstTraining && firstTraining.at >= report.hidden.shownAt, `${tab.name}: training started at ${firstTraining?.at}, resumed at ${report.hidden.shownAt}`);
    }
  });

  test('a second tab of the same profile waits (paused) while the first participates', () => {
    const paused = report.hidden.second.log.find((e) => e.state === 'paused');
    assert.match(paused?.reason ?? '', /another tab/);
    assert.deepEqual(report.hidden.second.states.filter((s) => s === 'training' || s === 'submitting'), []);
  });

  test('the tab reloaded between sealing its update and the acknowledgement comes back with the same id, resumed, and its sealed bytes are in the ledger', (t) => {
    const r = report.reload;
    t.diagnostic(`held round ${r.round}; id ${r.idBefore}; after the reload: ${r.after.filter((e) => e.type === 'meshwork:state').map((e) => `${e.state}/${e.round}${e.resumed ? '/resumed' : ''}`).join(' ')}`);
    assert.equal(r.idAfter, r.idBefore);
    assert.ok(r.before.some((e) => e.state === 'training' && e.round === r.round), 'it trained the held round before the reload');
    const resumed = r.after.find((e) => e.type === 'meshwork:state' && e.resumed);
    assert.equal(resumed?.round, r.round);
    assert.ok(!r.after.some((e) => e.state === 'training' && e.round === r.round), 'it trained the held round again instead of sending the sealed update');
    const entry = report.ledger.find((e) => e.round === r.round && e.id === r.idBefore);
    assert.ok(entry, `no ledger entry for ${r.idBefore} in round ${r.round}`);
    assert.equal(entry.sha256, r.heldSha256, 'the ledger holds the envelope sealed before the reload');
  });

  test('the tab reloaded while training (nothing sealed yet) trains that round again, resumed, and its update is in the ledger', (t) => {
    const { round, log } = report.retrain;
    const states = log.filter((e) => e.type === 'meshwork:state');
    t.diagnostic(`round ${round}; after the reload: ${states.map((e) => `${e.state}/${e.round}${e.resumed ? '/resumed' : ''}`).join(' ')}`);
    const resumed = states.find((e) => e.resumed);
    assert.deepEqual([resumed?.state, resumed?.round], ['training', round]);
    const id = report.tabs[1]!.id;
    assert.ok(report.ledger.some((e) => e.round === round && e.id === id), `no ledger entry for ${id} in round ${round}`);
  });

  test('a Chromium tab and Node give the same bits for the same job (the held update, trained again in Node)', async () => {
    const env = parseEnvelope(new Uint8Array(report.reload.heldBody));
    const task = parseTaskSpec(report.task);
    const d = taskDimension(task);
    const u = decodeUpdatePayload(env.payload, d, taskEncoding(task), task.maxSamples);
    const index = Number(report.reload.idBefore.slice(1));
    const shard = taskSplit(task, await loadDigits()).shards[index % task.data.shards]!;
    await ready();
    const values = trainAndEncode(task, report.reload.heldModel, shard, index, report.reload.round);
    assert.equal(u.samples, shard.n);
    assert.deepEqual(Buffer.from(u.values.buffer), Buffer.from(values.buffer));
  });

  test('after a coordinator restart mid-round every tab reconnects as the same participant and the round completes', (t) => {
    const { round, at, reopened } = report.restart;
    t.diagnostic(`restarted in round ${round}`);
    if (process.env.MW_DEBUG) for (const tab of report.tabs) t.diagnostic(`${tab.name}: ${tab.log.filter((e) => e.at > at - 2000 && e.type !== 'meshwork:progress').map((e) => `${e.at - at} ${e.state ?? ''}/${e.round ?? ''} ${e.message ?? ''}`).join(' | ')}`);
    assert.deepEqual([reopened.round, reopened.state, reopened.submitted.length], [round, 'open', 5], 'the restarted coordinator reopens the round with the five updates of its ledger');
    for (const tab of report.tabs) {
      assert.ok(tab.log.some((e) => e.state === 'submitted' && e.at > at), `${tab.name} submitted nothing after the restart`);
      assert.ok(report.ledger.some((e) => e.id === tab.id && e.round === round), `${tab.name} (${tab.id}) has no update in round ${round}`);
    }
  });

  test('every browser tab has its update in the ledger for every round, with sequences increasing round by round', () => {
    for (const tab of report.tabs) {
      const mine = report.ledger.filter((e) => e.id === tab.id).sort((a, b) => a.round - b.round);
      assert.deepEqual(mine.map((e) => e.round), Array.from({ length: ROUNDS }, (_, i) => i + 1), `${tab.name} (${tab.id}): rounds in the ledger`);
      for (let i = 1; i < mine.length; i++) assert.ok(mine[i]!.sequence > mine[i - 1]!.sequence, `${tab.name}: sequence ${mine[i]!.sequence} in round ${mine[i]!.round} is not above ${mine[i - 1]!.sequence}`);
    }
  });

  test(`${ROUNDS} rounds with browser and Node updates reach test accuracy >= 0.90`, (t) => {
    assert.equal(report.rows.length, ROUNDS);
    const last = report.rows[report.rows.length - 1]!;
    t.diagnostic(`accuracy by round: ${report.rows.map((r) => r.accuracy.toFixed(3)).join(' ')}`);
    assert.ok(report.rows.some((r) => r.hosts.browser > 0 && r.hosts.node > 0), 'no round aggregated both browser and Node updates');
    assert.ok(last.accuracy >= 0.9, `final accuracy ${last.accuracy}`);
  });
});
