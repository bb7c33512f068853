//! The typed methods of `BumpAlloc`, written once and run on an `Arena`, inside a `Scope`
//! and on a `FixedBuffer`: contents, lengths, in-place growth of `alloc_iter`, the room
//! given back by a failed `alloc_try_with`, panic safety, and that nothing is dropped.

use std::cell::Cell;
use std::mem::MaybeUninit;
use std::panic::{AssertUnwindSafe, catch_unwind};

use allockit::{AllocOrInitError, Arena, BumpAlloc, FixedBuffer};

/// A value that is `Clone` but not `Copy`, and owns no heap memory (arena values are
/// never dropped, so a `String` here would leak its buffer, which Miri reports).
#[derive(Clone, Debug, PartialEq)]
struct Tag(u32);

/// Every typed method once, through the trait, with its result checked.
fn every_method<'a>(a: impl BumpAlloc<'a>) {
    assert_eq!(*a.alloc(5u8), 5);
    assert_eq!(*a.try_alloc(6u16).unwrap(), 6);
    assert_eq!(a.alloc_with(|| [3u32; 100])[99], 3);
    assert_eq!(a.try_alloc_with(|| 1.5f64).unwrap(), &1.5);
    assert_eq!(*a.alloc_try_with(|| "12".parse::<u8>()).unwrap(), 12);
    assert!(a.alloc_try_with(|| "x".parse::<u8>()).is_err());
    assert!(matches!(
        a.try_alloc_try_with(|| Err::<u8, _>("no")),
        Err(AllocOrInitError::Init("no"))
    ));
    assert_eq!(a.alloc_slice_copy(&[1, 2, 3]), [1, 2, 3]);
    assert_eq!(a.try_alloc_slice_copy(b"xy").unwrap(), b"xy");
    let owned = [Tag(1), Tag(2)];
    assert_eq!(a.alloc_slice_clone(&owned), [Tag(1), Tag(2)]);
    assert_eq!(a.try_alloc_slice_clone(&owned).unwrap()[1], Tag(2));
    assert_eq!(a.alloc_str("hé"), "hé");
    assert_eq!(a.try_alloc_str("").unwrap(), "");
    assert_eq!(a.alloc_slice_fill_with(4, |i| i * 3), [0, 3, 6, 9]);
    assert_eq!(a.alloc_slice_fill_copy(3, 7u8), [7, 7, 7]);
    assert_eq!(a.try_alloc_slice_fill_copy(0, 7u8).unwrap(), []);
    assert_eq!(a.alloc_slice_fill_clone(2, &Tag(7)), [Tag(7), Tag(7)]);
    assert_eq!(a.alloc_slice_fill_default::<u16>(3), [0, 0, 0]);
    assert_eq!(
        a.try_alloc_slice_fill_default::<bool>(2).unwrap(),
        [false; 2]
    );
    assert_eq!(a.alloc_slice_fill_iter([1u8, 2].into_iter()), [1, 2]);
    assert_eq!(a.alloc_iter((0..10).filter(|x| x % 3 == 0)), [0, 3, 6, 9]);
    assert_eq!(a.try_alloc_iter(std::iter::empty::<u64>()).unwrap(), []);
    assert_eq!(a.alloc_iter(std::iter::repeat_n((), 1000)).len(), 1000);
    let x = 41;
    assert_eq!(a.alloc_fmt(format_args!("{}-{x}", x + 1)), "42-41");
    assert_eq!(a.try_alloc_fmt(format_args!("plain")).unwrap(), "plain");
    // Impossible sizes are errors, not panics, in the `try_` forms.
    assert!(a.try_alloc_slice_fill_with(usize::MAX, |_| 0u64).is_err());
    assert!(a.try_alloc_slice_fill_copy(usize::MAX / 2, 0u32).is_err());
    assert!(a.try_alloc_slice_fill_default::<u64>(usize::MAX).is_err());
}

#[test]
fn every_method_on_an_arena_a_scope_and_a_fixed_buffer() {
    let mut arena = Arena::new();
    every_method(&arena);
    arena.scope(|s| every_method(&*s));
    let mut space = vec![MaybeUninit::uninit(); 64 << 10];
    every_method(&FixedBuffer::new(&mut space));
}

#[test]
fn alloc_iter_grows_its_block_in_place() {
    let arena = Arena::with_capacity(1 << 20);
    // No useful size hint: the block starts small and doubles many times.
    let v = arena.alloc_iter((0..10_000u64).filter(|_| true));
    assert_eq!(v.len(), 10_000);
    assert!(v.iter().copied().eq(0..10_000));
    // Every grow was in place and the final shrink gave the rest back: the arena holds
    // exactly the slice, nothing left behind by a move.
    assert_eq!(arena.used_bytes(), 80_000);
}

#[test]
fn alloc_iter_is_right_when_the_iterator_allocates_from_the_same_arena() {
    let arena = Arena::new();
    let (a, b) = (&arena, &arena);
    let refs = a.alloc_iter((0..5000u32).map(|i| &*b.alloc(i)));
    assert!(refs.iter().map(|r| **r).eq(0..5000));
}

#[test]
fn fill_iter_trusts_no_iterator_length() {
    /// Claims five items, yields three.
    struct Liar(u8);
    impl Iterator for Liar {
        type Item = u8;
        fn next(&mut self) -> Option<u8> {
            (self.0 < 3).then(|| {
                self.0 += 1;
                self.0
            })
        }
    }
    impl ExactSizeIterator for Liar {
        fn len(&self) -> usize {
            5
        }
    }
    let arena = Arena::new();
    assert_eq!(arena.alloc_slice_fill_iter(Liar(0)), [1, 2, 3]);
}

#[test]
fn alloc_iter_survives_an_iterator_that_overstates_its_length() {
    /// Claims at least `usize::MAX / 2` items, yields three.
    struct Boaster(u8);
    impl Iterator for Boaster {
        type Item = u64;
        fn next(&mut self) -> Option<u64> {
            (self.0 < 3).then(|| {
                self.0 += 1;
                u64::from(self.0)
            })
        }
        fn size_hint(&self) -> (usize, Option<usize>) {
            (usize::MAX / 2, None)
        }
    }
    let arena = Arena::new();
    assert_eq!(arena.alloc_iter(Boaster(0)), [1, 2, 3]);
    let mut space = [MaybeUninit::uninit(); 256];
    let buf = FixedBuffer::new(&mut space);
    assert_eq!((&buf).try_alloc_iter(Boaster(0)).unwrap(), [1, 2, 3]);
}

#[test]
fn a_failed_alloc_try_with_gives_its_room_back() {
    let arena = Arena::new();
    arena.alloc(1u64);
    let before = arena.used_bytes();
    assert!(arena.alloc_try_with(|| Err::<[u8; 512], ()>(())).is_err());
    assert_eq!(arena.used_bytes(), before);
}

#[test]
fn nothing_allocated_is_ever_dropped() {
    thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });
    struct Counted;
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.with(|d| d.set(d.get() + 1));
        }
    }
    let mut arena = Arena::new();
    arena.alloc(Counted);
    arena.alloc_slice_fill_with(10, |_| Counted);
    arena.alloc_iter((0..10).map(|_| Counted));
    arena.scope(|s| {
        s.alloc(Counted);
    });
    arena.reset();
    drop(arena);
    assert_eq!(DROPS.with(Cell::get), 0, "as in bumpalo: Drop never runs");
    // The alternative that does run it: a Box in the arena.
    let arena = Arena::new();
    drop(allocator_api2::boxed::Box::new_in(Counted, &arena));
    assert_eq!(DROPS.with(Cell::get), 1);
}

#[test]
fn a_panicking_iterator_or_initialiser_drops_nothing_twice() {
    thread_local!(static DROPS: Cell<usize> = const { Cell::new(0) });
    /// Not zero-sized, so the values really are stored.
    struct Counted(#[allow(dead_code)] u64);
    impl Drop for Counted {
        fn drop(&mut self) {
            DROPS.with(|d| d.set(d.get() + 1));
        }
    }
    let arena = Arena::new();
    let r = catch_unwind(AssertUnwindSafe(|| {
        arena.alloc_iter((0..100).map(|i| if i == 50 { panic!("boom") } else { Counted(i) }))
    }));
    assert!(r.is_err());
    let r = catch_unwind(AssertUnwindSafe(|| {
        arena.alloc_slice_fill_with(100, |i| {
            if i == 50 {
                panic!("boom")
            } else {
                Counted(i as u64)
            }
        })
    }));
    assert!(r.is_err());
    assert_eq!(
        DROPS.with(Cell::get),
        0,
        "made values are leaked, never dropped"
    );
    // The arena is still usable.
    assert_eq!(arena.alloc_iter(0..3u8), [0, 1, 2]);
}

#[test]
fn a_fixed_buffer_reports_exhaustion_from_every_try_method() {
    let mut space = [MaybeUninit::uninit(); 64];
    let buf = FixedBuffer::new(&mut space);
    let b = &buf;
    assert!(b.try_alloc([0u8; 65]).is_err());
    assert!(b.try_alloc_iter(0..100u64).is_err());
    assert!(b.try_alloc_fmt(format_args!("{:>100}", 1)).is_err());
    assert!(b.try_alloc_slice_fill_copy(65, 0u8).is_err());
    assert!(b.try_alloc_str(&"x".repeat(65)).is_err());
    assert!(matches!(
        b.try_alloc_try_with(|| Ok::<_, ()>([0u8; 65])),
        Err(AllocOrInitError::Alloc(_))
    ));
}

#[test]
fn an_interner_of_one_byte_strings_pays_one_byte_each_with_min_align_1() {
    // The configuration the README recommends for interners.
    let packed = Arena::<_, 1>::with_min_align();
    let default = Arena::new();
    for _ in 0..1000 {
        packed.alloc_str("x");
        default.alloc_str("x");
    }
    assert_eq!(
        packed.used_bytes(),
        1000,
        "at most 1.1 KB asked, 1,000 B used"
    );
    assert_eq!(
        default.used_bytes(),
        8000,
        "the default rounds every block to 8"
    );
    // Words in the packed arena are still aligned.
    let w = packed.alloc(7u64);
    assert_eq!(std::ptr::from_mut(w).addr() % 8, 0);
    // The same inside a scope.
    let mut arena = Arena::<_, 1>::with_min_align();
    let used = arena.scope(|s| {
        for _ in 0..1000 {
            s.alloc_str("y");
        }
        s.used_bytes()
    });
    assert_eq!((used, arena.used_bytes()), (1000, 0));
}
