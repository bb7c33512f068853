/* Shared helpers for the allocation benchmarks in capi/bench/: a small deterministic
 * random generator, argument parsing, and failure reporting.
 *
 * Every program checks its own work (tags written into blocks and verified before they
 * are freed) and exits with status 2 and one line on stderr when a check fails, so a
 * benchmark that computes garbage cannot pass as a fast one. What each program prints
 * on stdout depends only on its arguments, never on the allocator or on thread timing:
 * run.py compares the output of the three allocators.
 */
#ifndef ALLOCKIT_BENCH_H
#define ALLOCKIT_BENCH_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Prints "<program>: <message>" on stderr and exits with status 2. */
static void bench_fail(const char *fmt, ...) __attribute__((noreturn, format(printf, 1, 2)));
static void bench_fail(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  fputs(BENCH_NAME ": ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  exit(2);
}

/* malloc that treats a null result as a failed run. */
static inline void *bench_malloc(size_t n) {
  void *p = malloc(n);
  if (p == NULL) bench_fail("malloc(%zu) returned NULL", n);
  return p;
}

/* realloc that treats a null result as a failed run. */
static inline void *bench_realloc(void *p, size_t n) {
  void *q = realloc(p, n);
  if (q == NULL) bench_fail("realloc(%p, %zu) returned NULL", p, n);
  return q;
}

/* splitmix64 (Vigna): a full-period 64-bit generator with one word of state. */
typedef struct {
  uint64_t s;
} rng_t;

static inline void rng_seed(rng_t *r, uint64_t seed) { r->s = seed * 0x9e3779b97f4a7c15ULL + 1; }

static inline uint64_t rng_next(rng_t *r) {
  uint64_t z = (r->s += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

/* Uniform in [0, n), n > 0 (the modulo bias is irrelevant here). */
static inline uint64_t rng_below(rng_t *r, uint64_t n) { return rng_next(r) % n; }

/* Uniform in [lo, hi]. */
static inline uint64_t rng_range(rng_t *r, uint64_t lo, uint64_t hi) {
  return lo + rng_below(r, hi - lo + 1);
}

/* True with probability pct percent. */
static inline int rng_chance(rng_t *r, unsigned pct) { return rng_below(r, 100) < pct; }

/* A 64-bit mix of two words: the tag written into a block from its identity. */
static inline uint64_t mix64(uint64_t a, uint64_t b) {
  uint64_t z = a * 0x9e3779b97f4a7c15ULL ^ (b + 0x632be59bd9b4e019ULL);
  z = (z ^ (z >> 32)) * 0xd6e8feb86659fd93ULL;
  z = (z ^ (z >> 32)) * 0xd6e8feb86659fd93ULL;
  return z ^ (z >> 32);
}

/* argv[i] as an integer of at least min, or def when absent; a malformed one fails the run. */
static long arg_long(int argc, char **argv, int i, long def, long min) {
  if (i >= argc) return def;
  char *end;
  long v = strtol(argv[i], &end, 10);
  if (*argv[i] == '\0' || *end != '\0' || v < min) bench_fail("argument %d: not an integer >= %ld: '%s'", i, min, argv[i]);
  return v;
}

#endif
