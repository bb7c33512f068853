//! The one place that knows which `Allocator` trait is in use.
//!
//! Every strategy implements `allocator_api2::alloc::Allocator` (0.2, the version
//! `hashbrown` and `bumpalo` use), which builds on stable Rust. With the `nightly` feature,
//! the nightly [`core::alloc::Allocator`] is generated from that impl by
//! [`mirror_core_allocator!`], so the two can never disagree, and std's `Vec`, `Box` and
//! collections take the strategies too. The rest of the crate imports the trait from here
//! (hashbrown's `src/alloc.rs` pattern), together with the few contract helpers every
//! strategy shares.
//!
//! allocator-api2 has a `nightly` feature of its own that makes its trait a re-export of
//! the nightly one. This crate leaves it off: with it on, every crate using allocator-api2
//! (hashbrown among them) needs `#![feature(allocator_api)]`, and the two impls of each
//! strategy would be impls of one trait.

pub use allocator_api2::alloc::{AllocError, Allocator};
pub use core::alloc::Layout;
use core::ptr::{self, NonNull};

/// Implements the nightly `core::alloc::Allocator` for a type by forwarding every method
/// to its `allocator_api2::alloc::Allocator` impl; nothing without the `nightly` feature.
///
/// Usage: `mirror_core_allocator!(impl[A: Allocator] for Arena<A>);`
macro_rules! mirror_core_allocator {
    (impl[$($gen:tt)*] for $ty:ty) => {
        // SAFETY: every method forwards to the `allocator_api2::alloc::Allocator` impl of
        // the same type, which upholds the identical contract; only the error type is
        // translated.
        #[cfg(feature = "nightly")]
        unsafe impl<$($gen)*> core::alloc::Allocator for $ty {
            #[inline(always)]
            fn allocate(
                &self,
                layout: core::alloc::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, core::alloc::AllocError> {
                $crate::Allocator::allocate(self, layout).map_err(|_| core::alloc::AllocError)
            }

            #[inline(always)]
            fn allocate_zeroed(
                &self,
                layout: core::alloc::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, core::alloc::AllocError> {
                $crate::Allocator::allocate_zeroed(self, layout)
                    .map_err(|_| core::alloc::AllocError)
            }

            #[inline(always)]
            unsafe fn deallocate(&self, ptr: core::ptr::NonNull<u8>, layout: core::alloc::Layout) {
                // SAFETY: the caller upholds `deallocate`'s contract, which is the same
                // for both traits.
                unsafe { $crate::Allocator::deallocate(self, ptr, layout) }
            }

            #[inline(always)]
            unsafe fn grow(
                &self,
                ptr: core::ptr::NonNull<u8>,
                old: core::alloc::Layout,
                new: core::alloc::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, core::alloc::AllocError> {
                // SAFETY: the caller upholds `grow`'s contract, the same for both traits.
                unsafe { $crate::Allocator::grow(self, ptr, old, new) }
                    .map_err(|_| core::alloc::AllocError)
            }

            #[inline(always)]
            unsafe fn grow_zeroed(
                &self,
                ptr: core::ptr::NonNull<u8>,
                old: core::alloc::Layout,
                new: core::alloc::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, core::alloc::AllocError> {
                // SAFETY: the caller upholds `grow_zeroed`'s contract, the same for both.
                unsafe { $crate::Allocator::grow_zeroed(self, ptr, old, new) }
                    .map_err(|_| core::alloc::AllocError)
            }

            #[inline(always)]
            unsafe fn shrink(
                &self,
                ptr: core::ptr::NonNull<u8>,
                old: core::alloc::Layout,
                new: core::alloc::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, core::alloc::AllocError> {
                // SAFETY: the caller upholds `shrink`'s contract, the same for both traits.
                unsafe { $crate::Allocator::shrink(self, ptr, old, new) }
                    .map_err(|_| core::alloc::AllocError)
            }
        }
    };
}

/// Writes `grow`, `grow_zeroed` and `shrink` for an `Allocator` impl that hands each call,
/// unchanged, to another allocator: `forward_resizing!(self => self.lock())` (an
/// expression over the `self` the caller names), optionally after a guard that returns
/// early (`forward_resizing!(self => self.heap, unless !self.is_open() => Err(AllocError))`).
/// The wrappers that only forward (`Locked`, `Compartment`) share these three methods.
///
/// `forward_resizing!(self => via resize)` instead calls one method of the impl's own,
/// `self.resize(ptr, old, new, zeroed)`, with `zeroed` true only for `grow_zeroed`
/// (`Hardened`, which resizes every way by moving to a fresh block);
/// `forward_resizing!(self => grows via resize_up)` writes `grow` and `grow_zeroed` only
/// that way (the composites, whose `shrink` differs).
macro_rules! forward_resizing {
    ($this:ident => grows via $f:ident) => {
        forward_resizing!(@method grow, $this, (ptr, old, new) {
            // SAFETY: forwarded from the caller; the method upholds this one's contract.
            unsafe { $this.$f(ptr, old, new, false) }
        });
        forward_resizing!(@method grow_zeroed, $this, (ptr, old, new) {
            // SAFETY: as in `grow`.
            unsafe { $this.$f(ptr, old, new, true) }
        });
    };
    ($this:ident => via $f:ident) => {
        forward_resizing!($this => grows via $f);
        forward_resizing!(@method shrink, $this, (ptr, old, new) {
            // SAFETY: as in `grow`.
            unsafe { $this.$f(ptr, old, new, false) }
        });
    };
    ($this:ident => $inner:expr $(, unless $cond:expr => $early:expr)?) => {
        forward_resizing!(@one grow, $this, $inner $(, $cond, $early)?);
        forward_resizing!(@one grow_zeroed, $this, $inner $(, $cond, $early)?);
        forward_resizing!(@one shrink, $this, $inner $(, $cond, $early)?);
    };
    (@one $method:ident, $this:ident, $inner:expr $(, $cond:expr, $early:expr)?) => {
        forward_resizing!(@method $method, $this, (ptr, old, new) {
            $(if $cond {
                return $early;
            })?
            // SAFETY: forwarded unchanged from the caller, whose block belongs to the
            // allocator the call is forwarded to.
            unsafe { $inner.$method(ptr, old, new) }
        });
    };
    // The signature, once; the caller names the parameters so that its body can use them.
    (@method $method:ident, $this:ident, ($ptr:ident, $old:ident, $new:ident) $body:block) => {
        #[inline]
        unsafe fn $method(
            &$this,
            $ptr: core::ptr::NonNull<u8>,
            $old: $crate::Layout,
            $new: $crate::Layout,
        ) -> Result<core::ptr::NonNull<[u8]>, $crate::AllocError> $body
    };
}

/// Writes `Allocator::shrink` for a strategy whose shrink to zero bytes frees the block
/// and returns the dangling one ([`shrink_to_zero`]); the body handles `new.size() > 0`.
/// The caller names `self` and the parameters so that its body can use them:
/// `shrink_nonzero!(self, ptr, old, new => { ... })`.
macro_rules! shrink_nonzero {
    ($this:ident, $ptr:ident, $old:ident, $new:ident => $body:block) => {
        #[inline]
        unsafe fn shrink(
            &$this,
            $ptr: core::ptr::NonNull<u8>,
            $old: $crate::Layout,
            $new: $crate::Layout,
        ) -> Result<core::ptr::NonNull<[u8]>, $crate::AllocError> {
            // SAFETY: forwarded from the caller.
            if let Some(empty) = unsafe { $crate::api::shrink_to_zero($this, $ptr, $old, $new) } {
                return Ok(empty);
            }
            $body
        }
    };
}

/// Writes `Allocator::grow_zeroed` as [`grow_then_zero`]: for every strategy whose `grow`
/// keeps the old contents (in place or by copying), so the method is not spelled out in
/// each impl.
macro_rules! grow_zeroed_via_grow {
    () => {
        #[inline]
        unsafe fn grow_zeroed(
            &self,
            ptr: core::ptr::NonNull<u8>,
            old: $crate::Layout,
            new: $crate::Layout,
        ) -> Result<core::ptr::NonNull<[u8]>, $crate::AllocError> {
            // SAFETY: forwarded from the caller.
            unsafe { $crate::api::grow_then_zero(self, ptr, old, new) }
        }
    };
}

/// The block every strategy returns for a zero-size layout: dangling, non-null and aligned.
#[inline(always)]
pub(crate) fn dangling(layout: Layout) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(crate::align::dangling(layout), 0)
}

/// `shrink` to zero bytes, which every strategy answers alike: the block is freed and the
/// dangling zero-size block takes its place. `None` (nothing done) when `new.size() != 0`.
/// [`shrink_nonzero!`] puts it in front of a strategy's own `shrink`.
///
/// # Safety
///
/// - The contract of [`Allocator::shrink`] for `alloc`, `ptr`, `old` and `new`.
#[inline(always)]
pub(crate) unsafe fn shrink_to_zero<A: Allocator + ?Sized>(
    alloc: &A,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Option<NonNull<[u8]>> {
    if new.size() != 0 {
        return None;
    }
    // SAFETY: `ptr` is a live block of `alloc` with layout `old` (caller), given up by
    // the shrink.
    unsafe { alloc.deallocate(ptr, old) };
    Some(dangling(new))
}

/// Moves a block to a fresh allocation of `new` from `alloc`, copying the first
/// `min(old.size(), new.size())` bytes and freeing the old block.
///
/// This is the slow path of `grow` and `shrink` for every strategy that cannot resize in
/// place.
///
/// # Safety
///
/// - `ptr` must denote a block currently allocated by `alloc` that fits `old`.
#[cold]
#[inline(never)]
pub(crate) unsafe fn move_block<A: Allocator + ?Sized>(
    alloc: &A,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Result<NonNull<[u8]>, AllocError> {
    // SAFETY: forwarded from the caller.
    unsafe { move_between(alloc, alloc, ptr, old, new, false) }
}

/// Moves a block of `from` to a fresh block of `to` for `new` (zeroed first when
/// `zeroed`), copying the first `min(old.size(), new.size())` bytes and freeing the old
/// block. `from` and `to` may be the same allocator. On failure nothing changes.
///
/// The composites use it to move a block from one part to the other.
///
/// # Safety
///
/// - `ptr` must denote a block currently allocated by `from` that fits `old`.
#[cold]
#[inline(never)]
pub(crate) unsafe fn move_between<A: Allocator + ?Sized, B: Allocator + ?Sized>(
    from: &A,
    to: &B,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
    zeroed: bool,
) -> Result<NonNull<[u8]>, AllocError> {
    let fresh = if zeroed {
        to.allocate_zeroed(new)?
    } else {
        to.allocate(new)?
    };
    // SAFETY: `ptr` is valid for `old.size()` bytes (caller), `fresh` for `new.size()`
    // bytes; they are distinct live blocks, so they do not overlap.
    unsafe {
        ptr::copy_nonoverlapping(
            ptr.as_ptr(),
            fresh.as_ptr().cast::<u8>(),
            old.size().min(new.size()),
        );
        from.deallocate(ptr, old);
    }
    Ok(fresh)
}

/// `grow_zeroed` for every strategy whose `grow` keeps the old contents in place or
/// copies them: grow, then zero the bytes past the old size.
///
/// # Safety
///
/// The contract of [`Allocator::grow_zeroed`]: `ptr` is a live block of `alloc` fitting
/// `old`, and `new.size() >= old.size()`.
#[inline]
pub(crate) unsafe fn grow_then_zero<A: Allocator + ?Sized>(
    alloc: &A,
    ptr: NonNull<u8>,
    old: Layout,
    new: Layout,
) -> Result<NonNull<[u8]>, AllocError> {
    // SAFETY: forwarded from the caller; a grown block is writable over its length, which
    // is at least `new.size() >= old.size()`.
    unsafe {
        let block = alloc.grow(ptr, old, new)?;
        zero_tail(block, old.size());
        Ok(block)
    }
}

/// Zeroes `block[from..]`, the part of a grown block that `grow_zeroed` must clear.
///
/// # Safety
///
/// - `block` must be valid for writes over its whole length, and `from <= block.len()`.
#[inline]
pub(crate) unsafe fn zero_tail(block: NonNull<[u8]>, from: usize) {
    // SAFETY: `from <= len` and the block is writable over `len` bytes (caller).
    unsafe {
        block
            .as_ptr()
            .cast::<u8>()
            .add(from)
            .write_bytes(0, block.len() - from);
    }
}

/// Writes the pointer `link` into the first word of a block being freed.
///
/// The write goes through the caller's pointer `caller` for the first `size` bytes (the
/// block's live size) and through `block` for the rest: under Stacked Borrows a `Box`
/// being freed still protects the bytes it covers, so only its own tag may write them,
/// and it covers nothing past them. Free lists then keep `block`, a pointer with the
/// allocator's own (exposed) provenance, so later reads never depend on the caller's tag.
/// Blocks of a word or more (nearly all) take the first branch: one store.
///
/// # Safety
///
/// `block` and `caller` address the same freed block of at least a word, aligned to a
/// word; `caller` is valid for writes of `min(size, 8)` bytes and `block` of a word.
#[inline(always)]
pub(crate) unsafe fn write_link(block: *mut u8, caller: *mut u8, size: usize, link: *mut u8) {
    // SAFETY: forwarded from the caller.
    unsafe {
        if size >= size_of::<*mut u8>() {
            caller.cast::<*mut u8>().write(link);
        } else {
            let src = (&raw const link).cast::<u8>();
            core::ptr::copy_nonoverlapping(src, caller, size);
            let rest = size_of::<*mut u8>() - size;
            core::ptr::copy_nonoverlapping(src.add(size), block.add(size), rest);
        }
    }
}
