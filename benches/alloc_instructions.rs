//! The loop that `benches/instructions.py` counts with cachegrind: `n` typed allocations of
//! a `u64` on one allocator, chosen by the first argument (`allockit`, `allockit_min1`,
//! `allockit_scope`, `bumpalo`), `n` the second. Instruction counts do not depend on the
//! machine's noise; the script runs two sizes and divides the difference by the extra
//! allocations, so start-up and the loop's setup cancel out and chunk growth is amortised.
//!
//! The `pair_*` allocators count an allocate and a free of one 32-byte block instead, on a
//! strategy and on the composite built over it (`pair_fixed_buffer` and
//! `pair_fallback_fixed_buffer`, ...): the difference is what the composite adds. The
//! layout goes through `black_box`, so `Segregate`'s size compare is not folded away.

use std::hint::black_box;

use allocator_api2::alloc::Global;
use allockit::{
    Allocator, Arena, Fallback, FixedBuffer, FreeList, Layout, Pages, Segregate, SizeClasses, Slab,
    StackFallback,
};
use bumpalo::Bump;
use core::mem::MaybeUninit;

/// `n` allocate/free pairs of one 32-byte block on `a`.
#[inline(always)]
fn pairs<A: Allocator>(a: &A, n: u64) {
    let layout = black_box(Layout::new::<[u64; 4]>());
    for _ in 0..n {
        let p = a.allocate(layout).unwrap().cast::<u8>();
        black_box(p);
        // SAFETY: `p` was just allocated with `layout`.
        unsafe { a.deallocate(p, layout) };
    }
}

/// A 64 KiB buffer for the fixed-buffer pairs.
fn space() -> std::vec::Vec<MaybeUninit<u8>> {
    std::vec![MaybeUninit::uninit(); 64 << 10]
}

#[inline(never)]
fn pair_fixed_buffer(n: u64) {
    let mut space = space();
    pairs(&FixedBuffer::new(&mut space), n);
}

#[inline(never)]
fn pair_fallback_fixed_buffer(n: u64) {
    let mut space = space();
    pairs(&Fallback::new(FixedBuffer::new(&mut space), Global), n);
}

#[inline(never)]
fn pair_stack_fallback(n: u64) {
    let sf = StackFallback::<4096>::new();
    pairs(&&sf, n);
}

#[inline(never)]
fn pair_size_classes(n: u64) {
    pairs(&SizeClasses::new(), n);
}

#[inline(never)]
fn pair_segregate(n: u64) {
    pairs(&Segregate::<256, _, _>::new(SizeClasses::new(), Pages), n);
}

#[inline(never)]
fn pair_slab(n: u64) {
    pairs(&Slab::for_type::<[u64; 4]>(), n);
}

#[inline(never)]
fn pair_fallback_slab(n: u64) {
    pairs(
        &Fallback::new(Slab::for_type::<[u64; 4]>(), FreeList::new()),
        n,
    );
}

#[inline(never)]
fn allockit(n: u64) {
    let arena = Arena::new();
    for i in 0..n {
        black_box(arena.alloc(i));
    }
}

#[inline(never)]
fn allockit_min1(n: u64) {
    let arena = Arena::<_, 1>::with_min_align();
    for i in 0..n {
        black_box(arena.alloc(i));
    }
}

#[inline(never)]
fn allockit_scope(n: u64) {
    let mut arena = Arena::new();
    arena.scope(|s| {
        for i in 0..n {
            black_box(s.alloc(i));
        }
    });
}

#[inline(never)]
fn bumpalo(n: u64) {
    let bump = Bump::new();
    for i in 0..n {
        black_box(bump.alloc(i));
    }
}

fn main() {
    let mut args = std::env::args().skip(1);
    let which = args.next();
    // `cargo bench` runs every bench binary with `--bench`: do nothing then.
    let Some(which) = which.filter(|w| !w.starts_with("--")) else {
        return;
    };
    let n: u64 = args
        .next()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    match which.as_str() {
        "allockit" => allockit(n),
        "allockit_min1" => allockit_min1(n),
        "allockit_scope" => allockit_scope(n),
        "bumpalo" => bumpalo(n),
        "pair_fixed_buffer" => pair_fixed_buffer(n),
        "pair_fallback_fixed_buffer" => pair_fallback_fixed_buffer(n),
        "pair_stack_fallback" => pair_stack_fallback(n),
        "pair_size_classes" => pair_size_classes(n),
        "pair_segregate" => pair_segregate(n),
        "pair_slab" => pair_slab(n),
        "pair_fallback_slab" => pair_fallback_slab(n),
        other => {
            eprintln!("unknown allocator {other:?}");
            std::process::exit(2);
        }
    }
}
