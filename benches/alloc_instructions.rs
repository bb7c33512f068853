//! The loop that `benches/instructions.py` counts with cachegrind: `n` typed allocations of
//! a `u64` on one allocator, chosen by the first argument (`allockit`, `allockit_min1`,
//! `allockit_scope`, `bumpalo`), `n` the second. Instruction counts do not depend on the
//! machine's noise; the script runs two sizes and divides the difference by the extra
//! allocations, so start-up and the loop's setup cancel out and chunk growth is amortised.

use std::hint::black_box;

use allockit::Arena;
use bumpalo::Bump;

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
        other => {
            eprintln!("unknown allocator {other:?}");
            std::process::exit(2);
        }
    }
}
