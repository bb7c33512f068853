//! The composites against what they replace, in one criterion run. Quote ratios
//! (`python3 benches/ratios.py`), not times.
//!
//! - `stack_fallback_vec`: 1,000 requests, each collecting a `Vec<u32>` that usually
//!   stays small (16 elements; one request in 20 collects 300), summed and dropped: on
//!   `&StackFallback<1024, Global>` declared per request, on `Global`, and in a
//!   `SmallVec<[u32; 16]>` (inline storage, no allocator at all while it fits).
//! - `segregate_5pct_large`: the mixed workload of `individual` (1,000 live blocks,
//!   100,000 free-and-replace steps) with 5% of the blocks between 513 B and 16 KiB: on
//!   `SizeClasses` alone, on `Segregate<512, SizeClasses, Pages>` (large blocks straight
//!   from the OS), and on `Segregate<512, SizeClasses, SizeClasses>` (two heaps: the cost
//!   of the split alone).
//!
//! `cargo bench --bench compose`

#![cfg_attr(feature = "nightly", feature(allocator_api))] // `common::Core`

mod common;

use std::hint::black_box;
use std::time::Duration;

use allocator_api2::alloc::Global;
use allocator_api2::vec::Vec;
use allockit::{Pages, Segregate, SizeClasses, StackFallback};
use common::{mixed, script_with_large};
use criterion::{Criterion, criterion_group, criterion_main};
use smallvec::SmallVec;

/// Requests per iteration.
const REQUESTS: u32 = 1_000;

/// Elements the request `i` collects: 16, or 300 for one request in 20.
fn len(i: u32) -> u32 {
    if i % 20 == 7 { 300 } else { 16 }
}

fn stack_fallback_vec(c: &mut Criterion) {
    let mut g = c.benchmark_group("stack_fallback_vec");
    g.bench_function("allockit_stack_fallback", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in 0..black_box(REQUESTS) {
                let sf = StackFallback::<1024, _>::new_in(Global);
                let mut v = Vec::new_in(&sf);
                v.extend((0..len(i)).map(|x| x ^ i));
                total += v.iter().map(|&x| u64::from(x)).sum::<u64>();
            }
            total
        })
    });
    g.bench_function("global", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in 0..black_box(REQUESTS) {
                let mut v = Vec::new_in(Global);
                v.extend((0..len(i)).map(|x| x ^ i));
                total += v.iter().map(|&x| u64::from(x)).sum::<u64>();
            }
            total
        })
    });
    g.bench_function("smallvec", |b| {
        b.iter(|| {
            let mut total = 0u64;
            for i in 0..black_box(REQUESTS) {
                let mut v = SmallVec::<[u32; 16]>::new();
                v.extend((0..len(i)).map(|x| x ^ i));
                total += v.iter().map(|&x| u64::from(x)).sum::<u64>();
            }
            total
        })
    });
    g.finish();
}

fn segregate_mix(c: &mut Criterion) {
    let s = script_with_large(5);
    let mut g = c.benchmark_group("segregate_5pct_large");
    let heap = SizeClasses::new();
    g.bench_function("allockit_size_classes", |b| {
        b.iter(|| mixed(black_box(&heap), &s))
    });
    let split: Segregate<512, _, _> = Segregate::new(SizeClasses::new(), Pages);
    g.bench_function("allockit_segregate_pages", |b| {
        b.iter(|| mixed(black_box(&split), &s))
    });
    let two: Segregate<512, _, _> = Segregate::new(SizeClasses::new(), SizeClasses::new());
    g.bench_function("allockit_segregate_size_classes", |b| {
        b.iter(|| mixed(black_box(&two), &s))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3));
    targets = stack_fallback_vec, segregate_mix
}
criterion_main!(benches);
