//! `cargo fuzz run size_classes`: SizeClasses, small and large blocks.
#![no_main]
libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let heap = allockit::SizeClasses::new();
    allockit_fuzz::drive(&heap, data, 40_000, 13);
});
