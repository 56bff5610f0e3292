//! Fuzz target `search`: see `otto_hooks_fuzz::targets::search`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::search(data));
