#!/usr/bin/env node
/**
 * The `meshwork` command: info, conformance, bench, simulate, serve, worker, start.
 * @module
 */
import { parseArgs } from 'node:util';
import { detectCapabilities, env } from '../runtime/index.js';
import { backendFailures, backendFor, readyBackends } from '../runtime/registry.js';
import { OPS } from '../runtime/ops/index.js';
import { ready } from './index.js';

const USAGE = `usage: meshwork <command> [options]

commands:
  info                                   capabilities, backends, and the backend each kernel uses
  conformance [--backend NAME|all] [--host node|embedded] [--json]
                                         run every kernel case and compare output hashes with the reference
  bench [--json FILE] [--quick] [--suite matmul,aggregate,fl,signatures,browser-signatures,freivalds,tpm,groth16,coordinator]
                                         benchmarks against tfjs-wasm, TF.js CPU and plain-JS baselines
  simulate [--participants N] [--rounds R] [--rule fedavg|median|trimmed-mean|multi-krum|centered-clip]
           [--attack sign-flip|label-flip|gaussian|alie|ipm|model-replacement --byzantine FRACTION]
           [--dp-epsilon E [--sample-rate Q]] [--fanin K [--robust-level L]] [--threads N]
           [--server-lr LR] [--server-momentum B] [--federated-eval] [--iid|--alpha A] [--seed S]
           [--json FILE] [--plot FILE.svg] [--backend NAME] [--matrix]
                                         federated learning on the shipped digits, in-process or
                                         on a worker pool (--threads), flat or through an aggregator tree
  serve [--port P] [--host H] [--task FILE] [--dir DIR] [--attestation FILE.json] [--exit-when-done]
        [--aggregator-endpoints URL-PREFIX,...]
                                         the coordinator: HTTP + WebSocket API, embed script, dashboard,
                                         /metrics; state in an embedded database (--dir, default .meshwork/TASK);
                                         --attestation: { required, trustedAks, pcrPolicy } for TPM joins
  worker --coordinator URL [--data FILE.csv[.gz]] [--key FILE.pem] [--attack sign-flip|label-flip|gaussian] [--json]
         [--hybrid] [--tpm | --no-tpm] [--tpm-dir DIR] [--tpm-pcrs 0-7]
                                         a Node participant: joins (with a TPM quote when the host has a TPM),
                                         trains on a worker thread, submits signed updates; survives
                                         coordinator restarts
  worker --role aggregator --coordinator URL [--port P] [--host H] [--endpoint URL] [--dir DIR] [--key FILE.pem] [--json]
                                         a leaf aggregator (tasks with "aggregators"): takes its participants'
                                         updates, checks them, sends the coordinator one signed exact partial
                                         sum per round; keeps the envelopes for the coordinator's replay
  start [--port P] [--rounds R] [--exit-when-done]
                                         the demo: a coordinator and 5 Node workers (one sign-flipping) train
                                         non-IID digits with Multi-Krum; prints the dashboard URL
  demo-simulate                          info, then the in-process simulation demo (20 participants, 4
                                         attacking with model replacement, Multi-Krum, learning curve)
`;

async function info(): Promise<void> {
  const all = ['wasm-simd', 'wasm', 'js'];
  await ready(all).catch(() => undefined);
  const caps = detectCapabilities();
  console.log('meshwork runtime');
  console.log(`  host           node ${process.version} (${process.platform}/${process.arch}), ${caps.hardwareConcurrency} cores`);
  console.log(`  wasm           ${caps.wasm}`);
  console.log(`  simd           ${caps.simd}`);
  console.log(`  threads        ${caps.threads} (SharedArrayBuffer ${caps.sharedArrayBuffer})`);
  console.log(`  crossOriginIsolated ${caps.crossOriginIsolated ?? 'n/a (not a browser)'}`);
  console.log(`  webgpu         ${caps.webgpu ? 'present' : 'absent'} (no WebGPU kernels ship yet)`);
  console.log(`  backends       ${env.backends.map((b) => (readyBackends().includes(b) ? `${b} ✓` : `${b} ✗ (${backendFailures.get(b)})`)).join(', ')}`);
  console.log('  kernels');
  for (const [name, def] of OPS) console.log(`    ${name.padEnd(15)} ${(backendFor(name) ?? 'none').padEnd(10)} ${def.summary}`);
}

async function conformance(args: string[]): Promise<number> {
  const { values } = parseArgs({ args, options: { backend: { type: 'string', default: 'all' }, host: { type: 'string', default: 'node' }, json: { type: 'boolean', default: false } } });
  const { loadCaseFiles, conformanceNode, conformanceEmbedded } = await import('./conformance.js');
  const files = await loadCaseFiles();
  let rows;
  if (values.host === 'embedded') {
    if (values.backend !== 'all' && values.backend !== 'wasm') throw new RangeError(`--host embedded runs the scalar build (backend wasm), not '${values.backend}'`);
    rows = await conformanceEmbedded(files);
  } else if (values.host === 'node') {
    const backends = values.backend === 'all' ? ['js', 'wasm', 'wasm-simd'] : [values.backend!];
    for (const b of backends) if (!['js', 'wasm', 'wasm-simd'].includes(b)) throw new RangeError(`--backend must be js, wasm, wasm-simd or all, got '${b}'`);
    rows = await conformanceNode(files, backends);
  } else throw new RangeError(`--host must be node or embedded, got '${values.host}'`);
  const bad = rows.filter((r) => !r.equal);
  if (values.json) console.log(JSON.stringify(rows, null, 1));
  else {
    for (const r of rows) console.log(`${r.equal ? 'ok  ' : 'DIFF'} ${r.kernel.padEnd(15)} ${r.case.padEnd(34)} ${r.backend.padEnd(10)} ${r.host.padEnd(9)} ${r.sha256.slice(0, 16)}${r.error ? ` ${r.error}` : ''}`);
    console.log(`${rows.length - bad.length} of ${rows.length} outputs equal the reference`);
  }
  return bad.length ? 1 : 0;
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv;
  switch (cmd) {
    case 'info':
      await info();
      return 0;
    case 'conformance':
      return conformance(rest);
    case 'bench': {
      const { benchMain } = await import('../bench/main.js');
      return benchMain(rest);
    }
    case 'simulate': {
      const { simulateMain } = await import('./simulate-cli.js');
      return simulateMain(rest);
    }
    case 'serve': {
      const { serveMain } = await import('./serve-cli.js');
      return serveMain(rest);
    }
    case 'worker': {
      const { workerMain } = await import('./serve-cli.js');
      return workerMain(rest);
    }
    case 'start': {
      const { startMain } = await import('./serve-cli.js');
      return startMain(rest);
    }
    case 'demo-simulate': {
      await info();
      console.log('');
      const { simulateMain } = await import('./simulate-cli.js');
      return simulateMain(['--alpha', '0.5', '--rule', 'multi-krum', '--attack', 'model-replacement', '--byzantine', '0.2', '--rounds', '40']);
    }
    case undefined:
    case 'help':
    case '--help':
    case '-h':
      process.stdout.write(USAGE);
      return 0;
    default:
      process.stderr.write(`meshwork: unknown command '${cmd}'\n${USAGE}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => { process.exitCode = code; },
  (err: unknown) => {
    const e = err as Error;
    process.stderr.write(`meshwork: ${e.name === 'Error' ? '' : `${e.name}: `}${e.message}\n`);
    process.exitCode = e instanceof RangeError || e instanceof TypeError ? 2 : 1;
  },
);
