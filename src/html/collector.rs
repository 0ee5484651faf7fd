//! Rebuilds a run's time series and tables from its events (and the
//! `RegisterFunction` inputs, for each function's RAM and scratch), in
//! constant memory per host and per function whatever the run's length.
//!
//! Every gauge is rebuilt from the events alone, following the rules of
//! docs/spec.md: a container holds its function's RAM and scratch from its
//! `ColdStart` or `Prewarmed` to its `ContainerRemoved` (R60, R96); a host
//! miss reserves the image's bytes on the host's disk at the cold start
//! (R65), released by `ImageEvicted`/`ImageLost`, by a copy that fails for
//! good (R149), by a download that fails for good for the hosts waiting on
//! it, and by `HostDown` for every copy still arriving (R141, no event). A
//! test checks every host's RAM and disk, the container counts and the
//! queue against the provider after every step of runs with faults.

use super::buckets::{Counter, Gauge, Timeline};
use crate::input::{Command, Input};
use crate::report::{Histogram, Latencies};
use crate::{
    Config, ContainerId, Event, EventKind, FunctionId, HostId, ImageSource, InvocationId,
    RemovalCause, Tier,
};
use coldstart_core::FunctionDef;
use std::collections::{BTreeMap, VecDeque};

/// The most rows of the per-host heat maps and table: hosts beyond are
/// grouped, consecutive hosts in one row.
pub const HOST_ROWS_MAX: usize = 64;

/// Sub-bits of the per-function latency sketches (values within 3.2%).
pub const FUNCTION_SUB_BITS: u32 = 5;
/// Sub-bits of the whole run's latency sketches (values within 0.8%).
pub const RUN_SUB_BITS: u32 = 7;

/// How an invocation ended, for the CDFs and the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Ended with an output.
    Completed,
    /// Failed in a phase of its code.
    Failed,
    /// Ran past its time limit.
    TimedOut,
}

impl Outcome {
    /// Every outcome, in the order the report shows them.
    pub const ALL: [Outcome; 3] = [Outcome::Completed, Outcome::Failed, Outcome::TimedOut];

    /// The outcome's name in the report.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Completed => "completed",
            Outcome::Failed => "failed",
            Outcome::TimedOut => "timed out",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One function's totals.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FunctionStats {
    /// The function (`None` until its registration is seen).
    pub function: Option<FunctionId>,
    /// The memory each container of it reserves.
    pub memory_bytes: u64,
    /// Invocations accepted.
    pub invocations: u64,
    /// Cold starts.
    pub cold_starts: u64,
    /// Warm starts.
    pub warm_starts: u64,
    /// Invocations that completed.
    pub completed: u64,
    /// Failed in a phase (`Failed`).
    pub failed: u64,
    /// Ended on a platform error (`PlatformFailed`).
    pub platform_failed: u64,
    /// Invocations that ran past their time limit.
    pub timed_out: u64,
    /// Invocations rejected under RAM pressure.
    pub rejected: u64,
    /// What its invocations and its containers (under Cloud Run's
    /// billing, spec R104b) were billed, in picodollars.
    pub cost_picodollars: u128,
    /// End to end (`Accepted` → its end), every outcome.
    pub end_to_end_us: Histogram<FUNCTION_SUB_BITS>,
}

/// One row of hosts' totals (one host, or a group of them).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostRowStats {
    /// The first host of the row, by index.
    pub first_host: u32,
    /// How many hosts the row groups, from `first_host` on.
    pub hosts: u32,
    /// Their RAM, summed.
    pub ram_bytes: u64,
    /// Their disks, summed.
    pub disk_bytes: u64,
    /// Cold starts on them.
    pub cold_starts: u64,
    /// Warm starts on them.
    pub warm_starts: u64,
    /// What the invocations they ran and the containers they held (under
    /// Cloud Run's billing) were billed, in picodollars.
    pub cost_picodollars: u128,
    /// How many times one of them went down.
    pub crashes: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CopyState {
    /// Waits for the image's download (or for room in main storage).
    AwaitingDownload,
    Copying,
    /// A failed attempt waits for its retry.
    Backoff,
    Present,
}

#[derive(Clone, Debug, Default)]
struct HostTrack {
    row: usize,
    ram_used_bytes: u64,
    disk_used_bytes: u64,
    /// By image index: the copy's size and state.
    copies: BTreeMap<u32, (u64, CopyState)>,
}

#[derive(Clone, Copy, Debug)]
struct InvocationTrack {
    id: InvocationId,
    accepted_at_us: u64,
    function: u32,
    start_delay_us: Option<u64>,
    /// The host row it started on ([`NO_ROW`] before its start): kept
    /// here so that its end finds the row without a host look-up.
    row: u32,
    queued: bool,
}

/// An invocation's row before it starts (no row has this index).
const NO_ROW: u32 = u32::MAX;

#[derive(Clone, Copy, Debug)]
struct ContainerTrack {
    id: ContainerId,
    function: u32,
    host: u32,
    busy: bool,
    /// Its `ColdStart` or `Prewarmed`, for SimFaaS's lifespans.
    created_at_us: u64,
}

/// The series: one per chart line.
#[derive(Clone, Debug, Default)]
pub struct Series {
    /// Live containers.
    pub live: Gauge,
    /// Busy containers; idle ones are live − busy, and their series the
    /// difference (exact for integrals), so one gauge fewer moves per
    /// event. Likewise the totals of RAM and disk are the rows' sums.
    pub busy: Gauge,
    /// Invocations queued.
    pub queue: Gauge,
    /// Downloads into main storage in progress.
    pub downloads: Gauge,
    /// Copies to hosts' disks in progress.
    pub copies: Gauge,
    /// RAM and disk in use per row of hosts (bytes).
    pub ram_rows: Vec<Gauge>,
    /// Disk in use per row of hosts (bytes).
    pub disk_rows: Vec<Gauge>,
    /// Cold starts per interval.
    pub cold_starts: Counter,
    /// Warm starts per interval.
    pub warm_starts: Counter,
    /// Rejections per interval.
    pub rejected: Counter,
    /// Completions per interval.
    pub completed: Counter,
    /// Failures per interval.
    pub failed: Counter,
    /// Time-outs per interval.
    pub timed_out: Counter,
    /// Host tier per cold start: hit, joined a copy, miss.
    pub host_cache: [Counter; 3],
    /// Main storage per host miss: hit, joined a download, miss.
    pub main_cache: [Counter; 3],
    /// Money billed per interval, in picodollars.
    pub cost_picodollars: Counter,
    /// Hosts going down per interval.
    pub host_downs: Counter,
    /// Hosts coming back per interval.
    pub host_ups: Counter,
    /// Losses of main storage per interval.
    pub main_storage_losses: Counter,
}

impl Series {
    /// Idle containers per interval: the time integrals, live − busy.
    pub fn idle_integrals(&self) -> Vec<u128> {
        self.live
            .integrals()
            .iter()
            .zip(self.busy.integrals())
            .map(|(live, busy)| live - busy)
            .collect()
    }

    fn gauges(&mut self) -> impl Iterator<Item = &mut Gauge> {
        [
            &mut self.live,
            &mut self.busy,
            &mut self.queue,
            &mut self.downloads,
            &mut self.copies,
        ]
        .into_iter()
        .chain(self.ram_rows.iter_mut())
        .chain(self.disk_rows.iter_mut())
    }

    fn counters(&mut self) -> impl Iterator<Item = &mut Counter> {
        [
            &mut self.cold_starts,
            &mut self.warm_starts,
            &mut self.rejected,
            &mut self.completed,
            &mut self.failed,
            &mut self.timed_out,
            &mut self.cost_picodollars,
            &mut self.host_downs,
            &mut self.host_ups,
            &mut self.main_storage_losses,
        ]
        .into_iter()
        .chain(self.host_cache.iter_mut())
        .chain(self.main_cache.iter_mut())
    }
}

/// Collects a run for its HTML report: feed it the `RegisterFunction`
/// inputs ([`Collector::observe_input`], or all at once with
/// [`Collector::learn_functions`]) and every event in order
/// ([`Collector::observe`]), then [`Collector::finish`].
#[derive(Clone, Debug)]
pub struct Collector {
    timeline: Timeline,
    series: Series,
    hosts: Vec<HostTrack>,
    host_rows: Vec<HostRowStats>,
    /// By image index: its size.
    image_bytes: Vec<u64>,
    /// Memory and scratch of registrations not yet matched to their
    /// `FunctionRegistered` event.
    pending_functions: VecDeque<(u64, u64)>,
    /// By function index: memory, scratch and image index.
    function_sizes: Vec<(u64, u64, u32)>,
    functions: Vec<FunctionStats>,
    /// By arena index (the core reuses freed indexes, so these stay as
    /// small as the number alive at once).
    invocations: Vec<Option<InvocationTrack>>,
    containers: Vec<Option<ContainerTrack>>,
    start_delay_us: [Histogram<RUN_SUB_BITS>; 3],
    end_to_end_us: [Histogram<RUN_SUB_BITS>; 3],
    last_us: u64,
    finished: bool,
    /// The container removed last and its host's row: a `ContainerBilled`
    /// follows its `ContainerRemoved` at once (spec R104b).
    removed_last: Option<(ContainerId, u32)>,
    /// The summary's latencies and SimFaaS window, kept from this
    /// collector's tables ([`Collector::with_latencies`]).
    latencies: Option<Box<Latencies>>,
}

/// An id's arena index: the low 32 bits of its bits (docs/spec.md R13).
fn index_of(bits: u64) -> usize {
    (bits & u64::from(u32::MAX)) as usize
}

fn slot<T>(table: &mut Vec<Option<T>>, index: usize) -> &mut Option<T> {
    if index >= table.len() {
        table.resize_with(index + 1, || None);
    }
    &mut table[index]
}

impl Collector {
    /// A collector for a provider of this configuration (its hosts'
    /// capacities; at most [`HOST_ROWS_MAX`] rows of hosts).
    pub fn new(config: &Config) -> Collector {
        let host_count = config.hosts.len();
        let rows = host_count.clamp(1, HOST_ROWS_MAX);
        let mut host_rows: Vec<HostRowStats> = (0..rows)
            .map(|_| HostRowStats {
                first_host: u32::MAX,
                ..HostRowStats::default()
            })
            .collect();
        let hosts = config
            .hosts
            .iter()
            .enumerate()
            .map(|(host, spec)| {
                let row = host * rows / host_count.max(1);
                let stats = &mut host_rows[row];
                stats.first_host = stats.first_host.min(host as u32);
                stats.hosts += 1;
                stats.ram_bytes += spec.ram_bytes;
                stats.disk_bytes += spec.disk_bytes;
                HostTrack {
                    row,
                    ..HostTrack::default()
                }
            })
            .collect();
        let series = Series {
            ram_rows: vec![Gauge::default(); rows],
            disk_rows: vec![Gauge::default(); rows],
            ..Series::default()
        };
        Collector {
            timeline: Timeline::new(),
            series,
            hosts,
            host_rows,
            image_bytes: Vec::new(),
            pending_functions: VecDeque::new(),
            function_sizes: Vec::new(),
            functions: Vec::new(),
            invocations: Vec::new(),
            containers: Vec::new(),
            start_delay_us: Default::default(),
            end_to_end_us: Default::default(),
            last_us: 0,
            finished: false,
            removed_last: None,
            latencies: None,
        }
    }

    /// Also keeps the `--json` report's and the summary's
    /// [`Latencies`] (their start-delay and end-to-end samples, and
    /// SimFaaS's window), from this collector's own invocation and
    /// container tables in the same pass over the events: what
    /// `Latencies::observe` would give for the same events, without a
    /// second table and a second dispatch per event. Call before the first
    /// event; take them with [`Collector::take_latencies`]. (The same
    /// figures for a run's event stream, where every start, idle and
    /// removal follows the acceptance or creation it refers to; a test
    /// checks both ways agree on runs with faults.)
    pub fn with_latencies(mut self) -> Collector {
        self.latencies = Some(Box::default());
        self
    }

    /// The latencies kept since [`Collector::with_latencies`] (`None`
    /// without it, or once taken). Call after the last event.
    pub fn take_latencies(&mut self) -> Option<Latencies> {
        let mut latencies = self.latencies.take()?;
        if !self.finished {
            latencies.simfaas_mut().note_time(self.last_us);
        }
        Some(*latencies)
    }

    /// Learns a function's RAM and scratch from its registration (inputs
    /// of other kinds are ignored). Call it before the registration's
    /// `FunctionRegistered` event, or for every registration up front.
    pub fn observe_input(&mut self, input: &Input) {
        if let Command::RegisterFunction(FunctionDef {
            memory_bytes,
            scratch_bytes,
            ..
        }) = input.command
        {
            self.pending_functions
                .push_back((memory_bytes, scratch_bytes));
        }
    }

    /// Learns the registrations at the head of an input stream, up to its
    /// first invocation: the workloads and traces of this crate register
    /// every function at time 0, before any invocation.
    pub fn learn_functions(&mut self, inputs: impl IntoIterator<Item = Input>) {
        for input in inputs {
            match input.command {
                Command::Invoke { .. } => break,
                _ => self.observe_input(&input),
            }
        }
    }

    /// Moves the time axis to `t_us`, merging every series when it doubles.
    /// Inlined: it runs for every event, and almost always only compares.
    #[inline(always)]
    fn reach(&mut self, t_us: u64) {
        self.last_us = self.last_us.max(t_us);
        if !self.timeline.covers(t_us) {
            self.grow(t_us);
        }
    }

    #[cold]
    #[inline(never)]
    fn grow(&mut self, t_us: u64) {
        for _ in 0..self.timeline.doublings_for(t_us) {
            self.timeline.double();
            let timeline = self.timeline;
            self.series
                .gauges()
                .for_each(|gauge| gauge.merge(&timeline));
            self.series.counters().for_each(Counter::merge);
        }
    }

    fn function_size(&self, function: u32) -> (u64, u64, u32) {
        self.function_sizes
            .get(function as usize)
            .copied()
            .unwrap_or((0, 0, u32::MAX))
    }

    fn function_stats(&mut self, function: u32) -> &mut FunctionStats {
        let index = function as usize;
        if index >= self.functions.len() {
            self.functions
                .resize_with(index + 1, FunctionStats::default);
        }
        &mut self.functions[index]
    }

    fn invocation(&mut self, invocation: InvocationId) -> Option<&mut InvocationTrack> {
        match self.invocations.get_mut(index_of(invocation.to_bits())) {
            Some(Some(track)) if track.id == invocation => Some(track),
            _ => None,
        }
    }

    fn take_invocation(&mut self, invocation: InvocationId) -> Option<InvocationTrack> {
        let track = *self.invocation(invocation)?;
        self.invocations[index_of(invocation.to_bits())] = None;
        Some(track)
    }

    fn container(&mut self, container: ContainerId) -> Option<&mut ContainerTrack> {
        match self.containers.get_mut(index_of(container.to_bits())) {
            Some(Some(track)) if track.id == container => Some(track),
            _ => None,
        }
    }

    /// Adds to (or, `add` false, takes from) a host's RAM and disk use,
    /// with its row's.
    fn host_use(&mut self, at_us: u64, host: u32, ram_bytes: u64, disk_bytes: u64, add: bool) {
        let Some(track) = self.hosts.get_mut(host as usize) else {
            return;
        };
        let row = track.row;
        let timeline = self.timeline;
        if add {
            track.ram_used_bytes += ram_bytes;
            track.disk_used_bytes += disk_bytes;
            if ram_bytes > 0 {
                self.series.ram_rows[row].add(&timeline, at_us, ram_bytes);
            }
            if disk_bytes > 0 {
                self.series.disk_rows[row].add(&timeline, at_us, disk_bytes);
            }
        } else {
            track.ram_used_bytes = track.ram_used_bytes.saturating_sub(ram_bytes);
            track.disk_used_bytes = track.disk_used_bytes.saturating_sub(disk_bytes);
            if ram_bytes > 0 {
                self.series.ram_rows[row].sub(&timeline, at_us, ram_bytes);
            }
            if disk_bytes > 0 {
                self.series.disk_rows[row].sub(&timeline, at_us, disk_bytes);
            }
        }
    }

    /// An invocation starts on `host` (cold or warm): it leaves the queue
    /// if it was in it; returns its function and its host's row. One
    /// look-up of each: this runs for every start.
    fn start(&mut self, at_us: u64, invocation: InvocationId, host: HostId) -> Option<(u32, u32)> {
        let row = self
            .hosts
            .get(host.0 as usize)
            .map_or(NO_ROW, |host| host.row as u32);
        let track = self.invocation(invocation)?;
        track.row = row;
        let function = track.function;
        if track.queued {
            track.queued = false;
            self.series.queue.sub(&self.timeline, at_us, 1);
        }
        Some((function, row))
    }

    fn dequeue(&mut self, at_us: u64, invocation: InvocationId) {
        let Some(track) = self.invocation(invocation) else {
            return;
        };
        if track.queued {
            track.queued = false;
            self.series.queue.sub(&self.timeline, at_us, 1);
        }
    }

    /// A new container (a cold start or a pre-warm) on `host`.
    fn place(
        &mut self,
        at_us: u64,
        container: ContainerId,
        function: u32,
        host: HostId,
        image: ImageSource,
    ) {
        let host = host.0;
        *slot(&mut self.containers, index_of(container.to_bits())) = Some(ContainerTrack {
            id: container,
            function,
            host,
            busy: true,
            created_at_us: at_us,
        });
        if let Some(latencies) = &mut self.latencies {
            latencies.simfaas_mut().note_created(at_us);
        }
        let timeline = self.timeline;
        self.series.live.add(&timeline, at_us, 1);
        self.series.busy.add(&timeline, at_us, 1);
        let (memory_bytes, scratch_bytes, image_index) = self.function_size(function);
        let host_tier = match image {
            ImageSource::HostDisk => 0,
            ImageSource::HostCopyInFlight => 1,
            ImageSource::MainStorage | ImageSource::DownloadInFlight | ImageSource::Registry => 2,
        };
        self.series.host_cache[host_tier].add(&timeline, at_us, 1);
        let main_tier = match image {
            ImageSource::MainStorage => Some(0),
            ImageSource::DownloadInFlight => Some(1),
            ImageSource::Registry => Some(2),
            ImageSource::HostDisk | ImageSource::HostCopyInFlight => None,
        };
        let mut disk_bytes = scratch_bytes;
        if let Some(tier) = main_tier {
            self.series.main_cache[tier].add(&timeline, at_us, 1);
            // A host miss reserves the copy's bytes now (R65); its copy
            // starts with the `CopyStarted` that follows (main storage)
            // or once the download is done.
            let size_bytes = self.image_size(image_index);
            if let Some(track) = self.hosts.get_mut(host as usize) {
                track
                    .copies
                    .insert(image_index, (size_bytes, CopyState::AwaitingDownload));
            }
            disk_bytes += size_bytes;
        }
        self.host_use(at_us, host, memory_bytes, disk_bytes, true);
    }

    fn image_size(&self, image: u32) -> u64 {
        self.image_bytes.get(image as usize).copied().unwrap_or(0)
    }

    /// A copy leaves a host's disk.
    fn drop_copy(&mut self, at_us: u64, host: u32, image: u32) {
        let Some(track) = self.hosts.get_mut(host as usize) else {
            return;
        };
        if let Some((size_bytes, state)) = track.copies.remove(&image) {
            if state == CopyState::Copying {
                self.series.copies.sub(&self.timeline, at_us, 1);
            }
            self.host_use(at_us, host, 0, size_bytes, false);
        }
    }

    fn set_copy_state(&mut self, host: u32, image: u32, state: CopyState) -> Option<CopyState> {
        let copy = self.hosts.get_mut(host as usize)?.copies.get_mut(&image)?;
        Some(std::mem::replace(&mut copy.1, state))
    }

    /// Feeds one event, in the run's order. A thin dispatch: each kind has
    /// its own handler out of line, so the common ones (an invocation's
    /// acceptance, start and end, a container going idle) run in a small
    /// frame of their own and the rare ones cost them nothing.
    pub fn observe(&mut self, event: &Event) {
        let at_us = event.at_us;
        self.reach(at_us);
        match event.kind {
            EventKind::Accepted {
                invocation,
                function,
            } => self.accepted(at_us, invocation, function),
            EventKind::Queued { invocation, .. } => self.queued(at_us, invocation),
            EventKind::ColdStart {
                invocation,
                container,
                host,
                image,
            } => self.cold_start(at_us, invocation, container, host, image),
            EventKind::WarmStart {
                invocation,
                container,
                host,
            } => self.warm_start(at_us, invocation, container, host),
            EventKind::ExecutionStarted { invocation, .. } => {
                self.execution_started(at_us, invocation)
            }
            EventKind::Completed {
                invocation,
                cost_picodollars,
                ..
            } => self.end(at_us, invocation, Outcome::Completed, cost_picodollars),
            EventKind::Failed {
                invocation,
                cost_picodollars,
                ..
            } => self.end(at_us, invocation, Outcome::Failed, cost_picodollars),
            EventKind::TimedOut {
                invocation,
                cost_picodollars,
            } => self.end(at_us, invocation, Outcome::TimedOut, cost_picodollars),
            EventKind::ContainerIdle { container, .. }
            | EventKind::ContainerReserved { container } => self.container_idle(at_us, container),
            EventKind::ContainerRemoved {
                container, cause, ..
            } => self.container_removed(at_us, container, cause),
            _ => self.observe_rare(at_us, event),
        }
    }

    #[inline(never)]
    fn accepted(&mut self, at_us: u64, invocation: InvocationId, function: FunctionId) {
        let function = index_of(function.to_bits()) as u32;
        *slot(&mut self.invocations, index_of(invocation.to_bits())) = Some(InvocationTrack {
            id: invocation,
            accepted_at_us: at_us,
            function,
            start_delay_us: None,
            row: NO_ROW,
            queued: false,
        });
        self.function_stats(function).invocations += 1;
        if let Some(latencies) = &mut self.latencies {
            latencies.simfaas_mut().note_arrival(at_us);
        }
    }

    #[inline(never)]
    fn queued(&mut self, at_us: u64, invocation: InvocationId) {
        let timeline = self.timeline;
        if let Some(track) = self.invocation(invocation) {
            if !track.queued {
                track.queued = true;
                self.series.queue.add(&timeline, at_us, 1);
            }
        }
    }

    #[inline(never)]
    fn cold_start(
        &mut self,
        at_us: u64,
        invocation: InvocationId,
        container: ContainerId,
        host: HostId,
        image: ImageSource,
    ) {
        let Some((function, row)) = self.start(at_us, invocation, host) else {
            return;
        };
        self.series.cold_starts.add(&self.timeline, at_us, 1);
        self.function_stats(function).cold_starts += 1;
        if let Some(stats) = self.host_rows.get_mut(row as usize) {
            stats.cold_starts += 1;
        }
        self.place(at_us, container, function, host, image);
    }

    #[inline(never)]
    fn warm_start(
        &mut self,
        at_us: u64,
        invocation: InvocationId,
        container: ContainerId,
        host: HostId,
    ) {
        let timeline = self.timeline;
        if let Some(track) = self.container(container) {
            if !track.busy {
                track.busy = true;
                self.series.busy.add(&timeline, at_us, 1);
                if let Some(latencies) = &mut self.latencies {
                    latencies.simfaas_mut().note_busy(at_us, true);
                }
            }
        }
        let Some((function, row)) = self.start(at_us, invocation, host) else {
            return;
        };
        self.series.warm_starts.add(&timeline, at_us, 1);
        self.function_stats(function).warm_starts += 1;
        if let Some(stats) = self.host_rows.get_mut(row as usize) {
            stats.warm_starts += 1;
        }
    }

    #[inline(never)]
    fn execution_started(&mut self, at_us: u64, invocation: InvocationId) {
        let Some(track) = self.invocation(invocation) else {
            return;
        };
        let delay_us = at_us - track.accepted_at_us;
        track.start_delay_us = Some(delay_us);
        if let Some(latencies) = &mut self.latencies {
            latencies.record_start_delay(delay_us);
        }
    }

    #[inline(never)]
    fn container_idle(&mut self, at_us: u64, container: ContainerId) {
        let timeline = self.timeline;
        if let Some(track) = self.container(container) {
            if track.busy {
                track.busy = false;
                self.series.busy.sub(&timeline, at_us, 1);
                if let Some(latencies) = &mut self.latencies {
                    latencies.simfaas_mut().note_busy(at_us, false);
                }
            }
        }
    }

    #[inline(never)]
    fn container_removed(&mut self, at_us: u64, container: ContainerId, cause: RemovalCause) {
        let Some(track) = self.container(container).copied() else {
            return;
        };
        if let Some(latencies) = &mut self.latencies {
            let expired = cause == RemovalCause::Expired;
            let lifespan_us = expired.then(|| at_us - track.created_at_us);
            latencies
                .simfaas_mut()
                .note_removed(at_us, track.busy, lifespan_us);
        }
        self.containers[index_of(container.to_bits())] = None;
        let row = self
            .hosts
            .get(track.host as usize)
            .map_or(NO_ROW, |host| host.row as u32);
        self.removed_last = Some((container, row));
        let timeline = self.timeline;
        self.series.live.sub(&timeline, at_us, 1);
        if track.busy {
            self.series.busy.sub(&timeline, at_us, 1);
        }
        let (memory_bytes, scratch_bytes, _) = self.function_size(track.function);
        self.host_use(at_us, track.host, memory_bytes, scratch_bytes, false);
    }

    #[inline(never)]
    fn end(&mut self, at_us: u64, invocation: InvocationId, outcome: Outcome, cost: u64) {
        let timeline = self.timeline;
        let counter = match outcome {
            Outcome::Completed => &mut self.series.completed,
            Outcome::Failed => &mut self.series.failed,
            Outcome::TimedOut => &mut self.series.timed_out,
        };
        counter.add(&timeline, at_us, 1);
        self.series.cost_picodollars.add(&timeline, at_us, cost);
        let Some(track) = self.take_invocation(invocation) else {
            return;
        };
        let end_to_end_us = at_us - track.accepted_at_us;
        if let Some(latencies) = &mut self.latencies {
            latencies.record_end_to_end(end_to_end_us);
        }
        self.end_to_end_us[outcome.index()].record(end_to_end_us);
        if let Some(delay_us) = track.start_delay_us {
            self.start_delay_us[outcome.index()].record(delay_us);
        }
        if let Some(stats) = self.host_rows.get_mut(track.row as usize) {
            stats.cost_picodollars += u128::from(cost);
        }
        let stats = self.function_stats(track.function);
        stats.cost_picodollars += u128::from(cost);
        stats.end_to_end_us.record(end_to_end_us);
        match outcome {
            Outcome::Completed => stats.completed += 1,
            Outcome::Failed => stats.failed += 1,
            Outcome::TimedOut => stats.timed_out += 1,
        }
    }

    /// Registrations, pre-warms, rejections and platform failures, then
    /// transfers, image copies and faults: none of them per invocation on
    /// the common path.
    #[inline(never)]
    fn observe_rare(&mut self, at_us: u64, event: &Event) {
        let timeline = self.timeline;
        match event.kind {
            EventKind::ContainerBilled {
                container,
                function,
                cost_picodollars,
            } => {
                // Cloud Run's billing (spec R104b): the container's time, in
                // the cost series, its function's and its host's rows.
                self.series
                    .cost_picodollars
                    .add(&timeline, at_us, cost_picodollars);
                let function = index_of(function.to_bits()) as u32;
                self.function_stats(function).cost_picodollars += u128::from(cost_picodollars);
                if let Some((removed, row)) = self.removed_last {
                    if removed == container {
                        if let Some(stats) = self.host_rows.get_mut(row as usize) {
                            stats.cost_picodollars += u128::from(cost_picodollars);
                        }
                    }
                }
            }
            EventKind::ImageRegistered { image, size_bytes } => {
                let index = index_of(image.to_bits());
                if index >= self.image_bytes.len() {
                    self.image_bytes.resize(index + 1, 0);
                }
                self.image_bytes[index] = size_bytes;
            }
            EventKind::FunctionRegistered { function, image } => {
                let index = index_of(function.to_bits());
                let (memory_bytes, scratch_bytes) =
                    self.pending_functions.pop_front().unwrap_or((0, 0));
                if index >= self.function_sizes.len() {
                    self.function_sizes.resize(index + 1, (0, 0, u32::MAX));
                }
                let image = index_of(image.to_bits()) as u32;
                self.function_sizes[index] = (memory_bytes, scratch_bytes, image);
                let stats = self.function_stats(index as u32);
                stats.function = Some(function);
                stats.memory_bytes = memory_bytes;
            }
            EventKind::Prewarmed {
                function,
                container,
                host,
                image,
            }
            | EventKind::FloorPlaced {
                function,
                container,
                host,
                image,
            } => {
                let function = index_of(function.to_bits()) as u32;
                self.place(at_us, container, function, host, image);
            }
            EventKind::Rejected { invocation, .. } => {
                self.dequeue(at_us, invocation);
                self.series.rejected.add(&timeline, at_us, 1);
                if let Some(track) = self.take_invocation(invocation) {
                    self.function_stats(track.function).rejected += 1;
                }
            }
            EventKind::PlatformFailed { invocation, .. } => {
                self.dequeue(at_us, invocation);
                if let Some(track) = self.take_invocation(invocation) {
                    self.function_stats(track.function).platform_failed += 1;
                }
            }
            _ => self.observe_images(at_us, event),
        }
    }

    /// Transfers, image copies and faults.
    fn observe_images(&mut self, at_us: u64, event: &Event) {
        let timeline = self.timeline;
        match event.kind {
            EventKind::DownloadStarted { .. } => self.series.downloads.add(&timeline, at_us, 1),
            EventKind::DownloadFinished { .. } => self.series.downloads.sub(&timeline, at_us, 1),
            EventKind::DownloadFailed {
                image, retrying, ..
            } => {
                self.series.downloads.sub(&timeline, at_us, 1);
                if !retrying {
                    // Abandoned (R149): the copies that waited for it leave
                    // their hosts' disks, without an event of their own.
                    let image = index_of(image.to_bits()) as u32;
                    for host in 0..self.hosts.len() as u32 {
                        let waiting = self.hosts[host as usize]
                            .copies
                            .get(&image)
                            .is_some_and(|copy| copy.1 == CopyState::AwaitingDownload);
                        if waiting {
                            self.drop_copy(at_us, host, image);
                        }
                    }
                }
            }
            EventKind::CopyStarted { image, host } => {
                let image = index_of(image.to_bits()) as u32;
                if self.set_copy_state(host.0, image, CopyState::Copying)
                    != Some(CopyState::Copying)
                {
                    self.series.copies.add(&timeline, at_us, 1);
                }
            }
            EventKind::CopyFinished { image, host } => {
                let image = index_of(image.to_bits()) as u32;
                if self.set_copy_state(host.0, image, CopyState::Present)
                    == Some(CopyState::Copying)
                {
                    self.series.copies.sub(&timeline, at_us, 1);
                }
            }
            EventKind::CopyFailed {
                image,
                host,
                retrying,
                ..
            } => {
                let image = index_of(image.to_bits()) as u32;
                if retrying {
                    if self.set_copy_state(host.0, image, CopyState::Backoff)
                        == Some(CopyState::Copying)
                    {
                        self.series.copies.sub(&timeline, at_us, 1);
                    }
                } else {
                    self.drop_copy(at_us, host.0, image);
                }
            }
            EventKind::ImageEvicted {
                image,
                tier: Tier::Host(host),
            }
            | EventKind::ImageLost {
                image,
                tier: Tier::Host(host),
            } => self.drop_copy(at_us, host.0, index_of(image.to_bits()) as u32),
            EventKind::HostDown { host } => {
                self.series.host_downs.add(&timeline, at_us, 1);
                let Some(track) = self.hosts.get(host.0 as usize) else {
                    return;
                };
                self.host_rows[track.row].crashes += 1;
                // Every copy still arriving leaves the disk, with no event
                // (R141.3); present copies stay until `HostUp` says.
                let arriving: Vec<u32> = track
                    .copies
                    .iter()
                    .filter(|(_, copy)| copy.1 != CopyState::Present)
                    .map(|(&image, _)| image)
                    .collect();
                for image in arriving {
                    self.drop_copy(at_us, host.0, image);
                }
            }
            EventKind::HostUp { .. } => self.series.host_ups.add(&timeline, at_us, 1),
            EventKind::MainStorageLost => self.series.main_storage_losses.add(&timeline, at_us, 1),
            _ => {}
        }
    }
}

/// What a finished collection holds, for the renderer.
impl Collector {
    /// Integrates every gauge up to `end_us`, the run's end (its virtual
    /// time when the last timer fired). Call once, after the last event.
    pub fn finish(&mut self, end_us: u64) {
        if let Some(latencies) = &mut self.latencies {
            // The window's end is the last event's time, not the run's.
            latencies.simfaas_mut().note_time(self.last_us);
        }
        self.finished = true;
        let end_us = end_us.max(self.last_us);
        self.reach(end_us);
        let timeline = self.timeline;
        self.series
            .gauges()
            .for_each(|gauge| gauge.advance(&timeline, end_us));
        self.last_us = end_us;
    }

    /// The time axis the series share.
    pub fn timeline(&self) -> &Timeline {
        &self.timeline
    }

    /// The series, one per chart line.
    pub fn series(&self) -> &Series {
        &self.series
    }

    /// The last time seen (the run's end once finished).
    pub fn end_us(&self) -> u64 {
        self.last_us
    }

    /// Intervals in use.
    pub fn used(&self) -> usize {
        self.timeline.used(self.last_us)
    }

    /// Every registered function, by index.
    pub fn functions(&self) -> &[FunctionStats] {
        &self.functions
    }

    /// The hosts' rows of totals, in host order.
    pub fn host_rows(&self) -> &[HostRowStats] {
        &self.host_rows
    }

    /// Start delay (`Accepted` → its last `ExecutionStarted`) of the
    /// invocations that ended so, for each outcome of [`Outcome::ALL`].
    pub fn start_delay_us(&self, outcome: Outcome) -> &Histogram<RUN_SUB_BITS> {
        &self.start_delay_us[outcome.index()]
    }

    /// End to end (`Accepted` → its end) of the invocations that ended so,
    /// for each outcome of [`Outcome::ALL`].
    pub fn end_to_end_us(&self, outcome: Outcome) -> &Histogram<RUN_SUB_BITS> {
        &self.end_to_end_us[outcome.index()]
    }

    /// One host's RAM and disk in use now, as rebuilt from the events.
    pub fn host_used_bytes(&self, host: HostId) -> Option<(u64, u64)> {
        let track = self.hosts.get(host.0 as usize)?;
        Some((track.ram_used_bytes, track.disk_used_bytes))
    }

    /// Containers live, busy and idle, and invocations queued, now.
    pub fn counts_now(&self) -> [u64; 4] {
        [
            self.series.live.value(),
            self.series.busy.value(),
            self.series.live.value() - self.series.busy.value(),
            self.series.queue.value(),
        ]
    }

    /// Downloads and copies in flight now.
    pub fn transfers_now(&self) -> [u64; 2] {
        [self.series.downloads.value(), self.series.copies.value()]
    }
}
