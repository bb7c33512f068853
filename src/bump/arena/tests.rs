//! Unit tests of the arena's chunk policy, growth in place, limits and reset.

use super::*;
use crate::Counting;

#[test]
fn chunks_double_and_oversized_blocks_get_their_own() {
    let arena = Arena::new();
    arena.alloc(1u8);
    assert_eq!(arena.reserved_bytes(), FIRST_CHUNK);
    // Larger than the next geometric chunk: dedicated, the current chunk stays.
    let big = arena.alloc_layout(Layout::from_size_align(1 << 20, 4096).unwrap());
    assert_eq!(big.as_ptr().addr() % 4096, 0);
    let small = arena.alloc(2u8) as *mut u8;
    let first = arena.current.get().unwrap();
    assert!(small.addr() > first.as_ptr().addr() && small < chunk_end(first));
    assert!(arena.reserved_bytes() < FIRST_CHUNK + (1 << 20) + 2 * 4096);
    assert_eq!(arena.used_bytes(), 2 * 8 + (1 << 20) + (4096 - HEADER));
}

#[test]
fn last_block_grows_in_place_then_moves_to_a_new_chunk() {
    let arena = Arena::new();
    let one = Layout::new::<u64>();
    let p = arena.alloc_block(one).unwrap();
    let big = Layout::array::<u64>(64).unwrap();
    // SAFETY: `p` is the most recent block, allocated with `one`.
    let q = unsafe { arena.grow_block(p, one, big) }.unwrap();
    assert_eq!(q.cast::<u8>(), p, "in place");
    let huge = Layout::array::<u64>(1024).unwrap();
    // SAFETY: `p` is still the most recent block, now of layout `big`.
    let r = unsafe { arena.grow_block(p, big, huge) }.unwrap();
    assert_ne!(r.cast::<u8>(), p, "the first chunk is too small");
}

#[test]
fn reset_keeps_the_largest_chunk_and_converges_to_zero_backing_calls() {
    let mut arena = Arena::new_in(Counting::new(Global));
    let mut calls = [0usize; 4];
    for round in calls.iter_mut() {
        let before = arena.backing().stats().calls();
        for i in 0..if cfg!(miri) { 2_000 } else { 20_000u64 } {
            arena.alloc(i);
        }
        arena.reset();
        *round = arena.backing().stats().calls() - before;
    }
    assert!(calls[0] > 0);
    assert_eq!(
        calls[2..],
        [0, 0],
        "steady state: no backing calls ({calls:?})"
    );
    assert_eq!(arena.used_bytes(), 0);
    assert_eq!(arena.backing().stats().live_bytes, arena.reserved_bytes());
}

#[test]
fn limit_applies_to_existing_and_new_chunks() {
    let arena = Arena::new();
    arena.set_limit(Some(10_000));
    assert!(arena.try_alloc_slice_fill_with(9_000, |_| 0u8).is_ok());
    assert!(arena.try_alloc([0u8; 1001]).is_err());
    assert!(arena.try_alloc([0u8; 1000]).is_ok());
    assert_eq!(arena.used_bytes(), 10_000);
    assert!(arena.try_alloc(0u8).is_err());
    assert!(
        arena.reserved_bytes() < 2 * 10_000 + 2 * HEADER,
        "chunks sized to the limit"
    );
    arena.set_limit(Some(0));
    assert!(arena.try_alloc(0u8).is_err());
    assert!(arena.try_alloc(()).is_ok(), "zero-size blocks cost nothing");
}

#[test]
fn impossible_requests_fail_without_panicking() {
    let arena = Arena::new();
    let huge = Layout::from_size_align(isize::MAX as usize - 15, 16).unwrap();
    assert!(arena.try_alloc_layout(huge).is_err());
    // Miri refuses such alignments as unsupported, where malloc returns null.
    if !cfg!(miri) {
        let aligned = Layout::from_size_align(1 << 40, 1 << 40).unwrap();
        assert!(arena.try_alloc_layout(aligned).is_err());
    }
    assert!(Arena::try_with_capacity_in(usize::MAX - 8, Global).is_err());
    assert_eq!(arena.used_bytes(), 0);
}
