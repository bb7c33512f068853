/* larson: a server-style workload after Larson and Krishnan's benchmark (mimalloc-bench
 * bench/larson, run there as `larson 5 8 1000 5000 100 4141 P`).
 *
 * Each of THREADS chains owns a slot array of CHUNKS blocks of random sizes in
 * [MIN, MAX). A chain is a succession of threads: the running thread OPS times frees a
 * random slot's block and allocates a new block of random size into it, then starts a
 * new thread, hands it the slot array, and exits; the new thread joins its predecessor
 * and carries on. Threads thus come and go all the time, and almost every block is freed
 * by a thread other than the one that allocated it. The slot arrays are filled by the
 * main thread and shuffled across chains before the chains start, as in the original.
 * The original runs for a wall-clock time; this one runs GENERATIONS threads per chain,
 * so the elapsed time is the measure.
 *
 * usage: larson [THREADS=2] [MIN=8] [MAX=1000] [CHUNKS=5000] [GENERATIONS=100]
 *               [OPS=50000] [SEED=4141]
 *
 * Every block carries a tag derived from its address and size in its first 8 bytes and
 * its last byte; both are checked before the block is freed. Prints the number of
 * allocations and a checksum of the sizes, which depend only on the arguments.
 */
#define BENCH_NAME "larson"
#include "bench.h"

#include <pthread.h>
#include <string.h>

typedef struct chain {
  char **blk;      /* CHUNKS blocks */
  uint32_t *size;  /* their requested sizes */
  long chunks;
  long ops;        /* replacements per thread */
  long gens_left;  /* threads still to run in this chain */
  long min, range;
  rng_t rng;
  uint64_t allocs, size_sum;
  pthread_t prev;  /* the thread to join first */
  int has_prev;
  pthread_t last;  /* the chain's final thread, for main to join */
} chain_t;

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t done_cv = PTHREAD_COND_INITIALIZER;
static long chains_done = 0;

static uint64_t tag_of(const char *p, uint32_t size) { return mix64((uintptr_t)p, size); }

static char *alloc_block(uint32_t size) {
  char *p = bench_malloc(size);
  uint64_t t = tag_of(p, size);
  memcpy(p, &t, sizeof t);
  p[size - 1] = (char)(t >> 56);
  return p;
}

static void free_block(char *p, uint32_t size) {
  uint64_t t = tag_of(p, size), seen;
  memcpy(&seen, p, sizeof seen);
  if (seen != t || p[size - 1] != (char)(t >> 56))
    bench_fail("block %p of %u bytes was overwritten (tag %016llx, expected %016llx)", (void *)p, size,
               (unsigned long long)seen, (unsigned long long)t);
  free(p);
}

static void *chain_thread(void *arg) {
  chain_t *c = arg;
  if (c->has_prev) {
    int e = pthread_join(c->prev, NULL);
    if (e) bench_fail("pthread_join: error %d", e);
  }
  for (long i = 0; i < c->ops; i++) {
    long victim = (long)rng_below(&c->rng, (uint64_t)c->chunks);
    free_block(c->blk[victim], c->size[victim]);
    uint32_t size = (uint32_t)(c->min + (long)rng_below(&c->rng, (uint64_t)c->range));
    c->blk[victim] = alloc_block(size);
    c->size[victim] = size;
    c->allocs++;
    c->size_sum += size;
  }
  if (--c->gens_left > 0) {
    pthread_t next;
    c->prev = pthread_self();
    c->has_prev = 1;
    int e = pthread_create(&next, NULL, chain_thread, c);
    if (e) bench_fail("pthread_create: error %d", e);
  } else {
    pthread_mutex_lock(&done_lock);
    c->last = pthread_self();
    chains_done++;
    pthread_cond_signal(&done_cv);
    pthread_mutex_unlock(&done_lock);
  }
  return NULL;
}

int main(int argc, char **argv) {
  long threads = arg_long(argc, argv, 1, 2, 1);
  long min = arg_long(argc, argv, 2, 8, 8);
  long max = arg_long(argc, argv, 3, 1000, min + 1);
  long chunks = arg_long(argc, argv, 4, 5000, 1);
  long gens = arg_long(argc, argv, 5, 100, 1);
  long ops = arg_long(argc, argv, 6, 50000, 1);
  long seed = arg_long(argc, argv, 7, 4141, 0);
  long total = threads * chunks;

  rng_t rng;
  rng_seed(&rng, (uint64_t)seed);
  char **blk = bench_malloc((size_t)total * sizeof *blk);
  uint32_t *size = bench_malloc((size_t)total * sizeof *size);

  /* Warm-up as in the original: fill every slot, shuffle the blocks across all chains,
   * then replace 4 * total random blocks from the main thread. */
  for (long i = 0; i < total; i++) {
    size[i] = (uint32_t)(min + (long)rng_below(&rng, (uint64_t)(max - min)));
    blk[i] = alloc_block(size[i]);
  }
  for (long i = total; i > 1; i--) {
    long j = (long)rng_below(&rng, (uint64_t)i);
    char *tp = blk[j];
    uint32_t ts = size[j];
    blk[j] = blk[i - 1];
    size[j] = size[i - 1];
    blk[i - 1] = tp;
    size[i - 1] = ts;
  }
  for (long i = 0; i < 4 * total; i++) {
    long v = (long)rng_below(&rng, (uint64_t)total);
    free_block(blk[v], size[v]);
    size[v] = (uint32_t)(min + (long)rng_below(&rng, (uint64_t)(max - min)));
    blk[v] = alloc_block(size[v]);
  }

  chain_t *chains = bench_malloc((size_t)threads * sizeof *chains);
  for (long t = 0; t < threads; t++) {
    chain_t *c = &chains[t];
    memset(c, 0, sizeof *c);
    c->blk = &blk[t * chunks];
    c->size = &size[t * chunks];
    c->chunks = chunks;
    c->ops = ops;
    c->gens_left = gens;
    c->min = min;
    c->range = max - min;
    rng_seed(&c->rng, rng_next(&rng));
  }
  for (long t = 0; t < threads; t++) {
    pthread_t th;
    int e = pthread_create(&th, NULL, chain_thread, &chains[t]);
    if (e) bench_fail("pthread_create: error %d", e);
  }
  pthread_mutex_lock(&done_lock);
  while (chains_done < threads) pthread_cond_wait(&done_cv, &done_lock);
  pthread_mutex_unlock(&done_lock);

  uint64_t allocs = 0, sum = 0;
  for (long t = 0; t < threads; t++) {
    int e = pthread_join(chains[t].last, NULL);
    if (e) bench_fail("pthread_join: error %d", e);
    allocs += chains[t].allocs;
    sum += chains[t].size_sum;
  }
  for (long i = 0; i < total; i++) free_block(blk[i], size[i]);
  free(chains);
  free(size);
  free(blk);
  printf("larson ok: %ld chains x %ld threads, %llu allocations, size checksum %llu\n", threads, gens,
         (unsigned long long)allocs, (unsigned long long)sum);
  return 0;
}
