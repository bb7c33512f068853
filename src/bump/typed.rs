//! What [`Arena`](crate::Arena) and [`Scope`](crate::Scope) share: the inherent typed
//! allocation methods (`alloc`, `alloc_with`, `alloc_slice_copy`, …) and the `Allocator`
//! impl.
//!
//! The methods are written once, in [`BumpAlloc`](crate::BumpAlloc); the macro here gives
//! `Arena` and `Scope` inherent forms that forward to it, so a bumpalo user calls
//! `arena.alloc(x)` without importing a trait, each with its own example. The only
//! difference is the lifetime of what they return: an `Arena` hands out references tied to
//! the borrow of the arena, a `Scope<'s>` hands out references that live for the whole
//! scope `'s`, which is what lets values from an outer scope stay usable inside an inner
//! one.

/// One inherent method forwarding to the `BumpAlloc` method of the same name. `$lt` is
/// the lifetime of returned references (omitted: the borrow of `self`).
macro_rules! forward_typed {
    (
        [$($lt:lifetime)?] $(#[$attr:meta])*
        fn $name:ident $(<$($g:ident $(: $b:path)?),*>)? ($($arg:ident: $ty:ty),*) -> $ret:ty
        $(where $($wt:ty: $wb:path),*)?
    ) => {
        $(#[$attr])*
        #[inline(always)]
        #[allow(clippy::mut_from_ref)] // memory comes from the arena, not from `self`
        pub fn $name $(<$($g $(: $b)?),*>)? (&self, $($arg: $ty),*) -> $ret
        $(where $($wt: $wb),*)?
        {
            $crate::BumpAlloc::$name(self, $($arg),*)
        }
    };
}

/// Writes the typed methods into an `impl` block of a type `T` for which `&T` implements
/// `BumpAlloc`. `$lt` is the lifetime of returned references (omitted: the borrow of
/// `self`); the `example_*` strings frame each doc example.
macro_rules! typed_alloc_methods {
    ($($lt:lifetime)?; example_open = $open:literal, recv = $recv:literal, example_close = $close:literal) => {
        typed_alloc_methods!(@each [$($lt)?] $open, $recv, $close;
            try_alloc<T>(val: T) -> Result<&$($lt)? mut T, AllocError>;
                "Moves `val` into the arena and returns a mutable reference to it, or `AllocError`. It is never dropped (see [`BumpAlloc`](crate::BumpAlloc)).",
                "let x = a.try_alloc(5u32).unwrap();\n*x += 1;\nassert_eq!(*x, 6);";
            alloc<T>(val: T) -> &$($lt)? mut T;
                "Moves `val` into the arena and returns a mutable reference to it. `val` is never dropped: for a value whose `Drop` must run, use `allocator_api2::boxed::Box::new_in(val, &arena)` (std's `Box` with the `nightly` feature).\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let point = a.alloc((1.0f64, 2.0f64));\npoint.0 += 1.0;\nassert_eq!(*point, (2.0, 2.0));";
            try_alloc_with<T, F: FnOnce() -> T>(f: F) -> Result<&$($lt)? mut T, AllocError>;
                "Allocates room for a `T` and writes `f()` straight into it, so a large value is built in place rather than on the stack and then copied; or `AllocError` (then `f` is not called).",
                "let big = a.try_alloc_with(|| [7u8; 1 << 16]).unwrap();\nassert_eq!(big[1234], 7);";
            alloc_with<T, F: FnOnce() -> T>(f: F) -> &$($lt)? mut T;
                "Allocates room for a `T` and writes `f()` straight into it.\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let v = a.alloc_with(|| [0u64; 512]);\nassert_eq!(v.len(), 512);";
            try_alloc_try_with<T, E, F: FnOnce() -> Result<T, E>>(f: F) -> Result<&$($lt)? mut T, crate::AllocOrInitError<E>>;
                "Allocates room for a `T` and runs `f`: its `Ok` value is moved in, its `Err` comes back as [`AllocOrInitError::Init`](crate::AllocOrInitError) and the room is given back; no room is `AllocOrInitError::Alloc`.",
                "let ok = a.try_alloc_try_with(|| \"42\".parse::<u32>()).unwrap();\nassert_eq!(*ok, 42);\nlet err = a.try_alloc_try_with(|| \"x\".parse::<u32>());\nassert!(matches!(err, Err(allockit::AllocOrInitError::Init(_))));";
            alloc_try_with<T, E, F: FnOnce() -> Result<T, E>>(f: F) -> Result<&$($lt)? mut T, E>;
                "Allocates room for a `T` and runs `f`, moving its `Ok` value in or returning its `Err` (bumpalo's `alloc_try_with`).\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let n = a.alloc_try_with(|| \"7\".parse::<i64>()).unwrap();\nassert_eq!(*n, 7);\nassert!(a.alloc_try_with(|| \"seven\".parse::<i64>()).is_err());";
            try_alloc_slice_copy<T: Copy>(src: &[T]) -> Result<&$($lt)? mut [T], AllocError>;
                "Copies `src` into the arena, or `AllocError`.",
                "let s = a.try_alloc_slice_copy(&[1, 2, 3]).unwrap();\ns[0] = 9;\nassert_eq!(s, &[9, 2, 3]);";
            alloc_slice_copy<T: Copy>(src: &[T]) -> &$($lt)? mut [T];
                "Copies `src` into the arena.\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let s = a.alloc_slice_copy(b\"bytes\");\nassert_eq!(s, b\"bytes\");";
            try_alloc_slice_clone<T: Clone>(src: &[T]) -> Result<&$($lt)? mut [T], AllocError>;
                "Clones every element of `src` into the arena, or `AllocError`. The clones are never dropped.",
                "let names = [String::from(\"a\"), String::from(\"b\")];\nlet s = a.try_alloc_slice_clone(&names).unwrap();\nassert_eq!(s[1], \"b\");";
            alloc_slice_clone<T: Clone>(src: &[T]) -> &$($lt)? mut [T];
                "Clones every element of `src` into the arena. The clones are never dropped.\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let s = a.alloc_slice_clone(&[vec![1u8], vec![2, 3]]);\nassert_eq!(s[1].len(), 2);";
            try_alloc_str(s: &str) -> Result<&$($lt)? mut str, AllocError>;
                "Copies `s` into the arena, or `AllocError`.",
                "let s = a.try_alloc_str(\"hello\").unwrap();\ns.make_ascii_uppercase();\nassert_eq!(s, \"HELLO\");";
            alloc_str(s: &str) -> &$($lt)? mut str;
                "Copies `s` into the arena.\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let s = a.alloc_str(\"interned\");\nassert_eq!(s, \"interned\");";
            try_alloc_slice_fill_with<T, F: FnMut(usize) -> T>(len: usize, f: F) -> Result<&$($lt)? mut [T], AllocError>;
                "Allocates a slice of `len` values, the `i`-th being `f(i)`, or `AllocError` (for a `len` whose size overflows too). If `f` panics, the values already made are leaked, never dropped twice.",
                "let squares = a.try_alloc_slice_fill_with(4, |i| i * i).unwrap();\nassert_eq!(squares, &[0, 1, 4, 9]);\nassert!(a.try_alloc_slice_fill_with(usize::MAX, |_| 0u64).is_err());";
            alloc_slice_fill_with<T, F: FnMut(usize) -> T>(len: usize, f: F) -> &$($lt)? mut [T];
                "Allocates a slice of `len` values, the `i`-th being `f(i)`.\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow, and panics when `len` values of `T` overflow `isize::MAX` bytes.",
                "let names = a.alloc_slice_fill_with(3, |i| format!(\"n{i}\"));\nassert_eq!(names[2], \"n2\");";
            try_alloc_slice_fill_copy<T: Copy>(len: usize, value: T) -> Result<&$($lt)? mut [T], AllocError>;
                "A slice of `len` copies of `value`, or `AllocError`.",
                "let zeros = a.try_alloc_slice_fill_copy(100, 0u32).unwrap();\nassert_eq!(zeros.iter().sum::<u32>(), 0);";
            alloc_slice_fill_copy<T: Copy>(len: usize, value: T) -> &$($lt)? mut [T];
                "A slice of `len` copies of `value`.\n\n# Panics\n\nAs [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).",
                "let row = a.alloc_slice_fill_copy(3, b'.');\nassert_eq!(row, b\"...\");";
            try_alloc_slice_fill_clone<T: Clone>(len: usize, value: &T) -> Result<&$($lt)? mut [T], AllocError>;
                "A slice of `len` clones of `value`, or `AllocError`.",
                "let v = a.try_alloc_slice_fill_clone(2, &String::from(\"x\")).unwrap();\nassert_eq!(v, [\"x\", \"x\"]);";
            alloc_slice_fill_clone<T: Clone>(len: usize, value: &T) -> &$($lt)? mut [T];
                "A slice of `len` clones of `value`.\n\n# Panics\n\nAs [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).",
                "let v = a.alloc_slice_fill_clone(3, &vec![1u8]);\nassert_eq!(v[2], [1]);";
            try_alloc_slice_fill_default<T: Default>(len: usize) -> Result<&$($lt)? mut [T], AllocError>;
                "A slice of `len` default values, or `AllocError`.",
                "let v: &mut [Option<u8>] = a.try_alloc_slice_fill_default(4).unwrap();\nassert!(v.iter().all(Option::is_none));";
            alloc_slice_fill_default<T: Default>(len: usize) -> &$($lt)? mut [T];
                "A slice of `len` default values.\n\n# Panics\n\nAs [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).",
                "let v: &mut [u64] = a.alloc_slice_fill_default(8);\nassert_eq!(v, [0; 8]);";
            try_alloc_slice_fill_iter<T, I: IntoIterator<Item = T>>(iter: I) -> Result<&$($lt)? mut [T], AllocError>
                where I::IntoIter: ExactSizeIterator;
                "The items of an iterator that knows its length, in one block, or `AllocError`. An iterator yielding fewer items than its `len()` gives a shorter slice.",
                "let v = a.try_alloc_slice_fill_iter([1, 2, 3].iter().map(|x| x * 10)).unwrap();\nassert_eq!(v, [10, 20, 30]);";
            alloc_slice_fill_iter<T, I: IntoIterator<Item = T>>(iter: I) -> &$($lt)? mut [T]
                where I::IntoIter: ExactSizeIterator;
                "The items of an iterator that knows its length, in one block.\n\n# Panics\n\nAs [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).",
                "let v = a.alloc_slice_fill_iter((0..4).map(|i| i as u8));\nassert_eq!(v, [0, 1, 2, 3]);";
            try_alloc_iter<T, I: IntoIterator<Item = T>>(iter: I) -> Result<&$($lt)? mut [T], AllocError>;
                "The items of any iterator, or `AllocError`. The block starts at the lower size hint and doubles in place (the latest block of an arena grows without moving), then shrinks to fit.",
                "let evens = a.try_alloc_iter((0..100).filter(|x| x % 2 == 0)).unwrap();\nassert_eq!((evens.len(), evens[49]), (50, 98));";
            alloc_iter<T, I: IntoIterator<Item = T>>(iter: I) -> &$($lt)? mut [T];
                "The items of any iterator, its block grown in place as they come (bumpalo needs an exact size).\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let words = a.alloc_iter(\"a bb ccc\".split(' ').map(str::len));\nassert_eq!(words, [1, 2, 3]);";
            try_alloc_fmt(args: core::fmt::Arguments<'_>) -> Result<&$($lt)? mut str, AllocError>;
                "Formats `args` straight into the arena, or `AllocError` when it cannot grow or a formatting trait returns an error.",
                "let s = a.try_alloc_fmt(format_args!(\"{}+{}\", 1, 2)).unwrap();\nassert_eq!(s, \"1+2\");";
            alloc_fmt(args: core::fmt::Arguments<'_>) -> &$($lt)? mut str;
                "Formats `args` straight into the arena: `format!` without a heap `String`.\n\n# Panics\n\nWhen the arena cannot grow or a formatting trait returns an error.",
                "let id = 7;\nlet s = a.alloc_fmt(format_args!(\"node-{id}\"));\nassert_eq!(s, \"node-7\");";
            try_alloc_layout(layout: Layout) -> Result<core::ptr::NonNull<u8>, AllocError>;
                "Allocates an uninitialised block for `layout`, or `AllocError`.",
                "let layout = core::alloc::Layout::from_size_align(100, 64).unwrap();\nlet p = a.try_alloc_layout(layout).unwrap();\nassert_eq!(p.as_ptr() as usize % 64, 0);";
            alloc_layout(layout: Layout) -> core::ptr::NonNull<u8>;
                "Allocates an uninitialised block for `layout`.\n\n# Panics\n\nCalls `handle_alloc_error` when the arena cannot grow.",
                "let p = a.alloc_layout(core::alloc::Layout::new::<u128>());\nassert_eq!(p.as_ptr() as usize % align_of::<u128>(), 0);";
        );
    };
    (@each $ltg:tt $open:literal, $recv:literal, $close:literal;
        $(
            $name:ident $(<$($g:ident $(: $b:path)?),*>)? ($($arg:ident: $ty:ty),*) -> $ret:ty
            $(where $($wt:ty: $wb:path),*)?;
            $doc:literal, $example:literal;
        )*
    ) => {
        $(
            forward_typed!($ltg
                #[doc = $doc]
                #[doc = ""]
                #[doc = concat!(
                    "```\nlet mut arena = allockit::Arena::new();\n", $open,
                    "let a = ", $recv, ";\n", $example, "\n", $close, "\n```"
                )]
                fn $name $(<$($g $(: $b)?),*>)? ($($arg: $ty),*) -> $ret
                $(where $($wt: $wb),*)?
            );
        )*
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
