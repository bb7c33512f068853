//! Where a [`Hardened`](super::Hardened) heap finds the metadata of a block from its
//! address: a direct-mapped **block map** for ordinary blocks, and the hash
//! [`Table`](super::table::Table) for the rest.
//!
//! ## Why a direct map
//!
//! A hash keyed by address sends each lookup to a random line of the table, so every
//! free paid a cache miss there before it could check anything (the mixed benchmark spent
//! more time in that miss than in the inner allocator). The block map keeps one 32-bit
//! entry per 16-byte granule of address space instead, as hardened_malloc keeps its slab
//! metadata per region: blocks that sit together in memory share a line of metadata,
//! and a lookup is a shift, a mask and one load.
//!
//! The address space is cut into 16 MiB chunks. A chunk that holds a block has a **leaf**,
//! 2^20 entries (4 MiB) in an anonymous mapping of its own, of which only the pages
//! that were written cost memory: at most 4 bytes per 16 bytes of the inner allocator's
//! touched memory. A small open-addressing directory (chunk number → leaf) finds the
//! leaf, behind a cache of eight recently used leaves' entry arrays. (With one cached
//! leaf, a heap spread over two chunks missed it on every other lookup, a mispredicted
//! branch each.)
//!
//! Allocations and frees keep no count per leaf. Each leaf has a **touched map** after its
//! entries, a byte per group of 1,024 entries, set by the insert that writes the group;
//! walks (`check`, `leaks`, drop) read only touched groups. Whether a leaf is empty is
//! found when a leaf is added, by walking its touched groups (clearing those found
//! empty); once four or more leaves are empty, they are unmapped.
//!
//! An entry packs the requested size (24 bits), `log2` of the alignment (6 bits, so every
//! alignment fits) and the quarantine flag; zero means no block starts in that granule. A
//! block goes into the map when it starts on a granule and its size fits. `Hardened` asks
//! its inner allocator for at least 16-byte alignment, so only blocks of 16 MiB and more,
//! and the guard-paged large blocks, live in the hash table. A free's fast path computes
//! the entry its layout would have and compares it with the recorded one: one load and
//! one compare check that the block is live, starts here and has that layout.
//!
//! Both structures are in their own mappings, never next to user blocks: a linear
//! overflow out of a block cannot reach the metadata that detects it.

use core::ptr::{self, NonNull};

use super::table::{self, Entry, Table};
use crate::api::AllocError;
use crate::os;

/// `log2` of the bytes of address space one leaf covers.
const CHUNK_SHIFT: u32 = 24;
/// `log2` of the granule: a block in the map starts at a multiple of 16.
const GRANULE_SHIFT: u32 = 4;
/// The alignment the inner allocator is asked for, so that every block starts on a granule.
pub(super) const GRANULE: usize = 1 << GRANULE_SHIFT;
/// Entries in a leaf.
const ENTRIES: usize = 1 << (CHUNK_SHIFT - GRANULE_SHIFT);
/// Entries per byte of a leaf's touched map.
const GROUP: usize = 1024;
/// Groups in a leaf: bytes of its touched map.
const GROUPS: usize = ENTRIES / GROUP;
/// Bits of an entry that hold the requested size.
const SIZE_BITS: u32 = 24;
/// The largest requested size an entry holds.
pub(super) const MAX_SIZE: usize = (1 << SIZE_BITS) - 1;
/// `log2` of the alignment: bits 24..30, so every alignment fits.
const ALIGN_SHIFT: u32 = SIZE_BITS;
/// Set while the block waits in quarantine.
const QUARANTINED: u32 = 1 << 30;
/// Empty leaves tolerated before adding a leaf unmaps them.
const EMPTY_LEAVES_KEPT: usize = 4;

/// The map entry of a live block of `size` (`1..=MAX_SIZE`) and `align`: what a free
/// with that layout compares the recorded entry with.
#[inline(always)]
pub(super) fn packed(size: usize, align: usize) -> u32 {
    debug_assert!(size != 0 && size <= MAX_SIZE);
    size as u32 | (align.trailing_zeros() << ALIGN_SHIFT)
}

/// The table entry a map entry `e` of the block at `addr` stands for.
#[inline(always)]
fn unpack(addr: usize, e: u32) -> Entry {
    let size = (e & MAX_SIZE as u32) as usize;
    let align = 1 << ((e >> ALIGN_SHIFT) & 63);
    // The block's provenance was exposed when it was recorded (`Blocks::insert_small`).
    let mut entry = Entry::new(ptr::with_exposed_provenance_mut(addr), size, align, false);
    if e & QUARANTINED != 0 {
        entry.quarantine(false);
    }
    entry
}

/// Bytes of a leaf's mapping: `ENTRIES` entries, then its touched map, `GROUPS` bytes.
fn leaf_bytes() -> usize {
    (ENTRIES * size_of::<u32>() + GROUPS).next_multiple_of(os::page_size())
}

/// The touched map of the leaf whose entries start at `entries`: byte `g` is non-zero if
/// entries `g * GROUP..(g + 1) * GROUP` may be non-zero, so walks read only the groups
/// that were written (a heap's blocks may lie far apart in a chunk; under Miri they
/// always do). A byte, not a bit, so that marking it is one store.
#[inline(always)]
fn touched(entries: *mut u32) -> *mut u8 {
    entries.wrapping_add(ENTRIES).cast()
}

/// One directory slot: a chunk's leaf.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    /// The chunk number plus one; zero marks an empty slot.
    key: usize,
    /// `ENTRIES` entries and the touched map, in a mapping of [`leaf_bytes`].
    entries: *mut u32,
}

impl Leaf {
    /// Whether no entry of the leaf is set. Clears the touched bytes of the groups it
    /// finds empty, so later walks skip them; stops at the first set entry.
    ///
    /// # Safety
    ///
    /// - The slot holds a leaf (`key != 0`) that nothing else accesses meanwhile.
    unsafe fn is_empty(&self) -> bool {
        let touched = touched(self.entries);
        for g in 0..GROUPS {
            // SAFETY: `g < GROUPS` indexes the touched map, and the group's entries lie
            // inside the leaf (caller).
            unsafe {
                if *touched.add(g) == 0 {
                    continue;
                }
                let group = core::slice::from_raw_parts(self.entries.add(g * GROUP), GROUP);
                if group.iter().any(|&e| e != 0) {
                    return false;
                }
                *touched.add(g) = 0;
            }
        }
        true
    }
}

/// The direct map: leaves of entries, found through a directory.
struct BlockMap {
    /// `cap` directory slots in a mapping of `map_len` bytes; null when `cap == 0`.
    slots: *mut Leaf,
    /// Zero or a power of two; at least twice `leaves` (load ≤ 1/2).
    cap: usize,
    /// `log2(cap)`.
    bits: u32,
    /// Occupied directory slots.
    leaves: usize,
    /// Bytes of the directory's mapping.
    map_len: usize,
    /// Recently used leaves' entries, direct-mapped by the low bits of their key: the
    /// leaf of key `k` may be at `cache[k % CACHED]`. Key 0 (no chunk) marks an empty
    /// line; all are emptied when the directory is rebuilt.
    cache: [(usize, *mut u32); CACHED],
}

/// Lines of [`BlockMap::cache`]: neighbouring chunks (a heap that spans a few) never
/// evict each other.
const CACHED: usize = 8;

impl BlockMap {
    const fn new() -> Self {
        BlockMap {
            slots: ptr::null_mut(),
            cap: 0,
            bits: 0,
            leaves: 0,
            map_len: 0,
            cache: [(0, ptr::null_mut()); CACHED],
        }
    }

    /// The directory slot of `key`'s leaf, or of the empty slot where it would go.
    #[inline]
    fn probe(&self, key: usize) -> *mut Leaf {
        let mask = self.cap - 1;
        let mut i = super::table::home(key, self.bits);
        loop {
            // SAFETY: `i < cap`, and the directory holds `cap` initialised slots (a zeroed
            // mapping is a valid array of empty ones). Its load is at most 1/2, so an
            // empty slot ends every probe.
            let slot = unsafe { self.slots.add(i) };
            // SAFETY: as above.
            let k = unsafe { (*slot).key };
            if k == key || k == 0 {
                return slot;
            }
            i = (i + 1) & mask;
        }
    }

    /// The entries of chunk `key`'s leaf, if it has one; caches them.
    #[inline(always)]
    fn leaf(&mut self, key: usize) -> Option<*mut u32> {
        let (k, entries) = self.cache[key % CACHED];
        if k == key {
            return Some(entries);
        }
        self.leaf_uncached(key)
    }

    #[inline(never)]
    fn leaf_uncached(&mut self, key: usize) -> Option<*mut u32> {
        if self.cap == 0 {
            return None;
        }
        let slot = self.probe(key);
        // SAFETY: `probe` returns a slot of the directory.
        let leaf = unsafe { *slot };
        if leaf.key != key {
            return None;
        }
        self.cache[key % CACHED] = (key, leaf.entries);
        Some(leaf.entries)
    }

    /// Where the entry of the granule at `addr` (a multiple of [`GRANULE`]) is, if its
    /// chunk has a leaf.
    #[inline(always)]
    fn entry(&mut self, addr: usize) -> Option<*mut u32> {
        debug_assert!(addr.is_multiple_of(GRANULE));
        let entries = self.leaf((addr >> CHUNK_SHIFT) + 1)?;
        // SAFETY: `entries` holds a leaf's `ENTRIES` entries, and the index is below that.
        Some(unsafe { entries.add((addr >> GRANULE_SHIFT) & (ENTRIES - 1)) })
    }

    /// The entry of the block starting at `addr`, if there is one: where it is, and its
    /// value.
    #[inline(always)]
    fn find(&mut self, addr: usize) -> Option<(MapSlot, u32)> {
        if !addr.is_multiple_of(GRANULE) {
            return None;
        }
        let at = self.entry(addr)?;
        // SAFETY: `entry` points into a leaf, which `&mut self` lets us read.
        let e = unsafe { *at };
        (e != 0).then_some((MapSlot(at), e))
    }

    /// Where the entry of the block at `addr` is, if it is exactly `e`.
    #[inline(always)]
    fn find_exact(&mut self, addr: usize, e: u32) -> Option<MapSlot> {
        if !addr.is_multiple_of(GRANULE) {
            return None;
        }
        let at = self.entry(addr)?;
        // SAFETY: as in `find`.
        (unsafe { *at } == e).then_some(MapSlot(at))
    }

    /// Records entry `e` (non-zero) for the block at `addr` (a multiple of [`GRANULE`]
    /// where no block is recorded).
    #[inline(always)]
    fn insert(&mut self, addr: usize, e: u32) -> Result<(), AllocError> {
        let key = (addr >> CHUNK_SHIFT) + 1;
        let entries = match self.leaf(key) {
            Some(entries) => entries,
            None => self.add_leaf(key)?,
        };
        let index = (addr >> GRANULE_SHIFT) & (ENTRIES - 1);
        // SAFETY: `entries` holds a leaf's `ENTRIES` entries and then its touched map of
        // `GROUPS` bytes; `index < ENTRIES`. `&mut self` gives exclusive access.
        unsafe {
            debug_assert_eq!(*entries.add(index), 0);
            *entries.add(index) = e;
            *touched(entries).add(index / GROUP) = 1;
        }
        Ok(())
    }

    /// Every recorded block: its address and entry.
    fn iter(&self) -> impl Iterator<Item = (usize, u32)> + '_ {
        let slots: &[Leaf] = if self.cap == 0 {
            &[]
        } else {
            // SAFETY: the directory holds `cap` initialised slots, not changed while
            // `&self` lives.
            unsafe { core::slice::from_raw_parts(self.slots, self.cap) }
        };
        slots.iter().filter(|l| l.key != 0).flat_map(|l| {
            let base = (l.key - 1) << CHUNK_SHIFT;
            // SAFETY: `g < GROUPS` indexes the leaf's touched map.
            let groups = (0..GROUPS).filter(|&g| unsafe { *touched(l.entries).add(g) } != 0);
            groups
                .flat_map(|g| g * GROUP..(g + 1) * GROUP)
                .filter_map(move |i| {
                    // SAFETY: `i < ENTRIES`, inside the leaf's mapping.
                    let e = unsafe { *l.entries.add(i) };
                    (e != 0).then_some((base + (i << GRANULE_SHIFT), e))
                })
        })
    }

    /// Maps a leaf for chunk `key` (which has none), first unmapping the empty leaves if
    /// there are several, and growing the directory if it would pass load 1/2.
    ///
    /// Whether a leaf is empty is found here, by walking its touched groups, so that
    /// frees and allocations keep no count per leaf; the walk stops at a leaf's first
    /// entry, and clears the groups it finds empty, so each group is walked once per time
    /// it empties.
    #[cold]
    #[inline(never)]
    fn add_leaf(&mut self, key: usize) -> Result<*mut u32, AllocError> {
        if self.leaves >= EMPTY_LEAVES_KEPT && self.empty_leaves() >= EMPTY_LEAVES_KEPT {
            self.rebuild(self.cap, true)?;
        }
        if 2 * (self.leaves + 1) > self.cap {
            self.rebuild(
                (2 * self.cap).max(os::page_size() / size_of::<Leaf>()),
                false,
            )?;
        }
        let entries = os::map(leaf_bytes()).map_err(|_| AllocError)?;
        let slot = self.probe(key);
        let entries = entries.as_ptr().cast();
        // SAFETY: `probe` returned the empty slot where `key` goes.
        unsafe { *slot = Leaf { key, entries } };
        self.leaves += 1;
        Ok(entries)
    }

    /// Leaves with no entry set.
    fn empty_leaves(&mut self) -> usize {
        (0..self.cap)
            // SAFETY: `i < cap`, a slot of the directory; `&mut self` gives exclusive
            // access to the leaves.
            .filter(|&i| unsafe {
                let leaf = *self.slots.add(i);
                leaf.key != 0 && leaf.is_empty()
            })
            .count()
    }

    /// Moves the directory to a fresh mapping of `cap` slots, unmapping the empty leaves
    /// when `drop_empty`.
    fn rebuild(&mut self, cap: usize, drop_empty: bool) -> Result<(), AllocError> {
        let cap = cap.next_power_of_two();
        let (slots, map_len) = table::map_array::<Leaf>(cap)?;
        let old = core::mem::replace(
            self,
            BlockMap {
                slots,
                map_len,
                cap,
                bits: cap.trailing_zeros(),
                ..BlockMap::new()
            },
        );
        for i in 0..old.cap {
            // SAFETY: `i < old.cap`, a slot of the old directory.
            let leaf = unsafe { *old.slots.add(i) };
            if leaf.key == 0 {
                continue;
            }
            // SAFETY: an occupied slot of the old directory, which only `self` reaches.
            if drop_empty && unsafe { leaf.is_empty() } {
                // SAFETY: an empty leaf is a mapping no entry refers to.
                unsafe { unmap_leaf(leaf) };
                continue;
            }
            let slot = self.probe(leaf.key);
            // SAFETY: `probe` returned an empty slot of the new directory.
            unsafe { *slot = leaf };
            self.leaves += 1;
        }
        old.unmap_directory();
        Ok(())
    }

    /// Returns the directory's mapping (not the leaves) to the OS.
    fn unmap_directory(self) {
        // SAFETY: the directory came from `map_array` with this length (or there is
        // none), and `self`, the only reference to it, is consumed.
        unsafe { table::unmap_array(self.slots, self.map_len) }
    }

    /// Returns every leaf and the directory to the OS.
    fn unmap(self) {
        for i in 0..self.cap {
            // SAFETY: `i < cap`, a slot of the directory.
            let leaf = unsafe { *self.slots.add(i) };
            if leaf.key != 0 {
                // SAFETY: the map is going away with every leaf.
                unsafe { unmap_leaf(leaf) };
            }
        }
        self.unmap_directory();
    }
}

/// Where a block's entry is in the map: valid until the leaf is unmapped, which only
/// happens to an empty leaf when another is added.
#[derive(Debug, Clone, Copy)]
pub(super) struct MapSlot(*mut u32);

impl MapSlot {
    /// The entry.
    #[inline(always)]
    fn get(self) -> u32 {
        // SAFETY: the slot points at an entry of a mapped leaf (type invariant), which the
        // `&mut Blocks` the caller came through lets it read.
        unsafe { *self.0 }
    }

    /// Overwrites the entry (0 forgets the block).
    #[inline(always)]
    fn set(self, e: u32) {
        // SAFETY: as in `get`, for a write.
        unsafe { *self.0 = e }
    }
}

/// Unmaps a leaf's entries.
///
/// # Safety
///
/// - `leaf` is an occupied directory slot whose entries nothing will read again.
unsafe fn unmap_leaf(leaf: Leaf) {
    // SAFETY: the entries are a mapping of `leaf_bytes()` from `os::map` (caller).
    unsafe { os::unmap(NonNull::new_unchecked(leaf.entries.cast()), leaf_bytes()) }
}

/// Where a recorded block's entry is.
#[derive(Debug, Clone, Copy)]
pub(super) enum Slot {
    /// In the block map.
    Map(MapSlot),
    /// In the hash table, at this slot.
    Table(usize),
}

/// Every live and quarantined block of one heap: the block map, and the hash table for
/// blocks the map cannot describe.
pub(super) struct Blocks {
    map: BlockMap,
    table: Table,
}

impl Blocks {
    /// No blocks; maps nothing.
    pub(super) const fn new() -> Self {
        Blocks {
            map: BlockMap::new(),
            table: Table::new(),
        }
    }

    /// Records a live block, whose address must not be recorded.
    #[inline(always)]
    pub(super) fn insert(&mut self, entry: Entry) -> Result<(), AllocError> {
        let (size, align) = (entry.size(), entry.align());
        if entry.large() || size == 0 || size > MAX_SIZE {
            return self.table.insert(entry);
        }
        self.insert_small(entry.ptr, size, align)
    }

    /// The block starting at `addr`: where its entry is, and the entry.
    #[inline(always)]
    pub(super) fn find(&mut self, addr: usize) -> Option<(Slot, Entry)> {
        if let Some((s, e)) = self.map.find(addr) {
            return Some((Slot::Map(s), unpack(addr, e)));
        }
        self.find_in_table(addr)
    }

    /// Records a live block of `size` (`1..=MAX_SIZE`, not a large block) and `align` at
    /// `ptr`: in the map if it starts on a granule. The allocation fast path.
    #[inline(always)]
    pub(super) fn insert_small(
        &mut self,
        ptr: *mut u8,
        size: usize,
        align: usize,
    ) -> Result<(), AllocError> {
        // Lookups rebuild the block's pointer from its address.
        let addr = ptr.expose_provenance();
        if addr.is_multiple_of(GRANULE) {
            self.map.insert(addr, packed(size, align))
        } else {
            // Only an inner allocator that broke its alignment promise gets here.
            self.table.insert(Entry::new(ptr, size, align, false))
        }
    }

    /// Where the entry of the live block at `addr` is, if it is in the map with entry
    /// `e` ([`packed`]): the free fast path, one load and compare. `None` for anything
    /// else; [`Blocks::find_live`] and [`Blocks::find`] then tell what.
    #[inline(always)]
    pub(super) fn find_packed(&mut self, addr: usize, e: u32) -> Option<MapSlot> {
        self.map.find_exact(addr, e)
    }

    /// Forgets a block found by [`Blocks::find_packed`].
    #[inline(always)]
    pub(super) fn remove_packed(&mut self, s: MapSlot) {
        s.set(0);
    }

    /// The live block starting at `addr` if it was allocated with `size` and `align`
    /// (and is `large` or not). `None` for anything else; [`Blocks::find`] then tells
    /// what.
    #[inline(always)]
    pub(super) fn find_live(
        &mut self,
        addr: usize,
        size: usize,
        align: usize,
        large: bool,
    ) -> Option<(Slot, Entry)> {
        if !large && size != 0 && size <= MAX_SIZE {
            // Such a layout is in the map, unless its block is off the granule (then
            // `find_exact` says no, and the table has it).
            if let Some(s) = self.map.find_exact(addr, packed(size, align)) {
                let ptr = ptr::with_exposed_provenance_mut(addr);
                return Some((Slot::Map(s), Entry::new(ptr, size, align, false)));
            }
        }
        let meta = Entry::live_meta(size, align, large);
        self.find_in_table(addr).filter(|(_, e)| e.meta() == meta)
    }

    #[inline(never)]
    fn find_in_table(&mut self, addr: usize) -> Option<(Slot, Entry)> {
        let i = self.table.slot_of(addr)?;
        Some((Slot::Table(i), *self.table.at(i)))
    }

    /// Marks the block at `s` (from [`Blocks::find`], no insert since) quarantined, and
    /// sealed if `sealed` (only large blocks are sealed, and they are in the table).
    #[inline(always)]
    pub(super) fn quarantine(&mut self, s: Slot, sealed: bool) {
        match s {
            Slot::Map(s) => {
                debug_assert!(!sealed);
                s.set(s.get() | QUARANTINED);
            }
            Slot::Table(i) => self.table.at(i).quarantine(sealed),
        }
    }

    /// Forgets the block at `s` (from [`Blocks::find`], no insert since).
    #[inline(always)]
    pub(super) fn remove(&mut self, s: Slot) {
        match s {
            Slot::Map(s) => s.set(0),
            Slot::Table(i) => {
                self.table.remove_at(i);
            }
        }
    }

    /// Every recorded block, in no particular order.
    pub(super) fn iter(&self) -> impl Iterator<Item = Entry> + '_ {
        let map = self.map.iter().map(|(addr, e)| unpack(addr, e));
        map.chain(self.table.iter().copied())
    }

    /// Returns the metadata's mappings to the OS; nothing is recorded afterwards.
    pub(super) fn unmap(self) {
        self.map.unmap();
        self.table.unmap();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{Allocator, Layout};

    #[test]
    fn map_and_table_share_one_interface() {
        let heap = crate::Pages;
        let layout = Layout::from_size_align(1 << 21, 1 << 20).unwrap();
        // A real 2 MiB region, so that the block map's addresses have provenance.
        let region = heap.allocate(layout).unwrap().cast::<u8>();
        let base = region.as_ptr();
        let mut b = Blocks::new();
        let n = if cfg!(miri) { 200 } else { 20_000 };
        // Two chunks' worth of 16-byte-spaced blocks, plus unaligned and huge ones that
        // must go to the table.
        for i in 0..n {
            let p = base.wrapping_add(i * 96);
            b.insert(Entry::new(p, 40, 16, false)).unwrap();
        }
        let odd = base.wrapping_add(8);
        b.insert(Entry::new(odd, 8, 8, false)).unwrap();
        let huge = base.wrapping_add(1 << 20);
        let huge = huge.wrapping_add(16 * 7);
        b.insert(Entry::new(huge, 1 << 24, 16, false)).unwrap();
        assert!(matches!(b.find(odd.addr()), Some((Slot::Table(_), _))));
        assert!(matches!(b.find(huge.addr()), Some((Slot::Table(_), _))));
        assert_eq!(b.iter().count(), n + 2);
        for i in (0..n).step_by(2) {
            let addr = base.addr() + i * 96;
            let (s, e) = b.find(addr).expect("recorded");
            assert_eq!((e.size(), e.align(), e.addr()), (40, 16, addr));
            assert!(matches!(s, Slot::Map(_)));
            b.remove(s);
            assert!(b.find(addr).is_none());
        }
        // The fast paths' view of the same entries.
        let p = base.wrapping_add(96);
        let e = packed(40, 16);
        assert!(b.find_packed(p.addr(), e).is_some());
        assert!(
            b.find_packed(p.addr(), packed(40, 8)).is_none(),
            "another layout"
        );
        assert!(b.find_packed(p.addr() + 8, e).is_none(), "off the granule");
        assert!(b.find_live(p.addr(), 40, 16, false).is_some());
        assert!(
            b.find_live(odd.addr(), 8, 8, false).is_some(),
            "in the table"
        );
        assert!(b.find_live(odd.addr(), 16, 8, false).is_none());
        let q = base.wrapping_add((1 << 20) + 64);
        b.insert_small(q, 24, 32).unwrap();
        let s = b.find_packed(q.addr(), packed(24, 32)).expect("recorded");
        b.remove_packed(s);
        assert!(b.find(q.addr()).is_none());
        let (s, _) = b.find(base.addr() + 96).unwrap();
        b.quarantine(s, false);
        let (_, e) = b.find(base.addr() + 96).unwrap();
        assert_eq!(e.state(), super::super::table::State::Quarantined);
        assert!(b.find(base.addr() + 16).is_none(), "an interior granule");
        assert_eq!(b.iter().count(), n / 2 + 2);
        b.unmap();
        // SAFETY: `region` came from `heap` with `layout`.
        unsafe { heap.deallocate(region, layout) };
    }

    #[test]
    fn empty_leaves_are_unmapped_when_leaves_are_added() {
        let mut m = BlockMap::new();
        // Addresses are only keys here: nothing reads through them.
        for chunk in 1..=20usize {
            m.insert(chunk << CHUNK_SHIFT, packed(1, 16)).unwrap();
            let (s, _) = m.find(chunk << CHUNK_SHIFT).unwrap();
            s.set(0);
        }
        assert!(m.leaves <= EMPTY_LEAVES_KEPT + 1, "{} leaves", m.leaves);
        assert_eq!(m.empty_leaves(), m.leaves);
        assert_eq!(m.iter().count(), 0);
        m.unmap();
    }
}
