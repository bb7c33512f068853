//! `Pages`: every block is its own anonymous memory mapping.
//!
//! The simplest allocator that talks to the OS (Zig's `PageAllocator`). A block is
//! rounded up to whole pages; the rounded length is returned, so a `Vec` uses the slack
//! without asking again. Alignments above the page size are met by mapping
//! `size + align - page` bytes and unmapping the misaligned head and the unused tail.
//! On Linux, `grow` uses `mremap`: first in place, then (when the alignment allows) by
//! letting the kernel move the pages, which never copies bytes. `shrink` unmaps the tail.
//!
//! Pick it for large buffers that should return to the OS the moment they are freed, and
//! as the backing allocator of the other strategies. Every call is a system call, so it is
//! the wrong choice for many small blocks.

use core::ptr::NonNull;

use crate::align::{is_aligned, pad_up, round_up};
use crate::api::{AllocError, Allocator, Layout, dangling, move_block, zero_tail};
use crate::os;

/// Page allocator: each block is an anonymous `mmap`, page-rounded.
///
/// `Pages` holds no state, so it is `Copy`, `Send` and `Sync`, and any number of values
/// share the same pool (the kernel's).
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::Pages;
///
/// use allockit::{Allocator, Layout};
///
/// let mut v: Vec<u8, Pages> = Vec::with_capacity_in(10, Pages);
/// v.extend_from_slice(b"hello");
/// assert_eq!(&v[..], b"hello");
///
/// // Blocks are whole pages, and the allocator says so.
/// let layout = Layout::new::<[u8; 10]>();
/// let block = Pages.allocate(layout).unwrap();
/// assert_eq!(block.len(), Pages::page_size());
/// // SAFETY: `block` came from `Pages` with `layout` and is freed once.
/// unsafe { Pages.deallocate(block.cast(), layout) };
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pages;

impl Pages {
    /// The size of one page, the granularity of every block.
    ///
    /// ```
    /// assert!(allockit::Pages::page_size().is_power_of_two());
    /// ```
    #[inline]
    pub fn page_size() -> usize {
        os::page_size()
    }

    /// The mapped length for a block of `size` bytes, or `None` if it overflows.
    #[inline]
    fn mapped_len(size: usize) -> Option<usize> {
        round_up(size, os::page_size())
    }

    /// Maps a fresh block for a non-zero-size `layout`.
    #[cold]
    fn map(layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        let page = os::page_size();
        let len = Self::mapped_len(layout.size()).ok_or(AllocError)?;
        if len > isize::MAX as usize {
            return Err(AllocError); // no Rust object may be this large; do not ask the OS
        }
        if layout.align() <= page {
            let ptr = os::map(len).map_err(|_| AllocError)?;
            return Ok(NonNull::slice_from_raw_parts(ptr, len));
        }
        // Over-map by `align - page` so an aligned run of `len` bytes must lie inside, then
        // give the misaligned head and the unused tail back.
        let total = len.checked_add(layout.align() - page).ok_or(AllocError)?;
        if total > isize::MAX as usize {
            return Err(AllocError);
        }
        let raw = os::map(total).map_err(|_| AllocError)?;
        let head = pad_up(raw.as_ptr().addr(), layout.align());
        let tail = total - head - len;
        // SAFETY: `head` and `tail` are page multiples (addresses and `align` are page
        // multiples), both pieces lie inside the mapping just made, and nothing refers to
        // them. `ptr` is inside the same mapping, so it is non-null.
        let ptr = unsafe {
            let ptr = raw.add(head);
            if head > 0 {
                os::unmap(raw, head);
            }
            if tail > 0 {
                os::unmap(ptr.add(len), tail);
            }
            ptr
        };
        Ok(NonNull::slice_from_raw_parts(ptr, len))
    }

    /// Grows a non-zero-size block, in place or by `mremap` where possible.
    ///
    /// # Safety
    ///
    /// `ptr` is a block of this allocator fitting `old`; `new.size() >= old.size()`.
    unsafe fn grow_impl(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        let old_len = Self::mapped_len(old.size()).ok_or(AllocError)?;
        let new_len = Self::mapped_len(new.size()).ok_or(AllocError)?;
        let aligned = is_aligned(ptr, new.align());
        if aligned && new_len == old_len {
            return Ok(NonNull::slice_from_raw_parts(ptr, old_len));
        }
        if aligned && new_len <= isize::MAX as usize {
            // SAFETY: `[ptr, ptr + old_len)` is one whole mapping from `map` (caller);
            // the caller gives up the old address only on success.
            if let Ok(p) = unsafe { os::remap(ptr, old_len, new_len, false) } {
                return Ok(NonNull::slice_from_raw_parts(p, new_len));
            }
            if new.align() <= os::page_size() {
                // SAFETY: as above; a moved mapping is page-aligned, which meets `new`.
                if let Ok(p) = unsafe { os::remap(ptr, old_len, new_len, true) } {
                    return Ok(NonNull::slice_from_raw_parts(p, new_len));
                }
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { move_block(self, ptr, old, new) }
    }
}

// SAFETY: blocks are private anonymous mappings that stay valid until `deallocate`
// unmaps them; `Pages` has no state, so copies and moves share every block.
unsafe impl Allocator for Pages {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        Self::map(layout)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        // Fresh anonymous mappings are zero-filled by the kernel.
        self.allocate(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        // Any size between the requested and the returned length rounds to the same
        // mapped length, so the whole mapping is released.
        if let Some(len) = Self::mapped_len(layout.size()) {
            // SAFETY: `ptr` is a live block of this allocator (caller), i.e. a mapping of
            // `len` bytes from `map`, which nothing will use again.
            unsafe { os::unmap(ptr, len) }
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.grow_impl(ptr, old, new) }
    }

    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        let block = unsafe { self.grow_impl(ptr, old, new) }?;
        // Pages past the old mapped length are fresh (zeroed) whichever path ran; only the
        // slack of the old last page may hold bytes the caller wrote.
        let old_len = Self::mapped_len(old.size()).unwrap_or(0).min(block.len());
        // SAFETY: `block` is writable over its length and `old.size() <= old_len`.
        unsafe {
            zero_tail(
                NonNull::slice_from_raw_parts(block.cast::<u8>(), old_len),
                old.size(),
            )
        };
        Ok(block)
    }

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.size() == 0 || !is_aligned(ptr, new.align()) {
            // SAFETY: forwarded from the caller.
            return unsafe { move_block(self, ptr, old, new) };
        }
        let old_len = Self::mapped_len(old.size()).ok_or(AllocError)?;
        let new_len = Self::mapped_len(new.size()).ok_or(AllocError)?;
        if new_len < old_len {
            // SAFETY: the tail `[ptr + new_len, ptr + old_len)` is a page-aligned part of
            // this block's mapping that the caller no longer uses after a shrink.
            unsafe { os::unmap(ptr.add(new_len), old_len - new_len) };
        }
        Ok(NonNull::slice_from_raw_parts(ptr, new_len))
    }
}

mirror_core_allocator!(impl[] for Pages);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn large_alignment_trims_head_and_tail() {
        let page = Pages::page_size();
        let layout = Layout::from_size_align(page + 1, 16 * page).unwrap();
        let block = Pages.allocate(layout).unwrap();
        assert_eq!(block.len(), 2 * page);
        assert_eq!(block.cast::<u8>().as_ptr().addr() % (16 * page), 0);
        // SAFETY: the block is writable over its length and freed with its layout.
        unsafe {
            block.cast::<u8>().as_ptr().write_bytes(1, block.len());
            Pages.deallocate(block.cast(), layout);
        }
    }

    #[test]
    fn grow_keeps_contents_and_zeroes() {
        let small = Layout::from_size_align(10, 8).unwrap();
        let big = Layout::from_size_align(5 * Pages::page_size(), 8).unwrap();
        let block = Pages.allocate(small).unwrap().cast::<u8>();
        // SAFETY: writes stay inside the blocks; every block is freed with its layout.
        unsafe {
            block.as_ptr().write_bytes(9, block_len(small));
            let grown = Pages.grow_zeroed(block, small, big).unwrap();
            let p = grown.cast::<u8>().as_ptr();
            assert!((0..10).all(|i| *p.add(i) == 9));
            assert!((10..big.size()).all(|i| *p.add(i) == 0));
            let shrunk = Pages.shrink(grown.cast(), big, small).unwrap();
            assert_eq!(shrunk.len(), Pages::page_size());
            assert_eq!(*shrunk.cast::<u8>().as_ptr().add(9), 9);
            Pages.deallocate(shrunk.cast(), small);
        }
    }

    fn block_len(layout: Layout) -> usize {
        Pages::mapped_len(layout.size()).unwrap()
    }

    #[test]
    fn impossible_layouts_fail_cleanly() {
        // Rounded to pages, this exceeds isize::MAX: refused before asking the OS.
        let too_big = Layout::from_size_align(isize::MAX as usize, 1).unwrap();
        assert!(Pages.allocate(too_big).is_err());
        if !cfg!(miri) {
            // The kernel refuses these; Miri stops with "resource exhaustion" instead.
            let huge = Layout::from_size_align(isize::MAX as usize - 4095, 4096).unwrap();
            assert!(Pages.allocate(huge).is_err());
            let half = Layout::from_size_align(isize::MAX as usize / 2, 8 << 20).unwrap();
            assert!(Pages.allocate(half).is_err());
        }
        let zst = Layout::from_size_align(0, 1 << 20).unwrap();
        let z = Pages.allocate(zst).unwrap();
        assert_eq!(z.cast::<u8>().as_ptr().addr() % (1 << 20), 0);
    }
}
