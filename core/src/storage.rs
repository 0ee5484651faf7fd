//! The two disk tiers' bookkeeping: main storage (downloads, copies out,
//! LRU eviction) and each host's image cache (pins, eviction classes).

use crate::event::{EventKind, Events, Tier};
use crate::ids::{HostId, ImageId};
use crate::policy::{DiskFacts, Eviction, ImageFacts, Policies};
use crate::state::{bug, Core, HostImage, ImageClass, MainState, Timer};

/// Time to move `size_bytes` at `bytes_per_s`, rounded up to a whole µs,
/// and at most `limits::DURATION_MAX_US`.
pub(crate) fn transfer_us(size_bytes: u64, bytes_per_s: u64) -> u64 {
    let us = (u128::from(size_bytes) * 1_000_000).div_ceil(u128::from(bytes_per_s.max(1)));
    u64::try_from(us)
        .unwrap_or(u64::MAX)
        .min(crate::limits::DURATION_MAX_US)
}

impl Core {
    pub(crate) fn emit(&self, out: &mut Events, kind: EventKind) {
        out.push(crate::event::Event {
            at_us: self.now_us,
            kind,
        });
    }

    pub(crate) fn host_image(&self, host: HostId, image: ImageId) -> Option<&HostImage> {
        self.hosts.get(host.index())?.images.get(&image)
    }

    /// Applies `change` to a host's image copy and moves it between the
    /// eviction classes (pinned, idle-pinned, evictable) as its pins say.
    pub(crate) fn update_host_image<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        image: ImageId,
        change: impl FnOnce(&mut HostImage),
    ) {
        let h = &mut self.hosts[host.index()];
        let copy = h
            .images
            .get_mut(&image)
            .unwrap_or_else(|| bug("pin change of an image not on the host"));
        let before = copy.class();
        change(copy);
        let after = copy.class();
        if before == after {
            return;
        }
        let size = copy.size_bytes;
        self.hosts
            .note_class(host.index(), image, Some(before), Some(after));
        let h = &mut self.hosts[host.index()];
        let copy = h
            .images
            .get_mut(&image)
            .unwrap_or_else(|| bug("image vanished"));
        match before {
            ImageClass::Pinned => {}
            ImageClass::IdlePinned => h.idle_pinned_image_bytes -= size,
            ImageClass::Evictable => {
                h.evictable_image_bytes -= size;
                let (priority, seq) = copy
                    .evict_key
                    .take()
                    .unwrap_or_else(|| bug("evictable image without a key"));
                h.evictable_images.remove(&(priority, seq, image));
            }
        }
        match after {
            ImageClass::Pinned => {}
            ImageClass::IdlePinned => h.idle_pinned_image_bytes += size,
            ImageClass::Evictable => {
                let facts = ImageFacts {
                    image,
                    tier: Tier::Host(host),
                    size_bytes: size,
                    first_stored_us: copy.first_stored_us,
                    last_used_us: copy.last_used_us,
                    uses: copy.uses,
                };
                let priority = policies.image_priority(&facts);
                let seq = self.next_seq();
                let h = &mut self.hosts[host.index()];
                let copy = h
                    .images
                    .get_mut(&image)
                    .unwrap_or_else(|| bug("image vanished"));
                copy.evict_key = Some((priority, seq));
                h.evictable_image_bytes += size;
                h.evictable_images.insert((priority, seq, image));
            }
        }
    }

    /// Evicts the host's lowest-priority evictable image, telling the
    /// policy first (R71). Returns false if there is none.
    pub(crate) fn evict_one_host_image<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        out: &mut Events,
    ) -> bool {
        let h = &mut self.hosts[host.index()];
        let Some((priority, _, image)) = h.evictable_images.pop_first() else {
            return false;
        };
        policies.evicted(&Eviction::Image {
            image,
            tier: Tier::Host(host),
            priority,
        });
        let h = &mut self.hosts[host.index()];
        let copy = h
            .images
            .remove(&image)
            .unwrap_or_else(|| bug("evictable image not on host"));
        h.evictable_image_bytes -= copy.size_bytes;
        h.disk_used_bytes -= copy.size_bytes;
        self.hosts
            .note_class(host.index(), image, Some(ImageClass::Evictable), None);
        self.metrics.images_evicted_host += 1;
        self.emit(
            out,
            EventKind::ImageEvicted {
                image,
                tier: Tier::Host(host),
            },
        );
        true
    }

    /// Puts an image into main storage's evictable set if it is present, no
    /// copy reads from it, and it is not there yet. Called when a download
    /// or a copy finishes, and by faults that end a copy (R141, R144); the
    /// code that pins or evicts an image takes it out of the set itself.
    pub(crate) fn refresh_main_evictable<P: Policies>(&mut self, policies: &mut P, image: ImageId) {
        let img = self
            .images
            .get(image)
            .unwrap_or_else(|| bug("unknown image in main storage"));
        let free = img.main == MainState::Present && img.copy_pins == 0;
        if !free || img.evict_key.is_some() {
            return;
        }
        let facts = ImageFacts {
            image,
            tier: Tier::MainStorage,
            size_bytes: img.size_bytes,
            first_stored_us: img.first_stored_us,
            last_used_us: img.last_used_us,
            uses: img.uses,
        };
        let priority = policies.image_priority(&facts);
        let seq = self.next_seq();
        self.main.evictable.insert((priority, seq, image));
        self.main.evictable_bytes += facts.size_bytes;
        if let Some(img) = self.images.get_mut(image) {
            img.evict_key = Some((priority, seq));
        }
    }

    /// Starts the download of an absent image, or queues it for room.
    pub(crate) fn request_download<P: Policies>(
        &mut self,
        policies: &mut P,
        image: ImageId,
        out: &mut Events,
    ) {
        let size = self
            .images
            .get(image)
            .map_or_else(|| bug("download of unknown image"), |i| i.size_bytes);
        let capacity = self.config.main_storage.capacity_bytes;
        let room = capacity - self.main.used_bytes + self.main.evictable_bytes;
        if self.main.pending.is_empty() && room >= size {
            self.start_download(policies, image, out);
        } else {
            if let Some(img) = self.images.get_mut(image) {
                img.main = MainState::AwaitingRoom;
            }
            self.main.pending.push_back(image);
            self.metrics.downloads_waited += 1;
            self.emit(out, EventKind::DownloadWaiting { image });
        }
    }

    fn start_download<P: Policies>(&mut self, policies: &mut P, image: ImageId, out: &mut Events) {
        let size = self
            .images
            .get(image)
            .map_or_else(|| bug("download of unknown image"), |i| i.size_bytes);
        let capacity = self.config.main_storage.capacity_bytes;
        while capacity - self.main.used_bytes < size {
            if !self.evict_one_main_image(policies, out) {
                bug("download started without room");
            }
        }
        self.main.used_bytes += size;
        if let Some(img) = self.images.get_mut(image) {
            img.main = MainState::Downloading;
            img.download_attempt = 1;
        }
        self.metrics.bytes_downloaded += u128::from(size);
        self.start_transfer(Timer::DownloadDone { image }, size);
        self.emit(out, EventKind::DownloadStarted { image });
    }

    /// Evicts main storage's lowest-priority evictable image, telling the
    /// policy first (R76). Returns false if there is none.
    fn evict_one_main_image<P: Policies>(&mut self, policies: &mut P, out: &mut Events) -> bool {
        let Some((priority, _, victim)) = self.main.evictable.pop_first() else {
            return false;
        };
        policies.evicted(&Eviction::Image {
            image: victim,
            tier: Tier::MainStorage,
            priority,
        });
        let v = self
            .images
            .get_mut(victim)
            .unwrap_or_else(|| bug("evictable image unknown"));
        v.main = MainState::Absent;
        v.evict_key = None;
        let victim_bytes = v.size_bytes;
        self.main.evictable_bytes -= victim_bytes;
        self.main.used_bytes -= victim_bytes;
        self.metrics.images_evicted_main += 1;
        self.emit(
            out,
            EventKind::ImageEvicted {
                image: victim,
                tier: Tier::MainStorage,
            },
        );
        true
    }

    /// Asks the policy for a collection target for the disk an image just
    /// landed on and, if use is above it, evicts that disk's evictable
    /// images, lowest priority first, until use is at or below the target
    /// or none is left (R152).
    pub(crate) fn collect_images<P: Policies>(
        &mut self,
        policies: &mut P,
        tier: Tier,
        out: &mut Events,
    ) {
        let (capacity_bytes, used_bytes, evictable) = match tier {
            Tier::MainStorage => (
                self.config.main_storage.capacity_bytes,
                self.main.used_bytes,
                self.main.evictable.first().is_some(),
            ),
            Tier::Host(host) => {
                let h = &self.hosts[host.index()];
                (
                    h.spec.disk_bytes,
                    h.disk_used_bytes,
                    h.evictable_images.first().is_some(),
                )
            }
        };
        let disk = DiskFacts {
            tier,
            capacity_bytes,
            used_bytes,
        };
        let Some(target_bytes) = policies.collection_target_bytes(&disk) else {
            return;
        };
        // Nothing to do, nothing said: a collection that could evict
        // nothing would only repeat itself at every landing.
        if used_bytes <= target_bytes || !evictable {
            return;
        }
        self.emit(
            out,
            EventKind::ImageCollection {
                tier,
                used_bytes,
                target_bytes,
            },
        );
        loop {
            let used_bytes = match tier {
                Tier::MainStorage => self.main.used_bytes,
                Tier::Host(host) => self.hosts[host.index()].disk_used_bytes,
            };
            if used_bytes <= target_bytes {
                return;
            }
            let evicted = match tier {
                Tier::MainStorage => self.evict_one_main_image(policies, out),
                Tier::Host(host) => self.evict_one_host_image(policies, host, out),
            };
            if !evicted {
                return;
            }
        }
    }

    /// Starts waiting downloads, oldest first, while the oldest has room.
    pub(crate) fn start_pending_downloads<P: Policies>(
        &mut self,
        policies: &mut P,
        out: &mut Events,
    ) {
        let capacity = self.config.main_storage.capacity_bytes;
        while let Some(&image) = self.main.pending.front() {
            let size = self
                .images
                .get(image)
                .map_or_else(|| bug("pending unknown image"), |i| i.size_bytes);
            if capacity - self.main.used_bytes + self.main.evictable_bytes < size {
                return;
            }
            self.main.pending.pop_front();
            self.start_download(policies, image, out);
        }
    }

    /// Starts copying a present image from main storage to a host.
    pub(crate) fn start_copy(&mut self, host: HostId, image: ImageId, out: &mut Events) {
        let now_us = self.now_us;
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("copy of unknown image"));
        if img.main != MainState::Present {
            bug("copy from main storage of an image not present");
        }
        img.copy_pins += 1;
        img.last_used_us = now_us;
        img.uses += 1;
        let size = img.size_bytes;
        if let Some((priority, seq)) = img.evict_key.take() {
            self.main.evictable.remove(&(priority, seq, image));
            self.main.evictable_bytes -= size;
        }
        self.metrics.bytes_copied += u128::from(size);
        self.start_transfer(Timer::CopyDone { host, image }, size);
        self.emit(out, EventKind::CopyStarted { image, host });
    }

    pub(crate) fn on_download_done<P: Policies>(
        &mut self,
        policies: &mut P,
        image: ImageId,
        out: &mut Events,
    ) {
        self.transfer_done(Timer::DownloadDone { image });
        let now_us = self.now_us;
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("download of unknown image"));
        img.main = MainState::Present;
        img.first_stored_us = now_us;
        img.last_used_us = now_us;
        let hosts = std::mem::take(&mut img.waiting_hosts);
        self.emit(out, EventKind::DownloadFinished { image });
        for host in hosts {
            self.start_copy(host, image, out);
        }
        self.refresh_main_evictable(policies, image);
        self.collect_images(policies, Tier::MainStorage, out);
        // With no host left waiting (they went down meanwhile, R141) the
        // image is evictable at once and room grew; otherwise a no-op.
        self.start_pending_downloads(policies, out);
    }

    pub(crate) fn on_copy_done<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        image: ImageId,
        out: &mut Events,
    ) {
        self.transfer_done(Timer::CopyDone { host, image });
        let now_us = self.now_us;
        let img = self
            .images
            .get_mut(image)
            .unwrap_or_else(|| bug("copy of unknown image"));
        img.copy_pins = img
            .copy_pins
            .checked_sub(1)
            .unwrap_or_else(|| bug("copy pin underflow"));
        // Main storage's LRU counts the end of the last copy read from it.
        img.last_used_us = now_us;
        self.emit(out, EventKind::CopyFinished { image, host });
        let mut waiting = Vec::new();
        self.update_host_image(policies, host, image, |copy| {
            copy.arriving = false;
            copy.first_stored_us = now_us;
            copy.last_used_us = now_us;
            waiting = std::mem::take(&mut copy.waiting);
        });
        for container in waiting {
            self.begin_cold_overhead(container);
        }
        self.collect_images(policies, Tier::Host(host), out);
        self.refresh_main_evictable(policies, image);
        self.collect_images(policies, Tier::MainStorage, out);
        self.start_pending_downloads(policies, out);
    }
}
