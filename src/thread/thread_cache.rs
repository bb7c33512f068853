//! `ThreadCache`: a thread-safe general-purpose allocator with per-thread heaps.
//!
//! ## Design (mimalloc and snmalloc: memory affinity, remote frees go home)
//!
//! Every thread gets a **heap** on its first allocation: per size class (the shared table
//! in `heap/size_class.rs`), a circular list of 64 KiB pages carved from 4 MiB segments (see
//! `segment.rs`). The heap pointer sits in a `#[thread_local]` cell, so:
//!
//! - **allocate** = thread-local load, class lookup, pop the head page's free list,
//!   count it: no lock, no atomic read-modify-write;
//! - **free by the owner** = the segment's owner (address rounded down to 4 MiB) equals
//!   this thread's heap: push onto the page's free list: no lock, no atomic RMW either;
//! - **free by another thread** = one compare-and-swap push onto the page's `thread_free`
//!   stack. The block goes back to the heap that owns it, not onto the freeing thread's
//!   lists (the mistake of Zig's `SmpAllocator`, which lets a producer/consumer pair
//!   migrate all memory to the consumer). The owner takes the whole stack with one swap
//!   when the page runs dry.
//!
//! When the head page of a class is exhausted, the slow path collects its remote frees,
//! carves more untouched blocks, or walks on around the circle (at most 8 pages, each
//! collected on the way; the circle's head moves, so full pages are revisited in turn
//! instead of being scanned every time), and only then takes a fresh page.
//!
//! **Thread exit.** A `thread_local!` guard's destructor abandons the heap: pages with no
//! live block are released, and each segment still holding live blocks is marked
//! `ABANDONED` and put on a global list. Remote frees into it keep working (they push onto
//! the page stacks); the next thread that needs a page adopts the segment, collects every
//! page and links them into its own lists. Heap structs come from a pool that is never
//! unmapped, so a stale pointer to one is never dangling.
//!
//! **Re-entrancy.** Setting a thread up registers the destructor, which may allocate
//! (glibc's `__cxa_thread_atexit_impl` calls `calloc`, which is this allocator under the
//! C drop-in). While a thread is being set up, or after its heap was abandoned, its
//! requests go to one shared **fallback heap** behind a mutex; frees of those blocks are
//! remote frees like any other.
//!
//! **Large blocks** (over 16 KiB, or aligned beyond 4 KiB) each get a 4 MiB-aligned
//! mapping of their own, reused through a cache of freed spans (`segment/large.rs`).
//! Empty segments beyond a reserve go back to the OS, and free pages are purged after a
//! delay (`segment/purge.rs`, `thread_cache/purge.rs`).
//!
//! The rest of the family lives beside this file: `handoff.rs` (thread exit and
//! adoption), `purge.rs` (purge deadlines), `query.rs` (usable size, block validation),
//! `stats.rs` (statistics and tuning), `pool.rs` (heap structs), `fork.rs`, `tls.rs` (the
//! thread-local heap pointer and exit guard) and `global_alloc.rs` (the `GlobalAlloc` impl).

use core::ptr::{self, NonNull};
use core::sync::atomic::Ordering;
use std::sync::Mutex;

use crate::api::{AllocError, Allocator, Layout, dangling};
use crate::segment::{
    self, LARGE, Owner, PAGE, Page, Segment, SegmentList, collect, extend, page_of, push_remote,
    segment_of,
};
use crate::size_class::{CLASSES, class_for, size_of_class};

pub use crate::segment::options::{OptionsError, ThreadCacheOptions};

/// Pages visited around a class's circle before a fresh page is taken.
const SEARCH: usize = 8;

/// One thread's heap.
pub(crate) struct Heap {
    /// The head of each class's circular page list; `empty_page()` when there is none.
    pages: [*mut Page; CLASSES],
    /// Segments this heap owns, doubly linked through `Segment::next`/`prev`.
    segments: *mut Segment,
    /// The next heap in the pool's free list.
    next_free: *mut Heap,
    /// Links in the list of heaps handed to threads (`Shared::live`), which a forked
    /// child walks to take over the heaps of the threads it did not inherit.
    live_next: *mut Heap,
    /// See `live_next`.
    live_prev: *mut Heap,
    /// The earliest purge deadline (`os::now_ms`) among its segments; `u64::MAX` if none.
    purge_at: u64,
}

/// The page every empty class points at: its free list is null, so the fast path falls
/// through to the slow path without a null check. It is never written.
struct EmptyPage(Page);
// SAFETY: no thread ever writes it (the slow path checks for it before touching a page),
// so sharing it is sharing an immutable value.
unsafe impl Sync for EmptyPage {}
static EMPTY: EmptyPage = EmptyPage(segment::empty_page_desc());

/// The never-written sentinel page.
#[inline(always)]
fn empty_page() -> *mut Page {
    (&raw const EMPTY.0).cast_mut()
}

impl Heap {
    /// A heap with no pages.
    const fn new() -> Self {
        Heap {
            pages: [(&raw const EMPTY.0).cast_mut(); CLASSES],
            segments: ptr::null_mut(),
            next_free: ptr::null_mut(),
            live_next: ptr::null_mut(),
            live_prev: ptr::null_mut(),
            purge_at: u64::MAX,
        }
    }
}

/// The fallback heap and the pool of heap structs.
struct Shared {
    /// Serves threads without a heap of their own.
    fallback: Heap,
    /// Free heap structs, linked through `next_free`.
    free: *mut Heap,
    /// Heap structs handed to threads and not yet given back, linked through
    /// `live_next`/`live_prev`.
    live: *mut Heap,
    /// Unused room in the current pool chunk for more heap structs.
    chunk: *mut Heap,
    /// Heap structs left in `chunk`.
    chunk_left: usize,
}
// SAFETY: everything behind the pointers is owned by `Shared` and only touched under its
// mutex (or by the one thread a heap was handed to).
unsafe impl Send for Shared {}

static SHARED: Mutex<Shared> = Mutex::new(Shared {
    fallback: Heap::new(),
    free: ptr::null_mut(),
    live: ptr::null_mut(),
    chunk: ptr::null_mut(),
    chunk_left: 0,
});
/// Segments whose thread exited while they held live blocks.
static ABANDONED_LIST: Mutex<SegmentList> = Mutex::new(SegmentList::new());

/// Gives this thread a heap, or returns null (then requests use the fallback heap).
#[cold]
#[inline(never)]
fn init_thread() -> *mut Heap {
    if STATE.get() != UNINIT {
        return ptr::null_mut();
    }
    STATE.set(INITIALIZING);
    let heap = pool_take();
    if heap.is_null() {
        STATE.set(UNINIT); // try again on a later request
        return heap;
    }
    // Registering may allocate (then through the fallback heap): no lock is held here.
    fork::register();
    // Registering the destructor may allocate (then through the fallback heap).
    if EXIT.try_with(|_| ()).is_err() {
        // Thread-locals are being destroyed: a heap set up now would never be abandoned.
        pool_give(heap);
        STATE.set(DEAD);
        return ptr::null_mut();
    }
    HEAP.set(heap);
    STATE.set(READY);
    heap
}

/// Allocates a block of class `class` from this thread's heap: the fast path.
#[inline(always)]
fn alloc_small(class: usize) -> *mut u8 {
    let heap = HEAP.get();
    if !heap.is_null() {
        // SAFETY: this thread's heap is used by this thread only; its head pages are
        // owned by it (or the never-written empty page, whose free list is null).
        unsafe {
            let page = *(*heap).pages.get_unchecked(class);
            let block = (*page).free;
            if !block.is_null() {
                (*page).free = (*block).next;
                (*page).used += 1;
                return block.cast();
            }
        }
    }
    alloc_slow(class)
}

/// The head page of `class` is exhausted, or this thread has no heap yet.
#[cold]
#[inline(never)]
fn alloc_slow(class: usize) -> *mut u8 {
    let mut heap = HEAP.get();
    if heap.is_null() {
        heap = init_thread();
    }
    if heap.is_null() {
        let mut s = shared();
        // SAFETY: the fallback heap is used only under the lock, which is held.
        return unsafe { heap_alloc(&raw mut s.fallback, class) };
    }
    // SAFETY: this thread's heap, used by this thread only.
    unsafe { heap_alloc(heap, class) }
}

/// Allocates from `heap`, finding or making a page with room; null when out of memory.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`.
unsafe fn heap_alloc(heap: *mut Heap, class: usize) -> *mut u8 {
    // SAFETY: forwarded; `find_page` returns a page of `heap` with a free block.
    unsafe {
        let page = find_page(heap, class);
        if page.is_null() {
            return ptr::null_mut();
        }
        let block = (*page).free;
        (*page).free = (*block).next;
        (*page).used += 1;
        block.cast()
    }
}

/// A page of `class` with a free block, made the head of its circle; null when out of
/// memory.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`.
unsafe fn find_page(heap: *mut Heap, class: usize) -> *mut Page {
    // SAFETY: pages on `heap`'s circles belong to segments `heap` owns.
    unsafe {
        maybe_purge(heap);
        for _ in 0..2 {
            let head = (*heap).pages[class];
            if head != empty_page() {
                let mut page = head;
                for _ in 0..SEARCH {
                    collect(page);
                    if !(*page).free.is_null() || extend(page) {
                        (*heap).pages[class] = page;
                        return page;
                    }
                    page = (*page).next;
                    if page == head {
                        break;
                    }
                }
                // The pages visited are full: the next search starts after them, so
                // every page of a long circle is visited in turn (and its remote frees
                // collected) instead of the same first few every time.
                (*heap).pages[class] = page;
            }
            // No room in the pages visited: adopt an abandoned segment (whose pages may
            // serve this class) and look again, once.
            if !adopt(heap) {
                break;
            }
        }
        let page = new_page(heap, class);
        if !page.is_null() {
            extend(page);
        }
        page
    }
}

/// Takes a free page slot of one of `heap`'s segments (or of a new segment) for `class`
/// and links it in as the head of the class's circle; null when out of memory.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`.
unsafe fn new_page(heap: *mut Heap, class: usize) -> *mut Page {
    // SAFETY: `heap`'s segments are owned by it; a new segment is linked in first.
    unsafe {
        let mut seg = (*heap).segments;
        while !seg.is_null() && (*seg).free_slots == 0 {
            seg = (*seg).next;
        }
        if seg.is_null() {
            let Some(new) = segment::new_segment(heap.cast::<Owner>()) else {
                return ptr::null_mut();
            };
            link_segment(heap, new);
            seg = new;
        }
        let slot = (*seg).free_slots.trailing_zeros() as usize;
        (*seg).free_slots &= !(1 << slot);
        (*seg).dirty &= !(1 << slot);
        (*seg).used_slots += 1;
        segment::PAGES_IN_USE.fetch_add(1, Ordering::Relaxed);
        let page = (&raw mut (*seg).pages).cast::<Page>().add(slot);
        let size = size_of_class(class);
        // Field by field, never `&mut Page` (see `segment::extend`).
        (*page).free = ptr::null_mut();
        (*page).used = 0;
        (*page).capacity = 0;
        (*page).reserved = (PAGE / size) as u32;
        (*page).block_size = size as u32;
        (*page).block_inv = (1u64 << 32).div_ceil(size as u64) as u32;
        (*page).class = class as u32;
        (*page).in_use = true;
        push_page(heap, page);
        (*heap).pages[class] = page;
        page
    }
}

/// Links `page` into its class's circle, just before the head (at the tail).
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`; `page` is in use and on no circle.
unsafe fn push_page(heap: *mut Heap, page: *mut Page) {
    // SAFETY: forwarded; circle members are pages of `heap`.
    unsafe {
        let class = (*page).class as usize;
        let head = (*heap).pages[class];
        if head == empty_page() {
            (*page).next = page;
            (*page).prev = page;
            (*heap).pages[class] = page;
        } else {
            let tail = (*head).prev;
            (*page).next = head;
            (*page).prev = tail;
            (*tail).next = page;
            (*head).prev = page;
        }
    }
}

/// Unlinks `page` from its class's circle and frees its slot; releases the segment when
/// it has no page left in use.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`, which owns `page`; `page.used == 0`.
unsafe fn release_page(heap: *mut Heap, page: *mut Page) {
    // SAFETY: forwarded.
    unsafe {
        let class = (*page).class as usize;
        if (*page).next == page {
            (*heap).pages[class] = empty_page();
        } else {
            (*(*page).prev).next = (*page).next;
            (*(*page).next).prev = (*page).prev;
            if (*heap).pages[class] == page {
                (*heap).pages[class] = (*page).next;
            }
        }
        let seg = (*page).segment;
        if free_slot(page) {
            unlink_segment(heap, seg);
            segment::release_segment(seg);
        } else {
            let at = segment::schedule_purge(seg);
            (*heap).purge_at = (*heap).purge_at.min(at);
        }
    }
}

/// Marks `page`'s slot free in its segment, touching no other page; true when the segment
/// has no page left in use.
///
/// # Safety
///
/// The calling thread owns `page`'s segment; `page` is in use, on no circle (or on one
/// that will not be used again), and `page.used == 0`.
unsafe fn free_slot(page: *mut Page) -> bool {
    // SAFETY: forwarded; only `page` and its own segment's header are written.
    unsafe {
        (*page).in_use = false;
        (*page).free = ptr::null_mut();
        // `is_block` accepts no address of a page with nothing carved.
        (*page).capacity = 0;
        let seg = (*page).segment;
        let slot = ((*page).start.addr() - seg.addr()) / PAGE;
        (*seg).free_slots |= 1 << slot;
        (*seg).dirty |= 1 << slot;
        (*seg).used_slots -= 1;
        segment::PAGES_IN_USE.fetch_sub(1, Ordering::Relaxed);
        (*seg).used_slots == 0
    }
}

/// Adds `seg` to `heap`'s segment list.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`; `seg` is owned by it and on no list.
unsafe fn link_segment(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: forwarded.
    unsafe {
        (*seg).prev = ptr::null_mut();
        (*seg).next = (*heap).segments;
        if !(*heap).segments.is_null() {
            (*(*heap).segments).prev = seg;
        }
        (*heap).segments = seg;
    }
}

/// Removes `seg` from `heap`'s segment list.
///
/// # Safety
///
/// The calling thread has exclusive use of `heap`; `seg` is on its list.
unsafe fn unlink_segment(heap: *mut Heap, seg: *mut Segment) {
    // SAFETY: forwarded.
    unsafe {
        if (*seg).prev.is_null() {
            (*heap).segments = (*seg).next;
        } else {
            (*(*seg).prev).next = (*seg).next;
        }
        if !(*seg).next.is_null() {
            (*(*seg).next).prev = (*seg).prev;
        }
    }
}

/// Frees the block at `ptr` (any size, any thread); `size` is its live size as the
/// caller knows it (`usize::MAX` when unknown, as from C's `free`).
///
/// # Safety
///
/// `ptr` is a live block from this allocator, valid for writes of `min(size, 8)` bytes.
#[inline(always)]
unsafe fn free(ptr: *mut u8, size: usize) {
    let addr = ptr.addr();
    // SAFETY: `ptr` is a live block, so its segment header is mapped.
    unsafe {
        let seg = segment_of(addr);
        let heap = HEAP.get();
        // A null heap matches no owner (owners are heaps or non-null markers).
        if (*seg).owner.load(Ordering::Relaxed) == heap.cast::<Owner>() {
            let page = page_of(seg, addr);
            let block = ptr::with_exposed_provenance_mut::<segment::Block>(addr);
            crate::api::write_link(block.cast(), ptr, size, (*page).free.cast());
            (*page).free = block;
            (*page).used -= 1;
            if (*page).used == 0 {
                page_emptied(heap, page);
            }
            return;
        }
        free_other(seg, ptr, size);
    }
}

/// The last block of a page this thread owns was freed: release the page unless it is
/// the head of its class (which is kept, so a class that empties and refills in a loop
/// does not take and release a page every time).
#[cold]
#[inline(never)]
unsafe fn page_emptied(heap: *mut Heap, page: *mut Page) {
    // SAFETY: `heap` is this thread's heap and owns `page`, whose `used` is 0.
    unsafe {
        if (*heap).pages[(*page).class as usize] != page {
            release_page(heap, page);
        }
        maybe_purge(heap);
    }
}

/// Frees a large block or a block another heap owns.
#[cold]
#[inline(never)]
unsafe fn free_other(seg: *mut Segment, ptr: *mut u8, size: usize) {
    // SAFETY: the caller holds the live block at `ptr` in `seg`.
    unsafe {
        if (*seg).owner.load(Ordering::Relaxed) == LARGE {
            segment::free_large(seg);
        } else {
            push_remote(page_of(seg, ptr.addr()), ptr, size);
        }
    }
}

/// The crate's thread-safe general-purpose allocator: per-thread heaps, remote frees go
/// back to the owning heap. Use it as the global allocator or per collection.
///
/// ```
/// use allockit::ThreadCache;
///
/// #[global_allocator]
/// static GLOBAL: ThreadCache = ThreadCache::new();
///
/// let handles: Vec<_> = (0..4)
///     .map(|t| std::thread::spawn(move || (0..1000).map(|i| format!("{t}:{i}")).collect::<Vec<_>>()))
///     .collect();
/// let all: Vec<String> = handles.into_iter().flat_map(|h| h.join().unwrap()).collect();
/// assert_eq!(all.len(), 4000); // allocated on four threads, freed on this one
/// ```
///
/// Every `ThreadCache` value is a handle to the same process-wide heaps: a block from one
/// may be freed through another.
#[derive(Clone, Copy, Default)]
pub struct ThreadCache {
    /// Keeps construction to [`ThreadCache::new`].
    _private: (),
}

impl ThreadCache {
    /// The allocator; `const`, so it can be a `static` `#[global_allocator]`.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let v = std::thread::spawn(|| {
    ///     let mut v = Vec::new_in(allockit::ThreadCache::new());
    ///     v.extend(0..1000u32);
    ///     v
    /// });
    /// let v = v.join().unwrap();
    /// assert_eq!(v[999], 999); // allocated on that thread, freed on this one
    /// ```
    pub const fn new() -> Self {
        ThreadCache { _private: () }
    }

    /// Frees a block without its layout, the way C's `free` does (the C drop-in uses it).
    ///
    /// # Safety
    ///
    /// `ptr` is a live block from a `ThreadCache` (any value, any thread), not used again.
    ///
    /// ```
    /// use allockit::{Allocator, Layout, ThreadCache};
    /// let tc = ThreadCache::new();
    /// let big = Layout::from_size_align(1 << 20, 8).unwrap();
    /// let p = tc.allocate(big).unwrap().cast::<u8>();
    /// let live = tc.stats().large_blocks;
    /// // SAFETY: `p` is a live block from a `ThreadCache`, not used after this.
    /// unsafe { tc.free(p) }; // no layout needed
    /// assert_eq!(tc.stats().large_blocks, live - 1);
    /// ```
    #[inline]
    pub unsafe fn free(&self, ptr: NonNull<u8>) {
        // SAFETY: forwarded from the caller.
        unsafe { free(ptr.as_ptr(), usize::MAX) }
    }

    /// The bytes usable in the live block at `ptr`: at least the size it was allocated
    /// with (its size class, or its large mapping). C's `malloc_usable_size`.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block from a `ThreadCache`.
    ///
    /// ```
    /// use allockit::{Allocator, Layout, ThreadCache};
    /// let tc = ThreadCache::new();
    /// let p = tc.allocate(Layout::new::<[u8; 100]>()).unwrap().cast::<u8>();
    /// // SAFETY: `p` is a live block from `tc`.
    /// let n = unsafe { tc.usable_size(p) };
    /// assert!(n >= 100, "at least the requested size: {n}");
    /// // SAFETY: `p` is live, from `tc`, and not used after this.
    /// unsafe { tc.free(p) };
    /// ```
    #[inline]
    pub unsafe fn usable_size(&self, ptr: NonNull<u8>) -> usize {
        // SAFETY: forwarded from the caller.
        unsafe { usable_size(ptr.as_ptr()) }
    }

    /// Whether `ptr` is the start of a block of a `ThreadCache` (live or already freed):
    /// false for interior pointers, pointers into mappings of others, static and stack
    /// addresses. It reads only the allocator's own address-space map and headers, so it
    /// is safe to ask of any pointer; the C drop-in's `free` and `realloc` ask it first
    /// and abort on `false`, as glibc does.
    ///
    /// ```
    /// use allockit::ThreadCache;
    /// use allockit::{Allocator, Layout};
    ///
    /// let tc = ThreadCache::new();
    /// let l = Layout::new::<[u64; 4]>();
    /// let p = tc.allocate(l).unwrap().cast::<u8>();
    /// // SAFETY: `p` is a live block, so its segment stays mapped during the calls.
    /// unsafe {
    ///     assert!(tc.is_block(p.as_ptr()));
    ///     assert!(!tc.is_block(p.as_ptr().add(8)));
    ///     assert!(!tc.is_block(&l as *const Layout as *const u8));
    ///     tc.deallocate(p, l);
    /// }
    /// ```
    ///
    /// # Safety
    ///
    /// No other thread frees the last live block of the segment that would hold `ptr`
    /// during the call (it is enough that `ptr` is a live block, or an address this
    /// allocator never mapped).
    #[inline]
    pub unsafe fn is_block(&self, ptr: *const u8) -> bool {
        // SAFETY: forwarded from the caller.
        unsafe { is_block(ptr) }
    }

    /// Like `alloc_block`, zeroed. A fresh large mapping is zero already; a small block
    /// or a reused large span is cleared.
    fn alloc_block_zeroed(layout: Layout) -> (*mut u8, usize) {
        let (p, usable, zero) = match class_for(layout) {
            Some(class) => (alloc_small(class), size_of_class(class), false),
            None => Self::alloc_large(layout),
        };
        if !p.is_null() && !zero {
            // SAFETY: a block of `usable` bytes, just allocated.
            unsafe { p.write_bytes(0, usable) };
        }
        (p, usable)
    }

    /// A block for `layout` (non-zero size) and its usable size; null when out of memory.
    #[inline(always)]
    fn alloc_block(layout: Layout) -> (*mut u8, usize) {
        match class_for(layout) {
            Some(class) => (alloc_small(class), size_of_class(class)),
            None => {
                let (p, usable, _) = Self::alloc_large(layout);
                (p, usable)
            }
        }
    }

    /// A large block: its address (null when out of memory), usable size, and whether it
    /// is known to be zero.
    #[cold]
    fn alloc_large(layout: Layout) -> (*mut u8, usize, bool) {
        // Large requests are a slow path that also gives the purge deadlines their
        // chance, the shared lists' even on a thread without a heap.
        // SAFETY: this thread's heap, or null.
        unsafe { maybe_purge(HEAP.get()) };
        match segment::alloc_large(layout.size(), layout.align()) {
            Some((p, usable, zero)) => (p.as_ptr(), usable, zero),
            None => (ptr::null_mut(), 0, false),
        }
    }

    /// Resizes the live block `ptr` of `old` to `new` (non-zero sizes): in place when the
    /// block's usable size and alignment allow and little would be wasted, else by moving.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block from this allocator allocated with a layout fitting `old`.
    unsafe fn resize(ptr: *mut u8, old: Layout, new: Layout) -> (*mut u8, usize) {
        if class_for(new).is_none() {
            // SAFETY: the block is live, so its header is mapped.
            let seg = unsafe { segment_of(ptr.addr()) };
            // SAFETY: as above; a large block's header is its owner's (the caller's).
            if unsafe { (*seg).owner.load(Ordering::Relaxed) } == LARGE
                && let Some((p, usable)) =
                    // SAFETY: the caller owns the live large block.
                    unsafe { segment::resize_large(seg, new.size(), new.align()) }
            {
                return (p.as_ptr(), usable);
            }
        }
        // SAFETY: forwarded from the caller.
        let usable = unsafe { usable_size(ptr) };
        let aligned = ptr.addr().is_multiple_of(new.align());
        if aligned && new.size() <= usable && new.size() > usable / 2 {
            // The caller's pointer may carry a tag that covers only the old size (a `Box`
            // turned into a `Vec`); hand back one with the segment's exposed provenance,
            // valid for the whole block.
            return (ptr::with_exposed_provenance_mut(ptr.addr()), usable);
        }
        let (q, usable) = Self::alloc_block(new);
        if !q.is_null() {
            // SAFETY: both blocks are live, distinct, and at least `min` bytes long.
            unsafe {
                ptr::copy_nonoverlapping(ptr, q, old.size().min(new.size()));
                free(ptr, old.size());
            }
        }
        (q, usable)
    }
}

impl core::fmt::Debug for ThreadCache {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("ThreadCache")
            .field("stats", &self.stats())
            .finish()
    }
}

/// A slice for a block, or `AllocError` for null.
#[inline(always)]
fn slice(p: *mut u8, len: usize) -> Result<NonNull<[u8]>, AllocError> {
    NonNull::new(p)
        .map(|p| NonNull::slice_from_raw_parts(p, len))
        .ok_or(AllocError)
}

// SAFETY: blocks are handed out once until freed (each lives on at most one free list);
// they are aligned by their class or large mapping; they stay valid until freed, from any
// thread, whatever `ThreadCache` value frees them (all share the process-wide heaps).
unsafe impl Allocator for ThreadCache {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let (p, usable) = Self::alloc_block(layout);
        slice(p, usable)
    }

    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let (p, usable) = Self::alloc_block_zeroed(layout);
        slice(p, usable)
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: a live block of this allocator (caller).
            unsafe { free(ptr.as_ptr(), layout.size()) };
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        // SAFETY: forwarded from the caller; `new.size() >= old.size() > 0`.
        let (p, usable) = unsafe { Self::resize(ptr.as_ptr(), old, new) };
        slice(p, usable)
    }

    grow_zeroed_via_grow!();

    shrink_nonzero!(self, ptr, old, new => {
        // SAFETY: forwarded from the caller; `old.size() >= new.size() > 0`.
        let (p, usable) = unsafe { Self::resize(ptr.as_ptr(), old, new) };
        slice(p, usable)
    });
}

mirror_core_allocator!(impl[] for ThreadCache);

mod fork;
mod global_alloc;
mod handoff;
mod pool;
mod purge;
mod query;
mod stats;
mod tls;

use handoff::{abandon, adopt};
use purge::maybe_purge;
use query::is_block;
pub(crate) use query::usable_size;
pub use stats::ThreadCacheStats;
use tls::{DEAD, EXIT, HEAP, INITIALIZING, READY, STATE, UNINIT};

use pool::{pool_give, pool_take, shared};

#[cfg(test)]
mod tests;
