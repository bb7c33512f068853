//! Unit tests of `Compartment`: reservation, guards, sealing and the allocator contract.

use super::*;
use alloc::vec::Vec;

fn layout(size: usize, align: usize) -> Layout {
    Layout::from_size_align(size, align).unwrap()
}

#[test]
fn regions_given_back_are_reused_and_merged() {
    let c = Compartment::new(8 << 20);
    let s = c.source();
    let page = s.page;
    let l = layout(3 * page, 64);
    let [a, b, d] = [0; 3].map(|_| s.allocate(l).unwrap().cast::<u8>());
    assert_eq!(s.cursor.get(), 9 * page);
    // SAFETY: each region was handed out for `l` and is given back once.
    unsafe {
        s.deallocate(a, l);
        assert_eq!(s.span_count.get(), 1, "a is below the cursor: a span");
        s.deallocate(b, l);
        assert_eq!(s.spans.get()[0], (0, 6 * page), "merged with a");
        s.deallocate(d, l);
    }
    assert_eq!(
        (s.cursor.get(), s.span_count.get()),
        (0, 0),
        "all merged down"
    );
    assert_eq!(s.committed.get() % page, 0);
    let again = s.allocate(layout(page, 64)).unwrap();
    assert_eq!(again.cast::<u8>(), a, "the bump pointer starts over");
    // SAFETY: handed out for this layout just above.
    unsafe { s.deallocate(again.cast(), layout(page, 64)) };
    assert!(s.allocate(layout(9 << 20, 64)).is_err(), "beyond the range");
    assert!(
        s.allocate(layout(page, 2 * page)).is_err(),
        "beyond page alignment"
    );
}

#[test]
fn heap_churn_stays_in_range() {
    let c = Compartment::new(if cfg!(miri) { 4 << 20 } else { 32 << 20 });
    let mut live = Vec::new();
    for i in 0..if cfg!(miri) { 60 } else { 2000 } {
        let l = layout(1 + (i * 7919) % 300_000, 1 << (i % 8));
        if i % 3 == 2 && !live.is_empty() {
            let (p, l): (NonNull<u8>, Layout) = live.swap_remove(i % live.len());
            // SAFETY: `p` is live with `l`.
            unsafe { c.deallocate(p, l) };
        } else if let Ok(b) = c.allocate(l) {
            let p = b.cast::<u8>();
            assert!(c.contains(p.as_ptr()) && c.contains(p.as_ptr().wrapping_add(b.len() - 1)));
            live.push((p, l));
        }
    }
    c.check_invariants();
    for (p, l) in live {
        // SAFETY: `p` is live with `l`.
        unsafe { c.deallocate(p, l) };
    }
    c.check_invariants();
}

#[test]
fn sealing_reports_what_it_uses() {
    let c = Compartment::new(1 << 20);
    let b = c.allocate(layout(100, 8)).unwrap();
    match c.protection() {
        Protection::Unavailable => {
            // SAFETY: `b` is a raw block; no reference points into `c`.
            assert_eq!(unsafe { c.seal() }, Err(SealError));
            assert!(c.is_open(), "a failed seal changes nothing");
        }
        _ => {
            // SAFETY: as above.
            unsafe { c.seal() }.unwrap();
            assert!(c.allocate(layout(8, 8)).is_err());
            assert!(
                c.allocate(layout(0, 8)).is_ok(),
                "zero size is still dangling"
            );
            c.unseal().unwrap();
        }
    }
    // SAFETY: `b` is live with this layout.
    unsafe { c.deallocate(b.cast(), layout(100, 8)) };
    assert!(Compartment::try_new(usize::MAX).is_err());
}

#[test]
fn is_send() {
    fn send<T: Send>() {}
    send::<Compartment>();
}
