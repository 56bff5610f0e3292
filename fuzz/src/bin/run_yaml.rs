//! Fuzz target `run_yaml`: see `otto_hooks_fuzz::targets::run_yaml`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::run_yaml(data));
