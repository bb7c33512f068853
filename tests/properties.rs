//! Property tests: random sequences of allocate / grow / shrink / deallocate / reset /
//! scope enter-exit, checked against a model after every step.
//!
//! The model is the list of live blocks with the byte pattern written into each. After
//! every operation: no two live blocks overlap, every block is aligned to its layout, and
//! every block still holds its pattern — across grows, shrinks, resets and nested scopes.
//! Blocks are freed, grown and shrunk with a "fitting" size: any size from the one last
//! requested to the length last returned, chosen at random.

use allocator_api2::alloc::Global;
use allockit::{Allocator, Layout};
use core::ptr::NonNull;

use allockit::{
    Arena, Counting, Fallback, FixedBuffer, FreeList, Pages, Scope, Segregate, SizeClasses, Slab,
    StackFallback,
};
use core::mem::MaybeUninit;
use proptest::prelude::*;

#[derive(Debug, Clone)]
enum Op {
    Alloc { size: usize, align_shift: u8 },
    Grow { pick: usize, extra: usize },
    Shrink { pick: usize, keep_percent: usize },
    Free { pick: usize },
    Reset,
    Enter,
    Exit,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0usize..2048, 0u8..13).prop_map(|(size, align_shift)| Op::Alloc { size, align_shift }),
        3 => (any::<usize>(), 1usize..3000).prop_map(|(pick, extra)| Op::Grow { pick, extra }),
        2 => (any::<usize>(), 0usize..100).prop_map(|(pick, keep_percent)| Op::Shrink { pick, keep_percent }),
        3 => any::<usize>().prop_map(|pick| Op::Free { pick }),
        1 => Just(Op::Reset),
        1 => Just(Op::Enter),
        1 => Just(Op::Exit),
    ]
}

/// A live block and what the model expects of it.
struct Block {
    ptr: NonNull<u8>,
    /// The layout last requested for the block; the pattern covers its size.
    layout: Layout,
    /// The length last returned for it: at least `layout.size()`.
    len: usize,
    seed: u8,
    /// The scope depth it was allocated at (0 outside any scope).
    depth: usize,
}

#[derive(Default)]
struct Model {
    blocks: Vec<Block>,
    next_seed: u8,
}

fn pattern(seed: u8, i: usize) -> u8 {
    seed ^ (i as u8).wrapping_mul(151)
}

impl Model {
    fn fill(p: NonNull<u8>, from: usize, to: usize, seed: u8) {
        for i in from..to {
            // SAFETY: the block at `p` is live and at least `to` bytes long.
            unsafe { p.as_ptr().add(i).write(pattern(seed, i)) };
        }
    }

    /// Checks every invariant over every live block.
    fn check(&self) {
        let mut ranges: Vec<(usize, usize)> = Vec::new();
        for b in &self.blocks {
            let addr = b.ptr.as_ptr().addr();
            assert_eq!(addr % b.layout.align(), 0, "misaligned {:?}", b.layout);
            for i in 0..b.layout.size() {
                // SAFETY: the block is live and `layout.size()` bytes long.
                let got = unsafe { b.ptr.as_ptr().add(i).read() };
                assert_eq!(got, pattern(b.seed, i), "block {addr:#x} byte {i} changed");
            }
            if b.layout.size() > 0 {
                ranges.push((addr, addr + b.layout.size()));
            }
        }
        ranges.sort_unstable();
        for w in ranges.windows(2) {
            assert!(
                w[0].1 <= w[1].0,
                "live blocks overlap: {:x?} and {:x?}",
                w[0],
                w[1]
            );
        }
    }

    /// A layout that fits `b`: its alignment and a size from the one requested to the
    /// length returned, chosen by `pick`.
    fn fitting(b: &Block, pick: usize) -> Layout {
        let size = b.layout.size() + (pick >> 8) % (b.len - b.layout.size() + 1);
        Layout::from_size_align(size, b.layout.align()).unwrap()
    }

    /// Index of a live block allocated at `depth`, chosen by `pick`.
    fn pick(&self, pick: usize, depth: usize) -> Option<usize> {
        let candidates: Vec<usize> = (0..self.blocks.len())
            .filter(|&i| self.blocks[i].depth == depth)
            .collect();
        (!candidates.is_empty()).then(|| candidates[pick % candidates.len()])
    }

    /// Applies one block operation through `a`, where the current scope depth is `depth`.
    fn apply<A: Allocator>(&mut self, a: &A, op: &Op, depth: usize) {
        match *op {
            Op::Alloc { size, align_shift } => {
                let layout = Layout::from_size_align(size, 1 << align_shift).unwrap();
                if let Ok(block) = a.allocate(layout) {
                    assert!(block.len() >= size);
                    let seed = self.next_seed;
                    self.next_seed = self.next_seed.wrapping_add(1);
                    let ptr = block.cast::<u8>();
                    Self::fill(ptr, 0, size, seed);
                    self.blocks.push(Block {
                        ptr,
                        layout,
                        len: block.len(),
                        seed,
                        depth,
                    });
                }
            }
            Op::Grow { pick, extra } => {
                let Some(i) = self.pick(pick, depth) else {
                    return;
                };
                let b = &mut self.blocks[i];
                let old = Self::fitting(b, pick);
                let new = Layout::from_size_align(old.size() + extra, b.layout.align()).unwrap();
                // SAFETY: `b` is a live block of `a` that fits `old`.
                if let Ok(block) = unsafe { a.grow(b.ptr, old, new) } {
                    assert!(block.len() >= new.size());
                    b.ptr = block.cast();
                    Self::fill(b.ptr, b.layout.size(), new.size(), b.seed);
                    b.layout = new;
                    b.len = block.len();
                }
            }
            Op::Shrink { pick, keep_percent } => {
                let Some(i) = self.pick(pick, depth) else {
                    return;
                };
                let b = &mut self.blocks[i];
                let old = Self::fitting(b, pick);
                let size = b.layout.size() * keep_percent / 100;
                let new = Layout::from_size_align(size, b.layout.align()).unwrap();
                // SAFETY: `b` is a live block of `a` that fits `old`.
                let block = unsafe { a.shrink(b.ptr, old, new) }.expect("shrink");
                assert!(block.len() >= new.size());
                b.ptr = block.cast();
                b.layout = new;
                b.len = block.len();
            }
            Op::Free { pick } => {
                let Some(i) = self.pick(pick, depth) else {
                    return;
                };
                let b = self.blocks.swap_remove(i);
                // SAFETY: `b` is a live block of `a` that fits the layout.
                unsafe { a.deallocate(b.ptr, Self::fitting(&b, pick)) };
            }
            Op::Reset | Op::Enter | Op::Exit => unreachable!("handled by the driver"),
        }
        self.check();
    }

    /// Frees every remaining block through `a`.
    fn free_all<A: Allocator>(&mut self, a: &A) {
        for (i, b) in self.blocks.drain(..).enumerate() {
            // SAFETY: `b` is a live block of `a` that fits the layout (`i` picks the size).
            unsafe { a.deallocate(b.ptr, Self::fitting(&b, i.wrapping_mul(0x9E37_79B9) << 8)) };
        }
    }
}

/// Runs `ops` on an arena, with resets and nested scopes.
fn drive_arena<A: Allocator, const M: usize>(
    arena: &mut Arena<A, M>,
    ops: &[Op],
    model: &mut Model,
) {
    let mut i = 0;
    while i < ops.len() {
        let op = &ops[i];
        i += 1;
        match op {
            Op::Reset => {
                model.blocks.clear();
                arena.reset();
                assert_eq!(arena.used_bytes(), 0);
            }
            Op::Enter => {
                let before = arena.used_bytes();
                arena.scope(|s| drive_scope(s, ops, &mut i, model, 1));
                model.blocks.retain(|b| b.depth == 0);
                assert_eq!(
                    arena.used_bytes(),
                    before,
                    "a scope gives back what it took"
                );
                model.check();
            }
            Op::Exit => {}
            op => model.apply(&*arena, op, 0),
        }
    }
}

/// Runs `ops` from `*i` inside scope `s` at `depth`, until an `Exit` or the end.
fn drive_scope<A: Allocator, const M: usize>(
    s: &mut Scope<'_, A, M>,
    ops: &[Op],
    i: &mut usize,
    model: &mut Model,
    depth: usize,
) {
    while *i < ops.len() {
        let op = &ops[*i];
        *i += 1;
        match op {
            Op::Exit => return,
            Op::Enter => {
                let before = s.used_bytes();
                s.scope(|inner| drive_scope(inner, ops, i, model, depth + 1));
                model.blocks.retain(|b| b.depth <= depth);
                assert_eq!(
                    s.used_bytes(),
                    before,
                    "an inner scope gives back what it took"
                );
                model.check();
            }
            Op::Reset => {} // a scope borrows its arena: no reset inside
            op => model.apply(&*s, op, depth),
        }
    }
}

/// Runs `ops` on an allocator without scopes; `reset` is called for `Op::Reset`.
fn drive_plain<A: Allocator>(a: &mut A, ops: &[Op], reset: impl Fn(&mut A), model: &mut Model) {
    for op in ops {
        match op {
            Op::Reset => {
                model.blocks.clear();
                reset(a);
            }
            Op::Enter | Op::Exit => {}
            op => model.apply(&*a, op, 0),
        }
    }
}

/// Runs `ops` on an allocator that frees individually; a reset op frees every block.
fn drive_individual<A: Allocator>(a: &A, ops: &[Op], model: &mut Model) {
    for chunk in ops.split(|op| matches!(op, Op::Reset)) {
        for op in chunk
            .iter()
            .filter(|op| !matches!(op, Op::Enter | Op::Exit))
        {
            model.apply(a, op, 0);
        }
        model.free_all(a);
    }
}

/// Narrows allocation ops to what a 256-byte, 16-aligned slab can serve (most of them;
/// the rest must be refused without harm).
fn for_slab(ops: Vec<Op>) -> Vec<Op> {
    ops.into_iter()
        .map(|op| match op {
            Op::Alloc { size, align_shift } => Op::Alloc {
                size: size % 300,
                align_shift: align_shift % 6,
            },
            Op::Grow { pick, extra } => Op::Grow {
                pick,
                extra: extra % 64,
            },
            op => op,
        })
        .collect()
}

/// Runs `ops` through a `Counting` over `inner`; its live bytes must match the model's.
fn counting_balances<A: Allocator>(inner: A, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut model = Model::default();
    let counting = Counting::new(inner);
    for chunk in ops.split(|op| matches!(op, Op::Reset)) {
        for op in chunk
            .iter()
            .filter(|op| !matches!(op, Op::Enter | Op::Exit))
        {
            model.apply(&counting, op, 0);
        }
        let live: usize = model.blocks.iter().map(|b| b.layout.size()).sum();
        prop_assert_eq!(counting.stats().live_bytes, live);
        model.free_all(&counting);
    }
    prop_assert_eq!(counting.stats().live_bytes, 0);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn arena_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut arena = Arena::new();
        drive_arena(&mut arena, &ops, &mut Model::default());
    }

    #[test]
    fn arena_min_align_1_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut arena = Arena::<_, 1>::with_min_align();
        drive_arena(&mut arena, &ops, &mut Model::default());
    }

    #[test]
    fn arena_on_pages_with_limit_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut arena = Arena::new_in(Pages);
        arena.set_limit(Some(256 << 10));
        drive_arena(&mut arena, &ops, &mut Model::default());
        assert!(arena.used_bytes() <= 256 << 10);
    }

    #[test]
    fn fixed_buffer_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut space = Vec::<u8>::with_capacity(512 << 10);
        let mut buf = FixedBuffer::new(space.spare_capacity_mut());
        drive_plain(&mut buf, &ops, |b| b.reset(), &mut Model::default());
    }

    #[test]
    fn pages_match_model(ops in prop::collection::vec(op(), 1..60)) {
        let mut model = Model::default();
        // `Pages` has no reset: a reset op frees every block instead.
        for chunk in ops.split(|op| matches!(op, Op::Reset)) {
            drive_plain(&mut Pages, chunk, |_| {}, &mut model);
            model.free_all(&Pages);
        }
    }

    #[test]
    fn counting_matches_model_and_balances(ops in prop::collection::vec(op(), 1..200)) {
        counting_balances(Global, &ops)?;
    }

    #[test]
    fn counting_over_size_classes_matches_model_and_balances(
        ops in prop::collection::vec(op(), 1..200),
    ) {
        // Class sizes and whole pages: returned lengths longer than requested.
        counting_balances(SizeClasses::new(), &ops)?;
    }

    #[test]
    fn size_classes_match_model(ops in prop::collection::vec(op(), 1..300)) {
        let heap = SizeClasses::new();
        drive_individual(&heap, &ops, &mut Model::default());
    }

    #[test]
    fn slab_matches_model_and_ends_with_every_slot_free(ops in prop::collection::vec(op(), 1..300)) {
        let slab = Slab::new(Layout::from_size_align(256, 16).unwrap());
        drive_individual(&slab, &for_slab(ops), &mut Model::default());
        let stats = slab.stats();
        prop_assert_eq!(stats.live, 0);
        prop_assert_eq!(stats.free_slots, stats.slabs * stats.slots_per_slab);
        prop_assert!(stats.slabs <= 4, "empty slabs beyond the reserve of 4 went back");
    }

    #[test]
    fn free_list_matches_model_and_coalesces_completely(ops in prop::collection::vec(op(), 1..300)) {
        let heap = FreeList::new();
        let mut model = Model::default();
        for chunk in ops.split(|op| matches!(op, Op::Reset)) {
            for op in chunk.iter().filter(|op| !matches!(op, Op::Enter | Op::Exit)) {
                model.apply(&heap, op, 0);
                heap.check_invariants();
            }
            model.free_all(&heap);
            heap.check_invariants();
            let stats = heap.stats();
            prop_assert_eq!(stats.free_blocks, stats.regions, "one coalesced block per region");
        }
    }

    // The composites. Sizes run to 5 KiB with grows, so every one of them crosses from
    // one part to the other in most cases; each part's own counters must balance at the
    // end, which they would not if a block were freed into the wrong part.

    #[test]
    fn fallback_buffer_then_size_classes_matches_model(ops in prop::collection::vec(op(), 1..300)) {
        let mut space = [MaybeUninit::uninit(); 8192];
        let heap = Fallback::new(FixedBuffer::new(&mut space), Counting::new(SizeClasses::new()));
        drive_individual(&heap, &ops, &mut Model::default());
        prop_assert_eq!(heap.fallback().stats().live_bytes, 0);
    }

    #[test]
    fn fallback_slab_then_free_list_matches_model(ops in prop::collection::vec(op(), 1..300)) {
        let slot = Layout::from_size_align(256, 16).unwrap();
        let heap = Fallback::new(Slab::new(slot), Counting::new(FreeList::new()));
        drive_individual(&heap, &ops, &mut Model::default());
        prop_assert_eq!(heap.primary().stats().live, 0);
        prop_assert_eq!(heap.fallback().stats().live_bytes, 0);
        heap.fallback().inner().check_invariants();
    }

    #[test]
    fn segregate_matches_model(ops in prop::collection::vec(op(), 1..300)) {
        // 200 is not a class size: small blocks come back capped at it.
        let heap: Segregate<200, _, _> =
            Segregate::new(SizeClasses::new(), Counting::new(FreeList::new()));
        drive_individual(&heap, &ops, &mut Model::default());
        prop_assert_eq!(heap.large().stats().live_bytes, 0);
        heap.large().inner().check_invariants();
    }

    #[test]
    fn nested_composite_matches_model(ops in prop::collection::vec(op(), 1..200)) {
        let mut space = Vec::<u8>::with_capacity(64 << 10);
        let heap: Segregate<256, SizeClasses, Fallback<FixedBuffer, Counting<Pages>>> =
            Segregate::new(
                SizeClasses::new(),
                Fallback::new(FixedBuffer::new(space.spare_capacity_mut()), Counting::new(Pages)),
            );
        drive_individual(&heap, &ops, &mut Model::default());
        prop_assert_eq!(heap.large().fallback().stats().live_bytes, 0);
    }

    #[test]
    fn stack_fallback_matches_model(ops in prop::collection::vec(op(), 1..300)) {
        let sf = StackFallback::<8192, _>::new_in(Counting::new(SizeClasses::new()));
        drive_individual(&&sf, &ops, &mut Model::default());
        prop_assert_eq!(sf.fallback().stats().live_bytes, 0);
    }
}
