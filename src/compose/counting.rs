//! `Counting`: a wrapper that counts what an allocator is asked to do.
//!
//! Every call is forwarded unchanged to the inner allocator; on the way, the wrapper
//! counts calls and failures and tracks live and peak bytes (by requested size, the
//! number the caller controls). Tests use it to prove claims such as "a reset calls the
//! backing allocator zero times"; the tour example prints its numbers.
//!
//! Every block is handed out with exactly its requested length, even when the inner
//! allocator returned more (a size class, whole pages). A caller may free or resize a
//! block with any size from the requested one to the returned length; with the two
//! equal, that size is the one counted, and the live bytes stay exact.
//!
//! Counters are `Cell`s, so `Counting` is `Send` (when the inner allocator is) but not
//! `Sync`, and costs a few plain adds per call.

use core::cell::Cell;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout};

/// What a [`Counting`] allocator saw, from [`Counting::stats`].
///
/// ```
/// use allocator_api2::vec::Vec;
/// let c = allockit::Counting::new(allocator_api2::alloc::Global);
/// let mut v = Vec::with_capacity_in(4, &c);
/// v.extend([1u32, 2, 3, 4]);
/// drop(v);
/// let s = c.stats();
/// assert_eq!((s.allocations, s.deallocations), (1, 1));
/// assert_eq!((s.live_bytes, s.peak_bytes, s.total_bytes), (0, 16, 16));
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Stats {
    /// Successful `allocate`/`allocate_zeroed` calls.
    pub allocations: usize,
    /// `deallocate` calls.
    pub deallocations: usize,
    /// Successful `grow`/`grow_zeroed` calls.
    pub grows: usize,
    /// Successful `shrink` calls.
    pub shrinks: usize,
    /// Calls of any kind that returned `AllocError`.
    pub failures: usize,
    /// Requested bytes currently allocated.
    pub live_bytes: usize,
    /// The most `live_bytes` ever reached.
    pub peak_bytes: usize,
    /// Requested bytes over all successful allocations and grows (a grow counts its
    /// increase).
    pub total_bytes: usize,
}

impl Stats {
    /// Calls that reached the inner allocator, successful or not.
    ///
    /// ```
    /// use allockit::{Allocator, Counting, Layout};
    /// let c = Counting::new(allocator_api2::alloc::Global);
    /// let block = c.allocate(Layout::new::<u64>()).unwrap();
    /// assert!(c.allocate(Layout::from_size_align(1 << 62, 8).unwrap()).is_err());
    /// // SAFETY: `block` came from `c` with this layout and is freed once.
    /// unsafe { c.deallocate(block.cast(), Layout::new::<u64>()) };
    /// assert_eq!(c.stats().calls(), 3);
    /// assert_eq!(c.stats().failures, 1);
    /// ```
    pub fn calls(&self) -> usize {
        self.allocations + self.deallocations + self.grows + self.shrinks + self.failures
    }
}

/// Wraps an allocator and counts calls, live bytes and peak bytes.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::Counting;
/// use allocator_api2::alloc::Global;
///
/// let counting = Counting::new(Global);
/// let mut v = Vec::new_in(&counting);
/// v.extend(0..100u32);
/// let stats = counting.stats();
/// assert!(stats.allocations + stats.grows >= 1);
/// assert_eq!(stats.live_bytes, v.capacity() * 4);
/// drop(v);
/// assert_eq!(counting.stats().live_bytes, 0);
/// ```
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Counting<allocator_api2::alloc::Global>>();
/// ```
pub struct Counting<A> {
    /// The allocator every call goes to.
    inner: A,
    /// The counters; `live_bytes <= peak_bytes` always.
    stats: Cell<Stats>,
}

impl<A> Counting<A> {
    /// Wraps `inner` with all counters at zero.
    ///
    /// ```
    /// use allockit::{Arena, Counting};
    /// let c = Counting::new(Arena::new());
    /// assert_eq!(c.stats(), allockit::Stats::default());
    /// ```
    #[inline]
    pub const fn new(inner: A) -> Self {
        Counting {
            inner,
            stats: Cell::new(Stats {
                allocations: 0,
                deallocations: 0,
                grows: 0,
                shrinks: 0,
                failures: 0,
                live_bytes: 0,
                peak_bytes: 0,
                total_bytes: 0,
            }),
        }
    }

    /// A snapshot of the counters.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let c = allockit::Counting::new(allocator_api2::alloc::Global);
    /// let b = Box::new_in([0u8; 100], &c);
    /// assert_eq!((c.stats().allocations, c.stats().live_bytes), (1, 100));
    /// drop(b);
    /// assert_eq!((c.stats().live_bytes, c.stats().peak_bytes), (0, 100));
    /// ```
    #[inline]
    pub fn stats(&self) -> Stats {
        self.stats.get()
    }

    /// Sets every counter but `live_bytes` back to zero (and `peak_bytes` to the live
    /// bytes), to measure one phase of a program.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let c = allockit::Counting::new(allocator_api2::alloc::Global);
    /// let b = Box::new_in(1u64, &c);
    /// c.reset_stats();
    /// assert_eq!((c.stats().allocations, c.stats().live_bytes), (0, 8));
    /// # drop(b);
    /// ```
    pub fn reset_stats(&self) {
        let live = self.stats.get().live_bytes;
        self.stats.set(Stats {
            live_bytes: live,
            peak_bytes: live,
            ..Stats::default()
        });
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// let c = allockit::Counting::new(allockit::Arena::new());
    /// let mut v = allocator_api2::vec::Vec::new_in(&c);
    /// v.push(1u64);
    /// assert!(c.inner().used_bytes() >= 8);
    /// ```
    #[inline]
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// Unwraps the inner allocator.
    ///
    /// ```
    /// let c = allockit::Counting::new(allockit::Arena::new());
    /// c.inner().alloc(7u32);
    /// let arena = c.into_inner();
    /// assert_eq!(arena.used_bytes(), 8);
    /// ```
    #[inline]
    pub fn into_inner(self) -> A {
        self.inner
    }

    /// Applies `f` to the counters.
    #[inline(always)]
    fn update(&self, f: impl FnOnce(&mut Stats)) {
        let mut s = self.stats.get();
        f(&mut s);
        s.peak_bytes = s.peak_bytes.max(s.live_bytes);
        self.stats.set(s);
    }

    /// Records the outcome of a call that adds `added` and removes `removed` live bytes,
    /// and cuts the block to `added` bytes, its requested length (see the module notes).
    #[inline(always)]
    fn record(
        &self,
        result: Result<NonNull<[u8]>, AllocError>,
        counter: fn(&mut Stats) -> &mut usize,
        removed: usize,
        added: usize,
    ) -> Result<NonNull<[u8]>, AllocError> {
        self.update(|s| match result {
            Ok(_) => {
                *counter(s) += 1;
                s.live_bytes = s.live_bytes - removed + added;
                s.total_bytes += added.saturating_sub(removed);
            }
            Err(_) => s.failures += 1,
        });
        result.map(|block| NonNull::slice_from_raw_parts(block.cast(), added))
    }
}

impl<A> core::fmt::Debug for Counting<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Counting")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

// SAFETY: every call is forwarded unchanged to `inner`, which upholds the contract; the
// wrapper only reads sizes from the layouts. A block is returned with its requested
// length, at most the inner block's, so every layout that fits it for the caller also
// fits the inner block.
unsafe impl<A: Allocator> Allocator for Counting<A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.record(
            self.inner.allocate(layout),
            |s| &mut s.allocations,
            0,
            layout.size(),
        )
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let result = self.inner.allocate_zeroed(layout);
        self.record(result, |s| &mut s.allocations, 0, layout.size())
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.update(|s| {
            s.deallocations += 1;
            s.live_bytes -= layout.size().min(s.live_bytes);
        });
        // SAFETY: forwarded from the caller.
        unsafe { self.inner.deallocate(ptr, layout) }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        let result = unsafe { self.inner.grow(ptr, old, new) };
        self.record(result, |s| &mut s.grows, old.size(), new.size())
    }

    #[inline]
    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        let result = unsafe { self.inner.grow_zeroed(ptr, old, new) };
        self.record(result, |s| &mut s.grows, old.size(), new.size())
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        let result = unsafe { self.inner.shrink(ptr, old, new) };
        self.record(result, |s| &mut s.shrinks, old.size(), new.size())
    }
}

mirror_core_allocator!(impl[A: Allocator] for Counting<A>);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_kind_of_call() {
        let mut space = [core::mem::MaybeUninit::uninit(); 128];
        let c = Counting::new(crate::FixedBuffer::new(&mut space));
        let small = Layout::from_size_align(16, 8).unwrap();
        let big = Layout::from_size_align(64, 8).unwrap();
        let p = c.allocate(small).unwrap().cast::<u8>();
        // SAFETY: each block is used with the layout it was allocated or resized with.
        unsafe {
            let g = c.grow(p, small, big).unwrap().cast::<u8>();
            assert_eq!((c.stats().live_bytes, c.stats().peak_bytes), (64, 64));
            let s = c.shrink(g, big, small).unwrap().cast::<u8>();
            c.deallocate(s, small);
        }
        assert!(
            c.allocate(Layout::new::<[u8; 129]>()).is_err(),
            "the buffer is exhausted"
        );
        let s = c.stats();
        assert_eq!(
            (
                s.allocations,
                s.grows,
                s.shrinks,
                s.deallocations,
                s.failures
            ),
            (1, 1, 1, 1, 1)
        );
        assert_eq!(
            (s.live_bytes, s.peak_bytes, s.total_bytes, s.calls()),
            (0, 64, 64, 5)
        );
        c.reset_stats();
        assert_eq!(c.stats(), Stats::default());
    }
}
