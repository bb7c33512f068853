//! What a block is: its usable size, and whether an address is a block of ours at all
//! (C's `free` and `realloc` take any pointer).

use core::ptr;
use core::sync::atomic::Ordering;

use super::{LARGE, Segment, page_of, segment_of};
use crate::segment;

/// The usable size of the live block at `ptr`.
///
/// # Safety
///
/// `ptr` is a live block from this allocator.
pub(crate) unsafe fn usable_size(ptr: *mut u8) -> usize {
    // SAFETY: the block is live, so its header is mapped and its page's block size fixed.
    unsafe {
        let seg = segment_of(ptr.addr());
        if (*seg).owner.load(Ordering::Relaxed) == LARGE {
            segment::large_usable(seg)
        } else {
            (*page_of(seg, ptr.addr())).block_size as usize
        }
    }
}

/// Whether `ptr` is where a block of this allocator starts (live or free): its segment
/// is in the address-space map, and it is a block boundary below the carved part of a
/// page in use, or the start of a large block. Reads no memory outside our own headers.
///
/// # Safety
///
/// No other thread releases the segment that would hold `ptr` during the call: true
/// whenever `ptr` is a live block, or outside every segment this allocator maps.
#[inline(always)]
pub(super) unsafe fn is_block(ptr: *const u8) -> bool {
    let addr = ptr.addr();
    let base = addr.wrapping_sub(1) & !(segment::SEGMENT - 1);
    if !segment::map::contains(base) {
        return false;
    }
    // SAFETY: the map says `base` starts a mapped segment of ours, whose header stays
    // mapped for the call (caller). A page's start, block size and carved count change
    // only while it has no live block; a page not in use, and the header's slot 0, have
    // a carved count of 0, so no address passes for them.
    unsafe {
        let seg = ptr::with_exposed_provenance_mut::<Segment>(base);
        if (*seg).owner.load(Ordering::Acquire) == LARGE {
            return (*seg).block.addr() == addr;
        }
        if addr - base >= segment::SEGMENT {
            return false;
        }
        let page = page_of(seg, addr);
        // Exact for offsets below 2^16 and sizes up to 2^14 (see `Page::block_inv`).
        let offset = (addr - (*page).start.addr()) as u64;
        let index = (offset * (*page).block_inv as u64) >> 32;
        index * (*page).block_size as u64 == offset && index < (*page).capacity as u64
    }
}
