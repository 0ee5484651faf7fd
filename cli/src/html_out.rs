//! `--html FILE`: the report's collector for `simulate` and `replay`, and
//! writing the file, refused when it would overwrite one of the run's own
//! inputs (or another of its outputs).

use coldstart::html::Collector;
use coldstart::log::{LogReader, Record};
use coldstart::scenario::{Scenario, WorkloadSource};
use std::path::{Path, PathBuf};

/// The path as the file system names it: the file itself if it exists,
/// else its (existing) folder's with its name, so that `./a.html` and
/// `a.html` compare equal.
fn resolved(path: &Path) -> PathBuf {
    if let Ok(path) = path.canonicalize() {
        return path;
    }
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    match (parent.canonicalize(), path.file_name()) {
        (Ok(parent), Some(name)) => parent.join(name),
        _ => path.to_path_buf(),
    }
}

/// Refuses an `--html` path that names one of `others` (the run's inputs
/// and its other outputs).
pub fn check_output(html: &Path, others: &[&Path]) -> Result<(), String> {
    let target = resolved(html);
    for other in others {
        if resolved(other) == target {
            return Err(format!(
                "--html would overwrite {}, which the run also uses",
                other.display()
            ));
        }
    }
    Ok(())
}

/// A scenario's own files: the file itself and its trace's.
pub fn scenario_inputs(path: Option<&Path>, scenario: &Scenario) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = path.map(Path::to_path_buf).into_iter().collect();
    match &scenario.workload {
        WorkloadSource::Synthetic(_) => {}
        WorkloadSource::Trace(spec) => paths.push(spec.path.clone()),
        WorkloadSource::Azure2019(spec) => {
            paths.push(spec.invocations_path.clone());
            paths.push(spec.durations_path.clone());
            paths.extend(spec.memory_path.clone());
        }
    }
    paths
}

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
