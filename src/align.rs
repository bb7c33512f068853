//! Alignment arithmetic and provenance-preserving pointer helpers.
//!
//! Addresses are computed as `usize` and turned back into pointers with
//! [`pointer::with_addr`], so every pointer keeps the provenance of the chunk, buffer or
//! mapping it came from and Miri can check every access (talc's approach).

/// Bytes needed to move `addr` up to a multiple of `align` (a power of two).
#[inline(always)]
pub(crate) const fn pad_up(addr: usize, align: usize) -> usize {
    addr.wrapping_neg() & (align - 1)
}

/// `value` rounded up to a multiple of `align` (a power of two), or `None` on overflow.
#[inline(always)]
pub(crate) const fn round_up(value: usize, align: usize) -> Option<usize> {
    match value.checked_add(align - 1) {
        Some(v) => Some(v & !(align - 1)),
        None => None,
    }
}

/// Whether `ptr` is a multiple of `align` (a power of two).
#[inline(always)]
pub(crate) fn is_aligned(ptr: core::ptr::NonNull<u8>, align: usize) -> bool {
    ptr.as_ptr().addr() & (align - 1) == 0
}

/// A dangling, non-null pointer aligned to `layout.align()`: the block of a zero-size
/// layout (`Layout::dangling_ptr`, which needs a newer Rust than the crate's
/// `rust-version`).
#[inline(always)]
pub(crate) const fn dangling(layout: core::alloc::Layout) -> core::ptr::NonNull<u8> {
    // SAFETY: an alignment is a power of two, so never zero.
    unsafe { core::ptr::NonNull::new_unchecked(core::ptr::without_provenance_mut(layout.align())) }
}

/// `ptr` with the provenance its allocator exposed when it handed the block out.
///
/// A caller's pointer may carry less than the block's provenance: one made from a
/// reference (allocator-api2's `Box::new_in` makes one) is valid, under Stacked Borrows,
/// only for the bytes of the value, not for the canary, header or slack an allocator
/// keeps around it, nor for freeing the larger block it came from. Strategies that touch
/// such bytes expose each block's pointer when they return it and take it back by
/// address here. At run time this is the same address.
#[cfg_attr(not(feature = "std"), allow(dead_code))] // its users need the OS
#[inline(always)]
pub(crate) fn own(ptr: core::ptr::NonNull<u8>) -> core::ptr::NonNull<u8> {
    // SAFETY: the address of a `NonNull` is not zero.
    unsafe {
        core::ptr::NonNull::new_unchecked(core::ptr::with_exposed_provenance_mut(
            ptr.as_ptr().addr(),
        ))
    }
}

/// Marks the path that calls it as unlikely (`core::hint::cold_path`, which needs a newer
/// Rust than the crate's `rust-version`): a call to an empty `#[cold]` function, the idiom
/// hashbrown uses, which LLVM turns into a branch weight.
#[cold]
#[inline]
pub(crate) fn cold_path() {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn padding_and_rounding() {
        assert_eq!(pad_up(0, 8), 0);
        assert_eq!(pad_up(1, 8), 7);
        assert_eq!(pad_up(8, 8), 0);
        assert_eq!(pad_up(4097, 4096), 4095);
        assert_eq!(round_up(1, 4096), Some(4096));
        assert_eq!(round_up(4096, 4096), Some(4096));
        assert_eq!(round_up(usize::MAX, 2), None);
    }
}
