//! cargo-fuzz target `group_pim`: the bytes go to `castellan_fuzz::fuzz_group_pim`, the same entry point the
//! stable replay test (`crates/castellan-fuzz/tests/replay.rs`) calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| castellan_fuzz::fuzz_group_pim(data));
