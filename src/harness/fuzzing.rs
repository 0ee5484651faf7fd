//! The bodies of the cargo-fuzz targets in `fuzz/`. They live here, in the
//! library, so that the fuzz crate (nightly, libFuzzer) and the corpus
//! replay test (`tests/fuzz_corpus.rs`, stable `cargo test`) run exactly
//! the same code on the same bytes.
//!
//! Each target takes the fuzzer's bytes, never panics on any of them, and
//! panics — which libFuzzer records as a crash — only when it finds a bug:
//!
//! - [`step_target`]: a configuration and an op sequence; core and the
//!   reference model must agree after every step, and both invariant checks
//!   hold.
//! - [`log_decode_target`]: bytes as a command log; the reader errors or
//!   yields a log, a binary log re-encodes to the same bytes, and the
//!   provider built from its header refuses or applies each input with its
//!   invariants intact.
//! - [`policy_chaos_target`]: a policy that answers from the fuzzer's bytes,
//!   impossible host choices included; core refuses exactly the impossible
//!   ones, each with a `DecisionRefused` event, and agrees with the model.
//! - [`scenario_parse_target`]: text as a scenario file, and its first line
//!   as a `--set` on the default scenario; the parser errors cleanly or
//!   yields a scenario whose configuration and workload are valid.

use crate::log::{LogFormat, LogHeader, LogReader, LogWriter, Record};
use crate::{
    Config, ContainerFacts, DecisionError, EventKind, HostId, HostView, ImageFacts, InvocationId,
    PlacementRequest, Policies, Pressure, Provider, Usage,
};
use arbitrary::Unstructured;
use coldstart_core::config::ATTEMPTS_MAX;
use coldstart_core::limits::{BYTES_MAX, DURATION_MAX_US, SLOTS_MAX};
use coldstart_model::ops::{arbitrary_case, Case};
use coldstart_model::{run_differential, Model, Trace};

/// Ops per fuzzed case after its set-up: enough to fill queues and disks,
/// few enough that one run takes about a millisecond.
pub const OPS_MAX: usize = 200;

/// Inputs of a decoded log replayed through the provider: bounds the time
/// one fuzz input can take.
pub const LOG_REPLAY_INPUTS_MAX: usize = 256;

/// Hosts kept from a raw fuzzed configuration: more add time, not paths.
const RAW_HOSTS_MAX: usize = 6;

// ---------------------------------------------------------------------------
// step

/// Core against the reference model on a case drawn from `bytes`: one time
/// in four on a raw configuration (any values, folded into the limits, so
/// huge disks, one-byte-per-second copies and year-long cold starts are
/// tried), otherwise on the op language's small shapes.
pub fn step_target(bytes: &[u8]) {
    let mut u = Unstructured::new(bytes);
    let Ok(raw_config) = draw_raw_config(&mut u) else {
        return;
    };
    let Ok(case) = arbitrary_case(&mut u, OPS_MAX) else {
        return;
    };
    let (shaped_config, policies) = case.shape.build();
    let config = raw_config.unwrap_or(shaped_config);
    run_core_and_model(&case, config, policies);
}

fn draw_raw_config(u: &mut Unstructured<'_>) -> arbitrary::Result<Option<Config>> {
    if !u.ratio(1u8, 4u8)? {
        return Ok(None);
    }
    let raw: Config = u.arbitrary()?;
    Ok(Some(fold_config(raw)))
}

/// `value` folded into `1..=max`: small values stay as they are, so the
/// fuzzer can reach both ends.
fn fold_positive(value: u64, max: u64) -> u64 {
    if value == 0 {
        1
    } else {
        (value - 1) % max + 1
    }
}

/// Any configuration folded into a valid one (at least one host, every
/// quantity within `limits`), keeping every value that was already valid.
pub fn fold_config(mut config: Config) -> Config {
    config.hosts.truncate(RAW_HOSTS_MAX);
    if config.hosts.is_empty() {
        config
            .hosts
            .push(crate::HostSpec::new(100, 2, 100, 1_000_000));
    }
    let main = &mut config.main_storage;
    main.capacity_bytes = fold_positive(main.capacity_bytes, BYTES_MAX);
    main.download_bytes_per_s = fold_positive(main.download_bytes_per_s, BYTES_MAX);
    for host in &mut config.hosts {
        host.ram_bytes = fold_positive(host.ram_bytes, BYTES_MAX);
        host.slots = fold_positive(u64::from(host.slots), u64::from(SLOTS_MAX)) as u32;
        host.disk_bytes = fold_positive(host.disk_bytes, BYTES_MAX);
        host.copy_bytes_per_s = fold_positive(host.copy_bytes_per_s, BYTES_MAX);
        host.cores_millis = fold_positive(host.cores_millis, crate::limits::CORES_MILLIS_MAX);
        host.speed_permille = fold_positive(
            u64::from(host.speed_permille),
            u64::from(crate::limits::SPEED_PERMILLE_MAX),
        ) as u32;
    }
    config.cold_start_us %= DURATION_MAX_US + 1;
    config.warm_start_us %= DURATION_MAX_US + 1;
    config.retry.attempts_max = fold_positive(
        u64::from(config.retry.attempts_max),
        u64::from(ATTEMPTS_MAX),
    ) as u32;
    config.retry.backoff_us %= DURATION_MAX_US + 1;
    if let Pressure::Queue { capacity } = &mut config.pressure {
        *capacity = fold_positive(u64::from(*capacity), u64::from(u32::MAX)) as u32;
    }
    // A raw configuration's durations reach 2^48 µs, which a reconcile
    // tick would step through one period at a time, past any drain: the
    // autoscaler is fuzzed through the shapes (50 µs ticks, keep-alives
    // under 2 ms) and the chaos policy instead.
    config.autoscale_tick_us = None;
    config
}

fn run_core_and_model<P: Policies>(case: &Case, config: Config, policies: P) -> (Trace, P, P) {
    let mut core = Provider::new(config.clone(), policies.clone())
        .unwrap_or_else(|error| panic!("a folded configuration is invalid: {error}: {config:?}"));
    let mut model = Model::new(config, policies).expect("core accepted the same configuration");
    match run_differential(case, &mut core, &mut model) {
        Ok(trace) => (trace, core.policies().clone(), model.policies().clone()),
        Err(divergence) => panic!(
            "core (left) and model (right) diverge at {divergence}\nconfig: {:?}",
            core.config()
        ),
    }
}

// ---------------------------------------------------------------------------
// log_decode

/// A whole log as read: the header and every record, in order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DecodedLog {
    /// Binary or JSON Lines.
    pub format: LogFormat,
    /// The log's header.
    pub header: LogHeader,
    /// Every record after the header, in order.
    pub records: Vec<Record>,
}

/// Reads a whole log from `bytes`; `None` on any error (which is fine: bad
/// bytes must be refused, not crash the reader).
pub fn decode_log(bytes: &[u8]) -> Option<DecodedLog> {
    let mut reader = LogReader::new(bytes).ok()?;
    let mut records = Vec::new();
    while let Some(record) = reader.next_record().ok()? {
        records.push(record);
    }
    Some(DecodedLog {
        format: reader.format(),
        header: reader.header().clone(),
        records,
    })
}

/// Writes `log` back in its own format.
pub fn encode_log(log: &DecodedLog) -> Vec<u8> {
    let mut writer = LogWriter::new(Vec::new(), log.format, &log.header)
        .expect("writing a decoded header to memory");
    let mut trailer = None;
    for record in &log.records {
        match record {
            Record::Input(input) => writer
                .write_input(input)
                .expect("writing a decoded input to memory"),
            Record::Check(check) => writer
                .write_check(check)
                .expect("writing a decoded check to memory"),
            Record::Trailer(found) => trailer = Some(found),
        }
    }
    writer
        .finish(trailer)
        .expect("writing a decoded trailer to memory")
}

/// Bytes as a log. The reader must refuse them cleanly or read a log; a
/// binary log must re-encode to exactly its bytes (a log has one binary
/// form), a JSON Lines log to text that reads back as the same log and is
/// its own re-encoding (whitespace and `\r\n` are accepted on the way in,
/// so JSON bytes are compared after one normalization). Then up to
/// `LOG_REPLAY_INPUTS_MAX` of its inputs run through a provider built from
/// its header, with the invariants checked after each.
///
/// A binary log is tried twice: as it is, and with every record's check
/// recomputed. Mutations almost never keep a 32-bit check right, so without
/// the second try the fuzzer would rarely get a changed payload past the
/// check to the decoder.
pub fn log_decode_target(bytes: &[u8]) {
    check_wire_reader(bytes);
    check_log_bytes(bytes);
    if let Some(repaired) = with_record_checks_repaired(bytes) {
        check_log_bytes(&repaired);
    }
}

/// The fast input readers (this build's layout and formats 2 to 8's) take
/// only what the serde path takes, as the same value
/// (`codec::decode_input`, `decode_input_v8`), here on the raw bytes as one
/// payload.
fn check_wire_reader(bytes: &[u8]) {
    if let Some(fast) = crate::log::codec::wire::input(bytes) {
        assert_eq!(
            crate::log::codec::decode::<crate::Input>(bytes),
            Ok(fast),
            "the wire reader took bytes the serde path reads otherwise"
        );
    }
    if let Some(fast) = crate::log::codec::wire::input_v11(bytes) {
        let serde = crate::log::codec::decode::<crate::log::inputs_old::InputV11>(bytes);
        assert_eq!(
            serde.map(crate::Input::from),
            Ok(fast),
            "the format 11 wire reader took bytes the frozen types read otherwise"
        );
    }
    if let Some(fast) = crate::log::codec::wire::input_v9(bytes) {
        let serde = crate::log::codec::decode::<crate::log::inputs_old::InputV9>(bytes);
        assert_eq!(
            serde.map(crate::Input::from),
            Ok(fast),
            "the format 9 wire reader took bytes the frozen types read otherwise"
        );
    }
    if let Some(fast) = crate::log::codec::wire::input_v8(bytes) {
        let serde = crate::log::codec::decode::<crate::log::inputs_old::InputV8>(bytes);
        assert_eq!(
            serde.map(crate::Input::from),
            Ok(fast),
            "the format 8 wire reader took bytes the frozen types read otherwise"
        );
    }
}

/// `bytes` with the check of every binary record recomputed, as far as the
/// framing (magic, version, tag, length, payload, check) holds; `None` if
/// that changes nothing or the bytes are not binary.
pub fn with_record_checks_repaired(bytes: &[u8]) -> Option<Vec<u8>> {
    const RECORDS_START: usize = crate::log::MAGIC.len() + 4;
    if !bytes.starts_with(&crate::log::MAGIC) {
        return None;
    }
    let mut repaired = bytes.to_vec();
    let mut at = RECORDS_START;
    while let Some(head) = repaired.get(at..at + 5) {
        let tag = head[0];
        let length = [head[1], head[2], head[3], head[4]];
        let payload_start = at + 5;
        let check_start = payload_start.saturating_add(u32::from_le_bytes(length) as usize);
        if check_start.saturating_add(4) > repaired.len() {
            break;
        }
        let check = crate::log::record_check(tag, length, &repaired[payload_start..check_start]);
        repaired[check_start..check_start + 4].copy_from_slice(&check.to_le_bytes());
        at = check_start + 4;
    }
    (repaired != bytes).then_some(repaired)
}

fn check_log_bytes(bytes: &[u8]) {
    let Some(log) = decode_log(bytes) else {
        return;
    };
    let rewritten = encode_log(&log);
    // A binary log of an older format version is rewritten in the current
    // one, so only a current-version log must re-encode to its own bytes;
    // an older one must re-encode to a log that reads back the same.
    let current_version = bytes.get(crate::log::MAGIC.len()..crate::log::MAGIC.len() + 4)
        == Some(&crate::log::FORMAT_VERSION.to_le_bytes()[..]);
    match log.format {
        LogFormat::Binary if current_version => assert!(
            rewritten == bytes,
            "a binary log read without error re-encodes to other bytes:\n  read:    {bytes:02x?}\n  written: {rewritten:02x?}\n  log: {log:?}"
        ),
        LogFormat::Binary => {
            let again = decode_log(&rewritten).unwrap_or_else(|| {
                panic!("an older binary log re-encodes to bytes the reader refuses: {log:?}")
            });
            assert_eq!(again, log, "an older binary log reads back as another log");
        }
        LogFormat::JsonLines => {
            let again = decode_log(&rewritten).unwrap_or_else(|| {
                panic!(
                    "a JSON log re-encodes to text the reader refuses: {:?}",
                    String::from_utf8_lossy(&rewritten)
                )
            });
            assert_eq!(again, log, "a JSON log reads back as another log");
            assert!(
                encode_log(&again) == rewritten,
                "a normalized JSON log is not its own re-encoding"
            );
        }
    }
    replay_checked(&log);
}

fn replay_checked(log: &DecodedLog) {
    let Ok(mut provider) = log.header.provider() else {
        return;
    };
    let inputs = log.records.iter().filter_map(|record| match record {
        Record::Input(input) => Some(input),
        Record::Check(_) | Record::Trailer(_) => None,
    });
    for (step, input) in inputs.take(LOG_REPLAY_INPUTS_MAX).enumerate() {
        // A refusal is the log's problem, reported by `replay`; only a
        // broken invariant is core's.
        let _ = provider.apply(input);
        if let Err(violation) = provider.check_invariants() {
            panic!("step {step}: {input:?}: {violation}");
        }
    }
}

// ---------------------------------------------------------------------------
// policy_chaos

/// A policy that answers from a script of fuzzer-chosen words, cycling
/// through them: host choices that decline, name a host that does not
/// exist, name a host that may have no room, or are first fit; any `u64` as
/// a priority or keep-alive (past the clamp included); any bill. It records
/// every host choice, sorted by whether core must take or refuse it.
#[derive(Clone, Debug)]
pub struct ChaosPolicy {
    script: Vec<u64>,
    cursor: usize,
    /// Choices of a host that exists and fits: core must cold-start (or,
    /// for a pre-warm, `None`, pre-warm) there.
    pub placed: Vec<(Option<InvocationId>, HostId)>,
    /// Choices core must refuse with a `DecisionRefused` event (or, for a
    /// pre-warm, a `PrewarmSkipped { reason: Refused }`).
    pub impossible: Vec<(Option<InvocationId>, HostId, DecisionError)>,
}

impl ChaosPolicy {
    /// A policy playing `script` (an empty script plays one zero word).
    pub fn new(script: Vec<u64>) -> ChaosPolicy {
        let script = if script.is_empty() { vec![0] } else { script };
        ChaosPolicy {
            script,
            cursor: 0,
            placed: Vec::new(),
            impossible: Vec::new(),
        }
    }

    fn next_word(&mut self) -> u64 {
        let word = self.script[self.cursor % self.script.len()];
        self.cursor += 1;
        word
    }

    fn choose_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        let word = self.next_word();
        let host_count = u64::from(view.host_count());
        match word % 4 {
            0 => None,
            // Any host number at all: mostly unknown hosts.
            1 => Some(HostId((word >> 2) as u32)),
            // A host that exists, with or without room.
            2 => Some(HostId(((word >> 2) % host_count) as u32)),
            _ => crate::policy::first_fit(view, request),
        }
    }
}

impl Policies for ChaosPolicy {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        let host = self.choose_host(view, request)?;
        let invocation = request.invocation;
        if host.0 >= view.host_count() {
            self.impossible
                .push((invocation, host, DecisionError::UnknownHost));
        } else if !view.is_up(host) {
            self.impossible
                .push((invocation, host, DecisionError::HostDown));
        } else if !view.fits(host, request) {
            self.impossible
                .push((invocation, host, DecisionError::NoRoom));
        } else {
            self.placed.push((invocation, host));
        }
        Some(host)
    }

    fn warm_priority(&mut self, _container: &ContainerFacts) -> u64 {
        self.next_word()
    }

    fn join_priority(&mut self, _container: &crate::JoinFacts) -> u64 {
        self.next_word()
    }

    fn join_before_waking(&mut self, _join: &crate::JoinFacts, _idle: &ContainerFacts) -> bool {
        self.next_word() % 2 == 1
    }

    fn idle_eviction_priority(&mut self, _container: &ContainerFacts) -> u64 {
        self.next_word()
    }

    fn keep_alive_us(&mut self, _container: &ContainerFacts) -> u64 {
        self.next_word()
    }

    fn idle_plan(&mut self, container: &ContainerFacts) -> crate::IdlePlan {
        // Any keep-alive; an odd word plans a pre-warm within a few ms
        // (0 included), so that pre-warms are placed during these runs.
        let keep_alive_us = self.keep_alive_us(container);
        let word = self.next_word();
        crate::IdlePlan {
            keep_alive_us,
            prewarm_after_us: (word % 2 == 1).then_some((word >> 1) % 4_096),
        }
    }

    fn image_priority(&mut self, _image: &ImageFacts) -> u64 {
        self.next_word()
    }

    fn evicted(&mut self, _eviction: &crate::Eviction) {
        // Moves the script on, so core and the model stay in step only if
        // they report the same evictions at the same moments.
        self.next_word();
    }

    fn collection_target_bytes(&mut self, disk: &crate::DiskFacts) -> Option<u64> {
        // None, or a target within the disk (most often below its use, so
        // that collections happen): an odd word asks for one.
        let word = self.next_word();
        (word % 2 == 1).then(|| (word >> 1) % disk.capacity_bytes.saturating_add(1))
    }

    fn bill(&self, usage: &Usage) -> u64 {
        // `bill` takes `&self`, so it cannot advance the script: it picks a
        // word by the usage instead (still any u64).
        self.script[(usage.duration_us % self.script.len() as u64) as usize]
    }

    fn desired_containers(&mut self, facts: &crate::ScaleFacts) -> Option<crate::ScaleDecision> {
        // No opinion for a word divisible by 3, or while the function has
        // no unended invocation (so that a run's drain ends: the timer
        // stops at a tick without an opinion, spec R168.3); otherwise a
        // count near the live containers (down to 0, up by a few), or now
        // and then any u32, and any keep-alive (past the clamp included).
        if facts.demand == 0 {
            return None;
        }
        let word = self.next_word();
        if word.is_multiple_of(3) {
            return None;
        }
        let containers = if word % 17 == 1 {
            (word >> 8) as u32
        } else {
            let delta = ((word >> 2) % 7) as i64 - 3;
            (i64::from(facts.containers) + delta).clamp(0, i64::from(u32::MAX)) as u32
        };
        Some(crate::ScaleDecision {
            containers,
            keep_alive_us: self.next_word(),
        })
    }

    fn bill_container(&self, usage: &crate::ContainerUsage) -> Option<u64> {
        // Likewise by the usage: an odd word bills the container (any
        // u64), an even one does not.
        let at = (usage.instance_us ^ usage.active_us) % self.script.len() as u64;
        let word = self.script[at as usize];
        (word % 2 == 1).then_some(word)
    }
}

/// Words in a chaos script: a few, so cycling revisits them in new states.
const SCRIPT_WORDS_MAX: usize = 16;

/// A case and a chaos script drawn from `bytes`, run through core and the
/// model. Besides their agreement: every impossible choice got a
/// `DecisionRefused` event naming it, in order, and every possible one a
/// cold start on the chosen host.
pub fn policy_chaos_target(bytes: &[u8]) {
    let mut u = Unstructured::new(bytes);
    let Ok(script) = draw_script(&mut u) else {
        return;
    };
    let Ok(case) = arbitrary_case(&mut u, OPS_MAX) else {
        return;
    };
    let (config, _) = case.shape.build();
    let (trace, core_policy, model_policy) =
        run_core_and_model(&case, config, ChaosPolicy::new(script));
    assert_eq!(
        core_policy.impossible, model_policy.impossible,
        "core and model were asked for different host choices"
    );
    let refused: Vec<(Option<InvocationId>, HostId, DecisionError)> = trace
        .events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::DecisionRefused {
                invocation,
                host,
                reason,
            } => Some((Some(invocation), host, reason)),
            EventKind::PrewarmSkipped {
                reason: crate::PrewarmSkip::Refused { host, reason },
                ..
            } => Some((None, host, reason)),
            _ => None,
        })
        .collect();
    assert_eq!(
        refused, core_policy.impossible,
        "the DecisionRefused events (left) are not the impossible choices (right)"
    );
    let cold_starts: Vec<(Option<InvocationId>, HostId)> = trace
        .events
        .iter()
        .filter_map(|event| match event.kind {
            EventKind::ColdStart {
                invocation, host, ..
            } => Some((Some(invocation), host)),
            EventKind::Prewarmed { host, .. } => Some((None, host)),
            _ => None,
        })
        .collect();
    assert_eq!(
        cold_starts, core_policy.placed,
        "the cold starts (left) are not the possible choices (right)"
    );
}

fn draw_script(u: &mut Unstructured<'_>) -> arbitrary::Result<Vec<u64>> {
    let words = u.int_in_range(1..=SCRIPT_WORDS_MAX)?;
    (0..words).map(|_| u.arbitrary()).collect()
}

// ---------------------------------------------------------------------------
// scenario_parse

/// Text as a scenario file (relative trace paths resolve under a folder
/// that does not exist, so no trace file is read), and its first line as a
/// `--set` argument on the default scenario. Either may be refused, with an
/// error; neither may panic, and a scenario that parses must build a
/// provider and, when synthetic, a valid workload.
pub fn scenario_parse_target(bytes: &[u8]) {
    let Ok(text) = std::str::from_utf8(bytes) else {
        return;
    };
    let base = std::path::Path::new("/nonexistent/coldstart-fuzz");
    if let Ok(scenario) = crate::scenario::from_text(text, "fuzz", base, &[]) {
        check_scenario(&scenario);
    }
    let first_line = text.lines().next().unwrap_or_default().to_string();
    if let Ok(scenario) = crate::scenario::default_with(&[first_line]) {
        check_scenario(&scenario);
    }
}

fn check_scenario(scenario: &crate::scenario::Scenario) {
    if let Err(error) = Provider::new(scenario.config.clone(), scenario.policies.clone()) {
        panic!("a parsed scenario has an invalid configuration: {error}");
    }
    if let crate::scenario::WorkloadSource::Synthetic(spec) = &scenario.workload {
        if let Err(error) = spec.validate() {
            panic!("a parsed scenario has an invalid workload: {error}");
        }
    }
}
