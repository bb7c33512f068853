//! Sharing one heap between threads: `Locked<SizeClasses>`, `Locked<FreeList>` and
//! `Malloc`.
//!
//! Threads stand in a ring. Each round, every thread allocates a batch of blocks of mixed
//! sizes and alignments, writes a pattern into each, and sends the batch (itself a `Vec`
//! in the shared heap) to the next thread over a `std::sync::mpsc` channel; then it
//! receives its predecessor's batch, checks every pattern and frees the blocks. So every
//! block is freed by a different thread than the one that allocated it, while other
//! threads allocate. A thread sends its batch before it receives one, so a channel never
//! holds more than one batch per thread: the live memory is bounded, and the tests check
//! the bound.

#[allow(unused_macros)] // only `scaled` is used here, not the strategy list
mod common;

use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use allockit::{Allocator, Layout};
use allockit::{Counting, FreeList, Locked, Malloc, SizeClasses};
use common::scaled;
use std::sync::mpsc;

/// Threads in the ring.
const THREADS: usize = 4;
/// Most blocks in one batch.
const BATCH: usize = 8;
/// Largest byte block (smaller under Miri, which checks every byte ~1000x slower).
const MAX_BYTES: usize = if cfg!(miri) { 300 } else { 3000 };

/// A block with a strict alignment, to take the aligned paths.
#[repr(align(4096))]
struct Page([u8; 4096]);

/// One block in a batch, with the seed of the pattern written into it.
enum Item<'a, A: Allocator> {
    Bytes(Vec<u8, &'a A>, u8),
    Page(Box<Page, &'a A>, u8),
}

/// The pattern for byte `i` of a block with `seed`.
fn pattern(seed: u8, i: usize) -> u8 {
    seed.wrapping_add(i as u8).wrapping_mul(31) ^ (i >> 8) as u8
}

/// A small deterministic xorshift generator, one per thread.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> usize {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 as usize
    }
}

/// Runs the ring over `heap` for `rounds` rounds.
fn pass_around<A: Allocator + Sync>(heap: &A, rounds: usize) {
    let (senders, receivers): (Vec<_>, Vec<_>) = (0..THREADS).map(|_| mpsc::channel()).unzip();
    std::thread::scope(|s| {
        // Thread `t` receives on channel `t` and sends on channel `t + 1`.
        let mut receivers = receivers.into_iter();
        for t in 0..THREADS {
            let rx: mpsc::Receiver<Vec<Item<'_, A>, &A>> = receivers.next().unwrap();
            let tx = senders[(t + 1) % THREADS].clone();
            s.spawn(move || {
                let mut rng = Rng(0x9E37_79B9 + t as u64);
                for round in 0..rounds {
                    let mut batch = Vec::new_in(heap);
                    for k in 0..1 + rng.next() % BATCH {
                        let seed = (round * BATCH + k + t) as u8;
                        if rng.next().is_multiple_of(8) {
                            let mut page = Box::new_in(Page([0; 4096]), heap);
                            for (i, b) in page.0.iter_mut().enumerate() {
                                *b = pattern(seed, i);
                            }
                            batch.push(Item::Page(page, seed));
                        } else {
                            let len = 1 + rng.next() % MAX_BYTES;
                            let mut v = Vec::with_capacity_in(len, heap);
                            v.extend((0..len).map(|i| pattern(seed, i)));
                            batch.push(Item::Bytes(v, seed));
                        }
                    }
                    tx.send(batch).unwrap();
                    for item in rx.recv().unwrap() {
                        let (bytes, seed): (&[u8], u8) = match &item {
                            Item::Bytes(v, seed) => (v, *seed),
                            Item::Page(p, seed) => {
                                let addr = (&raw const **p).addr();
                                assert_eq!(addr % align_of::<Page>(), 0, "page misaligned");
                                (&p.0, *seed)
                            }
                        };
                        assert!(
                            bytes
                                .iter()
                                .enumerate()
                                .all(|(i, &b)| b == pattern(seed, i)),
                            "a block changed on its way between threads"
                        );
                        drop(item); // freed on this thread, allocated on another
                    }
                }
            });
        }
        drop(senders);
    });
}

/// The most requested bytes that can be live at once: a batch per thread in each channel
/// and in each thread's hands, each block at most a page, plus the batches' own buffers.
fn live_bound() -> usize {
    let items = 2 * THREADS * THREADS * BATCH;
    items * (4096 + size_of::<Item<'static, Malloc>>())
}

#[test]
fn locked_size_classes() {
    let heap = Locked::new(Counting::new(SizeClasses::new()));
    pass_around(&heap, scaled(500));
    let stats = heap.lock().stats();
    assert_eq!(stats.allocations, stats.deallocations, "{stats:?}");
    assert_eq!(stats.live_bytes, 0);
    assert!(stats.peak_bytes <= live_bound(), "{stats:?}");
    let reserved = heap.lock().inner().reserved_bytes();
    assert!(reserved <= 4 * live_bound(), "{reserved} bytes reserved");
}

#[test]
fn locked_free_list() {
    let heap = Locked::new(Counting::new(FreeList::new()));
    pass_around(&heap, scaled(500));
    let stats = heap.lock().stats();
    assert_eq!(stats.allocations, stats.deallocations, "{stats:?}");
    assert_eq!(stats.live_bytes, 0);
    assert!(stats.peak_bytes <= live_bound(), "{stats:?}");
    let inner = heap.into_inner().into_inner();
    inner.check_invariants();
    let free = inner.stats();
    assert_eq!(free.free_blocks, free.regions, "coalesced again: {free:?}");
}

#[test]
fn malloc() {
    pass_around(&Malloc, scaled(500));
}

/// Every block `Malloc` returns is at least as long as asked, aligned, and writable over
/// its whole reported length (which is `malloc_usable_size`, except under Miri).
#[test]
fn malloc_usable_size_is_writable() {
    // Miri writes bytes ~1000x slower: the large sizes only natively.
    let large = if cfg!(miri) { 5000 } else { 300_000 };
    for size in [1, 2, 15, 16, 17, 24, 25, 100, 4095, 4096, large] {
        for align in [1, 2, 8, 16, 32, 4096, 65536] {
            let layout = Layout::from_size_align(size, align).unwrap();
            let block = Malloc.allocate(layout).unwrap();
            let p = block.cast::<u8>().as_ptr();
            assert!(block.len() >= size, "{layout:?}: {} bytes", block.len());
            assert_eq!(p.addr() % align, 0, "{layout:?}");
            if cfg!(miri) {
                assert_eq!(block.len(), size, "Miri has no malloc_usable_size");
            }
            // SAFETY: the block is writable and readable over its reported length.
            unsafe {
                p.write_bytes(0x5A, block.len());
                assert!((0..block.len()).all(|i| p.add(i).read() == 0x5A));
            }
            // The block fits any size between the requested and the usable one.
            let fits = Layout::from_size_align(block.len(), align).unwrap();
            // SAFETY: `block` is live and fits `fits`.
            unsafe { Malloc.deallocate(block.cast(), fits) };
        }
    }
}

/// The concrete types implement the allocator-api2 mirror: hashbrown takes them directly.
#[test]
fn hashbrown_on_shared_heaps() {
    let heap = Locked::new(SizeClasses::new());
    std::thread::scope(|s| {
        for t in 0..THREADS as u64 {
            let heap = &heap;
            s.spawn(move || {
                let n = scaled(1000) as u64;
                let mut map = hashbrown::HashMap::new_in(heap);
                let mut by_product = hashbrown::HashMap::new_in(Malloc);
                for i in 0..n {
                    map.insert(i, i * t);
                    by_product.insert(i * t, i);
                }
                assert_eq!(map[&1], t);
                let distinct = if t == 0 { 1 } else { n };
                assert_eq!(by_product.len() as u64, distinct);
            });
        }
    });
}
