//! What [`Arena`](crate::Arena) and [`Scope`](crate::Scope) share: the typed allocation
//! methods (`alloc`, `alloc_with`, `alloc_slice_copy`, …) and the `Allocator` impl.
//!
//! One macro writes them for both, so the two cannot drift apart. The only difference is
//! the lifetime of what they return: an `Arena` hands out references tied to the borrow
//! of the arena, a `Scope<'s>` hands out references that live for the whole scope `'s`,
//! which is what lets values from an outer scope stay usable inside an inner one.
//!
//! Every method comes in a `try_` form that returns `AllocError` and a panicking form that
//! calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error), as in bumpalo.

use crate::api::Layout;

/// The panicking methods' failure: `handle_alloc_error` for a real layout, a panic for a
/// size that overflows `isize` (the same split `Vec` makes).
#[cold]
#[inline(never)]
#[track_caller]
pub(crate) fn fail(layout: Option<Layout>) -> ! {
    match layout {
        Some(layout) => alloc::alloc::handle_alloc_error(layout),
        None => panic!("allocation size overflows isize::MAX"),
    }
}

/// Writes the typed methods into an `impl` block whose type has a
/// `fn core(&self) -> &Arena<A>` method. `$lt` is the lifetime of returned references
/// (omitted: the borrow of `self`); the `example_*` strings frame each doc example.
macro_rules! typed_alloc_methods {
    ($($lt:lifetime)?; example_open = $open:literal, recv = $recv:literal, example_close = $close:literal) => {
        #[doc = concat!(
            "Moves `val` into the arena and returns a mutable reference to it, or `AllocError`.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let x = ", $recv, ".try_alloc(5u32).unwrap();\n*x += 1;\nassert_eq!(*x, 6);\n", $close, "\n```"
        )]
        #[inline(always)]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn try_alloc<T>(&self, val: T) -> Result<&$($lt)? mut T, AllocError> {
            self.try_alloc_with(|| val)
        }

        #[doc = concat!(
            "Moves `val` into the arena and returns a mutable reference to it.\n\n",
            "# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let point = ", $recv, ".alloc((1.0f64, 2.0f64));\npoint.0 += 1.0;\nassert_eq!(*point, (2.0, 2.0));\n",
            $close, "\n```"
        )]
        #[inline(always)]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn alloc<T>(&self, val: T) -> &$($lt)? mut T {
            self.alloc_with(|| val)
        }

        #[doc = concat!(
            "Allocates room for a `T` and writes `f()` straight into it, so a large value ",
            "is built in place rather than on the stack and then copied; or `AllocError` ",
            "(then `f` is not called).\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let big = ", $recv, ".try_alloc_with(|| [7u8; 1 << 16]).unwrap();\nassert_eq!(big[1234], 7);\n",
            $close, "\n```"
        )]
        #[inline(always)]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn try_alloc_with<T, F: FnOnce() -> T>(&self, f: F) -> Result<&$($lt)? mut T, AllocError> {
            let p = self.core().alloc_block(Layout::new::<T>())?.cast::<T>();
            // SAFETY: `p` is a fresh, aligned block for one `T` that nothing else refers
            // to and that stays allocated for the returned lifetime (the arena, or the
            // scope, outlives it).
            unsafe {
                p.as_ptr().write(f());
                Ok(&mut *p.as_ptr())
            }
        }

        #[doc = concat!(
            "Allocates room for a `T` and writes `f()` straight into it.\n\n",
            "# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let v = ", $recv, ".alloc_with(|| [0u64; 512]);\nassert_eq!(v.len(), 512);\n",
            $close, "\n```"
        )]
        #[inline(always)]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn alloc_with<T, F: FnOnce() -> T>(&self, f: F) -> &$($lt)? mut T {
            match self.try_alloc_with(f) {
                Ok(r) => r,
                Err(_) => $crate::typed::fail(Some(Layout::new::<T>())),
            }
        }

        #[doc = concat!(
            "Copies `src` into the arena, or `AllocError`.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let s = ", $recv, ".try_alloc_slice_copy(&[1, 2, 3]).unwrap();\ns[0] = 9;\nassert_eq!(s, &[9, 2, 3]);\n",
            $close, "\n```"
        )]
        #[inline]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn try_alloc_slice_copy<T: Copy>(&self, src: &[T]) -> Result<&$($lt)? mut [T], AllocError> {
            let layout = Layout::for_value(src);
            let p = self.core().alloc_block(layout)?.cast::<T>();
            // SAFETY: `p` is a fresh block for `src.len()` values of `T`, disjoint from
            // `src`, valid for the returned lifetime; `T: Copy` makes a bitwise copy a
            // valid value.
            unsafe {
                core::ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), src.len());
                Ok(core::slice::from_raw_parts_mut(p.as_ptr(), src.len()))
            }
        }

        #[doc = concat!(
            "Copies `src` into the arena.\n\n",
            "# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let s = ", $recv, ".alloc_slice_copy(b\"bytes\");\nassert_eq!(s, b\"bytes\");\n",
            $close, "\n```"
        )]
        #[inline]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn alloc_slice_copy<T: Copy>(&self, src: &[T]) -> &$($lt)? mut [T] {
            match self.try_alloc_slice_copy(src) {
                Ok(r) => r,
                Err(_) => $crate::typed::fail(Some(Layout::for_value(src))),
            }
        }

        #[doc = concat!(
            "Allocates a slice of `len` values, the `i`-th being `f(i)`, or `AllocError` ",
            "(for a `len` whose size overflows too). If `f` panics, the values already ",
            "made are leaked, never dropped twice.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let squares = ", $recv, ".try_alloc_slice_fill_with(4, |i| i * i).unwrap();\nassert_eq!(squares, &[0, 1, 4, 9]);\n",
            "assert!(", $recv, ".try_alloc_slice_fill_with(usize::MAX, |_| 0u64).is_err());\n",
            $close, "\n```"
        )]
        #[inline]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn try_alloc_slice_fill_with<T, F: FnMut(usize) -> T>(
            &self,
            len: usize,
            mut f: F,
        ) -> Result<&$($lt)? mut [T], AllocError> {
            let layout = Layout::array::<T>(len).map_err(|_| AllocError)?;
            let p = self.core().alloc_block(layout)?.cast::<T>();
            for i in 0..len {
                // SAFETY: `i < len`, inside the fresh block for `len` values of `T`.
                unsafe { p.as_ptr().add(i).write(f(i)) };
            }
            // SAFETY: all `len` values were written; the block is valid for the returned
            // lifetime and referenced by nothing else.
            Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
        }

        #[doc = concat!(
            "Allocates a slice of `len` values, the `i`-th being `f(i)`.\n\n",
            "# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow, and panics ",
            "when `len` values of `T` overflow `isize::MAX` bytes.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let names = ", $recv, ".alloc_slice_fill_with(3, |i| format!(\"n{i}\"));\nassert_eq!(names[2], \"n2\");\n",
            $close, "\n```"
        )]
        #[inline]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn alloc_slice_fill_with<T, F: FnMut(usize) -> T>(&self, len: usize, f: F) -> &$($lt)? mut [T] {
            match self.try_alloc_slice_fill_with(len, f) {
                Ok(r) => r,
                Err(_) => $crate::typed::fail(Layout::array::<T>(len).ok()),
            }
        }

        #[doc = concat!(
            "Copies `s` into the arena, or `AllocError`.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let s = ", $recv, ".try_alloc_str(\"hello\").unwrap();\ns.make_ascii_uppercase();\nassert_eq!(s, \"HELLO\");\n",
            $close, "\n```"
        )]
        #[inline]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn try_alloc_str(&self, s: &str) -> Result<&$($lt)? mut str, AllocError> {
            let bytes = self.try_alloc_slice_copy(s.as_bytes())?;
            // SAFETY: the bytes are a copy of a `str`, so they are valid UTF-8.
            Ok(unsafe { core::str::from_utf8_unchecked_mut(bytes) })
        }

        #[doc = concat!(
            "Copies `s` into the arena.\n\n",
            "# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let s = ", $recv, ".alloc_str(\"interned\");\nassert_eq!(s, \"interned\");\n",
            $close, "\n```"
        )]
        #[inline]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn alloc_str(&self, s: &str) -> &$($lt)? mut str {
            match self.try_alloc_str(s) {
                Ok(r) => r,
                Err(_) => $crate::typed::fail(Some(Layout::for_value(s))),
            }
        }

        #[doc = concat!(
            "Allocates an uninitialised block for `layout`, or `AllocError`.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let layout = core::alloc::Layout::from_size_align(100, 64).unwrap();\n",
            "let p = ", $recv, ".try_alloc_layout(layout).unwrap();\nassert_eq!(p.as_ptr() as usize % 64, 0);\n",
            $close, "\n```"
        )]
        #[inline(always)]
        pub fn try_alloc_layout(&self, layout: Layout) -> Result<core::ptr::NonNull<u8>, AllocError> {
            self.core().alloc_block(layout)
        }

        #[doc = concat!(
            "Allocates an uninitialised block for `layout`.\n\n",
            "# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.\n\n",
            "```\nlet mut arena = allockit::Arena::new();\n", $open,
            "let p = ", $recv, ".alloc_layout(core::alloc::Layout::new::<u128>());\nassert_eq!(p.as_ptr() as usize % align_of::<u128>(), 0);\n",
            $close, "\n```"
        )]
        #[inline(always)]
        pub fn alloc_layout(&self, layout: Layout) -> core::ptr::NonNull<u8> {
            match self.core().alloc_block(layout) {
                Ok(p) => p,
                Err(_) => $crate::typed::fail(Some(layout)),
            }
        }
    };
}

/// Implements `core::alloc::Allocator` (and its allocator-api2 mirror) for a type whose
/// `core()` method returns the `Arena` to allocate from.
macro_rules! arena_allocator {
    (impl[$($gen:tt)*] for $ty:ty) => {
        // SAFETY: blocks are disjoint ranges of chunks the arena owns; they stay valid
        // until the arena is reset or dropped, or the scope that allocated them ends,
        // and each of those needs the allocator to be no longer borrowed. Chunks are out
        // of line, so moving the allocator moves no block.
        unsafe impl<$($gen)*> $crate::Allocator for $ty {
            #[inline(always)]
            fn allocate(&self, layout: $crate::Layout) -> Result<core::ptr::NonNull<[u8]>, $crate::AllocError> {
                let p = self.core().alloc_block(layout)?;
                Ok(core::ptr::NonNull::slice_from_raw_parts(p, layout.size()))
            }

            #[inline(always)]
            unsafe fn deallocate(&self, ptr: core::ptr::NonNull<u8>, layout: $crate::Layout) {
                self.core().bump.free(ptr, layout.size());
            }

            #[inline]
            unsafe fn grow(
                &self,
                ptr: core::ptr::NonNull<u8>,
                old: $crate::Layout,
                new: $crate::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, $crate::AllocError> {
                // SAFETY: forwarded from the caller.
                unsafe { self.core().grow_block(ptr, old, new) }
            }

            grow_zeroed_via_grow!();

            #[inline]
            unsafe fn shrink(
                &self,
                ptr: core::ptr::NonNull<u8>,
                old: $crate::Layout,
                new: $crate::Layout,
            ) -> Result<core::ptr::NonNull<[u8]>, $crate::AllocError> {
                // SAFETY: forwarded from the caller.
                unsafe { self.core().shrink_block(ptr, old, new) }
            }
        }

        mirror_core_allocator!(impl[$($gen)*] for $ty);

    };
}
