#!/usr/bin/env python3
"""Prints the last criterion run as a Markdown table of ratios.

Each cell is that allocator's mean time divided by allockit's mean time in the same
group: 2.00x means allockit took half the time. Run after `cargo bench --bench arena`:

    python3 benches/ratios.py [target/criterion]
"""
import json
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
groups = {}
for est in sorted(root.glob("*/*/new/estimates.json")):
    group, bench = est.parts[-4], est.parts[-3]
    groups.setdefault(group, {})[bench] = json.loads(est.read_text())["mean"]["point_estimate"]
for est in sorted(root.glob("*/*/*/new/estimates.json")):  # benches named "a/b"
    group, bench = est.parts[-5], est.parts[-4] + "/" + est.parts[-3]
    groups.setdefault(group, {})[bench] = json.loads(est.read_text())["mean"]["point_estimate"]


def fmt(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.2f} {unit}"
    return f"{ns:.0f} ns"


print("| benchmark | allockit | vs bumpalo | vs glibc | vs mimalloc |")
print("|---|---|---|---|---|")
for group, benches in groups.items():
    for name, ours in sorted(benches.items()):
        if not name.startswith("allockit"):
            continue
        cells = []
        for other in ("bumpalo", "glibc", "mimalloc"):
            t = benches.get(other)
            cells.append(f"{t / ours:.2f}x" if t else "—")
        label = group if name == "allockit" else f"{group} ({name.removeprefix('allockit_')})"
        print(f"| {label} | {fmt(ours)} | " + " | ".join(cells) + " |")
rest = {g: b for g, b in groups.items() if not any(k.startswith("allockit") for k in b)}
for group, benches in rest.items():
    print(f"\n{group}: " + ", ".join(f"{k} {fmt(v)}" for k, v in sorted(benches.items())))
