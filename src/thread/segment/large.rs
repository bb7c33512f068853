//! Large blocks: one 4 MiB-aligned mapping each, reused through a cache of freed spans.
//!
//! ## Design (glibc's dynamic mmap threshold, mimalloc's segment cache)
//!
//! A large block (over 16 KiB, or aligned beyond 4 KiB) lives in a mapping of its own,
//! aligned to 4 MiB so that `free` finds its header the way it finds a small segment's.
//! Mapping and unmapping for every block costs two system calls and a page fault per
//! 4 KiB touched; a program that frees and allocates large buffers in a loop would pay
//! that every time. So a freed mapping of at most
//! [`large_cache_max_block`](crate::ThreadCacheOptions::large_cache_max_block) bytes goes
//! into a small process-wide **cache** (bounded in bytes; the oldest span is evicted
//! first; spans unused for `large_cache_age` are unmapped) and the next large request
//! takes the smallest cached span that is big enough, trimming its tail when more than an
//! eighth would be wasted. If only smaller spans are cached, the largest is moved onto the
//! front of a fresh mapping with `mremap(MREMAP_FIXED)`: its pages come along without a
//! copy or a fault. Requests bigger than the limit go straight to the OS and back.
//!
//! **Resizing** a large block grows its mapping in place with `mremap` when the
//! addresses after it are free, else moves its pages to a fresh aligned mapping (no
//! copy); shrinking unmaps the tail. Under Miri, which has no `mremap`, the caller copies.
//!
//! A cached span is not in the address-space map (`map.rs`), so `is_block` refuses
//! pointers into it, and its memory is not zero: `calloc` clears a reused span.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use super::{LARGE, SEGMENT, Segment, map, map_aligned, options};
use crate::os;

/// Spans the cache holds at most.
const SPANS: usize = 64;

/// Large blocks currently mapped.
pub(crate) static LARGE_BLOCKS: AtomicUsize = AtomicUsize::new(0);
/// Bytes of the live large blocks' mappings.
pub(crate) static LARGE_BYTES: AtomicUsize = AtomicUsize::new(0);
/// The earliest time (`os::now_ms`) a cached span expires; `u64::MAX` when none is cached.
pub(crate) static EXPIRES_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// A freed large mapping.
#[derive(Clone, Copy)]
struct Span {
    /// The mapping's first byte (4 MiB-aligned, exposed provenance).
    base: NonNull<u8>,
    /// Its length (a multiple of the OS page).
    len: usize,
    /// When it was freed (`os::now_ms`).
    freed: u64,
}

/// The cache: `spans[..n]`, unordered.
struct Cache {
    /// The cached spans.
    spans: [Option<Span>; SPANS],
    /// Spans in use in `spans`.
    n: usize,
    /// Sum of their lengths.
    bytes: usize,
}
// SAFETY: the cache owns the spans on it exclusively (no block lives in them), and is
// only touched under its mutex.
unsafe impl Send for Cache {}

static CACHE: Mutex<Cache> = Mutex::new(Cache {
    spans: [None; SPANS],
    n: 0,
    bytes: 0,
});

/// Spans taken off the cache to be unmapped once its lock is released.
struct Evicted {
    /// The spans.
    spans: [Option<Span>; SPANS],
    /// How many.
    n: usize,
}

impl Evicted {
    const fn new() -> Self {
        Evicted {
            spans: [None; SPANS],
            n: 0,
        }
    }

    /// Unmaps them all.
    fn unmap(self) {
        for span in self.spans.into_iter().take(self.n).flatten() {
            // SAFETY: a span off the cache is a whole mapping nothing refers to.
            unsafe { os::unmap(span.base, span.len) };
        }
    }
}

impl Cache {
    /// Removes span `i` and returns it.
    fn take(&mut self, i: usize) -> Span {
        let span = self.spans[i].take().expect("index below n");
        self.n -= 1;
        self.spans[i] = self.spans[self.n].take();
        self.bytes -= span.len;
        span
    }

    /// Moves the spans freed at or before `cutoff` to `out`.
    fn expire(&mut self, cutoff: u64, out: &mut Evicted) {
        let mut i = 0;
        while i < self.n {
            if self.spans[i].is_some_and(|s| s.freed <= cutoff) {
                out.spans[out.n] = Some(self.take(i));
                out.n += 1;
            } else {
                i += 1;
            }
        }
        self.publish_expiry();
    }

    /// Stores the earliest expiry in `EXPIRES_AT`.
    fn publish_expiry(&self) {
        let age = options::LARGE_CACHE_AGE_MS.load(Ordering::Relaxed);
        let first = self.spans[..self.n]
            .iter()
            .flatten()
            .map(|s| s.freed.saturating_add(age))
            .min()
            .unwrap_or(u64::MAX);
        EXPIRES_AT.store(first, Ordering::Relaxed);
    }
}

/// Locks the cache, ignoring poisoning: nothing that can panic runs under it.
fn cache() -> std::sync::MutexGuard<'static, Cache> {
    CACHE.lock().unwrap_or_else(|e| e.into_inner())
}

/// The cache's lock, held by a thread that forks (see `thread_cache/fork.rs`): no code
/// takes another allocator lock while holding it, so it is taken last.
pub(crate) struct ForkGuard {
    _held: std::sync::MutexGuard<'static, Cache>,
}

/// Takes the cache's lock for the duration of a `fork`.
pub(crate) fn lock_for_fork() -> ForkGuard {
    ForkGuard { _held: cache() }
}

/// The cut-off for expiry at `now`.
fn cutoff(now: u64) -> u64 {
    now.saturating_sub(options::LARGE_CACHE_AGE_MS.load(Ordering::Relaxed))
}

/// Cached spans and their bytes, for `stats`.
pub(crate) fn cached() -> (usize, usize) {
    let c = cache();
    (c.n, c.bytes)
}

/// Unmaps the cached spans that expired by `now`.
pub(crate) fn expire(now: u64) {
    let mut evicted = Evicted::new();
    cache().expire(cutoff(now), &mut evicted);
    evicted.unmap();
}

/// A mapping of exactly `len` bytes or a little more, 4 MiB-aligned, made from a cached
/// span; with its length and whether it is all zero. `None` when no cached span helps.
fn from_cache(len: usize) -> Option<(NonNull<u8>, usize, bool)> {
    if len > options::LARGE_CACHE_MAX_BLOCK.load(Ordering::Relaxed) {
        return None;
    }
    let now = os::now_ms();
    let mut evicted = Evicted::new();
    let span = {
        let mut c = cache();
        c.expire(cutoff(now), &mut evicted);
        let spans = &c.spans[..c.n];
        let fits = |s: &&Option<Span>| s.is_some_and(|s| s.len >= len);
        let best = spans
            .iter()
            .enumerate()
            .filter(|(_, s)| fits(s))
            .min_by_key(|(_, s)| s.map_or(usize::MAX, |s| s.len))
            .or_else(|| {
                spans
                    .iter()
                    .enumerate()
                    .max_by_key(|(_, s)| s.map_or(0, |s| s.len))
            })
            .map(|(i, _)| i);
        let span = best.map(|i| c.take(i));
        c.publish_expiry();
        span
    };
    evicted.unmap();
    let span = span?;
    if span.len >= len {
        let spare = span.len - len;
        if spare > len {
            // SAFETY: the tail of a whole mapping nothing refers to; `len` is a multiple
            // of the page, so the cut is page-aligned.
            unsafe { os::unmap(span.base.add(len), spare) };
            return Some((span.base, len, false));
        }
        return Some((span.base, span.len, false));
    }
    // Too small: move its (resident) pages onto the front of a fresh mapping.
    let fresh = map_aligned(len, SEGMENT, true);
    if let Some(to) = fresh {
        // SAFETY: the span is a whole mapping nothing refers to; `to` is a fresh
        // mapping of `len > span.len` bytes whose contents nobody needs.
        if unsafe { os::move_mapping(span.base, span.len, to) }.is_ok() {
            return Some((to, len, false));
        }
    }
    // SAFETY: the span is a whole mapping nothing refers to.
    unsafe { os::unmap(span.base, span.len) };
    fresh.map(|to| (to, len, true))
}

/// Writes the header of a large block at `base` (a mapping of `len` bytes) whose block
/// starts `offset` bytes in, and records it; the block, or `None` if the map refused.
///
/// # Safety
///
/// `base` is a 4 MiB-aligned mapping of `len > offset` bytes nothing else refers to;
/// `offset` is at least the OS page.
unsafe fn install(base: NonNull<u8>, len: usize, offset: usize) -> Option<NonNull<u8>> {
    base.as_ptr().expose_provenance();
    // SAFETY: `offset < len`, inside the mapping.
    let block = unsafe { base.add(offset) };
    let seg = base.as_ptr().cast::<Segment>();
    // SAFETY: the fields before `pages` (a few words) fit in the first OS page, before
    // the block; `pages` of a large segment is never touched.
    unsafe {
        (&raw mut (*seg).owner).write(core::sync::atomic::AtomicPtr::new(LARGE));
        (&raw mut (*seg).map_len).write(len);
        (&raw mut (*seg).block).write(block.as_ptr());
    }
    if !map::insert(base.as_ptr().addr()) {
        // SAFETY: the caller's mapping, which nothing references.
        unsafe { os::unmap(base, len) };
        return None;
    }
    LARGE_BLOCKS.fetch_add(1, Ordering::Relaxed);
    LARGE_BYTES.fetch_add(len, Ordering::Relaxed);
    Some(block)
}

/// The mapping length for a block of `size` bytes starting `offset` bytes in.
fn mapping_len(offset: usize, size: usize) -> Option<usize> {
    offset
        .checked_add(size)?
        .checked_next_multiple_of(os::page_size())
        .filter(|&len| len <= isize::MAX as usize - SEGMENT)
}

/// A large block of `size` bytes aligned to `align`: the block, its usable size, and
/// whether its bytes are zero (a fresh mapping) or hold a previous block's data.
pub(crate) fn alloc_large(size: usize, align: usize) -> Option<(NonNull<u8>, usize, bool)> {
    if align > SEGMENT {
        return None;
    }
    let offset = align.max(os::page_size());
    let len = mapping_len(offset, size)?;
    let (base, len, zero) = match from_cache(len) {
        Some(reused) => reused,
        None => (map_aligned(len, SEGMENT, true)?, len, true),
    };
    // SAFETY: a 4 MiB-aligned mapping of `len > offset` bytes that nothing refers to.
    let block = unsafe { install(base, len, offset)? };
    Some((block, len - offset, zero))
}

/// The usable bytes of the large block of segment `seg`.
///
/// # Safety
///
/// `seg` is the header of a live large block.
pub(crate) unsafe fn large_usable(seg: *mut Segment) -> usize {
    // SAFETY: forwarded from the caller; the header changes only while its owner
    // resizes or frees the block.
    unsafe { (*seg).map_len - ((*seg).block.addr() - seg.addr()) }
}

/// Frees a large block: into the cache, or back to the OS.
///
/// # Safety
///
/// `seg` is the header of a live large block that nothing will use again.
pub(crate) unsafe fn free_large(seg: *mut Segment) {
    // SAFETY: forwarded from the caller.
    let len = unsafe { (*seg).map_len };
    LARGE_BLOCKS.fetch_sub(1, Ordering::Relaxed);
    LARGE_BYTES.fetch_sub(len, Ordering::Relaxed);
    map::remove(seg.addr());
    // SAFETY: the header's address, which carries the mapping's provenance.
    let base = unsafe { NonNull::new_unchecked(seg.cast::<u8>()) };
    let limit = options::LARGE_CACHE_BYTES.load(Ordering::Relaxed);
    if len > limit || len > options::LARGE_CACHE_MAX_BLOCK.load(Ordering::Relaxed) {
        // SAFETY: the whole mapping belongs to this block, which is dead.
        unsafe { os::unmap(base, len) };
        return;
    }
    let now = os::now_ms();
    let mut evicted = Evicted::new();
    {
        let mut c = cache();
        c.expire(cutoff(now), &mut evicted);
        while c.n == SPANS || c.bytes + len > limit {
            let oldest = (0..c.n)
                .min_by_key(|&i| c.spans[i].map_or(0, |s| s.freed))
                .expect("a full cache has a span");
            evicted.spans[evicted.n] = Some(c.take(oldest));
            evicted.n += 1;
        }
        let i = c.n;
        c.spans[i] = Some(Span {
            base,
            len,
            freed: now,
        });
        c.n += 1;
        c.bytes += len;
        c.publish_expiry();
    }
    evicted.unmap();
}

/// Resizes the large block of `seg` to `size` bytes, keeping its address when it can:
/// the block's address (moved or not) and its usable size. `None` when the caller must
/// allocate, copy and free instead (the alignment does not hold, or the OS cannot remap).
///
/// # Safety
///
/// `seg` is the header of a live large block, which the caller owns; after `Some`, only
/// the returned address is valid.
pub(crate) unsafe fn resize_large(
    seg: *mut Segment,
    size: usize,
    align: usize,
) -> Option<(NonNull<u8>, usize)> {
    // SAFETY: the caller owns the live block and so its header.
    let (old, block) = unsafe { ((*seg).map_len, (*seg).block) };
    let offset = block.addr() - seg.addr();
    if !block.addr().is_multiple_of(align) {
        return None;
    }
    let len = mapping_len(offset, size)?;
    // SAFETY: the header's address carries the mapping's provenance.
    let base = unsafe { NonNull::new_unchecked(seg.cast::<u8>()) };
    if len <= old {
        if len < old {
            // SAFETY: the tail past the block's new end belongs to this dead-to-be part
            // of the caller's mapping; page-aligned because both lengths are.
            unsafe { os::unmap(base.add(len), old - len) };
            LARGE_BYTES.fetch_sub(old - len, Ordering::Relaxed);
            // SAFETY: the header, owned by the caller.
            unsafe { (*seg).map_len = len };
        }
        // SAFETY: `block` lies in the (kept) mapping.
        return Some((unsafe { NonNull::new_unchecked(block) }, len - offset));
    }
    // In place, when the addresses after the mapping are free.
    // SAFETY: the whole mapping of the caller's block; no move.
    if unsafe { os::remap(base, old, len, false) }.is_ok() {
        LARGE_BYTES.fetch_add(len - old, Ordering::Relaxed);
        // SAFETY: the header, owned by the caller.
        unsafe { (*seg).map_len = len };
        // SAFETY: as above.
        return Some((unsafe { NonNull::new_unchecked(block) }, len - offset));
    }
    // Else the pages move to a fresh aligned mapping, header and all.
    let to = map_aligned(len, SEGMENT, true)?;
    to.as_ptr().expose_provenance();
    if !map::insert(to.as_ptr().addr()) {
        // SAFETY: the fresh mapping, which nothing references.
        unsafe { os::unmap(to, len) };
        return None;
    }
    // SAFETY: the caller's whole mapping moves onto the front of the fresh one.
    if unsafe { os::move_mapping(base, old, to) }.is_err() {
        map::remove(to.as_ptr().addr());
        // SAFETY: the fresh mapping, which nothing references.
        unsafe { os::unmap(to, len) };
        return None;
    }
    map::remove(seg.addr());
    LARGE_BYTES.fetch_add(len - old, Ordering::Relaxed);
    let seg = to.as_ptr().cast::<Segment>();
    // SAFETY: the header moved with the first page; `offset < len`.
    unsafe {
        let block = to.add(offset);
        (*seg).map_len = len;
        (*seg).block = block.as_ptr();
        Some((block, len - offset))
    }
}
