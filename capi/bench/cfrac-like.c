/* cfrac-like: a single-threaded bignum workload in the style of cfrac, the continued-
 * fraction factoring program (mimalloc-bench bench/cfrac, run there as
 * `cfrac 17545186520507317056371138836327483792789528`).
 *
 * Like cfrac's precision library, every arithmetic result is a freshly allocated,
 * reference-counted number (a 16-byte header and 1..32 32-bit digits, so 20..144 bytes),
 * and most live only until the next operation or two. Sixteen registers hold numbers
 * reduced modulo 2^(32k) - 1 for a register-specific k in 2, 4, ..., 16. Each of STEPS
 * steps computes a sum, difference, product, low part or copy (a new reference) of two
 * registers into a third, folding the result modulo the destination's modulus through a
 * chain of temporary numbers, and drops the destination's old value.
 *
 * usage: cfrac-like [STEPS=3000000] [SEED=1]
 *
 * Every number carries its value modulo 2^64 - 1 (which divides every register modulus)
 * computed independently from its operands' residues; when its last reference is
 * dropped the digits are summed again and compared, so a block changed after it was
 * handed out fails the run. Prints a checksum of the final registers, which depends only
 * on the arguments.
 */
#define BENCH_NAME "cfrac-like"
#include "bench.h"

#include <string.h>

#define REGS 16

typedef struct num {
  uint32_t refs, len;
  uint64_t residue; /* value mod 2^64 - 1, in [0, 2^64 - 2] */
  uint32_t d[];     /* little-endian digits */
} num_t;

static const uint64_t P = ~0ULL; /* 2^64 - 1 */
static uint64_t live_numbers, numbers_made;

static uint64_t canon(uint64_t v) { return v == P ? 0 : v; }
static uint64_t addp(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  if (s < a) s++; /* 2^64 = 1 (mod P) */
  return canon(s);
}
static uint64_t subp(uint64_t a, uint64_t b) { return addp(a, b == 0 ? 0 : P - b); }
static uint64_t mulp(uint64_t a, uint64_t b) {
  unsigned __int128 x = (unsigned __int128)a * b;
  return addp(canon((uint64_t)x), canon((uint64_t)(x >> 64)));
}

/* The value of x's digits mod P, from the digits themselves. */
static uint64_t digits_residue(const num_t *x) {
  uint64_t s = 0;
  for (uint32_t i = 0; i < x->len; i += 2) {
    uint64_t chunk = x->d[i];
    if (i + 1 < x->len) chunk |= (uint64_t)x->d[i + 1] << 32;
    s = addp(s, canon(chunk));
  }
  return s;
}

static num_t *num_new(uint32_t len) {
  num_t *x = bench_malloc(sizeof(num_t) + (size_t)len * sizeof(uint32_t));
  x->refs = 1;
  x->len = len;
  live_numbers++;
  numbers_made++;
  return x;
}

static num_t *share(num_t *x) {
  x->refs++;
  return x;
}

static void release(num_t *x) {
  if (x->refs == 0 || x->len == 0 || x->len > 64) bench_fail("number %p: corrupt header", (void *)x);
  if (--x->refs > 0) return;
  if (digits_residue(x) != x->residue) bench_fail("number %p of %u digits was overwritten", (void *)x, x->len);
  live_numbers--;
  free(x);
}

static num_t *normalize(num_t *x) {
  while (x->len > 1 && x->d[x->len - 1] == 0) x->len--;
  return x;
}

/* x reduced to at most k digits modulo 2^(32k) - 1; consumes x. Each folding round
 * adds the k-digit chunks of x into a new number of k + 1 digits. */
static num_t *fold(num_t *x, uint32_t k) {
  for (int rounds = 0; x->len > k; rounds++) {
    if (rounds > 64 || x->len > 64) bench_fail("number %p: corrupt while folding (%u digits)", (void *)x, x->len);
    num_t *y = num_new(k + 1);
    memset(y->d, 0, (k + 1) * sizeof(uint32_t));
    for (uint32_t off = 0; off < x->len; off += k) {
      uint64_t carry = 0;
      for (uint32_t i = 0; i <= k; i++) {
        uint64_t digit = (i < k && off + i < x->len) ? x->d[off + i] : 0;
        uint64_t s = (uint64_t)y->d[i] + digit + carry;
        y->d[i] = (uint32_t)s;
        carry = s >> 32;
      }
    }
    y->residue = x->residue;
    release(x);
    x = normalize(y);
  }
  return x;
}

static num_t *add(const num_t *a, const num_t *b, uint32_t k) {
  uint32_t n = (a->len > b->len ? a->len : b->len) + 1;
  num_t *r = num_new(n);
  uint64_t carry = 0;
  for (uint32_t i = 0; i < n; i++) {
    uint64_t s = carry + (i < a->len ? a->d[i] : 0) + (i < b->len ? b->d[i] : 0);
    r->d[i] = (uint32_t)s;
    carry = s >> 32;
  }
  r->residue = addp(a->residue, b->residue);
  return fold(normalize(r), k);
}

/* (2^(32k) - 1) - b, that is -b modulo 2^(32k) - 1: the k-digit complement of b. */
static num_t *neg(num_t *b, uint32_t k) {
  num_t *bf = fold(share(b), k);
  num_t *r = num_new(k);
  for (uint32_t i = 0; i < k; i++) r->d[i] = ~(i < bf->len ? bf->d[i] : 0u);
  r->residue = subp(0, b->residue);
  release(bf);
  return normalize(r);
}

static num_t *sub(const num_t *a, num_t *b, uint32_t k) {
  num_t *t = neg(b, k);
  num_t *r = add(a, t, k);
  release(t);
  return r;
}

static num_t *mul(const num_t *a, const num_t *b, uint32_t k) {
  uint32_t n = a->len + b->len;
  num_t *r = num_new(n);
  memset(r->d, 0, n * sizeof(uint32_t));
  for (uint32_t i = 0; i < a->len; i++) {
    uint64_t carry = 0;
    for (uint32_t j = 0; j < b->len; j++) {
      uint64_t t = (uint64_t)a->d[i] * b->d[j] + r->d[i + j] + carry;
      r->d[i + j] = (uint32_t)t;
      carry = t >> 32;
    }
    r->d[i + b->len] = (uint32_t)carry;
  }
  r->residue = mulp(a->residue, b->residue);
  return fold(normalize(r), k);
}

/* The low n digits of a (a new number whose residue is computed from its digits). */
static num_t *low(const num_t *a, uint32_t n) {
  num_t *r = num_new(n);
  memcpy(r->d, a->d, n * sizeof(uint32_t));
  normalize(r);
  r->residue = digits_residue(r);
  return r;
}

static num_t *random_num(rng_t *rng, uint32_t len) {
  num_t *r = num_new(len);
  for (uint32_t i = 0; i < len; i++) r->d[i] = (uint32_t)rng_next(rng);
  normalize(r);
  r->residue = digits_residue(r);
  return r;
}

int main(int argc, char **argv) {
  long steps = arg_long(argc, argv, 1, 3000000, 1);
  long seed = arg_long(argc, argv, 2, 1, 0);
  rng_t rng;
  rng_seed(&rng, (uint64_t)seed);
  num_t *reg[REGS];
  uint32_t kreg[REGS];
  for (int i = 0; i < REGS; i++) {
    kreg[i] = 2 * (1 + i % 8);
    reg[i] = random_num(&rng, kreg[i] / 2);
  }
  for (long s = 0; s < steps; s++) {
    uint64_t x = rng_next(&rng);
    int i = (int)(x % REGS), j = (int)((x >> 8) % REGS), d = (int)((x >> 16) % REGS);
    unsigned op = (unsigned)((x >> 24) % 100);
    uint32_t k = kreg[d];
    num_t *r;
    if (op < 30) r = add(reg[i], reg[j], k);
    else if (op < 55) r = mul(reg[i], reg[j], k);
    else if (op < 75) r = sub(reg[i], reg[j], k);
    else if (op < 85) r = fold(low(reg[i], 1 + (uint32_t)((x >> 32) % reg[i]->len)), k);
    else if (op < 95) r = fold(share(reg[i]), k);
    else r = random_num(&rng, 1 + (uint32_t)((x >> 32) % k));
    release(reg[d]);
    reg[d] = r;
  }
  uint64_t check = 0;
  for (int i = 0; i < REGS; i++) {
    check = mix64(check, reg[i]->residue);
    release(reg[i]);
  }
  if (live_numbers != 0) bench_fail("%llu numbers leaked", (unsigned long long)live_numbers);
  printf("cfrac-like ok: %ld steps, %llu numbers, checksum %016llx\n", steps, (unsigned long long)numbers_made,
         (unsigned long long)check);
  return 0;
}
