/* espresso-like: a single-threaded set-family workload in the style of espresso, the
 * two-level logic minimizer (mimalloc-bench bench/espresso, run there as
 * `espresso largest.espresso`).
 *
 * As in espresso, a cube is a bit set of W 64-bit words and a family of cubes is one
 * contiguous array that grows by realloc as cubes are added; scratch sets are allocated
 * and freed around every operation, and the result is printed into a string buffer that
 * also grows by realloc. Each of PASSES passes takes W in 1..8, builds a family of 40 to
 * 200 random cubes, and derives from it: an "expanded" family (each cube widened by a
 * random mask in a scratch set, kept if it covers few others), the cubes of that family
 * contained in no other, and the non-empty pairwise intersections of neighbouring cubes;
 * it then writes the surviving cubes out as text and frees all of it.
 *
 * usage: espresso-like [PASSES=3000] [SEED=7]
 *
 * Scratch sets carry a tag in a header word and families a hash of their contents, both
 * checked before they are freed. Prints a checksum of the families and texts made, which
 * depends only on the arguments.
 */
#define BENCH_NAME "espresso-like"
#include "bench.h"

#include <string.h>

typedef struct {
  int n, cap, w;
  uint64_t hash; /* of the cubes added, in order */
  uint64_t *data;
} family_t;

static uint64_t check;

static uint64_t cube_hash(const uint64_t *c, int w, int index) {
  uint64_t h = (uint64_t)index;
  for (int i = 0; i < w; i++) h = mix64(h, c[i]);
  return h;
}

static family_t *family_new(int w, int cap) {
  family_t *f = bench_malloc(sizeof *f);
  f->n = 0;
  f->cap = cap;
  f->w = w;
  f->hash = 0;
  f->data = bench_malloc((size_t)cap * (size_t)w * sizeof(uint64_t));
  return f;
}

static uint64_t *cube(const family_t *f, int i) { return f->data + (size_t)i * (size_t)f->w; }

static void family_add(family_t *f, const uint64_t *c) {
  if (f->n == f->cap) {
    f->cap = f->cap + f->cap / 2 + 2;
    f->data = bench_realloc(f->data, (size_t)f->cap * (size_t)f->w * sizeof(uint64_t));
  }
  memcpy(cube(f, f->n), c, (size_t)f->w * sizeof(uint64_t));
  f->hash ^= cube_hash(c, f->w, f->n);
  f->n++;
}

static void family_free(family_t *f) {
  uint64_t h = 0;
  for (int i = 0; i < f->n; i++) h ^= cube_hash(cube(f, i), f->w, i);
  if (h != f->hash) bench_fail("family %p (%d cubes of %d words) was overwritten", (void *)f, f->n, f->w);
  check = mix64(check, h ^ (uint64_t)f->n);
  free(f->data);
  free(f);
}

/* A scratch set: word 0 is a tag, the set follows. */
static uint64_t *set_new(int w) {
  uint64_t *s = bench_malloc(((size_t)w + 1) * sizeof(uint64_t));
  s[0] = mix64((uintptr_t)s, (uint64_t)w);
  return s + 1;
}

static void set_free(uint64_t *s, int w) {
  if (s[-1] != mix64((uintptr_t)(s - 1), (uint64_t)w)) bench_fail("scratch set %p was overwritten", (void *)(s - 1));
  free(s - 1);
}

static int contains(const uint64_t *a, const uint64_t *b, int w) { /* a >= b */
  for (int i = 0; i < w; i++)
    if ((b[i] & ~a[i]) != 0) return 0;
  return 1;
}

static int empty(const uint64_t *a, int w) {
  for (int i = 0; i < w; i++)
    if (a[i]) return 0;
  return 1;
}

static void one_pass(rng_t *r, int w) {
  int n = (int)rng_range(r, 40, 200);
  family_t *f = family_new(w, 4);
  uint64_t *c = set_new(w);
  for (int i = 0; i < n; i++) {
    for (int k = 0; k < w; k++) c[k] = rng_next(r) & rng_next(r) & rng_next(r); /* sparse */
    family_add(f, c);
  }
  set_free(c, w);

  /* expand: widen each cube; keep it if it covers few others */
  family_t *g = family_new(w, 4);
  for (int i = 0; i < f->n; i++) {
    uint64_t *t = set_new(w);
    for (int k = 0; k < w; k++) t[k] = cube(f, i)[k] | (rng_next(r) & rng_next(r) & rng_next(r) & rng_next(r));
    int covered = 0;
    for (int j = 0; j < f->n && covered < 4; j++) covered += contains(t, cube(f, j), w);
    if (covered < 4) family_add(g, t);
    set_free(t, w);
  }

  /* irredundant: the cubes of g contained in no other cube of g */
  family_t *h = family_new(w, 4);
  for (int i = 0; i < g->n; i++) {
    int redundant = 0;
    for (int j = 0; j < g->n && !redundant; j++) redundant = j != i && contains(cube(g, j), cube(g, i), w);
    if (!redundant) family_add(h, cube(g, i));
  }

  /* intersections of neighbouring cubes */
  family_t *x = family_new(w, 4);
  for (int i = 0; i < f->n; i++)
    for (int j = i + 1; j < f->n && j <= i + 8; j++) {
      uint64_t *t = set_new(w);
      for (int k = 0; k < w; k++) t[k] = cube(f, i)[k] & cube(f, j)[k];
      if (!empty(t, w)) family_add(x, t);
      set_free(t, w);
    }

  /* output: one line of hex words per cube, into a buffer grown by realloc */
  size_t len = 0, cap = 16;
  char *text = bench_malloc(cap);
  for (int i = 0; i < h->n; i++)
    for (int k = 0; k <= w; k++) {
      if (len + 18 > cap) {
        cap *= 2;
        text = bench_realloc(text, cap);
      }
      len += (size_t)(k < w ? sprintf(text + len, "%llx ", (unsigned long long)cube(h, i)[k]) : sprintf(text + len, "\n"));
    }
  uint64_t th = len;
  for (size_t i = 0; i < len; i++) th = th * 131 + (unsigned char)text[i];
  check = mix64(check, th);
  free(text);

  family_free(x);
  family_free(h);
  family_free(g);
  family_free(f);
}

int main(int argc, char **argv) {
  long passes = arg_long(argc, argv, 1, 3000, 1);
  long seed = arg_long(argc, argv, 2, 7, 0);
  rng_t r;
  rng_seed(&r, (uint64_t)seed);
  for (long p = 0; p < passes; p++) one_pass(&r, 1 + (int)(p % 8));
  printf("espresso-like ok: %ld passes, checksum %016llx\n", passes, (unsigned long long)check);
  return 0;
}
