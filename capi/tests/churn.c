/* Thread-churn stress for a malloc implementation (larson's pattern, checked).
 *
 * THREADS workers each own SLOTS blocks of 16..1024 bytes. A worker replaces random
 * slots ROUNDS times (check the old block, free it, allocate and fill a new one), then
 * exits and hands its slots to a fresh worker of the next generation, which frees the
 * blocks its predecessor allocated: every generation's blocks are freed by a thread that
 * did not allocate them, after their allocating thread exited, while other workers are
 * allocating. Every block carries its own address, size and a fill pattern; a block
 * handed out twice, or a free list written through a live block, shows as a mismatch.
 *
 * Usage: churn [threads] [generations] [slots] [rounds]    (exit 0 = every check held)
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct hdr { uintptr_t self; size_t size; };

static unsigned threads = 8, generations = 30, slots = 4000, rounds = 20000;

static unsigned char fill_byte(uintptr_t addr, size_t i) {
    return (unsigned char)((addr >> 4) * 131u + i * 7u);
}

static void *make(size_t size) {
    unsigned char *p = malloc(size);
    if (!p) { fprintf(stderr, "churn: malloc(%zu) failed\n", size); abort(); }
    struct hdr h = { (uintptr_t)p, size };
    memcpy(p, &h, sizeof h);
    for (size_t i = sizeof h; i < size; i++) p[i] = fill_byte((uintptr_t)p, i);
    return p;
}

static void check(unsigned char *p) {
    struct hdr h;
    memcpy(&h, p, sizeof h);
    if (h.self != (uintptr_t)p || h.size < sizeof h || h.size > 1024) {
        fprintf(stderr, "churn: block %p header overwritten (self %#lx, size %zu)\n",
                (void *)p, (unsigned long)h.self, h.size);
        abort();
    }
    for (size_t i = sizeof h; i < h.size; i++)
        if (p[i] != fill_byte((uintptr_t)p, i)) {
            fprintf(stderr, "churn: block %p byte %zu overwritten\n", (void *)p, i);
            abort();
        }
}

struct worker { void **slots; unsigned gen; uint64_t rng; };

static uint64_t next(uint64_t *s) {
    *s ^= *s << 13; *s ^= *s >> 7; *s ^= *s << 17;
    return *s;
}

static void *run(void *arg) {
    struct worker *w = arg;
    for (unsigned r = 0; r < rounds; r++) {
        unsigned i = next(&w->rng) % slots;
        check(w->slots[i]);
        free(w->slots[i]);
        w->slots[i] = make(16 + next(&w->rng) % 1009);
    }
    if (w->gen + 1 < generations) {
        /* Hand the slots to a successor; this thread exits with its blocks live. */
        struct worker *succ = malloc(sizeof *succ);
        *succ = (struct worker){ w->slots, w->gen + 1, w->rng * 0x9E3779B97F4A7C15ull + 1 };
        pthread_t t;
        if (pthread_create(&t, NULL, run, succ)) { perror("pthread_create"); abort(); }
        pthread_detach(t);
    } else {
        for (unsigned i = 0; i < slots; i++) { check(w->slots[i]); free(w->slots[i]); }
        free(w->slots);
    }
    free(w);
    return NULL;
}

static pthread_mutex_t done_lock = PTHREAD_MUTEX_INITIALIZER;

int main(int argc, char **argv) {
    if (argc > 1) threads = atoi(argv[1]);
    if (argc > 2) generations = atoi(argv[2]);
    if (argc > 3) slots = atoi(argv[3]);
    if (argc > 4) rounds = atoi(argv[4]);
    (void)done_lock;
    for (unsigned t = 0; t < threads; t++) {
        struct worker *w = malloc(sizeof *w);
        w->slots = malloc(slots * sizeof(void *));
        w->gen = 0;
        w->rng = 0x1234567u + t * 0x51ED27u;
        for (unsigned i = 0; i < slots; i++) w->slots[i] = make(16 + next(&w->rng) % 1009);
        pthread_t th;
        if (pthread_create(&th, NULL, run, w)) { perror("pthread_create"); return 1; }
        pthread_detach(th);
    }
    /* Detached generations: wait until only this thread is left. */
    for (;;) {
        FILE *f = fopen("/proc/self/status", "r");
        char line[256]; int n = -1;
        while (f && fgets(line, sizeof line, f))
            if (sscanf(line, "Threads: %d", &n) == 1) break;
        if (f) fclose(f);
        if (n == 1) break;
        struct timespec ts = { 0, 20 * 1000 * 1000 };
        nanosleep(&ts, NULL);
    }
    printf("churn: %u threads x %u generations, every block checked\n", threads, generations);
    return 0;
}
