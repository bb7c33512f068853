//! `ThreadCache` giving memory back and reusing it: free pages purged after the delay
//! (and at once, or never, as configured), abandoned segments purged when their thread
//! exits, freed large blocks reused from the cache (trimmed, grown by moving their pages,
//! aged out, bounded in bytes), large blocks resized with `mremap`, and `calloc`-style
//! zeroing of reused memory.
//!
//! The options are process-wide, so the tests of this file take turns (`serial`). Under
//! Miri, which has no `madvise` or `mremap`, purging zeroes the pages instead and resizing
//! copies; the bookkeeping and contents are checked the same way, RSS is not.

use allockit::{Allocator, Layout};
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use allockit::{ThreadCache, ThreadCacheOptions};

/// Scale of the tests: a little under Miri, which is slow.
const SEGMENTS: usize = if cfg!(miri) { 2 } else { 8 };
const MIB: usize = 1 << 20;

/// Runs the tests one at a time, each starting from the default options.
fn serial() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    let guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    ThreadCache::configure(&ThreadCacheOptions::default());
    guard
}

/// Resident bytes of this process (`/proc/self/statm`), or `None` under Miri.
fn rss() -> Option<usize> {
    if cfg!(miri) {
        return None;
    }
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: usize = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * 4096)
}

/// Bytes of a block `fill`, `check` and `zeroed` touch: all of them, or under Miri every
/// 509th.
const STEP: usize = if cfg!(miri) { 509 } else { 1 };

/// Size of the small blocks that fill segments: fewer, larger blocks under Miri.
const SMALL: usize = if cfg!(miri) { 8192 } else { 1024 };

/// Fills `len` bytes at `p` with a pattern derived from `tag`.
fn fill(p: NonNull<u8>, len: usize, tag: u8) {
    // SAFETY: callers pass live blocks of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), len) };
    for i in (0..len).step_by(STEP) {
        bytes[i] = tag ^ (i % 251) as u8;
    }
}

/// Checks the pattern of `fill`.
fn check(p: NonNull<u8>, len: usize, tag: u8) {
    // SAFETY: callers pass live blocks of at least `len` bytes.
    let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), len) };
    for i in (0..len).step_by(STEP) {
        assert_eq!(
            bytes[i],
            tag ^ (i % 251) as u8,
            "byte {i} of a block changed"
        );
    }
}

/// Whether the bytes `fill` would write in `block` are all zero.
fn zeroed(block: NonNull<[u8]>) -> bool {
    // SAFETY: callers pass live blocks.
    let bytes = unsafe { block.as_ref() };
    bytes.iter().step_by(STEP).all(|&x| x == 0)
}

/// Allocates `SMALL` blocks filling `SEGMENTS` segments on this thread, frees all but the
/// first block of each 4 MiB segment (so every segment stays owned, with one page in use
/// and the others free and dirty), and returns the kept blocks.
fn leave_free_pages(tc: &ThreadCache) -> Vec<NonNull<u8>> {
    let l = Layout::from_size_align(SMALL, 8).unwrap();
    let n = SEGMENTS * 4 * MIB / SMALL;
    let blocks: Vec<NonNull<u8>> = (0..n)
        .map(|i| {
            let p = tc.allocate(l).unwrap().cast::<u8>();
            fill(p, SMALL, i as u8);
            p
        })
        .collect();
    for (i, &p) in blocks.iter().enumerate() {
        check(p, SMALL, i as u8);
    }
    let mut kept = Vec::new();
    let mut last_segment = usize::MAX;
    for p in blocks {
        if p.as_ptr().addr() >> 22 != last_segment {
            last_segment = p.as_ptr().addr() >> 22;
            kept.push(p);
        } else {
            // SAFETY: live, from `tc`, with layout `l`.
            unsafe { tc.deallocate(p, l) };
        }
    }
    kept
}

/// Frees blocks from `leave_free_pages`.
fn free_all(tc: &ThreadCache, blocks: Vec<NonNull<u8>>) {
    let l = Layout::from_size_align(SMALL, 8).unwrap();
    for p in blocks {
        // SAFETY: live, from `tc`, with layout `l`.
        unsafe { tc.deallocate(p, l) };
    }
}

/// A slow path of this thread's heap: a fresh page for a class this thread never used.
fn poke(tc: &ThreadCache) {
    let l = Layout::from_size_align(1 << 20, 8).unwrap();
    let p = tc.allocate(l).unwrap().cast::<u8>();
    // SAFETY: live, from `tc`, with layout `l`.
    unsafe { tc.deallocate(p, l) };
}

#[test]
fn free_pages_are_purged_after_the_delay_and_rss_falls() {
    let _s = serial();
    let mut o = ThreadCacheOptions::default();
    // Miri's clock runs with the instructions it interprets, so filling the segments
    // there takes longer than 200 ms of it; its sleeps cost no real time.
    let delay = Duration::from_millis(if cfg!(miri) { 60_000 } else { 200 });
    o.purge_delay = Some(delay);
    ThreadCache::configure(&o);
    let tc = ThreadCache::new();
    let before = tc.stats().purged_bytes;
    let kept = leave_free_pages(&tc);
    let rss_full = rss();
    assert!(
        tc.stats().purged_bytes - before < (SEGMENTS * 4 * MIB / 2) as u64,
        "pages must not be purged before the delay"
    );
    std::thread::sleep(delay + Duration::from_millis(50));
    poke(&tc);
    let purged = tc.stats().purged_bytes - before;
    // Each segment had 62 or 63 free slots of 64 KiB.
    assert!(
        purged >= (SEGMENTS * 60 * 64 * 1024) as u64,
        "purged only {purged} bytes"
    );
    if let (Some(full), Some(now)) = (rss_full, rss()) {
        assert!(
            full - now.min(full) >= SEGMENTS * 3 * MIB,
            "RSS went from {full} to {now} bytes only"
        );
    }
    // Purged pages are taken again and work (zero-filled by the kernel, carved anew).
    let again = leave_free_pages(&tc);
    free_all(&tc, again);
    free_all(&tc, kept);
}

#[test]
fn purge_delay_zero_purges_at_once_and_never_keeps_everything() {
    let _s = serial();
    let tc = ThreadCache::new();
    let mut o = ThreadCacheOptions::default();
    o.purge_delay = Some(Duration::ZERO);
    ThreadCache::configure(&o);
    let before = tc.stats().purged_bytes;
    let kept = leave_free_pages(&tc);
    assert!(tc.stats().purged_bytes - before >= (SEGMENTS * 60 * 64 * 1024) as u64);
    free_all(&tc, kept);

    o.purge_delay = None;
    ThreadCache::configure(&o);
    std::thread::sleep(Duration::from_millis(20));
    let before = tc.stats().purged_bytes;
    let kept = leave_free_pages(&tc);
    std::thread::sleep(Duration::from_millis(20));
    poke(&tc);
    assert_eq!(
        tc.stats().purged_bytes,
        before,
        "purge_delay None never purges"
    );
    free_all(&tc, kept);
}

#[test]
fn lazy_purge_uses_madv_free_and_memory_stays_usable() {
    let _s = serial();
    let mut o = ThreadCacheOptions::default();
    o.purge_delay = Some(Duration::ZERO);
    o.lazy_purge = true;
    ThreadCache::configure(&o);
    let tc = ThreadCache::new();
    let before = tc.stats().purged_bytes;
    let kept = leave_free_pages(&tc);
    assert!(tc.stats().purged_bytes > before);
    let again = leave_free_pages(&tc);
    free_all(&tc, again);
    free_all(&tc, kept);
}

#[test]
fn an_exiting_threads_free_pages_are_purged_after_the_delay_by_another_thread() {
    let _s = serial();
    let tc = ThreadCache::new();
    let mut o = ThreadCacheOptions::default();
    let delay = Duration::from_millis(if cfg!(miri) { 60_000 } else { 300 });
    o.purge_delay = Some(delay);
    ThreadCache::configure(&o);
    let before = tc.stats().purged_bytes;
    let kept: Vec<usize> = std::thread::spawn(move || {
        leave_free_pages(&tc)
            .into_iter()
            .map(|p| p.as_ptr().addr())
            .collect()
    })
    .join()
    .unwrap();
    // The thread exited: its segments wait on the abandoned list, still resident, for a
    // thread that adopts them within the delay.
    assert!(
        tc.stats().purged_bytes - before < (SEGMENTS * 60 * 64 * 1024) as u64,
        "abandoned pages must not be purged before the delay"
    );
    // After it, a slow path of this thread (which adopts nothing: it only maps a large
    // block) purges them for the thread that is gone.
    std::thread::sleep(delay + Duration::from_millis(50));
    poke(&tc);
    assert!(
        tc.stats().purged_bytes - before >= (SEGMENTS * 60 * 64 * 1024) as u64,
        "abandoned pages were not purged after the delay"
    );
    let kept = kept
        .into_iter()
        .map(|a| NonNull::new(std::ptr::with_exposed_provenance_mut(a)).unwrap())
        .collect();
    free_all(&tc, kept); // remote frees into abandoned segments
}

#[test]
fn freed_large_blocks_are_reused_and_cleared_for_allocate_zeroed() {
    let _s = serial();
    let tc = ThreadCache::new();
    let l = Layout::from_size_align(MIB, 64).unwrap();
    let a = tc.allocate(l).unwrap().cast::<u8>();
    fill(a, MIB, 7);
    // SAFETY: live, from `tc`, with layout `l`.
    unsafe { tc.deallocate(a, l) };
    let s = tc.stats();
    assert!(s.cached_large_spans >= 1 && s.cached_large_bytes >= MIB);
    let b = tc.allocate_zeroed(l).unwrap();
    assert_eq!(b.cast::<u8>(), a, "the cached span is reused");
    assert!(zeroed(b), "a reused span is cleared");
    assert!(b.len() >= MIB);
    // SAFETY: live, from `tc`, with layout `l`.
    unsafe { tc.deallocate(b.cast(), l) };
}

#[test]
fn a_smaller_cached_span_is_grown_and_a_larger_one_trimmed() {
    let _s = serial();
    let tc = ThreadCache::new();
    let small = Layout::from_size_align(MIB, 8).unwrap();
    let big = Layout::from_size_align(3 * MIB, 8).unwrap();
    let a = tc.allocate(small).unwrap().cast::<u8>();
    fill(a, MIB, 1);
    // SAFETY: live, from `tc`, with layout `small`.
    unsafe { tc.deallocate(a, small) };
    let spans = tc.stats().cached_large_spans;
    // Only a smaller span is cached: it is taken (its pages moved, or under Miri,
    // unmapped) and the block is a fresh mapping.
    let b = tc.allocate_zeroed(big).unwrap();
    assert_eq!(tc.stats().cached_large_spans, spans - 1);
    assert!(zeroed(b));
    fill(b.cast(), 3 * MIB, 2);
    // SAFETY: live, from `tc`, with layout `big`.
    unsafe { tc.deallocate(b.cast(), big) };
    // A larger span serves a small request, trimmed to it.
    let c = tc.allocate(small).unwrap();
    assert!(c.len() < 2 * MIB, "the span was trimmed: {} bytes", c.len());
    fill(c.cast(), c.len(), 3);
    // SAFETY: live, from `tc`, with layout `small`.
    unsafe { tc.deallocate(c.cast(), small) };
}

#[test]
fn the_large_cache_is_bounded_ages_out_and_skips_huge_blocks() {
    let _s = serial();
    let tc = ThreadCache::new();
    let mut o = ThreadCacheOptions::default();
    o.large_cache_bytes = 4 * MIB + 3 * 4096 * 2;
    o.large_cache_max_block = 8 * MIB;
    o.large_cache_age = Duration::from_millis(50);
    ThreadCache::configure(&o);
    let l = Layout::from_size_align(2 * MIB, 8).unwrap();
    let blocks: Vec<_> = (0..3)
        .map(|_| tc.allocate(l).unwrap().cast::<u8>())
        .collect();
    for p in blocks {
        // SAFETY: live, from `tc`, with layout `l`.
        unsafe { tc.deallocate(p, l) };
    }
    let s = tc.stats();
    assert_eq!(s.cached_large_spans, 2, "the oldest span was evicted");
    assert!(s.cached_large_bytes <= o.large_cache_bytes);
    // A block over the limit is not cached.
    let huge = Layout::from_size_align(9 * MIB, 8).unwrap();
    let h = tc.allocate(huge).unwrap().cast::<u8>();
    // SAFETY: live, from `tc`, with layout `huge`.
    unsafe { tc.deallocate(h, huge) };
    assert_eq!(tc.stats().cached_large_spans, 2);
    // After the age, the next slow path unmaps them.
    std::thread::sleep(Duration::from_millis(80));
    let tiny = Layout::from_size_align(64, 8).unwrap();
    let classes: Vec<_> = (0..2000)
        .map(|_| tc.allocate(tiny).unwrap().cast::<u8>())
        .collect();
    for p in classes {
        // SAFETY: live, from `tc`, with layout `tiny`.
        unsafe { tc.deallocate(p, tiny) };
    }
    assert_eq!(tc.stats().cached_large_spans, 0);
    assert_eq!(tc.stats().cached_large_bytes, 0);
}

#[test]
fn large_blocks_grow_and_shrink_keeping_their_contents() {
    let _s = serial();
    let tc = ThreadCache::new();
    let mut l = Layout::from_size_align(MIB, 4096).unwrap();
    let mut p = tc.allocate(l).unwrap().cast::<u8>();
    fill(p, MIB, 9);
    let mut tag = 9;
    // Grow in steps (in place or by moving pages), each keeping what was written.
    for mb in [2, 5, 17] {
        let new = Layout::from_size_align(mb * MIB, 4096).unwrap();
        // SAFETY: `p` is live with layout `l`; `new` is larger.
        let q = unsafe { tc.grow(p, l, new) }.unwrap();
        assert!(q.len() >= new.size());
        assert_eq!(q.cast::<u8>().as_ptr().addr() % 4096, 0);
        check(q.cast(), l.size(), tag);
        // SAFETY: `q` is a live block start.
        assert!(unsafe { tc.is_block(q.cast::<u8>().as_ptr()) });
        tag += 1;
        fill(q.cast(), new.size(), tag);
        (p, l) = (q.cast(), new);
    }
    let small = Layout::from_size_align(3 * MIB, 4096).unwrap();
    // SAFETY: `p` is live with layout `l`; `small` is smaller.
    let q = unsafe { tc.shrink(p, l, small) }.unwrap();
    assert!(
        q.len() >= small.size() && q.len() < 4 * MIB,
        "the tail was given back"
    );
    check(q.cast(), small.size(), tag);
    // SAFETY: `q` is live with layout `small`.
    unsafe { tc.deallocate(q.cast(), small) };
}

#[test]
fn options_round_trip() {
    let _s = serial();
    let mut o = ThreadCacheOptions::default();
    o.segment_cache = 0;
    o.large_cache_bytes = 0;
    ThreadCache::configure(&o);
    assert_eq!(ThreadCache::options(), o);
    // With both caches off, memory still comes and goes correctly.
    let tc = ThreadCache::new();
    let kept = leave_free_pages(&tc);
    free_all(&tc, kept);
    poke(&tc);
    assert_eq!(tc.stats().cached_large_spans, 0);
    assert_eq!(tc.stats().cached_segments, 0);
}
