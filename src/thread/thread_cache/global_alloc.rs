//! `ThreadCache` as a `GlobalAlloc`, for `#[global_allocator]`: the same blocks as its
//! `Allocator` impl.

use core::alloc::Layout;

use core::ptr;

use super::{ThreadCache, free};

// SAFETY: as for `Allocator`. A zero size (which callers must not pass) is served as
// one byte, so a pointer this returns is always a real block that `dealloc` can free.
unsafe impl core::alloc::GlobalAlloc for ThreadCache {
    #[inline(always)]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let layout =
            Layout::from_size_align(layout.size().max(1), layout.align()).unwrap_or(layout);
        Self::alloc_block(layout).0
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let layout =
            Layout::from_size_align(layout.size().max(1), layout.align()).unwrap_or(layout);
        Self::alloc_block_zeroed(layout).0
    }

    #[inline(always)]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: a live block of this allocator (caller).
        unsafe { free(ptr, layout.size()) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size.max(1), layout.align()) else {
            return ptr::null_mut();
        };
        let old = Layout::from_size_align(layout.size().max(1), layout.align()).unwrap_or(new);
        // SAFETY: a live block of this allocator with layout `layout` (caller).
        unsafe { Self::resize(ptr, old, new).0 }
    }
}
