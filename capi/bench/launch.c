/* launch: starts one benchmark run for run.py and reports its resource use.
 *
 * A process exec'd straight from the Python runner inherits the runner's resident-set
 * high-water mark (Linux carries ru_maxrss over exec), which would put a floor of the
 * runner's size under every measured maximum RSS. This small program, exec'd with no
 * preload, forks the benchmark itself, so the floor is its own size (about 1 MiB, what
 * any dynamically linked C program has), then waits for it with wait4.
 *
 * usage: launch RESULT_FILE PRELOAD PROGRAM [ARGS...]
 *   PRELOAD is the library to put in the child's LD_PRELOAD, or "-" for none.
 *   RESULT_FILE receives one line: "<wait status> <ru_maxrss KiB> <user s> <sys s>
 *   <wall s>". The child shares launch's stdin, stdout, stderr and process group.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv) { return (double)tv.tv_sec + (double)tv.tv_usec / 1e6; }

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: launch RESULT_FILE PRELOAD|- PROGRAM [ARGS...]\n");
    return 125;
  }
  struct timespec t0, t1;
  clock_gettime(CLOCK_MONOTONIC, &t0);
  pid_t pid = fork();
  if (pid < 0) {
    perror("launch: fork");
    return 125;
  }
  if (pid == 0) {
    if (strcmp(argv[2], "-") == 0) unsetenv("LD_PRELOAD");
    else setenv("LD_PRELOAD", argv[2], 1);
    execv(argv[3], &argv[3]);
    fprintf(stderr, "launch: exec %s: %s\n", argv[3], strerror(errno));
    _exit(127);
  }
  int status;
  struct rusage ru;
  while (wait4(pid, &status, 0, &ru) < 0)
    if (errno != EINTR) {
      perror("launch: wait4");
      return 125;
    }
  clock_gettime(CLOCK_MONOTONIC, &t1);
  double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
  FILE *f = fopen(argv[1], "w");
  if (f == NULL) {
    perror("launch: result file");
    return 125;
  }
  fprintf(f, "%d %ld %.6f %.6f %.6f\n", status, ru.ru_maxrss, seconds(ru.ru_utime), seconds(ru.ru_stime), wall);
  if (fclose(f) != 0) {
    perror("launch: result file");
    return 125;
  }
  return 0;
}
