//! Import of the Azure Functions 2021 invocation trace: a CSV with the
//! header `app,func,end_timestamp,duration`, times in seconds (floats), one
//! row per invocation, `start = end_timestamp − duration`.
//!
//! The file is read twice, line by line, never whole:
//!
//! 1. [`TraceIndex::scan`] checks every line and collects the distinct apps
//!    and `(app, func)` pairs (memory: the names, bounded by
//!    [`FUNCTIONS_MAX`]) and the earliest start.
//! 2. [`TraceInputs`] streams the inputs: one `RegisterImage` per app, one
//!    `RegisterFunction` per pair (both at time 0, in name order, so ids do
//!    not depend on row order), then one `Invoke` per row in start order.
//!
//! **Order.** Rows are not sorted by end time (the published slice happens
//! to be sorted by start). Invocations are put in start order through a
//! reorder window: a min-heap of rows (about 40 bytes each); once it holds
//! more than `reorder_window_rows`, the earliest row is issued. So a row may
//! come up to `reorder_window_rows` rows after rows that start later than it.
//! A row further out of place starts before an invocation already issued:
//! the import stops with the row's line number, and the user raises the
//! window or sorts the file. With a window at least as long
//! as the file this is a full in-memory sort; the default (one million rows,
//! about 40 MB) holds the shared slice many times over.
//!
//! **Times.** Seconds are converted to microseconds, each rounded to the
//! nearest: `start_us = round(end × 10⁶) − round(duration × 10⁶)`. A start
//! before 0 (a call that began before the trace window) shifts the whole
//! trace so that the earliest start is at 0; otherwise times are the trace's.
//! Ties in start time are issued in line order.
//!
//! **Zero durations.** The trace records durations in milliseconds; `0.0`
//! means "under a millisecond". Such a row is kept and runs for 0 µs: the
//! invocation still pays its start overhead, and billing rounds it up to
//! Lambda's minimum of 1 ms.
//!
//! **Mapping.** Each app gets one image of `image_size_bytes` (an app is
//! Azure's unit of deployment; its functions share code); each `(app, func)`
//! pair is one function with the scenario's memory, scratch and time limit.
//! An invocation's code succeeds after running for the row's duration (no
//! clone or build phase), with its line number as output, and no request or
//! response bytes. A duration beyond the time limit times out.
//!
//! Malformed lines give the file, the line number (1-based, the header is
//! line 1) and the reason. Empty lines are skipped; a line longer than
//! [`TRACE_LINE_BYTES_MAX`] is refused (so is a path that is not a regular
//! file), and a UTF-8 byte order mark before the header is skipped.

use crate::files::{self, TRACE_LINE_BYTES_MAX};
use crate::input::{Code, Command, Input, Outcome};
use crate::{FunctionId, ImageId};
use coldstart_core::FunctionDef;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};

/// The header line a 2021 trace file begins with.
pub const HEADER: &str = "app,func,end_timestamp,duration";

/// The most `(app, func)` pairs a trace may hold (the full 2021 trace has
/// 424), which bounds the names kept in memory.
pub const FUNCTIONS_MAX: usize = 1 << 16;

/// The default reorder window, in rows.
pub const REORDER_WINDOW_ROWS_DEFAULT: u64 = 1_000_000;

/// The latest end time accepted, in seconds (about 31 years): far beyond a
/// real trace, and small enough that every time fits the core's limits.
pub const SECONDS_MAX: f64 = 1e9;

/// The image each trace app gets unless given: 250 MiB.
pub const TRACE_IMAGE_BYTES_DEFAULT: u64 = 250 * crate::MIB;

/// What the importer needs besides the file. `#[non_exhaustive]`: build it
/// with [`TraceSpec::new`] and the `with_*` methods, one for every field.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct TraceSpec {
    /// The trace file.
    pub path: PathBuf,
    /// The size of each app's image.
    pub image_size_bytes: u64,
    /// Each function's memory.
    pub memory_bytes: u64,
    /// Each function's scratch disk.
    pub scratch_bytes: u64,
    /// Each function's time limit (µs); a row that runs longer times out.
    pub time_limit_us: u64,
    /// How many rows the reorder window holds (see the module's docs): a
    /// row more out of place than this stops the import.
    pub reorder_window_rows: u64,
    /// Issue at most this many invocations (the earliest), if given.
    pub invocations_max: Option<u64>,
}

impl TraceSpec {
    /// The trace at `path`, with a scenario's defaults for the rest:
    /// [`TRACE_IMAGE_BYTES_DEFAULT`] images, functions of
    /// [`crate::workload::FUNCTION_MEMORY_DEFAULT`],
    /// [`crate::workload::FUNCTION_SCRATCH_DEFAULT`] and
    /// [`crate::workload::FUNCTION_TIME_LIMIT_US_DEFAULT`], a window of
    /// [`REORDER_WINDOW_ROWS_DEFAULT`] rows, every row issued.
    pub fn new(path: impl Into<PathBuf>) -> TraceSpec {
        TraceSpec {
            path: path.into(),
            image_size_bytes: TRACE_IMAGE_BYTES_DEFAULT,
            memory_bytes: crate::workload::FUNCTION_MEMORY_DEFAULT,
            scratch_bytes: crate::workload::FUNCTION_SCRATCH_DEFAULT,
            time_limit_us: crate::workload::FUNCTION_TIME_LIMIT_US_DEFAULT,
            reorder_window_rows: REORDER_WINDOW_ROWS_DEFAULT,
            invocations_max: None,
        }
    }

    /// This trace file, in place of what there was.
    pub fn with_path(mut self, path: PathBuf) -> TraceSpec {
        self.path = path;
        self
    }

    /// This image size for every app (bytes), in place of what there was.
    pub fn with_image_size_bytes(mut self, image_size_bytes: u64) -> TraceSpec {
        self.image_size_bytes = image_size_bytes;
        self
    }

    /// This memory for every function (bytes), in place of what there was.
    pub fn with_memory_bytes(mut self, memory_bytes: u64) -> TraceSpec {
        self.memory_bytes = memory_bytes;
        self
    }

    /// This scratch disk for every function (bytes), in place of what there was.
    pub fn with_scratch_bytes(mut self, scratch_bytes: u64) -> TraceSpec {
        self.scratch_bytes = scratch_bytes;
        self
    }

    /// This time limit for every function (µs), in place of what there was.
    pub fn with_time_limit_us(mut self, time_limit_us: u64) -> TraceSpec {
        self.time_limit_us = time_limit_us;
        self
    }

    /// This reorder window (rows), in place of what there was.
    pub fn with_reorder_window_rows(mut self, reorder_window_rows: u64) -> TraceSpec {
        self.reorder_window_rows = reorder_window_rows;
        self
    }

    /// This cap on invocations (`None`: every row), in place of what there was.
    pub fn with_invocations_max(mut self, invocations_max: Option<u64>) -> TraceSpec {
        self.invocations_max = invocations_max;
        self
    }
}

/// Why a trace cannot be read: the file, the line and the reason, which
/// its `Display` prints as `path:line: reason`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceError {
    /// The trace file.
    pub path: PathBuf,
    /// 1-based; `None` for an error about the whole file (cannot open it).
    pub line: Option<u64>,
    /// What is wrong, in words.
    pub reason: String,
}

impl std::fmt::Display for TraceError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}: {}", self.path.display(), self.reason),
            None => write!(f, "{}: {}", self.path.display(), self.reason),
        }
    }
}

impl std::error::Error for TraceError {}

/// One row, parsed.
#[derive(Clone, Debug, PartialEq)]
pub struct Row<'a> {
    /// The app's name (hash).
    pub app: &'a str,
    /// The function's name (hash), within its app.
    pub func: &'a str,
    /// `round(end × 10⁶) − round(duration × 10⁶)`; may be negative.
    pub start_us: i64,
    /// How long it ran, in µs (rounded to the nearest).
    pub duration_us: u64,
}

fn seconds_to_us(field: &str, name: &str) -> Result<i64, String> {
    let seconds: f64 = field
        .trim()
        .parse()
        .map_err(|_| format!("{name} `{}` is not a number", crate::files::echo(field)))?;
    if !seconds.is_finite() {
        return Err(format!(
            "{name} `{}` is not finite",
            crate::files::echo(field)
        ));
    }
    if seconds < 0.0 {
        return Err(format!(
            "{name} `{}` is negative",
            crate::files::echo(field)
        ));
    }
    if seconds > SECONDS_MAX {
        return Err(format!(
            "{name} `{}` is above {SECONDS_MAX:e} s",
            crate::files::echo(field)
        ));
    }
    Ok((seconds * 1e6).round() as i64)
}

/// Parses a data line (without its line ending).
pub fn parse_row(line: &str) -> Result<Row<'_>, String> {
    let fields: Vec<&str> = line.split(',').collect();
    let [app, func, end, duration] = fields[..] else {
        return Err(format!(
            "expected 4 comma-separated fields ({HEADER}), found {}",
            fields.len()
        ));
    };
    if app.is_empty() || func.is_empty() {
        return Err("empty app or func".to_string());
    }
    let end_us = seconds_to_us(end, "end_timestamp")?;
    let duration_us = seconds_to_us(duration, "duration")?;
    Ok(Row {
        app,
        func,
        start_us: end_us - duration_us,
        duration_us: duration_us as u64,
    })
}

/// Reads a file line by line, with line numbers, reusing one buffer; a
/// line longer than [`TRACE_LINE_BYTES_MAX`] is refused before it is kept.
pub(crate) struct Lines {
    path: PathBuf,
    reader: BufReader<File>,
    buffer: String,
    line: u64,
}

impl Lines {
    /// Opens the file; `check` judges its header (trimmed) and says why it
    /// is not the one expected, which `expected` names for an empty file.
    pub(crate) fn open(
        path: &Path,
        expected: &str,
        check: impl FnOnce(&str) -> Result<(), String>,
    ) -> Result<Lines, TraceError> {
        let file = files::open_regular(path).map_err(|problem| TraceError {
            path: path.to_path_buf(),
            line: None,
            reason: problem.to_string(),
        })?;
        let mut lines = Lines {
            path: path.to_path_buf(),
            reader: BufReader::new(file),
            buffer: String::new(),
            line: 0,
        };
        match lines.next_line()? {
            None => Err(lines.error(format!("the file is empty (expected {expected})"))),
            Some(header) => {
                // A byte order mark (an editor's) is skipped, not compared:
                // it is invisible in the message that would refuse it.
                let header = header.trim_start_matches(files::BOM).trim().to_string();
                check(&header).map_err(|reason| lines.error(reason))?;
                Ok(lines)
            }
        }
    }

    /// Opens a 2021 trace file and checks its header.
    fn open_trace(path: &Path) -> Result<Lines, TraceError> {
        Lines::open(path, &format!("`{HEADER}`"), exact_header(HEADER))
    }

    pub(crate) fn error(&self, reason: String) -> TraceError {
        TraceError {
            path: self.path.clone(),
            line: Some(self.line.max(1)),
            reason,
        }
    }

    /// The next line without its ending, `None` at the end of the file.
    pub(crate) fn next_line(&mut self) -> Result<Option<&str>, TraceError> {
        self.line += 1;
        if self.read_bounded()? == 0 {
            Ok(None)
        } else {
            Ok(Some(self.text()))
        }
    }

    /// Reads the next line into the buffer, bounded; returns the bytes read.
    fn read_bounded(&mut self) -> Result<usize, TraceError> {
        let mut bytes = std::mem::take(&mut self.buffer).into_bytes();
        let read = files::read_line_bounded(&mut self.reader, &mut bytes, TRACE_LINE_BYTES_MAX)
            .map_err(|problem| self.error(problem.to_string()))?;
        self.buffer = String::from_utf8(bytes).map_err(|_| self.error("not UTF-8".to_string()))?;
        Ok(read)
    }

    /// The next non-empty line, with its number.
    pub(crate) fn next_data(&mut self) -> Result<Option<(u64, &str)>, TraceError> {
        if !self.read_data()? {
            return Ok(None);
        }
        Ok(Some((self.line, self.text())))
    }

    /// Reads up to the next non-empty line into the buffer; false at the
    /// end of the file.
    fn read_data(&mut self) -> Result<bool, TraceError> {
        loop {
            self.line += 1;
            if self.read_bounded()? == 0 {
                return Ok(false);
            }
            if !self.text().is_empty() {
                return Ok(true);
            }
        }
    }

    /// The buffered line without its ending.
    fn text(&self) -> &str {
        self.buffer.trim_end_matches(['\n', '\r'])
    }

    /// The next non-empty data line, parsed.
    fn next_row(&mut self) -> Result<Option<(u64, Row<'_>)>, TraceError> {
        if !self.read_data()? {
            return Ok(None);
        }
        match parse_row(self.text()) {
            Ok(row) => Ok(Some((self.line, row))),
            Err(reason) => Err(self.error(reason)),
        }
    }
}

/// A header check that wants exactly `expected`.
pub(crate) fn exact_header(expected: &'static str) -> impl FnOnce(&str) -> Result<(), String> {
    move |header| {
        if header == expected {
            Ok(())
        } else {
            Err(format!(
                "the header is `{}`, expected `{expected}`",
                crate::files::echo(header)
            ))
        }
    }
}

/// What the first pass learns: the apps and functions, by name, and the
/// earliest start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceIndex {
    /// App name → (image index, func name → function index); indices in
    /// name order, so functions are numbered in `(app, func)` order.
    apps: BTreeMap<String, (u32, BTreeMap<String, u32>)>,
    functions: usize,
    /// The image index of each function, in function order.
    function_images: Vec<u32>,
    /// Rows in the file, the header and empty lines not counted.
    pub rows: u64,
    /// Subtracted from every start: `min(0, earliest start)`.
    pub origin_us: i64,
}

impl TraceIndex {
    /// Reads the whole file once, checking every line.
    pub fn scan(path: &Path) -> Result<TraceIndex, TraceError> {
        let mut lines = Lines::open_trace(path)?;
        let mut apps: BTreeMap<String, (u32, BTreeMap<String, u32>)> = BTreeMap::new();
        let (mut rows, mut origin_us, mut functions) = (0u64, 0i64, 0usize);
        while let Some((line, row)) = lines.next_row()? {
            rows += 1;
            origin_us = origin_us.min(row.start_us);
            let known = apps
                .get(row.app)
                .is_some_and(|(_, funcs)| funcs.contains_key(row.func));
            if !known {
                if functions >= FUNCTIONS_MAX {
                    return Err(TraceError {
                        path: path.to_path_buf(),
                        line: Some(line),
                        reason: format!("more than {FUNCTIONS_MAX} (app, func) pairs"),
                    });
                }
                functions += 1;
                let (app, func) = (row.app.to_string(), row.func.to_string());
                apps.entry(app).or_default().1.insert(func, 0);
            }
        }
        let mut function_index = 0u32;
        for (image_index, (image, funcs)) in apps.values_mut().enumerate() {
            *image = image_index as u32;
            for index in funcs.values_mut() {
                *index = function_index;
                function_index += 1;
            }
        }
        let function_images = apps
            .values()
            .flat_map(|(image, funcs)| std::iter::repeat_n(*image, funcs.len()))
            .collect();
        Ok(TraceIndex {
            apps,
            functions,
            function_images,
            rows,
            origin_us,
        })
    }

    /// How many distinct apps (so images) the trace has.
    pub fn apps(&self) -> usize {
        self.apps.len()
    }

    /// How many distinct `(app, func)` pairs (so functions) the trace has.
    pub fn functions(&self) -> usize {
        self.functions
    }

    /// The function index of a pair seen by the scan.
    fn function(&self, app: &str, func: &str) -> Option<u32> {
        self.apps.get(app)?.1.get(func).copied()
    }
}

/// A row waiting in the reorder window: ordered by start, then line.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Pending {
    start_us: i64,
    line: u64,
    function: u32,
    duration_us: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Stage {
    Registrations,
    Invocations,
    Done,
}

/// What an imported trace registers, before its invocations, all at time
/// 0: one image per app, then its functions in index order, each with its
/// app's image. Shared by the 2021 trace and the 2019 dataset.
#[derive(Clone, Debug)]
pub(crate) struct Registrations {
    apps: u64,
    /// Registrations issued so far: images, then functions.
    issued: u64,
    image_size_bytes: u64,
    scratch_bytes: u64,
    time_limit_us: u64,
}

impl Registrations {
    pub fn new(apps: u64, image_size_bytes: u64, scratch_bytes: u64, time_limit_us: u64) -> Self {
        Registrations {
            apps,
            issued: 0,
            image_size_bytes,
            scratch_bytes,
            time_limit_us,
        }
    }

    /// The next registration, or `None` after the last: `function(i)` is
    /// the `i`-th function's `(image index, memory_bytes)`, if it exists.
    pub fn next(&mut self, function: impl FnOnce(usize) -> Option<(u32, u64)>) -> Option<Input> {
        let command = if self.issued < self.apps {
            Command::RegisterImage {
                size_bytes: self.image_size_bytes,
            }
        } else {
            let (image, memory_bytes) = function((self.issued - self.apps) as usize)?;
            Command::RegisterFunction(
                FunctionDef::new(
                    ImageId::from_bits(u64::from(image)),
                    memory_bytes,
                    self.time_limit_us,
                )
                .with_scratch_bytes(self.scratch_bytes),
            )
        };
        self.issued += 1;
        Some(Input { at_us: 0, command })
    }
}

/// The trace's input stream (second pass). An error mid-stream (the file
/// changed since the scan, a row out of the window, an I/O error) ends the
/// stream; [`TraceInputs::error`] holds it, and the caller must check it
/// after the run.
pub struct TraceInputs {
    spec: TraceSpec,
    index: TraceIndex,
    lines: Option<Lines>,
    window: BinaryHeap<std::cmp::Reverse<Pending>>,
    stage: Stage,
    registrations: Registrations,
    issued: u64,
    last_start_us: i64,
    error: Option<TraceError>,
}

impl TraceInputs {
    /// Scans the file (first pass) and opens it again for the stream.
    pub fn open(spec: TraceSpec) -> Result<TraceInputs, TraceError> {
        let index = TraceIndex::scan(&spec.path)?;
        let lines = Lines::open_trace(&spec.path)?;
        let registrations = Registrations::new(
            index.apps.len() as u64,
            spec.image_size_bytes,
            spec.scratch_bytes,
            spec.time_limit_us,
        );
        Ok(TraceInputs {
            spec,
            index,
            lines: Some(lines),
            window: BinaryHeap::new(),
            stage: Stage::Registrations,
            registrations,
            issued: 0,
            last_start_us: i64::MIN,
            error: None,
        })
    }

    /// The index the first read built.
    pub fn index(&self) -> &TraceIndex {
        &self.index
    }

    /// The invocations the stream will issue (if it meets no error).
    pub fn invocations(&self) -> u64 {
        let rows = self.index.rows;
        self.spec.invocations_max.map_or(rows, |max| max.min(rows))
    }

    /// The error that ended the stream early, if any.
    pub fn error(&self) -> Option<&TraceError> {
        self.error.as_ref()
    }

    /// The error that ended the stream early, if any, taken out.
    pub fn take_error(&mut self) -> Option<TraceError> {
        self.error.take()
    }

    fn fail(&mut self, error: TraceError) -> Option<Input> {
        self.error = Some(error);
        self.stage = Stage::Done;
        self.lines = None;
        None
    }

    /// Fills the window until it holds more than `reorder_window_rows` rows
    /// or the file ends; then takes the earliest.
    fn next_pending(&mut self) -> Result<Option<Pending>, TraceError> {
        while let Some(lines) = &mut self.lines {
            if self.window.len() as u64 > self.spec.reorder_window_rows {
                break;
            }
            match lines.next_row()? {
                None => self.lines = None,
                Some((line, row)) => {
                    let function =
                        self.index
                            .function(row.app, row.func)
                            .ok_or_else(|| TraceError {
                                path: self.spec.path.clone(),
                                line: Some(line),
                                reason: "a pair the first pass did not see: the file changed"
                                    .to_string(),
                            })?;
                    self.window.push(std::cmp::Reverse(Pending {
                        start_us: row.start_us,
                        line,
                        function,
                        duration_us: row.duration_us,
                    }));
                }
            }
        }
        let Some(std::cmp::Reverse(pending)) = self.window.pop() else {
            return Ok(None);
        };
        if pending.start_us < self.last_start_us {
            return Err(TraceError {
                path: self.spec.path.clone(),
                line: Some(pending.line),
                reason: format!(
                    "the row starts at {} µs, before an invocation already issued at {} µs: \
                     rows are further out of order than the reorder window of {} rows \
                     (raise workload.trace.reorder_window_rows, or sort the file by start)",
                    pending.start_us, self.last_start_us, self.spec.reorder_window_rows
                ),
            });
        }
        self.last_start_us = pending.start_us;
        Ok(Some(pending))
    }

    fn next_invocation(&mut self) -> Option<Input> {
        if self
            .spec
            .invocations_max
            .is_some_and(|max| self.issued >= max)
        {
            self.stage = Stage::Done;
            self.lines = None;
            return None;
        }
        match self.next_pending() {
            Err(error) => self.fail(error),
            Ok(None) => {
                self.stage = Stage::Done;
                None
            }
            Ok(Some(pending)) => {
                self.issued += 1;
                let at_us = (pending.start_us - self.index.origin_us) as u64;
                Some(Input {
                    at_us,
                    command: Command::Invoke {
                        function: FunctionId::from_bits(u64::from(pending.function)),
                        code: Code {
                            clone_us: 0,
                            build_us: 0,
                            run_us: pending.duration_us,
                            outcome: Outcome::Success {
                                output: pending.line,
                            },
                        },
                        ingress_bytes: 0,
                        egress_bytes: 0,
                    },
                })
            }
        }
    }
}

impl Iterator for TraceInputs {
    type Item = Input;

    fn next(&mut self) -> Option<Input> {
        loop {
            match self.stage {
                Stage::Registrations => {
                    // Functions in (app, func) order, each with its app's
                    // image; all of the scenario's memory.
                    let (images, memory_bytes) =
                        (&self.index.function_images, self.spec.memory_bytes);
                    let function = |i: usize| images.get(i).map(|&image| (image, memory_bytes));
                    if let Some(input) = self.registrations.next(function) {
                        return Some(input);
                    }
                    self.stage = Stage::Invocations;
                }
                Stage::Invocations => return self.next_invocation(),
                Stage::Done => return None,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_with_start_from_end_minus_duration() {
        let row = parse_row("a,f,10.5,0.25").unwrap();
        assert_eq!((row.app, row.func), ("a", "f"));
        assert_eq!((row.start_us, row.duration_us), (10_250_000, 250_000));
        let row = parse_row("a,f,0.0799,0.078").unwrap();
        assert_eq!((row.start_us, row.duration_us), (1_900, 78_000));
        let row = parse_row("a,f,1,2").unwrap();
        assert_eq!(row.start_us, -1_000_000);
    }

    fn data(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data")
            .join(name)
    }

    fn spec(path: PathBuf, window: u64) -> TraceSpec {
        TraceSpec {
            path,
            image_size_bytes: 100 << 20,
            memory_bytes: 128 << 20,
            scratch_bytes: 256 << 20,
            time_limit_us: 60_000_000,
            reorder_window_rows: window,
            invocations_max: None,
        }
    }

    /// `(at_us, function, run_us)` of each invocation.
    fn invocations(inputs: &mut TraceInputs) -> Vec<(u64, u64, u64)> {
        inputs
            .filter_map(|input| match input.command {
                Command::Invoke { function, code, .. } => {
                    Some((input.at_us, function.to_bits(), code.run_us))
                }
                _ => None,
            })
            .collect()
    }

    /// A temporary file with `text`, unique to this process and name.
    fn temp_file(name: &str, text: &str) -> PathBuf {
        let path =
            std::env::temp_dir().join(format!("coldstart-trace-{}-{name}.csv", std::process::id()));
        std::fs::write(&path, text).unwrap();
        path
    }

    #[test]
    fn the_fixture_imports_to_exact_inputs() {
        let mut inputs = TraceInputs::open(spec(data("azure2021-fixture-30.csv"), 4)).unwrap();
        let index = inputs.index().clone();
        assert_eq!((index.apps(), index.functions(), index.rows), (2, 14, 29));
        assert_eq!(index.origin_us, 0);
        let registrations: Vec<Input> = inputs.by_ref().take(2 + 14).collect();
        assert!(registrations[..2].iter().all(|input| input.command
            == Command::RegisterImage {
                size_bytes: 100 << 20
            }));
        // App aaaaa's 13 functions use image 0; bbbbb's one function image 1.
        let images: Vec<u64> = registrations[2..]
            .iter()
            .map(|input| match input.command {
                Command::RegisterFunction(FunctionDef { image, .. }) => image.to_bits(),
                _ => panic!("{input:?}"),
            })
            .collect();
        assert_eq!(images, [vec![0; 13], vec![1]].concat());
        let invocations = invocations(&mut inputs);
        assert!(inputs.error().is_none());
        assert_eq!(invocations.len(), 29);
        // end 10 s, duration 9 s → start 1 s; end 11 s → start 2 s; …
        assert_eq!(invocations[0], (1_000_000, 0, 9_000_000));
        assert_eq!(invocations[1], (2_000_000, 1, 9_000_000));
        assert_eq!(invocations[2], (12_000_000, 2, 9_000_000));
        // bbbbb's one function: end 131.0 s … 132.5 s, every 0.1 s.
        assert_eq!(invocations[13], (122_000_000, 13, 9_000_000));
        assert_eq!(invocations[28], (123_500_000, 13, 9_000_000));
    }

    #[test]
    fn rows_out_of_order_are_sorted_within_the_window_and_refused_beyond() {
        // Starts 5, 1, 3, 0.5 s (end − duration) on lines 2 to 5.
        let text = "app,func,end_timestamp,duration\na,f,6,1\na,g,2,1\nb,f,3.5,0.5\n\na,f,0.5,0\n";
        let path = temp_file("unsorted", text);
        let mut inputs = TraceInputs::open(spec(path.clone(), 3)).unwrap();
        let starts: Vec<u64> = invocations(&mut inputs).iter().map(|i| i.0).collect();
        assert_eq!(starts, [500_000, 1_000_000, 3_000_000, 5_000_000]);
        assert!(inputs.error().is_none());
        // A window of one row: the row of line 6 (start 0.5 s) comes three
        // rows after one starting later, and 1 s and 3 s were issued.
        let mut inputs = TraceInputs::open(spec(path.clone(), 1)).unwrap();
        let issued = invocations(&mut inputs);
        let error = inputs.error().unwrap().to_string();
        assert_eq!(issued.len(), 2, "{issued:?}");
        assert!(
            error.contains("unsorted.csv:6: the row starts at 500000 µs, before an invocation already issued at 3000000 µs"),
            "{error}"
        );
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn early_starts_shift_the_trace_and_a_limit_takes_the_first() {
        let text = "app,func,end_timestamp,duration\na,f,1,3\na,f,2,0\n";
        let path = temp_file("early", text);
        let mut limited = spec(path.clone(), 10);
        limited.invocations_max = Some(1);
        let mut inputs = TraceInputs::open(spec(path.clone(), 10)).unwrap();
        assert_eq!(
            invocations(&mut inputs),
            [(0, 0, 3_000_000), (4_000_000, 0, 0)]
        );
        let mut inputs = TraceInputs::open(limited).unwrap();
        assert_eq!(inputs.invocations(), 1);
        assert_eq!(invocations(&mut inputs), [(0, 0, 3_000_000)]);
        std::fs::remove_file(path).unwrap();
    }

    #[test]
    fn bad_files_name_the_line() {
        for (name, text, expected) in [
            ("empty", "", ":1: the file is empty"),
            ("header", "a,b,c\n", ":1: the header is `a,b,c`"),
            (
                "row",
                "app,func,end_timestamp,duration\na,f,1,1\na,f,x,1\n",
                ":3: end_timestamp `x` is not a number",
            ),
        ] {
            let path = temp_file(name, text);
            let error = TraceInputs::open(spec(path.clone(), 10))
                .err()
                .unwrap()
                .to_string();
            assert!(
                error.ends_with(&format!("{name}.csv{expected}"))
                    || error.contains(&format!("{name}.csv{expected}")),
                "{error}"
            );
            std::fs::remove_file(path).unwrap();
        }
        let missing = TraceInputs::open(spec(data("no-such-file.csv"), 10))
            .err()
            .unwrap();
        assert_eq!(missing.line, None);
    }

    #[test]
    fn bad_rows_say_why() {
        for (line, reason) in [
            ("a,f,1", "expected 4 comma-separated fields"),
            ("a,f,1,2,3", "found 5"),
            (",f,1,2", "empty app"),
            ("a,f,x,2", "end_timestamp `x` is not a number"),
            ("a,f,1,-2", "duration `-2` is negative"),
            ("a,f,NaN,2", "not finite"),
            ("a,f,inf,2", "not finite"),
            ("a,f,1e12,2", "above"),
        ] {
            let error = parse_row(line).unwrap_err();
            assert!(error.contains(reason), "{line}: {error}");
        }
    }
}
