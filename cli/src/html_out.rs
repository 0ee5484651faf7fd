//! `--html FILE`: the report's collector for `simulate` and `replay`, and
//! writing the file. That it never overwrites one of the run's inputs or
//! another of its outputs is checked with the others, in `outputs.rs`.

use coldstart::html::Collector;
use coldstart::log::{LogReader, Record};
use coldstart::scenario::Scenario;
use std::path::Path;

/// A collector for a simulation: it learns the functions' sizes from the
/// registrations at the head of the scenario's input stream.
pub fn simulate_collector(scenario: &Scenario) -> Result<Collector, String> {
    let mut collector = Collector::new(&scenario.config);
    collector.learn_functions(scenario.inputs()?);
    Ok(collector)
}

/// A collector for a replay: the registrations come from the log's head.
pub fn replay_collector(log: &Path) -> Result<Collector, String> {
    let mut reader = LogReader::open(log).map_err(|error| error.to_string())?;
    let mut collector = Collector::new(&reader.header().config);
    while let Some(record) = reader.next_record().map_err(|error| error.to_string())? {
        match record {
            Record::Input(input) => {
                if matches!(input.command, coldstart::Command::Invoke { .. }) {
                    break;
                }
                collector.observe_input(&input);
            }
            Record::Check(_) => {}
            Record::Trailer(_) => break,
        }
    }
    Ok(collector)
}
