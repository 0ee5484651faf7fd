//! Hosts' cores shared by their running invocations (spec R85f–R85k).
//! Every host counts the CPU demand of the invocations running on it
//! (`Host::cpu_demand_millis`, which placement sees) whatever the mode.
//! With `Cpu::Dedicated` a run is one end timer at `min(duration,
//! time_limit)` from its start and nothing more is kept. With
//! `Cpu::ProcessorSharing` each host keeps its runs' remaining work, and
//! every start or end of a run on a host charges the progress of those on
//! it since the host's last re-timing and re-sets their end timers: O(k log
//! n) for k runs on that host, and no other host is touched.
//!
//! Work is counted in nominal nanoseconds: a µs of code at nominal speed
//! with its demand met is 1,000 units. A host of `C` millicores at speed
//! `s` per-mille running a demand of `D` millicores advances each of its
//! runs by `min(C, D) × s / D` units per µs, so a charge is one integer
//! division per re-timing and nothing else rounds.

use crate::config::Cpu;
use crate::ids::{HostId, InvocationId};
use crate::state::{bug, Core, Timer, TimerKey};
use serde::{Deserialize, Serialize};

/// Work units in a µs of code at nominal speed.
const UNITS_PER_US: u128 = 1_000;

/// Every host's runs under processor sharing. Empty (and never written)
/// unless the configuration shares CPU.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Cpus {
    /// One per host, `hosts[i]` for `HostId(i)`.
    pub hosts: Vec<HostCpu>,
}

/// One host's running invocations, in the order they started (R85f).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct HostCpu {
    /// When the runs' progress was last charged.
    pub since_us: u64,
    pub runs: Vec<Run>,
}

/// An invocation's code running on a host that shares its CPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Run {
    pub invocation: InvocationId,
    /// Work left, in nominal nanoseconds.
    pub left_units: u128,
    /// Its time limit's end: `code_start_us + time_limit_us`.
    pub deadline_us: u64,
    /// The key its `InvocationEnd` timer is pending under.
    pub key: TimerKey,
}

impl Cpus {
    /// The CPU records of a new provider: one per host when CPU is shared,
    /// none otherwise.
    pub fn new(cpu: Cpu, hosts: usize) -> Cpus {
        match cpu {
            Cpu::Dedicated => Cpus::default(),
            Cpu::ProcessorSharing => Cpus {
                hosts: vec![HostCpu::default(); hosts],
            },
        }
    }
}

/// `⌊elapsed × min(C, D) × s / D⌋`: what a charge gives each run (R85g).
pub(crate) fn progress_units(
    elapsed_us: u64,
    cores_millis: u64,
    speed_permille: u32,
    demand_millis: u64,
) -> u128 {
    let pool = u128::from(elapsed_us)
        * u128::from(cores_millis.min(demand_millis))
        * u128::from(speed_permille);
    pool.checked_div(u128::from(demand_millis)).unwrap_or(0)
}

impl Core {
    pub(crate) fn shares_cpu(&self) -> bool {
        self.config.cpu == Cpu::ProcessorSharing
    }

    fn host_cpu_mut(&mut self, host: HostId) -> &mut HostCpu {
        self.cpus
            .hosts
            .get_mut(host.index())
            .unwrap_or_else(|| bug("the CPU of an unknown host"))
    }

    fn cpu_millis_of(&self, invocation: InvocationId) -> u64 {
        let inv = self
            .invocations
            .get(invocation)
            .unwrap_or_else(|| bug("unknown invocation"));
        self.functions
            .get(inv.function)
            .map_or_else(|| bug("unknown function"), |f| u64::from(f.cpu_millis))
    }

    /// An invocation's code starts on `host` now (R86, R85h): its demand
    /// joins the host's and its end timer is scheduled — at `now +
    /// min(duration, limit)` with dedicated CPU, by a re-timing of the host
    /// with processor sharing.
    pub(crate) fn start_run(
        &mut self,
        invocation: InvocationId,
        host: HostId,
        duration_us: u64,
        limit_us: u64,
    ) {
        let now_us = self.now_us;
        let demand = self.cpu_millis_of(invocation);
        if !self.shares_cpu() {
            self.hosts[host.index()].cpu_demand_millis += demand;
            self.schedule(
                now_us + duration_us.min(limit_us),
                Timer::InvocationEnd { invocation },
            );
            return;
        }
        self.charge_host(host);
        self.hosts[host.index()].cpu_demand_millis += demand;
        let cpu = self.host_cpu_mut(host);
        if cpu.runs.iter().any(|r| r.invocation == invocation) {
            bug("a run started twice");
        }
        cpu.runs.push(Run {
            invocation,
            left_units: u128::from(duration_us) * UNITS_PER_US,
            deadline_us: now_us + limit_us,
            // Not pending yet: the re-timing below schedules it.
            key: (now_us, 0),
        });
        self.retime_host(host, Some(invocation));
    }

    /// A run's end timer fired (R85i): its demand leaves the host and, with
    /// processor sharing, the others are re-timed. Returns whether it timed
    /// out: work was left when its time limit ended it (with dedicated CPU,
    /// whether its duration exceeds its limit). Called before anything
    /// else the timer does.
    pub(crate) fn run_ended(
        &mut self,
        invocation: InvocationId,
        host: HostId,
        duration_us: u64,
        limit_us: u64,
    ) -> bool {
        let demand = self.cpu_millis_of(invocation);
        if !self.shares_cpu() {
            self.hosts[host.index()].cpu_demand_millis -= demand;
            return duration_us > limit_us;
        }
        self.charge_host(host);
        let run = self.remove_run(host, invocation);
        self.hosts[host.index()].cpu_demand_millis -= demand;
        if run.left_units > 0 && run.deadline_us != self.now_us {
            bug("a shared run ended early, with work left before its time limit");
        }
        self.retime_host(host, None);
        run.left_units > 0
    }

    /// A run is lost with its host (R85j): its demand leaves the host and
    /// its end timer is cancelled, with no charge and no re-timing — every
    /// run on the host is lost with it.
    pub(crate) fn run_lost(&mut self, invocation: InvocationId, host: HostId) {
        let demand = self.cpu_millis_of(invocation);
        self.hosts[host.index()].cpu_demand_millis -= demand;
        if !self.shares_cpu() {
            self.cancel_timer(Timer::InvocationEnd { invocation });
            return;
        }
        let run = self.remove_run(host, invocation);
        if !self.timers.cancel(run.key) {
            bug("a shared run's timer was not pending");
        }
    }

    fn remove_run(&mut self, host: HostId, invocation: InvocationId) -> Run {
        let cpu = self.host_cpu_mut(host);
        let at = cpu
            .runs
            .iter()
            .position(|r| r.invocation == invocation)
            .unwrap_or_else(|| bug("a run not on its host"));
        cpu.runs.remove(at)
    }

    /// With processor sharing, the work done so far by a running
    /// invocation's code (nominal µs, rounded down), as a charge now would
    /// leave it; `None` with dedicated CPU. For `get_state`'s phase (R122).
    pub(crate) fn run_done_us(
        &self,
        invocation: InvocationId,
        host: HostId,
        duration_us: u64,
    ) -> Option<u64> {
        if !self.shares_cpu() {
            return None;
        }
        let cpu = self.cpus.hosts.get(host.index())?;
        let run = cpu.runs.iter().find(|r| r.invocation == invocation)?;
        let h = &self.hosts[host.index()];
        let each = progress_units(
            self.now_us - cpu.since_us,
            h.spec.cores_millis,
            h.spec.speed_permille,
            h.cpu_demand_millis,
        );
        let left = run.left_units - each.min(run.left_units);
        let done = u128::from(duration_us) * UNITS_PER_US
            - left.min(u128::from(duration_us) * UNITS_PER_US);
        Some(u64::try_from(done / UNITS_PER_US).unwrap_or(u64::MAX))
    }

    /// R85g: each run on the host is charged `⌊(now − since) × min(C, D) ×
    /// s / D⌋` units (at most what it has left), `D` the demand on it since
    /// `since`; then `since ← now`.
    fn charge_host(&mut self, host: HostId) {
        let now_us = self.now_us;
        let h = &self.hosts[host.index()];
        let (cores, speed, demand) = (
            h.spec.cores_millis,
            h.spec.speed_permille,
            h.cpu_demand_millis,
        );
        let cpu = self.host_cpu_mut(host);
        let each = progress_units(now_us - cpu.since_us, cores, speed, demand);
        for r in &mut cpu.runs {
            r.left_units -= each.min(r.left_units);
        }
        cpu.since_us = now_us;
    }

    /// R85g: every run on the host with work left and a deadline after now
    /// (and `new`, the one just started) gets its end timer re-set, in
    /// start order, to `min(now + ⌈left × D / (min(C, D) × s)⌉, deadline)`.
    /// One with nothing left, or whose deadline is now, keeps its timer,
    /// which is due now.
    fn retime_host(&mut self, host: HostId, new: Option<InvocationId>) {
        let now_us = self.now_us;
        let h = &self.hosts[host.index()];
        let (cores, speed, demand) = (
            h.spec.cores_millis,
            h.spec.speed_permille,
            h.cpu_demand_millis,
        );
        let rate = u128::from(cores.min(demand)) * u128::from(speed);
        let mut runs = std::mem::take(&mut self.host_cpu_mut(host).runs);
        for r in &mut runs {
            let is_new = new == Some(r.invocation);
            if (r.left_units == 0 || r.deadline_us == now_us) && !is_new {
                continue;
            }
            if !is_new && !self.timers.cancel(r.key) {
                bug("a shared run's timer was not pending");
            }
            let us = (r.left_units * u128::from(demand)).div_ceil(rate.max(1));
            let due = u128::from(now_us) + us;
            let due = u64::try_from(due.min(u128::from(r.deadline_us))).unwrap_or(r.deadline_us);
            r.key = self.schedule(
                due,
                Timer::InvocationEnd {
                    invocation: r.invocation,
                },
            );
        }
        self.host_cpu_mut(host).runs = runs;
    }
}
