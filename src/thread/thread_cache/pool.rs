//! The pool of heap structs and the list of live heaps, under `SHARED`'s lock.
//!
//! Heap structs are never unmapped, so a stale pointer to one is never dangling; a
//! thread takes one when it first allocates and gives it back when it exits. The live
//! list is what a forked child walks to find the heaps of threads it did not inherit.

use core::ptr;

use super::{Heap, SHARED, Shared};
use crate::segment::PAGE;

/// Locks the shared state, ignoring poisoning: no code that can panic runs under it.
pub(super) fn shared() -> std::sync::MutexGuard<'static, Shared> {
    SHARED.lock().unwrap_or_else(|e| e.into_inner())
}

/// A heap struct from the pool, or null if the OS refuses memory for more. The heap is
/// put on the live list.
pub(super) fn pool_take() -> *mut Heap {
    let mut s = shared();
    let heap = if !s.free.is_null() {
        let heap = s.free;
        // SAFETY: pooled heaps are valid and owned by the pool.
        s.free = unsafe { (*heap).next_free };
        heap
    } else {
        if s.chunk_left == 0 {
            let Ok(chunk) = crate::os::map(PAGE) else {
                return ptr::null_mut();
            };
            s.chunk = chunk.as_ptr().cast();
            s.chunk_left = PAGE / size_of::<Heap>();
        }
        let heap = s.chunk;
        s.chunk_left -= 1;
        // SAFETY: the chunk has room for `chunk_left + 1` heaps; the mapping is
        // page-aligned, which satisfies `Heap`'s alignment. Pool chunks are never unmapped.
        unsafe {
            s.chunk = heap.add(1);
            heap.write(Heap::new());
        }
        heap
    };
    // SAFETY: `heap` is valid and, off the free list, on no list; the live list's members
    // are valid heaps, linked only under the lock, which is held.
    unsafe {
        (*heap).live_prev = ptr::null_mut();
        (*heap).live_next = s.live;
        if !s.live.is_null() {
            (*s.live).live_prev = heap;
        }
    }
    s.live = heap;
    heap
}

/// Returns a heap struct with no pages or segments to the pool.
pub(super) fn pool_give(heap: *mut Heap) {
    let mut s = shared();
    pool_give_locked(&mut s, heap);
}

/// [`pool_give`] with the lock already held.
pub(super) fn pool_give_locked(s: &mut Shared, heap: *mut Heap) {
    // SAFETY: the caller hands over the heap, which no thread uses any more; it is on the
    // live list, whose members are valid and linked only under the lock.
    unsafe {
        let (prev, next) = ((*heap).live_prev, (*heap).live_next);
        if prev.is_null() {
            s.live = next;
        } else {
            (*prev).live_next = next;
        }
        if !next.is_null() {
            (*next).live_prev = prev;
        }
        (*heap).next_free = s.free;
    }
    s.free = heap;
}
