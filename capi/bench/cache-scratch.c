/* cache-scratch: passive false sharing, after Berger's Hoard benchmark (mimalloc-bench
 * bench/cache-scratch, run there as `cache-scratch 1 1000 1 2000000 P` and
 * `cache-scratch P 1000 1 2000000 P`).
 *
 * The main thread allocates THREADS small objects back to back (so several share a
 * cache line) and hands one to each thread. Each thread frees the object it was given,
 * then ITERATIONS times allocates an object of OBJSIZE bytes, writes every byte of it
 * REPETITIONS / THREADS times, and frees it. An allocator that gives a thread back the
 * block another thread freed (or one next to another thread's block) makes the threads
 * write to the same cache line, and the run slows down instead of scaling with the
 * number of threads. The original's fifth argument (concurrency) is accepted and ignored.
 *
 * usage: cache-scratch [THREADS=2] [ITERATIONS=1000] [OBJSIZE=1] [REPETITIONS=2000000]
 *                      [CONCURRENCY]
 *
 * The writes go through a volatile pointer so that the compiler keeps every store. Each
 * thread checks the last values written before freeing an object. Prints the number of
 * objects and byte writes, which depend only on the arguments.
 */
#define BENCH_NAME "cache-scratch"
#include "bench.h"

#include <pthread.h>

typedef struct {
  char *object; /* to free first: allocated by the main thread */
  long id, iterations, objsize, repetitions;
} worker_t;

static void *worker(void *arg) {
  worker_t *w = arg;
  free(w->object);
  write_objects(w->id, w->iterations, w->objsize, w->repetitions);
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 2, 1);
  long iterations = arg_long(argc, argv, 2, 1000, 1);
  long objsize = arg_long(argc, argv, 3, 1, 1);
  long repetitions = arg_long(argc, argv, 4, 2000000, 1);
  (void)arg_long(argc, argv, 5, 1, 1);

  pthread_t *th = bench_malloc((size_t)threads * sizeof *th);
  worker_t *w = bench_malloc((size_t)threads * sizeof *w);
  char **objs = bench_malloc((size_t)threads * sizeof *objs);
  for (long i = 0; i < threads; i++) objs[i] = bench_malloc((size_t)objsize);
  for (long i = 0; i < threads; i++) {
    w[i] = (worker_t){objs[i], i, iterations, objsize, repetitions / threads};
    int e = pthread_create(&th[i], NULL, worker, &w[i]);
    if (e) bench_fail("pthread_create: error %d", e);
  }
  for (long i = 0; i < threads; i++) {
    int e = pthread_join(th[i], NULL);
    if (e) bench_fail("pthread_join: error %d", e);
  }
  free(objs);
  free(w);
  free(th);
  printf("cache-scratch ok: %ld threads, %ld objects of %ld bytes, %lld byte writes\n", threads,
         threads * iterations, objsize, 2LL * threads * iterations * (repetitions / threads) * objsize);
  return 0;
}
