//! Seeded host crashes for `coldstart simulate --faults`: a stream of
//! `HostDown` and `HostUp` inputs merged, in time order, into a workload's
//! inputs. Core draws no random numbers; this schedule does, from its own
//! seed (spec §27).
//!
//! Crashes arrive as a Poisson process at `crashes_per_hour` of virtual
//! time, while the workload still has inputs; each takes down a host chosen
//! uniformly among those up (none up: the crash is skipped), which comes
//! back `repair_us` later, its disk kept or lost with even odds. Every host
//! that went down comes back, even after the workload's last input, so a
//! run ends with every host up and every invocation accounted for.
//!
//! Only host crashes are scheduled: a transfer fault names a transfer in
//! progress, which a schedule drawn ahead of the run cannot know.

use crate::input::{Command, Input};
use crate::workload::Draws;
use crate::HostId;
use std::collections::BTreeMap;
use std::iter::Peekable;

const US_PER_HOUR: u64 = 3_600_000_000;

/// Mixed into the workload's seed so the crashes do not reuse its draws.
const SEED_SALT: u64 = 0xfa17_5eed_c0de_0001;

/// Seeded host crashes: how often, and how long a crashed host stays
/// down. The fault config of `simulate --faults` and a scenario's
/// `[faults]` rate keys. `#[non_exhaustive]`: build it with
/// [`FaultOptions::new`] and the `with_*` methods.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct FaultOptions {
    /// Mean host crashes per hour of virtual time (0: none).
    pub crashes_per_hour: u64,
    /// How long a crashed host stays down (µs).
    pub repair_us: u64,
}

impl FaultOptions {
    /// `crashes_per_hour` crashes an hour on average, each host down for
    /// `repair_us`.
    pub fn new(crashes_per_hour: u64, repair_us: u64) -> FaultOptions {
        FaultOptions {
            crashes_per_hour,
            repair_us,
        }
    }

    /// This crash rate (mean crashes per hour), in place of what there was.
    pub fn with_crashes_per_hour(mut self, crashes_per_hour: u64) -> FaultOptions {
        self.crashes_per_hour = crashes_per_hour;
        self
    }

    /// This repair time (µs), in place of what there was.
    pub fn with_repair_us(mut self, repair_us: u64) -> FaultOptions {
        self.repair_us = repair_us;
        self
    }
}

/// The hosts that are up, for picking the `k`-th of them in host order:
/// a Fenwick tree of 0/1 counts, so a crash costs O(log hosts) rather than
/// a scan of every host (minutes per run at 10^6 hosts).
#[derive(Clone, Debug)]
struct UpHosts {
    /// `tree[i]` (1-based) counts the hosts up in `(i − lowbit(i), i]`.
    tree: Vec<u32>,
    up: Vec<bool>,
    count: u32,
}

impl UpHosts {
    /// Every host up. O(hosts).
    pub fn all_up(hosts: u32) -> UpHosts {
        let n = hosts as usize;
        let mut tree = vec![0u32; n + 1];
        for i in 1..=n {
            tree[i] += 1;
            let parent = i + (i & i.wrapping_neg());
            if parent <= n {
                tree[parent] += tree[i];
            }
        }
        UpHosts {
            tree,
            up: vec![true; n],
            count: hosts,
        }
    }

    /// How many hosts are up.
    pub fn count(&self) -> u32 {
        self.count
    }

    #[cfg(test)]
    fn is_up(&self, host: u32) -> bool {
        self.up[host as usize]
    }

    /// Marks `host` up or down; O(log hosts).
    pub fn set(&mut self, host: u32, up: bool) {
        if self.up[host as usize] == up {
            return;
        }
        self.up[host as usize] = up;
        if up {
            self.count += 1;
        } else {
            self.count -= 1;
        }
        let mut i = host as usize + 1;
        while i < self.tree.len() {
            if up {
                self.tree[i] += 1;
            } else {
                self.tree[i] -= 1;
            }
            i += i & i.wrapping_neg();
        }
    }

    /// The `k`-th host up (from 0) in host order; `k < count()`. O(log
    /// hosts): descends the tree, keeping the position whose prefix holds
    /// at most `k` hosts up.
    pub fn nth_up(&self, k: u32) -> u32 {
        debug_assert!(k < self.count);
        let n = self.tree.len() - 1;
        let mut position = 0usize;
        let mut left = k;
        let mut step = if n == 0 { 0 } else { 1usize << n.ilog2() };
        while step > 0 {
            let next = position + step;
            if next <= n && self.tree[next] <= left {
                position = next;
                left -= self.tree[next];
            }
            step >>= 1;
        }
        // `position` hosts hold exactly `k` hosts up; the next one is up.
        position as u32
    }
}

/// A workload's inputs with host crashes and recoveries merged in.
pub struct WithCrashes<I: Iterator<Item = Input>> {
    inputs: Peekable<I>,
    draws: Draws,
    options: FaultOptions,
    /// The next crash's time, while crashes are still drawn.
    next_crash_us: Option<u64>,
    /// Recoveries due: `(at_us, host) → disk_kept`.
    recoveries: BTreeMap<(u64, u32), bool>,
    up: UpHosts,
}

impl<I: Iterator<Item = Input>> WithCrashes<I> {
    /// `inputs` with seeded crashes among `hosts` hosts merged in, drawn from
    /// `seed` (salted, so they do not reuse the workload's draws).
    pub fn new(inputs: I, hosts: u32, seed: u64, options: FaultOptions) -> Self {
        let mut draws = Draws::new(seed ^ SEED_SALT);
        let next_crash_us = (options.crashes_per_hour > 0 && hosts > 0)
            .then(|| draws.exponential(US_PER_HOUR / options.crashes_per_hour));
        WithCrashes {
            inputs: inputs.peekable(),
            draws,
            options,
            next_crash_us,
            recoveries: BTreeMap::new(),
            up: UpHosts::all_up(hosts),
        }
    }

    fn crash(&mut self, at_us: u64) -> Option<Input> {
        let mean = US_PER_HOUR / self.options.crashes_per_hour.max(1);
        self.next_crash_us = Some(at_us.saturating_add(self.draws.exponential(mean).max(1)));
        if self.up.count() == 0 {
            return None;
        }
        // The same draw and the same host as picking from the list of
        // hosts up, in host order.
        let host = self
            .up
            .nth_up(self.draws.below(u64::from(self.up.count())) as u32);
        let disk_kept = self.draws.below(2) == 0;
        self.up.set(host, false);
        self.recoveries.insert(
            (at_us.saturating_add(self.options.repair_us), host),
            disk_kept,
        );
        Some(Input {
            at_us,
            command: Command::HostDown { host: HostId(host) },
        })
    }
}

impl<I: Iterator<Item = Input>> Iterator for WithCrashes<I> {
    type Item = Input;

    fn next(&mut self) -> Option<Input> {
        loop {
            let next_input_us = self.inputs.peek().map(|input| input.at_us);
            // No more crashes once the workload is over.
            if next_input_us.is_none() {
                self.next_crash_us = None;
            }
            let recovery_us = self.recoveries.first_key_value().map(|(&(at, _), _)| at);
            let crash_us = self.next_crash_us;
            // At equal times: recoveries, then crashes, then the workload.
            let earliest = [recovery_us, crash_us, next_input_us]
                .into_iter()
                .flatten()
                .min()?;
            if recovery_us == Some(earliest) {
                let ((at_us, host), disk_kept) = self.recoveries.pop_first()?;
                self.up.set(host, true);
                return Some(Input {
                    at_us,
                    command: Command::HostUp {
                        host: HostId(host),
                        disk_kept,
                    },
                });
            }
            if crash_us == Some(earliest) {
                match self.crash(earliest) {
                    Some(input) => return Some(input),
                    None => continue,
                }
            }
            return self.inputs.next();
        }
    }
}

/// A workload's inputs with a fixed schedule of fault inputs merged in,
/// in time order; a fault at the same time as workload inputs comes after
/// them.
pub struct WithScheduled<I: Iterator<Item = Input>> {
    inputs: Peekable<I>,
    schedule: std::vec::IntoIter<Input>,
    next_fault: Option<Input>,
}

impl<I: Iterator<Item = Input>> WithScheduled<I> {
    /// `inputs` with the `schedule`'s fault inputs merged in, by time (an
    /// input and a fault at the same time: the input first). The schedule
    /// is sorted here, stably, so faults at the same time keep their order.
    pub fn new(inputs: I, mut schedule: Vec<Input>) -> Self {
        schedule.sort_by_key(|input| input.at_us);
        let mut schedule = schedule.into_iter();
        let next_fault = schedule.next();
        WithScheduled {
            inputs: inputs.peekable(),
            schedule,
            next_fault,
        }
    }
}

impl<I: Iterator<Item = Input>> Iterator for WithScheduled<I> {
    type Item = Input;

    fn next(&mut self) -> Option<Input> {
        let fault_first = match (&self.next_fault, self.inputs.peek()) {
            (Some(fault), Some(input)) => fault.at_us < input.at_us,
            (Some(_), None) => true,
            (None, _) => false,
        };
        if fault_first {
            let fault = self.next_fault.take();
            self.next_fault = self.schedule.next();
            fault
        } else {
            self.inputs.next()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn advance(at_us: u64) -> Input {
        Input {
            at_us,
            command: Command::Advance,
        }
    }

    #[test]
    fn crashes_are_seeded_paired_and_stop_with_the_workload() {
        let workload: Vec<Input> = (0..100).map(|i| advance(i * 60_000_000)).collect();
        let options = FaultOptions {
            crashes_per_hour: 10,
            repair_us: 120_000_000,
        };
        let run = |seed| WithCrashes::new(workload.clone().into_iter(), 3, seed, options);
        let merged: Vec<Input> = run(7).collect();
        assert_eq!(merged, run(7).collect::<Vec<_>>(), "same seed, same faults");
        assert_ne!(merged, run(8).collect::<Vec<_>>());
        assert!(merged.windows(2).all(|w| w[0].at_us <= w[1].at_us));
        let downs = merged
            .iter()
            .filter(|i| matches!(i.command, Command::HostDown { .. }))
            .count();
        let ups = merged
            .iter()
            .filter(|i| matches!(i.command, Command::HostUp { .. }))
            .count();
        // About 10 an hour over 99 minutes.
        assert!((4..40).contains(&downs), "{downs} crashes");
        assert_eq!(downs, ups, "every host that went down comes back");
        let last_input_us = 99 * 60_000_000;
        assert!(merged
            .iter()
            .filter(|i| matches!(i.command, Command::HostDown { .. }))
            .all(|i| i.at_us <= last_input_us));
        // A host never goes down twice without coming back in between.
        let mut down = [false; 3];
        for input in &merged {
            match input.command {
                Command::HostDown { host } => {
                    assert!(!down[host.index()]);
                    down[host.index()] = true;
                }
                Command::HostUp { host, .. } => {
                    assert!(down[host.index()]);
                    down[host.index()] = false;
                }
                _ => {}
            }
        }
    }

    /// The tree picks what a scan of the hosts up picks, through any
    /// sequence of downs and ups, on sizes around powers of two.
    #[test]
    fn the_kth_host_up_is_the_scans() {
        for hosts in [1u32, 2, 3, 7, 8, 9, 16, 33, 100] {
            let mut tree = UpHosts::all_up(hosts);
            let mut up = vec![true; hosts as usize];
            let mut draws = Draws::new(u64::from(hosts));
            for _ in 0..400 {
                let host = draws.below(u64::from(hosts)) as u32;
                let now_up = draws.below(3) == 0;
                tree.set(host, now_up);
                up[host as usize] = now_up;
                let scan: Vec<u32> = (0..hosts).filter(|&h| up[h as usize]).collect();
                assert_eq!(tree.count() as usize, scan.len());
                for (k, &expected) in scan.iter().enumerate() {
                    assert_eq!(tree.nth_up(k as u32), expected, "{hosts} hosts, k {k}");
                }
                assert!((0..hosts).all(|h| tree.is_up(h) == up[h as usize]));
            }
        }
    }

    /// A million hosts: ten thousand crashes take a fraction of a second
    /// (a scan per crash took minutes).
    #[test]
    fn crashes_on_a_million_hosts_are_cheap() {
        let workload: Vec<Input> = (0..10_000).map(|i| advance(i * 1_000)).collect();
        let options = FaultOptions {
            crashes_per_hour: 3_600_000,
            repair_us: 3_600_000_000,
        };
        let started = std::time::Instant::now();
        let downs = WithCrashes::new(workload.into_iter(), 1 << 20, 5, options)
            .filter(|i| matches!(i.command, Command::HostDown { .. }))
            .count();
        assert!(downs > 5_000, "{downs} crashes");
        assert!(started.elapsed().as_secs() < 20, "{:?}", started.elapsed());
    }

    #[test]
    fn no_rate_no_faults() {
        let workload: Vec<Input> = (0..10).map(advance).collect();
        let options = FaultOptions {
            crashes_per_hour: 0,
            repair_us: 1,
        };
        let merged: Vec<Input> =
            WithCrashes::new(workload.clone().into_iter(), 2, 1, options).collect();
        assert_eq!(merged, workload);
    }

    #[test]
    fn scheduled_faults_merge_in_time_order_after_same_time_inputs() {
        let workload = vec![advance(10), advance(20), advance(30)];
        let down = Input {
            at_us: 20,
            command: Command::HostDown { host: HostId(0) },
        };
        let up = Input {
            at_us: 40,
            command: Command::HostUp {
                host: HostId(0),
                disk_kept: true,
            },
        };
        let merged: Vec<Input> =
            WithScheduled::new(workload.into_iter(), vec![down.clone(), up.clone()]).collect();
        assert_eq!(
            merged,
            vec![advance(10), advance(20), down, advance(30), up]
        );
    }
}
