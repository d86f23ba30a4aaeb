//! Fuzz target: see `gate::fuzzing::config`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gate::fuzzing::config(data));
