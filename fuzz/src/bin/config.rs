//! Fuzz target `config`: see `otto_hooks_fuzz::targets::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::config(data));
