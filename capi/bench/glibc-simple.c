/* glibc-simple: glibc's bench-malloc-simple (mimalloc-bench bench/glibc-bench, run there
 * as `glibc-simple`, that is SIZE 16 and 2,000,000 allocations per round).
 *
 * For each block size SIZE, 2 * SIZE and 4 * SIZE, and for each batch count N in 25,
 * 100, 400 and 1600: ALLOCS / N times, allocate N blocks (writing every byte), free the
 * first half in allocation order and the second half in reverse order. Each size runs
 * four rounds over the batch counts, as in glibc: a warm-up and a measured round on the
 * main thread while the process is single-threaded, one round on a second thread, and
 * one more on the main thread once the process has become multi-threaded.
 *
 * usage: glibc-simple [SIZE=16] [ALLOCS=2000000]
 *
 * The first 8 bytes of each block hold a tag of its batch and index, checked with the
 * block's last byte before it is freed. Prints the number of allocations, which depends
 * only on the arguments.
 */
#define BENCH_NAME "glibc-simple"
#include "bench.h"

#include <pthread.h>
#include <string.h>

#define MAX_N 1600
static const int batch_counts[] = {25, 100, 400, MAX_N};
#define N_COUNTS (sizeof batch_counts / sizeof batch_counts[0])

static long allocs_per_round;
static uint64_t allocations;

static void check_free(char *p, size_t size, uint64_t tag) {
  uint64_t seen;
  memcpy(&seen, p, 8);
  if (seen != tag || p[size - 1] != (char)(size - 1))
    bench_fail("block %p of %zu bytes was overwritten", (void *)p, size);
  free(p);
}

/* One round over the batch counts for one size. */
static void round_(char **arr, size_t size) {
  for (size_t c = 0; c < N_COUNTS; c++) {
    int n = batch_counts[c];
    long iters = allocs_per_round / n;
    for (long j = 0; j < iters; j++) {
      for (int i = 0; i < n; i++) {
        char *p = arr[i] = bench_malloc(size);
        for (size_t g = 0; g < size; g++) p[g] = (char)g;
        uint64_t tag = mix64((uint64_t)j, (uint64_t)i);
        memcpy(p, &tag, 8);
      }
      for (int i = 0; i < n / 2; i++) check_free(arr[i], size, mix64((uint64_t)j, (uint64_t)i));
      for (int i = n - 1; i >= n / 2; i--) check_free(arr[i], size, mix64((uint64_t)j, (uint64_t)i));
      allocations += (uint64_t)n;
    }
  }
}

typedef struct {
  char **arr;
  size_t size;
} targ_t;

static void *thread_round(void *arg) {
  targ_t *a = arg;
  round_(a->arr, a->size);
  return NULL;
}

int main(int argc, char **argv) {
  long size = arg_long(argc, argv, 1, 16, 9);
  allocs_per_round = arg_long(argc, argv, 2, 2000000, MAX_N);
  char **arr = bench_malloc(MAX_N * sizeof *arr);
  for (int k = 0; k < 3; k++) {
    size_t s = (size_t)size << k;
    round_(arr, s); /* warm-up */
    round_(arr, s); /* single-threaded process */
    pthread_t t;
    targ_t a = {arr, s};
    int e = pthread_create(&t, NULL, thread_round, &a);
    if (!e) e = pthread_join(t, NULL);
    if (e) bench_fail("pthread_create/join: error %d", e);
    round_(arr, s); /* multi-threaded process */
  }
  free(arr);
  printf("glibc-simple ok: sizes %ld, %ld, %ld; %llu allocations\n", size, 2 * size, 4 * size,
         (unsigned long long)allocations);
  return 0;
}
