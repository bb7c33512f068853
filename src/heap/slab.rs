//! `Slab`: fixed-size objects in arrays, with the bookkeeping kept out of line.
//!
//! ## Design (Bonwick's slab, SLUB's fast path)
//!
//! A `Slab` serves one object layout from **slabs**, arrays of up to 512 equal **slots**
//! taken from the backing allocator in one call. A fresh slab hands out slots 0, 1, 2,
//! ..., so objects allocated one after another are neighbours: a linked structure of
//! boxed nodes stays cache-friendly.
//!
//! Each slab has a **metadata block** of its own, a separate allocation that never moves:
//! base, free count, and a **link array** of one `u32` per slot. A free slot's link is the
//! next free slot (a free list threaded through the array, not the slots); an allocated
//! slot's link is `LIVE`. No byte of a slot holds bookkeeping, so a use-after-free cannot
//! corrupt the allocator, and a double free or a pointer that is not a slot start is
//! detected deterministically: a panic in debug builds; in release builds the free is
//! ignored (documented behaviour, the slot stays free exactly once).
//!
//! The **current slab** keeps its hot state in `Core`: base, span, link array, list head,
//! and the **top**, the slot freed last, held off the list with its link still `LIVE`. A
//! free there is a range check, a multiply by the stride's reciprocal (slot index and
//! "slot start?" at once), a link load and one combined test, then a store of the top; an
//! allocation is one combined test ("fits, and a top") and an add. A free then an
//! allocation touch no link, and no value travels from one pair to the next through
//! memory. A free with a top held pushes the old top on the list; an allocation without
//! one pops it. The fast paths are `#[inline(always)]` with the rest `#[cold]` or behind
//! `cold_path`, and keep no counters (`stats` counts the current slab's list).
//!
//! The slow paths use a table of 16-byte entries (base, metadata block) sorted by base: a
//! free elsewhere finds its slab by binary search, O(log slabs), after trying the slab of
//! the previous such free. Slabs other than the current one with a free slot are on the
//! doubly linked **available list**, partial ones first, so switching slabs is O(1) and
//! prefers partial slabs; nothing scans objects or slabs. At most four empty slabs are
//! kept, the current one counted as one of them; an empty slab beyond that goes back to
//! the backing allocator with its metadata block.
//!
//! A layout that does not fit the slot (larger, or more strictly aligned) is `AllocError`;
//! so is growing a block past the slot size.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use crate::api::{AllocError, Allocator, Layout, dangling};
use crate::side_table::SideVec;

/// Most slots in one slab.
const MAX_SLOTS: usize = 512;
/// A slab aims to hold this many bytes (fewer slots for large objects, at most 512).
const SLAB_BYTES: usize = 64 << 10;
/// Wholly empty slabs kept for reuse instead of being returned (a structure that
/// shrinks and regrows in waves would otherwise map and unmap a slab per wave step).
const EMPTY_RESERVE: usize = 4;
/// The link of an allocated slot.
const LIVE: u32 = u32::MAX;
/// The link of the last free slot; `Core::head` with no free slot or no current slab.
const END: u32 = u32::MAX - 1;
/// `Core::top` with no top. Equal to `LIVE`, so "a live link and no top" is one test,
/// `link & top == LIVE`; and -1 as an `i32` (offsets are below 2^31): a sign test.
const NO_TOP: u32 = u32::MAX;
/// Index of `Meta::near` and `Core::ends`: toward the front of the available list.
const FRONT: usize = 0;
/// Index of `Meta::near` and `Core::ends`: toward the back of the available list.
const BACK: usize = 1;

// Slot indices stay below the markers; `Core::slot_of` needs offsets below 2^16.
const _: () = assert!(MAX_SLOTS < END as usize && SLAB_BYTES <= 1 << 16);

#[cfg(feature = "std")]
type Backing = crate::Pages;
#[cfg(not(feature = "std"))]
type Backing = allocator_api2::alloc::Global;

/// One slab's metadata block, its own allocation from the backing allocator: this
/// header, then `links: [u32; slots]` (see [`links`]). It never moves.
struct Meta {
    /// The first slot; slot `i` is at `base + i * stride`.
    base: NonNull<u8>,
    /// Free slots. Stale while this is the current slab (see `Core::current_free`).
    free: usize,
    /// The first free slot, or `END`. Stale while this is the current slab.
    head: u32,
    /// The neighbours on the available list toward its `FRONT` and its `BACK` (null at
    /// the ends). A slab is on the list exactly when it is not current and has a free slot.
    near: [*mut Meta; 2],
}

/// The link array after the header of metadata block `m`: link `i` is the next free slot
/// after slot `i` (or `END`) when slot `i` is free, `LIVE` when not.
#[inline(always)]
fn links(m: NonNull<Meta>) -> *mut u32 {
    // Right after the header (`meta_layout`; its size is a multiple of 8), in the same
    // allocation, so `m`'s provenance covers it.
    m.as_ptr().wrapping_add(1).cast()
}

/// One row of the slab table.
#[derive(Clone, Copy)]
struct Entry {
    /// The slab's first slot (the sort key).
    base: NonNull<u8>,
    /// Its metadata block.
    meta: NonNull<Meta>,
}

/// The state behind the `UnsafeCell`; the fields the fast paths read come first.
///
/// Invariants (checked by `check` in the tests): every pointer to a `Meta` held here
/// (`cur`, `ends`, `recent`, and `near` inside the blocks) is null or the live metadata
/// block of a slab in `table`; `base`, `span`, `links`, `head` and `top` describe `cur`.
#[repr(C)]
struct Core {
    /// The current slab's first free slot, or `END` (also when there is no current slab).
    head: u32,
    /// The byte offset of the current slab's slot freed last, held off its free list, or
    /// `NO_TOP`. Its link stays `LIVE` (a double free of it is caught by comparing with
    /// `top`). An offset, not an index, so that allocation is one add.
    top: u32,
    /// The current slab's link array (null when there is none: never read then).
    links: *mut u32,
    /// The current slab's first slot (dangling when there is none). Slot pointers are
    /// derived from it, so they carry the slab's provenance.
    base: NonNull<u8>,
    /// Offsets the fast free path serves: `stride * slots` when there is a current slab
    /// with two slots or more, 1 with a one-slot slab, 0 with none (no offset is inside).
    span: usize,
    /// Bytes from one slot start to the next: the object size rounded up to its alignment.
    stride: usize,
    /// `ceil(2^32 / stride)` when a slab has two slots or more, else 1: see `slot_of`.
    /// Below `2^32`, as `stride` is never 1.
    magic: u64,
    /// The current slab's metadata block, or null.
    cur: *mut Meta,
    /// Slots per slab, `1..=MAX_SLOTS`.
    slots: usize,
    /// The layout of one slab from the backing allocator.
    slab_layout: Layout,
    /// The layout of one metadata block: the header and `slots` links.
    meta_layout: Layout,
    /// Every slab, sorted by base address.
    table: SideVec<Entry>,
    /// The `FRONT` and `BACK` of the available list: slabs other than the current one
    /// with a free slot, partially used ones before wholly free ones.
    ends: [*mut Meta; 2],
    /// Wholly free slabs other than the current one (the back of the available list),
    /// at most `EMPTY_RESERVE - 1`: the current slab counts as reserved.
    empty: usize,
    /// The slab of the last free outside the current slab, or null: consecutive frees
    /// into one older slab skip the binary search.
    recent: *mut Meta,
}

impl Core {
    /// The slot index of `offset < span` bytes into a slab, and whether it is a slot start
    /// as a mask (`u32::MAX` or 0), to fold into the free path's test of the link.
    ///
    /// A 64-bit `div` costs 35–90 cycles here and a shift serves powers of two only, so
    /// this multiplies by a reciprocal (Lemire, Kaser and Kurz, "Faster remainder by
    /// direct computation", 2019): with `magic = ceil(2^32 / stride)`, `offset < 2^16` and
    /// `stride <= 2^16` (every slab of two slots or more, `SLAB_BYTES`), the high half of
    /// `offset * magic` is `offset / stride` and the low half is below `magic` exactly
    /// when `stride` divides `offset`. A one-slot slab has `magic == 1` and `span == 1`.
    #[inline(always)]
    fn slot_of(&self, offset: usize) -> (usize, u32) {
        let product = (offset as u64).wrapping_mul(self.magic);
        let start = if (product as u32) < self.magic as u32 {
            LIVE
        } else {
            0
        };
        ((product >> 32) as usize, start)
    }

    /// Free slots of the current slab (the top and its list), counted for `stats` so the
    /// fast paths keep no counter: one in memory would chain every pair to the next.
    fn current_free(&self) -> usize {
        let (mut n, mut slot) = (usize::from(self.top != NO_TOP), self.head);
        while slot != END && n < self.slots {
            // SAFETY: `slot != END`, so there is a current slab and `slot < slots`
            // indexes its link array.
            slot = unsafe { *self.links.add(slot as usize) };
            n += 1;
        }
        n
    }

    /// Takes the first slot off the current slab's free list.
    ///
    /// # Safety
    ///
    /// `head != END`.
    #[inline(always)]
    unsafe fn pop(&mut self) -> NonNull<u8> {
        let slot = self.head as usize;
        // SAFETY: `head != END` (caller), so there is a current slab and `slot < slots` is
        // a free slot: it indexes the link array, which nothing else references, and lies
        // inside the slab, whose base pointer (not null) carries the provenance.
        unsafe {
            let link = self.links.add(slot);
            self.head = *link;
            *link = LIVE;
            self.base.add(slot * self.stride)
        }
    }

    /// Makes `m` (a slab of this core, not on the available list) the current slab,
    /// parking the old one, which is full, in its metadata block.
    fn switch_to(&mut self, m: NonNull<Meta>) {
        debug_assert_eq!((self.head, self.top), (END, NO_TOP), "not full");
        if let Some(old) = NonNull::new(self.cur) {
            // SAFETY: `cur` is a live metadata block (`Core` invariant), not borrowed.
            unsafe { ((*old.as_ptr()).free, (*old.as_ptr()).head) = (0, END) };
        }
        // SAFETY: `m` is a live metadata block of this core (caller), not borrowed.
        let meta = unsafe { &*m.as_ptr() };
        self.span = match self.slots {
            1 => 1,
            n => self.stride * n,
        };
        (self.base, self.links, self.head) = (meta.base, links(m), meta.head);
        self.cur = m.as_ptr();
    }

    /// Puts `m` at the `FRONT` or the `BACK` end of the available list.
    ///
    /// # Safety
    ///
    /// `m` is the metadata block of a slab of this core, neither current nor listed.
    unsafe fn push(&mut self, m: NonNull<Meta>, end: usize) {
        let (m, other) = (m.as_ptr(), 1 - end);
        // SAFETY: `m` and the list ends are live metadata blocks (caller, `Core`
        // invariant); no reference to any of them is live.
        unsafe {
            (*m).near[end] = ptr::null_mut();
            (*m).near[other] = self.ends[end];
            match self.ends[end].is_null() {
                true => self.ends[other] = m,
                false => (*self.ends[end]).near[end] = m,
            }
        }
        self.ends[end] = m;
    }

    /// Takes `m` off the available list.
    ///
    /// # Safety
    ///
    /// `m` is the metadata block of a slab of this core, and is listed.
    unsafe fn unlink(&mut self, m: NonNull<Meta>) {
        // SAFETY: `m` and its neighbours are live metadata blocks (caller, `Core`
        // invariant); no reference to any of them is live.
        unsafe {
            let near = (*m.as_ptr()).near;
            for end in [FRONT, BACK] {
                match near[end].is_null() {
                    true => self.ends[end] = near[1 - end],
                    false => (*near[end]).near[1 - end] = near[1 - end],
                }
            }
        }
    }
}

/// An allocator for objects of one layout, in slabs with out-of-line metadata.
///
/// ```
/// use allocator_api2::boxed::Box;
/// use allockit::Slab;
///
/// struct Node { value: u64, next: Option<Box<Node, &'static Slab>> }
/// let slab: &'static Slab = Box::leak(Box::new(Slab::for_type::<Node>()));
/// let mut head: Option<Box<Node, &Slab>> = None;
/// for value in 0..1000 {
///     head = Some(Box::new_in(Node { value, next: head }, slab));
/// }
/// assert_eq!(slab.stats().live, 1000);
/// let mut sum = 0;
/// while let Some(node) = head {
///     sum += node.value;
///     let node = Box::into_inner(node);
///     head = node.next;
/// }
/// assert_eq!((sum, slab.stats().live), (499_500, 0));
/// ```
///
/// It is `Send` but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Slab>();
/// ```
pub struct Slab<A: Allocator = Backing> {
    /// The layout this slab serves.
    layout: Layout,
    /// Borrowed only inside one method, which never calls back into this allocator.
    core: UnsafeCell<Core>,
    /// Where slabs, metadata blocks and the slab table come from.
    backing: A,
}

// SAFETY: the allocator exclusively owns its slabs, metadata blocks and table (the raw
// pointers in `Core` point only into them); sending it sends that ownership. It is not
// `Sync`: the `UnsafeCell` is unsynchronised.
unsafe impl<A: Allocator + Send> Send for Slab<A> {}

#[cfg(feature = "std")]
impl Slab<crate::Pages> {
    /// A slab allocator for objects of `layout`, on [`Pages`](crate::Pages).
    ///
    /// ```
    /// let slab = allockit::Slab::new(core::alloc::Layout::new::<[u8; 64]>());
    /// assert_eq!(slab.stats().slot_size, 64);
    /// ```
    pub fn new(layout: Layout) -> Self {
        Self::new_in(layout, crate::Pages)
    }

    /// A slab allocator for values of `T`, on [`Pages`](crate::Pages).
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// let slab = allockit::Slab::for_type::<(u32, u32)>();
    /// let pair = Box::new_in((3, 4), &slab);
    /// assert_eq!(pair.0 + pair.1, 7);
    /// assert_eq!(slab.stats().live, 1);
    /// ```
    pub fn for_type<T>() -> Self {
        Self::new(Layout::new::<T>())
    }
}

impl<A: Allocator> Slab<A> {
    /// A slab allocator for objects of `layout` that takes its slabs from `backing`.
    ///
    /// ```
    /// use allockit::{Allocator, Layout, Slab};
    /// let slab = Slab::new_in(Layout::new::<u64>(), allocator_api2::alloc::Global);
    /// let block = slab.allocate(Layout::new::<u64>()).unwrap();
    /// assert!(slab.allocate(Layout::new::<u128>()).is_err(), "larger than a slot");
    /// // SAFETY: `block` came from `slab` with this layout and is freed once.
    /// unsafe { slab.deallocate(block.cast(), Layout::new::<u64>()) };
    /// assert_eq!(slab.stats().live, 0);
    /// ```
    pub fn new_in(layout: Layout, backing: A) -> Self {
        // One-byte objects get two-byte slots: then `magic` fits in 32 bits (see `slot_of`).
        let stride = match layout.pad_to_align().size() {
            1 => 2,
            s => s,
        };
        let slots = match stride {
            0 => 1,
            s => (SLAB_BYTES / s).clamp(1, MAX_SLOTS),
        };
        // `stride * slots` cannot overflow: either it is at most SLAB_BYTES, or `slots` is
        // 1 and it is `stride`, a valid layout size.
        let slab_layout = Layout::from_size_align(stride * slots, layout.align()).unwrap_or(layout);
        let magic = match slots {
            1 => 1,
            _ => (1u64 << 32).div_ceil(stride as u64),
        };
        let meta_layout = Layout::from_size_align(
            size_of::<Meta>() + slots * size_of::<u32>(),
            align_of::<Meta>(),
        )
        .unwrap_or(Layout::new::<Meta>());
        Slab {
            layout,
            core: UnsafeCell::new(Core {
                base: NonNull::dangling(),
                span: 0,
                links: ptr::null_mut(),
                head: END,
                top: NO_TOP,
                cur: ptr::null_mut(),
                stride,
                magic,
                slots,
                slab_layout,
                meta_layout,
                table: SideVec::new(),
                ends: [ptr::null_mut(); 2],
                empty: 0,
                recent: ptr::null_mut(),
            }),
            backing,
        }
    }

    /// A slab allocator for values of `T` on `backing`.
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    /// use allocator_api2::boxed::Box;
    /// let slab = allockit::Slab::for_type_in::<[u8; 24]>(allocator_api2::alloc::Global);
    /// let boxes: Vec<_> = (0..100u8).map(|i| Box::new_in([i; 24], &slab)).collect();
    /// assert_eq!((boxes[99][0], slab.stats().live), (99, 100));
    /// ```
    pub fn for_type_in<T>(backing: A) -> Self {
        Self::new_in(Layout::new::<T>(), backing)
    }

    /// The layout this slab serves.
    ///
    /// ```
    /// use core::alloc::Layout;
    /// let slab = allockit::Slab::for_type::<u32>();
    /// assert_eq!(slab.layout(), Layout::new::<u32>());
    /// ```
    pub fn layout(&self) -> Layout {
        self.layout
    }

    /// The backing allocator.
    ///
    /// ```
    /// use allocator_api2::boxed::Box;
    /// use allockit::{Counting, Slab};
    /// let slab = Slab::for_type_in::<u64>(Counting::new(allocator_api2::alloc::Global));
    /// let a = Box::new_in(1u64, &slab);
    /// let calls = slab.backing().stats().allocations;
    /// let b = Box::new_in(2u64, &slab);
    /// assert_eq!(slab.backing().stats().allocations, calls, "served from the same slab");
    /// # drop((a, b));
    /// ```
    pub fn backing(&self) -> &A {
        &self.backing
    }

    /// Exclusive access to the state.
    ///
    /// # Safety
    ///
    /// No other reference from `core()` may be live: callers hold it only inside one
    /// allocator method, and those never call back into `self`.
    #[inline(always)]
    #[allow(clippy::mut_from_ref)]
    unsafe fn core(&self) -> &mut Core {
        // SAFETY: forwarded from the caller.
        unsafe { &mut *self.core.get() }
    }

    /// Whether a block of `layout` fits this slab's slots.
    fn fits(&self, layout: Layout) -> bool {
        // SAFETY: a short read of a field that never changes after construction.
        layout.size() <= unsafe { (*self.core.get()).stride }
            && layout.align() <= self.layout.align()
    }

    /// Allocates a slot for `layout` (not zero-size): the top, else the list, else a new
    /// current slab.
    #[inline(always)]
    fn alloc_slot(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: the borrow ends before this method returns or calls `alloc_slow`.
        let core = unsafe { self.core() };
        let top = i64::from(core.top as i32);
        // One branch for "fits and there is a top": each term is negative exactly when its
        // test fails (sizes and alignments are at most `isize::MAX`). As compares, LLVM
        // emits three jumps, and each jump in a loop may straddle a 32-byte boundary,
        // which on the Skylake-family Xeons here evicts that code from the micro-op cache.
        let misfit = (core.stride.wrapping_sub(layout.size())
            | self.layout.align().wrapping_sub(layout.align())) as isize
            as i64;
        if misfit | top >= 0 {
            core.top = NO_TOP;
            // SAFETY: the top is the offset of a free slot of the current slab: it lies
            // inside the slab, whose base pointer (not null) carries the provenance. Its
            // link is already `LIVE`.
            return Ok(unsafe { core.base.add(top as usize) });
        }
        crate::align::cold_path();
        if layout.size() > core.stride || layout.align() > self.layout.align() {
            return Err(AllocError);
        }
        if core.head == END {
            return self.alloc_slow();
        }
        // SAFETY: `head != END`.
        Ok(unsafe { core.pop() })
    }

    /// The current slab is full (or there is none): make the front of the available list
    /// current, or a new slab.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self) -> Result<NonNull<u8>, AllocError> {
        // SAFETY: no other borrow is live; the backing allocator cannot reach `self`.
        let core = unsafe { self.core() };
        let next = match NonNull::new(core.ends[FRONT]) {
            Some(m) => {
                // SAFETY: the front is a listed metadata block of this core (invariant).
                unsafe { core.unlink(m) };
                // SAFETY: as above; no reference to it is live.
                core.empty -= usize::from(unsafe { (*m.as_ptr()).free } == core.slots);
                m
            }
            None => self.new_slab(core)?,
        };
        core.switch_to(next);
        // SAFETY: a listed or new slab has a free slot, all on its list: `head != END`.
        Ok(unsafe { core.pop() })
    }

    /// Takes a slab and its metadata block from the backing allocator and enters it in
    /// the table. The slab's free list is 0, 1, 2, ...: neighbours are adjacent.
    fn new_slab(&self, core: &mut Core) -> Result<NonNull<Meta>, AllocError> {
        let slab = self.backing.allocate(core.slab_layout)?.cast::<u8>();
        let Ok(block) = self.backing.allocate(core.meta_layout) else {
            // SAFETY: the slab was just allocated with this layout and is unused.
            unsafe { self.backing.deallocate(slab, core.slab_layout) };
            return Err(AllocError);
        };
        let meta = block.cast::<Meta>();
        let links = links(meta);
        // SAFETY: the block is fresh, aligned for `Meta`, and `meta_layout` holds the
        // header and then `slots` links.
        unsafe {
            meta.write(Meta {
                base: slab,
                free: core.slots,
                head: 0,
                near: [ptr::null_mut(); 2],
            });
            for i in 1..core.slots {
                links.add(i - 1).write(i as u32);
            }
            links.add(core.slots - 1).write(END);
        }
        let at = core.table.as_slice().partition_point(|e| e.base < slab);
        let entry = Entry { base: slab, meta };
        if core.table.insert(at, entry, &self.backing).is_err() {
            // SAFETY: both blocks were just allocated with these layouts and are unused.
            unsafe {
                self.backing.deallocate(slab, core.slab_layout);
                self.backing.deallocate(block.cast(), core.meta_layout);
            }
            return Err(AllocError);
        }
        Ok(meta)
    }

    /// Frees the slot at `ptr`; detects double and invalid frees.
    #[inline(always)]
    fn free_slot(&self, ptr: NonNull<u8>) {
        // SAFETY: the borrow ends before this method returns or calls out.
        let core = unsafe { self.core() };
        let offset = ptr.as_ptr().addr().wrapping_sub(core.base.as_ptr().addr());
        if offset >= core.span {
            return self.free_slow(offset);
        }
        let (slot, start) = core.slot_of(offset);
        // SAFETY: `offset < span`, so there is a current slab and `slot = offset / stride
        // < slots` (exact even when `offset` is not a slot start) indexes its link array.
        let link = unsafe { *core.links.add(slot) };
        let previous = core.top;
        // One test for the common case: a live slot start, and no top to push.
        if link & previous & start != LIVE {
            crate::align::cold_path();
            // (The address is rebuilt from `offset` so that `ptr` needs no register here.)
            let addr = core.base.as_ptr().addr() + offset;
            if start != LIVE {
                return invalid_free(addr, "not the start of a slot");
            }
            if link != LIVE || previous == offset as u32 {
                return invalid_free(addr, "double free: the slot is already free");
            }
            // The previous top goes on the free list. It is a slot start of the current
            // slab, so its index is below `slots` and indexes the link array.
            let (previous, _) = core.slot_of(previous as usize);
            // SAFETY: as just said.
            unsafe { *core.links.add(previous) = core.head };
            core.head = previous as u32;
        }
        core.top = offset as u32;
    }

    /// Frees the slot `offset` bytes (wrapping) from the current slab's base, outside it,
    /// or reports an invalid free.
    #[cold]
    #[inline(never)]
    fn free_slow(&self, offset: usize) {
        // SAFETY: the borrow ends before this method returns or calls out.
        let core = unsafe { self.core() };
        let addr = core.base.as_ptr().addr().wrapping_add(offset);
        let span = core.stride * core.slots;
        let recent = NonNull::new(core.recent).filter(|m| {
            // SAFETY: `recent` is null or a live metadata block (invariant), not borrowed.
            let base = unsafe { (*m.as_ptr()).base };
            addr.wrapping_sub(base.as_ptr().addr()) < span
        });
        let m = match recent {
            Some(m) => m,
            None => {
                let table = core.table.as_slice();
                match table.partition_point(|e| e.base.as_ptr().addr() <= addr) {
                    0 => return invalid_free(addr, "not inside any slab"),
                    i => table[i - 1].meta,
                }
            }
        };
        // SAFETY: `m` is a live metadata block of this core, not the current one (whose
        // range `free_slot` checked); this is the only reference to it.
        let meta = unsafe { &mut *m.as_ptr() };
        let offset = addr - meta.base.as_ptr().addr();
        let (slot, start) = core.slot_of(offset);
        // A one-slot slab's `magic` is 1: only offset 0 is its slot start.
        if offset >= span || start != LIVE || (core.slots == 1 && offset != 0) {
            return invalid_free(addr, "not the start of a slot");
        }
        core.recent = m.as_ptr();
        // SAFETY: a slot start below `span`: `slot < slots` indexes the link array, which is
        // disjoint from the header.
        let link = unsafe { &mut *links(m).add(slot) };
        if *link != LIVE {
            return invalid_free(addr, "double free: the slot is already free");
        }
        *link = meta.head;
        meta.head = slot as u32;
        meta.free += 1;
        // `meta` is not used past here: the list functions reach the block by pointer.
        let (base, free) = (meta.base, meta.free);
        if free == 1 {
            // SAFETY: not current (above), and it was full, so not listed.
            unsafe { core.push(m, FRONT) };
        }
        if free == core.slots {
            core.empty += 1;
            // SAFETY: `m` is listed (it has a free slot and is not current).
            unsafe { core.unlink(m) };
            // Keep `EMPTY_RESERVE - 1`: the current slab is the last of the reserve.
            if core.empty < EMPTY_RESERVE {
                // SAFETY: unlinked just above; empty slabs go to the back.
                return unsafe { core.push(m, BACK) };
            }
            let at = core.table.as_slice().partition_point(|e| e.base < base);
            core.table.remove(at);
            core.empty -= 1;
            core.recent = ptr::null_mut();
            // SAFETY: both blocks were allocated with these layouts; the slab has no live
            // slot, and no pointer to the metadata block remains in `core`.
            unsafe {
                self.backing.deallocate(base, core.slab_layout);
                self.backing.deallocate(m.cast(), core.meta_layout);
            }
        }
    }
}

/// A free the slab cannot honour: a panic in debug builds, ignored in release builds.
#[cold]
#[inline(never)]
#[track_caller]
fn invalid_free(addr: usize, what: &str) {
    if cfg!(debug_assertions) {
        panic!("Slab: invalid free of {addr:#x}: {what}");
    }
}

impl<A: Allocator> Drop for Slab<A> {
    fn drop(&mut self) {
        let core = self.core.get_mut();
        for e in core.table.as_slice() {
            // SAFETY: every slab and metadata block was allocated with these layouts;
            // dropping the allocator ends every block's life.
            unsafe {
                self.backing.deallocate(e.base, core.slab_layout);
                self.backing.deallocate(e.meta.cast(), core.meta_layout);
            }
        }
        core.table.free(&self.backing);
    }
}

impl<A: Allocator> core::fmt::Debug for Slab<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Slab")
            .field("layout", &self.layout)
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

// SAFETY: a slot is handed out only as the top or from a free list, and is neither until
// it is freed (its link stays `LIVE`), so live blocks never overlap; slabs stay allocated
// until they are empty or the allocator is dropped; slots are aligned to the slab
// layout's alignment, and a layout needing more is refused. Slabs are out of line:
// moving the allocator moves no block.
unsafe impl<A: Allocator> Allocator for Slab<A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let p = self.alloc_slot(layout)?;
        Ok(NonNull::slice_from_raw_parts(p, layout.size()))
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() != 0 {
            self.free_slot(ptr);
        }
    }

    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if !self.fits(new) {
            return Err(AllocError);
        }
        if old.size() == 0 {
            return self.allocate(new);
        }
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    }

    grow_zeroed_via_grow!();

    shrink_nonzero!(self, ptr, old, new => {
        if new.align() > self.layout.align() {
            return Err(AllocError);
        }
        Ok(NonNull::slice_from_raw_parts(ptr, new.size()))
    });
}

mirror_core_allocator!(impl[A: Allocator] for Slab<A>);

mod stats;
#[cfg(test)]
mod tests;

pub use stats::SlabStats;
