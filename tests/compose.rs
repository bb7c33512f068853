//! The composites as a user combines them: `Send`/`Sync` follow the parts, `reset` and
//! `stats` reach both parts, a `Sync` composite serves several threads, and collections
//! of every kind live in one.

use allocator_api2::alloc::Global;
use allocator_api2::boxed::Box;
use allocator_api2::vec::Vec;
use allockit::{
    Arena, Counting, Fallback, FixedBuffer, FreeList, Inspect, Locked, Pages, Reset, Segregate,
    SizeClasses, Slab, StackFallback, ThreadCache,
};
use core::mem::MaybeUninit;

fn is_send<T: Send>() {}
fn is_sync<T: Sync>() {}

/// Composites are `Send`/`Sync` exactly when their parts are (the negative cases are
/// `compile_fail` doctests on the types).
#[test]
fn auto_traits_follow_the_parts() {
    is_send::<Fallback<FixedBuffer<'static>, Global>>();
    is_send::<Segregate<256, SizeClasses, Pages>>();
    is_send::<StackFallback<64, SizeClasses>>();
    is_sync::<Segregate<512, Locked<SizeClasses>, ThreadCache>>();
    is_sync::<Fallback<Locked<FreeList>, ThreadCache>>();
}

/// `Reset` empties both parts of a `Fallback` and of a `Segregate`; `Inspect` reports
/// both parts.
#[test]
fn reset_and_stats_reach_both_parts() {
    let mut space = [MaybeUninit::uninit(); 256];
    let mut heap = Fallback::new(FixedBuffer::new(&mut space), Arena::new());
    {
        let mut v = Vec::new_in(&heap);
        v.extend(0..1000u64); // outgrows the buffer into the arena
        std::mem::forget(Box::new_in(1u8, &heap)); // from the buffer, never freed
        drop(v);
    }
    let arena = heap.fallback().stats();
    assert!(arena.used_bytes >= 8000, "{arena:?}");
    assert!(heap.primary().used() > 0);
    heap.reset();
    assert_eq!(
        (heap.primary().used(), heap.fallback().used_bytes()),
        (0, 0)
    );

    let mut split: Segregate<64, _, _> = Segregate::new(Arena::new(), Arena::new());
    // Leaked, so that the arenas do not roll back their latest blocks.
    std::mem::forget(Box::new_in([0u8; 32], &split));
    std::mem::forget(Box::new_in([0u8; 100], &split));
    let (small, large) = split.stats();
    assert_eq!((small.used_bytes, large.used_bytes), (32, 104));
    split.reset();
    let (small, large) = split.stats();
    assert_eq!((small.used_bytes, large.used_bytes), (0, 0));
}

/// A `Sync` composite shared by four threads: every block keeps its tag, and each part
/// gets back exactly what it handed out (the counters balance).
#[test]
fn a_sync_composite_serves_threads() {
    let heap: Segregate<128, _, _> = Segregate::new(
        Locked::new(Counting::new(SizeClasses::new())),
        ThreadCache::new(),
    );
    std::thread::scope(|s| {
        for t in 0..4u64 {
            let heap = &heap;
            s.spawn(move || {
                let mut blocks = Vec::new();
                for i in 0..2_000u64 {
                    let len = 1 + (i * 7 + t) as usize % 40; // 8..320 bytes: both parts
                    let mut v = Vec::with_capacity_in(len, heap);
                    v.resize(len, t << 32 | i);
                    blocks.push(v);
                    if i % 3 == 0 {
                        blocks.swap_remove((i as usize * 13) % blocks.len());
                    }
                }
                for v in &blocks {
                    let tag = v[0];
                    assert_eq!(tag >> 32, t, "a block of another thread");
                    assert!(v.iter().all(|&x| x == tag), "a block was overwritten");
                }
            });
        }
    });
    assert_eq!(heap.small().lock().stats().live_bytes, 0);
}

/// One allocator built for a simulation holds collections of every kind: boxes in the
/// slab, vectors and maps in the free list, scratch space on the stack.
#[test]
fn collections_of_every_kind() {
    #[derive(Clone, Copy, PartialEq, Debug)]
    struct Body {
        pos: [f64; 2],
        id: u32,
    }
    let world = Fallback::new(Slab::for_type::<Body>(), Counting::new(FreeList::new()));
    let mut bodies = Vec::new_in(&world);
    let mut by_id = hashbrown::HashMap::new_in(&world);
    for id in 0..5_000u32 {
        let b = Box::new_in(
            Body {
                pos: [f64::from(id); 2],
                id,
            },
            &world,
        );
        by_id.insert(id, bodies.len());
        bodies.push(b);
    }
    assert_eq!(world.primary().stats().live, 5_000);
    let sf = StackFallback::<2048, _>::new_in(&world);
    let mut near = Vec::new_in(&sf);
    near.extend(bodies.iter().filter(|b| b.pos[0] < 100.0).map(|b| b.id));
    assert_eq!(near.len(), 100);
    assert_eq!(bodies[by_id[&4_999]].id, 4_999);
    drop((near, by_id, bodies));
    assert_eq!(world.primary().stats().live, 0);
    assert_eq!(world.fallback().stats().live_bytes, 0);
}
