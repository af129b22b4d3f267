#!/usr/bin/env node
// Builds the embedded C host: wasm2c translates kernels/build/scalar.wasm to C, this script generates the
// export dispatch table from the generated header (so a new kernel needs no hand edits here or in
// driver.c), and gcc links everything with the wasm2c runtime into host-embedded/build/meshwork-embedded.
//
//   node host-embedded/build.mjs        (no dependencies; needs wasm2c from `wabt` and `gcc`)
//
// Environment: CC (default gcc), WASM2C (default wasm2c), WASM2C_RUNTIME (default /usr/src/wasm2c, where
// Debian's wabt package installs wasm-rt.h and wasm-rt-impl.c).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.chdir(root);

const WASM = 'kernels/build/scalar.wasm';
const OUT_DIR = 'host-embedded/build';
const BIN = `${OUT_DIR}/meshwork-embedded`;
// A fixed module name keeps the C symbol prefix stable whatever the input file is called (wasm2c would
// otherwise take it from the name section or the file name: Z_scalar...).
const MODULE = 'kernels';
const CC = process.env.CC || 'gcc';
const WASM2C = process.env.WASM2C || 'wasm2c';
const RUNTIME = process.env.WASM2C_RUNTIME || '/usr/src/wasm2c';

// Why each flag is there:
// -ffp-contract=off   gcc would otherwise fuse a*b+c into FMA where the target has it, changing the bits.
// -std=c11 + -D_DEFAULT_SOURCE   strict C11 hides the POSIX/BSD declarations wasm-rt-impl.c uses (mmap's
//                     MAP_ANONYMOUS, sigaltstack, siglongjmp, alloca); an implicitly declared alloca
//                     returns int and truncates the pointer on 64-bit hosts.
// -DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0   explicit bounds checks instead of guard pages. With guard pages
//                     every instance reserves 8 GiB of address space and wasm2c 1.0.32's free releases only
//                     the committed part, so a trace with ~16k cases (fresh instance each) aborts in mmap.
//                     Explicit checks also suit embedded targets without mmap or signals.
const CFLAGS = [
  '-O2', '-ffp-contract=off', '-std=c11', '-D_DEFAULT_SOURCE', '-DWASM_RT_MEMCHECK_SIGNAL_HANDLER=0',
  `-I${RUNTIME}`, '-Ihost-embedded', `-I${OUT_DIR}`,
];

function fail(message) {
  console.error(`host-embedded: ${message}`);
  process.exit(1);
}

/** Runs a tool to completion; a missing executable gets an install hint instead of a bare ENOENT. */
function run(cmd, args, aptPackage) {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  if (r.error) {
    if (r.error.code === 'ENOENT') fail(`${cmd} not found on PATH: install it with \`apt-get install ${aptPackage}\``);
    fail(`${cmd} could not be run: ${r.error.message}`);
  }
  if (r.status !== 0) {
    process.stderr.write(r.stderr || r.stdout || '');
    fail(`${cmd} ${args.join(' ')} exited with ${r.status ?? r.signal}`);
  }
  return r.stdout;
}

// ----------------------------------------------------------------------------------------------------
// Header parsing. wasm2c precedes each export's accessor with `/* export: 'name' */`. Function exports
// take the instance as an unnamed first parameter (`u32 Z_kernelsZ_f(Z_kernels_instance_t*, u32);`);
// memory/global/table exports are accessors with a named `instance` parameter returning a pointer.
// Export names come from the comment, so wasm2c's symbol mangling never has to be undone.

const C_TYPES = { u32: 'i32', u64: 'i64', f32: 'f32', f64: 'f64' };
const TYPE_CODE = { i32: 'MW_I32', i64: 'MW_I64', f32: 'MW_F32', f64: 'MW_F64' };

function parseHeader(text) {
  const inst = /^typedef struct (\w+) \{/m.exec(text)?.[1];
  const instantiate = new RegExp(`^void (\\w+_instantiate)\\(${inst}\\*\\);$`, 'm').exec(text)?.[1];
  const free = new RegExp(`^void (\\w+_free)\\(${inst}\\*\\);$`, 'm').exec(text)?.[1];
  // Only some wasm2c versions have a per-module init step.
  const initModule = /^void (\w+_init_module)\(void\);$/m.exec(text)?.[1] ?? null;
  if (!inst || !instantiate || !free) {
    fail('unrecognised wasm2c header layout (instance struct / instantiate / free not found); ' +
      'this script is written against wasm2c 1.0.32');
  }
  const exports = [];
  let memory = null;
  for (const m of text.matchAll(/^\/\* export: '([^']*)' \*\/\n(.*);$/gm)) {
    const [, name, proto] = m;
    const p = /^(.+?)\s*\b(\w+)\((.*)\)$/.exec(proto);
    if (!p) fail(`cannot parse prototype of export '${name}': ${proto}`);
    const [, ret, symbol, paramList] = p;
    const params = paramList.split(',').map((s) => s.trim());
    if (params[0] === `${inst}* instance`) {
      if (ret === 'wasm_rt_memory_t*' && name === 'memory') memory = symbol;
      continue; // memory, global or table export: not callable
    }
    if (params[0] !== `${inst}*`) fail(`export '${name}' does not take the instance first: ${proto}`);
    const types = params.slice(1).map((t) => C_TYPES[t] ?? fail(`export '${name}' has a parameter of C type ${t}: ${proto}`));
    if (ret !== 'void' && !(ret in C_TYPES)) fail(`export '${name}' returns C type ${ret}: ${proto}`);
    exports.push({ name, symbol, params: types, result: ret === 'void' ? null : C_TYPES[ret] });
  }
  if (!memory) fail(`${WASM} does not export its memory as "memory"`);
  if (!exports.length) fail('no function exports found in the wasm2c header');
  return { inst, instantiate, free, initModule, memory, exports };
}

/** A C string literal for any byte string (export names may be arbitrary UTF-8). */
function cString(s) {
  let out = '"';
  for (const b of Buffer.from(s, 'utf8')) {
    if (b === 0x22 || b === 0x5c) out += `\\${String.fromCharCode(b)}`;
    else if (b >= 0x20 && b < 0x7f && b !== 0x3f) out += String.fromCharCode(b); // '?' avoids trigraphs
    else out += `\\${b.toString(8).padStart(3, '0')}`;
  }
  return out + '"';
}

// ----------------------------------------------------------------------------------------------------
// Generated sources. dispatch.h is the only interface driver.c sees: it never names a wasm2c symbol, so
// a wasm2c upgrade that renames them only touches parseHeader().

function dispatchHeader(h, wasmSha) {
  // wasm2c >= 1.0.33 already calls the instance type w2c_<module>; 1.0.32 calls it Z_<module>_instance_t.
  const alias = h.inst === `w2c_${MODULE}` ? '' : `\ntypedef ${h.inst} w2c_${MODULE};\n`;
  return `/* Generated by host-embedded/build.mjs from ${MODULE}.h (${WASM}, sha256 ${wasmSha}). Do not edit. */
#ifndef MW_DISPATCH_H_GENERATED_
#define MW_DISPATCH_H_GENERATED_

#include <stdint.h>

#include "${MODULE}.h"
${alias}
/* Argument type codes, as in the trace format. */
enum { MW_I32 = 0, MW_I64 = 1, MW_F32 = 2, MW_F64 = 3 };

/* One argument: its type code and raw bits (i32 in the low 32 bits, f32/f64 as their IEEE bit pattern),
 * so float arguments keep NaN payloads exactly. */
typedef struct {
  uint8_t type;
  uint64_t bits;
} mw_arg;

typedef struct {
  const char* name;       /* export name */
  const char* signature;  /* e.g. "(i32, i32, i32, f32) -> void", for messages */
  int nparams;
  const uint8_t* params;  /* nparams MW_* codes */
  void (*thunk)(w2c_${MODULE}*, const mw_arg*);
} mw_export;

/* mw_call results. */
enum { MW_OK = 0, MW_E_NO_EXPORT = 1, MW_E_ARITY = 2, MW_E_TYPE = 3 };

extern const char mw_wasm_sha256[];  /* of the ${WASM} this binary was built from */
extern const char mw_wasm2c_version[];
extern const mw_export mw_exports[];
extern const int mw_export_count;

/* Once per process, before any instance. */
void mw_runtime_init(void);
void mw_instantiate(w2c_${MODULE}* inst);
void mw_free(w2c_${MODULE}* inst);
wasm_rt_memory_t* mw_memory(w2c_${MODULE}* inst);

/* The export called \`name\`, or NULL. */
const mw_export* mw_find(const char* name);

/* Calls export \`name\` with exactly the parameter types it declares; its return value, if any, is dropped.
 * Traps are not caught here: wrap the call in wasm_rt_impl_try(). */
int mw_call(w2c_${MODULE}* inst, const char* name, const mw_arg* args, int nargs);

#endif
`;
}

function dispatchSource(h, wasmSha, wasm2cVersion) {
  const conv = {
    i32: (a) => `(u32)${a}.bits`,
    i64: (a) => `(u64)${a}.bits`,
    f32: (a) => `mw_f32(${a}.bits)`,
    f64: (a) => `mw_f64(${a}.bits)`,
  };
  const thunks = h.exports.map((e, i) => {
    const args = ['inst', ...e.params.map((t, j) => conv[t](`a[${j}]`))].join(', ');
    const unused = e.params.length ? '' : '\n  (void)a;';
    return `/* ${e.name} */\nstatic void mw_thunk_${i}(w2c_${MODULE}* inst, const mw_arg* a) {${unused}\n  ${e.result ? '(void)' : ''}${e.symbol}(${args});\n}`;
  });
  const paramArrays = h.exports.map((e, i) =>
    `static const uint8_t mw_params_${i}[] = {${e.params.length ? e.params.map((t) => TYPE_CODE[t]).join(', ') : '0 /* none */'}};`);
  const table = h.exports.map((e, i) => {
    const sig = `(${e.params.join(', ')}) -> ${e.result ?? 'void'}`;
    return `  {${cString(e.name)}, "${sig}", ${e.params.length}, mw_params_${i}, mw_thunk_${i}},`;
  });
  return `/* Generated by host-embedded/build.mjs from ${MODULE}.h (${WASM}, sha256 ${wasmSha}). Do not edit. */
#include <string.h>

#include "dispatch.h"

const char mw_wasm_sha256[] = "${wasmSha}";
const char mw_wasm2c_version[] = ${cString(wasm2cVersion)};

/* Bit copies, not value conversions, so NaN payloads and -0 survive. */
static f32 mw_f32(uint64_t bits) {
  uint32_t lo = (uint32_t)bits;
  f32 v;
  memcpy(&v, &lo, sizeof v);
  return v;
}

static f64 mw_f64(uint64_t bits) {
  f64 v;
  memcpy(&v, &bits, sizeof v);
  return v;
}

${thunks.join('\n\n')}

${paramArrays.join('\n')}

const mw_export mw_exports[] = {
${table.join('\n')}
};
const int mw_export_count = (int)(sizeof mw_exports / sizeof mw_exports[0]);

void mw_runtime_init(void) {
  wasm_rt_init();${h.initModule ? `\n  ${h.initModule}();` : ''}
}

void mw_instantiate(w2c_${MODULE}* inst) { ${h.instantiate}(inst); }

void mw_free(w2c_${MODULE}* inst) { ${h.free}(inst); }

wasm_rt_memory_t* mw_memory(w2c_${MODULE}* inst) { return ${h.memory}(inst); }

const mw_export* mw_find(const char* name) {
  for (int i = 0; i < mw_export_count; i++) {
    if (strcmp(mw_exports[i].name, name) == 0) return &mw_exports[i];
  }
  return NULL;
}

int mw_call(w2c_${MODULE}* inst, const char* name, const mw_arg* args, int nargs) {
  const mw_export* e = mw_find(name);
  if (!e) return MW_E_NO_EXPORT;
  if (nargs != e->nparams) return MW_E_ARITY;
  for (int i = 0; i < nargs; i++) {
    if (args[i].type != e->params[i]) return MW_E_TYPE;
  }
  e->thunk(inst, args);
  return MW_OK;
}
`;
}

// ----------------------------------------------------------------------------------------------------

const t0 = performance.now();
if (!existsSync(WASM)) fail(`${WASM} is missing: build the kernels first (npm run build:kernels)`);
for (const f of ['wasm-rt.h', 'wasm-rt-impl.c']) {
  if (!existsSync(path.join(RUNTIME, f))) fail(`${path.join(RUNTIME, f)} not found: the wasm2c runtime ships with \`apt-get install wabt\` (or set WASM2C_RUNTIME)`);
}
const wasm2cVersion = run(WASM2C, ['--version'], 'wabt').trim();
run(CC, ['--version'], 'gcc');
mkdirSync(OUT_DIR, { recursive: true });

const wasmSha = createHash('sha256').update(readFileSync(WASM)).digest('hex');
// wasm2c 1.0.32 accepts saturating float-to-int, sign-extension, bulk memory, mutable globals and
// multi-value by default; it aborts on SIMD and shared memory, hence the scalar build.
run(WASM2C, [WASM, '-n', MODULE, '-o', `${OUT_DIR}/${MODULE}.c`], 'wabt');
const t1 = performance.now();

const header = parseHeader(readFileSync(`${OUT_DIR}/${MODULE}.h`, 'utf8'));
writeFileSync(`${OUT_DIR}/dispatch.h`, dispatchHeader(header, wasmSha));
writeFileSync(`${OUT_DIR}/dispatch.c`, dispatchSource(header, wasmSha, wasm2cVersion));

run(CC, [
  ...CFLAGS,
  'host-embedded/driver.c', `${OUT_DIR}/${MODULE}.c`, `${OUT_DIR}/dispatch.c`, path.join(RUNTIME, 'wasm-rt-impl.c'),
  '-lm', '-o', BIN,
], 'gcc');
const t2 = performance.now();
console.log(`host-embedded: ${BIN} (${header.exports.length} exports, wasm2c ${wasm2cVersion}) ` +
  `in ${((t2 - t0) / 1000).toFixed(1)} s (wasm2c ${((t1 - t0) / 1000).toFixed(1)} s, ${CC} ${((t2 - t1) / 1000).toFixed(1)} s)`);
