/**
 * A software TPM for tests and development: starts `swtpm` (TPM 2.0, TCP transport, loopback only) as a
 * daemon in a state directory on a free port pair, and stops it by the PID in its PID file.
 *
 * ```ts
 * const tpm = await startSwtpm();
 * // TPM2TOOLS_TCTI=<tpm.tcti> tpm2_getrandom 8 ... or new TpmAttestor({ tcti: tpm.tcti, ... })
 * await tpm.stop();
 * ```
 * The command line is the one in TOOLCHAIN.md ("TPM"): `--flags not-need-init,startup-clear` so that the
 * TPM is started and usable at once by tpm2-tools without a resource manager.
 * @module
 */
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { findOnPath } from './tpm.js';

/** A running software TPM. */
export interface Swtpm {
  /** The TCTI string for tpm2-tools (`TPM2TOOLS_TCTI`): `swtpm:host=127.0.0.1,port=P`. */
  readonly tcti: string;
  /** TPM command port P (the control channel is P + 1). */
  readonly port: number;
  /** Process id of the swtpm daemon (from its PID file). */
  readonly pid: number;
  /** The TPM's state directory (NV memory, the PID file). */
  readonly stateDir: string;
  /**
   * Stops the daemon by its PID (SIGTERM, then SIGKILL after 2 s) and removes the state directory if this
   * helper created it. Safe to call more than once.
   */
  stop(): Promise<void>;
}

/** Options of {@link startSwtpm}. */
export interface SwtpmOptions {
  /**
   * State directory to use (created with mode 0700 if missing) and keep on stop, so that a later
   * `startSwtpm({ stateDir })` is the same TPM after a restart (same seeds, so the same EK). Default: a
   * fresh temporary directory, removed on stop.
   */
  stateDir?: string;
  /**
   * Command port P to use (the control port is P + 1) instead of a free pair found by binding port 0, for
   * example to restart a TPM where its clients expect it. Default: a free pair.
   */
  port?: number;
  /** Attempts at a free port pair before giving up (another process may take a port in between). Default 5. */
  attempts?: number;
  /** How long to wait for the daemon's port to accept connections, in ms. Default 5000. */
  timeoutMs?: number;
  /** Environment whose PATH finds `swtpm`. Default `process.env`. */
  env?: NodeJS.ProcessEnv;
}

/** Whether `swtpm` and the tpm2-tools the tests use are on PATH; otherwise why not. */
export function swtpmAvailable(env: NodeJS.ProcessEnv = process.env): { ok: boolean; reason?: string } {
  const missing = ['swtpm', 'tpm2_createek', 'tpm2_createak', 'tpm2_quote', 'tpm2_flushcontext'].filter((t) => !findOnPath(t, env));
  return missing.length ? { ok: false, reason: `not on PATH: ${missing.join(', ')} (apt-get install swtpm swtpm-tools tpm2-tools)` } : { ok: true };
}

/** A TCP port on 127.0.0.1 that was free a moment ago (bound with port 0, then released). */
function freePort(port = 0): Promise<number | undefined> {
  return new Promise((resolve) => {
    const srv = createServer();
    srv.unref();
    srv.once('error', () => resolve(undefined));
    srv.listen({ host: '127.0.0.1', port, exclusive: true }, () => {
      const addr = srv.address();
      const got = typeof addr === 'object' && addr ? addr.port : undefined;
      srv.close(() => resolve(got));
    });
  });
}

/** A port P such that P and P + 1 were both free. */
async function freePortPair(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await freePort();
    if (p !== undefined && p < 65535 && (await freePort(p + 1)) === p + 1) return p;
  }
  throw new Error('swtpm: found no free port pair on 127.0.0.1');
}

function run(file: string, args: string[], env: NodeJS.ProcessEnv): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(file, args, { env, timeout: 10_000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(`${path.basename(file)} failed (${err.code ?? err.signal ?? 'error'}): ${String(stderr).trim() || err.message}`));
      else resolve();
    });
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Resolves once 127.0.0.1:port accepts a connection, rejects after `timeoutMs`. */
async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = createConnection({ host: '127.0.0.1', port });
      s.once('connect', () => { s.destroy(); resolve(true); });
      s.once('error', () => { s.destroy(); resolve(false); });
    });
    if (ok) return;
    if (Date.now() > until) throw new Error(`swtpm: port ${port} did not accept connections within ${timeoutMs} ms`);
    await sleep(20);
  }
}

/** Whether process `pid` still runs (a zombie left to a non-reaping init counts as gone). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
  } catch {
    return !existsSync('/proc/self'); // no procfs: trust kill(pid, 0)
  }
}

async function readPid(file: string, timeoutMs: number): Promise<number> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    try {
      const pid = Number(readFileSync(file, 'utf8').trim());
      if (Number.isSafeInteger(pid) && pid > 0) return pid;
    } catch {
      // not written yet
    }
    if (Date.now() > until) throw new Error(`swtpm: no PID in ${file} after ${timeoutMs} ms`);
    await sleep(10);
  }
}

async function killPid(pid: number): Promise<void> {
  if (!alive(pid)) return;
  try { process.kill(pid, 'SIGTERM'); } catch { return; }
  const until = Date.now() + 2000;
  while (alive(pid)) {
    if (Date.now() > until) {
      try { process.kill(pid, 'SIGKILL'); } catch { return; }
      await sleep(50);
      return;
    }
    await sleep(10);
  }
}

/**
 * Starts swtpm (`swtpm socket --tpm2 --server type=tcp,port=P,bindaddr=127.0.0.1 --ctrl
 * type=tcp,port=P+1,bindaddr=127.0.0.1 --flags not-need-init,startup-clear --pid file=... --daemon`) on a
 * free port pair, retrying with new ports when the start fails, and waits until the TPM port accepts.
 * @throws Error when swtpm is not installed or does not start; the message carries swtpm's stderr.
 */
export async function startSwtpm(opts: SwtpmOptions = {}): Promise<Swtpm> {
  const env = opts.env ?? process.env;
  const bin = findOnPath('swtpm', env);
  if (!bin) throw new Error('swtpm: not on PATH (apt-get install swtpm swtpm-tools)');
  const own = opts.stateDir === undefined;
  const stateDir = opts.stateDir ?? mkdtempSync(path.join(tmpdir(), 'meshwork-swtpm-'));
  await mkdir(stateDir, { recursive: true, mode: 0o700 });
  const pidFile = path.join(stateDir, 'swtpm.pid');
  if (opts.port !== undefined && (!Number.isInteger(opts.port) || opts.port < 1 || opts.port > 65534)) throw new RangeError(`startSwtpm: port must be an integer 1..65534, got ${opts.port}`);
  const attempts = opts.port !== undefined ? 1 : opts.attempts ?? 5;
  let last: unknown;
  for (let i = 0; i < attempts; i++) {
    rmSync(pidFile, { force: true });
    const port = opts.port ?? await freePortPair();
    try {
      await run(bin, ['socket', '--tpm2', '--tpmstate', `dir=${stateDir}`,
        '--server', `type=tcp,port=${port},bindaddr=127.0.0.1`, '--ctrl', `type=tcp,port=${port + 1},bindaddr=127.0.0.1`,
        '--flags', 'not-need-init,startup-clear', '--pid', `file=${pidFile}`, '--daemon'], env);
      const pid = await readPid(pidFile, 2000);
      try {
        await waitForPort(port, opts.timeoutMs ?? 5000);
      } catch (e) {
        await killPid(pid);
        throw e;
      }
      let stopped: Promise<void> | undefined;
      return {
        tcti: `swtpm:host=127.0.0.1,port=${port}`,
        port,
        pid,
        stateDir,
        stop() {
          stopped ??= killPid(pid).then(() => { if (own) rmSync(stateDir, { recursive: true, force: true }); });
          return stopped;
        },
      };
    } catch (e) {
      last = e; // most likely a port taken between the probe and the bind: try another pair
    }
  }
  if (own) rmSync(stateDir, { recursive: true, force: true });
  throw new Error(`swtpm: did not start after ${attempts} attempts: ${(last as Error)?.message ?? last}`);
}
