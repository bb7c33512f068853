//! `Hardened`: every attack from hardened_malloc's test suite must be detected.
//!
//! **Death tests** (module `death`) run the attack in a child process: the test binary
//! re-executes itself with `--exact <test> --nocapture` and an environment variable naming
//! the attack, then asserts the child died (`SIGABRT` with the violation's one-line
//! report, or `SIGSEGV`/`SIGBUS` for guard-page and zero-size faults) — or, for the leak
//! report, that it printed the report. Miri cannot spawn processes, so these are ignored
//! there.
//!
//! **Hook tests** (module `observed`) install a violation hook instead and check that each
//! violation is seen and the offending call ignored, without dying; they run under Miri.

#[path = "common/death.rs"]
mod child;

use allocator_api2::alloc::Global;
use allocator_api2::vec::Vec;
use std::cell::RefCell;
use std::ptr::NonNull;

use allockit::{
    Allocator, Counting, Hardened, Layout, Options, SizeClasses, Violation, ViolationReport,
};

/// The environment variable that names the attack a child process runs.
const ATTACK: &str = "ALLOCKIT_HARDENING_ATTACK";

/// How a child running an attack must end.
enum Expect {
    /// Aborted after printing `allockit::Hardened: <this>`.
    Abort(&'static str),
    /// Killed by a memory fault (guard page, sealed or zero-size page).
    Fault,
    /// Exited normally, printing this to stderr.
    Prints(&'static str),
}

/// In the child (the variable names `test`), runs `attack`; in the parent, runs the child
/// and checks how it ended.
fn death_test(test: &str, expect: Expect, attack: fn()) {
    let Some(child::Ended {
        status,
        signal,
        stderr,
        asan_fault,
    }) = child::run(ATTACK, test, attack)
    else {
        return;
    };
    match expect {
        Expect::Abort(what) => {
            assert_eq!(
                signal,
                Some(6),
                "{test}: not aborted ({:?}); stderr:\n{stderr}",
                status
            );
            let line = format!("allockit::Hardened: {what}");
            assert!(
                stderr.contains(&line),
                "{test}: no `{line}` in stderr:\n{stderr}"
            );
        }
        Expect::Fault => assert!(
            matches!(signal, Some(7 | 11)) || asan_fault,
            "{test}: no fault ({:?}); stderr:\n{stderr}",
            status
        ),
        Expect::Prints(what) => {
            assert!(status.success(), "{test}: {:?}; stderr:\n{stderr}", status);
            assert!(
                stderr.contains(what),
                "{test}: no `{what}` in stderr:\n{stderr}"
            );
        }
    }
}

/// Writes one `death::<name>` test per attack.
macro_rules! death_tests {
    ($($name:ident: $expect:expr => $attack:expr;)*) => {
        mod death {
            use super::*;
            $(
                #[test]
                #[cfg_attr(miri, ignore = "Miri cannot spawn the child process")]
                fn $name() {
                    death_test(concat!("death::", stringify!($name)), $expect, $attack);
                }
            )*
        }
    };
}

fn heap() -> Hardened<SizeClasses> {
    Hardened::new(SizeClasses::new())
}

fn alloc<A: Allocator>(a: &A, layout: Layout) -> NonNull<u8> {
    a.allocate(layout).unwrap().cast()
}

const SMALL: Layout = Layout::new::<[u64; 8]>();
/// Larger than the default guard-page threshold, a whole number of pages.
const LARGE: Layout = match Layout::from_size_align(128 << 10, 8) {
    Ok(l) => l,
    Err(_) => panic!(),
};

// SAFETY (every attack): each performs exactly the memory error it is named after, in a
// child process that the heap (or the MMU) must stop; nothing else is unsound.
death_tests! {
    double_free_small: Expect::Abort("double free of 0x") => || {
        let h = heap();
        let p = alloc(&h, SMALL);
        unsafe { h.deallocate(p, SMALL); h.deallocate(p, SMALL) };
    };
    double_free_large: Expect::Abort("double free of 0x") => || {
        let h = heap();
        let p = alloc(&h, LARGE);
        unsafe { h.deallocate(p, LARGE); h.deallocate(p, LARGE) };
    };
    double_free_delayed: Expect::Abort("double free of 0x") => || {
        let h = heap();
        let p = alloc(&h, SMALL);
        let others: Vec<_> = (0..1000).map(|_| alloc(&h, SMALL)).collect();
        unsafe {
            h.deallocate(p, SMALL);
            for q in others {
                h.deallocate(q, SMALL);
            }
            h.deallocate(p, SMALL);
        }
    };
    overflow_1_byte: Expect::Abort("buffer overflow (canary overwritten) of 0x") => || {
        let h = heap();
        let l = Layout::from_size_align(24, 8).unwrap();
        let p = alloc(&h, l);
        unsafe { p.as_ptr().add(24).write(b'A'); h.deallocate(p, l) };
    };
    overflow_8_bytes: Expect::Abort("buffer overflow (canary overwritten) of 0x") => || {
        let h = heap();
        let l = Layout::from_size_align(13, 1).unwrap();
        let p = alloc(&h, l);
        unsafe { p.as_ptr().add(13).cast::<[u8; 8]>().write(*b"AAAAAAAA"); h.deallocate(p, l) };
    };
    overflow_found_by_check: Expect::Abort("buffer overflow (canary overwritten) of 0x") => || {
        let h = heap();
        let p = alloc(&h, SMALL);
        unsafe { p.as_ptr().add(SMALL.size() + 3).write(0xFF) };
        h.check();
    };
    overflow_into_guard_page: Expect::Fault => || {
        let h = heap();
        let p = alloc(&h, LARGE);
        unsafe { p.as_ptr().add(LARGE.size()).write_volatile(1) };
    };
    invalid_free_never_allocated: Expect::Abort("invalid free of 0x") => || {
        let h = heap();
        let mut local = [0u64; 8];
        unsafe { h.deallocate(NonNull::from(&mut local).cast(), SMALL) };
    };
    invalid_free_interior: Expect::Abort("invalid free (interior pointer) of 0x") => || {
        let h = heap();
        let p = alloc(&h, SMALL);
        unsafe { h.deallocate(p.add(16), SMALL) };
    };
    invalid_free_unaligned: Expect::Abort("invalid free (unaligned pointer) of 0x") => || {
        let h = heap();
        let p = alloc(&h, SMALL);
        unsafe { h.deallocate(p.add(1), SMALL) };
    };
    free_with_wrong_layout: Expect::Abort("free with a wrong layout of 0x") => || {
        let h = heap();
        let p = alloc(&h, SMALL);
        unsafe { h.deallocate(p, Layout::new::<[u64; 4]>()) };
    };
    write_after_free_small: Expect::Abort("write after free of 0x") => || {
        let h = Hardened::with_options(
            SizeClasses::new(),
            Options { quarantine_bytes: 4096, ..Options::SECURE },
        );
        let p = alloc(&h, SMALL);
        unsafe {
            h.deallocate(p, SMALL);
            p.as_ptr().add(5).write(1);
        }
        // Later frees push the block out of the quarantine, where its zeros are checked.
        for _ in 0..1000 {
            let q = alloc(&h, SMALL);
            unsafe { h.deallocate(q, SMALL) };
        }
    };
    write_after_free_large: Expect::Fault => || {
        let h = heap();
        let p = alloc(&h, LARGE);
        unsafe {
            h.deallocate(p, LARGE);
            p.as_ptr().add(100).write_volatile(1);
        }
    };
    zero_size_read: Expect::Fault => || {
        let h = heap();
        let p = alloc(&h, Layout::new::<()>());
        unsafe { std::hint::black_box(p.as_ptr().read_volatile()) };
    };
    zero_size_write: Expect::Fault => || {
        let h = heap();
        let p = alloc(&h, Layout::from_size_align(0, 8).unwrap());
        unsafe { p.as_ptr().write_volatile(1) };
    };
    leak_report_on_drop: Expect::Prints("allockit::Hardened: 2 blocks (576 bytes) still live") => || {
        let h = heap();
        let _ = alloc(&h, SMALL);
        let _ = alloc(&h, Layout::from_size_align(512, 16).unwrap());
        let p = alloc(&h, SMALL);
        unsafe { h.deallocate(p, SMALL) };
        drop(h);
    };
    leak_report_with_backtrace: Expect::Prints("leak_report_with_backtrace") => || {
        let h = Hardened::with_options(Global, Options { backtrace: true, ..Options::SECURE });
        let _ = alloc(&h, SMALL);
    };
}

/// Hook tests: each violation observed, the offending call ignored, the process alive.
mod observed {
    use super::*;

    thread_local! {
        static SEEN: RefCell<Vec<ViolationReport>> = const { RefCell::new(Vec::new()) };
    }

    fn record(r: &ViolationReport) {
        SEEN.with(|s| s.borrow_mut().push(*r));
    }

    /// The violations seen on this thread since the last call.
    fn seen() -> Vec<Violation> {
        SEEN.with(|s| s.take().into_iter().map(|r| r.violation).collect())
    }

    fn observed<A: Allocator>(inner: A, options: Options) -> Hardened<A> {
        let h = Hardened::with_options(inner, options);
        h.set_violation_hook(Some(record));
        h
    }

    #[test]
    fn every_free_violation() {
        let h = observed(SizeClasses::new(), Options::SECURE);
        let p = alloc(&h, SMALL);
        let q = alloc(&h, SMALL);
        let mut local = [0u64; 8];
        // SAFETY: each call is a bug the hook observes and the heap ignores.
        unsafe {
            h.deallocate(NonNull::from(&mut local).cast(), SMALL);
            h.deallocate(p.add(16), SMALL);
            h.deallocate(p.add(1), SMALL);
            h.deallocate(p, Layout::new::<u64>());
            h.deallocate(p, SMALL); // the one legitimate free
            h.deallocate(p, SMALL);
            assert!(h.grow(p, SMALL, LARGE).is_err());
            let shrunk = h.shrink(q, SMALL, Layout::new::<u8>()).unwrap();
            assert!(h.shrink(q, SMALL, Layout::new::<u8>()).is_err());
            h.deallocate(shrunk.cast(), Layout::new::<u8>());
        }
        use Violation::*;
        let expected = [
            InvalidFree,
            InteriorFree,
            UnalignedFree,
            WrongLayout,
            DoubleFree,
            DoubleFree,
            DoubleFree,
        ];
        assert_eq!(seen(), expected);
        assert_eq!(h.stats().live_blocks, 0);
    }

    #[test]
    fn overflow_and_write_after_free() {
        let h = observed(
            Global,
            Options {
                report_leaks: false,
                ..Options::SECURE
            },
        );
        let l = Layout::from_size_align(24, 8).unwrap();
        let (p, q) = (alloc(&h, l), alloc(&h, l));
        // SAFETY: the writes are the bugs under test, inside the inner blocks (which hold
        // the canary); the hook observes them.
        unsafe {
            p.as_ptr().add(24).write(b'A'); // 1-byte overflow
            assert_eq!(h.check(), 1);
            h.deallocate(p, l); // reported again; the free is ignored
            assert_eq!(h.stats().live_blocks, 2, "the corrupted block stays live");
            h.deallocate(q, l);
            q.as_ptr().write(1); // write after free
        }
        assert_eq!(seen(), [Violation::Overflow, Violation::Overflow]);
        assert_eq!(
            h.check(),
            2,
            "the corrupted block and the written freed one"
        );
        let mut found = seen();
        found.sort_by_key(|v| v.name());
        assert_eq!(found, [Violation::Overflow, Violation::WriteAfterFree]);
        drop(h); // the quarantine is checked one last time
        assert_eq!(seen(), [Violation::WriteAfterFree]);
    }

    #[test]
    fn double_free_after_many_other_frees() {
        let h = observed(SizeClasses::new(), Options::SECURE);
        let p = alloc(&h, SMALL);
        let others: Vec<_> = (0..common_scaled(2000)).map(|_| alloc(&h, SMALL)).collect();
        // SAFETY: the last free is the double free under test.
        unsafe {
            h.deallocate(p, SMALL);
            for q in others {
                h.deallocate(q, SMALL);
            }
            h.deallocate(p, SMALL);
        }
        assert_eq!(seen(), [Violation::DoubleFree]);
    }

    #[test]
    fn large_blocks_round_trip() {
        let h = observed(Global, Options::SECURE);
        let p = alloc(&h, LARGE);
        // SAFETY: the block is live with layout `LARGE` and freed once.
        unsafe {
            p.as_ptr().write_bytes(9, LARGE.size());
            h.deallocate(p, LARGE);
            h.deallocate(p, LARGE);
        }
        assert_eq!(h.check(), 0);
        assert_eq!(seen(), [Violation::DoubleFree]);
    }

    fn common_scaled(n: usize) -> usize {
        if cfg!(miri) { n / 20 } else { n }
    }
}

/// The quarantine holds at most its byte budget, delays reuse, and hands memory back.
#[test]
fn quarantine_is_bounded_in_bytes() {
    let budget = 4096;
    let h = Hardened::with_options(
        Counting::new(SizeClasses::new()),
        Options {
            quarantine_bytes: budget,
            ..Options::SECURE
        },
    );
    let blocks: Vec<_> = (0..500).map(|_| alloc(&h, SMALL)).collect();
    let first = blocks[0];
    for p in blocks {
        // SAFETY: every block is live with layout `SMALL` and freed once.
        unsafe { h.deallocate(p, SMALL) };
        assert!(h.stats().quarantined_bytes <= budget);
    }
    let s = h.stats();
    assert_eq!((s.live_blocks, s.quarantined_bytes), (0, budget));
    assert_eq!(s.quarantined_blocks, budget / SMALL.size());
    // The inner allocator holds exactly the quarantined blocks (each with its canary).
    assert_eq!(
        h.inner().stats().live_bytes,
        s.quarantined_blocks * (SMALL.size() + 8)
    );
    // A block just freed is not handed out again while it waits.
    let p = alloc(&h, SMALL);
    // SAFETY: `p` is live with layout `SMALL`.
    unsafe { h.deallocate(p, SMALL) };
    let again: Vec<_> = (0..32).map(|_| alloc(&h, SMALL)).collect();
    assert!(!again.contains(&p), "a quarantined block was reused");
    assert!(again.contains(&first) || h.stats().quarantined_blocks > 0);
    for q in again {
        // SAFETY: as above.
        unsafe { h.deallocate(q, SMALL) };
    }
}

/// `leaks()` lists every live block with its layout (and its origin with backtraces on).
#[test]
fn leak_report_contents() {
    let h = Hardened::with_options(
        SizeClasses::new(),
        Options {
            report_leaks: false,
            ..Options::SECURE
        },
    );
    let a = alloc(&h, SMALL);
    let big = Layout::from_size_align(1000, 32).unwrap();
    let b = alloc(&h, big);
    let c = alloc(&h, SMALL);
    // SAFETY: `c` is live with layout `SMALL`.
    unsafe { h.deallocate(c, SMALL) };
    let mut expected = vec![(a.addr().get(), SMALL), (b.addr().get(), big)];
    expected.sort_by_key(|&(addr, _)| addr);
    let leaks: std::vec::Vec<_> = h.leaks().into_iter().map(|l| (l.addr, l.layout)).collect();
    assert_eq!(leaks, expected);
}

#[test]
#[cfg_attr(miri, ignore = "capturing backtraces under Miri is very slow")]
fn leak_report_names_the_allocation_site() {
    let h = Hardened::with_options(
        Global,
        Options {
            backtrace: true,
            report_leaks: false,
            ..Options::SECURE
        },
    );
    let _leaked = alloc(&h, SMALL);
    let leaks = h.leaks();
    let trace = leaks[0].backtrace.as_deref().unwrap();
    assert!(
        trace.contains("leak_report_names_the_allocation_site"),
        "{trace}"
    );
}

/// Collections over both trait mirrors, checked clean, moved to another thread.
#[test]
fn collections_and_send() {
    let h = Hardened::new(SizeClasses::new());
    let h = std::thread::spawn(move || {
        {
            let mut v = Vec::new_in(&h);
            v.extend(0..1000u32);
            let mut m = hashbrown::HashMap::new_in(&h);
            for i in 0..200u32 {
                m.insert(i, i * 2);
            }
            v.shrink_to_fit();
            assert_eq!(m[&7] + v[999], 1013);
            assert_eq!(h.check(), 0);
        }
        h
    })
    .join()
    .unwrap();
    assert_eq!(h.stats().live_blocks, 0);
}
