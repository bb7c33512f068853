//! `fork()` in a multi-threaded process.
//!
//! The child of a fork has one thread, the one that forked, and a copy of every lock as
//! it was at that instant. A lock another thread held then stays held in the child for
//! ever, and the child's next allocation that needs it hangs. So the handlers below,
//! registered with `pthread_atfork` when the first thread gets a heap, take all four of
//! the allocator's locks before the fork, in the order the allocator nests them
//! (`SHARED`, then the abandoned list, then the segment cache, then the large-span cache,
//! which is a leaf), and release them after it in both processes: the child inherits them
//! free, with the state they guard whole.
//!
//! The child also inherits the heaps of the parent's other threads, which no thread of
//! its own will ever use or abandon; blocks it frees into their pages would be pushed
//! onto stacks nobody collects. The child handler abandons each of those heaps as if its
//! thread had exited, so their segments go to the abandoned list and the child's own
//! heap adopts them when it needs pages. Per-thread heaps are not under a lock, so one
//! of those threads may have been in the middle of an allocation or a free when the
//! parent forked: each of the allocator's own steps leaves a page either consistent or
//! with a block neither on a free list nor counted free, so the worst such a step can
//! leave in the child is a block or page that is never reused, not a block handed out
//! twice.

use core::cell::UnsafeCell;
use core::sync::atomic::{AtomicBool, Ordering};
use std::sync::MutexGuard;

use super::pool::{pool_give_locked, shared};
use super::{ABANDONED_LIST, HEAP, Shared, abandon};
use crate::segment::{self, SegmentList};

/// The four guards the forking thread holds across `fork`.
type Guards = (
    MutexGuard<'static, Shared>,
    MutexGuard<'static, SegmentList>,
    MutexGuard<'static, SegmentList>,
    segment::large::ForkGuard,
);

/// Where `prepare` leaves the guards for `parent` or `child`.
struct Held(UnsafeCell<Option<Guards>>);
// SAFETY: only a thread holding all four locks reads or writes the cell (`prepare` fills
// it after taking them, `parent`/`child` empty it before releasing them), so at most one
// thread touches it at a time, and that thread is the one that created the guards.
unsafe impl Sync for Held {}
static HELD: Held = Held(UnsafeCell::new(None));

/// Registers the handlers once per process.
pub(super) fn register() {
    static DONE: AtomicBool = AtomicBool::new(false);
    if !DONE.swap(true, Ordering::AcqRel) {
        crate::os::at_fork(prepare, parent, child);
    }
}

/// Before `fork`: take every lock, in the allocator's nesting order.
unsafe extern "C" fn prepare() {
    let guards = (
        shared(),
        segment::lock(&ABANDONED_LIST),
        segment::lock(&segment::CACHED),
        segment::large::lock_for_fork(),
    );
    // SAFETY: this thread now holds all four locks (see `Held`).
    unsafe { *HELD.0.get() = Some(guards) };
}

/// After `fork`, in the parent: release the locks.
unsafe extern "C" fn parent() {
    // SAFETY: `prepare` ran on this thread, which still holds the locks (see `Held`).
    drop(unsafe { (*HELD.0.get()).take() });
}

/// After `fork`, in the child: release the locks, then abandon the heaps of the threads
/// that did not come along.
unsafe extern "C" fn child() {
    // SAFETY: as in `parent`; the child's only thread is the one that ran `prepare`.
    let Some((mut s, abandoned, cache, large)) = (unsafe { (*HELD.0.get()).take() }) else {
        return;
    };
    // `abandon` takes the list and cache locks itself.
    drop((abandoned, cache, large));
    let mine = HEAP.get();
    let mut heap = s.live;
    while !heap.is_null() {
        // SAFETY: live heaps are valid pool structs; `next` is read before `heap` leaves
        // the list.
        let next = unsafe { (*heap).live_next };
        if heap != mine {
            // SAFETY: the thread that owned `heap` does not exist in this process, and
            // this one is the only thread, so it has exclusive use of the heap; the heap
            // goes back to the pool afterwards, as at a thread's exit.
            unsafe { abandon(heap) };
            pool_give_locked(&mut s, heap);
        }
        heap = next;
    }
}
