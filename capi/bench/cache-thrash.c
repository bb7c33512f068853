/* cache-thrash: active false sharing, after Berger's Hoard benchmark (mimalloc-bench
 * bench/cache-thrash, run there as `cache-thrash 1 1000 1 2000000 P` and
 * `cache-thrash P 1000 1 2000000 P`).
 *
 * THREADS threads each ITERATIONS times allocate an object of OBJSIZE bytes, write every
 * byte of it REPETITIONS / THREADS times, and free it. An allocator that hands threads
 * small blocks from the same cache line (one heap shared by all threads, carved
 * sequentially) makes the threads write to the same line, and the run slows down
 * instead of scaling with the number of threads. The original's fifth argument
 * (concurrency) is accepted and ignored.
 *
 * usage: cache-thrash [THREADS=2] [ITERATIONS=1000] [OBJSIZE=1] [REPETITIONS=2000000]
 *                     [CONCURRENCY]
 *
 * The writes go through a volatile pointer so that the compiler keeps every store. Each
 * thread checks the last values written before freeing an object. Prints the number of
 * objects and byte writes, which depend only on the arguments.
 */
#ifdef PASSIVE
#define BENCH_NAME "cache-scratch"
#else
#define BENCH_NAME "cache-thrash"
#endif
#include "bench.h"

#include <pthread.h>

#ifdef PASSIVE
#define PASSIVE_OBJECTS 1
#else
#define PASSIVE_OBJECTS 0
#endif

typedef struct {
  char *object; /* cache-scratch: to free first, allocated by the main thread */
  long id, iterations, objsize, repetitions;
} worker_t;

/* A thread's work: `iterations` times, allocate an object of `objsize` bytes, write
 * and re-read every byte `repetitions` times, check the bytes, free it. */
static void write_objects(long id, long iterations, long objsize, long repetitions) {
  for (long i = 0; i < iterations; i++) {
    volatile char *obj = bench_malloc((size_t)objsize);
    char salt = (char)(i + id);
    for (long j = 0; j < repetitions; j++)
      for (long k = 0; k < objsize; k++) {
        obj[k] = (char)(k + salt);
        char c = obj[k];
        obj[k] = (char)(c + 1);
      }
    for (long k = 0; k < objsize; k++)
      if (obj[k] != (char)(k + salt + 1))
        bench_fail("thread %ld: object %p byte %ld changed under it", id, (void *)obj, k);
    free((void *)obj);
  }
}

static void *worker(void *arg) {
  worker_t *w = arg;
  free(w->object); /* NULL for cache-thrash */
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
  /* Passive false sharing: small objects allocated back to back, one per thread. */
  char **objs = bench_malloc((size_t)threads * sizeof *objs);
  for (long i = 0; i < threads; i++) objs[i] = PASSIVE_OBJECTS ? bench_malloc((size_t)objsize) : NULL;
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
  printf(BENCH_NAME " ok: %ld threads, %ld objects of %ld bytes, %lld byte writes\n", threads,
         threads * iterations, objsize, 2LL * threads * iterations * (repetitions / threads) * objsize);
  return 0;
}
