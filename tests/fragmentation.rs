//! Fragmentation: the pattern that defeats a naive allocator — allocate many blocks, free
//! every other one, then ask for larger blocks (which cannot use the holes), then for
//! blocks that fit the holes again. Heap efficiency is live bytes over bytes held from the
//! backing allocator; each test prints it (`cargo test --test fragmentation -- --nocapture`)
//! and asserts a floor derived below.
//!
//! The bound: after phase 2, live = N/2·64 + N/2·128 = 96·N bytes, and no allocator that
//! never moves blocks can put a 128-byte block in a 64-byte hole between two live blocks,
//! so it holds at least 64·N + 64·N = 128·N: efficiency ≤ 0.75. Phase 3 refills the holes
//! with 64-byte blocks: live = 128·N, and an allocator that reuses holes holds no more than
//! after phase 2, so its efficiency can reach 1.0 (less its per-block overhead).

use allockit::{Allocator, Layout};
use core::ptr::NonNull;

use allockit::{FreeList, SizeClasses};

const N: usize = if cfg!(miri) { 200 } else { 20_000 };

fn alloc<A: Allocator>(a: &A, size: usize) -> (NonNull<u8>, Layout) {
    let l = Layout::from_size_align(size, 8).unwrap();
    let p = a.allocate(l).unwrap().cast::<u8>();
    // SAFETY: `p` has `size` writable bytes.
    unsafe { p.as_ptr().write_bytes(size as u8, size) };
    (p, l)
}

/// Runs the three phases; returns the efficiency after phase 2 and after phase 3.
fn phases<A: Allocator>(a: &A, held: impl Fn() -> usize, name: &str) -> (f64, f64) {
    let mut live: Vec<(NonNull<u8>, Layout)> = (0..N).map(|_| alloc(a, 64)).collect();
    let mut kept = Vec::with_capacity(N);
    for (i, b) in live.drain(..).enumerate() {
        if i % 2 == 0 {
            // SAFETY: `b` is live with its layout.
            unsafe { a.deallocate(b.0, b.1) };
        } else {
            kept.push(b);
        }
    }
    kept.extend((0..N / 2).map(|_| alloc(a, 128)));
    let live_bytes = |v: &[(NonNull<u8>, Layout)]| v.iter().map(|b| b.1.size()).sum::<usize>();
    let after_larger = live_bytes(&kept) as f64 / held() as f64;
    kept.extend((0..N / 2).map(|_| alloc(a, 64)));
    let after_refill = live_bytes(&kept) as f64 / held() as f64;
    println!(
        "{name}: efficiency {after_larger:.2} after the larger blocks, {after_refill:.2} after refilling the holes"
    );
    for (p, l) in kept {
        // SAFETY: every kept block is live with its layout.
        unsafe { a.deallocate(p, l) };
    }
    (after_larger, after_refill)
}

#[test]
fn free_list_reuses_holes_and_coalesces() {
    let heap = FreeList::new();
    let (larger, refill) = phases(&heap, || heap.reserved_bytes(), "FreeList");
    // A 16-byte header per block: 64-byte blocks take 80 bytes, 128-byte ones 144, so the
    // phase-2 bound is 96 / (80 + 72) = 0.63 and the phase-3 one 128 / 152 = 0.84; region
    // slack (regions grow by doubling) costs up to half of that in the worst case.
    assert!(larger >= 0.40, "{larger:.2}");
    assert!(refill >= 0.55, "{refill:.2}");
    assert!(refill > larger, "the holes were reused");
    heap.check_invariants();
    let stats = heap.stats();
    assert_eq!(
        stats.free_blocks, stats.regions,
        "everything coalesced: {stats:?}"
    );
}

#[test]
fn size_classes_reuse_holes_within_the_class() {
    let heap = SizeClasses::new();
    let (larger, refill) = phases(&heap, || heap.reserved_bytes(), "SizeClasses");
    // No per-block overhead: the bounds are 0.75 and 1.0, less the unused tail of the
    // newest 16 KiB run of each class.
    assert!(larger >= 0.70, "{larger:.2}");
    assert!(refill >= 0.93, "{refill:.2}");
}

#[test]
fn a_naive_bump_allocator_for_comparison() {
    // The arena never reuses a hole: every byte ever asked for stays used.
    let arena = allockit::Arena::new();
    phases(&arena, || arena.reserved_bytes(), "Arena (no reuse)");
    assert!(arena.reserved_bytes() >= 160 * N, "nothing reused");
}
