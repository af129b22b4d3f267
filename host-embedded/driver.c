/*
 * meshwork-embedded: replays a meshwork call trace against the wasm2c translation of
 * kernels/build/scalar.wasm and writes the bytes of every READ step to an output file, so the embedded
 * host can be compared bit for bit with the JS/Wasm hosts.
 *
 *   meshwork-embedded TRACE OUTPUT    replay TRACE, write OUTPUT
 *   meshwork-embedded --list          exports and their signatures
 *   meshwork-embedded --version       wasm2c version and the sha256 of the scalar.wasm built in
 *
 * Trace (little-endian):
 *   "MWTR", u32 version = 1, u32 caseCount, then per case:
 *   u32 nameLen, name, u32 memoryBytes, u32 stepCount, then per step a u8 kind:
 *     1 WRITE  u32 offset, u32 length, <length bytes>
 *     2 CALL   u32 nameLen, name, u32 argCount, argCount x (u8 type, 8 bytes):
 *              type 0 i32 (sign-extended to 64 bits), 1 i64, 2 f32 (bit pattern, upper 4 bytes zero), 3 f64
 *     3 READ   u32 offset, u32 length
 * Output: "MWTO", u32 version = 1, u32 caseCount, then per case:
 *   u32 nameLen, name, u32 readCount, then per read: u32 length, bytes.
 *
 * Each case runs on a fresh instance. Memory grows to at least memoryBytes before the first step, and
 * before a WRITE that reaches past the end. The whole trace is validated before anything runs, so a
 * malformed trace produces no output.
 *
 * Exit status: 0 ok; 1 usage or I/O error; 2 malformed trace; 3 the trace could not be executed (trap,
 * unknown export, wrong argument types, READ out of bounds, memory cannot grow). No output file is left
 * behind on failure.
 */
#include <float.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "dispatch.h"
#include "wasm-rt-impl.h"

/* The kernels promise identical bits on every host: evaluating float expressions in wider precision
 * (x87) would break that silently. On 32-bit x86 build with -msse2 -mfpmath=sse. */
#if !defined(FLT_EVAL_METHOD) || FLT_EVAL_METHOD != 0
#error "meshwork-embedded needs FLT_EVAL_METHOD == 0 (on 32-bit x86: -msse2 -mfpmath=sse)"
#endif
/* wasm2c keeps linear memory byte-reversed on big-endian hosts; WRITE/READ copy bytes directly. */
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error "meshwork-embedded supports little-endian hosts only"
#endif

enum { EXIT_ERROR = 1, EXIT_MALFORMED = 2, EXIT_EXEC = 3 };
enum { STEP_WRITE = 1, STEP_CALL = 2, STEP_READ = 3 };
enum { TRACE_VERSION = 1, OUTPUT_VERSION = 1 };
/* The JS API's limit on function parameters; a larger count is a corrupt trace, not a real call. */
enum { MAX_ARGS = 1000 };
enum { ARG_RECORD_BYTES = 9 };
#define PAGE_BYTES 65536u
#define MAX_PAGES 65536u /* wasm32 */

/* The output being written, removed if we fail part way. */
static FILE* g_out;
static const char* g_out_path;

static void die(int status, const char* fmt, ...) {
  va_list ap;
  fputs("meshwork-embedded: ", stderr);
  va_start(ap, fmt);
  vfprintf(stderr, fmt, ap);
  va_end(ap);
  fputc('\n', stderr);
  if (g_out) {
    fclose(g_out);
    remove(g_out_path);
  }
  exit(status);
}

/* ---- Trace reading: every access goes through a cursor that knows how many bytes are left. ---- */

typedef struct {
  const uint8_t* base;
  size_t size;
  size_t pos;
} cursor;

static const uint8_t* take(cursor* c, size_t n, const char* what) {
  if (n > c->size - c->pos) {
    die(EXIT_MALFORMED, "malformed trace: %s at byte %zu needs %zu bytes, %zu left", what, c->pos, n,
        c->size - c->pos);
  }
  const uint8_t* p = c->base + c->pos;
  c->pos += n;
  return p;
}

static uint8_t get_u8(cursor* c, const char* what) { return *take(c, 1, what); }

static uint32_t le32(const uint8_t* p) {
  return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t* p) { return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32; }

static uint32_t get_u32(cursor* c, const char* what) { return le32(take(c, 4, what)); }

typedef struct {
  uint8_t kind;
  uint32_t offset, length;       /* WRITE, READ */
  const uint8_t* bytes;          /* WRITE: length bytes */
  const uint8_t* name;           /* CALL: export name, name_len bytes, not NUL-terminated */
  uint32_t name_len;
  uint32_t argc;                 /* CALL */
  const uint8_t* args;           /* CALL: argc records of ARG_RECORD_BYTES */
} step;

/* Parses and checks one step; the same code serves the validation pass and the execution pass. */
static void parse_step(cursor* c, step* s) {
  memset(s, 0, sizeof *s);
  size_t at = c->pos;
  s->kind = get_u8(c, "step kind");
  switch (s->kind) {
    case STEP_WRITE:
      s->offset = get_u32(c, "WRITE offset");
      s->length = get_u32(c, "WRITE length");
      s->bytes = take(c, s->length, "WRITE bytes");
      if ((uint64_t)s->offset + s->length > (uint64_t)MAX_PAGES * PAGE_BYTES) {
        die(EXIT_MALFORMED, "malformed trace: WRITE at byte %zu ends past 4 GiB", at);
      }
      break;
    case STEP_READ:
      s->offset = get_u32(c, "READ offset");
      s->length = get_u32(c, "READ length");
      if ((uint64_t)s->offset + s->length > (uint64_t)MAX_PAGES * PAGE_BYTES) {
        die(EXIT_MALFORMED, "malformed trace: READ at byte %zu ends past 4 GiB", at);
      }
      break;
    case STEP_CALL:
      s->name_len = get_u32(c, "CALL name length");
      s->name = take(c, s->name_len, "CALL name");
      if (s->name_len == 0 || memchr(s->name, 0, s->name_len)) {
        die(EXIT_MALFORMED, "malformed trace: CALL at byte %zu has an empty name or a NUL in it", at);
      }
      s->argc = get_u32(c, "CALL argument count");
      if (s->argc > MAX_ARGS) {
        die(EXIT_MALFORMED, "malformed trace: CALL at byte %zu has %" PRIu32 " arguments (at most %d)", at,
            s->argc, MAX_ARGS);
      }
      s->args = take(c, (size_t)s->argc * ARG_RECORD_BYTES, "CALL arguments");
      for (uint32_t i = 0; i < s->argc; i++) {
        const uint8_t* r = s->args + (size_t)i * ARG_RECORD_BYTES;
        uint64_t bits = le64(r + 1);
        bool ok;
        switch (r[0]) {
          /* Reject encodings that a different host could read differently. */
          case MW_I32: ok = (uint64_t)(int64_t)(int32_t)(uint32_t)bits == bits; break;
          case MW_I64: ok = true; break;
          case MW_F32: ok = bits >> 32 == 0; break;
          case MW_F64: ok = true; break;
          default:
            die(EXIT_MALFORMED, "malformed trace: CALL at byte %zu, argument %" PRIu32 " has type code %u", at,
                i, r[0]);
        }
        if (!ok) {
          die(EXIT_MALFORMED, "malformed trace: CALL at byte %zu, argument %" PRIu32
              " is not a sign-extended i32 / zero-extended f32", at, i);
        }
      }
      break;
    default:
      die(EXIT_MALFORMED, "malformed trace: unknown step kind %u at byte %zu", s->kind, at);
  }
}

typedef struct {
  const uint8_t* name;
  uint32_t name_len;
  uint32_t memory_bytes;
  uint32_t step_count;
} case_header;

static void parse_case_header(cursor* c, case_header* h) {
  h->name_len = get_u32(c, "case name length");
  h->name = take(c, h->name_len, "case name");
  h->memory_bytes = get_u32(c, "case memoryBytes");
  h->step_count = get_u32(c, "case step count");
}

static uint32_t parse_trace_header(cursor* c) {
  if (memcmp(take(c, 4, "magic"), "MWTR", 4) != 0) die(EXIT_MALFORMED, "malformed trace: bad magic (want MWTR)");
  uint32_t version = get_u32(c, "version");
  if (version != TRACE_VERSION) die(EXIT_MALFORMED, "trace version %" PRIu32 " not supported (want %d)", version, TRACE_VERSION);
  return get_u32(c, "case count");
}

/* ---- Output. ---- */

static void put(const void* p, size_t n) {
  if (n && fwrite(p, 1, n, g_out) != n) die(EXIT_ERROR, "cannot write %s", g_out_path);
}

static void put_u32(uint32_t v) {
  uint8_t b[4] = {(uint8_t)v, (uint8_t)(v >> 8), (uint8_t)(v >> 16), (uint8_t)(v >> 24)};
  put(b, sizeof b);
}

/* ---- Execution. ---- */

/* Grows the instance's memory so that [0, end) is addressable; end <= 4 GiB was checked when parsing. */
static void ensure_memory(w2c_kernels* inst, uint64_t end, const char* case_name) {
  wasm_rt_memory_t* mem = mw_memory(inst);
  if (end <= mem->size) return;
  uint64_t pages = (end + PAGE_BYTES - 1) / PAGE_BYTES;
  if (pages > MAX_PAGES || wasm_rt_grow_memory(mem, (uint32_t)(pages - mem->pages)) == UINT32_MAX) {
    die(EXIT_EXEC, "case '%s': cannot grow memory to %" PRIu64 " pages (max %" PRIu32 ")", case_name, pages,
        mem->max_pages);
  }
}

/* Kept out of run_case so that nothing run_case modifies lives across the setjmp. */
static int call_export(w2c_kernels* inst, const char* name, const mw_arg* args, int nargs, wasm_rt_trap_t* trap) {
  *trap = WASM_RT_TRAP_NONE;
  wasm_rt_trap_t code = wasm_rt_impl_try();
  if (code != WASM_RT_TRAP_NONE) {
    *trap = code;
    return MW_OK;
  }
  return mw_call(inst, name, args, nargs);
}

static void run_call(w2c_kernels* inst, const step* s, const char* case_name, uint32_t index) {
  char* name = malloc((size_t)s->name_len + 1);
  mw_arg* args = malloc(sizeof(mw_arg) * (s->argc ? s->argc : 1));
  if (!name || !args) die(EXIT_ERROR, "out of memory");
  memcpy(name, s->name, s->name_len);
  name[s->name_len] = '\0';
  for (uint32_t i = 0; i < s->argc; i++) {
    const uint8_t* r = s->args + (size_t)i * ARG_RECORD_BYTES;
    args[i].type = r[0];
    args[i].bits = le64(r + 1);
  }
  wasm_rt_trap_t trap;
  int rc = call_export(inst, name, args, (int)s->argc, &trap);
  if (rc != MW_OK) {
    const mw_export* e = mw_find(name);
    if (!e) die(EXIT_EXEC, "case '%s', step %" PRIu32 ": no export named '%s'", case_name, index, name);
    static const char* const type_names[] = {"i32", "i64", "f32", "f64"};
    uint32_t bad = 0;
    while (bad < s->argc && (int)bad < e->nparams && args[bad].type == e->params[bad]) bad++;
    if (rc == MW_E_ARITY) {
      die(EXIT_EXEC, "case '%s', step %" PRIu32 ": %s %s takes %d argument(s), the trace passes %" PRIu32,
          case_name, index, name, e->signature, e->nparams, s->argc);
    }
    die(EXIT_EXEC, "case '%s', step %" PRIu32 ": %s %s: argument %" PRIu32 " is %s, want %s", case_name, index,
        name, e->signature, bad, type_names[args[bad].type], type_names[e->params[bad]]);
  }
  if (trap != WASM_RT_TRAP_NONE) {
    die(EXIT_EXEC, "case '%s', step %" PRIu32 ": %s trapped: %s", case_name, index, name, wasm_rt_strerror(trap));
  }
  free(args);
  free(name);
}

static void run_case(cursor* c, uint32_t read_count) {
  case_header h;
  parse_case_header(c, &h);
  /* For messages only: a name with a NUL in it prints truncated, which is harmless. */
  char case_name[128];
  snprintf(case_name, sizeof case_name, "%.*s", (int)(h.name_len < 120 ? h.name_len : 120), (const char*)h.name);

  put_u32(h.name_len);
  put(h.name, h.name_len);
  put_u32(read_count);

  w2c_kernels inst;
  mw_instantiate(&inst);
  ensure_memory(&inst, h.memory_bytes, case_name);
  for (uint32_t i = 0; i < h.step_count; i++) {
    step s;
    parse_step(c, &s);
    wasm_rt_memory_t* mem = mw_memory(&inst);
    switch (s.kind) {
      case STEP_WRITE:
        ensure_memory(&inst, (uint64_t)s.offset + s.length, case_name);
        /* Growing may move the memory. */
        mem = mw_memory(&inst);
        if (s.length) memcpy(mem->data + s.offset, s.bytes, s.length);
        break;
      case STEP_READ:
        if ((uint64_t)s.offset + s.length > mem->size) {
          die(EXIT_EXEC, "case '%s', step %" PRIu32 ": READ [%" PRIu32 ", +%" PRIu32 ") is beyond memory (%" PRIu32
              " bytes)", case_name, i, s.offset, s.length, mem->size);
        }
        put_u32(s.length);
        put(mem->data + s.offset, s.length);
        break;
      case STEP_CALL:
        run_call(&inst, &s, case_name, i);
        break;
    }
  }
  mw_free(&inst);
}

/* Pass 1: walks the whole trace, checking its structure and counting READs per case (the output
 * states each case's read count before its reads). */
static uint32_t* validate(const uint8_t* data, size_t size, uint32_t* case_count) {
  cursor c = {data, size, 0};
  *case_count = parse_trace_header(&c);
  /* The smallest case is 12 bytes: this bounds the allocation below by the file size. */
  if (*case_count > (size - c.pos) / 12) {
    die(EXIT_MALFORMED, "malformed trace: %" PRIu32 " cases cannot fit in %zu bytes", *case_count, size);
  }
  uint32_t* reads = calloc(*case_count ? *case_count : 1, sizeof *reads);
  if (!reads) die(EXIT_ERROR, "out of memory");
  for (uint32_t k = 0; k < *case_count; k++) {
    case_header h;
    parse_case_header(&c, &h);
    for (uint32_t i = 0; i < h.step_count; i++) {
      step s;
      parse_step(&c, &s);
      if (s.kind == STEP_READ) reads[k]++;
    }
  }
  if (c.pos != size) die(EXIT_MALFORMED, "malformed trace: %zu trailing bytes after the last case", size - c.pos);
  return reads;
}

static uint8_t* read_file(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  if (!f) die(EXIT_ERROR, "cannot open %s", path);
  size_t cap = 1 << 16, n = 0;
  uint8_t* buf = malloc(cap);
  for (;;) {
    if (!buf) die(EXIT_ERROR, "out of memory reading %s", path);
    n += fread(buf + n, 1, cap - n, f);
    if (n < cap) break;
    cap *= 2;
    buf = realloc(buf, cap);
  }
  if (ferror(f)) die(EXIT_ERROR, "cannot read %s", path);
  fclose(f);
  *size = n;
  return buf;
}

static void list_exports(void) {
  for (int i = 0; i < mw_export_count; i++) printf("%s %s\n", mw_exports[i].name, mw_exports[i].signature);
}

int main(int argc, char** argv) {
  if (argc == 2 && strcmp(argv[1], "--list") == 0) {
    list_exports();
    return 0;
  }
  if (argc == 2 && strcmp(argv[1], "--version") == 0) {
    printf("meshwork-embedded: scalar.wasm sha256 %s, wasm2c %s\n", mw_wasm_sha256, mw_wasm2c_version);
    return 0;
  }
  if (argc != 3) {
    fprintf(stderr, "usage: meshwork-embedded TRACE OUTPUT | --list | --version\n");
    return EXIT_ERROR;
  }

  size_t size;
  uint8_t* data = read_file(argv[1], &size);
  uint32_t case_count;
  uint32_t* reads = validate(data, size, &case_count);

  g_out_path = argv[2];
  g_out = fopen(g_out_path, "wb");
  if (!g_out) die(EXIT_ERROR, "cannot create %s", argv[2]);
  put("MWTO", 4);
  put_u32(OUTPUT_VERSION);
  put_u32(case_count);

  mw_runtime_init();
  cursor c = {data, size, 0};
  parse_trace_header(&c);
  for (uint32_t k = 0; k < case_count; k++) run_case(&c, reads[k]);

  FILE* out = g_out;
  g_out = NULL; /* from here a failure must not delete a file we may have closed */
  if (fclose(out) != 0) {
    remove(g_out_path);
    die(EXIT_ERROR, "cannot write %s", g_out_path);
  }
  wasm_rt_free();
  free(reads);
  free(data);
  return 0;
}
