//! `FreeList`: a general-purpose allocator with individual free, on a backing allocator.
//!
//! Pick it for objects of mixed sizes and unrelated lifetimes (graphs that change, caches,
//! buffers in a long-running process), where an arena would never give memory back.
//!
//! ## Design
//!
//! A two-level segregated fit heap (TLSF, as in `rlsf`), shaped like talc: a non-generic
//! `Core` with `&mut self` methods holds the heap, and [`FreeList`] wraps it in an
//! `UnsafeCell` beside the backing allocator and implements `Allocator`.
//!
//! - **Regions.** Memory comes from the backing allocator in regions: the first is 64 KiB,
//!   each later one as large as everything already held (so the heap doubles) up to
//!   64 MiB, and always large enough for the request. A region starts with a header (the
//!   links of the region list and the region's size) and ends with a *sentinel*: a used
//!   block of size 0 that stops coalescing at the region's end.
//! - **Blocks** tile the rest of the region. Sizes are multiples of 16, at least 32. Each
//!   block starts with a 16-byte header: its size with flag bits (this block is free, the
//!   previous one is free, this is the region's first block) and a pointer to the
//!   physically previous block, valid while that block is free (a boundary tag). The
//!   payload follows, 16-aligned; a free block keeps its free-list links there.
//! - **Free lists.** A free block sits in one of 16 lists per power of two: first level
//!   `floor(log2(size))`, second level the next four bits (up to 256 bytes, one list per
//!   size). A bitmap per level marks the non-empty lists, so a fit is found with two
//!   `trailing_zeros`, in O(1). The request is first rounded up to the next list boundary
//!   ("good fit"), so the head of the list found always fits: no list is ever walked.
//! - **Allocate** takes that head and splits its tail off as a new free block when the
//!   tail has at least 32 bytes. An alignment above 16 searches for `size + align + 32` and
//!   splits the misaligned front off as a free block too. **Free** merges the block with
//!   its free neighbours on both sides, found in O(1) through the boundary tags, so no two
//!   free blocks are ever adjacent. **Grow** extends into a free next block in place;
//!   **shrink** gives the tail back in place; otherwise the block moves.
//!
//! ## What goes back to the backing allocator
//!
//! A region that becomes wholly free is returned at once, except one: the heap keeps the
//! larger of two wholly free regions as a reserve, so a loop that allocates and frees a
//! block does not get and return a region each time. Dropping the `FreeList` returns
//! every region.
//!
//! ## Limits
//!
//! Alignments up to 1 MiB are served inside regions, at the cost of up to `align` bytes
//! of slack, which becomes a free block. Larger alignments, and sizes above
//! `usize::MAX / 8`, return `AllocError`.
//!
//! ## Re-entrancy
//!
//! `FreeList` is `!Sync`, and its `&mut Core` borrow never lives across a call to the
//! backing allocator: the heap is updated, the borrow ends, and only then are regions
//! asked for or given back. A backing allocator that somehow re-enters the same
//! `FreeList` therefore sees a consistent heap, and no two `&mut` ever overlap.
//!
//! Every pointer the heap makes is derived from a region pointer by offsets
//! (`wrapping_byte_add`), so Miri checks every access. A block's header is found 16 bytes
//! before the pointer given to `deallocate`, `grow` or `shrink`, which therefore must carry
//! the provenance of the block returned, as the pointers of every collection do.

use core::cell::UnsafeCell;
use core::ptr::{self, NonNull};

use crate::align::{is_aligned, pad_up};
use crate::api::{AllocError, Allocator, Layout, dangling, move_block, zero_tail};

/// Block granularity: every size is a multiple of it, every payload aligned to it.
const GRAN: usize = 16;
/// Bytes of a block header.
const HEADER: usize = size_of::<Block>();
/// The smallest block: a header and the two links of a free list.
const MIN_BLOCK: usize = 32;
/// Bytes of a region header; the region's first block starts right after it.
const REGION_HEADER: usize = size_of::<Region>();
/// log2 of the number of second-level lists per power of two.
const SL_LOG2: u32 = 4;
/// Second-level lists per first-level class (the bits of a `u16`).
const SL_COUNT: usize = 1 << SL_LOG2;
/// log2 of `MIN_BLOCK`: first level 0 holds the blocks of 32 to 63 bytes.
const MIN_LOG2: u32 = MIN_BLOCK.trailing_zeros();
/// First-level classes: one per power of two a `usize` can reach, so indexing by
/// `mapping` needs no bounds check (the classes above `MAX_SIZE` stay empty).
const FL_COUNT: usize = (usize::BITS - MIN_LOG2) as usize;
/// The largest request served; it keeps every derived size below `1 << (usize::BITS - 2)`.
const MAX_SIZE: usize = 1 << (usize::BITS - 3);
/// The largest alignment served.
const MAX_ALIGN: usize = 1 << 20;
/// Alignment of the regions asked from the backing allocator.
const REGION_ALIGN: usize = 64;
/// Region sizes are multiples of this, so a page allocator has no slack to waste.
const REGION_GRAIN: usize = 4096;
/// Size of the first region, and the least a geometric region gets.
const FIRST_REGION: usize = 64 << 10;
/// Regions stop growing geometrically here; larger requests still get a region that fits.
const MAX_REGION: usize = 64 << 20;

/// Tag flag: this block is free.
const FREE: usize = 1;
/// Tag flag: the physically previous block is free, and `prev_phys` points to it.
const PREV_FREE: usize = 2;
/// Tag flag: this block is the first of its region.
const FIRST: usize = 4;
/// The bits of a tag that are flags rather than size.
const FLAGS: usize = GRAN - 1;

const _: () = assert!(HEADER == GRAN && HEADER + size_of::<Links>() <= MIN_BLOCK);
const _: () = assert!(MIN_BLOCK.is_power_of_two() && SL_LOG2 < MIN_LOG2);
const _: () = assert!(REGION_HEADER.is_multiple_of(GRAN) && REGION_ALIGN >= GRAN);

/// The header in front of every block, and the sentinel at the end of every region.
#[repr(C, align(16))]
struct Block {
    /// The physically previous block; valid only while `PREV_FREE` is set in `tag`.
    prev_phys: *mut Block,
    /// The block's size in bytes, header included (a multiple of 16; 0 for a sentinel),
    /// ORed with `FREE`, `PREV_FREE` and `FIRST`.
    tag: usize,
}

/// The free-list links, kept in the payload of a free block.
#[repr(C)]
struct Links {
    /// The next block in the same list, or null.
    next: *mut Block,
    /// The previous block in the same list, or null for the head.
    prev: *mut Block,
}

/// The header at the start of every region.
#[repr(C, align(16))]
struct Region {
    /// The newer neighbour in the region list, or null for the newest.
    prev: *mut Region,
    /// The older neighbour in the region list, or null.
    next: *mut Region,
    /// Bytes of the region, header and sentinel included: the length the backing
    /// allocator returned, rounded down to 16 (so a valid size to deallocate with).
    size: usize,
}

/// The block `off` bytes after `b`, with `b`'s provenance.
#[inline(always)]
fn at(b: *mut Block, off: usize) -> *mut Block {
    b.wrapping_byte_add(off)
}

/// The free-list links of the free block `b`.
#[inline(always)]
fn links(b: *mut Block) -> *mut Links {
    b.wrapping_byte_add(HEADER).cast()
}

/// The first block of region `r`.
#[inline(always)]
fn first_block(r: *mut Region) -> *mut Block {
    r.wrapping_byte_add(REGION_HEADER).cast()
}

/// The region whose first block is `b`.
#[inline(always)]
fn region_of(b: *mut Block) -> *mut Region {
    b.wrapping_byte_sub(REGION_HEADER).cast()
}

/// The size of a block to hold `layout`, or `None` if the layout is beyond the limits.
#[inline(always)]
fn block_size(layout: Layout) -> Option<usize> {
    if layout.size() > MAX_SIZE || layout.align() > MAX_ALIGN {
        return None;
    }
    Some((((layout.size() + FLAGS) & !FLAGS) + HEADER).max(MIN_BLOCK))
}

/// The size of a free block that is sure to hold a block of `need` bytes at `align`.
#[inline(always)]
fn search_size(need: usize, align: usize) -> usize {
    if align <= GRAN {
        need
    } else {
        need + align + MIN_BLOCK
    }
}

/// The list (first level, second level) that holds free blocks of `size >= 32` bytes:
/// `log2(size)` and the four bits below the top one, without a branch. Up to 256 bytes,
/// where a list spans at most 16 bytes, each list holds a single size.
#[inline(always)]
fn mapping(size: usize) -> (usize, usize) {
    let log = size.ilog2();
    let sl = (size >> (log - SL_LOG2)) & (SL_COUNT - 1);
    ((log - MIN_LOG2) as usize, sl)
}

/// `size >= 32` rounded up to the smallest size of the next list, so every block in the
/// list `mapping` gives for the result holds at least `size` bytes.
#[inline(always)]
fn round_to_list(size: usize) -> usize {
    size + (1 << (size.ilog2() - SL_LOG2)) - 1
}

/// The heap: the segregated free lists and the regions.
///
/// The invariant its methods keep (the *heap invariant*, checked by `check`): every
/// region of the list is live, owned memory from the backing allocator, tiled by blocks
/// from its first block to its sentinel; flags and `prev_phys` pointers are consistent;
/// no two free blocks are adjacent; every free block is in exactly the list its size maps
/// to; and the counters match the lists and regions.
struct Core {
    /// `heads[fl][sl]` is null or the first free block of that list.
    heads: [[*mut Block; SL_COUNT]; FL_COUNT],
    /// Bit `sl` of `sl_bitmap[fl]` is set exactly when `heads[fl][sl]` is not null.
    sl_bitmap: [u16; FL_COUNT],
    /// Bit `fl` is set exactly when `sl_bitmap[fl]` is not 0.
    fl_bitmap: usize,
    /// The newest region; the others follow through `Region::next`.
    regions: *mut Region,
    /// The one wholly free region kept as reserve, or null. No other region is wholly
    /// free.
    spare: *mut Region,
    /// Payload bytes (block sizes less headers) over all free blocks.
    free_bytes: usize,
    /// Blocks in the free lists.
    free_blocks: usize,
    /// Regions in the region list.
    region_count: usize,
    /// Sum of the regions' `size`.
    reserved: usize,
    /// Where list updates aimed at a null neighbour go, so that they need no branch.
    sink: *mut Block,
}

impl Core {
    /// An empty heap, holding no region.
    const fn new() -> Self {
        Core {
            heads: [[ptr::null_mut(); SL_COUNT]; FL_COUNT],
            sl_bitmap: [0; FL_COUNT],
            fl_bitmap: 0,
            regions: ptr::null_mut(),
            spare: ptr::null_mut(),
            free_bytes: 0,
            free_blocks: 0,
            region_count: 0,
            reserved: 0,
            sink: ptr::null_mut(),
        }
    }

    // ----- the fast path -----------------------------------------------------------

    /// Allocates a block of `need` bytes (from [`block_size`]) aligned to `align` from the
    /// free lists, or `None` if no free block fits.
    #[inline(always)]
    fn allocate(&mut self, need: usize, align: usize) -> Option<NonNull<[u8]>> {
        let (fl, sl) = self.find(search_size(need, align))?;
        let b = self.heads[fl][sl];
        // SAFETY: the head of a non-empty list is a free block of this heap (heap
        // invariant), and good fit makes it at least `search_size(need, align)` bytes.
        unsafe {
            self.unlink(b, fl, sl);
            Some(self.carve(b, need, align))
        }
    }

    /// The first non-empty list whose blocks all hold at least `size` bytes.
    #[inline(always)]
    fn find(&self, size: usize) -> Option<(usize, usize)> {
        let (fl, sl) = mapping(round_to_list(size));
        let here = self.sl_bitmap.get(fl)? & (u16::MAX << sl);
        if here != 0 {
            return Some((fl, here.trailing_zeros() as usize));
        }
        let above = self.fl_bitmap & (usize::MAX << (fl + 1));
        if above == 0 {
            return None;
        }
        let fl = above.trailing_zeros() as usize;
        Some((fl, self.sl_bitmap[fl].trailing_zeros() as usize))
    }

    /// Pushes the free block `b` on the list its size maps to.
    ///
    /// # Safety
    ///
    /// `b` is a free block of this heap, with its final tag, and on no list.
    #[inline(always)]
    unsafe fn insert(&mut self, b: *mut Block) {
        // SAFETY: `b` is a block of this heap (caller), so its header and links (inside
        // its at least 32 bytes) are ours to write; a list head is a free block too.
        unsafe {
            let size = (*b).tag & !FLAGS;
            let (fl, sl) = mapping(size);
            let head = self.heads[fl][sl];
            links(b).write(Links {
                next: head,
                prev: ptr::null_mut(),
            });
            // Select the slot rather than branch: list sizes are unpredictable.
            let back = if head.is_null() {
                &raw mut self.sink
            } else {
                &raw mut (*links(head)).prev
            };
            *back = b;
            self.heads[fl][sl] = b;
            self.sl_bitmap[fl] |= 1 << sl;
            self.fl_bitmap |= 1 << fl;
            self.free_bytes += size - HEADER;
        }
        self.free_blocks += 1;
    }

    /// Unlinks the free block `b` from the list its size maps to.
    ///
    /// # Safety
    ///
    /// `b` is a free block of this heap, on that list.
    #[inline(always)]
    unsafe fn remove(&mut self, b: *mut Block) {
        // SAFETY: `b` is a block of this heap on the list its size maps to (caller).
        unsafe {
            let (fl, sl) = mapping((*b).tag & !FLAGS);
            self.unlink(b, fl, sl);
        }
    }

    /// Unlinks the free block `b` from list `(fl, sl)`.
    ///
    /// # Safety
    ///
    /// `b` is a free block of this heap, on that list.
    #[inline(always)]
    unsafe fn unlink(&mut self, b: *mut Block, fl: usize, sl: usize) {
        // SAFETY: `b` and its list neighbours are free blocks of this heap (caller, heap
        // invariant); `region_of(b)` is `b`'s region header when `b` is a first block.
        unsafe {
            let tag = (*b).tag;
            let Links { next, prev } = links(b).read();
            let back = if next.is_null() {
                &raw mut self.sink
            } else {
                &raw mut (*links(next)).prev
            };
            *back = prev;
            let forth = if prev.is_null() {
                &raw mut self.heads[fl][sl]
            } else {
                &raw mut (*links(prev)).next
            };
            *forth = next;
            let emptied = self.heads[fl][sl].is_null();
            self.sl_bitmap[fl] &= !(u16::from(emptied) << sl);
            self.fl_bitmap &= !(usize::from(self.sl_bitmap[fl] == 0) << fl);
            self.free_bytes -= (tag & !FLAGS) - HEADER;
            if tag & FIRST != 0 && region_of(b) == self.spare {
                self.spare = ptr::null_mut(); // the reserve is in use from now on
            }
        }
        self.free_blocks -= 1;
    }

    /// Makes the free block `b`, already off its list, a used block of `need` bytes whose
    /// payload is aligned to `align`; the unused front and tail go to the free lists.
    ///
    /// # Safety
    ///
    /// `b` is a free block of this heap on no list, of at least `search_size(need, align)`
    /// bytes; `need` comes from [`block_size`].
    #[inline(always)]
    unsafe fn carve(&mut self, mut b: *mut Block, need: usize, align: usize) -> NonNull<[u8]> {
        // SAFETY: every header written lies inside `b` or is the header of its successor
        // (the next block or the sentinel), all owned by this heap (caller). Since `b` is
        // free, its predecessor is used and its successor has `PREV_FREE` set.
        unsafe {
            let mut tag = (*b).tag;
            let mut size = tag & !FLAGS;
            if align > GRAN {
                // Split off the front so the payload is aligned; a gap below a whole block
                // moves the payload on by `align` (at least `MIN_BLOCK`). The gap is at
                // most `align + 16`, so `size - gap >= need` still holds.
                let mut gap = pad_up(b.addr() + HEADER, align);
                if gap != 0 && gap < MIN_BLOCK {
                    gap += align;
                }
                if gap != 0 {
                    let front = b;
                    (*front).tag = gap | FREE | (tag & FIRST);
                    b = at(front, gap);
                    (*b).prev_phys = front;
                    size -= gap;
                    tag = size | FREE | PREV_FREE;
                    self.insert(front);
                }
            }
            self.trim(b, size, need, tag & (PREV_FREE | FIRST))
        }
    }

    /// Makes `b`, spanning `size` bytes and on no list, a used block of `need` bytes with
    /// `flags`; a tail of at least `MIN_BLOCK` bytes, or any tail followed by a free block,
    /// becomes a free block (merged with that one). Returns the payload as a slice.
    ///
    /// # Safety
    ///
    /// `[b, b + size)` is a part of a region of this heap, on no list, followed by a block
    /// or the sentinel; the block before it matches `flags`; `need <= size`.
    #[inline(always)]
    unsafe fn trim(
        &mut self,
        b: *mut Block,
        size: usize,
        need: usize,
        flags: usize,
    ) -> NonNull<[u8]> {
        // SAFETY: `next` is the header after the span and `after` the one after the tail
        // (heap invariant, caller); both tail and span lie inside the region. A payload
        // inside a region is not null.
        unsafe {
            let next = at(b, size);
            let next_tag = (*next).tag;
            let mut tail = size - need;
            if next_tag & FREE != 0 && tail > 0 {
                self.remove(next);
                tail += next_tag & !FLAGS;
            }
            let size = if tail >= MIN_BLOCK {
                let rest = at(b, need);
                (*rest).tag = tail | FREE;
                let after = at(rest, tail);
                (*after).prev_phys = rest;
                (*after).tag |= PREV_FREE;
                self.insert(rest);
                need
            } else {
                (*next).tag = next_tag & !PREV_FREE;
                size
            };
            (*b).tag = size | flags;
            let payload = NonNull::new_unchecked(at(b, HEADER).cast::<u8>());
            NonNull::slice_from_raw_parts(payload, size - HEADER)
        }
    }

    /// Frees the used block `b`, merging it with its free neighbours. Returns a region
    /// for the backing allocator when one became wholly free and the reserve is taken.
    ///
    /// # Safety
    ///
    /// `b` is a used block of this heap, not used again.
    #[inline(always)]
    unsafe fn free(&mut self, b: *mut Block) -> Option<(NonNull<u8>, Layout)> {
        // SAFETY: `b`'s successor is a block or sentinel of the same region, and its
        // predecessor, when `PREV_FREE` says so, is the free block `prev_phys` (heap
        // invariant); free neighbours are on their lists.
        unsafe {
            let tag = (*b).tag;
            let (mut b, mut size, mut first) = (b, tag & !FLAGS, tag & FIRST);
            let mut next = at(b, size);
            let next_tag = (*next).tag;
            if next_tag & FREE != 0 {
                self.remove(next);
                size += next_tag & !FLAGS;
                next = at(b, size);
            }
            if tag & PREV_FREE != 0 {
                let prev = (*b).prev_phys;
                let prev_tag = (*prev).tag;
                self.remove(prev);
                size += prev_tag & !FLAGS;
                first = prev_tag & FIRST;
                b = prev;
            }
            (*b).tag = size | FREE | first;
            (*next).prev_phys = b;
            (*next).tag |= PREV_FREE;
            self.insert(b);
            if first != 0 && (*next).tag & !FLAGS == 0 {
                return self.region_freed(region_of(b));
            }
        }
        None
    }

    /// Keeps the wholly free region `r` as the reserve, or returns one of the two
    /// wholly free regions (the smaller) for the backing allocator.
    ///
    /// # Safety
    ///
    /// `r` is a region of this heap whose first block is free, on its list, and spans it.
    #[cold]
    unsafe fn region_freed(&mut self, r: *mut Region) -> Option<(NonNull<u8>, Layout)> {
        let spare = self.spare;
        if spare.is_null() {
            self.spare = r;
            return None;
        }
        // SAFETY: both are live regions of this heap, wholly free (caller, `spare`'s
        // invariant), so their single blocks are on their lists and nothing is in use.
        unsafe {
            let (keep, give) = if (*spare).size >= (*r).size {
                (spare, r)
            } else {
                (r, spare)
            };
            self.remove(first_block(give));
            self.spare = keep;
            Some(self.unlink_region(give))
        }
    }

    /// Grows the used block `b` to `need` bytes into its free successor, if that suffices;
    /// returns the new payload length.
    ///
    /// # Safety
    ///
    /// `b` is a used block of this heap; `need` comes from [`block_size`].
    unsafe fn grow_in_place(&mut self, b: *mut Block, need: usize) -> Option<usize> {
        // SAFETY: `b`'s successor is a block of the same region (heap invariant); merged
        // with a free successor, `b` spans both, followed by a used block or the sentinel.
        unsafe {
            let tag = (*b).tag;
            let size = tag & !FLAGS;
            let next = at(b, size);
            let next_tag = (*next).tag;
            if need <= size {
                return Some(size - HEADER);
            }
            let total = size + (next_tag & !FLAGS);
            if next_tag & FREE == 0 || total < need {
                return None;
            }
            self.remove(next);
            Some(self.trim(b, total, need, tag & FLAGS).len())
        }
    }

    /// Shrinks the used block `b` to `need` bytes, giving the tail to the free lists;
    /// returns the new payload length.
    ///
    /// # Safety
    ///
    /// `b` is a used block of this heap; `need` comes from [`block_size`] and is at most
    /// `b`'s size.
    unsafe fn shrink_in_place(&mut self, b: *mut Block, need: usize) -> usize {
        // SAFETY: `b` is a used block, so it is on no list and its successor is a block
        // or the sentinel (heap invariant); `need <= size` (caller).
        unsafe {
            let tag = (*b).tag;
            self.trim(b, tag & !FLAGS, need, tag & FLAGS).len()
        }
    }

    // ----- regions -------------------------------------------------------------------

    /// The layout of a new region with a free block of at least `search` bytes.
    fn region_layout(&self, search: usize) -> Result<Layout, AllocError> {
        // `search < 1 << (usize::BITS - 2)`, so nothing here overflows.
        let size = (search + REGION_HEADER + HEADER)
            .max(self.reserved.clamp(FIRST_REGION, MAX_REGION))
            .next_multiple_of(REGION_GRAIN);
        Layout::from_size_align(size, REGION_ALIGN).map_err(|_| AllocError)
    }

    /// Makes `mem` a region of this heap and returns its single block, free and on no
    /// list.
    ///
    /// # Safety
    ///
    /// `mem` is a fresh block from the backing allocator, for a layout from
    /// [`region_layout`](Core::region_layout), owned by this heap from now on.
    unsafe fn add_region(&mut self, mem: NonNull<[u8]>) -> *mut Block {
        // The cap keeps block sizes in range; the rounded length stays at least the
        // (16-multiple) size asked for, so it is a valid size to deallocate with.
        let len = mem.len().min(1 << (usize::BITS - 2)) & !FLAGS;
        let r = mem.cast::<Region>().as_ptr();
        let b = first_block(r);
        let size = len - REGION_HEADER - HEADER;
        // SAFETY: `mem` is writable for `len` bytes and `REGION_ALIGN`-aligned (caller);
        // the header, the first block's header and the sentinel lie inside it.
        unsafe {
            r.write(Region {
                prev: ptr::null_mut(),
                next: self.regions,
                size: len,
            });
            if !self.regions.is_null() {
                (*self.regions).prev = r;
            }
            b.write(Block {
                prev_phys: ptr::null_mut(),
                tag: size | FREE | FIRST,
            });
            at(b, size).write(Block {
                prev_phys: b,
                tag: PREV_FREE,
            });
        }
        self.regions = r;
        self.region_count += 1;
        self.reserved += len;
        b
    }

    /// Takes region `r` off the region list and returns what to deallocate it with.
    ///
    /// # Safety
    ///
    /// `r` is a region of this heap with no block in use, and none on a list unless the
    /// lists are never used again.
    unsafe fn unlink_region(&mut self, r: *mut Region) -> (NonNull<u8>, Layout) {
        // SAFETY: `r` and its list neighbours are live region headers (caller).
        let size = unsafe {
            let Region { prev, next, size } = r.read();
            if prev.is_null() {
                self.regions = next;
            } else {
                (*prev).next = next;
            }
            if !next.is_null() {
                (*next).prev = prev;
            }
            size
        };
        self.region_count -= 1;
        self.reserved -= size;
        // SAFETY: `r` is not null, and `size` and `REGION_ALIGN` were a valid layout when
        // the region was added.
        unsafe {
            (
                NonNull::new_unchecked(r.cast()),
                Layout::from_size_align_unchecked(size, REGION_ALIGN),
            )
        }
    }
}

/// The header of the block whose payload starts at `ptr`.
#[inline(always)]
fn header_of(ptr: NonNull<u8>) -> *mut Block {
    ptr.as_ptr().wrapping_byte_sub(HEADER).cast()
}

impl Core {
    /// The counters, and the largest free block from the highest non-empty list.
    fn stats(&self) -> FreeListStats {
        let mut largest = 0;
        if self.fl_bitmap != 0 {
            let fl = self.fl_bitmap.ilog2() as usize;
            let mut b = self.heads[fl][self.sl_bitmap[fl].ilog2() as usize];
            while !b.is_null() {
                // SAFETY: listed blocks are free blocks of this heap (heap invariant).
                unsafe {
                    largest = largest.max((*b).tag & !FLAGS);
                    b = (*links(b)).next;
                }
            }
        }
        FreeListStats {
            free_bytes: self.free_bytes,
            free_blocks: self.free_blocks,
            largest_free_block: largest.saturating_sub(HEADER),
            regions: self.region_count,
            reserved_bytes: self.reserved,
        }
    }

    /// Walks every region block by block, then every list, asserting the heap invariant.
    fn check(&self) {
        let (mut free, mut free_bytes, mut regions, mut reserved) = (0, 0, 0, 0);
        let (mut r, mut newer, mut wholly_free) = (self.regions, ptr::null_mut(), 0);
        while !r.is_null() {
            // SAFETY: listed regions are live region headers.
            let Region { prev, next, size } = unsafe { r.read() };
            assert!(prev == newer && size.is_multiple_of(GRAN), "region {r:p}");
            let end = at(first_block(r), size - REGION_HEADER - HEADER);
            let (mut b, mut before) = (first_block(r), ptr::null_mut::<Block>());
            let mut before_free = false;
            loop {
                // SAFETY: `b` lies in `[first block, end]`: every size was checked to stay
                // inside the region before moving on.
                let Block { prev_phys, tag } = unsafe { b.read() };
                let (bytes, is_free) = (tag & !FLAGS, tag & FREE != 0);
                assert_eq!(tag & FIRST != 0, before.is_null(), "FIRST at {b:p}");
                assert_eq!(tag & PREV_FREE != 0, before_free, "PREV_FREE at {b:p}");
                assert!(!before_free || prev_phys == before, "boundary tag at {b:p}");
                if b == end {
                    assert_eq!(tag & !PREV_FREE, 0, "sentinel at {b:p}");
                    break;
                }
                let fits = bytes >= MIN_BLOCK && bytes <= end.addr() - b.addr();
                assert!(fits && bytes.is_multiple_of(GRAN), "size {bytes} at {b:p}");
                if is_free {
                    assert!(!before_free, "adjacent free blocks at {b:p}");
                    assert!(self.listed(b), "free block {b:p} not on its list");
                    (free, free_bytes) = (free + 1, free_bytes + bytes - HEADER);
                    if before.is_null() && at(b, bytes) == end {
                        wholly_free += 1;
                        assert_eq!(r, self.spare, "a wholly free region is not the reserve");
                    }
                }
                (before, before_free, b) = (b, is_free, at(b, bytes));
            }
            (regions, reserved, newer, r) = (regions + 1, reserved + size, r, next);
        }
        assert_eq!(wholly_free, usize::from(!self.spare.is_null()), "reserve");
        let (mut listed, mut listed_bytes) = (0, 0);
        for fl in 0..FL_COUNT {
            let fl_bit = self.fl_bitmap >> fl & 1 != 0;
            assert_eq!(fl_bit, self.sl_bitmap[fl] != 0, "first-level bit {fl}");
            for sl in 0..SL_COUNT {
                let (mut b, mut prev) = (self.heads[fl][sl], ptr::null_mut());
                let sl_bit = self.sl_bitmap[fl] >> sl & 1 != 0;
                assert_eq!(sl_bit, !b.is_null(), "second-level bit {fl}/{sl}");
                while !b.is_null() && listed <= free {
                    // SAFETY: listed blocks are free blocks of this heap; the count bounds
                    // the walk should a list have a cycle.
                    let (tag, l) = unsafe { ((*b).tag, links(b).read()) };
                    assert!(tag & FREE != 0, "used block {b:p} on a list");
                    assert_eq!(mapping(tag & !FLAGS), (fl, sl), "{b:p} on the wrong list");
                    assert_eq!(l.prev, prev, "list links at {b:p}");
                    (listed, listed_bytes) = (listed + 1, listed_bytes + (tag & !FLAGS) - HEADER);
                    (prev, b) = (b, l.next);
                }
            }
        }
        assert_eq!((listed, listed_bytes), (free, free_bytes), "lists");
        assert_eq!(
            (self.free_blocks, self.free_bytes),
            (free, free_bytes),
            "counters"
        );
        assert_eq!(
            (self.region_count, self.reserved),
            (regions, reserved),
            "regions"
        );
    }

    /// Whether the free block `b` is on the list its size maps to.
    fn listed(&self, b: *mut Block) -> bool {
        // SAFETY: `b` and the listed blocks are free blocks of this heap (heap invariant,
        // which the caller is checking); the walk is bounded should a list have a cycle.
        unsafe {
            let (fl, sl) = mapping((*b).tag & !FLAGS);
            let mut on = self.heads[fl][sl];
            for _ in 0..=self.free_blocks {
                if on.is_null() || on == b {
                    return on == b;
                }
                on = (*links(on)).next;
            }
        }
        false
    }
}

/// What a [`FreeList`] holds, from [`FreeList::stats`]: enough to see fragmentation.
///
/// Many free blocks whose total `free_bytes` dwarfs `largest_free_block` mean the heap is
/// fragmented: the free bytes exist, but not in one piece.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct FreeListStats {
    /// Usable bytes over all free blocks (their sizes less the 16-byte headers).
    pub free_bytes: usize,
    /// Free blocks.
    pub free_blocks: usize,
    /// Usable bytes of the largest free block. Requests (aligned to at most 16) at least
    /// 1/16 smaller are sure to be served from it; good fit rounds larger ones up past it.
    pub largest_free_block: usize,
    /// Regions held from the backing allocator.
    pub regions: usize,
    /// Bytes held from the backing allocator, free and used.
    pub reserved_bytes: usize,
}

/// A general-purpose allocator with individual free: a two-level segregated fit heap on
/// regions from a backing allocator (by default [`Pages`](crate::Pages) with `std`,
/// `Global` without). Finding a block, freeing one and merging it with its neighbours
/// take O(1) time; regions that become wholly free go back to the backing allocator,
/// except one kept as a reserve.
///
/// ```
/// #![feature(allocator_api)]
/// use allockit::FreeList;
///
/// let heap = FreeList::new();
/// let a = Box::new_in([1u64; 64], &heap);
/// let b = Box::new_in([2u64; 64], &heap);
/// drop(a); // freed on its own; the next fitting request reuses it
/// let mut v = Vec::new_in(&heap);
/// v.extend(0..1000u32); // grows in place while the next block is free
/// assert_eq!((b[0], v[999]), (2, 999));
/// assert_eq!(heap.stats().regions, 1);
/// ```
///
/// A `FreeList` is `Send` (when its backing allocator is) but not `Sync`:
///
/// ```compile_fail,E0277
/// fn is_sync<T: Sync>() {}
/// is_sync::<allockit::FreeList>();
/// ```
pub struct FreeList<
    #[cfg(feature = "std")] A: Allocator = crate::Pages,
    #[cfg(not(feature = "std"))] A: Allocator = alloc::alloc::Global,
> {
    /// The heap. Borrowed mutably only inside [`with_core`](FreeList::with_core), never
    /// across a call to the backing allocator.
    core: UnsafeCell<Core>,
    /// Where regions come from and go back to.
    backing: A,
}

// SAFETY: a `FreeList` exclusively owns its regions, and the pointers in its core point
// only into them; sending it sends that ownership, with the backing allocator (which must
// be `Send` itself). It is not `Sync`: the core is in an `UnsafeCell`.
unsafe impl<A: Allocator + Send> Send for FreeList<A> {}

#[cfg(feature = "std")]
impl FreeList<crate::Pages> {
    /// An empty heap on [`Pages`](crate::Pages). It maps nothing until first used.
    ///
    /// ```
    /// let heap = allockit::FreeList::new();
    /// assert_eq!(heap.reserved_bytes(), 0);
    /// ```
    #[inline]
    pub const fn new() -> Self {
        Self::new_in(crate::Pages)
    }
}

#[cfg(feature = "std")]
impl Default for FreeList<crate::Pages> {
    fn default() -> Self {
        Self::new()
    }
}

impl<A: Allocator> FreeList<A> {
    /// An empty heap that takes its regions from `backing`. It allocates nothing until
    /// first used.
    ///
    /// ```
    /// #![feature(allocator_api)]
    /// let heap = allockit::FreeList::new_in(std::alloc::Global);
    /// assert_eq!(*Box::new_in(7u8, &heap), 7);
    /// ```
    #[inline]
    pub const fn new_in(backing: A) -> Self {
        FreeList {
            core: UnsafeCell::new(Core::new()),
            backing,
        }
    }

    /// A heap on `backing` whose first region has a free block of at least `bytes`
    /// usable bytes, or `AllocError` if that region cannot be allocated.
    ///
    /// ```
    /// #![feature(allocator_api)]
    /// use allockit::{Counting, FreeList};
    /// let heap = FreeList::try_with_capacity_in(1 << 20, Counting::new(std::alloc::Global))?;
    /// assert!(heap.stats().largest_free_block >= 1 << 20);
    /// let v: Vec<u8, _> = Vec::with_capacity_in(1000, &heap);
    /// assert_eq!(heap.backing().stats().allocations, 1, "served from the first region");
    /// # drop(v);
    /// assert!(FreeList::try_with_capacity_in(usize::MAX, std::alloc::Global).is_err());
    /// # Ok::<(), std::alloc::AllocError>(())
    /// ```
    pub fn try_with_capacity_in(bytes: usize, backing: A) -> Result<Self, AllocError> {
        let heap = Self::new_in(backing);
        let layout = Layout::from_size_align(bytes, 1).map_err(|_| AllocError)?;
        let need = block_size(layout).ok_or(AllocError)?;
        let region = heap.with_core(|core| core.region_layout(need))?;
        let mem = heap.backing.allocate(region)?;
        heap.with_core(|core| {
            // SAFETY: `mem` is fresh from the backing allocator for a region layout; its
            // single block is free and spans it, so it goes on its list as the reserve.
            unsafe {
                let b = core.add_region(mem);
                core.insert(b);
                core.spare = region_of(b);
            }
        });
        Ok(heap)
    }

    /// The backing allocator.
    #[inline]
    pub fn backing(&self) -> &A {
        &self.backing
    }

    /// Bytes held from the backing allocator, free and used.
    #[inline]
    pub fn reserved_bytes(&self) -> usize {
        self.with_core(|core| core.reserved)
    }

    /// Free bytes, free blocks, the largest free block and the regions held. The largest
    /// block is found by walking one list, the highest non-empty one; the rest are
    /// counters.
    ///
    /// ```
    /// #![feature(allocator_api)]
    /// use core::alloc::{Allocator, Layout};
    /// let heap = allockit::FreeList::new();
    /// let l = Layout::new::<[u8; 1000]>();
    /// let blocks: Vec<_> = (0..10).map(|_| heap.allocate(l).unwrap()).collect();
    /// for b in blocks.iter().step_by(2) {
    ///     unsafe { heap.deallocate(b.cast(), l) }; // every other block: fragmentation
    /// }
    /// let s = heap.stats();
    /// assert_eq!(s.free_blocks, 6, "five holes and the rest of the region");
    /// assert!(s.largest_free_block < s.free_bytes);
    /// # for b in blocks.iter().skip(1).step_by(2) { unsafe { heap.deallocate(b.cast(), l) } }
    /// ```
    pub fn stats(&self) -> FreeListStats {
        self.with_core(|core| core.stats())
    }

    /// Walks the whole heap, block by block and list by list, and panics if any invariant
    /// is broken: block sizes tile each region, flags and boundary tags agree, no two
    /// free blocks are adjacent, every free block is on the list its size maps to, at
    /// most one region is wholly free, and the counters match. It takes time proportional
    /// to the heap: for tests.
    ///
    /// ```
    /// #![feature(allocator_api)]
    /// let heap = allockit::FreeList::new();
    /// let v: Vec<u32, _> = (0..100).collect::<Vec<_>>().to_vec_in(&heap);
    /// heap.check_invariants();
    /// # drop(v);
    /// ```
    pub fn check_invariants(&self) {
        self.with_core(|core| core.check());
    }

    /// Runs `f` on the heap.
    #[inline(always)]
    fn with_core<R>(&self, f: impl FnOnce(&mut Core) -> R) -> R {
        // SAFETY: `FreeList` is not `Sync`, so only this thread reaches the cell. Every `f`
        // passed here only calls `Core` methods, which call no foreign code: the backing
        // allocator is called outside `with_core`. So this is the only reference to the
        // core while it lives, even if the backing allocator re-enters this `FreeList`.
        f(unsafe { &mut *self.core.get() })
    }

    /// Serves a request the free lists cannot: from a new region.
    #[cold]
    #[inline(never)]
    fn allocate_slow(&self, need: usize, align: usize) -> Result<NonNull<[u8]>, AllocError> {
        let layout = self.with_core(|core| core.region_layout(search_size(need, align)))?;
        let mem = self.backing.allocate(layout)?;
        Ok(self.with_core(|core| {
            // SAFETY: `mem` is fresh from the backing allocator for a region layout, owned
            // by the heap from now on; its single block holds `search_size(need, align)`
            // bytes (`region_layout`), on no list.
            unsafe {
                let b = core.add_region(mem);
                core.carve(b, need, align)
            }
        }))
    }
}

impl<A: Allocator> Drop for FreeList<A> {
    fn drop(&mut self) {
        let core = self.core.get_mut();
        while !core.regions.is_null() {
            // SAFETY: the region is live and owned; dropping the heap ends every borrow of
            // its blocks, and the lists are not used again. Each region goes back to the
            // backing allocator with the layout it was allocated with (rounded length).
            unsafe {
                let (region, layout) = core.unlink_region(core.regions);
                self.backing.deallocate(region, layout);
            }
        }
    }
}

impl<A: Allocator> core::fmt::Debug for FreeList<A> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("FreeList")
            .field("stats", &self.stats())
            .finish_non_exhaustive()
    }
}

// SAFETY: blocks are disjoint parts of live regions (heap invariant), each handed out once
// until freed, and the returned length never passes the block. Regions stay allocated
// until wholly free (no live block) or until the heap is dropped; moving the `FreeList`
// moves no region, and no region points back into the `FreeList`.
unsafe impl<A: Allocator> Allocator for FreeList<A> {
    #[inline(always)]
    fn allocate(&self, layout: Layout) -> Result<NonNull<[u8]>, AllocError> {
        if layout.size() == 0 {
            return Ok(dangling(layout));
        }
        let need = block_size(layout).ok_or(AllocError)?;
        match self.with_core(|core| core.allocate(need, layout.align())) {
            Some(block) => Ok(block),
            None => self.allocate_slow(need, layout.align()),
        }
    }

    #[inline(always)]
    unsafe fn deallocate(&self, ptr: NonNull<u8>, layout: Layout) {
        if layout.size() == 0 {
            return;
        }
        let region = self.with_core(|core| {
            // SAFETY: `ptr` is a live block of this heap (caller), so a used block's header
            // is 16 bytes before it; the block is not used again.
            unsafe { core.free(header_of(ptr)) }
        });
        if let Some((region, layout)) = region {
            // SAFETY: the region came from `backing` with this layout (its rounded length)
            // and holds no live block; the heap no longer refers to it.
            unsafe { self.backing.deallocate(region, layout) }
        }
    }

    #[inline]
    unsafe fn grow(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if old.size() == 0 {
            return self.allocate(new);
        }
        if is_aligned(ptr, new.align())
            && let Some(need) = block_size(new)
        {
            let grown = self.with_core(|core| {
                // SAFETY: `ptr` is a live block of this heap (caller): its header is 16
                // bytes before it.
                unsafe { core.grow_in_place(header_of(ptr), need) }
            });
            if let Some(len) = grown {
                return Ok(NonNull::slice_from_raw_parts(ptr, len));
            }
        }
        // SAFETY: forwarded from the caller.
        unsafe { move_block(self, ptr, old, new) }
    }

    #[inline]
    unsafe fn grow_zeroed(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        // SAFETY: forwarded from the caller; the grown block is writable over its length,
        // and `old.size()` is at most that length.
        unsafe {
            let block = self.grow(ptr, old, new)?;
            zero_tail(block, old.size());
            Ok(block)
        }
    }

    #[inline]
    unsafe fn shrink(
        &self,
        ptr: NonNull<u8>,
        old: Layout,
        new: Layout,
    ) -> Result<NonNull<[u8]>, AllocError> {
        if new.size() == 0 {
            // SAFETY: forwarded from the caller; the dangling block replaces it.
            unsafe { self.deallocate(ptr, old) };
            return Ok(dangling(new));
        }
        if !is_aligned(ptr, new.align()) {
            // SAFETY: forwarded from the caller.
            return unsafe { move_block(self, ptr, old, new) };
        }
        let need = block_size(new).ok_or(AllocError)?;
        let len = self.with_core(|core| {
            // SAFETY: `ptr` is a live block of this heap (caller) of at least `old.size()`
            // usable bytes, and `new.size() <= old.size()`, so `need` fits in it.
            unsafe { core.shrink_in_place(header_of(ptr), need) }
        });
        Ok(NonNull::slice_from_raw_parts(ptr, len))
    }
}

mirror_allocator_api2!(impl[A: Allocator] for FreeList<A>);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Counting;
    use alloc::vec::Vec;

    /// The default backing allocator.
    #[cfg(feature = "std")]
    type DefaultBacking = crate::Pages;
    /// The default backing allocator.
    #[cfg(not(feature = "std"))]
    type DefaultBacking = alloc::alloc::Global;

    fn heap() -> FreeList {
        FreeList::new_in(DefaultBacking::default())
    }

    fn layout(size: usize, align: usize) -> Layout {
        Layout::from_size_align(size, align).unwrap()
    }

    fn alloc<A: Allocator>(h: &FreeList<A>, size: usize, align: usize) -> NonNull<u8> {
        let block = h.allocate(layout(size, align)).unwrap();
        assert!(block.len() >= size && block.cast::<u8>().as_ptr().addr().is_multiple_of(align));
        block.cast()
    }

    fn free<A: Allocator>(h: &FreeList<A>, p: NonNull<u8>, size: usize, align: usize) {
        // SAFETY: every caller passes a live block of `h` allocated for this layout.
        unsafe { h.deallocate(p, layout(size, align)) }
    }

    fn fill(p: NonNull<u8>, len: usize, seed: u8) {
        // SAFETY: the caller owns `len` writable bytes at `p`.
        unsafe { p.as_ptr().write_bytes(seed, len) }
    }

    /// Whether `len` bytes at `p` (sampled under Miri) all hold `seed`.
    fn holds(p: NonNull<u8>, len: usize, seed: u8) -> bool {
        let step = if cfg!(miri) { len / 64 + 1 } else { 1 };
        // SAFETY: the caller owns `len` readable bytes at `p`.
        (0..len)
            .step_by(step)
            .all(|i| unsafe { p.as_ptr().add(i).read() } == seed)
    }

    #[test]
    fn blocks_split_and_coalesce_with_both_neighbours() {
        let h = heap();
        let [a, b, c] = [100, 200, 300].map(|n| alloc(&h, n, 8));
        assert_eq!(h.stats().free_blocks, 1, "the rest of the region");
        free(&h, b, 200, 8);
        assert_eq!(h.stats().free_blocks, 2, "b lies between used blocks");
        free(&h, a, 100, 8);
        assert_eq!(h.stats().free_blocks, 2, "a merged with b");
        h.check_invariants();
        free(&h, c, 300, 8);
        let s = h.stats();
        assert_eq!(
            (s.free_blocks, s.regions),
            (1, 1),
            "one block spans the region"
        );
        assert_eq!(s.largest_free_block, s.free_bytes);
        assert_eq!(s.free_bytes, s.reserved_bytes - REGION_HEADER - 2 * HEADER);
        h.check_invariants();
    }

    #[test]
    fn grows_into_a_free_neighbour_and_shrinks_in_place() {
        let h = heap();
        let [p, next, last] = [64, 1000, 16].map(|n| alloc(&h, n, 16));
        free(&h, next, 1000, 16);
        fill(p, 64, 7);
        // SAFETY: each block is live with the layout it is passed with.
        unsafe {
            let g = h.grow(p, layout(64, 16), layout(900, 16)).unwrap();
            assert!(
                g.cast::<u8>() == p && holds(p, 64, 7),
                "grown into the neighbour"
            );
            h.check_invariants();
            let s = h.shrink(p, layout(900, 16), layout(10, 16)).unwrap();
            assert_eq!((s.cast::<u8>(), s.len()), (p, 16), "shrunk in place");
            h.check_invariants();
            let g = h.grow(last, layout(16, 16), layout(5000, 16)).unwrap();
            assert_eq!(g.cast::<u8>(), last, "grown into the region's free rest");
            let moved = h.grow(p, layout(10, 16), layout(2000, 16)).unwrap().cast();
            assert!(
                moved != p && holds(moved, 10, 7),
                "no room after `p`: moved"
            );
            free(&h, moved, 2000, 16);
            free(&h, last, 5000, 16);
        }
        h.check_invariants();
        assert_eq!(h.stats().free_blocks, 1);
    }

    #[test]
    fn aligned_blocks_up_to_64_kib_and_1_mib() {
        let h = heap();
        let mut blocks = Vec::new();
        for align in (5..=16).map(|shift| 1 << shift) {
            for size in [1, align, 3 * 4096] {
                blocks.push((alloc(&h, size, align), size, align));
                h.check_invariants();
            }
        }
        blocks.push((alloc(&h, 24, MAX_ALIGN), 24, MAX_ALIGN));
        for (p, size, align) in blocks.into_iter().rev() {
            fill(p, size, 1);
            free(&h, p, size, align);
            h.check_invariants();
        }
        assert_eq!((h.stats().regions, h.stats().free_blocks), (1, 1));
    }

    #[test]
    fn wholly_free_regions_go_back_but_one() {
        let counting = Counting::new(DefaultBacking::default());
        let h = FreeList::new_in(&counting);
        let big = 100_000; // larger than the first region: several regions
        let blocks: Vec<_> = (0..4).map(|_| alloc(&h, big, 16)).collect();
        let regions = h.stats().regions;
        assert!(regions >= 2 && counting.stats().allocations == regions);
        for p in blocks {
            free(&h, p, big, 16);
            h.check_invariants();
        }
        assert_eq!(h.stats().regions, 1, "one region kept as the reserve");
        assert_eq!(counting.stats().deallocations, regions - 1);
        let p = alloc(&h, big, 16);
        assert_eq!(
            counting.stats().allocations,
            regions,
            "served from the reserve"
        );
        free(&h, p, big, 16);
        drop(h);
        let s = counting.stats();
        assert_eq!((s.allocations, s.deallocations), (regions, regions));
    }

    #[test]
    fn impossible_layouts_fail_without_panicking() {
        let h = heap();
        for (size, align) in [
            (isize::MAX as usize - 15, 16),
            (isize::MAX as usize / 2 + 1, 4096),
            (MAX_SIZE + 1, 1),
            (1, MAX_ALIGN << 1),
            (1 << 40, 1 << 40),
        ] {
            assert!(
                h.allocate(layout(size, align)).is_err(),
                "{size} at {align}"
            );
        }
        assert_eq!(
            h.reserved_bytes(),
            0,
            "refused before asking the backing allocator"
        );
        let p = alloc(&h, 32, 8);
        // SAFETY: `p` is live with this layout; a failed grow leaves it so.
        assert!(unsafe { h.grow(p, layout(32, 8), layout(MAX_SIZE + 16, 8)) }.is_err());
        free(&h, p, 32, 8);
        let zst = h.allocate(layout(0, 64)).unwrap();
        free(&h, zst.cast(), 0, 64);
        assert!(FreeList::try_with_capacity_in(usize::MAX, DefaultBacking::default()).is_err());
        h.check_invariants();
    }

    #[test]
    fn random_churn_keeps_every_invariant() {
        let h = heap();
        let mut x = 0x9E37_79B9_7F4A_7C15u64;
        let mut live: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
        let (steps, large) = if cfg!(miri) {
            (150, 100_000)
        } else {
            (20_000, 200_000)
        };
        let (mut in_place, mut most_regions) = (0, 0);
        for step in 0..steps {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let (r, seed) = (x as usize, step as u8);
            let size =
                1 + (r >> 8) % [large, 5000, 5000, 300, 300, 300, 300, 300][(x >> 61) as usize];
            let align = 1 << ((r >> 40) % 16).saturating_sub(6); // mostly 1, up to 512
            let pick = (r >> 20) % live.len().max(1);
            match r % 8 {
                _ if live.is_empty() || r % 8 < 3 => {
                    let p = alloc(&h, size, align);
                    fill(p, size, seed);
                    live.push((p, layout(size, align), seed));
                }
                3..=5 => {
                    let (p, l, s) = live.swap_remove(pick);
                    assert!(holds(p, l.size(), s), "contents before free");
                    free(&h, p, l.size(), l.align());
                }
                op => {
                    let (p, l, s) = live[pick];
                    let new = layout(if op == 6 { size } else { 1 + l.size() / 3 }, align);
                    // SAFETY: `p` is live with `l`; the result replaces it.
                    let q = unsafe {
                        if new.size() >= l.size() {
                            h.grow(p, l, new)
                        } else {
                            h.shrink(p, l, new)
                        }
                    };
                    let q = q.unwrap().cast::<u8>();
                    assert!(holds(q, l.size().min(new.size()), s), "contents kept");
                    in_place += usize::from(q == p && new.size() > l.size());
                    fill(q, new.size(), seed);
                    live[pick] = (q, new, seed);
                }
            }
            h.check_invariants();
            most_regions = most_regions.max(h.stats().regions);
        }
        for (p, l, s) in live {
            assert!(holds(p, l.size(), s));
            free(&h, p, l.size(), l.align());
        }
        h.check_invariants();
        assert_eq!((h.stats().regions, h.stats().free_blocks), (1, 1));
        assert!(
            in_place > 0 && most_regions > 1,
            "{in_place} {most_regions}"
        );
    }

    #[test]
    fn is_send() {
        fn send<T: Send>() {}
        send::<FreeList>();
    }
}
