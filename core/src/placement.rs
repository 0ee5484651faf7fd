//! Starting an invocation: warm reuse of an idle container, or a cold start
//! on a host chosen by the policy, making room on that host first.

use crate::event::{DecisionError, EventKind, Events, ImageSource, PrewarmSkip};
use crate::hosts::Want;
use crate::ids::{ContainerId, FunctionId, HostId, ImageId, InvocationId};
use crate::policy::{ContainerFacts, HostFacts, HostView, JoinFacts, PlacementRequest, Policies};
use crate::state::{
    bug, Container, ContainerState, Core, HostImage, ImageClass, InvState, MainState, Timer,
};

impl HostView for Core {
    fn now_us(&self) -> u64 {
        self.now_us
    }

    fn host_count(&self) -> u32 {
        self.hosts.len() as u32
    }

    fn host(&self, host: HostId) -> Option<HostFacts> {
        let h = self.hosts.get(host.index())?;
        Some(HostFacts {
            spec: h.spec,
            ram_used_bytes: h.ram_used_bytes,
            slots_used: h.slots_used,
            disk_used_bytes: h.disk_used_bytes,
            idle_containers: h.idle_count,
            busy_containers: h.busy_count,
            cpu_demand_millis: h.cpu_demand_millis,
        })
    }

    /// From the host index (`hosts.rs`): the scan's answer, in O(log hosts)
    /// where hosts with room are found.
    fn first_fitting_host(&self, request: &PlacementRequest) -> Option<HostId> {
        self.hosts
            .first_fit(request, Want::Fit)
            .map(|host| HostId(host as u32))
    }

    /// From the host index (`hosts.rs`), as `first_fitting_host`.
    fn first_host_with_room(&self, request: &PlacementRequest) -> Option<HostId> {
        self.hosts
            .first_fit(request, Want::Room)
            .map(|host| HostId(host as u32))
    }

    fn first_fitting_host_from(&self, start: u32, request: &PlacementRequest) -> Option<HostId> {
        self.hosts
            .first_fit_from(request, Want::Fit, start as usize)
            .map(|host| HostId(host as u32))
    }

    fn best_fitting_host(&self, request: &PlacementRequest) -> Option<HostId> {
        self.hosts.best_fit(request).map(|host| HostId(host as u32))
    }

    fn least_loaded_fitting_host(&self, request: &PlacementRequest) -> Option<HostId> {
        self.hosts
            .least_loaded(request)
            .map(|host| HostId(host as u32))
    }

    fn first_fitting_host_with_image(&self, request: &PlacementRequest) -> Option<HostId> {
        self.hosts
            .first_fit_holding(request)
            .map(|host| HostId(host as u32))
    }

    /// From the host index's runs of fitting hosts (`hosts.rs`).
    fn fitting_host_at(&self, request: &PlacementRequest, hash: u64) -> Option<HostId> {
        self.hosts
            .fitting_at(request, hash)
            .map(|host| HostId(host as u32))
    }

    /// A few probes, then the host index's fitting hosts (`hosts.rs`).
    fn first_fitting_host_probing(
        &self,
        request: &PlacementRequest,
        home: u32,
        step: u32,
    ) -> Option<HostId> {
        self.hosts
            .first_fit_probing(request, home, step)
            .map(|host| HostId(host as u32))
    }

    /// The busy-container gauge: the hosts' busy containers summed (the
    /// invariant checker holds the two equal).
    fn busy_containers_total(&self) -> u128 {
        u128::from(self.metrics.busy_containers_now)
    }

    /// A walk of the ring's points (`hosts.rs`).
    fn walk_ring(&self, key: u64, visit: &mut dyn FnMut(HostId) -> bool) {
        self.hosts.walk_ring(key, &mut |host| visit(HostId(host)));
    }

    fn is_up(&self, host: HostId) -> bool {
        self.hosts.get(host.index()).is_some_and(|h| h.up)
    }

    fn has_image(&self, host: HostId, image: ImageId) -> bool {
        self.host_image(host, image).is_some()
    }

    fn fits(&self, host: HostId, request: &PlacementRequest) -> bool {
        self.hosts
            .get(host.index())
            .is_some_and(|h| h.fits(request))
    }

    fn fits_in_room(&self, host: HostId, request: &PlacementRequest) -> bool {
        self.hosts
            .get(host.index())
            .is_some_and(|h| h.fits_in_room(request))
    }
}

impl Core {
    pub(crate) fn placement_request(&self, invocation: InvocationId) -> PlacementRequest {
        let function = self
            .invocations
            .get(invocation)
            .unwrap_or_else(|| bug("placing unknown invocation"))
            .function;
        self.request_for(function, Some(invocation))
    }

    /// The placement request for a container of `function`: for an
    /// invocation, or for a pre-warm (`None`).
    pub(crate) fn request_for(
        &self,
        function_id: FunctionId,
        invocation: Option<InvocationId>,
    ) -> PlacementRequest {
        let function = self
            .functions
            .get(function_id)
            .unwrap_or_else(|| bug("unknown function"));
        let image = self
            .images
            .get(function.image)
            .unwrap_or_else(|| bug("unknown image"));
        PlacementRequest {
            invocation,
            function: function_id,
            image: function.image,
            image_bytes: image.size_bytes,
            memory_bytes: function.memory_bytes,
            scratch_bytes: function.scratch_bytes,
        }
    }

    /// Starts the invocation now if it can: warm on an idle container of its
    /// function, else cold on the host the policy picks. Returns false, having
    /// changed nothing but the policy's state (and a `DecisionRefused` event
    /// for an invalid decision), if it cannot.
    pub(crate) fn try_start<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        out: &mut Events,
    ) -> bool {
        let function = self
            .invocations
            .get(invocation)
            .map_or_else(|| bug("unknown invocation"), |i| i.function);
        // Floor containers serve first (R163.3), then on-demand idle ones.
        let (warm, join) = self.functions.get(function).map_or_else(
            || bug("unknown function"),
            |f| {
                let idle = f.reserved.first().or(f.idle.first()).copied();
                (idle, f.joinable.first().copied())
            },
        );
        match (warm, join) {
            (Some((_, _, idle)), Some((_, _, busy))) => {
                let join = self.join_facts(busy);
                let idle_facts = self.idle_facts(idle);
                if policies.join_before_waking(&join, &idle_facts) {
                    self.join(policies, invocation, busy, out);
                } else {
                    self.warm_start(policies, invocation, idle, out);
                }
                return true;
            }
            (Some((_, _, idle)), None) => {
                self.warm_start(policies, invocation, idle, out);
                return true;
            }
            (None, Some((_, _, busy))) => {
                self.join(policies, invocation, busy, out);
                return true;
            }
            (None, None) => {}
        }
        // No room for another container id (2^32 - 1 live containers): as if
        // no host had room.
        if !self.containers.has_room() {
            return false;
        }
        let request = self.placement_request(invocation);
        // Hosts changed since the last placement are re-keyed in one batch.
        self.hosts.refresh();
        let Some(host) = policies.select_host(&*self, &request) else {
            return false;
        };
        if let Some(reason) = self.check_decision(host, &request) {
            self.metrics.decisions_refused += 1;
            self.emit(
                out,
                EventKind::DecisionRefused {
                    invocation,
                    host,
                    reason,
                },
            );
            return false;
        }
        self.cold_start(policies, invocation, host, &request, out);
        true
    }

    /// Why a host-selection decision cannot be applied, if it cannot (R54.5).
    fn check_decision(&self, host: HostId, request: &PlacementRequest) -> Option<DecisionError> {
        if host.index() >= self.hosts.len() {
            Some(DecisionError::UnknownHost)
        } else if !self.hosts[host.index()].up {
            Some(DecisionError::HostDown)
        } else if !self.fits(host, request) {
            Some(DecisionError::NoRoom)
        } else {
            None
        }
    }

    /// The function's planned pre-warm is due: a container with no
    /// invocation is placed on the host the policy picks, unless the
    /// function is warm already, invocations are queued, or no host can
    /// take it (R156).
    pub(crate) fn on_prewarm<P: Policies>(
        &mut self,
        policies: &mut P,
        function: FunctionId,
        out: &mut Events,
    ) {
        let f = self
            .functions
            .get_mut(function)
            .unwrap_or_else(|| bug("pre-warm of unknown function"));
        let pending = f
            .prewarm
            .take()
            .unwrap_or_else(|| bug("pre-warm timer without a planned pre-warm"));
        let skip = if f.idle.first().is_some() || f.reserved.first().is_some() {
            Some(PrewarmSkip::AlreadyWarm)
        } else if !self.queue.is_empty() {
            Some(PrewarmSkip::QueueWaiting)
        } else if !self.containers.has_room() {
            Some(PrewarmSkip::NoHost)
        } else {
            None
        };
        if let Some(reason) = skip {
            self.skip_prewarm(function, reason, out);
            return;
        }
        let initial = ContainerState::PrewarmPreparing {
            keep_alive_us: pending.keep_alive_us,
        };
        self.place_prewarm(policies, function, initial, out);
    }

    /// R156 steps 2–5: places a container with no invocation for the
    /// function on the host the policy picks, in state `initial` (a
    /// `PrewarmPreparing`), or skips with the reason. Returns whether it
    /// placed one.
    pub(crate) fn place_prewarm<P: Policies>(
        &mut self,
        policies: &mut P,
        function: FunctionId,
        initial: ContainerState,
        out: &mut Events,
    ) -> bool {
        let request = self.request_for(function, None);
        self.hosts.refresh();
        let Some(host) = policies.select_host(&*self, &request) else {
            self.skip_prewarm(function, PrewarmSkip::NoHost, out);
            return false;
        };
        if let Some(reason) = self.check_decision(host, &request) {
            self.metrics.decisions_refused += 1;
            self.skip_prewarm(function, PrewarmSkip::Refused { host, reason }, out);
            return false;
        }
        let (container, source) = self.place(policies, host, &request, initial, out);
        self.metrics.prewarms += 1;
        self.emit(
            out,
            EventKind::Prewarmed {
                function,
                container,
                host,
                image: source,
            },
        );
        self.fetch_image(policies, container, host, request.image, source, out);
        true
    }

    pub(crate) fn skip_prewarm(
        &mut self,
        function: FunctionId,
        reason: PrewarmSkip,
        out: &mut Events,
    ) {
        self.metrics.prewarms_skipped += 1;
        self.emit(out, EventKind::PrewarmSkipped { function, reason });
    }

    /// Brings `function` up to `target` warm containers of its floor
    /// (R161): places floor containers until it has that many, or one
    /// cannot be placed (`FloorShort`). The floor's own target is the
    /// function's `min_scale`; a scaler may ask for more.
    pub(crate) fn top_up<P: Policies>(
        &mut self,
        policies: &mut P,
        function: FunctionId,
        target: u32,
        out: &mut Events,
    ) {
        loop {
            let floor = self
                .functions
                .get(function)
                .map_or_else(|| bug("topping up unknown function"), |f| f.floor);
            if floor >= target {
                return;
            }
            if let Err(reason) = self.place_floor(policies, function, out) {
                self.metrics.floor_shorts += 1;
                self.emit(
                    out,
                    EventKind::FloorShort {
                        function,
                        missing: target - floor,
                        reason,
                    },
                );
                return;
            }
        }
    }

    /// R161's `REPLENISH`: with an empty queue, every short function is
    /// topped up to its floor, in function order. Nothing with a non-empty
    /// queue, or when no floor is short.
    pub(crate) fn replenish<P: Policies>(&mut self, policies: &mut P, out: &mut Events) {
        if self.short.is_empty() || !self.queue.is_empty() {
            return;
        }
        let short: Vec<FunctionId> = self.short.iter().copied().collect();
        for function in short {
            let min_scale = self
                .functions
                .get(function)
                .map_or_else(|| bug("short unknown function"), |f| f.min_scale);
            self.top_up(policies, function, min_scale, out);
        }
    }

    /// Places one floor container of `function` on the host the policy
    /// picks (R162), or says why not.
    fn place_floor<P: Policies>(
        &mut self,
        policies: &mut P,
        function: FunctionId,
        out: &mut Events,
    ) -> Result<(), PrewarmSkip> {
        if !self.queue.is_empty() {
            return Err(PrewarmSkip::QueueWaiting);
        }
        if !self.containers.has_room() {
            return Err(PrewarmSkip::NoHost);
        }
        let request = self.request_for(function, None);
        self.hosts.refresh();
        let Some(host) = policies.select_host(&*self, &request) else {
            return Err(PrewarmSkip::NoHost);
        };
        if let Some(reason) = self.check_decision(host, &request) {
            self.metrics.decisions_refused += 1;
            return Err(PrewarmSkip::Refused { host, reason });
        }
        let initial = ContainerState::PrewarmPreparing { keep_alive_us: 0 };
        let (container, source) = self.place(policies, host, &request, initial, out);
        if let Some(c) = self.containers.get_mut(container) {
            c.floor = true;
        }
        let f = self
            .functions
            .get_mut(function)
            .unwrap_or_else(|| bug("unknown function"));
        f.floor += 1;
        if f.floor >= f.min_scale {
            self.short.remove(&function);
        }
        self.metrics.floor_containers_now += 1;
        self.metrics.floor_memory_bytes_now += request.memory_bytes;
        self.metrics.floors_placed += 1;
        self.emit(
            out,
            EventKind::FloorPlaced {
                function,
                container,
                host,
                image: source,
            },
        );
        self.fetch_image(policies, container, host, request.image, source, out);
        Ok(())
    }

    fn warm_start<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        container: ContainerId,
        out: &mut Events,
    ) {
        let now_us = self.now_us;
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("warm start on unknown container"));
        let (floor, first_use) = (c.floor, c.uses == 0);
        let (host, image) = if floor {
            self.take_reserved(container)
        } else {
            self.take_idle(container)
        };
        if floor {
            self.metrics.floor_warm_starts += 1;
        } else if first_use {
            // Only a pre-warmed container goes idle before its first use.
            self.metrics.prewarm_warm_starts += 1;
        }
        let due = self.now_us + self.start_costs_of(container).1;
        self.schedule(due, Timer::ContainerReady { container });
        if let Some(c) = self.containers.get_mut(container) {
            c.state = ContainerState::Starting { invocation };
        }
        self.update_host_image(policies, host, image, |copy| {
            if !floor {
                // A floor container pins its copy as busy while reserved.
                copy.pins_idle -= 1;
                copy.pins_busy += 1;
            }
            copy.last_used_us = now_us;
            copy.uses += 1;
        });
        self.mark_started(
            invocation,
            InvState::Starting {
                container,
                host,
                cold: false,
            },
        );
        self.metrics.warm_starts += 1;
        self.emit(
            out,
            EventKind::WarmStart {
                invocation,
                container,
                host,
            },
        );
        self.refresh_joinable(policies, container);
    }

    /// R57b: the invocation joins a non-idle container of its function
    /// with room. A warm start: on a running container its code starts at
    /// once; on a starting one it starts when the container is ready.
    fn join<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        container: ContainerId,
        out: &mut Events,
    ) {
        let now_us = self.now_us;
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("joining unknown container"));
        c.joined.push(invocation);
        let (host, ready) = (c.host, matches!(c.state, ContainerState::Busy { .. }));
        if c.floor {
            self.metrics.floor_warm_starts += 1;
        }
        self.metrics.warm_starts += 1;
        let state = if ready {
            self.metrics.joins_running += 1;
            InvState::Running {
                container,
                host,
                cold: false,
                code_start_us: now_us,
            }
        } else {
            self.metrics.joins_starting += 1;
            InvState::Starting {
                container,
                host,
                cold: false,
            }
        };
        self.mark_started(invocation, state);
        self.emit(
            out,
            EventKind::WarmStart {
                invocation,
                container,
                host,
            },
        );
        if ready {
            self.begin_code(invocation, container, out);
        }
        self.refresh_joinable(policies, container);
    }

    /// The facts a join policy is given about a non-idle container.
    fn join_facts(&self, container: ContainerId) -> JoinFacts {
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown container"));
        let concurrency = self
            .functions
            .get(c.function)
            .map_or_else(|| bug("unknown function"), |f| f.concurrency);
        JoinFacts {
            container,
            function: c.function,
            host: c.host,
            created_at_us: c.created_at_us,
            created_seq: c.created_seq,
            ready: matches!(c.state, ContainerState::Busy { .. }),
            invocations: 1 + c.joined.len() as u32,
            concurrency,
        }
    }

    /// The facts a policy is given about an idle container.
    fn idle_facts(&self, container: ContainerId) -> ContainerFacts {
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown container"));
        crate::step::container_facts(container, c)
    }

    /// Puts the container in its function's `joinable` set, at the
    /// priority the policy gives it now, if it has room for another
    /// invocation; takes it out otherwise (R57b). Nothing at concurrency 1:
    /// no container there ever has room, and no policy is asked.
    pub(crate) fn refresh_joinable<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
    ) {
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown container"));
        let function = c.function;
        let f = self
            .functions
            .get(function)
            .unwrap_or_else(|| bug("unknown function"));
        if f.concurrency <= 1 {
            return;
        }
        let active = matches!(
            c.state,
            ContainerState::Preparing { .. }
                | ContainerState::Starting { .. }
                | ContainerState::Busy { .. }
        );
        let room = active && !c.retiring && 1 + (c.joined.len() as u64) < u64::from(f.concurrency);
        self.leave_joinable(container);
        if !room {
            return;
        }
        let facts = self.join_facts(container);
        let key = (policies.join_priority(&facts), facts.created_seq);
        if let Some(f) = self.functions.get_mut(function) {
            f.joinable.insert((key.0, key.1, container));
        }
        if let Some(c) = self.containers.get_mut(container) {
            c.join_key = Some(key);
        }
    }

    /// Takes the container out of its function's `joinable` set, if it is
    /// there.
    pub(crate) fn leave_joinable(&mut self, container: ContainerId) {
        let Some(c) = self.containers.get_mut(container) else {
            return;
        };
        let Some(key) = c.join_key.take() else {
            return;
        };
        let function = c.function;
        if let Some(f) = self.functions.get_mut(function) {
            f.joinable.remove(&(key.0, key.1, container));
        }
    }

    /// Takes an idle container out of the idle sets and cancels its
    /// keep-alive; it counts as busy from here. Returns its host and image.
    fn take_idle(&mut self, container: ContainerId) -> (HostId, ImageId) {
        self.leave_idle(container);
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown idle container"));
        let (host, image) = (c.host, c.image);
        self.hosts[host.index()].busy_count += 1;
        self.metrics.busy_containers_now += 1;
        (host, image)
    }

    /// Takes a Reserved floor container out of its function's reserved set
    /// (R163.3); its host already counts it as busy. Returns its host and
    /// image.
    pub(crate) fn take_reserved(&mut self, container: ContainerId) -> (HostId, ImageId) {
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown reserved container"));
        let ContainerState::Reserved { warm_key } = c.state else {
            bug("a reserved-only operation on a container that is not reserved");
        };
        let (host, image, function) = (c.host, c.image, c.function);
        if let Some(f) = self.functions.get_mut(function) {
            f.reserved.remove(&(warm_key.0, warm_key.1, container));
        }
        self.metrics.reserved_containers_now -= 1;
        self.metrics.idle_containers_now -= 1;
        self.metrics.busy_containers_now += 1;
        (host, image)
    }

    /// Takes an idle container out of its function's and its host's idle
    /// sets, cancels its keep-alive timer (if it has not fired) and removes
    /// it from the idle totals. Its state is left for the caller to set.
    pub(crate) fn leave_idle(&mut self, container: ContainerId) {
        let c = self
            .containers
            .get(container)
            .unwrap_or_else(|| bug("unknown idle container"));
        let ContainerState::Idle {
            expiry,
            warm_key,
            evict_key,
            since_us,
        } = c.state
        else {
            bug("an idle-only operation on a container that is not idle");
        };
        let idle_spell_us = self.now_us - since_us;
        let (host, function) = (c.host, c.function);
        let (memory, scratch) = (c.memory_bytes, c.scratch_bytes);
        // An expiring container's timer has already fired; otherwise it is
        // cancelled here.
        self.timers.cancel(expiry);
        if let Some(f) = self.functions.get_mut(function) {
            f.idle.remove(&(warm_key.0, warm_key.1, container));
        }
        let h = &mut self.hosts[host.index()];
        h.idle.remove(&(evict_key.0, evict_key.1, container));
        h.idle_count -= 1;
        h.idle_ram_bytes -= memory;
        h.idle_scratch_bytes -= scratch;
        self.metrics.idle_containers_now -= 1;
        if let Some(c) = self.containers.get_mut(container) {
            c.idle_us += idle_spell_us;
        }
    }

    /// The invocation has a container now; a pre-warm planned for its
    /// function is cancelled: the invocation it was for has come (R155).
    fn mark_started(&mut self, invocation: InvocationId, state: InvState) {
        let inv = self
            .invocations
            .get_mut(invocation)
            .unwrap_or_else(|| bug("unknown invocation"));
        if let InvState::Queued { .. } = inv.state {
            self.metrics.queued_now -= 1;
        }
        inv.state = state;
        let function = inv.function;
        self.metrics.in_flight_now += 1;
        self.cancel_prewarm(function);
    }

    /// Evicts idle containers and unpinned images on `host` until the
    /// request's RAM, slot and disk fit. The caller has checked `fits` and
    /// pinned the target image if the host holds it.
    fn make_room<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        memory_bytes: u64,
        disk_bytes: u64,
        out: &mut Events,
    ) {
        loop {
            let h = &self.hosts[host.index()];
            if h.ram_free_bytes() >= memory_bytes && h.slots_free() >= 1 {
                break;
            }
            let Some(&(_, _, victim)) = h.idle.first() else {
                bug("placement without RAM or slot to reclaim");
            };
            self.evict_container(policies, victim, out);
        }
        while self.hosts[host.index()].disk_free_bytes() < disk_bytes {
            if self.evict_one_host_image(policies, host, out) {
                continue;
            }
            let Some(&(_, _, victim)) = self.hosts[host.index()].idle.first() else {
                bug("placement without disk to reclaim");
            };
            self.evict_container(policies, victim, out);
        }
    }

    fn cold_start<P: Policies>(
        &mut self,
        policies: &mut P,
        invocation: InvocationId,
        host: HostId,
        request: &PlacementRequest,
        out: &mut Events,
    ) {
        let initial = ContainerState::Preparing { invocation };
        let (container, source) = self.place(policies, host, request, initial, out);
        self.metrics.cold_starts += 1;
        if self
            .invocations
            .get(invocation)
            .is_some_and(|inv| inv.attempt > 1)
        {
            self.metrics.retry_cold_starts += 1;
        }
        let m = &mut self.metrics;
        match source {
            ImageSource::HostDisk => m.host_cache_hits += 1,
            ImageSource::HostCopyInFlight => m.host_cache_joins += 1,
            ImageSource::MainStorage | ImageSource::DownloadInFlight | ImageSource::Registry => {
                m.host_cache_misses += 1
            }
        }
        match source {
            ImageSource::MainStorage => m.main_cache_hits += 1,
            ImageSource::DownloadInFlight => m.main_cache_joins += 1,
            ImageSource::Registry => m.main_cache_misses += 1,
            ImageSource::HostDisk | ImageSource::HostCopyInFlight => {}
        }
        // Like its container, the invocation is preparing until the image is
        // on the host; `begin_cold_overhead` moves both on.
        self.mark_started(invocation, InvState::Preparing { container, host });
        self.emit(
            out,
            EventKind::ColdStart {
                invocation,
                container,
                host,
                image: source,
            },
        );
        self.fetch_image(policies, container, host, request.image, source, out);
        self.refresh_joinable(policies, container);
    }

    /// Creates a container for `request` on `host` in state `initial`
    /// (preparing), making room first (R60 steps 1–7): returns it and where
    /// its image is. The caller counts the placement and announces it, then
    /// calls `fetch_image`.
    fn place<P: Policies>(
        &mut self,
        policies: &mut P,
        host: HostId,
        request: &PlacementRequest,
        initial: ContainerState,
        out: &mut Events,
    ) -> (ContainerId, ImageSource) {
        let image = request.image;
        let now_us = self.now_us;
        // Pin the image first if the host holds it, so making room cannot
        // evict it.
        let held = self.host_image(host, image).map(|copy| copy.arriving);
        if held.is_some() {
            self.update_host_image(policies, host, image, |copy| {
                copy.pins_busy += 1;
                copy.last_used_us = now_us;
                copy.uses += 1;
            });
        }
        let disk_needed = request.scratch_bytes
            + if held.is_some() {
                0
            } else {
                request.image_bytes
            };
        self.make_room(policies, host, request.memory_bytes, disk_needed, out);

        let created_seq = self.next_seq();
        // Preparing until its image is on the disk; a present image starts
        // the overhead in `fetch_image`, within this placement.
        let container = self
            .containers
            .insert(Container {
                function: request.function,
                host,
                image,
                memory_bytes: request.memory_bytes,
                scratch_bytes: request.scratch_bytes,
                created_at_us: now_us,
                created_seq,
                last_used_us: now_us,
                uses: 0,
                state: initial,
                joined: Vec::new(),
                retiring: false,
                join_key: None,
                started: false,
                started_at_us: None,
                idle_us: 0,
                floor: false,
            })
            .unwrap_or_else(|_| bug("container arena full"));
        let h = &mut self.hosts[host.index()];
        h.ram_used_bytes += request.memory_bytes;
        h.slots_used += 1;
        h.disk_used_bytes += request.scratch_bytes;
        h.busy_count += 1;
        if let Some(f) = self.functions.get_mut(request.function) {
            f.containers += 1;
            f.unready += 1;
        }
        self.metrics.containers_created += 1;
        self.metrics.containers_now += 1;
        self.arm_reconcile();
        self.metrics.busy_containers_now += 1;

        let source = match held {
            Some(false) => ImageSource::HostDisk,
            Some(true) => {
                let copy = self.hosts[host.index()]
                    .images
                    .get_mut(&image)
                    .unwrap_or_else(|| bug("image vanished"));
                copy.waiting.push(container);
                ImageSource::HostCopyInFlight
            }
            None => {
                let h = &mut self.hosts[host.index()];
                h.disk_used_bytes += request.image_bytes;
                h.images.insert(
                    image,
                    HostImage {
                        size_bytes: request.image_bytes,
                        arriving: true,
                        waiting: vec![container],
                        pins_busy: 1,
                        pins_idle: 0,
                        first_stored_us: now_us,
                        last_used_us: now_us,
                        uses: 1,
                        evict_key: None,
                        copy_attempt: 1,
                    },
                );
                self.hosts
                    .note_class(host.index(), image, None, Some(ImageClass::Pinned));
                match self.images.get(image).map(|i| i.main) {
                    Some(MainState::Present) => ImageSource::MainStorage,
                    Some(MainState::Absent) => ImageSource::Registry,
                    _ => ImageSource::DownloadInFlight,
                }
            }
        };
        (container, source)
    }

    /// Brings a placed container's image to its host, from wherever it is
    /// (R60 step 10).
    fn fetch_image<P: Policies>(
        &mut self,
        policies: &mut P,
        container: ContainerId,
        host: HostId,
        image: ImageId,
        source: ImageSource,
        out: &mut Events,
    ) {
        match source {
            ImageSource::HostDisk => self.begin_cold_overhead(container),
            ImageSource::HostCopyInFlight => {}
            ImageSource::MainStorage => self.start_copy(host, image, out),
            ImageSource::DownloadInFlight | ImageSource::Registry => {
                let absent = source == ImageSource::Registry;
                if let Some(img) = self.images.get_mut(image) {
                    img.waiting_hosts.push(host);
                }
                if absent {
                    self.request_download(policies, image, out);
                }
            }
        }
    }

    /// The container's image is on its host: the cold-start overhead begins.
    pub(crate) fn begin_cold_overhead(&mut self, container: ContainerId) {
        let now_us = self.now_us;
        let c = self
            .containers
            .get_mut(container)
            .unwrap_or_else(|| bug("unknown container"));
        c.started_at_us = Some(now_us);
        let cold_start_us = self.functions.get(c.function).map_or_else(
            || bug("a container of an unknown function"),
            |f| f.cold_start_us,
        );
        let invocation = match c.state {
            ContainerState::Preparing { invocation } | ContainerState::Starting { invocation } => {
                invocation
            }
            ContainerState::PrewarmPreparing { keep_alive_us } => {
                c.state = ContainerState::PrewarmStarting { keep_alive_us };
                let due = self.now_us + cold_start_us;
                self.schedule(due, Timer::ContainerReady { container });
                return;
            }
            _ => bug("cold overhead for a container that is not starting"),
        };
        let host = c.host;
        c.state = ContainerState::Starting { invocation };
        if let Some(inv) = self.invocations.get_mut(invocation) {
            inv.state = InvState::Starting {
                container,
                host,
                cold: true,
            };
        }
        let due = self.now_us + cold_start_us;
        self.schedule(due, Timer::ContainerReady { container });
    }

    /// The cold- and warm-start overheads of `container`'s function (its
    /// own, or the configuration's: spec R41a).
    fn start_costs_of(&self, container: ContainerId) -> (u64, u64) {
        self.containers
            .get(container)
            .and_then(|c| self.functions.get(c.function))
            .map_or_else(
                || bug("a container of an unknown function"),
                |f| (f.cold_start_us, f.warm_start_us),
            )
    }
}
