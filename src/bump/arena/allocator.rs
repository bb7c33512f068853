//! The arena as an allocator: `grow` and `shrink` in place for the latest block (shared
//! with [`Scope`](crate::Scope)), the `Allocator` impl, and `BumpAlloc` for `&Arena`.

use core::ptr::NonNull;

use super::Arena;
use crate::api::{AllocError, Allocator, Layout};

/// The `Allocator` operations shared by [`Arena`] and [`Scope`](crate::Scope).
impl<A: Allocator, const MIN_ALIGN: usize> Arena<A, MIN_ALIGN> {
    /// # Safety
    ///
    /// The contract of `Allocator::grow` for this arena.
    #[inline]
    pub(crate) unsafe fn grow_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.bump.grow(self, ptr, old, new) }
    }

    /// # Safety
    ///
    /// The contract of `Allocator::shrink` for this arena.
    #[inline]
    pub(crate) unsafe fn shrink_block(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller.
        unsafe { self.bump.shrink(self, ptr, old, new) }
    }
}

arena_allocator!(impl[A: Allocator, const MIN_ALIGN: usize] for Arena<A, MIN_ALIGN>);

// SAFETY: blocks stay valid until the arena is reset or dropped, which needs `&mut`, so
// not before the shared borrow `'a` ends; a block is reused only after being given back
// through `deallocate`/`shrink`/`grow` (the cursor moves back over the latest block).
unsafe impl<'a, A: Allocator, const MIN_ALIGN: usize> crate::BumpAlloc<'a>
    for &'a Arena<A, MIN_ALIGN>
{
    #[inline(always)]
    fn try_alloc_layout(self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        self.alloc_block(layout)
    }
}
