//! Real collections on every strategy: `Vec` and `Box` (allocator-api2's, which are std's
//! own with the `nightly` feature), `hashbrown::HashMap`, and with `nightly` std's
//! `LinkedList`, `VecDeque` and `BTreeMap` and boxed trait objects, each doing real work
//! checked against a model on the global allocator.
#![cfg_attr(feature = "nightly", feature(allocator_api, btreemap_alloc))]

#[macro_use]
mod common;

use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use allockit::Allocator;
use common::{Case, scaled};

/// A small deterministic xorshift generator, so every run sees the same keys.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `Vec`: push, sort, retain, shrink_to_fit, extend, clone, and vectors of vectors.
struct StdVec;
impl Case for StdVec {
    fn run<A: Allocator>(a: &A) {
        let n = scaled(10_000);
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let mut v = Vec::new_in(a);
        let mut model = Vec::new();
        for _ in 0..n {
            let x = rng.next() % 1000;
            v.push(x);
            model.push(x);
        }
        v.sort_unstable();
        model.sort_unstable();
        assert_eq!(v[..], model[..]);
        v.retain(|x| x % 3 == 0);
        model.retain(|x| x % 3 == 0);
        v.shrink_to_fit();
        assert!(v.capacity() >= v.len());
        assert_eq!(v[..], model[..], "after retain and shrink_to_fit");
        v.extend(1000..1100);
        v.extend_from_slice(&[7, 8, 9]);
        model.extend(1000..1100);
        model.extend_from_slice(&[7, 8, 9]);
        assert_eq!(v[..], model[..], "after extend");
        let copy = v.clone();
        v.truncate(10);
        assert_eq!(copy[..], model[..], "the clone is independent");

        // Vectors of vectors and of owning elements, all in `a`.
        let mut rows = Vec::new_in(a);
        for r in 0..scaled(100) {
            let mut row = Vec::with_capacity_in(r % 7, a);
            row.extend((0..r as u32).map(|i| i * 2));
            rows.push(row);
        }
        let total: u64 = rows.iter().flatten().map(|&x| u64::from(x)).sum();
        let m = scaled(100) as u64;
        assert_eq!(total, (0..m).map(|r| r * r.saturating_sub(1)).sum::<u64>());
        let mut names = Vec::new_in(a);
        names.extend((0..scaled(50)).map(|i| format!("name{i}")));
        names.sort();
        assert_eq!(names[0], "name0");
        assert!(names.windows(2).all(|w| w[0] <= w[1]));
    }
}

/// `Box`: plain values, a large array, a boxed slice, trait objects and `dyn Any`.
struct Boxes;
impl Case for Boxes {
    fn run<A: Allocator>(a: &A) {
        let b = Box::new_in(41u64, a);
        assert_eq!(*b + 1, 42);
        let c = b.clone();
        assert_eq!(*c, 41);
        let _unit: Box<(), &A> = Box::new_in((), a);

        let big = Box::new_in(core::array::from_fn::<u64, 4096, _>(|i| i as u64 * 3), a);
        assert_eq!(big.iter().sum::<u64>(), 3 * 4095 * 4096 / 2);

        let mut v = Vec::with_capacity_in(100, a);
        v.extend(0..100u32);
        let slice: Box<[u32], &A> = v.into_boxed_slice();
        assert_eq!(slice.len(), 100);
        assert_eq!(slice[99], 99);

        // Unsizing a `Box<T, A>` to a trait object needs `CoerceUnsized`, a nightly trait.
        #[cfg(feature = "nightly")]
        trait_objects(a);
    }
}

/// Boxed closures and `dyn Any` in `a`, in std's `Box`.
#[cfg(feature = "nightly")]
fn trait_objects<A: Allocator>(a: &A) {
    use std::any::Any;
    use std::boxed::Box;
    use std::vec::Vec;

    use std_collections::Core;
    let a = &Core(a);
    type Fun<'a, A> = Box<dyn Fn(u32) -> u32, &'a Core<'a, A>>;

    let captured = [1u32, 2, 3, 4, 5, 6, 7, 8];
    let f: Box<dyn Fn() -> u32, &Core<A>> = Box::new_in(move || captured.iter().sum(), a);
    assert_eq!(f(), 36);
    let mut fns: Vec<Fun<A>, &Core<A>> = Vec::new_in(a);
    for k in 0..scaled(20) as u32 {
        fns.push(Box::new_in(move |x| x * k + 1, a));
    }
    let k = scaled(20) as u32;
    assert_eq!(
        fns.iter().map(|f| f(2)).sum::<u32>(),
        k * k,
        "sum of 2k + 1"
    );

    let any: Box<dyn Any, &Core<A>> = Box::new_in(String::from("boxed"), a);
    let any = any.downcast::<u32>().expect_err("not a u32");
    let s = any.downcast::<String>().expect("a String");
    assert_eq!(*s, "boxed");
}

/// std's own collections, which take an allocator only on nightly.
#[cfg(feature = "nightly")]
mod std_collections {
    use super::*;
    use allockit::{AllocError, Layout};
    use core::ptr::NonNull;
    use std::collections::{BTreeMap, LinkedList, VecDeque};

    /// `core::alloc::Allocator` for a borrowed strategy. Every strategy implements the
    /// nightly trait itself with the `nightly` feature (proved on the concrete types by
    /// `std_collections_on_concrete_types` below), but `Case::run`'s generic `A` promises
    /// only allocator-api2's trait, so the generic cases reach std's collections through
    /// this adapter. That keeps one strategy list (`for_each_strategy!`).
    pub(super) struct Core<'a, A>(pub(super) &'a A);

    impl<A> Clone for Core<'_, A> {
        fn clone(&self) -> Self {
            *self
        }
    }
    impl<A> Copy for Core<'_, A> {}

    // SAFETY: every method forwards to `A`'s allocator-api2 impl, whose contract is the
    // same; only the error type is translated. The adapter holds a shared reference, so
    // it denotes exactly the allocator it borrows, and blocks stay valid as long as that
    // allocator does, which outlives `'a`.
    unsafe impl<A: Allocator> core::alloc::Allocator for Core<'_, A> {
        fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, core::alloc::AllocError> {
            self.0
                .allocate(layout)
                .map_err(|AllocError| core::alloc::AllocError)
        }

        unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
            // SAFETY: forwarded from the caller; the contract is the same.
            unsafe { self.0.deallocate(ptr, layout) }
        }

        unsafe fn grow(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, core::alloc::AllocError> {
            // SAFETY: forwarded from the caller; the contract is the same.
            unsafe { self.0.grow(ptr, old, new) }.map_err(|AllocError| core::alloc::AllocError)
        }

        unsafe fn shrink(
            &self,
            ptr: NonNull<u8>,
            old: Layout,
            new: Layout,
        ) -> Result<NonNull<[u8]>, core::alloc::AllocError> {
            // SAFETY: forwarded from the caller; the contract is the same.
            unsafe { self.0.shrink(ptr, old, new) }.map_err(|AllocError| core::alloc::AllocError)
        }
    }

    /// `LinkedList`: pushes and pops at both ends, iteration, split and rejoin.
    struct List;
    impl Case for List {
        fn run<A: Allocator>(a: &A) {
            let n = scaled(2000) as u64;
            let mut list = LinkedList::new_in(Core(a));
            let mut model = VecDeque::new();
            for i in 0..n {
                if i % 2 == 0 {
                    list.push_back(i);
                    model.push_back(i);
                } else {
                    list.push_front(i);
                    model.push_front(i);
                }
            }
            for _ in 0..n / 4 {
                assert_eq!(list.pop_front(), model.pop_front());
                assert_eq!(list.pop_back(), model.pop_back());
            }
            assert!(list.iter().eq(model.iter()));
            assert_eq!(list.iter().sum::<u64>(), model.iter().sum::<u64>());
            for x in list.iter_mut() {
                *x *= 2;
            }
            let half = list.len() / 2;
            let tail = list.split_off(half);
            assert_eq!(list.len() + tail.len(), model.len());
            assert_eq!(tail.front(), model.get(half).map(|x| x * 2).as_ref());
            list.extend(tail);
            list.extend([1u64, 2, 3]);
            assert_eq!(list.len(), model.len() + 3);
            let doubled: u64 = model.iter().map(|x| x * 2).sum();
            assert_eq!(list.iter().sum::<u64>(), doubled + 6);
            assert_eq!(list.back(), Some(&3));
        }
    }

    /// `VecDeque`: a bounded ring that wraps around many times without growing, then rotates.
    struct Ring;
    impl Case for Ring {
        fn run<A: Allocator>(a: &A) {
            let mut ring = VecDeque::with_capacity_in(16, Core(a));
            let cap = ring.capacity();
            let window = 10u64;
            let n = scaled(5000) as u64;
            for i in 0..n {
                ring.push_back(i);
                if ring.len() as u64 > window {
                    assert_eq!(ring.pop_front(), Some(i - window));
                }
            }
            assert_eq!(ring.capacity(), cap, "a bounded ring never grows");
            assert!(ring.iter().copied().eq(n - window..n));
            let (front, back) = ring.as_slices();
            assert_eq!(front.len() + back.len(), window as usize);

            ring.rotate_left(3);
            let expected: Vec<u64> = (n - window + 3..n)
                .chain(n - window..n - window + 3)
                .collect();
            assert!(ring.iter().eq(expected.iter()));
            ring.rotate_right(3);
            assert!(ring.iter().copied().eq(n - window..n));
            for i in 0..window {
                ring.push_front(i);
                ring.pop_back();
            }
            assert!(ring.iter().copied().eq((0..window).rev()));
            assert_eq!(ring.make_contiguous().len(), window as usize);

            // And one that does grow, with both ends in use.
            let mut grow = VecDeque::new_in(Core(a));
            for i in 0..scaled(3000) as i64 {
                grow.push_back(i);
                grow.push_front(-i);
            }
            assert_eq!(grow.iter().sum::<i64>(), 0);
            assert_eq!(grow.front(), Some(&-(scaled(3000) as i64 - 1)));
        }
    }

    /// `BTreeMap`: pseudo-random inserts, half removed, range queries, against a sorted `Vec`.
    struct Tree;
    impl Case for Tree {
        fn run<A: Allocator>(a: &A) {
            let n = scaled(5000);
            let mut rng = Rng(12345);
            let mut map = BTreeMap::new_in(Core(a));
            let mut model = Vec::new();
            for i in 0..n as u64 {
                let k = rng.next() % (4 * n as u64);
                map.insert(k, i);
                model.push((k, i));
            }
            // Sort by key (stably) and keep the last value of each key, as the map does.
            model.sort_by_key(|&(k, _)| k);
            model.dedup_by(|later, kept| {
                let same = later.0 == kept.0;
                if same {
                    kept.1 = later.1;
                }
                same
            });
            assert_eq!(map.len(), model.len());
            assert!(map.iter().map(|(&k, &v)| (k, v)).eq(model.iter().copied()));

            let (gone, kept): (Vec<_>, Vec<_>) =
                model.iter().enumerate().partition(|(i, _)| i % 2 == 0);
            for (_, &(k, v)) in gone {
                assert_eq!(map.remove(&k), Some(v));
            }
            let model: Vec<(u64, u64)> = kept.into_iter().map(|(_, &kv)| kv).collect();
            assert_eq!(map.len(), model.len());
            assert!(map.iter().map(|(&k, &v)| (k, v)).eq(model.iter().copied()));

            for (lo, hi) in [
                (0, n as u64),
                (n as u64, 3 * n as u64),
                (17, 18),
                (0, u64::MAX),
            ] {
                let got = map.range(lo..hi).map(|(&k, &v)| (k, v));
                let want = model
                    .iter()
                    .copied()
                    .filter(|&(k, _)| (lo..hi).contains(&k));
                assert!(got.eq(want), "range {lo}..{hi}");
            }
            assert_eq!(
                map.first_key_value().map(|(&k, _)| k),
                model.first().map(|kv| kv.0)
            );
            assert_eq!(
                map.last_key_value().map(|(&k, _)| k),
                model.last().map(|kv| kv.0)
            );
        }
    }

    for_each_strategy!(
        slab: false;
        linked_list => List,
        vec_deque => Ring,
        btree_map => Tree,
    );
}

/// `allocator_api2::vec::Vec`: push, extend, drain.
struct Api2Vec;
impl Case for Api2Vec {
    fn run<A: Allocator>(a: &A) {
        let n = scaled(5000) as u32;
        let mut v = allocator_api2::vec::Vec::new_in(a);
        for i in 0..n {
            v.push(i);
        }
        v.extend(n..2 * n);
        v.extend_from_slice(&[7, 7, 7]);
        assert_eq!(v.len(), 2 * n as usize + 3);
        let drained: Vec<u32> = v.drain(10..20).collect();
        assert_eq!(drained, (10..20).collect::<Vec<_>>());
        assert_eq!(v.len(), 2 * n as usize + 3 - 10);
        assert_eq!(v[9..12], [9, 20, 21]);
        let tail: Vec<u32> = v.drain(v.len() - 3..).collect();
        assert_eq!(tail, [7, 7, 7]);
        assert!(v.iter().copied().eq((0..10).chain(20..2 * n)));
        v.shrink_to_fit();
        v.clear();
        assert!(v.is_empty());
    }
}

/// `hashbrown::HashMap`: insert, get, remove and iterate, against a std `HashMap`.
struct HashbrownMap;
impl Case for HashbrownMap {
    fn run<A: Allocator>(a: &A) {
        let n = scaled(10_000) as u64;
        let mut rng = Rng(777);
        let mut map = hashbrown::HashMap::new_in(a);
        let mut model = std::collections::HashMap::new();
        for i in 0..n {
            let k = rng.next() % (2 * n);
            assert_eq!(map.insert(k, i), model.insert(k, i));
        }
        assert_eq!(map.len(), model.len());
        for k in 0..2 * n {
            assert_eq!(map.get(&k), model.get(&k));
        }
        for k in (0..2 * n).step_by(3) {
            assert_eq!(map.remove(&k), model.remove(&k));
        }
        let mut got: Vec<(u64, u64)> = map.iter().map(|(&k, &v)| (k, v)).collect();
        let mut want: Vec<(u64, u64)> = model.iter().map(|(&k, &v)| (k, v)).collect();
        got.sort_unstable();
        want.sort_unstable();
        assert_eq!(got, want);
        map.shrink_to_fit();
        assert_eq!(map.len(), model.len());
        *map.entry(u64::MAX).or_insert(0) += 5;
        assert_eq!(map[&u64::MAX], 5);
    }
}

for_each_strategy!(
    slab: false;
    std_vec => StdVec,
    boxes => Boxes,
    api2_vec => Api2Vec,
    hashbrown_map => HashbrownMap,
);

/// The concrete types implement the allocator-api2 mirror themselves: no adapter needed.
#[test]
fn concrete_types() {
    use allockit::{Arena, Counting, FixedBuffer, Pages};

    let arena = Arena::new();
    let mut m = hashbrown::HashMap::new_in(&arena);
    m.insert(arena.alloc_str("key"), 1);
    assert_eq!(m["key"], 1);

    let mut scoped = Arena::new();
    let len = scoped.scope(|s| {
        let mut m = hashbrown::HashMap::new_in(&*s);
        m.extend((0..100).map(|i| (i, i * i)));
        m.len()
    });
    assert_eq!(len, 100);
    assert_eq!(scoped.used_bytes(), 0);

    let mut bytes = [core::mem::MaybeUninit::uninit(); 4096];
    let fixed_buffer = FixedBuffer::new(&mut bytes);
    let mut v = allocator_api2::vec::Vec::new_in(&fixed_buffer);
    v.extend(0..100u32);
    assert_eq!(fixed_buffer.used(), v.capacity() * 4);
    drop(v);

    let mut v = Vec::new_in(&Pages);
    v.extend_from_slice(b"pages");
    assert_eq!(v, b"pages");

    let counting = Counting::new(Pages);
    let mut set = hashbrown::HashSet::new_in(&counting);
    set.extend(0..10u8);
    assert!(counting.stats().allocations >= 1);
    drop(set);
    assert_eq!(counting.stats().live_bytes, 0);
}

/// With `nightly`, the concrete types are allocators of std's own collections: no adapter.
#[cfg(feature = "nightly")]
#[test]
fn std_collections_on_concrete_types() {
    use allockit::{Arena, FreeList, Layout, Pages, SizeClasses, Slab, ThreadCache};
    use std::collections::{BTreeMap, LinkedList};

    let arena = Arena::new();
    let mut v = std::vec::Vec::new_in(&arena);
    v.extend(0..100u32);
    let b = std::boxed::Box::new_in(7u64, &arena);
    assert_eq!(v.len() as u64 + *b, 107);

    let slab = Slab::new(Layout::new::<[u64; 4]>());
    let mut list = LinkedList::new_in(&slab);
    list.extend(0..50u64);
    assert_eq!(list.iter().sum::<u64>(), 49 * 50 / 2);

    let heap = SizeClasses::new_in(Pages);
    let mut map = BTreeMap::new_in(&heap);
    map.extend((0..200u32).map(|i| (i, i * 2)));
    assert_eq!(map[&199], 398);

    let free_list = FreeList::new();
    let v = std::vec::Vec::<u8, _>::with_capacity_in(1000, &free_list);
    assert!(v.capacity() >= 1000);
    let mut s = std::vec::Vec::new_in(ThreadCache::new());
    s.extend(0..10u8);
    assert_eq!(s.len(), 10);
}
