//! `Slab`: fixed-size objects in arrays, with the bookkeeping kept out of line.
//!
//! ## Design (Bonwick's slab, SLUB's simplicity)
//!
//! A `Slab` serves one object layout. Its memory is a set of **slabs**, each an array of
//! up to 512 equal **slots** taken from the backing allocator in one call. Objects
//! allocated one after another sit next to each other, which is what makes a linked
//! structure of boxed nodes cache-friendly.
//!
//! The metadata lives out of line, in a sorted table of slab descriptors (base address,
//! a 512-bit occupancy bitmap, a free count) kept in the backing allocator. No byte of a
//! slot is ever used for bookkeeping, so a use-after-free cannot corrupt the allocator,
//! and a double free is detected deterministically: the slot's bit is already clear.
//! In debug builds that panics with the address and slot; in release builds the second
//! free is ignored (the slot stays free exactly once), which is documented behaviour,
//! not undefined behaviour inside the allocator. A pointer that is not a slot start of
//! this slab is handled the same way.
//!
//! Allocation takes the first free bit of the current slab (`trailing_zeros` over eight
//! words). Deallocation finds the slab by checking the current one, then by binary search
//! over the sorted table — O(log slabs), never a scan of objects. Empty slabs beyond four
//! kept in reserve go back to the backing allocator.
//!
//! A layout that does not fit the slot (larger, or more strictly aligned) is `AllocError`;
//! so is growing a block past the slot size.

use core::cell::UnsafeCell;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout, dangling};
use crate::side_table::SideVec;

/// Most slots in one slab (the bitmap's width).
const MAX_SLOTS: usize = 512;
/// Words of the occupancy bitmap.
const WORDS: usize = MAX_SLOTS / 64;
/// A slab aims to hold this many bytes (fewer slots for large objects, at most 512).
const SLAB_BYTES: usize = 64 << 10;
/// Wholly empty slabs kept for reuse instead of being returned (a structure that
/// shrinks and regrows in waves would otherwise map and unmap a slab per wave step).
const EMPTY_RESERVE: usize = 4;

#[cfg(feature = "std")]
type Backing = crate::Pages;
#[cfg(not(feature = "std"))]
type Backing = alloc::alloc::Global;

/// One slab's out-of-line descriptor.
#[derive(Clone, Copy)]
struct Desc {
    /// The first slot; slot `i` is at `base + i * stride`.
    base: NonNull<u8>,
    /// Bit `i` set: slot `i` is allocated. Bits past `slots` are always set.
    used: [u64; WORDS],
    /// Number of clear bits below `slots`.
    free: usize,
}

/// What a [`Slab`] holds, from [`Slab::stats`].
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SlabStats {
    /// Slabs held from the backing allocator.
    pub slabs: usize,
    /// Slots per slab.
    pub slots_per_slab: usize,
    /// Objects currently allocated.
    pub live: usize,
    /// Free slots over all slabs.
    pub free_slots: usize,
    /// Bytes between the starts of two neighbouring slots.
    pub slot_size: usize,
}

/// Exact division by a slot size, without a `div` instruction on the free path.
///
/// A 64-bit `div` costs 35–90 cycles on the Xeons here and made a slab
/// allocate+free pair take 11 ns; Lemire's multiply-by-reciprocal ("Faster Remainder by
/// Direct Computation", 2019) gives the quotient and the divisibility test of a 32-bit
/// offset with one 128-bit multiply each.
#[derive(Clone, Copy)]
struct Divisor {
    /// The divisor, `>= 1`.
    d: usize,
    /// `u64::MAX / d + 1`, used when `d` and the offset fit in 32 bits.
    c: u64,
}

impl Divisor {
    fn new(d: usize) -> Self {
        let d = d.max(1);
        Divisor {
            d,
            c: (u64::MAX / d as u64).wrapping_add(1),
        }
    }

    /// `n / d` if `d` divides `n`, else `None`.
    #[inline(always)]
    fn exact(self, n: usize) -> Option<usize> {
        if ((n | self.d) as u64) >> 32 != 0 {
            return n.is_multiple_of(self.d).then(|| n / self.d);
        }
        if self.d == 1 {
            return Some(n);
        }
        let low = self.c.wrapping_mul(n as u64);
        if low > self.c - 1 {
            return None; // not a multiple of `d`
        }
        Some(((self.c as u128 * n as u128) >> 64) as usize)
    }
}

/// The state behind the `UnsafeCell`.
struct Core {
    /// Bytes from one slot start to the next: the object size rounded up to its alignment.
    stride: usize,
    /// `stride` as a divisor, for the free path.
    divisor: Divisor,
    /// Slots per slab, `1..=MAX_SLOTS`.
    slots: usize,
    /// The layout of one slab from the backing allocator.
    slab_layout: Layout,
    /// Descriptors, sorted by `base`.
    descs: SideVec<Desc>,
    /// Index of the slab allocations come from; valid when `descs` is non-empty.
    current: usize,
    /// Slabs with no allocated slot.
    empty: usize,
}

/// An allocator for objects of one layout, in slabs with out-of-line metadata.
///
/// ```
/// #![feature(allocator_api)]
/// use allockit::Slab;
///
/// struct Node { value: u64, next: Option<Box<Node, &'static Slab>> }
/// let slab: &'static Slab = Box::leak(Box::new(Slab::for_type::<Node>()));
/// let mut head: Option<Box<Node, &Slab>> = None;
/// for value in 0..1000 {
///     head = Some(Box::new_in(Node { value, next: head }, slab));
/// }
/// assert_eq!(slab.stats().live, 1000);
/// let mut sum = 0;
/// while let Some(node) = head {
///     sum += node.value;
///     let node = *node;
///     head = node.next;
/// }
/// assert_eq!((sum, slab.stats().live), (499_500, 0));
/// ```
///
/// It is `Send` but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Slab>();
/// ```
pub struct Slab<A: Allocator = Backing> {
    /// The layout this slab serves.
    layout: Layout,
    /// Borrowed only inside one method, which never calls back into this allocator.
    core: UnsafeCell<Core>,
    /// Where slabs and the descriptor table come from.
    backing: A,
}

// SAFETY: the allocator exclusively owns its slabs and descriptor table; sending it sends
// that ownership. It is not `Sync`: the `UnsafeCell` is unsynchronised.
unsafe impl<A: Allocator + Send> Send for Slab<A> {}

#[cfg(feature = "std")]
impl Slab<crate::Pages> {
    /// A slab allocator for objects of `layout`, on [`Pages`](crate::Pages).
    ///
    /// ```
    /// let slab = allockit::Slab::new(core::alloc::Layout::new::<[u8; 64]>());
    /// assert_eq!(slab.stats().slot_size, 64);
    /// ```
    pub fn new(layout: Layout) -> Self {
        Self::new_in(layout, crate::Pages)
    }

    /// A slab allocator for values of `T`, on [`Pages`](crate::Pages).
    pub fn for_type<T>() -> Self {
        Self::new(Layout::new::<T>())
    }
}

impl<A: Allocator> Slab<A> {
    /// A slab allocator for objects of `layout` that takes its slabs from `backing`.
    pub fn new_in(layout: Layout, backing: A) -> Self {
        let stride = layout.pad_to_align().size();
        let slots = match stride {
            0 => 1,
            s => (SLAB_BYTES / s).clamp(1, MAX_SLOTS),
        };
        // `stride * slots` cannot overflow: either it is at most SLAB_BYTES, or `slots` is
        // 1 and it is `stride`, a valid layout size.
        let slab_layout = Layout::from_size_align(stride * slots, layout.align()).unwrap_or(layout);
        Slab {
            layout,
            core: UnsafeCell::new(Core {
                stride,
                divisor: Divisor::new(stride),
                slots,
                slab_layout,
                descs: SideVec::new(),
                current: 0,
                empty: 0,
            }),
            backing,
        }
    }

    /// A slab allocator for values of `T` on `backing`.
    pub fn for_type_in<T>(backing: A) -> Self {
        Self::new_in(Layout::new::<T>(), backing)
    }

    /// The layout this slab serves.
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The backing allocator.
    pub fn backing(&self) -> &A {
        &self.backing
    }

    /// Slabs, slots and live objects.
    pub fn stats(&self) -> SlabStats {
        // SAFETY: a short shared read; no method runs concurrently (`!Sync`).
        let core = unsafe { &*self.core.get() };
        let free_slots: usize = core.descs.as_slice().iter().map(|d| d.free).sum();
        let slabs = core.descs.len();
        SlabStats {
            slabs,
            slots_per_slab: core.slots,
            live: slabs * core.slots - free_slots,
            free_slots,
            slot_size: core.stride,
        }
    }

    /// Bytes held from the backing allocator for slabs.
    pub fn reserved_bytes(&self) -> usize {
        // SAFETY: a short shared read, as in `stats`.
        let core = unsafe { &*self.core.get() };
        core.descs.len() * core.slab_layout.size()
    }

    /// Exclusive access to the state.
    ///
    /// # Safety
    ///
    /// No other reference from `core()` may be live: callers hold it only inside one
    /// allocator method, and those never call back into `self`.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn core(&self) -> &mut Core {
        // SAFETY: forwarded from the caller.
        unsafe { &mut *self.core.get() }
    }

    /// Whether a block of `layout` fits this slab's slots.
    #[inline(always)]
    fn fits(&self, layout: Layout) -> bool {
        // SAFETY: a short read of a field that never changes after construction.
        let stride = unsafe { (*self.core.get()).stride };
        layout.size() <= stride && layout.align() <= self.layout.align()
    }

    /// The fast path: the first free slot of the current slab.
    #[inline(always)]
    fn alloc_slot(&self) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the borrow ends before this method returns or calls `alloc_slow`.
        let core = unsafe { self.core() };
        if let Some(d) = core.descs.as_mut_slice().get_mut(core.current)
            && d.free > 0
        {
            if d.free == core.slots {
                core.empty -= 1;
            }
            return Ok(take_slot(d, core.stride));
        }
        self.alloc_slow()
    }

    /// The current slab is full (or there is none): switch to a partial slab, or make one.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: no other borrow is live; the backing allocator cannot reach `self`.
        let core = unsafe { self.core() };
        if let Some(i) = core.descs.as_slice().iter().position(|d| d.free > 0) {
            core.current = i;
            if core.descs.as_slice()[i].free == core.slots {
                core.empty -= 1;
            }
            return Ok(take_slot(&mut core.descs.as_mut_slice()[i], core.stride));
        }
        let slab = self.backing.allocate(core.slab_layout)?.cast::<u8>();
        let mut used = [0u64; WORDS];
        for (w, word) in used.iter_mut().enumerate() {
            // Bits at or past `slots` are permanently "allocated".
            let first = w * 64;
            if core.slots <= first {
                *word = !0;
            } else if core.slots < first + 64 {
                *word = !0 << (core.slots - first);
            }
        }
        let desc = Desc {
            base: slab,
            used,
            free: core.slots,
        };
        let at = core.descs.as_slice().partition_point(|d| d.base < slab);
        if core.descs.insert(at, desc, &self.backing).is_err() {
            // SAFETY: the slab was just allocated with this layout and is unused.
            unsafe { self.backing.deallocate(slab, core.slab_layout) };
            return Err(AllocError);
        }
        core.current = at;
        Ok(take_slot(&mut core.descs.as_mut_slice()[at], core.stride))
    }

    /// Frees the slot at `ptr`; detects double and invalid frees.
    #[inline(always)]
    fn free_slot(&self, ptr: NonNull<u8>) {
        // SAFETY: the borrow ends before this method returns or calls out.
        let core = unsafe { self.core() };
        let addr = ptr.as_ptr().addr();
        let span = core.stride * core.slots;
        let descs = core.descs.as_slice();
        let i = match descs.get(core.current) {
            Some(d) if addr.wrapping_sub(d.base.as_ptr().addr()) < span => core.current,
            _ => match descs.partition_point(|d| d.base.as_ptr().addr() <= addr) {
                0 => return invalid_free(ptr, "not inside any slab"),
                i => i - 1,
            },
        };
        let d = &mut core.descs.as_mut_slice()[i];
        let offset = addr - d.base.as_ptr().addr();
        let Some(slot) = core.divisor.exact(offset).filter(|_| offset < span) else {
            return invalid_free(ptr, "not the start of a slot");
        };
        let (word, bit) = (slot / 64, 1u64 << (slot % 64));
        if d.used[word] & bit == 0 {
            return invalid_free(ptr, "double free: the slot is already free");
        }
        d.used[word] &= !bit;
        d.free += 1;
        if d.free == core.slots {
            core.empty += 1;
            if core.empty > EMPTY_RESERVE {
                self.release(i);
            }
        }
    }

    /// Returns the empty slab `i` to the backing allocator.
    #[cold]
    fn release(&self, i: usize) {
        // SAFETY: no other borrow is live.
        let core = unsafe { self.core() };
        let desc = core.descs.remove(i);
        core.empty -= 1;
        if core.current > i || core.current >= core.descs.len() {
            core.current = core.current.saturating_sub(1);
        }
        // SAFETY: the slab was allocated with `slab_layout` and has no live slot.
        unsafe { self.backing.deallocate(desc.base, core.slab_layout) };
    }
}

/// Marks the first free slot of `d` allocated and returns it. `d.free > 0`.
#[inline(always)]
fn take_slot(d: &mut Desc, stride: usize) -> NonNull<u8> {
    let mut w = 0;
    while d.used[w] == !0 {
        w += 1;
    }
    let bit = (!d.used[w]).trailing_zeros() as usize;
    d.used[w] |= 1 << bit;
    d.free -= 1;
    // SAFETY: slot `w * 64 + bit < slots` (bits past `slots` are set), so it lies inside
    // the slab, which is not null.
    unsafe { d.base.add((w * 64 + bit) * stride) }
}

/// A free the slab cannot honour: a panic in debug builds, ignored in release builds.
#[cold]
#[inline(never)]
#[track_caller]
fn invalid_free(ptr: NonNull<u8>, what: &str) {
    if cfg!(debug_assertions) {
        panic!("Slab: invalid free of {ptr:p}: {what}");
    }
}

impl<A: Allocator> Drop for Slab<A> {
    fn drop(&mut self) {
        let core = self.core.get_mut();
        for d in core.descs.as_slice() {
            // SAFETY: every slab was allocated with `slab_layout`; dropping the allocator
            // ends every block's life.
            unsafe { self.backing.deallocate(d.base, core.slab_layout) };
        }
        core.descs.free(&self.backing);
    }
}

impl<A: Allocator> core::fmt::Debug for Slab<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slab")
            .field("layout", &self.layout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

// SAFETY: a slot is handed out only while its bit is clear and its bit is set until it
// is freed, so live blocks never overlap; slabs stay allocated until they are empty or the
// allocator is dropped; slots are aligned to the slab layout's alignment, and a layout
// needing more is refused. Slabs are out of line: moving the allocator moves no block.
unsafe impl<A: Allocator> Allocator for Slab<A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        if !self.fits(layout) {
            return Err(AllocError);
        }
        let p = self.alloc_slot()?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            self.free_slot(ptr);
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if !self.fits(new) {
            return Err(AllocError);
        }
        if old.size() == 0 {
            return self.allocate(new);
        }
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    }

    grow_zeroed_via_grow!();

    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.size() == 0 {
            // SAFETY: `ptr` is a live block fitting `old` (caller).
            unsafe { self.deallocate(ptr, old) };
            return Ok(dangling(new));
        }
        if new.align() > self.layout.align() {
            return Err(AllocError);
        }
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    }
}

mirror_allocator_api2!(impl[A: Allocator] for Slab<A>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counting;
    use alloc::alloc::Global;
    use alloc::vec::Vec;

    fn node() -> Layout {
        Layout::new::<[u64; 8]>()
    }

    #[test]
    fn neighbours_are_adjacent_and_slots_are_reused() {
        let slab = Slab::new_in(node(), Global);
        let a = slab.allocate(node()).unwrap().cast::<u8>();
        let b = slab.allocate(node()).unwrap().cast::<u8>();
        assert_eq!(b.as_ptr().addr() - a.as_ptr().addr(), 64);
        // SAFETY: `a` is live with layout `node()`.
        unsafe { slab.deallocate(a, node()) };
        assert_eq!(slab.allocate(node()).unwrap().cast::<u8>(), a);
        assert_eq!(slab.stats().live, 2);
    }

    #[test]
    fn layouts_that_do_not_fit_are_refused() {
        let slab = Slab::new_in(node(), Global);
        assert!(slab.allocate(Layout::new::<[u64; 9]>()).is_err());
        assert!(
            slab.allocate(Layout::from_size_align(8, 64).unwrap())
                .is_err()
        );
        assert!(slab.allocate(Layout::new::<u32>()).is_ok(), "smaller fits");
        let p = slab.allocate(node()).unwrap().cast::<u8>();
        // SAFETY: `p` is live with layout `node()`.
        assert!(unsafe { slab.grow(p, node(), Layout::new::<[u64; 9]>()) }.is_err());
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "double free"))]
    fn double_free_is_detected() {
        let slab = Slab::new_in(node(), Global);
        let p = slab.allocate(node()).unwrap().cast::<u8>();
        let _keep = slab.allocate(node()).unwrap();
        // SAFETY: the first free is valid; the second is the misuse under test, which the
        // slab detects from its bitmap without touching the slot.
        unsafe {
            slab.deallocate(p, node());
            slab.deallocate(p, node());
        }
        // Release builds ignore it: the slot is free exactly once.
        assert_eq!(slab.stats().live, 1);
        let q = slab.allocate(node()).unwrap().cast::<u8>();
        let r = slab.allocate(node()).unwrap().cast::<u8>();
        assert_ne!(q, r);
    }

    #[test]
    #[cfg_attr(debug_assertions, should_panic(expected = "not the start of a slot"))]
    fn interior_pointer_free_is_detected() {
        let slab = Slab::new_in(node(), Global);
        let p = slab.allocate(node()).unwrap().cast::<u8>();
        // SAFETY: deliberately misused; the slab checks the offset before touching state.
        unsafe { slab.deallocate(p.add(8), node()) };
        assert_eq!(slab.stats().live, 1);
    }

    #[test]
    fn empty_slabs_beyond_the_reserve_go_back() {
        let slab = Slab::new_in(node(), Counting::new(Global));
        let n = 3 * slab.stats().slots_per_slab.max(1) * 4;
        let blocks: Vec<_> = (0..n).map(|_| slab.allocate(node()).unwrap()).collect();
        let held = slab.stats().slabs;
        assert!(held >= 3);
        for b in blocks {
            // SAFETY: each block is live with layout `node()`.
            unsafe { slab.deallocate(b.cast(), node()) };
        }
        let s = slab.stats();
        assert_eq!((s.slabs, s.live), (EMPTY_RESERVE, 0));
        assert_eq!(slab.reserved_bytes(), EMPTY_RESERVE * 512 * 64);
    }

    #[test]
    fn reciprocal_division_is_exact() {
        for d in [1, 3, 7, 24, 48, 64, 72, 1000, 4096, 65536, (1 << 33) + 8] {
            let div = Divisor::new(d);
            for n in (0..3000).chain([d * 255, d * 256, d * 256 + 1, d * 1000 - 1]) {
                let want = n.is_multiple_of(d).then(|| n / d);
                assert_eq!(div.exact(n), want, "{n} / {d}");
            }
        }
    }

    #[test]
    fn zero_size_objects() {
        let slab = Slab::new_in(Layout::new::<()>(), Global);
        let p = slab.allocate(Layout::new::<()>()).unwrap();
        assert_eq!(p.len(), 0);
        assert!(slab.allocate(Layout::new::<u8>()).is_err());
    }
}
