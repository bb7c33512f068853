//! What a `Slab` holds: its counts, the bytes it reserves, and whether an address is
//! inside one of its slabs ([`Owns`](crate::Owns)).

use core::ptr::NonNull;

use super::Slab;
use crate::api::{Allocator, Layout};

/// What a [`Slab`] holds, from [`Slab::stats`].
///
/// ```
/// use allocator_api2::boxed::Box;
/// let slab = allockit::Slab::for_type::<[u64; 4]>();
/// let a = Box::new_in([1u64; 4], &slab);
/// let s = slab.stats();
/// assert_eq!((s.slabs, s.live, s.slot_size), (1, 1, 32));
/// assert_eq!(s.free_slots, s.slots_per_slab - 1);
/// # drop(a);
/// ```
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

impl<A: Allocator> Slab<A> {
    /// Slabs, slots and live objects.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let slab = allockit::Slab::for_type::<u64>();
    /// let a = Box::new_in(1u64, &slab);
    /// let b = Box::new_in(2u64, &slab);
    /// drop(a);
    /// let s = slab.stats();
    /// assert_eq!((s.slabs, s.live, s.slot_size), (1, 1, 8));
    /// assert_eq!(s.live + s.free_slots, s.slots_per_slab);
    /// # drop(b);
    /// ```
    pub fn stats(&self) -> SlabStats {
        // SAFETY: a short shared read; no method runs concurrently (`!Sync`).
        let core = unsafe { &*self.core.get() };
        let mut free_slots = core.current_free();
        for e in core
            .table
            .as_slice()
            .iter()
            .filter(|e| e.meta.as_ptr() != core.cur)
        {
            // SAFETY: every entry's metadata block is live (`Core` invariant); a read.
            free_slots += unsafe { (*e.meta.as_ptr()).free };
        }
        let slabs = core.table.len();
        SlabStats {
            slabs,
            slots_per_slab: core.slots,
            live: slabs * core.slots - free_slots,
            free_slots,
            slot_size: core.stride,
        }
    }

    /// Bytes held from the backing allocator for slabs (their metadata blocks add 4 bytes
    /// per slot and a 40-byte header each).
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let slab = allockit::Slab::for_type::<[u8; 48]>();
    /// assert_eq!(slab.reserved_bytes(), 0);
    /// let b = Box::new_in([0u8; 48], &slab);
    /// let s = slab.stats();
    /// assert_eq!(slab.reserved_bytes(), s.slabs * s.slots_per_slab * s.slot_size);
    /// # drop(b);
    /// ```
    pub fn reserved_bytes(&self) -> usize {
        // SAFETY: a short shared read, as in `stats`.
        let core = unsafe { &*self.core.get() };
        core.table.len() * core.slab_layout.size()
    }

    /// Whether `ptr` points into one of the slabs: the current slab's range, else a
    /// binary search of the slab table, O(log slabs). [`Owns::owns`](crate::Owns) asks
    /// the same of a block.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let slab = allockit::Slab::for_type::<u64>();
    /// let inside = Box::new_in(5u64, &slab);
    /// let outside = Box::new(5u64);
    /// assert!(slab.contains(&*inside as *const u64 as *const u8));
    /// assert!(!slab.contains(&*outside as *const u64 as *const u8));
    /// ```
    #[inline]
    pub fn contains(&self, ptr: *const u8) -> bool {
        let addr = ptr.addr();
        // SAFETY: a short shared read, as in `stats`.
        let core = unsafe { &*self.core.get() };
        if addr.wrapping_sub(core.base.as_ptr().addr()) < core.span {
            return true;
        }
        let table = core.table.as_slice();
        match table.partition_point(|e| e.base.as_ptr().addr() <= addr) {
            0 => false,
            i => addr - table[i - 1].base.as_ptr().addr() < core.stride * core.slots,
        }
    }
}

// SAFETY: every block of a `Slab` is a slot inside one of its slabs, which it took from
// its backing allocator and owns until it gives them back (when no slot is live); the
// `Slab` is held by value, so no other allocator hands out memory inside them.
unsafe impl<A: Allocator> crate::Owns for Slab<A> {
    #[inline(always)]
    fn owns(&self, ptr: NonNull<u8>, _: Layout) -> bool {
        self.contains(ptr.as_ptr())
    }
}
