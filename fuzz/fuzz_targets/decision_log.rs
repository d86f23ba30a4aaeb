//! Fuzz target: see `gate::fuzzing::decision_log`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| gate::fuzzing::decision_log(data));
