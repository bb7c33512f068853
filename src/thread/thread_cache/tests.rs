//! Unit tests of `ThreadCache`, beside `thread_cache.rs` to keep that file readable top to
//! bottom.

use super::*;
use alloc::vec::Vec;

#[test]
fn blocks_are_reused_and_classes_are_aligned() {
    let tc = ThreadCache::new();
    let l = Layout::from_size_align(48, 16).unwrap();
    let a = tc.allocate(l).unwrap();
    assert_eq!(a.len(), 48);
    assert_eq!(a.cast::<u8>().as_ptr().addr() % 16, 0);
    // SAFETY: `a` is live with layout `l`.
    unsafe { tc.deallocate(a.cast(), l) };
    let b = tc.allocate(l).unwrap();
    assert_eq!(
        a.cast::<u8>(),
        b.cast::<u8>(),
        "LIFO reuse on the owning thread"
    );
    // SAFETY: `b` is live with layout `l`.
    unsafe { tc.deallocate(b.cast(), l) };
}

#[test]
fn remote_frees_go_back_to_the_owner() {
    let tc = ThreadCache::new();
    let l = Layout::new::<[u64; 4]>();
    // Exactly one page of 32-byte blocks, on this test's fresh thread.
    let n = PAGE / 32;
    let blocks: Vec<usize> = (0..n)
        .map(|_| {
            tc.allocate(l)
                .unwrap()
                .cast::<u8>()
                .as_ptr()
                .expose_provenance()
        })
        .collect();
    let old: std::collections::BTreeSet<usize> = blocks.iter().copied().collect();
    std::thread::spawn(move || {
        for b in blocks {
            // SAFETY: each block is live with layout `l`; the freeing thread differs.
            unsafe {
                ThreadCache::new().deallocate(
                    NonNull::new(ptr::with_exposed_provenance_mut(b)).unwrap(),
                    l,
                )
            };
        }
    })
    .join()
    .unwrap();
    // The owner collects the remote frees: the same memory serves it again.
    let again: Vec<_> = (0..n)
        .map(|_| tc.allocate(l).unwrap().cast::<u8>())
        .collect();
    let reused = again
        .iter()
        .filter(|p| old.contains(&p.as_ptr().addr()))
        .count();
    assert_eq!(reused, n, "the page's blocks came back to it");
    for p in again {
        // SAFETY: each block is live with layout `l`.
        unsafe { tc.deallocate(p, l) };
    }
}

#[test]
fn large_blocks_map_and_unmap() {
    let tc = ThreadCache::new();
    let before = tc.stats().large_blocks;
    let l = Layout::from_size_align(100 << 10, 64 << 10).unwrap();
    let p = tc.allocate(l).unwrap();
    assert!(p.len() >= l.size());
    assert_eq!(p.cast::<u8>().as_ptr().addr() % l.align(), 0);
    assert!(tc.stats().large_blocks > before);
    // SAFETY: `p` is live with layout `l`; it is written within its length.
    unsafe {
        p.cast::<u8>().as_ptr().write_bytes(7, p.len());
        assert_eq!(usable_size(p.cast::<u8>().as_ptr()), p.len());
        tc.deallocate(p.cast(), l);
    }
}

#[test]
fn a_huge_alignment_is_refused_not_a_panic() {
    let l = Layout::from_size_align(8, 8 << 20).unwrap();
    assert!(ThreadCache::new().allocate(l).is_err());
    let l = Layout::from_size_align(isize::MAX as usize - 4096, 8).unwrap();
    assert!(ThreadCache::new().allocate(l).is_err());
}
