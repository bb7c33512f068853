//! `Segregate<LIMIT, S, L>`: layouts of at most `LIMIT` bytes to `S`, larger ones to `L`.
//!
//! D's `Segregator`. The layout alone says which part a block belongs to, so no part
//! needs [`Owns`](crate::Owns) and the fast path is one compare of the size with a
//! constant.
//!
//! ## The returned length is capped at `LIMIT`
//!
//! The `Allocator` contract lets a block be freed, grown or shrunk with any size from the
//! one requested to the length returned. If `S` returned 512 bytes for a request of 200
//! with `LIMIT = 256`, a caller could free the block with a size of 400, and the free
//! would go to `L`. So a small block's returned length is cut to `LIMIT`: every layout a
//! small block may be freed with is then small, and every layout a large block may be
//! freed with is large (its length is at least its requested size, above `LIMIT`).
//!
//! ## Crossing the limit
//!
//! A grow from a small size to a large one, or a shrink from a large size to a small one,
//! moves the block to the other part: a fresh block there, a copy, a free here. A shrink
//! that `S` cannot serve fails and leaves the block in `L` (a shrink may fail; keeping a
//! block in `L` under a small layout would send its free to `S`).

use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout, move_between};
use crate::{Inspect, Owns, Reset};

/// Layouts of at most `LIMIT` bytes go to `S`, the rest to `L`.
///
/// Small blocks from size classes, large ones from the OS:
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::{Pages, Segregate, SizeClasses};
///
/// let heap: Segregate<512, _, _> = Segregate::new(SizeClasses::new(), Pages);
/// let mut names = Vec::new_in(&heap);
/// for i in 0..1000u32 {
///     let mut v = Vec::with_capacity_in(8, &heap); // 32 B: size classes
///     v.push(i);
///     names.push(v); // this vector outgrows 512 B and moves to `Pages`
/// }
/// assert_eq!(names[999][0], 999);
/// ```
///
/// Composites nest:
///
/// ```
/// use allockit::{Fallback, FixedBuffer, Pages, Segregate, SizeClasses};
/// use core::mem::MaybeUninit;
///
/// let mut scratch = vec![MaybeUninit::uninit(); 1 << 20];
/// let heap: Segregate<256, SizeClasses, Fallback<FixedBuffer, Pages>> =
///     Segregate::new(SizeClasses::new(), Fallback::new(FixedBuffer::new(&mut scratch), Pages));
/// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(4096, &heap);
/// assert_eq!(heap.large().primary().used(), 4096);
/// # drop(v);
/// ```
///
/// `Segregate` is `Send` and `Sync` exactly when both parts are.
#[derive(Debug, Clone, Copy, Default)]
pub struct Segregate<const LIMIT: usize, S, L> {
    /// Serves every layout of at most `LIMIT` bytes; its blocks are handed out with
    /// lengths of at most `LIMIT`.
    small: S,
    /// Serves every layout of more than `LIMIT` bytes.
    large: L,
}

impl<const LIMIT: usize, S, L> Segregate<LIMIT, S, L> {
    /// Layouts of at most `LIMIT` bytes to `small`, the rest to `large`.
    ///
    /// ```
    /// use allockit::{FreeList, Segregate, Slab};
    /// let heap = Segregate::<64, _, _>::new(Slab::new(allockit::Layout::new::<[u64; 8]>()), FreeList::new());
    /// let small = allocator_api2::boxed::Box::new_in([0u64; 8], &heap);
    /// let large = allocator_api2::boxed::Box::new_in([0u64; 9], &heap);
    /// assert_eq!(heap.small().stats().live, 1);
    /// # drop((small, large));
    /// ```
    pub const fn new(small: S, large: L) -> Self {
        Segregate { small, large }
    }

    /// The largest size served by the small part.
    ///
    /// ```
    /// use allockit::{Pages, Segregate, SizeClasses};
    /// type Heap = Segregate<512, SizeClasses, Pages>;
    /// assert_eq!(Heap::LIMIT, 512);
    /// ```
    pub const LIMIT: usize = LIMIT;

    /// The part for layouts of at most `LIMIT` bytes.
    ///
    /// ```
    /// use allockit::{Pages, Segregate, SizeClasses};
    /// let heap = Segregate::<256, _, _>::new(SizeClasses::new(), Pages);
    /// assert_eq!(heap.small().reserved_bytes(), 0);
    /// ```
    pub fn small(&self) -> &S {
        &self.small
    }

    /// The part for layouts of more than `LIMIT` bytes.
    ///
    /// ```
    /// use allockit::{Counting, Pages, Segregate, SizeClasses};
    /// let heap = Segregate::<256, _, _>::new(SizeClasses::new(), Counting::new(Pages));
    /// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(1000, &heap);
    /// assert_eq!(heap.large().stats().live_bytes, 1000);
    /// # drop(v);
    /// ```
    pub fn large(&self) -> &L {
        &self.large
    }

    /// Both parts, small first; the composite is consumed (no block can be live).
    ///
    /// ```
    /// use allockit::{Pages, Segregate, SizeClasses};
    /// let (small, _large) = Segregate::<256, _, _>::new(SizeClasses::new(), Pages).into_parts();
    /// assert_eq!(small.reserved_bytes(), 0);
    /// ```
    pub fn into_parts(self) -> (S, L) {
        (self.small, self.large)
    }
}

/// A block of `S` as this composite hands it out: at most `LIMIT` bytes long.
#[inline(always)]
fn capped<const LIMIT: usize>(block: NonNull<[u8]>) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(block.cast(), block.len().min(LIMIT))
}

impl<const LIMIT: usize, S: Allocator, L: Allocator> Segregate<LIMIT, S, L> {
    /// `grow` and `grow_zeroed`: within a part, or from `S` to `L` across the limit.
    ///
    /// # Safety
    ///
    /// The contract of [`Allocator::grow`].
    #[inline(always)]
    unsafe fn resize_up(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the block belongs to the part its size says (every layout it may be
        // resized with lies on the same side of the limit); the caller's contract.
        unsafe {
            match (old.size() <= LIMIT, new.size() <= LIMIT) {
                (false, _) if zeroed => self.large.grow_zeroed(ptr, old, new),
                (false, _) => self.large.grow(ptr, old, new),
                (true, true) if zeroed => {
                    self.small.grow_zeroed(ptr, old, new).map(capped::<LIMIT>)
                }
                (true, true) => self.small.grow(ptr, old, new).map(capped::<LIMIT>),
                (true, false) => move_between(&self.small, &self.large, ptr, old, new, zeroed),
            }
        }
    }
}

// SAFETY: a block of at most `LIMIT` requested bytes comes from `S` and is handed out
// with at most `LIMIT` bytes, so every layout that fits it is small and routes to `S`;
// a larger block comes from `L` and every layout that fits it is larger than `LIMIT`, so
// it routes to `L`. Crossing the limit moves the block into a fresh block of the other
// part before the old one is freed.
unsafe impl<const LIMIT: usize, S: Allocator, L: Allocator> Allocator for Segregate<LIMIT, S, L> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() <= LIMIT {
            self.small.allocate(layout).map(capped::<LIMIT>)
        } else {
            self.large.allocate(layout)
        }
    }

    #[inline(always)]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() <= LIMIT {
            self.small.allocate_zeroed(layout).map(capped::<LIMIT>)
        } else {
            self.large.allocate_zeroed(layout)
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: the block belongs to the part its size says (see the impl's argument).
        unsafe {
            if layout.size() <= LIMIT {
                self.small.deallocate(ptr, layout)
            } else {
                self.large.deallocate(ptr, layout)
            }
        }
    }

    forward_resizing!(self => grows via resize_up);

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: the block belongs to the part its size says; the caller's contract.
        unsafe {
            match (old.size() <= LIMIT, new.size() <= LIMIT) {
                (true, _) => self.small.shrink(ptr, old, new).map(capped::<LIMIT>),
                (false, false) => self.large.shrink(ptr, old, new),
                (false, true) => move_between(&self.large, &self.small, ptr, old, new, false)
                    .map(capped::<LIMIT>),
            }
        }
    }
}

mirror_core_allocator!(impl[const LIMIT: usize, S: Allocator, L: Allocator] for Segregate<LIMIT, S, L>);

// SAFETY: the layout's size says which part the block would be in; that part's answer is
// exact, and the parts are held by value.
unsafe impl<const LIMIT: usize, S: Owns, L: Owns> Owns for Segregate<LIMIT, S, L> {
    #[inline(always)]
    fn owns(&self, ptr: NonNull<u8>, layout: Layout) -> bool {
        if layout.size() <= LIMIT {
            self.small.owns(ptr, layout)
        } else {
            self.large.owns(ptr, layout)
        }
    }
}

impl<const LIMIT: usize, S: Reset, L: Reset> Reset for Segregate<LIMIT, S, L> {
    /// Resets both parts.
    fn reset(&mut self) {
        self.small.reset();
        self.large.reset();
    }
}

impl<const LIMIT: usize, S: Inspect, L: Inspect> Inspect for Segregate<LIMIT, S, L> {
    /// The small part's statistics, then the large part's.
    type Stats = (S::Stats, L::Stats);

    fn stats(&self) -> Self::Stats {
        (self.small.stats(), self.large.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counting, SizeClasses};
    use allocator_api2::alloc::Global;

    fn l(size: usize) -> Layout {
        Layout::from_size_align(size, 8).unwrap()
    }

    type Split = Segregate<200, SizeClasses, Counting<Global>>;

    fn split() -> Split {
        Segregate::new(SizeClasses::new(), Counting::new(Global))
    }

    /// `SizeClasses` rounds 199 up to its 224-byte class; the composite hands out at
    /// most 200 bytes, so a free with the returned length reaches the small part, not
    /// `Global` (which would be handed a block it never allocated).
    #[test]
    fn small_lengths_are_capped_at_the_limit() {
        let heap = split();
        let raw = heap.small().allocate(l(199)).unwrap();
        assert!(raw.len() > 200, "the test needs a class above the limit");
        // SAFETY: a live block of the small part.
        unsafe { heap.small().deallocate(raw.cast(), l(199)) };
        let b = heap.allocate(l(199)).unwrap();
        assert_eq!(b.len(), 200);
        // SAFETY: `b` is live and fits its returned length.
        unsafe { heap.deallocate(b.cast(), l(b.len())) };
        assert_eq!(heap.large().stats().calls(), 0);
    }

    /// Grow across the limit moves to the large part and back down by shrink; contents
    /// survive both moves, and `grow_zeroed` zeroes past the old size.
    #[test]
    fn crossing_the_limit_moves_the_block() {
        let heap = split();
        let a = heap.allocate(l(100)).unwrap().cast::<u8>();
        // SAFETY: each block is live and replaced by the result of the next call.
        unsafe {
            a.as_ptr().write_bytes(9, 100);
            let g = heap.grow_zeroed(a, l(100), l(1000)).unwrap().cast::<u8>();
            assert_eq!(heap.large().stats().live_bytes, 1000);
            assert!((0..100).all(|i| g.add(i).read() == 9));
            assert!((100..1000).all(|i| g.add(i).read() == 0));
            let s = heap.shrink(g, l(1000), l(50)).unwrap();
            assert!(s.len() <= 200);
            assert_eq!(heap.large().stats().live_bytes, 0);
            assert!((0..50).all(|i| s.cast::<u8>().add(i).read() == 9));
            heap.deallocate(s.cast(), l(50));
        }
        assert_eq!(heap.large().stats().deallocations, 1);
    }

    /// The limit itself is small; one byte more is large; size 0 is small.
    #[test]
    fn the_limit_is_inclusive() {
        let heap = split();
        for (size, large) in [(0, 0), (200, 0), (201, 1)] {
            let b = heap.allocate(l(size)).unwrap();
            assert_eq!(heap.large().stats().allocations, large, "size {size}");
            // SAFETY: `b` is live with this layout.
            unsafe { heap.deallocate(b.cast(), l(size)) };
            heap.large().reset_stats();
        }
    }
}
