//! Fuzz target `size_index`: see `otto_hooks_fuzz::targets::size_index`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::size_index(data));
