//! Fuzz target `daemon_bodies`: see `otto_hooks_fuzz::targets::daemon_bodies`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| otto_hooks_fuzz::targets::daemon_bodies(data));
