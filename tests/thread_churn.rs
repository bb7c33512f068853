//! Thread churn on `ThreadCache` as the global allocator: generations of threads that
//! exit with their blocks still live, successors that free those blocks, and other
//! threads adopting the exited threads' segments at the same time (larson's pattern).
//! Every block carries its own address, size and a fill pattern, checked before it is
//! freed: a block handed out twice, or a free list written through a live block, shows.
//!
//! CI runs it in release (`cargo test --release --test thread_churn`: 8 threads, 30
//! generations each, 4,000 blocks a thread), in debug at a smaller size, and under Miri
//! with a few hundred blocks.

use allockit::{Allocator, Layout};
use std::ptr::NonNull;
use std::thread;

use allockit::ThreadCache;

#[global_allocator]
static GLOBAL: ThreadCache = ThreadCache::new();

/// Workers alive at once, generations per worker line, blocks per worker, replacements
/// per generation. The release shape spans several segments per thread (the case that
/// broke); a debug build checks every byte ten times slower, so it runs a smaller one.
#[cfg(all(not(miri), not(debug_assertions)))]
const SHAPE: (usize, usize, usize, usize) = (8, 30, 4000, 20000);
#[cfg(all(not(miri), debug_assertions))]
const SHAPE: (usize, usize, usize, usize) = (4, 8, 3000, 4000);
#[cfg(miri)]
const SHAPE: (usize, usize, usize, usize) = (2, 2, 30, 40);

/// A tagged block: its first word is its own address, its second its size; the other
/// bytes follow `fill`.
struct Tagged(NonNull<u8>, usize);
// SAFETY: a `Tagged` owns its block; ThreadCache blocks may be freed from any thread.
unsafe impl Send for Tagged {}

fn fill(addr: usize, i: usize) -> u8 {
    ((addr >> 4).wrapping_mul(131) ^ i.wrapping_mul(7)) as u8
}

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

impl Tagged {
    fn new(size: usize) -> Self {
        let p = ThreadCache::new()
            .allocate(layout(size))
            .unwrap()
            .cast::<u8>();
        let addr = p.as_ptr().addr();
        // SAFETY: a fresh block of at least `size >= 16` bytes, ours alone.
        unsafe {
            let bytes = std::slice::from_raw_parts_mut(p.as_ptr(), size);
            bytes[..8].copy_from_slice(&addr.to_ne_bytes());
            bytes[8..16].copy_from_slice(&size.to_ne_bytes());
            for (i, b) in bytes.iter_mut().enumerate().skip(16) {
                *b = fill(addr, i);
            }
        }
        Tagged(p, size)
    }

    fn check_and_free(self) {
        let (p, size) = (self.0, self.1);
        let addr = p.as_ptr().addr();
        // SAFETY: the block is live, `size` bytes, and owned by `self`.
        let bytes = unsafe { std::slice::from_raw_parts(p.as_ptr(), size) };
        let word = |i: usize| usize::from_ne_bytes(bytes[i..i + 8].try_into().unwrap());
        assert_eq!(
            word(0),
            addr,
            "block {addr:#x}: its address word was overwritten"
        );
        assert_eq!(
            word(8),
            size,
            "block {addr:#x}: its size word was overwritten"
        );
        for (i, &b) in bytes.iter().enumerate().skip(16) {
            assert_eq!(
                b,
                fill(addr, i),
                "block {addr:#x}: byte {i} was overwritten"
            );
        }
        // SAFETY: live, allocated with this layout, freed once.
        unsafe { ThreadCache::new().deallocate(p, layout(size)) };
    }
}

/// A small xorshift generator: the test needs no statistical quality.
fn next(s: &mut u64) -> u64 {
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    *s
}

/// The successor a generation's thread started before it exited, if any.
struct Next(Option<thread::JoinHandle<Next>>);

/// One generation: replace random slots, then hand them to a successor thread and exit
/// with the blocks live, or, in the last generation, check and free them all.
fn generation(mut slots: Vec<Tagged>, generation_no: usize, mut rng: u64) -> Next {
    let (_, generations, _, rounds) = SHAPE;
    for _ in 0..rounds {
        let i = next(&mut rng) as usize % slots.len();
        let size = 16 + next(&mut rng) as usize % 1009;
        std::mem::replace(&mut slots[i], Tagged::new(size)).check_and_free();
    }
    if generation_no + 1 < generations {
        let rng = rng ^ 0x9E37_79B9;
        Next(Some(thread::spawn(move || {
            generation(slots, generation_no + 1, rng)
        })))
    } else {
        slots.into_iter().for_each(Tagged::check_and_free);
        Next(None)
    }
}

/// A worker line: generation after generation, each on a new thread.
fn line(t: usize) {
    let (_, _, blocks, _) = SHAPE;
    let mut rng = 0x0123_4567 + t as u64 * 0x0051_ED27;
    let slots: Vec<Tagged> = (0..blocks)
        .map(|_| Tagged::new(16 + next(&mut rng) as usize % 1009))
        .collect();
    let mut handle = thread::spawn(move || generation(slots, 0, rng));
    while let Next(Some(succ)) = handle.join().unwrap() {
        handle = succ;
    }
}

#[test]
fn exiting_threads_and_adopters_never_share_a_block() {
    let (workers, ..) = SHAPE;
    let lines: Vec<_> = (0..workers)
        .map(|t| thread::spawn(move || line(t)))
        .collect();
    for l in lines {
        l.join().unwrap();
    }
}
