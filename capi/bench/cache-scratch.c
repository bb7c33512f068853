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
 *
 * The program is cache-thrash.c with the passive objects turned on.
 */
#define PASSIVE 1
#include "cache-thrash.c"
