//! The fuzz driver shared by every target: fuzz input becomes a sequence of allocate /
//! grow / shrink / deallocate operations, checked after each one against a model of the
//! live blocks (no overlap, alignment, contents intact), as the property tests do.

use allockit::{Allocator, Layout};
use std::ptr::NonNull;

struct Block {
    ptr: NonNull<u8>,
    layout: Layout,
    seed: u8,
}

fn byte(seed: u8, i: usize) -> u8 {
    seed ^ (i as u8).wrapping_mul(151)
}

fn fill(b: &Block, from: usize) {
    for i in from..b.layout.size() {
        // SAFETY: the block is live and `layout.size()` bytes long.
        unsafe { b.ptr.as_ptr().add(i).write(byte(b.seed, i)) };
    }
}

fn verify(b: &Block) {
    for i in 0..b.layout.size() {
        // SAFETY: as in `fill`.
        assert_eq!(
            unsafe { b.ptr.as_ptr().add(i).read() },
            byte(b.seed, i),
            "block changed"
        );
    }
    assert_eq!(b.ptr.as_ptr().addr() % b.layout.align(), 0, "misaligned");
}

/// Drives `a` with operations decoded from `data`, 4 bytes each: sizes up to
/// `max_size`, alignments up to `1 << max_align_shift`. Frees everything at the end.
pub fn drive<A: Allocator>(a: &A, data: &[u8], max_size: usize, max_align_shift: u8) {
    let mut live: Vec<Block> = Vec::new();
    let mut seed = 0u8;
    for op in data.chunks_exact(4) {
        let arg = u16::from_le_bytes([op[1], op[2]]) as usize;
        match op[0] % 4 {
            0 => {
                let size = arg % (max_size + 1);
                let align = 1 << (op[3] % (max_align_shift + 1));
                let layout = Layout::from_size_align(size, align).unwrap();
                if let Ok(p) = a.allocate(layout) {
                    assert!(p.len() >= size);
                    seed = seed.wrapping_add(1);
                    let b = Block {
                        ptr: p.cast(),
                        layout,
                        seed,
                    };
                    fill(&b, 0);
                    let (lo, hi) = (b.ptr.as_ptr().addr(), b.ptr.as_ptr().addr() + size);
                    for o in &live {
                        let (olo, ohi) = (
                            o.ptr.as_ptr().addr(),
                            o.ptr.as_ptr().addr() + o.layout.size(),
                        );
                        assert!(
                            size == 0 || o.layout.size() == 0 || hi <= olo || ohi <= lo,
                            "overlap"
                        );
                    }
                    live.push(b);
                }
            }
            1 if !live.is_empty() => {
                let b = live.swap_remove(arg % live.len());
                verify(&b);
                // SAFETY: `b` is live with `b.layout`.
                unsafe { a.deallocate(b.ptr, b.layout) };
            }
            2 if !live.is_empty() => {
                let i = arg % live.len();
                let b = &mut live[i];
                let new = Layout::from_size_align(
                    (b.layout.size() + op[3] as usize * 8).min(max_size),
                    b.layout.align(),
                )
                .unwrap();
                // SAFETY: `b` is live with `b.layout`; `new` is at least as large.
                if let Ok(p) = unsafe { a.grow(b.ptr, b.layout, new) } {
                    let old = b.layout.size();
                    b.ptr = p.cast();
                    b.layout = new;
                    verify_prefix(b, old);
                    fill(b, old);
                }
            }
            3 if !live.is_empty() => {
                let i = arg % live.len();
                let b = &mut live[i];
                let new = Layout::from_size_align(
                    b.layout.size() * (op[3] as usize % 101) / 100,
                    b.layout.align(),
                )
                .unwrap();
                // SAFETY: `b` is live with `b.layout`; `new` is no larger.
                if let Ok(p) = unsafe { a.shrink(b.ptr, b.layout, new) } {
                    b.ptr = p.cast();
                    b.layout = new;
                    verify(b);
                }
            }
            _ => {}
        }
    }
    for b in live {
        verify(&b);
        // SAFETY: `b` is live with `b.layout`.
        unsafe { a.deallocate(b.ptr, b.layout) };
    }
}

fn verify_prefix(b: &Block, len: usize) {
    for i in 0..len {
        // SAFETY: the block is live and at least `len` bytes long.
        assert_eq!(
            unsafe { b.ptr.as_ptr().add(i).read() },
            byte(b.seed, i),
            "grow lost contents"
        );
    }
}
