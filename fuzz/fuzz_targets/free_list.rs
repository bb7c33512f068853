//! `cargo fuzz run free_list`: FreeList, with its invariant scanner after the run.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let heap = allockit::FreeList::new();
    allockit_fuzz::drive(&heap, data, 40_000, 13);
    heap.check_invariants();
    assert_eq!(
        heap.stats().free_blocks,
        heap.stats().regions,
        "one free block per region"
    );
});
