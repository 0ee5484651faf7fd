//! Core against the reference model on a fuzzed configuration and op sequence.
//! The body is `coldstart::harness::fuzzing::step_target`, shared with the corpus
//! replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| coldstart::harness::fuzzing::step_target(bytes));
