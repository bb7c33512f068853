//! `Compartment`: an isolated heap in an address range of its own, that can be sealed.
//!
//! Pick it to keep one kind of data apart from the rest of the process (keys and other
//! secrets, the state of an untrusted parser, a plugin's heap): no block of another
//! allocator or another compartment ever lies in its range, an overflow off either end
//! of the range hits a guard, and while the data is not needed the whole compartment can
//! be made inaccessible ([`seal`](Compartment::seal)) or read-only
//! ([`seal_read_only`](Compartment::seal_read_only)).
//!
//! ## Design
//!
//! - **The reservation.** [`Compartment::new`] reserves `guard + range + guard` bytes of
//!   address space in one anonymous `PROT_NONE`, `MAP_NORESERVE` mapping (`os::reserve`):
//!   it costs no memory until used. The guards (64 KiB each) stay inaccessible forever.
//!   The kernel never hands out an address twice while it is mapped, so two compartments
//!   never share a page, and nothing else is ever placed inside one.
//! - **The heap.** Allocation is the [`FreeList`] (TLSF) heap, unchanged, over a private
//!   backing allocator, the *region source*: a bump pointer over the range that hands the
//!   heap page-rounded regions and makes their pages read-write as it goes (*commits*
//!   them). Everything below the high-water mark of the bump pointer is committed; nothing
//!   above it is accessible.
//! - **Regions given back.** The heap returns a region once it is wholly free (it keeps
//!   one in reserve). The source lowers the bump pointer if the region is the topmost;
//!   otherwise it keeps the region on a small free list of spans (a fixed array of 32
//!   `(offset, length)` pairs, merged with their neighbours) and hands it out again
//!   first-fit. The pages stay committed: address space inside the range is reused, never
//!   given back to the OS before the compartment is dropped. Should the span list be full,
//!   the region's address space is simply not reused (a leak of address space, never of
//!   another compartment's).
//! - **Sealing.** Where the CPU and kernel have memory protection keys (x86 PKU, Linux
//!   `pkey_alloc`), the compartment takes a key at creation and tags its range with it
//!   (`pkey_mprotect`); sealing then rewrites the calling thread's rights register (PKRU),
//!   with no system call. Without keys (detected at run time: `pkey_alloc` fails, or all
//!   15 keys are taken), sealing `mprotect`s the committed part of the range.
//!   [`protection`](Compartment::protection) reports which is in use, and
//!   [`try_with_mprotect`](Compartment::try_with_mprotect) asks for `mprotect` anyway.
//! - **One state, whichever thread holds it.** A `Compartment` is `Send`, and keeps one
//!   state (open, read-only, sealed). With `mprotect` the pages carry it, for every
//!   thread at once. With keys the rights live in a register of each thread, so the
//!   compartment carries the state itself: every method that depends on it (`allocate`,
//!   `deallocate`, `grow`, `shrink`, [`is_open`](Compartment::is_open),
//!   `check_invariants`) first makes the calling thread's rights for the key agree with
//!   it (one `rdpkru`, and a `wrpkru` only when they differ), and the seals and the
//!   unseal write them. So a compartment sealed on one thread and sent to
//!   another is sealed there from its first call; an unseal on any thread opens it for
//!   the next thread that calls it; and the heap never touches its range from a thread
//!   whose register would fault (a thread started before the key existed has no rights
//!   for it: Linux starts a process with every key but key 0 disabled). Making this
//!   thread's rights stricter than its register's breaks no reference: the contract of
//!   `seal` already forbids the references that a seal would break, on every thread. What
//!   the compartment cannot reach is a thread that touches its blocks without calling
//!   it (raw pointers handed over by unsafe code, or the contents of a
//!   `Box<T, Compartment>` it received): that thread has the rights its own register
//!   holds, inherited from the thread that started it. Such a thread calls
//!   [`is_open`](Compartment::is_open) first, or the compartment is made with
//!   [`try_with_mprotect`](Compartment::try_with_mprotect).
//! - **While sealed** the compartment never touches its memory: `allocate`, `grow` and
//!   `shrink` return `AllocError`, `deallocate` leaves the block allocated (a leak the
//!   `Allocator` contract allows), and dropping it just unmaps the reservation (the heap's
//!   bookkeeping lives in the range and needs no tearing down).
//!
//! ## Sealing and live references: why `seal` is `unsafe`
//!
//! A read or write the program performs on sealed memory (through a raw pointer; of
//! references, below) faults before any byte moves,
//! and the process stops with `SIGSEGV`, as when a stack overflow hits its guard page.
//! That is the protection working. (A `SIGSEGV` handler that resumes execution is on its
//! own.)
//!
//! The hazard is the accesses the program does *not* perform. rustc marks a `&T` argument
//! (of a type without `UnsafeCell`) and a `&mut T` argument `dereferenceable` for the whole
//! call, and LLVM defines that as "can be loaded from speculatively without a risk of
//! trapping"; Rust's aliasing models likewise protect a reference argument until the call
//! returns. LLVM acts on it: with the toolchain of this repository at `-O`, a function
//! `f(x: &u64, n: u64)` that seals, then loops `n` times reading `*x` only when
//! `i == 1_000_000`, gets the load hoisted out of the loop, after the seal, and dies for
//! `n = 10`, although the program never reads `*x` while sealed. Making memory behind a
//! live reference unreadable breaks a promise the compiler relies on: by the rules that is
//! undefined behaviour, and a crash is only what it happens to do today. Read-only sealing
//! has the same hazard for `&mut T`: rustc can also declare those arguments `writable`
//! (`-Zllvm-writable`, rust-lang/unsafe-code-guidelines#584), which licenses stores the
//! program does not make.
//!
//! A safe `seal(&self)` can be reached with such a reference live (a function that takes
//! `&u64` and `&Compartment`), so it would be unsound. The alternatives were weighed:
//!
//! - `seal(&mut self)` is sound (every `Box`, `Vec` or reference obtained through
//!   `&Compartment` borrows it), but then nothing except raw pointers survives a seal,
//!   which defeats the purpose: data kept in the compartment while it is locked away.
//! - Access only through handles that are not references (a guard that unseals for a
//!   closure) rules out the std collections that take `&Compartment` as their allocator.
//! - Keeping it safe and calling the fault "only a crash" is not an argument the rules
//!   support, as above.
//!
//! So [`seal`](Compartment::seal) and [`seal_read_only`](Compartment::seal_read_only) are
//! `unsafe fn`s whose contract is exactly what the compiler needs: while sealed, no
//! reference to the compartment's memory exists (for read-only: no `&mut` one). Boxes and
//! collections over the compartment hold raw pointers, so they may be kept, moved and
//! dropped meanwhile, as long as nothing reads their contents. [`unseal`](Compartment::unseal)
//! stays safe: granting access breaks no promise. The compartment itself keeps the
//! contract: while sealed it holds no reference into its range and touches none of it.
//!
//! ## Miri
//!
//! Miri cannot change page protections: there the range is mapped read-write from the
//! start, allocation works unchanged, [`protection`](Compartment::protection) reports
//! [`Protection::Unavailable`] and sealing returns [`SealError`].

use core::cell::Cell;
use core::mem::ManuallyDrop;
use core::ops::Range;
use core::ptr::NonNull;

use crate::api::{AllocError, Allocator, Layout, dangling};
use crate::free_list::FreeList;
use crate::os::{self, Access, Pkey};

/// Bytes of each guard gap around the range (rounded up to the page size).
const GUARD: usize = 64 << 10;
/// Returned regions the source remembers for reuse.
const SPANS: usize = 32;

/// How a [`Compartment`] seals its memory, chosen at run time.
///
/// ```
/// use allockit::{Compartment, Protection};
/// let c = Compartment::try_with_mprotect(1 << 16).unwrap();
/// assert!(matches!(c.protection(), Protection::Mprotect | Protection::Unavailable));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `mprotect` on the committed part of the range: one system call per seal or unseal,
    /// and the seal holds for every thread.
    Mprotect,
    /// A memory protection key: seal and unseal write the calling thread's rights register
    /// without a system call. The state follows the compartment to the thread that holds
    /// it: each method applies it to the calling thread's register first. A thread that
    /// reaches blocks without calling the compartment has its own register's rights.
    ProtectionKeys,
    /// The platform cannot change page protections (Miri): sealing fails with
    /// [`SealError`]; allocation works.
    Unavailable,
}

/// The OS refused to change the compartment's protection (or cannot, under Miri). The
/// compartment keeps its previous state.
///
/// ```
/// use allockit::{Compartment, Protection, SealError};
/// let c = Compartment::new(1 << 16);
/// let r: Result<(), SealError> = c.unseal();
/// assert_eq!(r.is_err(), c.protection() == Protection::Unavailable);
/// assert_eq!(SealError.to_string(), "the compartment's protection could not be changed");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SealError;

impl core::fmt::Display for SealError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("the compartment's protection could not be changed")
    }
}

impl core::error::Error for SealError {}

/// The backing allocator of a compartment's heap: page-rounded regions from a bump pointer
/// over the range, committed (made read-write) on first use.
struct RegionSource {
    /// The first byte of the range, with the provenance of the whole reservation.
    base: NonNull<u8>,
    /// Bytes in the range: a non-zero multiple of `page`.
    len: usize,
    /// The bump pointer, as an offset: `[0, cursor)` is handed out or on `spans`;
    /// `cursor <= committed`.
    cursor: Cell<usize>,
    /// Offset of the high-water mark: `[0, committed)` is read-write (while the
    /// compartment is open), `[committed, len)` inaccessible. `committed <= len`.
    committed: Cell<usize>,
    /// `spans[..span_count]`: regions given back below `cursor`, as `(offset, length)`,
    /// page-aligned, disjoint and never adjacent to each other nor ending at `cursor`.
    spans: Cell<[(usize, usize); SPANS]>,
    /// How many entries of `spans` are live.
    span_count: Cell<usize>,
    /// The range's protection key, if sealing uses keys.
    key: Option<Pkey>,
    /// The page size.
    page: usize,
}

impl RegionSource {
    /// Makes `[from, to)` read-write (and tagged with the key, if any).
    fn commit(&self, from: usize, to: usize) -> Result<(), AllocError> {
        // SAFETY: `from < to <= len`: the offset stays inside the reservation.
        let ptr = unsafe { self.base.add(from) };
        // SAFETY: `from` and `to` are page-aligned offsets inside the reservation's range
        // (`to <= len`), which lies in a mapping made by `os::reserve`; granting access
        // invalidates no reference.
        unsafe {
            match self.key {
                Some(key) => os::pkey_protect(ptr, to - from, Access::ReadWrite, key),
                None => os::protect(ptr, to - from, Access::ReadWrite),
            }
        }
        .map_err(|_| AllocError)
    }

    /// First fit among the spans given back, taking `size` bytes from the front of one.
    fn take_span(&self, size: usize) -> Option<usize> {
        let mut spans = self.spans.get();
        let n = self.span_count.get();
        let i = spans[..n].iter().position(|&(_, len)| len >= size)?;
        let (off, len) = spans[i];
        if len == size {
            spans[i] = spans[n - 1];
            self.span_count.set(n - 1);
        } else {
            spans[i] = (off + size, len - size);
        }
        self.spans.set(spans);
        Some(off)
    }

    /// Gives `[off, off + size)` back: lowers the bump pointer, or keeps it as a span.
    fn give_back(&self, mut off: usize, mut size: usize) {
        let mut spans = self.spans.get();
        let mut n = self.span_count.get();
        // Merge with the spans right before and right after it.
        let mut i = 0;
        while i < n {
            let (s, l) = spans[i];
            if s + l == off || off + size == s {
                off = off.min(s);
                size += l;
                spans[i] = spans[n - 1];
                n -= 1;
            } else {
                i += 1;
            }
        }
        if off + size == self.cursor.get() {
            self.cursor.set(off);
        } else if n < SPANS {
            spans[n] = (off, size);
            n += 1;
        } // else: the span list is full; this address space is not reused.
        self.spans.set(spans);
        self.span_count.set(n);
    }
}

// SAFETY: regions are page-rounded, page-aligned (so `REGION_ALIGN`-aligned, and any
// alignment up to the page size) and disjoint parts of the range, handed out once until
// given back; the range stays mapped while the source lives (it is unmapped only by
// `Compartment::drop`, after the last use of the heap), and moving the source moves no
// memory.
unsafe impl Allocator for RegionSource {
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        if layout.align() > self.page {
            return Err(AllocError);
        }
        let size = layout
            .size()
            .checked_next_multiple_of(self.page)
            .ok_or(AllocError)?;
        let off = match self.take_span(size) {
            Some(off) => off,
            None => {
                let off = self.cursor.get();
                let end = off
                    .checked_add(size)
                    .filter(|&e| e <= self.len)
                    .ok_or(AllocError)?;
                if end > self.committed.get() {
                    self.commit(self.committed.get(), end)?;
                    self.committed.set(end);
                }
                self.cursor.set(end);
                off
            }
        };
        // SAFETY: `off + size <= len` (a span or the bump): inside the reservation.
        let ptr = unsafe { self.base.add(off) };
        Ok(NonNull::slice_from_raw_parts(ptr, size))
    }

    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        let off = ptr.as_ptr().addr() - self.base.as_ptr().addr();
        // The caller passes a region handed out for this layout: the size rounds the same.
        self.give_back(off, layout.size().next_multiple_of(self.page));
    }
}

// SAFETY: the source only hands out parts of a reservation owned by its compartment;
// sending it sends nothing shared. It is not `Sync` (its `Cell`s).
unsafe impl Send for RegionSource {}

/// An isolated heap in an address range of its own, with guard gaps around it, that can
/// be sealed: made inaccessible or read-only until unsealed. Blocks come from a
/// [`FreeList`] heap over the range, so they are freed individually and merged.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::{Compartment, Protection};
///
/// let secrets = Compartment::new(1 << 20); // 1 MiB of address space, used on demand
/// let mut key = Vec::new_in(&secrets);
/// key.extend_from_slice(b"correct horse battery staple");
/// assert!(secrets.contains(key.as_ptr()));
///
/// if secrets.protection() != Protection::Unavailable {
///     // SAFETY: no reference into `secrets` is live, and none is made until the
///     // read-only seal below.
///     unsafe { secrets.seal() }.unwrap(); // now any access to `key`'s bytes faults...
///     assert!(secrets.allocate(core::alloc::Layout::new::<u8>()).is_err());
///     // SAFETY: no `&mut` into `secrets` is live, and none is made until the unseal.
///     unsafe { secrets.seal_read_only() }.unwrap(); // ...now reads work, writes fault...
///     assert_eq!(&key[..7], b"correct");
///     secrets.unseal().unwrap(); // ...and now it is an ordinary heap again.
/// }
/// key.push(b'!');
/// # use allockit::Allocator;
/// ```
///
/// A `Compartment` is `Send` but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Compartment>();
/// ```
pub struct Compartment {
    /// The heap; its backing allocator is the region source over the range. Never dropped:
    /// all its state lives in the range or inline, and the range is unmapped whole.
    heap: ManuallyDrop<FreeList<RegionSource>>,
    /// The rights the range has now: `ReadWrite` when open. With protection keys, the
    /// calling thread's register is made to agree with it by [`enter`](Self::enter).
    state: Cell<Access>,
    /// The whole reservation, guards included: `[mapping, mapping + mapping_len)`.
    mapping: NonNull<u8>,
    /// Bytes of the reservation.
    mapping_len: usize,
}

// SAFETY: a compartment exclusively owns its reservation and its heap, whose pointers
// point only into the reservation; sending it sends that ownership. It is not `Sync`: the
// heap and the state are in cells.
unsafe impl Send for Compartment {}

impl Compartment {
    /// A compartment whose range holds `reserve_bytes` (rounded up to whole pages), sealing
    /// with protection keys where the CPU and kernel have them, else with `mprotect`.
    ///
    /// Only address space is reserved; pages are committed as the heap needs them. The
    /// heap's headers and alignment slack live in the range too, so the blocks it can hold
    /// add up to somewhat less than `reserve_bytes`.
    ///
    /// # Panics
    ///
    /// If the address space cannot be reserved (like `Vec::with_capacity`); see
    /// [`try_new`](Self::try_new).
    ///
    /// ```
    /// let c = allockit::Compartment::new(4096);
    /// assert!(c.range().len() >= 4096);
    /// ```
    #[track_caller]
    pub fn new(reserve_bytes: usize) -> Self {
        match Self::try_new(reserve_bytes) {
            Ok(c) => c,
            Err(_) => panic!("Compartment::new: could not reserve {reserve_bytes} bytes"),
        }
    }

    /// Like [`new`](Self::new), but returns `AllocError` instead of panicking when the
    /// address space cannot be reserved.
    ///
    /// ```
    /// use allockit::Compartment;
    /// assert!(Compartment::try_new(usize::MAX).is_err());
    /// assert!(Compartment::try_new(1 << 20).is_ok());
    /// ```
    pub fn try_new(reserve_bytes: usize) -> Result<Self, AllocError> {
        Self::create(reserve_bytes, true)
    }

    /// Like [`try_new`](Self::try_new), but seals with `mprotect` even where protection
    /// keys exist, so that a seal holds for every thread of the process (at the cost of a
    /// system call per seal and unseal).
    ///
    /// ```
    /// use allockit::{Compartment, Protection};
    /// let c = Compartment::try_with_mprotect(1 << 20)?;
    /// assert_ne!(c.protection(), Protection::ProtectionKeys);
    /// # Ok::<(), allockit::AllocError>(())
    /// ```
    pub fn try_with_mprotect(reserve_bytes: usize) -> Result<Self, AllocError> {
        Self::create(reserve_bytes, false)
    }

    /// Reserves the range and its guards, and takes a protection key if `keys` allows.
    fn create(reserve_bytes: usize, keys: bool) -> Result<Self, AllocError> {
        let page = os::page_size();
        let guard = GUARD.next_multiple_of(page);
        let len = reserve_bytes
            .max(1)
            .checked_next_multiple_of(page)
            .filter(|&len| len <= isize::MAX as usize / 2)
            .ok_or(AllocError)?;
        let mapping_len = len + 2 * guard;
        let mapping = os::reserve(mapping_len).map_err(|_| AllocError)?;
        // SAFETY: `guard < mapping_len`: inside the fresh reservation.
        let base = unsafe { mapping.add(guard) };
        let key = if keys { os::pkey_alloc() } else { None };
        // SAFETY: the range is part of the fresh reservation, page-aligned and
        // page-rounded; nothing refers to it yet. Tagging it leaves it inaccessible.
        let key = key.filter(
            |&k| match unsafe { os::pkey_protect(base, len, Access::None, k) } {
                Ok(()) => true,
                Err(_) => {
                    os::pkey_free(k);
                    false
                }
            },
        );
        let source = RegionSource {
            base,
            len,
            cursor: Cell::new(0),
            // Under Miri the reservation is read-write already and cannot be protected.
            committed: Cell::new(if cfg!(miri) { len } else { 0 }),
            spans: Cell::new([(0, 0); SPANS]),
            span_count: Cell::new(0),
            key,
            page,
        };
        Ok(Compartment {
            heap: ManuallyDrop::new(FreeList::new_in(source)),
            state: Cell::new(Access::ReadWrite),
            mapping,
            mapping_len,
        })
    }

    /// The region source.
    #[inline(always)]
    fn source(&self) -> &RegionSource {
        self.heap.backing()
    }

    /// How this compartment seals: [`Protection::ProtectionKeys`] if it got a key,
    /// [`Protection::Mprotect`] if not, [`Protection::Unavailable`] under Miri.
    ///
    /// ```
    /// use allockit::{Compartment, Protection};
    /// let c = Compartment::new(1 << 16);
    /// if c.protection() == Protection::ProtectionKeys {
    ///     println!("sealing is a register write on this thread");
    /// }
    /// ```
    pub fn protection(&self) -> Protection {
        if cfg!(miri) {
            Protection::Unavailable
        } else if self.source().key.is_some() {
            Protection::ProtectionKeys
        } else {
            Protection::Mprotect
        }
    }

    /// The address range every block of this compartment lies in (guards excluded).
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let c = allockit::Compartment::new(1 << 16);
    /// let b = Box::new_in(5u64, &c);
    /// assert!(c.range().contains(&(&*b as *const u64 as usize)));
    /// assert!(c.range().len() >= 1 << 16);
    /// ```
    pub fn range(&self) -> Range<usize> {
        let s = self.source();
        s.base.as_ptr().addr()..s.base.as_ptr().addr() + s.len
    }

    /// The whole address range reserved, guards included; no other mapping overlaps it.
    ///
    /// ```
    /// let (a, b) = (allockit::Compartment::new(4096), allockit::Compartment::new(4096));
    /// let (ra, rb) = (a.reservation(), b.reservation());
    /// assert!(ra.end <= rb.start || rb.end <= ra.start);
    /// ```
    pub fn reservation(&self) -> Range<usize> {
        let start = self.mapping.as_ptr().addr();
        start..start + self.mapping_len
    }

    /// Whether `ptr` points into the compartment's range.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let c = allockit::Compartment::new(1 << 16);
    /// let b = Box::new_in(1u32, &c);
    /// assert!(c.contains(&*b as *const u32 as *const u8));
    /// assert!(!c.contains(&0u8));
    /// ```
    pub fn contains(&self, ptr: *const u8) -> bool {
        self.range().contains(&ptr.addr())
    }

    /// Bytes of the range made accessible so far (the high-water mark of the heap).
    ///
    /// ```
    /// let c = allockit::Compartment::new(1 << 20);
    /// let v = allocator_api2::vec::Vec::<u8, _>::with_capacity_in(10_000, &c);
    /// assert!(c.committed_bytes() >= 10_000, "pages are committed as the heap grows");
    /// assert!(c.committed_bytes() <= c.range().len());
    /// # drop(v);
    /// ```
    pub fn committed_bytes(&self) -> usize {
        self.source().committed.get()
    }

    /// Whether the compartment is open (not sealed, not read-only).
    ///
    /// With protection keys it also applies the compartment's state to the calling thread's
    /// rights, as every method does: a thread that received the compartment calls it
    /// before touching blocks it reached without the compartment.
    ///
    /// ```
    /// let c = allockit::Compartment::new(1 << 16);
    /// assert!(c.is_open());
    /// // SAFETY: no reference into `c` exists.
    /// if unsafe { c.seal() }.is_ok() {
    ///     assert!(!c.is_open());
    ///     c.unseal().unwrap();
    /// }
    /// assert!(c.is_open());
    /// ```
    #[inline]
    pub fn is_open(&self) -> bool {
        self.enter();
        self.state.get() == Access::ReadWrite
    }

    /// With protection keys, makes the calling thread's rights for the key agree with
    /// the compartment's state. Every method that depends on the state calls it first.
    #[inline(always)]
    fn enter(&self) {
        if let Some(key) = self.source().key {
            self.sync_rights(key);
        }
    }

    /// The body of [`enter`](Self::enter): a register read, and a write if they differ.
    #[inline(never)]
    fn sync_rights(&self, key: Pkey) {
        let state = self.state.get();
        if os::pkey_access(key) != Some(state) {
            // SAFETY: `key` tags this compartment's range only. Sealed (or read-only), the
            // contract of `seal` (or `seal_read_only`) forbids, on every thread, the
            // references these rights would break; open, granting access breaks nothing.
            // A failure leaves the register as it was: the heap's own accesses then fault,
            // which stops the process.
            let _ = unsafe { os::pkey_set_access(key, state) };
        }
    }

    /// Makes the whole compartment inaccessible: any read or write of its memory faults
    /// (`SIGSEGV`) until [`unseal`](Self::unseal). With protection keys, for this thread
    /// and for any other from its first call of a method of the compartment (see
    /// [`Protection::ProtectionKeys`]). Allocation fails meanwhile, and freed blocks stay
    /// allocated.
    ///
    /// # Safety
    ///
    /// Until the compartment is unsealed or dropped, no reference (`&T` or `&mut T`) to
    /// its memory may exist: none may be live across this call (held in a variable or a
    /// struct, or an argument of a function still running further up the stack), and none
    /// may be created before the unseal. The compiler may read through a live reference at
    /// any time, even where the program does not (see the module docs).
    ///
    /// Boxes and collections allocated in the compartment hold raw pointers: they may be
    /// kept, moved and dropped while it is sealed, as long as nothing reads or writes their
    /// contents (no indexing, no `Deref`, no dropping elements that need dropping). Dropping
    /// frees nothing while sealed: the blocks stay allocated.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let c = allockit::Compartment::new(1 << 16);
    /// let mut secret = Vec::new_in(&c);
    /// secret.extend_from_slice(b"hunter2");
    /// // SAFETY: no reference into `c` is live, and `secret` is not read until the unseal.
    /// if unsafe { c.seal() }.is_ok() {
    ///     c.unseal().unwrap();
    /// }
    /// assert_eq!(secret, b"hunter2");
    /// ```
    ///
    /// A safe call no longer compiles (before 0.2, `seal` took `&self` and was safe):
    ///
    /// ```compile_fail,E0133
    /// use allocator_api2::boxed::Box;
    /// fn sum(x: &u64, c: &allockit::Compartment) -> u64 {
    ///     c.seal().unwrap(); // `x` is live and marked dereferenceable for the whole call
    ///     *x
    /// }
    /// let c = allockit::Compartment::new(4096);
    /// let b = Box::new_in(7u64, &c);
    /// sum(&b, &c);
    /// ```
    pub unsafe fn seal(&self) -> Result<(), SealError> {
        // SAFETY: the caller keeps the contract of `seal`.
        unsafe { self.set_access(Access::None) }
    }

    /// Makes the whole compartment read-only: reads succeed, writes fault, until
    /// [`unseal`](Self::unseal), on every thread as for [`seal`](Self::seal). Allocation
    /// fails meanwhile, and freed blocks stay allocated.
    ///
    /// # Safety
    ///
    /// The contract of [`seal`](Self::seal), for mutable references only: until the
    /// compartment is unsealed or dropped, no `&mut T` to its memory may exist (none live
    /// across this call, none created before the unseal), since the compiler may write
    /// through one where the program does not. Shared references stay valid: reads work.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// let c = allockit::Compartment::new(1 << 16);
    /// let mut table = Vec::new_in(&c);
    /// table.extend([1u32, 2, 3]);
    /// // SAFETY: no `&mut` into `c` is live, and none is made until the unseal.
    /// if unsafe { c.seal_read_only() }.is_ok() {
    ///     assert_eq!(table.iter().sum::<u32>(), 6, "reads work");
    ///     assert!(!c.is_open());
    ///     c.unseal().unwrap();
    /// }
    /// table.push(4);
    /// ```
    pub unsafe fn seal_read_only(&self) -> Result<(), SealError> {
        // SAFETY: the caller keeps the contract of `seal_read_only`.
        unsafe { self.set_access(Access::Read) }
    }

    /// Makes the compartment readable and writable again, from whichever thread holds it
    /// (with protection keys, for the others from their next call of one of its methods).
    ///
    /// ```
    /// let c = allockit::Compartment::new(1 << 16);
    /// let b = allocator_api2::boxed::Box::new_in(1u8, &c);
    /// // SAFETY: no reference into `c` is live, and `b` is not read until the unseal.
    /// if unsafe { c.seal() }.is_ok() {
    ///     assert!(c.unseal().is_ok());
    /// }
    /// assert_eq!(*b, 1);
    /// ```
    pub fn unseal(&self) -> Result<(), SealError> {
        // SAFETY: granting read and write access invalidates no reference.
        unsafe { self.set_access(Access::ReadWrite) }
    }

    /// Applies `access` to the committed range (or to this thread's key rights).
    ///
    /// # Safety
    ///
    /// With [`Access::None`], the contract of [`seal`](Self::seal); with [`Access::Read`],
    /// that of [`seal_read_only`](Self::seal_read_only).
    unsafe fn set_access(&self, access: Access) -> Result<(), SealError> {
        let s = self.source();
        let done = match (self.protection(), s.key) {
            (Protection::Unavailable, _) => Err(SealError),
            // SAFETY: `key` tags this compartment's range only. The caller guarantees that
            // no reference the access forbids points into it; the compartment holds none
            // and, while sealed, touches none of it (`allocate`, `grow`, `shrink` fail,
            // `deallocate` leaks, `drop` only unmaps).
            (_, Some(key)) => unsafe { os::pkey_set_access(key, access) }.map_err(|_| SealError),
            (_, None) if s.committed.get() == 0 => Ok(()),
            (_, None) => {
                // SAFETY: `[base, base + committed)` is page-aligned and page-rounded inside
                // the reservation; the same argument as for keys holds while it is sealed.
                unsafe { os::protect(s.base, s.committed.get(), access) }.map_err(|_| SealError)
            }
        };
        done.map(|()| self.state.set(access))
    }

    /// Walks the heap and panics if an invariant is broken (see
    /// [`FreeList::check_invariants`]), and if a region lies outside the range. For tests.
    ///
    /// # Panics
    ///
    /// Also if the compartment is sealed: its heap cannot be read then.
    ///
    /// ```
    /// let c = allockit::Compartment::new(1 << 16);
    /// let mut v = allocator_api2::vec::Vec::new_in(&c);
    /// v.extend(0..1000u32);
    /// c.check_invariants();
    /// ```
    pub fn check_invariants(&self) {
        assert!(self.is_open(), "Compartment::check_invariants while sealed");
        self.heap.check_invariants();
        let s = self.source();
        assert!(s.cursor.get() <= s.committed.get() && s.committed.get() <= s.len);
        let spans = s.spans.get();
        for &(off, len) in &spans[..s.span_count.get()] {
            assert!(off + len < s.cursor.get() && len > 0, "span {off}+{len}");
        }
    }
}

impl Drop for Compartment {
    fn drop(&mut self) {
        // The heap is not dropped (`ManuallyDrop`): it owns nothing outside the range, so
        // unmapping the range frees everything, sealed or not, on any thread.
        let key = self.source().key;
        // SAFETY: the reservation came from `os::reserve` with this length; every block
        // borrowed `self`, so none is used after this, and the heap is never used again.
        unsafe { os::unmap(self.mapping, self.mapping_len) };
        if let Some(key) = key {
            os::pkey_free(key);
        }
    }
}

impl core::fmt::Debug for Compartment {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Compartment")
            .field("range", &self.range())
            .field("protection", &self.protection())
            .field("state", &self.state.get())
            .field("committed_bytes", &self.committed_bytes())
            .finish_non_exhaustive()
    }
}

// SAFETY: blocks come from the `FreeList` heap (which keeps the contract) over regions of
// this compartment's range, which stays mapped until the compartment is dropped; moving
// the compartment moves no memory. While sealed, nothing is allocated or resized (errors)
// and nothing is freed (a leak), so the heap never touches sealed memory.
unsafe impl Allocator for Compartment {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !self.is_open() {
            return sealed(layout);
        }
        self.heap.allocate(layout)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if !self.is_open() {
            return sealed(layout);
        }
        self.heap.allocate_zeroed(layout)
    }

    #[inline]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if self.is_open() {
            // SAFETY: forwarded from the caller: `ptr` is a live block of the heap.
            unsafe { self.heap.deallocate(ptr, layout) }
        }
    }

    forward_resizing!(self => self.heap, unless !self.is_open() => Err(AllocError));
}

/// What allocation returns while sealed: a dangling block for a zero size, else an error.
#[cold]
fn sealed(layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
    if layout.size() == 0 {
        Ok(dangling(layout))
    } else {
        Err(AllocError)
    }
}

mirror_core_allocator!(impl[] for Compartment);

// SAFETY: every block of a compartment lies inside its reserved range, which no other
// mapping overlaps and which only its own heap hands out; the compartment is held by
// value, so no other allocator is built inside it.
unsafe impl crate::Owns for Compartment {
    #[inline(always)]
    fn owns(&self, ptr: NonNull<u8>, _: Layout) -> bool {
        self.contains(ptr.as_ptr())
    }
}

#[cfg(test)]
mod tests;
