//! Faults (spec §27): hosts going down and coming back, failed downloads and
//! copies, the loss of main storage, and the retries they cause. Every
//! victim ends in exactly one terminal state or is retried; every resource
//! it held goes back to its host or to main storage.

use crate::event::{EventKind, Events, PlatformError, RemovalCause, Tier};
use crate::ids::{ContainerId, HostId, ImageId, InvocationId};
use crate::input::Command;
use crate::policy::Policies;
use crate::refusal::Refusal;
use crate::state::{
    bug, ContainerState, Core, EndOutcome, Ending, ImageClass, InvState, MainState, Timer,
};

impl Core {
    /// Checks a fault input (R140).
    pub(crate) fn validate_fault(&self, command: &Command) -> Result<(), Refusal> {
        match *command {
            Command::HostDown { host } => match self.hosts.get(host.index()) {
                None => Err(Refusal::UnknownHost { host }),
                Some(h) if !h.up => Err(Refusal::HostAlreadyDown { host }),
                Some(_) => Ok(()),
            },
            Command::HostUp { host, .. } => match self.hosts.get(host.index()) {
                None => Err(Refusal::UnknownHost { host }),
                Some(h) if h.up => Err(Refusal::HostAlreadyUp { host }),
                Some(_) => Ok(()),
            },
            Command::DownloadFails { image } => match self.images.get(image) {
                None => Err(Refusal::UnknownImage { image }),
                Some(img) if img.main != MainState::Downloading => {
                    Err(Refusal::NoDownloadInProgress { image })
                }
                Some(_) => Ok(()),
            },
            Command::CopyFails { host, image } => {
                if host.index() >= self.hosts.len() {
                    return Err(Refusal::UnknownHost { host });
                }
                if !self.images.contains(image) {
                    return Err(Refusal::UnknownImage { image });
                }
                if self.timer_key(Timer::CopyDone { host, image }).is_none() {
                    return Err(Refusal::NoCopyInProgress { image, host });
                }
                Ok(())
            }
            Command::MainStorageLost => Ok(()),
            _ => bug("not a fault"),
        }
    }

    /// The key of a pending timer (a linear scan: faults are rare).
    fn timer_key(&self, timer: Timer) -> Option<(u64, u64)> {
        self.timers
            .sorted()
            .into_iter()
            .find(|&(_, t)| t == timer)
            .map(|(key, _)| key)
    }

    pub(crate) fn cancel_timer(&mut self, timer: Timer) {
        let key = self
            .timer_key(timer)
            .unwrap_or_else(|| bug("cancelling a timer that is not pending"));
        self.timers.cancel(key);
    }

    /// R141: the host goes down.
    pub(crate) fn host_down<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        out: &mut Events,
    ) {
        self.hosts[host.index()].up = false;
        self.metrics.hosts_down += 1;
        self.emit(out, EventKind::HostDown { host });
        let victims: Vec<ContainerId> = self
            .containers
            .iter()
            .filter(|(_, c)| c.host == host)
            .map(|(id, _)| id)
            .collect();
        for container in victims {
            let state = self
                .containers
                .get(container)
                .map_or_else(|| bug("victim vanished"), |c| c.state);
            match state {
                ContainerState::Idle { .. } => {
                    self.remove_idle(policies, container, RemovalCause::HostLost, out);
                }
                ContainerState::Preparing { invocation }
                | ContainerState::Starting { invocation }
                | ContainerState::Busy { invocation } => {
                    // Its oldest invocation, then the others in the order
                    // they joined (R141, R57b).
                    let joined = self
                        .containers
                        .get(container)
                        .map_or_else(Vec::new, |c| c.joined.clone());
                    match state {
                        ContainerState::Starting { .. } => {
                            self.cancel_timer(Timer::ContainerReady { container });
                        }
                        ContainerState::Busy { .. } => {
                            // R85j: the runs leave the host's CPU unre-timed.
                            for &running in std::iter::once(&invocation).chain(&joined) {
                                self.run_lost(running, host);
                            }
                        }
                        _ => {}
                    }
                    self.remove_busy(policies, container, RemovalCause::HostLost, out);
                    for lost in std::iter::once(invocation).chain(joined) {
                        self.interrupt(lost, out);
                    }
                }
                // A pre-warming container has no invocation to retry.
                ContainerState::PrewarmPreparing { .. } => {
                    self.remove_busy(policies, container, RemovalCause::HostLost, out);
                }
                ContainerState::PrewarmStarting { .. } => {
                    self.cancel_timer(Timer::ContainerReady { container });
                    self.remove_busy(policies, container, RemovalCause::HostLost, out);
                }
                // An idle floor container: held as busy by its host (R163.5).
                ContainerState::Reserved { .. } => {
                    self.take_reserved(container);
                    self.remove_busy(policies, container, RemovalCause::HostLost, out);
                }
            }
        }
        let arriving: Vec<ImageId> = self.hosts[host.index()]
            .images
            .iter()
            .filter(|(_, copy)| copy.arriving)
            .map(|(&image, _)| image)
            .collect();
        for image in arriving {
            let copy_timer = [
                Timer::CopyDone { host, image },
                Timer::CopyRetry { host, image },
            ]
            .into_iter()
            .find(|&t| self.timer_key(t).is_some());
            if let Some(timer) = copy_timer {
                if let Timer::CopyDone { .. } = timer {
                    // R85d: the host's other copies are re-timed.
                    self.cancel_transfer(timer);
                } else {
                    self.cancel_timer(timer);
                }
                self.unpin_main(image);
                self.refresh_main_evictable(policies, image);
            } else {
                let img = self
                    .images
                    .get_mut(image)
                    .unwrap_or_else(|| bug("unknown image"));
                img.waiting_hosts.retain(|&h| h != host);
                if img.main == MainState::AwaitingRoom && img.waiting_hosts.is_empty() {
                    img.main = MainState::Absent;
                    self.main.pending.retain(|&i| i != image);
                }
            }
            self.drop_arriving_copy(host, image);
        }
        self.start_pending_downloads(policies, out);
        // The floor containers lost here are placed again elsewhere (R161).
        self.replenish(policies, out);
    }

    /// R142: the host comes back.
    pub(crate) fn host_up<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        disk_kept: bool,
        out: &mut Events,
    ) {
        self.hosts[host.index()].up = true;
        self.metrics.hosts_up += 1;
        self.emit(out, EventKind::HostUp { host, disk_kept });
        if !disk_kept {
            let h = &mut self.hosts[host.index()];
            let copies = std::mem::take(&mut h.images);
            for (image, copy) in copies {
                let h = &mut self.hosts[host.index()];
                let Some((priority, seq)) = copy.evict_key else {
                    bug("a down host's copy is not evictable");
                };
                h.evictable_images.remove(&(priority, seq, image));
                h.evictable_image_bytes -= copy.size_bytes;
                h.disk_used_bytes -= copy.size_bytes;
                self.hosts
                    .note_class(host.index(), image, Some(ImageClass::Evictable), None);
                self.metrics.images_lost += 1;
                self.emit(
                    out,
                    EventKind::ImageLost {
                        image,
                        tier: Tier::Host(host),
                    },
                );
            }
        }
        self.drain_queue(policies, out);
    }

    /// R143: the image's download in progress fails.
    pub(crate) fn download_fails<P: Policies>(
        &mut self,
        policies: &mut P,
        image: ImageId,
        out: &mut Events,
    ) {
        self.cancel_transfer(Timer::DownloadDone { image });
        self.metrics.downloads_failed += 1;
        let retry = self.config.retry;
        let now_us = self.now_us;
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("unknown image"));
        let attempt = img.download_attempt;
        if attempt < retry.attempts_max {
            img.download_attempt += 1;
            img.main = MainState::DownloadBackoff;
            self.schedule(
                now_us + retry.backoff_after_us(attempt),
                Timer::DownloadRetry { image },
            );
            self.emit(
                out,
                EventKind::DownloadFailed {
                    image,
                    attempt,
                    retrying: true,
                },
            );
        } else {
            self.emit(
                out,
                EventKind::DownloadFailed {
                    image,
                    attempt,
                    retrying: false,
                },
            );
            self.abandon_download(policies, image, out);
            self.start_pending_downloads(policies, out);
            self.drain_queue(policies, out);
        }
    }

    /// R144: the image's copy to the host in progress fails.
    pub(crate) fn copy_fails<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        image: ImageId,
        out: &mut Events,
    ) {
        self.cancel_transfer(Timer::CopyDone { host, image });
        self.metrics.copies_failed += 1;
        let retry = self.config.retry;
        let now_us = self.now_us;
        let copy = self.hosts[host.index()]
            .images
            .get_mut(&image)
            .unwrap_or_else(|| bug("copy of an image not on the host"));
        let attempt = copy.copy_attempt;
        if attempt < retry.attempts_max {
            copy.copy_attempt += 1;
            self.schedule(
                now_us + retry.backoff_after_us(attempt),
                Timer::CopyRetry { host, image },
            );
            self.emit(
                out,
                EventKind::CopyFailed {
                    image,
                    host,
                    attempt,
                    retrying: true,
                },
            );
        } else {
            self.give_up_copy(policies, host, image, attempt, out);
            self.refresh_main_evictable(policies, image);
            self.start_pending_downloads(policies, out);
            self.drain_queue(policies, out);
        }
    }

    /// A copy fails for good (R144's last attempt, or main storage lost):
    /// `CopyFailed { retrying: false }`, main storage's pin released, and the
    /// copy abandoned with its waiting containers.
    fn give_up_copy<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        image: ImageId,
        attempt: u32,
        out: &mut Events,
    ) {
        self.emit(
            out,
            EventKind::CopyFailed {
                image,
                host,
                attempt,
                retrying: false,
            },
        );
        self.unpin_main(image);
        self.abandon_copy(policies, host, image, out);
    }

    /// R145: main storage's disk is lost.
    pub(crate) fn main_storage_lost<P: Policies>(&mut self, policies: &mut P, out: &mut Events) {
        self.metrics.main_storage_losses += 1;
        self.emit(out, EventKind::MainStorageLost);
        // 1. Copies out of it (in flight or waiting to retry), in timer order.
        let copies: Vec<((u64, u64), Timer, HostId, ImageId)> = self
            .timers
            .sorted()
            .into_iter()
            .filter_map(|(key, timer)| match timer {
                Timer::CopyDone { host, image } | Timer::CopyRetry { host, image } => {
                    Some((key, timer, host, image))
                }
                _ => None,
            })
            .collect();
        for (key, timer, host, image) in copies {
            if let Timer::CopyDone { .. } = timer {
                // Its key may have moved: an earlier copy on its host's
                // link ended and re-timed it (R85d).
                self.cancel_transfer(timer);
            } else {
                self.timers.cancel(key);
            }
            self.metrics.copies_failed += 1;
            let attempt = self.host_image(host, image).map_or_else(
                || bug("copy of an image not on the host"),
                |c| c.copy_attempt,
            );
            self.give_up_copy(policies, host, image, attempt, out);
        }
        // 2. Downloads into it (in flight or waiting to retry), by image.
        let downloads: Vec<ImageId> = self
            .images
            .iter()
            .filter(|(_, img)| {
                matches!(
                    img.main,
                    MainState::Downloading | MainState::DownloadBackoff
                )
            })
            .map(|(id, _)| id)
            .collect();
        for image in downloads {
            let (main, attempt) = self
                .images
                .get(image)
                .map_or_else(|| bug("unknown image"), |i| (i.main, i.download_attempt));
            if main == MainState::Downloading {
                self.cancel_transfer(Timer::DownloadDone { image });
            } else {
                self.cancel_timer(Timer::DownloadRetry { image });
            }
            self.metrics.downloads_failed += 1;
            self.emit(
                out,
                EventKind::DownloadFailed {
                    image,
                    attempt,
                    retrying: false,
                },
            );
            self.abandon_download(policies, image, out);
        }
        // 3. The images it held, by image.
        let present: Vec<ImageId> = self
            .images
            .iter()
            .filter(|(_, img)| img.main == MainState::Present)
            .map(|(id, _)| id)
            .collect();
        for image in present {
            let img = self
                .images
                .get_mut(image)
                .unwrap_or_else(|| bug("unknown image"));
            img.main = MainState::Absent;
            let size = img.size_bytes;
            if let Some((priority, seq)) = img.evict_key.take() {
                self.main.evictable.remove(&(priority, seq, image));
                self.main.evictable_bytes -= size;
            }
            self.main.used_bytes -= size;
            self.metrics.images_lost += 1;
            self.emit(
                out,
                EventKind::ImageLost {
                    image,
                    tier: Tier::MainStorage,
                },
            );
        }
        self.start_pending_downloads(policies, out);
        self.drain_queue(policies, out);
    }

    /// R146: a retried invocation's next attempt is admitted.
    pub(crate) fn on_retry_due<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        out: &mut Events,
    ) {
        let now_us = self.now_us;
        let inv = self
            .invocations
            .get_mut(invocation)
            .unwrap_or_else(|| bug("retry of unknown invocation"));
        if !matches!(inv.state, InvState::Retrying { .. }) {
            bug("retry of an invocation that is not retrying");
        }
        inv.state = InvState::Queued { since_us: now_us };
        self.metrics.retrying_now -= 1;
        self.metrics.queued_now += 1;
        self.admit(policies, invocation, out);
    }

    /// R143: a failed download's next attempt starts.
    pub(crate) fn on_download_retry(&mut self, image: ImageId, out: &mut Events) {
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("retry of unknown image"));
        if img.main != MainState::DownloadBackoff {
            bug("download retry of an image not backing off");
        }
        img.main = MainState::Downloading;
        let size = img.size_bytes;
        self.metrics.bytes_downloaded += u128::from(size);
        self.start_transfer(Timer::DownloadDone { image }, size);
        self.emit(out, EventKind::DownloadStarted { image });
    }

    /// R144: a failed copy's next attempt starts.
    pub(crate) fn on_copy_retry(&mut self, host: HostId, image: ImageId, out: &mut Events) {
        let size = self
            .host_image(host, image)
            .map_or_else(|| bug("retry of a copy not on the host"), |c| c.size_bytes);
        self.metrics.bytes_copied += u128::from(size);
        self.start_transfer(Timer::CopyDone { host, image }, size);
        self.emit(out, EventKind::CopyStarted { image, host });
    }

    /// R147: an invocation in flight lost its container: another attempt
    /// after the backoff, or a platform error if none is left.
    fn interrupt(&mut self, invocation: InvocationId, out: &mut Events) {
        let retry = self.config.retry;
        let now_us = self.now_us;
        let inv = self
            .invocations
            .get_mut(invocation)
            .unwrap_or_else(|| bug("unknown invocation"));
        if inv.attempt >= retry.attempts_max {
            self.platform_fail(invocation, PlatformError::HostLost, out);
            return;
        }
        let retry_at_us = now_us + retry.backoff_after_us(inv.attempt);
        inv.attempt += 1;
        let attempt = inv.attempt;
        inv.state = InvState::Retrying { retry_at_us };
        self.metrics.in_flight_now -= 1;
        self.metrics.retrying_now += 1;
        self.metrics.retries += 1;
        self.schedule(retry_at_us, Timer::RetryDue { invocation });
        self.emit(
            out,
            EventKind::Retrying {
                invocation,
                attempt,
                at_us: retry_at_us,
            },
        );
    }

    /// R148: an invocation in flight ends on a platform error.
    fn platform_fail(&mut self, invocation: InvocationId, reason: PlatformError, out: &mut Events) {
        match reason {
            PlatformError::HostLost => self.metrics.platform_failed_host_lost += 1,
            PlatformError::TransferFailed => self.metrics.platform_failed_transfer += 1,
        }
        self.metrics.in_flight_now -= 1;
        let at_us = self.now_us;
        let inv = self
            .invocations
            .get_mut(invocation)
            .unwrap_or_else(|| bug("unknown invocation"));
        inv.state = InvState::Ended(Ending {
            at_us,
            outcome: EndOutcome::PlatformFailed { reason },
        });
        let function = inv.function;
        self.demand_changed(function, false);
        self.emit(out, EventKind::PlatformFailed { invocation, reason });
        self.record_ended(invocation, out);
    }

    /// A copy out of main storage ended without arriving.
    fn unpin_main(&mut self, image: ImageId) {
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("unknown image"));
        img.copy_pins = img
            .copy_pins
            .checked_sub(1)
            .unwrap_or_else(|| bug("copy pin underflow"));
    }

    /// R149: a download is given up: its reservation is released and every
    /// host waiting for it gives up its copy.
    fn abandon_download<P: Policies>(
        &mut self,
        policies: &mut P,
        image: ImageId,
        out: &mut Events,
    ) {
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("unknown image"));
        img.main = MainState::Absent;
        let size = img.size_bytes;
        let hosts = std::mem::take(&mut img.waiting_hosts);
        self.main.used_bytes -= size;
        for host in hosts {
            self.abandon_copy(policies, host, image, out);
        }
    }

    /// R149: an arriving copy is given up: the containers waiting for it are
    /// removed and their invocations fail; its disk space is freed.
    fn abandon_copy<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        image: ImageId,
        out: &mut Events,
    ) {
        let waiting = self.hosts[host.index()].images.get_mut(&image).map_or_else(
            || bug("abandoning a copy not on the host"),
            |copy| std::mem::take(&mut copy.waiting),
        );
        for container in waiting {
            let (state, joined) = self.containers.get(container).map_or_else(
                || bug("a waiting container vanished"),
                |c| (c.state, c.joined.clone()),
            );
            let invocation = match state {
                ContainerState::Preparing { invocation } => Some(invocation),
                ContainerState::PrewarmPreparing { .. } => None,
                _ => bug("a waiting container is not preparing"),
            };
            self.remove_busy(policies, container, RemovalCause::Discarded, out);
            // Its oldest invocation, then those that joined it (R149, R57b).
            for failed in invocation.into_iter().chain(joined) {
                self.platform_fail(failed, PlatformError::TransferFailed, out);
            }
        }
        self.drop_arriving_copy(host, image);
    }

    /// Removes an arriving copy that nothing uses any more from its host.
    fn drop_arriving_copy(&mut self, host: HostId, image: ImageId) {
        let h = &mut self.hosts[host.index()];
        let copy = h
            .images
            .remove(&image)
            .unwrap_or_else(|| bug("dropping a copy not on the host"));
        if !copy.arriving || copy.pins_busy != 0 || copy.pins_idle != 0 {
            bug("dropping a copy that is present or in use");
        }
        h.disk_used_bytes -= copy.size_bytes;
        self.hosts
            .note_class(host.index(), image, Some(ImageClass::Pinned), None);
    }
}
