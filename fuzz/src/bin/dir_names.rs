//! Fuzz target `dir_names`: see `otto_hooks_fuzz::targets::dir_names`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::dir_names(data));
