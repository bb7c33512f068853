//! Which 4 MiB segments of the address space belong to the allocator: one bit each.
//!
//! C's `free` takes any pointer, and glibc aborts on one it never handed out. To do the
//! same without reading memory that may not be ours (a header before the pointer, or the
//! segment header of somebody else's mapping), the allocator records every segment it
//! maps here: bit `addr >> 22` is set while the 4 MiB slice of the address space at
//! `addr` is the start of a mapping of ours. Lookups are one load and a bit test.
//!
//! The map covers the 48-bit user address space of x86_64 and aarch64 (2^26 bits,
//! 8 MiB), reserved as one anonymous mapping on first use: only the words that are
//! written ever take memory, one OS page per 128 GiB of address space in use.

use core::ptr;
use core::sync::atomic::{AtomicPtr, AtomicU64, Ordering};

use super::SEGMENT_SHIFT;
use crate::os;

/// Address bits covered: user addresses on Linux x86_64 and aarch64 stay below 2^48.
const ADDRESS_BITS: u32 = 48;
/// Segments the map can describe.
const SEGMENTS: usize = 1 << (ADDRESS_BITS - SEGMENT_SHIFT);
/// Bytes of the map.
const BYTES: usize = SEGMENTS / 8;

/// The map, or null until the first segment is recorded.
static MAP: AtomicPtr<AtomicU64> = AtomicPtr::new(ptr::null_mut());

/// The map, mapping it on first use; `None` if the OS refuses.
fn words() -> Option<*const AtomicU64> {
    let map = MAP.load(Ordering::Acquire);
    if !map.is_null() {
        return Some(map);
    }
    let fresh = os::map(BYTES).ok()?.as_ptr().cast::<AtomicU64>();
    match MAP.compare_exchange(ptr::null_mut(), fresh, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => Some(fresh),
        Err(won) => {
            // SAFETY: `fresh` is the mapping made just above, which nothing else saw.
            unsafe { os::unmap(core::ptr::NonNull::new_unchecked(fresh.cast()), BYTES) };
            Some(won)
        }
    }
}

/// The word index and bit of the segment starting at `base`, if the map covers it.
fn slot(base: usize) -> Option<(usize, u64)> {
    let index = base >> SEGMENT_SHIFT;
    (index < SEGMENTS).then(|| (index / 64, 1 << (index % 64)))
}

/// Records the segment at `base` (4 MiB-aligned) as ours; false if it cannot be
/// recorded (the OS refused the map, or the address is beyond it), in which case the
/// caller must not hand out memory from it.
pub(crate) fn insert(base: usize) -> bool {
    let (Some(words), Some((word, bit))) = (words(), slot(base)) else {
        return false;
    };
    // SAFETY: `word < BYTES / 8`, inside the map, which is never unmapped.
    unsafe { (*words.add(word)).fetch_or(bit, Ordering::Release) };
    true
}

/// Forgets the segment at `base`, before it is unmapped.
pub(crate) fn remove(base: usize) {
    let map = MAP.load(Ordering::Acquire);
    if let (false, Some((word, bit))) = (map.is_null(), slot(base)) {
        // SAFETY: as in `insert`.
        unsafe { (*map.add(word)).fetch_and(!bit, Ordering::Release) };
    }
}

/// Whether the segment at `base` (4 MiB-aligned) is one of ours.
#[inline]
pub(crate) fn contains(base: usize) -> bool {
    let map = MAP.load(Ordering::Acquire);
    match (map.is_null(), slot(base)) {
        // SAFETY: as in `insert`. Acquire pairs with `insert`'s Release: the segment's
        // header, written before it was recorded, is visible.
        (false, Some((word, bit))) => unsafe {
            (*map.add(word)).load(Ordering::Acquire) & bit != 0
        },
        _ => false,
    }
}
