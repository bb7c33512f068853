//! Guard-paged blocks for a [`Hardened`](super::Hardened) heap: each large block is a
//! mapping of its own with a `PROT_NONE` page on either side, placed so the block's end
//! abuts the trailing guard page as closely as its alignment allows. The few bytes of
//! slack (between the page start and the block, and between the block's end and the
//! guard) hold the block's canary pattern, checked when it is freed. Also the zero-size
//! page: one `PROT_NONE` page per heap that zero-size blocks point into.
//!
//! Under Miri `os::protect` is unsupported; the guard pages then stay ordinary memory
//! (still never handed out, and still covered by the slack canaries).

use core::ptr::NonNull;

use crate::api::AllocError;
use crate::os::{self, Access};

/// `[lo, hi)`: the whole mapping of a large block at `user` of `size` bytes, guards
/// included.
#[inline]
fn extent(user: *mut u8, size: usize, page: usize) -> (*mut u8, usize) {
    let addr = user.addr();
    let lo = addr - addr % page - page;
    let hi = (addr + size).next_multiple_of(page) + page;
    (user.wrapping_sub(addr - lo), hi - lo)
}

/// The canary byte for offset `i` of a slack run (the first trailing byte is byte 0 of
/// the canary, which is zero).
#[inline]
fn pattern(canary: u64, i: usize) -> u8 {
    canary.to_le_bytes()[i % 8]
}

/// The two slack runs of a block: `[page start, user)` and `[user + size, guard)`.
fn slack(user: *mut u8, size: usize, page: usize) -> [(*mut u8, usize); 2] {
    let addr = user.addr();
    let head = addr % page;
    let end = addr + size;
    let tail = end.next_multiple_of(page) - end;
    [
        (user.wrapping_sub(head), head),
        (user.wrapping_add(size), tail),
    ]
}

/// Maps a guard-paged block of `size > 0` bytes aligned to `align`, filling its slack
/// with the pattern of `canary`.
pub(super) fn map(size: usize, align: usize, canary: u64) -> Result<NonNull<u8>, AllocError> {
    let page = os::page_size();
    let data = size.checked_next_multiple_of(page).ok_or(AllocError)?;
    let extra = align.saturating_sub(page);
    let len = data
        .checked_add(2 * page)
        .and_then(|n| n.checked_add(extra))
        .filter(|&n| n <= isize::MAX as usize)
        .ok_or(AllocError)?;
    let base = os::map(len).map_err(|_| AllocError)?.as_ptr();
    let user_addr = if align <= page {
        (base.addr() + page + data - size) & !(align - 1)
    } else {
        (base.addr() + page).next_multiple_of(align)
    };
    let user = base.wrapping_add(user_addr - base.addr());
    let (lo, span) = extent(user, size, page);
    let head = lo.addr() - base.addr();
    let tail = len - head - span;
    // SAFETY: `[base, base + len)` is the mapping just made; the trimmed head and tail lie
    // inside it, are page-aligned multiples of the page size, and are never touched again.
    // The guard pages are inside the kept part and nothing refers to them.
    unsafe {
        if head > 0 {
            os::unmap(NonNull::new_unchecked(base), head);
        }
        if tail > 0 {
            os::unmap(NonNull::new_unchecked(lo.add(span)), tail);
        }
        // Without mprotect (Miri) the guards stay readable; nothing hands them out.
        let _ = os::protect(NonNull::new_unchecked(lo), page, Access::None);
        let _ = os::protect(
            NonNull::new_unchecked(lo.add(span - page)),
            page,
            Access::None,
        );
    }
    for (start, n) in slack(user, size, page) {
        for i in 0..n {
            // SAFETY: the slack runs lie in the read-write data pages of the mapping.
            unsafe { start.add(i).write(pattern(canary, i)) };
        }
    }
    // SAFETY: `user` lies inside the mapping, which is not at address zero.
    Ok(unsafe { NonNull::new_unchecked(user) })
}

/// Whether the slack around a live (or unsealed) block still holds its canary pattern.
///
/// # Safety
///
/// - `user`/`size` describe a block made by [`map`] and not yet unmapped or sealed.
pub(super) unsafe fn slack_intact(user: *mut u8, size: usize, canary: u64) -> bool {
    let mut intact = true;
    for (start, n) in slack(user, size, os::page_size()) {
        for i in 0..n {
            // SAFETY: the slack lies in the block's read-write data pages (caller).
            intact &= unsafe { start.add(i).read() } == pattern(canary, i);
        }
    }
    intact
}

/// Makes a freed block's pages inaccessible while it waits in quarantine; false when the
/// OS cannot (Miri).
///
/// # Safety
///
/// - as for [`slack_intact`]; nothing may access the block until it is unmapped.
pub(super) unsafe fn seal(user: *mut u8, size: usize) -> bool {
    let page = os::page_size();
    let (lo, span) = extent(user, size, page);
    // SAFETY: the data pages `[lo + page, lo + span - page)` are inside the block's
    // mapping (caller), and the caller promises no access until unmapping.
    unsafe {
        os::protect(
            NonNull::new_unchecked(lo.add(page)),
            span - 2 * page,
            Access::None,
        )
    }
    .is_ok()
}

/// Unmaps a block made by [`map`], guards included.
///
/// # Safety
///
/// - `user`/`size` describe a block made by [`map`] and not yet unmapped; nothing
///   accesses it again.
pub(super) unsafe fn unmap(user: *mut u8, size: usize) {
    let (lo, span) = extent(user, size, os::page_size());
    // SAFETY: `[lo, lo + span)` is exactly the block's mapping (caller).
    unsafe { os::unmap(NonNull::new_unchecked(lo), span) }
}

/// Maps the heap's zero-size page, inaccessible where the OS allows.
pub(super) fn map_zero_page() -> Option<NonNull<u8>> {
    let page = os::page_size();
    let p = os::map(page).ok()?;
    // SAFETY: `p` is a fresh one-page mapping that nothing accesses (zero-size blocks
    // pointing into it have no bytes).
    let _ = unsafe { os::protect(p, page, Access::None) };
    Some(p)
}

/// Unmaps the zero-size page.
///
/// # Safety
///
/// - `p` came from [`map_zero_page`] and is not used again.
pub(super) unsafe fn unmap_zero_page(p: NonNull<u8>) {
    // SAFETY: forwarded from the caller.
    unsafe { os::unmap(p, os::page_size()) }
}
