//! The C allocation ABI on top of [`ThreadCache`]: build with `cargo build --release` in
//! `capi/` (initial-exec TLS: for a library loaded at start-up) or
//! `cargo build --release -p allockit-capi` from the workspace root (the default TLS
//! model: also for `dlopen`), and run any dynamically linked program with
//! `LD_PRELOAD=target/release/liballockit_capi.so program`.
//!
//! Exported: `malloc`, `free`, `calloc`, `realloc`, `reallocarray`, `posix_memalign`,
//! `aligned_alloc`, `memalign`, `valloc`, `pvalloc`, `malloc_usable_size`, plus glibc's
//! `__libc_*` aliases of the first ones (some programs and glibc itself call those).
//! Every `malloc` result is aligned to 16 bytes (`max_align_t` on x86_64 and aarch64).
//! Failures return null with `errno = ENOMEM` (or `EINVAL` for a bad alignment), as C
//! requires; nothing here panics.
//!
//! Like glibc, `free`, `realloc` and `malloc_usable_size` refuse a pointer the allocator
//! never handed out (an interior pointer, a static or stack address, somebody else's
//! mapping): they print one line naming the function and the pointer and abort. The test
//! is a lookup in the allocator's address-space map and page headers
//! ([`ThreadCache::is_block`]), never a read before the pointer.
//!
//! When the library is loaded it reads its tuning from the environment
//! ([`ThreadCacheOptions::from_env`]): `ALLOCKIT_PURGE_DELAY_MS` (how long free pages stay
//! resident; `never` keeps them), `ALLOCKIT_LAZY_PURGE=1` (`MADV_FREE`),
//! `ALLOCKIT_SEGMENT_CACHE`, `ALLOCKIT_LARGE_CACHE`, `ALLOCKIT_LARGE_CACHE_MAX_BLOCK`
//! (bytes, with an optional `K`/`M`/`G`), `ALLOCKIT_LARGE_CACHE_AGE_MS` and
//! `ALLOCKIT_HUGE_PAGES=0` (no `MADV_HUGEPAGE`). A value that does not parse is reported on one line of stderr and the defaults are kept.

use core::alloc::{GlobalAlloc, Layout};
use core::ffi::{c_int, c_void};
use core::ptr::{self, NonNull};

use allockit::{ThreadCache, ThreadCacheOptions};

/// The allocator behind every export.
static HEAP: ThreadCache = ThreadCache::new();
/// `alignof(max_align_t)`: what C expects of `malloc`.
const MIN_ALIGN: usize = 16;
/// Linux errno values.
const ENOMEM: c_int = 12;
/// See `ENOMEM`.
const EINVAL: c_int = 22;

unsafe extern "C" {
    // glibc's thread-local errno; rustix has no errno setter because it never uses errno.
    fn __errno_location() -> *mut c_int;
}

/// Runs when the library is loaded, before `main`: applies the environment's tuning.
extern "C" fn configure_from_env() {
    match ThreadCacheOptions::from_env() {
        Ok(options) => ThreadCache::configure(&options),
        Err(e) => {
            use std::io::Write;
            let _ = writeln!(std::io::stderr(), "allockit: {e}; using the defaults");
        }
    }
}

/// The loader calls the functions in `.init_array` when the library is loaded.
#[used]
#[unsafe(link_section = ".init_array")]
static CONFIGURE: extern "C" fn() = configure_from_env;

/// Sets `errno`.
fn set_errno(e: c_int) {
    // SAFETY: `__errno_location` returns this thread's errno slot, always valid.
    unsafe { *__errno_location() = e };
}

/// A block of `size` bytes aligned to `align` (a power of two), or null with ENOMEM.
/// Inlined so that `malloc`'s constant alignment folds the alignment checks away.
#[inline(always)]
fn alloc(size: usize, align: usize, zeroed: bool) -> *mut c_void {
    let Ok(layout) = Layout::from_size_align(size.max(1), align.max(MIN_ALIGN)) else {
        set_errno(ENOMEM);
        return ptr::null_mut();
    };
    // SAFETY: the layout has a non-zero size.
    let p = unsafe {
        if zeroed {
            HEAP.alloc_zeroed(layout)
        } else {
            HEAP.alloc(layout)
        }
    };
    if p.is_null() {
        set_errno(ENOMEM);
    }
    p.cast()
}

/// C `malloc`.
#[unsafe(no_mangle)]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    alloc(size, MIN_ALIGN, false)
}

/// C `calloc`: zeroed, with the multiplication checked.
#[unsafe(no_mangle)]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        Some(total) => alloc(total, MIN_ALIGN, true),
        None => {
            set_errno(ENOMEM);
            ptr::null_mut()
        }
    }
}

/// Prints `allockit: <what>: invalid pointer <p>` and aborts: what glibc does for a
/// pointer its allocator never handed out.
#[cold]
#[inline(never)]
fn invalid_pointer(what: &str, p: *const u8) -> ! {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "allockit: {what}: invalid pointer {p:p}");
    std::process::abort();
}

/// The block at `p`, checked to be one of ours; aborts naming `what` if it is not.
///
/// # Safety
///
/// As for [`ThreadCache::is_block`]: no other thread frees the rest of `p`'s segment
/// meanwhile (true when `p` is live, or not ours at all).
#[inline(always)]
unsafe fn ours(what: &str, p: NonNull<u8>) -> NonNull<u8> {
    // SAFETY: forwarded from the caller.
    if unsafe { HEAP.is_block(p.as_ptr()) } {
        p
    } else {
        invalid_pointer(what, p.as_ptr())
    }
}

/// C `free`. A pointer these functions never returned aborts with a message.
///
/// # Safety
///
/// `p` is null or a live block from these functions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn free(p: *mut c_void) {
    if let Some(p) = NonNull::new(p.cast::<u8>()) {
        // SAFETY: a live block of ours (caller), checked before it is freed.
        unsafe { HEAP.free(ours("free()", p)) };
    }
}

/// C `realloc`: `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)` frees `p` and returns
/// null (glibc's behaviour). On failure `p` is untouched.
///
/// # Safety
///
/// `p` is null or a live block from these functions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    let Some(block) = NonNull::new(p.cast::<u8>()) else {
        return malloc(size);
    };
    // SAFETY: a live block of ours (caller), checked before it is used.
    let block = unsafe { ours("realloc()", block) };
    if size == 0 {
        // SAFETY: a live block of ours (caller).
        unsafe { HEAP.free(block) };
        return ptr::null_mut();
    }
    // SAFETY: a live block of ours; the whole usable size is its to read, so the layout
    // below fits it, and `realloc` copies at most that much.
    let q = unsafe {
        let usable = HEAP.usable_size(block);
        let old = Layout::from_size_align_unchecked(usable, MIN_ALIGN);
        HEAP.realloc(block.as_ptr(), old, size)
    };
    if q.is_null() {
        set_errno(ENOMEM);
    }
    q.cast()
}

/// `reallocarray` (glibc, BSD): `realloc` with the multiplication checked.
///
/// # Safety
///
/// As for [`realloc`].
#[unsafe(no_mangle)]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    match n.checked_mul(size) {
        // SAFETY: forwarded from the caller.
        Some(total) => unsafe { realloc(p, total) },
        None => {
            set_errno(ENOMEM);
            ptr::null_mut()
        }
    }
}

/// POSIX `posix_memalign`: `align` must be a power of two multiple of `sizeof(void *)`.
///
/// # Safety
///
/// `out` is valid for a pointer write.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    if !align.is_power_of_two() || !align.is_multiple_of(size_of::<usize>()) {
        return EINVAL;
    }
    let p = alloc(size, align, false);
    if p.is_null() {
        return ENOMEM;
    }
    // SAFETY: the caller passes a writable `out`.
    unsafe { *out = p };
    0
}

/// C11 `aligned_alloc`: `align` must be a power of two (glibc accepts any size).
#[unsafe(no_mangle)]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(EINVAL);
        return ptr::null_mut();
    }
    alloc(size, align, false)
}

/// Obsolete `memalign`, as glibc has it: an alignment that is not a power of two is
/// rounded up to the next one (0 and small ones give `malloc`'s 16); only one too large
/// to round fails, with `EINVAL`.
#[unsafe(no_mangle)]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    match align.checked_next_power_of_two() {
        Some(align) => alloc(size, align, false),
        None => {
            set_errno(EINVAL);
            ptr::null_mut()
        }
    }
}

/// The OS page size.
fn page() -> usize {
    // The ABI promises 4 KiB pages on x86_64; aarch64 kernels may use larger ones, which
    // `sysconf` would report, but a 64 KiB alignment is still correct on 4 KiB kernels.
    if cfg!(target_arch = "x86_64") {
        4096
    } else {
        65536
    }
}

/// Obsolete `valloc`: page-aligned.
#[unsafe(no_mangle)]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc(size, page(), false)
}

/// Obsolete `pvalloc`: page-aligned, size rounded up to whole pages.
#[unsafe(no_mangle)]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    match size.checked_next_multiple_of(page()) {
        Some(size) => alloc(size, page(), false),
        None => {
            set_errno(ENOMEM);
            ptr::null_mut()
        }
    }
}

/// glibc's `malloc_usable_size`: 0 for null.
///
/// # Safety
///
/// `p` is null or a live block from these functions.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn malloc_usable_size(p: *mut c_void) -> usize {
    match NonNull::new(p.cast::<u8>()) {
        // SAFETY: a live block of ours (caller), checked before it is read.
        Some(p) => unsafe { HEAP.usable_size(ours("malloc_usable_size()", p)) },
        None => 0,
    }
}

/// glibc's internal names for the same functions, which some programs call directly.
mod libc_aliases {
    use super::*;

    /// `__libc_malloc`.
    #[unsafe(no_mangle)]
    pub extern "C" fn __libc_malloc(size: usize) -> *mut c_void {
        malloc(size)
    }

    /// `__libc_calloc`.
    #[unsafe(no_mangle)]
    pub extern "C" fn __libc_calloc(n: usize, size: usize) -> *mut c_void {
        calloc(n, size)
    }

    /// `__libc_free`.
    ///
    /// # Safety
    ///
    /// As for [`free`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn __libc_free(p: *mut c_void) {
        // SAFETY: forwarded from the caller.
        unsafe { free(p) }
    }

    /// `__libc_realloc`.
    ///
    /// # Safety
    ///
    /// As for [`realloc`].
    #[unsafe(no_mangle)]
    pub unsafe extern "C" fn __libc_realloc(p: *mut c_void, size: usize) -> *mut c_void {
        // SAFETY: forwarded from the caller.
        unsafe { realloc(p, size) }
    }

    /// `__libc_memalign`.
    #[unsafe(no_mangle)]
    pub extern "C" fn __libc_memalign(align: usize, size: usize) -> *mut c_void {
        memalign(align, size)
    }
}
