//! The size-class table shared by [`SizeClasses`](crate::SizeClasses), [`Slab`](crate::Slab)
//! and the thread-caching allocator.
//!
//! Classes are 8, 16, 32, 48, 64 bytes, then four per doubling (80, 96, 112, 128, 160,
//! …, 16 KiB), as in jemalloc and hardened_malloc. Above 64 bytes a request wastes less
//! than a quarter of the class below it, so internal waste stays under 20% of the block
//! (e.g. 65 bytes in the 80-byte class wastes 15/80 = 18.75%); at or below 64 bytes the
//! waste is under 16 bytes. 8 is a class of its own because `Box<u64>`, `Rc` pointers and
//! other word-sized allocations are the most common Rust allocation.
//!
//! Rust's `deallocate` passes the `Layout`, so the class of a block is computed from its
//! size and alignment again: no per-object header. A block in class `c` is aligned to
//! the largest power of two dividing `size(c)` (capped at [`MAX_ALIGN`]), because classes
//! are carved from runs aligned to that: [`class_for`] picks the first class at least as
//! large as the request whose alignment suffices.

use core::alloc::Layout;

/// The largest size served from a class; larger requests go to the backing allocator.
pub(crate) const MAX_SMALL: usize = 16 << 10;
/// The largest alignment a class guarantees (runs are aligned to at most this).
pub(crate) const MAX_ALIGN: usize = 4096;
/// Number of classes.
pub(crate) const CLASSES: usize = 5 + 4 * 8;

/// Class sizes, ascending.
pub(crate) const SIZES: [usize; CLASSES] = {
    let mut sizes = [0; CLASSES];
    let (mut i, first) = (0, [8, 16, 32, 48, 64]);
    while i < 5 {
        sizes[i] = first[i];
        i += 1;
    }
    let mut base = 64;
    while i < CLASSES {
        let mut k = 1;
        while k <= 4 {
            sizes[i] = base + k * base / 4;
            i += 1;
            k += 1;
        }
        base *= 2;
    }
    sizes
};

/// The smallest class holding `size` bytes (`0 < size <= MAX_SMALL`), ignoring alignment.
#[inline(always)]
pub(crate) fn class_of(size: usize) -> usize {
    debug_assert!(size > 0 && size <= MAX_SMALL);
    if size <= 8 {
        0
    } else if size <= 64 {
        size.div_ceil(16)
    } else {
        let n = size - 1;
        let lg = (usize::BITS - 1 - n.leading_zeros()) as usize; // floor(log2(n)) >= 6
        5 + (lg - 6) * 4 + ((n >> (lg - 2)) & 3)
    }
}

/// The alignment every block of class `class` has.
#[inline(always)]
pub(crate) const fn align_of(class: usize) -> usize {
    let natural = 1 << SIZES[class].trailing_zeros();
    if natural < MAX_ALIGN {
        natural
    } else {
        MAX_ALIGN
    }
}

/// The class for `layout`, or `None` if it must go to the backing allocator (too large,
/// or aligned beyond what any class of its size guarantees). `layout.size()` must be
/// non-zero.
#[inline(always)]
pub(crate) fn class_for(layout: Layout) -> Option<usize> {
    if layout.size() > MAX_SMALL {
        return None;
    }
    let mut class = class_of(layout.size());
    // Every class is 8-aligned and all but the first 16-aligned, so the common cases skip
    // the search, and with a constant alignment of at most 16 (`Hardened` asks for 16)
    // the test folds to `class == 0`.
    if layout.align() > 8 && (layout.align() > 16 || class == 0) && align_of(class) < layout.align()
    {
        while align_of(class) < layout.align() {
            class += 1;
            if class == CLASSES {
                return None;
            }
        }
    }
    Some(class)
}

/// The size of class `class`.
#[inline(always)]
pub(crate) const fn size_of_class(class: usize) -> usize {
    SIZES[class]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_as_documented() {
        assert_eq!(&SIZES[..9], &[8, 16, 32, 48, 64, 80, 96, 112, 128]);
        assert_eq!(SIZES[CLASSES - 1], MAX_SMALL);
        assert!(SIZES.windows(2).all(|w| w[0] < w[1]));
    }

    #[test]
    fn every_size_maps_to_the_smallest_fitting_class_with_bounded_waste() {
        for size in 1..=MAX_SMALL {
            let c = class_of(size);
            assert!(SIZES[c] >= size, "{size} does not fit class {}", SIZES[c]);
            assert!(
                c == 0 || SIZES[c - 1] < size,
                "{size}: a smaller class fits"
            );
            let waste = SIZES[c] - size;
            if size > 64 {
                assert!(
                    waste * 5 <= SIZES[c],
                    "{size} wastes {waste} of {}",
                    SIZES[c]
                );
            } else {
                assert!(waste < 16);
            }
        }
    }

    #[test]
    fn alignment_moves_to_a_class_that_guarantees_it() {
        let l = |size, align| Layout::from_size_align(size, align).unwrap();
        assert_eq!(class_for(l(48, 16)).map(size_of_class), Some(48));
        assert_eq!(class_for(l(48, 32)).map(size_of_class), Some(64));
        assert_eq!(class_for(l(100, 64)).map(size_of_class), Some(128));
        assert_eq!(class_for(l(10, 4096)).map(size_of_class), Some(4096));
        assert_eq!(class_for(l(10, 8192)), None);
        assert_eq!(class_for(l(MAX_SMALL + 1, 8)), None);
        for (class, size) in SIZES.iter().enumerate() {
            assert_eq!(size % align_of(class), 0);
        }
    }
}
