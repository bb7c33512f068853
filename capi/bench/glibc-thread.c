/* glibc-thread: glibc's bench-malloc-thread (mimalloc-bench bench/glibc-bench, run there
 * as `glibc-thread P`).
 *
 * THREADS threads each own a working set of 1024 slots and ITERATIONS times free the
 * block in a pseudo-random slot and allocate a new one of a pseudo-random size, writing
 * every byte of it. Sizes follow an inverse-square distribution between 4 and 32768
 * bytes (most are small, a few are large); as in glibc, the sizes and slots come from
 * precomputed tables of 8000 sizes and 4096 slots walked in order, shared by all
 * threads. The original runs for a wall-clock time and counts iterations; this one runs
 * a fixed number of iterations, so the elapsed time is the measure.
 *
 * usage: glibc-thread [THREADS=2] [ITERATIONS=10000000]
 *
 * The first 4 bytes of each block hold a tag derived from its address and size, checked
 * with its last byte before it is freed. Prints the number of allocations and a checksum
 * of their sizes, which depend only on the arguments.
 */
#define BENCH_NAME "glibc-thread"
#include "bench.h"

#include <pthread.h>
#include <string.h>

#define WORKING_SET 1024
#define MIN_SIZE 4
#define MAX_SIZE 32768
#define NUM_SIZES 8000
#define NUM_OFFSETS (WORKING_SET * 4)

static uint32_t block_sizes[NUM_SIZES];
static uint32_t offsets[NUM_OFFSETS];
static long iterations;

/* Inverse-square distribution over [MIN_SIZE, MAX_SIZE] by inversion, as glibc does. */
static uint32_t inverse_square(double u) {
  double min_pow = 1.0 / MIN_SIZE, max_pow = 1.0 / MAX_SIZE;
  double v = 1.0 / ((max_pow - min_pow) * u + min_pow);
  uint32_t s = (uint32_t)v;
  return s < MIN_SIZE ? MIN_SIZE : s > MAX_SIZE ? MAX_SIZE : s;
}

typedef struct {
  void *slot[WORKING_SET];
  uint32_t size[WORKING_SET];
  uint64_t size_sum;
} worker_t;

static uint32_t tag_of(const void *p, uint32_t size) { return (uint32_t)mix64((uintptr_t)p, size); }

static void check_free(void *p, uint32_t size) {
  if (p == NULL) return;
  const unsigned char *c = p;
  uint32_t seen;
  memcpy(&seen, c, 4);
  if (seen != tag_of(p, size) || (size > 4 && c[size - 1] != (unsigned char)(size - 1)))
    bench_fail("block %p of %u bytes was overwritten", p, size);
  free(p);
}

static void *worker(void *arg) {
  worker_t *w = arg;
  unsigned size_i = 0, off_i = 0;
  for (long it = 0; it < iterations; it++) {
    unsigned idx = offsets[off_i];
    off_i = off_i + 1 == NUM_OFFSETS ? 0 : off_i + 1;
    uint32_t size = block_sizes[size_i];
    size_i = size_i + 1 == NUM_SIZES ? 0 : size_i + 1;
    check_free(w->slot[idx], w->size[idx]);
    unsigned char *p = bench_malloc(size);
    for (uint32_t i = 0; i < size; i++) p[i] = (unsigned char)i;
    uint32_t tag = tag_of(p, size);
    memcpy(p, &tag, 4);
    w->slot[idx] = p;
    w->size[idx] = size;
    w->size_sum += size;
  }
  for (int i = 0; i < WORKING_SET; i++) check_free(w->slot[i], w->size[i]);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 2, 1);
  iterations = arg_long(argc, argv, 2, 10000000, 1);
  rng_t r;
  rng_seed(&r, 88);
  for (int i = 0; i < NUM_SIZES; i++) block_sizes[i] = inverse_square((double)rng_below(&r, 1u << 30) / (1u << 30));
  for (int i = 0; i < NUM_OFFSETS; i++) offsets[i] = (uint32_t)rng_below(&r, WORKING_SET);

  pthread_t *th = bench_malloc((size_t)threads * sizeof *th);
  worker_t *w = bench_malloc((size_t)threads * sizeof *w);
  memset(w, 0, (size_t)threads * sizeof *w);
  for (long i = 0; i < threads; i++) {
    int e = pthread_create(&th[i], NULL, worker, &w[i]);
    if (e) bench_fail("pthread_create: error %d", e);
  }
  uint64_t sum = 0;
  for (long i = 0; i < threads; i++) {
    int e = pthread_join(th[i], NULL);
    if (e) bench_fail("pthread_join: error %d", e);
    sum += w[i].size_sum;
  }
  free(w);
  free(th);
  printf("glibc-thread ok: %ld threads, %lld allocations, size checksum %llu\n", threads, (long long)threads * iterations,
         (unsigned long long)sum);
  return 0;
}
