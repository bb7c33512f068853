//! `Arena::stats`: what an arena holds, chunk by chunk, for tuning and inspection (what
//! bumpalo users reach for with `allocated_bytes` and `chunk_capacity`).

use core::cell::Cell;
use core::ptr::NonNull;

use super::{Arena, Chunk};
use crate::api::Allocator;

/// What an [`Arena`] holds, from [`Arena::stats`].
///
/// ```
/// let arena = allockit::Arena::with_capacity(4096);
/// arena.alloc([0u8; 100]);
/// let s = arena.stats();
/// assert_eq!((s.used_bytes, s.chunks, s.dedicated_chunks), (104, 1, 0));
/// assert!(s.current_chunk_free >= 4096 - 104);
/// assert!(s.reserved_bytes >= s.used_bytes + s.current_chunk_free);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ArenaStats {
    /// Bytes handed out since creation or the last reset (as [`Arena::used_bytes`]).
    pub used_bytes: usize,
    /// Bytes held from the backing allocator, headers and free room included (as
    /// [`Arena::reserved_bytes`]).
    pub reserved_bytes: usize,
    /// Bytes the current chunk can still hand out before the arena takes another one
    /// (bumpalo's `chunk_capacity`); lowered by a limit.
    pub current_chunk_free: usize,
    /// Chunks the cursor has bumped through since the last reset, the current one
    /// included.
    pub chunks: usize,
    /// Chunks that each hold one block too large for the geometric chunks.
    pub dedicated_chunks: usize,
    /// Free chunks kept for reuse (released by scopes that ended).
    pub spare_chunks: usize,
}

impl<A: Allocator, const MIN_ALIGN: usize> Arena<A, MIN_ALIGN> {
    /// Counts of the arena's chunks and bytes. It walks the chunk lists: O(chunks).
    ///
    /// ```
    /// let mut arena = allockit::Arena::new();
    /// arena.alloc_slice_fill_copy(1000, 0u8); // in the first chunk
    /// arena.alloc_layout(core::alloc::Layout::from_size_align(1 << 20, 8).unwrap()); // its own
    /// let s = arena.stats();
    /// assert_eq!((s.chunks, s.dedicated_chunks, s.spare_chunks), (1, 1, 0));
    /// assert!(s.reserved_bytes > s.used_bytes && s.used_bytes >= 1000 + (1 << 20));
    /// arena.scope(|s| s.alloc_slice_fill_copy(1 << 16, 1u8).len());
    /// assert_eq!(arena.stats().spare_chunks, 1, "the scope's chunk is kept for reuse");
    /// ```
    pub fn stats(&self) -> ArenaStats {
        ArenaStats {
            used_bytes: self.used_bytes(),
            reserved_bytes: self.reserved_bytes(),
            current_chunk_free: self.bump.remaining(),
            chunks: count(&self.current),
            dedicated_chunks: count(&self.dedicated),
            spare_chunks: count(&self.spare),
        }
    }
}

/// The length of a chunk list.
fn count(head: &Cell<Option<NonNull<Chunk>>>) -> usize {
    let (mut n, mut next) = (0, head.get());
    while let Some(chunk) = next {
        n += 1;
        // SAFETY: listed chunks are live headers owned by the arena.
        next = unsafe { (*chunk.as_ptr()).prev };
    }
    n
}
