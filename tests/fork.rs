//! `fork()` with `ThreadCache` as the global allocator, in a process whose threads start,
//! allocate and exit while it forks: no child may hang on a lock another thread held at
//! the fork, and blocks the child frees into the heaps of threads it did not inherit are
//! reused, not lost.
#![cfg(all(target_os = "linux", not(miri)))]

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use allockit::ThreadCache;

#[global_allocator]
static GLOBAL: ThreadCache = ThreadCache::new();

/// Forks, runs `child` in the child and exits with its code; returns the child's exit
/// code, or `None` if it did not exit within `limit` (it is then killed). With `FORK_DEBUG`
/// set in the environment, a hung child's threads are printed by `gdb` before the kill.
fn fork_and_wait(limit: Duration, child: impl FnOnce() -> i32) -> Option<i32> {
    // SAFETY: the child runs `child` and leaves through `_exit`, never returning into
    // the test harness; the allocator under test is what must make that safe.
    let pid = unsafe { libc::fork() };
    assert!(pid >= 0, "fork failed");
    if pid == 0 {
        let code = child();
        // SAFETY: ends the child without running the parent's exit handlers.
        unsafe { libc::_exit(code) };
    }
    let start = Instant::now();
    loop {
        let mut status = 0;
        // SAFETY: `pid` is our child; `status` is a valid out-parameter.
        let r = unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) };
        if r == pid {
            return Some(if libc::WIFEXITED(status) {
                libc::WEXITSTATUS(status)
            } else {
                128 + libc::WTERMSIG(status)
            });
        }
        if start.elapsed() > limit {
            if std::env::var_os("FORK_DEBUG").is_some() {
                let _ = std::process::Command::new("gdb")
                    .args([
                        "-p",
                        &pid.to_string(),
                        "-batch",
                        "-ex",
                        "thread apply all bt",
                    ])
                    .status();
            }
            // SAFETY: signals and reaps our own child.
            unsafe {
                libc::kill(pid, libc::SIGKILL);
                libc::waitpid(pid, &mut status, 0);
            }
            return None;
        }
        thread::sleep(Duration::from_micros(200));
    }
}

/// The thread a child starts: allocates and frees through the global allocator.
extern "C" fn child_thread(_: *mut libc::c_void) -> *mut libc::c_void {
    let v: Vec<Vec<u8>> = (0..256).map(|i| vec![i as u8; i % 200 + 1]).collect();
    std::hint::black_box(&v);
    std::ptr::null_mut()
}

/// What every child does: allocate, start a thread that allocates and frees, free. The
/// thread is a raw pthread: std's `thread::spawn` takes a lock of std's own, which a
/// fork can leave held in the child, whatever the allocator does.
fn child_work() -> i32 {
    let v: Vec<String> = (0..64).map(|i| format!("child {i}")).collect();
    let large: Vec<Vec<u8>> = (0..4).map(|i| Vec::with_capacity(100_000 << i)).collect();
    drop(large);
    let mut t: libc::pthread_t = 0;
    // SAFETY: `child_thread` has the signature pthread expects and ignores its argument.
    let ok = unsafe {
        libc::pthread_create(&mut t, std::ptr::null(), child_thread, std::ptr::null_mut()) == 0
            && libc::pthread_join(t, std::ptr::null_mut()) == 0
    };
    drop(v);
    if ok { 0 } else { 1 }
}

#[test]
fn forks_while_threads_come_and_go_never_hang() {
    let stop = Arc::new(AtomicBool::new(false));
    // Threads that start, allocate (taking a heap from the pool, adopting, mapping
    // segments) and exit (abandoning), over and over: every allocator lock is busy.
    let churn: Vec<_> = (0..3)
        .map(|k| {
            let stop = stop.clone();
            thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    thread::spawn(move || {
                        let v: Vec<Box<[u8]>> = (0..200)
                            .map(|i| vec![k as u8; 16 + (i * 37) % 3000].into_boxed_slice())
                            .collect();
                        // Large blocks too: their frees and reuses take the large-span
                        // cache's lock.
                        let large: Vec<Vec<u8>> = (0..8)
                            .map(|i| Vec::with_capacity((64 << 10) << (i % 4)))
                            .collect();
                        std::hint::black_box(v.len() + large.len())
                    })
                    .join()
                    .unwrap();
                }
            })
        })
        .collect();

    let forks = 1500;
    let (mut hung, mut failed) = (0, 0);
    for _ in 0..forks {
        match fork_and_wait(Duration::from_secs(10), child_work) {
            None => hung += 1,
            Some(0) => {}
            Some(_) => failed += 1,
        }
    }
    stop.store(true, Ordering::Relaxed);
    for t in churn {
        t.join().unwrap();
    }
    assert_eq!(
        (hung, failed),
        (0, 0),
        "of {forks} children: (hung, failed)"
    );
}

#[test]
fn a_child_reuses_blocks_of_threads_it_did_not_inherit() {
    // A thread allocates blocks of a size nothing else in this test uses, hands their
    // addresses over, and stays alive (its heap owns the blocks) until after the fork.
    const SIZE: usize = 11_000;
    const COUNT: usize = 40;
    let (tx, rx) = std::sync::mpsc::channel::<Vec<usize>>();
    let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
    let owner = thread::spawn(move || {
        let blocks: Vec<usize> = (0..COUNT)
            .map(|_| {
                Box::into_raw(vec![7u8; SIZE].into_boxed_slice())
                    .cast::<u8>()
                    .expose_provenance()
            })
            .collect();
        tx.send(blocks).unwrap();
        done_rx.recv().unwrap();
    });
    let blocks = rx.recv().unwrap();

    let code = fork_and_wait(Duration::from_secs(20), || {
        // The owner thread is gone in the child: its heap's segments are abandoned.
        if ThreadCache::new().stats().abandoned_segments == 0 {
            return 2;
        }
        for &b in &blocks {
            let p = std::ptr::with_exposed_provenance_mut::<u8>(b);
            // SAFETY: each address is a live `Box<[u8]>` of SIZE bytes from the owner
            // thread; the child's copy of it is freed once.
            drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, SIZE)) });
        }
        // Segments of the other test's exiting threads may be on the abandoned list too,
        // and each search adopts one at a time: allocate until the owner's is adopted.
        let mut again: Vec<Box<[u8]>> = Vec::new();
        for _ in 0..2000 {
            let b = vec![1u8; SIZE].into_boxed_slice();
            let reused = blocks.contains(&b.as_ptr().addr());
            again.push(b);
            if reused {
                return 0;
            }
        }
        3
    });
    done_tx.send(()).unwrap();
    owner.join().unwrap();
    for &b in &blocks {
        let p = std::ptr::with_exposed_provenance_mut::<u8>(b);
        // SAFETY: as above, in the parent, where the blocks are still live.
        drop(unsafe { Box::from_raw(std::ptr::slice_from_raw_parts_mut(p, SIZE)) });
    }
    assert_eq!(
        code,
        Some(0),
        "2: the child saw no abandoned segment; 3: none of the freed blocks was reused (code {code:?})"
    );
}
