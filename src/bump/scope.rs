//! `Scope`: a region of an [`Arena`] whose blocks are all released when it ends.
//!
//! A scope is a checkpoint of the arena (the cursor, the current chunk and the dedicated
//! chunk list). Ending it moves every chunk taken since then to the arena's spare list and
//! rewinds the cursor: O(chunks), never O(blocks), and the chunks serve the next
//! allocations. This is how a compiler frees a whole AST, or a server a whole request.
//!
//! The safety argument and the `compile_fail` demonstrations are on [`Scope`]'s page.

use core::marker::PhantomData;

use allocator_api2::alloc::Global;

use crate::api::{AllocError, Allocator, Layout};
use crate::arena::{Arena, Checkpoint};
use crate::bump::DEFAULT_MIN_ALIGN;

/// A scope of an [`Arena`], open for the lifetime `'s`; see [`Arena::scope`].
///
/// It offers the arena's typed methods (`alloc`, `alloc_with`, `alloc_str`, …), which
/// return references that live for the whole scope, and `&Scope` is an `Allocator`, so
/// collections can live in it: `Vec::new_in(&*s)`, `hashbrown::HashMap::new_in(&*s)`.
///
/// ```
/// let mut arena = allockit::Arena::new();
/// arena.scope(|outer| {
///     let config = outer.alloc_str("outer value");
///     for round in 0..3 {
///         outer.scope(|inner| {
///             let scratch = inner.alloc_slice_fill_with(1000, |i| i + round);
///             // values from the outer scope stay usable inside the inner one
///             assert_eq!(config, "outer value");
///             assert_eq!(scratch[10], 10 + round);
///         }); // `scratch` is released here, its chunk reused next round
///     }
/// });
/// ```
///
/// # Why it is safe
///
/// - The closure receives `&mut Scope<'s, A>` for a fresh lifetime `'s` it cannot name
///   outside, so nothing allocated in the scope (`&'s mut T`, a `Vec<T, &Scope>`) can be
///   returned from it (the `for<'s>` bound, as in `std::thread::scope`).
/// - `Scope` is invariant in `'s`, so a reference from an inner scope cannot be stored in
///   a place typed with an outer scope's lifetime.
/// - Opening an inner scope takes `&mut self`. References handed out by the typed methods
///   are tied to `'s`, not to a borrow of the scope, so they stay usable inside the inner
///   scope. A *collection* that allocates through `&Scope` does borrow it, so it cannot be
///   grown while an inner scope is open — the mistake behind the bump-scope advisory
///   GHSA-xhx6-q96x-pf9c (an outer vector grown in place past an inner scope's checkpoint,
///   then overwritten once that scope ended) cannot be written.
/// - The arena is restored by a drop guard, so a panic inside the scope still rewinds it.
///
/// ```compile_fail
/// // A value from a scope cannot outlive it.
/// let mut arena = allockit::Arena::new();
/// let escaped: &mut u32 = arena.scope(|s| s.alloc(1u32));
/// ```
///
/// ```compile_fail,E0502
/// use allocator_api2::vec::Vec;
/// // An outer collection cannot be grown from inside an inner scope.
/// let mut arena = allockit::Arena::new();
/// arena.scope(|outer| {
///     let mut v = Vec::new_in(&*outer);
///     v.push(1u8);
///     outer.scope(|_inner| v.push(2));
/// });
/// ```
///
/// ```compile_fail,E0521
/// // An inner reference cannot be smuggled into an outer place.
/// let mut arena = allockit::Arena::new();
/// arena.scope(|outer| {
///     let slot: &mut Option<&u32> = outer.alloc(None);
///     outer.scope(|inner| *slot = Some(inner.alloc(7u32)));
/// });
/// ```
pub struct Scope<'s, A: Allocator = Global, const MIN_ALIGN: usize = DEFAULT_MIN_ALIGN> {
    /// The arena this scope allocates from; it outlives the scope.
    arena: &'s Arena<A, MIN_ALIGN>,
    /// Invariance in `'s`: a reference from another scope never unifies with this one.
    _invariant: PhantomData<fn(&'s ()) -> &'s ()>,
}

/// Rewinds the arena to the scope's checkpoint when the scope ends, even by a panic.
struct Restore<'s, A: Allocator, const MIN_ALIGN: usize> {
    arena: &'s Arena<A, MIN_ALIGN>,
    checkpoint: Checkpoint,
}

impl<A: Allocator, const MIN_ALIGN: usize> Drop for Restore<'_, A, MIN_ALIGN> {
    fn drop(&mut self) {
        // SAFETY: the checkpoint was taken from this arena when the scope began; the
        // arena cannot be reset while it is borrowed by the scope, and every block
        // allocated since is tied to the scope's lifetime, which has ended.
        unsafe { self.arena.restore(self.checkpoint) }
    }
}

/// Opens a scope on `arena`, runs `f` in it and rewinds the arena afterwards.
#[inline]
pub(crate) fn enter<A: Allocator, R, const MIN_ALIGN: usize>(
    arena: &Arena<A, MIN_ALIGN>,
    f: impl for<'s> FnOnce(&mut Scope<'s, A, MIN_ALIGN>) -> R,
) -> R {
    let _restore = Restore {
        arena,
        checkpoint: arena.checkpoint(),
    };
    f(&mut Scope {
        arena,
        _invariant: PhantomData,
    })
}

impl<'s, A: Allocator, const MIN_ALIGN: usize> Scope<'s, A, MIN_ALIGN> {
    typed_alloc_methods!('s; example_open = "arena.scope(|s| {\n", recv = "&*s", example_close = "});");

    /// Opens a scope nested in this one. Values allocated in `self` stay usable inside;
    /// everything the inner scope allocates is released when `f` returns.
    ///
    /// ```
    /// let mut arena = allockit::Arena::new();
    /// arena.scope(|outer| {
    ///     let before = outer.used_bytes();
    ///     outer.scope(|inner| {
    ///         inner.alloc([0u8; 100]);
    ///     });
    ///     assert_eq!(outer.used_bytes(), before);
    /// });
    /// ```
    #[inline]
    pub fn scope<R>(&mut self, f: impl for<'i> FnOnce(&mut Scope<'i, A, MIN_ALIGN>) -> R) -> R {
        enter(self.arena, f)
    }

    /// Bytes the arena has handed out, counting this scope's and its parents' blocks.
    ///
    /// ```
    /// let mut arena = allockit::Arena::new();
    /// arena.alloc(1u64);
    /// arena.scope(|s| {
    ///     s.alloc(2u64);
    ///     assert_eq!(s.used_bytes(), 16, "the arena's 8 bytes and the scope's 8");
    /// });
    /// assert_eq!(arena.used_bytes(), 8);
    /// ```
    #[inline]
    pub fn used_bytes(&self) -> usize {
        self.arena.used_bytes()
    }

    /// Bytes the arena holds from its backing allocator.
    ///
    /// ```
    /// let mut arena = allockit::Arena::new();
    /// arena.scope(|s| {
    ///     s.alloc_slice_fill_copy(10_000, 0u8);
    ///     assert!(s.reserved_bytes() >= 10_000);
    /// });
    /// assert!(arena.reserved_bytes() >= 10_000, "the chunks are kept for reuse");
    /// ```
    #[inline]
    pub fn reserved_bytes(&self) -> usize {
        self.arena.reserved_bytes()
    }

    /// The arena the typed methods allocate from.
    #[inline(always)]
    fn core(&self) -> &Arena<A, MIN_ALIGN> {
        self.arena
    }
}

impl<A: Allocator, const MIN_ALIGN: usize> core::fmt::Debug for Scope<'_, A, MIN_ALIGN> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Scope").field("arena", self.arena).finish()
    }
}

arena_allocator!(impl['s, A: Allocator, const MIN_ALIGN: usize] for Scope<'s, A, MIN_ALIGN>);

// SAFETY: blocks stay valid until the scope ends, i.e. for the whole of `'s`: the arena
// cannot be reset while the scope borrows it, and the scope's checkpoint is restored only
// once `'s` is over (see the module docs). A block is reused only after being given back.
unsafe impl<'s, A: Allocator, const MIN_ALIGN: usize> crate::BumpAlloc<'s>
    for &Scope<'s, A, MIN_ALIGN>
{
    #[inline(always)]
    fn try_alloc_layout(self, layout: Layout) -> Result<core::ptr::NonNull<u8>, AllocError> {
        self.arena.alloc_block(layout)
    }
}
