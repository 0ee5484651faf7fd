//! Command logs: a header (format version, coldstart version, the provider's
//! configuration and the policies: built-in, or named by the user), the inputs in order, each
//! optionally followed by a step check (a 16-bit fingerprint of each event
//! the input produced), and an optional trailer (step and event counts and
//! the events digest). Binary (`.cslog`) and JSON Lines (`.jsonl`) forms
//! carry the same content; docs/log-format.md is the reference.
//!
//! [`Recorder`] records while it drives, with any policies that say which
//! they are ([`PolicyIdentity`]); [`LogReader`] reads either form (told
//! apart by their first bytes); [`replay`] runs a log of built-in policies,
//! [`replay_with`] one of the user's own.

pub mod codec;
mod header_v11;
pub(crate) mod inputs_old;
mod policy;

pub use policy::{CustomPolicy, PolicyIdentity, PolicySpec};

use crate::driver::digest::{self, fingerprint};
use crate::driver::{DriveError, Driver, DriverOptions, ToLog};
use crate::input::{Command, Input};
use crate::{Builtin, Config, ConfigError, Event, InputTiming, Provider};
use header_v11::{BuiltinV11, ConfigV11, HostSpecV11, LambdaPricesV11, PolicySpecV11};
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;
use std::io::{BufRead, BufReader, BufWriter, Read, Write};
use std::path::Path;

/// The first eight bytes of a binary log: a byte with the high bit set
/// (catches 7-bit channels), the name, and CR LF (catches newline
/// conversion).
pub const MAGIC: [u8; 8] = *b"\x89CSLOG\r\n";
/// The format version this build writes. Version 12 is where the fields
/// added since 11 to a function, a host, the configuration or the prices
/// are written; version 11's header parts and inputs are read and written
/// through frozen copies (`header_v11`, `inputs_old`), those fields at
/// their defaults as the logs ran. Version 11 gave a function's
/// definition a concurrency (`FunctionDef::concurrency`, spec R57a): logs
/// of versions 9 and 10 are read and written through frozen copies of
/// their input types, every function of concurrency 1 as it ran (a JSON
/// Lines input without the field reads it as 1). Version 10 added the
/// configuration's bandwidth setting (`Config::bandwidth`, spec R85) to
/// the header; older headers are read through a frozen copy of the
/// configuration without it, as `Bandwidth::Dedicated`. Version 9 gave a function's
/// definition start costs of its own (`FunctionDef::cold_start_us`,
/// `warm_start_us`; spec R41a), which changes how inputs encode: logs of
/// versions 2 to 8 share one input layout, read through frozen copies of
/// the input types, every function on the configuration's start costs as
/// it ran (a JSON Lines input without the fields reads them as absent, in
/// any version). Version 8 made the header's
/// policies a [`PolicySpec`]: built-in, or a policy of the user's own by
/// name and parameters; version 7 changed how inputs are judged against the
/// timers due by their time (spec R29); version 6 added the hybrid
/// histogram's `prewarm_percentile` to the header's keep-alive policy;
/// version 5 added the greedy-dual and GDSF clocks to the policy state;
/// version 4 added the policy library's fields to the header's `Builtin`
/// (keep-alive policy, image eviction, policy state); version 3 added the
/// retry setting to the configuration, and fault inputs (spec §27). This
/// build still reads versions 2 to 11, through frozen copies of their header
/// types (a version 6 or 7 header's policies are built-in): a version 4 or 5 hybrid histogram gets `prewarm_percentile: 0`
/// (they never pre-warmed), version 2 and 3 policies get the newer fields'
/// defaults (fixed keep-alive, LRU, empty state), which is what they ran
/// with, and a version 2 configuration gets the default retry setting (its
/// logs hold no faults).
pub const FORMAT_VERSION: u32 = 12;
/// The oldest format version this build reads.
pub const FORMAT_VERSION_OLDEST: u32 = 2;

/// The oldest format whose header has version 7's layout (version 7
/// changed only how a replay judges inputs against timers, spec R29).
const FORMAT_VERSION_SAME_HEADER: u32 = 6;
/// The oldest format whose header holds a [`PolicySpec`].
const FORMAT_VERSION_POLICY_SPEC: u32 = 8;
/// The oldest format whose inputs give a function start costs of its own
/// (older ones are read and written through `inputs_old::InputV8`).
const FORMAT_VERSION_START_COSTS: u32 = 9;
/// The oldest format whose header's configuration says how links share
/// bandwidth (`Config::bandwidth`, spec R85); older ones read as
/// `Bandwidth::Dedicated`, which is how they ran.
const FORMAT_VERSION_BANDWIDTH: u32 = 10;
/// The oldest format whose inputs give a function a concurrency (versions
/// 9 and 10 are read and written through `inputs_old::InputV9`).
const FORMAT_VERSION_CONCURRENCY: u32 = 11;
/// The oldest format whose header and inputs have this build's layout of
/// every type they hold: format 12 added, to a function, a host, the
/// configuration or the prices, the fields `header_v11` and
/// `inputs_old::FunctionDefV11` list (older versions are read and written
/// through those frozen copies).
const FORMAT_VERSION_CURRENT_LAYOUT: u32 = 12;

/// The newest format recorded under the old input timing: an input judged
/// before the timers due by its time ([`InputTiming::BeforeTimers`]).
pub const FORMAT_VERSION_TIMERS_AFTER_JUDGING: u32 = 6;
/// The `format` value of a JSON Lines log's header line.
pub const JSON_FORMAT_NAME: &str = "coldstart-log";
/// The largest record payload a reader accepts (bytes); in a JSON Lines
/// log, the longest header line.
pub const RECORD_BYTES_MAX: u32 = 1 << 28;
/// The longest line after the header of a JSON Lines log (bytes, without
/// its ending): an input, a check or the trailer is under a kilobyte.
pub const JSON_LINE_BYTES_MAX: usize = 1 << 16;

const TAG_HEADER: u8 = b'H';
const TAG_INPUT: u8 = b'I';
const TAG_TRAILER: u8 = b'T';
const TAG_CHECK: u8 = b'C';

/// The version of this build of coldstart, as written in headers.
pub const COLDSTART_VERSION: &str = env!("CARGO_PKG_VERSION");

/// What a log starts from: a fresh provider built from these.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct LogHeader {
    /// The coldstart version that wrote the log (informative).
    pub coldstart_version: String,
    /// The provider's configuration.
    pub config: Config,
    /// The policies it ran with.
    pub policies: PolicySpec,
}

/// A version 6 or 7 header: its policies are built-in.
#[derive(Serialize, Deserialize)]
struct LogHeaderV7 {
    coldstart_version: String,
    config: ConfigV9,
    policies: BuiltinV11,
}

impl LogHeaderV7 {
    fn read_as(self, version: u32) -> Result<LogHeader, String> {
        Ok(LogHeader {
            coldstart_version: self.coldstart_version,
            config: self.config.into(),
            policies: PolicySpec::Builtin(self.policies.read_as(version)?),
        })
    }
}

/// A version 2 header: its configuration has no retry setting, its policies
/// are version 3's. Serialize too: a payload must be the canonical encoding
/// of what it decodes to.
#[derive(Serialize, Deserialize)]
struct LogHeaderV2 {
    coldstart_version: String,
    config: ConfigV2,
    policies: BuiltinV3,
}

/// A version 3 header: its policies have no keep-alive policy, image
/// eviction or state.
#[derive(Serialize, Deserialize)]
struct LogHeaderV3 {
    coldstart_version: String,
    config: ConfigV9,
    policies: BuiltinV3,
}

/// `Builtin` as versions 2 and 3 wrote it (the first four fields; the
/// host-selection rules they knew keep their variant numbers).
#[derive(Serialize, Deserialize)]
struct BuiltinV3 {
    host_selection: crate::HostSelection,
    warm_choice: crate::WarmChoice,
    keep_alive_us: u64,
    prices: LambdaPricesV11,
}

impl From<BuiltinV3> for Builtin {
    fn from(v3: BuiltinV3) -> Builtin {
        Builtin::default()
            .with_host_selection(v3.host_selection)
            .with_warm_choice(v3.warm_choice)
            .with_keep_alive_us(v3.keep_alive_us)
            .with_prices(v3.prices.into())
    }
}

impl From<LogHeaderV3> for LogHeader {
    fn from(v3: LogHeaderV3) -> LogHeader {
        LogHeader {
            coldstart_version: v3.coldstart_version,
            config: v3.config.into(),
            policies: PolicySpec::Builtin(v3.policies.into()),
        }
    }
}

/// A version 4 header: its policies' state has no greedy-dual or GDSF
/// clocks (version 5 added them, with the kubelet watermark rule), and its
/// hybrid histogram no pre-warm percentile (version 6 added it).
#[derive(Serialize, Deserialize)]
struct LogHeaderV4 {
    coldstart_version: String,
    config: ConfigV9,
    policies: BuiltinV4,
}

/// `Builtin` as version 4 wrote it.
#[derive(Serialize, Deserialize)]
struct BuiltinV4 {
    host_selection: crate::HostSelection,
    warm_choice: crate::WarmChoice,
    keep_alive_us: u64,
    prices: LambdaPricesV11,
    keep_alive_policy: KeepAlivePolicyV5,
    image_eviction: crate::ImageEviction,
    state: PolicyStateV4,
}

/// `PolicyState` as version 4 wrote it, as far as a log header can hold
/// it: a recorder starts from a fresh provider, so the state is empty; the
/// idle histograms' entry type is uninhabited, so a non-empty map does not
/// decode, and the other fields are checked empty on conversion.
#[derive(Serialize, Deserialize)]
struct PolicyStateV4 {
    round_robin_next: u32,
    random_draws: u64,
    idle_histograms: Vec<(u64, Never)>,
    frequencies: Vec<(u64, u64)>,
}

/// No value: a sequence or map of it decodes only when empty.
#[derive(Serialize, Deserialize)]
enum Never {}

/// The error for an old header whose policy state is not empty.
fn learned_state(version: u32) -> String {
    format!(
        "a version {version} header with learned policy state (a log starts from a fresh provider)"
    )
}

impl TryFrom<LogHeaderV4> for LogHeader {
    type Error = String;

    /// As a version 5 header without clocks (an empty idle-histogram list
    /// is all a version 4 header can hold, `Never` being uninhabited).
    fn try_from(v4: LogHeaderV4) -> Result<LogHeader, String> {
        let p = v4.policies;
        let v5 = LogHeaderV5 {
            coldstart_version: v4.coldstart_version,
            config: v4.config,
            policies: BuiltinV5 {
                host_selection: p.host_selection,
                warm_choice: p.warm_choice,
                keep_alive_us: p.keep_alive_us,
                prices: p.prices,
                keep_alive_policy: p.keep_alive_policy,
                image_eviction: p.image_eviction,
                state: PolicyStateV5 {
                    round_robin_next: p.state.round_robin_next,
                    random_draws: p.state.random_draws,
                    frequencies: p.state.frequencies.into_iter().collect(),
                    ..PolicyStateV5::default()
                },
            },
        };
        v5.read_as(4)
    }
}

/// A version 5 header: its hybrid histogram has no pre-warm percentile
/// (version 6 added it). Also the shape of every JSON Lines header of
/// versions 2 to 5 (its fields that older versions lack take their
/// defaults, as `Builtin`'s do).
#[derive(Serialize, Deserialize)]
struct LogHeaderV5 {
    coldstart_version: String,
    config: ConfigV9,
    policies: BuiltinV5,
}

/// `Builtin` as version 5 wrote it.
#[derive(Serialize, Deserialize)]
struct BuiltinV5 {
    host_selection: crate::HostSelection,
    warm_choice: crate::WarmChoice,
    keep_alive_us: u64,
    prices: LambdaPricesV11,
    #[serde(default)]
    keep_alive_policy: KeepAlivePolicyV5,
    #[serde(default)]
    image_eviction: crate::ImageEviction,
    #[serde(default)]
    state: PolicyStateV5,
}

/// `KeepAlivePolicy` as versions 4 and 5 wrote it (same variants, in the
/// same order).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum KeepAlivePolicyV5 {
    #[default]
    Fixed,
    HybridHistogram(HybridHistogramV5),
    GreedyDual {
        cold_cost_us: u64,
    },
}

/// `HybridHistogram` as versions 4 and 5 wrote it: without
/// `prewarm_percentile`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct HybridHistogramV5 {
    bin_us: u64,
    bins: u32,
    tail_percentile: u32,
    margin_percent: u32,
    cv_threshold_hundredths: u32,
    out_of_range_max_percent: u32,
    fallback_keep_alive_us: u64,
}

/// A version 4 or 5 hybrid histogram did not pre-warm: it reads as one
/// with `prewarm_percentile: 0`, which behaves exactly as it did.
impl From<KeepAlivePolicyV5> for crate::KeepAlivePolicy {
    fn from(v5: KeepAlivePolicyV5) -> crate::KeepAlivePolicy {
        match v5 {
            KeepAlivePolicyV5::Fixed => crate::KeepAlivePolicy::Fixed,
            KeepAlivePolicyV5::HybridHistogram(h) => {
                crate::KeepAlivePolicy::HybridHistogram(crate::HybridHistogram {
                    bin_us: h.bin_us,
                    bins: h.bins,
                    tail_percentile: h.tail_percentile,
                    prewarm_percentile: 0,
                    margin_percent: h.margin_percent,
                    cv_threshold_hundredths: h.cv_threshold_hundredths,
                    out_of_range_max_percent: h.out_of_range_max_percent,
                    fallback_keep_alive_us: h.fallback_keep_alive_us,
                })
            }
            KeepAlivePolicyV5::GreedyDual { cold_cost_us } => {
                crate::KeepAlivePolicy::GreedyDual { cold_cost_us }
            }
        }
    }
}

/// `PolicyState` as version 5 wrote it, as far as a log header can hold
/// it (empty: see [`PolicyStateV4`]). Maps, as in `PolicyState`, so that
/// JSON reads `{}`; bincode writes a map as it writes a sequence of pairs.
/// The clocks default to absent, as in `PolicyState`, for JSON headers of
/// versions before 5.
#[derive(Default, Serialize, Deserialize)]
struct PolicyStateV5 {
    round_robin_next: u32,
    random_draws: u64,
    idle_histograms: std::collections::BTreeMap<u64, Never>,
    frequencies: std::collections::BTreeMap<u64, u64>,
    #[serde(default)]
    container_clocks: std::collections::BTreeMap<u32, u64>,
    #[serde(default)]
    image_clocks: std::collections::BTreeMap<u64, u64>,
}

impl LogHeaderV5 {
    /// The header as this build reads it; `version` (2 to 5) names the
    /// header in the error when its policy state is not empty.
    fn read_as(self, version: u32) -> Result<LogHeader, String> {
        let p = self.policies;
        let s = &p.state;
        if s.round_robin_next != 0
            || s.random_draws != 0
            || !s.frequencies.is_empty()
            || !s.container_clocks.is_empty()
            || !s.image_clocks.is_empty()
        {
            return Err(learned_state(version));
        }
        Ok(LogHeader {
            coldstart_version: self.coldstart_version,
            config: self.config.into(),
            // The state checked empty above: a fresh one.
            policies: PolicySpec::Builtin(
                Builtin::default()
                    .with_host_selection(p.host_selection)
                    .with_warm_choice(p.warm_choice)
                    .with_keep_alive_us(p.keep_alive_us)
                    .with_prices(p.prices.into())
                    .with_keep_alive_policy(p.keep_alive_policy.into())
                    .with_image_eviction(p.image_eviction),
            ),
        })
    }
}

/// `Config` as versions 3 to 9 wrote it (fields in the same order, no
/// `bandwidth`): it reads as a configuration of dedicated bandwidth
/// (spec R85), which is how those logs ran. Serialize too: an old version
/// is written through it. `retry` defaults for JSON headers of version 2.
#[derive(Serialize, Deserialize)]
struct ConfigV9 {
    main_storage: crate::MainStorageSpec,
    hosts: Vec<HostSpecV11>,
    cold_start_us: u64,
    warm_start_us: u64,
    pressure: crate::Pressure,
    terminal_records_max: Option<u64>,
    #[serde(default)]
    retry: crate::Retry,
}

impl From<ConfigV9> for Config {
    fn from(c: ConfigV9) -> Config {
        Config::new(c.main_storage, hosts_of(c.hosts))
            .with_cold_start_us(c.cold_start_us)
            .with_warm_start_us(c.warm_start_us)
            .with_pressure(c.pressure)
            .with_terminal_records_max(c.terminal_records_max)
            .with_retry(c.retry)
    }
}

impl ConfigV9 {
    /// `config` in a header of format `version` (before 10), which cannot
    /// say that links are shared.
    fn of(config: &Config, version: u32) -> Result<ConfigV9, LogError> {
        // What format 12 added is refused first.
        ConfigV11::of(config, version)?;
        if config.bandwidth != crate::Bandwidth::Dedicated {
            return Err(LogError::Encode(format!(
                "a version {version} header cannot hold shared bandwidth (format {FORMAT_VERSION_BANDWIDTH} added it)"
            )));
        }
        Ok(ConfigV9 {
            main_storage: config.main_storage,
            hosts: HostSpecV11::all_of(config, version)?,
            cold_start_us: config.cold_start_us,
            warm_start_us: config.warm_start_us,
            pressure: config.pressure,
            terminal_records_max: config.terminal_records_max,
            retry: config.retry,
        })
    }
}

/// The hosts of an old configuration, as this build's.
fn hosts_of(hosts: Vec<HostSpecV11>) -> Vec<crate::HostSpec> {
    hosts.into_iter().map(crate::HostSpec::from).collect()
}

/// A header of versions 8 to 11 (its parts as `C` and `P`); also how one
/// is written.
#[derive(Serialize, Deserialize)]
struct OldHeader<C, P> {
    coldstart_version: String,
    config: C,
    policies: P,
}

/// A version 8 or 9 header: its configuration has no bandwidth setting.
type LogHeaderV9 = OldHeader<ConfigV9, PolicySpecV11>;
/// A version 10 or 11 header: format 12 changed the types it holds.
type LogHeaderV11 = OldHeader<ConfigV11, PolicySpecV11>;

impl<C: Into<Config>> OldHeader<C, PolicySpecV11> {
    fn read_as(self, version: u32) -> Result<LogHeader, String> {
        Ok(LogHeader {
            coldstart_version: self.coldstart_version,
            config: self.config.into(),
            policies: self.policies.read_as(version)?,
        })
    }
}

/// `Config` as version 2 wrote it (fields in the same order, no `retry`).
#[derive(Serialize, Deserialize)]
struct ConfigV2 {
    main_storage: crate::MainStorageSpec,
    hosts: Vec<HostSpecV11>,
    cold_start_us: u64,
    warm_start_us: u64,
    pressure: crate::Pressure,
    terminal_records_max: Option<u64>,
}

impl From<LogHeaderV2> for LogHeader {
    fn from(v2: LogHeaderV2) -> LogHeader {
        let c = v2.config;
        LogHeader {
            coldstart_version: v2.coldstart_version,
            // Format 2 had no retry setting: the default's.
            config: Config::new(c.main_storage, hosts_of(c.hosts))
                .with_cold_start_us(c.cold_start_us)
                .with_warm_start_us(c.warm_start_us)
                .with_pressure(c.pressure)
                .with_terminal_records_max(c.terminal_records_max)
                .with_retry(crate::Retry::default()),
            policies: PolicySpec::Builtin(v2.policies.into()),
        }
    }
}

impl LogHeader {
    /// A header of this build for a run of `config` with `policies`.
    pub fn new(config: Config, policies: PolicySpec) -> LogHeader {
        LogHeader {
            coldstart_version: COLDSTART_VERSION.to_string(),
            config,
            policies,
        }
    }

    /// The fresh provider the log starts from, if its policies are
    /// built-in; a log of the user's own policy needs that policy
    /// ([`LogHeader::provider_with`]).
    pub fn provider(&self) -> Result<Provider<Builtin>, LogError> {
        match &self.policies {
            PolicySpec::Builtin(builtin) => {
                Provider::new(self.config.clone(), builtin.clone()).map_err(LogError::Config)
            }
            PolicySpec::Custom(custom) => Err(LogError::PolicyNeeded {
                name: custom.name.clone(),
            }),
        }
    }

    /// The fresh provider the log starts from, run by `policies`, which
    /// must be the ones the header names.
    pub fn provider_with<P: PolicyIdentity>(&self, policies: P) -> Result<Provider<P>, LogError> {
        let given = policies.identity();
        if given != self.policies {
            return Err(LogError::PolicyMismatch {
                logged: Box::new(self.policies.clone()),
                given: Box::new(given),
            });
        }
        Provider::new(self.config.clone(), policies).map_err(LogError::Config)
    }
}

/// What a recorded run produced, to verify a replay against.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Trailer {
    /// Inputs in the log.
    pub steps: u64,
    /// Events the run produced, timers' included.
    pub events: u64,
    /// The run's digest ([`crate::driver::digest`]).
    #[serde(with = "hex_u64")]
    pub events_digest: u64,
}

/// The fingerprints ([`digest::fingerprint`]) of the events one input
/// produced, in order: written after the input, so that a replay that
/// diverges names the first step and event that differ.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct StepCheck {
    /// Inline up to 16 events (a step rarely has more), so reading a check
    /// allocates nothing.
    pub fingerprints: SmallVec<[u16; 16]>,
}

impl StepCheck {
    /// The check of a step whose events hashed to `hashes`.
    pub fn of_hashes(hashes: &[u64]) -> StepCheck {
        StepCheck {
            fingerprints: hashes.iter().map(|&hash| fingerprint(hash)).collect(),
        }
    }

    /// Raw payload: each fingerprint as two little-endian bytes.
    fn to_bytes(&self) -> Vec<u8> {
        self.fingerprints
            .iter()
            .flat_map(|f| f.to_le_bytes())
            .collect()
    }

    fn from_bytes(bytes: &[u8]) -> Result<StepCheck, String> {
        if bytes.len() % 2 == 1 {
            return Err(format!(
                "{} bytes is not a whole number of fingerprints",
                bytes.len()
            ));
        }
        let fingerprints = bytes
            .chunks_exact(2)
            .map(|pair| u16::from_le_bytes([pair[0], pair[1]]))
            .collect();
        Ok(StepCheck { fingerprints })
    }
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

/// The header line of a JSON Lines log: its policies are a [`PolicySpec`]
/// from version 8, a [`Builtin`] in versions 6 and 7.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHeader<P, C = Config> {
    format: String,
    format_version: u32,
    coldstart_version: String,
    config: C,
    policies: P,
}

impl<P, C> JsonHeader<P, C> {
    fn of(header: &LogHeader, version: u32, config: C, policies: P) -> JsonHeader<P, C> {
        JsonHeader {
            format: JSON_FORMAT_NAME.to_string(),
            format_version: version,
            coldstart_version: header.coldstart_version.clone(),
            config,
            policies,
        }
    }
}

/// The header line of a JSON Lines log of versions 2 to 5.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonHeaderV5 {
    #[allow(dead_code)]
    format: String,
    #[allow(dead_code)]
    format_version: u32,
    coldstart_version: String,
    config: ConfigV9,
    policies: BuiltinV5,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonTrailer {
    trailer: Trailer,
}

#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonCheck {
    check: Vec<u16>,
}

/// How a log is written: the two encodings of the same records.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    /// Compact framed records with checksums (`.cslog`): for long runs.
    Binary,
    /// One JSON object per line (`.jsonl`): for reading and editing by hand.
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
#[non_exhaustive]
pub enum LogError {
    /// The operating system's error while reading or writing.
    Io(std::io::Error),
    /// The path is not a regular file.
    NotRegular(&'static str),
    /// The file begins with a UTF-8 byte order mark, which no log writer
    /// writes (an editor saved it).
    ByteOrderMark,
    /// The path ends in neither `.cslog` nor `.jsonl`: name the file so.
    UnknownExtension,
    /// The file has no bytes at all.
    Empty,
    /// Neither the binary magic nor a JSON object.
    NotALog {
        /// Its first bytes (at most a few), to say what it looks like.
        first_bytes: Vec<u8>,
    },
    /// The log was written in a format version this crate does not read
    /// (newer than [`FORMAT_VERSION`], or unknown): replay it with the
    /// version that wrote it.
    UnsupportedVersion {
        /// As written (a JSON header's number may be any `u64`).
        found: u64,
    },
    /// The file ends inside something.
    Truncated {
        /// What was being read.
        what: String,
        /// The byte offset it started at.
        offset: u64,
    },
    /// A record or line is malformed.
    Corrupt {
        /// What was being read (a record, a line, by position).
        what: String,
        /// What is wrong with it.
        problem: String,
    },
    /// The header's configuration is invalid.
    Config(ConfigError),
    /// The log was recorded with a policy of the user's own, which only
    /// the user's code can run.
    PolicyNeeded {
        /// The policy's name in the header.
        name: String,
    },
    /// The policies given to replay a log are not the ones it names.
    PolicyMismatch {
        /// What the header names.
        logged: Box<PolicySpec>,
        /// What the policies given say they are.
        given: Box<PolicySpec>,
    },
    /// A record could not be encoded, or a header cannot be written in the
    /// format version asked for.
    Encode(String),
}

impl std::fmt::Display for LogError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            LogError::Io(error) => write!(f, "{error}"),
            LogError::NotRegular(what) => write!(f, "{what}, not a regular file"),
            LogError::ByteOrderMark => write!(
                f,
                "begins with a UTF-8 byte order mark (BOM), which no coldstart log has: an editor saved it; remove those 3 bytes"
            ),
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
                "log format version {found} is not supported (this coldstart {COLDSTART_VERSION} reads versions {FORMAT_VERSION_OLDEST} to {FORMAT_VERSION})"
            ),
            LogError::Truncated { what, offset } => {
                write!(f, "truncated: the file ends in {what} (at byte {offset})")
            }
            LogError::Corrupt { what, problem } => write!(f, "{what}: {problem}"),
            LogError::Config(error) => write!(f, "header: invalid configuration: {error}"),
            LogError::PolicyNeeded { name } => write!(
                f,
                "the log was recorded with the policy \"{}\", not a built-in one: the command line replays only built-in policies; replay it with coldstart::log::replay_with and that policy",
                shorten(name)
            ),
            LogError::PolicyMismatch { logged, given } => {
                write!(f, "the log was recorded with ")?;
                describe_policies(f, logged)?;
                write!(f, ", but the policies given are ")?;
                describe_policies(f, given)?;
                write!(f, "; replay with the policy the log names")
            }
            LogError::Encode(message) => write!(f, "cannot encode: {message}"),
        }
    }
}

impl std::error::Error for LogError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            LogError::Io(error) => Some(error),
            LogError::Config(error) => Some(error),
            _ => None,
        }
    }
}

/// The longest name or parameter text a message echoes (characters).
const ECHO_CHARS_MAX: usize = 80;

/// `text`, cut to [`ECHO_CHARS_MAX`] characters with an ellipsis.
fn shorten(text: &str) -> String {
    match text.char_indices().nth(ECHO_CHARS_MAX) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// Policies in a message: "the policy \"name\" with parameters \"…\"", or
/// "built-in policies" and the one setting that differs is not named (a
/// `Builtin` is long).
fn describe_policies(f: &mut std::fmt::Formatter<'_>, spec: &PolicySpec) -> std::fmt::Result {
    match spec {
        PolicySpec::Builtin(builtin) => write!(
            f,
            "built-in policies (host selection {:?}, keep-alive {} µs)",
            builtin.host_selection, builtin.keep_alive_us
        ),
        PolicySpec::Custom(custom) => write!(
            f,
            "the policy \"{}\" with parameters \"{}\"",
            shorten(&custom.name),
            shorten(&custom.parameters)
        ),
    }
}

impl From<std::io::Error> for LogError {
    fn from(error: std::io::Error) -> Self {
        LogError::Io(error)
    }
}

/// A record's check: the hash of its payload ([`digest::hash_bytes`]) with
/// its tag and length mixed in, folded to 32 bits.
pub(crate) fn record_check(tag: u8, length: [u8; 4], payload: &[u8]) -> u32 {
    let framing = u64::from(tag) | (u64::from(u32::from_le_bytes(length)) << 8);
    let value = digest::mix(digest::hash_bytes(payload), framing);
    (value as u32) ^ ((value >> 32) as u32)
}

/// Writes a log, binary or JSON Lines.
pub struct LogWriter<W: Write> {
    out: W,
    format: LogFormat,
    buffer: Vec<u8>,
    /// The format version it writes (its inputs' layout follows).
    version: u32,
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
        Self::with_version(out, format, header, FORMAT_VERSION)
    }

    /// [`LogWriter::new`] with a header of format `version` 6 to 11. Before
    /// 10 the configuration cannot share bandwidth; before 11 a function
    /// cannot have a concurrency above 1. Versions
    /// 6 and 7 have one layout, with built-in policies only (6 marks a log
    /// recorded under the input timing of format 6 and older, which replay
    /// keeps: `log convert` writes it, and keeps 7 as 7). Before 9, inputs
    /// are written in version 8's layout, and a function with start costs
    /// of its own cannot be written.
    fn with_version(
        out: W,
        format: LogFormat,
        header: &LogHeader,
        version: u32,
    ) -> Result<Self, LogError> {
        debug_assert!((FORMAT_VERSION_SAME_HEADER..=FORMAT_VERSION).contains(&version));
        let mut writer = LogWriter {
            out,
            format,
            buffer: Vec::new(),
            version,
        };
        if format == LogFormat::Binary {
            writer.out.write_all(&MAGIC)?;
            writer.out.write_all(&version.to_le_bytes())?;
        }
        if version < FORMAT_VERSION_POLICY_SPEC {
            let builtin = header.policies.builtin().ok_or_else(|| {
                LogError::Encode(format!(
                    "a version {version} header holds only built-in policies, not \"{}\"",
                    shorten(header.policies.name())
                ))
            })?;
            writer.header(
                header,
                ConfigV9::of(&header.config, version)?,
                BuiltinV11::of(builtin, version)?,
            )?;
        } else if version < FORMAT_VERSION_BANDWIDTH {
            writer.header(
                header,
                ConfigV9::of(&header.config, version)?,
                PolicySpecV11::of(&header.policies, version)?,
            )?;
        } else if version < FORMAT_VERSION_CURRENT_LAYOUT {
            writer.header(
                header,
                ConfigV11::of(&header.config, version)?,
                PolicySpecV11::of(&header.policies, version)?,
            )?;
        } else {
            writer.header(header, header.config.clone(), header.policies.clone())?;
        }
        Ok(writer)
    }

    /// Writes the header, its configuration as `config` and its policies
    /// as `policies` (this build's types, or an older version's).
    fn header<C: Serialize, P: Serialize>(
        &mut self,
        header: &LogHeader,
        config: C,
        policies: P,
    ) -> Result<(), LogError> {
        match self.format {
            LogFormat::Binary => self.record(
                TAG_HEADER,
                &OldHeader {
                    coldstart_version: header.coldstart_version.clone(),
                    config,
                    policies,
                },
            ),
            LogFormat::JsonLines => {
                self.line(&JsonHeader::of(header, self.version, config, policies))
            }
        }
    }

    fn record<T: Serialize>(&mut self, tag: u8, value: &T) -> Result<(), LogError> {
        self.buffer.clear();
        codec::encode_into(value, &mut self.buffer)
            .map_err(|error| LogError::Encode(error.message))?;
        self.framed(tag)
    }

    /// Writes `self.buffer` as a record's payload, framed.
    fn framed(&mut self, tag: u8) -> Result<(), LogError> {
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

    /// Writes one input. Inputs must come in the order they were applied.
    pub fn write_input(&mut self, input: &Input) -> Result<(), LogError> {
        if self.version < FORMAT_VERSION_START_COSTS {
            let v8 = inputs_old::InputV8::try_from(input).map_err(LogError::Encode)?;
            return self.input_as(&v8);
        }
        if self.version < FORMAT_VERSION_CONCURRENCY {
            let v9 = inputs_old::InputV9::try_from(input).map_err(LogError::Encode)?;
            return self.input_as(&v9);
        }
        if self.version < FORMAT_VERSION_CURRENT_LAYOUT {
            let v11 = inputs_old::InputV11::try_from(input).map_err(LogError::Encode)?;
            return self.input_as(&v11);
        }
        self.input_as(input)
    }

    /// Writes one input, as this build's type or an older version's.
    fn input_as<T: Serialize>(&mut self, input: &T) -> Result<(), LogError> {
        match self.format {
            LogFormat::Binary => self.record(TAG_INPUT, input),
            LogFormat::JsonLines => self.line(input),
        }
    }

    /// Writes the check of the input written last.
    pub fn write_check(&mut self, check: &StepCheck) -> Result<(), LogError> {
        match self.format {
            LogFormat::Binary => {
                self.buffer = check.to_bytes();
                self.framed(TAG_CHECK)
            }
            LogFormat::JsonLines => self.line(&JsonCheck {
                check: check.fingerprints.to_vec(),
            }),
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
    /// An input, applied in order.
    Input(Input),
    /// The check of the input before it.
    Check(StepCheck),
    /// What the run produced, to verify against (at most one, last).
    Trailer(Trailer),
}

enum Source<R: BufRead> {
    Binary {
        reader: R,
        offset: u64,
        payload: Vec<u8>,
        /// Records read after the header.
        records: u64,
    },
    Json {
        reader: R,
        line_number: u64,
        line: String,
    },
}

/// Reads a log of either format, checking the version first.
pub struct LogReader<R: BufRead> {
    version: u32,
    source: Source<R>,
    header: LogHeader,
    format: LogFormat,
    inputs_read: u64,
    trailer_seen: bool,
    /// Whether the record read last is an input (a check may follow).
    after_input: bool,
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

impl From<crate::files::FileProblem> for LogError {
    fn from(problem: crate::files::FileProblem) -> Self {
        use crate::files::FileProblem;
        match problem {
            FileProblem::NotRegular(what) => LogError::NotRegular(what),
            FileProblem::Io(error) => LogError::Io(error),
            other => LogError::Io(std::io::Error::other(other.to_string())),
        }
    }
}

impl LogReader<BufReader<std::fs::File>> {
    /// Opens a log file: a regular file only (a FIFO or a device is
    /// refused before it is opened).
    pub fn open(path: &Path) -> Result<Self, LogError> {
        let file = crate::files::open_regular(path)?;
        LogReader::new(BufReader::with_capacity(1 << 16, file))
    }
}

/// "input N", or what stands for it before the first input.
fn after_input(index: u64) -> String {
    match index.checked_sub(1) {
        Some(previous) => format!("after input {previous}"),
        None => "before the first input".to_string(),
    }
}

/// "the check of input N", or what stands for it before the first input.
fn check_of(index: u64) -> String {
    match index.checked_sub(1) {
        Some(previous) => format!("the check of input {previous}"),
        None => "a check before the first input".to_string(),
    }
}

impl<R: BufRead> LogReader<R> {
    /// Reads the header from `reader` and tells the format by its first
    /// bytes; refuses an empty file, a byte order mark, and anything that is
    /// neither format.
    pub fn new(mut reader: R) -> Result<Self, LogError> {
        let first = reader.fill_buf()?;
        if first.is_empty() {
            return Err(LogError::Empty);
        }
        if first.starts_with(crate::files::BOM.as_bytes()) {
            return Err(LogError::ByteOrderMark);
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
        if !(FORMAT_VERSION_OLDEST..=FORMAT_VERSION).contains(&found) {
            return Err(LogError::UnsupportedVersion {
                found: u64::from(found),
            });
        }
        let mut source = Source::Binary {
            reader,
            offset: 12,
            payload: Vec::new(),
            records: 0,
        };
        let header = match binary_record(&mut source, 0)? {
            Some((TAG_HEADER, payload)) => {
                let corrupt = |error: codec::CodecError| LogError::Corrupt {
                    what: "header".to_string(),
                    problem: error.message,
                };
                match found {
                    2 => codec::decode::<LogHeaderV2>(payload)
                        .map_err(corrupt)?
                        .into(),
                    3 => codec::decode::<LogHeaderV3>(payload)
                        .map_err(corrupt)?
                        .into(),
                    4 => codec::decode::<LogHeaderV4>(payload)
                        .map_err(corrupt)?
                        .try_into()
                        .map_err(|problem| LogError::Corrupt {
                            what: "header".to_string(),
                            problem,
                        })?,
                    5 => codec::decode::<LogHeaderV5>(payload)
                        .map_err(corrupt)?
                        .read_as(5)
                        .map_err(|problem| LogError::Corrupt {
                            what: "header".to_string(),
                            problem,
                        })?,
                    6 | 7 => codec::decode::<LogHeaderV7>(payload)
                        .map_err(corrupt)?
                        .read_as(found)
                        .map_err(|problem| LogError::Corrupt {
                            what: "header".to_string(),
                            problem,
                        })?,
                    8 | 9 => codec::decode::<LogHeaderV9>(payload)
                        .map_err(corrupt)?
                        .read_as(found)
                        .map_err(|problem| LogError::Corrupt {
                            what: "header".to_string(),
                            problem,
                        })?,
                    10 | 11 => codec::decode::<LogHeaderV11>(payload)
                        .map_err(corrupt)?
                        .read_as(found)
                        .map_err(|problem| LogError::Corrupt {
                            what: "header".to_string(),
                            problem,
                        })?,
                    _ => codec::decode::<LogHeader>(payload).map_err(corrupt)?,
                }
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
            version: found,
            source,
            header,
            format: LogFormat::Binary,
            inputs_read: 0,
            trailer_seen: false,
            after_input: false,
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
        let found = match value.get("format_version").and_then(|v| v.as_u64()) {
            Some(found)
                if (u64::from(FORMAT_VERSION_OLDEST)..=u64::from(FORMAT_VERSION))
                    .contains(&found) =>
            {
                found as u32
            }
            Some(found) => return Err(LogError::UnsupportedVersion { found }),
            None => return Err(corrupt("no numeric \"format_version\"".to_string())),
        };
        let header = if found < FORMAT_VERSION_SAME_HEADER {
            // Versions 2 to 5: their hybrid histogram has no pre-warm
            // percentile; the fields older versions lack take defaults.
            let json: JsonHeaderV5 =
                serde_json::from_value(value).map_err(|error| corrupt(json_problem(&error)))?;
            LogHeaderV5 {
                coldstart_version: json.coldstart_version,
                config: json.config,
                policies: json.policies,
            }
            .read_as(found)
            .map_err(corrupt)?
        } else if found < FORMAT_VERSION_POLICY_SPEC {
            let json: JsonHeader<BuiltinV11, ConfigV9> =
                serde_json::from_value(value).map_err(|error| corrupt(json_problem(&error)))?;
            LogHeader {
                coldstart_version: json.coldstart_version,
                config: json.config.into(),
                policies: PolicySpec::Builtin(json.policies.read_as(found).map_err(corrupt)?),
            }
        } else if found < FORMAT_VERSION_BANDWIDTH {
            let json: JsonHeader<PolicySpecV11, ConfigV9> =
                serde_json::from_value(value).map_err(|error| corrupt(json_problem(&error)))?;
            LogHeader {
                coldstart_version: json.coldstart_version,
                config: json.config.into(),
                policies: json.policies.read_as(found).map_err(corrupt)?,
            }
        } else if found < FORMAT_VERSION_CURRENT_LAYOUT {
            let json: JsonHeader<PolicySpecV11, ConfigV11> =
                serde_json::from_value(value).map_err(|error| corrupt(json_problem(&error)))?;
            LogHeader {
                coldstart_version: json.coldstart_version,
                config: json.config.into(),
                policies: json.policies.read_as(found).map_err(corrupt)?,
            }
        } else {
            let json: JsonHeader<PolicySpec> =
                serde_json::from_value(value).map_err(|error| corrupt(json_problem(&error)))?;
            LogHeader {
                coldstart_version: json.coldstart_version,
                config: json.config,
                policies: json.policies,
            }
        };
        Ok(LogReader {
            version: found,
            source: Source::Json {
                reader,
                line_number: 1,
                line,
            },
            header,
            format: LogFormat::JsonLines,
            inputs_read: 0,
            trailer_seen: false,
            after_input: false,
        })
    }

    /// The log's header: its configuration, policy and seed.
    pub fn header(&self) -> &LogHeader {
        &self.header
    }

    /// The format version the log was written in.
    pub fn format_version(&self) -> u32 {
        self.version
    }

    /// Which encoding the log is in.
    pub fn format(&self) -> LogFormat {
        self.format
    }

    /// The next input or the trailer; `None` at the end. Nothing may follow
    /// the trailer.
    pub fn next_record(&mut self) -> Result<Option<Record>, LogError> {
        let index = self.inputs_read;
        let record = match &mut self.source {
            Source::Binary { records, .. } => {
                *records += 1;
                let number = *records;
                let what = || format!("record {number} ({})", after_input(index));
                match binary_record(&mut self.source, number)? {
                    None => None,
                    Some((TAG_INPUT, payload)) => Some(Record::Input(
                        if self.version < FORMAT_VERSION_START_COSTS {
                            codec::decode_input_v8(payload)
                        } else if self.version < FORMAT_VERSION_CONCURRENCY {
                            codec::decode_input_v9(payload)
                        } else if self.version < FORMAT_VERSION_CURRENT_LAYOUT {
                            codec::decode_input_v11(payload)
                        } else {
                            codec::decode_input(payload)
                        }
                        .map_err(|error| LogError::Corrupt {
                            what: format!("input {index}"),
                            problem: error.message,
                        })?,
                    )),
                    Some((TAG_CHECK, payload)) => Some(Record::Check(
                        StepCheck::from_bytes(payload).map_err(|problem| LogError::Corrupt {
                            what: check_of(index),
                            problem,
                        })?,
                    )),
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
                    Some(json_record(line, *line_number, index, self.version)?)
                }
            }
        };
        if self.trailer_seen && record.is_some() {
            return Err(LogError::Corrupt {
                what: format!("after the trailer (input {index})"),
                problem: "the trailer must be the last record".to_string(),
            });
        }
        if matches!(record, Some(Record::Check(_))) && !self.after_input {
            return Err(LogError::Corrupt {
                what: after_input(index),
                problem: "a step check must follow an input, once".to_string(),
            });
        }
        self.after_input = matches!(record, Some(Record::Input(_)));
        match &record {
            Some(Record::Input(_)) => self.inputs_read += 1,
            Some(Record::Trailer(_)) => self.trailer_seen = true,
            Some(Record::Check(_)) | None => {}
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
    // The header holds the configuration (a line per host in all); the
    // other lines are small.
    let bytes_max = if line_number == 1 {
        RECORD_BYTES_MAX as usize
    } else {
        JSON_LINE_BYTES_MAX
    };
    let mut bytes = std::mem::take(line).into_bytes();
    let read =
        crate::files::read_line_bounded(reader, &mut bytes, bytes_max).map_err(|problem| {
            match problem {
                crate::files::LineProblem::Io(error) => LogError::Io(error),
                too_long => LogError::Corrupt {
                    what: format!("line {line_number}"),
                    problem: too_long.to_string(),
                },
            }
        })?;
    *line = String::from_utf8(bytes).map_err(|_| LogError::Corrupt {
        what: format!("line {line_number}"),
        problem: "not UTF-8".to_string(),
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

fn json_record(line: &str, line_number: u64, index: u64, version: u32) -> Result<Record, LogError> {
    let corrupt = |what: String, problem: String| LogError::Corrupt {
        what: format!("line {line_number} ({what})"),
        problem,
    };
    if line.trim_start().starts_with("{\"check\"") {
        let json: JsonCheck = serde_json::from_str(line)
            .map_err(|error| corrupt(check_of(index), json_problem(&error)))?;
        return Ok(Record::Check(StepCheck {
            fingerprints: json.check.into(),
        }));
    }
    if line.trim_start().starts_with("{\"trailer\"") {
        let json: JsonTrailer = serde_json::from_str(line)
            .map_err(|error| corrupt("trailer".to_string(), json_problem(&error)))?;
        return Ok(Record::Trailer(json.trailer));
    }
    let input = if version < FORMAT_VERSION_START_COSTS {
        serde_json::from_str::<inputs_old::InputV8>(line).map(Input::from)
    } else if version < FORMAT_VERSION_CONCURRENCY {
        serde_json::from_str::<inputs_old::InputV9>(line).map(Input::from)
    } else if version < FORMAT_VERSION_CURRENT_LAYOUT {
        serde_json::from_str::<inputs_old::InputV11>(line).map(Input::from)
    } else {
        serde_json::from_str(line)
    };
    input
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
        ..
    } = source
    else {
        unreachable!("binary_record on a JSON source");
    };
    let start = *offset;
    // Names are built only for an error: this runs once per record.
    let name = || match record_number {
        0 => "the header record".to_string(),
        n => format!("record {n} (an input, its check or the trailer)"),
    };
    let what = |part: &str| format!("{}'s {part}", name());
    // Fast path: the whole record is already in the reader's buffer (all
    // but the records that straddle a refill), so it is checked and copied
    // in one go rather than read piece by piece.
    let buffered = reader.fill_buf()?;
    if buffered.len() >= 9 {
        let tag = buffered[0];
        let length = [buffered[1], buffered[2], buffered[3], buffered[4]];
        let length_bytes = u32::from_le_bytes(length) as usize;
        let end = 5 + length_bytes;
        if length_bytes <= RECORD_BYTES_MAX as usize && buffered.len() >= end + 4 {
            let body = &buffered[5..end];
            let check = [
                buffered[end],
                buffered[end + 1],
                buffered[end + 2],
                buffered[end + 3],
            ];
            if u32::from_le_bytes(check) == record_check(tag, length, body) {
                payload.clear();
                payload.extend_from_slice(body);
                reader.consume(end + 4);
                *offset = start + (end + 4) as u64;
                return Ok(Some((tag, payload.as_slice())));
            }
            // A damaged record: the slow path below names the problem.
        }
    }
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
            what: format!("{} at byte {start}", name()),
            problem: format!("length {length_bytes} bytes is above the limit {RECORD_BYTES_MAX}"),
        });
    }
    // Read as it comes rather than sized from the length: a small file
    // claiming a huge record costs what the file holds, not the claim.
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
            what: format!("{} at byte {start}", name()),
            problem: "check mismatch (the file is damaged)".to_string(),
        });
    }
    *offset = start + 9 + u64::from(length_bytes);
    Ok(Some((tag, payload.as_slice())))
}

/// Why recording or replaying stopped.
#[derive(Debug)]
#[non_exhaustive]
pub enum RunError {
    /// The log could not be read or written.
    Log(LogError),
    /// The run itself stopped (a refused input, a broken invariant, an
    /// undrained timer).
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

impl std::error::Error for RunError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RunError::Log(error) => Some(error),
            RunError::Drive(error) => Some(error),
            RunError::Mismatch(_) => None,
        }
    }
}

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

/// The trailer of what a driver has run so far.
fn trailer_of<P: crate::Policies>(driver: &Driver<P>) -> Trailer {
    Trailer {
        steps: driver.steps(),
        events: driver.events_count(),
        events_digest: driver.digest(),
    }
}

/// Drives a provider and records a log of what it ran: the header (the
/// configuration and the policies' [`PolicyIdentity`]), each step's input
/// and check, and a trailer.
///
/// A wait of the client's is recorded as the `Advance` it amounts to, and
/// a refused input whose time fired timers as an `Advance` to its time, so
/// a replay goes through the same steps.
///
/// ```
/// use coldstart::driver::DriverOptions;
/// use coldstart::log::{replay, LogFormat, LogReader, Recorder};
/// use coldstart::simulate::default_config;
/// use coldstart::{Builtin, Pressure};
///
/// let mut recorder = Recorder::new(
///     Vec::new(),
///     LogFormat::JsonLines,
///     default_config(Pressure::Reject),
///     Builtin::default(),
///     DriverOptions::default(),
/// )?;
/// recorder.drain_with(|_| {})?;
/// let (_, _, log) = recorder.finish()?;
/// let replayed = replay(LogReader::new(&log[..])?, DriverOptions::default(), None, true, |_| {})?;
/// assert_eq!(replayed.driver.steps(), 0);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub struct Recorder<W: Write, P: PolicyIdentity = Builtin> {
    driver: Driver<P>,
    writer: LogWriter<W>,
}

impl<W: Write, P: PolicyIdentity> Recorder<W, P> {
    /// Writes the header of a run of `config` with `policies` to `out`.
    pub fn new(
        out: W,
        format: LogFormat,
        config: Config,
        policies: P,
        options: DriverOptions,
    ) -> Result<Self, RunError> {
        let header = LogHeader::new(config, policies.identity());
        let provider = Provider::new(header.config.clone(), policies).map_err(LogError::Config)?;
        let writer = LogWriter::new(out, format, &header)?;
        Ok(Recorder {
            driver: Driver::new(provider, options),
            writer,
        })
    }

    /// The driver, to read the provider's state.
    pub fn driver(&self) -> &Driver<P> {
        &self.driver
    }

    /// Applies one input, logs what reproduces the step, and returns its
    /// events. A refused input is an error; if its time fired timers, the
    /// log holds an `Advance` to that time in its place.
    pub fn apply(&mut self, input: &Input) -> Result<&[Event], RunError> {
        let (result, to_log) = self.driver.apply_logged(input);
        self.log(input, to_log)?;
        result?;
        Ok(self.driver.last_events())
    }

    /// Waits until `invocation` has ended ([`Driver::wait_for`]), logging
    /// the wait as an `Advance`.
    pub fn wait_for(
        &mut self,
        invocation: crate::InvocationId,
        deadline_us: Option<u64>,
    ) -> Result<crate::Finished, RunError> {
        let (result, to_log) = self
            .driver
            .wait_logged(|provider, events| provider.wait_for(invocation, deadline_us, events));
        self.log_wait(to_log)?;
        Ok(result?)
    }

    /// Waits until every invocation has ended ([`Driver::wait_for_all`]),
    /// logging the wait as an `Advance`.
    pub fn wait_for_all(
        &mut self,
        invocations: &[crate::InvocationId],
        deadline_us: Option<u64>,
    ) -> Result<Vec<crate::Finished>, RunError> {
        let (result, to_log) = self.driver.wait_logged(|provider, events| {
            provider.wait_for_all(invocations, deadline_us, events)
        });
        self.log_wait(to_log)?;
        Ok(result?)
    }

    /// Waits until one of the invocations has ended
    /// ([`Driver::wait_for_any`]), logging the wait as an `Advance`.
    pub fn wait_for_any(
        &mut self,
        invocations: &[crate::InvocationId],
        deadline_us: Option<u64>,
    ) -> Result<crate::Finished, RunError> {
        let (result, to_log) = self.driver.wait_logged(|provider, events| {
            provider.wait_for_any(invocations, deadline_us, events)
        });
        self.log_wait(to_log)?;
        Ok(result?)
    }

    fn log_wait(&mut self, to_log: ToLog) -> Result<(), LogError> {
        debug_assert!(to_log != ToLog::Input, "a wait is logged as an advance");
        let advance = Input {
            at_us: self.driver.provider().now_us(),
            command: Command::Advance,
        };
        self.log(&advance, to_log)
    }

    /// Writes what reproduces the step the driver just counted, and its
    /// check.
    fn log(&mut self, input: &Input, to_log: ToLog) -> Result<(), LogError> {
        match to_log {
            ToLog::Nothing => return Ok(()),
            ToLog::Input => self.writer.write_input(input)?,
            ToLog::Advance(at_us) => self.writer.write_input(&Input {
                at_us,
                command: Command::Advance,
            })?,
        }
        self.writer
            .write_check(&StepCheck::of_hashes(self.driver.step_hashes()))
    }

    /// Advances to each next timer until none is left (at most
    /// `drain_steps_max` advances), logging each `Advance`.
    pub fn drain_with(&mut self, mut on_event: impl FnMut(&Event)) -> Result<u64, RunError> {
        let drain_steps_max = self.driver.options().drain_steps_max;
        crate::driver::drain_loop(
            self,
            drain_steps_max,
            |recorder| recorder.driver.provider().next_timer_us(),
            |recorder, advance| {
                recorder.apply(advance)?.iter().for_each(&mut on_event);
                Ok(())
            },
        )
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
    pub fn finish(self) -> Result<(Driver<P>, Trailer, W), RunError> {
        let trailer = trailer_of(&self.driver);
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
#[non_exhaustive]
pub struct Replayed<P: crate::Policies = Builtin> {
    /// The driver, at the end of the replay.
    pub driver: Driver<P>,
    /// The log's header.
    pub header: LogHeader,
    /// The log's trailer, if it has one.
    pub trailer: Option<Trailer>,
    /// Whether an `--until` bound stopped it before the end of the log.
    pub stopped_early: bool,
    /// Step checks compared (with `verify`).
    pub checks_verified: u64,
}

/// The last step a replay applied, kept to compare with its check.
struct LastStep {
    step: u64,
    input: Input,
    events: Vec<Event>,
    /// Events of the run before this step's.
    events_before: u64,
}

/// Runs a log from its header, passing each event to `on_event`. With
/// `verify`, every step check must match the step's events (the first that
/// does not names the step and the event), and the log must end with a
/// trailer whose counts and digest match the run's.
///
/// The log's policies must be built-in ([`LogError::PolicyNeeded`]
/// otherwise): [`replay_with`] replays a log of the user's own policy.
pub fn replay<R: BufRead>(
    reader: LogReader<R>,
    options: DriverOptions,
    until: Option<Until>,
    verify: bool,
    on_event: impl FnMut(&Event),
) -> Result<Replayed, RunError> {
    let provider = reader.header().provider()?;
    replay_from(reader, provider, options, until, verify, on_event)
}

/// [`replay`] run by `policies`, which must be the ones the log's header
/// names ([`LogError::PolicyMismatch`] otherwise): the way to replay, and
/// verify, a log recorded with a policy of the user's own.
pub fn replay_with<R: BufRead, P: PolicyIdentity>(
    reader: LogReader<R>,
    policies: P,
    options: DriverOptions,
    until: Option<Until>,
    verify: bool,
    on_event: impl FnMut(&Event),
) -> Result<Replayed<P>, RunError> {
    let provider = reader.header().provider_with(policies)?;
    replay_from(reader, provider, options, until, verify, on_event)
}

fn replay_from<R: BufRead, P: crate::Policies>(
    mut reader: LogReader<R>,
    mut provider: Provider<P>,
    options: DriverOptions,
    until: Option<Until>,
    verify: bool,
    mut on_event: impl FnMut(&Event),
) -> Result<Replayed<P>, RunError> {
    let header = reader.header().clone();
    if reader.format_version() <= FORMAT_VERSION_TIMERS_AFTER_JUDGING {
        // Replayed as it ran: such logs were recorded under the old timing.
        provider.set_input_timing(InputTiming::BeforeTimers);
    }
    let mut driver = Driver::new(provider, options);
    let mut trailer = None;
    let mut stopped_early = false;
    let mut last_step: Option<LastStep> = None;
    let mut checks_verified = 0;
    while let Some(record) = reader.next_record()? {
        let input = match record {
            Record::Trailer(found) => {
                trailer = Some(found);
                continue;
            }
            Record::Check(check) => {
                if let (true, Some(last)) = (verify, &last_step) {
                    verify_step(last, &driver, &check)?;
                    checks_verified += 1;
                }
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
        let events_before = driver.events_count();
        let step = driver.steps();
        let events = driver.apply(&input)?;
        events.iter().for_each(&mut on_event);
        if verify {
            last_step = Some(LastStep {
                step,
                input,
                events: events.to_vec(),
                events_before,
            });
        }
    }
    if verify && !stopped_early {
        let expected = trailer.as_ref().ok_or_else(|| {
            RunError::Mismatch("--verify: the log has no trailer to verify against".to_string())
        })?;
        verify_against(expected, trailer_of(&driver), checks_verified)?;
    }
    Ok(Replayed {
        driver,
        header,
        trailer,
        stopped_early,
        checks_verified,
    })
}

/// Compares the events of the step just applied with the log's check of it.
fn verify_step<P: crate::Policies>(
    last: &LastStep,
    driver: &Driver<P>,
    check: &StepCheck,
) -> Result<(), RunError> {
    let got: Vec<u16> = driver
        .step_hashes()
        .iter()
        .map(|&h| fingerprint(h))
        .collect();
    let expected = &check.fingerprints;
    if got[..] == expected[..] {
        return Ok(());
    }
    let first = got
        .iter()
        .zip(expected)
        .position(|(g, e)| g != e)
        .unwrap_or(got.len().min(expected.len()));
    let input = serde_json::to_string(&last.input).unwrap_or_default();
    let number = last.events_before + first as u64;
    let what = match last.events.get(first) {
        Some(event) => format!(
            "the replay produced {}",
            serde_json::to_string(event).unwrap_or_default()
        ),
        None => "the replay produced no such event".to_string(),
    };
    let expectation = match expected.get(first) {
        Some(f) => format!("the log expects an event with fingerprint {f:04x}"),
        None => "the log expects no such event".to_string(),
    };
    Err(RunError::Mismatch(format!(
        "events diverge at step {} (input {input}): event {first} of the step (event {number} of the run): {what}, {expectation} (the log expects {} events in this step, the replay produced {})",
        last.step,
        expected.len(),
        got.len()
    )))
}

fn verify_against(expected: &Trailer, got: Trailer, checks_verified: u64) -> Result<(), RunError> {
    if expected.steps != got.steps {
        return Err(RunError::Mismatch(format!(
            "the trailer counts {} inputs, the log has {}",
            expected.steps, got.steps
        )));
    }
    if expected == &got {
        return Ok(());
    }
    // Every step check matched (or there were none): the divergence is a
    // fingerprint collision or the log carries no step checks.
    let place = if checks_verified < got.steps {
        format!(
            "; only {checks_verified} of the {} steps carry a check, so the step is not known",
            got.steps
        )
    } else {
        "; every step check matched (a fingerprint collision hides the step)".to_string()
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
    // A log keeps the input timing it was recorded under: older formats
    // are written as 6, the newest format whose replay keeps it.
    let version = reader.format_version().max(FORMAT_VERSION_SAME_HEADER);
    let mut writer = LogWriter::with_version(out, format, &reader.header().clone(), version)?;
    let mut trailer = None;
    while let Some(record) = reader.next_record()? {
        match record {
            Record::Input(input) => writer.write_input(&input)?,
            Record::Check(check) => writer.write_check(&check)?,
            Record::Trailer(found) => trailer = Some(found),
        }
    }
    writer.finish(trailer.as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::simulate::{default_config, default_workload};
    use crate::{FunctionDef, Pressure};

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

    /// A run that stops names its cause as the error's source, and a
    /// driver reports the run so far as `run` would, without the drain.
    #[test]
    fn run_errors_chain_to_their_cause_and_a_driver_reports_so_far() {
        use std::error::Error;
        let provider = Provider::new(default_config(Pressure::Reject), Builtin::default()).unwrap();
        let mut driver = Driver::new(provider, DriverOptions::default().with_drain_steps_max(0));
        let inputs: Vec<Input> = default_workload(3, 10).inputs().unwrap().collect();
        let error = RunError::from(driver.run(inputs).unwrap_err());
        let RunError::Drive(drive) = &error else {
            panic!("not a drive error: {error}");
        };
        assert!(matches!(
            drive,
            DriveError::Undrained { drain_steps: 0, .. }
        ));
        let source = error.source().expect("a cause").to_string();
        assert_eq!(source, drive.to_string());
        assert!(
            source.contains("DriverOptions::drain_steps_max"),
            "{source}"
        );
        let so_far = driver.report_so_far();
        assert_eq!(
            (
                so_far.steps,
                so_far.drain_steps,
                so_far.events,
                so_far.digest,
                so_far.end_us
            ),
            (
                driver.steps(),
                0,
                driver.events_count(),
                driver.digest(),
                driver.provider().now_us()
            )
        );
        assert!(so_far.steps > 0);
        assert!(RunError::Mismatch("differs".into()).source().is_none());
    }

    /// A version 2 log (its configuration without `retry`) still replays
    /// and verifies: the same log as version 3 wrote it, with the version
    /// and the header record rewritten as version 2 had them.
    #[test]
    fn version_2_logs_are_read() {
        #[derive(Serialize)]
        struct ConfigV2Out {
            main_storage: crate::MainStorageSpec,
            hosts: Vec<HostSpecV11>,
            cold_start_us: u64,
            warm_start_us: u64,
            pressure: Pressure,
            terminal_records_max: Option<u64>,
        }
        #[derive(Serialize)]
        struct HeaderV2Out {
            coldstart_version: String,
            config: ConfigV2Out,
            policies: BuiltinV3,
        }
        let (config, trailer, v8) = recorded_default_log();
        let header = codec::encode(&HeaderV2Out {
            coldstart_version: "0.1.0".to_string(),
            config: ConfigV2Out {
                main_storage: config.main_storage,
                hosts: HostSpecV11::all_of(&config, 2).unwrap(),
                cold_start_us: config.cold_start_us,
                warm_start_us: config.warm_start_us,
                pressure: config.pressure,
                terminal_records_max: config.terminal_records_max,
            },
            policies: BuiltinV3 {
                host_selection: crate::HostSelection::FirstFit,
                warm_choice: crate::WarmChoice::NewestCreated,
                keep_alive_us: crate::policy::DEFAULT_KEEP_ALIVE_US,
                prices: LambdaPricesV11::default(),
            },
        })
        .unwrap();
        let v2 = with_old_header(&v8, 2, &header);
        let reader = LogReader::new(&v2[..]).unwrap();
        assert_eq!(reader.header().config, config);
        let replayed = replay_bytes(&v2, true).unwrap();
        assert_eq!(replayed.driver.digest(), trailer.events_digest);
        // A version 2 header read as version 3 does not decode.
        assert!(codec::decode::<LogHeader>(&header).is_err());
    }

    #[test]
    fn a_version_4_log_replays_with_the_clocks_at_zero() {
        let (config, trailer, v8) = recorded_default_log();
        let v4_header = |policies: BuiltinV4| {
            codec::encode(&LogHeaderV4 {
                coldstart_version: "0.1.0".to_string(),
                config: ConfigV9::of(&config, 4).unwrap(),
                policies,
            })
            .unwrap()
        };
        let policies = || BuiltinV4 {
            host_selection: crate::HostSelection::FirstFit,
            warm_choice: crate::WarmChoice::NewestCreated,
            keep_alive_us: crate::policy::DEFAULT_KEEP_ALIVE_US,
            prices: LambdaPricesV11::default(),
            keep_alive_policy: KeepAlivePolicyV5::default(),
            image_eviction: crate::ImageEviction::default(),
            state: PolicyStateV4 {
                round_robin_next: 0,
                random_draws: 0,
                idle_histograms: Vec::new(),
                frequencies: Vec::new(),
            },
        };
        let with_header = |header: &[u8]| with_old_header(&v8, 4, header);
        let header = v4_header(policies());
        let v4 = with_header(&header);
        let reader = LogReader::new(&v4[..]).unwrap();
        assert_eq!(reader.header().policies.builtin(), Some(&old_default()));
        let replayed = replay_bytes(&v4, true).unwrap();
        assert_eq!(replayed.driver.digest(), trailer.events_digest);
        // A version 4 header read as version 6 does not decode: it lacks
        // the clocks.
        assert!(codec::decode::<LogHeader>(&header).is_err());
        // A version 4 header with state is refused by name.
        let mut stateful = policies();
        stateful.state.random_draws = 3;
        let error = LogReader::new(&with_header(&v4_header(stateful))[..])
            .err()
            .unwrap();
        assert!(
            error
                .to_string()
                .contains("a version 4 header with learned policy state"),
            "{error}"
        );
    }

    /// A binary log of 200 default-scenario invocations under the old
    /// default policies, with its configuration and trailer.
    fn recorded_default_log() -> (Config, Trailer, Vec<u8>) {
        recorded_log(LogFormat::Binary, old_default())
    }

    /// The default policies as formats up to 8 knew them: first fit (room
    /// first, today's default, came after), so that a header written as an
    /// old version names what its run used.
    fn old_default() -> Builtin {
        Builtin::default().with_host_selection(crate::HostSelection::FirstFit)
    }

    /// A log of 200 default-scenario invocations under `policies`, with
    /// its configuration and trailer, written as format 8: the inputs in
    /// the layout formats 2 to 8 share, so that relabelling its header as
    /// an older version's gives the log that version wrote of the run.
    fn recorded_log(format: LogFormat, policies: Builtin) -> (Config, Trailer, Vec<u8>) {
        let (config, trailer, current) = recorded_current_log(format, policies);
        (config, trailer, rewritten_as(&current, 8))
    }

    /// `log` written again as format `version` (6 to the current one),
    /// checks and trailer kept.
    fn rewritten_as(log: &[u8], version: u32) -> Vec<u8> {
        let mut reader = LogReader::new(log).unwrap();
        let (format, header) = (reader.format(), reader.header().clone());
        let mut writer = LogWriter::with_version(Vec::new(), format, &header, version).unwrap();
        let mut trailer = None;
        while let Some(record) = reader.next_record().unwrap() {
            match record {
                Record::Input(input) => writer.write_input(&input).unwrap(),
                Record::Check(check) => writer.write_check(&check).unwrap(),
                Record::Trailer(found) => trailer = Some(found),
            }
        }
        writer.finish(trailer.as_ref()).unwrap()
    }

    /// [`recorded_log`] in the current format.
    fn recorded_current_log(format: LogFormat, policies: Builtin) -> (Config, Trailer, Vec<u8>) {
        let config = default_config(Pressure::Reject);
        let mut recorder = Recorder::new(
            Vec::new(),
            format,
            config.clone(),
            policies,
            DriverOptions::default(),
        )
        .unwrap();
        recorder
            .run_with(default_workload(3, 200).inputs().unwrap(), |_| {})
            .unwrap();
        let (_, trailer, bytes) = recorder.finish().unwrap();
        (config, trailer, bytes)
    }

    /// A hybrid histogram with millisecond bins and no CV threshold, so
    /// that the default workload's idle times spread over bins and the
    /// histogram is used: with a pre-warm percentile, it pre-warms.
    fn fine_hybrid(prewarm_percentile: u32) -> Builtin {
        old_default().with_keep_alive_policy(crate::KeepAlivePolicy::HybridHistogram(
            crate::HybridHistogram {
                bin_us: 1_000,
                bins: 2_000,
                prewarm_percentile,
                cv_threshold_hundredths: 0,
                ..crate::HybridHistogram::PAPER
            },
        ))
    }

    /// `fine_hybrid` as versions 4 and 5 wrote it.
    fn fine_hybrid_v5() -> KeepAlivePolicyV5 {
        let p = crate::HybridHistogram::PAPER;
        KeepAlivePolicyV5::HybridHistogram(HybridHistogramV5 {
            bin_us: 1_000,
            bins: 2_000,
            tail_percentile: p.tail_percentile,
            margin_percent: p.margin_percent,
            cv_threshold_hundredths: 0,
            out_of_range_max_percent: p.out_of_range_max_percent,
            fallback_keep_alive_us: p.fallback_keep_alive_us,
        })
    }

    /// A version 5 (or 4) log recorded under the hybrid histogram, which
    /// then never pre-warmed, reads with `prewarm_percentile: 0` and
    /// replays to the digest of a version 6 recording with pre-warming
    /// off — which differs from one with pre-warming on.
    #[test]
    fn a_version_5_hybrid_log_replays_without_prewarming() {
        let (config, trailer, v8) = recorded_log(LogFormat::Binary, fine_hybrid(0));
        let (_, prewarming, _) = recorded_log(LogFormat::Binary, fine_hybrid(5));
        assert_ne!(
            prewarming.events_digest, trailer.events_digest,
            "the workload should pre-warm under fine_hybrid(5)"
        );
        let header = codec::encode(&LogHeaderV5 {
            coldstart_version: "0.1.0".to_string(),
            config: ConfigV9::of(&config, 5).unwrap(),
            policies: BuiltinV5 {
                host_selection: crate::HostSelection::FirstFit,
                warm_choice: crate::WarmChoice::NewestCreated,
                keep_alive_us: crate::policy::DEFAULT_KEEP_ALIVE_US,
                prices: LambdaPricesV11::default(),
                keep_alive_policy: fine_hybrid_v5(),
                image_eviction: crate::ImageEviction::default(),
                state: PolicyStateV5::default(),
            },
        })
        .unwrap();
        let v5 = with_old_header(&v8, 5, &header);
        let reader = LogReader::new(&v5[..]).unwrap();
        assert_eq!(reader.header().policies.builtin(), Some(&fine_hybrid(0)));
        let replayed = replay_bytes(&v5, true).unwrap();
        assert_eq!(replayed.driver.digest(), trailer.events_digest);
        assert_eq!(replayed.checks_verified, trailer.steps);
        // A version 5 hybrid header read as version 6 does not decode: it
        // lacks the pre-warm percentile.
        assert!(codec::decode::<LogHeader>(&header).is_err());

        // The same run as version 4 wrote it.
        let header = codec::encode(&LogHeaderV4 {
            coldstart_version: "0.1.0".to_string(),
            config: ConfigV9::of(&config, 4).unwrap(),
            policies: BuiltinV4 {
                host_selection: crate::HostSelection::FirstFit,
                warm_choice: crate::WarmChoice::NewestCreated,
                keep_alive_us: crate::policy::DEFAULT_KEEP_ALIVE_US,
                prices: LambdaPricesV11::default(),
                keep_alive_policy: fine_hybrid_v5(),
                image_eviction: crate::ImageEviction::default(),
                state: PolicyStateV4 {
                    round_robin_next: 0,
                    random_draws: 0,
                    idle_histograms: Vec::new(),
                    frequencies: Vec::new(),
                },
            },
        })
        .unwrap();
        let v4 = with_old_header(&v8, 4, &header);
        assert_eq!(
            LogReader::new(&v4[..]).unwrap().header().policies.builtin(),
            Some(&fine_hybrid(0))
        );
        let replayed = replay_bytes(&v4, true).unwrap();
        assert_eq!(replayed.driver.digest(), trailer.events_digest);
    }

    /// The JSON Lines form of the same: a version 5 header line has no
    /// `prewarm_percentile`, and a version 6 one must have it.
    #[test]
    fn a_version_5_hybrid_json_log_replays_without_prewarming() {
        let (_, trailer, v8) = recorded_log(LogFormat::JsonLines, fine_hybrid(0));
        let text = String::from_utf8(v8).unwrap();
        let (first, rest) = text.split_once('\n').unwrap();
        let mut header: serde_json::Value = serde_json::from_str(first).unwrap();
        assert_eq!(header["format_version"], 8);
        assert!(
            !rest.contains("cold_start_us"),
            "format 8 inputs have no start costs"
        );
        // Versions 7 and older hold the built-in policies themselves.
        header["policies"] = header["policies"]["builtin"].take();
        let hybrid = &mut header["policies"]["keep_alive_policy"]["HybridHistogram"];
        assert_eq!(hybrid["prewarm_percentile"], 0);
        hybrid.as_object_mut().unwrap().remove("prewarm_percentile");
        let with_version = |version: u32| {
            let mut old = header.clone();
            old["format_version"] = version.into();
            format!("{old}\n{rest}").into_bytes()
        };
        let v5 = with_version(5);
        let reader = LogReader::new(&v5[..]).unwrap();
        assert_eq!(reader.header().policies.builtin(), Some(&fine_hybrid(0)));
        let replayed = replay_bytes(&v5, true).unwrap();
        assert_eq!(replayed.driver.digest(), trailer.events_digest);
        let error = LogReader::new(&with_version(6)[..]).err().unwrap();
        assert!(error.to_string().contains("prewarm_percentile"), "{error}");
    }

    /// `log` (a binary log of format 8, as [`recorded_log`] writes) with its
    /// header record replaced by `header` and its version number by
    /// `version`: an older log of the same run (formats 2 to 8 share the
    /// inputs' layout).
    fn with_old_header(log: &[u8], version: u32, header: &[u8]) -> Vec<u8> {
        let header_len = u32::from_le_bytes([log[13], log[14], log[15], log[16]]) as usize;
        let rest = &log[12 + 1 + 4 + header_len + 4..];
        let length = (header.len() as u32).to_le_bytes();
        let mut old = MAGIC.to_vec();
        old.extend_from_slice(&version.to_le_bytes());
        old.push(TAG_HEADER);
        old.extend_from_slice(&length);
        old.extend_from_slice(header);
        old.extend_from_slice(&record_check(TAG_HEADER, length, header).to_le_bytes());
        old.extend_from_slice(rest);
        old
    }

    /// A policy of a test's own: the highest-numbered host that fits.
    #[derive(Clone)]
    struct LastFit {
        tag: u32,
    }

    impl crate::Policies for LastFit {
        fn select_host(
            &mut self,
            view: &dyn crate::HostView,
            request: &crate::PlacementRequest,
        ) -> Option<crate::HostId> {
            (0..view.host_count())
                .rev()
                .map(crate::HostId)
                .find(|&host| view.fits(host, request))
        }
    }

    impl PolicyIdentity for LastFit {
        fn identity(&self) -> PolicySpec {
            PolicySpec::Custom(CustomPolicy::new(
                "tests/last-fit",
                format!("{{\"tag\":{}}}", self.tag),
            ))
        }
    }

    fn command_at(at_us: u64, command: Command) -> Input {
        Input { at_us, command }
    }

    fn invoke_at(at_us: u64, function: crate::FunctionId, run_us: u64) -> Input {
        command_at(
            at_us,
            Command::Invoke {
                function,
                code: crate::Code {
                    clone_us: 1_000,
                    build_us: 2_000,
                    run_us,
                    outcome: crate::Outcome::Success { output: 7 },
                },
                ingress_bytes: 0,
                egress_bytes: 0,
            },
        )
    }

    fn accepted(events: &[Event]) -> crate::InvocationId {
        events
            .iter()
            .find_map(|event| match event.kind {
                crate::EventKind::Accepted { invocation, .. } => Some(invocation),
                _ => None,
            })
            .expect("an accepted invocation")
    }

    /// A run of a custom policy that waits as a client does, records, and
    /// refuses one input whose time fires timers; returns the log, its
    /// trailer and every event of the run.
    fn custom_run(format: LogFormat) -> (Vec<u8>, Trailer, Vec<Event>) {
        let mut recorder = Recorder::new(
            Vec::new(),
            format,
            default_config(Pressure::Reject),
            LastFit { tag: 1 },
            DriverOptions::default(),
        )
        .unwrap();
        // Each step's events, as the driver counted them.
        let mut events = Vec::new();
        let mut counted = 0;
        let mut take = |recorder: &Recorder<Vec<u8>, LastFit>| {
            if recorder.driver().steps() > counted {
                counted = recorder.driver().steps();
                events.extend_from_slice(recorder.driver().last_events());
            }
        };
        let apply = |recorder: &mut Recorder<Vec<u8>, LastFit>, input: Input| {
            recorder.apply(&input).unwrap().to_vec()
        };
        let registered = apply(
            &mut recorder,
            command_at(
                0,
                Command::RegisterImage {
                    size_bytes: 100 * crate::MIB,
                },
            ),
        );
        take(&recorder);
        let crate::EventKind::ImageRegistered { image, .. } = registered[0].kind else {
            panic!("not an image registration: {registered:?}");
        };
        let registered = apply(
            &mut recorder,
            command_at(
                0,
                Command::RegisterFunction(FunctionDef::new(image, 512 * crate::MIB, 60_000_000)),
            ),
        );
        take(&recorder);
        let crate::EventKind::FunctionRegistered { function, .. } = registered[0].kind else {
            panic!("not a function registration: {registered:?}");
        };
        let first = accepted(&apply(&mut recorder, invoke_at(0, function, 5_000_000)));
        take(&recorder);
        let second = accepted(&apply(&mut recorder, invoke_at(10, function, 5_000_000)));
        take(&recorder);
        let finished = recorder.wait_for(first, None).unwrap();
        take(&recorder);
        assert_eq!(finished.invocation, first);
        let both = recorder.wait_for_all(&[first, second], None).unwrap();
        take(&recorder);
        assert_eq!(both.len(), 2);
        // Waiting again for what has ended is no step.
        let steps = recorder.driver().steps();
        recorder.wait_for(first, None).unwrap();
        assert_eq!(recorder.driver().steps(), steps);
        // A wait that times out still counts, and logs, its advance.
        let now_us = recorder.driver().provider().now_us();
        let third = accepted(&apply(
            &mut recorder,
            invoke_at(now_us, function, 5_000_000),
        ));
        take(&recorder);
        let error = recorder
            .wait_for_any(&[third], Some(now_us + 1_000_000))
            .unwrap_err();
        take(&recorder);
        assert!(error.to_string().contains("deadline"), "{error}");
        assert_eq!(recorder.driver().steps(), steps + 2);
        // A refused input whose time fires timers: logged as an advance.
        let later_us = now_us + 30_000_000;
        let refused = recorder
            .apply(&command_at(
                later_us,
                Command::HostUp {
                    host: crate::HostId(99),
                    disk_kept: true,
                },
            ))
            .unwrap_err();
        take(&recorder);
        assert!(matches!(
            refused,
            RunError::Drive(DriveError::Refused { .. })
        ));
        assert_eq!(recorder.driver().provider().now_us(), later_us);
        assert_eq!(recorder.driver().steps(), steps + 3);
        recorder.drain_with(|event| events.push(*event)).unwrap();
        let (driver, trailer, bytes) = recorder.finish().unwrap();
        assert_eq!(driver.events_count(), trailer.events);
        assert_eq!(events.len() as u64, trailer.events);
        (bytes, trailer, events)
    }

    #[test]
    fn a_custom_policy_run_with_waits_replays_and_verifies() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let (bytes, trailer, events) = custom_run(format);
            // The custom policy placed on the last of the four hosts.
            assert!(events.iter().any(|event| matches!(
                event.kind,
                crate::EventKind::ColdStart {
                    host: crate::HostId(3),
                    ..
                }
            )));
            let reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.format_version(), FORMAT_VERSION);
            assert_eq!(reader.header().policies, LastFit { tag: 1 }.identity());
            let mut replayed_events = Vec::new();
            let replayed = replay_with(
                reader,
                LastFit { tag: 1 },
                DriverOptions::default(),
                None,
                true,
                |event| replayed_events.push(*event),
            )
            .unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert_eq!(replayed.checks_verified, trailer.steps);
            assert_eq!(replayed_events, events);
        }
    }

    #[test]
    fn a_custom_policy_log_is_refused_without_its_policy_or_with_another() {
        let (bytes, _, _) = custom_run(LogFormat::JsonLines);
        let error = replay_bytes(&bytes, true).err().unwrap();
        assert!(matches!(
            error,
            RunError::Log(LogError::PolicyNeeded { .. })
        ));
        assert_eq!(
            error.to_string(),
            "the log was recorded with the policy \"tests/last-fit\", not a built-in one: the command line replays only built-in policies; replay it with coldstart::log::replay_with and that policy"
        );
        let other = |policies| {
            let reader = LogReader::new(&bytes[..]).unwrap();
            replay_with(
                reader,
                policies,
                DriverOptions::default(),
                None,
                true,
                |_| {},
            )
            .err()
            .unwrap()
            .to_string()
        };
        assert_eq!(
            other(LastFit { tag: 2 }),
            "the log was recorded with the policy \"tests/last-fit\" with parameters \"{\"tag\":1}\", but the policies given are the policy \"tests/last-fit\" with parameters \"{\"tag\":2}\"; replay with the policy the log names"
        );
        let reader = LogReader::new(&bytes[..]).unwrap();
        let builtin = replay_with(
            reader,
            Builtin::default(),
            DriverOptions::default(),
            None,
            true,
            |_| {},
        );
        assert!(builtin
            .err()
            .unwrap()
            .to_string()
            .contains("but the policies given are built-in policies"));
    }

    #[test]
    fn a_custom_policy_log_cannot_be_written_as_an_older_version() {
        let (bytes, _, _) = custom_run(LogFormat::Binary);
        let reader = LogReader::new(&bytes[..]).unwrap();
        let error = LogWriter::with_version(Vec::new(), LogFormat::Binary, reader.header(), 7)
            .err()
            .unwrap();
        assert_eq!(
            error.to_string(),
            "cannot encode: a version 7 header holds only built-in policies, not \"tests/last-fit\""
        );
    }

    /// Versions 6 and 7 headers hold a `Builtin`; this build reads both
    /// forms, and writes them again for `log convert`.
    /// A run of two functions, one with start costs of its own: its log,
    /// trailer and the definition with costs.
    fn start_costs_run(format: LogFormat) -> (Vec<u8>, Trailer, FunctionDef) {
        let mut recorder = Recorder::new(
            Vec::new(),
            format,
            default_config(Pressure::Reject),
            Builtin::default(),
            DriverOptions::default(),
        )
        .unwrap();
        let registered = recorder
            .apply(&command_at(
                0,
                Command::RegisterImage {
                    size_bytes: 10 * crate::MIB,
                },
            ))
            .unwrap()
            .to_vec();
        let crate::EventKind::ImageRegistered { image, .. } = registered[0].kind else {
            panic!("not an image registration: {registered:?}");
        };
        let own = FunctionDef::new(image, 256 * crate::MIB, 60_000_000)
            .with_cold_start_us(700_000)
            .with_warm_start_us(3_000);
        let mut functions = Vec::new();
        for def in [
            own.clone(),
            FunctionDef::new(image, 128 * crate::MIB, 60_000_000),
        ] {
            let events = recorder
                .apply(&command_at(0, Command::RegisterFunction(def)))
                .unwrap()
                .to_vec();
            let crate::EventKind::FunctionRegistered { function, .. } = events[0].kind else {
                panic!("not a function registration: {events:?}");
            };
            functions.push(function);
        }
        for (i, at_us) in [0, 5_000_000, 10_000_000].into_iter().enumerate() {
            for &function in &functions {
                recorder
                    .apply(&invoke_at(at_us + i as u64, function, 1_000_000))
                    .unwrap();
            }
        }
        recorder
            .apply(&command_at(100_000_000, Command::Advance))
            .unwrap();
        let (_, trailer, bytes) = recorder.finish().unwrap();
        (bytes, trailer, own)
    }

    /// Format 9 holds a function's own start costs, in both forms; formats
    /// 8 and older cannot, and refuse to write them; a format 9 input of
    /// JSON Lines without the fields reads them as absent.
    #[test]
    fn start_costs_are_logged_from_format_9() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let (bytes, trailer, own) = start_costs_run(format);
            let mut reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.format_version(), FORMAT_VERSION);
            let mut defs = Vec::new();
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(Input {
                    command: Command::RegisterFunction(def),
                    ..
                }) = record
                {
                    defs.push(def);
                }
            }
            assert_eq!(defs.len(), 2);
            assert_eq!(defs[0], own);
            assert_eq!((defs[1].cold_start_us, defs[1].warm_start_us), (None, None));
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert_eq!(replayed.checks_verified, trailer.steps);

            let mut reader = LogReader::new(&bytes[..]).unwrap();
            let header = reader.header().clone();
            let mut v8 = LogWriter::with_version(Vec::new(), format, &header, 8).unwrap();
            let mut refused = None;
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(input) = record {
                    if let Err(error) = v8.write_input(&input) {
                        refused = Some(error.to_string());
                        break;
                    }
                }
            }
            let refused = refused.expect("a version 8 writer took start costs");
            assert!(
                refused.contains("cannot hold a function with start costs of its own"),
                "{refused}"
            );
        }
        // A JSON Lines input of format 10 without the field.
        let line = r#"{"at_us":0,"command":{"RegisterFunction":{"image":0,"memory_bytes":1,"scratch_bytes":0,"time_limit_us":1}}}"#;
        let Record::Input(input) = json_record(line, 2, 0, 9).unwrap() else {
            panic!("not an input");
        };
        let Command::RegisterFunction(def) = input.command else {
            panic!("not a registration: {input:?}");
        };
        assert_eq!((def.cold_start_us, def.warm_start_us), (None, None));
        assert_eq!(def.time_limit_us, 1);
    }

    /// A run of two functions, one of concurrency 3: its log, trailer and
    /// that function's definition.
    fn concurrency_run(format: LogFormat) -> (Vec<u8>, Trailer, FunctionDef) {
        let mut recorder = Recorder::new(
            Vec::new(),
            format,
            default_config(Pressure::Reject),
            Builtin::default(),
            DriverOptions::default(),
        )
        .unwrap();
        let registered = recorder
            .apply(&command_at(
                0,
                Command::RegisterImage {
                    size_bytes: 10 * crate::MIB,
                },
            ))
            .unwrap()
            .to_vec();
        let crate::EventKind::ImageRegistered { image, .. } = registered[0].kind else {
            panic!("not an image registration: {registered:?}");
        };
        let own = FunctionDef::new(image, 256 * crate::MIB, 60_000_000).with_concurrency(3);
        let mut functions = Vec::new();
        for def in [
            own.clone(),
            FunctionDef::new(image, 128 * crate::MIB, 60_000_000),
        ] {
            let events = recorder
                .apply(&command_at(0, Command::RegisterFunction(def)))
                .unwrap()
                .to_vec();
            let crate::EventKind::FunctionRegistered { function, .. } = events[0].kind else {
                panic!("not a function registration: {events:?}");
            };
            functions.push(function);
        }
        for (i, at_us) in [0, 1_000, 2_000].into_iter().enumerate() {
            for &function in &functions {
                recorder
                    .apply(&invoke_at(at_us + i as u64, function, 1_000_000))
                    .unwrap();
            }
        }
        recorder
            .apply(&command_at(100_000_000, Command::Advance))
            .unwrap();
        let (_, trailer, bytes) = recorder.finish().unwrap();
        (bytes, trailer, own)
    }

    /// Format 11 holds a function's concurrency, in both forms; formats 10
    /// and older cannot, and refuse to write one above 1; a format 10 input
    /// of JSON Lines without the field reads it as 1.
    #[test]
    fn concurrency_is_logged_from_format_11() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let (bytes, trailer, own) = concurrency_run(format);
            let mut reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.format_version(), FORMAT_VERSION);
            let mut defs = Vec::new();
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(Input {
                    command: Command::RegisterFunction(def),
                    ..
                }) = record
                {
                    defs.push(def);
                }
            }
            assert_eq!(defs.len(), 2);
            assert_eq!(defs[0], own);
            assert_eq!(defs[1].concurrency, 1);
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert_eq!(replayed.checks_verified, trailer.steps);

            let mut reader = LogReader::new(&bytes[..]).unwrap();
            let header = reader.header().clone();
            let mut v10 = LogWriter::with_version(Vec::new(), format, &header, 10).unwrap();
            let mut refused = None;
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(input) = record {
                    if let Err(error) = v10.write_input(&input) {
                        refused = Some(error.to_string());
                        break;
                    }
                }
            }
            let refused = refused.expect("a version 10 writer took a concurrency of 3");
            assert!(
                refused.contains("cannot hold a function of concurrency 3"),
                "{refused}"
            );
            // Format 11 holds it too, through its frozen types: the same
            // run written as 11 replays to the same digest, and written
            // back in this build's format gives the same bytes.
            let v11 = rewritten_as(&bytes, 11);
            assert_ne!(v11, bytes);
            let reader = LogReader::new(&v11[..]).unwrap();
            assert_eq!(reader.format_version(), 11);
            assert_eq!(reader.header(), &header);
            let replayed = replay_bytes(&v11, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert_eq!(rewritten_as(&v11, FORMAT_VERSION), bytes);
        }
        // A JSON Lines input of format 10 without the field.
        let line = r#"{"at_us":0,"command":{"RegisterFunction":{"image":0,"memory_bytes":1,"scratch_bytes":0,"time_limit_us":1}}}"#;
        let Record::Input(input) = json_record(line, 2, 0, 10).unwrap() else {
            panic!("not an input");
        };
        let Command::RegisterFunction(def) = input.command else {
            panic!("not a registration: {input:?}");
        };
        assert_eq!(def.concurrency, 1);
        assert_eq!(def.time_limit_us, 1);
    }

    /// A run under `config` of one function defined by `def` (its image
    /// registered first), invoked five times together: its log and trailer.
    fn cpu_run(
        format: LogFormat,
        config: crate::Config,
        def: impl Fn(crate::ImageId) -> FunctionDef,
    ) -> (Vec<u8>, Trailer) {
        let mut recorder = Recorder::new(
            Vec::new(),
            format,
            config,
            Builtin::default(),
            DriverOptions::default(),
        )
        .unwrap();
        let registered = recorder
            .apply(&command_at(
                0,
                Command::RegisterImage {
                    size_bytes: 10 * crate::MIB,
                },
            ))
            .unwrap()
            .to_vec();
        let crate::EventKind::ImageRegistered { image, .. } = registered[0].kind else {
            panic!("not an image registration: {registered:?}");
        };
        let events = recorder
            .apply(&command_at(0, Command::RegisterFunction(def(image))))
            .unwrap()
            .to_vec();
        let crate::EventKind::FunctionRegistered { function, .. } = events[0].kind else {
            panic!("not a function registration: {events:?}");
        };
        for _ in 0..5 {
            recorder.apply(&invoke_at(0, function, 1_000_000)).unwrap();
        }
        recorder
            .apply(&command_at(100_000_000, Command::Advance))
            .unwrap();
        let (_, trailer, bytes) = recorder.finish().unwrap();
        (bytes, trailer)
    }

    /// Format 12 holds shared CPU (spec R85f) — the configuration's mode,
    /// hosts' cores and speed, a function's demand — in both forms, and a
    /// processor-sharing run replays to its digest; a version 11 header
    /// refuses the mode and the hosts' figures, a version 11 input the
    /// demand, each by name.
    #[test]
    fn shared_cpu_is_logged_from_format_12() {
        let host = crate::HostSpec::default()
            .with_cores_millis(2_000)
            .with_speed_permille(1_500);
        let shared = default_config(Pressure::Reject)
            .with_hosts(host, 2)
            .with_cpu(crate::Cpu::ProcessorSharing);
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let (bytes, trailer) = cpu_run(format, shared.clone(), |image| {
                FunctionDef::new(image, 128 * crate::MIB, 60_000_000).with_cpu_millis(1_500)
            });
            let mut reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.header().config, shared);
            let mut demands = Vec::new();
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(Input {
                    command: Command::RegisterFunction(def),
                    ..
                }) = record
                {
                    demands.push(def.cpu_millis);
                }
            }
            assert_eq!(demands, vec![1_500]);
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            let header = LogReader::new(&bytes[..]).unwrap().header().clone();
            let refused = LogWriter::with_version(Vec::new(), format, &header, 11)
                .err()
                .expect("a version 11 header took shared CPU")
                .to_string();
            assert!(refused.contains("cannot hold shared CPU"), "{refused}");
            let mut cores_only = header.clone();
            cores_only.config = cores_only.config.with_cpu(crate::Cpu::Dedicated);
            let refused = LogWriter::with_version(Vec::new(), format, &cores_only, 11)
                .err()
                .expect("a version 11 header took a host's cores")
                .to_string();
            assert!(
                refused.contains("2000 millicores at speed 1500"),
                "{refused}"
            );

            // Dedicated CPU and default hosts, but a demand of 1,500.
            let (bytes, _) = cpu_run(format, default_config(Pressure::Reject), |image| {
                FunctionDef::new(image, 128 * crate::MIB, 60_000_000).with_cpu_millis(1_500)
            });
            let mut reader = LogReader::new(&bytes[..]).unwrap();
            let header = reader.header().clone();
            let mut v11 = LogWriter::with_version(Vec::new(), format, &header, 11).unwrap();
            let mut refused = None;
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(input) = record {
                    if let Err(error) = v11.write_input(&input) {
                        refused = Some(error.to_string());
                        break;
                    }
                }
            }
            let refused = refused.expect("a version 11 writer took a CPU demand");
            assert!(
                refused.contains("CPU demand of 1500 millicores"),
                "{refused}"
            );
        }
    }

    /// Format 12 holds a function's warm floor, in both forms: a run with a
    /// floor replays to its digest; a version 11 writer refuses it, naming
    /// it.
    #[test]
    fn min_scale_is_logged_from_format_12() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let mut recorder = Recorder::new(
                Vec::new(),
                format,
                default_config(Pressure::Reject),
                Builtin::default(),
                DriverOptions::default(),
            )
            .unwrap();
            let registered = recorder
                .apply(&command_at(
                    0,
                    Command::RegisterImage {
                        size_bytes: 10 * crate::MIB,
                    },
                ))
                .unwrap()
                .to_vec();
            let crate::EventKind::ImageRegistered { image, .. } = registered[0].kind else {
                panic!("not an image registration: {registered:?}");
            };
            let own = FunctionDef::new(image, 256 * crate::MIB, 60_000_000).with_min_scale(2);
            let events = recorder
                .apply(&command_at(0, Command::RegisterFunction(own.clone())))
                .unwrap()
                .to_vec();
            let crate::EventKind::FunctionRegistered { function, .. } = events[0].kind else {
                panic!("not a function registration: {events:?}");
            };
            assert!(events
                .iter()
                .any(|e| matches!(e.kind, crate::EventKind::FloorPlaced { .. })));
            recorder
                .apply(&invoke_at(5_000_000, function, 1_000_000))
                .unwrap();
            recorder
                .apply(&command_at(100_000_000, Command::Advance))
                .unwrap();
            let (_, trailer, bytes) = recorder.finish().unwrap();
            let mut reader = LogReader::new(&bytes[..]).unwrap();
            let mut defs = Vec::new();
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(Input {
                    command: Command::RegisterFunction(def),
                    ..
                }) = record
                {
                    defs.push(def);
                }
            }
            assert_eq!(defs, [own]);
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);

            let mut reader = LogReader::new(&bytes[..]).unwrap();
            let header = reader.header().clone();
            let mut v11 = LogWriter::with_version(Vec::new(), format, &header, 11).unwrap();
            let mut refused = None;
            while let Some(record) = reader.next_record().unwrap() {
                if let Record::Input(input) = record {
                    if let Err(error) = v11.write_input(&input) {
                        refused = Some(error.to_string());
                        break;
                    }
                }
            }
            let refused = refused.expect("a version 11 writer took a warm floor");
            assert!(
                refused.contains("cannot hold a function with a warm floor (min_scale 2"),
                "{refused}"
            );
        }
    }

    /// The input layouts differ: a format 9 log's registration relabelled
    /// as format 8 does not decode (two bytes of absent costs are left
    /// over), and the same run written as format 8 replays to the same
    /// digest.
    #[test]
    fn format_8_inputs_have_their_own_layout() {
        let (_, trailer, current) = recorded_current_log(LogFormat::Binary, old_default());
        // Format 9's header, so that only the inputs differ from format 8's.
        let current = rewritten_as(&current, 9);
        let mut relabelled = current.clone();
        relabelled[MAGIC.len()..MAGIC.len() + 4].copy_from_slice(&8u32.to_le_bytes());
        let mut reader = LogReader::new(&relabelled[..]).unwrap();
        let error = loop {
            match reader.next_record() {
                Ok(Some(_)) => {}
                Ok(None) => panic!("a format 9 log read as format 8"),
                Err(error) => break error.to_string(),
            }
        };
        assert!(error.contains("trailing bytes"), "{error}");
        let v8 = rewritten_as(&current, 8);
        assert_ne!(v8, current);
        let reader = LogReader::new(&v8[..]).unwrap();
        assert_eq!(reader.format_version(), 8);
        let replayed = replay_bytes(&v8, true).unwrap();
        assert_eq!(replayed.driver.digest(), trailer.events_digest);
    }

    /// Format 12 holds the billing model (spec R104b): a run under Cloud
    /// Run's request-based billing round-trips and replays to its digest in
    /// both encodings; the same header cannot be
    /// written as format 11 or older; a format 11 header reads as Lambda's.
    #[test]
    fn format_12_headers_hold_the_billing_model() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let policies = old_default().with_billing(crate::Billing::cloud_run_request());
            let (_, trailer, bytes) = recorded_current_log(format, policies.clone());
            let reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.header().policies, PolicySpec::Builtin(policies));
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert!(replayed.driver.provider().metrics().cost_picodollars > 0);
            for version in [11, 8, 6] {
                let error = LogWriter::with_version(Vec::new(), format, reader.header(), version)
                    .err()
                    .expect("an old header took Cloud Run's billing")
                    .to_string();
                assert!(error.contains("cannot hold Cloud Run's billing"), "{error}");
            }
            let (_, trailer, current) = recorded_current_log(format, old_default());
            let v11 = rewritten_as(&current, 11);
            let reader = LogReader::new(&v11[..]).unwrap();
            let builtin = reader.header().policies.builtin().unwrap().clone();
            assert_eq!(builtin.billing, crate::Billing::Lambda);
            assert_eq!(
                replay_bytes(&v11, true).unwrap().driver.digest(),
                trailer.events_digest
            );
        }
    }

    /// Format 10 and later hold the bandwidth setting: a run with shared
    /// links round-trips and replays to its digest in both encodings; the
    /// same header cannot be written as format 9; a format 9 header (the
    /// default run rewritten) reads as dedicated bandwidth, and rewriting
    /// it in the current format gives back the current log's bytes.
    /// Format 12 holds the autoscaler (a reconcile period in the
    /// configuration, the KPA rule in the policies): a run with it replays
    /// to its digest, and the autoscaler acted in it; a version 11 header
    /// refuses either part in words.
    #[test]
    fn format_12_headers_hold_the_autoscaler() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let config = default_config(Pressure::Reject).with_autoscale_tick_us(Some(2_000_000));
            let policies =
                old_default().with_autoscaler(crate::Autoscaler::Kpa(crate::Kpa::KNATIVE));
            let mut recorder = Recorder::new(
                Vec::new(),
                format,
                config.clone(),
                policies.clone(),
                DriverOptions::default(),
            )
            .unwrap();
            recorder
                .run_with(default_workload(3, 200).inputs().unwrap(), |_| {})
                .unwrap();
            let (_, trailer, bytes) = recorder.finish().unwrap();
            let reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.format_version(), FORMAT_VERSION);
            assert_eq!(reader.header().config, config);
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            let m = replayed.driver.provider().metrics();
            assert!(m.autoscale_decisions > 0, "the autoscaler never acted");
            let error = LogWriter::with_version(Vec::new(), format, reader.header(), 11)
                .err()
                .expect("a version 11 header took a reconcile period")
                .to_string();
            assert!(
                error.contains("cannot hold an autoscaler's reconcile period"),
                "{error}"
            );
            let mut header = reader.header().clone();
            header.config = header.config.with_autoscale_tick_us(None);
            let error = LogWriter::with_version(Vec::new(), format, &header, 11)
                .err()
                .expect("a version 11 header took an autoscaler")
                .to_string();
            assert!(error.contains("cannot hold an autoscaler"), "{error}");
        }
    }

    #[test]
    fn format_10_headers_hold_the_bandwidth_setting() {
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let config =
                default_config(Pressure::Reject).with_bandwidth(crate::Bandwidth::FairShare);
            let mut recorder = Recorder::new(
                Vec::new(),
                format,
                config.clone(),
                old_default(),
                DriverOptions::default(),
            )
            .unwrap();
            recorder
                .run_with(default_workload(3, 200).inputs().unwrap(), |_| {})
                .unwrap();
            let (_, trailer, bytes) = recorder.finish().unwrap();
            let reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.format_version(), FORMAT_VERSION);
            assert_eq!(reader.header().config, config);
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            let error = LogWriter::with_version(Vec::new(), format, reader.header(), 9)
                .err()
                .expect("a version 9 header took shared bandwidth")
                .to_string();
            assert!(error.contains("cannot hold shared bandwidth"), "{error}");

            let (config, trailer, current) = recorded_current_log(format, old_default());
            assert_eq!(config.bandwidth, crate::Bandwidth::Dedicated);
            let v9 = rewritten_as(&current, 9);
            assert_ne!(v9, current);
            let reader = LogReader::new(&v9[..]).unwrap();
            assert_eq!(reader.format_version(), 9);
            assert_eq!(reader.header().config, config);
            let replayed = replay_bytes(&v9, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert_eq!(rewritten_as(&v9, FORMAT_VERSION), current);
        }
    }

    #[test]
    fn version_7_headers_hold_builtin_policies() {
        let (binary, trailer) = record(LogFormat::Binary);
        let header = LogReader::new(&binary[..]).unwrap().header().clone();
        for format in [LogFormat::Binary, LogFormat::JsonLines] {
            let mut v7 = LogWriter::with_version(Vec::new(), format, &header, 7).unwrap();
            let mut reader = LogReader::new(&binary[..]).unwrap();
            let mut checks = 0;
            while let Some(record) = reader.next_record().unwrap() {
                match record {
                    Record::Input(input) => v7.write_input(&input).unwrap(),
                    Record::Check(check) => {
                        checks += 1;
                        v7.write_check(&check).unwrap()
                    }
                    Record::Trailer(_) => {}
                }
            }
            assert_eq!(checks, trailer.steps);
            let bytes = v7.finish(Some(&trailer)).unwrap();
            if format == LogFormat::JsonLines {
                let first = bytes.split(|&b| b == b'\n').next().unwrap();
                let json: serde_json::Value = serde_json::from_slice(first).unwrap();
                assert_eq!(json["format_version"], 7);
                assert!(
                    json["policies"]["host_selection"].is_string()
                        || json["policies"]["host_selection"].is_object()
                );
            }
            let reader = LogReader::new(&bytes[..]).unwrap();
            assert_eq!(reader.format_version(), 7);
            assert_eq!(reader.header(), &header);
            let replayed = replay_bytes(&bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
        }
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
        for bytes in [&binary, &json] {
            let replayed = replay_bytes(bytes, true).unwrap();
            assert_eq!(replayed.driver.digest(), trailer.events_digest);
            assert_eq!(replayed.checks_verified, trailer.steps);
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

    /// Rewrites the check of input `step` (0-based) in a JSON Lines log.
    fn edit_check(json: &[u8], step: usize, edit: impl FnOnce(&mut Vec<u16>)) -> Vec<u8> {
        let text = std::str::from_utf8(json).unwrap();
        let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
        // Line 0 is the header; input i is line 1 + 2i, its check the next.
        let line = &mut lines[2 + 2 * step];
        let mut check: JsonCheck = serde_json::from_str(line).unwrap();
        edit(&mut check.check);
        *line = serde_json::to_string(&check).unwrap();
        (lines.join("\n") + "\n").into_bytes()
    }

    #[test]
    fn a_mismatch_names_the_step_and_the_event() {
        let (json, _) = record(LogFormat::JsonLines);
        // Input 2 registers the third image: one event, `ImageRegistered`.
        let changed = edit_check(&json, 2, |check| check[0] ^= 1);
        let error = replay_bytes(&changed, true).err().unwrap().to_string();
        assert!(
            error.starts_with(
                "events diverge at step 2 (input {\"at_us\":0,\"command\":{\"RegisterImage\""
            ),
            "{error}"
        );
        assert!(error.contains("event 0 of the step (event 2 of the run): the replay produced {\"at_us\":0,\"kind\":{\"ImageRegistered\":{\"image\":2,"), "{error}");
        let extra = edit_check(&json, 2, |check| check.push(7));
        let error = replay_bytes(&extra, true).err().unwrap().to_string();
        assert!(error.contains("event 1 of the step (event 3 of the run): the replay produced no such event, the log expects an event with fingerprint 0007 (the log expects 2 events in this step, the replay produced 1)"), "{error}");
        // Without --verify, checks are not compared.
        assert!(replay_bytes(&extra, false).is_ok());
    }

    #[test]
    fn a_check_must_follow_an_input() {
        let (json, _) = record(LogFormat::JsonLines);
        let text = std::str::from_utf8(&json).unwrap();
        let mut lines: Vec<&str> = text.lines().collect();
        let check = lines[2];
        lines.insert(2, check);
        let doubled = lines.join("\n") + "\n";
        let error = replay_bytes(doubled.as_bytes(), false)
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            error,
            "after input 0: a step check must follow an input, once"
        );
    }
}
