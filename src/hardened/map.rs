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
//! leaf, behind a cache of eight recently used leaves. (With one cached leaf, a heap
//! spread over two chunks missed it on every other lookup, a mispredicted branch each.) Leaves that empty stay until the
//! next leaf is added; then, once four or more are empty, the empty ones are unmapped.
//!
//! An entry packs the requested size (24 bits), `log2` of the alignment (5 bits) and the
//! quarantine flag; zero means no block starts in that granule. A block goes into the map
//! when it starts on a granule and its layout fits those bits. `Hardened` asks its inner
//! allocator for at least 16-byte alignment, so only blocks of 16 MiB and more, and the
//! guard-paged large blocks, live in the hash table.
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
/// Entries per bit of [`Leaf::touched`].
const GROUP: usize = 1024;
/// Bytes of a leaf's mapping.
const LEAF_BYTES: usize = ENTRIES * size_of::<u32>();
/// Bits of an entry that hold the requested size.
const SIZE_BITS: u32 = 24;
/// `log2` of the alignment: bits 24..29.
const ALIGN_SHIFT: u32 = SIZE_BITS;
/// Set while the block waits in quarantine.
const QUARANTINED: u32 = 1 << 29;
/// Empty leaves tolerated before adding a leaf unmaps them.
const EMPTY_LEAVES_KEPT: usize = 4;

/// The map entry for a live block of `entry`'s layout, if it belongs in the map.
#[inline(always)]
fn pack(entry: &Entry) -> Option<u32> {
    pack_live(entry.meta()).filter(|_| entry.addr().is_multiple_of(GRANULE))
}

/// The map entry of a live block whose table entry has `meta` ([`Entry::live_meta`]), if
/// a block with that layout belongs in the map (when it starts on a granule).
#[inline(always)]
fn pack_live(meta: u64) -> Option<u32> {
    // `meta` is the size, `log2` of the alignment (from `table::ALIGN_SHIFT`) and flags:
    // the block belongs in the map when the size fits 24 bits, the `log2` 5 bits and no
    // flag (`LARGE`) is set.
    const MAP_BITS: u64 = ((1 << SIZE_BITS) - 1) | (31 << table::ALIGN_SHIFT);
    const _: () = assert!(SIZE_BITS <= table::SIZE_BITS);
    if meta & !MAP_BITS != 0 {
        return None;
    }
    Some(
        (meta as u32 & ((1 << SIZE_BITS) - 1))
            | (((meta >> table::ALIGN_SHIFT) as u32) << ALIGN_SHIFT),
    )
}

/// The table entry a map entry `e` of the block at `addr` stands for.
#[inline(always)]
fn unpack(addr: usize, e: u32) -> Entry {
    let size = (e & ((1 << SIZE_BITS) - 1)) as usize;
    let align = 1 << ((e >> ALIGN_SHIFT) & 31);
    // The block's provenance was exposed when it was recorded (`BlockMap::insert`).
    let mut entry = Entry::new(ptr::with_exposed_provenance_mut(addr), size, align, false);
    if e & QUARANTINED != 0 {
        entry.quarantine(false);
    }
    entry
}

/// One directory slot: a chunk's leaf.
#[derive(Debug, Clone, Copy)]
struct Leaf {
    /// The chunk number plus one; zero marks an empty slot.
    key: usize,
    /// `ENTRIES` entries in a mapping of `LEAF_BYTES`.
    entries: *mut u32,
    /// Non-zero entries.
    live: usize,
    /// Bit `g` is set if entries `g * GROUP..(g + 1) * GROUP` may be non-zero (cleared
    /// when `live` drops to zero), so walks read only the groups that were written: a
    /// heap's blocks may lie far apart in a chunk (under Miri they always do).
    touched: [u64; ENTRIES / GROUP / 64],
}

/// Where a block's entry is in the map: valid until the next insert, which may move
/// directory slots.
#[derive(Debug, Clone, Copy)]
pub(super) struct MapSlot {
    leaf: *mut Leaf,
    index: usize,
}

/// The direct map: leaves of entries, found through a directory.
struct BlockMap {
    /// `cap` directory slots in a mapping of `map_len` bytes; null when `cap == 0`.
    slots: *mut Leaf,
    /// Zero or a power of two; at least twice `leaves` (load ≤ 1/2).
    cap: usize,
    /// `log2(cap)`.
    bits: u32,
    /// Occupied directory slots, of which `empty` have `live == 0`.
    leaves: usize,
    empty: usize,
    /// Bytes of the directory's mapping.
    map_len: usize,
    /// Recently used leaves, direct-mapped by the low bits of their key: the leaf of key
    /// `k` may be at `cache[k % CACHED]`. Key 0 (no chunk) marks an empty line; all are
    /// emptied when the directory is rebuilt.
    cache: [(usize, *mut Leaf); CACHED],
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
            empty: 0,
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

    /// The leaf of chunk `key`, if it has one; caches it.
    #[inline(always)]
    fn leaf(&mut self, key: usize) -> Option<*mut Leaf> {
        let (k, leaf) = self.cache[key % CACHED];
        if k == key {
            return Some(leaf);
        }
        self.leaf_uncached(key)
    }

    #[inline(never)]
    fn leaf_uncached(&mut self, key: usize) -> Option<*mut Leaf> {
        if self.cap == 0 {
            return None;
        }
        let slot = self.probe(key);
        // SAFETY: `probe` returns a slot of the directory.
        if unsafe { (*slot).key } != key {
            return None;
        }
        self.cache[key % CACHED] = (key, slot);
        Some(slot)
    }

    /// The entry of the block starting at `addr`, if there is one.
    #[inline(always)]
    fn find(&mut self, addr: usize) -> Option<(MapSlot, u32)> {
        if !addr.is_multiple_of(GRANULE) {
            return None;
        }
        let leaf = self.leaf((addr >> CHUNK_SHIFT) + 1)?;
        let index = (addr >> GRANULE_SHIFT) & (ENTRIES - 1);
        // SAFETY: `leaf` is a directory slot holding a leaf of `ENTRIES` entries, and
        // `index < ENTRIES`.
        let e = unsafe { *(*leaf).entries.add(index) };
        if e == 0 {
            return None;
        }
        Some((MapSlot { leaf, index }, e))
    }

    /// Records entry `e` (non-zero) for the block at `addr` (a multiple of [`GRANULE`]
    /// where no block is recorded).
    #[inline(always)]
    fn insert(&mut self, addr: usize, e: u32) -> Result<(), AllocError> {
        let key = (addr >> CHUNK_SHIFT) + 1;
        let leaf = match self.leaf(key) {
            Some(leaf) => leaf,
            None => self.add_leaf(key)?,
        };
        let index = (addr >> GRANULE_SHIFT) & (ENTRIES - 1);
        // SAFETY: `leaf` is a directory slot holding a leaf of `ENTRIES` entries, and
        // `index < ENTRIES`; `&mut self` gives exclusive access to both.
        unsafe {
            let l = &mut *leaf;
            debug_assert_eq!(*l.entries.add(index), 0);
            *l.entries.add(index) = e;
            if l.live == 0 {
                self.empty -= 1;
            }
            l.live += 1;
            let g = index / GROUP;
            l.touched[g / 64] |= 1 << (g % 64);
        }
        Ok(())
    }

    /// Overwrites the entry at `s` (from [`BlockMap::find`]) with `e`, non-zero.
    #[inline(always)]
    fn set(&mut self, s: MapSlot, e: u32) {
        // SAFETY: `s` came from `find` with no insert since, so it points into a leaf.
        unsafe { *(*s.leaf).entries.add(s.index) = e };
    }

    /// Clears the entry at `s` (from [`BlockMap::find`]).
    #[inline(always)]
    fn remove(&mut self, s: MapSlot) {
        // SAFETY: as in `set`; `&mut self` gives exclusive access to the leaf.
        unsafe {
            let l = &mut *s.leaf;
            *l.entries.add(s.index) = 0;
            l.live -= 1;
            if l.live == 0 {
                self.empty += 1;
                l.touched = [0; ENTRIES / GROUP / 64];
            }
        }
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
            let groups = (0..ENTRIES / GROUP).filter(|g| l.touched[g / 64] & (1 << (g % 64)) != 0);
            groups
                .flat_map(|g| g * GROUP..(g + 1) * GROUP)
                .filter_map(move |i| {
                    // SAFETY: `i < ENTRIES`, inside the leaf's mapping.
                    let e = unsafe { *l.entries.add(i) };
                    (e != 0).then_some((base + (i << GRANULE_SHIFT), e))
                })
        })
    }

    /// Maps a leaf for chunk `key` (which has none), first unmapping empty leaves if
    /// there are several, and growing the directory if it would pass load 1/2.
    #[cold]
    #[inline(never)]
    fn add_leaf(&mut self, key: usize) -> Result<*mut Leaf, AllocError> {
        if self.empty >= EMPTY_LEAVES_KEPT {
            self.rebuild(self.cap, true)?;
        }
        if 2 * (self.leaves + 1) > self.cap {
            self.rebuild(
                (2 * self.cap).max(os::page_size() / size_of::<Leaf>()),
                false,
            )?;
        }
        let entries = os::map(LEAF_BYTES).map_err(|_| AllocError)?;
        let slot = self.probe(key);
        // SAFETY: `probe` returned the empty slot where `key` goes.
        unsafe {
            *slot = Leaf {
                key,
                entries: entries.as_ptr().cast(),
                live: 0,
                touched: [0; ENTRIES / GROUP / 64],
            }
        };
        self.leaves += 1;
        self.empty += 1;
        Ok(slot)
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
            if drop_empty && leaf.live == 0 {
                // SAFETY: an empty leaf is a mapping of `LEAF_BYTES` no entry refers to.
                unsafe { unmap_leaf(leaf) };
                continue;
            }
            let slot = self.probe(leaf.key);
            // SAFETY: `probe` returned an empty slot of the new directory.
            unsafe { *slot = leaf };
            self.leaves += 1;
            self.empty += usize::from(leaf.live == 0);
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

/// Unmaps a leaf's entries.
///
/// # Safety
///
/// - `leaf` is an occupied directory slot whose entries nothing will read again.
unsafe fn unmap_leaf(leaf: Leaf) {
    // SAFETY: the entries are a mapping of `LEAF_BYTES` from `os::map` (caller).
    unsafe { os::unmap(NonNull::new_unchecked(leaf.entries.cast()), LEAF_BYTES) }
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
        match pack(&entry) {
            Some(e) => {
                // Lookups rebuild the block's pointer from its address.
                entry.ptr.expose_provenance();
                self.map.insert(entry.addr(), e)
            }
            None => self.table.insert(entry),
        }
    }

    /// The block starting at `addr`: where its entry is, and the entry.
    #[inline(always)]
    pub(super) fn find(&mut self, addr: usize) -> Option<(Slot, Entry)> {
        if let Some((s, e)) = self.map.find(addr) {
            return Some((Slot::Map(s), unpack(addr, e)));
        }
        self.find_in_table(addr)
    }

    /// The live block starting at `addr` if its entry's `meta` is `meta` (a live block's,
    /// [`Entry::live_meta`]): the fast path of a free, one load and compare for a block in
    /// the map. `None` for anything else; [`Blocks::find`] then tells what.
    #[inline(always)]
    pub(super) fn find_live(&mut self, addr: usize, meta: u64) -> Option<(Slot, Entry)> {
        let packed = pack_live(meta);
        match packed {
            // A layout the map describes is in the map if anywhere: the table only holds
            // such a layout for a block off the granule, and `find` tells those apart.
            Some(packed) => match self.map.find(addr) {
                Some((s, e)) if e == packed => {
                    let ptr = ptr::with_exposed_provenance_mut(addr);
                    Some((Slot::Map(s), Entry::from_raw(ptr, meta)))
                }
                _ => None,
            },
            None => self.find_in_table(addr).filter(|(_, e)| e.meta() == meta),
        }
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
                // SAFETY: `s` came from `find` with no insert since.
                let e = unsafe { *(*s.leaf).entries.add(s.index) };
                self.map.set(s, e | QUARANTINED);
            }
            Slot::Table(i) => self.table.at(i).quarantine(sealed),
        }
    }

    /// Forgets the block at `s` (from [`Blocks::find`], no insert since).
    #[inline(always)]
    pub(super) fn remove(&mut self, s: Slot) {
        match s {
            Slot::Map(s) => self.map.remove(s),
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
            m.insert(chunk << CHUNK_SHIFT, 1 | (4 << ALIGN_SHIFT))
                .unwrap();
            let (s, _) = m.find(chunk << CHUNK_SHIFT).unwrap();
            m.remove(s);
        }
        assert!(m.leaves <= EMPTY_LEAVES_KEPT + 1, "{} leaves", m.leaves);
        assert_eq!(m.empty, m.leaves);
        assert_eq!(m.iter().count(), 0);
        m.unmap();
    }
}
