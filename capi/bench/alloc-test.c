/* alloc-test: random sizes freed in random order, after the alloc-test of
 * mimalloc-bench (bench/alloc-test, run there as `alloc-test 1` and `alloc-test P`: 2^18
 * slots shared out among the threads, sizes up to 2^10 bytes, full memory access).
 *
 * Each of THREADS threads owns ITEMS / THREADS slots, fills about half of them, then
 * ITERATIONS times picks a slot with a Pareto-like 80/20 skew (80% of the picks land in
 * the first 20% of the slots, six levels deep): a full slot has its block read back and
 * freed, an empty one gets a new block whose size falls in (2^i, 2^(i+1)] for i in
 * 2..MAX_EXP-1, each class half as likely as the one below it (so 5 bytes to 1 KiB by
 * default, most of them small), filled completely.
 *
 * usage: alloc-test [THREADS=1] [ITERATIONS=20000000] [MAX_EXP=10] [ITEMS=262144]
 *
 * Each block is filled with its size's low byte after a 4-byte tag derived from its
 * slot and address; all of it is checked when the block is read back before it is
 * freed. Prints the number of allocations, which depends only on the arguments.
 */
#define BENCH_NAME "alloc-test"
#include "bench.h"

#include <pthread.h>
#include <string.h>

typedef struct {
  uint8_t *p;
  uint32_t size;
} slot_t;

typedef struct {
  long id;
  uint64_t allocs;
} worker_t;

static long iterations, max_exp, items_per_thread;

/* Size in (2^i, 2^(i+1)], i = 2 + ctz of a random number in 1..2^(max_exp-3). */
static uint32_t random_size(rng_t *r) {
  uint64_t x = rng_next(r);
  unsigned bits = (unsigned)(max_exp - 3);
  uint64_t base = (x & ((1ULL << bits) - 1)) + 1;
  x >>= bits;
  unsigned i = (unsigned)__builtin_ctzll(base) + 2;
  return (uint32_t)((x & ((1ULL << i) - 1)) + 1 + (1ULL << i));
}

/* Six levels of "80% of the picks fall in the first 20% of the range". */
static size_t pareto_index(rng_t *r, size_t n) {
  size_t hi = n;
  for (int level = 0; level < 6 && hi >= 5; level++) {
    if (!rng_chance(r, 80)) {
      size_t lo = hi / 5;
      return lo + rng_below(r, hi - lo);
    }
    hi /= 5;
  }
  return rng_below(r, hi);
}

static uint32_t tag_of(size_t idx, const void *p) { return (uint32_t)mix64(idx, (uintptr_t)p); }

static void fill(slot_t *s, size_t idx, uint32_t size) {
  s->p = bench_malloc(size);
  s->size = size;
  memset(s->p, (uint8_t)size, size);
  uint32_t tag = tag_of(idx, s->p);
  memcpy(s->p, &tag, 4);
}

static void drain(slot_t *s, size_t idx) {
  uint32_t tag;
  memcpy(&tag, s->p, 4);
  int bad = tag != tag_of(idx, s->p);
  for (uint32_t i = 4; i < s->size; i++) bad |= s->p[i] != (uint8_t)s->size;
  if (bad) bench_fail("slot %zu: block %p of %u bytes was overwritten", idx, (void *)s->p, s->size);
  free(s->p);
  s->p = NULL;
}

static void *worker(void *arg) {
  worker_t *w = arg;
  rng_t r;
  rng_seed(&r, 41 + (uint64_t)w->id);
  size_t n = (size_t)items_per_thread;
  slot_t *slots = bench_malloc(n * sizeof *slots);
  memset(slots, 0, n * sizeof *slots);
  for (size_t i = 0; i < n; i++)
    if (rng_next(&r) & 1) {
      fill(&slots[i], i, random_size(&r));
      w->allocs++;
    }
  for (long it = 0; it < iterations; it++) {
    size_t idx = pareto_index(&r, n);
    if (slots[idx].p) {
      drain(&slots[idx], idx);
    } else {
      fill(&slots[idx], idx, random_size(&r));
      w->allocs++;
    }
  }
  for (size_t i = 0; i < n; i++)
    if (slots[i].p) drain(&slots[i], i);
  free(slots);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 1, 1);
  iterations = arg_long(argc, argv, 2, 20000000, 1);
  max_exp = arg_long(argc, argv, 3, 10, 4);
  long items = arg_long(argc, argv, 4, 1L << 18, 1);
  if (max_exp > 24) bench_fail("MAX_EXP must be at most 24");
  items_per_thread = items / threads;
  if (items_per_thread < 1) bench_fail("fewer ITEMS than THREADS");

  pthread_t *th = bench_malloc((size_t)threads * sizeof *th);
  worker_t *w = bench_malloc((size_t)threads * sizeof *w);
  for (long i = 0; i < threads; i++) {
    w[i] = (worker_t){i, 0};
    int e = pthread_create(&th[i], NULL, worker, &w[i]);
    if (e) bench_fail("pthread_create: error %d", e);
  }
  uint64_t allocs = 0;
  for (long i = 0; i < threads; i++) {
    int e = pthread_join(th[i], NULL);
    if (e) bench_fail("pthread_join: error %d", e);
    allocs += w[i].allocs;
  }
  free(w);
  free(th);
  printf("alloc-test ok: %ld threads, %llu allocations\n", threads, (unsigned long long)allocs);
  return 0;
}
