//! The whole test process on `ThreadCache`: it is this binary's `#[global_allocator]`,
//! so the harness, std's collections, formatting, threads and channels all allocate and
//! free through it.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, mpsc};

use allockit::ThreadCache;

#[global_allocator]
static GLOBAL: ThreadCache = ThreadCache::new();

/// Scales a count down under Miri.
const fn scaled(n: usize) -> usize {
    if cfg!(miri) { n / 100 + 1 } else { n }
}

#[test]
fn collections_and_formatting() {
    let n = scaled(20_000);
    let words: Vec<String> = (0..n).map(|i| format!("word-{i:05}-{}", i % 7)).collect();
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for w in &words {
        *counts.entry(&w[w.len() - 1..]).or_default() += 1;
    }
    assert_eq!(counts.values().sum::<usize>(), n);
    let mut sorted = words.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(sorted.first(), words.last());
    let tree: BTreeMap<usize, String> = words.iter().cloned().enumerate().collect();
    assert_eq!(
        tree.range(10..).next().map(|(k, _)| *k),
        (n > 10).then_some(10)
    );
    let mut queue: VecDeque<Box<[u8]>> = VecDeque::new();
    for i in 0..n {
        queue.push_back(vec![i as u8; i % 3000].into_boxed_slice());
        if queue.len() > 100 {
            let b = queue.pop_front().unwrap();
            assert!(b.iter().all(|&x| x == b.first().copied().unwrap_or(0)));
        }
    }
    let joined = words.join(",");
    assert_eq!(joined.split(',').count(), n);
}

#[test]
fn threads_share_and_free_each_others_memory() {
    let n = scaled(10_000);
    let shared = Arc::new(Mutex::new(Vec::<String>::new()));
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let shared = shared.clone();
            std::thread::spawn(move || {
                for i in 0..n {
                    let s = format!("{t}:{i}:{}", "x".repeat(i % 64));
                    shared.lock().unwrap().push(s);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    // Every string was made on an exited thread and is freed here.
    let all = std::mem::take(&mut *shared.lock().unwrap());
    assert_eq!(all.len(), 4 * n);
    assert!(all.iter().all(|s| s.split(':').count() == 3));
    drop(all);

    let (tx, rx) = mpsc::channel::<Vec<u64>>();
    let consumer =
        std::thread::spawn(move || rx.iter().map(|v| v.iter().sum::<u64>()).sum::<u64>());
    for i in 0..n as u64 {
        tx.send((0..i % 50).collect()).unwrap();
    }
    drop(tx);
    let expected: u64 = (0..n as u64).map(|i| (0..i % 50).sum::<u64>()).sum();
    assert_eq!(consumer.join().unwrap(), expected);
}

#[test]
fn the_global_allocator_is_really_thread_cache() {
    let before = GLOBAL.stats().large_blocks;
    let big = vec![1u8; 1 << 20];
    assert!(
        GLOBAL.stats().large_blocks > before,
        "a 1 MiB Vec is a large block"
    );
    drop(big);
}
