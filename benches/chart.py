#!/usr/bin/env python3
"""Draws the README's chart, benches/headline.svg, from criterion's last run.

Each bar is an anchor's mean time divided by allockit's in the same criterion group (above
1, allockit is faster), on a logarithmic axis. Run the benches first, then this script:

    cargo bench --bench arena --features nightly
    cargo bench --bench parser
    cargo bench --bench individual
    cargo bench --bench threads
    python3 benches/chart.py [target/criterion] [benches/headline.svg]

A bar whose group or benchmark is missing from the criterion directory is left out.
"""
import json
import math
import pathlib
import sys

root = pathlib.Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")
out = pathlib.Path(sys.argv[2] if len(sys.argv) > 2 else "benches/headline.svg")

# (label, criterion group, allockit's benchmark, the anchor's benchmark)
BARS = [
    ("Arena: 10,000 small allocations, vs bumpalo", "small_allocs_then_reset", "allockit", "bumpalo"),
    ("Arena: Vec grown by reserve_exact(1), vs bumpalo", "vec_reserve_exact", "allockit", "bumpalo"),
    ("Arena: hashbrown 100k inserts, vs bumpalo", "hashbrown_100k_inserts", "allockit", "bumpalo"),
    ("Scope: 100k-node LinkedList, vs bumpalo", "linked_list_100k", "allockit_scope", "bumpalo"),
    ("Scope: 100k-node LinkedList, vs glibc", "linked_list_100k", "allockit_scope", "glibc"),
    ("Scope: parser, 50k lets, vs bumpalo", "parser_50k_lets", "allockit_scope", "bumpalo"),
    ("SizeClasses: mixed 8-512 B, vs glibc", "mixed_8_512B", "allockit_size_classes", "glibc"),
    ("SizeClasses: mixed 8-512 B, vs mimalloc", "mixed_8_512B", "allockit_size_classes", "mimalloc"),
    ("FreeList: mixed 8-512 B, vs glibc", "mixed_8_512B", "allockit_free_list", "glibc"),
    ("Slab: 64 B churn, vs glibc", "churn_64B_x1000", "allockit_slab", "glibc"),
    ("ThreadCache: mixed 8-512 B, vs mimalloc", "tc_mixed_8_512B", "allockit_thread_cache", "mimalloc"),
    ("ThreadCache: producer/consumer, vs glibc", "tc_producer_consumer_2T", "allockit_thread_cache", "glibc"),
    ("ThreadCache: producer/consumer, vs mimalloc", "tc_producer_consumer_2T", "allockit_thread_cache", "mimalloc"),
]


def mean(group, bench):
    est = root / group / bench / "new" / "estimates.json"
    if not est.exists():
        return None
    return json.loads(est.read_text())["mean"]["point_estimate"]


bars = []
for label, group, ours, theirs in BARS:
    a, b = mean(group, ours), mean(group, theirs)
    if a and b:
        bars.append((label, b / a))
if not bars:
    sys.exit(f"no criterion results under {root}: run the benches first")

# Layout: labels on the left, bars on a log axis from 0.5x to the largest ratio.
ROW, LABEL_W, BAR_W, TOP = 26, 330, 420, 46
lo = 0.5
hi = max(2.0, max(r for _, r in bars) * 1.3)
span = math.log10(hi) - math.log10(lo)


def x(ratio):
    return LABEL_W + BAR_W * (math.log10(ratio) - math.log10(lo)) / span


height = TOP + ROW * len(bars) + 40
width = LABEL_W + BAR_W + 70
svg = [
    f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
    f'font-family="sans-serif" font-size="12">',
    f'<rect width="{width}" height="{height}" fill="white"/>',
    f'<text x="10" y="20" font-size="14" font-weight="bold">'
    f"Anchor's time / allockit's time, same criterion run (above 1: allockit is faster)</text>",
]
ticks = [t for t in (0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000) if t <= hi]
for t in ticks:
    tx = x(t)
    svg.append(f'<line x1="{tx:.1f}" y1="{TOP - 8}" x2="{tx:.1f}" '
               f'y2="{TOP + ROW * len(bars)}" stroke="{"#333" if t == 1 else "#ddd"}"/>')
    svg.append(f'<text x="{tx:.1f}" y="{TOP + ROW * len(bars) + 16}" '
               f'text-anchor="middle" fill="#555">{t:g}x</text>')
for i, (label, ratio) in enumerate(bars):
    y = TOP + ROW * i
    x0, x1 = x(1), x(ratio)
    left, w = min(x0, x1), abs(x1 - x0)
    color = "#2a7ab9" if ratio >= 1 else "#c9672a"
    svg.append(f'<text x="{LABEL_W - 8}" y="{y + 16}" text-anchor="end">{label}</text>')
    svg.append(f'<rect x="{left:.1f}" y="{y + 5}" width="{max(w, 1):.1f}" height="{ROW - 10}" '
               f'fill="{color}"/>')
    svg.append(f'<text x="{max(x0, x1) + 5:.1f}" y="{y + 16}">{ratio:.2f}x</text>')
svg.append("</svg>")
out.write_text("\n".join(svg) + "\n")
print(f"wrote {out}: {len(bars)} bars")
