//! Unit tests of [`Hardened`](super::Hardened): detection, classification, large blocks
//! and the leak list; the attack suite is `tests/hardening.rs`.

use super::*;
use allocator_api2::alloc::Global;
use core::cell::RefCell;

std::thread_local! {
    static SEEN: RefCell<Vec<Violation>> = const { RefCell::new(Vec::new()) };
}

fn record(r: &ViolationReport) {
    SEEN.with(|s| s.borrow_mut().push(r.violation));
}

fn seen() -> Vec<Violation> {
    SEEN.with(|s| core::mem::take(&mut *s.borrow_mut()))
}

fn observed<A: Allocator>(heap: &Hardened<A>) -> &Hardened<A> {
    heap.set_violation_hook(Some(record));
    heap
}

const L: Layout = Layout::new::<[u64; 4]>();

#[test]
fn round_trip_zero_size_and_stats() {
    let heap = Hardened::new(crate::SizeClasses::new());
    let p = heap.allocate(L).unwrap().cast::<u8>();
    let z = heap.allocate(Layout::new::<()>()).unwrap();
    assert_eq!(z.len(), 0);
    assert_eq!(heap.stats().live_blocks, 1);
    // SAFETY: each block is freed once with its layout.
    unsafe {
        p.as_ptr().write_bytes(0xAB, L.size());
        heap.deallocate(p, L);
        heap.deallocate(z.cast(), Layout::new::<()>());
    }
    let s = heap.stats();
    assert_eq!(
        (s.live_blocks, s.quarantined_blocks, s.quarantined_bytes),
        (0, 1, 32)
    );
    assert_eq!(heap.check(), 0);
}

#[test]
fn detects_double_free_overflow_and_write_after_free() {
    let heap = Hardened::with_options(
        Global,
        Options {
            report_leaks: false,
            ..Options::SECURE
        },
    );
    let heap = observed(&heap);
    let p = heap.allocate(L).unwrap().cast::<u8>();
    let q = heap.allocate(L).unwrap().cast::<u8>();
    // SAFETY: these are the bugs under test; the hook observes them and the heap
    // ignores the offending calls, and the writes stay inside the inner blocks
    // (which hold the canary).
    unsafe {
        heap.deallocate(p, L);
        heap.deallocate(p, L);
        q.as_ptr().add(L.size()).write(b'A');
        heap.deallocate(q, L);
        p.as_ptr().write(1);
    }
    assert_eq!(seen(), [Violation::DoubleFree, Violation::Overflow]);
    assert_eq!(heap.check(), 2, "the overflowed block stays live");
    let mut found = seen();
    found.sort_by_key(|v| v.name());
    assert_eq!(found, [Violation::Overflow, Violation::WriteAfterFree]);
}

#[test]
fn invalid_frees_are_classified() {
    let heap = Hardened::with_options(Global, Options::MINIMAL);
    let heap = observed(&heap);
    let p = heap.allocate(L).unwrap().cast::<u8>();
    let mut local = [0u64; 4];
    // SAFETY: every call but the last is a bug the hook observes and the heap ignores.
    unsafe {
        heap.deallocate(NonNull::from(&mut local).cast(), L);
        heap.deallocate(p.add(8), L);
        heap.deallocate(p.add(1), Layout::new::<u64>());
        heap.deallocate(p, Layout::new::<u64>());
        heap.deallocate(p, L);
        heap.deallocate(p, L);
    }
    assert_eq!(
        seen(),
        [
            Violation::InvalidFree,
            Violation::InteriorFree,
            Violation::UnalignedFree,
            Violation::WrongLayout,
            Violation::InvalidFree, // no quarantine: the block already went back
        ]
    );
}

#[test]
fn large_blocks_grow_and_leave() {
    let heap = Hardened::with_options(
        Global,
        Options {
            guard_pages_above: 100,
            quarantine_bytes: 1 << 16,
            ..Options::SECURE
        },
    );
    let heap = observed(&heap);
    for align in [1, 8, 4096, 4 * os::page_size()] {
        let l = Layout::from_size_align(1000 + align, align).unwrap();
        let p = heap.allocate_zeroed(l).unwrap().cast::<u8>();
        assert!(p.addr().get().is_multiple_of(align));
        // SAFETY: the block is live with layout `l`, grown once and freed once.
        unsafe {
            p.as_ptr().write_bytes(7, l.size());
            let big = Layout::from_size_align(3 * l.size(), align).unwrap();
            let q = heap.grow(p, l, big).unwrap().cast::<u8>();
            assert_eq!(*q.as_ptr().add(l.size() - 1), 7);
            heap.deallocate(q, big);
        }
    }
    assert_eq!(heap.check(), 0);
    assert!(seen().is_empty());
}

#[test]
fn leaks_are_listed() {
    let heap = Hardened::with_options(
        Global,
        Options {
            report_leaks: false,
            ..Options::SECURE
        },
    );
    let p = heap.allocate(L).unwrap();
    let leaks = heap.leaks();
    assert_eq!(leaks.len(), 1);
    assert_eq!(
        (leaks[0].addr, leaks[0].layout),
        (p.cast::<u8>().addr().get(), L)
    );
}

#[test]
fn zero_on_free_without_quarantine_clears_the_block() {
    let heap = Hardened::with_options(
        crate::SizeClasses::new(),
        Options {
            quarantine_bytes: 0,
            ..Options::SECURE
        },
    );
    let p = heap.allocate(L).unwrap().cast::<u8>();
    // SAFETY: the block is live with layout `L`, freed once; the next allocation of the
    // same class reuses it (LIFO), and every byte of it was written (zeros, then the
    // inner allocator's free-list link in the first word).
    unsafe {
        p.as_ptr().write_bytes(0xAB, L.size());
        heap.deallocate(p, L);
        let q = heap.allocate(L).unwrap().cast::<u8>();
        assert_eq!(q, p);
        let tail = core::slice::from_raw_parts(q.as_ptr().add(8), L.size() - 8);
        assert!(tail.iter().all(|&b| b == 0));
        heap.deallocate(q, L);
    }
}

/// The fast paths (canaries on, no quarantine or zeroing) check what the general path
/// checks: a corrupted canary or a wrong layout falls through to it and is reported.
#[test]
fn fast_free_path_detects_overflow_and_wrong_layout() {
    let options = Options {
        zero_on_free: false,
        quarantine_bytes: 0,
        report_leaks: false,
        ..Options::SECURE
    };
    let heap = Hardened::with_options(crate::SizeClasses::new(), options);
    let heap = observed(&heap);
    let p = heap.allocate(L).unwrap().cast::<u8>();
    let q = heap.allocate(L).unwrap().cast::<u8>();
    let big = Layout::from_size_align(3000, 64).unwrap();
    let r = heap.allocate_zeroed(big).unwrap().cast::<u8>();
    assert!(r.addr().get().is_multiple_of(64));
    // SAFETY: the write stays inside `p`'s inner block (its canary); the bad frees are
    // bugs the hook observes and the heap ignores; the rest free live blocks once.
    unsafe {
        assert!(
            core::slice::from_raw_parts(r.as_ptr(), 3000)
                .iter()
                .all(|&b| b == 0)
        );
        p.as_ptr().add(L.size() + 3).write(b'A');
        heap.deallocate(p, L);
        heap.deallocate(q, Layout::new::<[u64; 2]>());
        heap.deallocate(q, Layout::from_size_align(32, 16).unwrap());
        heap.deallocate(q, L);
        heap.deallocate(r, big);
    }
    assert_eq!(
        seen(),
        [
            Violation::Overflow,
            Violation::WrongLayout,
            Violation::WrongLayout
        ]
    );
    let s = heap.stats();
    assert_eq!((s.live_blocks, s.live_bytes), (1, L.size()), "p stays live");
    assert_eq!(heap.check(), 1);
    assert_eq!(seen(), [Violation::Overflow]);
}
