//! What an operator watches ([`ThreadCache::stats`]) and the process-wide tuning
//! ([`ThreadCache::configure`]).

use core::sync::atomic::Ordering;

use super::{ABANDONED_LIST, PAGE, ThreadCache, ThreadCacheOptions};
use crate::segment;

/// Process-wide numbers from [`ThreadCache::stats`]: what an operator watches.
///
/// ```
/// use allocator_api2::boxed::Box;
/// let tc = allockit::ThreadCache::new();
/// let b = Box::new_in([0u8; 64], tc);
/// let s = tc.stats();
/// assert!(s.segments >= 1 && s.in_use_bytes >= 64 << 10, "one 64 KiB page at least");
/// assert!(s.mapped_bytes >= s.in_use_bytes);
/// # drop(b);
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ThreadCacheStats {
    /// 4 MiB segments mapped for small blocks (in use, abandoned or cached).
    pub segments: usize,
    /// Segments on the abandoned list, waiting for a thread to adopt them.
    pub abandoned_segments: usize,
    /// Empty segments kept mapped for reuse (`ThreadCacheOptions::segment_cache`).
    pub cached_segments: usize,
    /// Live large blocks.
    pub large_blocks: usize,
    /// Bytes mapped for live large blocks.
    pub large_bytes: usize,
    /// Freed large blocks' mappings kept for reuse.
    pub cached_large_spans: usize,
    /// Their bytes.
    pub cached_large_bytes: usize,
    /// Address space mapped: all segments, live large blocks and cached large spans.
    /// Purged pages stay mapped but take no memory.
    pub mapped_bytes: usize,
    /// Bytes of the 64 KiB pages serving small blocks plus the live large blocks: memory
    /// in use at page granularity (a page with one live block counts whole).
    pub in_use_bytes: usize,
    /// Bytes given back to the OS with `madvise` since the process started.
    pub purged_bytes: u64,
}

impl ThreadCache {
    /// Memory figures for the whole process (each read on its own, so a snapshot taken
    /// while other threads allocate is only approximately consistent).
    ///
    /// ```
    /// use allockit::ThreadCache;
    /// use allockit::{Allocator, Layout};
    ///
    /// let tc = ThreadCache::new();
    /// let big = Layout::from_size_align(1 << 20, 8).unwrap();
    /// let p = tc.allocate(big).unwrap().cast::<u8>();
    /// let s = tc.stats();
    /// assert!(s.large_blocks >= 1 && s.large_bytes >= 1 << 20);
    /// assert!(s.mapped_bytes >= s.in_use_bytes);
    /// // SAFETY: `p` is live, from `tc`, with layout `big`.
    /// unsafe { tc.deallocate(p, big) };
    /// ```
    pub fn stats(&self) -> ThreadCacheStats {
        let segments = segment::SMALL_SEGMENTS.load(Ordering::Relaxed);
        let large_bytes = segment::LARGE_BYTES.load(Ordering::Relaxed);
        let (cached_large_spans, cached_large_bytes) = segment::cached_large();
        ThreadCacheStats {
            segments,
            abandoned_segments: segment::lock(&ABANDONED_LIST).len,
            cached_segments: segment::lock(&segment::CACHED).len,
            large_blocks: segment::LARGE_BLOCKS.load(Ordering::Relaxed),
            large_bytes,
            cached_large_spans,
            cached_large_bytes,
            mapped_bytes: segments * segment::SEGMENT + large_bytes + cached_large_bytes,
            in_use_bytes: segment::PAGES_IN_USE.load(Ordering::Relaxed) * PAGE + large_bytes,
            purged_bytes: segment::PURGED_BYTES.load(Ordering::Relaxed),
        }
    }

    /// Sets the process-wide tuning of every `ThreadCache` (purge delay, caches); it
    /// applies from the next slow path of each thread on. See [`ThreadCacheOptions`].
    ///
    /// ```
    /// use allockit::ThreadCache;
    /// let mut options = ThreadCache::options();
    /// options.purge_delay = None; // keep free pages resident
    /// options.segment_cache = 8;
    /// ThreadCache::configure(&options);
    /// assert_eq!(ThreadCache::options().segment_cache, 8);
    /// # ThreadCache::configure(&Default::default());
    /// ```
    pub fn configure(options: &ThreadCacheOptions) {
        segment::options::store(options);
    }

    /// The process-wide tuning in effect.
    ///
    /// ```
    /// use allockit::{ThreadCache, ThreadCacheOptions};
    /// assert_eq!(ThreadCache::options(), ThreadCacheOptions::default(), "until configured");
    /// ```
    pub fn options() -> ThreadCacheOptions {
        segment::options::load()
    }
}
