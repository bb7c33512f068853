//! Shared by the integration tests: the list of strategies every generic test runs over.
//!
//! A test is a [`Case`]: one generic function over `A: Allocator`. [`for_each_strategy!`]
//! writes one `#[test]` per (strategy, case) pair, so a failure names both.
#![allow(dead_code)] // each test binary uses a different part of this module

use allockit::Allocator;

/// Scales a count down under Miri, which runs about 1000× slower; the cases stay the same.
pub const fn scaled(n: usize) -> usize {
    if cfg!(miri) {
        if n / 50 > 2 { n / 50 } else { 2 }
    } else {
        n
    }
}

/// One generic test, run over every strategy.
pub trait Case {
    /// Runs the test against `a`. `bounded` strategies may run out of memory early.
    fn run<A: Allocator>(a: &A);

    /// Whether the case asks the *system* allocator for impossible amounts. Miri stops
    /// with "resource exhaustion" where glibc returns null, so under Miri such a case is
    /// not run over the strategies on `Global` that pass large requests through to it.
    const ASKS_SYSTEM_FOR_TOO_MUCH: bool = false;
}

/// Bytes of the big fixed buffers: room for every case, including 64 KiB alignment.
pub const FIXED_BYTES: usize = if cfg!(miri) { 1 << 20 } else { 8 << 20 };

/// For each `module => Case`, writes a module `module` with one `#[test] fn <strategy>()`
/// per strategy.
///
/// Strategies: `Pages`, `FixedBuffer` on the heap and on the stack, `Arena` on `Global`
/// and on `Pages`, an `Arena` with a limit, an arena `Scope` and a nested one, `Counting`
/// over `Global`, over an `Arena` and over `SizeClasses`, `FreeList` on `Pages` and on
/// `Global`, `SizeClasses` on `Pages`, on a counted `Pages` and on `Global`, a
/// `Compartment`, `Malloc`, `Locked` over `SizeClasses` and over an `Arena`, `Hardened`
/// over `SizeClasses` and over `Global`; the composites: `Fallback` of a large and of a
/// 4 KiB `FixedBuffer` (over `Global`, over `SizeClasses`) and of a 64-byte `Slab` over
/// a `FreeList`, `Segregate<100>` of `SizeClasses` and `Pages`, the nested
/// `Segregate<256, SizeClasses, Fallback<FixedBuffer, Pages>>`, `&StackFallback` over
/// `Global` and over a `FreeList`; and a
/// `Slab` whose 1 MiB, 1 MiB-aligned slots hold the largest block and alignment any case
/// asks for
/// (a slab refuses layouts larger than its slot by design). `slab: false` leaves the
/// slab out, for cases that need blocks larger than any fixed slot (growing collections).
macro_rules! for_each_strategy {
    (slab: true; $($rest:tt)*) => { for_each_strategy!(@slab all(); $($rest)*); };
    (slab: false; $($rest:tt)*) => { for_each_strategy!(@slab any(); $($rest)*); };
    (@slab $slab:meta; $($module:ident => $case:ident),* $(,)?) => {
        $(
            mod $module {
                use super::*;
                use allockit::*;
                use allocator_api2::alloc::Global;

                #[test]
                fn pages() {
                    super::$case::run(&Pages);
                }

                #[test]
                fn fixed_buffer() {
                    let mut buf = Vec::<u8>::with_capacity(crate::common::FIXED_BYTES);
                    super::$case::run(&FixedBuffer::new(buf.spare_capacity_mut()));
                }

                #[test]
                fn fixed_buffer_on_the_stack() {
                    // A stack array is a valid buffer; run on a thread with room for it.
                    std::thread::Builder::new()
                        .stack_size(4 << 20)
                        .spawn(|| {
                            let mut stack = [core::mem::MaybeUninit::<u8>::uninit(); 1 << 20];
                            super::$case::run(&FixedBuffer::new(&mut stack));
                        })
                        .unwrap()
                        .join()
                        .unwrap();
                }

                #[test]
                fn arena() {
                    super::$case::run(&Arena::new());
                }

                #[test]
                fn arena_min_align_1() {
                    super::$case::run(&Arena::<_, 1>::with_min_align());
                }

                #[test]
                fn scope_min_align_2() {
                    let mut arena = Arena::<_, 2>::with_min_align();
                    arena.scope(|s| super::$case::run(&*s));
                }

                #[test]
                fn arena_on_pages() {
                    super::$case::run(&Arena::new_in(Pages));
                }

                #[test]
                fn arena_with_limit() {
                    let arena = Arena::new();
                    arena.set_limit(Some(64 << 20));
                    super::$case::run(&arena);
                }

                #[test]
                fn scope() {
                    let mut arena = Arena::new();
                    arena.scope(|s| super::$case::run(&*s));
                }

                #[test]
                fn nested_scope() {
                    let mut arena = Arena::new_in(Pages);
                    arena.scope(|s| {
                        s.alloc_str("outer");
                        s.scope(|inner| super::$case::run(&*inner))
                    });
                }

                #[test]
                fn counting() {
                    if cfg!(miri) && <super::$case as Case>::ASKS_SYSTEM_FOR_TOO_MUCH {
                        eprintln!("not under Miri: the system allocator cannot refuse here");
                        return;
                    }
                    let c = Counting::new(Global);
                    super::$case::run(&c);
                    assert_eq!(c.stats().live_bytes, 0, "the case freed every block");
                }

                #[test]
                fn counting_arena() {
                    super::$case::run(&Counting::new(Arena::new()));
                }

                #[test]
                fn counting_size_classes() {
                    // An inner allocator that returns more than asked (class sizes, whole
                    // pages for large blocks): the counters must still balance.
                    let c = Counting::new(SizeClasses::new());
                    super::$case::run(&c);
                    assert_eq!(c.stats().live_bytes, 0, "the case freed every block");
                }

                #[test]
                fn free_list() {
                    let heap = FreeList::new();
                    super::$case::run(&heap);
                    heap.check_invariants();
                    let stats = heap.stats();
                    assert_eq!(stats.free_blocks, stats.regions, "coalesced: {stats:?}");
                }

                #[test]
                fn free_list_on_global() {
                    if cfg!(miri) && <super::$case as Case>::ASKS_SYSTEM_FOR_TOO_MUCH {
                        eprintln!("not under Miri: the system allocator cannot refuse here");
                        return;
                    }
                    super::$case::run(&FreeList::new_in(Global));
                }

                #[test]
                fn compartment() {
                    let c = Compartment::new(if cfg!(miri) { 8 << 20 } else { 64 << 20 });
                    super::$case::run(&c);
                    c.check_invariants();
                }

                #[test]
                fn size_classes() {
                    super::$case::run(&SizeClasses::new());
                }

                #[test]
                fn size_classes_counted() {
                    let heap = SizeClasses::new_in(Counting::new(Pages));
                    super::$case::run(&heap);
                    // With every block freed, the backing holds the runs and the run list,
                    // and `reserved_bytes` counts the runs alone.
                    let (reserved, held) = (heap.reserved_bytes(), heap.backing().stats().live_bytes);
                    assert!(
                        reserved <= held && held - reserved <= 64 << 10,
                        "reserved {reserved} B, backing holds {held} B"
                    );
                }

                #[test]
                fn size_classes_on_global() {
                    if cfg!(miri) && <super::$case as Case>::ASKS_SYSTEM_FOR_TOO_MUCH {
                        eprintln!("not under Miri: the system allocator cannot refuse here");
                        return;
                    }
                    super::$case::run(&SizeClasses::new_in(Global));
                }

                #[test]
                fn malloc() {
                    if cfg!(miri) && <super::$case as Case>::ASKS_SYSTEM_FOR_TOO_MUCH {
                        eprintln!("not under Miri: the system allocator cannot refuse here");
                        return;
                    }
                    super::$case::run(&Malloc);
                }

                #[test]
                fn locked_size_classes() {
                    let heap = Locked::new(SizeClasses::new());
                    super::$case::run(&heap);
                }

                #[test]
                fn locked_arena() {
                    super::$case::run(&Locked::new(Arena::new()));
                }

                #[test]
                fn thread_cache() {
                    super::$case::run(&ThreadCache::new());
                }

                #[test]
                fn hardened_size_classes() {
                    let heap = Hardened::new(SizeClasses::new());
                    super::$case::run(&heap);
                    assert_eq!(heap.stats().live_blocks, 0, "the case freed every block");
                    assert_eq!(heap.check(), 0, "no canary or freed block was overwritten");
                }

                #[test]
                fn hardened_global() {
                    let heap = Hardened::new(Global);
                    super::$case::run(&heap);
                    assert_eq!(heap.stats().live_blocks, 0, "the case freed every block");
                }

                #[test]
                fn fallback_fixed_buffer_global() {
                    if cfg!(miri) && <super::$case as Case>::ASKS_SYSTEM_FOR_TOO_MUCH {
                        eprintln!("not under Miri: the system allocator cannot refuse here");
                        return;
                    }
                    let mut buf = Vec::<u8>::with_capacity(crate::common::FIXED_BYTES);
                    let heap = Fallback::new(FixedBuffer::new(buf.spare_capacity_mut()), Global);
                    super::$case::run(&heap);
                }

                #[test]
                fn fallback_small_buffer_size_classes() {
                    // 4 KiB fill up at once: blocks spill, and grows move them across.
                    let mut space = [core::mem::MaybeUninit::<u8>::uninit(); 4096];
                    let heap = Fallback::new(FixedBuffer::new(&mut space), SizeClasses::new());
                    super::$case::run(&heap);
                }

                #[test]
                fn fallback_slab_free_list() {
                    let slot = core::alloc::Layout::from_size_align(64, 64).unwrap();
                    let heap = Fallback::new(Slab::new(slot), Counting::new(FreeList::new()));
                    super::$case::run(&heap);
                    assert_eq!(heap.primary().stats().live, 0, "the case freed every block");
                    assert_eq!(heap.fallback().stats().live_bytes, 0, "every block came back");
                }

                #[test]
                fn segregate_size_classes_pages() {
                    // 100 is not a class size: the small part returns 112 bytes for a
                    // request of 100, which must be handed out capped at 100, or a
                    // free with the returned length would reach the large part.
                    let heap: Segregate<100, _, _> =
                        Segregate::new(SizeClasses::new(), Counting::new(Pages));
                    super::$case::run(&heap);
                    assert_eq!(heap.large().stats().live_bytes, 0, "every large block came back");
                }

                #[test]
                fn segregate_nested() {
                    let mut buf = Vec::<u8>::with_capacity(crate::common::FIXED_BYTES);
                    let heap: Segregate<256, SizeClasses, Fallback<FixedBuffer, Pages>> =
                        Segregate::new(
                            SizeClasses::new(),
                            Fallback::new(FixedBuffer::new(buf.spare_capacity_mut()), Pages),
                        );
                    super::$case::run(&heap);
                }

                #[test]
                fn stack_fallback() {
                    if cfg!(miri) && <super::$case as Case>::ASKS_SYSTEM_FOR_TOO_MUCH {
                        eprintln!("not under Miri: the system allocator cannot refuse here");
                        return;
                    }
                    let sf = StackFallback::<4096>::new();
                    super::$case::run(&&sf);
                }

                #[test]
                fn stack_fallback_counted() {
                    let sf = StackFallback::<65536, _>::new_in(Counting::new(FreeList::new()));
                    super::$case::run(&&sf);
                    assert_eq!(sf.fallback().stats().live_bytes, 0, "every block came back");
                }

                #[cfg($slab)]
                #[test]
                fn slab() {
                    let slot = core::alloc::Layout::from_size_align(1 << 20, 1 << 20).unwrap();
                    let slab = Slab::new(slot);
                    super::$case::run(&slab);
                    assert_eq!(slab.stats().live, 0, "the case freed every block");
                }
            }
        )*
    };
}
