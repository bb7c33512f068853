//! `StackFallback<N, A>`: an inline buffer of `N` bytes used first, then `A`.
//!
//! Zig's `std.heap.stackFallback`. A function that usually needs a little memory and
//! rarely a lot declares one on its stack: while its collections stay small they live in
//! the buffer (no call to any heap, no lock, memory already in cache), and what outgrows
//! the buffer goes to `A`.
//!
//! ## Why `&StackFallback` is the allocator, not the value
//!
//! The buffer is inline: moving the value moves the buffer. If the value were the
//! allocator, a collection could own it (`Vec::new_in(sf)`) and a move of the collection
//! would move the bytes under the blocks it holds. So only `&StackFallback` implements
//! `Allocator` (the rule Rust's `Allocator` docs give for inline storage): every
//! collection borrows the value, and the borrow checker refuses a move while one does.
//!
//! ## Offsets, not pointers
//!
//! The value can still move while no collection borrows it, so nothing inside it points
//! into the buffer. The state is one offset, `used`; each call rebuilds the buffer's
//! address from `&self`, which costs nothing (the reference is already in a register).
//! The buffer is 16-aligned and `used` is kept a multiple of 8, so the fast path for
//! alignments up to 8 is the cursor's: an add, a compare and a store.
//!
//! ## Freeing
//!
//! As in [`FixedBuffer`](crate::FixedBuffer), the most recent block of the buffer can be
//! freed, grown and shrunk in place; any other block of the buffer keeps its bytes for
//! the value's life (or until [`Reset`]), so a `StackFallback` serves one burst of work
//! and is dropped. A block outside the buffer is `A`'s, and goes back to `A`.

use core::cell::{Cell, UnsafeCell};
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::align::{is_aligned, pad_up};
use crate::api::{AllocError, Allocator, Layout, dangling, move_block};
use crate::{Inspect, Reset};

/// Alignment the buffer starts at, and the multiple `used` is kept at.
const STEP: usize = 8;

/// `size` rounded up to [`STEP`], the bytes a block takes. Cannot overflow for the size
/// of a `Layout`, at most `isize::MAX`.
#[inline(always)]
const fn footprint(size: usize) -> usize {
    (size + STEP - 1) & !(STEP - 1)
}

/// The inline storage, 16-aligned so that blocks aligned to up to 8 need no padding.
#[repr(C, align(16))]
struct Buffer<const N: usize>(UnsafeCell<[MaybeUninit<u8>; N]>);

/// An inline buffer of `N` bytes, then `A`: allocate through `&StackFallback`.
///
/// ```
/// use allocator_api2::{alloc::Global, vec::Vec};
/// use allockit::StackFallback;
///
/// fn words(line: &str) -> usize {
///     let sf = StackFallback::<4096, _>::new_in(Global);
///     let mut seen = Vec::new_in(&sf);
///     for w in line.split_whitespace() {
///         if !seen.contains(&w) {
///             seen.push(w);
///         }
///     }
///     seen.len()
/// }
/// assert_eq!(words("the cat and the hat"), 4);
/// ```
///
/// The value itself is not an allocator, so no collection can own it and carry the
/// buffer away:
///
/// ```compile_fail,E0277
/// use allockit::StackFallback;
/// let v: allocator_api2::vec::Vec<u8, _> =
///     allocator_api2::vec::Vec::new_in(StackFallback::<64, _>::new());
/// ```
///
/// and it cannot move while a collection borrows it:
///
/// ```compile_fail,E0505
/// use allockit::StackFallback;
/// let sf = StackFallback::<256, _>::new();
/// let mut v = allocator_api2::vec::Vec::new_in(&sf);
/// v.push(1u64);
/// let moved = sf;
/// v.push(2);
/// # drop(moved);
/// ```
///
/// It is `Send` when `A` is, and never `Sync`, so `&StackFallback` stays on its thread:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::StackFallback<64>>();
/// ```
#[repr(C)]
pub struct StackFallback<const N: usize, A = allocator_api2::alloc::Global> {
    /// Bytes of `buffer` taken from its start: a multiple of `STEP`, at most `N`. Blocks
    /// of the buffer lie below it; the most recent one ends exactly at it.
    used: Cell<usize>,
    /// The inline storage; every block inside it is this allocator's.
    buffer: Buffer<N>,
    /// Serves what the buffer cannot; every block outside the buffer is its.
    fallback: A,
}

impl<const N: usize> StackFallback<N> {
    /// An empty buffer of `N` bytes, then the global heap.
    ///
    /// ```
    /// let sf = allockit::StackFallback::<512>::new();
    /// let b = allocator_api2::boxed::Box::new_in(5u32, &sf);
    /// assert_eq!((*b, sf.used()), (5, 8));
    /// ```
    pub const fn new() -> Self {
        Self::new_in(allocator_api2::alloc::Global)
    }
}

impl<const N: usize, A> StackFallback<N, A> {
    /// An empty buffer of `N` bytes, then `fallback`.
    ///
    /// ```
    /// use allockit::{SizeClasses, StackFallback};
    /// let sf = StackFallback::<1024, _>::new_in(SizeClasses::new());
    /// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(2000, &sf);
    /// assert_eq!(sf.used(), 0, "2,000 bytes do not fit: from the size classes");
    /// # drop(v);
    /// ```
    pub const fn new_in(fallback: A) -> Self {
        StackFallback {
            used: Cell::new(0),
            buffer: Buffer(UnsafeCell::new([MaybeUninit::uninit(); N])),
            fallback,
        }
    }

    /// Bytes of the buffer in use (blocks, and the padding before aligned ones).
    ///
    /// ```
    /// let sf = allockit::StackFallback::<64>::new();
    /// let v = allocator_api2::vec::Vec::<u16, _>::with_capacity_in(3, &sf);
    /// assert_eq!(sf.used(), 8, "6 bytes, rounded up to 8");
    /// # drop(v);
    /// ```
    #[inline]
    pub fn used(&self) -> usize {
        self.used.get()
    }

    /// Bytes of the buffer still free.
    ///
    /// ```
    /// let sf = allockit::StackFallback::<64>::new();
    /// assert_eq!(sf.remaining(), 64);
    /// ```
    #[inline]
    pub fn remaining(&self) -> usize {
        N - self.used.get()
    }

    /// The fallback allocator.
    ///
    /// ```
    /// use allockit::{Counting, StackFallback};
    /// let sf = StackFallback::<16, _>::new_in(Counting::new(allocator_api2::alloc::Global));
    /// let v = allocator_api2::vec::Vec::<u64, _>::with_capacity_in(4, &sf);
    /// assert_eq!(sf.fallback().stats().live_bytes, 32);
    /// # drop(v);
    /// ```
    pub fn fallback(&self) -> &A {
        &self.fallback
    }

    /// The fallback allocator; the buffer is dropped (no block can be live).
    ///
    /// ```
    /// let sf = allockit::StackFallback::<16, _>::new_in(allockit::SizeClasses::new());
    /// let heap = sf.into_fallback();
    /// assert_eq!(heap.reserved_bytes(), 0);
    /// ```
    pub fn into_fallback(self) -> A {
        self.fallback
    }

    /// The buffer's first byte; derived from `&self`, so it carries the provenance of the
    /// whole buffer, writable through the `UnsafeCell`.
    #[inline(always)]
    fn base(&self) -> *mut u8 {
        self.buffer.0.get().cast::<u8>()
    }

    /// How far into the buffer `ptr` is; `N` or more when it is outside.
    #[inline(always)]
    fn offset(&self, ptr: NonNull<u8>) -> usize {
        ptr.as_ptr().addr().wrapping_sub(self.base().addr())
    }

    /// The fast path: `layout` (not zero-size) carved from the buffer, or `None` when it
    /// does not fit.
    #[inline(always)]
    fn bump(&self, layout: Layout) -> Option<NonNull<u8>> {
        let used = self.used.get();
        // `used` is a multiple of 8 from a 16-aligned base: small alignments need no pad.
        let pad = if layout.align() <= STEP {
            0
        } else {
            pad_up(self.base().addr() + used, layout.align())
        };
        // At most `N + (align - 1) + isize::MAX - (align - 1)`: no overflow for any `N`
        // that fits in memory.
        let start = used + pad;
        let end = start + footprint(layout.size());
        if end > N {
            return None;
        }
        self.used.set(end);
        // SAFETY: `start < end <= N`: inside the buffer, whose base is not null.
        Some(unsafe { NonNull::new_unchecked(self.base().add(start)) })
    }

    /// Resizes the buffer's block at `offset` of `old` bytes to `new` bytes in place, if
    /// it is the most recent one and the buffer has room; `false` changes nothing.
    #[inline(always)]
    fn resize_last(&self, offset: usize, old: usize, new: usize) -> bool {
        let end = offset + footprint(new);
        if offset + footprint(old) != self.used.get() || end > N {
            return false;
        }
        self.used.set(end);
        true
    }
}

impl<const N: usize, A: Allocator> StackFallback<N, A> {
    /// Allocates from the fallback when the buffer is full.
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        if zeroed {
            self.fallback.allocate_zeroed(layout)
        } else {
            self.fallback.allocate(layout)
        }
    }
}

impl<const N: usize, A: Default> Default for StackFallback<N, A> {
    fn default() -> Self {
        Self::new_in(A::default())
    }
}

impl<const N: usize, A: core::fmt::Debug> core::fmt::Debug for StackFallback<N, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("StackFallback")
            .field("capacity", &N)
            .field("used", &self.used())
            .field("fallback", &self.fallback)
            .finish()
    }
}

// SAFETY: blocks of the buffer are disjoint ranges below `used`, which only moves down
// over the most recent block when that block is freed or shrunk; the buffer cannot move
// or be reused while a block is live, because every block is tied to a borrow of the
// value (`&'s StackFallback` is the allocator, valid for `'s`). Every other block is the
// fallback's, told apart by address: no block of the fallback lies inside the inline
// buffer, which only this value hands out. Zero-size layouts get the dangling block and
// reach neither.
unsafe impl<const N: usize, A: Allocator> Allocator for &StackFallback<N, A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        match self.bump(layout) {
            Some(p) => Ok(NonNull::slice_from_raw_parts(p, layout.size())),
            None => self.allocate_slow(layout, false),
        }
    }

    #[inline(always)]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        match self.bump(layout) {
            Some(p) => {
                // SAFETY: a fresh block of `layout.size()` writable bytes.
                unsafe { p.as_ptr().write_bytes(0, layout.size()) };
                Ok(NonNull::slice_from_raw_parts(p, layout.size()))
            }
            None => self.allocate_slow(layout, true),
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        let offset = self.offset(ptr);
        if offset < N {
            // The most recent block rolls the buffer back; any other keeps its bytes.
            if offset + footprint(layout.size()) == self.used.get() {
                self.used.set(offset);
            }
        } else {
            // SAFETY: a live block outside the buffer is the fallback's (see the impl's
            // argument); the caller's contract.
            unsafe { self.fallback.deallocate(ptr, layout) }
        }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        let offset = self.offset(ptr);
        if offset >= N {
            // SAFETY: the fallback's block (see `deallocate`); the caller's contract.
            return unsafe { self.fallback.grow(ptr, old, new) };
        }
        if is_aligned(ptr, new.align()) && self.resize_last(offset, old.size(), new.size()) {
            return Ok(NonNull::slice_from_raw_parts(ptr, new.size()));
        }
        // SAFETY: a live block of this allocator that fits `old` (caller).
        unsafe { move_block(self, ptr, old, new) }
    }

    grow_zeroed_via_grow!();

    shrink_nonzero!(self, ptr, old, new => {
        let offset = self.offset(ptr);
        if offset >= N {
            // SAFETY: the fallback's block (see `deallocate`); the caller's contract.
            return unsafe { self.fallback.shrink(ptr, old, new) };
        }
        if !is_aligned(ptr, new.align()) {
            // SAFETY: a live block of this allocator that fits `old` (caller).
            return unsafe { move_block(self, ptr, old, new) };
        }
        // The most recent block gives its tail back; any other keeps it.
        self.resize_last(offset, old.size(), new.size());
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    });
}

mirror_core_allocator!(impl['s, const N: usize, A: Allocator] for &'s StackFallback<N, A>);

impl<const N: usize, A: Reset> Reset for StackFallback<N, A> {
    /// Empties the buffer and resets the fallback.
    ///
    /// ```
    /// use allockit::{Arena, Reset, StackFallback};
    /// let mut sf = StackFallback::<64, _>::new_in(Arena::new());
    /// std::mem::forget(allocator_api2::boxed::Box::new_in(1u64, &sf));
    /// sf.reset();
    /// assert_eq!(sf.used(), 0);
    /// ```
    fn reset(&mut self) {
        self.used.set(0);
        self.fallback.reset();
    }
}

impl<const N: usize, A: Inspect> Inspect for StackFallback<N, A> {
    /// Bytes of the buffer in use, then the fallback's statistics.
    type Stats = (usize, A::Stats);

    fn stats(&self) -> Self::Stats {
        (self.used(), self.fallback.stats())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counting;
    use allocator_api2::alloc::Global;
    use allocator_api2::vec::Vec;

    fn l(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    /// A vector that stays small never reaches the fallback; one that outgrows the buffer
    /// moves there with its contents, and the buffer is given back.
    #[test]
    fn small_stays_inline_large_moves_out() {
        let sf = StackFallback::<256, _>::new_in(Counting::new(Global));
        let mut v = Vec::new_in(&sf);
        v.extend(0..32u64);
        assert_eq!((sf.used(), sf.fallback().stats().calls()), (256, 0));
        v.push(32);
        assert_eq!(
            sf.used(),
            0,
            "the vector left the buffer, which rolled back"
        );
        assert!(v.iter().copied().eq(0..33));
        drop(v);
        assert_eq!(sf.fallback().stats().live_bytes, 0);
    }

    /// The value moves freely once nothing borrows it: offsets follow the buffer.
    #[test]
    fn moved_value_still_allocates_in_its_buffer() {
        let sf = StackFallback::<64, _>::new_in(Counting::new(Global));
        drop(allocator_api2::boxed::Box::new_in(1u32, &sf));
        let moved = std::boxed::Box::new(sf);
        let b = allocator_api2::boxed::Box::new_in(7u64, &*moved);
        let addr = &*b as *const u64 as usize;
        let inside = (&*moved as *const StackFallback<64, _> as usize)
            ..(&*moved as *const StackFallback<64, _> as usize) + size_of_val(&*moved);
        assert!(inside.contains(&addr));
        assert_eq!(moved.fallback().stats().calls(), 0);
    }

    /// Alignments above 8 are padded inside the buffer; above the buffer's room, the
    /// fallback serves them.
    #[test]
    fn large_alignments() {
        let sf = StackFallback::<256, _>::new_in(Global);
        let a = (&sf).allocate(l(8, 8)).unwrap().cast::<u8>();
        let b = (&sf).allocate(l(16, 64)).unwrap().cast::<u8>();
        assert_eq!(b.as_ptr().addr() % 64, 0);
        assert!(sf.offset(b) < 256);
        let c = (&sf).allocate(l(16, 4096)).unwrap().cast::<u8>();
        assert_eq!(c.as_ptr().addr() % 4096, 0);
        // SAFETY: live blocks with these layouts.
        unsafe {
            (&sf).deallocate(c, l(16, 4096));
            (&sf).deallocate(b, l(16, 64));
            (&sf).deallocate(a, l(8, 8));
        }
    }

    /// A buffer whose size is not a multiple of 8 never hands out bytes past its end.
    #[test]
    fn odd_capacity() {
        let sf = StackFallback::<13, _>::new_in(Counting::new(Global));
        let a = (&sf).allocate(l(5, 1)).unwrap();
        let b = (&sf).allocate(l(5, 1)).unwrap();
        assert!(sf.offset(a.cast()) < 13 && sf.offset(b.cast()) >= 13);
        assert_eq!(sf.fallback().stats().allocations, 1);
        // SAFETY: live blocks with these layouts.
        unsafe {
            (&sf).deallocate(b.cast(), l(5, 1));
            (&sf).deallocate(a.cast(), l(5, 1));
        }
        assert_eq!(sf.used(), 0);
    }
}
