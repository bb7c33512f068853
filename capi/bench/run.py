#!/usr/bin/env python3
"""Runs the C allocation benchmarks in capi/bench/ under glibc's malloc, mimalloc and
allockit's C drop-in, and prints a markdown table comparing them.

Steps:
  1. builds each benchmark program with gcc into the build directory;
  2. builds libmimalloc.so from the mimalloc C sources that the libmimalloc-sys crate
     ships in the cargo registry (run `cargo fetch` first if they are missing);
  3. builds liballockit_capi.so with `cargo build --release` in capi/ (initial-exec TLS,
     as capi/.cargo/config.toml sets), unless
     --allockit-so names one;
  4. checks that each preloaded library really provides malloc in a child process;
  5. runs every workload --runs times per allocator, the allocators taking turns
     (glibc, mimalloc, allockit, glibc, ...), and records wall time and maximum RSS
     (ru_maxrss from wait4, taken by the launch helper in launch.c: a program exec'd
     straight from Python would inherit Python's RSS high-water mark);
  6. prints the table: median times, the maximum of the maximum RSS over the runs.

A run that exits non-zero, dies of a signal, exceeds --timeout, or prints something
different from the other runs of the same workload is reported as it happens and makes
the script exit with status 1 at the end.

Usage: python3 capi/bench/run.py [--runs N] [--only a,b] [--allockit-so PATH]
                                 [--json FILE] [--timeout S] [--build-dir DIR] [--list]
"""

import argparse
import glob
import json
import math
import os
import platform
import re
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent.parent  # capi/bench -> repo root

CFLAGS = ["-std=c11", "-O2", "-pthread", "-Wall", "-Wextra"]

# name, program, arguments. The arguments size each run to roughly 0.3-2 s under glibc
# on a 2-core machine; README.md gives the mimalloc-bench original of each.
WORKLOADS = [
    ("larson", "larson", ["2", "8", "1000", "5000", "200", "50000", "4141"]),
    ("mstress", "mstress", ["4", "25", "300"]),
    ("xmalloc-test", "xmalloc-test", ["2", "2000", "64"]),
    ("xmalloc-test-mixed", "xmalloc-test", ["2", "500", "0"]),
    ("cache-scratch", "cache-scratch", ["2", "1000", "1", "2000000", "2"]),
    ("cache-thrash", "cache-thrash", ["2", "1000", "1", "2000000", "2"]),
    ("malloc-large", "malloc-large", ["1000"]),
    ("cfrac-like", "cfrac-like", ["10000000"]),
    ("espresso-like", "espresso-like", ["10000"]),
    ("glibc-simple", "glibc-simple", ["16", "1000000"]),
    ("glibc-thread", "glibc-thread", ["2", "10000000"]),
    ("alloc-test1", "alloc-test", ["1", "10000000"]),
    ("alloc-testN", "alloc-test", ["2", "5000000"]),
]

ALLOCATORS = ["glibc", "mimalloc", "allockit"]
CHECK_PROGRAM = "whichmalloc"
LAUNCHER = "launch"


def say(msg=""):
    print(msg, flush=True)


def loud(msg):
    print(f"!!! {msg}", file=sys.stderr, flush=True)


def build_programs(build_dir, names):
    """Compiles capi/bench/<name>.c to build_dir/<name> when the binary is out of date."""
    header = HERE / "bench.h"
    for name in names:
        src = HERE / f"{name}.c"
        out = build_dir / name
        newest = max(src.stat().st_mtime, header.stat().st_mtime, Path(__file__).stat().st_mtime)
        if out.exists() and out.stat().st_mtime >= newest:
            continue
        cmd = ["gcc", *CFLAGS, "-o", str(out), str(src)]
        if name == CHECK_PROGRAM:
            cmd.append("-ldl")
        res = subprocess.run(cmd, capture_output=True, text=True)
        if res.returncode != 0:
            sys.exit(f"run.py: compiling {src.name} failed:\n{res.stderr}")
        if res.stderr.strip():
            loud(f"{src.name} compiled with warnings:\n{res.stderr}")


def find_mimalloc_sources():
    """The mimalloc C tree of the newest libmimalloc-sys in the cargo registry, and its
    version directory (v3 unless the crate has no v3, as in its build.rs)."""
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    crates = glob.glob(str(cargo_home / "registry" / "src" / "*" / "libmimalloc-sys-*"))

    def version_key(path):
        m = re.search(r"libmimalloc-sys-(\d+)\.(\d+)\.(\d+)", path)
        return tuple(int(x) for x in m.groups()) if m else (0, 0, 0)

    for crate in sorted(crates, key=version_key, reverse=True):
        base = Path(crate) / "c_src" / "mimalloc"
        # build.rs: v2 with the "v2" feature, v3 otherwise (the default); older crates
        # have the tree directly under c_src/mimalloc.
        for tree in (base / "v3", base):
            if (tree / "src" / "static.c").exists() and (tree / "include" / "mimalloc.h").exists():
                return tree
    sys.exit(
        "run.py: the mimalloc C sources of the libmimalloc-sys crate are not in the cargo "
        f"registry ({cargo_home}/registry/src/*/libmimalloc-sys-*/c_src/mimalloc/).\n"
        "Run `cargo fetch` in the repository first (the crate is a dev-dependency)."
    )


def build_mimalloc(build_dir):
    """libmimalloc.so for LD_PRELOAD, from the crate's sources with the crate's release
    defines (MI_DEBUG=0, MI_BUILD_RELEASE, NDEBUG, initial-exec TLS, MI_SECURE off) plus
    what an overriding shared library needs (MI_MALLOC_OVERRIDE, MI_SHARED_LIB, as
    mimalloc's CMakeLists does)."""
    tree = find_mimalloc_sources()
    out = build_dir / "libmimalloc.so"
    cmd = [
        "gcc", "-O2", "-fPIC", "-shared", "-pthread",
        "-DNDEBUG", "-DMI_DEBUG=0", "-DMI_BUILD_RELEASE",
        "-DMI_MALLOC_OVERRIDE", "-DMI_SHARED_LIB", "-DMI_SHARED_LIB_EXPORT",
        "-fvisibility=hidden", "-ftls-model=initial-exec", "-fno-builtin-malloc",
        "-Wno-unknown-pragmas",
        "-I", str(tree / "include"), "-I", str(tree / "src"),
        "-o", str(out), str(tree / "src" / "static.c"),
    ]
    stamp = build_dir / "libmimalloc.cmd"
    line = shlex.join(cmd)
    if out.exists() and stamp.exists() and stamp.read_text() == line:
        return out, tree
    say(f"building libmimalloc.so from {tree}")
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        sys.exit(f"run.py: building libmimalloc.so failed:\n$ {line}\n{res.stderr}")
    stamp.write_text(line)
    return out, tree


def build_allockit():
    say("building liballockit_capi.so: cd capi && cargo build --release")
    res = subprocess.run(["cargo", "build", "--release"], cwd=ROOT / "capi")
    if res.returncode != 0:
        sys.exit("run.py: cargo build --release in capi/ failed")
    target = Path(os.environ.get("CARGO_TARGET_DIR", ROOT / "target"))
    if not target.is_absolute():
        target = ROOT / target
    so = target / "release" / "liballockit_capi.so"
    if not so.exists():
        sys.exit(f"run.py: cargo succeeded but {so} does not exist")
    return so


def preload_of(allocator, libs):
    return "-" if allocator == "glibc" else str(libs[allocator])


def run_once(build_dir, cmd, preload, timeout, extra_env=None):
    """Runs cmd through the launch helper with LD_PRELOAD=preload ("-" for none).
    Returns a dict with wall time, the child's rusage, exit status and output."""
    env = dict(os.environ)
    env.pop("LD_PRELOAD", None)  # the helper itself runs on glibc; it sets the child's
    env.update(extra_env or {})
    with tempfile.TemporaryDirectory() as tmp, tempfile.TemporaryFile() as out, \
            tempfile.TemporaryFile() as err:
        result_file = Path(tmp) / "result"
        timed_out = threading.Event()
        start = time.perf_counter()
        proc = subprocess.Popen([str(build_dir / LAUNCHER), str(result_file), preload, *cmd], env=env,
                                stdout=out, stderr=err, stdin=subprocess.DEVNULL, start_new_session=True)

        def kill():
            timed_out.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, kill)
        timer.start()
        try:
            launcher_status = proc.wait()
        finally:
            timer.cancel()
        wall = time.perf_counter() - start
        out.seek(0)
        err.seek(0)
        result = {
            "wall_s": wall, "user_s": None, "sys_s": None, "maxrss_kib": 0,
            "exit": None, "signal": None, "timed_out": timed_out.is_set(),
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }
        fields = result_file.read_text().split() if result_file.exists() else []
    if launcher_status == 0 and len(fields) == 5:
        status = int(fields[0])
        result.update(maxrss_kib=int(fields[1]), user_s=float(fields[2]), sys_s=float(fields[3]),
                      wall_s=float(fields[4]))
        if os.WIFEXITED(status):
            result["exit"] = os.WEXITSTATUS(status)
        elif os.WIFSIGNALED(status):
            result["signal"] = os.WTERMSIG(status)
    elif not result["timed_out"]:
        result["launcher_failed"] = launcher_status
    result["ok"] = result["exit"] == 0 and not result["timed_out"]
    return result


def describe_failure(r):
    if "launcher_failed" in r:
        return f"the launch helper failed (status {r['launcher_failed']})"
    if r["timed_out"]:
        return "timed out (killed)"
    if r["signal"] is not None:
        try:
            name = signal.Signals(r["signal"]).name
        except ValueError:
            name = f"signal {r['signal']}"
        return f"killed by {name}"
    return f"exit status {r['exit']}"


def smoke_check(build_dir, libs, timeout):
    """Each preloaded library must be the one that provides malloc in the child, and be
    mapped there; mimalloc must also answer MIMALLOC_VERBOSE=1."""
    say("smoke check: which library provides malloc in a child process")
    ok = True
    for allocator in ALLOCATORS:
        r = run_once(build_dir, [str(build_dir / CHECK_PROGRAM)], preload_of(allocator, libs), timeout)
        fields = dict(line.split("=", 1) for line in r["stdout"].splitlines() if "=" in line)
        provider = fields.get("malloc", "?")
        if allocator == "glibc":
            good = r["ok"] and re.search(r"/libc\.so", provider) is not None
        else:
            good = r["ok"] and provider == str(Path(libs[allocator]).resolve()) and fields.get("mapped") == "1"
        say(f"  {allocator:9} malloc from {provider} (mapped={fields.get('mapped', '?')}, "
            f"malloc_usable_size(malloc(20))={fields.get('usable20', '?')})")
        if not good:
            loud(f"smoke check failed for {allocator}: {describe_failure(r) if not r['ok'] else 'wrong provider'}"
                 f"\n{r['stdout']}{r['stderr']}")
            ok = False
    r = run_once(build_dir, [str(build_dir / CHECK_PROGRAM)], preload_of("mimalloc", libs), timeout,
                 {"MIMALLOC_VERBOSE": "1"})
    if not (r["ok"] and "mimalloc" in r["stderr"]):
        loud(f"smoke check failed: MIMALLOC_VERBOSE=1 printed nothing from mimalloc:\n{r['stderr']}")
        ok = False
    else:
        first = r["stderr"].splitlines()[0] if r["stderr"] else ""
        say(f"  mimalloc  MIMALLOC_VERBOSE=1 says: {first}")
    return ok


def fmt_ratio(x):
    return "—" if x is None else f"{x:.2f}"


def geomean(xs):
    xs = [x for x in xs if x is not None and x > 0]
    return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def table(results, workloads):
    lines = [
        "| workload | allockit/glibc time | allockit/mimalloc time | median s glibc / mimalloc / allockit "
        "| max RSS MiB glibc / mimalloc / allockit | allockit/mimalloc RSS |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    vs_glibc, vs_mi, rss_mi = [], [], []
    for name, _, _ in workloads:
        runs = results[name]["runs"]
        med, rss = {}, {}
        for a in ALLOCATORS:
            good = [r for r in runs[a] if r["ok"] and not r.get("output_mismatch")]
            failed = len(good) < len(runs[a])
            med[a] = None if failed or not good else statistics.median(r["wall_s"] for r in good)
            rss[a] = None if failed or not good else max(r["maxrss_kib"] for r in good) / 1024
        rg = med["allockit"] / med["glibc"] if med["allockit"] and med["glibc"] else None
        rm = med["allockit"] / med["mimalloc"] if med["allockit"] and med["mimalloc"] else None
        rr = rss["allockit"] / rss["mimalloc"] if rss["allockit"] and rss["mimalloc"] else None
        vs_glibc.append(rg)
        vs_mi.append(rm)
        rss_mi.append(rr)
        times = " / ".join("FAIL" if med[a] is None else f"{med[a]:.3f}" for a in ALLOCATORS)
        mems = " / ".join("FAIL" if rss[a] is None else f"{rss[a]:.1f}" for a in ALLOCATORS)
        lines.append(f"| {name} | {fmt_ratio(rg)} | {fmt_ratio(rm)} | {times} | {mems} | {fmt_ratio(rr)} |")
    lines.append(f"| geometric mean | {fmt_ratio(geomean(vs_glibc))} | {fmt_ratio(geomean(vs_mi))} | | "
                 f"| {fmt_ratio(geomean(rss_mi))} |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=3, help="runs per workload and allocator (default 3)")
    ap.add_argument("--only", help="comma-separated workload names (see --list)")
    ap.add_argument("--allockit-so", help="use this liballockit_capi.so instead of building it with cargo")
    ap.add_argument("--json", help="write the raw results of every run to this file")
    ap.add_argument("--timeout", type=float, default=120, help="seconds before a run is killed (default 120)")
    ap.add_argument("--build-dir", default=str(ROOT / "target" / "cbench"),
                    help="where programs and libmimalloc.so are built (default target/cbench)")
    ap.add_argument("--list", action="store_true", help="list the workloads and their command lines")
    args = ap.parse_args()

    if args.list:
        for name, prog, argv in WORKLOADS:
            say(f"{name:20} {prog} {' '.join(argv)}")
        return 0
    if args.runs < 1:
        sys.exit("run.py: --runs must be at least 1")
    workloads = WORKLOADS
    if args.only:
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        known = {w[0] for w in WORKLOADS}
        unknown = [w for w in wanted if w not in known]
        if unknown:
            sys.exit(f"run.py: unknown workload(s): {', '.join(unknown)}; known: {', '.join(sorted(known))}")
        workloads = [w for w in WORKLOADS if w[0] in wanted]

    build_dir = Path(args.build_dir)
    if not build_dir.is_absolute():
        build_dir = ROOT / build_dir
    build_dir.mkdir(parents=True, exist_ok=True)
    build_programs(build_dir, sorted({w[1] for w in workloads} | {CHECK_PROGRAM, LAUNCHER}))
    mimalloc_so, mimalloc_tree = build_mimalloc(build_dir)
    if args.allockit_so:
        allockit_so = Path(args.allockit_so).resolve()
        if not allockit_so.exists():
            sys.exit(f"run.py: {allockit_so} does not exist")
    else:
        allockit_so = build_allockit()
    libs = {"mimalloc": mimalloc_so.resolve(), "allockit": allockit_so}
    say(f"mimalloc: {libs['mimalloc']} (from {mimalloc_tree})")
    say(f"allockit: {libs['allockit']}")

    if not smoke_check(build_dir, libs, args.timeout):
        loud("the smoke check failed: the numbers would not mean what they say; stopping")
        return 1

    failures = []
    results = {}
    for name, prog, argv in workloads:
        cmd = [str(build_dir / prog), *argv]
        say(f"\n{name}: {prog} {' '.join(argv)}")
        runs = {a: [] for a in ALLOCATORS}
        for i in range(args.runs):
            for a in ALLOCATORS:
                r = run_once(build_dir, cmd, preload_of(a, libs), args.timeout)
                runs[a].append(r)
                status = "ok" if r["ok"] else describe_failure(r)
                say(f"  run {i + 1}/{args.runs} {a:9} {r['wall_s']:8.3f} s  {r['maxrss_kib'] / 1024:8.1f} MiB  {status}")
                if not r["ok"]:
                    tail = "\n".join(r["stderr"].splitlines()[-10:])
                    msg = (f"FAILED: {name} under {a}: {describe_failure(r)}\n"
                           f"  command: {'LD_PRELOAD=' + str(libs[a]) + ' ' if a != 'glibc' else ''}{shlex.join(cmd)}"
                           + (f"\n  stderr: {tail}" if tail else ""))
                    loud(msg)
                    failures.append(msg)
        # The programs print only what depends on their arguments: every successful run
        # of a workload must print the same.
        outputs = {}
        for a in ALLOCATORS:
            for r in runs[a]:
                if r["ok"]:
                    outputs.setdefault(r["stdout"], []).append(a)
        if len(outputs) > 1:
            reference = max(outputs, key=lambda o: len(outputs[o]))
            for a in ALLOCATORS:
                for r in runs[a]:
                    if r["ok"] and r["stdout"] != reference:
                        r["output_mismatch"] = True
            msg = f"FAILED: {name}: the runs printed different results:\n" + "\n".join(
                f"  {', '.join(sorted(set(v)))}: {o.strip()}" for o, v in outputs.items())
            loud(msg)
            failures.append(msg)
        elif outputs:
            say(f"  output: {next(iter(outputs)).strip()}")
        results[name] = {"command": [prog, *argv], "runs": runs}

    say("")
    say(table(results, workloads))

    if args.json:
        meta = {
            "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "machine": platform.machine(),
            "cpus": os.cpu_count(),
            "runs": args.runs,
            "libraries": {k: str(v) for k, v in libs.items()},
            "mimalloc_sources": str(mimalloc_tree),
            "cflags": CFLAGS,
        }
        with open(args.json, "w") as f:
            json.dump({"meta": meta, "results": results, "failures": failures}, f, indent=1)
        say(f"\nraw results written to {args.json}")

    if failures:
        loud(f"{len(failures)} failure(s):")
        for msg in failures:
            loud(msg)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
