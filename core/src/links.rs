//! Links shared by their transfers (spec R85–R85d): main storage's
//! download feed and each host's copy link. With `Bandwidth::Dedicated`
//! every transfer is one timer at `transfer_us` from its start and nothing
//! here holds state. With `Bandwidth::FairShare` each link keeps its
//! transfers' remaining work, and every start or end of a transfer on a
//! link charges the progress of those on it since the link's last
//! re-timing and re-sets their completion timers: O(k log n) for k
//! transfers on that link, and no other link is touched.
//!
//! Work is counted in millionths of a byte: a link of `B` bytes per second
//! moves exactly `B` of them per µs, so a share of `B / k` is an integer
//! division per re-timing and nothing else rounds.

use crate::config::Bandwidth;
use crate::state::{bug, Core, Timer, TimerKey};
use crate::storage::transfer_us;
use serde::{Deserialize, Serialize};

/// Millionths of a byte in a byte: the unit of a transfer's remaining work.
const UNITS_PER_BYTE: u128 = 1_000_000;

/// Every shared link's transfers. Empty (and never written) unless the
/// configuration shares bandwidth.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Links {
    /// Main storage's download feed.
    pub download: Link,
    /// One copy link per host, `copies[i]` for `HostId(i)`.
    pub copies: Vec<Link>,
}

/// One link's transfers in flight, in the order they started (R85a).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Link {
    /// When the transfers' progress was last charged.
    pub since_us: u64,
    pub transfers: Vec<Transfer>,
}

/// A transfer on a shared link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Transfer {
    /// Its completion timer (`DownloadDone` or `CopyDone`): also its name.
    pub timer: Timer,
    /// Work left, in millionths of a byte.
    pub left_units: u128,
    /// The key its completion timer is pending under.
    pub key: TimerKey,
}

impl Links {
    /// The links of a new provider: one per host when bandwidth is shared,
    /// none otherwise.
    pub fn new(bandwidth: Bandwidth, hosts: usize) -> Links {
        match bandwidth {
            Bandwidth::Dedicated => Links::default(),
            Bandwidth::FairShare => Links {
                download: Link::default(),
                copies: vec![Link::default(); hosts],
            },
        }
    }
}

impl Core {
    fn shares_bandwidth(&self) -> bool {
        self.config.bandwidth == Bandwidth::FairShare
    }

    /// The bandwidth (bytes per second) of the link a transfer runs on.
    fn link_bytes_per_s(&self, timer: Timer) -> u64 {
        match timer {
            Timer::DownloadDone { .. } => self.config.main_storage.download_bytes_per_s,
            Timer::CopyDone { host, .. } => self.hosts[host.index()].spec.copy_bytes_per_s,
            _ => bug("a transfer with no link"),
        }
    }

    fn link_mut(&mut self, timer: Timer) -> &mut Link {
        match timer {
            Timer::DownloadDone { .. } => &mut self.links.download,
            Timer::CopyDone { host, .. } => self
                .links
                .copies
                .get_mut(host.index())
                .unwrap_or_else(|| bug("a copy link of an unknown host")),
            _ => bug("a transfer with no link"),
        }
    }

    /// Starts a transfer of `size_bytes` that ends with `timer` (R84, R85,
    /// R85b).
    pub(crate) fn start_transfer(&mut self, timer: Timer, size_bytes: u64) {
        let bytes_per_s = self.link_bytes_per_s(timer);
        if !self.shares_bandwidth() {
            let due = self.now_us + transfer_us(size_bytes, bytes_per_s);
            self.schedule(due, timer);
            return;
        }
        self.charge_link(timer, bytes_per_s);
        let now_us = self.now_us;
        let link = self.link_mut(timer);
        if link.transfers.iter().any(|t| t.timer == timer) {
            bug("a transfer started twice");
        }
        link.transfers.push(Transfer {
            timer,
            left_units: u128::from(size_bytes) * UNITS_PER_BYTE,
            // Not pending yet: the re-timing below schedules it.
            key: (now_us, 0),
        });
        self.retime_link(timer, bytes_per_s, Some(timer));
    }

    /// A transfer's completion timer fired: it leaves its link and the
    /// others are re-timed (R85c). Called before anything else the timer
    /// does.
    pub(crate) fn transfer_done(&mut self, timer: Timer) {
        if !self.shares_bandwidth() {
            return;
        }
        let bytes_per_s = self.link_bytes_per_s(timer);
        self.charge_link(timer, bytes_per_s);
        self.remove_transfer(timer);
        self.retime_link(timer, bytes_per_s, None);
    }

    /// A transfer ends before its timer (a fault, R85d): its timer is
    /// cancelled and the others on its link are re-timed.
    pub(crate) fn cancel_transfer(&mut self, timer: Timer) {
        if !self.shares_bandwidth() {
            self.cancel_timer(timer);
            return;
        }
        let bytes_per_s = self.link_bytes_per_s(timer);
        self.charge_link(timer, bytes_per_s);
        let transfer = self.remove_transfer(timer);
        if !self.timers.cancel(transfer.key) {
            bug("a shared transfer's timer was not pending");
        }
        self.retime_link(timer, bytes_per_s, None);
    }

    fn remove_transfer(&mut self, timer: Timer) -> Transfer {
        let link = self.link_mut(timer);
        let at = link
            .transfers
            .iter()
            .position(|t| t.timer == timer)
            .unwrap_or_else(|| bug("a transfer not on its link"));
        link.transfers.remove(at)
    }

    /// R85b: each transfer on the link is charged `⌊(now − since) × B / k⌋`
    /// millionths of a byte (at most what it has left), `k` the transfers
    /// on it since `since`.
    fn charge_link(&mut self, timer: Timer, bytes_per_s: u64) {
        let now_us = self.now_us;
        let link = self.link_mut(timer);
        let k = link.transfers.len() as u128;
        let pool = u128::from(now_us - link.since_us) * u128::from(bytes_per_s);
        if let Some(each) = pool.checked_div(k) {
            for t in &mut link.transfers {
                t.left_units -= each.min(t.left_units);
            }
        }
        link.since_us = now_us;
    }

    /// R85b: every transfer on the link with work left (and `new`, the one
    /// just started) gets its completion timer re-set, in start order, to
    /// `now + min(⌈left × k / B⌉, DURATION_MAX_US)`. One with nothing left
    /// keeps its timer, which is due now.
    fn retime_link(&mut self, timer: Timer, bytes_per_s: u64, new: Option<Timer>) {
        let now_us = self.now_us;
        let mut transfers = std::mem::take(&mut self.link_mut(timer).transfers);
        let k = transfers.len() as u128;
        for t in &mut transfers {
            let is_new = new == Some(t.timer);
            if t.left_units == 0 && !is_new {
                continue;
            }
            if !is_new && !self.timers.cancel(t.key) {
                bug("a shared transfer's timer was not pending");
            }
            let us = (t.left_units * k).div_ceil(u128::from(bytes_per_s.max(1)));
            let us = u64::try_from(us)
                .unwrap_or(u64::MAX)
                .min(crate::limits::DURATION_MAX_US);
            t.key = self.schedule(now_us + us, t.timer);
        }
        self.link_mut(timer).transfers = transfers;
    }
}
