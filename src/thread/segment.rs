//! Segments and pages: the memory layout under [`ThreadCache`](crate::ThreadCache).
//!
//! ## Design (mimalloc's segments, OSv/rpmalloc's "owner from the address")
//!
//! All memory of the thread-caching allocator lives in **segments**: 4 MiB mappings
//! aligned to 4 MiB. The first 64 KiB slot of a small segment holds its header (this
//! struct, a few KiB, the rest never touched); the other 63 slots are **pages** of 64 KiB,
//! each serving one size class. A block's segment is its address rounded down to 4 MiB,
//! its page the 64 KiB slot it falls in: no header before any object, no lookup table.
//!
//! A **large** block (over 16 KiB, or aligned beyond 4 KiB) gets a segment of its own: a
//! mapping aligned to 4 MiB whose first OS page holds the header and whose block starts
//! `max(page size, align)` bytes in. The rule "header = (address - 1) rounded down to
//! 4 MiB" finds the header of both kinds, so `free(ptr)` needs no size. Alignments above
//! 4 MiB are refused (`AllocError`, or `ENOMEM` through the C ABI).
//!
//! A segment's `owner` is the heap that may use its pages' free lists without
//! synchronisation, [`ABANDONED`] while no thread owns it, or [`LARGE`]. Blocks freed by
//! any other thread are pushed onto their page's `thread_free` stack with one
//! compare-and-swap; only the owner ever pops that stack (all of it, with one swap).
//!
//! Under Miri the address-to-header step uses exposed provenance: segment bases are
//! exposed when mapped, because the pointer a caller frees may carry a narrower
//! borrow-stack tag (a `Box<u8>`'s covers one byte) than the header needs.

use core::ptr::{self, NonNull};
use core::sync::atomic::{AtomicPtr, AtomicUsize, Ordering};

use crate::os;

pub(crate) mod large;
pub(crate) mod map;
pub(crate) mod options;
mod purge;

pub(crate) use large::{
    LARGE_BLOCKS, LARGE_BYTES, alloc_large, cached as cached_large, free_large, large_usable,
    resize_large,
};
pub(crate) use purge::{
    ABANDONED_PURGE_AT, PAGES_IN_USE, PURGED_BYTES, next_global_deadline, purge_list,
    purge_segment, purge_tick, schedule_listed, schedule_purge,
};

/// log2 of the segment size.
pub(crate) const SEGMENT_SHIFT: u32 = 22;
/// Bytes per segment, and the alignment of every segment.
pub(crate) const SEGMENT: usize = 1 << SEGMENT_SHIFT;
/// log2 of the page size (not the OS page: a slot of a segment).
pub(crate) const PAGE_SHIFT: u32 = 16;
/// Bytes per page.
pub(crate) const PAGE: usize = 1 << PAGE_SHIFT;
/// Page slots per segment; slot 0 holds the header.
pub(crate) const PAGES: usize = SEGMENT / PAGE;

/// An opaque owner: the heap type lives in `thread_cache.rs`.
pub(crate) type Owner = u8;
/// `owner` of a segment no thread owns (its thread exited).
pub(crate) const ABANDONED: *mut Owner = ptr::without_provenance_mut(1);
/// `owner` of a large block's segment.
pub(crate) const LARGE: *mut Owner = ptr::without_provenance_mut(2);

/// A free block: the first word links to the next free block of the same page.
#[repr(C)]
pub(crate) struct Block {
    /// The next free block, or null.
    pub(crate) next: *mut Block,
}

/// One 64 KiB page of a small segment, serving one size class.
///
/// `thread_free`, which other threads write, has the first 64-byte cache line to itself;
/// the owner's fields start on the second. Sharing one line made every remote free's CAS
/// wait for the line the owner was writing on each allocation (a third of a
/// producer/consumer run's time).
#[repr(C, align(128))]
pub(crate) struct Page {
    /// Blocks freed by other threads: a Treiber stack pushed with CAS, taken whole by the
    /// owner with one swap.
    pub(crate) thread_free: AtomicPtr<Block>,
    /// Keeps the owner's fields off `thread_free`'s cache line.
    _line: [u8; 56],
    /// Free blocks ready to hand out (owner only).
    pub(crate) free: *mut Block,
    /// Blocks handed out and not yet seen freed by the owner: includes blocks waiting on
    /// `thread_free` (owner only). A page with `used == 0` has no live block anywhere.
    pub(crate) used: u32,
    /// Blocks carved so far; blocks past it were never touched (owner only).
    pub(crate) capacity: u32,
    /// Blocks that fit in the page.
    pub(crate) reserved: u32,
    /// Bytes per block; fixed while the page is in use.
    pub(crate) block_size: u32,
    /// `ceil(2^32 / block_size)`: `(offset * block_inv) >> 32` is `offset / block_size`
    /// for every offset inside the page, without a division.
    pub(crate) block_inv: u32,
    /// The size class, valid while `in_use`.
    pub(crate) class: u32,
    /// Whether the page serves a class (and is linked into its heap's class list).
    pub(crate) in_use: bool,
    /// Circular links of the owner's list for this class (owner only).
    pub(crate) next: *mut Page,
    /// See `next`.
    pub(crate) prev: *mut Page,
    /// The page's first byte, with the segment's provenance.
    pub(crate) start: *mut u8,
    /// The segment holding this page.
    pub(crate) segment: *mut Segment,
}

/// The header at the start of every segment.
#[repr(C)]
pub(crate) struct Segment {
    /// The heap owning the pages, [`ABANDONED`] or [`LARGE`].
    pub(crate) owner: AtomicPtr<Owner>,
    /// Bytes mapped from the header on.
    pub(crate) map_len: usize,
    /// Large segments: the block's first byte.
    pub(crate) block: *mut u8,
    /// Bit `i` set: page slot `i` is free (bit 0, the header, never is).
    pub(crate) free_slots: u64,
    /// Pages in use.
    pub(crate) used_slots: u32,
    /// Bit `i` set: slot `i` is free but its memory may still be resident (a subset of
    /// `free_slots`); cleared when the slot is purged or taken again.
    pub(crate) dirty: u64,
    /// When the dirty slots are due to be purged (`os::now_ms`); `u64::MAX` for never.
    pub(crate) purge_at: u64,
    /// Links in the owner's segment list, the abandoned list or the cache.
    pub(crate) next: *mut Segment,
    /// See `next` (only the owner's list is doubly linked).
    pub(crate) prev: *mut Segment,
    /// The page descriptors; `pages[0]` is unused.
    pub(crate) pages: [Page; PAGES],
}

/// Small segments mapped (in use, abandoned or cached), for `stats`.
pub(crate) static SMALL_SEGMENTS: AtomicUsize = AtomicUsize::new(0);

/// A list of segments behind a mutex: the abandoned list and the cache.
pub(crate) struct SegmentList {
    /// First segment, linked through `next`.
    head: *mut Segment,
    /// Segments on the list.
    pub(crate) len: usize,
}

// SAFETY: the list owns the segments on it exclusively (they are off every heap);
// moving it between threads moves that ownership, and every access is under its mutex.
unsafe impl Send for SegmentList {}

impl SegmentList {
    /// An empty list.
    pub(crate) const fn new() -> Self {
        SegmentList {
            head: ptr::null_mut(),
            len: 0,
        }
    }

    /// Pushes `seg`, which no heap or list holds.
    pub(crate) fn push(&mut self, seg: *mut Segment) {
        // SAFETY: the caller hands over a segment no one else links or reads the links of.
        unsafe { (*seg).next = self.head };
        self.head = seg;
        self.len += 1;
    }

    /// The first segment (the others follow through `next`), or null.
    pub(crate) fn first(&self) -> *mut Segment {
        self.head
    }

    /// Pops a segment, if any.
    pub(crate) fn pop(&mut self) -> Option<*mut Segment> {
        if self.head.is_null() {
            return None;
        }
        let seg = self.head;
        // SAFETY: segments on the list are mapped and owned by the list.
        self.head = unsafe { (*seg).next };
        self.len -= 1;
        Some(seg)
    }
}

/// Empty small segments kept for reuse (at most `ThreadCacheOptions::segment_cache`).
pub(crate) static CACHED: std::sync::Mutex<SegmentList> = std::sync::Mutex::new(SegmentList::new());

/// Locks a list, ignoring poisoning: no code that can panic runs while one is held.
pub(crate) fn lock(m: &std::sync::Mutex<SegmentList>) -> std::sync::MutexGuard<'_, SegmentList> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The header of the segment holding the block at address `addr` (small or large).
///
/// # Safety
///
/// `addr` is the address of a live block this allocator handed out.
#[inline(always)]
pub(crate) unsafe fn segment_of(addr: usize) -> *mut Segment {
    // Exposed when the segment was mapped (see the module note on provenance).
    ptr::with_exposed_provenance_mut((addr - 1) & !(SEGMENT - 1))
}

/// The page descriptor of the small block at `addr` in `seg`.
///
/// # Safety
///
/// `addr` is inside the small segment `seg`.
#[inline(always)]
pub(crate) unsafe fn page_of(seg: *mut Segment, addr: usize) -> *mut Page {
    let slot = (addr - seg.addr()) >> PAGE_SHIFT;
    // SAFETY: `slot < PAGES` because `addr` lies in the segment's 4 MiB.
    unsafe { (&raw mut (*seg).pages).cast::<Page>().add(slot) }
}

/// Maps `len` bytes aligned to `align` (a power of two, at least the OS page): maps
/// `len + align - page` and unmaps the ends. With `huge`, asks for huge pages when `len`
/// holds one and [`huge_pages`](crate::ThreadCacheOptions::huge_pages) is on.
pub(crate) fn map_aligned(len: usize, align: usize, huge: bool) -> Option<NonNull<u8>> {
    let page = os::page_size();
    let over = len.checked_add(align - page)?;
    let raw = os::map(over).ok()?;
    let lead = raw.as_ptr().addr().next_multiple_of(align) - raw.as_ptr().addr();
    // SAFETY: `lead + len <= over`, inside the mapping.
    let aligned = unsafe { raw.add(lead) };
    let tail = over - lead - len;
    // SAFETY: both ranges are page-aligned parts of the fresh mapping that nothing uses,
    // and the hint covers the rest of that mapping.
    unsafe {
        if lead > 0 {
            os::unmap(raw, lead);
        }
        if tail > 0 {
            os::unmap(aligned.add(len), tail);
        }
        // Mappings of a huge page or more (segments, big large blocks) start on a 4 MiB
        // boundary, so whole 2 MiB pages fit in them.
        if huge && len >= HUGE_PAGE && options::HUGE_PAGES.load(Ordering::Relaxed) {
            os::huge_pages(aligned, len);
        }
    }
    Some(aligned)
}

/// The size of an x86_64 or aarch64 transparent huge page.
const HUGE_PAGE: usize = 2 << 20;

/// Small segments a process maps with 4 KiB pages before it asks for huge pages: a small
/// program's few segments would otherwise be resident whole (a page in use anywhere in a
/// 2 MiB range makes all of it resident), while a big heap gains most from them.
const HUGE_AFTER_SEGMENTS: usize = 4;

/// A small segment for `owner`, from the cache or freshly mapped; all page slots free.
pub(crate) fn new_segment(owner: *mut Owner) -> Option<*mut Segment> {
    let cached = lock(&CACHED).pop();
    let seg = match cached {
        Some(seg) => seg,
        None => {
            let huge = SMALL_SEGMENTS.load(Ordering::Relaxed) >= HUGE_AFTER_SEGMENTS;
            let base = map_aligned(SEGMENT, SEGMENT, huge)?;
            if !map::insert(base.as_ptr().expose_provenance()) {
                // SAFETY: the fresh mapping, which nothing references.
                unsafe { os::unmap(base, SEGMENT) };
                return None;
            }
            SMALL_SEGMENTS.fetch_add(1, Ordering::Relaxed);
            base.as_ptr().cast::<Segment>()
        }
    };
    let base = seg.cast::<u8>();
    // SAFETY: `seg` is a mapped 4 MiB segment that nothing else references (fresh, or
    // taken off the cache); its header fits in slot 0.
    unsafe {
        seg.write(Segment {
            owner: AtomicPtr::new(owner),
            map_len: SEGMENT,
            block: ptr::null_mut(),
            free_slots: !1,
            used_slots: 0,
            dirty: 0,
            purge_at: u64::MAX,
            next: ptr::null_mut(),
            prev: ptr::null_mut(),
            pages: [const { empty_page_desc() }; PAGES],
        });
        for (i, page) in (*seg).pages.iter_mut().enumerate() {
            page.start = base.add(i * PAGE);
            page.segment = seg;
        }
    }
    Some(seg)
}

/// A page descriptor that serves nothing.
pub(crate) const fn empty_page_desc() -> Page {
    Page {
        thread_free: AtomicPtr::new(ptr::null_mut()),
        _line: [0; 56],
        free: ptr::null_mut(),
        used: 0,
        capacity: 0,
        reserved: 0,
        block_size: 0,
        block_inv: 0,
        class: 0,
        in_use: false,
        next: ptr::null_mut(),
        prev: ptr::null_mut(),
        start: ptr::null_mut(),
        segment: ptr::null_mut(),
    }
}

/// Returns a small segment with no page in use: to the cache, or to the OS.
///
/// # Safety
///
/// `seg` is a small segment no heap or list references and no block of which is live.
pub(crate) unsafe fn release_segment(seg: *mut Segment) {
    {
        let mut cache = lock(&CACHED);
        if cache.len < options::SEGMENT_CACHE.load(Ordering::Relaxed) {
            // SAFETY: the segment is the caller's, and now the cache's under its lock.
            unsafe { purge::schedule_cached(seg) };
            cache.push(seg);
            return;
        }
    }
    SMALL_SEGMENTS.fetch_sub(1, Ordering::Relaxed);
    map::remove(seg.addr());
    // SAFETY: forwarded from the caller; the segment was mapped whole by `map_aligned`.
    unsafe { os::unmap(NonNull::new_unchecked(seg.cast::<u8>()), SEGMENT) };
}

/// Takes every block on `page`'s `thread_free` stack onto its free list; returns how
/// many there were.
///
/// # Safety
///
/// The calling thread owns `page`'s segment.
pub(crate) unsafe fn collect(page: *mut Page) -> u32 {
    // SAFETY: the caller owns the page; `thread_free` is only popped here.
    unsafe {
        let mut list = (*page).thread_free.load(Ordering::Relaxed);
        if list.is_null() {
            return 0;
        }
        // Acquire: the pushers' writes of the `next` links happened before.
        list = (*page).thread_free.swap(ptr::null_mut(), Ordering::Acquire);
        let mut n = 1;
        let mut tail = list;
        while !(*tail).next.is_null() {
            tail = (*tail).next;
            n += 1;
        }
        (*tail).next = (*page).free;
        (*page).free = list;
        (*page).used -= n;
        n
    }
}

/// Pushes the block at `caller` (`size` live bytes) onto `page`'s `thread_free` stack (a
/// free from a thread that does not own the page).
///
/// # Safety
///
/// `caller` is a live small block of `page`, which the caller gives up, valid for writes
/// of `min(size, 8)` bytes.
pub(crate) unsafe fn push_remote(page: *mut Page, caller: *mut u8, size: usize) {
    let block: *mut Block = ptr::with_exposed_provenance_mut(caller.addr());
    // SAFETY: the caller holds the live block, so the page and its segment stay mapped
    // (the owner releases a page only at `used == 0`, and this block still counts).
    // After the successful exchange this thread touches neither again.
    unsafe {
        let stack = &(*page).thread_free;
        let mut head = stack.load(Ordering::Relaxed);
        loop {
            crate::api::write_link(block.cast(), caller, size, head.cast());
            match stack.compare_exchange_weak(head, block, Ordering::Release, Ordering::Relaxed) {
                Ok(_) => return,
                Err(now) => head = now,
            }
        }
    }
}

/// Carves up to 4 KiB (at least 8 blocks) more of `page`'s untouched blocks onto its
/// free list; false when every block is already carved.
///
/// # Safety
///
/// The caller owns `page`, which is in use.
pub(crate) unsafe fn extend(page: *mut Page) -> bool {
    // SAFETY: the caller owns the page; carved blocks lie inside its 64 KiB.
    unsafe {
        // Field by field, never `&mut Page`: other threads may be pushing onto
        // `thread_free` meanwhile, and a `&mut` would claim that atomic too.
        let (capacity, reserved) = ((*page).capacity, (*page).reserved);
        if capacity == reserved {
            return false;
        }
        let size = (*page).block_size as usize;
        let n = ((4096 / size).max(8) as u32).min(reserved - capacity);
        let first = (*page).start.add(capacity as usize * size);
        for i in 0..n as usize {
            let block = first.add(i * size).cast::<Block>();
            let next = if i + 1 == n as usize {
                (*page).free
            } else {
                first.add((i + 1) * size).cast::<Block>()
            };
            (*block).next = next;
        }
        (*page).free = first.cast();
        (*page).capacity = capacity + n;
        true
    }
}

// The header, with its page descriptors, fits in page slot 0.
const _: () = assert!(size_of::<Segment>() <= PAGE);
// `Page::block_inv` divides exactly: offsets stay below 2^16 and block sizes below 2^15.
const _: () = assert!(PAGE <= 1 << 16 && crate::size_class::MAX_SMALL < 1 << 15);
