//! `Arena`: a growable bump allocator whose blocks are all freed at once.
//!
//! ## Design
//!
//! The arena bumps a cursor *up* through the current **chunk**, a block it obtained from
//! its backing allocator. When a request does not fit, the `#[cold]` slow path
//!
//! 1. reuses a **spare** chunk (released by a [`scope`](Arena::scope)) that fits, else
//! 2. allocates a new chunk whose size doubles each time (from 4 KiB to 256 MiB), else,
//!    for a request larger than the next chunk would be,
//! 3. gives that one block a **dedicated** chunk of exactly its size and keeps bumping in
//!    the current chunk. So `10 B + 1 MB + 10 B` reserves 1,052,688 B (`tests/scopes.rs`
//!    asserts the count; bumpalo 3.20 reserves 1,053,056 B), where an arena that only
//!    doubled its chunk size would reserve over 2 MB.
//!
//! Bumping up means the most recent block can grow and shrink in place: a `Vec` that is
//! the last allocation extends without copying, so `reserve_exact(1)` in a loop costs
//! O(1) per call instead of bumpalo's O(n) copy.
//!
//! Chunks live in three singly linked lists threaded through their headers: the current
//! chunk and the older ones it replaced, the dedicated chunks, and the spares. A scope is
//! a checkpoint of the cursor and the two list heads; ending it moves every newer chunk to
//! the spare list and rewinds the cursor, in time proportional to the chunks, not blocks.
//!
//! ## Why the default backing allocator is `Global`
//!
//! Chunks are few and large, so the backing allocator is off the hot path; what matters is
//! the cost of a small, short-lived arena. `Global` (glibc malloc in a std program) serves
//! a 4 KiB chunk from its own free lists, while [`Pages`](crate::Pages) makes an `mmap` and
//! `munmap` system call per chunk. The `default_backing` benchmark measured creating an
//! arena, making 100 small allocations and dropping it: see the README for the ratio. `Global`
//! also exists without `std`, so `Arena::new()` works in `no_std` + `alloc` builds.
//!
//! ## Reset keeps one chunk that holds the whole round
//!
//! [`reset`](Arena::reset) keeps a single chunk: the largest, if the bytes used since the
//! last reset fit in it; otherwise it replaces all chunks with one new chunk that does
//! fit them. Keeping only the largest chunk (bumpalo's policy) would make a round of a
//! growing `Vec` plus small values cost two backing calls per round forever (counted with
//! [`Counting`](crate::Counting)), because the round never fits the one chunk kept. With
//! consolidation an arena reset in a loop makes zero backing calls from the second round
//! on (a test proves it), while holding one chunk; keeping every chunk would also reach
//! zero calls but hold the sum of all chunks forever.

use alloc::alloc::handle_alloc_error;

use allocator_api2::alloc::Global;
use core::cell::Cell;
use core::ptr::NonNull;

use crate::align::round_up;
use crate::api::{AllocError, Allocator, Layout};
use crate::bump::{Cursor, DEFAULT_MIN_ALIGN};

/// Alignment of every chunk; blocks aligned to at most this need no padding at a chunk's
/// start.
const CHUNK_ALIGN: usize = 16;
/// Bytes at the start of each chunk taken by its [`Chunk`] header (a multiple of
/// `CHUNK_ALIGN`).
const HEADER: usize = (size_of::<Chunk>() + CHUNK_ALIGN - 1) & !(CHUNK_ALIGN - 1);
/// What `malloc` keeps in front of a block; chunk sizes leave room for it so a chunk plus
/// its malloc header fills a power of two exactly.
const MALLOC_OVERHEAD: usize = 16;
/// Size of the first chunk.
const FIRST_CHUNK: usize = 4096 - MALLOC_OVERHEAD;
/// Chunks stop doubling here; larger requests still get dedicated chunks.
const MAX_CHUNK: usize = (256 << 20) - MALLOC_OVERHEAD;

/// Header at the start of every chunk.
struct Chunk {
    /// The next older chunk in the same list.
    prev: Option<NonNull<Chunk>>,
    /// Bytes obtained from the backing allocator for this chunk, header included. The
    /// chunk's usable bytes are `[chunk + HEADER, chunk + size)`.
    size: usize,
    /// The alignment the chunk was allocated with (at least `CHUNK_ALIGN`).
    align: usize,
}

/// A growable bump allocator with scopes.
///
/// ```
/// use allocator_api2::vec::Vec;
/// use allockit::Arena;
///
/// let mut arena = Arena::new();
/// let x = arena.alloc(7u64);
/// *x += 1;
/// let mut names = Vec::new_in(&arena);
/// names.push(arena.alloc_str("ada"));
/// names.push(arena.alloc_str("grace"));
/// assert_eq!(names.len(), 2);
/// drop(names);
/// arena.reset(); // everything released at once, capacity kept
/// assert_eq!(arena.used_bytes(), 0);
/// ```
///
/// Values put in the arena with [`alloc`](Arena::alloc) and friends are never dropped;
/// the arena only frees their memory. Collections that live *in* the arena (`Vec::new_in`)
/// drop their elements as usual, and so does a `Box::new_in(value, &arena)`: the way to
/// put a value whose `Drop` must run (a file, a lock guard) in an arena.
///
/// `MIN_ALIGN` (default 8) is the multiple every block's size is rounded up to. At 8, a
/// `u64` or pointer allocation needs no padding arithmetic (the fastest typed path), and a
/// one-byte string takes 8 bytes. For an interner of many short strings, take
/// `MIN_ALIGN = 1`: 1,000 `alloc_str("x")` then use 1,000 bytes, not 8,000.
///
/// ```
/// use allockit::Arena;
/// let words = Arena::<_, 1>::with_min_align();
/// for _ in 0..1000 {
///     words.alloc_str("x");
/// }
/// assert_eq!(words.used_bytes(), 1000);
/// ```
///
/// An `Arena` is `Send` (when its backing allocator is) but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::Arena>();
/// ```
pub struct Arena<A: Allocator = Global, const MIN_ALIGN: usize = DEFAULT_MIN_ALIGN> {
    /// The free part of the current chunk. Its end is the chunk's end, or lower when a
    /// limit is set (so the fast path enforces the limit without a branch of its own).
    pub(crate) bump: Cursor<MIN_ALIGN>,
    /// The chunk the cursor bumps through; its `prev` chain holds the chunks it replaced.
    /// `None` until the first allocation.
    current: Cell<Option<NonNull<Chunk>>>,
    /// Dedicated chunks, one oversized block each, newest first.
    dedicated: Cell<Option<NonNull<Chunk>>>,
    /// Chunks released by scopes, reused before asking the backing allocator again.
    spare: Cell<Option<NonNull<Chunk>>>,
    /// Bytes handed out since the last reset in chunks other than the current one.
    retired: Cell<usize>,
    /// Bytes held from the backing allocator, over all three lists.
    reserved: Cell<usize>,
    /// Size of the next geometric chunk.
    next_size: Cell<usize>,
    /// Most bytes that may be handed out since the last reset; `usize::MAX` for none.
    limit: Cell<usize>,
    /// Where chunks come from.
    backing: A,
}

/// Where an arena stood when a scope began.
#[derive(Clone, Copy)]
pub(crate) struct Checkpoint {
    current: Option<NonNull<Chunk>>,
    position: *mut u8,
    dedicated: Option<NonNull<Chunk>>,
    retired: usize,
}

// SAFETY: an `Arena` exclusively owns its chunks; sending it sends that ownership (and
// the backing allocator, which must itself be `Send`). It is not `Sync`: its state is in
// `Cell`s.
unsafe impl<A: Allocator + Send, const MIN_ALIGN: usize> Send for Arena<A, MIN_ALIGN> {}

impl Arena<Global> {
    /// An empty arena on the global allocator. It allocates nothing until first used.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.reserved_bytes(), 0);
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Self::new_in(Global)
    }

    /// An arena whose first chunk holds at least `bytes` bytes.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`] when the chunk cannot be allocated; see
    /// [`try_with_capacity_in`](Arena::try_with_capacity_in) for a fallible version.
    ///
    /// ```
    /// let arena = allockit::Arena::with_capacity(1 << 20);
    /// assert!(arena.reserved_bytes() >= 1 << 20);
    /// ```
    pub fn with_capacity(bytes: usize) -> Self {
        Self::with_capacity_in(bytes, Global)
    }

    /// An arena whose first chunk holds at least `bytes` bytes, or `AllocError`.
    ///
    /// ```
    /// use allockit::Arena;
    /// let arena = Arena::try_with_capacity(1 << 16).unwrap();
    /// assert!(arena.reserved_bytes() >= 1 << 16);
    /// assert!(Arena::try_with_capacity(usize::MAX).is_err());
    /// ```
    pub fn try_with_capacity(bytes: usize) -> Result<Self, AllocError> {
        Self::try_with_capacity_and_min_align_in(bytes, Global)
    }
}

impl<const MIN_ALIGN: usize> Arena<Global, MIN_ALIGN> {
    /// An empty arena on the global allocator whose blocks are rounded to `MIN_ALIGN`
    /// bytes (a power of two, at most 16; other values do not compile), e.g.
    /// `Arena::<_, 1>::with_min_align()` for packed strings.
    ///
    /// ```
    /// let arena = allockit::Arena::<_, 4>::with_min_align();
    /// arena.alloc(1u8);
    /// assert_eq!(arena.used_bytes(), 4);
    /// ```
    ///
    /// ```compile_fail
    /// let arena = allockit::Arena::<_, 3>::with_min_align();
    /// ```
    #[inline]
    pub const fn with_min_align() -> Self {
        Self::with_min_align_in(Global)
    }
}

impl Default for Arena<Global> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Allocator> Arena<A> {
    /// An empty arena that takes its chunks from `backing`.
    ///
    /// ```
    /// # #[cfg(feature = "std")] {
    /// use allockit::{Arena, Pages};
    /// let arena = Arena::new_in(Pages);
    /// assert_eq!(*arena.alloc(1u8), 1);
    /// # }
    /// ```
    #[inline]
    pub const fn new_in(backing: A) -> Self {
        Self::with_min_align_in(backing)
    }

    /// An arena on `backing` whose first chunk holds at least `bytes` bytes.
    ///
    /// # Panics
    ///
    /// Calls [`handle_alloc_error`] when the chunk cannot be allocated.
    ///
    /// ```
    /// let arena = allockit::Arena::with_capacity_in(1 << 16, allocator_api2::alloc::Global);
    /// assert!(arena.reserved_bytes() >= 1 << 16);
    /// ```
    pub fn with_capacity_in(bytes: usize, backing: A) -> Self {
        match Self::try_with_capacity_in(bytes, backing) {
            Ok(arena) => arena,
            Err(_) => handle_alloc_error(
                Layout::from_size_align(bytes.min(isize::MAX as usize / 2), CHUNK_ALIGN)
                    .unwrap_or(Layout::new::<Chunk>()),
            ),
        }
    }

    /// An arena on `backing` whose first chunk holds at least `bytes` bytes, or
    /// `AllocError` if that chunk cannot be allocated.
    ///
    /// ```
    /// use allockit::Arena;
    /// assert!(Arena::try_with_capacity_in(usize::MAX, allocator_api2::alloc::Global).is_err());
    /// ```
    pub fn try_with_capacity_in(bytes: usize, backing: A) -> Result<Self, AllocError> {
        Self::try_with_capacity_and_min_align_in(bytes, backing)
    }
}

impl<A: Allocator, const MIN_ALIGN: usize> Arena<A, MIN_ALIGN> {
    /// An empty arena on `backing` whose blocks are rounded to `MIN_ALIGN` bytes (a power
    /// of two, at most 16; other values do not compile).
    ///
    /// ```
    /// use allockit::Arena;
    /// let arena = Arena::<_, 1>::with_min_align_in(allocator_api2::alloc::Global);
    /// arena.alloc_str("ab");
    /// arena.alloc_str("c");
    /// assert_eq!(arena.used_bytes(), 3);
    /// ```
    #[inline]
    pub const fn with_min_align_in(backing: A) -> Self {
        const {
            assert!(
                MIN_ALIGN.is_power_of_two() && MIN_ALIGN <= CHUNK_ALIGN,
                "MIN_ALIGN must be a power of two no larger than 16"
            )
        };
        Arena {
            bump: Cursor::empty(),
            current: Cell::new(None),
            dedicated: Cell::new(None),
            spare: Cell::new(None),
            retired: Cell::new(0),
            reserved: Cell::new(0),
            next_size: Cell::new(FIRST_CHUNK),
            limit: Cell::new(usize::MAX),
            backing,
        }
    }

    /// An arena on `backing` with `MIN_ALIGN` whose first chunk holds at least `bytes`
    /// bytes, or `AllocError`.
    ///
    /// ```
    /// use allockit::Arena;
    /// let a = Arena::<_, 1>::try_with_capacity_and_min_align_in(100, allocator_api2::alloc::Global);
    /// assert!(a.unwrap().reserved_bytes() >= 100);
    /// ```
    pub fn try_with_capacity_and_min_align_in(
        bytes: usize,
        backing: A,
    ) -> Result<Self, AllocError> {
        let arena = Self::with_min_align_in(backing);
        let size = bytes.checked_add(HEADER).ok_or(AllocError)?;
        let chunk = arena.new_chunk(size.max(FIRST_CHUNK), CHUNK_ALIGN)?;
        arena.make_current(chunk);
        arena.next_size.set(grow_size(arena.reserved.get()));
        Ok(arena)
    }

    /// The backing allocator.
    ///
    /// ```
    /// use allockit::{Arena, Counting};
    /// let arena = Arena::new_in(Counting::new(allocator_api2::alloc::Global));
    /// arena.alloc_slice_fill_copy(100, 0u32);
    /// arena.alloc_slice_fill_copy(100, 1u32);
    /// assert_eq!(arena.backing().stats().allocations, 1, "one chunk");
    /// ```
    #[inline]
    pub fn backing(&self) -> &A {
        &self.backing
    }

    /// Bytes handed out since creation or the last [`reset`](Arena::reset), alignment
    /// padding included. A scope that ends gives its bytes back.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// arena.alloc(1u8);
    /// arena.alloc_str("abc");
    /// assert_eq!(arena.used_bytes(), 16, "two blocks, each rounded up to 8 bytes");
    /// ```
    #[inline]
    pub fn used_bytes(&self) -> usize {
        self.retired.get() + self.used_in_current()
    }

    /// Bytes held from the backing allocator, free chunks included.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.reserved_bytes(), 0);
    /// arena.alloc(1u8);
    /// assert!(arena.reserved_bytes() >= arena.used_bytes());
    /// arena.alloc_slice_fill_copy(1 << 20, 0u8);
    /// assert!(arena.reserved_bytes() > 1 << 20);
    /// ```
    #[inline]
    pub fn reserved_bytes(&self) -> usize {
        self.reserved.get()
    }

    /// The limit set by [`set_limit`](Arena::set_limit), if any.
    ///
    /// ```
    /// let arena = allockit::Arena::new();
    /// assert_eq!(arena.limit(), None);
    /// arena.set_limit(Some(1 << 16));
    /// assert_eq!(arena.limit(), Some(1 << 16));
    /// ```
    #[inline]
    pub fn limit(&self) -> Option<usize> {
        match self.limit.get() {
            usize::MAX => None,
            limit => Some(limit),
        }
    }

    /// Caps [`used_bytes`](Arena::used_bytes): an allocation that would pass `limit`
    /// returns `AllocError` (the panicking methods then call `handle_alloc_error`). The
    /// cap applies to room left in existing chunks too, and new chunks are sized so the
    /// arena reserves little beyond it. `None` removes the cap.
    ///
    /// ```
    /// use allockit::Arena;
    /// let arena = Arena::with_capacity(4096);
    /// arena.set_limit(Some(100));
    /// assert!(arena.try_alloc([0u8; 64]).is_ok());
    /// assert!(arena.try_alloc([0u8; 64]).is_err(), "64 + 64 > 100, though the chunk has room");
    /// arena.set_limit(None);
    /// assert!(arena.try_alloc([0u8; 64]).is_ok());
    /// ```
    pub fn set_limit(&self, limit: Option<usize>) {
        self.limit.set(limit.unwrap_or(usize::MAX));
        if let Some(chunk) = self.current.get() {
            self.bump.set_end(self.clamped_end(chunk));
        }
    }

    /// Releases every block at once, keeping one chunk for reuse — one large enough for
    /// everything used since the last reset — and returning the others to the backing
    /// allocator. `&mut self` proves no block is borrowed.
    ///
    /// ```
    /// let mut arena = allockit::Arena::new();
    /// for round in 0..3 {
    ///     for i in 0..1000u64 {
    ///         arena.alloc(i + round);
    ///     }
    ///     arena.reset();
    /// }
    /// assert_eq!(arena.used_bytes(), 0);
    /// assert!(arena.reserved_bytes() >= 8000, "capacity kept");
    /// ```
    pub fn reset(&mut self) {
        let used = self.used_bytes();
        let mut keep: Option<NonNull<Chunk>> = None;
        let mut chunks = 0;
        for head in [
            self.current.take(),
            self.dedicated.take(),
            self.spare.take(),
        ] {
            let mut next = head;
            while let Some(chunk) = next {
                chunks += 1;
                // SAFETY: every chunk in the lists is live and owned by this arena.
                let (prev, size) = unsafe { ((*chunk.as_ptr()).prev, (*chunk.as_ptr()).size) };
                next = prev;
                let Some(kept) = keep else {
                    keep = Some(chunk);
                    continue;
                };
                // SAFETY: `kept` is live and owned by this arena.
                let (smaller, larger) = if unsafe { (*kept.as_ptr()).size } >= size {
                    (chunk, kept)
                } else {
                    (kept, chunk)
                };
                keep = Some(larger);
                // SAFETY: `smaller` is unlinked, owned, and no block in it is borrowed.
                unsafe { self.free_chunk(smaller) }
            }
        }
        self.retired.set(0);
        self.bump.set(core::ptr::null_mut(), core::ptr::null_mut());
        let Some(mut chunk) = keep else { return };
        // SAFETY: `chunk` is live and owned.
        let capacity = unsafe { (*chunk.as_ptr()).size } - HEADER;
        if chunks > 1 && used > capacity {
            // The round did not fit one chunk: replace it by one that does (if the backing
            // allocator refuses, keep the largest).
            let size = round_up(used.saturating_add(HEADER + MALLOC_OVERHEAD), 4096)
                .map(|s| s.next_power_of_two() - MALLOC_OVERHEAD);
            if let Some(Ok(bigger)) = size.map(|s| self.new_chunk(s, CHUNK_ALIGN)) {
                // SAFETY: the old chunk is unlinked and none of its blocks is borrowed.
                unsafe { self.free_chunk(chunk) };
                chunk = bigger;
            }
        }
        // SAFETY: `chunk` is live, owned, and on no list now.
        unsafe { (*chunk.as_ptr()).prev = None };
        self.make_current_unlinked(chunk);
    }

    /// Runs `f` in a [`Scope`](crate::Scope) of this arena: every block allocated in it
    /// is released when `f` returns (or panics), in time proportional to the chunks used,
    /// and the chunks are kept for the next allocations. See [`Scope`](crate::Scope).
    ///
    /// ```
    /// use allocator_api2::vec::Vec;
    ///
    /// let mut arena = allockit::Arena::new();
    /// let before = arena.used_bytes();
    /// let sum = arena.scope(|s| {
    ///     let mut v = Vec::new_in(&*s);
    ///     v.extend(0..1000u64);
    ///     let words = s.alloc_slice_fill_with(100, |i| i as u64);
    ///     v.iter().sum::<u64>() + words.iter().sum::<u64>()
    /// }); // every block of the scope is released here, in one step
    /// assert_eq!(sum, 499_500 + 4_950);
    /// assert_eq!(arena.used_bytes(), before);
    /// ```
    #[inline]
    pub fn scope<R>(
        &mut self,
        f: impl for<'s> FnOnce(&mut crate::Scope<'s, A, MIN_ALIGN>) -> R,
    ) -> R {
        crate::scope::enter(self, f)
    }

    // ----- the fast path ------------------------------------------------------------

    /// Allocates a block for `layout`: the bump fast path, else the cold slow path.
    #[inline(always)]
    pub(crate) fn alloc_block(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        if layout.size() == 0 {
            return Ok(crate::align::dangling(layout));
        }
        match self.bump.bump(layout.size(), layout.align()) {
            Some(p) => Ok(p),
            None => self.alloc_slow(layout),
        }
    }

    // ----- the slow path ------------------------------------------------------------

    /// Serves a request the current chunk cannot: from a spare chunk, a new geometric
    /// chunk, or a dedicated chunk, in that order of preference.
    #[cold]
    #[inline(never)]
    fn alloc_slow(&self, layout: Layout) -> Result<NonNull<u8>, AllocError> {
        let (size, align) = (layout.size(), layout.align());
        let room = self.limit.get().saturating_sub(self.used_bytes());
        if size > room {
            return Err(AllocError);
        }
        // Bytes a chunk aligned to `CHUNK_ALIGN` needs to be sure to fit the block.
        let fits = size
            .checked_add(HEADER + align.saturating_sub(CHUNK_ALIGN))
            .ok_or(AllocError)?;
        let chunk = match self.take_spare(fits) {
            Some(chunk) => chunk,
            None if fits <= self.next_size.get() => {
                // Size a new chunk by doubling, but not far beyond what the limit allows.
                let capped = room.saturating_add(HEADER + align).max(fits);
                let chunk = self.new_chunk(self.next_size.get().min(capped), CHUNK_ALIGN)?;
                self.next_size.set(grow_size(self.next_size.get()));
                chunk
            }
            None => return self.alloc_dedicated(layout, room),
        };
        self.make_current(chunk);
        // The chunk was chosen to fit the block, but a limit may still refuse the padding.
        self.bump.bump(size, align).ok_or(AllocError)
    }

    /// Gives one oversized block a chunk of its own and keeps bumping in the current one.
    #[cold]
    fn alloc_dedicated(&self, layout: Layout, room: usize) -> Result<NonNull<u8>, AllocError> {
        let align = layout.align().max(CHUNK_ALIGN);
        let offset = round_up(HEADER, align).ok_or(AllocError)?;
        let total = offset.checked_add(layout.size()).ok_or(AllocError)?;
        // What the block costs against the limit: itself and its alignment padding.
        let charge = total - HEADER;
        if charge > room {
            return Err(AllocError);
        }
        let chunk = self.new_chunk(total, align)?;
        // SAFETY: `chunk` is live, owned, and on no list.
        unsafe { (*chunk.as_ptr()).prev = self.dedicated.get() };
        self.dedicated.set(Some(chunk));
        self.retired.set(self.retired.get() + charge);
        // Let repeated large requests grow the geometric chunks too.
        self.next_size.set(grow_size(self.next_size.get()));
        // SAFETY: `offset + size <= total <= chunk size`, so the block is inside the chunk.
        Ok(unsafe { chunk.cast::<u8>().add(offset) })
    }

    /// Unlinks and returns the first spare chunk of at least `fits` bytes.
    fn take_spare(&self, fits: usize) -> Option<NonNull<Chunk>> {
        let mut before: Option<NonNull<Chunk>> = None;
        let mut next = self.spare.get();
        while let Some(chunk) = next {
            // SAFETY: spare chunks are live and owned by this arena; no reference to a
            // header outlives the statement that makes it.
            let (prev, size) = unsafe { ((*chunk.as_ptr()).prev, (*chunk.as_ptr()).size) };
            if size >= fits {
                match before {
                    None => self.spare.set(prev),
                    // SAFETY: `b` is the live spare chunk linked just before `chunk`.
                    Some(b) => unsafe { (*b.as_ptr()).prev = prev },
                }
                return Some(chunk);
            }
            before = Some(chunk);
            next = prev;
        }
        None
    }

    /// Allocates a chunk of at least `size` bytes (header included) aligned to `align`.
    fn new_chunk(&self, size: usize, align: usize) -> Result<NonNull<Chunk>, AllocError> {
        let layout = Layout::from_size_align(size, align).map_err(|_| AllocError)?;
        let block = self.backing.allocate(layout)?;
        let chunk = block.cast::<Chunk>();
        // SAFETY: the block is fresh, aligned to at least `CHUNK_ALIGN >= align_of::<Chunk>()`
        // and at least `HEADER` bytes long (every caller asks for more than `HEADER`).
        unsafe {
            chunk.as_ptr().write(Chunk {
                prev: None,
                size: block.len(),
                align,
            })
        };
        self.reserved.set(self.reserved.get() + block.len());
        Ok(chunk)
    }

    /// Returns a chunk to the backing allocator.
    ///
    /// # Safety
    ///
    /// `chunk` is live, owned by this arena, on no list, and no block in it is in use.
    unsafe fn free_chunk(&self, chunk: NonNull<Chunk>) {
        // SAFETY: `chunk` is live (caller).
        let (size, align) = unsafe { ((*chunk.as_ptr()).size, (*chunk.as_ptr()).align) };
        self.reserved.set(self.reserved.get() - size);
        // SAFETY: the chunk was allocated by `backing` with this alignment and a size it
        // reported as fitting, and is not used again (caller).
        unsafe {
            self.backing
                .deallocate(chunk.cast(), Layout::from_size_align_unchecked(size, align))
        }
    }

    /// Pushes `chunk` onto the current list and points the cursor at its usable bytes.
    fn make_current(&self, chunk: NonNull<Chunk>) {
        self.retired
            .set(self.retired.get() + self.used_in_current());
        // SAFETY: `chunk` is live, owned, and on no list.
        unsafe { (*chunk.as_ptr()).prev = self.current.get() };
        self.make_current_unlinked(chunk);
    }

    /// Points the cursor at the start of `chunk`, whose `prev` is already set.
    fn make_current_unlinked(&self, chunk: NonNull<Chunk>) {
        self.current.set(Some(chunk));
        self.bump.set(data_start(chunk), chunk_end(chunk));
        self.bump.set_end(self.clamped_end(chunk));
    }

    /// The end of `chunk`, lowered so that `used_bytes` cannot pass the limit.
    fn clamped_end(&self, chunk: NonNull<Chunk>) -> *mut u8 {
        let end = chunk_end(chunk);
        let room = self.limit.get().saturating_sub(self.retired.get());
        let start = data_start(chunk);
        let cap = start
            .addr()
            .saturating_add(room)
            .max(self.bump.position().addr());
        if cap < end.addr() {
            end.with_addr(cap)
        } else {
            end
        }
    }

    /// Bytes handed out from the current chunk.
    #[inline]
    fn used_in_current(&self) -> usize {
        match self.current.get() {
            Some(chunk) => self.bump.position().addr() - data_start(chunk).addr(),
            None => 0,
        }
    }

    /// Where the arena stands, for a scope to come back to.
    pub(crate) fn checkpoint(&self) -> Checkpoint {
        Checkpoint {
            current: self.current.get(),
            position: self.bump.position(),
            dedicated: self.dedicated.get(),
            retired: self.retired.get(),
        }
    }

    /// Releases everything allocated since `cp`: newer chunks become spares and the cursor
    /// goes back.
    ///
    /// # Safety
    ///
    /// `cp` was taken from this arena, no reset happened since, and no block allocated
    /// since `cp` is used again.
    pub(crate) unsafe fn restore(&self, cp: Checkpoint) {
        for (list, stop) in [(&self.current, cp.current), (&self.dedicated, cp.dedicated)] {
            while list.get() != stop {
                let Some(chunk) = list.get() else { break };
                // SAFETY: listed chunks are live and owned; `chunk` moves to the spares and
                // its blocks are dead (caller).
                unsafe {
                    list.set((*chunk.as_ptr()).prev);
                    (*chunk.as_ptr()).prev = self.spare.get();
                }
                self.spare.set(Some(chunk));
            }
        }
        self.retired.set(cp.retired);
        match cp.current {
            Some(chunk) => {
                self.bump.set(cp.position, chunk_end(chunk));
                self.bump.set_end(self.clamped_end(chunk));
            }
            None => self.bump.set(core::ptr::null_mut(), core::ptr::null_mut()),
        }
    }
}

/// The next geometric chunk size after `size`.
#[inline]
fn grow_size(size: usize) -> usize {
    (size.saturating_add(MALLOC_OVERHEAD))
        .saturating_mul(2)
        .min(MAX_CHUNK + MALLOC_OVERHEAD)
        - MALLOC_OVERHEAD
}

/// The first usable byte of `chunk`.
#[inline]
fn data_start(chunk: NonNull<Chunk>) -> *mut u8 {
    chunk.cast::<u8>().as_ptr().wrapping_add(HEADER)
}

/// One past the last byte of `chunk`.
#[inline]
fn chunk_end(chunk: NonNull<Chunk>) -> *mut u8 {
    // SAFETY: `chunk` is a live chunk header.
    let size = unsafe { (*chunk.as_ptr()).size };
    chunk.cast::<u8>().as_ptr().wrapping_add(size)
}

impl<A: Allocator, const MIN_ALIGN: usize> Drop for Arena<A, MIN_ALIGN> {
    fn drop(&mut self) {
        for head in [
            self.current.take(),
            self.dedicated.take(),
            self.spare.take(),
        ] {
            let mut next = head;
            while let Some(chunk) = next {
                // SAFETY: listed chunks are live and owned; dropping the arena ends every
                // borrow of its blocks.
                unsafe {
                    next = (*chunk.as_ptr()).prev;
                    self.free_chunk(chunk);
                }
            }
        }
    }
}

impl<A: Allocator, const MIN_ALIGN: usize> core::fmt::Debug for Arena<A, MIN_ALIGN> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Arena")
            .field("used_bytes", &self.used_bytes())
            .field("reserved_bytes", &self.reserved_bytes())
            .field("limit", &self.limit())
            .finish_non_exhaustive()
    }
}

impl<A: Allocator, const MIN_ALIGN: usize> Arena<A, MIN_ALIGN> {
    typed_alloc_methods!(; example_open = "", recv = "&arena", example_close = "");

    /// The arena itself: what the typed methods allocate from.
    #[inline(always)]
    fn core(&self) -> &Arena<A, MIN_ALIGN> {
        self
    }
}

mod allocator;
mod stats;
#[cfg(test)]
mod tests;

pub use stats::ArenaStats;
