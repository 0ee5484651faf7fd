//! Command logs: a header (format version, coldstart version, the provider's
//! configuration and built-in policies), the inputs in order, and an
//! optional trailer (step and event counts, the events digest, and periodic
//! checkpoints of it). Binary (`.cslog`) and JSON Lines (`.jsonl`) forms
//! carry the same content; docs/log-format.md is the reference.
//!
//! [`Recorder`] records while it drives; [`LogReader`] reads either form
//! (told apart by their first bytes); [`replay`] runs a log.

use crate::codec;
use crate::driver::{DriveError, Driver, DriverOptions, EventDigest, Fnv1a64};
use crate::input::{Command, Input};
use crate::{Builtin, Config, ConfigError, Event, Events, Provider};
use serde::{Deserialize, Serialize};
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// The first eight bytes of a binary log: a byte with the high bit set
/// (catches 7-bit channels), the name, and CR LF (catches newline
/// conversion).
pub const MAGIC: [u8; 8] = *b"\x89CSLOG\r\n";
/// The format version this build writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The `format` value of a JSON Lines log's header line.
pub const JSON_FORMAT_NAME: &str = "coldstart-log";
/// Steps between two checkpoints in the trailer.
pub const CHECKPOINT_INTERVAL_STEPS: u64 = 1_024;
/// The largest record payload a reader accepts (bytes).
pub const RECORD_BYTES_MAX: u32 = 1 << 28;

const TAG_HEADER: u8 = b'H';
const TAG_INPUT: u8 = b'I';
const TAG_TRAILER: u8 = b'T';

/// The version of this build of coldstart, as written in headers.
pub const COLDSTART_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a log starts from: a fresh provider built from these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LogHeader {
    /// The coldstart version that wrote the log (informative).
    pub coldstart_version: String,
    pub config: Config,
    pub policies: Builtin,
}

impl LogHeader {
    pub fn new(config: Config, policies: Builtin) -> LogHeader {
        LogHeader {
            coldstart_version: COLDSTART_VERSION.to_string(),
            config,
            policies,
        }
    }

    pub fn provider(&self) -> Result<Provider<Builtin>, ConfigError> {
        Provider::new(self.config.clone(), self.policies)
    }
}

/// The event count and digest after a number of steps.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub steps: u64,
    pub events: u64,
    #[serde(with = "hex_u64")]
    pub events_digest: u64,
}

/// What a recorded run produced, to verify a replay against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Trailer {
    /// Inputs in the log.
    pub steps: u64,
    pub events: u64,
    /// The driver's digest: FNV-1a 64 over the events as JSON Lines.
    #[serde(with = "hex_u64")]
    pub events_digest: u64,
    pub checkpoint_interval_steps: u64,
    /// After every `checkpoint_interval_steps` steps.
    pub checkpoints: Vec<Checkpoint>,
}

/// Digests as 16 hex digits, as the summary prints them.
mod hex_u64 {
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(value: &u64, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format!("{value:016x}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<u64, D::Error> {
        let text = String::deserialize(deserializer)?;
        if text.len() != 16 {
            return Err(serde::de::Error::custom(format!(
                "a digest is 16 hex digits, not {text:?}"
            )));
        }
        u64::from_str_radix(&text, 16).map_err(serde::de::Error::custom)
    }
}

/// The header line of a JSON Lines log.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHeader {
    format: String,
    format_version: u32,
    coldstart_version: String,
    config: Config,
    policies: Builtin,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTrailer {
    trailer: Trailer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Binary,
    JsonLines,
}

impl LogFormat {
    /// By file name: `.cslog` is binary, `.jsonl` JSON Lines.
    pub fn from_path(path: &Path) -> Result<LogFormat, LogError> {
        match path.extension().and_then(|e| e.to_str()) {
            Some("cslog") => Ok(LogFormat::Binary),
            Some("jsonl") => Ok(LogFormat::JsonLines),
            _ => Err(LogError::UnknownExtension),
        }
    }
}

/// Why a log could not be written or read. Messages name the problem and
/// where; the caller adds the file name.
#[derive(Debug)]
pub enum LogError {
    Io(std::io::Error),
    UnknownExtension,
    Empty,
    /// Neither the binary magic nor a JSON object.
    NotALog {
        first_bytes: Vec<u8>,
    },
    UnsupportedVersion {
        found: u32,
    },
    /// The file ends inside something.
    Truncated {
        what: String,
        offset: u64,
    },
    /// A record or line is malformed.
    Corrupt {
        what: String,
        problem: String,
    },
    /// The header's configuration is invalid.
    Config(ConfigError),
    Encode(String),
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Io(error) => write!(f, "{error}"),
            LogError::UnknownExtension => write!(
                f,
                "unknown log file extension (use .cslog for binary, .jsonl for JSON Lines)"
            ),
            LogError::Empty => write!(f, "empty file, not a coldstart log"),
            LogError::NotALog { first_bytes } => {
                write!(f, "not a coldstart log (wrong magic bytes:")?;
                for byte in first_bytes {
                    write!(f, " {byte:02x}")?;
                }
                write!(f, ")")
            }
            LogError::UnsupportedVersion { found } => write!(
                f,
                "log format version {found} is not supported (this coldstart {COLDSTART_VERSION} reads version {FORMAT_VERSION})"
            ),
            LogError::Truncated { what, offset } => {
                write!(f, "truncated: the file ends in {what} (at byte {offset})")
            }
            LogError::Corrupt { what, problem } => write!(f, "{what}: {problem}"),
            LogError::Config(error) => write!(f, "header: invalid configuration: {error}"),
            LogError::Encode(message) => write!(f, "cannot encode: {message}"),
        }
    }
}

impl std::error::Error for LogError {}

impl From<std::io::Error> for LogError {
    fn from(error: std::io::Error) -> Self {
        LogError::Io(error)
    }
}

/// Folds FNV-1a 64 of a record's tag, length and payload to 32 bits.
pub(crate) fn record_check(tag: u8, length: [u8; 4], payload: &[u8]) -> u32 {
    let mut hash = Fnv1a64::new();
    hash.update(&[tag]);
    hash.update(&length);
    hash.update(payload);
    let value = hash.value();
    (value as u32) ^ ((value >> 32) as u32)
}

/// Writes a log, binary or JSON Lines.
pub struct LogWriter<W: Write> {
    out: W,
    format: LogFormat,
    buffer: Vec<u8>,
}

impl LogWriter<BufWriter<std::fs::File>> {
    /// Creates `path`, its format chosen by extension.
    pub fn create(path: &Path, header: &LogHeader) -> Result<Self, LogError> {
        let format = LogFormat::from_path(path)?;
        let file = std::fs::File::create(path)?;
        LogWriter::new(BufWriter::new(file), format, header)
    }
}

impl<W: Write> LogWriter<W> {
    /// Writes the header (and, binary, the magic and version).
    pub fn new(out: W, format: LogFormat, header: &LogHeader) -> Result<Self, LogError> {
        let mut writer = LogWriter {
            out,
            format,
            buffer: Vec::new(),
        };
        match format {
            LogFormat::Binary => {
                writer.out.write_all(&MAGIC)?;
                writer.out.write_all(&FORMAT_VERSION.to_le_bytes())?;
                writer.record(TAG_HEADER, header)?;
            }
            LogFormat::JsonLines => {
                let json = JsonHeader {
                    format: JSON_FORMAT_NAME.to_string(),
                    format_version: FORMAT_VERSION,
                    coldstart_version: header.coldstart_version.clone(),
                    config: header.config.clone(),
                    policies: header.policies,
                };
                writer.line(&json)?;
            }
        }
        Ok(writer)
    }

    fn record<T: Serialize>(&mut self, tag: u8, value: &T) -> Result<(), LogError> {
        self.buffer.clear();
        codec::encode_into(value, &mut self.buffer)
            .map_err(|error| LogError::Encode(error.message))?;
        let length = u32::try_from(self.buffer.len())
            .ok()
            .filter(|&length| length <= RECORD_BYTES_MAX)
            .ok_or_else(|| LogError::Encode("a record is too large".to_string()))?
            .to_le_bytes();
        self.out.write_all(&[tag])?;
        self.out.write_all(&length)?;
        self.out.write_all(&self.buffer)?;
        self.out
            .write_all(&record_check(tag, length, &self.buffer).to_le_bytes())?;
        Ok(())
    }

    fn line<T: Serialize>(&mut self, value: &T) -> Result<(), LogError> {
        serde_json::to_writer(&mut self.out, value)
            .map_err(|error| LogError::Encode(error.to_string()))?;
        self.out.write_all(b"\n")?;
        Ok(())
    }

    pub fn write_input(&mut self, input: &Input) -> Result<(), LogError> {
        match self.format {
            LogFormat::Binary => self.record(TAG_INPUT, input),
            LogFormat::JsonLines => self.line(input),
        }
    }

    /// Writes the trailer, if any, flushes, and returns the writer.
    pub fn finish(mut self, trailer: Option<&Trailer>) -> Result<W, LogError> {
        if let Some(trailer) = trailer {
            match self.format {
                LogFormat::Binary => self.record(TAG_TRAILER, trailer)?,
                LogFormat::JsonLines => self.line(&JsonTrailer {
                    trailer: trailer.clone(),
                })?,
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// One record after the header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Record {
    Input(Input),
    Trailer(Trailer),
}

enum Source<R: BufRead> {
    Binary {
        reader: R,
        offset: u64,
        payload: Vec<u8>,
    },
    Json {
        reader: R,
        line_number: u64,
        line: String,
    },
}

/// Reads a log of either format, checking the version first.
pub struct LogReader<R: BufRead> {
    source: Source<R>,
    header: LogHeader,
    format: LogFormat,
    inputs_read: u64,
    trailer_seen: bool,
}

/// Reads until `buf` is full or the end; returns the bytes read.
fn read_up_to<R: Read>(reader: &mut R, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(error) if error.kind() == std::io::ErrorKind::Interrupted => {}
            Err(error) => return Err(error),
        }
    }
    Ok(filled)
}

impl LogReader<BufReader<std::fs::File>> {
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let file = std::fs::File::open(path)?;
        LogReader::new(BufReader::with_capacity(1 << 16, file))
    }
}

impl<R: BufRead> LogReader<R> {
    pub fn new(mut reader: R) -> Result<Self, LogError> {
        let first = reader.fill_buf()?;
        if first.is_empty() {
            return Err(LogError::Empty);
        }
        let is_json = first
            .iter()
            .find(|byte| !byte.is_ascii_whitespace())
            .is_some_and(|&byte| byte == b'{');
        if is_json {
            return LogReader::new_json(reader);
        }
        let mut magic = [0u8; 8];
        let got = read_up_to(&mut reader, &mut magic)?;
        if magic[..got] != MAGIC[..got] {
            return Err(LogError::NotALog {
                first_bytes: magic[..got].to_vec(),
            });
        }
        if got < MAGIC.len() {
            return Err(LogError::Truncated {
                what: "the magic bytes".to_string(),
                offset: got as u64,
            });
        }
        let mut version = [0u8; 4];
        let got = read_up_to(&mut reader, &mut version)?;
        if got < version.len() {
            return Err(LogError::Truncated {
                what: "the format version".to_string(),
                offset: (MAGIC.len() + got) as u64,
            });
        }
        let found = u32::from_le_bytes(version);
        if found != FORMAT_VERSION {
            return Err(LogError::UnsupportedVersion { found });
        }
        let mut source = Source::Binary {
            reader,
            offset: 12,
            payload: Vec::new(),
        };
        let header = match binary_record(&mut source, 0)? {
            Some((TAG_HEADER, payload)) => {
                codec::decode::<LogHeader>(payload).map_err(|error| LogError::Corrupt {
                    what: "header".to_string(),
                    problem: error.message,
                })?
            }
            Some((tag, _)) => {
                return Err(LogError::Corrupt {
                    what: "header".to_string(),
                    problem: format!("the first record has tag {tag:#04x}, not the header's"),
                })
            }
            None => {
                return Err(LogError::Truncated {
                    what: "the header".to_string(),
                    offset: 12,
                })
            }
        };
        Ok(LogReader {
            source,
            header,
            format: LogFormat::Binary,
            inputs_read: 0,
            trailer_seen: false,
        })
    }

    fn new_json(mut reader: R) -> Result<Self, LogError> {
        let mut line = String::new();
        read_json_line(&mut reader, &mut line, 1)?;
        let corrupt = |problem: String| LogError::Corrupt {
            what: "line 1 (header)".to_string(),
            problem,
        };
        let value: serde_json::Value =
            serde_json::from_str(&line).map_err(|error| corrupt(json_problem(&error)))?;
        if value.get("format").and_then(|f| f.as_str()) != Some(JSON_FORMAT_NAME) {
            return Err(corrupt(format!(
                "not a coldstart log header (no \"format\": \"{JSON_FORMAT_NAME}\")"
            )));
        }
        match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(found) if found == u64::from(FORMAT_VERSION) => {}
            Some(found) => {
                return Err(LogError::UnsupportedVersion {
                    found: u32::try_from(found).unwrap_or(u32::MAX),
                })
            }
            None => return Err(corrupt("no numeric \"format_version\"".to_string())),
        }
        let json: JsonHeader =
            serde_json::from_value(value).map_err(|error| corrupt(json_problem(&error)))?;
        Ok(LogReader {
            source: Source::Json {
                reader,
                line_number: 1,
                line,
            },
            header: LogHeader {
                coldstart_version: json.coldstart_version,
                config: json.config,
                policies: json.policies,
            },
            format: LogFormat::JsonLines,
            inputs_read: 0,
            trailer_seen: false,
        })
    }

    pub fn header(&self) -> &LogHeader {
        &self.header
    }

    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// The next input or the trailer; `None` at the end. Nothing may follow
    /// the trailer.
    pub fn next_record(&mut self) -> Result<Option<Record>, LogError> {
        let index = self.inputs_read;
        let record = match &mut self.source {
            Source::Binary { .. } => {
                let what = || format!("record {} (input {index} or the trailer)", index + 1);
                match binary_record(&mut self.source, index + 1)? {
                    None => None,
                    Some((TAG_INPUT, payload)) => {
                        Some(Record::Input(codec::decode(payload).map_err(|error| {
                            LogError::Corrupt {
                                what: format!("input {index}"),
                                problem: error.message,
                            }
                        })?))
                    }
                    Some((TAG_TRAILER, payload)) => Some(Record::Trailer(
                        codec::decode(payload).map_err(|error| LogError::Corrupt {
                            what: "trailer".to_string(),
                            problem: error.message,
                        })?,
                    )),
                    Some((tag, _)) => {
                        return Err(LogError::Corrupt {
                            what: what(),
                            problem: format!("unknown record tag {tag:#04x}"),
                        })
                    }
                }
            }
            Source::Json {
                reader,
                line_number,
                line,
            } => {
                *line_number += 1;
                if read_json_line(reader, line, *line_number)? == 0 {
                    None
                } else {
                    Some(json_record(line, *line_number, index)?)
                }
            }
        };
        if self.trailer_seen && record.is_some() {
            return Err(LogError::Corrupt {
                what: format!("after the trailer (input {index})"),
                problem: "the trailer must be the last record".to_string(),
            });
        }
        match &record {
            Some(Record::Input(_)) => self.inputs_read += 1,
            Some(Record::Trailer(_)) => self.trailer_seen = true,
            None => {}
        }
        Ok(record)
    }
}

/// Reads one line (without its newline) into `line`; returns the bytes
/// read, 0 at the end.
fn read_json_line<R: BufRead>(
    reader: &mut R,
    line: &mut String,
    line_number: u64,
) -> Result<usize, LogError> {
    line.clear();
    let read = reader.read_line(line).map_err(|error| {
        if error.kind() == std::io::ErrorKind::InvalidData {
            LogError::Corrupt {
                what: format!("line {line_number}"),
                problem: "not UTF-8".to_string(),
            }
        } else {
            LogError::Io(error)
        }
    })?;
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
    Ok(read)
}

/// A serde_json error without its "at line 1 column N" (the line is the
/// file's, named apart), with the column.
fn json_problem(error: &serde_json::Error) -> String {
    let mut text = error.to_string();
    if let Some(at) = text.rfind(" at line ") {
        text.truncate(at);
    }
    if error.column() > 0 {
        text += &format!(" (column {})", error.column());
    }
    text
}

fn json_record(line: &str, line_number: u64, index: u64) -> Result<Record, LogError> {
    let corrupt = |what: String, problem: String| LogError::Corrupt {
        what: format!("line {line_number} ({what})"),
        problem,
    };
    if line.trim_start().starts_with("{\"trailer\"") {
        let json: JsonTrailer = serde_json::from_str(line)
            .map_err(|error| corrupt("trailer".to_string(), json_problem(&error)))?;
        return Ok(Record::Trailer(json.trailer));
    }
    serde_json::from_str(line)
        .map(Record::Input)
        .map_err(|error| corrupt(format!("input {index}"), json_problem(&error)))
}

/// Reads one binary record: tag, length (u32 LE), payload, check (u32 LE).
/// `None` at a clean end of file.
fn binary_record<R: BufRead>(
    source: &mut Source<R>,
    record_number: u64,
) -> Result<Option<(u8, &[u8])>, LogError> {
    let Source::Binary {
        reader,
        offset,
        payload,
    } = source
    else {
        unreachable!("binary_record on a JSON source");
    };
    let start = *offset;
    let name = match record_number {
        0 => "the header record".to_string(),
        n => format!("record {n} (input {} or the trailer)", n - 1),
    };
    let what = |part: &str| format!("{name}'s {part}");
    let mut head = [0u8; 5];
    let got = read_up_to(reader, &mut head)?;
    if got == 0 {
        return Ok(None);
    }
    if got < head.len() {
        return Err(LogError::Truncated {
            what: what("length"),
            offset: start + got as u64,
        });
    }
    let tag = head[0];
    let length = [head[1], head[2], head[3], head[4]];
    let length_bytes = u32::from_le_bytes(length);
    if length_bytes > RECORD_BYTES_MAX {
        return Err(LogError::Corrupt {
            what: format!("{name} at byte {start}"),
            problem: format!("length {length_bytes} bytes is above the limit {RECORD_BYTES_MAX}"),
        });
    }
    payload.clear();
    let got = reader
        .by_ref()
        .take(u64::from(length_bytes))
        .read_to_end(payload)?;
    if got < length_bytes as usize {
        return Err(LogError::Truncated {
            what: what("payload"),
            offset: start + 5 + got as u64,
        });
    }
    let mut check = [0u8; 4];
    let got = read_up_to(reader, &mut check)?;
    if got < check.len() {
        return Err(LogError::Truncated {
            what: what("check"),
            offset: start + 5 + u64::from(length_bytes) + got as u64,
        });
    }
    if u32::from_le_bytes(check) != record_check(tag, length, payload) {
        return Err(LogError::Corrupt {
            what: format!("{name} at byte {start}"),
            problem: "check mismatch (the file is damaged)".to_string(),
        });
    }
    *offset = start + 9 + u64::from(length_bytes);
    Ok(Some((tag, payload.as_slice())))
}

/// Why recording or replaying stopped.
#[derive(Debug)]
pub enum RunError {
    Log(LogError),
    Drive(DriveError),
    /// The replay's events differ from the trailer's.
    Mismatch(String),
}

impl std::fmt::Display for RunError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RunError::Log(error) => write!(f, "{error}"),
            RunError::Drive(error) => write!(f, "{error}"),
            RunError::Mismatch(message) => write!(f, "{message}"),
        }
    }
}

impl std::error::Error for RunError {}

impl From<LogError> for RunError {
    fn from(error: LogError) -> Self {
        RunError::Log(error)
    }
}

impl From<DriveError> for RunError {
    fn from(error: DriveError) -> Self {
        RunError::Drive(error)
    }
}

/// Collects checkpoints as a run goes.
#[derive(Clone, Debug, Default)]
struct Checkpoints {
    list: Vec<Checkpoint>,
}

impl Checkpoints {
    fn after_step<P: crate::Policies>(&mut self, driver: &Driver<P>) {
        if driver.steps().checked_rem(CHECKPOINT_INTERVAL_STEPS) == Some(0) {
            self.list.push(Checkpoint {
                steps: driver.steps(),
                events: driver.events_count(),
                events_digest: driver.digest(),
            });
        }
    }

    fn trailer<P: crate::Policies>(self, driver: &Driver<P>) -> Trailer {
        Trailer {
            steps: driver.steps(),
            events: driver.events_count(),
            events_digest: driver.digest(),
            checkpoint_interval_steps: CHECKPOINT_INTERVAL_STEPS,
            checkpoints: self.list,
        }
    }
}

/// A driver that logs every input it applies (refused inputs change
/// nothing and are not logged). Build it from a configuration, so the log
/// starts from a fresh provider; [`Recorder::finish`] writes the trailer.
pub struct Recorder<W: Write> {
    driver: Driver<Builtin>,
    writer: LogWriter<W>,
    checkpoints: Checkpoints,
}

impl<W: Write> Recorder<W> {
    pub fn new(
        out: W,
        format: LogFormat,
        config: Config,
        policies: Builtin,
        options: DriverOptions,
    ) -> Result<Self, RunError> {
        let header = LogHeader::new(config, policies);
        let provider = header.provider().map_err(LogError::Config)?;
        let writer = LogWriter::new(out, format, &header)?;
        Ok(Recorder {
            driver: Driver::new(provider, options),
            writer,
            checkpoints: Checkpoints::default(),
        })
    }

    pub fn driver(&self) -> &Driver<Builtin> {
        &self.driver
    }

    /// Applies one input and, if applied, logs it.
    pub fn apply(&mut self, input: &Input) -> Result<Events, RunError> {
        let events = self.driver.apply(input)?;
        self.writer.write_input(input)?;
        self.checkpoints.after_step(&self.driver);
        Ok(events)
    }

    /// Advances to each next timer until none is left (at most
    /// `drain_steps_max` advances), logging each `Advance`.
    pub fn drain_with(&mut self, mut on_event: impl FnMut(&Event)) -> Result<u64, RunError> {
        let mut drain_steps = 0;
        let drain_steps_max = self.driver.options().drain_steps_max;
        while let Some(next_timer_us) = self.driver.provider().next_timer_us() {
            if drain_steps >= drain_steps_max {
                return Err(RunError::Drive(DriveError::Undrained {
                    drain_steps,
                    next_timer_us,
                }));
            }
            let advance = Input {
                at_us: next_timer_us,
                command: Command::Advance,
            };
            self.apply(&advance)?.iter().for_each(&mut on_event);
            drain_steps += 1;
        }
        Ok(drain_steps)
    }

    /// Applies every input, then drains the timers.
    pub fn run_with(
        &mut self,
        inputs: impl IntoIterator<Item = Input>,
        mut on_event: impl FnMut(&Event),
    ) -> Result<u64, RunError> {
        for input in inputs {
            self.apply(&input)?.iter().for_each(&mut on_event);
        }
        self.drain_with(on_event)
    }

    /// Writes the trailer; returns the driver, the trailer and the writer.
    pub fn finish(self) -> Result<(Driver<Builtin>, Trailer, W), RunError> {
        let trailer = self.checkpoints.trailer(&self.driver);
        let out = self.writer.finish(Some(&trailer))?;
        Ok((self.driver, trailer, out))
    }
}

/// Where a replay stops early, for time travel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Until {
    /// After this many inputs.
    Step(u64),
    /// After every input at or before this time (µs), and an `Advance` to it.
    TimeUs(u64),
}

/// How a replay ended.
pub struct Replayed {
    pub driver: Driver<Builtin>,
    pub header: LogHeader,
    pub trailer: Option<Trailer>,
    /// Whether an `--until` bound stopped it before the end of the log.
    pub stopped_early: bool,
}

/// Runs a log from its header, passing each event to `on_event`. With
/// `verify`, the events must match the trailer's count and digest (and the
/// log must have one); a mismatch names the range of steps, between two
/// checkpoints, where the events first diverge.
pub fn replay<R: BufRead>(
    mut reader: LogReader<R>,
    options: DriverOptions,
    until: Option<Until>,
    verify: bool,
    mut on_event: impl FnMut(&Event),
) -> Result<Replayed, RunError> {
    let header = reader.header().clone();
    let provider = header.provider().map_err(LogError::Config)?;
    let mut driver = Driver::new(provider, options);
    let mut checkpoints = Checkpoints::default();
    let mut trailer = None;
    let mut stopped_early = false;
    while let Some(record) = reader.next_record()? {
        let input = match record {
            Record::Trailer(found) => {
                trailer = Some(found);
                continue;
            }
            Record::Input(input) => input,
        };
        match until {
            Some(Until::Step(steps)) if driver.steps() >= steps => {
                stopped_early = true;
                break;
            }
            Some(Until::TimeUs(t_us)) if input.at_us > t_us => {
                let advance = Input {
                    at_us: t_us.max(driver.provider().now_us()),
                    command: Command::Advance,
                };
                driver.apply(&advance)?.iter().for_each(&mut on_event);
                stopped_early = true;
                break;
            }
            _ => {}
        }
        driver.apply(&input)?.iter().for_each(&mut on_event);
        checkpoints.after_step(&driver);
    }
    if verify && !stopped_early {
        let expected = trailer.as_ref().ok_or_else(|| {
            RunError::Mismatch("--verify: the log has no trailer to verify against".to_string())
        })?;
        verify_against(expected, checkpoints.trailer(&driver))?;
    }
    Ok(Replayed {
        driver,
        header,
        trailer,
        stopped_early,
    })
}

fn verify_against(expected: &Trailer, got: Trailer) -> Result<(), RunError> {
    if expected.steps != got.steps {
        return Err(RunError::Mismatch(format!(
            "the trailer counts {} inputs, the log has {}",
            expected.steps, got.steps
        )));
    }
    if (expected.events, expected.events_digest) == (got.events, got.events_digest) {
        return Ok(());
    }
    let mut previous = Checkpoint {
        steps: 0,
        events: 0,
        events_digest: EventDigest::new().digest(),
    };
    let mut diverging = None;
    if expected.checkpoint_interval_steps == got.checkpoint_interval_steps {
        for (want, have) in expected.checkpoints.iter().zip(&got.checkpoints) {
            if want != have {
                diverging = Some((previous, *want, *have));
                break;
            }
            previous = *want;
        }
    }
    let place = match diverging {
        Some((before, want, have)) => format!(
            "; the first divergence is in steps {} to {} (events from number {}): expected {} events digest {:016x} after step {}, got {} events digest {:016x}",
            before.steps, want.steps - 1, before.events, want.events, want.events_digest, want.steps - 1, have.events, have.events_digest
        ),
        None => format!(
            "; the first divergence is in steps {} to {} (events from number {}), after the last matching checkpoint",
            previous.steps, got.steps.saturating_sub(1), previous.events
        ),
    };
    Err(RunError::Mismatch(format!(
        "events digest mismatch: expected {} events digest {:016x}, got {} events digest {:016x}{place}",
        expected.events, expected.events_digest, got.events, got.events_digest
    )))
}

/// Copies a log into another format (or the same), trailer included.
pub fn convert<R: BufRead, W: Write>(
    mut reader: LogReader<R>,
    out: W,
    format: LogFormat,
) -> Result<W, LogError> {
    let mut writer = LogWriter::new(out, format, &reader.header().clone())?;
    let mut trailer = None;
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Input(input) => writer.write_input(&input)?,
            Record::Trailer(found) => trailer = Some(found),
        }
    }
    writer.finish(trailer.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{default_config, default_workload};
    use crate::Pressure;

    fn record(format: LogFormat) -> (Vec<u8>, Trailer) {
        let mut recorder = Recorder::new(
            Vec::new(),
            format,
            default_config(Pressure::Reject),
            Builtin::default(),
            DriverOptions::default(),
        )
        .unwrap();
        recorder
            .run_with(default_workload(3, 3_000).inputs().unwrap(), |_| {})
            .unwrap();
        let (_, trailer, bytes) = recorder.finish().unwrap();
        (bytes, trailer)
    }

    fn replay_bytes(bytes: &[u8], verify: bool) -> Result<Replayed, RunError> {
        let reader = LogReader::new(bytes)?;
        replay(reader, DriverOptions::default(), None, verify, |_| {})
    }

    #[test]
    fn both_forms_replay_to_the_recorded_digest_and_convert() {
        let (binary, trailer) = record(LogFormat::Binary);
        let (json, json_trailer) = record(LogFormat::JsonLines);
        assert_eq!(trailer, json_trailer);
        assert!(trailer.checkpoints.len() > 1);
        for bytes in [&binary, &json] {
            let replayed = replay_bytes(bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
        }
        let to_json = convert(
            LogReader::new(&binary[..]).unwrap(),
            Vec::new(),
            LogFormat::JsonLines,
        )
        .unwrap();
        assert_eq!(to_json, json);
        let back = convert(
            LogReader::new(&json[..]).unwrap(),
            Vec::new(),
            LogFormat::Binary,
        )
        .unwrap();
        assert_eq!(back, binary);
    }

    #[test]
    fn a_mismatch_names_the_steps() {
        let (bytes, mut trailer) = record(LogFormat::Binary);
        trailer.events_digest ^= 1;
        trailer.checkpoints[1].events_digest ^= 1;
        let error = verify_against(&trailer, {
            let replayed = replay_bytes(&bytes, false).unwrap();
            Checkpoints {
                list: replayed.trailer.unwrap().checkpoints,
            }
            .trailer(&replayed.driver)
        })
        .unwrap_err()
        .to_string();
        assert!(error.contains("steps 1024 to 2047"), "{error}");
    }
}
