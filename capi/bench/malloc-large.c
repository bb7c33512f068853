/* malloc-large: large blocks (mimalloc-bench bench/malloc-large, from mimalloc issue
 * #447; it has no arguments there).
 *
 * An array of BUFFERS slots holds large blocks. ITERATIONS times, a random slot's block
 * is freed and replaced by a new block of a random size between MIN_MIB and MAX_MIB MiB
 * (uniform, any byte count). Each new block gets one 8-byte word written in each of its
 * 4 KiB pages, so every page is touched once: an allocator that returns these blocks to
 * the system on free and maps them anew on allocation pays a page fault and the zeroing
 * of a page for each, where one that keeps and reuses them does not. The original
 * zero-fills every block completely.
 *
 * usage: malloc-large [ITERATIONS=2000] [BUFFERS=20] [MIN_MIB=5] [MAX_MIB=25] [SEED=42]
 *
 * Every written word is a tag derived from the block's address, size and page, and is
 * checked before the block is freed. Prints the number of blocks and their total size,
 * which depend only on the arguments.
 */
#define BENCH_NAME "malloc-large"
#include "bench.h"

#define PAGE 4096

typedef struct {
  char *p;
  size_t size;
} buffer_t;

static uint64_t page_tag(const char *p, size_t size, size_t page) { return mix64((uintptr_t)p ^ size, page); }

static char *alloc_buffer(size_t size) {
  char *p = bench_malloc(size);
  for (size_t off = 0, page = 0; off + 8 <= size; off += PAGE, page++) {
    uint64_t t = page_tag(p, size, page);
    __builtin_memcpy(p + off, &t, 8);
  }
  return p;
}

static void free_buffer(buffer_t *b) {
  if (b->p == NULL) return;
  for (size_t off = 0, page = 0; off + 8 <= b->size; off += PAGE, page++) {
    uint64_t t;
    __builtin_memcpy(&t, b->p + off, 8);
    if (t != page_tag(b->p, b->size, page))
      bench_fail("block %p of %zu bytes: page %zu was overwritten", (void *)b->p, b->size, page);
  }
  free(b->p);
  b->p = NULL;
}

int main(int argc, char **argv) {
  long iterations = arg_long(argc, argv, 1, 2000, 1);
  long nbuf = arg_long(argc, argv, 2, 20, 1);
  long min_mib = arg_long(argc, argv, 3, 5, 1);
  long max_mib = arg_long(argc, argv, 4, 25, min_mib);
  long seed = arg_long(argc, argv, 5, 42, 0);
  rng_t r;
  rng_seed(&r, (uint64_t)seed);
  buffer_t *buf = bench_malloc((size_t)nbuf * sizeof *buf);
  for (long i = 0; i < nbuf; i++) buf[i] = (buffer_t){NULL, 0};
  uint64_t total = 0;
  for (long i = 0; i < iterations; i++) {
    buffer_t *b = &buf[rng_below(&r, (uint64_t)nbuf)];
    size_t size = (size_t)rng_range(&r, (uint64_t)min_mib << 20, (uint64_t)max_mib << 20);
    free_buffer(b);
    b->p = alloc_buffer(size);
    b->size = size;
    total += size;
  }
  for (long i = 0; i < nbuf; i++) free_buffer(&buf[i]);
  free(buf);
  printf("malloc-large ok: %ld blocks, %llu bytes in all\n", iterations, (unsigned long long)total);
  return 0;
}
