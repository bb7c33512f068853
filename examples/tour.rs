//! A tour of allockit: every strategy runs a real collection, and a table shows what it did.
//!
//! Each strategy is wrapped in a [`Counting`] allocator, so the table can report the calls
//! the strategy saw (allocate / grow / shrink / deallocate), the bytes it held, and how long
//! the workload took:
//!
//! - `Pages`: a 64 MiB `Vec<u8>` grown by doubling; on Linux each grow is an `mremap`.
//! - `FixedBuffer`: a 64 KiB array on the stack holds a `Vec` of words, sorted and deduped.
//! - `Arena`: a `hashbrown::HashMap<&str, usize>` counts words; each distinct key is copied
//!   into the arena with `alloc_str` (typed methods bypass the `Allocator` trait, so only the
//!   map's table shows up in the calls).
//! - `Arena` scope: a 1,000,000-node `LinkedList` built and summed inside `arena.scope`,
//!   freed all at once when the scope ends; the arena's `used_bytes` returns to its earlier
//!   value.
//! - `Counting` over `Global`: a `BTreeMap` with inserts and removals.
//! - `SizeClasses`: a `BTreeMap<u64, Vec<u8>>` whose values come and go in mixed sizes,
//!   map nodes and values both in the size classes.
//! - `FreeList`: lines of a text buffer (`Vec<Vec<u8>>`) that grow and shrink; a line
//!   grows in place when the block after it is free.
//! - `Slab`: a singly linked stack of 200,000 boxed nodes, pushed and popped in waves.
//!
//! Run it with `cargo run --release --example tour`.
#![feature(allocator_api, btreemap_alloc)]

use std::alloc::Global;
use std::collections::{BTreeMap, LinkedList};
use std::time::{Duration, Instant};

use allockit::{Arena, Counting, FixedBuffer, FreeList, Pages, SizeClasses, Slab, Stats};

/// One row of the table: strategy, workload, result, calls, bytes reserved, time.
type Row = [String; 6];

fn row(names: [&str; 3], s: Stats, reserved: String, time: Duration) -> Row {
    let calls = [s.allocations, s.grows, s.shrinks, s.deallocations].map(thousands);
    let time = format!("{:.2} ms", time.as_secs_f64() * 1e3);
    let [strategy, workload, result] = names.map(str::to_string);
    [strategy, workload, result, calls.join("/"), reserved, time]
}

/// A deterministic xorshift generator, so every run does the same work.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// `n` words of generated text, drawn from a few thousand made-up words.
fn text(n: usize) -> String {
    const SYLLABLES: [&str; 13] = [
        "ka", "lo", "mi", "ra", "te", "su", "no", "vi", "de", "po", "an", "el", "ur",
    ];
    let mut rng = Rng(0x5EED);
    let mut out = String::with_capacity(n * 7);
    for _ in 0..n {
        // Skewed toward short words, so some words are far more common than others.
        let r = rng.next();
        let len = 1 + (r % 3).min(r % 4) as usize;
        for i in 0..len {
            out.push_str(SYLLABLES[((r >> (8 + 8 * i)) % 13) as usize]);
        }
        out.push(' ');
    }
    out
}

/// `n` with thousands separators.
fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, d) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(d);
    }
    out
}

/// Bytes in KiB or MiB, for the table.
fn bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MiB", n as f64 / (1 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KiB", n as f64 / 1024.0),
        n => format!("{n} B"),
    }
}

fn pages() -> Row {
    let counting = Counting::new(Pages);
    let start = Instant::now();
    let mut v = Vec::new_in(&counting);
    let block = [0xA5u8; 4096];
    while v.len() < 64 << 20 {
        v.extend_from_slice(&block); // capacity doubles: 8 KiB, 16 KiB, …, 64 MiB
    }
    assert_eq!(v.len(), 64 << 20);
    assert!(v.iter().step_by(4093).all(|&b| b == 0xA5));
    drop(v);
    let time = start.elapsed();
    let stats = counting.stats();
    let page = Pages::page_size();
    let reserved = bytes(stats.peak_bytes.div_ceil(page) * page);
    let names = [
        "Pages",
        "Vec<u8> doubled to 64 MiB (mremap)",
        "contents checked",
    ];
    row(names, stats, reserved, time)
}

fn fixed_buffer(words: &str) -> Row {
    let mut stack = [0u8; 64 * 1024];
    let counting = Counting::new(FixedBuffer::new(&mut stack));
    let start = Instant::now();
    let mut v = Vec::new_in(&counting);
    v.extend(words.split_ascii_whitespace().take(2000));
    v.sort_unstable();
    v.dedup();
    assert!(v.is_sorted());
    let distinct = v.len();
    let used = counting.inner().used();
    drop(v);
    let time = start.elapsed();
    let reserved = format!("{} of {}", bytes(used), bytes(counting.inner().capacity()));
    let result = format!("{distinct} distinct");
    let names = [
        "FixedBuffer",
        "2,000 words on a stack array, sorted",
        &result,
    ];
    row(names, counting.stats(), reserved, time)
}

/// The word counter on an arena, then a scope on the same arena; returns both rows.
fn arena(words: &str) -> [Row; 2] {
    let counting = Counting::new(Arena::new());
    let start = Instant::now();
    let mut counts = hashbrown::HashMap::new_in(&counting);
    for w in words.split_ascii_whitespace() {
        match counts.get_mut(w) {
            Some(n) => *n += 1,
            None => {
                counts.insert(&*counting.inner().alloc_str(w), 1usize);
            }
        }
    }
    let (top, n) = counts.iter().max_by_key(|&(w, n)| (*n, *w)).unwrap();
    let result = format!("{} distinct, top {top:?} x{n}", thousands(counts.len()));
    drop(counts);
    let time = start.elapsed();
    let stats = counting.stats();
    let mut arena = counting.into_inner();
    let names = [
        "Arena",
        "HashMap<&str, usize> counts 200,000 words",
        &result,
    ];
    let counter = row(names, stats, bytes(arena.reserved_bytes()), time);

    // The words and the map's tables stay in the arena; the scope comes on top of them.
    let before = arena.used_bytes();
    let start = Instant::now();
    let (sum, stats, peak_used) = arena.scope(|s| {
        let counting = Counting::new(&*s);
        let mut list = LinkedList::new_in(&counting);
        for i in 0..1_000_000u64 {
            list.push_back(i);
        }
        let sum: u64 = list.iter().sum();
        std::mem::forget(list); // nothing to drop: the scope frees every node at once
        (sum, counting.stats(), s.used_bytes())
    });
    let time = start.elapsed();
    assert_eq!(sum, 999_999 * 1_000_000 / 2);
    assert_eq!(arena.used_bytes(), before, "the scope gave its bytes back");
    let used = [before, peak_used, arena.used_bytes()].map(bytes);
    let result = format!("used {}", used.join(" -> "));
    let names = [
        "Arena scope",
        "LinkedList of 1,000,000 u64, summed",
        &result,
    ];
    let scope = row(names, stats, bytes(arena.reserved_bytes()), time);
    [counter, scope]
}

fn counting_global() -> Row {
    let counting = Counting::new(Global);
    let start = Instant::now();
    let mut map = BTreeMap::new_in(&counting);
    let mut rng = Rng(42);
    for i in 0..200_000u64 {
        map.insert(rng.next() % 1_000_000, i);
    }
    map.retain(|k, _| k % 2 == 0);
    assert!(map.keys().is_sorted() && map.keys().all(|k| k % 2 == 0));
    let result = format!("{} keys left", thousands(map.len()));
    drop(map);
    let time = start.elapsed();
    let stats = counting.stats();
    assert_eq!(stats.live_bytes, 0, "every node freed");
    let names = [
        "Counting<Global>",
        "BTreeMap: 200,000 inserts, retain evens",
        &result,
    ];
    let reserved = format!("{} peak", bytes(stats.peak_bytes));
    row(names, stats, reserved, time)
}

fn size_classes() -> Row {
    let counting = Counting::new(SizeClasses::new());
    let start = Instant::now();
    let mut map = BTreeMap::new_in(&counting);
    let mut rng = Rng(7);
    for i in 0..200_000u64 {
        let key = rng.next() % 20_000;
        if i % 3 == 0 {
            map.remove(&key);
        } else {
            let mut value = Vec::new_in(&counting);
            value.resize(8 + (rng.next() % 500) as usize, i as u8);
            map.insert(key, value);
        }
    }
    let bytes_live: usize = map.values().map(|v| v.len()).sum();
    let result = format!(
        "{} keys, {} in values",
        thousands(map.len()),
        bytes(bytes_live)
    );
    drop(map);
    let time = start.elapsed();
    let stats = counting.stats();
    let reserved = bytes(counting.inner().reserved_bytes());
    let names = [
        "SizeClasses",
        "BTreeMap<u64, Vec<u8>>: 200,000 ops, 8-507 B values",
        &result,
    ];
    row(names, stats, reserved, time)
}

fn free_list() -> Row {
    let counting = Counting::new(FreeList::new());
    let start = Instant::now();
    let mut lines: Vec<Vec<u8, _>, _> = Vec::new_in(&counting);
    let mut rng = Rng(11);
    for _ in 0..2_000 {
        lines.push(Vec::new_in(&counting));
    }
    for _ in 0..200_000 {
        let line = &mut lines[(rng.next() % 2_000) as usize];
        if rng.next().is_multiple_of(4) {
            line.truncate(line.len() / 2);
            line.shrink_to_fit();
        } else {
            line.extend_from_slice(b"typed ");
        }
    }
    let text: usize = lines.iter().map(|l| l.len()).sum();
    let free = counting.inner().stats();
    let result = format!(
        "{} of text, {} free blocks",
        bytes(text),
        thousands(free.free_blocks)
    );
    drop(lines);
    let time = start.elapsed();
    let stats = counting.stats();
    let reserved = bytes(counting.inner().reserved_bytes());
    let names = [
        "FreeList",
        "2,000 text lines grown and shrunk 200,000x",
        &result,
    ];
    row(names, stats, reserved, time)
}

fn slab() -> Row {
    struct Node<'a> {
        value: u64,
        next: Option<Box<Node<'a>, &'a Counting<Slab>>>,
    }
    let counting = Counting::new(Slab::for_type::<Node<'static>>());
    let start = Instant::now();
    let mut head: Option<Box<Node<'_>, _>> = None;
    let mut sum = 0u64;
    for wave in 0..4u64 {
        for value in 0..200_000 {
            head = Some(Box::new_in(
                Node {
                    value: value + wave,
                    next: head,
                },
                &counting,
            ));
        }
        for _ in 0..150_000 {
            let node = head.take().map(|b| *b).unwrap();
            sum += node.value;
            head = node.next;
        }
    }
    let live = counting.inner().stats();
    let result = format!(
        "{} nodes live, {} slabs",
        thousands(live.live),
        thousands(live.slabs)
    );
    while let Some(node) = head.take() {
        sum += node.value;
        head = node.next;
    }
    assert!(sum > 0);
    let time = start.elapsed();
    let stats = counting.stats();
    let reserved = bytes(live.slabs * live.slots_per_slab * live.slot_size);
    let names = ["Slab", "linked stack of boxed nodes, 4 waves", &result];
    row(names, stats, reserved, time)
}

fn main() {
    let words = text(200_000);
    let mut rows = vec![pages(), fixed_buffer(&words)];
    rows.extend(arena(&words));
    rows.push(counting_global());
    rows.extend([size_classes(), free_list(), slab()]);

    println!("allockit tour: each strategy runs a real collection, watched by a Counting wrapper");
    println!();
    let header = [
        "strategy",
        "workload",
        "result",
        "alloc/grow/shrink/free",
        "reserved",
        "time",
    ];
    let mut width = header.map(str::len);
    for row in &rows {
        for (w, c) in width.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |row: [&str; 6]| {
        // Text columns left-aligned, numbers right-aligned.
        let [a, b, c, d, e, f] = row;
        let [wa, wb, wc, wd, we, wf] = width;
        println!("{a:<wa$}  {b:<wb$}  {c:<wc$}  {d:>wd$}  {e:>we$}  {f:>wf$}");
    };
    line(header);
    line(width.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for row in &rows {
        line(row.each_ref().map(String::as_str));
    }
}
