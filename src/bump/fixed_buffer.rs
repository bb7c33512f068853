//! `FixedBuffer`: a bump allocator over a buffer the caller lends it.
//!
//! Zig's `FixedBufferAllocator`: no heap, no OS, no growth. Allocation moves a cursor up
//! through the buffer; the most recent block can be freed, grown and shrunk in place;
//! everything else is released at once by [`reset`](FixedBuffer::reset). When the buffer
//! is exhausted, allocation returns `AllocError` and nothing else happens.
//!
//! Pick it for scratch space of a known bound — a stack array in a hot function, a static
//! buffer in firmware — where a heap is unavailable or too slow.
//!
//! ## Why the buffer is `[MaybeUninit<u8>]`
//!
//! A block's user may write any value into it, and values can hold uninitialised bytes:
//! a `MaybeUninit<u64>`, the padding of a struct. Those bytes stay in the buffer after
//! the blocks and the allocator are gone. If the caller had lent a `[u8]`, it would then
//! read them as `u8`, which is undefined behaviour, from safe code. Restoring the bytes
//! when the allocator is dropped would not help: `mem::forget` is safe and skips `Drop`.
//! So the buffer is borrowed as `[MaybeUninit<u8>]`, whose bytes the caller can only read
//! through `unsafe`, promising they are initialised.

use core::marker::PhantomData;
use core::mem::MaybeUninit;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout, dangling};
use crate::bump::Cursor;

/// Bump allocator over a borrowed buffer.
///
/// The buffer is borrowed for `'a`, so the allocator (and every block) cannot outlive
/// it, and the allocator itself can be moved freely while blocks are live.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use core::mem::MaybeUninit;
/// use allockit::FixedBuffer;
///
/// let mut stack = [MaybeUninit::uninit(); 256];
/// let buf = FixedBuffer::new(&mut stack);
/// let mut v = Vec::with_capacity_in(4, &buf);
/// v.extend([1u32, 2, 3, 4]);
/// v.reserve_exact(1); // the vector is the most recent block: it grows in place
/// v.push(5);
/// assert_eq!(buf.used(), 24); // 5 × 4 bytes, rounded up to a multiple of 8
/// ```
///
/// `FixedBuffer` is `Send` but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::FixedBuffer<'static>>();
/// ```
pub struct FixedBuffer<'a> {
    /// The first usable byte of the buffer (its first 8-aligned byte); invariant:
    /// `start <= cursor <= end` of `bump`.
    start: NonNull<u8>,
    /// The free tail `[cursor, end)` of the buffer.
    bump: Cursor,
    /// The buffer is exclusively borrowed for `'a`.
    _buffer: PhantomData<&'a mut [MaybeUninit<u8>]>,
}

// SAFETY: a `FixedBuffer` exclusively borrows its buffer, so moving it to another thread
// moves sole access to the buffer with it; it is not `Sync` (the cursor is a `Cell`).
unsafe impl Send for FixedBuffer<'_> {}

impl<'a> FixedBuffer<'a> {
    /// Allocates from `buffer`, e.g. a stack array `[MaybeUninit::uninit(); N]` (a
    /// reference to an array converts to a slice) or a `Vec`'s spare capacity. Its initial
    /// contents are irrelevant. Blocks start at multiples of 8, so up to 7 bytes at the
    /// start of an unaligned buffer go unused.
    ///
    /// ```
    /// use core::mem::MaybeUninit;
    /// let mut space = [MaybeUninit::<u8>::uninit(); 64];
    /// let buf = allockit::FixedBuffer::new(&mut space);
    /// assert!(buf.remaining() >= 64 - 7);
    ///
    /// let mut bytes = Vec::<u8>::with_capacity(1024);
    /// let buf = allockit::FixedBuffer::new(bytes.spare_capacity_mut());
    /// assert!(buf.remaining() >= 1024 - 7);
    /// ```
    ///
    /// The buffer is `[MaybeUninit<u8>]`, not `[u8]` (see the module notes): blocks may
    /// leave uninitialised bytes in it, which the caller must not read as `u8` after the
    /// allocator is gone. An initialised byte array is refused:
    ///
    /// ```compile_fail,E0308
    /// let mut bytes = [0u8; 64];
    /// let buf = allockit::FixedBuffer::new(&mut bytes);
    /// ```
    #[inline]
    pub fn new(buffer: &'a mut [MaybeUninit<u8>]) -> Self {
        let range = buffer.as_mut_ptr_range();
        let (start, end) = (range.start.cast::<u8>(), range.end.cast::<u8>());
        let bump = Cursor::empty();
        bump.set(start, end);
        FixedBuffer {
            // The cursor starts at the first 8-aligned byte; a slice pointer is never null,
            // even for an empty slice, and neither is a position inside or at its end.
            start: NonNull::new(bump.position()).unwrap_or(NonNull::dangling()),
            bump,
            _buffer: PhantomData,
        }
    }

    /// The former name of [`new`](Self::new), which now takes the same
    /// `&mut [MaybeUninit<u8>]`.
    ///
    /// ```
    /// # #![allow(deprecated)]
    /// let mut space = [core::mem::MaybeUninit::uninit(); 32];
    /// let buf = allockit::FixedBuffer::new_uninit(&mut space);
    /// assert_eq!(buf.used(), 0);
    /// ```
    #[deprecated(
        since = "0.2.0",
        note = "use `FixedBuffer::new`, which takes the same buffer"
    )]
    #[inline]
    pub fn new_uninit(buffer: &'a mut [MaybeUninit<u8>]) -> Self {
        Self::new(buffer)
    }

    /// Bytes handed out since creation or the last [`reset`](Self::reset), padding
    /// included.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let mut stack = [core::mem::MaybeUninit::uninit(); 64];
    /// let buf = allockit::FixedBuffer::new(&mut stack);
    /// let _a = Box::new_in(1u8, &buf);
    /// let _b = Box::new_in(2u32, &buf);
    /// assert_eq!(buf.used(), 16, "each block rounded up to 8 bytes");
    /// ```
    #[inline]
    pub fn used(&self) -> usize {
        self.bump.position().addr() - self.start.as_ptr().addr()
    }

    /// Bytes still free at the end of the buffer.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let mut stack = [core::mem::MaybeUninit::uninit(); 128];
    /// let buf = allockit::FixedBuffer::new(&mut stack);
    /// let before = buf.remaining();
    /// let v: Vec<u64, _> = Vec::with_capacity_in(4, &buf);
    /// assert_eq!(buf.remaining(), before - 32);
    /// let mut w: Vec<u8, _> = Vec::new_in(&buf);
    /// assert!(w.try_reserve(before).is_err(), "more than is left");
    /// # drop(v);
    /// ```
    #[inline]
    pub fn remaining(&self) -> usize {
        self.bump.remaining()
    }

    /// The bytes the buffer can hand out: its size, less up to 7 bytes skipped to start
    /// at an 8-aligned address.
    ///
    /// ```
    /// let mut stack = [core::mem::MaybeUninit::uninit(); 100];
    /// let buf = allockit::FixedBuffer::new(&mut stack);
    /// assert!((93..=100).contains(&buf.capacity()));
    /// assert_eq!(buf.capacity(), buf.used() + buf.remaining());
    /// ```
    #[inline]
    pub fn capacity(&self) -> usize {
        self.bump.end().addr() - self.start.as_ptr().addr()
    }

    /// Releases every block at once. Taking `&mut self` proves no block is still borrowed
    /// from this allocator.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let mut stack = [core::mem::MaybeUninit::uninit(); 64];
    /// let mut buf = allockit::FixedBuffer::new(&mut stack);
    /// drop(Box::new_in([0u8; 48], &buf));
    /// buf.reset();
    /// assert_eq!(buf.used(), 0);
    /// ```
    #[inline]
    pub fn reset(&mut self) {
        self.bump.set(self.start.as_ptr(), self.bump.end());
    }

    /// Whether `ptr` points into this allocator's buffer. [`Owns::owns`](crate::Owns)
    /// asks the same of a block.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let mut stack = [core::mem::MaybeUninit::uninit(); 64];
    /// let buf = allockit::FixedBuffer::new(&mut stack);
    /// let inside = Box::new_in(5u64, &buf);
    /// let outside = Box::new(5u64);
    /// assert!(buf.contains(&*inside as *const u64 as *const u8));
    /// assert!(!buf.contains(&*outside as *const u64 as *const u8));
    /// ```
    #[inline(always)]
    pub fn contains(&self, ptr: *const u8) -> bool {
        ptr.addr().wrapping_sub(self.start.as_ptr().addr())
            < self.bump.end().addr() - self.start.as_ptr().addr()
    }
}

impl core::fmt::Debug for FixedBuffer<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FixedBuffer")
            .field("used", &self.used())
            .field("remaining", &self.remaining())
            .finish()
    }
}

// SAFETY: blocks are disjoint ranges of the borrowed buffer (the cursor only hands out
// bytes above every live block), valid for `'a`, which outlives the allocator; moving
// the allocator does not move the buffer.
unsafe impl Allocator for FixedBuffer<'_> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        match self.bump.bump(layout.size(), layout.align()) {
            Some(p) => Ok(NonNull::slice_from_raw_parts(p, layout.size())),
            None => Err(AllocError),
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        self.bump.free(ptr, layout.size());
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.bump.grow(self, ptr, old, new) }
    }

    grow_zeroed_via_grow!();

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.bump.shrink(self, ptr, old, new) }
    }
}

// SAFETY: blocks stay valid until `reset` (which needs `&mut`) or until the buffer's
// borrow `'b` ends, and `'a` is within both; a block is reused only after being given
// back through `deallocate`/`shrink`/`grow`.
unsafe impl<'a> crate::BumpAlloc<'a> for &'a FixedBuffer<'_> {
    #[inline(always)]
    fn try_alloc_layout(self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        Allocator::allocate(self, layout).map(|block| block.cast())
    }
}

mirror_core_allocator!(impl['a] for FixedBuffer<'a>);

// SAFETY: every non-empty block of a `FixedBuffer` lies inside its buffer, which it
// borrows exclusively for its whole life: no other allocator can hand out memory there
// (an allocator built on `&FixedBuffer` is not the value, and references do not
// implement `Owns`).
unsafe impl crate::Owns for FixedBuffer<'_> {
    #[inline(always)]
    fn owns(&self, ptr: NonNull<u8>, _: Layout) -> bool {
        self.contains(ptr.as_ptr())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator_api2::boxed::Box;

    #[test]
    fn exhaustion_then_reset() {
        let mut space = [MaybeUninit::uninit(); 64];
        let mut buf = FixedBuffer::new(&mut space);
        let l = Layout::new::<[u8; 24]>();
        assert!(buf.allocate(l).is_ok() && buf.allocate(l).is_ok());
        assert!(buf.allocate(l).is_err(), "48 + 24 > 64");
        assert_eq!(buf.used(), 48);
        buf.reset();
        assert_eq!((buf.used(), buf.remaining()), (0, buf.capacity()));
        assert!(buf.capacity() > 64 - 8, "at most 7 bytes skipped to align");
    }

    #[test]
    fn last_block_frees_and_resizes_in_place() {
        let mut space = [MaybeUninit::uninit(); 128];
        let buf = FixedBuffer::new(&mut space);
        let a = buf.allocate(Layout::new::<u64>()).unwrap().cast::<u8>();
        let small = Layout::from_size_align(8, 8).unwrap();
        let big = Layout::from_size_align(64, 8).unwrap();
        // SAFETY: `a` is the most recent block, allocated with `small`.
        unsafe {
            let g = buf.grow(a, small, big).unwrap();
            assert_eq!(g.cast::<u8>(), a, "grown in place");
            let s = buf.shrink(a, big, small).unwrap();
            assert_eq!((s.cast::<u8>(), buf.used()), (a, 8));
            buf.deallocate(a, small);
        }
        assert_eq!(buf.used(), 0);
    }

    /// Blocks may hold uninitialised bytes (a `MaybeUninit`, padding), which stay in the
    /// buffer after the allocator is gone.
    /// The caller's storage is `[MaybeUninit<u8>]`, so safe code cannot read them as
    /// `u8`; it reads, with `unsafe`, only the bytes it knows a block initialised. (With a
    /// `[u8]` buffer, summing the storage here was an uninitialised read under Miri.)
    #[test]
    fn uninit_values_do_not_reach_the_callers_bytes() {
        let mut storage = [MaybeUninit::<u8>::uninit(); 64];
        {
            let buf = FixedBuffer::new(&mut storage);
            let known = Box::new_in([7u8; 8], &buf);
            let b = Box::new_in(MaybeUninit::<u64>::uninit(), &buf);
            let p = Box::new_in((1u8, 2u32), &buf); // 3 bytes of padding
            assert_eq!(p.0 + known[0], 8);
            drop((known, b, p));
        }
        // The first block started at the buffer's first 8-aligned byte.
        let first = storage.as_ptr().addr().next_multiple_of(8) - storage.as_ptr().addr();
        let bytes = &storage[first..first + 8];
        // SAFETY: the first block's 8 bytes were written as `7u8`, and no later block
        // overlaps them.
        let read: [u8; 8] = core::array::from_fn(|i| unsafe { bytes[i].assume_init() });
        assert_eq!(read, [7; 8]);
    }

    #[test]
    fn empty_buffer_only_serves_zero_size() {
        let buf = FixedBuffer::new(&mut []);
        assert!(buf.allocate(Layout::new::<()>()).is_ok());
        assert!(buf.allocate(Layout::new::<u8>()).is_err());
    }
}
