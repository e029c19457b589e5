//! cargo-fuzz target `invitation`: the bytes go to `castellan_fuzz::fuzz_invitation`, the same entry point the
//! stable replay test (`crates/castellan-fuzz/tests/replay.rs`) calls.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| castellan_fuzz::fuzz_invitation(data));
