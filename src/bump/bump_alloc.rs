//! `BumpAlloc<'a>`: the typed allocation methods of every bump allocator, as one trait, so
//! code is written once for an [`Arena`](crate::Arena), a [`Scope`](crate::Scope) and a
//! [`FixedBuffer`](crate::FixedBuffer).
//!
//! The trait is implemented by *references* (`&'a Arena<A>`, `&Scope<'a, A>`,
//! `&'a FixedBuffer`), which are `Copy`, so a parser or a builder takes the allocator by
//! value and passes it on freely. `'a` is how long the values it hands out live: the borrow
//! of the arena or buffer, or the whole scope. `Allocator` is a supertrait, so the same
//! value is the allocator of `Vec`, `Box` and `hashbrown` collections.
//!
//! One method is required, [`try_alloc_layout`](BumpAlloc::try_alloc_layout); every typed
//! method is written here once on top of it, and the inherent methods of `Arena` and
//! `Scope` (what a bumpalo user calls without importing a trait) forward to these.
//!
//! Every method comes in a `try_` form that returns `AllocError` and a panicking form that
//! calls [`handle_alloc_error`](alloc::alloc::handle_alloc_error), as in bumpalo. None of
//! them runs `Drop`: a value moved into the arena is never dropped (its memory is
//! released with the arena or scope). For values that must be dropped, use a `Box` in the
//! arena: `allocator_api2::boxed::Box::new_in(value, &arena)`.

use core::fmt;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout};
use crate::bump::error::{AllocOrInitError, fail, fail_fmt};

/// The typed allocation methods of a bump allocator that hands out values living for `'a`.
///
/// It is implemented by references, which are `Copy`: `&'a Arena<A>`, `&Scope<'a, A>`
/// (whose values live for the whole scope `'a`) and `&'a FixedBuffer`. `Allocator` is a
/// supertrait, so the same value is the allocator of `Vec`, `Box` and hashbrown
/// collections. One method is required, [`try_alloc_layout`](Self::try_alloc_layout); the
/// rest are written once on top of it, and [`Arena`](crate::Arena)'s and
/// [`Scope`](crate::Scope)'s inherent methods (one example each) forward to them.
///
/// Every method has a `try_` form returning `AllocError` and a panicking form, as in
/// bumpalo. None runs `Drop`: values moved in are never dropped, the allocator only frees
/// their memory. A value whose `Drop` must run goes in a `Box` in the arena
/// (`allocator_api2::boxed::Box::new_in(value, &arena)`).
///
/// ```
/// use allockit::{Arena, BumpAlloc};
///
/// /// An AST node: children are references into the arena.
/// enum Expr<'a> {
///     Num(i64),
///     Add(&'a Expr<'a>, &'a Expr<'a>),
/// }
///
/// /// Written once; runs on an arena or inside a scope.
/// fn parse<'a>(src: &str, arena: impl BumpAlloc<'a>) -> &'a Expr<'a> {
///     let mut terms = src.split('+').map(|t| &*arena.alloc(Expr::Num(t.trim().parse().unwrap())));
///     let first = terms.next().unwrap();
///     terms.fold(first, |l, r| arena.alloc(Expr::Add(l, r)))
/// }
///
/// fn eval(e: &Expr<'_>) -> i64 {
///     match e {
///         Expr::Num(n) => *n,
///         Expr::Add(l, r) => eval(l) + eval(r),
///     }
/// }
///
/// let mut arena = Arena::new();
/// assert_eq!(eval(parse("1 + 2 + 39", &arena)), 42);
/// let n = arena.scope(|s| eval(parse("40 + 2", &*s)));
/// assert_eq!(n, 42);
/// ```
///
/// A struct that holds a scope takes two lifetimes: `'s` for what the scope hands out and
/// `'b` for the borrow of the scope itself (one lifetime for both would force the borrow
/// to last as long as the invariant `'s`, and the scope cannot be borrowed that long):
///
/// ```
/// use allockit::{BumpAlloc, Scope};
///
/// struct Parser<'s, 'b> {
///     scope: &'b Scope<'s>,
///     names: Vec<&'s str>,
/// }
///
/// impl<'s, 'b> Parser<'s, 'b> {
///     fn name(&mut self, n: &str) -> &'s str {
///         let copy: &'s str = self.scope.alloc_str(n);
///         self.names.push(copy);
///         copy
///     }
/// }
///
/// let mut arena = allockit::Arena::new();
/// arena.scope(|s| {
///     let mut p = Parser { scope: &*s, names: Vec::new() };
///     let x = p.name("x");
///     assert_eq!((x, p.names.len()), ("x", 1));
/// });
/// ```
///
/// Nothing from a scope escapes it through the trait either:
///
/// ```compile_fail
/// use allockit::BumpAlloc;
/// fn make<'a>(a: impl BumpAlloc<'a>) -> &'a mut u32 { a.alloc(1) }
/// let mut arena = allockit::Arena::new();
/// let escaped: &mut u32 = arena.scope(|s| make(&*s));
/// ```
///
/// # Safety
///
/// An implementation promises that every block it returns from `try_alloc_layout`, and
/// every block it returns through its `Allocator` impl, stays valid and is not reused for
/// as long as `'a`, unless the block is given back through `Allocator::deallocate`,
/// `grow` or `shrink`. The provided methods rely on that to hand out `&'a mut` references.
pub unsafe trait BumpAlloc<'a>: Allocator + Copy {
    /// Allocates an uninitialised block for `layout`, or `AllocError`. Zero-size layouts
    /// get a dangling, aligned pointer.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let layout = core::alloc::Layout::from_size_align(100, 64).unwrap();
    ///     let p = a.try_alloc_layout(layout).unwrap();
    ///     assert_eq!(p.as_ptr() as usize % 64, 0);
    /// }
    /// demo(&allockit::Arena::new());
    /// let mut space = [core::mem::MaybeUninit::uninit(); 256];
    /// demo(&allockit::FixedBuffer::new(&mut space));
    /// ```
    fn try_alloc_layout(self, layout: Layout) -> Result<NonNull<u8>, AllocError>;

    /// Allocates an uninitialised block for `layout`.
    ///
    /// # Panics
    ///
    /// Calls `handle_alloc_error` when the allocator is out of memory.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let p = a.alloc_layout(core::alloc::Layout::new::<u128>());
    ///     assert_eq!(p.as_ptr() as usize % align_of::<u128>(), 0);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline(always)]
    fn alloc_layout(self, layout: Layout) -> NonNull<u8> {
        match self.try_alloc_layout(layout) {
            Ok(p) => p,
            Err(_) => fail(Some(layout)),
        }
    }

    /// Moves `val` into the allocator, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let x = a.try_alloc(5u32).unwrap();
    ///     *x += 1;
    ///     assert_eq!(*x, 6);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline(always)]
    fn try_alloc<T>(self, val: T) -> Result<&'a mut T, AllocError> {
        self.try_alloc_with(|| val)
    }

    /// Moves `val` into the allocator. Panics like [`alloc_layout`](Self::alloc_layout).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let point = a.alloc((1.0f64, 2.0f64));
    ///     point.0 += 1.0;
    ///     assert_eq!(*point, (2.0, 2.0));
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline(always)]
    fn alloc<T>(self, val: T) -> &'a mut T {
        self.alloc_with(|| val)
    }

    /// Allocates room for a `T` and writes `f()` straight into it, so a large value is
    /// built in place; or `AllocError`, and then `f` is not called.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let big = a.try_alloc_with(|| [7u8; 1 << 16]).unwrap();
    ///     assert_eq!(big[1234], 7);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline(always)]
    fn try_alloc_with<T, F: FnOnce() -> T>(self, f: F) -> Result<&'a mut T, AllocError> {
        let p = self.try_alloc_layout(Layout::new::<T>())?.cast::<T>();
        // SAFETY: `p` is a fresh, aligned block for one `T` that nothing else refers to
        // and that stays allocated for `'a` (the trait's contract).
        unsafe {
            p.as_ptr().write(f());
            Ok(&mut *p.as_ptr())
        }
    }

    /// Allocates room for a `T` and writes `f()` straight into it. Panics like
    /// [`alloc_layout`](Self::alloc_layout).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v = a.alloc_with(|| [0u64; 512]);
    ///     assert_eq!(v.len(), 512);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline(always)]
    fn alloc_with<T, F: FnOnce() -> T>(self, f: F) -> &'a mut T {
        match self.try_alloc_with(f) {
            Ok(r) => r,
            Err(_) => fail(Some(Layout::new::<T>())),
        }
    }

    /// Allocates room for a `T` and runs `f`: its `Ok` value is moved in, its `Err` is
    /// returned in [`AllocOrInitError::Init`] (the room is given back if nothing was
    /// allocated after it); `AllocOrInitError::Alloc` if there is no room, and then `f`
    /// is not called.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let ok = a.try_alloc_try_with(|| "42".parse::<u32>()).unwrap();
    ///     assert_eq!(*ok, 42);
    ///     let err = a.try_alloc_try_with(|| "x".parse::<u32>());
    ///     assert!(matches!(err, Err(allockit::AllocOrInitError::Init(_))));
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_try_with<T, E, F: FnOnce() -> Result<T, E>>(
        self,
        f: F,
    ) -> Result<&'a mut T, AllocOrInitError<E>> {
        let layout = Layout::new::<T>();
        let p = self.try_alloc_layout(layout)?.cast::<T>();
        match f() {
            Ok(value) => {
                // SAFETY: as in `try_alloc_with`.
                unsafe {
                    p.as_ptr().write(value);
                    Ok(&mut *p.as_ptr())
                }
            }
            Err(e) => {
                // SAFETY: `p` is this allocator's live block for `layout`, never handed
                // out; a bump allocator takes it back only if it is the latest block.
                unsafe { self.deallocate(p.cast(), layout) };
                Err(AllocOrInitError::Init(e))
            }
        }
    }

    /// Allocates room for a `T` and runs `f`, moving its `Ok` value in or returning its
    /// `Err` (bumpalo's `alloc_try_with`). Panics like [`alloc_layout`](Self::alloc_layout)
    /// when there is no room.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let n = a.alloc_try_with(|| "7".parse::<i64>()).unwrap();
    ///     assert_eq!(*n, 7);
    ///     assert!(a.alloc_try_with(|| "seven".parse::<i64>()).is_err());
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_try_with<T, E, F: FnOnce() -> Result<T, E>>(self, f: F) -> Result<&'a mut T, E> {
        match self.try_alloc_try_with(f) {
            Ok(r) => Ok(r),
            Err(AllocOrInitError::Init(e)) => Err(e),
            Err(AllocOrInitError::Alloc(_)) => fail(Some(Layout::new::<T>())),
        }
    }

    /// Copies `src` into the allocator, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let s = a.try_alloc_slice_copy(&[1, 2, 3]).unwrap();
    ///     s[0] = 9;
    ///     assert_eq!(s, &[9, 2, 3]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_copy<T: Copy>(self, src: &[T]) -> Result<&'a mut [T], AllocError> {
        let p = self.try_alloc_layout(Layout::for_value(src))?.cast::<T>();
        // SAFETY: `p` is a fresh block for `src.len()` values of `T`, disjoint from `src`,
        // valid for `'a`; `T: Copy` makes a bitwise copy a valid value.
        unsafe {
            core::ptr::copy_nonoverlapping(src.as_ptr(), p.as_ptr(), src.len());
            Ok(core::slice::from_raw_parts_mut(p.as_ptr(), src.len()))
        }
    }

    /// Copies `src` into the allocator. Panics like [`alloc_layout`](Self::alloc_layout).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let s = a.alloc_slice_copy(b"bytes");
    ///     assert_eq!(s, b"bytes");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_copy<T: Copy>(self, src: &[T]) -> &'a mut [T] {
        match self.try_alloc_slice_copy(src) {
            Ok(r) => r,
            Err(_) => fail(Some(Layout::for_value(src))),
        }
    }

    /// Clones every element of `src` into the allocator, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let names = [String::from("a"), String::from("b")];
    ///     let s = a.try_alloc_slice_clone(&names).unwrap();
    ///     assert_eq!(s[1], "b");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_clone<T: Clone>(self, src: &[T]) -> Result<&'a mut [T], AllocError> {
        self.try_alloc_slice_fill_with(src.len(), |i| src[i].clone())
    }

    /// Clones every element of `src` into the allocator. Panics like
    /// [`alloc_layout`](Self::alloc_layout).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let s = a.alloc_slice_clone(&[vec![1u8], vec![2, 3]]);
    ///     assert_eq!(s[1].len(), 2);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_clone<T: Clone>(self, src: &[T]) -> &'a mut [T] {
        self.alloc_slice_fill_with(src.len(), |i| src[i].clone())
    }

    /// Copies `s` into the allocator, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let s = a.try_alloc_str("hello").unwrap();
    ///     s.make_ascii_uppercase();
    ///     assert_eq!(s, "HELLO");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_str(self, s: &str) -> Result<&'a mut str, AllocError> {
        let bytes = self.try_alloc_slice_copy(s.as_bytes())?;
        // SAFETY: the bytes are a copy of a `str`, so they are valid UTF-8.
        Ok(unsafe { core::str::from_utf8_unchecked_mut(bytes) })
    }

    /// Copies `s` into the allocator. Panics like [`alloc_layout`](Self::alloc_layout).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let s = a.alloc_str("interned");
    ///     assert_eq!(s, "interned");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_str(self, s: &str) -> &'a mut str {
        match self.try_alloc_str(s) {
            Ok(r) => r,
            Err(_) => fail(Some(Layout::for_value(s))),
        }
    }

    /// A slice of `len` values, the `i`-th being `f(i)`, or `AllocError` (also for a
    /// `len` whose size overflows). If `f` panics, the values already made are leaked,
    /// never dropped twice.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let squares = a.try_alloc_slice_fill_with(4, |i| i * i).unwrap();
    ///     assert_eq!(squares, &[0, 1, 4, 9]);
    ///     assert!(a.try_alloc_slice_fill_with(usize::MAX, |_| 0u64).is_err());
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_fill_with<T, F: FnMut(usize) -> T>(
        self,
        len: usize,
        mut f: F,
    ) -> Result<&'a mut [T], AllocError> {
        let layout = Layout::array::<T>(len).map_err(|_| AllocError)?;
        let p = self.try_alloc_layout(layout)?.cast::<T>();
        for i in 0..len {
            // SAFETY: `i < len`, inside the fresh block for `len` values of `T`.
            unsafe { p.as_ptr().add(i).write(f(i)) };
        }
        // SAFETY: all `len` values were written; the block is valid for `'a` and
        // referenced by nothing else.
        Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
    }

    /// A slice of `len` values, the `i`-th being `f(i)`. Panics like
    /// [`alloc_layout`](Self::alloc_layout), and when `len` values of `T` overflow
    /// `isize::MAX` bytes.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let names = a.alloc_slice_fill_with(3, |i| format!("n{i}"));
    ///     assert_eq!(names[2], "n2");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_fill_with<T, F: FnMut(usize) -> T>(self, len: usize, f: F) -> &'a mut [T] {
        match self.try_alloc_slice_fill_with(len, f) {
            Ok(r) => r,
            Err(_) => fail(Layout::array::<T>(len).ok()),
        }
    }

    /// A slice of `len` copies of `value`, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let zeros = a.try_alloc_slice_fill_copy(100, 0u32).unwrap();
    ///     assert_eq!(zeros.iter().sum::<u32>(), 0);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_fill_copy<T: Copy>(
        self,
        len: usize,
        value: T,
    ) -> Result<&'a mut [T], AllocError> {
        self.try_alloc_slice_fill_with(len, |_| value)
    }

    /// A slice of `len` copies of `value`. Panics like
    /// [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let row = a.alloc_slice_fill_copy(3, b'.');
    ///     assert_eq!(row, b"...");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_fill_copy<T: Copy>(self, len: usize, value: T) -> &'a mut [T] {
        self.alloc_slice_fill_with(len, |_| value)
    }

    /// A slice of `len` clones of `value`, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v = a.try_alloc_slice_fill_clone(2, &String::from("x")).unwrap();
    ///     assert_eq!(v, ["x", "x"]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_fill_clone<T: Clone>(
        self,
        len: usize,
        value: &T,
    ) -> Result<&'a mut [T], AllocError> {
        self.try_alloc_slice_fill_with(len, |_| value.clone())
    }

    /// A slice of `len` clones of `value`. Panics like
    /// [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v = a.alloc_slice_fill_clone(3, &vec![1u8]);
    ///     assert_eq!(v[2], [1]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_fill_clone<T: Clone>(self, len: usize, value: &T) -> &'a mut [T] {
        self.alloc_slice_fill_with(len, |_| value.clone())
    }

    /// A slice of `len` default values, or `AllocError`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v: &mut [Option<u8>] = a.try_alloc_slice_fill_default(4).unwrap();
    ///     assert!(v.iter().all(Option::is_none));
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_fill_default<T: Default>(
        self,
        len: usize,
    ) -> Result<&'a mut [T], AllocError> {
        self.try_alloc_slice_fill_with(len, |_| T::default())
    }

    /// A slice of `len` default values. Panics like
    /// [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v: &mut [u64] = a.alloc_slice_fill_default(8);
    ///     assert_eq!(v, [0; 8]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_fill_default<T: Default>(self, len: usize) -> &'a mut [T] {
        self.alloc_slice_fill_with(len, |_| T::default())
    }

    /// A slice of the items of an iterator that knows its length, allocated once, or
    /// `AllocError`. An iterator that yields fewer items than its `len()` gives a shorter
    /// slice; one that yields more is not read past `len()`.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v = a.try_alloc_slice_fill_iter([1, 2, 3].iter().map(|x| x * 10)).unwrap();
    ///     assert_eq!(v, [10, 20, 30]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_slice_fill_iter<T, I>(self, iter: I) -> Result<&'a mut [T], AllocError>
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let mut iter = iter.into_iter();
        let len = iter.len();
        let layout = Layout::array::<T>(len).map_err(|_| AllocError)?;
        let p = self.try_alloc_layout(layout)?.cast::<T>();
        let mut written = 0;
        while written < len {
            let Some(item) = iter.next() else { break };
            // SAFETY: `written < len`, inside the fresh block for `len` values.
            unsafe { p.as_ptr().add(written).write(item) };
            written += 1;
        }
        // SAFETY: the first `written` values were written; the block lives for `'a`.
        Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), written) })
    }

    /// A slice of the items of an iterator that knows its length. Panics like
    /// [`alloc_slice_fill_with`](Self::alloc_slice_fill_with).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let v = a.alloc_slice_fill_iter((0..4).map(|i| i as u8));
    ///     assert_eq!(v, [0, 1, 2, 3]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_slice_fill_iter<T, I>(self, iter: I) -> &'a mut [T]
    where
        I: IntoIterator<Item = T>,
        I::IntoIter: ExactSizeIterator,
    {
        let iter = iter.into_iter();
        let len = iter.len();
        match self.try_alloc_slice_fill_iter(iter) {
            Ok(r) => r,
            Err(_) => fail(Layout::array::<T>(len).ok()),
        }
    }

    /// A slice of the items of any iterator, or `AllocError`. The block starts at the
    /// iterator's lower size hint and doubles as needed; on an arena or scope the latest
    /// block grows in place, so no item is copied unless the iterator itself allocates
    /// from the same arena. The block is shrunk to fit at the end.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let evens = a.try_alloc_iter((0..100).filter(|x| x % 2 == 0)).unwrap();
    ///     assert_eq!((evens.len(), evens[49]), (50, 98));
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_iter<T, I: IntoIterator<Item = T>>(
        self,
        iter: I,
    ) -> Result<&'a mut [T], AllocError> {
        let mut iter = iter.into_iter();
        if size_of::<T>() == 0 {
            // No storage: count the values and hand them to the slice, undropped.
            let n = iter.by_ref().fold(0usize, |n, item| {
                core::mem::forget(item);
                n + 1
            });
            // SAFETY: a zero-size `T` needs no storage; the `n` values the iterator made
            // are now owned by the slice (never dropped, like every arena value).
            return Ok(unsafe { core::slice::from_raw_parts_mut(NonNull::dangling().as_ptr(), n) });
        }
        // The lower size hint is only a hint: if that much cannot be had, start small.
        let hinted = iter.size_hint().0.max(4);
        let (mut cap, mut layout, mut p) = match Layout::array::<T>(hinted)
            .map_err(|_| AllocError)
            .and_then(|l| Ok((l, self.allocate(l)?)))
        {
            Ok((l, p)) => (hinted, l, p.cast::<T>()),
            Err(_) => {
                let l = Layout::array::<T>(4).map_err(|_| AllocError)?;
                (4, l, self.allocate(l)?.cast::<T>())
            }
        };
        let mut len = 0;
        for item in iter {
            if len == cap {
                let grown = cap.checked_mul(2).ok_or(AllocError)?;
                let new = Layout::array::<T>(grown).map_err(|_| AllocError)?;
                // SAFETY: `p` is this allocator's live block for `layout`, and `new` is
                // larger with the same alignment. The `len` values move with it bitwise.
                p = unsafe { self.grow(p.cast(), layout, new) }?.cast::<T>();
                (cap, layout) = (grown, new);
            }
            // SAFETY: `len < cap`, inside the block.
            unsafe { p.as_ptr().add(len).write(item) };
            len += 1;
        }
        // `len <= cap`, so this layout is valid.
        let fit = Layout::array::<T>(len).map_err(|_| AllocError)?;
        if fit.size() < layout.size() {
            // SAFETY: `p` is live for `layout`, and `fit` is no larger with the same
            // alignment; shrinking keeps the first `len` values.
            if let Ok(q) = unsafe { self.shrink(p.cast(), layout, fit) } {
                p = q.cast();
            }
        }
        // SAFETY: the first `len` values were written, and the block lives for `'a`.
        Ok(unsafe { core::slice::from_raw_parts_mut(p.as_ptr(), len) })
    }

    /// A slice of the items of any iterator; see [`try_alloc_iter`](Self::try_alloc_iter).
    /// Panics like [`alloc_layout`](Self::alloc_layout).
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let words = a.alloc_iter("a bb ccc".split(' ').map(str::len));
    ///     assert_eq!(words, [1, 2, 3]);
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_iter<T, I: IntoIterator<Item = T>>(self, iter: I) -> &'a mut [T] {
        match self.try_alloc_iter(iter) {
            Ok(r) => r,
            Err(_) => fail(Some(Layout::new::<T>())),
        }
    }

    /// Formats `args` straight into the allocator: `alloc_fmt(format_args!("{x}-{y}"))`.
    /// `AllocError` when there is no room, or when a `Display` impl reports an error.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let s = a.try_alloc_fmt(format_args!("{}+{}", 1, 2)).unwrap();
    ///     assert_eq!(s, "1+2");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn try_alloc_fmt(self, args: fmt::Arguments<'_>) -> Result<&'a mut str, AllocError> {
        if let Some(s) = args.as_str() {
            return self.try_alloc_str(s);
        }
        let s = crate::String::try_format_in(self, args)?;
        let (ptr, len) = s.into_raw_parts_shrunk();
        // SAFETY: the string's bytes are valid UTF-8 in a block of this allocator that is
        // never freed, so it lives for `'a` (the trait's contract).
        Ok(unsafe {
            core::str::from_utf8_unchecked_mut(core::slice::from_raw_parts_mut(ptr.as_ptr(), len))
        })
    }

    /// Formats `args` straight into the allocator. Panics like
    /// [`alloc_layout`](Self::alloc_layout), or when a `Display` impl reports an error.
    ///
    /// ```
    /// use allockit::BumpAlloc;
    ///
    /// fn demo<'a>(a: impl BumpAlloc<'a>) {
    ///     let id = 7;
    ///     let s = a.alloc_fmt(format_args!("node-{id}"));
    ///     assert_eq!(s, "node-7");
    /// }
    /// demo(&allockit::Arena::new());
    /// ```
    #[inline]
    fn alloc_fmt(self, args: fmt::Arguments<'_>) -> &'a mut str {
        match self.try_alloc_fmt(args) {
            Ok(r) => r,
            Err(_) => fail_fmt(),
        }
    }
}
