//! A tour of allockit: every strategy runs a real collection, and a table shows what it did.
//!
//! Each strategy is wrapped in a [`Counting`] allocator, so the table can report the calls
//! the strategy saw (allocate / grow / shrink / deallocate), the bytes it held, and how long
//! the workload took:
//!
//! - `Pages`: a 64 MiB `Vec<u8>` grown by doubling; on Linux each grow is an `mremap`.
//! - `FixedBuffer`: a 64 KiB array on the stack holds a `Vec` of words, sorted and deduped.
//! - `Arena`: a `hashbrown::HashMap<&str, usize>` counts words; each distinct key is copied
//!   into the arena as an `allockit::String` leaked to a `&str`, through the counting
//!   wrapper, so the calls count the keys and the map's tables.
//! - `Arena` scope: a 1,000,000-node linked list (each node a leaked `Box` in the scope)
//!   built and summed inside `arena.scope`, freed all at once when the scope ends; the
//!   arena's `used_bytes` returns to its earlier value.
//! - `Counting` over `Global`: a `hashbrown::HashSet` with inserts and removals.
//! - `SizeClasses`: a `hashbrown::HashMap<u64, Vec<u8>>` whose values come and go in mixed
//!   sizes, table and values both in the size classes.
//! - `FreeList`: lines of a text buffer (`Vec<Vec<u8>>`) that grow and shrink; a line
//!   grows in place when the block after it is free.
//! - `Slab`: a singly linked stack of 200,000 boxed nodes, pushed and popped in waves.
//! - `Malloc`: a `Vec<u64>` pushed to 2,000,000 elements; the result counts how often
//!   `realloc` had to move it rather than grow it in place.
//! - `Locked<SizeClasses>`: four threads in a ring pass 200,000 `Vec<u8>`s over channels;
//!   each is freed by a different thread than the one that allocated it, every call
//!   through the one lock.
//! - `ThreadCache`: the same ring with no lock: per-thread heaps, and each vector goes back
//!   to the heap of the thread that allocated it.
//! - `Hardened<SizeClasses>`: a word index (`hashbrown::HashMap<&str, Vec<u32>>`) with
//!   canaries, checked frees, zeroing and quarantine; every canary checked at the end.
//! - `Compartment`: 10,000 secrets in a reserved range of their own, sealed and unsealed.
//! - `Fallback<Slab, FreeList>`, an allocator built for a particle system: each particle
//!   is a `Box` in the slab; the `Vec` of live particles, too large for a slot, falls back
//!   to the free list. 200 frames spawn 1,000 particles each and drop the expired ones.
//!
//! Run it with `cargo run --release --example tour`.

use allocator_api2::alloc::Global;
use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use std::time::{Duration, Instant};

use allockit::{
    Arena, Compartment, Counting, Fallback, FixedBuffer, FreeList, Hardened, Locked, Malloc, Pages,
    SizeClasses, Slab, Stats, ThreadCache,
};

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
    let mut stack = [core::mem::MaybeUninit::uninit(); 64 * 1024];
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
                // The key is copied through the counting wrapper, so the copy is counted
                // (the arena's own `alloc_str` would bypass it).
                let key: &str = allockit::String::from_str_in(w, &counting).leak();
                counts.insert(key, 1usize);
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
        /// A list node; the nodes are never dropped: the scope frees them all at once.
        struct Node<'a> {
            value: u64,
            next: Option<&'a Node<'a>>,
        }
        let counting = Counting::new(&*s);
        let mut head = None;
        for value in (0..1_000_000u64).rev() {
            head = Some(&*Box::leak(Box::new_in(
                Node { value, next: head },
                &counting,
            )));
        }
        let mut sum = 0;
        while let Some(node) = head {
            sum += node.value;
            head = node.next;
        }
        (sum, counting.stats(), s.used_bytes())
    });
    let time = start.elapsed();
    assert_eq!(sum, 999_999 * 1_000_000 / 2);
    assert_eq!(arena.used_bytes(), before, "the scope gave its bytes back");
    let used = [before, peak_used, arena.used_bytes()].map(bytes);
    let result = format!("used {}", used.join(" -> "));
    let names = [
        "Arena scope",
        "linked list of 1,000,000 u64, summed",
        &result,
    ];
    let scope = row(names, stats, bytes(arena.reserved_bytes()), time);
    [counter, scope]
}

fn counting_global() -> Row {
    let counting = Counting::new(Global);
    let start = Instant::now();
    let mut set = hashbrown::HashSet::new_in(&counting);
    let mut rng = Rng(42);
    for _ in 0..200_000u64 {
        set.insert(rng.next() % 1_000_000);
    }
    set.retain(|k| k % 2 == 0);
    set.shrink_to_fit();
    assert!(set.iter().all(|k| k % 2 == 0));
    let result = format!("{} keys left", thousands(set.len()));
    drop(set);
    let time = start.elapsed();
    let stats = counting.stats();
    assert_eq!(stats.live_bytes, 0, "every table freed");
    let names = [
        "Counting<Global>",
        "HashSet: 200,000 inserts, retain evens",
        &result,
    ];
    let reserved = format!("{} peak", bytes(stats.peak_bytes));
    row(names, stats, reserved, time)
}

fn size_classes() -> Row {
    let counting = Counting::new(SizeClasses::new());
    let start = Instant::now();
    let mut map = hashbrown::HashMap::new_in(&counting);
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
        "HashMap<u64, Vec<u8>>: 200,000 ops, 8-507 B values",
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
            let node = head.take().map(Box::into_inner).unwrap();
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
    while let Some(node) = head.take().map(Box::into_inner) {
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

fn malloc() -> Row {
    let counting = Counting::new(Malloc);
    let start = Instant::now();
    let mut v = Vec::new_in(&counting);
    let mut moved = 0;
    for i in 0..2_000_000u64 {
        if v.len() == v.capacity() && v.capacity() > 0 {
            let before = v.as_ptr();
            v.reserve(1);
            moved += usize::from(v.as_ptr() != before);
        }
        v.push(i);
    }
    assert_eq!(v.iter().sum::<u64>(), 1_999_999 * 2_000_000 / 2);
    drop(v);
    let time = start.elapsed();
    let stats = counting.stats();
    let result = format!("realloc moved it {moved} of {} grows", stats.grows);
    let names = ["Malloc", "Vec<u64> pushed to 2,000,000", &result];
    let reserved = format!("{} peak", bytes(stats.peak_bytes));
    row(names, stats, reserved, time)
}

/// Four threads in a ring: each allocates `Vec<u8>`s in `heap`, sends them to the next
/// thread, and checks and frees what the previous one sent. Returns the vectors checked.
fn ring<A: allockit::Allocator + Sync>(heap: &A) -> usize {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 50_000;
    let (senders, receivers): (Vec<_>, Vec<_>) =
        (0..THREADS).map(|_| std::sync::mpsc::channel()).unzip();
    std::thread::scope(|s| {
        let workers: Vec<_> = receivers
            .into_iter()
            .enumerate()
            .map(|(t, rx)| {
                // Thread `t` sends to thread `t + 1`, and frees what thread `t - 1` sent.
                let tx = senders[(t + 1) % THREADS].clone();
                s.spawn(move || {
                    let mut rng = Rng(t as u64 + 1);
                    let mut checked = 0;
                    for i in 0..PER_THREAD {
                        let mut v = Vec::new_in(heap);
                        v.resize(8 + (rng.next() % 249) as usize, i as u8);
                        tx.send(v).unwrap();
                        let got: Vec<u8, _> = rx.recv().unwrap();
                        assert!(got.iter().all(|&b| b == i as u8));
                        checked += 1;
                    }
                    checked
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    })
}

fn locked() -> Row {
    let heap = Locked::new(Counting::new(SizeClasses::new()));
    let start = Instant::now();
    let checked = ring(&heap);
    let time = start.elapsed();
    let inner = heap.into_inner();
    let stats = inner.stats();
    assert_eq!(stats.live_bytes, 0, "every block freed");
    let result = format!("{} freed by another thread", thousands(checked));
    let names = [
        "Locked<SizeClasses>",
        "4 threads pass Vec<u8>s in a ring",
        &result,
    ];
    row(names, stats, bytes(inner.inner().reserved_bytes()), time)
}

/// The same ring on `ThreadCache`: no lock, each freed vector goes back to the heap of
/// the thread that made it. (`Counting` is single-threaded, so the call column is the
/// ring's own count: one allocation and one free per vector.)
fn thread_cache() -> Row {
    let heap = ThreadCache::new();
    let start = Instant::now();
    let checked = ring(&heap);
    let time = start.elapsed();
    let result = format!("{} freed by another thread", thousands(checked));
    let calls = Stats {
        allocations: checked,
        deallocations: checked,
        ..Stats::default()
    };
    let segments = heap.stats().segments;
    let reserved = format!("{segments} x 4 MiB segments");
    let names = ["ThreadCache", "the same ring, per-thread heaps", &result];
    row(names, calls, reserved, time)
}

/// A `hashbrown::HashMap<&str, Vec<u32>>` on `Hardened<SizeClasses>`: every block gets a canary,
/// frees are checked against out-of-line metadata, freed blocks are zeroed and wait in
/// quarantine. `check()` verifies every canary at the end.
fn hardened(words: &str) -> Row {
    let heap = Hardened::new(Counting::new(SizeClasses::new()));
    let start = Instant::now();
    let mut index = hashbrown::HashMap::new_in(&heap);
    for (i, w) in words.split_whitespace().enumerate() {
        index
            .entry(w)
            .or_insert_with(|| Vec::new_in(&heap))
            .push(i as u32);
    }
    let violations = heap.check();
    let stats = heap.stats();
    assert_eq!(violations, 0, "no canary was touched");
    let distinct = index.len();
    drop(index);
    let time = start.elapsed();
    let counted = heap.inner().stats();
    let result = format!(
        "{distinct} words; {} live canaries intact",
        thousands(stats.live_blocks)
    );
    let names = [
        "Hardened<SizeClasses>",
        "word index HashMap<&str, Vec<u32>>",
        &result,
    ];
    let reserved = format!("{} in quarantine", bytes(stats.quarantined_bytes));
    row(names, counted, reserved, time)
}

/// A `Vec<String>` of secrets in a `Compartment`, sealed while unused: the pages are
/// inaccessible (to this thread with protection keys, to all with `mprotect`).
fn compartment() -> Row {
    let vault = Compartment::new(16 << 20);
    let counting = Counting::new(&vault);
    let start = Instant::now();
    let mut secrets = Vec::new_in(&counting);
    for i in 0..10_000u32 {
        let mut s = Vec::new_in(&counting);
        s.extend_from_slice(format!("secret-{i:05}").as_bytes());
        secrets.push(s);
    }
    let inside = secrets.iter().all(|s| vault.contains(s.as_ptr()));
    // SAFETY: `secrets` holds raw pointers into `vault`, no reference into it is live, and
    // nothing reads it between the seal and the unseal.
    let sealed = unsafe { vault.seal() }
        .and_then(|()| vault.unseal())
        .is_ok();
    assert!(inside && secrets[9_999].ends_with(b"09999"));
    drop(secrets);
    let time = start.elapsed();
    let result = format!(
        "all inside; sealed+unsealed: {} ({:?})",
        if sealed { "yes" } else { "unsupported" },
        vault.protection()
    );
    let names = ["Compartment", "10,000 secrets, sealed while idle", &result];
    row(
        names,
        counting.stats(),
        bytes(vault.committed_bytes()),
        time,
    )
}

/// A particle system on an allocator built for it: particles, all one size, from a
/// `Slab`; everything else (the growing list of live particles) from a `FreeList`.
fn composite() -> Row {
    struct Particle {
        pos: [f32; 3],
        vel: [f32; 3],
        life: u32,
    }
    let world = Counting::new(Fallback::new(Slab::for_type::<Particle>(), FreeList::new()));
    let start = Instant::now();
    let mut rng = Rng(0xF00D);
    let mut live = Vec::new_in(&world);
    for _frame in 0..200 {
        for _ in 0..1000 {
            let r = rng.next();
            let vel = [r as u8, (r >> 8) as u8, (r >> 16) as u8].map(|v| f32::from(v) / 256.0);
            let life = 1 + (r >> 32) as u32 % 60;
            live.push(Box::new_in(
                Particle {
                    pos: [0.0; 3],
                    vel,
                    life,
                },
                &world,
            ));
        }
        for p in live.iter_mut() {
            let p = &mut **p;
            p.life -= 1;
            for (x, v) in p.pos.iter_mut().zip(p.vel) {
                *x += v;
            }
        }
        live.retain(|p| p.life > 0);
    }
    let (slab, list) = (world.inner().primary(), world.inner().fallback());
    assert_eq!(
        slab.stats().live,
        live.len(),
        "every particle is in the slab"
    );
    let result = format!(
        "{} live, all in the slab; the list in the free list",
        thousands(live.len())
    );
    drop(live);
    let time = start.elapsed();
    let reserved = bytes(slab.reserved_bytes() + list.reserved_bytes());
    let names = [
        "Fallback<Slab, FreeList>",
        "particles: 200 frames x 1,000 spawned",
        &result,
    ];
    row(names, world.stats(), reserved, time)
}

fn main() {
    let words = text(200_000);
    let mut rows = vec![pages(), fixed_buffer(&words)];
    rows.extend(arena(&words));
    rows.push(counting_global());
    rows.extend([
        size_classes(),
        free_list(),
        slab(),
        malloc(),
        locked(),
        thread_cache(),
        hardened(&words),
        compartment(),
        composite(),
    ]);

    println!("allockit tour: each strategy runs a real collection under a Counting wrapper.");
    println!("  calls     allocate/grow/shrink/deallocate calls the strategy received");
    println!("  reserved  bytes the strategy held: from its backing allocator or the OS");
    println!("  time      wall time of the workload in this run (the machine's noise included)");
    println!("The second line of each row is the workload and what it produced.");
    println!();
    let header = ["strategy", "calls", "reserved", "time"];
    let mut width = header.map(str::len);
    for row in &rows {
        let [strategy, _, _, calls, reserved, time] = row.each_ref();
        for (w, c) in width.iter_mut().zip([strategy, calls, reserved, time]) {
            *w = (*w).max(c.chars().count());
        }
    }
    let [wa, wb, wc, wd] = width;
    let line = |[a, b, c, d]: [&str; 4]| println!("{a:<wa$}  {b:>wb$}  {c:>wc$}  {d:>wd$}");
    line(header);
    line(width.map(|w| "-".repeat(w)).each_ref().map(String::as_str));
    for [strategy, workload, result, calls, reserved, time] in &rows {
        line([strategy, calls, reserved, time].map(String::as_str));
        // Within 100 columns: the result goes on a line of its own if both do not fit.
        let detail = format!("  {workload}: {result}");
        if detail.chars().count() <= 100 {
            println!("{detail}");
        } else {
            println!("  {workload}:\n    {result}");
        }
    }
}
