//! `Malloc`: the C library's `malloc` family as a strategy.
//!
//! ## Design
//!
//! A stateless handle on the process's C heap (glibc, musl, or whatever `malloc` the
//! program links), so it is the yardstick every other strategy is measured against and
//! a backing allocator that shares memory with C code. Each call maps to one libc call
//! (plus `malloc_usable_size` for every block handed out through `Allocator`):
//!
//! | operation | alignment ≤ [`MALLOC_ALIGN`] and ≤ size | larger alignment |
//! |---|---|---|
//! | `allocate` | `malloc` | `posix_memalign` |
//! | `allocate_zeroed` | `calloc` | `posix_memalign` + zeroing |
//! | `grow`, `shrink` | `realloc` (in place when libc can) | allocate, copy, `free` |
//! | `deallocate` | `free` | `free` |
//!
//! The returned slice is as long as `malloc_usable_size` says, so a `Vec` may use the
//! slack libc rounds every request up to. Zero-size layouts get [`dangling`] pointers
//! and never reach libc; a null from libc is `AllocError`, never a panic.
//!
//! It also implements [`GlobalAlloc`], so `#[global_allocator] static A: Malloc = Malloc;`
//! replaces Rust's default (which calls the same functions through `std::alloc::System`).
//!
//! ## Why the functions are declared here
//!
//! `std` already links the C library on every Unix target, so the symbols are present;
//! the `libc` crate would add only these six declarations. rustix, the crate's door to
//! the OS, deliberately has no `malloc`: it wraps system calls, and `malloc` is a library
//! routine layered on them. For the same reason this file, not `sys/os.rs` (the one module
//! that makes system calls), is where the C heap is called.

use core::alloc::GlobalAlloc;
use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};

use crate::api::{AllocError, Allocator, Layout, dangling, move_block, zero_tail};

// The C heap. `size_t` is `usize` on every target Rust supports.
unsafe extern "C" {
    fn malloc(size: usize) -> *mut c_void;
    fn calloc(count: usize, size: usize) -> *mut c_void;
    fn realloc(ptr: *mut c_void, size: usize) -> *mut c_void;
    fn free(ptr: *mut c_void);
    fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int;
    // glibc, musl and bionic have it; Miri does not implement it (see `usable_size`).
    #[cfg(all(not(miri), any(target_os = "linux", target_os = "android")))]
    fn malloc_usable_size(ptr: *mut c_void) -> usize;
}

/// The alignment `malloc`, `calloc` and `realloc` guarantee for a block of at least that
/// many bytes: `2 * size_of::<usize>()` in glibc and musl on 64-bit targets (16), and 8
/// assumed on 32-bit ones (glibc gives 16 on i386, other C libraries only 8). A smaller
/// block may be aligned only to its size rounded down to a power of two (Miri does
/// that), so `malloc` is used only when `align <= size` too — `std::alloc::System`'s rule.
const MALLOC_ALIGN: usize = if cfg!(target_pointer_width = "64") {
    16
} else {
    8
};

/// The largest request ever passed to libc. A [`Layout`] cannot exceed it; the check
/// guards the arithmetic anyway (C libraries disagree on what they do above it).
const MAX_REQUEST: usize = isize::MAX as usize;

/// The C heap as an allocator: `malloc`, `calloc`, `realloc`, `posix_memalign`, `free`.
///
/// `Malloc` holds no state, so it is `Copy`, `Send` and `Sync`; every value is the same
/// heap. Blocks report their usable size, which is often larger than requested:
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::Malloc;
/// use allockit::{Allocator, Layout};
///
/// let mut v = Vec::new_in(Malloc);
/// v.extend_from_slice(b"from the C heap");
/// assert_eq!(&v[..4], b"from");
///
/// let layout = Layout::from_size_align(10, 1).unwrap();
/// let block = Malloc.allocate(layout).unwrap();
/// assert!(block.len() >= 10); // glibc: 24, its smallest chunk
/// // SAFETY: `block` came from `Malloc` with `layout` and is freed once.
/// unsafe { Malloc.deallocate(block.cast(), layout) };
/// ```
///
/// As the global allocator (what `std::alloc::System` does, written out):
///
/// ```
/// #[global_allocator]
/// static GLOBAL: allockit::Malloc = allockit::Malloc;
///
/// fn main() {
///     let words: Vec<String> = (0..100).map(|i| i.to_string()).collect();
///     assert_eq!(words[42], "42");
/// }
/// ```
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Malloc;

/// Whether a `malloc`/`calloc`/`realloc` block of `layout.size()` bytes is aligned for
/// `layout` (see [`MALLOC_ALIGN`]).
#[inline(always)]
fn malloc_aligns(layout: Layout) -> bool {
    layout.align() <= MALLOC_ALIGN && layout.align() <= layout.size()
}

/// A block of `layout` (with `layout.size() > 0`) from libc, zeroed over `layout.size()`
/// bytes if `zeroed`; null if libc refuses.
#[inline]
fn raw_alloc(layout: Layout, zeroed: bool) -> *mut u8 {
    debug_assert!(layout.size() > 0, "zero-size layouts never reach libc");
    if layout.size() > MAX_REQUEST {
        return ptr::null_mut();
    }
    if !malloc_aligns(layout) {
        return aligned_alloc(layout, zeroed);
    }
    // SAFETY: `malloc` and `calloc` have no preconditions; the size is not zero.
    let p = unsafe {
        if zeroed {
            calloc(1, layout.size())
        } else {
            malloc(layout.size())
        }
    };
    p.cast()
}

/// The slow path of [`raw_alloc`]: alignments `malloc` does not guarantee.
#[cold]
#[inline(never)]
fn aligned_alloc(layout: Layout, zeroed: bool) -> *mut u8 {
    // `posix_memalign` wants a power of two that is a multiple of the pointer size.
    let align = layout.align().max(size_of::<*mut c_void>());
    let mut out: *mut c_void = ptr::null_mut();
    // SAFETY: `align` is a power of two (from `Layout`) and a multiple of the pointer
    // size (the maximum with it); `out` is a valid place for the result.
    let error = unsafe { posix_memalign(&mut out, align, layout.size()) };
    if error != 0 || out.is_null() {
        return ptr::null_mut();
    }
    if zeroed {
        // SAFETY: `out` is a fresh block of at least `layout.size()` writable bytes.
        unsafe { out.cast::<u8>().write_bytes(0, layout.size()) };
    }
    out.cast()
}

/// The bytes usable at `p`, a live libc block of at least `size` requested bytes.
#[cfg(all(not(miri), any(target_os = "linux", target_os = "android")))]
#[inline]
fn usable_size(p: NonNull<u8>, size: usize) -> usize {
    // SAFETY: `p` is a live block of this C library's `malloc` family (caller).
    let usable = unsafe { malloc_usable_size(p.as_ptr().cast()) };
    debug_assert!(usable >= size, "libc reports {usable} for {size} bytes");
    usable.max(size)
}

/// The bytes usable at `p`: without `malloc_usable_size` (Miri does not implement it,
/// other C libraries spell it differently), exactly the requested size.
#[cfg(not(all(not(miri), any(target_os = "linux", target_os = "android"))))]
#[inline]
fn usable_size(_p: NonNull<u8>, size: usize) -> usize {
    size
}

/// The block at `p` (a live libc block of `size > 0` requested bytes), as long as libc
/// lets the caller use.
#[inline]
fn block(p: NonNull<u8>, size: usize) -> NonNull<[u8]> {
    NonNull::slice_from_raw_parts(p, usable_size(p, size))
}

impl Malloc {
    /// `grow` and `shrink` for a block that may be dangling (`old.size() == 0`) and a
    /// non-empty `new`.
    ///
    /// # Safety
    ///
    /// `ptr` is a block of this allocator that fits `old`; `new.size() > 0`.
    #[inline]
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        debug_assert!(new.size() > 0);
        if old.size() == 0 {
            // A dangling block: nothing to copy or free.
            return self.allocate(new);
        }
        if !malloc_aligns(new) || new.size() > MAX_REQUEST {
            // SAFETY: forwarded from the caller.
            return unsafe { move_block(self, ptr, old, new) };
        }
        // SAFETY: `ptr` is a live libc block (`old.size() > 0`, so not dangling), and
        // `new.size() > 0`, so `realloc` does not free it. On failure it returns null and
        // leaves the block as it was; on success the old pointer is no longer used.
        let p = unsafe { realloc(ptr.as_ptr().cast(), new.size()) };
        let p = NonNull::new(p.cast::<u8>()).ok_or(AllocError)?;
        Ok(block(p, new.size()))
    }
}

// SAFETY: blocks come from the process's C heap and stay valid until `deallocate` frees
// them; `Malloc` has no state, so every copy and move shares every block. Blocks are
// aligned by `malloc_aligns` or `posix_memalign`, and at least `layout.size()` long
// (`usable_size` never reports less).
unsafe impl Allocator for Malloc {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let p = NonNull::new(raw_alloc(layout, false)).ok_or(AllocError)?;
        Ok(block(p, layout.size()))
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let p = NonNull::new(raw_alloc(layout, true)).ok_or(AllocError)?;
        let block = block(p, layout.size());
        // C only promises zeros over the requested size; the slack is handed out too.
        // SAFETY: the block is writable over its length, which is at least `layout.size()`.
        unsafe { zero_tail(block, layout.size()) };
        Ok(block)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            // SAFETY: a non-empty block of this allocator came from `malloc`, `calloc`,
            // `realloc` or `posix_memalign`, all of which `free` releases; the caller
            // uses it no more.
            unsafe { free(ptr.as_ptr().cast()) }
        }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.size() == 0 {
            // Then `old.size() == 0` too: both blocks are dangling.
            return Ok(dangling(new));
        }
        // SAFETY: forwarded from the caller; `new.size() > 0`.
        unsafe { self.resize(ptr, old, new) }
    }

    grow_zeroed_via_grow!();

    shrink_nonzero!(self, ptr, old, new => {
        // SAFETY: forwarded from the caller; `new.size() > 0`.
        unsafe { self.resize(ptr, old, new) }
    });
}

mirror_core_allocator!(impl[] for Malloc);

// SAFETY: the same libc calls as the `Allocator` impl, which never unwind: `alloc`
// returns a block fitting `layout` or null, `dealloc` frees it, `realloc` keeps the
// first `min(old, new)` bytes. `GlobalAlloc` never passes size zero, so no dangling
// pointers arise here.
unsafe impl GlobalAlloc for Malloc {
    #[inline]
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        raw_alloc(layout, false)
    }

    #[inline]
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        raw_alloc(layout, true)
    }

    #[inline]
    unsafe fn dealloc(&self, ptr: *mut u8, _layout: Layout) {
        // SAFETY: `ptr` came from this allocator (caller), i.e. from libc.
        unsafe { free(ptr.cast()) }
    }

    #[inline]
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let Ok(new) = Layout::from_size_align(new_size, layout.align()) else {
            return ptr::null_mut();
        };
        let Some(ptr) = NonNull::new(ptr) else {
            return ptr::null_mut();
        };
        // SAFETY: `ptr` is a live block fitting `layout` (caller), `layout.size() > 0`
        // and `new_size > 0` (`GlobalAlloc`'s contract), so it is a libc block.
        match unsafe { self.resize(ptr, layout, new) } {
            Ok(block) => block.cast::<u8>().as_ptr(),
            Err(AllocError) => ptr::null_mut(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Fills `len` bytes at `p` with `seed, seed + 1, …`.
    fn fill(p: NonNull<u8>, len: usize, seed: u8) {
        // SAFETY: the caller owns `len` writable bytes at `p`.
        unsafe {
            for i in 0..len {
                p.as_ptr().add(i).write(seed.wrapping_add(i as u8));
            }
        }
    }

    /// Whether the `len` bytes at `p` still hold what [`fill`] wrote.
    fn holds(p: NonNull<u8>, len: usize, seed: u8) -> bool {
        // SAFETY: the caller owns `len` readable bytes at `p`.
        (0..len).all(|i| unsafe { p.as_ptr().add(i).read() } == seed.wrapping_add(i as u8))
    }

    #[test]
    fn usable_size_covers_the_request_and_is_writable() {
        // Miri runs each byte write ~1000x slower: the large size only natively.
        let large = if cfg!(miri) { 5000 } else { 200_000 };
        for size in [1, 7, 8, 24, 100, 1000, large] {
            for align in [1, 8, 16, 64, 4096] {
                let layout = Layout::from_size_align(size, align).unwrap();
                let b = Malloc.allocate(layout).unwrap();
                assert!(b.len() >= size, "{layout:?}: {} bytes", b.len());
                assert_eq!(b.cast::<u8>().as_ptr().addr() % align, 0, "{layout:?}");
                fill(b.cast(), b.len(), 3);
                assert!(holds(b.cast(), b.len(), 3));
                // SAFETY: `b` is live; any size between requested and usable fits.
                unsafe {
                    Malloc.deallocate(b.cast(), Layout::from_size_align(b.len(), align).unwrap())
                };
            }
        }
    }

    #[test]
    fn small_blocks_with_large_alignment_use_posix_memalign() {
        // `malloc(1)` need not be 8-aligned; the block must be anyway.
        let layout = Layout::from_size_align(1, 8).unwrap();
        assert!(!malloc_aligns(layout));
        let b = Malloc.allocate(layout).unwrap();
        assert_eq!(b.cast::<u8>().as_ptr().addr() % 8, 0);
        // SAFETY: `b` is live and fits `layout`.
        unsafe { Malloc.deallocate(b.cast(), layout) };
    }

    #[test]
    fn zeroed_blocks_are_zero_over_their_whole_length() {
        for (size, align) in [(40, 8), (3000, 16), (100, 256)] {
            // Dirty the heap first, so recycled memory would show.
            let layout = Layout::from_size_align(size, align).unwrap();
            let dirty = Malloc.allocate(layout).unwrap();
            fill(dirty.cast(), dirty.len(), 0xAA);
            // SAFETY: `dirty` is live and fits `layout`.
            unsafe { Malloc.deallocate(dirty.cast(), layout) };
            let b = Malloc.allocate_zeroed(layout).unwrap();
            // SAFETY: `b` is readable over its length.
            assert!((0..b.len()).all(|i| unsafe { b.cast::<u8>().as_ptr().add(i).read() } == 0));
            // SAFETY: `b` is live and fits `layout`.
            unsafe { Malloc.deallocate(b.cast(), layout) };
        }
    }

    #[test]
    fn realloc_keeps_contents_and_alignment() {
        let small = Layout::from_size_align(24, 8).unwrap();
        let p = Malloc.allocate(small).unwrap().cast::<u8>();
        fill(p, 24, 9);
        let n = if cfg!(miri) { 5000 } else { 100_000 };
        // SAFETY: each block is passed with the layout it was last given.
        unsafe {
            let big = Layout::from_size_align(n, 8).unwrap();
            let q = Malloc.grow(p, small, big).unwrap().cast::<u8>();
            assert!(holds(q, 24, 9));
            fill(q, n, 1);
            // A stricter alignment than `malloc` guarantees: allocate, copy, free.
            let aligned = Layout::from_size_align(n, 4096).unwrap();
            let r = Malloc.grow(q, big, aligned).unwrap().cast::<u8>();
            assert_eq!(r.as_ptr().addr() % 4096, 0);
            assert!(holds(r, n, 1));
            let tiny = Layout::from_size_align(5, 4096).unwrap();
            let s = Malloc.shrink(r, aligned, tiny).unwrap().cast::<u8>();
            assert_eq!(s.as_ptr().addr() % 4096, 0);
            assert!(holds(s, 5, 1));
            let l64 = Layout::from_size_align(64, 16).unwrap();
            let z = Malloc.grow_zeroed(s, tiny, l64).unwrap();
            assert!(holds(z.cast(), 5, 1));
            assert!((5..z.len()).all(|i| z.cast::<u8>().as_ptr().add(i).read() == 0));
            let gone = Malloc.shrink(z.cast(), l64, Layout::new::<()>());
            assert_eq!(gone.unwrap().len(), 0, "shrunk to nothing: freed, dangling");
        }
    }

    #[test]
    fn as_global_alloc() {
        let layout = Layout::from_size_align(48, 8).unwrap();
        // SAFETY: non-zero sizes; each pointer is passed back with its current layout.
        unsafe {
            let p = GlobalAlloc::alloc_zeroed(&Malloc, layout);
            assert!(!p.is_null());
            assert!((0..48).all(|i| p.add(i).read() == 0));
            p.write_bytes(7, 48);
            let q = GlobalAlloc::realloc(&Malloc, p, layout, 4096);
            assert!(!q.is_null());
            assert!((0..48).all(|i| q.add(i).read() == 7));
            let big = Layout::from_size_align(4096, 8).unwrap();
            let r = GlobalAlloc::realloc(&Malloc, q, big, 16);
            assert!((0..16).all(|i| r.add(i).read() == 7));
            GlobalAlloc::dealloc(&Malloc, r, Layout::from_size_align(16, 8).unwrap());
            // A new size that no layout can hold: null, the block untouched.
            let p = GlobalAlloc::alloc(&Malloc, layout);
            assert!(GlobalAlloc::realloc(&Malloc, p, layout, usize::MAX - 2).is_null());
            GlobalAlloc::dealloc(&Malloc, p, layout);
        }
    }

    #[test]
    fn is_send_sync_copy() {
        fn check<T: Send + Sync + Copy + Default>() {}
        check::<Malloc>();
    }
}
