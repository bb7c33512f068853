//! Thread exit and adoption: a heap gives up its segments when its thread exits
//! (`abandon`), and a thread short of pages takes abandoned ones over (`adopt`).

use core::ptr;
use core::sync::atomic::Ordering;

use super::{ABANDONED_LIST, CLASSES, Heap, Owner, Page, Segment, collect, empty_page};
use super::{free_slot, link_segment, push_page};
use crate::segment::{self, ABANDONED};

/// Collects every page of `seg` in use, frees the slots of those left with no live
/// block and passes the others to `keep`; true when some page is still in use.
///
/// # Safety
///
/// The calling thread owns `seg`; its pages are on no circle that will be used again.
unsafe fn sweep_segment(seg: *mut Segment, mut keep: impl FnMut(*mut Page)) -> bool {
    // SAFETY: forwarded; only `seg`'s own pages and header are written.
    unsafe {
        for slot in 1..segment::PAGES {
            let page = (&raw mut (*seg).pages).cast::<Page>().add(slot);
            if (*page).in_use {
                collect(page);
                if (*page).used == 0 {
                    free_slot(page);
                } else {
                    keep(page);
                }
            }
        }
        (*seg).used_slots != 0
    }
}

/// Gives up all of `heap`'s segments: empty pages and segments are released, the rest
/// put on the abandoned list. `heap` is left with nothing.
///
/// The hand-off rule: once a segment is on the abandoned list, another thread may adopt
/// it and relink its pages at any moment, so this thread writes nothing reachable from it
/// afterwards. That is why the class circles, whose links run across segments, are
/// dropped first and never unlinked page by page, and why each segment is finished
/// (collected, its empty pages freed) before it is published. Remote frees that land
/// after a segment was published only push onto its pages' stacks; its adopter collects
/// them.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`, and will not use it again except by
/// handing it to the pool.
pub(super) unsafe fn abandon(heap: *mut Heap) {
    // SAFETY: `heap` and its segments are this thread's alone until each is published;
    // after `push` the segment is not touched again (its `next` was read before).
    unsafe {
        let mut seg = (*heap).segments;
        (*heap).pages = [empty_page(); CLASSES];
        (*heap).segments = ptr::null_mut();
        (*heap).purge_at = u64::MAX;
        while !seg.is_null() {
            let next = (*seg).next;
            if !sweep_segment(seg, |_| {}) {
                segment::release_segment(seg);
            } else {
                // Release: the adopter's Acquire (through the list's mutex) sees the pages.
                (*seg).owner.store(ABANDONED, Ordering::Release);
                let mut list = segment::lock(&ABANDONED_LIST);
                // Its free slots keep their deadline (or get one): the next thread to
                // check the clock purges them if nobody adopted the segment by then. A
                // thread starting soon after takes them still resident.
                segment::schedule_listed(seg, &segment::ABANDONED_PURGE_AT);
                list.push(seg);
            }
            seg = next;
        }
    }
}

/// Adopts abandoned segments into `heap` until one keeps a page in use: their pages join
/// `heap`'s circles; pages that emptied while abandoned are freed, and segments that
/// emptied are released. False when the list is empty.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`.
pub(super) unsafe fn adopt(heap: *mut Heap) -> bool {
    loop {
        let Some(seg) = segment::lock(&ABANDONED_LIST).pop() else {
            return false;
        };
        // SAFETY: an abandoned segment is owned by nobody; taking it off the list (under
        // its mutex) makes `heap` its only owner. Remote frees keep pushing onto page
        // stacks, which `collect` takes. Pages are linked only after being collected.
        unsafe {
            (*seg).owner.store(heap.cast::<Owner>(), Ordering::Release);
            if !sweep_segment(seg, |page| push_page(heap, page)) {
                segment::release_segment(seg);
            } else {
                link_segment(heap, seg);
                if (*seg).dirty != 0 {
                    let at = segment::schedule_purge(seg);
                    (*heap).purge_at = (*heap).purge_at.min(at);
                }
                return true;
            }
        }
    }
}
