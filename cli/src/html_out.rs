//! `--html FILE`: the report's collector for `simulate` and `replay`, and
//! writing the file. That it never overwrites one of the run's inputs or
//! another of its outputs is checked with the others, in `outputs.rs`.

use coldstart::html::Collector;
use coldstart::log::{LogReader, Record};
use coldstart::scenario::Scenario;
use std::path::Path;

/// A collector for a simulation: it learns the functions' sizes from the
/// registrations at the head of the scenario's input stream. It keeps the
/// summary's latencies too (`Collector::with_latencies`): with `--html`
/// the run's events go to it alone, and the latencies are taken from it.
pub fn simulate_collector(scenario: &Scenario) -> Result<Collector, String> {
    let mut collector = Collector::new(&scenario.config).with_latencies();
    collector.learn_functions(scenario.inputs()?);
    Ok(collector)
}

/// A collector for a replay: the registrations come from the log's head.
/// It keeps the summary's latencies too, as for a simulation.
pub fn replay_collector(log: &Path) -> Result<Collector, String> {
    let mut reader = LogReader::open(log).map_err(|error| error.to_string())?;
    let mut collector = Collector::new(&reader.header().config).with_latencies();
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
