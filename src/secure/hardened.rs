//! `Hardened`: a wrapper that turns heap bugs into loud, immediate failures.
//!
//! ## Design
//!
//! `Hardened<A>` wraps any strategy `A` and records, **out of line**, every block it
//! handed out (`hardened/map.rs`): its requested layout and state, in mappings of their
//! own so that an overflow out of a user block cannot reach them. Ordinary blocks are
//! found through a direct **block map** (a 32-bit entry per 16 bytes of address space,
//! leaves per 16 MiB chunk); blocks of 16 MiB and more and the guard-paged large blocks
//! through a hash table (`hardened/table.rs`). Each feature and what it costs (measured
//! by `cargo bench --bench hardened` over `SizeClasses`):
//!
//! - **Invalid and double free detection** (always on): every `deallocate`, `grow` and
//!   `shrink` looks the pointer up. A pointer never handed out, an interior or unaligned
//!   pointer, a layout that differs from the allocation's, and a second free while the
//!   block waits in quarantine are all detected deterministically. *Cost:* one map store
//!   per allocation and one load, compare and store per free (the compare checks layout
//!   and state at once); the inner allocator is asked for 16-byte alignment; up to 4
//!   bytes of map per 16 bytes of the inner allocator's touched memory. Small blocks
//!   (below the guard-page threshold and 16 MiB) take a fast path that computes the map
//!   entry straight from the layout and checks a free with it; other blocks, and every
//!   free the fast path refuses (each violation among them), take the general path,
//!   which tells what is wrong. On the mixed benchmark (8–512 B, 1,000 live blocks)
//!   detection is ~90 instructions per free+allocate pair over `SizeClasses`' ~80, and
//!   1.5–1.8× its time, about 0.5× of it the map's two accesses per pair; the wrapper
//!   with no map at all costs ~1.2×. (The hash table the map replaced for ordinary
//!   blocks cost ~3.7×: each lookup was a cache miss.)
//! - **Canaries** ([`Options::canary`]): 8 bytes after every block, from a per-heap random
//!   secret (`getrandom`) mixed with the block's address, first byte zero so a C-string
//!   overflow stops there (an off-by-one NUL write is therefore not caught). Checked on
//!   free, on `grow`/`shrink` and by [`check`](Hardened::check). *Cost:* 8 bytes per
//!   block (one size class up for some sizes), an 8-byte write and one 8-byte compare
//!   (~15 instructions per pair); the compare reads the block's last line, often a cache
//!   miss the caller would not have had.
//! - **Guard pages** ([`Options::guard_pages_above`]): larger blocks are mappings of their
//!   own (through `sys/os.rs`) between two `PROT_NONE` pages, the block's end placed against
//!   the trailing guard as closely as its alignment allows; the slack (under one
//!   alignment unit after the block, the rest of the first page before it) holds the
//!   canary pattern. A linear overflow faults. *Cost:* two system calls more per large
//!   allocation and two pages of address space; no reuse of large memory.
//! - **Zero on free** ([`Options::zero_on_free`]): a freed block is cleared, so no secret
//!   survives it, and when it leaves the quarantine its zeros (and canary) are verified:
//!   a write after free is reported. Large blocks are sealed `PROT_NONE` instead, so a
//!   write after free faults at once. Without a quarantine the block is still cleared,
//!   not verified. *Cost:* a `memset` per free and a word-at-a-time read per release
//!   (~150 instructions per pair at these sizes).
//! - **Quarantine** ([`Options::quarantine_bytes`]): freed blocks wait (a random slot of
//!   32, then a FIFO ring) until that many bytes of later frees pushed them out, so a
//!   dangling pointer does not meet a new owner soon, and a delayed double free is still
//!   a double free. O(1) per free: a random slot swap, a ring push and (once full) one
//!   release, which looks the block up once. *Cost:* that many bytes held, ~190
//!   instructions per pair, and worse cache reuse: a released block is ~4,000 frees
//!   old (1 MiB at these sizes), so its check and reuse miss the cache.
//! - **Leak report** ([`leaks`](Hardened::leaks), and on drop): every live block with its
//!   layout, and where it was allocated when [`Options::backtrace`] is on. *Cost of
//!   backtraces:* a stack walk per allocation, kept in the global allocator (it is a
//!   debugging aid; the `Backtrace` type allocates there anyway).
//! - **Zero-size blocks** point into one `PROT_NONE` page per heap (alignment up to a
//!   page; larger alignments get the usual dangling pointer), so reading or writing one
//!   faults.
//!
//! A detected violation writes one line to stderr — `allockit::Hardened: double free of
//! 0x… (size 64, align 8)` — and aborts the process, unless a hook installed by
//! [`set_violation_hook`](Hardened::set_violation_hook) observes it instead (then the
//! offending operation is ignored: the block is neither freed nor reused).
//!
//! Under Miri, `mprotect` is not emulated: guard pages and the zero-size page stay
//! ordinary memory, large blocks in quarantine are zeroed and checked like small ones.
//!
//! Pick it for tests, fuzzing and security-sensitive services; pick the inner strategy
//! alone when speed matters more than catching bugs.

mod inspect;
mod large;
mod map;
mod quarantine;
mod report;
mod table;

use core::cell::{Cell, UnsafeCell};
use core::fmt;
use core::ptr::NonNull;

use alloc::vec::Vec;
use std::backtrace::Backtrace;
use std::collections::HashMap;
use std::io::Write as _;

use crate::api::{AllocError, Allocator, Layout};
use crate::os;
use map::{Blocks, Slot};
use quarantine::Quarantine;
pub use report::{HardenedStats, Leak, Options, Violation, ViolationHook, ViolationReport};
use table::{Entry, State};

/// Bytes of the canary after each block.
const CANARY: usize = 8;
/// Multiplier that spreads an address over 64 bits (2^64 / golden ratio).
const FIB: u64 = 0x9E37_79B9_7F4A_7C15;

/// The mutable state behind the `UnsafeCell`.
struct Core {
    /// Every live and quarantined block.
    blocks: Blocks,
    /// Freed blocks waiting for reuse; its blocks are `Quarantined` in `blocks`.
    quarantine: Quarantine,
    /// State of the xorshift generator that picks quarantine slots; never zero.
    rng: u64,
    /// The `PROT_NONE` page zero-size blocks point into, mapped on first use.
    zero_page: Option<NonNull<u8>>,
    /// Blocks and requested bytes in `blocks` with state `Live`.
    live_blocks: usize,
    live_bytes: usize,
    /// Where each live block was allocated, when backtraces are on.
    traces: Option<HashMap<usize, Backtrace>>,
}

/// A hardening wrapper over any strategy: canaries, guard pages, invalid and double free
/// detection, zero-on-free with write-after-free checks, a quarantine and a leak report
/// (`std` only). [`Options`] lists what each feature costs.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::{Hardened, SizeClasses};
///
/// let heap = Hardened::new(SizeClasses::new());
/// let mut v = Vec::new_in(&heap);
/// v.extend(0..1000u32);
/// assert_eq!(heap.check(), 0, "no canary was overwritten");
/// assert_eq!(heap.leaks().len(), 1);
/// drop(v);
/// assert!(heap.leaks().is_empty());
/// ```
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Hardened<allockit::SizeClasses>>();
/// ```
pub struct Hardened<A: Allocator> {
    /// The allocator blocks up to `options.guard_pages_above` bytes come from.
    inner: A,
    /// The features in use; fixed for the heap's life.
    options: Options,
    /// Per-heap random secret the canaries derive from.
    secret: u64,
    /// Bytes of canary after each inner block: `CANARY`, or 0 without canaries.
    extra: usize,
    /// Allocations of `1..=fast_alloc` bytes take the fast path: a block the inner
    /// allocator serves, recorded in the block map. 0 (no fast path) with backtraces on.
    fast_alloc: usize,
    /// Frees of `1..=fast_free` bytes take the fast path: a block found and checked
    /// through its block map entry.
    fast_free: usize,
    /// A free has nothing to do after its checks but give the block back: no
    /// quarantine, zeroing or backtrace.
    plain_free: bool,
    /// Observes violations instead of aborting, when set.
    hook: Cell<Option<ViolationHook>>,
    /// Only ever borrowed inside [`Hardened::with_core`].
    core: UnsafeCell<Core>,
}

// SAFETY: the raw pointers in `core` refer to mappings and blocks this heap owns
// exclusively; moving the heap to another thread moves that ownership with it.
unsafe impl<A: Allocator + Send> Send for Hardened<A> {}

impl<A: Allocator> Hardened<A> {
    /// Wraps `inner` with every feature on ([`Options::SECURE`]).
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let heap = allockit::Hardened::new(allockit::SizeClasses::new());
    /// let b = Box::new_in(7u32, &heap);
    /// assert_eq!((*b, heap.stats().live_blocks), (7, 1));
    /// ```
    pub fn new(inner: A) -> Self {
        Self::with_options(inner, Options::SECURE)
    }

    /// Wraps `inner` with the given features.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// use allockit::{Hardened, Options, SizeClasses};
    /// let heap = Hardened::with_options(SizeClasses::new(), Options { quarantine_bytes: 256, ..Options::SECURE });
    /// for _ in 0..10 {
    ///     drop(Box::new_in([0u8; 64], &heap));
    /// }
    /// assert!(heap.stats().quarantined_bytes <= 256);
    /// ```
    pub fn with_options(inner: A, options: Options) -> Self {
        let secret = os::random_u64();
        // Sizes up to here are small blocks that the block map describes.
        let small = options.guard_pages_above.min(map::MAX_SIZE);
        let plain_free = !options.zero_on_free && options.quarantine_bytes == 0;
        Hardened {
            inner,
            options,
            secret,
            extra: if options.canary { CANARY } else { 0 },
            fast_alloc: if options.backtrace { 0 } else { small },
            fast_free: small,
            plain_free: plain_free && !options.backtrace,
            hook: Cell::new(None),
            core: UnsafeCell::new(Core {
                blocks: Blocks::new(),
                quarantine: Quarantine::new(),
                rng: secret.rotate_left(17) | 1,
                zero_page: None,
                live_blocks: 0,
                live_bytes: 0,
                traces: options.backtrace.then(HashMap::new),
            }),
        }
    }

    /// The wrapped allocator.
    ///
    /// ```
    /// use allockit::{Counting, Hardened};
    /// let heap = Hardened::new(Counting::new(allocator_api2::alloc::Global));
    /// let b = allocator_api2::boxed::Box::new_in(1u64, &heap);
    /// assert_eq!(heap.inner().stats().allocations, 1);
    /// # drop(b);
    /// ```
    pub fn inner(&self) -> &A {
        &self.inner
    }

    /// The features in use.
    ///
    /// ```
    /// use allockit::{Hardened, Options};
    /// let heap = Hardened::with_options(allocator_api2::alloc::Global, Options::MINIMAL);
    /// assert!(!heap.options().canary);
    /// ```
    pub fn options(&self) -> Options {
        self.options
    }

    /// Installs (or, with `None`, removes) a hook that observes violations instead of
    /// aborting; the offending operation is then ignored. Meant for tests.
    ///
    /// ```
    /// use allockit::{Allocator, Hardened, Layout, Violation, ViolationReport};
    ///
    /// fn expect_double_free(r: &ViolationReport) {
    ///     assert_eq!(r.violation, Violation::DoubleFree);
    /// }
    /// let heap = Hardened::new(allocator_api2::alloc::Global);
    /// heap.set_violation_hook(Some(expect_double_free));
    /// let l = Layout::new::<u64>();
    /// let p = heap.allocate(l).unwrap().cast::<u8>();
    /// // SAFETY: the second free is the bug the hook observes; the heap ignores it.
    /// unsafe { heap.deallocate(p, l); heap.deallocate(p, l) };
    /// ```
    pub fn set_violation_hook(&self, hook: Option<ViolationHook>) {
        self.hook.set(hook);
    }

    /// Runs `f` on the state.
    #[inline(always)]
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        // SAFETY: `Hardened` is not `Sync`, so only this thread reaches `core`, and nothing
        // inside `f` re-enters this heap: violation hooks run after `f` returns, and the
        // inner allocator and the global allocator are other objects. So this is the only
        // reference to `core` while it lives.
        f(unsafe { &mut *self.core.get() })
    }

    /// The canary of the block at `addr`, as an unaligned 8-byte load of it reads: the
    /// secret mixed with the address, first byte (in memory order) zero.
    #[inline(always)]
    fn canary_word(&self, addr: usize) -> u64 {
        ((self.secret ^ (addr as u64).wrapping_mul(FIB)) & !0xFF).to_le()
    }

    /// The layout asked of the inner allocator for a block of `layout`.
    #[inline(always)]
    fn inner_layout(&self, layout: Layout) -> Result<Layout, AllocError> {
        // At least a granule, so that the block map can describe the block.
        let align = layout.align().max(map::GRANULE);
        // `layout.size()` rounded up to `align` is at most `isize::MAX`, so this cannot
        // wrap; the result may still be too large for a layout.
        let size = layout.size() + self.extra;
        if size > isize::MAX as usize - (align - 1) {
            return Err(AllocError);
        }
        // SAFETY: `align` is a power of two (a layout's alignment or 16), and `size` rounded up
        // to it does not exceed `isize::MAX` (checked above).
        Ok(unsafe { Layout::from_size_align_unchecked(size, align) })
    }

    /// The block for a zero-size layout: inside the `PROT_NONE` page, or dangling.
    fn zero_block(&self, layout: Layout) -> NonNull<u8> {
        if layout.align() > os::page_size() {
            return crate::align::dangling(layout);
        }
        self.with_core(|c| {
            if c.zero_page.is_none() {
                c.zero_page = large::map_zero_page();
            }
            c.zero_page.unwrap_or(crate::align::dangling(layout))
        })
    }

    /// Whether `ptr` is a zero-size block this heap (or any) hands out for `layout`.
    fn is_zero_block(&self, ptr: NonNull<u8>, layout: Layout) -> bool {
        ptr == crate::align::dangling(layout) || self.with_core(|c| c.zero_page == Some(ptr))
    }

    /// The inner layout of a small block (`size <= map::MAX_SIZE`): [`Self::inner_layout`]
    /// without its overflow check, which such a size cannot fail.
    #[inline(always)]
    fn small_layout(&self, size: usize, align: usize) -> Layout {
        debug_assert!(size <= map::MAX_SIZE);
        // SAFETY: `align` is a layout's alignment (a power of two) or 16; a valid layout's
        // alignment is at most 2^62 on 64-bit targets (its size rounded up to it fits
        // `isize::MAX`), so `size + CANARY` (below 2^25) rounded up to it still fits.
        unsafe { Layout::from_size_align_unchecked(size + self.extra, align.max(map::GRANULE)) }
    }

    /// A block of `inner` from the inner allocator, zeroed if `zeroed`.
    #[inline(always)]
    fn inner_block(&self, inner: Layout, zeroed: bool) -> Result<NonNull<u8>, AllocError> {
        let block = if zeroed {
            self.inner.allocate_zeroed(inner)?
        } else {
            self.inner.allocate(inner)?
        };
        Ok(block.cast())
    }

    /// Writes the canary after the first `size` bytes of inner block `p`, if canaries are
    /// on.
    #[inline(always)]
    fn put_canary(&self, p: NonNull<u8>, size: usize) {
        if self.extra != 0 {
            // SAFETY: the inner block holds `size + CANARY` bytes; the write is unaligned.
            unsafe {
                p.as_ptr()
                    .add(size)
                    .cast::<u64>()
                    .write_unaligned(self.canary_word(p.addr().get()))
            };
        }
    }

    /// Whether the canary after the first `size` bytes of small block `p` is intact (true
    /// without canaries).
    ///
    /// # Safety
    ///
    /// - `p` is a small block of this heap, of `size` bytes, still owned by it.
    #[inline(always)]
    unsafe fn canary_intact(&self, p: *mut u8, size: usize) -> bool {
        // SAFETY: the inner block holds `size + CANARY` bytes (caller); the read is
        // unaligned.
        self.extra == 0
            || unsafe { p.add(size).cast::<u64>().read_unaligned() } == self.canary_word(p.addr())
    }

    /// `allocate` and `allocate_zeroed`: the fast path for small blocks.
    #[inline(always)]
    fn allocate_impl(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        let (size, align) = (layout.size(), layout.align());
        if size.wrapping_sub(1) >= self.fast_alloc {
            return self.allocate_general(layout, zeroed);
        }
        let inner = self.small_layout(size, align);
        let p = self.inner_block(inner, zeroed)?;
        self.put_canary(p, size);
        let recorded = self.with_core(|c| {
            c.blocks.insert_small(p.as_ptr(), size, align)?;
            c.live_blocks += 1;
            c.live_bytes += size;
            Ok::<(), AllocError>(())
        });
        if recorded.is_err() {
            // SAFETY: the block was just made with `inner` and is not referenced anywhere.
            unsafe { self.inner.deallocate(p, inner) };
            return Err(AllocError);
        }
        Ok(NonNull::slice_from_raw_parts(p, size))
    }

    /// `allocate` and `allocate_zeroed` for every layout: zero-size, large and huge
    /// blocks, and all blocks when backtraces are on.
    #[inline(never)]
    fn allocate_general(&self, layout: Layout, zeroed: bool) -> Result<NonNull<[u8]>, AllocError> {
        let size = layout.size();
        if size == 0 {
            return Ok(NonNull::slice_from_raw_parts(self.zero_block(layout), 0));
        }
        let large = size > self.options.guard_pages_above;
        let ptr = if large {
            large::map(size, layout.align(), self.large_canary())?
        } else {
            let p = self.inner_block(self.inner_layout(layout)?, zeroed)?;
            self.put_canary(p, size);
            p
        };
        let entry = Entry::new(ptr.as_ptr(), size, layout.align(), large);
        let recorded = self.with_core(|c| {
            c.blocks.insert(entry)?;
            c.live_blocks += 1;
            c.live_bytes += size;
            if let Some(traces) = &mut c.traces {
                traces.insert(entry.addr(), Backtrace::force_capture());
            }
            Ok::<(), AllocError>(())
        });
        if recorded.is_err() {
            // SAFETY: the block was just made and is not referenced anywhere.
            unsafe { self.give_back(&entry) };
            return Err(AllocError);
        }
        Ok(NonNull::slice_from_raw_parts(ptr, size))
    }
}

impl<A: Allocator> Hardened<A> {
    /// The canary pattern of the slack around large blocks.
    #[inline(always)]
    fn large_canary(&self) -> u64 {
        u64::from_le(self.canary_word(0))
    }

    /// Whether a block's fences (and, in quarantine, its zeros) are as this heap left
    /// them.
    ///
    /// # Safety
    ///
    /// - `e` is an entry of this heap's `blocks`.
    #[inline(always)]
    unsafe fn intact(&self, e: &Entry) -> bool {
        if e.sealed() {
            return true; // inaccessible since it was freed
        }
        let fence = if e.large() {
            // SAFETY: an unsealed large block of this heap (caller).
            !self.options.canary
                || unsafe { large::slack_intact(e.ptr, e.size(), self.large_canary()) }
        } else {
            // SAFETY: a small block of this heap (caller).
            unsafe { self.canary_intact(e.ptr, e.size()) }
        };
        fence
            && (e.state() == State::Live
                || !self.options.zero_on_free
                // SAFETY: an unsealed block of this heap is readable over its `size` bytes.
                || unsafe { quarantine::all_zero(e.ptr, e.size()) })
    }

    /// Returns a block to where it came from (no checks).
    ///
    /// # Safety
    ///
    /// - `e` describes a block of this heap that nothing refers to any more.
    #[inline(always)]
    unsafe fn give_back(&self, e: &Entry) {
        if e.large() {
            // SAFETY: a large block is its own mapping (caller).
            unsafe { large::unmap(e.ptr, e.size()) }
        } else {
            // SAFETY: the block came from `inner` with this layout, valid when made.
            unsafe {
                let layout = self.inner_layout(e.layout()).unwrap_unchecked();
                self.inner.deallocate(NonNull::new_unchecked(e.ptr), layout)
            }
        }
    }

    /// Looks up a block the caller is about to free or resize with `layout`: its slot and
    /// entry, if it is live, was allocated with `layout` and its fences are intact.
    ///
    /// One load from the block map (for a small block), one compare of the entry's packed
    /// layout and state with what a live block of `layout` has, and the canary compare;
    /// the rest is in [`Self::invalid`].
    #[inline(always)]
    fn validate(
        &self,
        c: &mut Core,
        ptr: NonNull<u8>,
        layout: Layout,
    ) -> Result<(Slot, Entry), ViolationReport> {
        let (size, align) = (layout.size(), layout.align());
        let large = size > self.options.guard_pages_above;
        if let Some((slot, e)) = c.blocks.find_live(ptr.addr().get(), size, align, large)
            // SAFETY: `e` is an entry of this heap's `blocks`.
            && unsafe { self.intact(&e) }
        {
            return Ok((slot, e));
        }
        Err(self.invalid(c, ptr, layout))
    }

    /// Why [`Self::validate`] refused `ptr`.
    #[cold]
    #[inline(never)]
    fn invalid(&self, c: &mut Core, ptr: NonNull<u8>, layout: Layout) -> ViolationReport {
        let addr = ptr.addr().get();
        let Some((_, e)) = c.blocks.find(addr) else {
            return ViolationReport::unknown(c.blocks.iter(), addr, layout);
        };
        let report = |violation| ViolationReport {
            violation,
            addr,
            layout,
            block: Some((addr, e.layout())),
        };
        if e.state() == State::Quarantined {
            report(Violation::DoubleFree)
        } else if e.size() != layout.size() || e.align() != layout.align() {
            report(Violation::WrongLayout)
        } else {
            ViolationReport::corrupted(&e)
        }
    }

    /// `deallocate` on the state: checks, then quarantines or gives the block back.
    #[inline(always)]
    fn free_in(
        &self,
        c: &mut Core,
        ptr: NonNull<u8>,
        layout: Layout,
    ) -> Result<(), ViolationReport> {
        // On a violation the free is ignored: a corrupted block stays live, never reused,
        // until the heap is dropped.
        let (slot, e) = self.validate(c, ptr, layout)?;
        self.retire(c, slot, e)
    }

    /// What a free does once it has checked the block (in `slot`, entry `e`): forgets or
    /// quarantines it, zeroes it if asked, and gives it back. An error is a violation
    /// found in another block, on its release from the quarantine.
    #[inline(never)]
    fn retire(&self, c: &mut Core, slot: Slot, e: Entry) -> Result<(), ViolationReport> {
        c.live_blocks -= 1;
        c.live_bytes -= e.size();
        if let Some(traces) = &mut c.traces {
            traces.remove(&e.addr());
        }
        if self.options.quarantine_bytes != 0 {
            return self.quarantine(c, slot, e);
        }
        c.blocks.remove(slot);
        if self.options.zero_on_free && !e.large() {
            // SAFETY: the block is live, `size` bytes, and the caller gave it up.
            unsafe { e.ptr.write_bytes(0, e.size()) };
        }
        // SAFETY: the caller freed the block and the heap no longer records it.
        unsafe { self.give_back(&e) };
        Ok(())
    }

    /// Puts a freed block (in `slot`, entry `e`) in quarantine, releasing the blocks that
    /// have waited longest once the quarantine holds more than its bytes: O(1) per free
    /// (a `memset` of the block, one random slot swap, one ring push, and usually one
    /// release).
    #[inline(never)]
    fn quarantine(&self, c: &mut Core, slot: Slot, e: Entry) -> Result<(), ViolationReport> {
        // SAFETY: the block is live and the caller gave it up; it is `size` bytes.
        let sealed = e.large() && unsafe { large::seal(e.ptr, e.size()) };
        if self.options.zero_on_free && !sealed {
            // SAFETY: as above, and it is not sealed.
            unsafe { e.ptr.write_bytes(0, e.size()) };
        }
        c.blocks.quarantine(slot, sealed);
        c.rng ^= c.rng << 13;
        c.rng ^= c.rng >> 7;
        c.rng ^= c.rng << 17;
        let mut result = Ok(());
        if let Some(now) = c.quarantine.put(e.ptr, e.size(), c.rng) {
            result = self.release(c, now);
        }
        while c.quarantine.bytes > self.options.quarantine_bytes {
            let Some(oldest) = c.quarantine.take_oldest() else {
                break;
            };
            let released = self.release(c, oldest);
            result = result.and(released);
        }
        result
    }

    /// Takes a block out of quarantine: verifies it was not written to (zeros and
    /// canary) and gives it back.
    #[inline]
    fn release(&self, c: &mut Core, ptr: *mut u8) -> Result<(), ViolationReport> {
        let Some((slot, e)) = c.blocks.find(ptr.addr()) else {
            return Ok(());
        };
        c.quarantine.bytes -= e.size();
        // SAFETY: `e` is an entry of this heap's `blocks`, and a quarantined block is owned
        // by the heap alone.
        if !unsafe { self.intact(&e) } {
            // Left recorded, out of the quarantine: never reused, freed on drop.
            return Err(ViolationReport::corrupted(&e));
        }
        c.blocks.remove(slot);
        // SAFETY: as above; the heap no longer records the block.
        unsafe { self.give_back(&e) };
        Ok(())
    }

    /// Frees with checks, reporting a violation.
    ///
    /// # Safety
    ///
    /// The contract of [`Allocator::deallocate`] (violations of which are detected).
    #[inline(always)]
    unsafe fn free(&self, ptr: NonNull<u8>, layout: Layout) {
        let (size, align) = (layout.size(), layout.align());
        if size.wrapping_sub(1) < self.fast_free {
            match self.with_core(|c| self.free_fast(c, ptr, size, align)) {
                Some(Ok(())) => return,
                Some(Err(r)) => return self.report(r),
                None => {}
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { self.free_general(ptr, layout) }
    }

    /// The free fast path: a small live block found and checked through its block map
    /// entry, its canary intact; given back at once when the free is plain, else
    /// [`retired`](Self::retire). `None` (nothing done) for anything else, which
    /// [`Self::free_general`] then checks, reports or handles.
    #[inline(always)]
    fn free_fast(
        &self,
        c: &mut Core,
        ptr: NonNull<u8>,
        size: usize,
        align: usize,
    ) -> Option<Result<(), ViolationReport>> {
        let slot = c
            .blocks
            .find_packed(ptr.addr().get(), map::packed(size, align))?;
        // SAFETY: the map records a live block of `size` at `ptr`.
        if !unsafe { self.canary_intact(ptr.as_ptr(), size) } {
            return None;
        }
        if !self.plain_free {
            let e = Entry::new(ptr.as_ptr(), size, align, false);
            return Some(self.retire(c, Slot::Map(slot), e));
        }
        c.blocks.remove_packed(slot);
        c.live_blocks -= 1;
        c.live_bytes -= size;
        // SAFETY: the block is live with this layout (checked), the caller gave it up, and
        // the heap no longer records it; it came from `inner` with `small_layout`.
        unsafe { self.inner.deallocate(ptr, self.small_layout(size, align)) };
        Some(Ok(()))
    }

    /// Frees any block with checks, reporting a violation.
    ///
    /// # Safety
    ///
    /// The contract of [`Allocator::deallocate`] (violations of which are detected).
    #[inline(never)]
    unsafe fn free_general(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 && self.is_zero_block(ptr, layout) {
            return;
        }
        if let Err(r) = self.with_core(|c| self.free_in(c, ptr, layout)) {
            self.report(r);
        }
    }

    /// `grow`, `grow_zeroed` and `shrink`: always to a fresh block, so a stale pointer to
    /// the old one meets the quarantine.
    ///
    /// # Safety
    ///
    /// The contract of [`Allocator::grow`] (violations of which are detected).
    unsafe fn resize(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        let ptr = crate::align::own(ptr);
        // SAFETY: forwarded from the caller, `ptr` with the block's own provenance.
        unsafe { self.resize_own(ptr, old, new, zeroed) }.map(exposed)
    }

    /// [`resize`](Self::resize) once `ptr` carries the block's own provenance.
    ///
    /// # Safety
    ///
    /// As for `resize`.
    unsafe fn resize_own(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
        zeroed: bool,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if (old.size() != 0 || !self.is_zero_block(ptr, old))
            && let Err(r) = self.with_core(|c| self.validate(c, ptr, old))
        {
            self.report(r);
            return Err(AllocError);
        }
        let fresh = self.allocate_impl(new, zeroed)?;
        // SAFETY: the old block is live with `old.size()` readable bytes (validated), the
        // fresh one has `new.size()`; they are distinct blocks. Then the old one is freed.
        unsafe {
            let n = old.size().min(new.size());
            core::ptr::copy_nonoverlapping(ptr.as_ptr(), fresh.cast::<u8>().as_ptr(), n);
            self.free(ptr, old);
        }
        Ok(fresh)
    }

    /// Passes a violation to the hook, or prints it and aborts.
    #[cold]
    #[inline(never)]
    fn report(&self, r: ViolationReport) {
        match self.hook.get() {
            Some(hook) => hook(&r),
            None => {
                let _ = writeln!(std::io::stderr(), "allockit::Hardened: {r}");
                std::process::abort();
            }
        }
    }
}

// SAFETY: blocks come from `inner` (with room for the canary) or from fresh guard-paged
// mappings, each recorded until freed, so live blocks never overlap; every block has at
// least the requested size and alignment (the inner allocator and `large::map` guarantee
// it); zero-size blocks are aligned (a page, or `dangling`). Resizing always moves to a
// fresh block after copying. Misuse is detected and never forwarded to `inner`.
unsafe impl<A: Allocator> Allocator for Hardened<A> {
    #[inline]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_impl(layout, false).map(exposed)
    }

    #[inline]
    fn allocate_zeroed(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        self.allocate_impl(layout, true).map(exposed)
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        // SAFETY: forwarded from the caller; the canary and the inner block are reached
        // with the provenance exposed when the block was handed out.
        unsafe { self.free(crate::align::own(ptr), layout) }
    }

    forward_resizing!(self => via resize);
}

/// Exposes a block's provenance as it is handed out, so that a free through a caller's
/// narrower pointer reaches the canary and the inner block ([`crate::align::own`]).
#[inline(always)]
fn exposed(block: NonNull<[u8]>) -> NonNull<[u8]> {
    block.cast::<u8>().as_ptr().expose_provenance();
    block
}

mirror_core_allocator!(impl[A: Allocator] for Hardened<A>);

impl<A: Allocator> Drop for Hardened<A> {
    fn drop(&mut self) {
        // Empty the quarantine, checking each block one last time.
        let mut found = Vec::new();
        while let Some(r) =
            self.with_core(|c| c.quarantine.take_oldest().map(|p| self.release(c, p)))
        {
            found.extend(r.err());
        }
        for r in found {
            self.report(r);
        }
        if self.options.report_leaks {
            report::write_leak_report(&self.leaks());
        }
        let core = self.core.get_mut();
        let blocks = core::mem::replace(&mut core.blocks, Blocks::new());
        let quarantine = core::mem::replace(&mut core.quarantine, Quarantine::new());
        let zero_page = core.zero_page.take();
        for e in blocks.iter() {
            // SAFETY: the heap is going away, so no block of it may be used any more.
            unsafe { self.give_back(&e) };
        }
        blocks.unmap();
        quarantine.unmap();
        if let Some(p) = zero_page {
            // SAFETY: the page came from `map_zero_page`; zero-size blocks have no bytes.
            unsafe { large::unmap_zero_page(p) };
        }
    }
}

impl<A: Allocator> fmt::Debug for Hardened<A> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hardened")
            .field("options", &self.options)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests;
