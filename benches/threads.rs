//! The thread-safe allocators: allockit's `ThreadCache` beside glibc (`std::alloc::System`)
//! and mimalloc, in one criterion run (`SizeClasses` too, single-threaded). The
//! cross-thread workloads use two threads, one per core of a 2-core machine. Quote ratios
//! (`python3 benches/ratios.py`), not times.
//!
//! `cargo bench --bench threads`
#![cfg_attr(feature = "nightly", feature(allocator_api))] // `common::Core`

mod common;

use allockit::{Allocator, Layout};
use std::alloc::System;
use std::hint::black_box;
use std::ptr::NonNull;
use std::sync::mpsc;
use std::time::Duration;

use allockit::{SizeClasses, ThreadCache};
use common::{ViaGlobal, mixed, script};
use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;

/// Blocks the producer allocates per iteration of the producer/consumer workload.
const PRODUCED: usize = 100_000;
/// Pointers handed over at a time (so the channel costs little next to the allocator).
const BATCH: usize = 256;
/// Blocks each larson thread holds.
const SLOTS: usize = 1_000;
/// Replace operations per larson thread between exchanges.
const OPS: usize = 10_000;
/// Exchanges of the larson threads' slot arrays per iteration.
const ROUNDS: usize = 5;

/// A small xorshift, so both threads draw the same kind of sizes.
fn rng(seed: u64) -> impl FnMut() -> u64 {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    }
}

/// 16 to 256 bytes: the sizes of xmalloc-test and larson's small-object runs.
fn size(r: u64) -> usize {
    16 + (r % 241) as usize
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// A block as it crosses threads: address (exposed) and size.
#[derive(Clone, Copy)]
struct Block(usize, usize);

impl Block {
    fn make<A: Allocator>(a: &A, size: usize) -> Block {
        let p = a.allocate(layout(size)).unwrap().cast::<u8>();
        // SAFETY: the block has `size >= 16` writable bytes.
        unsafe { p.as_ptr().write(size as u8) };
        Block(p.as_ptr().expose_provenance(), size)
    }

    /// Frees the block through `a`.
    ///
    /// # Safety
    ///
    /// The block is live, from `a`, and not used again.
    unsafe fn free<A: Allocator>(self, a: &A) {
        let p = NonNull::new(std::ptr::with_exposed_provenance_mut::<u8>(self.0)).unwrap();
        // SAFETY: forwarded from the caller.
        unsafe { a.deallocate(p, layout(self.1)) };
    }
}

/// One thread allocates, the other frees everything (xmalloc-test's pattern).
fn producer_consumer<A: Allocator + Sync>(a: &A) {
    let (tx, rx) = mpsc::sync_channel::<[Block; BATCH]>(16);
    std::thread::scope(|s| {
        s.spawn(move || {
            for batch in rx {
                for b in batch {
                    // SAFETY: each block is live and handed over to this thread.
                    unsafe { b.free(a) };
                }
            }
        });
        let mut r = rng(0x5EED);
        for _ in 0..PRODUCED / BATCH {
            let batch = [(); BATCH].map(|_| Block::make(a, size(r())));
            tx.send(batch).unwrap();
        }
        drop(tx);
    });
}

/// Larson-style: two threads each replace random blocks in an array of their own, then
/// swap arrays, so most blocks are freed by the thread that did not allocate them.
fn larson<A: Allocator + Sync>(a: &A) {
    let (to_b, from_a) = mpsc::channel::<Vec<Block>>();
    let (to_a, from_b) = mpsc::channel::<Vec<Block>>();
    let worker = |seed: u64, tx: mpsc::Sender<Vec<Block>>, rx: mpsc::Receiver<Vec<Block>>| {
        move || {
            let mut r = rng(seed);
            let mut slots: Vec<Block> = (0..SLOTS).map(|_| Block::make(a, size(r()))).collect();
            for _ in 0..ROUNDS {
                for _ in 0..OPS {
                    let i = (r() % SLOTS as u64) as usize;
                    // SAFETY: every slot holds a live block this thread now owns.
                    unsafe { slots[i].free(a) };
                    slots[i] = Block::make(a, size(r()));
                }
                tx.send(slots).unwrap();
                slots = rx.recv().unwrap();
            }
            for b in slots {
                // SAFETY: as above.
                unsafe { b.free(a) };
            }
        }
    };
    std::thread::scope(|s| {
        s.spawn(worker(1, to_b, from_b));
        s.spawn(worker(2, to_a, from_a));
    });
}

fn single_thread_mixed(c: &mut Criterion) {
    let s = script();
    let mut g = c.benchmark_group("tc_mixed_8_512B");
    g.bench_function("allockit_thread_cache", |b| {
        b.iter(|| mixed(black_box(&ThreadCache::new()), &s))
    });
    let heap = SizeClasses::new();
    g.bench_function("allockit_size_classes", |b| {
        b.iter(|| mixed(black_box(&heap), &s))
    });
    g.bench_function("glibc", |b| {
        b.iter(|| mixed(black_box(&ViaGlobal(System)), &s))
    });
    g.bench_function("mimalloc", |b| {
        b.iter(|| mixed(black_box(&ViaGlobal(MiMalloc)), &s))
    });
    g.finish();
}

fn cross_thread(c: &mut Criterion) {
    let mut g = c.benchmark_group("tc_producer_consumer_2T");
    g.bench_function("allockit_thread_cache", |b| {
        b.iter(|| producer_consumer(&ThreadCache::new()))
    });
    g.bench_function("glibc", |b| {
        b.iter(|| producer_consumer(&ViaGlobal(System)))
    });
    g.bench_function("mimalloc", |b| {
        b.iter(|| producer_consumer(&ViaGlobal(MiMalloc)))
    });
    g.finish();
    let mut g = c.benchmark_group("tc_larson_2T");
    g.bench_function("allockit_thread_cache", |b| {
        b.iter(|| larson(&ThreadCache::new()))
    });
    g.bench_function("glibc", |b| b.iter(|| larson(&ViaGlobal(System))));
    g.bench_function("mimalloc", |b| b.iter(|| larson(&ViaGlobal(MiMalloc))));
    g.finish();
}

fn config() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
}

criterion_group! {
    name = benches;
    config = config();
    targets = single_thread_mixed, cross_thread
}
criterion_main!(benches);
