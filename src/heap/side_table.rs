//! `SideVec`: a growable array of metadata kept in a strategy's backing allocator.
//!
//! Strategies with out-of-line metadata (the slab descriptors, the size-class run list,
//! the hardened heap's tables) need a vector that allocates from the *same* allocator the
//! strategy owns, without owning a second copy of it. `alloc::vec::Vec<T, A>` would need
//! its own `A` value (or a reference into the strategy, which is self-referential), so
//! this is the one small vector written by hand: the allocator is passed to each call
//! that may allocate, and the owner frees the buffer in its `Drop`.

use core::marker::PhantomData;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout};

/// A vector of `T: Copy` whose buffer comes from an allocator passed per call.
pub(crate) struct SideVec<T: Copy> {
    /// The buffer: `cap` slots, the first `len` initialised. Dangling when `cap == 0`.
    ptr: NonNull<T>,
    /// Initialised elements.
    len: usize,
    /// Allocated slots; `len <= cap`.
    cap: usize,
    _owns: PhantomData<T>,
}

impl<T: Copy> SideVec<T> {
    /// An empty vector; allocates nothing.
    pub(crate) const fn new() -> Self {
        SideVec {
            ptr: NonNull::dangling(),
            len: 0,
            cap: 0,
            _owns: PhantomData,
        }
    }

    /// The elements.
    #[inline]
    pub(crate) fn as_slice(&self) -> &[T] {
        // SAFETY: the first `len` slots are initialised; `ptr` is aligned and non-null
        // even when dangling.
        unsafe { core::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    /// The elements, mutably (only the tests need it since `Slab` stopped).
    #[cfg(test)]
    #[inline]
    pub(crate) fn as_mut_slice(&mut self) -> &mut [T] {
        // SAFETY: as in `as_slice`, and `&mut self` gives exclusive access.
        unsafe { core::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }

    /// Number of elements.
    #[inline]
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// Inserts `value` at `index` (shifting the rest up), growing the buffer from `alloc`
    /// (which must be the allocator of every earlier call).
    pub(crate) fn insert<A: Allocator>(
        &mut self,
        index: usize,
        value: T,
        alloc: &A,
    ) -> Result<(), AllocError> {
        assert!(index <= self.len);
        if self.len == self.cap {
            self.grow(alloc)?;
        }
        // SAFETY: `len < cap`, so slots `index..=len` are in the buffer; the shifted
        // range is initialised and `copy` handles the overlap.
        unsafe {
            let at = self.ptr.as_ptr().add(index);
            core::ptr::copy(at, at.add(1), self.len - index);
            at.write(value);
        }
        self.len += 1;
        Ok(())
    }

    /// Appends `value`, growing the buffer from `alloc`.
    pub(crate) fn push<A: Allocator>(&mut self, value: T, alloc: &A) -> Result<(), AllocError> {
        self.insert(self.len, value, alloc)
    }

    /// Removes the element at `index`, shifting the rest down.
    pub(crate) fn remove(&mut self, index: usize) -> T {
        assert!(index < self.len);
        // SAFETY: `index < len`; the shifted range is initialised.
        unsafe {
            let at = self.ptr.as_ptr().add(index);
            let value = at.read();
            core::ptr::copy(at.add(1), at, self.len - index - 1);
            self.len -= 1;
            value
        }
    }

    #[cold]
    fn grow<A: Allocator>(&mut self, alloc: &A) -> Result<(), AllocError> {
        let new_cap = (self.cap * 2).max(16);
        let new = Layout::array::<T>(new_cap).map_err(|_| AllocError)?;
        let block = if self.cap == 0 {
            alloc.allocate(new)?
        } else {
            let old = Layout::array::<T>(self.cap).map_err(|_| AllocError)?;
            // SAFETY: the buffer was allocated by `alloc` (caller) with layout `old`.
            unsafe { alloc.grow(self.ptr.cast(), old, new)? }
        };
        self.ptr = block.cast();
        self.cap = new_cap;
        Ok(())
    }

    /// Returns the buffer to `alloc` (the allocator of every earlier call).
    pub(crate) fn free<A: Allocator>(&mut self, alloc: &A) {
        if self.cap != 0 {
            // SAFETY: the buffer was allocated by `alloc` with this layout, which was
            // valid when it was made.
            unsafe {
                alloc.deallocate(
                    self.ptr.cast(),
                    Layout::array::<T>(self.cap).unwrap_unchecked(),
                )
            };
        }
        *self = Self::new();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use allocator_api2::alloc::Global;

    #[test]
    fn insert_remove_and_free() {
        let mut v = SideVec::new();
        for i in 0..100u32 {
            v.push(i, &Global).unwrap();
        }
        v.insert(0, 1000, &Global).unwrap();
        assert_eq!(
            (v.len(), v.as_slice()[0], v.as_slice()[100]),
            (101, 1000, 99)
        );
        assert_eq!(v.remove(0), 1000);
        v.as_mut_slice()[5] = 7;
        assert_eq!(&v.as_slice()[4..7], &[4, 7, 6]);
        v.free(&Global);
        assert_eq!(v.len(), 0);
    }
}
