//! The TLSF heap behind [`FreeList`](crate::FreeList): blocks, regions, segregated free
//! lists, and the invariant scanner. A plain struct with `&mut self` methods and no trait
//! impls (talc's shape), so the same heap can later be driven by other wrappers (a
//! locked one, a compartment's); the design is described in `free_list.rs`.

use core::ptr::{self, NonNull};

use crate::align::pad_up;
use crate::api::{AllocError, Layout};

/// Block granularity: every size is a multiple of it, every payload aligned to it.
pub(crate) const GRAN: usize = 16;
/// Bytes of a block header.
pub(crate) const HEADER: usize = size_of::<Block>();
/// The smallest block: a header and the two links of a free list.
pub(crate) const MIN_BLOCK: usize = 32;
/// Bytes of a region header; the region's first block starts right after it.
pub(crate) const REGION_HEADER: usize = size_of::<Region>();
/// log2 of the number of second-level lists per power of two.
pub(crate) const SL_LOG2: u32 = 4;
/// Second-level lists per first-level class (the bits of a `u16`).
pub(crate) const SL_COUNT: usize = 1 << SL_LOG2;
/// log2 of `MIN_BLOCK`: first level 0 holds the blocks of 32 to 63 bytes.
pub(crate) const MIN_LOG2: u32 = MIN_BLOCK.trailing_zeros();
/// First-level classes: one per power of two a `usize` can reach, so indexing by
/// `mapping` needs no bounds check (the classes above `MAX_SIZE` stay empty).
pub(crate) const FL_COUNT: usize = (usize::BITS - MIN_LOG2) as usize;
/// The largest request served; it keeps every derived size below `1 << (usize::BITS - 2)`.
pub(crate) const MAX_SIZE: usize = 1 << (usize::BITS - 3);
/// The largest alignment served.
pub(crate) const MAX_ALIGN: usize = 1 << 20;
/// Alignment of the regions asked from the backing allocator.
pub(crate) const REGION_ALIGN: usize = 64;
/// Region sizes are multiples of this, so a page allocator has no slack to waste.
pub(crate) const REGION_GRAIN: usize = 4096;
/// Size of the first region, and the least a geometric region gets.
pub(crate) const FIRST_REGION: usize = 64 << 10;
/// Regions stop growing geometrically here; larger requests still get a region that fits.
pub(crate) const MAX_REGION: usize = 64 << 20;

/// Front-cache bins, one per block size from `MIN_BLOCK` to 512 payload bytes.
pub(crate) const BINS: usize = (512 + HEADER - MIN_BLOCK) / GRAN + 1;
/// The most blocks a front-cache bin holds.
pub(crate) const BIN_DEPTH: u8 = 16;

/// Tag flag: this block is free.
pub(crate) const FREE: usize = 1;
/// Tag flag: the physically previous block is free, and `prev_phys` points to it.
pub(crate) const PREV_FREE: usize = 2;
/// Tag flag: this block is the first of its region.
pub(crate) const FIRST: usize = 4;
/// The bits of a tag that are flags rather than size.
pub(crate) const FLAGS: usize = GRAN - 1;

const _: () = assert!(HEADER == GRAN && HEADER + size_of::<Links>() <= MIN_BLOCK);
const _: () = assert!(MIN_BLOCK.is_power_of_two() && SL_LOG2 < MIN_LOG2);
const _: () = assert!(REGION_HEADER.is_multiple_of(GRAN) && REGION_ALIGN >= GRAN);

/// The header in front of every block, and the sentinel at the end of every region.
#[repr(C, align(16))]
pub(crate) struct Block {
    /// The physically previous block; valid only while `PREV_FREE` is set in `tag`.
    prev_phys: *mut Block,
    /// The block's size in bytes, header included (a multiple of 16; 0 for a sentinel),
    /// ORed with `FREE`, `PREV_FREE` and `FIRST`.
    pub(crate) tag: usize,
}

/// The free-list links, kept in the payload of a free block.
#[repr(C)]
pub(crate) struct Links {
    /// The next block in the same list, or null.
    next: *mut Block,
    /// The previous block in the same list, or null for the head.
    prev: *mut Block,
}

/// The header at the start of every region.
#[repr(C, align(16))]
pub(crate) struct Region {
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
pub(crate) fn at(b: *mut Block, off: usize) -> *mut Block {
    b.wrapping_byte_add(off)
}

/// The free-list links of the free block `b`.
#[inline(always)]
pub(crate) fn links(b: *mut Block) -> *mut Links {
    b.wrapping_byte_add(HEADER).cast()
}

/// The first block of region `r`.
#[inline(always)]
pub(crate) fn first_block(r: *mut Region) -> *mut Block {
    r.wrapping_byte_add(REGION_HEADER).cast()
}

/// The region whose first block is `b`.
#[inline(always)]
pub(crate) fn region_of(b: *mut Block) -> *mut Region {
    b.wrapping_byte_sub(REGION_HEADER).cast()
}

/// The size of a block to hold `layout`, or `None` if the layout is beyond the limits.
#[inline(always)]
pub(crate) fn block_size(layout: Layout) -> Option<usize> {
    if layout.size() > MAX_SIZE || layout.align() > MAX_ALIGN {
        return None;
    }
    Some((((layout.size() + FLAGS) & !FLAGS) + HEADER).max(MIN_BLOCK))
}

/// The size of a free block that is sure to hold a block of `need` bytes at `align`.
#[inline(always)]
pub(crate) fn search_size(need: usize, align: usize) -> usize {
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
pub(crate) fn mapping(size: usize) -> (usize, usize) {
    let log = size.ilog2();
    let sl = (size >> (log - SL_LOG2)) & (SL_COUNT - 1);
    ((log - MIN_LOG2) as usize, sl)
}

/// `size >= 32` rounded up to the smallest size of the next list, so every block in the
/// list `mapping` gives for the result holds at least `size` bytes.
#[inline(always)]
pub(crate) fn round_to_list(size: usize) -> usize {
    size + (1 << (size.ilog2() - SL_LOG2)) - 1
}

/// The heap: the segregated free lists and the regions.
///
/// The invariant its methods keep (the *heap invariant*, checked by `check`): every
/// region of the list is live, owned memory from the backing allocator, tiled by blocks
/// from its first block to its sentinel; flags and `prev_phys` pointers are consistent;
/// no two free blocks are adjacent; every free block is in exactly the list its size maps
/// to; and the counters match the lists and regions.
pub(crate) struct Core {
    /// `heads[fl][sl]` is null or the first free block of that list.
    pub(crate) heads: [[*mut Block; SL_COUNT]; FL_COUNT],
    /// Bit `sl` of `sl_bitmap[fl]` is set exactly when `heads[fl][sl]` is not null.
    pub(crate) sl_bitmap: [u16; FL_COUNT],
    /// Bit `fl` is set exactly when `sl_bitmap[fl]` is not 0.
    pub(crate) fl_bitmap: usize,
    /// The newest region; the others follow through `Region::next`.
    pub(crate) regions: *mut Region,
    /// The one wholly free region kept as reserve, or null. No other region is wholly
    /// free.
    pub(crate) spare: *mut Region,
    /// Payload bytes (block sizes less headers) over all free blocks.
    pub(crate) free_bytes: usize,
    /// Blocks in the free lists.
    pub(crate) free_blocks: usize,
    /// Regions in the region list.
    pub(crate) region_count: usize,
    /// Sum of the regions' `size`.
    pub(crate) reserved: usize,
    /// Where list updates aimed at a null neighbour go, so that they need no branch.
    pub(crate) sink: *mut Block,
    /// The front cache (`free_list.rs`): `bins[i]` is null or the newest cached block of
    /// `(i + 2) * 16` bytes, each linking to the next through its payload's first word.
    /// Cached blocks are marked used and are on no list.
    pub(crate) bins: [*mut Block; BINS],
    /// Blocks in each bin, at most `BIN_DEPTH`.
    pub(crate) bin_len: [u8; BINS],
}

impl Core {
    /// An empty heap, holding no region.
    pub(crate) const fn new() -> Self {
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
            bins: [ptr::null_mut(); BINS],
            bin_len: [0; BINS],
        }
    }

    // ----- the fast path -----------------------------------------------------------

    /// Allocates a block of `need` bytes (from [`block_size`]) aligned to `align` from the
    /// free lists, or `None` if no free block fits.
    #[inline(always)]
    pub(crate) fn allocate(&mut self, need: usize, align: usize) -> Option<NonNull<[u8]>> {
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
    pub(crate) fn find(&self, size: usize) -> Option<(usize, usize)> {
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
    pub(crate) unsafe fn insert(&mut self, b: *mut Block) {
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
    pub(crate) unsafe fn remove(&mut self, b: *mut Block) {
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
    pub(crate) unsafe fn unlink(&mut self, b: *mut Block, fl: usize, sl: usize) {
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
    pub(crate) unsafe fn carve(
        &mut self,
        mut b: *mut Block,
        need: usize,
        align: usize,
    ) -> NonNull<[u8]> {
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
    pub(crate) unsafe fn trim(
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
    pub(crate) unsafe fn free(&mut self, b: *mut Block) -> Option<(NonNull<u8>, Layout)> {
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
    pub(crate) unsafe fn region_freed(&mut self, r: *mut Region) -> Option<(NonNull<u8>, Layout)> {
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
    pub(crate) unsafe fn grow_in_place(&mut self, b: *mut Block, need: usize) -> Option<usize> {
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
    pub(crate) unsafe fn shrink_in_place(&mut self, b: *mut Block, need: usize) -> usize {
        // SAFETY: `b` is a used block, so it is on no list and its successor is a block
        // or the sentinel (heap invariant); `need <= size` (caller).
        unsafe {
            let tag = (*b).tag;
            self.trim(b, tag & !FLAGS, need, tag & FLAGS).len()
        }
    }

    // ----- regions -------------------------------------------------------------------

    /// The layout of a new region with a free block of at least `search` bytes.
    pub(crate) fn region_layout(&self, search: usize) -> Result<Layout, AllocError> {
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
    pub(crate) unsafe fn add_region(&mut self, mem: NonNull<[u8]>) -> *mut Block {
        // The cap keeps block sizes in range; the rounded length stays at least the
        // (16-multiple) size asked for, so it is a valid size to deallocate with.
        let len = mem.len().min(1 << (usize::BITS - 2)) & !FLAGS;
        let r = mem.cast::<Region>().as_ptr();
        // Headers are found from callers' pointers by address (`header_of`).
        r.expose_provenance();
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
    pub(crate) unsafe fn unlink_region(&mut self, r: *mut Region) -> (NonNull<u8>, Layout) {
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
///
/// The header lies before the caller's block, outside what the caller's pointer may
/// reach: a pointer made from a reference (allocator-api2's `Box::new_in` makes one) is
/// only valid for the block's own bytes under Stacked Borrows. So the header is reached
/// with the region's own provenance, exposed when the region was added; at run time this
/// is the same subtraction.
#[inline(always)]
pub(crate) fn header_of(ptr: NonNull<u8>) -> *mut Block {
    ptr::with_exposed_provenance_mut(ptr.as_ptr().addr().wrapping_sub(HEADER))
}

impl Core {
    /// The counters, and the largest free block from the highest non-empty list.
    pub(crate) fn stats(&self) -> FreeListStats {
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
    pub(crate) fn check(&self) {
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
    pub(crate) fn listed(&self, b: *mut Block) -> bool {
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

/// What a [`FreeList`](crate::FreeList) holds, from [`FreeList::stats`](crate::FreeList::stats): enough to see fragmentation.
///
/// Many free blocks whose total `free_bytes` dwarfs `largest_free_block` mean the heap is
/// fragmented: the free bytes exist, but not in one piece.
///
/// ```
/// use allocator_api2::boxed::Box;
/// let heap = allockit::FreeList::new();
/// let b = Box::new_in([0u8; 4000], &heap);
/// let s = heap.stats();
/// assert_eq!(s.regions, 1);
/// assert!(s.free_blocks >= 1 && s.largest_free_block <= s.free_bytes);
/// assert!(s.reserved_bytes >= 4000 + s.free_bytes);
/// # drop(b);
/// ```
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
