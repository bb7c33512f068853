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
///   inside mappings made by [`map`] that nothing will access again.
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
#[cfg(miri)]
mod miri_table {
    use core::ptr::NonNull;
    use std::collections::BTreeMap;
    use std::sync::Mutex;

    /// A mapping's base pointer (with the provenance of the whole mapping), its length and
    /// the bytes of it not yet unmapped.
    struct Mapping(NonNull<u8>, usize, usize);
    // SAFETY: the table only stores the pointer to hand it back to `munmap`.
    unsafe impl Send for Mapping {}

    static TABLE: Mutex<BTreeMap<usize, Mapping>> = Mutex::new(BTreeMap::new());

    pub(super) fn mapped(ptr: NonNull<u8>, len: usize) {
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        table.insert(ptr.as_ptr().addr(), Mapping(ptr, len, len));
    }

    /// Records that `[ptr, ptr + len)` was unmapped; returns the whole mapping once none of
    /// it is left.
    pub(super) fn unmapped(ptr: NonNull<u8>, len: usize) -> Option<(NonNull<u8>, usize)> {
        let mut table = TABLE.lock().unwrap_or_else(|e| e.into_inner());
        let (&base, mapping) = table.range_mut(..=ptr.as_ptr().addr()).next_back()?;
        mapping.2 = mapping.2.saturating_sub(len);
        if mapping.2 > 0 {
            return None;
        }
        let whole = (mapping.0, mapping.1);
        table.remove(&base);
        Some(whole)
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

/// Changes the access rights of `[ptr, ptr + len)`.
///
/// # Safety
///
/// - `ptr` is page-aligned, `len` a multiple of the page size, and the range lies inside
///   mappings made by [`map`]. With [`Access::None`] or [`Access::Read`], no Rust reference
///   may be used to write (or, for `None`, read) the range until access is restored.
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
