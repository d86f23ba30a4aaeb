//! Fuzz target: see `gate::fuzzing::policy_bytes`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gate::fuzzing::policy_bytes(data));
