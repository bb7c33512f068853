/* xmalloc-test: producer/consumer, after Lever and Boreham's malloc test as shipped with
 * xmalloc (mimalloc-bench bench/xmalloc-test, run there as `xmalloc-test -w P -t 5 -s 64`).
 *
 * WORKERS producer threads each allocate BATCHES batches of 4096 objects, write into
 * every object, and push each batch onto a shared stack (at most 100 batches waiting; a
 * producer blocks when it is full). WORKERS consumer threads pop batches and free their
 * objects. Every object is thus freed by a thread other than the one that allocated it,
 * and the allocating threads never get their memory back locally. Objects are SIZE bytes,
 * or with SIZE 0 of random sizes among 8, 12, 16, 24, ..., 1536, 2048 (the original's -s -1).
 * The original runs for a wall-clock time; this one makes a fixed number of batches,
 * so the elapsed time is the measure.
 *
 * usage: xmalloc-test [WORKERS=2] [BATCHES=1000] [SIZE=64]
 *
 * Producers fill the first 128 bytes of each object and put a tag derived from its
 * address and size in its first 8 bytes; consumers check both before freeing, and the
 * number and total size of the objects freed must equal what was allocated. Prints both,
 * which depend only on the arguments.
 */
#define BENCH_NAME "xmalloc-test"
#include "bench.h"

#include <pthread.h>
#include <string.h>

#define OBJECTS_PER_BATCH 4096
#define BATCH_LIMIT 100

static const uint16_t sizes[] = {8, 12, 16, 24, 32, 48, 64, 96, 128, 192, 256, 384, 512, 768, 1024, 1536, 2048};
#define N_SIZES (sizeof sizes / sizeof sizes[0])

typedef struct batch {
  struct batch *next;
  uint16_t size[OBJECTS_PER_BATCH];
  char *obj[OBJECTS_PER_BATCH];
} batch_t;

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t not_empty = PTHREAD_COND_INITIALIZER, not_full = PTHREAD_COND_INITIALIZER;
static batch_t *stack = NULL;
static long waiting = 0, popped = 0, total_batches;
static long workers, batches, object_size;

typedef struct {
  long id;
  uint64_t objects, bytes;
} worker_t;

static void push(batch_t *b) {
  pthread_mutex_lock(&lock);
  while (waiting >= BATCH_LIMIT) pthread_cond_wait(&not_full, &lock);
  b->next = stack;
  stack = b;
  waiting++;
  pthread_cond_signal(&not_empty);
  pthread_mutex_unlock(&lock);
}

/* The next batch, or NULL once every batch has been taken. */
static batch_t *pop(void) {
  pthread_mutex_lock(&lock);
  while (stack == NULL && popped < total_batches) pthread_cond_wait(&not_empty, &lock);
  batch_t *b = stack;
  if (b != NULL) {
    stack = b->next;
    waiting--;
    popped++;
    pthread_cond_signal(&not_full);
    if (popped == total_batches) pthread_cond_broadcast(&not_empty);
  }
  pthread_mutex_unlock(&lock);
  return b;
}

static void *producer(void *arg) {
  worker_t *w = arg;
  rng_t r;
  rng_seed(&r, (uint64_t)w->id + 1);
  for (long n = 0; n < batches; n++) {
    batch_t *b = bench_malloc(sizeof *b);
    for (int i = 0; i < OBJECTS_PER_BATCH; i++) {
      size_t size = object_size > 0 ? (size_t)object_size : sizes[rng_below(&r, N_SIZES)];
      char *p = bench_malloc(size);
      memset(p, i & 0xff, size > 128 ? 128 : size);
      uint64_t tag = mix64((uintptr_t)p, size);
      memcpy(p, &tag, sizeof tag);
      b->obj[i] = p;
      b->size[i] = (uint16_t)size;
      w->objects++;
      w->bytes += size;
    }
    push(b);
  }
  return NULL;
}

static void *consumer(void *arg) {
  worker_t *w = arg;
  batch_t *b;
  while ((b = pop()) != NULL) {
    for (int i = 0; i < OBJECTS_PER_BATCH; i++) {
      char *p = b->obj[i];
      size_t size = b->size[i];
      uint64_t tag;
      memcpy(&tag, p, sizeof tag);
      size_t last = (size > 128 ? 128 : size) - 1;
      if (tag != mix64((uintptr_t)p, size) || (last >= 8 && p[last] != (char)(i & 0xff)))
        bench_fail("object %p of %zu bytes was overwritten", (void *)p, size);
      free(p);
      w->objects++;
      w->bytes += size;
    }
    free(b);
  }
  return NULL;
}

int main(int argc, char **argv) {
  workers = arg_long(argc, argv, 1, 2, 1);
  batches = arg_long(argc, argv, 2, 1000, 1);
  object_size = arg_long(argc, argv, 3, 64, 0);
  if (object_size != 0 && (object_size < 8 || object_size > 65535)) bench_fail("SIZE must be 0 or in 8..65535");
  total_batches = workers * batches;

  pthread_t *th = bench_malloc(2 * (size_t)workers * sizeof *th);
  worker_t *w = bench_malloc(2 * (size_t)workers * sizeof *w);
  memset(w, 0, 2 * (size_t)workers * sizeof *w);
  for (long i = 0; i < workers; i++) {
    w[2 * i].id = i;
    w[2 * i + 1].id = i;
    int e = pthread_create(&th[2 * i], NULL, consumer, &w[2 * i]);
    if (!e) e = pthread_create(&th[2 * i + 1], NULL, producer, &w[2 * i + 1]);
    if (e) bench_fail("pthread_create: error %d", e);
  }
  uint64_t made = 0, made_bytes = 0, freed = 0, freed_bytes = 0;
  for (long i = 0; i < 2 * workers; i++) {
    int e = pthread_join(th[i], NULL);
    if (e) bench_fail("pthread_join: error %d", e);
    if (i % 2) {
      made += w[i].objects;
      made_bytes += w[i].bytes;
    } else {
      freed += w[i].objects;
      freed_bytes += w[i].bytes;
    }
  }
  if (made != freed || made_bytes != freed_bytes)
    bench_fail("allocated %llu objects (%llu bytes) but freed %llu (%llu bytes)", (unsigned long long)made,
               (unsigned long long)made_bytes, (unsigned long long)freed, (unsigned long long)freed_bytes);
  free(w);
  free(th);
  printf("xmalloc-test ok: %ld producers, %llu objects, %llu bytes\n", workers, (unsigned long long)made,
         (unsigned long long)made_bytes);
  return 0;
}
