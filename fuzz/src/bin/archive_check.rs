//! Fuzz target `archive_check`: see `otto_hooks_fuzz::targets::archive_check`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::archive_check(data));
