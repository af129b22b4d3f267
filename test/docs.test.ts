// The API reference (`npm run docs:api`, typedoc.json) builds from the TSDoc comments: TypeDoc runs on the
// same configuration into a temporary folder and must report no error, no broken or dangling {@link}, no
// other validation warning (a type the API uses that no entry point exports, a relative link to no file),
// and write a documented page for each main entry point.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Application, DeclarationReflection, LogLevel, TSConfigReader, TypeDocReader, type ProjectReflection } from 'typedoc';

const root = fileURLToPath(new URL('../../', import.meta.url));
const out = mkdtempSync(path.join(tmpdir(), 'meshwork-docs-'));
after(() => rmSync(out, { recursive: true, force: true }));

type Message = { level: LogLevel; text: string };
const messages: Message[] = [];
const plain = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, '');

// Explicit readers: the default set also parses process.argv, which belongs to the test runner here.
const app = await Application.bootstrapWithPlugins(
  { options: path.join(root, 'typedoc.json'), out, logLevel: 'Warn' },
  [new TypeDocReader(), new TSConfigReader()],
);
const bootstrapErrors = app.logger.errorCount;
{
  const logger = app.logger;
  const log = logger.log.bind(logger);
  logger.log = (message, level) => {
    if (level >= LogLevel.Warn) messages.push({ level, text: plain(String(message)) });
    log(message, level);
  };
}
const project: ProjectReflection | undefined = bootstrapErrors ? undefined : await app.convert();
if (project) {
  app.validate(project);
  await app.generateOutputs(project);
}

const errors = () => messages.filter((m) => m.level === LogLevel.Error).map((m) => m.text);
const warnings = () => messages.filter((m) => m.level === LogLevel.Warn).map((m) => m.text);
const LINK = /Failed to resolve link|links to .* which was resolved but is not included|which exists but does not have a link|anchor does not exist/;

test('typedoc reads typedoc.json, converts the sources and writes the site with no error', () => {
  assert.equal(bootstrapErrors, 0, 'typedoc.json or the plugin it loads was refused (see the errors above)');
  assert.ok(project, `conversion failed:\n${errors().join('\n')}`);
  assert.deepEqual(errors(), []);
  assert.equal(app.options.getValue('out'), out, 'the test must not write into the checkout');
  assert.ok(existsSync(path.join(out, 'index.html')), 'no index.html in the output');
});

test('no {@link} in the TSDoc comments is broken or points at an undocumented symbol', () => {
  assert.deepEqual(warnings().filter((w) => LINK.test(w)), []);
});

test('no other TypeDoc warning (types used but not exported, relative paths, tags)', () => {
  assert.deepEqual(warnings(), []);
});

// [module as named in typedoc.json's entry points, export, page under the output folder]
const PAGES: [string, string, string][] = [
  ['runtime', 'runKernel', 'functions/runtime.runKernel.html'],
  ['runtime', 'ready', 'functions/runtime.ready.html'],
  ['runtime/fl', 'simulate', 'functions/runtime_fl.simulate.html'],
  ['runtime/fl', 'FedAvg', 'classes/runtime_fl.FedAvg.html'],
  ['host-node', 'createThreadPool', 'functions/host-node.createThreadPool.html'],
  ['host-node/coordinator', 'startCoordinator', 'functions/host-node_coordinator.startCoordinator.html'],
  ['host-node/coordinator', 'Coordinator', 'classes/host-node_coordinator.Coordinator.html'],
  ['host-node/worker', 'runWorker', 'functions/host-node_worker.runWorker.html'],
  ['host-node/aggregator', 'runAggregator', 'functions/host-node_aggregator.runAggregator.html'],
  ['host-browser', 'join', 'functions/host-browser.join.html'],
  ['proofs', 'verifyBatch', 'functions/proofs.verifyBatch.html'],
  ['proofs', 'sealEnvelope', 'functions/proofs.sealEnvelope.html'],
  ['proofs/groth16', 'batchVerify', 'functions/proofs_groth16.batchVerify.html'],
];

test('every entry point has a module page with its own summary', () => {
  assert.ok(project);
  const modules = project.children?.map((m) => m.name).sort();
  assert.deepEqual(modules, ['host-browser', 'host-browser/groth16', 'host-node', 'host-node/aggregator', 'host-node/coordinator', 'host-node/groth16',
    'host-node/worker', 'proofs', 'proofs/groth16', 'runtime', 'runtime/fl']);
  for (const m of project.children!) {
    assert.ok(m.comment?.summary.length, `module ${m.name} has no @module comment`);
    const page = path.join(out, 'modules', `${m.name.replaceAll('/', '_')}.html`);
    assert.ok(existsSync(page), `no page ${path.relative(out, page)} for module ${m.name}`);
  }
});

test('the main entry points are documented, each on its own page', () => {
  assert.ok(project);
  for (const [mod, name, file] of PAGES) {
    const refl = project.getChildByName([mod, name]);
    assert.ok(refl instanceof DeclarationReflection, `${mod} does not export ${name}`);
    const commented = refl.hasComment() || refl.getAllSignatures().some((s) => s.hasComment());
    assert.ok(commented, `${mod}.${name} has no doc comment`);
    const page = path.join(out, file);
    assert.ok(existsSync(page), `no page ${file} for ${mod}.${name}`);
    assert.match(readFileSync(page, 'utf8'), new RegExp(`<h1>(Function|Class) ${name}</h1>`), file);
  }
});
