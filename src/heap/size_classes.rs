//! `SizeClasses`: segregated free lists, one per size class.
//!
//! ## Design
//!
//! Every request up to [`MAX_SMALL`] bytes is rounded up to one of 37 classes (see
//! `size_class.rs`: 8, 16, 32, 48, 64, then four per doubling). Each class owns
//!
//! - a free list threaded through its free blocks (the first word of a free block points
//!   to the next), and
//! - the untouched tail `[bump, end)` of the last **run** it took from the backing
//!   allocator; a run is carved lazily, so refilling a class costs one backing call, not
//!   one write per block.
//!
//! Allocation pops the free list, else bumps the run tail, else refills (`#[cold]`).
//! Deallocation pushes onto the free list of the class computed from the `Layout`: Rust
//! passes the layout to `deallocate`, so there is no per-block header and no lookup.
//! Requests above `MAX_SMALL` (or aligned beyond 4 KiB) go straight to the backing
//! allocator, and their `grow`/`shrink` too (a `Pages` backing then uses `mremap`).
//!
//! A caller may free or resize a block with any size from the one it asked for to the
//! length it got back (a "fitting" layout). A small block's sizes all map to its class.
//! A large block is handed out with exactly its requested length, though the backing
//! allocator may have returned more (`Pages` rounds to pages): then the only size that
//! fits is the one counted in `reserved_bytes`.
//!
//! The cost of this speed: memory freed in one class is reused only by that class, and
//! runs go back to the backing allocator when the `SizeClasses` is dropped, not before.
//! Pick it for long-running programs whose allocation sizes are stable; pick
//! [`FreeList`](crate::FreeList) when sizes drift and memory must be returned.

use core::cell::UnsafeCell;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout, dangling, move_block};
use crate::side_table::SideVec;
use crate::size_class::{CLASSES, MAX_ALIGN, MAX_SMALL, align_of, class_for, size_of_class};

/// Bytes a run holds at least; a run also holds at least [`RUN_MIN_BLOCKS`] blocks.
const RUN_BYTES: usize = 16 << 10;
/// Blocks a run holds at least.
const RUN_MIN_BLOCKS: usize = 8;

/// The default backing allocator: `Pages` with `std`, `Global` without.
#[cfg(feature = "std")]
type Backing = crate::Pages;
#[cfg(not(feature = "std"))]
type Backing = allocator_api2::alloc::Global;

/// One size class.
#[derive(Clone, Copy)]
struct Class {
    /// Free blocks of this class; each stores the next in its first word.
    free: Option<NonNull<u8>>,
    /// The next uncarved byte of the class's newest run. Invariant: `bump <= end`, both
    /// in the same run, `bump` aligned to the class's alignment.
    bump: *mut u8,
    /// The end of the newest run's carvable part.
    end: *mut u8,
}

/// A run taken from the backing allocator, remembered so `Drop` can return it.
#[derive(Clone, Copy)]
struct Run {
    ptr: NonNull<u8>,
    layout: Layout,
}

/// The state behind the `UnsafeCell`.
struct Core {
    /// One entry per class.
    classes: [Class; CLASSES],
    /// Every run taken from the backing allocator.
    runs: SideVec<Run>,
    /// Bytes held in runs.
    run_bytes: usize,
    /// Requested bytes of the large blocks currently allocated from the backing
    /// allocator; each was handed out with exactly that length, so it is freed and
    /// resized with that size.
    large_bytes: usize,
}

/// Segregated-fit allocator: a free list per size class, no per-block header.
///
/// ```
/// use allocator_api2::boxed::Box;
/// use allocator_api2::vec::Vec;
/// use allockit::SizeClasses;
///
/// let heap = SizeClasses::new();
/// let mut names: Vec<String, _> = Vec::new_in(&heap);
/// names.push("ada".to_string());
/// let b = Box::new_in([0u64; 4], &heap);
/// let mut map = hashbrown::HashMap::new_in(&heap);
/// map.insert(1, b);
/// assert_eq!(names.len() + map.len(), 2);
/// ```
///
/// It is `Send` but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::SizeClasses>();
/// ```
pub struct SizeClasses<A: Allocator = Backing> {
    /// Only ever borrowed for the duration of one method, which never calls back into
    /// this allocator.
    core: UnsafeCell<Core>,
    /// Where runs and large blocks come from.
    backing: A,
}

// SAFETY: the allocator exclusively owns its runs and metadata; moving it to another
// thread moves that ownership. It is not `Sync` (the `UnsafeCell` is unsynchronised).
unsafe impl<A: Allocator + Send> Send for SizeClasses<A> {}

#[cfg(feature = "std")]
impl SizeClasses<crate::Pages> {
    /// A size-class allocator on [`Pages`](crate::Pages). Allocates nothing until used.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let heap = allockit::SizeClasses::new();
    /// assert_eq!(heap.reserved_bytes(), 0);
    /// let mut v = Vec::new_in(&heap);
    /// v.extend(0..100u16);
    /// assert_eq!(v.iter().map(|&x| x as u32).sum::<u32>(), 4950);
    /// ```
    pub const fn new() -> Self {
        Self::new_in(crate::Pages)
    }
}

#[cfg(feature = "std")]
impl Default for SizeClasses<crate::Pages> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Allocator> SizeClasses<A> {
    /// A size-class allocator that takes runs and large blocks from `backing`.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::SizeClasses::new_in(allocator_api2::alloc::Global);
    /// assert_eq!(*Box::new_in(5u8, &heap), 5);
    /// ```
    pub const fn new_in(backing: A) -> Self {
        const EMPTY: Class = Class {
            free: None,
            bump: core::ptr::null_mut(),
            end: core::ptr::null_mut(),
        };
        SizeClasses {
            core: UnsafeCell::new(Core {
                classes: [EMPTY; CLASSES],
                runs: SideVec::new(),
                run_bytes: 0,
                large_bytes: 0,
            }),
            backing,
        }
    }

    /// The backing allocator.
    ///
    /// ```
    /// use allockit::{Counting, SizeClasses};
    /// let heap = SizeClasses::new_in(Counting::new(allocator_api2::alloc::Global));
    /// let a = allocator_api2::boxed::Box::new_in(1u32, &heap);
    /// let calls = heap.backing().stats().allocations;
    /// let b = allocator_api2::boxed::Box::new_in(2u32, &heap);
    /// assert_eq!(heap.backing().stats().allocations, calls, "the same run serves both");
    /// # drop((a, b));
    /// ```
    pub fn backing(&self) -> &A {
        &self.backing
    }

    /// Bytes held from the backing allocator: runs plus live large blocks (by their
    /// requested sizes; the backing allocator may round those up).
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let heap = allockit::SizeClasses::new();
    /// let big: Vec<u8, _> = Vec::with_capacity_in(1 << 20, &heap); // large: its own block
    /// assert!(heap.reserved_bytes() >= 1 << 20);
    /// drop(big);
    /// assert!(heap.reserved_bytes() < 1 << 20, "the large block went back");
    /// ```
    pub fn reserved_bytes(&self) -> usize {
        // SAFETY: a short shared read; no method of `self` runs concurrently (`!Sync`)
        // or is re-entered.
        let core = unsafe { &*self.core.get() };
        core.run_bytes + core.large_bytes
    }

    /// The size of block a `layout` gets: its class size, or its own size when it is
    /// served by the backing allocator. Useful to see the internal waste.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// use allockit::SizeClasses;
    /// assert_eq!(SizeClasses::<allockit::Pages>::block_size(Layout::new::<[u8; 65]>()), 80);
    /// ```
    pub fn block_size(layout: Layout) -> usize {
        match layout.size() {
            0 => 0,
            _ => class_for(layout).map_or(layout.size(), size_of_class),
        }
    }

    /// Exclusive access to the state.
    ///
    /// # Safety
    ///
    /// No other reference from `core()` may be live: every caller holds it only inside
    /// one allocator method, and those never call back into `self`.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn core(&self) -> &mut Core {
        // SAFETY: forwarded from the caller.
        unsafe { &mut *self.core.get() }
    }

    /// The fast path for a class: pop the free list, else bump the run tail.
    #[inline(always)]
    fn alloc_small(&self, class: usize) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the borrow ends before this method returns; `refill` is the only call
        // out, and it takes the borrow over.
        let core = unsafe { self.core() };
        let c = &mut core.classes[class];
        if let Some(block) = c.free {
            // SAFETY: a free block of this class holds the next link in its first word,
            // written by `dealloc_small` (blocks are at least 8 bytes and 8-aligned).
            c.free = unsafe { block.cast::<Option<NonNull<u8>>>().read() };
            return Ok(block);
        }
        let size = size_of_class(class);
        if size <= c.end.addr() - c.bump.addr() {
            let block = c.bump;
            c.bump = block.wrapping_add(size);
            // SAFETY: `block` lies inside a live run, which is never null.
            return Ok(unsafe { NonNull::new_unchecked(block) });
        }
        self.refill(class)
    }

    /// Takes a new run for `class` from the backing allocator and carves the first block.
    #[cold]
    #[inline(never)]
    fn refill(&self, class: usize) -> Result<NonNull<u8>, AllocError> {
        let size = size_of_class(class);
        let bytes = RUN_BYTES.max(size * RUN_MIN_BLOCKS);
        let layout =
            Layout::from_size_align(bytes, align_of(class).max(16)).map_err(|_| AllocError)?;
        let run = self.backing.allocate(layout)?;
        // SAFETY: no other borrow of the state is live (`allocate` above cannot reach
        // this allocator).
        let core = unsafe { self.core() };
        if core
            .runs
            .push(
                Run {
                    ptr: run.cast(),
                    layout,
                },
                &self.backing,
            )
            .is_err()
        {
            // SAFETY: the run was just allocated with `layout` and is unused.
            unsafe { self.backing.deallocate(run.cast(), layout) };
            return Err(AllocError);
        }
        core.run_bytes += layout.size();
        let start = run.cast::<u8>();
        // Freed blocks and in-place grows re-derive pointers from this provenance.
        start.as_ptr().expose_provenance();
        let c = &mut core.classes[class];
        // Blocks start at the run's start, aligned to the class; the returned length may
        // exceed `bytes`, and every whole block of it is usable.
        c.bump = start.as_ptr().wrapping_add(size);
        c.end = start.as_ptr().wrapping_add(run.len() - run.len() % size);
        Ok(start)
    }

    /// Puts a block of `class` back on its free list; `size` is the caller's layout size.
    #[inline(always)]
    fn dealloc_small(&self, ptr: NonNull<u8>, class: usize, size: usize) {
        // SAFETY: the borrow ends before this method returns and nothing is called.
        let core = unsafe { self.core() };
        let c = &mut core.classes[class];
        // The link goes in through the caller's pointer; the list keeps one with the run's
        // exposed provenance (see `api::write_link`).
        let block = core::ptr::with_exposed_provenance_mut::<u8>(ptr.as_ptr().addr());
        let link = c.free.map_or(core::ptr::null_mut(), NonNull::as_ptr);
        // SAFETY: the block belongs to this class (the caller's layout maps to it), is at
        // least 8 bytes and 8-aligned, and is free: its first word is ours to use; the
        // caller's pointer is valid for its `size` bytes.
        unsafe { crate::api::write_link(block, ptr.as_ptr(), size, link) };
        // SAFETY: `block` has the address of `ptr`, which is not null.
        c.free = Some(unsafe { NonNull::new_unchecked(block) });
    }

    /// Adjusts the large-block byte count.
    #[inline]
    fn large(&self, added: usize, removed: usize) {
        // SAFETY: a short exclusive borrow; nothing is called while it is live.
        let core = unsafe { self.core() };
        core.large_bytes = core.large_bytes + added - removed;
    }
}

impl<A: Allocator> Drop for SizeClasses<A> {
    fn drop(&mut self) {
        let core = self.core.get_mut();
        for run in core.runs.as_slice() {
            // SAFETY: every run was allocated by `backing` with its recorded layout and
            // no block in it can be used after the allocator is dropped.
            unsafe { self.backing.deallocate(run.ptr, run.layout) };
        }
        core.runs.free(&self.backing);
    }
}

impl<A: Allocator> core::fmt::Debug for SizeClasses<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("SizeClasses")
            .field("reserved_bytes", &self.reserved_bytes())
            .finish_non_exhaustive()
    }
}

// SAFETY: small blocks are disjoint pieces of runs the allocator owns until it is dropped;
// a block is handed out again only after `deallocate` put it on its class's free list.
// Large blocks are the backing allocator's, which upholds the contract. Runs are out of
// line, so moving the allocator moves no block.
unsafe impl<A: Allocator> Allocator for SizeClasses<A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        match class_for(layout) {
            Some(class) => {
                let p = self.alloc_small(class)?;
                Ok(NonNull::slice_from_raw_parts(p, size_of_class(class)))
            }
            None => {
                let block = self.backing.allocate(layout)?;
                self.large(layout.size(), 0);
                Ok(exact(block, layout))
            }
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        match class_for(layout) {
            Some(class) => self.dealloc_small(ptr, class, layout.size()),
            None => {
                self.large(0, layout.size());
                // SAFETY: layouts without a class were served by `backing` (caller).
                unsafe { self.backing.deallocate(ptr, layout) }
            }
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.resize(ptr, old, new) }
    }

    grow_zeroed_via_grow!();

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.resize(ptr, old, new) }
    }
}

impl<A: Allocator> SizeClasses<A> {
    /// `grow` and `shrink`: in place within a class, through the backing allocator for
    /// large blocks, else by moving.
    ///
    /// # Safety
    ///
    /// `ptr` is a live block of this allocator that fits `old`.
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let (from, to) = match (old.size(), new.size()) {
            (0, _) | (_, 0) => (None, None),
            _ => (class_for(old), class_for(new)),
        };
        match (from, to) {
            (Some(a), Some(b)) if a == b => {
                // A pointer valid for the whole block: the caller's may cover only the old
                // size (a `Box` turned into a `Vec`). Runs are exposed in `refill`.
                let whole = core::ptr::with_exposed_provenance_mut::<u8>(ptr.as_ptr().addr());
                // SAFETY: the address of `ptr`, which is not null.
                let whole = unsafe { NonNull::new_unchecked(whole) };
                Ok(NonNull::slice_from_raw_parts(whole, size_of_class(a)))
            }
            (None, None) if old.size() != 0 && new.size() != 0 => {
                // Both large: let the backing allocator resize (mremap for `Pages`).
                let block = if new.size() >= old.size() {
                    // SAFETY: large blocks are the backing allocator's (caller).
                    unsafe { self.backing.grow(ptr, old, new)? }
                } else {
                    // SAFETY: as above.
                    unsafe { self.backing.shrink(ptr, old, new)? }
                };
                self.large(new.size(), old.size());
                Ok(exact(block, new))
            }
            // SAFETY: forwarded from the caller.
            _ => unsafe { move_block(self, ptr, old, new) },
        }
    }
}

/// A large block cut to its requested length: the sizes a caller may then free or resize
/// it with are only `layout.size()`, the one `large_bytes` counts (see the module notes).
#[inline(always)]
fn exact(block: NonNull<[u8]>, layout: Layout) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(block.cast(), layout.size())
}

mirror_core_allocator!(impl[A: Allocator] for SizeClasses<A>);

const _: () = assert!(MAX_ALIGN <= 4096 && MAX_SMALL <= RUN_BYTES);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counting;
    use alloc::vec::Vec;
    use allocator_api2::alloc::Global;

    #[test]
    fn freed_blocks_are_reused_lifo_within_their_class() {
        let heap = SizeClasses::new_in(Global);
        let l = Layout::new::<[u8; 40]>();
        let a = heap.allocate(l).unwrap();
        assert_eq!(a.len(), 48);
        // SAFETY: `a` is live with layout `l`.
        unsafe { heap.deallocate(a.cast(), l) };
        let b = heap.allocate(Layout::new::<[u8; 48]>()).unwrap();
        assert_eq!(a.cast::<u8>(), b.cast::<u8>(), "same class, reused");
        let c = heap.allocate(Layout::new::<[u8; 49]>()).unwrap();
        assert_ne!(b.cast::<u8>(), c.cast::<u8>());
    }

    #[test]
    fn one_backing_call_per_run_and_large_blocks_pass_through() {
        let heap = SizeClasses::new_in(Counting::new(Global));
        let l = Layout::new::<u64>();
        let blocks: Vec<_> = (0..2048).map(|_| heap.allocate(l).unwrap()).collect();
        let runs = heap.backing().stats().allocations;
        assert!(
            runs <= 2 + 1,
            "2048 × 8 B fit one 16 KiB run (+ the run list): {runs}"
        );
        let big = Layout::from_size_align(MAX_SMALL + 1, 8).unwrap();
        let p = heap.allocate(big).unwrap();
        assert_eq!(heap.reserved_bytes(), RUN_BYTES + MAX_SMALL + 1);
        // SAFETY: every block is live with its layout.
        unsafe {
            heap.deallocate(p.cast(), big);
            for b in blocks {
                heap.deallocate(b.cast(), l);
            }
        }
        assert_eq!(heap.reserved_bytes(), RUN_BYTES);
        drop(heap);
    }

    #[test]
    fn resize_in_place_within_a_class() {
        let heap = SizeClasses::new_in(Global);
        let (a, b) = (Layout::new::<[u8; 65]>(), Layout::new::<[u8; 80]>());
        let p = heap.allocate(a).unwrap().cast::<u8>();
        // SAFETY: `p` is live with layout `a`, then `b`.
        unsafe {
            assert_eq!(heap.grow(p, a, b).unwrap().cast::<u8>(), p);
            let q = heap
                .grow(p, b, Layout::new::<[u8; 81]>())
                .unwrap()
                .cast::<u8>();
            assert_ne!(q, p, "the next class is another free list");
            heap.deallocate(q, Layout::new::<[u8; 81]>());
        }
    }
}
