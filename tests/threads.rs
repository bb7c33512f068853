//! Cross-thread stress for `ThreadCache`: blocks allocated on one thread are checked and
//! freed on another, threads exit while their blocks live on elsewhere, and every block
//! is unique while live (a block handed out twice would be caught by the live set and by
//! its contents).

use allockit::{Allocator, Layout};
use std::collections::HashSet;
use std::ptr::NonNull;
use std::sync::mpsc;
use std::sync::{Arc, Mutex};

use allockit::ThreadCache;

/// A block in flight: address, layout, and the tag written into every byte's pattern.
struct Sent {
    ptr: usize,
    size: usize,
    tag: u64,
}

/// Addresses of live blocks; inserting one already there means a block was handed out
/// twice.
type Live = Arc<Mutex<HashSet<usize>>>;

fn layout(size: usize) -> Layout {
    Layout::from_size_align(size, 8).unwrap()
}

/// The byte at `i` of the block tagged `tag`.
fn pattern(tag: u64, i: usize) -> u8 {
    (tag.wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as u8 ^ i as u8
}

/// Allocates a block of `size` bytes, records it live, fills it with its tag's pattern.
fn make(tc: &ThreadCache, live: &Live, size: usize, tag: u64) -> Sent {
    let p = tc.allocate(layout(size)).expect("allocation").cast::<u8>();
    assert!(
        live.lock().unwrap().insert(p.as_ptr().addr()),
        "block {p:p} handed out while live"
    );
    // SAFETY: the block is `size` bytes long and ours.
    let bytes = unsafe { std::slice::from_raw_parts_mut(p.as_ptr(), size) };
    for (i, b) in bytes.iter_mut().enumerate() {
        *b = pattern(tag, i);
    }
    Sent {
        ptr: p.as_ptr().expose_provenance(),
        size,
        tag,
    }
}

/// Checks a received block's pattern, unrecords it and frees it on this thread.
fn check_and_free(tc: &ThreadCache, live: &Live, s: Sent) {
    let p: *mut u8 = std::ptr::with_exposed_provenance_mut(s.ptr);
    // SAFETY: the block is live, `s.size` bytes, and was handed to this thread.
    let bytes = unsafe { std::slice::from_raw_parts(p, s.size) };
    for (i, &b) in bytes.iter().enumerate() {
        assert_eq!(
            b,
            pattern(s.tag, i),
            "block {p:p} byte {i} changed in flight"
        );
    }
    assert!(
        live.lock().unwrap().remove(&s.ptr),
        "block {p:p} freed twice"
    );
    // SAFETY: live, allocated with this layout; no one else holds it.
    unsafe { tc.deallocate(NonNull::new(p).unwrap(), layout(s.size)) };
}

/// Sizes from 8 B to 40 KiB (some large blocks), from a small xorshift.
fn sizes(seed: u64) -> impl FnMut() -> usize {
    let mut x = seed | 1;
    move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        // Under Miri, which checks every byte of the patterns, blocks stay small except
        // for the occasional large one.
        let (large, medium) = if cfg!(miri) {
            (17_000, 600)
        } else {
            (20_000, 1024)
        };
        match x % 100 {
            0 => large + (x >> 8) as usize % large,
            1..=9 => medium + (x >> 8) as usize % (8 * medium),
            _ => 8 + (x >> 8) as usize % 512,
        }
    }
}

#[test]
fn blocks_cross_a_ring_of_threads_and_come_back_home() {
    const THREADS: usize = 4;
    let rounds = if cfg!(miri) { 12 } else { 3000 };
    let live: Live = Arc::default();
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| mpsc::channel::<Sent>()).unzip();
    let handles: Vec<_> = receivers
        .into_iter()
        .enumerate()
        .map(|(t, rx)| {
            let next = senders[(t + 1) % THREADS].clone();
            let live = live.clone();
            std::thread::spawn(move || {
                let tc = ThreadCache::new();
                let mut size = sizes(t as u64 + 1);
                for i in 0..rounds {
                    next.send(make(&tc, &live, size(), (t * rounds + i) as u64))
                        .unwrap();
                    // Free what the previous thread sent, keeping a few in hand.
                    while let Ok(s) = rx.try_recv() {
                        check_and_free(&tc, &live, s);
                    }
                }
                drop(next);
                rx
            })
        })
        .collect();
    drop(senders);
    // Join every thread before draining: a receiver dropped early would fail the
    // sends of the thread before it in the ring.
    let receivers: Vec<_> = handles.into_iter().map(|h| h.join().unwrap()).collect();
    let tc = ThreadCache::new();
    for rx in receivers {
        // Whatever was still in flight is freed here, on yet another thread.
        for s in rx.try_iter() {
            check_and_free(&tc, &live, s);
        }
    }
    assert!(
        live.lock().unwrap().is_empty(),
        "every block was freed once"
    );
}

#[test]
fn producers_exit_while_their_blocks_live_on_and_their_memory_is_reused() {
    let live: Live = Arc::default();
    let tc = ThreadCache::new();
    let per_thread = if cfg!(miri) { 10 } else { 2000 };
    let mut segments_after_first_wave = 0;
    for wave in 0..3 {
        let (tx, rx) = mpsc::channel();
        // Short-lived producers: allocate, send, exit (their heaps are abandoned while
        // every block they made is still alive on this thread).
        let producers: Vec<_> = (0..4)
            .map(|t| {
                let (tx, live) = (tx.clone(), live.clone());
                std::thread::spawn(move || {
                    let tc = ThreadCache::new();
                    let mut size = sizes(100 + t);
                    for i in 0..per_thread {
                        tx.send(make(&tc, &live, size(), t * 1_000_000 + i as u64))
                            .unwrap();
                    }
                })
            })
            .collect();
        drop(tx);
        for p in producers {
            p.join().unwrap();
        }
        // The owners are gone; free everything here.
        for s in rx {
            check_and_free(&tc, &live, s);
        }
        let segments = tc.stats().segments;
        if wave == 0 {
            segments_after_first_wave = segments;
        } else {
            // Later waves adopt the abandoned segments instead of mapping new ones
            // (other tests in this binary allocate too: allow them a few).
            assert!(
                segments <= segments_after_first_wave + 8,
                "wave {wave}: {segments} segments, {segments_after_first_wave} after the first"
            );
        }
    }
    assert!(live.lock().unwrap().is_empty());
}

#[test]
fn producer_consumer_pair() {
    let live: Live = Arc::default();
    // Under Miri: the 81st block is the first large one, after which the run slows
    // sharply (81 blocks: 29 s; 200: over eight minutes), so Miri checks the 80 before.
    let n = if cfg!(miri) { 80 } else { 50_000 };
    let (tx, rx) = mpsc::sync_channel::<Sent>(256);
    let consumer = {
        let live = live.clone();
        std::thread::spawn(move || {
            let tc = ThreadCache::new();
            for s in rx {
                check_and_free(&tc, &live, s);
            }
        })
    };
    let tc = ThreadCache::new();
    let mut size = sizes(7);
    for i in 0..n {
        tx.send(make(&tc, &live, size(), i as u64)).unwrap();
    }
    drop(tx);
    consumer.join().unwrap();
    assert!(live.lock().unwrap().is_empty());
}
