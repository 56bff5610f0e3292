//! Fuzz target `wire_ndjson`: see `otto_hooks_fuzz::targets::wire_ndjson`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::wire_ndjson(data));
