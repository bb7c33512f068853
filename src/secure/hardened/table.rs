//! The out-of-line metadata table of a [`Hardened`](super::Hardened) heap: one entry per
//! block it handed out and has not yet given back, keyed by the block's address.
//!
//! An open-addressing hash table with linear probing and backward-shift deletion (no
//! tombstones, so probes stay short however many blocks come and go). The home slot is
//! the top `log2(cap)` bits of the address times 2^64/φ (Fibonacci hashing): addresses
//! that differ only in their low bits, as blocks of one run do, land far apart. An entry
//! is 16 bytes (address, then size, alignment and state packed in one word), and the
//! table keeps its load at most 1/4 (64–128 bytes of table per block), so probes are
//! about one slot long: a heap with 1,000 live blocks has a 64 KiB table, and a lookup
//! touches one cache line. (At load 1/2 the removal's backward shift scanned ~2.5 slots
//! and the mixed benchmark ran ~30 instructions and ~25% slower per step.)
//!
//! Its slots live in their own anonymous mapping from [`os::map`](crate::os::map), never
//! next to user blocks: a linear overflow out of a user block cannot reach the metadata
//! that detects it, and the table does not disturb the inner allocator it is guarding
//! (nor the global allocator, which may be the inner allocator). A fresh mapping is
//! zeroed, and a zeroed slot (null pointer) is an empty one.

use core::ptr;

use crate::api::{AllocError, Layout};
use crate::os;

/// Where a block is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum State {
    /// Handed out to the caller.
    Live,
    /// Freed by the caller, zeroed (or sealed), waiting in the quarantine.
    Quarantined,
}

/// Bits of [`Entry::meta`] that hold the requested size.
pub(super) const SIZE_BITS: u32 = 48;
/// `log2` of the alignment: bits 48..54.
pub(super) const ALIGN_SHIFT: u32 = SIZE_BITS;
/// Set while the block waits in quarantine.
const QUARANTINED: u64 = 1 << 56;
/// The block is a guard-paged mapping of its own.
const LARGE: u64 = 1 << 57;
/// (Large blocks in quarantine) the block's pages are `PROT_NONE`.
const SEALED: u64 = 1 << 58;

/// One block: 16 bytes.
#[derive(Debug, Clone, Copy)]
pub(super) struct Entry {
    /// The block as returned to the caller (with the provenance of the whole block); null
    /// marks an empty slot.
    pub(super) ptr: *mut u8,
    /// The size the caller asked for (bits 0..48), `log2` of its alignment (48..54), and
    /// the flags `QUARANTINED`, `LARGE`, `SEALED`. A live small block's `meta` is
    /// [`Entry::live_meta`] of its layout, so a free checks layout and state with one
    /// compare.
    meta: u64,
}

impl Entry {
    /// The `meta` word of a live block (small, or `large`) of `size` and `align`.
    #[inline(always)]
    pub(super) const fn live_meta(size: usize, align: usize, large: bool) -> u64 {
        // Sizes of valid layouts are at most `isize::MAX`; on 64-bit targets the address
        // space (48 bits) bounds any size that could have been allocated.
        debug_assert!((size as u64) >> SIZE_BITS == 0);
        (size as u64) | ((align.trailing_zeros() as u64) << ALIGN_SHIFT) | (large as u64 * LARGE)
    }

    /// A live entry for the block at `ptr`.
    #[inline(always)]
    pub(super) fn new(ptr: *mut u8, size: usize, align: usize, large: bool) -> Self {
        Entry {
            ptr,
            meta: Self::live_meta(size, align, large),
        }
    }

    /// The `meta` word: compare it with [`Entry::live_meta`].
    #[inline(always)]
    pub(super) fn meta(&self) -> u64 {
        self.meta
    }

    /// The layout the block was allocated with.
    #[inline(always)]
    pub(super) fn layout(&self) -> Layout {
        // SAFETY: entries are made from valid layouts; this is that size and alignment.
        unsafe { Layout::from_size_align_unchecked(self.size(), self.align()) }
    }

    /// The block's address.
    #[inline(always)]
    pub(super) fn addr(&self) -> usize {
        self.ptr.addr()
    }

    /// The size the caller asked for.
    #[inline(always)]
    pub(super) fn size(&self) -> usize {
        (self.meta & ((1 << SIZE_BITS) - 1)) as usize
    }

    /// The alignment the caller asked for.
    #[inline(always)]
    pub(super) fn align(&self) -> usize {
        1 << ((self.meta >> ALIGN_SHIFT) & 63)
    }

    /// Live or quarantined.
    #[inline(always)]
    pub(super) fn state(&self) -> State {
        if self.meta & QUARANTINED == 0 {
            State::Live
        } else {
            State::Quarantined
        }
    }

    /// Whether the block is a guard-paged mapping of its own.
    #[inline(always)]
    pub(super) fn large(&self) -> bool {
        self.meta & LARGE != 0
    }

    /// Whether the (large, quarantined) block's pages are `PROT_NONE`.
    #[inline(always)]
    pub(super) fn sealed(&self) -> bool {
        self.meta & SEALED != 0
    }

    /// Marks the block quarantined, and sealed if `sealed`.
    #[inline(always)]
    pub(super) fn quarantine(&mut self, sealed: bool) {
        self.meta |= QUARANTINED | (sealed as u64 * SEALED);
    }
}

/// Multiplier of the Fibonacci hash (2^64 / golden ratio).
const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

/// The home slot of `addr` in a table of `2^bits` slots.
#[inline(always)]
pub(super) fn home(addr: usize, bits: u32) -> usize {
    ((addr as u64).wrapping_mul(FIB) >> (64 - bits)) as usize
}

/// The live and quarantined blocks of one heap.
pub(super) struct Table {
    /// `cap` slots in a mapping of `map_len` bytes; null when `cap == 0`.
    slots: *mut Entry,
    /// Slots, zero or a power of two; always at least four times `len` (load ≤ 1/4).
    cap: usize,
    /// `log2(cap)`.
    bits: u32,
    /// Occupied slots.
    len: usize,
    /// Bytes of the mapping behind `slots`.
    map_len: usize,
}

impl Table {
    /// An empty table; maps nothing.
    pub(super) const fn new() -> Self {
        Table {
            slots: ptr::null_mut(),
            cap: 0,
            bits: 0,
            len: 0,
            map_len: 0,
        }
    }

    /// Occupied slots.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.len
    }

    /// The slots, including empty ones.
    #[inline(always)]
    fn slots(&self) -> &[Entry] {
        if self.cap == 0 {
            return &[];
        }
        // SAFETY: `slots` points to `cap` initialised entries (a zeroed mapping is a valid
        // array of empty entries: null pointer, zero `meta`).
        unsafe { core::slice::from_raw_parts(self.slots, self.cap) }
    }

    /// The slots, mutably.
    #[inline(always)]
    fn slots_mut(&mut self) -> &mut [Entry] {
        if self.cap == 0 {
            return &mut [];
        }
        // SAFETY: as in `slots`, and `&mut self` gives exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.slots, self.cap) }
    }

    /// The slot holding the block at `addr`, if any.
    #[inline(always)]
    pub(super) fn slot_of(&self, addr: usize) -> Option<usize> {
        if self.cap == 0 {
            return None;
        }
        let mask = self.cap - 1;
        let slots = self.slots();
        let mut i = home(addr, self.bits);
        loop {
            let p = slots[i].ptr;
            if p.addr() == addr && !p.is_null() {
                return Some(i);
            }
            if p.is_null() {
                return None;
            }
            i = (i + 1) & mask;
        }
    }

    /// The entry in an occupied `slot` (from [`Table::slot_of`]).
    #[inline(always)]
    pub(super) fn at(&mut self, slot: usize) -> &mut Entry {
        &mut self.slots_mut()[slot]
    }

    /// The entry of the block at `addr`.
    #[cfg(test)]
    pub(super) fn get_mut(&mut self, addr: usize) -> Option<&mut Entry> {
        let i = self.slot_of(addr)?;
        Some(&mut self.slots_mut()[i])
    }

    /// Adds `entry`, whose address must not be in the table.
    #[inline(always)]
    pub(super) fn insert(&mut self, entry: Entry) -> Result<(), AllocError> {
        debug_assert!(!entry.ptr.is_null() && self.slot_of(entry.addr()).is_none());
        if 4 * (self.len + 1) > self.cap {
            self.grow()?;
        }
        let mask = self.cap - 1;
        let mut i = home(entry.addr(), self.bits);
        let slots = self.slots_mut();
        while !slots[i].ptr.is_null() {
            i = (i + 1) & mask;
        }
        slots[i] = entry;
        self.len += 1;
        Ok(())
    }

    /// Removes and returns the entry of the block at `addr`.
    #[cfg(test)]
    pub(super) fn remove(&mut self, addr: usize) -> Option<Entry> {
        let slot = self.slot_of(addr)?;
        Some(self.remove_at(slot))
    }

    /// Removes and returns the entry in an occupied `slot` (from [`Table::slot_of`], with
    /// no change to the table since).
    #[inline(always)]
    pub(super) fn remove_at(&mut self, slot: usize) -> Entry {
        let mut hole = slot;
        let mask = self.cap - 1;
        let bits = self.bits;
        let slots = self.slots_mut();
        let removed = slots[hole];
        // Backward-shift deletion: pull later entries of the probe run into the hole
        // unless that would move them before their home slot.
        let mut j = hole;
        loop {
            j = (j + 1) & mask;
            let e = slots[j];
            if e.ptr.is_null() {
                break;
            }
            // Distances (mod cap) from the entry's home: it may move to `hole` only if
            // `hole` is no earlier than its home.
            let h = home(e.addr(), bits);
            if (j.wrapping_sub(h) & mask) >= (j.wrapping_sub(hole) & mask) {
                slots[hole] = e;
                hole = j;
            }
        }
        slots[hole].ptr = ptr::null_mut();
        self.len -= 1;
        removed
    }

    /// Every entry, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = &Entry> {
        self.slots().iter().filter(|e| !e.ptr.is_null())
    }

    /// Doubles the table (or makes the first one), rehashing every entry.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) -> Result<(), AllocError> {
        let cap = (2 * self.cap)
            .max(os::page_size() / size_of::<Entry>())
            .next_power_of_two();
        let (slots, map_len) = map_array::<Entry>(cap)?;
        let old = core::mem::replace(
            self,
            Table {
                slots,
                cap,
                bits: cap.trailing_zeros(),
                len: 0,
                map_len,
            },
        );
        for e in old.iter() {
            // Cannot grow again: the new table has more than four times the room.
            let _ = self.insert(*e);
        }
        old.unmap();
        Ok(())
    }

    /// Returns the mapping to the OS; the table is empty afterwards.
    pub(super) fn unmap(self) {
        // SAFETY: the slots came from `map_array` with this length (or there are none),
        // and `self`, the only reference to them, is consumed.
        unsafe { unmap_array(self.slots, self.map_len) }
    }
}

const _: () = assert!(size_of::<Entry>() == 2 * size_of::<usize>());

/// A fresh array of `cap` values of `T`, all zero bytes, in an anonymous mapping of its
/// own (the table's slots, the block map's directory): its start and the mapping's length.
pub(super) fn map_array<T>(cap: usize) -> Result<(*mut T, usize), AllocError> {
    let map_len = (cap * size_of::<T>()).next_multiple_of(os::page_size());
    let start = os::map(map_len).map_err(|_| AllocError)?;
    Ok((start.as_ptr().cast(), map_len))
}

/// Unmaps an array from [`map_array`] (nothing when `map_len` is zero: no array).
///
/// # Safety
///
/// - `start` and `map_len` came from one `map_array` call, and nothing will access the
///   array again.
pub(super) unsafe fn unmap_array<T>(start: *mut T, map_len: usize) {
    if map_len != 0 {
        // SAFETY: a mapping of `map_len` bytes made by `os::map` (caller), never null.
        unsafe { os::unmap(ptr::NonNull::new_unchecked(start.cast()), map_len) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(addr: usize, p: *mut u8) -> Entry {
        Entry::new(p.wrapping_add(addr), addr, 1, false)
    }

    #[test]
    fn entry_packs_layout_and_state() {
        let p = [0u8; 1].as_ptr().cast_mut();
        let mut e = Entry::new(p, (1 << 40) + 3, 4096, true);
        assert_eq!(
            (e.size(), e.align(), e.large()),
            ((1 << 40) + 3, 4096, true)
        );
        assert_eq!((e.state(), e.sealed()), (State::Live, false));
        assert_eq!(e.meta(), Entry::live_meta((1 << 40) + 3, 4096, true));
        e.quarantine(true);
        assert_eq!(
            (e.state(), e.sealed(), e.size()),
            (State::Quarantined, true, (1 << 40) + 3)
        );
        assert_ne!(e.meta(), Entry::live_meta((1 << 40) + 3, 4096, true));
    }

    #[test]
    fn insert_find_remove_many() {
        let base = [0u8; 1].as_ptr().cast_mut();
        let mut t = Table::new();
        let n = if cfg!(miri) { 300 } else { 5000 };
        for i in 1..=n {
            t.insert(entry(i * 16, base)).unwrap();
        }
        assert_eq!(t.len(), n);
        for i in (1..=n).step_by(3) {
            let addr = base.addr() + i * 16;
            assert_eq!(t.remove(addr).unwrap().size(), i * 16);
            assert!(t.remove(addr).is_none());
        }
        for i in 1..=n {
            let found = t.get_mut(base.addr() + i * 16).map(|e| e.size());
            let expected = if (i - 1) % 3 == 0 { None } else { Some(i * 16) };
            assert_eq!(found, expected, "block {i}");
        }
        assert_eq!(t.iter().count(), t.len());
        t.unmap();
    }
}
