/* whichmalloc: the smoke check run.py does before measuring. Prints which shared object
 * provides the malloc this process calls (by dladdr), whether that object is mapped in
 * /proc/self/maps, and malloc_usable_size(malloc(20)).
 *
 * usage: whichmalloc
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(void) {
  void *sym = dlsym(RTLD_DEFAULT, "malloc");
  Dl_info info;
  if (sym == NULL || !dladdr(sym, &info) || info.dli_fname == NULL) {
    fprintf(stderr, "whichmalloc: cannot locate malloc\n");
    return 2;
  }
  char resolved[4096];
  const char *path = realpath(info.dli_fname, resolved) ? resolved : info.dli_fname;
  int mapped = 0;
  FILE *maps = fopen("/proc/self/maps", "r");
  if (maps != NULL) {
    char line[8192];
    while (fgets(line, sizeof line, maps))
      if (strstr(line, path)) mapped = 1;
    fclose(maps);
  }
  void *p = malloc(20);
  size_t usable = malloc_usable_size(p);
  free(p);
  printf("malloc=%s\nmapped=%d\nusable20=%zu\n", path, mapped, usable);
  return 0;
}
