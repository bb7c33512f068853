//! Unit tests of `Slab`, kept beside `slab.rs` to keep that file readable top to bottom.

use super::*;
use crate::Counting;
use alloc::vec::Vec;
use allocator_api2::alloc::Global;

fn node() -> Layout {
    Layout::new::<[u64; 8]>()
}

#[test]
fn neighbours_are_adjacent_and_slots_are_reused() {
    let slab = Slab::new_in(node(), Global);
    let a = slab.allocate(node()).unwrap().cast::<u8>();
    let b = slab.allocate(node()).unwrap().cast::<u8>();
    assert_eq!(b.as_ptr().addr() - a.as_ptr().addr(), 64);
    // SAFETY: `a` is live with layout `node()`.
    unsafe { slab.deallocate(a, node()) };
    assert_eq!(slab.allocate(node()).unwrap().cast::<u8>(), a);
    assert_eq!(slab.stats().live, 2);
}

#[test]
fn layouts_that_do_not_fit_are_refused() {
    let slab = Slab::new_in(node(), Global);
    assert!(slab.allocate(Layout::new::<[u64; 9]>()).is_err());
    assert!(
        slab.allocate(Layout::from_size_align(8, 64).unwrap())
            .is_err()
    );
    assert!(slab.allocate(Layout::new::<u32>()).is_ok(), "smaller fits");
    let p = slab.allocate(node()).unwrap().cast::<u8>();
    // SAFETY: `p` is live with layout `node()`.
    assert!(unsafe { slab.grow(p, node(), Layout::new::<[u64; 9]>()) }.is_err());
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "double free"))]
fn double_free_is_detected() {
    let slab = Slab::new_in(node(), Global);
    let [p, q, _keep] = [(); 3].map(|_| slab.allocate(node()).unwrap().cast::<u8>());
    // SAFETY: the first frees are valid; then `p` (on the free list) and `q` (the top)
    // are freed again, the misuse under test, which the slab detects from its links
    // without touching the slots.
    unsafe {
        slab.deallocate(p, node());
        slab.deallocate(q, node());
        slab.deallocate(p, node());
        slab.deallocate(q, node());
    }
    // Release builds ignore them: each slot is free exactly once.
    assert_eq!(slab.stats().live, 1);
    let [r, s] = [(); 2].map(|_| slab.allocate(node()).unwrap().cast::<u8>());
    assert_eq!((r, s), (q, p));
}

#[test]
#[cfg_attr(debug_assertions, should_panic(expected = "not the start of a slot"))]
fn interior_pointer_free_is_detected() {
    let slab = Slab::new_in(node(), Global);
    let p = slab.allocate(node()).unwrap().cast::<u8>();
    // SAFETY: deliberately misused; the slab checks the offset before touching state.
    unsafe { slab.deallocate(p.add(8), node()) };
    assert_eq!(slab.stats().live, 1);
}

#[test]
fn empty_slabs_beyond_the_reserve_go_back() {
    let slab = Slab::new_in(node(), Counting::new(Global));
    let n = 3 * slab.stats().slots_per_slab.max(1) * 4;
    let blocks: Vec<_> = (0..n).map(|_| slab.allocate(node()).unwrap()).collect();
    assert!(slab.stats().slabs >= 3);
    for b in blocks {
        // SAFETY: each block is live with layout `node()`.
        unsafe { slab.deallocate(b.cast(), node()) };
    }
    let s = slab.stats();
    assert_eq!((s.slabs, s.live), (EMPTY_RESERVE, 0));
    assert_eq!(slab.reserved_bytes(), EMPTY_RESERVE * 512 * 64);
}

#[test]
fn slot_index_by_reciprocal_is_exact() {
    // Every stride up to 300 and a sample above, at each offset the fast path may ask
    // about: all of a slab's, or only 0 of a one-slot slab's (`span == 1`).
    let strides = (2..=300)
        .chain((301..=65_536).step_by(97))
        .chain([4096, 32_768]);
    let (every, step) = if cfg!(miri) { (37, 997) } else { (1, 1) };
    for stride in strides.step_by(every).chain([(1 << 33) + 8]) {
        let mut slab = Slab::new_in(Layout::from_size_align(stride, 1).unwrap(), Global);
        let core = slab.core.get_mut();
        let span = if core.slots == 1 {
            1
        } else {
            stride * core.slots
        };
        for n in (0..span).step_by(step).chain([span - 1]) {
            let (slot, start) = core.slot_of(n);
            assert_eq!(start == LIVE, n % stride == 0, "{n} / {stride}");
            assert!(start == 0 || (start == LIVE && slot == n / stride));
        }
    }
}

impl Core {
    /// Checks the invariants of the table, the metadata blocks and the available list.
    fn check(&self) {
        let (mut empty, mut listed) = (0, 0);
        let table = self.table.as_slice();
        assert!(table.windows(2).all(|w| w[0].base < w[1].base), "sorted");
        for e in table {
            // SAFETY: every entry's block is live (invariant), and only read here.
            let m = unsafe { &*e.meta.as_ptr() };
            let current = e.meta.as_ptr() == self.cur;
            let (mut free, mut slot) = (0, if current { self.head } else { m.head });
            while slot != END {
                // SAFETY: a list holds slot indices below `slots`.
                slot = unsafe { *links(e.meta).add(slot as usize) };
                free += 1;
                assert!(free <= self.slots, "no cycle");
            }
            // SAFETY: the link array has `slots` entries.
            let links = unsafe { core::slice::from_raw_parts(links(e.meta), self.slots) };
            let live = links.iter().filter(|&&l| l == LIVE).count();
            assert_eq!(
                (m.base, live),
                (e.base, self.slots - free),
                "the top stays LIVE"
            );
            if !current {
                assert_eq!(m.free, free);
                empty += usize::from(free == self.slots);
                listed += usize::from(free > 0);
            }
        }
        assert_eq!(self.empty, empty);
        assert!(self.empty < EMPTY_RESERVE);
        // The available list holds the `listed` slabs, partial ones before empty ones.
        let (mut n, mut m, mut seen_empty) = (0, self.ends[FRONT], false);
        while let Some(meta) = NonNull::new(m) {
            // SAFETY: listed blocks are live (invariant).
            let meta = unsafe { &*meta.as_ptr() };
            assert!(meta.free > 0 && m != self.cur);
            assert!(
                !seen_empty || meta.free == self.slots,
                "partial before empty"
            );
            seen_empty |= meta.free == self.slots;
            (n, m) = (n + 1, meta.near[BACK]);
        }
        assert_eq!(n, listed);
    }
}

#[test]
fn many_slabs_against_a_model() {
    let big = Layout::new::<[u64; 512]>(); // 4 KiB: 16 slots per slab
    let slab = Slab::new_in(big, Counting::new(Global));
    let (mut live, mut x) = (Vec::<(NonNull<u64>, u64)>::new(), 0x9E37_79B9_7F4A_7C15u64);
    for step in 0..if cfg!(miri) { 400 } else { 20_000 } {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Waves of 150 steps: 3 in 4 allocations, then 3 in 4 frees.
        if live.is_empty() || ((step / 150) % 2 == 0) == (x % 4 != 0) {
            let p = slab.allocate(big).unwrap().cast::<u64>();
            // SAFETY: a fresh 4 KiB block.
            unsafe { p.write(x) };
            live.push((p, x));
        } else {
            let (p, tag) = live.swap_remove(x as usize % live.len());
            // SAFETY: `p` is live, was written with `tag`, and has layout `big`.
            unsafe {
                assert_eq!(p.read(), tag, "block intact");
                slab.deallocate(p.cast(), big);
            }
        }
        // SAFETY: a short shared borrow; no allocator method is running.
        unsafe { (*slab.core.get()).check() };
        assert_eq!(slab.stats().live, live.len());
    }
    for (p, _) in live {
        // SAFETY: `p` is live with layout `big`.
        unsafe { slab.deallocate(p.cast(), big) };
    }
    // The reserve is left: four slabs, their metadata blocks, and the table.
    let held = slab.backing.stats().allocations - slab.backing.stats().deallocations;
    assert_eq!(
        (slab.stats().slabs, held),
        (EMPTY_RESERVE, 2 * EMPTY_RESERVE + 1)
    );
}

#[test]
fn one_byte_objects_get_two_byte_slots() {
    let slab = Slab::new_in(Layout::new::<u8>(), Global);
    let [a, b] = [(); 2].map(|_| slab.allocate(Layout::new::<u8>()).unwrap().cast::<u8>());
    assert_eq!(
        (
            b.as_ptr().addr() - a.as_ptr().addr(),
            slab.stats().slot_size
        ),
        (2, 2)
    );
}

#[test]
fn zero_size_objects() {
    let slab = Slab::new_in(Layout::new::<()>(), Global);
    let p = slab.allocate(Layout::new::<()>()).unwrap();
    assert_eq!(p.len(), 0);
    assert!(slab.allocate(Layout::new::<u8>()).is_err());
}

/// `Owns` finds every block of every slab (the current one by its range, older ones by
/// the table), and no block of another allocator, even one right after a slab.
#[test]
fn owns_exactly_its_slots() {
    use crate::Owns;
    let l = Layout::new::<[u64; 8]>();
    let slab = Slab::new_in(l, Global);
    let mut blocks = alloc::vec![slab.allocate(l).unwrap().cast::<u8>()];
    let per_slab = slab.stats().slots_per_slab;
    blocks.extend((0..3 * per_slab).map(|_| slab.allocate(l).unwrap().cast::<u8>()));
    assert_eq!(slab.stats().slabs, 4);
    assert!(blocks.iter().all(|&p| slab.owns(p, l)));
    let others: Vec<_> = (0..64)
        .map(|_| Global.allocate(l).unwrap().cast::<u8>())
        .collect();
    assert!(others.iter().all(|&p| !slab.owns(p, l)));
    for p in others {
        // SAFETY: allocated from `Global` with `l` just above.
        unsafe { Global.deallocate(p, l) };
    }
    for p in blocks {
        // SAFETY: live slots of `slab`.
        unsafe { slab.deallocate(p, l) };
    }
}
