//! Purge deadlines: a heap's slow paths give its own dirty page slots, and the shared
//! lists' (cached and abandoned segments, cached large spans), their turn. The deadlines
//! themselves are kept in `segment/purge.rs`.

use super::{ABANDONED_LIST, Heap};
use crate::os;
use crate::segment;

/// Purges what is due: `heap`'s dirty page slots (when the thread has a heap), the
/// cached segments, the cached large spans, the abandoned segments. Reads the clock only
/// when something is pending.
///
/// # Safety
///
/// `heap` is null or the calling thread has exclusive use of it.
#[inline]
pub(super) unsafe fn maybe_purge(heap: *mut Heap) {
    let own = if heap.is_null() {
        u64::MAX
    } else {
        // SAFETY: a non-null `heap` is this thread's (caller).
        unsafe { (*heap).purge_at }
    };
    let due = own.min(segment::next_global_deadline());
    if due == u64::MAX {
        return;
    }
    let now = os::now_ms();
    if now < due {
        return;
    }
    // SAFETY: forwarded; the segments on `heap`'s list are its own.
    unsafe {
        if own <= now {
            let mut next = u64::MAX;
            let mut seg = (*heap).segments;
            while !seg.is_null() {
                if (*seg).purge_at <= now {
                    segment::purge_segment(seg);
                }
                next = next.min((*seg).purge_at);
                seg = (*seg).next;
            }
            (*heap).purge_at = next;
        }
    }
    global_purge(now);
}

/// Purges what is due at `now` on the shared lists: cached segments, cached large spans,
/// abandoned segments (whose threads are gone and cannot purge them).
pub(super) fn global_purge(now: u64) {
    segment::purge_tick(now);
    segment::purge_list(&ABANDONED_LIST, &segment::ABANDONED_PURGE_AT, now);
}
