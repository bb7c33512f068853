//! `Locked` as the global allocator: every allocation of this test binary, the test
//! harness's included, goes through one `Locked<SizeClasses<Malloc>>`.
//!
//! The backing is `Malloc` rather than the default `Pages` so that the test also runs
//! under Miri, where `Pages` keeps its bookkeeping in a `BTreeMap` that would allocate
//! from this very allocator while its lock is held. (The `Pages` version is the doc
//! example of `Locked`.)

use allockit::{Locked, Malloc, SizeClasses};
use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;

#[global_allocator]
static GLOBAL: Locked<SizeClasses<Malloc>> = Locked::new(SizeClasses::new_in(Malloc));

/// Scales a count down under Miri.
const fn scaled(n: usize) -> usize {
    if cfg!(miri) { n / 50 + 2 } else { n }
}

#[test]
fn collections_on_many_threads() {
    let (tx, rx) = mpsc::channel::<Vec<String>>();
    let workers: Vec<_> = (0..4)
        .map(|t| {
            let tx = tx.clone();
            std::thread::spawn(move || {
                let mut map = HashMap::new();
                let mut tree = BTreeMap::new();
                for i in 0..scaled(2000) {
                    map.insert(i, format!("{t}:{i}"));
                    tree.insert(format!("{i:06}"), vec![t as u8; i % 300]);
                }
                assert_eq!(map[&1], format!("{t}:1"));
                assert!(tree.values().enumerate().all(|(i, v)| v.len() == i % 300));
                // Strings allocated here, freed by the receiving thread.
                tx.send(map.into_values().collect()).unwrap();
            })
        })
        .collect();
    drop(tx);
    let mut total = 0;
    for strings in rx {
        total += strings.len();
        assert!(strings.iter().all(|s| s.contains(':')));
    }
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(total, 4 * scaled(2000));
}

#[test]
fn large_and_aligned_blocks() {
    // Large blocks go past the size classes to `Malloc`; `realloc` grows them.
    let mut big: Vec<u64> = Vec::new();
    for i in 0..scaled(200_000) as u64 {
        big.push(i);
    }
    assert_eq!(
        big.iter().sum::<u64>(),
        big.len() as u64 * (big.len() as u64 - 1) / 2
    );
    #[repr(align(4096))]
    struct Page([u8; 4096]);
    let pages: Vec<Box<Page>> = (0..16).map(|i| Box::new(Page([i; 4096]))).collect();
    for (i, p) in pages.iter().enumerate() {
        assert_eq!((&raw const **p).addr() % 4096, 0);
        assert!(p.0.iter().all(|&b| b == i as u8));
    }
    assert!(GLOBAL.lock().reserved_bytes() > 0);
}
