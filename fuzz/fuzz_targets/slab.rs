//! `cargo fuzz run slab`: a 256-byte slab; layouts that do not fit must be refused.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let slab = allockit::Slab::new(core::alloc::Layout::from_size_align(256, 16).unwrap());
    allockit_fuzz::drive(&slab, data, 300, 5);
    let stats = slab.stats();
    assert_eq!(
        (stats.live, stats.free_slots),
        (0, stats.slabs * stats.slots_per_slab)
    );
});
