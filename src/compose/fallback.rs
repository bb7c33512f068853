//! `Fallback<P, F>`: allocate from `P`; when `P` refuses, from `F`.
//!
//! D's `FallbackAllocator`. The usual primary is a bounded allocator that is fast or
//! cheap — a [`FixedBuffer`](crate::FixedBuffer) over a stack array, a
//! [`Slab`](crate::Slab) for one object size, a [`Compartment`](crate::Compartment) of
//! fixed size — and the fallback is a general heap that never runs out.
//!
//! ## Which part a block belongs to
//!
//! A block goes back to the part that [`Owns`] it: free, grow and shrink ask `P`, and a
//! block `P` does not own is `F`'s. The answer is exact by contract (`Owns` is an
//! `unsafe` trait), so a block never reaches the wrong part, whatever the sizes. `F`
//! needs no `Owns`: everything not `P`'s is `F`'s. For a `FixedBuffer` the test is one
//! range check, so freeing costs the part's free plus two compares.
//!
//! A grow that `P` cannot do in place or within itself (it is full, or the block
//! outgrows a slab's slot) moves the block to `F`. A block of `F` stays in `F` for its
//! whole life; it never moves back.
//!
//! Zero-size layouts are answered here with the dangling block and never reach a part,
//! so neither part has to own dangling pointers.

use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout, dangling, move_between, shrink_to_zero};
use crate::{Inspect, Owns, Reset};

/// Allocates from `P`, and from `F` when `P` fails; frees each block into the part that
/// [`Owns`] it.
///
/// A request handler's scratch memory: a stack buffer first, the global heap once the
/// buffer is used up.
///
/// ```
/// use allocator_api2::{alloc::Global, vec::Vec};
/// use allockit::{Fallback, FixedBuffer};
/// use core::mem::MaybeUninit;
///
/// let mut stack = [MaybeUninit::uninit(); 1024];
/// let heap = Fallback::new(FixedBuffer::new(&mut stack), Global);
/// let mut small = Vec::with_capacity_in(16, &heap);
/// small.extend(0..16u64);
/// assert_eq!(heap.primary().used(), 128, "in the stack buffer");
/// let mut big = Vec::with_capacity_in(1000, &heap);
/// big.extend(0..1000u64); // 8,000 bytes: from `Global`
/// small.extend(16..200); // outgrows the buffer: moved to `Global`
/// assert_eq!(small[199] + big[999], 199 + 999);
/// ```
///
/// A game's entities from a [`Slab`](crate::Slab), anything else from a
/// [`FreeList`](crate::FreeList):
///
/// ```
/// use allocator_api2::boxed::Box;
/// use allockit::{Fallback, FreeList, Slab};
///
/// struct Entity { pos: [f32; 3], vel: [f32; 3], id: u32 }
/// let heap = Fallback::new(Slab::for_type::<Entity>(), FreeList::new());
/// let e = Box::new_in(Entity { pos: [0.0; 3], vel: [1.0; 3], id: 7 }, &heap);
/// let name = Box::new_in([0u8; 100], &heap); // larger than a slot: the free list
/// assert_eq!(heap.primary().stats().live, 1);
/// assert_eq!(e.id as usize + name.len() + e.pos.len() + e.vel.len(), 113);
/// ```
///
/// `Fallback` is `Send` and `Sync` exactly when both parts are: over a single-threaded
/// part it is not `Sync`.
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Fallback<allockit::Slab, allockit::ThreadCache>>();
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Fallback<P, F> {
    /// Tried first; decides, through [`Owns`], which blocks are its own.
    primary: P,
    /// Serves what `primary` refuses; every block `primary` does not own is its.
    fallback: F,
}

impl<P, F> Fallback<P, F> {
    /// `primary` first, then `fallback`.
    ///
    /// ```
    /// use allockit::{Fallback, Slab, SizeClasses};
    /// let heap = Fallback::new(Slab::for_type::<[u64; 4]>(), SizeClasses::new());
    /// let b = allocator_api2::boxed::Box::new_in([1u64; 4], &heap);
    /// assert_eq!(b.iter().sum::<u64>(), 4);
    /// ```
    pub const fn new(primary: P, fallback: F) -> Self {
        Fallback { primary, fallback }
    }

    /// The primary part.
    ///
    /// ```
    /// use allockit::{Fallback, FixedBuffer, Pages};
    /// let mut space = [core::mem::MaybeUninit::uninit(); 64];
    /// let heap = Fallback::new(FixedBuffer::new(&mut space), Pages);
    /// assert_eq!(heap.primary().used(), 0);
    /// ```
    pub fn primary(&self) -> &P {
        &self.primary
    }

    /// The fallback part.
    ///
    /// ```
    /// use allockit::{Counting, Fallback, FixedBuffer};
    /// let mut space = [core::mem::MaybeUninit::uninit(); 8];
    /// let heap = Fallback::new(
    ///     FixedBuffer::new(&mut space),
    ///     Counting::new(allocator_api2::alloc::Global),
    /// );
    /// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(100, &heap);
    /// assert_eq!(heap.fallback().stats().allocations, 1);
    /// # drop(v);
    /// ```
    pub fn fallback(&self) -> &F {
        &self.fallback
    }

    /// Both parts, primary first; the composite is consumed (no block can be live).
    ///
    /// ```
    /// use allockit::{Fallback, Slab, FreeList};
    /// let heap = Fallback::new(Slab::for_type::<u64>(), FreeList::new());
    /// let (slab, list) = heap.into_parts();
    /// assert_eq!(slab.stats().live + list.stats().free_blocks, 0);
    /// ```
    pub fn into_parts(self) -> (P, F) {
        (self.primary, self.fallback)
    }
}

impl<P: Owns, F: Allocator> Fallback<P, F> {
    /// The slow path of `allocate`: `P` refused, so `F` serves. Out of line, so that the
    /// fast paths keep their registers (a call inside them makes the compiler spill).
    #[cold]
    #[inline(never)]
    fn allocate_fallback(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if zeroed {
            self.fallback.allocate_zeroed(layout)
        } else {
            self.fallback.allocate(layout)
        }
    }

    /// The slow path of `deallocate`: a block `P` does not own goes back to `F`.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of `F` that fits `layout`.
    #[cold]
    #[inline(never)]
    unsafe fn deallocate_fallback(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller.
        unsafe { self.fallback.deallocate(ptr, layout) }
    }

    /// `grow` and `grow_zeroed`: `F`'s blocks grow in `F`; `P`'s grow in `P` if it can,
    /// else move to `F`.
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
        if old.size() == 0 {
            // The dangling block of a zero-size layout: no part holds it.
            return if zeroed {
                self.allocate_zeroed(new)
            } else {
                self.allocate(new)
            };
        }
        if !self.primary.owns(ptr, old) {
            // SAFETY: a live block that `P` does not own is `F`'s (it came from one of
            // the two); the rest is the caller's contract.
            return unsafe {
                if zeroed {
                    self.fallback.grow_zeroed(ptr, old, new)
                } else {
                    self.fallback.grow(ptr, old, new)
                }
            };
        }
        // SAFETY: `P` owns the live block; the rest is the caller's contract.
        let grown = unsafe {
            if zeroed {
                self.primary.grow_zeroed(ptr, old, new)
            } else {
                self.primary.grow(ptr, old, new)
            }
        };
        match grown {
            Ok(block) => Ok(block),
            // SAFETY: a failed grow leaves the block live and unchanged in `P`.
            Err(AllocError) => unsafe {
                move_between(&self.primary, &self.fallback, ptr, old, new, zeroed)
            },
        }
    }
}

// SAFETY: every non-empty block comes from `P` or `F` and is handed back to the part that
// allocated it: `P`'s `Owns` answer is exact (its contract), and a block `P` does not own
// came from `F`. A block that moves between parts is copied into a fresh block of `F`
// before `P`'s is freed. Zero-size layouts get the dangling block and reach no part.
unsafe impl<P: Owns, F: Allocator> Allocator for Fallback<P, F> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        match self.primary.allocate(layout) {
            Ok(block) => Ok(block),
            Err(AllocError) => self.allocate_fallback(layout, false),
        }
    }

    #[inline(always)]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        match self.primary.allocate_zeroed(layout) {
            Ok(block) => Ok(block),
            Err(AllocError) => self.allocate_fallback(layout, true),
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        // SAFETY: the block is live and goes to the part that allocated it: `P` if it
        // owns it, else `F` (see the impl's argument).
        unsafe {
            if self.primary.owns(ptr, layout) {
                self.primary.deallocate(ptr, layout)
            } else {
                self.deallocate_fallback(ptr, layout)
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
        // SAFETY: forwarded from the caller; `deallocate` routes the block.
        if let Some(empty) = unsafe { shrink_to_zero(self, ptr, old, new) } {
            return Ok(empty);
        }
        if !self.primary.owns(ptr, old) {
            // SAFETY: the block is `F`'s (see `deallocate`); the caller's contract.
            return unsafe { self.fallback.shrink(ptr, old, new) };
        }
        // SAFETY: `P` owns the live block; the caller's contract.
        match unsafe { self.primary.shrink(ptr, old, new) } {
            Ok(block) => Ok(block),
            // `P` could not shrink it (a stricter alignment, say): `F` takes it.
            // SAFETY: a failed shrink leaves the block live and unchanged in `P`.
            Err(AllocError) => unsafe {
                move_between(&self.primary, &self.fallback, ptr, old, new, false)
            },
        }
    }
}

mirror_core_allocator!(impl[P: Owns, F: Allocator] for Fallback<P, F>);

// SAFETY: a non-empty block is `P`'s or `F`'s: it is this composite's exactly when one of
// them owns it, and `P`'s answer is exact. The parts are held by value, so no other
// allocator shares their memory.
unsafe impl<P: Owns, F: Owns> Owns for Fallback<P, F> {
    #[inline(always)]
    fn owns(&self, ptr: NonNull<u8>, layout: Layout) -> bool {
        layout.size() != 0 && (self.primary.owns(ptr, layout) || self.fallback.owns(ptr, layout))
    }
}

impl<P: Reset, F: Reset> Reset for Fallback<P, F> {
    /// Resets both parts.
    fn reset(&mut self) {
        self.primary.reset();
        self.fallback.reset();
    }
}

impl<P: Inspect, F: Inspect> Inspect for Fallback<P, F> {
    /// The primary's statistics, then the fallback's.
    type Stats = (P::Stats, F::Stats);

    fn stats(&self) -> Self::Stats {
        (self.primary.stats(), self.fallback.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Counting, FixedBuffer};
    use allocator_api2::alloc::Global;
    use core::mem::MaybeUninit;

    fn l(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// A full primary sends allocations to the fallback, and each block is freed into
    /// the part that made it (the counters of the fallback balance).
    #[test]
    fn blocks_go_back_to_their_part() {
        let mut space = [MaybeUninit::uninit(); 64];
        let heap = Fallback::new(FixedBuffer::new(&mut space), Counting::new(Global));
        let a = heap.allocate(l(48, 8)).unwrap().cast::<u8>();
        let b = heap.allocate(l(48, 8)).unwrap().cast::<u8>();
        assert!(heap.primary().owns(a, l(48, 8)) && !heap.primary().owns(b, l(48, 8)));
        assert_eq!(heap.fallback().stats().live_bytes, 48);
        // SAFETY: both are live blocks of `heap` with these layouts.
        unsafe {
            heap.deallocate(b, l(48, 8));
            heap.deallocate(a, l(48, 8));
        }
        assert_eq!(heap.fallback().stats().live_bytes, 0);
        assert_eq!(heap.primary().used(), 0, "the latest block rolled back");
    }

    /// The fallback's memory may start exactly where the primary's ends: a block there is
    /// the fallback's, freed and grown there (an off-by-one range test would hand it to
    /// the primary).
    #[test]
    fn adjacent_parts_are_told_apart() {
        // Aligned, so both halves start on a multiple of 8 and have no bytes to skip.
        #[repr(align(16))]
        struct Space([MaybeUninit<u8>; 128]);
        let mut space = Space([MaybeUninit::uninit(); 128]);
        let (front, back) = space.0.split_at_mut(64);
        let heap = Fallback::new(FixedBuffer::new(front), FixedBuffer::new(back));
        let a = heap.allocate(l(64, 8)).unwrap().cast::<u8>();
        let b = heap.allocate(l(8, 8)).unwrap().cast::<u8>();
        assert_eq!(
            b.as_ptr().addr(),
            a.as_ptr().addr() + 64,
            "the parts are adjacent"
        );
        assert!(heap.primary().owns(a, l(64, 8)) && !heap.primary().owns(b, l(8, 8)));
        // SAFETY: `b` is live with this layout; then the grown block replaces it.
        unsafe {
            let g = heap.grow(b, l(8, 8), l(16, 8)).unwrap();
            assert_eq!(
                (g.cast::<u8>(), heap.fallback().used()),
                (b, 16),
                "in place"
            );
            heap.deallocate(b, l(16, 8));
        }
        assert_eq!((heap.primary().used(), heap.fallback().used()), (64, 0));
    }

    /// A grow the primary cannot do moves the block, contents kept, to the fallback; a
    /// block of the fallback then grows and shrinks there.
    #[test]
    fn grow_past_the_primary_moves_to_the_fallback() {
        let mut space = [MaybeUninit::uninit(); 64];
        let heap = Fallback::new(FixedBuffer::new(&mut space), Counting::new(Global));
        let a = heap.allocate(l(16, 8)).unwrap().cast::<u8>();
        // SAFETY: `a` is live, 16 bytes; then each result replaces the previous block.
        unsafe {
            a.as_ptr().write_bytes(0xAB, 16);
            let g = heap
                .grow_zeroed(a, l(16, 8), l(200, 8))
                .unwrap()
                .cast::<u8>();
            assert!(!heap.primary().owns(g, l(200, 8)));
            assert_eq!(heap.primary().used(), 0, "the primary's block was freed");
            assert!((0..16).all(|i| g.add(i).read() == 0xAB));
            assert!((16..200).all(|i| g.add(i).read() == 0));
            let s = heap.shrink(g, l(200, 8), l(8, 8)).unwrap().cast::<u8>();
            assert_eq!(heap.fallback().stats().shrinks, 1, "shrunk in the fallback");
            heap.deallocate(s, l(8, 8));
        }
        assert_eq!(heap.fallback().stats().live_bytes, 0);
    }

    /// A shrink the primary refuses (a stricter alignment than its block has) moves
    /// the block to the fallback.
    #[test]
    fn shrink_to_a_stricter_alignment() {
        let mut space = [MaybeUninit::uninit(); 256];
        let heap = Fallback::new(FixedBuffer::new(&mut space), Global);
        let first = heap.allocate(l(8, 8)).unwrap().cast::<u8>();
        let odd = heap.allocate(l(64, 8)).unwrap().cast::<u8>();
        let align = if odd.as_ptr().addr().is_multiple_of(128) {
            256
        } else {
            128
        };
        // SAFETY: live blocks of `heap` with these layouts; then the result replaces `odd`.
        unsafe {
            odd.as_ptr().write_bytes(7, 64);
            let s = heap
                .shrink(odd, l(64, 8), l(32, align))
                .unwrap()
                .cast::<u8>();
            assert_eq!(s.as_ptr().addr() % align, 0);
            assert!((0..32).all(|i| s.add(i).read() == 7));
            heap.deallocate(s, l(32, align));
            heap.deallocate(first, l(8, 8));
        }
    }

    /// Zero-size layouts reach neither part.
    #[test]
    fn zero_size_reaches_no_part() {
        let mut space = [MaybeUninit::uninit(); 64];
        let heap = Fallback::new(FixedBuffer::new(&mut space), Counting::new(Global));
        let z = heap.allocate(l(0, 64)).unwrap();
        assert_eq!((z.len(), z.cast::<u8>().as_ptr().addr() % 64), (0, 0));
        // SAFETY: the dangling block of that layout; then a grow and a shrink of it.
        unsafe {
            heap.deallocate(z.cast(), l(0, 64));
            let g = heap.grow(z.cast(), l(0, 64), l(8, 8)).unwrap().cast::<u8>();
            assert!(heap.primary().owns(g, l(8, 8)));
            let s = heap.shrink(g, l(8, 8), l(0, 8)).unwrap();
            assert_eq!(s.len(), 0);
        }
        assert_eq!(heap.fallback().stats().calls(), 0);
        assert_eq!(heap.primary().used(), 0);
    }
}
