//! Allocators that free individual blocks: allockit's `SizeClasses`, `FreeList` and
//! `Slab` beside glibc (`std::alloc::System`) and mimalloc, in one criterion run.
//! Quote ratios (`python3 benches/ratios.py`), not times.
//!
//! `cargo bench --bench individual`
#![cfg_attr(feature = "nightly", feature(allocator_api))] // `common::Core`

mod common;

use allockit::{Allocator, Layout};
use std::alloc::System;
use std::hint::black_box;
use std::ptr::NonNull;
use std::time::Duration;

use allockit::{FreeList, SizeClasses, Slab};
use common::{LIVE, ViaGlobal, glibc_held_bytes, mixed, mixed_measured, script};
use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;

/// Allocate/free pairs per iteration of the churn benchmark.
const PAIRS: usize = 1_000;
/// Live nodes in the churn benchmark's window.
const WINDOW: usize = 64;

fn mixed_sizes(c: &mut Criterion) {
    let s = script();
    let mut g = c.benchmark_group("mixed_8_512B");
    let heap = SizeClasses::new();
    g.bench_function("allockit_size_classes", |b| {
        b.iter(|| mixed(black_box(&heap), &s))
    });
    let list = FreeList::new();
    g.bench_function("allockit_free_list", |b| {
        b.iter(|| mixed(black_box(&list), &s))
    });
    g.bench_function("glibc", |b| {
        b.iter(|| mixed(black_box(&ViaGlobal(System)), &s))
    });
    g.bench_function("mimalloc", |b| {
        b.iter(|| mixed(black_box(&ViaGlobal(MiMalloc)), &s))
    });
    g.finish();
}

/// Allocate a 64-byte node and free the oldest of a window of 64, `PAIRS` times.
fn churn<A: Allocator>(a: &A, window: &mut [NonNull<u8>; WINDOW]) {
    let l = Layout::new::<[u64; 8]>();
    for i in 0..PAIRS {
        let slot = &mut window[i % WINDOW];
        // SAFETY: every window entry is a live block of `a` with layout `l`.
        unsafe { a.deallocate(*slot, l) };
        *slot = black_box(a.allocate(l).unwrap().cast());
    }
}

fn fixed_size_churn(c: &mut Criterion) {
    fn run<A: Allocator>(
        g: &mut criterion::BenchmarkGroup<'_, criterion::measurement::WallTime>,
        name: &str,
        a: A,
    ) {
        let l = Layout::new::<[u64; 8]>();
        let mut window = [(); WINDOW].map(|_| a.allocate(l).unwrap().cast::<u8>());
        g.bench_function(name, |b| b.iter(|| churn(&a, &mut window)));
        for p in window {
            // SAFETY: every window entry is live with layout `l`.
            unsafe { a.deallocate(p, l) };
        }
    }
    let mut g = c.benchmark_group("churn_64B_x1000");
    run(&mut g, "allockit_slab", Slab::for_type::<[u64; 8]>());
    run(&mut g, "allockit_size_classes", SizeClasses::new());
    run(&mut g, "glibc", ViaGlobal(System));
    run(&mut g, "mimalloc", ViaGlobal(MiMalloc));
    g.finish();
}

/// Heap efficiency of the mixed workload (a count, printed once): live bytes over bytes
/// held from the backing allocator (for glibc: from the OS, `mallinfo2` arena + mmap),
/// both taken at the end of the steady state.
fn efficiency(_: &mut Criterion) {
    let s = script();
    let heap = SizeClasses::new();
    let (live, held) = mixed_measured(&heap, &s, || heap.reserved_bytes());
    println!("heap efficiency, mixed 8-512 B with {LIVE} live blocks (live / held):");
    println!(
        "  size_classes {:.2} ({live} / {held} B)",
        live as f64 / held as f64
    );
    let list = FreeList::new();
    let (live, held) = mixed_measured(&list, &s, || list.reserved_bytes());
    println!(
        "  free_list    {:.2} ({live} / {held} B)",
        live as f64 / held as f64
    );
    let before = glibc_held_bytes();
    let (live, held) = mixed_measured(&ViaGlobal(System), &s, || glibc_held_bytes() - before);
    println!(
        "  glibc        {:.2} ({live} / {held} B, growth of the main arena)",
        live as f64 / held as f64
    );
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(30)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2))
}

criterion_group! {
    name = benches;
    config = config();
    targets = efficiency, mixed_sizes, fixed_size_churn
}
criterion_main!(benches);
