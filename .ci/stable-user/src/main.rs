//! What a stable-Rust user of allockit writes: collections from allocator-api2 (re-exported
//! by allockit) and hashbrown on several strategies, a scope, and `ThreadCache` as the
//! global allocator. Every result is checked; a wrong one exits non-zero.

use std::mem::MaybeUninit;
use std::thread;

use allockit::allocator_api2::boxed::Box;
use allockit::allocator_api2::vec::Vec;
use allockit::{Arena, FixedBuffer, Hardened, Locked, SizeClasses, Slab, ThreadCache};

#[global_allocator]
static GLOBAL: ThreadCache = ThreadCache::new();

fn main() {
    // An arena with a scope: a Vec and a hashbrown map in it, freed at once.
    let mut arena = Arena::new();
    let total = arena.scope(|s| {
        let mut ast = Vec::new_in(&*s);
        let mut names = hashbrown::HashMap::new_in(&*s);
        for i in 0..1000u64 {
            ast.push(s.alloc(i * 2));
            names.insert(s.alloc_str(&i.to_string()), i);
        }
        assert_eq!(names["999"], 999);
        ast.iter().map(|n| **n).sum::<u64>()
    });
    assert_eq!((total, arena.used_bytes()), (999_000, 0));

    // A fixed buffer on the stack.
    let mut stack = [MaybeUninit::<u8>::uninit(); 4096];
    let buf = FixedBuffer::new(&mut stack);
    let mut v = Vec::with_capacity_in(100, &buf);
    v.extend(0..100u32);
    assert_eq!(v.iter().sum::<u32>(), 4950);

    // Size classes, a slab of boxes, a hardened heap.
    let heap = SizeClasses::new();
    let mut m = hashbrown::HashMap::new_in(&heap);
    m.extend((0..10_000u32).map(|i| (i, i.to_string())));
    assert_eq!(m[&4321], "4321");
    let slab = Slab::for_type::<[u64; 4]>();
    let boxes: std::vec::Vec<_> = (0..1000u64).map(|i| Box::new_in([i; 4], &slab)).collect();
    assert_eq!(boxes.iter().map(|b| b[3]).sum::<u64>(), 999 * 1000 / 2);
    let hardened = Hardened::new(SizeClasses::new());
    let mut h = Vec::new_in(&hardened);
    h.extend_from_slice(b"checked");
    assert_eq!(&h[..], b"checked");

    // Threads on the global ThreadCache, and one heap shared behind a lock.
    let shared = Locked::new(SizeClasses::new());
    let sums: std::vec::Vec<u64> = thread::scope(|t| {
        let workers: std::vec::Vec<_> = (0..4u64)
            .map(|k| {
                let shared = &shared;
                t.spawn(move || {
                    let mut own: std::vec::Vec<u64> = (0..10_000).map(|i| i * k).collect();
                    own.retain(|x| x % 2 == 0);
                    let mut locked = Vec::new_in(shared);
                    locked.extend(own.iter().copied());
                    locked.iter().sum::<u64>()
                })
            })
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).collect()
    });
    assert_eq!(sums[0], 0);
    assert!(sums[1] > 0 && sums[2] == 2 * (0..10_000u64).sum::<u64>());
    println!("stable user: ok ({total}, {sums:?})");
}
