//! Fuzzed bytes as a command log: refused cleanly, or read, re-encoded and replayed.
//! The body is `coldstart::harness::fuzzing::log_decode_target`, shared with the corpus
//! replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| coldstart::harness::fuzzing::log_decode_target(bytes));
