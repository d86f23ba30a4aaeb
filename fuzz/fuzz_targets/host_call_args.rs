//! Fuzz target: see `gate::fuzzing::host_call_args`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gate::fuzzing::host_call_args(data));
