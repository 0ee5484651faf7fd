//! The transition function: validation, timers, and what each input and
//! each timer does.

use crate::applied::{Applied, InputTiming, Refused};
use crate::billing::{ContainerUsage, Usage};
use crate::config::{Config, ConfigError, Pressure};
use crate::event::{EventKind, Events, RejectReason, RemovalCause};
use crate::ids::{ContainerId, FunctionId, HostId, InvocationId};
use crate::input::{Command, FunctionDef, Input, Outcome};
use crate::limits::{
    BYTES_MAX, CONCURRENCY_MAX, CPU_MILLIS_MAX, DURATION_MAX_US, MIN_SCALE_MAX, TIME_MAX_US,
};
use crate::policy::{Builtin, ContainerFacts, Policies};
use crate::refusal::Refusal;
use crate::state::{
    bug, Container, ContainerState, Core, EndOutcome, Ending, Function, Image, InvState,
    Invocation, MainState, PendingPrewarm, Timer,
};
use serde::{Deserialize, Serialize};

/// A provider: the whole state of the model, and its policies.
///
/// Drive it with [`Provider::apply`] (or the by-value [`step`]); read it with
/// the client methods (`get_state`, `wait_for`, ...) and [`Provider::metrics`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Provider<P = Builtin> {
    pub(crate) core: Core,
    pub(crate) policies: P,
}

/// The pure transition function: the provider after `input`, and what the
/// input did — its events, or its refusal with the events of the timers
/// that fired before it was judged (spec R29).
pub fn step<P: Policies>(
    mut provider: Provider<P>,
    input: &Input,
) -> (Provider<P>, Result<Applied, Refused>) {
    let result = provider.apply(input);
    (provider, result)
}

fn check_duration(field: &'static str, value: u64) -> Result<(), Refusal> {
    if value > DURATION_MAX_US {
        return Err(Refusal::TooLarge {
            field: field.into(),
            value,
            max: DURATION_MAX_US,
        });
    }
    Ok(())
}

fn check_bytes(field: &'static str, value: u64) -> Result<(), Refusal> {
    if value > BYTES_MAX {
        return Err(Refusal::TooLarge {
            field: field.into(),
            value,
            max: BYTES_MAX,
        });
    }
    Ok(())
}

impl<P: Policies> Provider<P> {
    /// A provider at time 0 with nothing registered, run by `policies`.
    /// The configuration is checked first ([`Config::validate`]): an
    /// invalid one is refused with the field it names.
    pub fn new(config: Config, policies: P) -> Result<Provider<P>, ConfigError> {
        config.validate()?;
        Ok(Provider {
            core: Core::new(config),
            policies,
        })
    }

    /// Applies one input (spec R29): after the time checks, fires every
    /// timer due at or before its time, judges its command against the
    /// state they leave, applies it, then fires the zero-delay timers it
    /// created. A refusal by the time checks changes nothing; any other
    /// refusal leaves the provider as an `Advance` to the input's time
    /// would, and carries that advance's events.
    pub fn apply(&mut self, input: &Input) -> Result<Applied, Refused> {
        let mut out = Events::new();
        match self.apply_into(input, &mut out) {
            Ok(own_from) => Ok(Applied::new(out, own_from)),
            Err(refusal) => Err(Refused::new(refusal, out.into_vec())),
        }
    }

    /// [`Provider::apply`], writing the events into `out` (cleared first)
    /// instead of returning them: a caller stepping millions of times
    /// reuses one buffer rather than moving a fresh one out of each step.
    /// `out` holds every event of the step, even when the command is
    /// refused; `Ok` gives the index in `out` where the command's own
    /// events begin (those before it come from timers due by the input's
    /// time).
    pub fn apply_into(&mut self, input: &Input, out: &mut Events) -> Result<usize, Refusal> {
        out.clear();
        self.core.validate_time(input.at_us)?;
        if self.core.timing == InputTiming::BeforeTimers {
            // Logs of format 6 and older: judged before the timers, and a
            // refusal then fires nothing.
            self.core.validate_command(&input.command)?;
        }
        self.core
            .fire_timers_until(&mut self.policies, input.at_us, out);
        self.core.set_now(input.at_us);
        let own_from = out.len();
        if let (InputTiming::BeforeTimers, Command::Reap { invocation }) =
            (self.core.timing, &input.command)
        {
            // The old rule's one specified race: retention reaped the record
            // while the timers fired, and the Reap did nothing more.
            if !self.core.invocations.contains(*invocation) {
                return Ok(own_from);
            }
        }
        self.core.validate_command(&input.command)?;
        self.core.execute(&mut self.policies, &input.command, out);
        self.core
            .fire_timers_until(&mut self.policies, input.at_us, out);
        Ok(own_from)
    }

    /// How commands are judged against the timers due by their time; see
    /// [`InputTiming`]. New providers use [`InputTiming::AtInputTime`].
    pub fn input_timing(&self) -> InputTiming {
        self.core.timing
    }

    /// Sets how commands are judged against the timers due by their time.
    /// Only replay of a command log of format 6 or older needs
    /// [`InputTiming::BeforeTimers`]; the setting is part of a snapshot.
    pub fn set_input_timing(&mut self, timing: InputTiming) {
        self.core.timing = timing;
    }

    /// Fires every timer due at or before `t_us` and moves time there: what
    /// an `Advance` input does, without its validation, so a wait may follow
    /// timers due past `limits::TIME_MAX_US`.
    pub(crate) fn advance_to(&mut self, t_us: u64) -> Events {
        let mut out = Events::new();
        self.core
            .fire_timers_until(&mut self.policies, t_us, &mut out);
        self.core.set_now(t_us.max(self.core.now_us));
        out
    }

    /// Whether [`Provider::apply`] would refuse `input`, and why, judged
    /// exactly as `apply` judges it: against the state at the input's time.
    /// When no timer is due by then this costs what `apply`'s own checks
    /// cost; otherwise it applies the input to a clone of the provider
    /// (O(state)).
    pub fn validate(&self, input: &Input) -> Result<(), Refusal>
    where
        P: Clone,
    {
        match self.next_timer_us() {
            Some(due_us) if due_us <= input.at_us && input.at_us <= TIME_MAX_US => {
                let mut ahead = self.clone();
                let mut out = Events::new();
                ahead.apply_into(input, &mut out).map(|_| ())
            }
            // No timer fires: both input timings judge the state as it is.
            _ => {
                self.core.validate_time(input.at_us)?;
                self.core.validate_command(&input.command)
            }
        }
    }

    /// The configuration it was built with.
    pub fn config(&self) -> &Config {
        &self.core.config
    }

    /// Its policies, in their current state (a stateful policy's state
    /// moves with every decision).
    pub fn policies(&self) -> &P {
        &self.policies
    }

    /// Its counters and time integrals so far (spec §22).
    pub fn metrics(&self) -> &crate::metrics::Metrics {
        &self.core.metrics
    }

    /// The provider's current virtual time (µs).
    pub fn now_us(&self) -> u64 {
        self.core.now_us
    }

    /// When the next pending timer is due, if any: where a driver advances
    /// to when it has no input before then.
    pub fn next_timer_us(&self) -> Option<u64> {
        self.core.timers.next().map(|((due, _), _)| due)
    }

    /// Invocations waiting in the queue, oldest first.
    pub fn queue(&self) -> impl Iterator<Item = InvocationId> + '_ {
        self.core.queue.iter().copied()
    }

    /// The read-only view a host-selection policy is given, for drivers
    /// that ask the same questions (does a queued invocation fit anywhere?).
    pub fn host_view(&self) -> &dyn crate::policy::HostView {
        &self.core
    }

    /// What a host-selection policy would be asked to place for a live
    /// (not yet terminal) invocation; `None` for any other id.
    pub fn placement_request(
        &self,
        invocation: InvocationId,
    ) -> Option<crate::policy::PlacementRequest> {
        let inv = self.core.invocations.get(invocation)?;
        if matches!(inv.state, InvState::Ended(_)) {
            return None;
        }
        Some(self.core.placement_request(invocation))
    }
}

impl Core {
    /// The checks common to every input (R37): they refuse atomically,
    /// before any timer fires.
    fn validate_time(&self, at_us: u64) -> Result<(), Refusal> {
        if at_us > TIME_MAX_US {
            return Err(Refusal::TimeTooLate {
                at_us,
                max_us: TIME_MAX_US,
            });
        }
        if at_us < self.now_us {
            return Err(Refusal::TimeWentBackwards {
                at_us,
                now_us: self.now_us,
            });
        }
        Ok(())
    }

    /// A command's own checks (§8), against the state as it is.
    fn validate_command(&self, command: &Command) -> Result<(), Refusal> {
        let core = self;
        match *command {
            Command::RegisterImage { size_bytes } => core.validate_image(size_bytes),
            Command::RegisterFunction(ref def) => core.validate_function(def),
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => {
                if !core.functions.contains(function) {
                    return Err(Refusal::UnknownFunction { function });
                }
                check_duration("code.clone_us", code.clone_us)?;
                check_duration("code.build_us", code.build_us)?;
                check_duration("code.run_us", code.run_us)?;
                check_bytes("ingress_bytes", ingress_bytes)?;
                check_bytes("egress_bytes", egress_bytes)?;
                if !core.invocations.has_room() {
                    return Err(Refusal::TooManyEntities {
                        kind: "invocations".into(),
                    });
                }
                Ok(())
            }
            Command::Advance => Ok(()),
            Command::Reap { invocation } => match core.invocations.get(invocation) {
                None => Err(Refusal::UnknownInvocation { invocation }),
                Some(inv) if !matches!(inv.state, InvState::Ended(_)) => {
                    Err(Refusal::NotTerminal { invocation })
                }
                Some(_) => Ok(()),
            },
            Command::HostDown { .. }
            | Command::HostUp { .. }
            | Command::DownloadFails { .. }
            | Command::CopyFails { .. }
            | Command::MainStorageLost => core.validate_fault(command),
        }
    }

    fn validate_image(&self, size_bytes: u64) -> Result<(), Refusal> {
        if size_bytes == 0 {
            return Err(Refusal::Zero {
                field: "size_bytes".into(),
            });
        }
        check_bytes("size_bytes", size_bytes)?;
        if size_bytes > self.config.main_storage.capacity_bytes {
            return Err(Refusal::ImageNeverFits {
                size_bytes,
                why: "larger than main storage".into(),
            });
        }
        if !self.hosts.some_host_has(0, size_bytes) {
            return Err(Refusal::ImageNeverFits {
                size_bytes,
                why: "larger than every host's disk".into(),
            });
        }
        if !self.images.has_room() {
            return Err(Refusal::TooManyEntities {
                kind: "images".into(),
            });
        }
        Ok(())
    }

    fn validate_function(&self, def: &FunctionDef) -> Result<(), Refusal> {
        let FunctionDef {
            image,
            memory_bytes,
            scratch_bytes,
            time_limit_us,
            cold_start_us,
            warm_start_us,
            concurrency,
            min_scale,
            cpu_millis,
        } = *def;
        let Some(img) = self.images.get(image) else {
            return Err(Refusal::UnknownImage { image });
        };
        if memory_bytes == 0 {
            return Err(Refusal::Zero {
                field: "memory_bytes".into(),
            });
        }
        if time_limit_us == 0 {
            return Err(Refusal::Zero {
                field: "time_limit_us".into(),
            });
        }
        if concurrency == 0 {
            return Err(Refusal::Zero {
                field: "concurrency".into(),
            });
        }
        if cpu_millis == 0 {
            return Err(Refusal::Zero {
                field: "cpu_millis".into(),
            });
        }
        check_bytes("memory_bytes", memory_bytes)?;
        check_bytes("scratch_bytes", scratch_bytes)?;
        check_duration("time_limit_us", time_limit_us)?;
        if let Some(cold_start_us) = cold_start_us {
            check_duration("cold_start_us", cold_start_us)?;
        }
        if let Some(warm_start_us) = warm_start_us {
            check_duration("warm_start_us", warm_start_us)?;
        }
        if concurrency > CONCURRENCY_MAX {
            return Err(Refusal::TooLarge {
                field: "concurrency".into(),
                value: u64::from(concurrency),
                max: u64::from(CONCURRENCY_MAX),
            });
        }
        if min_scale > MIN_SCALE_MAX {
            return Err(Refusal::TooLarge {
                field: "min_scale".into(),
                value: u64::from(min_scale),
                max: u64::from(MIN_SCALE_MAX),
            });
        }
        if cpu_millis > CPU_MILLIS_MAX {
            return Err(Refusal::TooLarge {
                field: "cpu_millis".into(),
                value: u64::from(cpu_millis),
                max: u64::from(CPU_MILLIS_MAX),
            });
        }
        if !self.hosts.some_host_has(memory_bytes, 0) {
            return Err(Refusal::FunctionNeverFits {
                why: "needs more RAM than any host has".into(),
            });
        }
        let disk_needed = img.size_bytes + scratch_bytes;
        if !self.hosts.some_host_has(memory_bytes, disk_needed) {
            return Err(Refusal::FunctionNeverFits {
                why: "no host has both the RAM and the disk for its image plus scratch".into(),
            });
        }
        if !self.functions.has_room() {
            return Err(Refusal::TooManyEntities {
                kind: "functions".into(),
            });
        }
        Ok(())
    }

    /// Fires timers due at or before `t_us`, in `(due, seq)` order, each at
    /// its own due time.
    pub(crate) fn fire_timers_until<P: Policies>(
        &mut self,
        policies: &mut P,
        t_us: u64,
        out: &mut Events,
    ) {
        while let Some(((due_us, _), timer)) = self.timers.pop_due(t_us) {
            self.set_now(due_us);
            self.fire(policies, timer, out);
        }
    }

    fn fire<P: Policies>(&mut self, policies: &mut P, timer: Timer, out: &mut Events) {
        match timer {
            Timer::DownloadDone { image } => self.on_download_done(policies, image, out),
            Timer::CopyDone { host, image } => self.on_copy_done(policies, host, image, out),
            Timer::ContainerReady { container } => {
                self.on_container_ready(policies, container, out)
            }
            Timer::InvocationEnd { invocation } => {
                self.on_invocation_end(policies, invocation, out)
            }
            Timer::KeepAliveExpired { container } => {
                self.remove_idle(policies, container, RemovalCause::Expired, out);
                self.drain_queue(policies, out);
            }
            Timer::RetryDue { invocation } => self.on_retry_due(policies, invocation, out),
            Timer::DownloadRetry { image } => self.on_download_retry(image, out),
            Timer::CopyRetry { host, image } => self.on_copy_retry(host, image, out),
            Timer::Prewarm { function } => self.on_prewarm(policies, function, out),
            Timer::Reconcile => self.on_reconcile(policies, out),
        }
    }

    fn execute<P: Policies>(&mut self, policies: &mut P, command: &Command, out: &mut Events) {
        match *command {
            Command::RegisterImage { size_bytes } => {
                let image = self
                    .images
                    .insert(Image {
                        size_bytes,
                        main: MainState::Absent,
                        copy_pins: 0,
                        waiting_hosts: Vec::new(),
                        first_stored_us: 0,
                        last_used_us: 0,
                        uses: 0,
                        evict_key: None,
                        download_attempt: 0,
                    })
                    .unwrap_or_else(|_| bug("validated image insert failed"));
                self.emit(out, EventKind::ImageRegistered { image, size_bytes });
            }
            Command::RegisterFunction(FunctionDef {
                image,
                memory_bytes,
                scratch_bytes,
                time_limit_us,
                cold_start_us,
                warm_start_us,
                concurrency,
                min_scale,
                cpu_millis,
            }) => {
                let function = self
                    .functions
                    .insert(Function {
                        image,
                        memory_bytes,
                        scratch_bytes,
                        time_limit_us,
                        cold_start_us: cold_start_us.unwrap_or(self.config.cold_start_us),
                        warm_start_us: warm_start_us.unwrap_or(self.config.warm_start_us),
                        concurrency,
                        cpu_millis,
                        idle: Default::default(),
                        joinable: Default::default(),
                        prewarm: None,
                        containers: 0,
                        unready: 0,
                        demand: crate::autoscale::Demand {
                            since_us: self.now_us,
                            ..Default::default()
                        },
                        min_scale,
                        floor: 0,
                        reserved: Default::default(),
                    })
                    .unwrap_or_else(|_| bug("validated function insert failed"));
                self.emit(out, EventKind::FunctionRegistered { function, image });
                if min_scale > 0 {
                    self.short.insert(function);
                    self.top_up(policies, function, min_scale, out);
                }
            }
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            } => {
                let invocation = self
                    .invocations
                    .insert(Invocation {
                        function,
                        accepted_at_us: self.now_us,
                        code,
                        ingress_bytes,
                        egress_bytes,
                        attempt: 1,
                        state: InvState::Queued {
                            since_us: self.now_us,
                        },
                    })
                    .unwrap_or_else(|_| bug("validated invocation insert failed"));
                self.metrics.accepted += 1;
                // Counted as queued until it starts or is rejected.
                self.metrics.queued_now += 1;
                self.demand_changed(function, true);
                self.arm_reconcile();
                self.emit(
                    out,
                    EventKind::Accepted {
                        invocation,
                        function,
                    },
                );
                self.admit(policies, invocation, out);
            }
            Command::Advance => {}
            // Judged after this step's timers fired (R29), so the record
            // is still there.
            Command::Reap { invocation } => self.reap(invocation, out),
            Command::HostDown { host } => self.host_down(policies, host, out),
            Command::HostUp { host, disk_kept } => self.host_up(policies, host, disk_kept, out),
            Command::DownloadFails { image } => self.download_fails(policies, image, out),
            Command::CopyFails { host, image } => self.copy_fails(policies, host, image, out),
            Command::MainStorageLost => self.main_storage_lost(policies, out),
        }
    }

    /// A new invocation starts at once if it can; otherwise it is rejected or
    /// joins the queue, per the pressure mode. In queue mode it never jumps
    /// ahead of invocations already waiting.
    pub(crate) fn admit<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        out: &mut Events,
    ) {
        match self.config.pressure {
            Pressure::Reject => {
                if !self.try_start(policies, invocation, out) {
                    self.reject(invocation, RejectReason::ResourceUnavailable, out);
                }
            }
            Pressure::Queue { capacity } => {
                if self.queue.is_empty() && self.try_start(policies, invocation, out) {
                    return;
                }
                if self.queue.len() >= capacity as usize {
                    self.reject(invocation, RejectReason::QueueFull, out);
                    return;
                }
                self.queue.push_back(invocation);
                self.metrics.queued_total += 1;
                let queue_len = self.queue.len() as u32;
                self.emit(
                    out,
                    EventKind::Queued {
                        invocation,
                        queue_len,
                    },
                );
            }
        }
    }

    /// Starts queued invocations, oldest first, until the oldest cannot start.
    /// Then, with the queue empty, short floors are topped up (R161).
    pub(crate) fn drain_queue<P: Policies>(&mut self, policies: &mut P, out: &mut Events) {
        while let Some(&head) = self.queue.front() {
            if !self.try_start(policies, head, out) {
                return;
            }
            self.queue.pop_front();
        }
        self.replenish(policies, out);
    }

    fn reject(&mut self, invocation: InvocationId, reason: RejectReason, out: &mut Events) {
        match reason {
            RejectReason::ResourceUnavailable => self.metrics.rejected_resource_unavailable += 1,
            RejectReason::QueueFull => self.metrics.rejected_queue_full += 1,
        }
        self.metrics.queued_now -= 1;
        let at_us = self.now_us;
        let function = self
            .invocations
            .get_mut(invocation)
            .map(|inv| {
                inv.state = InvState::Ended(Ending {
                    at_us,
                    outcome: EndOutcome::Rejected { reason },
                });
                inv.function
            })
            .unwrap_or_else(|| bug("rejecting unknown invocation"));
        self.demand_changed(function, false);
        self.emit(out, EventKind::Rejected { invocation, reason });
        self.record_ended(invocation, out);
    }

    fn on_container_ready<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        out: &mut Events,
    ) {
        let now_us = self.now_us;
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("ready timer of unknown container"));
        let first_ready = !c.started;
        c.started = true;
        let (state, function) = (c.state, c.function);
        if first_ready {
            self.container_ready(function);
        }
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("ready timer of unknown container"));
        let invocation = match state {
            ContainerState::Starting { invocation } => invocation,
            ContainerState::PrewarmStarting { keep_alive_us } => {
                self.prewarm_ready(policies, container, keep_alive_us, out);
                return;
            }
            _ => bug("ready timer of a container that is not starting"),
        };
        c.state = ContainerState::Busy { invocation };
        let host = c.host;
        // Its oldest invocation first, then those that joined while it
        // started, in the order they joined (R86, R57b).
        let joined = c.joined.clone();
        for invocation in std::iter::once(invocation).chain(joined) {
            let inv = self
                .invocations
                .get_mut(invocation)
                .unwrap_or_else(|| bug("unknown invocation"));
            let InvState::Starting { cold, .. } = inv.state else {
                bug("ready container whose invocation is not starting");
            };
            inv.state = InvState::Running {
                container,
                host,
                cold,
                code_start_us: now_us,
            };
            self.begin_code(invocation, container, out);
        }
        self.refresh_joinable(policies, container);
    }

    /// A running invocation's code starts now: its end timer is scheduled
    /// and `ExecutionStarted` emitted (R86).
    pub(crate) fn begin_code(
        &mut self,
        invocation: InvocationId,
        container: ContainerId,
        out: &mut Events,
    ) {
        let inv = self
            .invocations
            .get(invocation)
            .unwrap_or_else(|| bug("unknown invocation"));
        let limit_us = self
            .functions
            .get(inv.function)
            .map_or_else(|| bug("unknown function"), |f| f.time_limit_us);
        let InvState::Running { host, .. } = inv.state else {
            bug("code begins for an invocation that is not running");
        };
        let duration_us = inv.code.duration_us();
        self.start_run(invocation, host, duration_us, limit_us);
        self.emit(
            out,
            EventKind::ExecutionStarted {
                invocation,
                container,
            },
        );
    }

    fn on_invocation_end<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        out: &mut Events,
    ) {
        let now_us = self.now_us;
        let inv = self
            .invocations
            .get(invocation)
            .unwrap_or_else(|| bug("end timer of unknown invocation"));
        let InvState::Running {
            container,
            host,
            cold,
            code_start_us,
        } = inv.state
        else {
            bug("end timer of an invocation that is not running");
        };
        let limit_us = self
            .functions
            .get(inv.function)
            .map_or_else(|| bug("unknown function"), |f| f.time_limit_us);
        let duration_us = inv.code.duration_us();
        // R85i: before anything else, the run leaves its host's CPU.
        let timed_out = self.run_ended(invocation, host, duration_us, limit_us);
        let inv = self
            .invocations
            .get(invocation)
            .unwrap_or_else(|| bug("end timer of unknown invocation"));
        let function = self
            .functions
            .get(inv.function)
            .unwrap_or_else(|| bug("unknown function"));
        let success = !timed_out && matches!(inv.code.outcome, Outcome::Success { .. });
        let provisioned = self.containers.get(container).is_some_and(|c| c.floor);
        let usage = Usage {
            function: inv.function,
            time_limit_us: function.time_limit_us,
            memory_bytes: function.memory_bytes,
            scratch_bytes: function.scratch_bytes,
            duration_us: (if cold { function.cold_start_us } else { 0 }) + (now_us - code_start_us),
            ingress_bytes: inv.ingress_bytes,
            egress_bytes: if success { inv.egress_bytes } else { 0 },
            cold,
            provisioned,
        };
        let cost_picodollars = policies.bill(&usage);
        let (outcome, kind) = match (timed_out, inv.code.outcome) {
            (true, _) => {
                self.metrics.timed_out += 1;
                (
                    EndOutcome::TimedOut { cost_picodollars },
                    EventKind::TimedOut {
                        invocation,
                        cost_picodollars,
                    },
                )
            }
            (false, Outcome::Success { output }) => {
                self.metrics.completed += 1;
                (
                    EndOutcome::Completed {
                        output,
                        cost_picodollars,
                    },
                    EventKind::Completed {
                        invocation,
                        output,
                        cost_picodollars,
                    },
                )
            }
            (false, Outcome::Failure { phase }) => {
                self.metrics.failed_by_phase[phase.index()] += 1;
                (
                    EndOutcome::Failed {
                        phase,
                        cost_picodollars,
                    },
                    EventKind::Failed {
                        invocation,
                        phase,
                        cost_picodollars,
                    },
                )
            }
        };
        self.metrics.cost_picodollars += u128::from(cost_picodollars);
        self.metrics.in_flight_now -= 1;
        let function = usage.function;
        if let Some(inv) = self.invocations.get_mut(invocation) {
            inv.state = InvState::Ended(Ending {
                at_us: now_us,
                outcome,
            });
        }
        self.demand_changed(function, false);
        self.emit(out, kind);
        if self.leave_container(container, invocation, success) {
            self.refresh_joinable(policies, container);
        } else {
            self.leave_joinable(container);
            let retiring = self.containers.get(container).is_some_and(|c| c.retiring);
            if success && !retiring {
                self.make_idle(policies, container, out);
            } else {
                self.discard(policies, container, out);
            }
        }
        self.record_ended(invocation, out);
        self.drain_queue(policies, out);
    }

    /// The ended invocation leaves its container; returns whether others
    /// still run there (R89a). If so the container stays busy: a success
    /// counts as a use, a failure or time-out retires it (no more joins; it
    /// is discarded when its last invocation leaves). If not, it is the
    /// caller's to idle or discard.
    fn leave_container(
        &mut self,
        container: ContainerId,
        invocation: InvocationId,
        success: bool,
    ) -> bool {
        let now_us = self.now_us;
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("unknown container"));
        if c.joined.is_empty() {
            return false;
        }
        match c.state {
            ContainerState::Busy { invocation: oldest } if oldest == invocation => {
                c.state = ContainerState::Busy {
                    invocation: c.joined.remove(0),
                };
            }
            ContainerState::Busy { .. } => {
                let at = c
                    .joined
                    .iter()
                    .position(|&i| i == invocation)
                    .unwrap_or_else(|| bug("an ending invocation is not in its container"));
                c.joined.remove(at);
            }
            _ => bug("an invocation ended in a container that is not busy"),
        }
        if success {
            c.last_used_us = now_us;
            c.uses += 1;
        } else {
            c.retiring = true;
        }
        true
    }

    /// A container that completed its invocation: the policy keeps it warm,
    /// or unloads it and plans a pre-warm (R91, R155).
    fn make_idle<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        out: &mut Events,
    ) {
        let facts = self.stamp_used(container, 1);
        if self.containers.get(container).is_some_and(|c| c.floor) {
            // Keep-alive and unloading do not apply to the floor (R163.4).
            self.enter_reserved(policies, &facts, out);
            self.plan_prewarm(facts.function, None, out);
            return;
        }
        let plan = policies.idle_plan(&facts);
        let keep_alive_us = plan.keep_alive_us.min(DURATION_MAX_US);
        match plan.prewarm_after_us {
            None => {
                self.enter_idle(policies, &facts, keep_alive_us, out);
                self.plan_prewarm(facts.function, None, out);
            }
            Some(after_us) => {
                self.remove_busy(policies, container, RemovalCause::Unloaded, out);
                let pending = Some((after_us.min(DURATION_MAX_US), keep_alive_us));
                self.plan_prewarm(facts.function, pending, out);
            }
        }
    }

    /// A pre-warmed container is ready: it goes idle for the keep-alive its
    /// plan gave, and may serve the oldest queued invocation (R157).
    fn prewarm_ready<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        keep_alive_us: u64,
        out: &mut Events,
    ) {
        let facts = self.stamp_used(container, 0);
        if self.containers.get(container).is_some_and(|c| c.floor) {
            self.enter_reserved(policies, &facts, out);
        } else {
            self.enter_idle(policies, &facts, keep_alive_us, out);
        }
        self.drain_queue(policies, out);
    }

    /// Marks the container used now, with `invocations` more completed on
    /// it (1 after its invocation, 0 for a pre-warm), and returns the facts
    /// a policy is given about it (R91.1–2, R157).
    fn stamp_used(&mut self, container: ContainerId, invocations: u64) -> ContainerFacts {
        let now_us = self.now_us;
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("unknown container"));
        c.last_used_us = now_us;
        c.uses += invocations;
        container_facts(container, c)
    }

    /// Replaces the function's pending pre-warm, if any, by `pending`:
    /// `(after_us, keep_alive_us)`, or none (R155).
    fn plan_prewarm(
        &mut self,
        function: FunctionId,
        pending: Option<(u64, u64)>,
        out: &mut Events,
    ) {
        self.cancel_prewarm(function);
        let Some((after_us, keep_alive_us)) = pending else {
            return;
        };
        let at_us = self.now_us + after_us;
        let timer = self.schedule(at_us, Timer::Prewarm { function });
        if let Some(f) = self.functions.get_mut(function) {
            f.prewarm = Some(PendingPrewarm {
                timer,
                keep_alive_us,
            });
        }
        self.metrics.prewarms_planned += 1;
        self.emit(out, EventKind::PrewarmPlanned { function, at_us });
    }

    /// Cancels the function's pending pre-warm, if it has one.
    pub(crate) fn cancel_prewarm(&mut self, function: FunctionId) {
        let pending = self
            .functions
            .get_mut(function)
            .and_then(|f| f.prewarm.take());
        if let Some(pending) = pending {
            self.timers.cancel(pending.timer);
        }
    }

    /// A busy (or pre-warming) container becomes idle until `keep_alive_us`
    /// from now, unless reused or evicted first (R91 steps 3–8).
    fn enter_idle<P: Policies>(
        &mut self,
        policies: &mut P,
        facts: &ContainerFacts,
        keep_alive_us: u64,
        out: &mut Events,
    ) {
        let now_us = self.now_us;
        let container = facts.container;
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown container"));
        let (host, image, function) = (c.host, c.image, c.function);
        let (memory, scratch) = (c.memory_bytes, c.scratch_bytes);
        let warm_priority = policies.warm_priority(facts);
        let evict_priority = policies.idle_eviction_priority(facts);
        let expires_at_us = now_us + keep_alive_us;
        let expiry = self.schedule(expires_at_us, Timer::KeepAliveExpired { container });
        let warm_key = (warm_priority, self.next_seq());
        let evict_key = (evict_priority, self.next_seq());
        if let Some(c) = self.containers.get_mut(container) {
            c.state = ContainerState::Idle {
                expiry,
                warm_key,
                evict_key,
                since_us: now_us,
            };
        }
        if let Some(f) = self.functions.get_mut(function) {
            f.idle.insert((warm_key.0, warm_key.1, container));
        }
        let h = &mut self.hosts[host.index()];
        h.idle.insert((evict_key.0, evict_key.1, container));
        h.idle_count += 1;
        h.busy_count -= 1;
        h.idle_ram_bytes += memory;
        h.idle_scratch_bytes += scratch;
        self.metrics.busy_containers_now -= 1;
        self.metrics.idle_containers_now += 1;
        self.update_host_image(policies, host, image, |copy| {
            copy.pins_busy -= 1;
            copy.pins_idle += 1;
        });
        self.emit(
            out,
            EventKind::ContainerIdle {
                container,
                expires_at_us,
            },
        );
    }

    /// A floor container goes idle and held (R163.2): in its function's
    /// reserved set, counted idle by the gauges, still busy for its host.
    fn enter_reserved<P: Policies>(
        &mut self,
        policies: &mut P,
        facts: &ContainerFacts,
        out: &mut Events,
    ) {
        let container = facts.container;
        let warm_key = (policies.warm_priority(facts), self.next_seq());
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("unknown container"));
        c.state = ContainerState::Reserved { warm_key };
        let function = c.function;
        if let Some(f) = self.functions.get_mut(function) {
            f.reserved.insert((warm_key.0, warm_key.1, container));
        }
        self.metrics.busy_containers_now -= 1;
        self.metrics.idle_containers_now += 1;
        self.metrics.reserved_containers_now += 1;
        self.emit(out, EventKind::ContainerReserved { container });
    }

    /// Destroys a busy container whose invocation failed or timed out.
    fn discard<P: Policies>(&mut self, policies: &mut P, container: ContainerId, out: &mut Events) {
        self.remove_busy(policies, container, RemovalCause::Discarded, out);
    }

    /// Removes a non-idle container (its invocation failed, or a fault took
    /// it). Its pending timers, if any, are the caller's to cancel.
    pub(crate) fn remove_busy<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        cause: RemovalCause,
        out: &mut Events,
    ) {
        self.leave_joinable(container);
        let c = self
            .containers
            .remove(container)
            .unwrap_or_else(|| bug("removing unknown container"));
        // A Reserved one has left its reserved set first (`take_reserved`).
        if let ContainerState::Idle { .. } = c.state {
            bug("removing an idle container as busy");
        }
        if c.floor {
            // The floor is short now; the next `REPLENISH` replaces it
            // (R163.5).
            if let Some(f) = self.functions.get_mut(c.function) {
                f.floor -= 1;
            }
            self.short.insert(c.function);
            self.metrics.floor_containers_now -= 1;
            self.metrics.floor_memory_bytes_now -= c.memory_bytes;
        }
        let host = c.host;
        self.container_gone(c.function, c.started);
        let h = &mut self.hosts[host.index()];
        h.busy_count -= 1;
        self.metrics.busy_containers_now -= 1;
        self.release(c.host, c.memory_bytes, c.scratch_bytes);
        self.update_host_image(policies, host, c.image, |copy| copy.pins_busy -= 1);
        match cause {
            RemovalCause::Discarded => self.metrics.containers_discarded += 1,
            RemovalCause::HostLost => self.metrics.containers_lost += 1,
            RemovalCause::Unloaded => self.metrics.containers_unloaded += 1,
            _ => bug("a busy container is not expired or evicted"),
        }
        self.emit(
            out,
            EventKind::ContainerRemoved {
                container,
                host,
                cause,
            },
        );
        self.bill_container(policies, container, &c, out);
    }

    /// Evicts an idle container to make room.
    pub(crate) fn evict_container<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        out: &mut Events,
    ) {
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("evicting unknown container"));
        let ContainerState::Idle { evict_key, .. } = c.state else {
            bug("evicting a container that is not idle");
        };
        policies.evicted(&crate::policy::Eviction::Container {
            container,
            function: c.function,
            host: c.host,
            priority: evict_key.0,
        });
        self.remove_idle(policies, container, RemovalCause::Evicted, out);
    }

    /// Removes an idle container (expired or evicted).
    pub(crate) fn remove_idle<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        cause: RemovalCause,
        out: &mut Events,
    ) {
        self.leave_idle(container);
        let c = self
            .containers
            .remove(container)
            .unwrap_or_else(|| bug("removing unknown container"));
        self.container_gone(c.function, c.started);
        self.release(c.host, c.memory_bytes, c.scratch_bytes);
        self.update_host_image(policies, c.host, c.image, |copy| copy.pins_idle -= 1);
        match cause {
            RemovalCause::Expired => self.metrics.containers_expired += 1,
            RemovalCause::Evicted => self.metrics.containers_evicted += 1,
            RemovalCause::HostLost => self.metrics.containers_lost += 1,
            // Counted by the caller (R169.3).
            RemovalCause::ScaledDown => {}
            RemovalCause::Discarded | RemovalCause::Unloaded => {
                bug("idle containers are not discarded or unloaded")
            }
        }
        self.emit(
            out,
            EventKind::ContainerRemoved {
                container,
                host: c.host,
                cause,
            },
        );
        self.bill_container(policies, container, &c, out);
    }

    /// A container just removed is billed for its instance time, if the
    /// policy bills containers (R104b): `ContainerBilled` follows its
    /// `ContainerRemoved`.
    fn bill_container<P: Policies>(
        &mut self,
        policies: &P,
        container: ContainerId,
        c: &Container,
        out: &mut Events,
    ) {
        let instance_us = c.started_at_us.map_or(0, |at_us| self.now_us - at_us);
        let usage = ContainerUsage::new(
            container,
            c.function,
            c.memory_bytes,
            instance_us,
            instance_us - c.idle_us,
        );
        let Some(cost_picodollars) = policies.bill_container(&usage) else {
            return;
        };
        self.metrics.cost_picodollars += u128::from(cost_picodollars);
        self.emit(
            out,
            EventKind::ContainerBilled {
                container,
                function: c.function,
                cost_picodollars,
            },
        );
    }

    /// A container of `function` is ready for the first time (R168).
    fn container_ready(&mut self, function: FunctionId) {
        let f = self
            .functions
            .get_mut(function)
            .unwrap_or_else(|| bug("a container of an unknown function"));
        f.unready = f
            .unready
            .checked_sub(1)
            .unwrap_or_else(|| bug("more containers ready than were starting"));
    }

    /// A container of `function` was removed (`started`: it had been
    /// ready): one live container fewer.
    fn container_gone(&mut self, function: FunctionId, started: bool) {
        if !started {
            self.container_ready(function);
        }
        let f = self
            .functions
            .get_mut(function)
            .unwrap_or_else(|| bug("a container of an unknown function"));
        f.containers = f
            .containers
            .checked_sub(1)
            .unwrap_or_else(|| bug("a function lost more containers than it had"));
    }

    /// Returns a removed container's RAM, slot and scratch to its host.
    fn release(&mut self, host: HostId, memory_bytes: u64, scratch_bytes: u64) {
        let h = &mut self.hosts[host.index()];
        h.ram_used_bytes -= memory_bytes;
        h.slots_used -= 1;
        h.disk_used_bytes -= scratch_bytes;
        self.metrics.containers_now -= 1;
    }

    /// Bookkeeping for an invocation that just ended: retention may reap the
    /// oldest ended records.
    pub(crate) fn record_ended(&mut self, invocation: InvocationId, out: &mut Events) {
        let Some(max) = self.config.terminal_records_max else {
            return;
        };
        self.ended_order.push_back(invocation);
        let live_records = self.metrics.ended() - self.metrics.reaped;
        let mut excess = live_records.saturating_sub(max);
        while excess > 0 {
            let Some(oldest) = self.ended_order.pop_front() else {
                bug("ended records without an order");
            };
            // Skip ids already reaped by a `Reap` input.
            if self.invocations.contains(oldest) {
                self.reap(oldest, out);
                excess -= 1;
            }
        }
    }

    fn reap(&mut self, invocation: InvocationId, out: &mut Events) {
        let inv = self
            .invocations
            .remove(invocation)
            .unwrap_or_else(|| bug("reaping unknown invocation"));
        if !matches!(inv.state, InvState::Ended(_)) {
            bug("reaping an invocation that has not ended");
        }
        self.metrics.reaped += 1;
        self.emit(out, EventKind::Reaped { invocation });
        // Keep the ended-order list from filling with ids reaped by input.
        let live_records = (self.metrics.ended() - self.metrics.reaped) as usize;
        if self.ended_order.len() > 2 * live_records + 64 {
            let invocations = &self.invocations;
            self.ended_order.retain(|&id| invocations.contains(id));
        }
    }
}

/// The facts a policy is given about a container going idle.
pub(crate) fn container_facts(container: ContainerId, c: &Container) -> ContainerFacts {
    ContainerFacts {
        container,
        function: c.function,
        host: c.host,
        memory_bytes: c.memory_bytes,
        created_at_us: c.created_at_us,
        created_seq: c.created_seq,
        last_used_us: c.last_used_us,
        uses: c.uses,
    }
}
