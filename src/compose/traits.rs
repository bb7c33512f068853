//! The traits composites build on: [`Owns`], [`Reset`] and [`Inspect`].
//!
//! [`Owns`] is what lets [`Fallback`](crate::Fallback) send a block back to the part it
//! came from; its documentation says where it is implemented and why not elsewhere.
//!
//! [`Reset`] and [`Inspect`] let a composite forward `reset` and `stats` to its parts
//! when both have them.

use crate::api::{Allocator, Layout};
use core::ptr::NonNull;

/// An allocator that can tell, exactly and cheaply, whether a block is one of its own.
///
/// Implemented where the answer is a range test or a binary search over a strategy's own
/// table, and only on types that own their memory exclusively, because an answer by
/// address is exact only when no other allocator can hand out memory inside that range:
/// [`FixedBuffer`](crate::FixedBuffer) (one range), [`Slab`](crate::Slab) (the current
/// slab, else a binary search of its slabs, O(log slabs)),
/// `Compartment` (its reserved range), [`Counting`](crate::Counting)
/// of any of them, and the composites whose parts implement it. Not implemented for:
///
/// - references (`&FixedBuffer`, `&Slab`): a second allocator could be built on the same
///   reference (`Arena::new_in(&buf)`), and its blocks would lie inside `buf`;
/// - `ThreadCache`: every value is a handle to one process-wide
///   heap, so an `Arena<ThreadCache>` has its chunks, and blocks, in the same segments;
/// - `Pages`: each block is its own mapping, recorded nowhere; telling
///   them apart would need a table that every allocation pays for;
/// - [`Arena`](crate::Arena): the answer would walk its chunk list, O(chunks), and a
///   scope's blocks lie in the same chunks as the arena's.
///
/// ```
/// use allockit::{Allocator, FixedBuffer, Layout, Owns};
/// use core::mem::MaybeUninit;
///
/// let mut space = [MaybeUninit::uninit(); 256];
/// let buf = FixedBuffer::new(&mut space);
/// let layout = Layout::new::<u64>();
/// let mine = buf.allocate(layout).unwrap().cast::<u8>();
/// let theirs = allocator_api2::alloc::Global.allocate(layout).unwrap().cast::<u8>();
/// assert!(buf.owns(mine, layout));
/// assert!(!buf.owns(theirs, layout));
/// # unsafe { allocator_api2::alloc::Global.deallocate(theirs, layout) };
/// ```
///
/// # Safety
///
/// [`Fallback`](crate::Fallback) frees a block into whichever part says it owns it, so a
/// wrong answer is a free into the wrong allocator. For every `ptr` and `layout` that
/// fit a block currently allocated by some allocator, with `layout.size() > 0`, `owns`
/// must return `true` if `self` allocated that block and `false` if another allocator
/// did. (Zero-size blocks are dangling and belong to no one; composites never ask about
/// them.) `owns` must not panic, and must not call back into a composite that holds
/// `self`.
pub unsafe trait Owns: Allocator {
    /// Whether the block at `ptr`, which fits `layout`, was allocated by `self`.
    fn owns(&self, ptr: NonNull<u8>, layout: Layout) -> bool;
}

/// An allocator that can release every block at once, given exclusive access.
///
/// `&mut self` proves that no collection still borrows the allocator, so no block is in
/// use. Composites reset both parts.
///
/// ```
/// use allockit::{Arena, Reset};
///
/// fn clear_all<A: Reset>(allocators: &mut [A]) {
///     allocators.iter_mut().for_each(Reset::reset);
/// }
/// let mut arenas = [Arena::new(), Arena::new()];
/// arenas[0].alloc_str("hello");
/// clear_all(&mut arenas);
/// assert_eq!(arenas[0].used_bytes(), 0);
/// ```
///
/// A composite cannot be reset while a collection still holds its blocks:
///
/// ```compile_fail,E0502
/// use allockit::{Arena, Fallback, FixedBuffer, Reset};
/// let mut space = [core::mem::MaybeUninit::uninit(); 64];
/// let mut heap = Fallback::new(FixedBuffer::new(&mut space), Arena::new());
/// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(8, &heap);
/// heap.reset();
/// drop(v);
/// ```
pub trait Reset {
    /// Releases every block; the allocator stays usable.
    fn reset(&mut self);
}

/// An allocator that reports statistics of its own.
///
/// Composites report a pair, one per part.
///
/// ```
/// use allockit::{Counting, Inspect};
/// use allocator_api2::{alloc::Global, boxed::Box};
///
/// let c = Counting::new(Global);
/// let b = Box::new_in(1u64, &c);
/// let stats: allockit::Stats = Inspect::stats(&c);
/// assert_eq!(stats.live_bytes, 8);
/// # drop(b);
/// ```
pub trait Inspect {
    /// What [`stats`](Inspect::stats) returns.
    type Stats: core::fmt::Debug + Clone;

    /// A snapshot of the allocator's statistics.
    fn stats(&self) -> Self::Stats;
}

/// `impl Reset` (or `impl Inspect`) for a strategy by calling its inherent method of the
/// same name, so generic code reaches what users call directly.
macro_rules! forward_inherent {
    ($(#[$m:meta])* Reset for $ty:ty $(where [$($gen:tt)*])?) => {
        $(#[$m])*
        impl<$($($gen)*)?> Reset for $ty {
            #[inline]
            fn reset(&mut self) {
                <$ty>::reset(self)
            }
        }
    };
    ($(#[$m:meta])* Inspect for $ty:ty => $stats:ty $(where [$($gen:tt)*])?) => {
        $(#[$m])*
        impl<$($($gen)*)?> Inspect for $ty {
            type Stats = $stats;
            #[inline]
            fn stats(&self) -> $stats {
                <$ty>::stats(self)
            }
        }
    };
}

forward_inherent!(Reset for crate::FixedBuffer<'_>);
forward_inherent!(Reset for crate::Arena<A, M> where [A: Allocator, const M: usize]);
forward_inherent!(Inspect for crate::Arena<A, M> => crate::ArenaStats
    where [A: Allocator, const M: usize]);
forward_inherent!(Inspect for crate::Counting<A> => crate::Stats where [A]);
forward_inherent!(Inspect for crate::Slab<A> => crate::SlabStats where [A: Allocator]);
forward_inherent!(Inspect for crate::FreeList<A> => crate::FreeListStats
    where [A: Allocator]);
forward_inherent!(#[cfg(feature = "std")]
    Inspect for crate::ThreadCache => crate::ThreadCacheStats);
forward_inherent!(#[cfg(feature = "std")]
    Inspect for crate::Hardened<A> => crate::HardenedStats where [A: Allocator]);

// SAFETY: `Counting` hands out its inner allocator's blocks unchanged, so they are its
// blocks exactly when they are the inner allocator's (whose answer is exact), and it
// holds its inner allocator by value, so no other allocator shares its memory.
unsafe impl<A: Owns> Owns for crate::Counting<A> {
    #[inline(always)]
    fn owns(&self, ptr: NonNull<u8>, layout: Layout) -> bool {
        self.inner().owns(ptr, layout)
    }
}
