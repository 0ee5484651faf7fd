//! Fuzzed text as a scenario file (and its first line as a `--set`): refused
//! with an error, or parsed into a valid configuration and workload. The body
//! is `coldstart::harness::fuzzing::scenario_parse_target`, shared with the corpus
//! replay test.
#![no_main]

libfuzzer_sys::fuzz_target!(|bytes: &[u8]| coldstart::harness::fuzzing::scenario_parse_target(bytes));
