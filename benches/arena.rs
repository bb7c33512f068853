//! Arena benchmarks: allockit beside bumpalo, glibc (`std::alloc::System`) and mimalloc,
//! in one criterion run. Quote the ratios (`python3 benches/ratios.py`), not the times: on
//! a shared machine, times move between runs while ratios within one run hold.
//!
//! `cargo bench --bench arena` (std's `LinkedList` group with `--features nightly`)
#![cfg_attr(feature = "nightly", feature(allocator_api))]

mod common;

use allocator_api2::alloc::Global;
use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use std::alloc::System;
use std::hint::black_box;
use std::time::Duration;

use allockit::{Arena, Pages};
use bumpalo::Bump;
use common::ViaGlobal;
use criterion::{Criterion, criterion_group, criterion_main};
use mimalloc::MiMalloc;

const SMALL: u64 = 10_000;
const GROWS: u64 = 10_000;
const NODES: u64 = 100_000;
const INSERTS: u64 = 100_000;

/// 10,000 `u64` allocations, then everything released.
fn small_allocations(c: &mut Criterion) {
    let mut g = c.benchmark_group("small_allocs_then_reset");
    let mut arena = Arena::new();
    g.bench_function("allockit", |b| {
        b.iter(|| {
            for i in 0..SMALL {
                black_box(arena.alloc(i));
            }
            arena.reset();
        })
    });
    let mut bump = Bump::new();
    g.bench_function("bumpalo", |b| {
        b.iter(|| {
            for i in 0..SMALL {
                black_box(bump.alloc(i));
            }
            bump.reset();
        })
    });
    let mut boxes = Vec::with_capacity(SMALL as usize);
    g.bench_function("glibc", |b| {
        b.iter(|| {
            boxes.extend((0..SMALL).map(|i| black_box(Box::new_in(i, ViaGlobal(System)))));
            boxes.clear();
        })
    });
    let mut boxes = Vec::with_capacity(SMALL as usize);
    g.bench_function("mimalloc", |b| {
        b.iter(|| {
            boxes.extend((0..SMALL).map(|i| black_box(Box::new_in(i, ViaGlobal(MiMalloc)))));
            boxes.clear();
        })
    });
    g.finish();
}

/// A `Vec<u64>` grown 10,000 times by `reserve_exact(1)`.
fn vec_reserve_exact(c: &mut Criterion) {
    fn grow<A: allockit::Allocator>(a: A) -> usize {
        let mut v = Vec::new_in(a);
        for i in 0..GROWS {
            v.reserve_exact(1);
            v.push(i);
        }
        black_box(&v);
        v.len()
    }
    let mut g = c.benchmark_group("vec_reserve_exact");
    let mut arena = Arena::new();
    g.bench_function("allockit", |b| {
        b.iter(|| {
            grow(&arena);
            arena.reset();
        })
    });
    let mut bump = Bump::new();
    g.bench_function("bumpalo", |b| {
        b.iter(|| {
            grow(&bump);
            bump.reset();
        })
    });
    g.bench_function("glibc", |b| b.iter(|| grow(ViaGlobal(System))));
    g.bench_function("mimalloc", |b| b.iter(|| grow(ViaGlobal(MiMalloc))));
    g.finish();
}

/// A 100,000-node std `LinkedList<u64>` built, summed and freed (std's collections take
/// an allocator only on nightly, with the `nightly` feature).
#[cfg(feature = "nightly")]
fn linked_list(c: &mut Criterion) {
    use common::Core;
    use std::collections::LinkedList;

    fn build<A: core::alloc::Allocator>(a: A) -> LinkedList<u64, A> {
        let mut list = LinkedList::new_in(a);
        for i in 0..NODES {
            list.push_back(i);
        }
        assert_eq!(list.iter().sum::<u64>(), NODES * (NODES - 1) / 2);
        list
    }
    let mut g = c.benchmark_group("linked_list_100k");
    let mut arena = Arena::new();
    g.bench_function("allockit_scope", |b| {
        b.iter(|| arena.scope(|s| std::mem::forget(build(&*s))))
    });
    let mut bump = Bump::new();
    g.bench_function("bumpalo", |b| {
        b.iter(|| {
            std::mem::forget(build(Core(&bump)));
            bump.reset();
        })
    });
    g.bench_function("glibc", |b| b.iter(|| drop(build(Core(ViaGlobal(System))))));
    g.bench_function("mimalloc", |b| {
        b.iter(|| drop(build(Core(ViaGlobal(MiMalloc)))))
    });
    g.finish();
}

#[cfg(not(feature = "nightly"))]
fn linked_list(_: &mut Criterion) {}

/// A 100,000-node singly linked list of boxed nodes (allocator-api2's `Box`) built,
/// summed and freed.
fn box_list(c: &mut Criterion) {
    /// A list node; 16 bytes.
    struct Node<A: allockit::Allocator> {
        value: u64,
        next: Option<Box<Node<A>, A>>,
    }
    fn build<A: allockit::Allocator + Copy>(a: A) -> Option<Box<Node<A>, A>> {
        let mut head = None;
        for value in (0..NODES).rev() {
            head = Some(Box::new_in(Node { value, next: head }, a));
        }
        let (mut sum, mut at) = (0, head.as_deref());
        while let Some(node) = at {
            sum += node.value;
            at = node.next.as_deref();
        }
        assert_eq!(sum, NODES * (NODES - 1) / 2);
        head
    }
    /// Frees node by node, without the recursion of a nested drop.
    fn free<A: allockit::Allocator>(mut head: Option<Box<Node<A>, A>>) {
        while let Some(node) = head {
            head = Box::into_inner(node).next;
        }
    }
    let mut g = c.benchmark_group("box_list_100k");
    let mut arena = Arena::new();
    g.bench_function("allockit_scope", |b| {
        b.iter(|| arena.scope(|s| std::mem::forget(build(&*s))))
    });
    let mut bump = Bump::new();
    g.bench_function("bumpalo", |b| {
        b.iter(|| {
            std::mem::forget(build(&bump));
            bump.reset();
        })
    });
    g.bench_function("glibc", |b| b.iter(|| free(build(&ViaGlobal(System)))));
    g.bench_function("mimalloc", |b| b.iter(|| free(build(&ViaGlobal(MiMalloc)))));
    g.finish();
}

/// 100,000 inserts into a `hashbrown::HashMap`, then the map freed.
fn hashbrown_inserts(c: &mut Criterion) {
    fn fill<A: allocator_api2::alloc::Allocator>(a: A) -> usize {
        let mut m = hashbrown::HashMap::new_in(a);
        for i in 0..INSERTS {
            m.insert(i.wrapping_mul(0x9E37_79B9_7F4A_7C15), i);
        }
        black_box(&m);
        m.len()
    }
    let mut g = c.benchmark_group("hashbrown_100k_inserts");
    let mut arena = Arena::new();
    g.bench_function("allockit", |b| {
        b.iter(|| {
            fill(&arena);
            arena.reset();
        })
    });
    let mut bump = Bump::new();
    g.bench_function("bumpalo", |b| {
        b.iter(|| {
            fill(&bump);
            bump.reset();
        })
    });
    g.bench_function("glibc", |b| b.iter(|| fill(ViaGlobal(System))));
    g.bench_function("mimalloc", |b| b.iter(|| fill(ViaGlobal(MiMalloc))));
    g.finish();
}

/// Why `Arena::new()` sits on `Global`: a short-lived arena on each backing.
fn default_backing(c: &mut Criterion) {
    fn short_lived<A: allockit::Allocator>(arena: Arena<A>) {
        for i in 0..100u64 {
            black_box(arena.alloc(i));
        }
    }
    fn four_megabytes<A: allockit::Allocator>(arena: Arena<A>) {
        for _ in 0..1024 {
            black_box(arena.alloc([0u8; 4096]));
        }
    }
    let mut g = c.benchmark_group("default_backing");
    g.bench_function("short_lived/global", |b| {
        b.iter(|| short_lived(Arena::new_in(Global)))
    });
    g.bench_function("short_lived/pages", |b| {
        b.iter(|| short_lived(Arena::new_in(Pages)))
    });
    g.bench_function("4mb/global", |b| {
        b.iter(|| four_megabytes(Arena::new_in(Global)))
    });
    g.bench_function("4mb/pages", |b| {
        b.iter(|| four_megabytes(Arena::new_in(Pages)))
    });
    g.finish();
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
    targets = small_allocations, vec_reserve_exact, linked_list, box_list, hashbrown_inserts, default_backing
}
criterion_main!(benches);
