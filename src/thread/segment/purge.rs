//! Giving free pages back to the OS after a delay.
//!
//! ## Design (mimalloc's delayed purge, jemalloc's decay)
//!
//! A page slot that stops serving blocks keeps its memory resident: it is likely to be
//! taken again soon, and purging costs a system call now and a page fault per 4 KiB
//! later. So a freed slot is only marked **dirty** and its segment gets a deadline
//! (`purge_delay` from now, unless it has an earlier one). The owning heap remembers its
//! earliest deadline; its slow paths check the clock only while it has one, and purge
//! the due segments' dirty slots with `madvise`, one call per run of adjacent slots. A
//! slot taken again before its deadline is simply clean again.
//!
//! Memory with no owner is handled where it loses its owner: a segment left by an exiting
//! thread is purged before it is published on the abandoned list (after that, another
//! thread may adopt it at any moment), and an empty segment put in the segment cache gets
//! a deadline of its own, checked by whichever heap next looks at the clock.

use core::ptr::NonNull;
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use super::{CACHED, PAGE, Segment, SegmentList, large, lock, options};
use crate::os;

/// Page slots serving blocks, process-wide, for `stats`.
pub(crate) static PAGES_IN_USE: AtomicUsize = AtomicUsize::new(0);
/// Bytes given back to the OS so far, for `stats`.
pub(crate) static PURGED_BYTES: AtomicU64 = AtomicU64::new(0);
/// The earliest deadline of a cached segment; `u64::MAX` when none is due.
static CACHE_PURGE_AT: AtomicU64 = AtomicU64::new(u64::MAX);
/// The earliest deadline of a segment on `ThreadCache`'s abandoned list.
pub(crate) static ABANDONED_PURGE_AT: AtomicU64 = AtomicU64::new(u64::MAX);

/// Purges the slots of `seg` whose bits are set in `mask`, one `madvise` per run.
///
/// # Safety
///
/// The caller owns `seg` (or holds the lock of the list it is on); the slots in `mask`
/// are free and nothing relies on their contents.
unsafe fn purge_slots(seg: *mut Segment, mask: u64) {
    let lazy = options::LAZY_PURGE.load(Ordering::Relaxed);
    let mut bits = mask;
    while bits != 0 {
        let start = bits.trailing_zeros() as usize;
        // Bit 0 (the header) is never set, so the run ends before bit 64.
        let run = (!(bits >> start)).trailing_zeros() as usize;
        // SAFETY: slots `start..start + run` lie inside the 4 MiB mapping and are free
        // (caller); page-aligned because slots are.
        unsafe {
            let at = NonNull::new_unchecked(seg.cast::<u8>().add(start * PAGE));
            os::purge(at, run * PAGE, lazy);
        }
        PURGED_BYTES.fetch_add((run * PAGE) as u64, Ordering::Relaxed);
        bits &= !(((1u64 << run) - 1) << start);
    }
}

/// Purges all of `seg`'s dirty slots now.
///
/// # Safety
///
/// As for `purge_slots`, for every dirty slot.
pub(crate) unsafe fn purge_segment(seg: *mut Segment) {
    // SAFETY: forwarded; dirty slots are free.
    unsafe {
        purge_slots(seg, (*seg).dirty);
        (*seg).dirty = 0;
        (*seg).purge_at = u64::MAX;
    }
}

/// Gives `seg`'s newly dirty slots a deadline, or purges them at once when the delay is
/// zero; returns the segment's deadline (`u64::MAX`: nothing pending). Reads the clock
/// only when the segment has no deadline yet: a page emptying in a segment that already
/// waits costs no clock read.
///
/// # Safety
///
/// The calling thread owns `seg`.
pub(crate) unsafe fn schedule_purge(seg: *mut Segment) -> u64 {
    let delay = options::PURGE_DELAY_MS.load(Ordering::Relaxed);
    // SAFETY: forwarded.
    unsafe {
        if delay == options::NEVER {
            (*seg).dirty = 0;
            return u64::MAX;
        }
        if delay == 0 {
            purge_segment(seg);
            return u64::MAX;
        }
        if (*seg).purge_at == u64::MAX {
            (*seg).purge_at = os::now_ms().saturating_add(delay);
        }
        (*seg).purge_at
    }
}

/// Schedules an empty segment entering the segment cache.
///
/// # Safety
///
/// The caller holds the cache's lock and is handing it `seg`, whose slots are all free.
pub(crate) unsafe fn schedule_cached(seg: *mut Segment) {
    // SAFETY: forwarded.
    unsafe { schedule_listed(seg, &CACHE_PURGE_AT) };
}

/// Gives `seg`, which is joining a shared list (the segment cache or the abandoned
/// list), a deadline, and lowers the list's earliest deadline `list_at` to it.
///
/// # Safety
///
/// The caller holds the list's lock and is handing it `seg`, which it owned until now:
/// the deadline is published under the lock, so a concurrent `purge_list` either sees
/// `seg` or runs before it and cannot overwrite `list_at` afterwards.
pub(crate) unsafe fn schedule_listed(seg: *mut Segment, list_at: &AtomicU64) {
    // SAFETY: forwarded.
    let at = unsafe { schedule_purge(seg) };
    list_at.fetch_min(at, Ordering::Relaxed);
}

/// Purges the due segments of a shared list whose earliest deadline is `list_at`, and
/// stores the list's next deadline there.
pub(crate) fn purge_list(list: &std::sync::Mutex<SegmentList>, list_at: &AtomicU64, now: u64) {
    if list_at.load(Ordering::Relaxed) > now {
        return;
    }
    let list = lock(list);
    let mut next = u64::MAX;
    let mut seg = list.first();
    while !seg.is_null() {
        // SAFETY: segments on a shared list are owned by it and its lock is held; their
        // free slots receive no blocks while they are there.
        unsafe {
            if (*seg).purge_at <= now {
                purge_segment(seg);
            }
            next = next.min((*seg).purge_at);
            seg = (*seg).next;
        }
    }
    list_at.store(next, Ordering::Relaxed);
}

/// The earliest time a cached or abandoned segment or a cached large span is due.
#[inline]
pub(crate) fn next_global_deadline() -> u64 {
    CACHE_PURGE_AT
        .load(Ordering::Relaxed)
        .min(ABANDONED_PURGE_AT.load(Ordering::Relaxed))
        .min(large::EXPIRES_AT.load(Ordering::Relaxed))
}

/// Purges the cached segments and unmaps the cached large spans that are due at `now`.
pub(crate) fn purge_tick(now: u64) {
    purge_list(&CACHED, &CACHE_PURGE_AT, now);
    if large::EXPIRES_AT.load(Ordering::Relaxed) <= now {
        large::expire(now);
    }
}
