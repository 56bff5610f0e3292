//! Fuzz target `plugin_abi`: see `otto_hooks_fuzz::targets::plugin_abi`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::plugin_abi(data));
