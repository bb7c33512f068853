//! The arena's scope rules and its memory promises, each proved by a test (the rules the
//! compiler enforces are `compile_fail` doctests on `Scope`).

use allocator_api2::alloc::Global;
use allocator_api2::vec::Vec;
use std::panic::{AssertUnwindSafe, catch_unwind};

use allockit::{Arena, Counting};

#[test]
fn a_million_node_list_is_freed_at_once() {
    let n: u64 = if cfg!(miri) { 1_000 } else { 1_000_000 };
    let mut arena = Arena::new();
    let before = arena.used_bytes();
    let sum = arena.scope(|s| {
        /// A node of a singly linked list whose nodes all live in the scope.
        struct Node<'a> {
            value: u64,
            next: Option<&'a Node<'a>>,
        }
        let mut head = None;
        for value in (0..n).rev() {
            head = Some(&*s.alloc(Node { value, next: head }));
        }
        let mut sum = 0;
        while let Some(node) = head {
            sum += node.value;
            head = node.next;
        }
        sum // nothing to drop: the scope frees every node at once
    });
    assert_eq!(sum, n * (n - 1) / 2);
    assert_eq!(arena.used_bytes(), before);
    assert!(
        arena.reserved_bytes() >= (n as usize) * 16,
        "the chunks are kept"
    );
}

#[test]
fn outer_values_stay_usable_and_intact_inside_inner_scopes() {
    let mut arena = Arena::new();
    arena.scope(|outer| {
        let numbers = outer.alloc_slice_fill_with(1000, |i| i as u32);
        let name = outer.alloc_str("outer");
        for round in 0..10u32 {
            outer.scope(|inner| {
                // Fill the inner scope well past one chunk with a different pattern.
                for _ in 0..20 {
                    inner.alloc_slice_fill_with(500, |_| 0xFFFF_FFFFu32 - round);
                }
                numbers[round as usize] += 1;
                assert_eq!(&*name, "outer");
            });
        }
        assert!(
            numbers[..10]
                .iter()
                .enumerate()
                .all(|(i, &n)| n == i as u32 + 1)
        );
        assert!(
            numbers[10..]
                .iter()
                .enumerate()
                .all(|(i, &n)| n == i as u32 + 10)
        );
    });
}

#[test]
fn an_outer_collection_grows_safely_around_inner_scopes() {
    // The shape of GHSA-xhx6-q96x-pf9c, in the form Rust lets you write: the outer vector
    // is the most recent block when the inner scope opens, and grows in place right after
    // it ends. Nothing the inner scope wrote may show up in it, and its later growth must
    // not be overwritten by the next scope.
    let mut arena = Arena::new();
    arena.scope(|outer| {
        let mut expected = std::vec::Vec::new();
        for round in 0..50u8 {
            {
                let mut v: Vec<u8, _> = Vec::new_in(&*outer);
                v.extend_from_slice(&expected);
                for _ in 0..(round as usize * 37) {
                    v.reserve_exact(1);
                    v.push(round);
                }
                expected = v.to_vec();
                let copy = outer.alloc_slice_copy(&v); // lives for the whole outer scope
                drop(v);
                outer.scope(|inner| {
                    inner.alloc_slice_fill_with(4096, |_| 0xAAu8);
                });
                assert_eq!(&copy[..], &expected[..], "round {round}");
            }
        }
    });
}

#[test]
fn scopes_nest_and_each_gives_back_exactly_its_bytes() {
    let mut arena = Arena::new();
    arena.alloc(1u64);
    let base = arena.used_bytes();
    arena.scope(|a| {
        a.alloc([0u8; 100]);
        let in_a = a.used_bytes();
        a.scope(|b| {
            b.alloc([0u8; 10_000]); // needs a new chunk
            let in_b = b.used_bytes();
            b.scope(|c| {
                c.alloc_slice_fill_with(100_000, |i| i as u8); // a dedicated chunk
            });
            assert_eq!(b.used_bytes(), in_b);
        });
        assert_eq!(a.used_bytes(), in_a);
    });
    assert_eq!(arena.used_bytes(), base);
}

#[test]
fn chunks_released_by_a_scope_are_reused() {
    let mut arena = Arena::new_in(Counting::new(Global));
    let work = |arena: &mut Arena<Counting<Global>>| {
        arena.scope(|s| {
            let mut v = Vec::new_in(&*s);
            for i in 0..50_000u32 {
                v.push(i);
            }
            s.alloc_slice_fill_with(300_000, |i| i as u8); // a dedicated chunk
            v.len()
        })
    };
    work(&mut arena);
    let first = arena.backing().stats();
    let reserved = arena.reserved_bytes();
    for _ in 0..5 {
        assert_eq!(work(&mut arena), 50_000);
    }
    let later = arena.backing().stats();
    assert_eq!(
        later.allocations, first.allocations,
        "no new chunks after the first round"
    );
    assert_eq!(later.deallocations, first.deallocations);
    assert_eq!(arena.reserved_bytes(), reserved);
    assert_eq!(arena.used_bytes(), 0);
}

#[test]
fn a_panic_inside_a_scope_still_rewinds_the_arena() {
    let mut arena = Arena::new();
    arena.alloc(5u8);
    let before = arena.used_bytes();
    let result = catch_unwind(AssertUnwindSafe(|| {
        arena.scope(|s| {
            s.alloc([1u8; 5000]);
            s.scope(|_| panic!("boom"));
        })
    }));
    assert!(result.is_err());
    assert_eq!(arena.used_bytes(), before);
    assert_eq!(*arena.alloc(9u8), 9, "the arena still works");
}

#[test]
fn ten_bytes_then_a_megabyte_then_ten_bytes_reserves_under_1_3_mb() {
    let arena = Arena::new();
    arena.alloc([0u8; 10]);
    arena.alloc_slice_fill_with(1 << 20, |_| 0u8);
    arena.alloc([0u8; 10]);
    let reserved = arena.reserved_bytes();
    println!("10 B + 1 MB + 10 B reserves {reserved} bytes");
    assert!(reserved <= 1_300_000, "reserved {reserved} bytes");
    // bumpalo, for comparison (a count, not a time).
    let bump = bumpalo::Bump::new();
    bump.alloc([0u8; 10]);
    bump.alloc_slice_fill_with(1 << 20, |_| 0u8);
    bump.alloc([0u8; 10]);
    println!("bumpalo reserves {} bytes", bump.allocated_bytes());
}

#[test]
fn reset_in_a_loop_reaches_zero_backing_calls() {
    let mut arena = Arena::new_in(Counting::new(Global));
    let mut calls = Vec::new();
    for _ in 0..4 {
        let before = arena.backing().stats().calls();
        let mut v = Vec::new_in(&arena);
        v.extend(0..30_000u64);
        for i in 0..10_000u64 {
            arena.alloc(i);
        }
        drop(v);
        arena.reset();
        calls.push(arena.backing().stats().calls() - before);
    }
    assert_eq!(calls[2..], [0, 0], "backing calls per round: {calls:?}");
}

#[test]
fn a_limit_set_inside_a_scope_holds_and_survives_it() {
    let mut arena = Arena::with_capacity(64 << 10);
    arena.set_limit(Some(1000));
    arena.scope(|s| {
        assert!(s.try_alloc([0u8; 900]).is_ok());
        assert!(
            s.try_alloc([0u8; 200]).is_err(),
            "the chunk has room, the limit has not"
        );
    });
    assert!(
        arena.try_alloc([0u8; 1000]).is_ok(),
        "the scope gave its bytes back"
    );
    assert!(arena.try_alloc(1u8).is_err());
}
