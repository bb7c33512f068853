#!/usr/bin/env python3
"""Instructions per `alloc::<u64>` (loop included), by cachegrind, for allockit and bumpalo.

Builds `benches/alloc_instructions.rs`, runs each allocator for 1,000,000 and 2,000,000
allocations under `valgrind --tool=cachegrind`, and prints the extra instructions divided
by the extra allocations. Counts are exact and repeatable, unlike times.

    python3 benches/instructions.py

Then the same per allocate+free pair of a 32-byte block, for each composite beside the
strategy it is built over: what composing adds to the fast path.
"""
import re
import subprocess
import sys

out = subprocess.run(
    ["cargo", "bench", "--bench", "alloc_instructions", "--no-run", "--message-format=json"],
    check=True, capture_output=True, text=True,
).stdout
exe = None
for line in out.splitlines():
    m = re.search(r'"executable":"([^"]+alloc_instructions[^"]+)"', line)
    if m:
        exe = m.group(1)
if exe is None:
    sys.exit("could not find the alloc_instructions binary")


def refs(which, n):
    r = subprocess.run(
        ["valgrind", "--tool=cachegrind", "--cache-sim=no", "--cachegrind-out-file=/dev/null",
         exe, which, str(n)],
        check=True, capture_output=True, text=True,
    )
    m = re.search(r"I\s+refs:\s+([\d,]+)", r.stderr)
    return int(m.group(1).replace(",", ""))


N1, N2 = 1_000_000, 2_000_000
per = {}
for which in ("allockit", "allockit_scope", "allockit_min1", "bumpalo"):
    per[which] = (refs(which, N2) - refs(which, N1)) / (N2 - N1)
print("| allocator | instructions per alloc::<u64> | vs bumpalo |")
print("|---|---|---|")
for which, p in per.items():
    print(f"| {which} | {p:.2f} | {p / per['bumpalo']:.2f}x |")

pairs = [
    ("pair_fixed_buffer", "FixedBuffer"),
    ("pair_fallback_fixed_buffer", "Fallback<FixedBuffer, Global>"),
    ("pair_stack_fallback", "&StackFallback<4096, Global>"),
    ("pair_size_classes", "SizeClasses"),
    ("pair_segregate", "Segregate<256, SizeClasses, Pages>"),
    ("pair_slab", "Slab"),
    ("pair_fallback_slab", "Fallback<Slab, FreeList>"),
]
print()
print("| allocator | instructions per allocate+free pair (loop included) |")
print("|---|---|")
for which, name in pairs:
    p = (refs(which, N2) - refs(which, N1)) / (N2 - N1)
    print(f"| {name} | {p:.2f} |")
