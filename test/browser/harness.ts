/**
 * Shared by the Chromium suites and the browser bench: bundles a test page with vite's JS API into a temporary
 * folder, serves it from 127.0.0.1 (WebCrypto needs a secure context) with COOP/COEP so it is cross-origin
 * isolated, and drives Debian's /usr/bin/chromium through playwright-core (no browser download).
 * @module
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
/** Headless flags known to work here (see ../shared/TOOLCHAIN.md, Browsers). */
export const CHROMIUM_ARGS = ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'];
/** This file runs from dist/test/browser/. */
export const REPO = fileURLToPath(new URL('../../../', import.meta.url));

/** The embed build (scripts/build-embed.mjs). */
export const EMBED = join(REPO, 'dist/web/embed');

/** Builds dist/web/embed when it is missing or older than the compiled participant or prover. */
export function ensureEmbed(): void {
  const entry = join(EMBED, 'meshwork.js');
  const newest = Math.max(...['participant.js', 'participant-worker.js', 'embed.js', 'groth16.js', 'groth16-worker.js'].map((f) => statSync(join(REPO, 'dist/host-browser', f)).mtimeMs));
  if (existsSync(entry) && statSync(entry).mtimeMs >= newest) return;
  const r = spawnSync(process.execPath, ['scripts/build-embed.mjs'], { cwd: REPO, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`node scripts/build-embed.mjs failed:\n${r.stdout}\n${r.stderr}`);
}

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.css': 'text/css',
  // Required for WebAssembly.compileStreaming, which the browser host uses when it sees this type.
  '.wasm': 'application/wasm',
};

/** Serves `dir` read-only on a free port of 127.0.0.1, every response cross-origin isolating. */
async function serve(dir: string): Promise<{ server: Server; origin: string }> {
  const root = resolve(dir);
  const server = createServer((req, res) => {
    let file: string;
    try {
      file = resolve(root, `.${decodeURIComponent(new URL(req.url ?? '/', 'http://127.0.0.1').pathname)}`);
    } catch {
      res.writeHead(400).end();
      return;
    }
    if (!file.startsWith(root + sep)) {
      res.writeHead(403).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          'Content-Type': MIME[extname(file)] ?? 'application/octet-stream',
          'Cross-Origin-Opener-Policy': 'same-origin',
          'Cross-Origin-Embedder-Policy': 'require-corp',
          'Cache-Control': 'no-store',
        });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((ok, fail) => {
    server.once('error', fail);
    server.listen(0, '127.0.0.1', ok);
  });
  return { server, origin: `http://127.0.0.1:${(server.address() as AddressInfo).port}` };
}

/**
 * Builds the page `html` (a path under the repository, e.g. 'test/browser/index.html'), serves it, opens it in
 * headless Chromium and runs `fn` on the page, failing after `timeoutMs`. Console errors and page errors are
 * appended to a failure's message. Everything it starts is stopped before it returns.
 */
export async function withChromiumPage<T>(html: string, fn: (page: Page) => Promise<T>, opts: { timeoutMs?: number; args?: string[] } = {}): Promise<T> {
  const timeoutMs = opts.timeoutMs ?? 90_000;
  const { build } = await import('vite');
  const { chromium } = await import('playwright-core');
  const outDir = await mkdtemp(join(tmpdir(), 'meshwork-browser-'));
  let server: Server | undefined;
  let browser: Awaited<ReturnType<typeof chromium.launch>> | undefined;
  try {
    await build({
      configFile: join(REPO, 'vite.config.ts'),
      root: REPO,
      logLevel: 'warn',
      build: { outDir, emptyOutDir: true, rolldownOptions: { input: join(REPO, html) } },
    });
    const served = await serve(outDir);
    server = served.server;
    browser = await chromium.launch({ executablePath: CHROMIUM, args: [...CHROMIUM_ARGS, ...(opts.args ?? [])] });
    const page = await browser.newPage();
    // Kept for the failure message: a module that fails to load shows up only here.
    const log: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') log.push(`console.${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => log.push(`page error: ${e.message}`));
    await page.goto(`${served.origin}/${html}`);
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(page),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no results after ${timeoutMs} ms`)), timeoutMs);
        }),
      ]);
    } catch (e) {
      throw new Error(`Chromium run failed: ${(e as Error).message}${log.length ? `\n${log.join('\n')}` : ''}`, { cause: e });
    } finally {
      clearTimeout(timer);
    }
  } finally {
    await browser?.close();
    if (server) {
      server.closeAllConnections();
      await new Promise((ok) => server!.close(ok));
    }
    await rm(outDir, { recursive: true, force: true });
  }
}

/** Why a Chromium suite skips: never under CI (.ci/run installs chromium, so there a missing one fails). */
export function chromiumSkip(): string | false {
  return !existsSync(CHROMIUM) && !process.env.CI ? `${CHROMIUM} is missing (apt-get install chromium); CI fails instead of skipping` : false;
}

/**
 * Launches headless Chromium (Debian's, no download) for pages served elsewhere (e.g. by a running
 * coordinator); the caller closes it. `userDataDir` gives a persistent profile (IndexedDB across pages).
 */
export async function launchChromium(opts: { args?: string[]; userDataDir?: string } = {}): Promise<import('playwright-core').BrowserContext> {
  const { chromium } = await import('playwright-core');
  const args = [...CHROMIUM_ARGS, ...(opts.args ?? [])];
  if (opts.userDataDir) return chromium.launchPersistentContext(opts.userDataDir, { executablePath: CHROMIUM, args });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args });
  const context = await browser.newContext();
  context.on('close', () => { void browser.close(); });
  return context;
}

/** A child process whose output is kept (the tail) for failure messages. */
export interface Child { name: string; proc: ChildProcess; output: () => string; exited: Promise<number | null> }

/** Starts `cmd args` in the repository, keeping the last 4,000 characters of its output. */
export function startChild(name: string, cmd: string, args: string[]): Child {
  const proc = spawn(cmd, args, { cwd: REPO, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  const keep = (b: Buffer) => { out = (out + b.toString()).slice(-4000); };
  proc.stdout!.on('data', keep);
  proc.stderr!.on('data', keep);
  const exited = new Promise<number | null>((ok) => {
    proc.on('exit', (code) => ok(code));
    proc.on('error', (e) => { keep(Buffer.from(`spawn failed: ${e.message}\n`)); ok(-1); });
  });
  return { name, proc, output: () => out, exited };
}

/** SIGTERM, then SIGKILL after 5 s; resolves once it has exited. */
export async function stopChild(c: Child | undefined): Promise<void> {
  if (!c || c.proc.exitCode !== null || c.proc.signalCode !== null) return;
  c.proc.kill('SIGTERM');
  const t = setTimeout(() => c.proc.kill('SIGKILL'), 5000);
  await c.exited;
  clearTimeout(t);
}
