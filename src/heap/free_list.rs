//! `FreeList`: a general-purpose allocator with individual free, on a backing allocator.
//!
//! Pick it for objects of mixed sizes and unrelated lifetimes (graphs that change, caches,
//! buffers in a long-running process), where an arena would never give memory back.
//!
//! ## Design
//!
//! A two-level segregated fit heap (TLSF, as in `rlsf`), shaped like talc: a non-generic
//! `Core` with `&mut self` methods holds the heap, and [`FreeList`] wraps it in an
//! `UnsafeCell` beside the backing allocator and implements `Allocator`.
//!
//! - **Regions.** Memory comes from the backing allocator in regions: the first is 64 KiB,
//!   each later one as large as everything already held (so the heap doubles) up to
//!   64 MiB, and always large enough for the request. A region starts with a header (the
//!   links of the region list and the region's size) and ends with a *sentinel*: a used
//!   block of size 0 that stops coalescing at the region's end.
//! - **Blocks** tile the rest of the region. Sizes are multiples of 16, at least 32. Each
//!   block starts with a 16-byte header: its size with flag bits (this block is free, the
//!   previous one is free, this is the region's first block) and a pointer to the
//!   physically previous block, valid while that block is free (a boundary tag). The
//!   payload follows, 16-aligned; a free block keeps its free-list links there.
//! - **Free lists.** A free block sits in one of 16 lists per power of two: first level
//!   `floor(log2(size))`, second level the next four bits (up to 256 bytes, one list per
//!   size). A bitmap per level marks the non-empty lists, so a fit is found with two
//!   `trailing_zeros`, in O(1). The request is first rounded up to the next list boundary
//!   ("good fit"), so the head of the list found always fits: no list is ever walked.
//! - **Allocate** takes that head and splits its tail off as a new free block when the
//!   tail has at least 32 bytes. An alignment above 16 searches for `size + align + 32` and
//!   splits the misaligned front off as a free block too. **Free** merges the block with
//!   its free neighbours on both sides, found in O(1) through the boundary tags, so no two
//!   free blocks are ever adjacent. **Grow** extends into a free next block in place;
//!   **shrink** gives the tail back in place; otherwise the block moves.
//! - **Front cache** (glibc's tcache, per heap). Splitting and merging on every free and
//!   allocate is most of the cost of small-block churn, so a freed block of up to 512
//!   payload bytes goes first to one of 32 exact-size bins (one per block size, 32 to 528
//!   bytes) while that bin holds fewer than `BIN_DEPTH` (16) blocks: a LIFO list linked
//!   through the payload's first word. The block stays marked used in its tags, so no
//!   neighbour merges with it and grow and shrink never see it as free. Allocate (at an
//!   alignment up to 16) pops the bin of the request's exact block size before searching
//!   the lists. The cost: up to 16 × 528 bytes held per bin (about 270 KiB in all) that
//!   other sizes cannot use, and fragmentation around cached blocks, until a *flush* frees
//!   every cached block into the heap properly. `stats`, `check_invariants`, and the slow
//!   path before it asks for a new region flush, so the stats always show the fully
//!   merged heap, and no region is added while cached blocks could serve the request.
//!   Dropping the heap simply forgets the cache: every region goes back anyway.
//!
//! ## What goes back to the backing allocator
//!
//! A region that becomes wholly free is returned at once, except one: the heap keeps the
//! larger of two wholly free regions as a reserve, so a loop that allocates and frees a
//! block does not get and return a region each time. Dropping the `FreeList` returns
//! every region.
//!
//! ## Limits
//!
//! Alignments up to 1 MiB are served inside regions, at the cost of up to `align` bytes
//! of slack, which becomes a free block. Larger alignments, and sizes above
//! `usize::MAX / 8`, return `AllocError`.
//!
//! ## Re-entrancy
//!
//! `FreeList` is `!Sync`, and its `&mut Core` borrow never lives across a call to the
//! backing allocator: the heap is updated, the borrow ends, and only then are regions
//! asked for or given back. A backing allocator that somehow re-enters the same
//! `FreeList` therefore sees a consistent heap, and no two `&mut` ever overlap.
//!
//! Every pointer the heap makes is derived from a region pointer by offsets
//! (`wrapping_byte_add`), so Miri checks every access. A block's header is found 16 bytes
//! before the pointer given to `deallocate`, `grow` or `shrink`, which therefore must carry
//! the provenance of the block returned, as the pointers of every collection do.

use core::cell::UnsafeCell;
use core::ptr::NonNull;

use crate::align::is_aligned;
use crate::api::{AllocError, Allocator, Layout, dangling, move_block};
pub use crate::tlsf::FreeListStats;
use crate::tlsf::*;

/// A general-purpose allocator with individual free: a two-level segregated fit heap on
/// regions from a backing allocator (by default `Pages` with `std`,
/// `Global` without). Finding a block, freeing one and merging it with its neighbours
/// take O(1) time; regions that become wholly free go back to the backing allocator,
/// except one kept as a reserve.
///
/// ```
/// use allocator_api2::boxed::Box;
/// use allocator_api2::vec::Vec;
/// use allockit::FreeList;
///
/// let heap = FreeList::new();
/// let a = Box::new_in([1u64; 64], &heap);
/// let b = Box::new_in([2u64; 64], &heap);
/// drop(a); // freed on its own; the next fitting request reuses it
/// let mut v = Vec::new_in(&heap);
/// v.extend(0..1000u32); // grows in place while the next block is free
/// assert_eq!((b[0], v[999]), (2, 999));
/// assert_eq!(heap.stats().regions, 1);
/// ```
///
/// A `FreeList` is `Send` (when its backing allocator is) but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::FreeList>();
/// ```
pub struct FreeList<
    #[cfg(feature = "std")] A: Allocator = crate::Pages,
    #[cfg(not(feature = "std"))] A: Allocator = allocator_api2::alloc::Global,
> {
    /// The heap. Borrowed mutably only inside [`with_core`](FreeList::with_core), never
    /// across a call to the backing allocator.
    core: UnsafeCell<Core>,
    /// Where regions come from and go back to.
    backing: A,
}

// SAFETY: a `FreeList` exclusively owns its regions, and the pointers in its core point
// only into them; sending it sends that ownership, with the backing allocator (which must
// be `Send` itself). It is not `Sync`: the core is in an `UnsafeCell`.
unsafe impl<A: Allocator + Send> Send for FreeList<A> {}

#[cfg(feature = "std")]
impl FreeList<crate::Pages> {
    /// An empty heap on [`Pages`](crate::Pages). It maps nothing until first used.
    ///
    /// ```
    /// let heap = allockit::FreeList::new();
    /// assert_eq!(heap.reserved_bytes(), 0);
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Self::new_in(crate::Pages)
    }
}

#[cfg(feature = "std")]
impl Default for FreeList<crate::Pages> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Allocator> FreeList<A> {
    /// An empty heap that takes its regions from `backing`. It allocates nothing until
    /// first used.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::FreeList::new_in(allocator_api2::alloc::Global);
    /// assert_eq!(*Box::new_in(7u8, &heap), 7);
    /// ```
    #[inline]
    pub const fn new_in(backing: A) -> Self {
        FreeList {
            core: UnsafeCell::new(Core::new()),
            backing,
        }
    }

    /// A heap on `backing` whose first region has a free block of at least `bytes`
    /// usable bytes, or `AllocError` if that region cannot be allocated.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// use allockit::{Counting, FreeList};
    /// let heap = FreeList::try_with_capacity_in(1 << 20, Counting::new(allocator_api2::alloc::Global))?;
    /// assert!(heap.stats().largest_free_block >= 1 << 20);
    /// let v: Vec<u8, _> = Vec::with_capacity_in(1000, &heap);
    /// assert_eq!(heap.backing().stats().allocations, 1, "served from the first region");
    /// # drop(v);
    /// assert!(FreeList::try_with_capacity_in(usize::MAX, allocator_api2::alloc::Global).is_err());
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn try_with_capacity_in(bytes: usize, backing: A) -> Result<Self, AllocError> {
        let heap = Self::new_in(backing);
        let layout = Layout::from_size_align(bytes, 1).map_err(|_| AllocError)?;
        let need = block_size(layout).ok_or(AllocError)?;
        let region = heap.with_core(|core| core.region_layout(need))?;
        let mem = heap.backing.allocate(region)?;
        heap.with_core(|core| {
            // SAFETY: `mem` is fresh from the backing allocator for a region layout; its
            // single block is free and spans it, so it goes on its list as the reserve.
            unsafe {
                let b = core.add_region(mem);
                core.insert(b);
                core.spare = region_of(b);
            }
        });
        Ok(heap)
    }

    /// The backing allocator.
    ///
    /// ```
    /// use allockit::{Counting, FreeList};
    /// let heap = FreeList::new_in(Counting::new(allocator_api2::alloc::Global));
    /// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(100, &heap);
    /// assert_eq!(heap.backing().stats().allocations, 1, "one region");
    /// # drop(v);
    /// ```
    #[inline]
    pub fn backing(&self) -> &A {
        &self.backing
    }

    /// Bytes held from the backing allocator, free and used.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::FreeList::new();
    /// assert_eq!(heap.reserved_bytes(), 0);
    /// let b = Box::new_in([0u8; 100], &heap);
    /// assert!(heap.reserved_bytes() >= 100);
    /// # drop(b);
    /// ```
    #[inline]
    pub fn reserved_bytes(&self) -> usize {
        self.with_core(|core| core.reserved)
    }

    /// Free bytes, free blocks, the largest free block and the regions held. The largest
    /// block is found by walking one list, the highest non-empty one; the rest are
    /// counters. It first flushes the front cache, so blocks cached for reuse count as
    /// free and merged, and a region that became wholly free goes back.
    ///
    /// ```
    /// use allockit::{Allocator, Layout};
    /// let heap = allockit::FreeList::new();
    /// let l = Layout::new::<[u8; 1000]>();
    /// let blocks: Vec<_> = (0..10).map(|_| heap.allocate(l).unwrap()).collect();
    /// for b in blocks.iter().step_by(2) {
    ///     // SAFETY: each block came from `heap` with layout `l` and is freed once.
    ///     unsafe { heap.deallocate(b.cast(), l) }; // every other block: fragmentation
    /// }
    /// let s = heap.stats();
    /// assert_eq!(s.free_blocks, 6, "five holes and the rest of the region");
    /// assert!(s.largest_free_block < s.free_bytes);
    /// # for b in blocks.iter().skip(1).step_by(2) { unsafe { heap.deallocate(b.cast(), l) } }
    /// ```
    pub fn stats(&self) -> FreeListStats {
        self.flush();
        self.with_core(|core| core.stats())
    }

    /// Walks the whole heap, block by block and list by list, and panics if any invariant
    /// is broken: block sizes tile each region, flags and boundary tags agree, no two
    /// free blocks are adjacent, every free block is on the list its size maps to, at
    /// most one region is wholly free, and the counters match. It takes time proportional
    /// to the heap: for tests. It first flushes the front cache, like [`stats`](Self::stats).
    ///
    /// ```
    /// let heap = allockit::FreeList::new();
    /// let mut v = allocator_api2::vec::Vec::new_in(&heap);
    /// v.extend(0..100u32);
    /// heap.check_invariants();
    /// # drop(v);
    /// ```
    pub fn check_invariants(&self) {
        self.flush();
        self.with_core(|core| core.check());
    }

    /// Runs `f` on the heap.
    #[inline(always)]
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        // SAFETY: `FreeList` is not `Sync`, so only this thread reaches the cell. Every `f`
        // passed here only calls `Core` methods, which call no foreign code: the backing
        // allocator is called outside `with_core`. So this is the only reference to the
        // core while it lives, even if the backing allocator re-enters this `FreeList`.
        f(unsafe { &mut *self.core.get() })
    }

    /// Frees every block of the front cache into the heap, giving back the regions that
    /// become wholly free (beyond the reserve).
    #[cold]
    #[inline(never)]
    fn flush(&self) {
        while let Some((region, layout)) = self.with_core(|core| core.flush_cache()) {
            // SAFETY: the region came from `backing` with this layout (its rounded length)
            // and holds no live block; the heap no longer refers to it.
            unsafe { self.backing.deallocate(region, layout) }
        }
    }

    /// Serves a request the cache and free lists cannot: from the lists after a flush of
    /// the front cache, or else from a new region.
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, need: usize, align: usize) -> Result<NonNull<[u8]>, AllocError> {
        if self.with_core(|core| core.cache_is_empty()) {
            // Nothing cached: the lists were already searched.
        } else {
            self.flush();
            if let Some(block) = self.with_core(|core| core.allocate(need, align)) {
                return Ok(block);
            }
        }
        let layout = self.with_core(|core| core.region_layout(search_size(need, align)))?;
        let mem = self.backing.allocate(layout)?;
        Ok(self.with_core(|core| {
            // SAFETY: `mem` is fresh from the backing allocator for a region layout, owned
            // by the heap from now on; its single block holds `search_size(need, align)`
            // bytes (`region_layout`), on no list.
            unsafe {
                let b = core.add_region(mem);
                core.carve(b, need, align)
            }
        }))
    }
}

impl<A: Allocator> Drop for FreeList<A> {
    fn drop(&mut self) {
        let core = self.core.get_mut();
        while !core.regions.is_null() {
            // SAFETY: the region is live and owned; dropping the heap ends every borrow of
            // its blocks, and the lists are not used again. Each region goes back to the
            // backing allocator with the layout it was allocated with (rounded length).
            unsafe {
                let (region, layout) = core.unlink_region(core.regions);
                self.backing.deallocate(region, layout);
            }
        }
    }
}

impl<A: Allocator> core::fmt::Debug for FreeList<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FreeList")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

// SAFETY: blocks are disjoint parts of live regions (heap invariant), each handed out once
// until freed, and the returned length never passes the block. Regions stay allocated
// until wholly free (no live block) or until the heap is dropped; moving the `FreeList`
// moves no region, and no region points back into the `FreeList`.
unsafe impl<A: Allocator> Allocator for FreeList<A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let need = block_size(layout).ok_or(AllocError)?;
        let align = layout.align();
        let found = self.with_core(|core| {
            if align <= GRAN
                && let Some(block) = core.cache_pop(need)
            {
                return Some(block);
            }
            core.allocate(need, align)
        });
        match found {
            Some(block) => Ok(block),
            None => self.allocate_slow(need, align),
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        let region = self.with_core(|core| {
            // SAFETY: `ptr` is a live block of this heap (caller), so a used block's header
            // is 16 bytes before it; the block is not used again.
            unsafe {
                let b = header_of(ptr);
                if core.cache_push(b) {
                    return None;
                }
                core.free(b)
            }
        });
        if let Some((region, layout)) = region {
            // SAFETY: the region came from `backing` with this layout (its rounded length)
            // and holds no live block; the heap no longer refers to it.
            unsafe { self.backing.deallocate(region, layout) }
        }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        if is_aligned(ptr, new.align())
            && let Some(need) = block_size(new)
        {
            let grown = self.with_core(|core| {
                // SAFETY: `ptr` is a live block of this heap (caller): its header is 16
                // bytes before it.
                unsafe { core.grow_in_place(header_of(ptr), need) }
            });
            if let Some(len) = grown {
                return Ok(NonNull::slice_from_raw_parts(ptr, len));
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { move_block(self, ptr, old, new) }
    }

    grow_zeroed_via_grow!();

    shrink_nonzero!(self, ptr, old, new => {
        if !is_aligned(ptr, new.align()) {
            // SAFETY: forwarded from the caller.
            return unsafe { move_block(self, ptr, old, new) };
        }
        let need = block_size(new).ok_or(AllocError)?;
        let len = self.with_core(|core| {
            // SAFETY: `ptr` is a live block of this heap (caller) of at least `old.size()`
            // usable bytes, and `new.size() <= old.size()`, so `need` fits in it.
            unsafe { core.shrink_in_place(header_of(ptr), need) }
        });
        Ok(NonNull::slice_from_raw_parts(ptr, len))
    });
}

mirror_core_allocator!(impl[A: Allocator] for FreeList<A>);

// ----- the front cache ---------------------------------------------------------------

/// The word at the start of `b`'s payload: the next block in `b`'s bin while it is cached.
#[inline(always)]
fn bin_link(b: *mut Block) -> *mut *mut Block {
    at(b, HEADER).cast()
}

impl Core {
    /// Pops a cached block of exactly `need` bytes (from [`block_size`]), if any.
    #[inline(always)]
    fn cache_pop(&mut self, need: usize) -> Option<NonNull<[u8]>> {
        let i = need / GRAN - MIN_BLOCK / GRAN; // `need >= MIN_BLOCK`
        let b = *self.bins.get(i)?;
        if b.is_null() {
            return None;
        }
        // SAFETY: a cached block is a used block of this heap of `need` bytes, owned by
        // the cache, whose payload's first word links to the next one in its bin. A
        // payload inside a region is not null.
        unsafe {
            self.bins[i] = bin_link(b).read();
            self.bin_len[i] -= 1;
            let payload = NonNull::new_unchecked(at(b, HEADER).cast::<u8>());
            Some(NonNull::slice_from_raw_parts(payload, need - HEADER))
        }
    }

    /// Caches the used block `b` if its size has a bin with room; whether it did.
    ///
    /// # Safety
    ///
    /// `b` is a used block of this heap, not used again.
    #[inline(always)]
    unsafe fn cache_push(&mut self, b: *mut Block) -> bool {
        // SAFETY: `b` is a used block (caller): its header is readable and its payload,
        // at least 16 bytes, is the heap's to write the link into.
        unsafe {
            let i = ((*b).tag & !FLAGS) / GRAN - MIN_BLOCK / GRAN;
            let Some(len) = self.bin_len.get_mut(i) else {
                return false;
            };
            if *len >= BIN_DEPTH {
                return false;
            }
            *len += 1;
            bin_link(b).write(self.bins[i]);
            self.bins[i] = b;
        }
        true
    }

    /// Whether no block is cached.
    fn cache_is_empty(&self) -> bool {
        self.bin_len.iter().all(|&n| n == 0)
    }

    /// Frees cached blocks into the heap until the cache is empty (`None`) or a region
    /// became wholly free beyond the reserve (returned, for the backing allocator).
    fn flush_cache(&mut self) -> Option<(NonNull<u8>, Layout)> {
        for i in 0..BINS {
            while !self.bins[i].is_null() {
                let b = self.bins[i];
                // SAFETY: a cached block is a used block of this heap owned by the cache,
                // linked to the next in its bin; off the bin, it is freed once.
                unsafe {
                    self.bins[i] = bin_link(b).read();
                    self.bin_len[i] -= 1;
                    if let Some(region) = self.free(b) {
                        return Some(region);
                    }
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counting;
    use alloc::vec::Vec;

    /// The default backing allocator.
    #[cfg(feature = "std")]
    type DefaultBacking = crate::Pages;
    /// The default backing allocator.
    #[cfg(not(feature = "std"))]
    type DefaultBacking = allocator_api2::alloc::Global;

    fn heap() -> FreeList {
        FreeList::new_in(DefaultBacking::default())
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    fn alloc<A: Allocator>(h: &FreeList<A>, size: usize, align: usize) -> NonNull<u8> {
        let block = h.allocate(layout(size, align)).unwrap();
        assert!(block.len() >= size && block.cast::<u8>().as_ptr().addr().is_multiple_of(align));
        block.cast()
    }

    fn free<A: Allocator>(h: &FreeList<A>, p: NonNull<u8>, size: usize, align: usize) {
        // SAFETY: every caller passes a live block of `h` allocated for this layout.
        unsafe { h.deallocate(p, layout(size, align)) }
    }

    fn fill(p: NonNull<u8>, len: usize, seed: u8) {
        // SAFETY: the caller owns `len` writable bytes at `p`.
        unsafe { p.as_ptr().write_bytes(seed, len) }
    }

    /// Whether `len` bytes at `p` (sampled under Miri) all hold `seed`.
    fn holds(p: NonNull<u8>, len: usize, seed: u8) -> bool {
        let step = if cfg!(miri) { len / 64 + 1 } else { 1 };
        // SAFETY: the caller owns `len` readable bytes at `p`.
        (0..len)
            .step_by(step)
            .all(|i| unsafe { p.as_ptr().add(i).read() } == seed)
    }

    #[test]
    fn blocks_split_and_coalesce_with_both_neighbours() {
        let h = heap();
        let [a, b, c] = [100, 200, 300].map(|n| alloc(&h, n, 8));
        assert_eq!(h.stats().free_blocks, 1, "the rest of the region");
        free(&h, b, 200, 8);
        assert_eq!(h.stats().free_blocks, 2, "b lies between used blocks");
        free(&h, a, 100, 8);
        assert_eq!(h.stats().free_blocks, 2, "a merged with b");
        h.check_invariants();
        free(&h, c, 300, 8);
        let s = h.stats();
        assert_eq!(
            (s.free_blocks, s.regions),
            (1, 1),
            "one block spans the region"
        );
        assert_eq!(s.largest_free_block, s.free_bytes);
        assert_eq!(s.free_bytes, s.reserved_bytes - REGION_HEADER - 2 * HEADER);
        h.check_invariants();
    }

    #[test]
    fn grows_into_a_free_neighbour_and_shrinks_in_place() {
        let h = heap();
        let [p, next, last] = [64, 1000, 16].map(|n| alloc(&h, n, 16));
        free(&h, next, 1000, 16);
        fill(p, 64, 7);
        // SAFETY: each block is live with the layout it is passed with.
        unsafe {
            let g = h.grow(p, layout(64, 16), layout(900, 16)).unwrap();
            assert!(
                g.cast::<u8>() == p && holds(p, 64, 7),
                "grown into the neighbour"
            );
            h.check_invariants();
            let s = h.shrink(p, layout(900, 16), layout(10, 16)).unwrap();
            assert_eq!((s.cast::<u8>(), s.len()), (p, 16), "shrunk in place");
            h.check_invariants();
            let g = h.grow(last, layout(16, 16), layout(5000, 16)).unwrap();
            assert_eq!(g.cast::<u8>(), last, "grown into the region's free rest");
            let moved = h.grow(p, layout(10, 16), layout(2000, 16)).unwrap().cast();
            assert!(
                moved != p && holds(moved, 10, 7),
                "no room after `p`: moved"
            );
            free(&h, moved, 2000, 16);
            free(&h, last, 5000, 16);
        }
        h.check_invariants();
        assert_eq!(h.stats().free_blocks, 1);
    }

    #[test]
    fn aligned_blocks_up_to_64_kib_and_1_mib() {
        let h = heap();
        let mut blocks = Vec::new();
        for align in (5..=16).map(|shift| 1 << shift) {
            for size in [1, align, 3 * 4096] {
                blocks.push((alloc(&h, size, align), size, align));
                h.check_invariants();
            }
        }
        blocks.push((alloc(&h, 24, MAX_ALIGN), 24, MAX_ALIGN));
        for (p, size, align) in blocks.into_iter().rev() {
            fill(p, size, 1);
            free(&h, p, size, align);
            h.check_invariants();
        }
        assert_eq!((h.stats().regions, h.stats().free_blocks), (1, 1));
    }

    #[test]
    fn wholly_free_regions_go_back_but_one() {
        let counting = Counting::new(DefaultBacking::default());
        let h = FreeList::new_in(&counting);
        let big = 100_000; // larger than the first region: several regions
        let blocks: Vec<_> = (0..4).map(|_| alloc(&h, big, 16)).collect();
        let regions = h.stats().regions;
        assert!(regions >= 2 && counting.stats().allocations == regions);
        for p in blocks {
            free(&h, p, big, 16);
            h.check_invariants();
        }
        assert_eq!(h.stats().regions, 1, "one region kept as the reserve");
        assert_eq!(counting.stats().deallocations, regions - 1);
        let p = alloc(&h, big, 16);
        assert_eq!(
            counting.stats().allocations,
            regions,
            "served from the reserve"
        );
        free(&h, p, big, 16);
        drop(h);
        let s = counting.stats();
        assert_eq!((s.allocations, s.deallocations), (regions, regions));
    }

    #[test]
    fn impossible_layouts_fail_without_panicking() {
        let h = heap();
        for (size, align) in [
            (isize::MAX as usize - 15, 16),
            (isize::MAX as usize / 2 + 1, 4096),
            (MAX_SIZE + 1, 1),
            (1, MAX_ALIGN << 1),
            (1 << 40, 1 << 40),
        ] {
            assert!(
                h.allocate(layout(size, align)).is_err(),
                "{size} at {align}"
            );
        }
        assert_eq!(
            h.reserved_bytes(),
            0,
            "refused before asking the backing allocator"
        );
        let p = alloc(&h, 32, 8);
        // SAFETY: `p` is live with this layout; a failed grow leaves it so.
        assert!(unsafe { h.grow(p, layout(32, 8), layout(MAX_SIZE + 16, 8)) }.is_err());
        free(&h, p, 32, 8);
        let zst = h.allocate(layout(0, 64)).unwrap();
        free(&h, zst.cast(), 0, 64);
        assert!(FreeList::try_with_capacity_in(usize::MAX, DefaultBacking::default()).is_err());
        h.check_invariants();
    }

    #[test]
    fn random_churn_keeps_every_invariant() {
        let h = heap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut live: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
        let (steps, large) = if cfg!(miri) {
            (150, 100_000)
        } else {
            (20_000, 200_000)
        };
        let (mut in_place, mut most_regions) = (0, 0);
        for step in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (r, seed) = (x as usize, step as u8);
            let size =
                1 + (r >> 8) % [large, 5000, 5000, 300, 300, 300, 300, 300][(x >> 61) as usize];
            let align = 1 << ((r >> 40) % 16).saturating_sub(6); // mostly 1, up to 512
            let pick = (r >> 20) % live.len().max(1);
            match r % 8 {
                _ if live.is_empty() || r % 8 < 3 => {
                    let p = alloc(&h, size, align);
                    fill(p, size, seed);
                    live.push((p, layout(size, align), seed));
                }
                3..=5 => {
                    let (p, l, s) = live.swap_remove(pick);
                    assert!(holds(p, l.size(), s), "contents before free");
                    free(&h, p, l.size(), l.align());
                }
                op => {
                    let (p, l, s) = live[pick];
                    let new = layout(if op == 6 { size } else { 1 + l.size() / 3 }, align);
                    // SAFETY: `p` is live with `l`; the result replaces it.
                    let q = unsafe {
                        if new.size() >= l.size() {
                            h.grow(p, l, new)
                        } else {
                            h.shrink(p, l, new)
                        }
                    };
                    let q = q.unwrap().cast::<u8>();
                    assert!(holds(q, l.size().min(new.size()), s), "contents kept");
                    in_place += usize::from(q == p && new.size() > l.size());
                    fill(q, new.size(), seed);
                    live[pick] = (q, new, seed);
                }
            }
            h.check_invariants();
            most_regions = most_regions.max(h.stats().regions);
        }
        for (p, l, s) in live {
            assert!(holds(p, l.size(), s));
            free(&h, p, l.size(), l.align());
        }
        h.check_invariants();
        assert_eq!((h.stats().regions, h.stats().free_blocks), (1, 1));
        assert!(
            in_place > 0 && most_regions > 1,
            "{in_place} {most_regions}"
        );
    }

    #[test]
    fn the_front_cache_reuses_exact_sizes_and_is_flushed_before_a_new_region() {
        let counting = Counting::new(DefaultBacking::default());
        let h = FreeList::new_in(&counting);
        let blocks: Vec<_> = (0..120).map(|_| alloc(&h, 512, 8)).collect();
        for &p in &blocks {
            free(&h, p, 512, 8);
        }
        let depth = usize::from(BIN_DEPTH);
        let p = alloc(&h, 500, 16);
        assert_eq!(p, blocks[depth - 1], "the newest cached block of that size");
        free(&h, p, 500, 16);
        // The cached blocks (the first `depth` freed) cut the region: only a flush merges
        // enough of it for this block.
        let big = alloc(&h, 60_000, 8);
        assert_eq!(
            counting.stats().allocations,
            1,
            "served from the flushed region"
        );
        free(&h, big, 60_000, 8);
        h.check_invariants();
        assert_eq!((h.stats().regions, h.stats().free_blocks), (1, 1));
    }

    #[test]
    fn is_send() {
        fn send<T: Send>() {}
        send::<FreeList>();
    }
}
