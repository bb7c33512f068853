//! `Hardened<SizeClasses>` beside plain `SizeClasses` on the mixed 8–512 B workload
//! (1000 live blocks, 100k free-then-allocate steps), one feature set per benchmark, so
//! each feature's cost reads as a ratio to `allockit_size_classes` in the same group.
//!
//! `cargo bench --bench hardened`
//!
//! - `allockit_hardened_detection_only`: invalid/double-free detection alone (`Options::MINIMAL`).
//! - `allockit_hardened_canary_only`: detection + canaries (the ≤ 1.3× target).
//! - `allockit_hardened_no_quarantine`: detection + canaries + zero on free.
//! - `allockit_hardened_no_zeroing`: detection + canaries + 1 MiB quarantine.
//! - `allockit_hardened_default`: everything (`Options::SECURE`).
//!
//! Other hardened allocators join the same group when their shared libraries are named in
//! `ALLOCKIT_BENCH_ANCHORS` (`name=path` or `name=path:prefix`, comma-separated; the prefix
//! is that of the library's `malloc`/`free`, `mi_` for mimalloc's API), opened with
//! `dlopen` in this process, e.g. GrapheneOS hardened_malloc (`make VARIANT=light` and
//! `make` in its repository) and mimalloc's `static.c` built with `-DMI_SECURE=4`:
//!
//! ```sh
//! ALLOCKIT_BENCH_ANCHORS=hardened_malloc_light=out-light/libhardened_malloc-light.so,\
//! hardened_malloc_default=out/libhardened_malloc.so,mimalloc_secure=libmimalloc-secure.so:mi_ \
//!     cargo bench --bench hardened
//! ```
//!
//! glibc and mimalloc (default build) are measured beside them.
#![cfg_attr(feature = "nightly", feature(allocator_api))] // `common::Core`

mod common;

use std::hint::black_box;
use std::time::Duration;

use allockit::{Hardened, Options, SizeClasses};
use common::{Dl, ViaGlobal, mixed, script};
use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;
use std::alloc::System;

fn mixed_sizes(c: &mut Criterion) {
    let s = script();
    let mut g = c.benchmark_group("hardened_mixed_8_512B");
    let plain = SizeClasses::new();
    g.bench_function("allockit_size_classes", |b| {
        b.iter(|| mixed(black_box(&plain), &s))
    });
    let canary_only = Options {
        zero_on_free: false,
        quarantine_bytes: 0,
        ..Options::SECURE
    };
    let configs = [
        ("allockit_hardened_detection_only", Options::MINIMAL),
        ("allockit_hardened_canary_only", canary_only),
        (
            "allockit_hardened_no_quarantine",
            Options {
                zero_on_free: true,
                ..canary_only
            },
        ),
        (
            "allockit_hardened_no_zeroing",
            Options {
                zero_on_free: false,
                ..Options::SECURE
            },
        ),
        ("allockit_hardened_default", Options::SECURE),
    ];
    for (name, options) in configs {
        let heap = Hardened::with_options(SizeClasses::new(), options);
        g.bench_function(name, |b| b.iter(|| mixed(black_box(&heap), &s)));
    }
    g.bench_function("glibc", |b| {
        b.iter(|| mixed(black_box(&ViaGlobal(System)), &s))
    });
    g.bench_function("mimalloc", |b| {
        b.iter(|| mixed(black_box(&ViaGlobal(MiMalloc)), &s))
    });
    let anchors = std::env::var("ALLOCKIT_BENCH_ANCHORS").unwrap_or_default();
    for spec in anchors.split(',').filter(|s| !s.is_empty()) {
        let (name, lib) = spec
            .split_once('=')
            .expect("ALLOCKIT_BENCH_ANCHORS: name=path");
        let (path, prefix) = lib.split_once(':').unwrap_or((lib, ""));
        let dl = Dl::open(path, prefix).unwrap_or_else(|e| panic!("{e}"));
        g.bench_function(name, |b| b.iter(|| mixed(black_box(&dl), &s)));
    }
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = mixed_sizes
}
criterion_main!(benches);
