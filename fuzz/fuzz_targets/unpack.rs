//! Fuzz target `unpack`: see docs/fuzz.md.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| cs231n_fuzz::data::unpack(data));
