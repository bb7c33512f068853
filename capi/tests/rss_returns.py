"""Memory really goes back to the OS: a long-running Python process on the C drop-in
builds up a big transient working set, drops it, and carries on with light work; its
resident set must fall back close to where it started.

Run as `LD_PRELOAD=liballockit_capi.so python3 capi/tests/rss_returns.py`. Objects over
512 bytes come from `malloc` (smaller ones from Python's own arenas), so the transient
phase is 300 MB of 3,000-byte blocks (small size classes) and 100 MB of 1 MiB blocks
(large blocks). One small block in a hundred survives it, as a long-lived cache entry
would: every segment stays in use, so only purging its free pages returns their memory. The light phase afterwards lasts longer than the purge delay and the
large-span cache's age, and its allocations are the slow paths that purge what is due.
Exits non-zero if less than 75% of the growth was returned (glibc keeps about 75% of it
here, because its heap cannot give back pages between live blocks).
"""
import sys
import time


def rss_bytes():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def light_work(seconds):
    end = time.monotonic() + seconds
    n = 0
    while time.monotonic() < end:
        batch = [bytes(3000 + i % 5 * 700) for i in range(200)]
        n += sum(len(b) for b in batch)
        del batch
        big = bytearray(256 << 10)
        n += len(big)
        del big
        time.sleep(0.001)
    return n


base = rss_bytes()
small = [bytes(3000) for _ in range(100_000)]
large = [bytearray(1 << 20) for _ in range(100)]
assert sum(len(b) for b in small) + sum(len(b) for b in large) > 400_000_000
peak = rss_bytes()
survivors = small[::100]
del small, large
light_work(1.5)
after = rss_bytes()

growth = peak - base
kept = after - base
mib = 1 << 20
print(f"RSS: start {base // mib} MiB, peak {peak // mib} MiB, after {after // mib} MiB "
      f"({100 * kept / growth:.0f}% of the growth kept)")
if growth < 350 * mib:
    sys.exit("the transient phase did not grow RSS as expected")
assert len(survivors) == 1000
if kept > 0.25 * growth:
    sys.exit("memory was not given back to the OS")
