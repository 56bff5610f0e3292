//! Fuzz target `ottodb_rows`: see `otto_hooks_fuzz::targets::ottodb_rows`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::ottodb_rows(data));
