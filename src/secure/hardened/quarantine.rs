//! The quarantine of a [`Hardened`](super::Hardened) heap: freed blocks wait here before
//! they go back to the inner allocator, so a dangling pointer keeps pointing at zeroed
//! (or sealed) memory that nobody else owns, and a write through it is caught when the
//! block leaves.
//!
//! As in hardened_malloc, a freed block first lands in a random slot of a small array;
//! the block it displaces joins a FIFO ring. Release order is thus hard to predict (an
//! attacker cannot groom the heap by counting frees) while every block still waits for
//! about `quarantine_bytes` of later frees. The ring lives in its own anonymous mapping
//! (from [`os::map`]), like the metadata table. The quarantine only stores addresses; the
//! sizes that bound it in bytes are in the table, and the owner keeps the byte count.

use core::ptr::{self, NonNull};

use crate::os;

/// Slots of the random array.
pub(super) const RANDOM_SLOTS: usize = 32;

/// Blocks waiting to be released.
pub(super) struct Quarantine {
    /// Random-choice slots; null when empty.
    random: [*mut u8; RANDOM_SLOTS],
    /// The FIFO ring: `cap` slots (a power of two, or 0) in a mapping of `map_len` bytes.
    ring: *mut *mut u8,
    /// Ring capacity.
    cap: usize,
    /// Index of the oldest ring entry.
    head: usize,
    /// Ring entries; `len <= cap`.
    len: usize,
    /// Bytes of the ring's mapping.
    map_len: usize,
    /// Blocks in the quarantine (ring and random slots).
    pub(super) blocks: usize,
    /// Requested bytes of those blocks, kept by the owner.
    pub(super) bytes: usize,
}

impl Quarantine {
    /// An empty quarantine; maps nothing.
    pub(super) const fn new() -> Self {
        Quarantine {
            random: [ptr::null_mut(); RANDOM_SLOTS],
            ring: ptr::null_mut(),
            cap: 0,
            head: 0,
            len: 0,
            map_len: 0,
            blocks: 0,
            bytes: 0,
        }
    }

    /// Adds `block` (of `size` requested bytes) at a random slot chosen by `random`. If
    /// the block it displaces cannot join the ring (no memory for the ring), that block is
    /// returned and must be released now.
    #[inline]
    pub(super) fn put(&mut self, block: *mut u8, size: usize, random: u64) -> Option<*mut u8> {
        let slot = &mut self.random[(random as usize) % RANDOM_SLOTS];
        let displaced = core::mem::replace(slot, block);
        self.blocks += 1;
        self.bytes += size;
        if displaced.is_null() {
            return None;
        }
        if self.len == self.cap && !self.grow() {
            self.blocks -= 1;
            return Some(displaced);
        }
        // SAFETY: `len < cap`, so the slot `(head + len) % cap` is inside the ring.
        unsafe {
            self.ring
                .add((self.head + self.len) & (self.cap - 1))
                .write(displaced)
        };
        self.len += 1;
        None
    }

    /// Takes the block that has waited longest (the ring's oldest, or, once the ring is
    /// empty, any random slot). The caller subtracts its size from `bytes`.
    pub(super) fn take_oldest(&mut self) -> Option<*mut u8> {
        let block = if self.len > 0 {
            // SAFETY: `head < cap` indexes an initialised ring entry since `len > 0`.
            let block = unsafe { self.ring.add(self.head).read() };
            self.head = (self.head + 1) & (self.cap - 1);
            self.len -= 1;
            block
        } else {
            let slot = self.random.iter_mut().find(|p| !p.is_null())?;
            core::mem::replace(slot, ptr::null_mut())
        };
        self.blocks -= 1;
        Some(block)
    }

    /// Every quarantined block, in no particular order.
    #[cfg(test)]
    pub(super) fn iter(&self) -> impl Iterator<Item = *mut u8> + '_ {
        let ring = (0..self.len).map(|i| {
            // SAFETY: the first `len` entries from `head` (mod `cap`) are initialised.
            unsafe { self.ring.add((self.head + i) & (self.cap - 1)).read() }
        });
        ring.chain(self.random.iter().copied().filter(|p| !p.is_null()))
    }

    /// Doubles the ring (keeping its order); false if the OS has no memory.
    #[cold]
    #[inline(never)]
    fn grow(&mut self) -> bool {
        let page = os::page_size();
        let cap = (2 * self.cap).max(page / size_of::<*mut u8>());
        let map_len = cap * size_of::<*mut u8>();
        let Ok(new) = os::map(map_len) else {
            return false;
        };
        let new = new.as_ptr().cast::<*mut u8>();
        for i in 0..self.len {
            // SAFETY: entry `i` of the old ring is initialised; the new ring has `cap > len`
            // slots.
            unsafe {
                new.add(i)
                    .write(self.ring.add((self.head + i) & (self.cap - 1)).read())
            };
        }
        let len = self.len;
        self.unmap_ring();
        (self.ring, self.cap, self.len, self.map_len) = (new, cap, len, map_len);
        true
    }

    /// Returns the ring's mapping to the OS (its entries are lost).
    fn unmap_ring(&mut self) {
        if self.map_len != 0 {
            // SAFETY: `ring` is a mapping of `map_len` bytes made by `os::map`, and no
            // entry of it is read again (the caller replaces or forgets it).
            unsafe { os::unmap(NonNull::new_unchecked(self.ring.cast()), self.map_len) };
        }
        (self.ring, self.cap, self.head, self.len, self.map_len) = (ptr::null_mut(), 0, 0, 0, 0);
    }

    /// Returns the ring's mapping to the OS; call once every block has been taken.
    pub(super) fn unmap(mut self) {
        debug_assert_eq!(self.blocks, 0);
        self.unmap_ring();
    }
}

/// Whether the `len` bytes at `ptr` are all zero, read a word at a time: the check of a
/// block leaving the quarantine.
///
/// # Safety
///
/// - `[ptr, ptr + len)` is readable.
#[inline]
pub(super) unsafe fn all_zero(ptr: *const u8, len: usize) -> bool {
    let words = len / 8;
    let mut acc = 0u64;
    for i in 0..words {
        // SAFETY: word `i` lies inside the range (caller); the read is unaligned.
        acc |= unsafe { ptr.add(8 * i).cast::<u64>().read_unaligned() };
    }
    for i in 8 * words..len {
        // SAFETY: byte `i` lies inside the range (caller).
        acc |= u64::from(unsafe { ptr.add(i).read() });
    }
    acc == 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use alloc::vec::Vec;

    #[test]
    fn fifo_behind_random_slots() {
        let base = [0u8; 1].as_ptr().cast_mut();
        let mut q = Quarantine::new();
        let n = if cfg!(miri) { 200 } else { 3000 };
        let mut seed = 7u64;
        for i in 1..=n {
            seed = seed.wrapping_mul(6364136223846793005).wrapping_add(1);
            assert!(q.put(base.wrapping_add(i), 1, seed >> 33).is_none());
        }
        assert_eq!((q.blocks, q.bytes, q.iter().count()), (n, n, n));
        let mut seen = Vec::new();
        while let Some(p) = q.take_oldest() {
            seen.push(p.addr() - base.addr());
        }
        seen.sort();
        assert_eq!(
            seen,
            (1..=n).collect::<Vec<_>>(),
            "every block comes out once"
        );
        q.unmap();
    }
}
