/* The C ABI of the drop-in against glibc's observable behaviour.
 *
 *   abi              prints one line per case; the output under glibc and under
 *                    LD_PRELOAD=liballockit_capi.so must be identical (capi/tests/abi.sh)
 *   abi bad KIND     frees a pointer no allocator returned (interior, static, stack,
 *                    foreign-mmap, or realloc of an interior pointer): glibc and the
 *                    drop-in must both abort
 */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static void line(const char *what, void *p, size_t align) {
    printf("%-36s %s", what, p ? "ok" : "null");
    if (p && align) printf(" aligned(%zu)=%s", align, ((uintptr_t)p % align) ? "no" : "yes");
    if (!p) printf(" errno=%s", errno == ENOMEM ? "ENOMEM" : errno == EINVAL ? "EINVAL" : "other");
    printf("\n");
}

static void cases(void) {
    void *p;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    errno = 0; p = malloc(0); line("malloc(0)", p, 16); free(p);
    p = malloc(10); errno = 0;
    void *q = realloc(p, 0); printf("%-36s %s\n", "realloc(p, 0)", q ? "non-null" : "null");
    free(q);
    errno = 0; p = realloc(NULL, 24); line("realloc(NULL, 24)", p, 16); free(p);
    errno = 0; p = calloc(SIZE_MAX / 2, 3); line("calloc overflow", p, 0);
    errno = 0; p = calloc(100, 10);
    int zero = 1; for (int i = 0; p && i < 1000; i++) zero &= ((unsigned char *)p)[i] == 0;
    line("calloc(100, 10)", p, 16); printf("%-36s %s\n", "calloc zeroed", zero ? "yes" : "no"); free(p);
    errno = 0; p = malloc(SIZE_MAX - 4096); line("malloc(SIZE_MAX - 4096)", p, 0);

    static const size_t aligns[] = { 0, 1, 8, 16, 24, 48, 64, 100, 4096, 5000, 65536 };
    for (size_t i = 0; i < sizeof aligns / sizeof *aligns; i++) {
        char what[64];
        size_t a = aligns[i], expect = a < 16 ? 16 : a;
        while (expect & (expect - 1)) expect++; /* the next power of two */
        snprintf(what, sizeof what, "memalign(%zu, 100)", a);
        errno = 0; p = memalign(a, 100); line(what, p, expect); free(p);
        snprintf(what, sizeof what, "posix_memalign(%zu, 100)", a);
        p = NULL; int r = posix_memalign(&p, a, 100);
        printf("%-36s %s", what, r == 0 ? "0" : r == EINVAL ? "EINVAL" : r == ENOMEM ? "ENOMEM" : "other");
        if (r == 0) printf(" aligned(%zu)=%s", a, ((uintptr_t)p % a) ? "no" : "yes");
        printf("\n"); free(p);
    }
    errno = 0; p = memalign(SIZE_MAX / 2 + 2, 10); line("memalign(SIZE_MAX/2 + 2, 10)", p, 0);
    errno = 0; p = aligned_alloc(64, 100); line("aligned_alloc(64, 100)", p, 64); free(p);
    errno = 0; p = valloc(100); line("valloc(100)", p, page); free(p);
    errno = 0; p = pvalloc(100); line("pvalloc(100)", p, page);
    printf("%-36s %s\n", "pvalloc usable >= page", p && malloc_usable_size(p) >= page ? "yes" : "no");
    free(p);
    p = malloc(100);
    printf("%-36s %s\n", "malloc_usable_size(100)", malloc_usable_size(p) >= 100 ? ">= 100" : "< 100");
    printf("%-36s %zu\n", "malloc_usable_size(NULL)", malloc_usable_size(NULL));
    free(p);
    free(NULL);
    printf("%-36s ok\n", "free(NULL)");
}

static char static_buffer[256];

static int bad(const char *kind) {
    char *p = malloc(64);
    char stack[64];
    if (!strcmp(kind, "interior")) free(p + 16);
    else if (!strcmp(kind, "static")) free(static_buffer + 32);
    else if (!strcmp(kind, "stack")) free(stack + 16);
    else if (!strcmp(kind, "foreign-mmap")) {
        char *m = mmap(NULL, 1 << 16, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        free(m + 4096);
    } else if (!strcmp(kind, "realloc-interior")) p = realloc(p + 16, 200);
    else { fprintf(stderr, "unknown kind %s\n", kind); return 2; }
    printf("survived %s free\n", kind);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 3 && !strcmp(argv[1], "bad")) return bad(argv[2]);
    cases();
    return 0;
}
