/* mstress: mimalloc's multi-threaded stress test (mimalloc-bench bench/mstress, run there
 * as `mstress P 50 25`).
 *
 * ITER times, THREADS threads are created afresh (the main thread runs as thread 0).
 * Thread t makes 100 * SCALE * (t % 8 + 1) short-lived allocations plus half as many
 * retained ones, which live until the thread ends. Sizes are 1..16 words for short-lived
 * blocks and 1..64 words for retained ones, uniformly over the powers of two; 1% of the
 * blocks are 100 times larger, of which about one in ten is 1000 times and one in a
 * hundred 10000 times larger (up to 1.2 MiB short-lived, 4.9 MiB retained). At each step a thread frees a random short-lived
 * block with probability 2/3 and, with probability 1/4, swaps one of its blocks with a
 * random slot of a shared array of 1000 pointers, so blocks migrate between threads and
 * are freed by threads other than their allocator. After each iteration the main thread
 * frees a random half of the shared array; the other half survives into the next
 * iteration's threads. The short-lived pointers live in an array grown by realloc in
 * steps of 100000 entries. Run long enough, an allocator that keeps memory of exited
 * threads or of blocks freed remotely shows it as growth of the maximum RSS.
 *
 * usage: mstress [THREADS=4] [SCALE=50] [ITER=25]
 *
 * Every block is filled with a pattern derived from its length that is checked word by
 * word before it is freed. Prints the number of allocations, which depends only on the
 * arguments.
 */
#define BENCH_NAME "mstress"
#include "bench.h"

#include <pthread.h>
#include <stdatomic.h>
#include <string.h>

#define TRANSFERS 1000
#define COOKIE 0xbf58476d1ce4e5b9ULL
#define MAX_ITEMS (64u * 10000u) /* retained blocks reach 64 words * 10000 */

static long THREADS, SCALE;
static _Atomic(uint64_t *) transfer[TRANSFERS];
static atomic_ullong total_allocs;

static uint64_t *alloc_items(size_t items, rng_t *r) {
  if (rng_chance(r, 1)) {
    if (rng_chance(r, 1)) items *= 10000;       /* 0.01% */
    else if (rng_chance(r, 10)) items *= 1000;  /* 0.1% */
    else items *= 100;                          /* 1% */
  }
  uint64_t *p = bench_malloc(items * sizeof *p);
  for (size_t i = 0; i < items; i++) p[i] = (items - i) ^ COOKIE;
  return p;
}

static void free_items(uint64_t *p) {
  if (p == NULL) return;
  uint64_t items = p[0] ^ COOKIE;
  if (items == 0 || items > MAX_ITEMS) bench_fail("block %p: corrupt length word %016llx", (void *)p, (unsigned long long)p[0]);
  for (uint64_t i = 0; i < items; i++)
    if ((p[i] ^ COOKIE) != items - i) bench_fail("block %p of %llu words: word %llu overwritten", (void *)p, (unsigned long long)items, (unsigned long long)i);
  free(p);
}

static void stress(long tid, long iter) {
  rng_t r;
  rng_seed(&r, (uint64_t)(iter * 1000 + tid + 1) * 43);
  size_t allocs = 100 * (size_t)SCALE * (size_t)(tid % 8 + 1);
  size_t retain = allocs / 2;
  atomic_fetch_add(&total_allocs, allocs + retain);
  uint64_t **data = NULL;
  size_t data_size = 0, data_top = 0;
  uint64_t **retained = bench_malloc(retain * sizeof *retained);
  size_t retain_top = 0;

  while (allocs > 0 || retain > 0) {
    if (retain == 0 || (allocs > 0 && rng_chance(&r, 50))) {
      allocs--;
      if (data_top >= data_size) {
        data_size += 100000;
        data = bench_realloc(data, data_size * sizeof *data);
      }
      data[data_top++] = alloc_items((size_t)1 << rng_below(&r, 5), &r);
    } else {
      retained[retain_top++] = alloc_items((size_t)1 << rng_below(&r, 7), &r);
      retain--;
    }
    if (data_top > 0 && rng_chance(&r, 66)) {
      size_t idx = rng_below(&r, data_top);
      free_items(data[idx]);
      data[idx] = NULL;
    }
    if (data_top > 0 && rng_chance(&r, 25)) {
      size_t idx = rng_below(&r, data_top);
      data[idx] = atomic_exchange(&transfer[rng_below(&r, TRANSFERS)], data[idx]);
    }
  }
  for (size_t i = 0; i < retain_top; i++) free_items(retained[i]);
  for (size_t i = 0; i < data_top; i++) free_items(data[i]);
  free(retained);
  free(data);
}

typedef struct {
  long tid, iter;
} targ_t;

static void *thread_main(void *arg) {
  targ_t *a = arg;
  stress(a->tid, a->iter);
  return NULL;
}

int main(int argc, char **argv) {
  THREADS = arg_long(argc, argv, 1, 4, 1);
  SCALE = arg_long(argc, argv, 2, 50, 1);
  long ITER = arg_long(argc, argv, 3, 25, 1);

  rng_t r;
  rng_seed(&r, 43 * 43);
  pthread_t *th = bench_malloc((size_t)THREADS * sizeof *th);
  targ_t *args = bench_malloc((size_t)THREADS * sizeof *args);
  for (long n = 0; n < ITER; n++) {
    for (long t = 1; t < THREADS; t++) {
      args[t].tid = t;
      args[t].iter = n;
      int e = pthread_create(&th[t], NULL, thread_main, &args[t]);
      if (e) bench_fail("pthread_create: error %d", e);
    }
    stress(0, n);
    for (long t = 1; t < THREADS; t++) {
      int e = pthread_join(th[t], NULL);
      if (e) bench_fail("pthread_join: error %d", e);
    }
    for (int i = 0; i < TRANSFERS; i++)
      if (n + 1 == ITER || rng_chance(&r, 50)) free_items(atomic_exchange(&transfer[i], NULL));
  }
  free(args);
  free(th);
  printf("mstress ok: %ld threads, scale %ld, %ld iterations, %llu allocations\n", THREADS, SCALE, ITER,
         (unsigned long long)atomic_load(&total_allocs));
  return 0;
}
