//! Comparisons beyond one machine: `compare --emit-jobs DIR` writes one job
//! file per run (combination × seed), `coldstart run-job` runs one and
//! writes a result file, and `coldstart merge` reads the result files back
//! into the rows `compare` prints, byte for byte.
//!
//! Both files are JSON (pretty-printed, so a person can read them):
//!
//! - a **job** holds the comparison's [`GridHeader`], which run it is (the
//!   combination's number and axis values, the seed), and the scenario as a
//!   TOML table in JSON form: the scenario file's keys with every `--set`
//!   and the combination's values applied and the trace path made
//!   absolute. It depends on no other file, except the trace a trace
//!   scenario reads. Keys the table leaves out take the defaults of the
//!   coldstart that runs it, so a job runs only under the version that
//!   wrote it.
//! - a **result** holds the same header and run, and the run's report (the
//!   keys of `simulate --json`, in order).
//!
//! Results carry the header so `merge` can refuse a result of another
//! comparison, a duplicate, a run the grid does not have, or a missing one.

use coldstart::files;
use coldstart::scenario;
use coldstart::study::compare::{run_scenario, Fields};
use coldstart::study::grid::{Grid, GridHeader};
use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::Value;
use std::path::{Path, PathBuf};

/// The largest job file (`compare --emit-jobs`) read: a scenario table
/// with the grid's header.
const JOB_BYTES_MAX: u64 = 16 << 20;
/// The largest result file (`run-job`) read: a report and the grid header.
const RESULT_BYTES_MAX: u64 = 16 << 20;

pub const JOB_FORMAT: &str = "coldstart-job";
pub const RESULT_FORMAT: &str = "coldstart-result";
/// The version of both file formats.
pub const FORMAT_VERSION: u32 = 1;
/// The coldstart that writes and reads them.
pub const COLDSTART_VERSION: &str = env!("CARGO_PKG_VERSION");

/// One run of a comparison, to be run anywhere.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobFile {
    pub format: String,
    pub format_version: u32,
    pub coldstart_version: String,
    pub grid: GridHeader,
    /// The combination's number (row-major over the axes).
    pub combination: usize,
    /// Its axis values, in axis order (as `grid` gives them).
    pub labels: Vec<String>,
    pub seed: u64,
    /// Check every invariant after every step (slower; same results): as
    /// `compare --check` asked. A debug build of `run-job` checks anyway.
    pub check_invariants: bool,
    /// The scenario, fully overridden, as a TOML table.
    pub scenario: toml::Table,
}

/// One run's report.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResultFile {
    pub format: String,
    pub format_version: u32,
    pub coldstart_version: String,
    pub grid: GridHeader,
    pub combination: usize,
    pub labels: Vec<String>,
    pub seed: u64,
    pub report: Report,
}

/// A report's keys and values in their order (a JSON object whose key
/// order is kept both ways; `serde_json`'s own map sorts keys).
#[derive(Clone, Debug, PartialEq)]
pub struct Report(pub Fields);

impl Serialize for Report {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (key, value) in &self.0 {
            map.serialize_entry(key, value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Report {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Ordered;
        impl<'de> Visitor<'de> for Ordered {
            type Value = Report;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                write!(f, "a report object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Report, A::Error> {
                let mut fields = Vec::new();
                while let Some((key, value)) = map.next_entry::<String, Value>()? {
                    fields.push((key, value));
                }
                Ok(Report(fields))
            }
        }
        deserializer.deserialize_map(Ordered)
    }
}

/// Why a job, a result or a merge failed: the file concerned (if any) and
/// the problem, in one line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileError {
    pub path: Option<PathBuf>,
    pub problem: String,
}

impl std::fmt::Display for FileError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.path {
            Some(path) => write!(f, "{}: {}", path.display(), self.problem),
            None => write!(f, "{}", self.problem),
        }
    }
}

impl std::error::Error for FileError {}

fn file_error(path: &Path, problem: impl std::fmt::Display) -> FileError {
    FileError {
        path: Some(path.to_path_buf()),
        problem: problem.to_string(),
    }
}

/// `job-0007.json`: the run's number, zero-padded to at least four digits
/// and to the width of the largest, so names sort in run order.
pub fn job_file_name(run: usize, runs: usize) -> String {
    let width = runs.saturating_sub(1).to_string().len().max(4);
    format!("job-{run:0width$}.json")
}

/// Writes `text` to `path` through a temporary file and a rename, so a
/// reader never sees half a file.
fn write_atomically(path: &Path, text: &str) -> Result<(), FileError> {
    let mut temporary = path.as_os_str().to_owned();
    temporary.push(".partial");
    let temporary = PathBuf::from(temporary);
    std::fs::write(&temporary, text)
        .and_then(|()| std::fs::rename(&temporary, path))
        .map_err(|error| {
            let _ = std::fs::remove_file(&temporary);
            file_error(path, error)
        })
}

/// Writes one job file per run of `grid` into `directory` (created if
/// missing; it must be empty, so no job of an earlier grid stays beside
/// the new ones). Returns the file names, in run order.
pub fn emit_jobs(
    grid: &Grid,
    check_invariants: bool,
    directory: &Path,
) -> Result<Vec<String>, FileError> {
    std::fs::create_dir_all(directory).map_err(|error| file_error(directory, error))?;
    let mut entries = std::fs::read_dir(directory).map_err(|error| file_error(directory, error))?;
    if entries.next().is_some() {
        return Err(file_error(
            directory,
            "not empty; --emit-jobs writes into a new or empty directory",
        ));
    }
    let header = &grid.header;
    let seeds = header.seeds.len();
    let runs = header.runs();
    let mut names = Vec::with_capacity(runs);
    for run in 0..runs {
        let combination = run / seeds;
        let job = JobFile {
            format: JOB_FORMAT.into(),
            format_version: FORMAT_VERSION,
            coldstart_version: COLDSTART_VERSION.into(),
            grid: header.clone(),
            combination,
            labels: header.labels(combination),
            seed: header.seeds[run % seeds],
            check_invariants,
            scenario: grid
                .table(combination)
                .map_err(|error| file_error(directory, error))?,
        };
        let name = job_file_name(run, runs);
        let text = serde_json::to_string_pretty(&job)
            .map_err(|error| file_error(directory, error))?
            + "\n";
        write_atomically(&directory.join(&name), &text)?;
        names.push(name);
    }
    Ok(names)
}

/// Checks a file's format, format version and coldstart version.
fn check_format(
    path: &Path,
    format: &str,
    expected: &str,
    format_version: u32,
    coldstart_version: &str,
) -> Result<(), FileError> {
    if format != expected {
        return Err(file_error(
            path,
            format!("is a `{format}` file, not a `{expected}` file"),
        ));
    }
    if format_version != FORMAT_VERSION {
        return Err(file_error(
            path,
            format!(
                "format version {format_version}; this coldstart reads version {FORMAT_VERSION}"
            ),
        ));
    }
    if coldstart_version != COLDSTART_VERSION {
        return Err(file_error(
            path,
            format!(
                "written by coldstart {coldstart_version}; this is coldstart \
                 {COLDSTART_VERSION}, whose defaults and model may differ"
            ),
        ));
    }
    Ok(())
}

/// Checks that `combination`, `labels` and `seed` name a run of `grid`.
fn check_run(
    path: &Path,
    grid: &GridHeader,
    combination: usize,
    labels: &[String],
    seed: u64,
) -> Result<usize, FileError> {
    if combination >= grid.combinations() {
        return Err(file_error(
            path,
            format!(
                "combination {combination}, but its grid has {}",
                grid.combinations()
            ),
        ));
    }
    if labels != grid.labels(combination) {
        return Err(file_error(
            path,
            format!(
                "labels {labels:?} are not those of combination {combination} ({})",
                grid.describe(combination)
            ),
        ));
    }
    let seed_index =
        grid.seeds.iter().position(|&s| s == seed).ok_or_else(|| {
            file_error(path, format!("seed {seed} is not one of its grid's seeds"))
        })?;
    Ok(combination * grid.seeds.len() + seed_index)
}

/// Just the `format` field, to tell a job from a result before reading the
/// rest.
#[derive(Deserialize)]
struct FormatOnly {
    format: Option<String>,
}

/// Reads a `format` file as `T`; a file of the other format is named as
/// such rather than by its first unknown field.
fn read_json<T: serde::de::DeserializeOwned>(path: &Path, format: &str) -> Result<T, FileError> {
    let bytes_max = if format == JOB_FORMAT {
        JOB_BYTES_MAX
    } else {
        RESULT_BYTES_MAX
    };
    let text = files::read_text(path, bytes_max).map_err(|problem| file_error(path, problem))?;
    if text.starts_with(files::BOM) {
        return Err(file_error(
            path,
            "begins with a UTF-8 byte order mark (BOM), which coldstart does not write: an editor saved it; remove those 3 bytes",
        ));
    }
    let what = format.trim_start_matches("coldstart-");
    if let Ok(FormatOnly {
        format: Some(found),
    }) = serde_json::from_str(&text)
    {
        if found != format {
            return Err(file_error(
                path,
                format!("is a `{found}` file, not a `{format}` file"),
            ));
        }
    }
    serde_json::from_str(&text).map_err(|error| {
        let problem = files::echo_up_to(&error.to_string(), files::MESSAGE_CHARS_MAX);
        file_error(path, format!("not a coldstart {what} file: {problem}"))
    })
}

/// Reads and checks a job file.
pub fn read_job(path: &Path) -> Result<JobFile, FileError> {
    let job: JobFile = read_json(path, JOB_FORMAT)?;
    check_format(
        path,
        &job.format,
        JOB_FORMAT,
        job.format_version,
        &job.coldstart_version,
    )?;
    job.grid
        .check()
        .map_err(|problem| file_error(path, problem))?;
    check_run(path, &job.grid, job.combination, &job.labels, job.seed)?;
    job.grid
        .check_table(job.combination, &job.scenario)
        .map_err(|problem| file_error(path, problem))?;
    Ok(job)
}

/// The files a job's scenario reads (its traces), for the check that no
/// output overwrites them; none if the scenario does not resolve (running
/// it then fails with the reason).
pub fn job_input_paths(job: &JobFile) -> Vec<PathBuf> {
    scenario::from_table(
        job.scenario.clone(),
        &job.grid.scenario,
        Path::new("."),
        Some(job.seed),
    )
    .map(|scenario| scenario.workload.input_paths())
    .unwrap_or_default()
}

/// Runs a job: the result file's contents. A scenario the job holds that
/// does not resolve, or a run that fails, is an error naming the job.
pub fn run_job(path: &Path, job: JobFile) -> Result<ResultFile, FileError> {
    let scenario = scenario::from_table(
        job.scenario,
        &job.grid.scenario,
        Path::new("."),
        Some(job.seed),
    )
    .map_err(|error| file_error(path, format!("scenario: {error}")))?;
    let check_invariants = job.check_invariants || cfg!(debug_assertions);
    let fields = run_scenario(&scenario, check_invariants)
        .map_err(|error| file_error(path, format!("the run failed: {error}")))?;
    Ok(ResultFile {
        format: RESULT_FORMAT.into(),
        format_version: FORMAT_VERSION,
        coldstart_version: COLDSTART_VERSION.into(),
        grid: job.grid,
        combination: job.combination,
        labels: job.labels,
        seed: job.seed,
        report: Report(fields),
    })
}

/// A result file's text (pretty JSON).
pub fn result_text(result: &ResultFile) -> String {
    serde_json::to_string_pretty(result).expect("a result serializes: its map keys are strings")
        + "\n"
}

/// Writes a result file, creating its directory if missing (many jobs may
/// do so at once: creating an existing directory is not an error).
pub fn write_result(path: &Path, result: &ResultFile) -> Result<(), FileError> {
    if let Some(directory) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(directory).map_err(|error| file_error(directory, error))?;
    }
    write_atomically(path, &result_text(result))
}

/// The result files named by `paths`: a file as is, a directory's `*.json`
/// files in name order (not recursive).
pub fn result_paths(paths: &[PathBuf]) -> Result<Vec<PathBuf>, FileError> {
    let mut files = Vec::new();
    for path in paths {
        if path.is_dir() {
            let mut inside: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(|error| file_error(path, error))?
                .filter_map(|entry| entry.ok().map(|entry| entry.path()))
                .filter(|file| file.extension().is_some_and(|e| e == "json") && file.is_file())
                .collect();
            if inside.is_empty() {
                return Err(file_error(path, "a directory without .json result files"));
            }
            inside.sort();
            files.extend(inside);
        } else {
            files.push(path.clone());
        }
    }
    Ok(files)
}

/// Reads result files back into a comparison: its header and the reports
/// in run order. Every file must belong to the same comparison, and every
/// run of it must be there exactly once.
pub fn merge(files: &[PathBuf]) -> Result<(GridHeader, Vec<Fields>), FileError> {
    let Some(first_path) = files.first() else {
        return Err(FileError {
            path: None,
            problem: "no result files to merge".into(),
        });
    };
    let mut header: Option<GridHeader> = None;
    let mut runs: Vec<Option<(Fields, &Path)>> = Vec::new();
    for path in files {
        let result: ResultFile = read_json(path, RESULT_FORMAT)?;
        check_format(
            path,
            &result.format,
            RESULT_FORMAT,
            result.format_version,
            &result.coldstart_version,
        )?;
        // Each file's grid, before the first one sizes the table of runs
        // and before another is compared with it.
        result
            .grid
            .check()
            .map_err(|problem| file_error(path, problem))?;
        if header.is_none() {
            runs = vec![None; result.grid.runs()];
            header = Some(result.grid.clone());
        }
        let header = header.as_ref().expect("set above");
        if result.grid != *header {
            return Err(file_error(
                path,
                format!(
                    "belongs to another comparison than {} (grid {} of {}, not {} of {})",
                    first_path.display(),
                    result.grid.fingerprint,
                    result.grid.scenario,
                    header.fingerprint,
                    header.scenario
                ),
            ));
        }
        let run = check_run(
            path,
            header,
            result.combination,
            &result.labels,
            result.seed,
        )?;
        coldstart::report::check_report(&result.report.0)
            .map_err(|problem| file_error(path, problem))?;
        if let Some((_, earlier)) = &runs[run] {
            return Err(file_error(
                path,
                format!(
                    "a second result of {}, seed {} (the first: {})",
                    header.describe(result.combination),
                    result.seed,
                    earlier.display()
                ),
            ));
        }
        runs[run] = Some((result.report.0, path));
    }
    let header = header.expect("at least one file was read");
    let missing: Vec<usize> = (0..runs.len()).filter(|&run| runs[run].is_none()).collect();
    if let Some(&run) = missing.first() {
        let seeds = header.seeds.len();
        return Err(FileError {
            path: None,
            problem: format!(
                "{} of {} results missing, the first: {}, seed {} ({})",
                missing.len(),
                runs.len(),
                header.describe(run / seeds),
                header.seeds[run % seeds],
                job_file_name(run, runs.len())
            ),
        });
    }
    let runs = runs
        .into_iter()
        .map(|run| run.expect("checked: none missing").0)
        .collect();
    Ok((header, runs))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn job_names_sort_in_run_order() {
        assert_eq!(job_file_name(7, 18), "job-0007.json");
        assert_eq!(job_file_name(0, 10_000), "job-0000.json");
        assert_eq!(job_file_name(12_345, 20_000), "job-12345.json");
        assert_eq!(job_file_name(3, 100_001), "job-000003.json");
    }

    #[test]
    fn a_report_keeps_its_key_order_and_exact_floats() {
        let report = Report(vec![
            ("zeta".into(), Value::from(1_u64)),
            ("alpha".into(), Value::from(0.1 + 0.2)),
            ("mid".into(), Value::from(2.0_f64 / 3.0)),
            ("none".into(), Value::Null),
            ("digest".into(), Value::from("00ff")),
        ]);
        let text = serde_json::to_string(&report).unwrap();
        assert_eq!(
            text,
            r#"{"zeta":1,"alpha":0.30000000000000004,"mid":0.6666666666666666,"none":null,"digest":"00ff"}"#
        );
        let back: Report = serde_json::from_str(&text).unwrap();
        assert_eq!(back, report);
        assert_eq!(back.0[2].1.as_f64(), Some(2.0 / 3.0));
    }

    fn header(values: usize, seeds: usize) -> GridHeader {
        GridHeader {
            scenario: "s".into(),
            axes: vec![coldstart::study::grid::Axis {
                name: "a".into(),
                key: "a".into(),
                values: (0..values).map(|v| v.to_string()).collect(),
            }],
            seeds: (0..seeds as u64).collect(),
            fingerprint: "0123456789abcdef".into(),
        }
    }

    /// A report of the right keys, zero everywhere but its first key
    /// (`invocations`), which holds `seed`.
    fn report_of(seed: u64) -> Report {
        let mut fields: Fields = coldstart::report::keys()
            .into_iter()
            .map(|key| {
                let value = match key {
                    "events_digest" => Value::from("0000000000000000"),
                    _ => Value::from(0),
                };
                (key.to_string(), value)
            })
            .collect();
        fields[0].1 = Value::from(seed);
        Report(fields)
    }

    fn result(grid: GridHeader, combination: usize, seed: u64) -> ResultFile {
        ResultFile {
            format: RESULT_FORMAT.into(),
            format_version: FORMAT_VERSION,
            coldstart_version: COLDSTART_VERSION.into(),
            labels: grid.labels(combination),
            grid,
            combination,
            seed,
            report: report_of(seed),
        }
    }

    /// Writes results into a fresh directory and merges them.
    fn merge_of(name: &str, results: &[ResultFile]) -> Result<Vec<Fields>, String> {
        let directory =
            std::env::temp_dir().join(format!("coldstart-jobs-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&directory);
        let files: Vec<PathBuf> = results
            .iter()
            .enumerate()
            .map(|(index, result)| {
                let path = directory.join(format!("r{index}.json"));
                write_result(&path, result).unwrap();
                path
            })
            .collect();
        let merged = merge(&files).map(|(_, runs)| runs);
        let _ = std::fs::remove_dir_all(&directory);
        merged.map_err(|error| {
            let text = error.to_string();
            // Drop the directory: the file's own name is enough to check.
            text.rsplit_once('/')
                .map_or(text.clone(), |(_, file)| file.to_string())
        })
    }

    #[test]
    fn merge_orders_runs_and_refuses_bad_sets() {
        let grid = header(2, 2);
        let runs = merge_of(
            "order",
            &[
                result(grid.clone(), 1, 1),
                result(grid.clone(), 0, 0),
                result(grid.clone(), 1, 0),
                result(grid.clone(), 0, 1),
            ],
        )
        .unwrap();
        let seeds: Vec<&Value> = runs.iter().map(|run| &run[0].1).collect();
        assert_eq!(
            seeds,
            [
                &Value::from(0),
                &Value::from(1),
                &Value::from(0),
                &Value::from(1)
            ]
        );
        assert_eq!(
            merge_of("missing", &[result(grid.clone(), 0, 0)]).unwrap_err(),
            "3 of 4 results missing, the first: a=0, seed 1 (job-0001.json)"
        );
        let mut wrong_labels = result(grid.clone(), 1, 0);
        wrong_labels.labels = vec!["0".into()];
        assert_eq!(
            merge_of("labels", &[wrong_labels]).unwrap_err(),
            "r0.json: labels [\"0\"] are not those of combination 1 (a=1)"
        );
        assert_eq!(
            merge_of("seed", &[result(grid.clone(), 1, 9)]).unwrap_err(),
            "r0.json: seed 9 is not one of its grid's seeds"
        );
        // A file claiming an enormous grid is refused before any table of
        // that size is made; an empty one has no run to be.
        let mut huge = header(1 << 11, 1 << 10);
        let mut other = huge.axes[0].clone();
        other.name = "b".into();
        other.key = "b".into();
        huge.axes.push(other);
        assert!(merge_of("huge", &[result(huge, 0, 0)])
            .unwrap_err()
            .ends_with("its grid claims more than 1000000 runs"));
        let mut empty = result(header(0, 1), 0, 0);
        empty.labels = Vec::new();
        assert_eq!(
            merge_of("empty", &[empty]).unwrap_err(),
            "r0.json: grid.axes[0] (a) has fewer than 2 values"
        );
    }
}
