//! `Locked<A>`: any strategy, shared between threads behind one mutex.
//!
//! ## Design
//!
//! The single-threaded strategies ([`Arena`](crate::Arena), [`FreeList`](crate::FreeList),
//! [`SizeClasses`](crate::SizeClasses), [`Slab`](crate::Slab), …) are `Send` but not
//! `Sync`: they keep their state in cells and never synchronise. `Locked` puts one in a
//! `std::sync::Mutex` and forwards every `Allocator` call under the lock. That is the
//! whole design, and its cost: every call takes the lock (uncontended, an atomic
//! compare-and-swap and a release store), and threads that allocate at the same time wait
//! for each other. It is the slow, simple option — pick it when threads must share one
//! heap (a collection handed between threads, a global allocator for a small program) and
//! allocation is not the bottleneck. For throughput, give each thread its own allocator.
//!
//! ## Poisoning
//!
//! A mutex is poisoned when a thread panics while holding it. The allocator paths never
//! panic on a poisoned lock: they take the guard back with `PoisonError::into_inner`.
//! Poisoning signals that a panic may have left the protected data half-updated; here
//! that cannot matter:
//!
//! - under the lock, the allocator paths run only the inner allocator's methods, never
//!   user code (no callbacks, no `Drop` of user values);
//! - user code can hold the lock through [`Locked::lock`], which gives it `&A`, and
//!   an allocator's `&self` methods must leave it consistent at every point where they
//!   can unwind, since a shared reference to it can always outlive a caught panic;
//! - or through [`Locked::lock_mut`], which is `unsafe`: its caller promises not to
//!   leave the inner allocator unable to serve or free its live blocks, and that
//!   includes a panic part-way through a mutation.
//!
//! So the inner allocator is as consistent after a poisoning panic as it is after any
//! panic caught with `catch_unwind`. And a panic here would be worse than useless: a
//! `Drop` that frees memory while the thread unwinds would abort the process.
//!
//! ## Why the guard gives `&A` and not `&mut A`
//!
//! Blocks allocated through a `Locked` stay live while other code holds the lock: a
//! `Box<T, &Locked<A>>` only borrows the `Locked`, and a `Locked` that is the global
//! allocator serves every `String` in the process. Mutable access to the inner allocator
//! would let safe code `reset` an inner [`Arena`](crate::Arena) or
//! [`FixedBuffer`](crate::FixedBuffer), or `mem::replace` the whole allocator, and free
//! those blocks under their owners. So [`Locked::lock`] derefs to `&A` only, and mutable
//! access under the lock is [`Locked::lock_mut`], an `unsafe fn` with that contract.
//!
//! [`Locked::get_mut`] and [`Locked::into_inner`] stay safe. Every block allocated
//! through `&Locked<A>` carries that shared borrow (a `Box<T, &Locked<A>>`, a `Vec`, a
//! reference from `Box::leak`), so it cannot be live while `&mut Locked<A>` or the
//! `Locked<A>` itself is used. A block kept only as a raw pointer (`Box::into_raw`) is
//! the caller's to track, as with any allocator; and a `static` (a global allocator)
//! cannot be borrowed mutably in safe code.

use core::alloc::GlobalAlloc;
use core::ops::Deref;
use core::ptr::NonNull;
use std::sync::{Mutex, MutexGuard, TryLockError};

use crate::api::{AllocError, Allocator, Layout};

/// Makes any allocator `Sync` by putting it behind a [`Mutex`]: the slow, simple option.
///
/// Every `Allocator` call locks, forwards to the inner allocator, and unlocks. Threads
/// share one heap: a block allocated on one thread may be freed on another. Use
/// [`lock`](Locked::lock) to read the inner allocator's statistics.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::{Locked, SizeClasses};
///
/// let heap = Locked::new(SizeClasses::new());
/// std::thread::scope(|s| {
///     for t in 0..4u64 {
///         let heap = &heap;
///         s.spawn(move || {
///             let mut v = Vec::new_in(heap);
///             v.extend((0..1000).map(|i| i * t));
///             assert_eq!(v.iter().sum::<u64>(), t * 999 * 1000 / 2);
///         });
///     }
/// });
/// assert!(heap.lock().reserved_bytes() > 0);
/// ```
///
/// `Locked<A>` is `Sync` when `A` is `Send`: it needs to own its allocator, so a borrowed
/// single-threaded one cannot be shared this way.
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Locked<&'static allockit::Arena>>();
/// ```
///
/// With an allocator that gets its memory from the OS or libc, it can be the global
/// allocator (on targets where `std`'s mutex does not allocate: Linux, Android, the BSDs).
/// The inner allocator must not itself allocate from the global allocator (`Arena<Global>`
/// would wait for its own lock), and a panic inside it aborts the process.
///
/// ```
/// use allockit::{Locked, SizeClasses};
///
/// #[global_allocator]
/// static GLOBAL: Locked<SizeClasses> = Locked::new(SizeClasses::new());
///
/// fn main() {
///     let handles: Vec<_> = (0..4)
///         .map(|t| std::thread::spawn(move || format!("thread {t}")))
///         .collect();
///     for (t, h) in handles.into_iter().enumerate() {
///         assert_eq!(h.join().unwrap(), format!("thread {t}"));
///     }
///     assert!(GLOBAL.lock().reserved_bytes() > 0);
/// }
/// ```
pub struct Locked<A> {
    /// The allocator every call goes to, touched only with the lock held. Its blocks stay
    /// valid while the `Locked` lives, wherever it moves (the `Allocator` contract of `A`).
    inner: Mutex<A>,
}

impl<A> Locked<A> {
    /// Wraps `inner`. `const`, so a `Locked` can be a `static` (a global allocator).
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// use allockit::{Locked, SizeClasses};
    /// static HEAP: Locked<SizeClasses> = Locked::new(SizeClasses::new());
    /// let b = std::thread::spawn(|| Box::new_in(42u64, &HEAP)).join().unwrap();
    /// assert_eq!(*b, 42, "allocated on one thread, used and freed on another");
    /// ```
    #[inline]
    pub const fn new(inner: A) -> Self {
        Locked {
            inner: Mutex::new(inner),
        }
    }

    /// Locks and returns the inner allocator, to read its statistics or call its own
    /// `&self` methods. Never fails: a poisoned lock is recovered (see the module notes).
    ///
    /// Every allocation through this `Locked` waits while the guard lives, so do not
    /// allocate from it on the same thread while holding the guard: that deadlocks.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::Locked::new(allockit::FreeList::new());
    /// let b = Box::new_in([0u8; 100], &heap);
    /// let stats = heap.lock().stats(); // the guard is dropped at the end of the line
    /// assert!(stats.free_bytes < stats.reserved_bytes);
    /// # drop(b);
    /// ```
    ///
    /// The guard gives shared access only: blocks from this `Locked` may be live while it
    /// is held, and mutating the inner allocator could free them under their owners. So
    /// neither of these compiles:
    ///
    /// ```compile_fail,E0596
    /// let heap = allockit::Locked::new(allockit::Arena::new());
    /// heap.lock().reset();
    /// ```
    ///
    /// ```compile_fail,E0596
    /// let heap = allockit::Locked::new(allockit::Arena::new());
    /// let old = std::mem::replace(&mut *heap.lock(), allockit::Arena::new());
    /// ```
    ///
    /// while the same calls through `&mut Locked` do, because then no block can be live
    /// (see [`get_mut`](Self::get_mut)):
    ///
    /// ```
    /// let mut heap = allockit::Locked::new(allockit::Arena::new());
    /// heap.get_mut().reset();
    /// let old = std::mem::replace(heap.get_mut(), allockit::Arena::new());
    /// # drop(old);
    /// ```
    #[inline]
    pub fn lock(&self) -> LockedGuard<'_, A> {
        LockedGuard {
            guard: self.lock_inner(),
        }
    }

    /// Locks and returns the inner allocator mutably, e.g. to reset an inner arena once
    /// every block from it is known to be freed. Never fails: a poisoned lock is recovered.
    ///
    /// # Safety
    ///
    /// While the guard lives, the caller must not change the inner allocator in a way
    /// that invalidates a live block of this `Locked` (one allocated and not yet freed
    /// through it), nor leave it unable to free or resize such a block, even on a panic.
    /// Replacing the allocator or resetting a bump allocator is allowed only when no
    /// block from it is live; a mutation that leaves live blocks alone (a setting, a
    /// counter) always is.
    ///
    /// As with [`lock`](Self::lock), allocating through this `Locked` on the same thread
    /// while holding the guard deadlocks.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::Locked::new(allockit::Arena::new());
    /// drop(Box::new_in([1u8; 100], &heap));
    /// // SAFETY: the only block allocated from `heap` has been freed.
    /// unsafe { heap.lock_mut().reset() };
    /// assert_eq!(heap.lock().used_bytes(), 0);
    /// ```
    #[inline]
    pub unsafe fn lock_mut(&self) -> MutexGuard<'_, A> {
        self.lock_inner()
    }

    /// The mutex's guard, recovered if the lock is poisoned.
    #[inline]
    fn lock_inner(&self) -> MutexGuard<'_, A> {
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The inner allocator, without locking: `&mut self` proves no other thread holds it,
    /// and that no block allocated through this `Locked` is live (each such block borrows
    /// it; see the module notes). So the inner allocator may be reset or replaced.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let mut heap = allockit::Locked::new(allockit::Arena::new());
    /// let mut v = Vec::new_in(&heap);
    /// v.extend(0..100u32);
    /// drop(v);
    /// heap.get_mut().reset();
    /// assert_eq!(heap.get_mut().used_bytes(), 0);
    /// ```
    #[inline]
    pub fn get_mut(&mut self) -> &mut A {
        self.inner
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Unwraps the inner allocator. As with [`get_mut`](Self::get_mut), no block
    /// allocated through this `Locked` can be live.
    ///
    /// ```
    /// let arena = allockit::Locked::new(allockit::Arena::new()).into_inner();
    /// assert_eq!(arena.used_bytes(), 0);
    /// ```
    #[inline]
    pub fn into_inner(self) -> A {
        self.inner
            .into_inner()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// The lock on a [`Locked`] allocator, from [`Locked::lock`]: derefs to `&A`, and unlocks
/// when dropped.
///
/// ```
/// use allocator_api2::boxed::Box;
/// use allockit::{Counting, Locked, SizeClasses};
///
/// let heap = Locked::new(Counting::new(SizeClasses::new()));
/// let b = Box::new_in(7u32, &heap);
/// let guard = heap.lock();
/// assert_eq!(guard.stats().live_bytes, 4);
/// assert!(format!("{guard:?}").starts_with("LockedGuard(Counting"));
/// drop(guard); // before the `Box` frees through the lock
/// drop(b);
/// ```
#[must_use = "the lock is released as soon as the guard is dropped"]
pub struct LockedGuard<'a, A> {
    /// The mutex's guard, never handed out mutably.
    guard: MutexGuard<'a, A>,
}

impl<A> Deref for LockedGuard<'_, A> {
    type Target = A;

    #[inline]
    fn deref(&self) -> &A {
        &self.guard
    }
}

impl<A: core::fmt::Debug> core::fmt::Debug for LockedGuard<'_, A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_tuple("LockedGuard").field(&&*self.guard).finish()
    }
}

impl<A: Default> Default for Locked<A> {
    fn default() -> Self {
        Self::new(A::default())
    }
}

impl<A: core::fmt::Debug> core::fmt::Debug for Locked<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        // `try_lock`: formatting must not wait for (or deadlock with) a held lock.
        let mut d = f.debug_struct("Locked");
        match self.inner.try_lock() {
            Ok(inner) => d.field("inner", &&*inner),
            Err(TryLockError::Poisoned(p)) => d.field("inner", &&*p.into_inner()),
            Err(TryLockError::WouldBlock) => d.field("inner", &format_args!("<locked>")),
        };
        d.finish()
    }
}

// SAFETY: every call is forwarded unchanged to `inner` with the lock held, so the inner
// allocator sees its calls one at a time, exactly as if it had been moved to each calling
// thread in turn — which `A: Send` allows, and which is when `Locked<A>` is `Sync` (the
// `Mutex` impls). Its blocks stay valid as long as `inner` does, i.e. until the `Locked`
// is dropped; moving the `Locked` moves `inner`, which its own contract permits.
unsafe impl<A: Allocator> Allocator for Locked<A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.lock().allocate(layout)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.lock().allocate_zeroed(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller; the block is `inner`'s.
        unsafe { self.lock().deallocate(ptr, layout) }
    }

    forward_resizing!(self => self.lock());
}

mirror_core_allocator!(impl[A: Allocator] for Locked<A>);

/// Aborts the process if dropped: held across a call that must not unwind, and
/// forgotten when the call returns.
struct AbortOnUnwind;

impl Drop for AbortOnUnwind {
    #[cold]
    fn drop(&mut self) {
        std::process::abort();
    }
}

/// Runs `f`, aborting the process instead of unwinding out of a global allocator.
#[inline(always)]
fn no_unwind<R>(f: impl FnOnce() -> R) -> R {
    let guard = AbortOnUnwind;
    let r = f();
    core::mem::forget(guard);
    r
}

// Only where `std::sync::Mutex` is a futex and never allocates: elsewhere (macOS, other
// pthread targets) its first `lock` boxes a pthread mutex through the global allocator,
// which would call back into this very `lock` without end.
#[cfg(any(
    target_os = "linux",
    target_os = "android",
    target_os = "freebsd",
    target_os = "openbsd",
    target_os = "dragonfly"
))]
// SAFETY: each method forwards to the `Allocator` impl above, whose blocks fit their
// layouts and stay valid until freed (a global allocator is a `static`, never dropped).
// A panic inside the inner allocator aborts instead of unwinding (`no_unwind`), as
// `GlobalAlloc` requires. `GlobalAlloc` never passes size zero, so its pointers are never
// dangling ones, and `realloc`'s new layout is checked before use.
unsafe impl<A: Allocator> GlobalAlloc for Locked<A> {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| match self.allocate(layout) {
            Ok(block) => block.cast::<u8>().as_ptr(),
            Err(AllocError) => core::ptr::null_mut(),
        })
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        no_unwind(|| match self.allocate_zeroed(layout) {
            Ok(block) => block.cast::<u8>().as_ptr(),
            Err(AllocError) => core::ptr::null_mut(),
        })
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        if let Some(ptr) = NonNull::new(ptr) {
            // SAFETY: `ptr` is a live block of this allocator fitting `layout` (caller).
            no_unwind(|| unsafe { self.deallocate(ptr, layout) });
        }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let (Some(ptr), Ok(new)) = (
            NonNull::new(ptr),
            Layout::from_size_align(new_size, layout.align()),
        ) else {
            return core::ptr::null_mut();
        };
        // SAFETY: `ptr` is a live block fitting `layout` (caller); `new` has its alignment
        // and the size ordering each method requires.
        let result = no_unwind(|| unsafe {
            if new_size >= layout.size() {
                self.grow(ptr, layout, new)
            } else {
                self.shrink(ptr, layout, new)
            }
        });
        match result {
            Ok(block) => block.cast::<u8>().as_ptr(),
            Err(AllocError) => core::ptr::null_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Arena, Counting, FreeList, SizeClasses};
    use allocator_api2::boxed::Box;
    use allocator_api2::vec::Vec;
    use std::format;
    use std::sync::mpsc;

    #[test]
    fn is_sync_when_the_inner_allocator_is_send() {
        fn sync<T: Send + Sync>() {}
        sync::<Locked<SizeClasses>>();
        sync::<Locked<FreeList>>();
        sync::<Locked<Arena>>();
        sync::<Locked<Counting<SizeClasses>>>();
    }

    #[test]
    fn blocks_move_between_threads() {
        let heap = Locked::new(Counting::new(SizeClasses::new()));
        let (tx, rx) = mpsc::channel();
        std::thread::scope(|s| {
            let heap = &heap;
            s.spawn(move || {
                for i in 0..50u32 {
                    let mut v = Vec::with_capacity_in(1 + i as usize * 7, heap);
                    v.extend((0..=i).map(|k| k * i));
                    tx.send(v).unwrap();
                }
            });
            s.spawn(move || {
                for (i, v) in rx.iter().enumerate() {
                    let i = i as u32;
                    assert!(v.iter().copied().eq((0..=i).map(|k| k * i)));
                }
            });
        });
        let stats = heap.lock().stats();
        assert_eq!((stats.allocations, stats.deallocations), (50, 50));
        assert_eq!(stats.live_bytes, 0);
    }

    #[test]
    fn a_poisoned_lock_still_allocates() {
        let heap = Locked::new(Counting::new(FreeList::new()));
        let b = Box::new_in(7u64, &heap);
        std::thread::scope(|s| {
            let panicked = s
                .spawn(|| {
                    let _guard = heap.lock();
                    panic!("poisons the lock on purpose");
                })
                .join();
            assert!(panicked.is_err());
        });
        assert!(heap.inner.is_poisoned());
        let c = Box::new_in(8u64, &heap);
        assert_eq!(*b + *c, 15);
        drop((b, c));
        assert_eq!(heap.lock().stats().live_bytes, 0);
        assert!(format!("{heap:?}").starts_with("Locked { inner: Counting"));
        let mut heap = heap;
        assert_eq!(heap.get_mut().stats().allocations, 2);
        heap.into_inner().inner().check_invariants();
    }

    #[test]
    fn debug_does_not_wait_for_the_lock() {
        let heap = Locked::new(Arena::new());
        let guard = heap.lock();
        assert_eq!(format!("{heap:?}"), "Locked { inner: <locked> }");
        drop(guard);
        assert!(format!("{heap:?}").contains("Arena"));
    }

    #[cfg(any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "openbsd",
        target_os = "dragonfly"
    ))]
    #[test]
    fn as_global_alloc() {
        let heap = Locked::new(Counting::new(SizeClasses::new()));
        let layout = Layout::from_size_align(40, 8).unwrap();
        // SAFETY: non-zero sizes; each pointer is passed back with its current layout.
        unsafe {
            let p = GlobalAlloc::alloc_zeroed(&heap, layout);
            assert!((0..40).all(|i| p.add(i).read() == 0));
            p.write_bytes(5, 40);
            let q = GlobalAlloc::realloc(&heap, p, layout, 1000);
            assert!((0..40).all(|i| q.add(i).read() == 5));
            let mid = Layout::from_size_align(1000, 8).unwrap();
            let r = GlobalAlloc::realloc(&heap, q, mid, 10);
            assert!((0..10).all(|i| r.add(i).read() == 5));
            let small = Layout::from_size_align(10, 8).unwrap();
            // A new size no layout can hold: null, and the block is still live.
            assert!(GlobalAlloc::realloc(&heap, r, small, usize::MAX).is_null());
            GlobalAlloc::dealloc(&heap, r, small);
        }
        let stats = heap.lock().stats();
        assert_eq!((stats.grows, stats.shrinks, stats.live_bytes), (1, 1, 0));
    }
}
