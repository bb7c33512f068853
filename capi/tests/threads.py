"""A heavy, multi-threaded allocation workload for the C drop-in (run under LD_PRELOAD).

Checks first that malloc really is allockit's (a 20-byte request has a 32-byte usable
size in its size classes; glibc reports 24), then has threads build and drop dicts,
lists, strings and bytes, and pass objects through a queue to be freed on another
thread. Prints one line with a checksum that does not depend on the allocator.
"""
import ctypes
import hashlib
import queue
import sys
import threading

libc = ctypes.CDLL(None)
libc.malloc.restype = ctypes.c_void_p
libc.malloc_usable_size.argtypes = [ctypes.c_void_p]
libc.free.argtypes = [ctypes.c_void_p]
p = libc.malloc(20)
usable = libc.malloc_usable_size(p)
libc.free(p)
if "--any-malloc" not in sys.argv and usable != 32:
    sys.exit(f"malloc is not allockit's: malloc_usable_size(malloc(20)) = {usable}")

handoff = queue.Queue(maxsize=1000)


def producer(seed):
    h = hashlib.sha256()
    for i in range(15_000):
        d = {j: "x" * ((seed + i + j) % 300) for j in range(i % 16)}
        blob = bytes((seed + i) % 256 for _ in range(i % 2000))
        h.update(len(d).to_bytes(4, "little") + blob[:8])
        handoff.put((d, blob, [str(k) for k in range(i % 50)]))
    handoff.put(None)
    results[seed] = h.hexdigest()


def consumer(producers):
    done = 0
    total = 0
    while done < producers:
        item = handoff.get()
        if item is None:
            done += 1
            continue
        d, blob, strings = item
        total += len(d) + len(blob) + len(strings)
    results["consumer"] = total


results = {}
threads = [threading.Thread(target=producer, args=(s,)) for s in range(3)]
threads.append(threading.Thread(target=consumer, args=(3,)))
for t in threads:
    t.start()
for t in threads:
    t.join()
digest = hashlib.sha256("".join(results[s] for s in range(3)).encode()).hexdigest()[:16]
print(f"python threads ok: consumed {results['consumer']} items' parts, digest {digest}")
