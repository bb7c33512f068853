//! The only module that talks to the operating system, through `rustix`.
//!
//! Like mimalloc's `prim.h`, this is one narrow, documented door: every function states
//! its preconditions and reports failure as a value, never by panicking. Under Miri,
//! anonymous `mmap`/`munmap` are emulated but `mprotect` and `mremap` are not; those two
//! are gated here (and only here) behind `cfg(miri)` and report [`Unsupported`]. Miri's
//! `munmap` also only takes a whole mapping, so under Miri [`unmap`] keeps a table of
//! mappings and releases one when all of its pages have been unmapped — the kernel's
//! semantics, minus the fault on touching an unmapped page.

use core::ffi::c_void;
use core::ptr::NonNull;
use core::sync::atomic::{AtomicUsize, Ordering};

use rustix::mm::{self, MapFlags, MprotectFlags, ProtFlags};

/// The OS refused or does not support a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Unsupported;

/// Access rights for [`protect`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[allow(dead_code)] // `None` and `Read` are used by the hardening strategies and tests.
pub(crate) enum Access {
    /// Any access faults.
    None,
    /// Reads succeed, writes fault.
    Read,
    /// Reads and writes succeed.
    ReadWrite,
}

/// The page size, read once from the auxiliary vector and cached.
#[inline]
pub(crate) fn page_size() -> usize {
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    match PAGE.load(Ordering::Relaxed) {
        0 => {
            let size = rustix::param::page_size();
            PAGE.store(size, Ordering::Relaxed);
            size
        }
        size => size,
    }
}

/// Maps `len` bytes of fresh, zeroed, private read-write memory at an address the kernel
/// chooses (always page-aligned).
///
/// Preconditions: `len > 0` and a multiple of [`page_size`].
pub(crate) fn map(len: usize) -> Result<NonNull<u8>, Unsupported> {
    debug_assert!(len > 0 && len.is_multiple_of(page_size()));
    #[cfg(miri)]
    let len_for_table = len;
    // SAFETY: an anonymous private mapping at a kernel-chosen address cannot alias any
    // existing Rust object.
    let ptr = unsafe {
        mm::mmap_anonymous(
            core::ptr::null_mut(),
            len,
            ProtFlags::READ | ProtFlags::WRITE,
            MapFlags::PRIVATE,
        )
    }
    .map_err(|_| Unsupported)?;
    let ptr = NonNull::new(ptr.cast::<u8>()).ok_or(Unsupported)?;
    #[cfg(miri)]
    miri_table::mapped(ptr, len_for_table);
    Ok(ptr)
}

/// Unmaps `[ptr, ptr + len)`.
///
/// # Safety
///
/// - `ptr` is page-aligned, `len > 0` is a multiple of the page size, and the range lies
///   inside mappings made by [`map`] or [`reserve`] that nothing will access again.
pub(crate) unsafe fn unmap(ptr: NonNull<u8>, len: usize) {
    debug_assert!(
        ptr.as_ptr().addr().is_multiple_of(page_size()) && len.is_multiple_of(page_size())
    );
    #[cfg(miri)]
    let Some((ptr, len)) = miri_table::unmapped(ptr, len) else {
        return;
    };
    // SAFETY: forwarded from the caller. `munmap` of a valid range cannot fail except on
    // resource exhaustion when splitting a mapping; then the pages stay mapped, which
    // only leaks them, so ignoring the error is sound.
    let _ = unsafe { mm::munmap(ptr.as_ptr().cast::<c_void>(), len) };
}

/// Partial `munmap` for Miri, which only unmaps whole mappings: a table of live mappings
/// and how many of their bytes are still mapped.
///
/// The table is a fixed array, not a collection: a global allocator built on this module
/// (`ThreadCache`) must not allocate while mapping, or it would re-enter itself.
#[cfg(miri)]
mod miri_table {
    use core::ptr::NonNull;
    use std::sync::Mutex;

    /// Live mappings the table can track; Miri runs stay far below it.
    const MAX: usize = 4096;

    /// A mapping's base pointer (with the provenance of the whole mapping), its length and
    /// the bytes of it not yet unmapped.
    #[derive(Clone, Copy)]
    struct Mapping(NonNull<u8>, usize, usize);
    // SAFETY: the table only stores the pointer to hand it back to `munmap`.
    unsafe impl Send for Mapping {}

    /// `entries[..len]` are the live mappings, unordered.
    struct Table {
        entries: [Option<Mapping>; MAX],
        len: usize,
    }

    static TABLE: Mutex<Table> = Mutex::new(Table {
        entries: [None; MAX],
        len: 0,
    });

    fn table() -> std::sync::MutexGuard<'static, Table> {
        TABLE.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(super) fn mapped(ptr: NonNull<u8>, len: usize) {
        let mut t = table();
        assert!(t.len < MAX, "os.rs Miri table full: raise MAX");
        let i = t.len;
        t.entries[i] = Some(Mapping(ptr, len, len));
        t.len += 1;
    }

    /// Records that `[ptr, ptr + len)` was unmapped; returns the whole mapping once none of
    /// it is left.
    pub(super) fn unmapped(ptr: NonNull<u8>, len: usize) -> Option<(NonNull<u8>, usize)> {
        let mut t = table();
        let addr = ptr.as_ptr().addr();
        let n = t.len;
        let i = t.entries[..n].iter().position(|m| {
            m.is_some_and(|m| (m.0.as_ptr().addr()..m.0.as_ptr().addr() + m.1).contains(&addr))
        })?;
        let mut m = t.entries[i]?;
        m.2 = m.2.saturating_sub(len);
        if m.2 > 0 {
            t.entries[i] = Some(m);
            return None;
        }
        t.entries[i] = t.entries[n - 1];
        t.entries[n - 1] = None;
        t.len -= 1;
        Some((m.0, m.1))
    }
}

/// Resizes the mapping at `ptr` from `old_len` to `new_len` bytes. With `may_move`, the
/// kernel may move it to a new page-aligned address (contents preserved); without, only
/// in-place growth succeeds.
///
/// # Safety
///
/// - `[ptr, ptr + old_len)` is exactly one whole mapping (or a whole tail-trimmed part of
///   one) made by [`map`]; `old_len` and `new_len` are non-zero multiples of the page size.
/// - With `may_move`, nothing may access the old address after success.
#[cfg(all(target_os = "linux", not(miri)))]
pub(crate) unsafe fn remap(
    ptr: NonNull<u8>,
    old_len: usize,
    new_len: usize,
    may_move: bool,
) -> Result<NonNull<u8>, Unsupported> {
    let flags = if may_move {
        mm::MremapFlags::MAYMOVE
    } else {
        mm::MremapFlags::empty()
    };
    // SAFETY: forwarded from the caller.
    let new = unsafe { mm::mremap(ptr.as_ptr().cast::<c_void>(), old_len, new_len, flags) }
        .map_err(|_| Unsupported)?;
    NonNull::new(new.cast::<u8>()).ok_or(Unsupported)
}

/// `mremap` does not exist (or Miri cannot emulate it): callers fall back to copying.
///
/// # Safety
///
/// Same contract as the Linux version; this one never touches memory.
#[cfg(not(all(target_os = "linux", not(miri))))]
pub(crate) unsafe fn remap(
    _ptr: NonNull<u8>,
    _old_len: usize,
    _new_len: usize,
    _may_move: bool,
) -> Result<NonNull<u8>, Unsupported> {
    Err(Unsupported)
}

/// Gives the pages of `[ptr, ptr + len)` back to the OS while keeping the range mapped:
/// `madvise(MADV_DONTNEED)`, after which the pages read as zero and cost no memory until
/// touched again, or with `lazy`, `MADV_FREE`, which lets the kernel take them only under
/// memory pressure (cheaper, but the process's RSS does not fall at once). Returns whether
/// the kernel accepted.
///
/// Miri has no `madvise`: there the range is zeroed instead, which keeps the observable
/// contents of `MADV_DONTNEED` (code that wrongly relied on purged contents still fails
/// under Miri) without returning memory.
///
/// # Safety
///
/// `ptr` is page-aligned, `len` a multiple of the page size, the range lies inside
/// read-write mappings made by [`map`], and nothing relies on its contents afterwards.
pub(crate) unsafe fn purge(ptr: NonNull<u8>, len: usize, lazy: bool) -> bool {
    debug_assert!(
        ptr.as_ptr().addr().is_multiple_of(page_size()) && len.is_multiple_of(page_size())
    );
    #[cfg(miri)]
    {
        let _ = lazy;
        // SAFETY: the range is writable memory whose contents nobody needs (caller).
        unsafe { ptr.as_ptr().write_bytes(0, len) };
        true
    }
    #[cfg(not(miri))]
    {
        let advice = if lazy {
            mm::Advice::LinuxFree
        } else {
            mm::Advice::LinuxDontNeed
        };
        // SAFETY: forwarded from the caller; the advice only drops contents of private
        // anonymous pages that nobody relies on.
        unsafe { mm::madvise(ptr.as_ptr().cast::<c_void>(), len, advice) }.is_ok()
    }
}

/// Asks the kernel to back `[ptr, ptr + len)` with transparent huge pages
/// (`madvise(MADV_HUGEPAGE)`). A hint: refused or unsupported (off Linux, under Miri,
/// THP disabled) it changes nothing, so its result is ignored.
///
/// # Safety
///
/// The range lies inside read-write anonymous mappings made by [`map`].
pub(crate) unsafe fn huge_pages(ptr: NonNull<u8>, len: usize) {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // SAFETY: the advice changes how the kernel backs the pages, never their contents.
        let _ = unsafe {
            mm::madvise(
                ptr.as_ptr().cast::<c_void>(),
                len,
                mm::Advice::LinuxHugepage,
            )
        };
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    let _ = (ptr, len);
}

/// Milliseconds on the monotonic clock (from an arbitrary origin); for purge delays.
///
/// On Linux the coarse clock: it reads the time of the last timer tick (1–4 ms old) from
/// the vDSO without touching the time-stamp counter, which on some virtual machines costs
/// as much as a small allocation; millisecond delays do not need better.
pub(crate) fn now_ms() -> u64 {
    #[cfg(all(target_os = "linux", not(miri)))]
    let clock = rustix::time::ClockId::MonotonicCoarse;
    #[cfg(not(all(target_os = "linux", not(miri))))]
    let clock = rustix::time::ClockId::Monotonic;
    let t = rustix::time::clock_gettime(clock);
    (t.tv_sec as u64)
        .wrapping_mul(1000)
        .wrapping_add(t.tv_nsec as u64 / 1_000_000)
}

/// Moves the pages of the mapping `[from, from + len)` to `to`, replacing the first
/// `len` bytes of the mapping there, without copying (`mremap` with `MREMAP_FIXED`); the
/// old range is unmapped. On failure nothing changed.
///
/// # Safety
///
/// `[from, from + len)` is a whole mapping (or the whole remaining part of one) made by
/// [`map`] that nothing accesses afterwards; `[to, to + len)` lies inside a mapping made
/// by [`map`] whose contents nobody needs; both page-aligned, `len` a multiple of the page.
#[cfg(all(target_os = "linux", not(miri)))]
pub(crate) unsafe fn move_mapping(
    from: NonNull<u8>,
    len: usize,
    to: NonNull<u8>,
) -> Result<(), Unsupported> {
    // SAFETY: forwarded from the caller.
    let moved = unsafe {
        mm::mremap_fixed(
            from.as_ptr().cast::<c_void>(),
            len,
            len,
            mm::MremapFlags::MAYMOVE,
            to.as_ptr().cast::<c_void>(),
        )
    }
    .map_err(|_| Unsupported)?;
    if moved.cast::<u8>() == to.as_ptr() {
        Ok(())
    } else {
        Err(Unsupported)
    }
}

/// `mremap` does not exist (or Miri cannot emulate it): callers copy instead.
///
/// # Safety
///
/// Same contract as the Linux version; this one never touches memory.
#[cfg(not(all(target_os = "linux", not(miri))))]
pub(crate) unsafe fn move_mapping(
    _from: NonNull<u8>,
    _len: usize,
    _to: NonNull<u8>,
) -> Result<(), Unsupported> {
    Err(Unsupported)
}

/// Eight bytes from the kernel's random source (`getrandom`), for secrets such as the
/// hardened heap's canaries. Never fails: if the kernel refuses, the bytes are mixed from
/// the address of a stack local and the clock instead (weaker, but still
/// different per process and per call).
pub(crate) fn random_u64() -> u64 {
    let mut bytes = [0u8; 8];
    match rustix::rand::getrandom(&mut bytes, rustix::rand::GetRandomFlags::empty()) {
        Ok(8) => u64::from_ne_bytes(bytes),
        _ => {
            let local = 0u8;
            let stack = core::ptr::addr_of!(local).addr() as u64;
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            let mixed = stack ^ now.rotate_left(32);
            mixed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ (mixed >> 29)
        }
    }
}

/// Reserves `len` bytes of address space: an anonymous private mapping with no access
/// (`PROT_NONE`) and no swap reservation (`MAP_NORESERVE`), so it costs neither memory nor
/// commit charge until parts of it are made accessible with [`protect`] (or
/// [`pkey_protect`]). Under Miri, which cannot change protections, the mapping is made
/// read-write at once.
///
/// Preconditions: `len > 0` and a multiple of [`page_size`]. The result is released with
/// [`unmap`].
pub(crate) fn reserve(len: usize) -> Result<NonNull<u8>, Unsupported> {
    debug_assert!(len > 0 && len.is_multiple_of(page_size()));
    if cfg!(miri) {
        return map(len);
    }
    // SAFETY: an anonymous private mapping at a kernel-chosen address cannot alias any
    // existing Rust object.
    let ptr = unsafe {
        mm::mmap_anonymous(
            core::ptr::null_mut(),
            len,
            ProtFlags::empty(),
            MapFlags::PRIVATE | MapFlags::NORESERVE,
        )
    }
    .map_err(|_| Unsupported)?;
    NonNull::new(ptr.cast::<u8>()).ok_or(Unsupported)
}

/// A memory protection key (x86 MPK/PKU), from [`pkey_alloc`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Pkey(i32);

/// Protection keys are the one OS interface this module reaches without rustix: rustix
/// has no pkey API, so glibc's wrappers (glibc 2.27 and later) are declared here. They
/// exist only on Linux with glibc; elsewhere, and under Miri, [`pkey_alloc`] reports no
/// key and callers fall back to `mprotect`.
#[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
mod pkey_sys {
    use core::ffi::{c_int, c_uint, c_void};

    unsafe extern "C" {
        pub(super) fn pkey_alloc(flags: c_uint, access_rights: c_uint) -> c_int;
        pub(super) fn pkey_free(pkey: c_int) -> c_int;
        pub(super) fn pkey_mprotect(
            addr: *mut c_void,
            len: usize,
            prot: c_int,
            pkey: c_int,
        ) -> c_int;
        pub(super) fn pkey_set(pkey: c_int, access_rights: c_uint) -> c_int;
        pub(super) fn pkey_get(pkey: c_int) -> c_int;
    }

    /// `PKEY_DISABLE_ACCESS`: loads and stores through the key fault.
    pub(super) const DISABLE_ACCESS: c_uint = 1;
    /// `PKEY_DISABLE_WRITE`: stores through the key fault.
    pub(super) const DISABLE_WRITE: c_uint = 2;
}

/// Allocates a protection key with full access for the calling thread, or `None` where
/// the CPU, the kernel or the C library has none (or all 15 are taken): detected at run
/// time, so callers fall back to [`protect`].
pub(crate) fn pkey_alloc() -> Option<Pkey> {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
    {
        // SAFETY: `pkey_alloc` takes plain integers and touches no memory of ours.
        let key = unsafe { pkey_sys::pkey_alloc(0, 0) };
        (key > 0).then_some(Pkey(key))
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(miri))))]
    None
}

/// Frees a key from [`pkey_alloc`]. Memory still tagged with it keeps the tag, so the
/// caller unmaps that memory first.
pub(crate) fn pkey_free(key: Pkey) {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
    // SAFETY: plain integers; freeing a key touches no memory.
    let _ = unsafe { pkey_sys::pkey_free(key.0) };
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(miri))))]
    let _ = key;
}

/// Like [`protect`], and tags `[ptr, ptr + len)` with `key`, so that the calling thread's
/// rights for the key ([`pkey_set_access`]) further restrict access.
///
/// # Safety
///
/// The contract of [`protect`].
pub(crate) unsafe fn pkey_protect(
    ptr: NonNull<u8>,
    len: usize,
    access: Access,
    key: Pkey,
) -> Result<(), Unsupported> {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
    {
        let prot = match access {
            Access::None => 0,
            Access::Read => 1,          // PROT_READ
            Access::ReadWrite => 1 | 2, // PROT_READ | PROT_WRITE
        };
        // SAFETY: forwarded from the caller.
        let r = unsafe { pkey_sys::pkey_mprotect(ptr.as_ptr().cast(), len, prot, key.0) };
        if r == 0 { Ok(()) } else { Err(Unsupported) }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(miri))))]
    {
        let _ = (ptr, len, access, key);
        Err(Unsupported)
    }
}

/// Sets the calling thread's rights for memory tagged with `key` (the x86 PKRU register,
/// written without a system call). Other threads keep their own rights.
///
/// # Safety
///
/// With [`Access::None`] or [`Access::Read`], no Rust reference may be used on this
/// thread to write (or, for `None`, read) memory tagged with `key` until access is
/// restored.
pub(crate) unsafe fn pkey_set_access(key: Pkey, access: Access) -> Result<(), Unsupported> {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
    {
        let rights = match access {
            Access::None => pkey_sys::DISABLE_ACCESS,
            Access::Read => pkey_sys::DISABLE_WRITE,
            Access::ReadWrite => 0,
        };
        // SAFETY: `key` came from `pkey_alloc`; the caller upholds the access contract.
        let r = unsafe { pkey_sys::pkey_set(key.0, rights) };
        if r == 0 { Ok(()) } else { Err(Unsupported) }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(miri))))]
    {
        let _ = (key, access);
        Err(Unsupported)
    }
}

/// The calling thread's rights for memory tagged with `key` (read from the PKRU register,
/// without a system call), or `None` if they cannot be read.
pub(crate) fn pkey_access(key: Pkey) -> Option<Access> {
    #[cfg(all(target_os = "linux", target_env = "gnu", not(miri)))]
    {
        // SAFETY: `pkey_get` takes a plain integer and touches no memory of ours.
        let rights = unsafe { pkey_sys::pkey_get(key.0) };
        match u32::try_from(rights).ok()? {
            0 => Some(Access::ReadWrite),
            pkey_sys::DISABLE_WRITE => Some(Access::Read),
            _ => Some(Access::None), // access disabled, whatever the write bit says
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu", not(miri))))]
    {
        let _ = key;
        None
    }
}

/// Changes the access rights of `[ptr, ptr + len)`.
///
/// # Safety
///
/// - `ptr` is page-aligned, `len` a multiple of the page size, and the range lies inside
///   mappings made by [`map`] or [`reserve`]. With [`Access::None`] or [`Access::Read`], no
///   Rust reference may be used to write (or, for `None`, read) the range until access is
///   restored.
#[cfg_attr(not(test), allow(dead_code))] // used by the hardening strategies and tests
pub(crate) unsafe fn protect(
    ptr: NonNull<u8>,
    len: usize,
    access: Access,
) -> Result<(), Unsupported> {
    if cfg!(miri) {
        return Err(Unsupported);
    }
    let flags = match access {
        Access::None => MprotectFlags::empty(),
        Access::Read => MprotectFlags::READ,
        Access::ReadWrite => MprotectFlags::READ | MprotectFlags::WRITE,
    };
    // SAFETY: forwarded from the caller.
    unsafe { mm::mprotect(ptr.as_ptr().cast::<c_void>(), len, flags) }.map_err(|_| Unsupported)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_size_is_a_power_of_two() {
        assert!(page_size().is_power_of_two() && page_size() >= 4096);
        assert_eq!(page_size(), page_size()); // cached value agrees
    }

    #[test]
    fn map_write_unmap() {
        let len = 2 * page_size();
        let p = map(len).unwrap();
        // SAFETY: `p` is a fresh read-write mapping of `len` bytes.
        unsafe {
            assert_eq!(*p.as_ptr().add(len - 1), 0, "fresh mappings are zeroed");
            p.as_ptr().write_bytes(0xAB, len);
            assert_eq!(*p.as_ptr().add(len / 2), 0xAB);
            unmap(p, len);
        }
    }

    #[test]
    #[cfg_attr(miri, ignore = "Miri does not emulate mremap/mprotect")]
    fn remap_grows_and_protect_round_trips() {
        let page = page_size();
        let p = map(page).unwrap();
        // SAFETY: `p` is a fresh mapping of one page; the grown mapping is unmapped at its
        // new address and length.
        unsafe {
            p.as_ptr().write(7);
            let q = remap(p, page, 4 * page, true).unwrap();
            assert_eq!(*q.as_ptr(), 7, "contents survive mremap");
            protect(q, page, Access::Read).unwrap();
            assert_eq!(*q.as_ptr(), 7, "read-only pages stay readable");
            protect(q, page, Access::ReadWrite).unwrap();
            q.as_ptr().write(8);
            unmap(q, 4 * page);
        }
    }
}

/// Fork handlers are the one process-level hook this module declares itself: rustix has
/// no `pthread_atfork`, so glibc's (POSIX) function is declared here. Under Miri, which
/// cannot fork, and off Linux, [`at_fork`] registers nothing.
#[cfg(all(target_os = "linux", not(miri)))]
mod fork_sys {
    use core::ffi::c_int;

    unsafe extern "C" {
        pub(super) fn pthread_atfork(
            prepare: Option<unsafe extern "C" fn()>,
            parent: Option<unsafe extern "C" fn()>,
            child: Option<unsafe extern "C" fn()>,
        ) -> c_int;
    }
}

/// Registers handlers that `fork` runs in the forking thread: `prepare` before the fork,
/// `parent` after it in the parent and `child` after it in the child (the child's only
/// thread). False when they could not be registered.
pub(crate) fn at_fork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) -> bool {
    #[cfg(all(target_os = "linux", not(miri)))]
    {
        // SAFETY: the handlers are `extern "C"` functions that live as long as the
        // process (they are statically linked code); registering copies the pointers.
        unsafe { fork_sys::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
    }
    #[cfg(not(all(target_os = "linux", not(miri))))]
    {
        let _ = (prepare, parent, child);
        false
    }
}
