//! A policy answering from fuzzed bytes, impossible host choices included.
//! The body is `coldstart::harness::fuzzing::policy_chaos_target`, shared with the corpus
//! replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| coldstart::harness::fuzzing::policy_chaos_target(bytes));
