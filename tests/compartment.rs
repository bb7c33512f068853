//! `Compartment`: sealing faults, read-only sealing reads, blocks stay in their range, and
//! compartments never share a page.
//!
//! **Death tests** (module `death`) run the forbidden access in a child process: the test
//! binary re-executes itself with `<test> --exact --nocapture` and an environment variable
//! naming the test, then asserts the child was killed by `SIGSEGV` (or, under
//! AddressSanitizer, that ASan reported the SEGV). Each runs once with the compartment's
//! default protection (protection keys where the machine has them) and once forced to
//! `mprotect`. Miri can neither spawn processes nor change page protections, so they are
//! ignored there.
//!
//! **The other tests** run everywhere; under Miri sealing reports `SealError` and the
//! sealing tests check exactly that.

#[path = "common/death.rs"]
mod child;

use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use std::ptr::NonNull;

use allockit::{Allocator, Compartment, Layout, Protection, SealError};

/// The environment variable naming the death test a child process runs.
const CHILD: &str = "ALLOCKIT_COMPARTMENT_CHILD";

/// In the child (the variable names `test`), runs `attack`, which must fault; in the
/// parent, runs the child and asserts it died of `SIGSEGV`.
fn death_test(test: &str, attack: fn()) {
    let Some(child::Ended {
        status,
        signal,
        stderr,
        asan_fault,
    }) = child::run(CHILD, test, attack)
    else {
        return;
    };
    assert!(
        signal == Some(11) || asan_fault,
        "{test}: not killed by SIGSEGV ({:?}); stderr:\n{stderr}",
        status
    );
    assert!(
        stderr.contains("reached the fault"),
        "{test}: died before the access; stderr:\n{stderr}"
    );
}

/// A compartment with protection keys where the machine has them (`keys`), or forced to
/// `mprotect`.
fn compartment(keys: bool) -> Compartment {
    if keys {
        Compartment::new(1 << 20)
    } else {
        Compartment::try_with_mprotect(1 << 20).unwrap()
    }
}

/// Writes through a block of a sealed compartment.
fn write_after_seal(keys: bool) {
    let c = compartment(keys);
    let mut v = Vec::new_in(&c);
    v.extend_from_slice(&[1u8; 100]);
    let p = v.as_mut_ptr();
    // SAFETY: no reference into `c` is live; the block is reached through `p` only.
    unsafe { c.seal() }.unwrap();
    eprintln!("reached the fault");
    // SAFETY: the block is live; the write is meant to fault.
    unsafe { std::ptr::write_volatile(p, 2) };
}

/// Reads a block of a sealed compartment.
fn read_after_seal(keys: bool) {
    let c = compartment(keys);
    let b = Box::new_in(7u64, &c);
    let p: *const u64 = &*b;
    // SAFETY: no reference into `c` is live; the block is reached through `p` only.
    unsafe { c.seal() }.unwrap();
    eprintln!("reached the fault");
    // SAFETY: the block is live; the read is meant to fault.
    let x = unsafe { std::ptr::read_volatile(p) };
    eprintln!("read {x}");
}

/// Reads a read-only-sealed compartment (which must work), then writes it.
fn write_after_seal_read_only(keys: bool) {
    let c = compartment(keys);
    let mut v = Vec::new_in(&c);
    v.extend_from_slice(b"sealed");
    let p = v.as_mut_ptr();
    // SAFETY: no `&mut` into `c` is live, and none is made: the write goes through `p`.
    unsafe { c.seal_read_only() }.unwrap();
    assert_eq!(
        &v[..],
        b"sealed",
        "reads of a read-only compartment succeed"
    );
    // SAFETY: the block is live; the read is allowed.
    assert_eq!(unsafe { std::ptr::read_volatile(v.as_ptr()) }, b's');
    eprintln!("reached the fault");
    // SAFETY: the block is live; the write is meant to fault.
    unsafe { std::ptr::write_volatile(p, b'S') };
}

/// Seals on this thread, sends the compartment to a thread started while it was open
/// (with protection keys, that thread inherited access), which must see it sealed and
/// fault reading it.
fn read_on_another_thread_after_seal(keys: bool) {
    let c = compartment(keys);
    let block = c.allocate(layout(8, 8)).unwrap().cast::<u64>();
    // SAFETY: a fresh block of 8 bytes, aligned for `u64`.
    unsafe { block.write(42) };
    let addr = block.as_ptr().addr();
    let (tx, rx) = std::sync::mpsc::channel::<Compartment>();
    let other = std::thread::spawn(move || {
        let c = rx.recv().unwrap();
        assert!(!c.is_open(), "the other thread sees the seal");
        eprintln!("reached the fault");
        // SAFETY: the block is live; the read is meant to fault.
        let x = unsafe { std::ptr::read_volatile(addr as *const u64) };
        eprintln!("read {x}");
    });
    // SAFETY: the block is reached through `addr` only; no reference points into `c`.
    unsafe { c.seal() }.unwrap();
    tx.send(c).unwrap();
    let _ = other.join();
}

/// Writes to the guard gap just past the end of the range.
fn write_past_the_range(keys: bool) {
    let c = compartment(keys);
    let end = c.range().end as *mut u8;
    eprintln!("reached the fault");
    // SAFETY: none: the address is the guard right after the range, and must fault.
    unsafe { std::ptr::write_volatile(end, 1) };
}

/// Writes one `death::<name>` test per attack and protection.
macro_rules! death_tests {
    ($($name:ident: $attack:ident($keys:expr);)*) => {
        mod death {
            use super::*;
            $(
                #[test]
                #[cfg_attr(miri, ignore = "Miri cannot spawn the child process")]
                fn $name() {
                    death_test(concat!("death::", stringify!($name)), || $attack($keys));
                }
            )*
        }
    };
}

death_tests! {
    write_after_seal_faults: write_after_seal(true);
    write_after_seal_faults_mprotect: write_after_seal(false);
    read_after_seal_faults: read_after_seal(true);
    read_after_seal_faults_mprotect: read_after_seal(false);
    write_after_seal_read_only_faults: write_after_seal_read_only(true);
    write_after_seal_read_only_faults_mprotect: write_after_seal_read_only(false);
    guard_after_the_range_faults: write_past_the_range(true);
    read_on_another_thread_after_seal_faults: read_on_another_thread_after_seal(true);
    read_on_another_thread_after_seal_faults_mprotect: read_on_another_thread_after_seal(false);
}

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Asserts the whole block lies in `c`'s range.
fn inside(c: &Compartment, block: NonNull<[u8]>) -> NonNull<u8> {
    let p = block.cast::<u8>();
    let r = c.range();
    let (start, end) = (p.as_ptr().addr(), p.as_ptr().addr() + block.len());
    assert!(
        r.start <= start && end <= r.end,
        "{start:#x}..{end:#x} outside {r:x?}"
    );
    p
}

#[test]
fn blocks_never_leave_the_range() {
    let c = Compartment::new(if cfg!(miri) { 4 << 20 } else { 16 << 20 });
    let mut x = 0x2545_F491_4F6C_DD1Du64;
    let mut live: Vec<(NonNull<u8>, Layout)> = Vec::new();
    let (steps, large) = if cfg!(miri) {
        (200, 40_000)
    } else {
        (20_000, 400_000)
    };
    let mut refused = 0;
    for _ in 0..steps {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let r = x as usize;
        let size = 1 + (r >> 8) % [large, 5000, 300, 64][(x >> 62) as usize];
        let align = 1 << ((r >> 40) % 14); // up to 8 KiB
        let pick = (r >> 20) % live.len().max(1);
        match r % 6 {
            _ if live.is_empty() || r % 6 < 2 => match c.allocate(layout(size, align)) {
                Ok(b) => live.push((inside(&c, b), layout(size, align))),
                Err(_) => refused += 1, // the range is full: refused, never outside
            },
            2 | 3 => {
                let (p, l) = live.swap_remove(pick);
                // SAFETY: `p` is live with `l`.
                unsafe { c.deallocate(p, l) };
            }
            op => {
                let (p, l) = live[pick];
                let new = layout(if op == 4 { size } else { 1 + l.size() / 3 }, l.align());
                // SAFETY: `p` is live with `l`; on success the result replaces it.
                let q = unsafe {
                    if new.size() >= l.size() {
                        c.grow(p, l, new)
                    } else {
                        c.shrink(p, l, new)
                    }
                };
                match q {
                    Ok(q) => live[pick] = (inside(&c, q), new),
                    Err(_) => refused += 1,
                }
            }
        }
    }
    c.check_invariants();
    for (p, l) in live {
        // SAFETY: `p` is live with `l`.
        unsafe { c.deallocate(p, l) };
    }
    c.check_invariants();
    assert!(refused < steps / 10, "{refused} refusals");
    // A block larger than the range is refused, not served from elsewhere.
    assert!(c.allocate(layout(c.range().len(), 8)).is_err());
}

#[test]
fn two_compartments_never_share_a_page() {
    let page = 4096; // at least; the real page size only makes the ranges coarser
    let cs: Vec<Compartment> = (0..if cfg!(miri) { 3 } else { 20 })
        .map(|i| Compartment::new((i + 1) << 16))
        .collect();
    let blocks: Vec<_> = cs
        .iter()
        .map(|c| inside(c, c.allocate(layout(1000, 8)).unwrap()))
        .collect();
    for (i, a) in cs.iter().enumerate() {
        let ra = a.reservation();
        assert!(
            ra.start < a.range().start && a.range().end < ra.end,
            "guards"
        );
        assert!(ra.start.is_multiple_of(page) && ra.end.is_multiple_of(page));
        for (j, b) in cs.iter().enumerate().filter(|&(j, _)| j != i) {
            let rb = b.reservation();
            assert!(
                ra.end <= rb.start || rb.end <= ra.start,
                "{ra:x?} and {rb:x?}"
            );
            assert!(!a.contains(blocks[j].as_ptr()), "{j}'s block in {i}");
        }
    }
    for (c, p) in cs.iter().zip(blocks) {
        // SAFETY: `p` is live in `c` with this layout.
        unsafe { c.deallocate(p, layout(1000, 8)) };
    }
}

#[test]
fn unseal_restores_contents_and_sealed_allocation_fails() {
    for keys in [true, false] {
        let c = compartment(keys);
        let mut v = Vec::new_in(&c);
        v.extend(0..1000u32);
        if c.protection() == Protection::Unavailable {
            // SAFETY: `v` holds a raw pointer and no reference into `c` is live.
            assert_eq!(unsafe { c.seal() }, Err(SealError));
            // SAFETY: as above.
            assert_eq!(unsafe { c.seal_read_only() }, Err(SealError));
            assert!(c.is_open(), "a failed seal leaves the compartment open");
            continue;
        }
        // SAFETY: `v` holds a raw pointer and no reference into `c` is live; `v` is not
        // touched until the read-only seal.
        unsafe { c.seal() }.unwrap();
        assert!(!c.is_open());
        assert!(c.allocate(layout(8, 8)).is_err(), "allocate while sealed");
        assert!(c.allocate_zeroed(layout(8, 8)).is_err());
        assert!(c.allocate(layout(0, 8)).is_ok(), "zero size stays dangling");
        // SAFETY: no `&mut` into `c` is live; `v` is only read until the unseal.
        unsafe { c.seal_read_only() }.unwrap();
        assert_eq!(v.iter().sum::<u32>(), 999 * 1000 / 2);
        assert!(
            c.allocate(layout(8, 8)).is_err(),
            "allocate while read-only"
        );
        // SAFETY: `v`'s block is live with this layout; a failed grow leaves it so.
        let grown = unsafe {
            c.grow(
                NonNull::new(v.as_mut_ptr().cast()).unwrap(),
                layout(4 * v.capacity(), 4),
                layout(8 * v.capacity(), 4),
            )
        };
        assert!(grown.is_err(), "grow while read-only");
        c.unseal().unwrap();
        assert!(c.is_open());
        v.push(1000);
        assert_eq!(v.iter().sum::<u32>(), 1000 * 1001 / 2, "contents kept");
    }
}

#[test]
fn a_block_freed_while_sealed_stays_allocated() {
    let c = compartment(true);
    let b = Box::new_in([3u8; 64], &c);
    // SAFETY: no reference into `c` is live; `b` is dropped without being read (its
    // contents need no drop).
    if unsafe { c.seal() }.is_err() {
        return; // Miri: sealing is unavailable
    }
    drop(b); // a leak, not a fault
    c.unseal().unwrap();
    let again = Box::new_in([4u8; 64], &c);
    assert_eq!(again[63], 4);
    c.check_invariants();
}

#[test]
fn dropping_a_sealed_compartment_unmaps_it() {
    let c = compartment(true);
    let b = c.allocate(layout(100, 8)).unwrap();
    // SAFETY: `b` is a raw block; no reference points into `c`.
    let _ = unsafe { c.seal() };
    let _ = b;
    drop(c); // does not touch the sealed memory
}

#[test]
fn protection_is_reported_consistently() {
    let c = Compartment::new(1 << 16);
    let forced = Compartment::try_with_mprotect(1 << 16).unwrap();
    if cfg!(miri) {
        assert_eq!(c.protection(), Protection::Unavailable);
        assert_eq!(forced.protection(), Protection::Unavailable);
        return;
    }
    let has_keys = std::fs::read_to_string("/proc/cpuinfo")
        .map(|s| s.split_whitespace().any(|w| w == "pku"))
        .unwrap_or(false);
    eprintln!("protection: {:?} (cpu pku: {has_keys})", c.protection());
    assert_eq!(forced.protection(), Protection::Mprotect);
    if !has_keys {
        assert_eq!(c.protection(), Protection::Mprotect, "no pku: mprotect");
    }
    // Keys run out (15 per process): later compartments fall back, and all still seal.
    let many: Vec<_> = (0..20).map(|_| Compartment::new(4096)).collect();
    for m in &many {
        // SAFETY: nothing was allocated in `m`.
        unsafe { m.seal() }.unwrap();
        m.unseal().unwrap();
    }
    if c.protection() == Protection::ProtectionKeys {
        // 21 compartments are alive at once and a process has at most 15 keys, so some
        // fell back. (Which ones depends on the other tests, which free keys meanwhile.)
        assert!(
            many.iter().any(|m| m.protection() == Protection::Mprotect),
            "the 16th key does not exist"
        );
    }
}

/// The one gap of key sealing: a thread that reaches blocks without ever calling the
/// compartment keeps the rights of its own register (here inherited while open).
#[test]
fn with_keys_a_thread_that_never_calls_the_compartment_keeps_its_rights() {
    let c = Compartment::new(1 << 16);
    if c.protection() != Protection::ProtectionKeys {
        eprintln!("no protection keys here: {:?}", c.protection());
        return;
    }
    let b = Box::new_in(42u64, &c);
    let addr = (&*b as *const u64).addr();
    let barrier = std::sync::Barrier::new(2);
    std::thread::scope(|s| {
        // Started while open, the thread inherits this thread's rights for the key.
        let t = s.spawn(|| {
            barrier.wait(); // the compartment is sealed on the other thread now
            // SAFETY: the box is live until after the join; this thread has access.
            unsafe { std::ptr::read_volatile(addr as *const u64) }
        });
        // SAFETY: `b` is not read until the unseal; the other thread reads through `addr`.
        unsafe { c.seal() }.unwrap();
        barrier.wait();
        assert_eq!(t.join().unwrap(), 42, "the other thread still reads it");
    });
    c.unseal().unwrap();
    assert_eq!(*b, 42);
}

/// Runs `work` on a thread started before the compartment it will be given exists (with
/// protection keys, such a thread has no rights for the compartment's key of its own),
/// hands it `c`, and returns what `work` gives back.
fn on_an_older_thread<T: Send + 'static>(
    make: impl FnOnce() -> Compartment,
    work: impl FnOnce(Compartment) -> T + Send + 'static,
) -> T {
    let (tx, rx) = std::sync::mpsc::channel::<Compartment>();
    let older = std::thread::spawn(move || work(rx.recv().unwrap()));
    tx.send(make()).unwrap();
    older.join().unwrap()
}

#[test]
fn an_open_compartment_works_on_the_thread_it_is_sent_to() {
    for keys in [true, false] {
        let c = on_an_older_thread(
            || compartment(keys),
            |c| {
                assert!(c.is_open());
                let mut v = Vec::new_in(&c);
                v.extend(0..100u32);
                assert_eq!(v.iter().sum::<u32>(), 4950);
                drop(v);
                c.check_invariants();
                c
            },
        );
        // Back on the first thread, which created it: still open and usable.
        let b = Box::new_in(7u8, &c);
        assert_eq!(*b, 7);
    }
}

#[test]
fn a_seal_travels_with_the_compartment_and_unseals_anywhere() {
    for keys in [true, false] {
        let c = compartment(keys);
        let block = c.allocate(layout(8, 8)).unwrap().cast::<u64>();
        // SAFETY: a fresh block of 8 bytes, aligned for `u64`.
        unsafe { block.write(42) };
        let addr = block.as_ptr().addr();
        // SAFETY: the block is reached through `addr` only; no reference points into `c`.
        if unsafe { c.seal() }.is_err() {
            assert_eq!(c.protection(), Protection::Unavailable); // Miri
            continue;
        }
        let c = on_an_older_thread(
            move || c,
            move |c| {
                assert!(!c.is_open(), "sealed on the other thread, sealed here");
                assert!(c.allocate(layout(8, 8)).is_err(), "allocate while sealed");
                c.unseal().unwrap();
                assert!(c.is_open());
                // SAFETY: the block is live and the compartment open on this thread.
                assert_eq!(unsafe { std::ptr::read_volatile(addr as *const u64) }, 42);
                let b = Box::new_in(43u64, &c);
                assert_eq!(*b, 43, "allocates here after the unseal");
                drop(b);
                // SAFETY: the block is live; no reference points into `c`.
                unsafe { (addr as *mut u64).write_volatile(44) };
                c
            },
        );
        // Back on the sealing thread: the unseal made there holds here too.
        assert!(c.is_open(), "unsealed on the other thread, open here");
        // SAFETY: the block is live and the compartment open.
        assert_eq!(unsafe { std::ptr::read_volatile(addr as *const u64) }, 44);
        let b = Box::new_in(45u64, &c);
        assert_eq!(*b, 45);
        drop(b);
        // SAFETY: `block` is live with this layout.
        unsafe { c.deallocate(block.cast(), layout(8, 8)) };
        c.check_invariants();
    }
}

#[test]
fn collections_live_in_it() {
    let c = Compartment::new(4 << 20);
    let mut m = hashbrown::HashMap::new_in(&c);
    for i in 0..1000u32 {
        m.insert(i, i.to_string());
    }
    assert_eq!(m[&500], "500");
    let mut s = Vec::new_in(&c);
    s.extend_from_slice(b"secret");
    assert!(c.contains(s.as_ptr()));
    fn send<T: Send>(_: &T) {}
    send(&c);
}
