//! The conformance suite: one generic set of cases, run over every strategy.
//!
//! The cases follow Zig's shared allocator tests (`testAllocator`,
//! `testAllocatorAligned`, `testAllocatorLargeAlignment`, `testAllocatorAlignedShrink`),
//! plus zero-size layouts, impossible layouts, zeroed memory, and contents that must
//! survive grow and shrink. Every call goes through [`checked`] helpers that assert the
//! `Allocator` contract on each result (Zig's validation wrapper).

#[macro_use]
mod common;

use allockit::{Allocator, Layout};
use common::{Case, scaled};
use core::hint::black_box;
use core::ptr::NonNull;

/// Asserts what every successful result must satisfy: non-null (by type), aligned, and at
/// least as long as requested.
fn check(block: NonNull<[u8]>, layout: Layout, what: &str) -> NonNull<u8> {
    let p = block.cast::<u8>();
    assert_eq!(
        p.as_ptr().addr() % layout.align(),
        0,
        "{what}: {layout:?} misaligned at {p:p}"
    );
    assert!(
        block.len() >= layout.size(),
        "{what}: {layout:?} got {} bytes",
        block.len()
    );
    p
}

fn alloc<A: Allocator>(a: &A, layout: Layout) -> NonNull<u8> {
    check(a.allocate(layout).expect("allocate"), layout, "allocate")
}

/// Fills `[p, p + len)` with a pattern derived from `seed`.
fn fill(p: NonNull<u8>, len: usize, seed: u8) {
    for i in 0..len {
        // SAFETY: the caller owns `len` writable bytes at `p`.
        unsafe {
            p.as_ptr()
                .add(i)
                .write(seed.wrapping_add(i as u8).wrapping_mul(31))
        };
    }
}

/// Asserts `[p, p + len)` still holds the pattern written by [`fill`].
fn verify(p: NonNull<u8>, len: usize, seed: u8, what: &str) {
    for i in 0..len {
        // SAFETY: the caller owns `len` readable bytes at `p`.
        let got = unsafe { p.as_ptr().add(i).read() };
        assert_eq!(
            got,
            seed.wrapping_add(i as u8).wrapping_mul(31),
            "{what}: byte {i}"
        );
    }
}

fn grow<A: Allocator>(a: &A, p: NonNull<u8>, old: Layout, new: Layout) -> NonNull<u8> {
    // SAFETY: every caller passes a live block of `a` that fits `old`.
    check(unsafe { a.grow(p, old, new) }.expect("grow"), new, "grow")
}

fn shrink<A: Allocator>(a: &A, p: NonNull<u8>, old: Layout, new: Layout) -> NonNull<u8> {
    // SAFETY: every caller passes a live block of `a` that fits `old`.
    check(
        unsafe { a.shrink(p, old, new) }.expect("shrink"),
        new,
        "shrink",
    )
}

fn free<A: Allocator>(a: &A, p: NonNull<u8>, layout: Layout) {
    // SAFETY: every caller passes a live block of `a` that fits `layout`, used no more.
    unsafe { a.deallocate(p, layout) }
}

fn page() -> usize {
    allockit::Pages::page_size()
}

/// Zig `testAllocator`: many small blocks, a growing and shrinking array of them,
/// contents checked throughout, everything freed.
struct Basic;
impl Case for Basic {
    fn run<A: Allocator>(a: &A) {
        let n = scaled(100);
        let item = Layout::new::<u64>();
        let mut slots = Layout::array::<NonNull<u8>>(n).unwrap();
        let array = alloc(a, slots).cast::<NonNull<u8>>();
        for i in 0..n {
            let p = alloc(a, item);
            // SAFETY: `p` holds a `u64`; `array` has room for `n` pointers.
            unsafe {
                p.cast::<u64>().write(i as u64 * 7);
                array.add(i).write(p);
            }
        }
        // Grow the array of pointers, as a Vec would, and then shrink it.
        let bigger = Layout::array::<NonNull<u8>>(2 * n).unwrap();
        let array = grow(a, array.cast(), slots, bigger).cast::<NonNull<u8>>();
        slots = bigger;
        let smaller = Layout::array::<NonNull<u8>>(n / 2).unwrap();
        for i in n / 2..n {
            // SAFETY: slot `i < n` holds a live `u64` block.
            unsafe {
                let p = array.add(i).read();
                assert_eq!(p.cast::<u64>().read(), i as u64 * 7);
                free(a, p, item);
            }
        }
        let array = shrink(a, array.cast(), slots, smaller).cast::<NonNull<u8>>();
        for i in 0..n / 2 {
            // SAFETY: slot `i < n / 2` survived the shrink and holds a live `u64` block.
            unsafe {
                let p = array.add(i).read();
                assert_eq!(
                    p.cast::<u64>().read(),
                    i as u64 * 7,
                    "after grow and shrink"
                );
                free(a, p, item);
            }
        }
        free(a, array.cast(), smaller);
    }
}

/// Zig `testAllocatorAligned`: every alignment from 1 to 512, through grow and shrink.
struct Aligned;
impl Case for Aligned {
    fn run<A: Allocator>(a: &A) {
        for shift in 0..=9 {
            let align = 1 << shift;
            let l10 = Layout::from_size_align(10, align).unwrap();
            let p = alloc(a, l10);
            fill(p, 10, shift);
            let l100 = Layout::from_size_align(100, align).unwrap();
            let p = grow(a, p, l10, l100);
            verify(p, 10, shift, "aligned grow");
            fill(p, 100, shift);
            let l3 = Layout::from_size_align(3, align).unwrap();
            let p = shrink(a, p, l100, l3);
            verify(p, 3, shift, "aligned shrink");
            free(a, p, l3);
        }
    }
}

/// Zig `testAllocatorLargeAlignment`: alignments up to and above the page size.
struct LargeAlignment;
impl Case for LargeAlignment {
    fn run<A: Allocator>(a: &A) {
        let page = page();
        for align in [page / 2, page, 2 * page, 16 * page] {
            let large = Layout::from_size_align(page + 100, align).unwrap();
            let p = alloc(a, large);
            fill(p, large.size(), 3);
            let small = Layout::from_size_align(page / 2, align).unwrap();
            let p = shrink(a, p, large, small);
            verify(p, small.size(), 3, "large-alignment shrink");
            let larger = Layout::from_size_align(3 * page, align).unwrap();
            let p = grow(a, p, small, larger);
            verify(p, small.size(), 3, "large-alignment grow");
            free(a, p, larger);
        }
        // A small alignment grown to a large one must move to a suitably aligned block.
        let l = Layout::from_size_align(64, 8).unwrap();
        let p = alloc(a, l);
        fill(p, 64, 5);
        let big = Layout::from_size_align(2 * page, 4 * page).unwrap();
        let q = grow(a, p, l, big);
        verify(q, 64, 5, "grow to a larger alignment");
        free(a, q, big);
    }
}

/// Zig `testAllocatorAlignedShrink`: a large, strongly aligned block allocated after
/// small ones, shrunk, with contents and alignment intact.
struct AlignedShrink;
impl Case for AlignedShrink {
    fn run<A: Allocator>(a: &A) {
        let page = page();
        let small = Layout::from_size_align(17, 1).unwrap();
        let debris: Vec<_> = (0..scaled(20)).map(|_| alloc(a, small)).collect();
        let align = 16 * page;
        let big = Layout::from_size_align(2 * page + 50, align).unwrap();
        let p = alloc(a, big);
        fill(p, big.size(), 9);
        let shrunk = Layout::from_size_align(page + 1, align).unwrap();
        let p = shrink(a, p, big, shrunk);
        verify(p, shrunk.size(), 9, "aligned shrink");
        free(a, p, shrunk);
        for d in debris {
            free(a, d, small);
        }
    }
}

/// Zero-size layouts: dangling, aligned, freeable, growable and shrinkable to.
struct ZeroSize;
impl Case for ZeroSize {
    fn run<A: Allocator>(a: &A) {
        for align in [1, 8, 4096, 1 << 20] {
            let zero = Layout::from_size_align(0, align).unwrap();
            let p = alloc(a, zero);
            free(a, p, zero);
            let p = alloc(a, zero);
            let some = Layout::from_size_align(24, align).unwrap();
            let p = grow(a, p, zero, some);
            fill(p, 24, 1);
            let p = shrink(a, p, some, zero);
            free(a, p, zero);
        }
        let z = check(
            a.allocate_zeroed(Layout::new::<()>()).unwrap(),
            Layout::new::<()>(),
            "zst",
        );
        free(a, z, Layout::new::<()>());
    }
}

/// Sizes near `isize::MAX` and huge alignments are `AllocError`, never a panic, and a
/// failed grow leaves the old block intact.
struct Impossible;
impl Case for Impossible {
    const ASKS_SYSTEM_FOR_TOO_MUCH: bool = true;

    fn run<A: Allocator>(a: &A) {
        for (size, align) in [
            (isize::MAX as usize, 1),
            (isize::MAX as usize - 7, 8),
            (isize::MAX as usize / 2 + 1, 4096),
            (1 << 62, 1 << 62),
            (1, 1 << 40),
        ] {
            // Miri stops with "resource exhaustion" where the OS or libc returns an error,
            // so under Miri only the sizes every strategy refuses by arithmetic, before any
            // memory is asked for, are tried.
            if cfg!(miri) && size < isize::MAX as usize - 8 {
                continue;
            }
            let layout = Layout::from_size_align(size, align).unwrap();
            // `black_box`: in release builds LLVM may remove an allocation through the
            // global allocator whose block is never used, and assume it succeeded.
            assert!(
                black_box(a.allocate(layout)).is_err(),
                "{layout:?} cannot be served"
            );
            assert!(
                black_box(a.allocate_zeroed(layout)).is_err(),
                "{layout:?} cannot be served"
            );
        }
        let l = Layout::from_size_align(32, 8).unwrap();
        let p = alloc(a, l);
        fill(p, 32, 4);
        let huge = Layout::from_size_align(isize::MAX as usize - 7, 8).unwrap();
        // SAFETY: `p` is a live block of `a` fitting `l`.
        assert!(unsafe { a.grow(p, l, huge) }.is_err());
        // SAFETY: as above; a failed grow leaves the block allocated.
        assert!(unsafe { a.grow_zeroed(p, l, huge) }.is_err());
        verify(p, 32, 4, "block after a failed grow");
        free(a, p, l);
    }
}

/// Contents survive a long series of grows and shrinks, one byte at a time and in jumps.
struct GrowShrinkContents;
impl Case for GrowShrinkContents {
    fn run<A: Allocator>(a: &A) {
        let mut layout = Layout::from_size_align(1, 4).unwrap();
        let mut p = alloc(a, layout);
        fill(p, 1, 7);
        let top = scaled(3000);
        let mut size = 1;
        while size < top {
            let next = if size < 64 { size + 1 } else { size * 3 / 2 };
            let new = Layout::from_size_align(next, 4).unwrap();
            p = grow(a, p, layout, new);
            verify(p, size, 7, "grow");
            fill(p, next, 7);
            layout = new;
            size = next;
        }
        while size > 1 {
            let next = size / 3 + 1;
            let new = Layout::from_size_align(next, 4).unwrap();
            p = shrink(a, p, layout, new);
            verify(p, next, 7, "shrink");
            layout = new;
            size = next;
        }
        free(a, p, layout);
    }
}

/// `allocate_zeroed` and `grow_zeroed` hand out zeros, even over reused memory.
struct Zeroed;
impl Case for Zeroed {
    fn run<A: Allocator>(a: &A) {
        let l = Layout::from_size_align(5000, 16).unwrap();
        // Dirty some memory first so a reusing allocator has garbage to clear.
        let dirty = alloc(a, l);
        fill(dirty, l.size(), 0xEE);
        free(a, dirty, l);
        let p = check(a.allocate_zeroed(l).unwrap(), l, "allocate_zeroed");
        // SAFETY: `p` is a live block of `l.size()` bytes.
        assert!((0..l.size()).all(|i| unsafe { p.as_ptr().add(i).read() } == 0));
        fill(p, 100, 2);
        let small = Layout::from_size_align(100, 16).unwrap();
        let p = shrink(a, p, l, small);
        let big = Layout::from_size_align(9000, 16).unwrap();
        // SAFETY: `p` is a live block fitting `small`.
        let q = check(
            unsafe { a.grow_zeroed(p, small, big) }.unwrap(),
            big,
            "grow_zeroed",
        );
        verify(q, 100, 2, "grow_zeroed keeps the prefix");
        // SAFETY: `q` is a live block of `big.size()` bytes.
        assert!((100..big.size()).all(|i| unsafe { q.as_ptr().add(i).read() } == 0));
        free(a, q, big);
    }
}

/// Many live blocks of mixed sizes never overlap and keep their contents.
struct NoOverlap;
impl Case for NoOverlap {
    fn run<A: Allocator>(a: &A) {
        let mut live: Vec<(NonNull<u8>, Layout, u8)> = Vec::new();
        for i in 0..scaled(300) {
            let layout = Layout::from_size_align(1 + (i * 37) % 700, 1 << (i % 7)).unwrap();
            let p = alloc(a, layout);
            fill(p, layout.size(), i as u8);
            live.push((p, layout, i as u8));
            if i % 3 == 0 {
                let (p, l, seed) = live.swap_remove(i % live.len());
                verify(p, l.size(), seed, "before free");
                free(a, p, l);
            }
        }
        let mut ranges: Vec<_> = live
            .iter()
            .map(|(p, l, _)| (p.as_ptr().addr(), p.as_ptr().addr() + l.size()))
            .collect();
        ranges.sort();
        assert!(
            ranges.windows(2).all(|w| w[0].1 <= w[1].0),
            "live blocks overlap"
        );
        for (p, l, seed) in live {
            verify(p, l.size(), seed, "at the end");
            free(a, p, l);
        }
    }
}

/// The whole block an `allocate`, `grow` or `shrink` returned, checked.
fn block(
    result: Result<NonNull<[u8]>, allockit::AllocError>,
    layout: Layout,
    what: &str,
) -> NonNull<[u8]> {
    let block = result.unwrap_or_else(|_| panic!("{what}: {layout:?} failed"));
    check(block, layout, what);
    block
}

/// A layout of `size` bytes aligned to `align`.
fn sized(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

/// Fitting layouts: a block may be freed, grown and shrunk with any size from the one it
/// was requested with to the length it was returned with (the `Allocator` contract's
/// "fit"), for small sizes and for large ones whose length is rounded up (16,385 B is a
/// large block of 20,480 on a `SizeClasses` on `Pages`). Every returned byte is usable.
struct FittingLayouts;
impl Case for FittingLayouts {
    fn run<A: Allocator>(a: &A) {
        let page = page();
        // Under Miri, which checks every byte written and read, one small size, one just
        // past a page and the large block whose length is rounded up.
        let (sizes, aligns): (&[usize], &[usize]) = if cfg!(miri) {
            (&[24, page + 1, 16_385], &[8])
        } else {
            (&[1, 24, 100, 1000, page + 1, 16_385, 100_000], &[8, 64])
        };
        for &size in sizes {
            for &align in aligns {
                let l = sized(size, align);
                let seed = size as u8;
                // Freed with the returned length, then with a size in between.
                let b = block(a.allocate(l), l, "allocate");
                fill(b.cast(), b.len(), seed);
                verify(b.cast(), b.len(), seed, "the returned length is usable");
                free(a, b.cast(), sized(b.len(), align));
                let b = block(a.allocate(l), l, "allocate");
                free(a, b.cast(), sized(size + (b.len() - size) / 2, align));

                // Grown from the returned length, shrunk from the grown block's length,
                // freed with the shrunk block's length.
                let b = block(a.allocate(l), l, "allocate");
                fill(b.cast(), b.len(), seed);
                let old = sized(b.len(), align);
                let bigger = sized(b.len() + size, align);
                // SAFETY: `b` is a live block of `a` that fits `old`.
                let g = block(unsafe { a.grow(b.cast(), old, bigger) }, bigger, "grow");
                verify(g.cast(), old.size(), seed, "grown from the returned length");
                fill(g.cast(), g.len(), seed);
                let old = sized(g.len(), align);
                let smaller = sized(size.div_ceil(2), align);
                // SAFETY: `g` is a live block of `a` that fits `old`.
                let s = block(
                    unsafe { a.shrink(g.cast(), old, smaller) },
                    smaller,
                    "shrink",
                );
                verify(
                    s.cast(),
                    smaller.size(),
                    seed,
                    "shrunk from the returned length",
                );
                free(a, s.cast(), sized(s.len(), align));

                // The same from sizes in between, and through `grow_zeroed`.
                let b = block(a.allocate(l), l, "allocate");
                let old = sized(size + (b.len() - size) / 2, align);
                fill(b.cast(), old.size(), seed);
                let bigger = sized(b.len() + 3 * size, align);
                // SAFETY: `b` is a live block of `a` that fits `old`.
                let g = block(
                    unsafe { a.grow_zeroed(b.cast(), old, bigger) },
                    bigger,
                    "grow_zeroed",
                );
                verify(g.cast(), old.size(), seed, "grown from a size in between");
                // SAFETY: `g` is live and at least `bigger.size()` bytes long.
                let zeroed = (old.size()..bigger.size())
                    .all(|i| unsafe { g.cast::<u8>().add(i).read() } == 0);
                assert!(zeroed, "grow_zeroed from a size in between zeroes the rest");
                let old = sized(bigger.size() + (g.len() - bigger.size()) / 2, align);
                // SAFETY: `g` is a live block of `a` that fits `old`.
                let s = block(unsafe { a.shrink(g.cast(), old, l) }, l, "shrink");
                verify(
                    s.cast(),
                    size.min(old.size()),
                    seed,
                    "shrunk from a size in between",
                );
                free(a, s.cast(), sized(size + (s.len() - size) / 2, align));
            }
        }
    }
}

for_each_strategy!(
    slab: true;
    basic => Basic,
    aligned => Aligned,
    large_alignment => LargeAlignment,
    aligned_shrink => AlignedShrink,
    zero_size => ZeroSize,
    impossible => Impossible,
    grow_shrink_contents => GrowShrinkContents,
    zeroed => Zeroed,
    no_overlap => NoOverlap,
    fitting_layouts => FittingLayouts,
);

/// Fitting layouts keep the byte counters exact: after a block is freed, grown or shrunk
/// with its returned length, or a size in between, the counters read what they would
/// have read with the requested sizes (what both count).
mod fitting_counters {
    use super::*;
    use allockit::{Counting, Pages, SizeClasses};

    #[test]
    fn size_classes_large_blocks() {
        let heap = SizeClasses::new();
        let start = heap.reserved_bytes();
        let l = sized(16_385, 8);
        let b = block(heap.allocate(l), l, "allocate");
        assert_eq!(heap.reserved_bytes(), start + l.size());
        free(&heap, b.cast(), sized(b.len(), 8));
        let what = "freed with the returned length";
        assert_eq!(heap.reserved_bytes(), start, "{what}");

        let b = block(heap.allocate(l), l, "allocate");
        free(&heap, b.cast(), sized(18_000.min(b.len()), 8));
        let what = "freed with a size in between";
        assert_eq!(heap.reserved_bytes(), start, "{what}");

        let b = block(heap.allocate(l), l, "allocate");
        let (old, bigger) = (sized(b.len(), 8), sized(40_000, 8));
        // SAFETY: `b` is live and fits its returned length.
        let g = block(unsafe { heap.grow(b.cast(), old, bigger) }, bigger, "grow");
        assert_eq!(heap.reserved_bytes(), start + bigger.size());
        let (old, smaller) = (sized(g.len(), 8), sized(17_000, 8));
        // SAFETY: `g` is live and fits its returned length.
        let s = block(
            unsafe { heap.shrink(g.cast(), old, smaller) },
            smaller,
            "shrink",
        );
        assert_eq!(heap.reserved_bytes(), start + smaller.size());
        free(&heap, s.cast(), sized(s.len(), 8));
        assert_eq!(heap.reserved_bytes(), start);
    }

    #[test]
    fn counting_over_pages() {
        let c = Counting::new(Pages);
        let (la, lb) = (sized(1, 8), sized(100, 8));
        let a = block(c.allocate(la), la, "allocate");
        let b = block(c.allocate(lb), lb, "allocate");
        assert_eq!(c.stats().live_bytes, 101);
        free(&c, a.cast(), sized(a.len(), 8));
        let what = "freed with the returned length";
        assert_eq!(c.stats().live_bytes, 100, "{what}");
        let (old, bigger) = (sized(b.len(), 8), sized(5000, 8));
        // SAFETY: `b` is live and fits its returned length.
        let g = block(unsafe { c.grow(b.cast(), old, bigger) }, bigger, "grow");
        assert_eq!(c.stats().live_bytes, 5000);
        let (old, smaller) = (sized(g.len(), 8), sized(10, 8));
        // SAFETY: `g` is live and fits its returned length.
        let s = block(
            unsafe { c.shrink(g.cast(), old, smaller) },
            smaller,
            "shrink",
        );
        assert_eq!(c.stats().live_bytes, 10);
        free(&c, s.cast(), sized(s.len(), 8));
        let stats = c.stats();
        let counts = (stats.live_bytes, stats.allocations, stats.deallocations);
        assert_eq!(counts, (0, 2, 2));
    }
}

/// Exhaustion of bounded strategies: `AllocError`, never a panic; freeing makes room.
mod exhaustion {
    use super::*;
    use allockit::{Arena, FixedBuffer};

    fn exhaust<A: Allocator>(a: &A, budget: usize) -> Vec<NonNull<u8>> {
        let l = Layout::from_size_align(100, 8).unwrap();
        let mut blocks = Vec::new();
        while let Ok(b) = a.allocate(l) {
            blocks.push(check(b, l, "allocate"));
            assert!(
                blocks.len() * 100 <= budget,
                "more handed out than the budget"
            );
        }
        assert!(
            blocks.len() * 104 + 100 > budget,
            "gave up early: {}",
            blocks.len()
        );
        // Further requests, grows and zero-size requests still behave.
        assert!(a.allocate(Layout::new::<[u8; 100]>()).is_err());
        let last = *blocks.last().unwrap();
        let big = Layout::from_size_align(200, 8).unwrap();
        // SAFETY: `last` is a live block fitting `l`.
        assert!(unsafe { a.grow(last, l, big) }.is_err());
        assert!(a.allocate(Layout::new::<()>()).is_ok());
        // The most recent block is freed in place, so its room comes back.
        free(a, blocks.pop().unwrap(), l);
        blocks.push(alloc(a, l));
        blocks
    }

    #[test]
    fn fixed_buffer() {
        let mut space = [core::mem::MaybeUninit::uninit(); 4096];
        let mut buf = FixedBuffer::new(&mut space);
        let first = exhaust(&buf, 4096).len();
        buf.reset();
        assert_eq!(
            exhaust(&buf, 4096).len(),
            first,
            "reset gives every byte back"
        );
    }

    #[test]
    fn arena_with_limit() {
        let mut arena = Arena::new();
        arena.set_limit(Some(10_000));
        let first = exhaust(&arena, 10_000).len();
        assert!(arena.used_bytes() <= 10_000);
        arena.reset();
        assert_eq!(
            exhaust(&arena, 10_000).len(),
            first,
            "reset gives every byte back"
        );
    }

    #[test]
    fn arena_scope_with_limit() {
        let mut arena = Arena::new();
        arena.set_limit(Some(20_000));
        let first = arena.scope(|s| exhaust(&*s, 20_000).len());
        assert_eq!(arena.used_bytes(), 0, "the scope gave its bytes back");
        arena.scope(|s| assert_eq!(exhaust(&*s, 20_000).len(), first));
    }
}
