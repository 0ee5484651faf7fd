//! Scenario tests: small stories told step by step, each pinning the exact
//! events of every step (times, ids, every field).
//!
//! Unless a test says otherwise the world is one host `{ RAM 1,000, 4 slots,
//! disk 1,000, copy 1,000,000 B/s }` and main storage `{ 1,000 bytes,
//! download 1,000,000 B/s }`, so moving one byte takes one µs; a cold start
//! costs 100 µs of overhead and a warm start 10 µs; policies are `Builtin`
//! (first fit, newest-created warm reuse, 10-minute keep-alive, LRU, Lambda
//! prices). `World` checks every invariant after every step.

use coldstart_core::*;

// ---------------------------------------------------------------------------
// The helper layer
// ---------------------------------------------------------------------------

const BW: u64 = 1_000_000;
const COLD: u64 = 100;
const WARM: u64 = 10;
/// The default keep-alive: 10 minutes.
const KEEP: u64 = 600_000_000;

fn host_spec(ram_bytes: u64, slots: u32, disk_bytes: u64) -> HostSpec {
    HostSpec::new(ram_bytes, slots, disk_bytes, BW)
}

/// `hosts` identical hosts and main storage of `main_bytes`, with the round
/// bandwidths and overheads of this file.
fn config(hosts: u32, host: HostSpec, main_bytes: u64) -> Config {
    let mut config = Config::homogeneous(MainStorageSpec::new(main_bytes, BW), host, hosts);
    config.cold_start_us = COLD;
    config.warm_start_us = WARM;
    config
}

fn default_config() -> Config {
    config(1, host_spec(1_000, 4, 1_000), 1_000)
}

fn ev(at_us: u64, kind: EventKind) -> Event {
    Event { at_us, kind }
}

fn img(index: u32) -> ImageId {
    ImageId::from_bits(u64::from(index))
}
fn fun(index: u32) -> FunctionId {
    FunctionId::from_bits(u64::from(index))
}
fn inv(index: u32) -> InvocationId {
    InvocationId::from_bits(u64::from(index))
}
/// An invocation id whose slot has been reused `generation` times.
fn inv_g(index: u32, generation: u32) -> InvocationId {
    InvocationId::from_bits((u64::from(generation) << 32) | u64::from(index))
}
fn ctr(index: u32) -> ContainerId {
    ContainerId::from_bits(u64::from(index))
}
fn ctr_g(index: u32, generation: u32) -> ContainerId {
    ContainerId::from_bits((u64::from(generation) << 32) | u64::from(index))
}
const H0: HostId = HostId(0);
const H1: HostId = HostId(1);

fn success(run_us: u64, output: u64) -> Code {
    Code::success(run_us, output)
}

fn failure(clone_us: u64, build_us: u64, run_us: u64, phase: Phase) -> Code {
    Code {
        clone_us,
        build_us,
        run_us,
        outcome: Outcome::Failure { phase },
    }
}

/// A provider under test; every step it takes is checked against the
/// invariants and the time order of its events.
struct World<P: Policies = Builtin> {
    p: Provider<P>,
}

impl World<Builtin> {
    fn new(config: Config) -> World<Builtin> {
        World::with(config, Builtin::default())
    }

    fn keep_alive(config: Config, keep_alive_us: u64) -> World<Builtin> {
        World::with(config, Builtin::default().with_keep_alive_us(keep_alive_us))
    }
}

impl<P: Policies + std::fmt::Debug + PartialEq> World<P> {
    fn with(config: Config, policies: P) -> World<P> {
        let p = Provider::new(config, policies).expect("valid configuration");
        p.check_invariants().unwrap_or_else(|v| panic!("{v}"));
        World { p }
    }

    fn now(&self) -> u64 {
        self.p.now_us()
    }

    /// Applies an input that must be accepted; checks the invariants.
    fn step(&mut self, at_us: u64, command: Command) -> Vec<Event> {
        let input = Input { at_us, command };
        let events = match self.p.apply(&input) {
            Ok(events) => events.into_vec(),
            Err(refusal) => panic!("{input:?} refused: {refusal}"),
        };
        if let Err(v) = self.p.check_invariants() {
            panic!("after {input:?} -> {events:#?}: {v}");
        }
        for pair in events.windows(2) {
            assert!(pair[0].at_us <= pair[1].at_us, "events out of time order");
        }
        if std::env::var_os("SCENARIO_PRINT").is_some() {
            eprintln!("t={at_us} {:?} -> {events:#?}", input.command);
        }
        events
    }

    /// Applies an input that must be refused, and checks it changed nothing
    /// beyond what an `Advance` to its time does (R30).
    fn refuse(&mut self, at_us: u64, command: Command) -> Refusal {
        let (advanced, advance_events) = advanced_to(&self.p, at_us);
        let input = Input { at_us, command };
        let refusal = match self.p.apply(&input) {
            Ok(events) => panic!("{input:?} accepted: {events:#?}"),
            Err(refused) => refused,
        };
        assert_eq!(self.p, advanced, "a refused input did more than advance");
        assert_eq!(refusal.events(), &advance_events[..]);
        let refusal = refusal.refusal().clone();
        self.p.check_invariants().unwrap_or_else(|v| panic!("{v}"));
        refusal
    }

    /// Registers an image at the current time.
    fn image(&mut self, size_bytes: u64) -> ImageId {
        let at = self.now();
        let events = self.step(at, Command::RegisterImage { size_bytes });
        let [Event {
            kind: EventKind::ImageRegistered { image, .. },
            ..
        }] = events[..]
        else {
            panic!("unexpected events {events:#?}");
        };
        assert_eq!(
            events,
            vec![ev(at, EventKind::ImageRegistered { image, size_bytes })]
        );
        image
    }

    /// Registers a function at the current time.
    fn function(&mut self, image: ImageId, memory: u64, scratch: u64, limit: u64) -> FunctionId {
        let at = self.now();
        let events = self.step(
            at,
            Command::RegisterFunction(
                FunctionDef::new(image, memory, limit).with_scratch_bytes(scratch),
            ),
        );
        let [Event {
            kind: EventKind::FunctionRegistered { function, .. },
            ..
        }] = events[..]
        else {
            panic!("unexpected events {events:#?}");
        };
        assert_eq!(
            events,
            vec![ev(at, EventKind::FunctionRegistered { function, image })]
        );
        function
    }

    fn invoke(
        &mut self,
        at_us: u64,
        function: FunctionId,
        code: Code,
    ) -> (InvocationId, Vec<Event>) {
        self.invoke_io(at_us, function, code, 0, 0)
    }

    fn invoke_io(
        &mut self,
        at_us: u64,
        function: FunctionId,
        code: Code,
        ingress_bytes: u64,
        egress_bytes: u64,
    ) -> (InvocationId, Vec<Event>) {
        let events = self.step(
            at_us,
            Command::Invoke {
                function,
                code,
                ingress_bytes,
                egress_bytes,
            },
        );
        let invocation = events
            .iter()
            .find_map(|e| match e.kind {
                EventKind::Accepted {
                    invocation,
                    function: f,
                } if f == function && e.at_us == at_us => Some(invocation),
                _ => None,
            })
            .unwrap_or_else(|| panic!("no Accepted in {events:#?}"));
        (invocation, events)
    }

    fn advance(&mut self, at_us: u64) -> Vec<Event> {
        self.step(at_us, Command::Advance)
    }

    fn reap(&mut self, at_us: u64, invocation: InvocationId) -> Vec<Event> {
        self.step(at_us, Command::Reap { invocation })
    }

    fn state(&self, invocation: InvocationId) -> InvocationState {
        self.p
            .get_state(invocation)
            .unwrap_or_else(|e| panic!("{e}"))
    }
}

fn accepted(at: u64, invocation: InvocationId, function: FunctionId) -> Event {
    ev(
        at,
        EventKind::Accepted {
            invocation,
            function,
        },
    )
}

fn cold(at: u64, i: InvocationId, c: ContainerId, host: HostId, image: ImageSource) -> Event {
    ev(
        at,
        EventKind::ColdStart {
            invocation: i,
            container: c,
            host,
            image,
        },
    )
}

fn warm(at: u64, i: InvocationId, c: ContainerId, host: HostId) -> Event {
    ev(
        at,
        EventKind::WarmStart {
            invocation: i,
            container: c,
            host,
        },
    )
}

fn exec(at: u64, i: InvocationId, c: ContainerId) -> Event {
    ev(
        at,
        EventKind::ExecutionStarted {
            invocation: i,
            container: c,
        },
    )
}

fn completed(at: u64, i: InvocationId, output: u64, cost: u64) -> Event {
    ev(
        at,
        EventKind::Completed {
            invocation: i,
            output,
            cost_picodollars: cost,
        },
    )
}

fn failed(at: u64, i: InvocationId, phase: Phase, cost: u64) -> Event {
    ev(
        at,
        EventKind::Failed {
            invocation: i,
            phase,
            cost_picodollars: cost,
        },
    )
}

fn timed_out(at: u64, i: InvocationId, cost: u64) -> Event {
    ev(
        at,
        EventKind::TimedOut {
            invocation: i,
            cost_picodollars: cost,
        },
    )
}

fn idle(at: u64, c: ContainerId, expires_at_us: u64) -> Event {
    ev(
        at,
        EventKind::ContainerIdle {
            container: c,
            expires_at_us,
        },
    )
}

fn removed(at: u64, c: ContainerId, host: HostId, cause: RemovalCause) -> Event {
    ev(
        at,
        EventKind::ContainerRemoved {
            container: c,
            host,
            cause,
        },
    )
}

fn download_started(at: u64, image: ImageId) -> Event {
    ev(at, EventKind::DownloadStarted { image })
}
fn download_finished(at: u64, image: ImageId) -> Event {
    ev(at, EventKind::DownloadFinished { image })
}
fn download_waiting(at: u64, image: ImageId) -> Event {
    ev(at, EventKind::DownloadWaiting { image })
}
fn copy_started(at: u64, image: ImageId, host: HostId) -> Event {
    ev(at, EventKind::CopyStarted { image, host })
}
fn copy_finished(at: u64, image: ImageId, host: HostId) -> Event {
    ev(at, EventKind::CopyFinished { image, host })
}
fn evicted(at: u64, image: ImageId, tier: Tier) -> Event {
    ev(at, EventKind::ImageEvicted { image, tier })
}
fn rejected(at: u64, i: InvocationId, reason: RejectReason) -> Event {
    ev(
        at,
        EventKind::Rejected {
            invocation: i,
            reason,
        },
    )
}
fn queued(at: u64, i: InvocationId, queue_len: u32) -> Event {
    ev(
        at,
        EventKind::Queued {
            invocation: i,
            queue_len,
        },
    )
}
fn reaped(at: u64, i: InvocationId) -> Event {
    ev(at, EventKind::Reaped { invocation: i })
}

/// The cost of a short invocation of a small function: the request fee plus
/// one picodollar of memory. With memory `m` ≤ 1,000 bytes and a billed
/// duration `d` of a few ms, `m × d × 16,666,700 / (2^30 × 10^6)` is a small
/// positive fraction, rounded up to 1.
const SMALL_COST: u64 = 200_001;

// ---------------------------------------------------------------------------
// Cold starts: where the image comes from
// ---------------------------------------------------------------------------

/// Nothing anywhere: the image is downloaded into main storage, copied to the
/// host, then the container pays the cold overhead and the code runs.
#[test]
fn cold_start_downloads_then_copies_then_runs() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    assert_eq!((image, f), (img(0), fun(0)));

    let (i, events) = w.invoke(1_000, f, success(200, 7));
    assert_eq!(i, inv(0));
    assert_eq!(
        events,
        vec![
            accepted(1_000, i, f),
            cold(1_000, i, ctr(0), H0, ImageSource::Registry),
            download_started(1_000, image),
        ]
    );
    assert_eq!(
        w.state(i),
        InvocationState::Preparing {
            host: H0,
            container: ctr(0)
        }
    );

    // 50 bytes download in 50 µs, copy in 50 µs; 100 µs of overhead; 200 µs
    // of code.
    assert_eq!(
        w.advance(2_000),
        vec![
            download_finished(1_050, image),
            copy_started(1_050, image, H0),
            copy_finished(1_100, image, H0),
            exec(1_200, i, ctr(0)),
            completed(1_400, i, 7, SMALL_COST),
            idle(1_400, ctr(0), 1_400 + KEEP),
        ]
    );
    assert_eq!(w.p.get_output(i), Ok(7));
    let m = w.p.metrics();
    assert_eq!(
        (
            m.cold_starts,
            m.warm_starts,
            m.bytes_downloaded,
            m.bytes_copied
        ),
        (1, 0, 50, 50)
    );
}

/// A second function on the same image finds it on the host's disk: no
/// transfer, only the cold overhead.
#[test]
fn cold_start_with_image_on_host_disk() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let g = w.function(image, 100, 10, 10_000);
    let (a, _) = w.invoke(0, f, success(200, 1));
    w.advance(1_000); // a: 400 completed, ctr#0 idle

    let (b, events) = w.invoke(1_000, g, success(300, 2));
    assert_eq!(
        events,
        vec![
            accepted(1_000, b, g),
            cold(1_000, b, ctr(1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(
        w.state(b),
        InvocationState::Starting {
            host: H0,
            container: ctr(1),
            cold: true
        }
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            exec(1_100, b, ctr(1)),
            completed(1_400, b, 2, SMALL_COST),
            idle(1_400, ctr(1), 1_400 + KEEP),
        ]
    );
    assert_eq!(a, inv(0));
    let m = w.p.metrics();
    assert_eq!((m.host_cache_hits, m.host_cache_misses), (1, 1));
    assert_eq!((m.bytes_downloaded, m.bytes_copied), (50, 50));
}

/// The image is in main storage but not on the chosen host: copied only.
#[test]
fn cold_start_with_image_in_main_storage_copies_only() {
    // Two hosts of one slot each: while the first invocation runs on host 0,
    // the second must go to host 1.
    let mut w = World::new(config(2, host_spec(1_000, 1, 1_000), 1_000));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (a, _) = w.invoke(0, f, success(1_000, 1));
    assert_eq!(
        w.advance(500),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
        ]
    );

    let (b, events) = w.invoke(500, f, success(100, 2));
    assert_eq!(
        events,
        vec![
            accepted(500, b, f),
            cold(500, b, ctr(1), H1, ImageSource::MainStorage),
            copy_started(500, image, H1),
        ]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            copy_finished(550, image, H1),
            exec(650, b, ctr(1)),
            completed(750, b, 2, SMALL_COST),
            idle(750, ctr(1), 750 + KEEP),
            completed(1_200, a, 1, SMALL_COST),
            idle(1_200, ctr(0), 1_200 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.main_cache_hits, m.main_cache_misses), (1, 1));
    assert_eq!((m.bytes_downloaded, m.bytes_copied), (50, 100));
}

/// An idle container of the function is reused: a warm start, 10 µs of
/// overhead; of two idle containers the newest created is taken.
#[test]
fn warm_start_reuses_the_newest_created_idle_container() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    // Two concurrent invocations: two containers on host 0. The second joins
    // the copy already on its way to host 0.
    let (a, _) = w.invoke(0, f, success(500, 1));
    let (b, events) = w.invoke(10, f, success(100, 2));
    assert_eq!(
        events,
        vec![
            accepted(10, b, f),
            cold(10, b, ctr(1), H0, ImageSource::HostCopyInFlight),
        ]
    );
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            completed(300, b, 2, SMALL_COST),
            idle(300, ctr(1), 300 + KEEP),
            completed(700, a, 1, SMALL_COST),
            idle(700, ctr(0), 700 + KEEP),
        ]
    );

    // ctr#1 was created after ctr#0 (though it went idle first, and was used
    // less recently): it is the one reused.
    let (c, events) = w.invoke(1_000, f, success(100, 3));
    assert_eq!(
        events,
        vec![accepted(1_000, c, f), warm(1_000, c, ctr(1), H0)]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            exec(1_010, c, ctr(1)),
            completed(1_110, c, 3, SMALL_COST),
            idle(1_110, ctr(1), 1_110 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.cold_starts, m.warm_starts), (2, 1));
    assert_eq!((m.host_cache_joins, m.bytes_copied), (1, 50));
}

// ---------------------------------------------------------------------------
// Sharing transfers
// ---------------------------------------------------------------------------

/// Three cold starts of one missing image: one download; host 0 gets one
/// copy that two containers wait for; host 1 joins the download and gets its
/// own copy.
#[test]
fn cold_starts_share_one_download_and_one_copy_per_host() {
    let mut w = World::new(config(2, host_spec(1_000, 2, 1_000), 1_000));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);

    let (a, events) = w.invoke(0, f, success(100, 1));
    assert_eq!(
        events,
        vec![
            accepted(0, a, f),
            cold(0, a, ctr(0), H0, ImageSource::Registry),
            download_started(0, image),
        ]
    );
    let (b, events) = w.invoke(10, f, success(150, 2));
    assert_eq!(
        events,
        vec![
            accepted(10, b, f),
            cold(10, b, ctr(1), H0, ImageSource::HostCopyInFlight),
        ]
    );
    // Host 0's two slots are taken: host 1, which joins the download.
    let (c, events) = w.invoke(20, f, success(200, 3));
    assert_eq!(
        events,
        vec![
            accepted(20, c, f),
            cold(20, c, ctr(2), H1, ImageSource::DownloadInFlight),
        ]
    );
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_started(50, image, H1),
            copy_finished(100, image, H0),
            copy_finished(100, image, H1),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            exec(200, c, ctr(2)),
            completed(300, a, 1, SMALL_COST),
            idle(300, ctr(0), 300 + KEEP),
            completed(350, b, 2, SMALL_COST),
            idle(350, ctr(1), 350 + KEEP),
            completed(400, c, 3, SMALL_COST),
            idle(400, ctr(2), 400 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.bytes_downloaded, m.bytes_copied), (50, 100));
    assert_eq!(
        (m.main_cache_misses, m.main_cache_joins, m.host_cache_joins),
        (1, 1, 1)
    );
}

// ---------------------------------------------------------------------------
// Caches: LRU eviction and pinning
// ---------------------------------------------------------------------------

/// Main storage holds two of three 40-byte images. The one downloaded first
/// was copied out again more recently, so the other is least recently used
/// and is the one evicted (LRU, not FIFO).
#[test]
fn main_storage_evicts_the_least_recently_used_image() {
    let mut w = World::new(config(2, host_spec(1_000, 1, 1_000), 100));
    let (a_img, b_img, c_img) = (w.image(40), w.image(40), w.image(40));
    let fa = w.function(a_img, 100, 0, 100_000);
    let fb = w.function(b_img, 100, 0, 100_000);
    let fc = w.function(c_img, 100, 0, 100_000);

    // A long invocation keeps host 0's only slot.
    let (i0, _) = w.invoke(0, fa, success(10_000, 0));
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(40, a_img),
            copy_started(40, a_img, H0),
            copy_finished(80, a_img, H0),
            exec(180, i0, ctr(0)),
        ]
    );
    // b: downloaded at 1,000, copied to host 1 (main LRU stamp 1,040).
    let (i1, events) = w.invoke(1_000, fb, success(10, 1));
    assert_eq!(
        events,
        vec![
            accepted(1_000, i1, fb),
            cold(1_000, i1, ctr(1), H1, ImageSource::Registry),
            download_started(1_000, b_img),
        ]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            download_finished(1_040, b_img),
            copy_started(1_040, b_img, H1),
            copy_finished(1_080, b_img, H1),
            exec(1_180, i1, ctr(1)),
            completed(1_190, i1, 1, SMALL_COST),
            idle(1_190, ctr(1), 1_190 + KEEP),
        ]
    );
    // a again: no idle container of fa; host 1 takes it by evicting fb's
    // idle container, and a is copied out of main storage (LRU stamp 2,000).
    let (i2, events) = w.invoke(2_000, fa, success(10, 2));
    assert_eq!(
        events,
        vec![
            accepted(2_000, i2, fa),
            removed(2_000, ctr(1), H1, RemovalCause::Evicted),
            cold(2_000, i2, ctr_g(1, 1), H1, ImageSource::MainStorage),
            copy_started(2_000, a_img, H1),
        ]
    );
    assert_eq!(
        w.advance(3_000),
        vec![
            copy_finished(2_040, a_img, H1),
            exec(2_140, i2, ctr_g(1, 1)),
            completed(2_150, i2, 2, SMALL_COST),
            idle(2_150, ctr_g(1, 1), 2_150 + KEEP),
        ]
    );
    // c needs 40 bytes; main holds a (used 2,000) and b (used 1,040): b goes.
    let (i3, events) = w.invoke(3_000, fc, success(10, 3));
    assert_eq!(
        events,
        vec![
            accepted(3_000, i3, fc),
            removed(3_000, ctr_g(1, 1), H1, RemovalCause::Evicted),
            cold(3_000, i3, ctr_g(1, 2), H1, ImageSource::Registry),
            evicted(3_000, b_img, Tier::MainStorage),
            download_started(3_000, c_img),
        ]
    );
    assert_eq!(
        w.advance(20_000),
        vec![
            download_finished(3_040, c_img),
            copy_started(3_040, c_img, H1),
            copy_finished(3_080, c_img, H1),
            exec(3_180, i3, ctr_g(1, 2)),
            completed(3_190, i3, 3, SMALL_COST),
            idle(3_190, ctr_g(1, 2), 3_190 + KEEP),
            completed(10_180, i0, 0, SMALL_COST),
            idle(10_180, ctr(0), 10_180 + KEEP),
        ]
    );
    assert_eq!(w.p.metrics().images_evicted_main, 1);
}

/// A host disk of 100 bytes holds two of three 40-byte images. Image a
/// arrived first but was used by a cold start since, so b is least recently
/// used and is evicted.
#[test]
fn host_disk_evicts_the_least_recently_used_image() {
    let mut w = World::keep_alive(config(1, host_spec(1_000, 4, 100), 1_000), 1_000);
    let (a_img, b_img, c_img) = (w.image(40), w.image(40), w.image(40));
    let fa = w.function(a_img, 100, 0, 100_000);
    let fb = w.function(b_img, 100, 0, 100_000);
    let fc = w.function(c_img, 100, 0, 100_000);

    let (i0, _) = w.invoke(0, fa, success(10, 0));
    let (i1, events) = w.invoke(200, fb, success(10, 1));
    assert_eq!(
        events,
        vec![
            download_finished(40, a_img),
            copy_started(40, a_img, H0),
            copy_finished(80, a_img, H0),
            exec(180, i0, ctr(0)),
            completed(190, i0, 0, SMALL_COST),
            idle(190, ctr(0), 1_190),
            accepted(200, i1, fb),
            cold(200, i1, ctr(1), H0, ImageSource::Registry),
            download_started(200, b_img),
        ]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            download_finished(240, b_img),
            copy_started(240, b_img, H0),
            copy_finished(280, b_img, H0),
            exec(380, i1, ctr(1)),
            completed(390, i1, 1, SMALL_COST),
            idle(390, ctr(1), 1_390),
            removed(1_190, ctr(0), H0, RemovalCause::Expired),
            removed(1_390, ctr(1), H0, RemovalCause::Expired),
        ]
    );
    // A cold start from the host's disk stamps a as used at 2,000.
    let (i2, events) = w.invoke(2_000, fa, success(10, 2));
    assert_eq!(
        events,
        vec![
            accepted(2_000, i2, fa),
            cold(2_000, i2, ctr_g(1, 1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(
        w.advance(4_000),
        vec![
            exec(2_100, i2, ctr_g(1, 1)),
            completed(2_110, i2, 2, SMALL_COST),
            idle(2_110, ctr_g(1, 1), 3_110),
            removed(3_110, ctr_g(1, 1), H0, RemovalCause::Expired),
        ]
    );
    // c needs 40 bytes of the 20 free: b (last used at its arrival, 280)
    // goes before a (2,000).
    let (i3, events) = w.invoke(4_000, fc, success(10, 3));
    assert_eq!(
        events,
        vec![
            accepted(4_000, i3, fc),
            evicted(4_000, b_img, Tier::Host(H0)),
            cold(4_000, i3, ctr_g(1, 2), H0, ImageSource::Registry),
            download_started(4_000, c_img),
        ]
    );
    assert_eq!(w.p.metrics().images_evicted_host, 1);
}

/// An image being copied out of main storage is pinned there: a download
/// that needs its room waits (`DownloadWaiting`) and starts, evicting it,
/// the moment the copy finishes.
#[test]
fn image_pinned_while_copied_makes_a_download_wait() {
    let mut w = World::new(config(1, host_spec(1_000, 4, 1_000), 100));
    let (a_img, b_img) = (w.image(60), w.image(60));
    let fa = w.function(a_img, 100, 0, 100_000);
    let fb = w.function(b_img, 100, 0, 100_000);

    let (i0, _) = w.invoke(0, fa, success(10, 0));
    // At 100 a is being copied (60..120): 40 bytes free, none evictable.
    let (i1, events) = w.invoke(100, fb, success(10, 1));
    assert_eq!(
        events,
        vec![
            download_finished(60, a_img),
            copy_started(60, a_img, H0),
            accepted(100, i1, fb),
            cold(100, i1, ctr(1), H0, ImageSource::Registry),
            download_waiting(100, b_img),
        ]
    );
    assert_eq!(
        w.advance(1_000),
        vec![
            copy_finished(120, a_img, H0),
            evicted(120, a_img, Tier::MainStorage),
            download_started(120, b_img),
            download_finished(180, b_img),
            copy_started(180, b_img, H0),
            exec(220, i0, ctr(0)),
            completed(230, i0, 0, SMALL_COST),
            idle(230, ctr(0), 230 + KEEP),
            copy_finished(240, b_img, H0),
            exec(340, i1, ctr(1)),
            completed(350, i1, 1, SMALL_COST),
            idle(350, ctr(1), 350 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.downloads_waited, m.images_evicted_main), (1, 1));
}

/// A cold start's scratch reservation takes disk from evictable images
/// first, then from idle containers (whose images then become evictable),
/// but never from a running container or the image it runs from.
#[test]
fn scratch_evicts_images_and_idle_containers_never_a_running_one() {
    let mut w = World::new(config(1, host_spec(1_000, 4, 100), 1_000));
    let (r_img, i_img, e_img) = (w.image(20), w.image(20), w.image(20));
    let fr = w.function(r_img, 100, 20, 1_000_000);
    let fi = w.function(i_img, 100, 10, 1_000_000);
    let fe = w.function(e_img, 100, 0, 1_000_000);
    let (runner, _) = w.invoke(0, fr, success(100_000, 0));
    let (idler, _) = w.invoke(0, fi, success(10, 1));
    let (failer, _) = w.invoke(0, fe, failure(0, 0, 10, Phase::Run));
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(20, r_img),
            copy_started(20, r_img, H0),
            download_finished(20, i_img),
            copy_started(20, i_img, H0),
            download_finished(20, e_img),
            copy_started(20, e_img, H0),
            copy_finished(40, r_img, H0),
            copy_finished(40, i_img, H0),
            copy_finished(40, e_img, H0),
            exec(140, runner, ctr(0)),
            exec(140, idler, ctr(1)),
            exec(140, failer, ctr(2)),
            completed(150, idler, 1, SMALL_COST),
            idle(150, ctr(1), 150 + KEEP),
            failed(150, failer, Phase::Run, SMALL_COST),
            removed(150, ctr(2), H0, RemovalCause::Discarded),
        ]
    );
    // Disk: r 20 + 20 scratch (running), i 20 + 10 scratch (idle), e 20
    // (evictable): 90 of 100. A function on r with 60 of scratch needs 50
    // more: e goes (30 free), then the idle container (40), then i (60).
    let fs = w.function(r_img, 100, 60, 1_000_000);
    let (big, events) = w.invoke(1_000, fs, success(10, 2));
    assert_eq!(
        events,
        vec![
            accepted(1_000, big, fs),
            evicted(1_000, e_img, Tier::Host(H0)),
            removed(1_000, ctr(1), H0, RemovalCause::Evicted),
            evicted(1_000, i_img, Tier::Host(H0)),
            cold(1_000, big, ctr_g(1, 1), H0, ImageSource::HostDisk),
        ]
    );
    // The disk is now full of the running container, its image and the new
    // reservation: nothing more can be reclaimed, so a function needing 1
    // byte of scratch is turned away.
    let ft = w.function(r_img, 100, 1, 1_000_000);
    let (turned_away, events) = w.invoke(1_000, ft, success(10, 3));
    assert_eq!(
        events,
        vec![
            accepted(1_000, turned_away, ft),
            rejected(1_000, turned_away, RejectReason::ResourceUnavailable),
        ]
    );
    assert_eq!(
        w.advance(200_000),
        vec![
            exec(1_100, big, ctr_g(1, 1)),
            completed(1_110, big, 2, SMALL_COST),
            idle(1_110, ctr_g(1, 1), 1_110 + KEEP),
            completed(100_140, runner, 0, SMALL_COST),
            idle(100_140, ctr(0), 100_140 + KEEP),
        ]
    );
}

/// Reject mode: with no idle container and no host with a slot or the RAM,
/// an invocation ends at once, unstarted and unbilled.
#[test]
fn reject_mode_rejects_for_want_of_a_slot_or_ram() {
    let mut w = World::new(config(1, host_spec(200, 2, 1_000), 1_000));
    let image = w.image(50);
    let big = w.function(image, 150, 0, 1_000_000);
    let small = w.function(image, 10, 0, 1_000_000);
    let (a, _) = w.invoke(0, big, success(10_000, 1));
    // 50 bytes of RAM are left: not enough for another `big`.
    let (b, events) = w.invoke(1_000, big, success(10, 2));
    assert_eq!(
        events,
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            accepted(1_000, b, big),
            rejected(1_000, b, RejectReason::ResourceUnavailable),
        ]
    );
    // `small` fits in RAM and takes the second slot...
    let (c, events) = w.invoke(1_000, small, success(10_000, 3));
    assert_eq!(
        events,
        vec![
            accepted(1_000, c, small),
            cold(1_000, c, ctr(1), H0, ImageSource::HostDisk),
        ]
    );
    // ...after which no slot is left even for 10 bytes of RAM.
    let (d, events) = w.invoke(1_000, small, success(10, 4));
    assert_eq!(
        events,
        vec![
            accepted(1_000, d, small),
            rejected(1_000, d, RejectReason::ResourceUnavailable),
        ]
    );
    let ending = Ending {
        at_us: 1_000,
        outcome: EndOutcome::Rejected {
            reason: RejectReason::ResourceUnavailable,
        },
    };
    assert_eq!(w.state(b), InvocationState::Ended(ending));
    assert_eq!(
        w.p.get_output(d),
        Err(ClientError::NotCompleted {
            invocation: d,
            state: InvocationState::Ended(ending),
        })
    );
    let m = w.p.metrics();
    assert_eq!(
        (m.rejected_resource_unavailable, m.cost_picodollars),
        (2, 0)
    );
}

/// Queue mode: strict FIFO, a bounded queue, and the time limit counted from
/// `ExecutionStarted`, not from acceptance.
#[test]
fn queue_mode_is_fifo_bounded_and_times_from_the_start() {
    let mut cfg = config(1, host_spec(1_000, 1, 1_000), 1_000);
    cfg.pressure = Pressure::Queue { capacity: 2 };
    let mut w = World::new(cfg);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 500);
    let g = w.function(image, 100, 0, 500);

    let (a, events) = w.invoke(0, f, success(300, 1));
    assert_eq!(
        events,
        vec![
            accepted(0, a, f),
            cold(0, a, ctr(0), H0, ImageSource::Registry),
            download_started(0, image),
        ]
    );
    // The only slot is taken: B and C queue, D finds the queue full.
    let (b, events) = w.invoke(10, f, success(400, 2));
    assert_eq!(events, vec![accepted(10, b, f), queued(10, b, 1)]);
    let (c, events) = w.invoke(20, g, success(500, 3));
    assert_eq!(events, vec![accepted(20, c, g), queued(20, c, 2)]);
    let (d, events) = w.invoke(30, f, success(10, 4));
    assert_eq!(
        events,
        vec![accepted(30, d, f), rejected(30, d, RejectReason::QueueFull)]
    );
    assert_eq!(w.p.queue().collect::<Vec<_>>(), vec![b, c]);
    assert_eq!(w.state(b), InvocationState::Queued { since_us: 10 });

    assert_eq!(
        w.advance(3_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            completed(500, a, 1, SMALL_COST),
            idle(500, ctr(0), 500 + KEEP),
            // The head, B, takes A's container warm...
            warm(500, b, ctr(0), H0),
            exec(510, b, ctr(0)),
            // ...and runs 400 µs of its 500 µs limit from 510, though it was
            // accepted at 10: it completes.
            completed(910, b, 2, SMALL_COST),
            idle(910, ctr(0), 910 + KEEP),
            // C (another function) needs the slot: the idle container goes.
            removed(910, ctr(0), H0, RemovalCause::Evicted),
            cold(910, c, ctr_g(0, 1), H0, ImageSource::HostDisk),
            exec(1_010, c, ctr_g(0, 1)),
            // Exactly its limit: completes, not timed out.
            completed(1_510, c, 3, SMALL_COST),
            idle(1_510, ctr_g(0, 1), 1_510 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (
            m.queued_total,
            m.rejected_queue_full,
            m.completed,
            m.timed_out
        ),
        (2, 1, 3, 0)
    );
    // Time integrals to 3,000: B queued 10..500 and C 20..910; D never
    // waited. ctr#0 lived 0..910, busy all along but for two idle instants;
    // ctr#0.1 was busy 910..1,510 and idle 1,510..3,000.
    assert_eq!(m.queued_us, 490 + 890);
    assert_eq!(m.container_us, 910 + 2_090);
    assert_eq!(m.busy_container_us, 910 + 600);
    assert_eq!(m.idle_container_us, 1_490);
}

// ---------------------------------------------------------------------------
// Endings: time limit, failures, keep-alive, billing
// ---------------------------------------------------------------------------

/// The code runs at most its function's time limit: beyond it the
/// invocation times out at exactly `start + limit`, is billed for the limit,
/// gets no egress, and its container is discarded. A duration equal to the
/// limit completes.
#[test]
fn timeout_at_the_limit_and_duration_equal_to_the_limit_completes() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 1_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    w.advance(1_000); // a completes at 210; ctr#0 idle.
    assert_eq!(w.p.get_output(a), Ok(1));

    // Warm, 1,500 µs of code against a 1,000 µs limit.
    let (b, events) = w.invoke_io(1_000, f, success(1_500, 2), 0, 1 << 20);
    assert_eq!(
        events,
        vec![accepted(1_000, b, f), warm(1_000, b, ctr(0), H0)]
    );
    assert_eq!(
        w.advance(3_000),
        vec![
            exec(1_010, b, ctr(0)),
            // 1,000 µs billed as 1 ms, no egress: the request fee plus 1.
            timed_out(2_010, b, SMALL_COST),
            removed(2_010, ctr(0), H0, RemovalCause::Discarded),
        ]
    );
    // A failure due after the limit times out too (no phase reported).
    let (c, events) = w.invoke(3_000, f, failure(0, 0, 1_001, Phase::Run));
    assert_eq!(
        events,
        vec![
            accepted(3_000, c, f),
            cold(3_000, c, ctr_g(0, 1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(
        w.advance(5_000),
        vec![
            exec(3_100, c, ctr_g(0, 1)),
            timed_out(4_100, c, SMALL_COST),
            removed(4_100, ctr_g(0, 1), H0, RemovalCause::Discarded),
        ]
    );
    // Exactly the limit: completes. Cold: 100 + 1,000 µs → 2 ms; memory
    // 100 B × 2 ms rounds up to 1 pd; egress 1 MiB × $0.09/GiB =
    // 90,000,000,000 / 1,024 = 87,890,625 pd.
    let (d, events) = w.invoke_io(5_000, f, success(1_000, 4), 0, 1 << 20);
    assert_eq!(
        events,
        vec![
            accepted(5_000, d, f),
            cold(5_000, d, ctr_g(0, 2), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(
        w.advance(7_000),
        vec![
            exec(5_100, d, ctr_g(0, 2)),
            completed(6_100, d, 4, 200_001 + 87_890_625),
            idle(6_100, ctr_g(0, 2), 6_100 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.timed_out, m.completed), (2, 2));
}

/// Failure at the end of the clone, build or run phase: later phases do not
/// run, the phase is reported, the time run is billed (no egress), and the
/// container is discarded, never reused.
#[test]
fn failure_at_clone_build_and_run() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let primer = w.function(image, 100, 0, 10_000);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke(0, primer, success(10, 0));
    w.advance(1_000); // the image is on host 0; ctr#0 (primer's) is idle.

    // Clone 100, build 200, run 300 µs.
    let (c, events) = w.invoke(1_000, f, failure(100, 200, 300, Phase::Clone));
    assert_eq!(
        events,
        vec![
            accepted(1_000, c, f),
            cold(1_000, c, ctr(1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            exec(1_100, c, ctr(1)),
            failed(1_200, c, Phase::Clone, SMALL_COST),
            removed(1_200, ctr(1), H0, RemovalCause::Discarded),
        ]
    );

    let (b, events) = w.invoke(2_000, f, failure(100, 200, 300, Phase::Build));
    assert_eq!(
        events,
        vec![
            accepted(2_000, b, f),
            cold(2_000, b, ctr_g(1, 1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(
        w.advance(3_000),
        vec![
            exec(2_100, b, ctr_g(1, 1)),
            failed(2_400, b, Phase::Build, SMALL_COST),
            removed(2_400, ctr_g(1, 1), H0, RemovalCause::Discarded),
        ]
    );

    let (r, events) = w.invoke_io(3_000, f, failure(100, 200, 300, Phase::Run), 0, 1 << 20);
    assert_eq!(
        events,
        vec![
            accepted(3_000, r, f),
            cold(3_000, r, ctr_g(1, 2), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(w.advance(3_250), vec![exec(3_100, r, ctr_g(1, 2))]);
    assert_eq!(
        w.state(r),
        InvocationState::Running {
            host: H0,
            container: ctr_g(1, 2),
            cold: true,
            started_us: 3_100,
            phase: Phase::Build,
        }
    );
    assert_eq!(
        w.advance(4_000),
        vec![
            // 100 + 600 µs → 1 ms; the 1 MiB of egress is not billed.
            failed(3_700, r, Phase::Run, SMALL_COST),
            removed(3_700, ctr_g(1, 2), H0, RemovalCause::Discarded),
        ]
    );
    assert_eq!(
        w.p.get_output(r),
        Err(ClientError::NotCompleted {
            invocation: r,
            state: InvocationState::Ended(Ending {
                at_us: 3_700,
                outcome: EndOutcome::Failed {
                    phase: Phase::Run,
                    cost_picodollars: SMALL_COST,
                },
            }),
        })
    );
    let m = w.p.metrics();
    assert_eq!((m.failed_by_phase, m.containers_discarded), ([1, 1, 1], 3));
}

/// An idle container expires at exactly `end + keep_alive`: an input at that
/// instant finds it gone (timers due at an input's time fire first); one an
/// instant earlier reuses it, and the reuse restarts the keep-alive.
#[test]
fn keep_alive_expires_at_the_exact_time() {
    let mut w = World::keep_alive(default_config(), 1_000);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    assert_eq!(
        w.advance(1_209),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            completed(210, a, 1, SMALL_COST),
            idle(210, ctr(0), 1_210),
        ]
    );
    let (b, events) = w.invoke(1_209, f, success(10, 2));
    assert_eq!(
        events,
        vec![accepted(1_209, b, f), warm(1_209, b, ctr(0), H0)]
    );
    assert_eq!(
        w.advance(2_228),
        vec![
            exec(1_219, b, ctr(0)),
            completed(1_229, b, 2, SMALL_COST),
            idle(1_229, ctr(0), 2_229),
        ]
    );
    let (c, events) = w.invoke(2_229, f, success(10, 3));
    assert_eq!(
        events,
        vec![
            removed(2_229, ctr(0), H0, RemovalCause::Expired),
            accepted(2_229, c, f),
            cold(2_229, c, ctr_g(0, 1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(w.p.metrics().containers_expired, 1);
}

/// A function's own start costs (spec R41a): paid on its cold and warm
/// starts and billed on its cold one, while a function beside it keeps the
/// configuration's.
#[test]
fn a_function_pays_and_is_billed_its_own_start_costs() {
    use coldstart_core::limits::DURATION_MAX_US;
    let mut w = World::new(config(1, host_spec(4 * GIB, 4, 2 * GIB), 1_000));
    let image = w.image(50);
    let own = FunctionDef::new(image, 512 * MIB, 1_000_000)
        .with_cold_start_us(1_500)
        .with_warm_start_us(30);
    let events = w.step(0, Command::RegisterFunction(own));
    assert_eq!(
        events,
        vec![ev(
            0,
            EventKind::FunctionRegistered {
                function: fun(0),
                image
            }
        )]
    );
    let g = fun(0);
    let f = w.function(image, 512 * MIB, 0, 1_000_000);
    let (a, _) = w.invoke(0, g, success(500, 1));
    let (b, _) = w.invoke(0, f, success(500, 2));
    // The image is on the host at 100; f pays the configuration's 100 µs,
    // g its own 1,500. Billed: f 100 + 500 µs → 1 ms: 200,000 + 8,334;
    // g 1,500 + 500 µs → 2 ms: 200,000 + 16,667.
    assert_eq!(
        w.advance(10_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, b, ctr(1)),
            completed(700, b, 2, 208_334),
            idle(700, ctr(1), 700 + KEEP),
            exec(1_600, a, ctr(0)),
            completed(2_100, a, 1, 216_667),
            idle(2_100, ctr(0), 2_100 + KEEP),
        ]
    );
    // Warm: g waits its own 30 µs, f the configuration's 10; neither is
    // billed for it (1 ms of code each).
    let (c, events) = w.invoke(10_000, g, success(1_000, 3));
    assert_eq!(
        events,
        vec![accepted(10_000, c, g), warm(10_000, c, ctr(0), H0)]
    );
    let (d, _) = w.invoke(10_000, f, success(1_000, 4));
    assert_eq!(
        w.advance(20_000),
        vec![
            exec(10_010, d, ctr(1)),
            exec(10_030, c, ctr(0)),
            completed(11_010, d, 4, 208_334),
            idle(11_010, ctr(1), 11_010 + KEEP),
            completed(11_030, c, 3, 208_334),
            idle(11_030, ctr(0), 11_030 + KEEP),
        ]
    );
    // Start costs are durations: at most DURATION_MAX_US, and 0 is allowed.
    for (def, field) in [
        (
            FunctionDef::new(image, 100, 10).with_cold_start_us(DURATION_MAX_US + 1),
            "cold_start_us",
        ),
        (
            FunctionDef::new(image, 100, 10).with_warm_start_us(DURATION_MAX_US + 1),
            "warm_start_us",
        ),
    ] {
        assert_eq!(
            w.refuse(30_000, Command::RegisterFunction(def)),
            Refusal::TooLarge {
                field: field.into(),
                value: DURATION_MAX_US + 1,
                max: DURATION_MAX_US
            }
        );
    }
    let edge = FunctionDef::new(image, 100, 10)
        .with_cold_start_us(DURATION_MAX_US)
        .with_warm_start_us(0);
    assert_eq!(w.step(30_000, Command::RegisterFunction(edge)).len(), 1);
}

/// Billing to the picodollar with the default Lambda prices.
#[test]
fn billing_to_the_exact_picodollar() {
    let mut w = World::new(config(1, host_spec(4 * GIB, 4, 2 * GIB), 1_000));
    let image = w.image(50);
    // 512 MiB of RAM, 768 MiB of scratch (256 MiB above the free 512).
    let f = w.function(image, 512 * MIB, 768 * MIB, 1_000_000);

    // Cold: 100 µs of overhead + 200 + 34 + 1,000 µs of code = 1,334 µs,
    // billed as 2 ms.
    //   request            200,000
    //   memory   ceil(1/2 GiB × 0.002 s × 16,666,700) = ceil(16,666.7) = 16,667
    //   scratch  ceil(1/4 GiB × 0.002 s × 30,900)     = ceil(15.45)    = 16
    //   ingress  1 MiB × 0                                             = 0
    //   egress   1/1024 GiB × 90,000,000,000                           = 87,890,625
    //   total                                                            88,107,308
    let code = Code {
        clone_us: 200,
        build_us: 34,
        run_us: 1_000,
        outcome: Outcome::Success { output: 9 },
    };
    let (a, _) = w.invoke_io(0, f, code, 1 << 20, 1 << 20);
    assert_eq!(
        w.advance(10_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            completed(1_434, a, 9, 88_107_308),
            idle(1_434, ctr(0), 1_434 + KEEP),
        ]
    );
    // Warm: the 10 µs overhead is not billed; exactly 1 ms of code.
    //   200,000 + ceil(8,333.35) = 8,334 + ceil(7.725) = 8  →  208,342
    let (b, events) = w.invoke(10_000, f, success(1_000, 10));
    assert_eq!(
        events,
        vec![accepted(10_000, b, f), warm(10_000, b, ctr(0), H0)]
    );
    assert_eq!(
        w.advance(20_000),
        vec![
            exec(10_010, b, ctr(0)),
            completed(11_010, b, 10, 208_342),
            idle(11_010, ctr(0), 11_010 + KEEP),
        ]
    );
    // Warm, 1,001 µs of code rounds up to 2 ms: 200,000 + 16,667 + 16.
    let (c, events) = w.invoke(20_000, f, success(1_001, 11));
    assert_eq!(
        events,
        vec![accepted(20_000, c, f), warm(20_000, c, ctr(0), H0)]
    );
    assert_eq!(
        w.advance(30_000),
        vec![
            exec(20_010, c, ctr(0)),
            completed(21_011, c, 11, 216_683),
            idle(21_011, ctr(0), 21_011 + KEEP),
        ]
    );
    assert_eq!(
        w.p.metrics().cost_picodollars,
        88_107_308 + 208_342 + 216_683
    );
}

// ---------------------------------------------------------------------------
// The client: waits and outputs
// ---------------------------------------------------------------------------

impl<P: Policies + std::fmt::Debug + PartialEq> World<P> {
    /// Runs a wait, checks the invariants after it, and returns its result
    /// with the events it produced.
    fn wait<T>(
        &mut self,
        wait: impl FnOnce(&mut Provider<P>, &mut Vec<Event>) -> T,
    ) -> (T, Vec<Event>) {
        let mut events = Vec::new();
        let result = wait(&mut self.p, &mut events);
        self.p.check_invariants().unwrap_or_else(|v| panic!("{v}"));
        (result, events)
    }
}

fn finished(invocation: InvocationId, at_us: u64, outcome: EndOutcome) -> Finished {
    Finished {
        invocation,
        ending: Ending { at_us, outcome },
    }
}

fn done(output: u64, cost_picodollars: u64) -> EndOutcome {
    EndOutcome::Completed {
        output,
        cost_picodollars,
    }
}

/// `wait_for_any` returns the first to end and when; `wait_for_all` all of
/// them in the order asked; both move time only as far as they need.
#[test]
fn wait_for_any_then_wait_for_all() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(500, 1));
    let (b, _) = w.invoke(0, f, success(200, 2));
    assert_eq!(
        w.p.get_output(a),
        Err(ClientError::NotCompleted {
            invocation: a,
            state: InvocationState::Preparing {
                host: H0,
                container: ctr(0)
            },
        })
    );

    let (result, events) = w.wait(|p, ev| p.wait_for_any(&[a, b], None, ev));
    assert_eq!(result, Ok(finished(b, 400, done(2, SMALL_COST))));
    assert_eq!(
        events,
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            completed(400, b, 2, SMALL_COST),
            idle(400, ctr(1), 400 + KEEP),
        ]
    );
    assert_eq!(w.now(), 400);
    assert_eq!(w.p.get_output(b), Ok(2));
    assert_eq!(
        w.p.get_output(a),
        Err(ClientError::NotCompleted {
            invocation: a,
            state: InvocationState::Running {
                host: H0,
                container: ctr(0),
                cold: true,
                started_us: 200,
                phase: Phase::Run,
            },
        })
    );

    let (result, events) = w.wait(|p, ev| p.wait_for_all(&[a, b], None, ev));
    assert_eq!(
        result,
        Ok(vec![
            finished(a, 700, done(1, SMALL_COST)),
            finished(b, 400, done(2, SMALL_COST)),
        ])
    );
    assert_eq!(
        events,
        vec![
            completed(700, a, 1, SMALL_COST),
            idle(700, ctr(0), 700 + KEEP)
        ]
    );
    assert_eq!(w.now(), 700);

    // Already ended: the first of them in the order given, at once.
    let (result, events) = w.wait(|p, ev| p.wait_for_any(&[a, b], None, ev));
    assert_eq!(result, Ok(finished(a, 700, done(1, SMALL_COST))));
    assert_eq!((events, w.now()), (vec![], 700));
    let (result, _) = w.wait(|p, ev| p.wait_for_any(&[], None, ev));
    assert_eq!(result, Err(WaitError::NothingToWaitFor));
    let ghost = inv(99);
    let (result, _) = w.wait(|p, ev| p.wait_for_all(&[a, ghost], None, ev));
    assert_eq!(
        result,
        Err(WaitError::UnknownInvocation { invocation: ghost })
    );
    assert_eq!(
        w.p.get_output(ghost),
        Err(ClientError::UnknownInvocation { invocation: ghost })
    );
}

/// A wait with a deadline stops at the deadline, having moved time there;
/// a deadline in the past is an error; without one the wait goes on.
#[test]
fn wait_for_with_a_deadline() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(1_000, 1));

    let (result, events) = w.wait(|p, ev| p.wait_for(a, Some(500), ev));
    assert_eq!(result, Err(WaitError::DeadlineReached { at_us: 500 }));
    assert_eq!(
        events,
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
        ]
    );
    assert_eq!(w.now(), 500);

    let (result, events) = w.wait(|p, ev| p.wait_for(a, Some(499), ev));
    assert_eq!(
        result,
        Err(WaitError::DeadlineInPast {
            deadline_us: 499,
            now_us: 500
        })
    );
    assert_eq!((events, w.now()), (vec![], 500));

    // A deadline exactly at the end is reached by the end.
    let (result, events) = w.wait(|p, ev| p.wait_for(a, Some(1_200), ev));
    assert_eq!(result, Ok(finished(a, 1_200, done(1, SMALL_COST))));
    assert_eq!(
        events,
        vec![
            completed(1_200, a, 1, SMALL_COST),
            idle(1_200, ctr(0), 1_200 + KEEP)
        ]
    );
    assert_eq!(w.now(), 1_200);
}

// ---------------------------------------------------------------------------
// Custom policies
// ---------------------------------------------------------------------------

/// A host-selection policy that always answers the same: a host (valid or
/// not), or `None` to decline.
#[derive(Clone, Debug, PartialEq)]
struct Fixed(Option<HostId>);

impl Policies for Fixed {
    fn select_host(&mut self, _view: &dyn HostView, _request: &PlacementRequest) -> Option<HostId> {
        self.0
    }
}

/// A wait that can never finish: the only invocation is queued behind a
/// policy that declines every host, and no timer is left. The wait returns
/// `Stalled` instead of hanging, and does not move time, even with a
/// deadline (spec R127).
#[test]
fn a_wait_that_can_never_finish_is_stalled() {
    let mut cfg = default_config();
    cfg.pressure = Pressure::Queue { capacity: 4 };
    let mut w = World::with(cfg, Fixed(None));
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, events) = w.invoke(1_000, f, success(10, 1));
    assert_eq!(events, vec![accepted(1_000, a, f), queued(1_000, a, 1)]);
    assert_eq!(w.p.next_timer_us(), None);

    let (result, events) = w.wait(|p, ev| p.wait_for(a, None, ev));
    assert_eq!(result, Err(WaitError::Stalled { at_us: 1_000 }));
    assert_eq!(events, vec![]);
    let (result, events) = w.wait(|p, ev| p.wait_for_all(&[a], Some(5_000), ev));
    assert_eq!(result, Err(WaitError::Stalled { at_us: 1_000 }));
    assert_eq!((events, w.now()), (vec![], 1_000));
    assert_eq!(w.state(a), InvocationState::Queued { since_us: 1_000 });
}

/// A policy naming a host that does not exist, or a host without room, is
/// refused with `DecisionRefused`; the invocation is treated as if the
/// policy had declined (rejected, or queued), and nothing breaks.
#[test]
fn invalid_host_decisions_are_refused() {
    // A host that does not exist, in reject mode.
    let mut w = World::with(default_config(), Fixed(Some(HostId(7))));
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, events) = w.invoke(0, f, success(10, 1));
    assert_eq!(
        events,
        vec![
            accepted(0, a, f),
            ev(
                0,
                EventKind::DecisionRefused {
                    invocation: a,
                    host: HostId(7),
                    reason: DecisionError::UnknownHost,
                }
            ),
            rejected(0, a, RejectReason::ResourceUnavailable),
        ]
    );
    assert_eq!(w.p.metrics().decisions_refused, 1);

    // Host 0 while its only slot is busy (host 1 is free), in queue mode:
    // the invocation queues and starts on host 0 once there is room.
    let mut cfg = config(2, host_spec(1_000, 1, 1_000), 1_000);
    cfg.pressure = Pressure::Queue { capacity: 4 };
    let mut w = World::with(cfg, Fixed(Some(H0)));
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let g = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(100, 1));
    let (b, events) = w.invoke(10, g, success(10, 2));
    assert_eq!(
        events,
        vec![
            accepted(10, b, g),
            ev(
                10,
                EventKind::DecisionRefused {
                    invocation: b,
                    host: H0,
                    reason: DecisionError::NoRoom,
                }
            ),
            queued(10, b, 1),
        ]
    );
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            completed(300, a, 1, SMALL_COST),
            idle(300, ctr(0), 300 + KEEP),
            removed(300, ctr(0), H0, RemovalCause::Evicted),
            cold(300, b, ctr_g(0, 1), H0, ImageSource::HostDisk),
            exec(400, b, ctr_g(0, 1)),
            completed(410, b, 2, SMALL_COST),
            idle(410, ctr_g(0, 1), 410 + KEEP),
        ]
    );
    assert_eq!(w.p.metrics().decisions_refused, 1);
}

// ---------------------------------------------------------------------------
// Refused inputs, reaping and retention
// ---------------------------------------------------------------------------

fn register_function(image: ImageId, memory: u64, scratch: u64, limit: u64) -> Command {
    Command::RegisterFunction(FunctionDef::new(image, memory, limit).with_scratch_bytes(scratch))
}

fn invoke_cmd(function: FunctionId, code: Code) -> Command {
    Command::Invoke {
        function,
        code,
        ingress_bytes: 0,
        egress_bytes: 0,
    }
}

/// Every malformed input is refused with its reason and leaves the provider
/// exactly as it was (timers due before the input's time do not fire).
#[test]
fn refused_inputs_change_nothing() {
    use coldstart_core::limits::{BYTES_MAX, DURATION_MAX_US, TIME_MAX_US};
    // Main storage 2,000 bytes, one host with RAM 1,000 and disk 1,000.
    let mut w = World::new(config(1, host_spec(1_000, 4, 1_000), 2_000));
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (running, _) = w.invoke(1_000, f, success(100_000, 1));
    // Timers are pending (the download is due at 1,050); the refused inputs
    // below come later than that.
    assert_eq!(w.p.next_timer_us(), Some(1_050));

    assert_eq!(
        w.refuse(999, Command::Advance),
        Refusal::TimeWentBackwards {
            at_us: 999,
            now_us: 1_000
        }
    );
    assert_eq!(
        w.refuse(TIME_MAX_US + 1, Command::Advance),
        Refusal::TimeTooLate {
            at_us: TIME_MAX_US + 1,
            max_us: TIME_MAX_US
        }
    );
    // Unknown ids.
    // The first refusal at 5,000 fires the timers due by then, as an
    // Advance would (R29, R30), and carries their events.
    assert_eq!(
        advanced_to(&w.p, 5_000).1,
        vec![
            download_finished(1_050, image),
            copy_started(1_050, image, H0),
            copy_finished(1_100, image, H0),
            exec(1_200, running, ctr(0)),
        ]
    );
    assert_eq!(
        w.refuse(5_000, register_function(img(9), 100, 0, 10)),
        Refusal::UnknownImage { image: img(9) }
    );
    assert_eq!(
        w.refuse(5_000, invoke_cmd(fun(9), success(1, 0))),
        Refusal::UnknownFunction { function: fun(9) }
    );
    assert_eq!(
        w.refuse(5_000, Command::Reap { invocation: inv(9) }),
        Refusal::UnknownInvocation { invocation: inv(9) }
    );
    // Reap of an invocation that has not ended.
    assert_eq!(
        w.refuse(
            5_000,
            Command::Reap {
                invocation: running
            }
        ),
        Refusal::NotTerminal {
            invocation: running
        }
    );
    // Zero and oversized values.
    assert_eq!(
        w.refuse(5_000, Command::RegisterImage { size_bytes: 0 }),
        Refusal::Zero {
            field: "size_bytes".into()
        }
    );
    assert_eq!(
        w.refuse(
            5_000,
            Command::RegisterImage {
                size_bytes: BYTES_MAX + 1
            }
        ),
        Refusal::TooLarge {
            field: "size_bytes".into(),
            value: BYTES_MAX + 1,
            max: BYTES_MAX
        }
    );
    assert_eq!(
        w.refuse(5_000, register_function(image, 0, 0, 10)),
        Refusal::Zero {
            field: "memory_bytes".into()
        }
    );
    assert_eq!(
        w.refuse(5_000, register_function(image, 100, 0, 0)),
        Refusal::Zero {
            field: "time_limit_us".into()
        }
    );
    assert_eq!(
        w.refuse(5_000, register_function(image, 100, 0, DURATION_MAX_US + 1)),
        Refusal::TooLarge {
            field: "time_limit_us".into(),
            value: DURATION_MAX_US + 1,
            max: DURATION_MAX_US
        }
    );
    assert_eq!(
        w.refuse(5_000, invoke_cmd(f, success(DURATION_MAX_US + 1, 0))),
        Refusal::TooLarge {
            field: "code.run_us".into(),
            value: DURATION_MAX_US + 1,
            max: DURATION_MAX_US
        }
    );
    assert_eq!(
        w.refuse(
            5_000,
            Command::Invoke {
                function: f,
                code: success(1, 0),
                ingress_bytes: 0,
                egress_bytes: BYTES_MAX + 1,
            }
        ),
        Refusal::TooLarge {
            field: "egress_bytes".into(),
            value: BYTES_MAX + 1,
            max: BYTES_MAX
        }
    );
    // Images and functions that can never fit.
    assert_eq!(
        w.refuse(5_000, Command::RegisterImage { size_bytes: 2_001 }),
        Refusal::ImageNeverFits {
            size_bytes: 2_001,
            why: "larger than main storage".into()
        }
    );
    assert_eq!(
        w.refuse(5_000, Command::RegisterImage { size_bytes: 1_001 }),
        Refusal::ImageNeverFits {
            size_bytes: 1_001,
            why: "larger than every host's disk".into()
        }
    );
    assert_eq!(
        w.refuse(5_000, register_function(image, 1_001, 0, 10)),
        Refusal::FunctionNeverFits {
            why: "needs more RAM than any host has".into()
        }
    );
    assert_eq!(
        w.refuse(5_000, register_function(image, 100, 951, 10)),
        Refusal::FunctionNeverFits {
            why: "no host has both the RAM and the disk for its image plus scratch".into()
        }
    );
    // The same, at the limits, is accepted; the first refused input at
    // 5,000 fired the timers due by then (R29), so nothing is left to fire.
    let g = w.function(image, 1_000, 950, DURATION_MAX_US);
    assert_eq!(g, fun(1));
    assert_eq!(w.advance(5_000), vec![]);
}

/// `Reap` drops a terminal record (its id becomes unknown) and frees the
/// slot, which the next invocation reuses with a new generation.
#[test]
fn reap_drops_a_record_and_its_slot_is_reused() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    // a ends at 210: a Reap at 209 is refused, and one at 210 is judged
    // after the timers due at 210 fired (spec R29), so a has ended.
    assert_eq!(
        w.refuse(209, Command::Reap { invocation: a }),
        Refusal::NotTerminal { invocation: a }
    );
    let events = w.reap(210, a);
    assert_eq!(events.last(), Some(&reaped(210, a)), "{events:#?}");
    assert!(events[..events.len() - 1]
        .iter()
        .all(|e| !matches!(e.kind, EventKind::Reaped { .. })));
    assert_eq!(
        w.p.get_state(a),
        Err(ClientError::UnknownInvocation { invocation: a })
    );
    assert_eq!(
        w.refuse(1_000, Command::Reap { invocation: a }),
        Refusal::UnknownInvocation { invocation: a }
    );
    let (b, events) = w.invoke(1_000, f, success(10, 2));
    assert_eq!(b, inv_g(0, 1));
    assert_eq!(
        events,
        vec![accepted(1_000, b, f), warm(1_000, b, ctr(0), H0)]
    );
    assert_eq!(w.p.metrics().reaped, 1);
}

/// Retention: with `terminal_records_max = Some(2)`, the record that ended
/// first is reaped when a third ends — in end order, not acceptance order,
/// and rejections count.
#[test]
fn retention_reaps_the_oldest_ended_records() {
    let mut cfg = config(1, host_spec(1_000, 2, 1_000), 1_000);
    cfg.terminal_records_max = Some(2);
    let mut w = World::new(cfg);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(500, 1)); // ends at 700
    let (b, _) = w.invoke(0, f, success(100, 2)); // ends at 300
                                                  // No slot left: rejected at once, the first record to end.
    let (c, events) = w.invoke(0, f, success(1, 3));
    assert_eq!(
        events,
        vec![
            accepted(0, c, f),
            rejected(0, c, RejectReason::ResourceUnavailable)
        ]
    );
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            completed(300, b, 2, SMALL_COST),
            idle(300, ctr(1), 300 + KEEP),
            completed(700, a, 1, SMALL_COST),
            idle(700, ctr(0), 700 + KEEP),
            reaped(700, c),
        ]
    );
    // A warm start on ctr#1 (the newest); its end reaps b, the older of the
    // two records kept.
    let (d, events) = w.invoke(1_000, f, success(10, 4));
    assert_eq!(d, inv_g(2, 1));
    assert_eq!(
        events,
        vec![accepted(1_000, d, f), warm(1_000, d, ctr(1), H0)]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            exec(1_010, d, ctr(1)),
            completed(1_020, d, 4, SMALL_COST),
            idle(1_020, ctr(1), 1_020 + KEEP),
            reaped(1_020, b),
        ]
    );
    assert_eq!(w.p.get_output(a), Ok(1));
    assert_eq!(w.p.get_output(d), Ok(4));
    assert_eq!(
        w.p.get_output(b),
        Err(ClientError::UnknownInvocation { invocation: b })
    );
    assert_eq!(w.p.metrics().reaped, 2);
}

/// Spec R29, R46: a `Reap` of a record that retention reaps while the
/// timers due by the Reap's time fire is judged after them: refused
/// `UnknownInvocation`, the record reaped once (by retention).
#[test]
fn reap_of_a_record_retention_reaps_in_the_same_step() {
    let mut cfg = default_config();
    cfg.terminal_records_max = Some(1);
    let mut w = World::new(cfg);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(10, 1)); // ends at 210
    let (b, _) = w.invoke(0, f, success(500, 2)); // ends at 700
    assert_eq!(
        w.advance(300),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            completed(210, a, 1, SMALL_COST),
            idle(210, ctr(0), 210 + KEEP),
        ]
    );
    // At 700 b ends and retention reaps a; the Reap of a at 700 is judged
    // after that, and refused.
    let (_, events) = advanced_to(&w.p, 700);
    assert_eq!(
        w.refuse(700, Command::Reap { invocation: a }),
        Refusal::UnknownInvocation { invocation: a }
    );
    assert_eq!(
        events,
        vec![
            completed(700, b, 2, SMALL_COST),
            idle(700, ctr(1), 700 + KEEP),
            reaped(700, a),
        ]
    );
    assert_eq!(w.p.metrics().reaped, 1);
}

// ---------------------------------------------------------------------------
// Determinism and snapshots
// ---------------------------------------------------------------------------

/// A busy, tight, seeded workload: two small hosts, small main storage, the
/// queue, failures, timeouts, reaps (some refused), short keep-alives.
fn workload() -> (Config, Builtin, Vec<Input>) {
    let mut cfg = config(2, host_spec(300, 2, 150), 110);
    cfg.pressure = Pressure::Queue { capacity: 1 };
    let policies = Builtin::default().with_keep_alive_us(500);
    let mut inputs = Vec::new();
    for size_bytes in [40, 60, 50] {
        inputs.push(Input {
            at_us: 0,
            command: Command::RegisterImage { size_bytes },
        });
    }
    for i in 0..5u32 {
        inputs.push(Input {
            at_us: 0,
            command: register_function(img(i % 3), 100, 10 * u64::from(i % 3), 1_000),
        });
    }
    // A fixed linear congruential generator: the script is part of the test.
    let mut state: u64 = 0x5eed;
    let mut next = move |n: u64| {
        state = state
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (state >> 33) % n
    };
    let mut t = 0;
    for n in 0..300 {
        t += next(400);
        let command = match next(10) {
            0..=6 => {
                let outcome = match next(8) {
                    0 => Outcome::Failure {
                        phase: Phase::Clone,
                    },
                    1 => Outcome::Failure {
                        phase: Phase::Build,
                    },
                    2 => Outcome::Failure { phase: Phase::Run },
                    _ => Outcome::Success { output: n },
                };
                let code = Code {
                    clone_us: next(50),
                    build_us: next(50),
                    run_us: next(1_000),
                    outcome,
                };
                Command::Invoke {
                    function: fun(next(5) as u32),
                    code,
                    ingress_bytes: next(100),
                    egress_bytes: next(100),
                }
            }
            7 | 8 => Command::Reap {
                invocation: inv(next(20) as u32),
            },
            _ => Command::Advance,
        };
        inputs.push(Input { at_us: t, command });
    }
    (cfg, policies, inputs)
}

type StepResult = Result<Vec<Event>, Refusal>;

/// The provider after an `Advance` to `at_us`, and that advance's events
/// (none, and the provider as it is, if the time is refused): what a refused
/// input leaves (R30).
fn advanced_to<P: Policies + Clone>(p: &Provider<P>, at_us: u64) -> (Provider<P>, Vec<Event>) {
    let mut advanced = p.clone();
    let events = advanced
        .apply(&Input {
            at_us,
            command: Command::Advance,
        })
        .map(|e| e.into_vec())
        .unwrap_or_default();
    (advanced, events)
}

/// Applies inputs, checking every invariant, and that refusals change
/// nothing beyond an advance to their time; returns each step's result.
fn run_inputs<P: Policies + PartialEq + std::fmt::Debug>(
    p: &mut Provider<P>,
    inputs: &[Input],
) -> Vec<StepResult> {
    inputs
        .iter()
        .map(|input| {
            let (advanced, advance_events) = advanced_to(p, input.at_us);
            let result = p.apply(input).map(|e| e.into_vec());
            if let Err(refused) = &result {
                assert_eq!(*p, advanced, "refused {input:?} did more than advance");
                assert_eq!(refused.events(), &advance_events[..]);
            }
            let result = result.map_err(|refused| refused.refusal().clone());
            p.check_invariants()
                .unwrap_or_else(|v| panic!("after {input:?}: {v}"));
            result
        })
        .collect()
}

/// The same inputs give the same events (and refusals), and the same final
/// state.
#[test]
fn same_inputs_same_events() {
    let (cfg, policies, inputs) = workload();
    let mut p1 = Provider::new(cfg.clone(), policies.clone()).unwrap();
    let mut p2 = Provider::new(cfg, policies).unwrap();
    let r1 = run_inputs(&mut p1, &inputs);
    let r2 = run_inputs(&mut p2, &inputs);
    assert_eq!(r1, r2);
    assert_eq!(p1, p2);
    // The workload is not trivial: it went down every main path.
    let m = p1.metrics();
    assert!(m.cold_starts > 0 && m.warm_starts > 0, "{m:#?}");
    assert!(
        m.images_evicted_host > 0 && m.images_evicted_main > 0,
        "{m:#?}"
    );
    assert!(m.queued_total > 0 && m.rejected_queue_full > 0, "{m:#?}");
    assert!(
        m.failed() > 0 && m.timed_out > 0 && m.completed > 0,
        "{m:#?}"
    );
    assert!(m.reaped > 0 && m.containers_expired > 0, "{m:#?}");
    assert!(r1.iter().any(Result::is_err));
}

fn json_round_trip<P>(p: &Provider<P>) -> Provider<P>
where
    P: Policies + serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    let json = serde_json::to_string(p).expect("serializes");
    let restored: Provider<P> = serde_json::from_str(&json).expect("deserializes");
    assert_eq!(&restored, p, "the snapshot restores the same provider");
    assert_eq!(serde_json::to_string(&restored).unwrap(), json);
    restored
}

/// A snapshot taken after two reaps restores a provider that hands out the
/// freed slots in the same order (the last freed first) and goes on with
/// identical events.
#[test]
fn snapshot_after_a_reap_continues_with_identical_ids_and_events() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    let (b, _) = w.invoke(0, f, success(20, 2));
    let (c, _) = w.invoke(0, f, success(30, 3));
    assert_eq!((a, b, c), (inv(0), inv(1), inv(2)));
    w.advance(1_000);
    assert_eq!(w.reap(1_000, a), vec![reaped(1_000, a)]);
    assert_eq!(w.reap(1_000, c), vec![reaped(1_000, c)]);

    let mut restored = World {
        p: json_round_trip(&w.p),
    };
    for world in [&mut w, &mut restored] {
        let (d, events) = world.invoke(2_000, f, success(10, 4));
        // c's slot, freed last, comes back first; the newest idle container
        // (ctr#2) is reused.
        assert_eq!(d, inv_g(2, 1));
        assert_eq!(
            events,
            vec![accepted(2_000, d, f), warm(2_000, d, ctr(2), H0)]
        );
        let (e, events) = world.invoke(2_000, f, success(10, 5));
        assert_eq!(e, inv_g(0, 1));
        assert_eq!(
            events,
            vec![accepted(2_000, e, f), warm(2_000, e, ctr(1), H0)]
        );
        assert_eq!(
            world.advance(3_000),
            vec![
                exec(2_010, d, ctr(2)),
                exec(2_010, e, ctr(1)),
                completed(2_020, d, 4, SMALL_COST),
                idle(2_020, ctr(2), 2_020 + KEEP),
                completed(2_020, e, 5, SMALL_COST),
                idle(2_020, ctr(1), 2_020 + KEEP),
            ]
        );
    }
    assert_eq!(w.p, restored.p);
}

/// Snapshots taken at many points of the seeded workload, each restored and
/// run to the end beside the original, give identical events.
#[test]
fn snapshot_mid_run_continues_identically() {
    let (cfg, policies, inputs) = workload();
    let mut reference = Provider::new(cfg.clone(), policies.clone()).unwrap();
    let expected = run_inputs(&mut reference, &inputs);
    for cut in [8, 50, 120, 200, 290] {
        let mut p = Provider::new(cfg.clone(), policies.clone()).unwrap();
        let head = run_inputs(&mut p, &inputs[..cut]);
        assert_eq!(head[..], expected[..cut]);
        let mut restored = json_round_trip(&p);
        let tail_original = run_inputs(&mut p, &inputs[cut..]);
        let tail_restored = run_inputs(&mut restored, &inputs[cut..]);
        assert_eq!(tail_original, tail_restored, "cut at {cut}");
        assert_eq!(tail_original[..], expected[cut..], "cut at {cut}");
        assert_eq!(p, restored);
    }
    assert!(reference.metrics().reaped > 0);
}

// ---------------------------------------------------------------------------
// Corners: strict FIFO, zero keep-alive, zero durations, retention of zero
// ---------------------------------------------------------------------------

/// Strict FIFO: while the queue is not empty a new invocation is not even
/// tried, although an idle container of its function is waiting (spec R48,
/// open question 7); by the time its turn comes, that container has been
/// evicted to make room for the head, so it starts cold.
#[test]
fn queue_is_strict_fifo_even_past_an_idle_container() {
    let mut cfg = config(1, host_spec(300, 2, 1_000), 1_000);
    cfg.pressure = Pressure::Queue { capacity: 4 };
    let mut w = World::new(cfg);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 100_000);
    let g = w.function(image, 200, 0, 100_000);
    let h = w.function(image, 150, 0, 100_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    let (b, _) = w.invoke(0, g, success(1_000, 2));
    assert_eq!(
        w.advance(500),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            completed(210, a, 1, SMALL_COST),
            idle(210, ctr(0), 210 + KEEP),
        ]
    );
    // RAM: g's 200 busy + f's 100 idle. h needs 150: only 100 reclaimable.
    let (x, events) = w.invoke(500, h, success(10, 3));
    assert_eq!(events, vec![accepted(500, x, h), queued(500, x, 1)]);
    // f has an idle container, but x is ahead.
    let (y, events) = w.invoke(600, f, success(10, 4));
    assert_eq!(events, vec![accepted(600, y, f), queued(600, y, 2)]);
    assert_eq!(
        w.advance(2_000),
        vec![
            completed(1_200, b, 2, SMALL_COST),
            idle(1_200, ctr(1), 1_200 + KEEP),
            // x needs 150 of RAM: both idle containers go, least recently
            // used first.
            removed(1_200, ctr(0), H0, RemovalCause::Evicted),
            removed(1_200, ctr(1), H0, RemovalCause::Evicted),
            cold(1_200, x, ctr_g(1, 1), H0, ImageSource::HostDisk),
            cold(1_200, y, ctr_g(0, 1), H0, ImageSource::HostDisk),
            exec(1_300, x, ctr_g(1, 1)),
            exec(1_300, y, ctr_g(0, 1)),
            completed(1_310, x, 3, SMALL_COST),
            idle(1_310, ctr_g(1, 1), 1_310 + KEEP),
            completed(1_310, y, 4, SMALL_COST),
            idle(1_310, ctr_g(0, 1), 1_310 + KEEP),
        ]
    );
    assert_eq!(w.p.metrics().warm_starts, 0);
}

/// A keep-alive of 0 expires the container at the instant it goes idle,
/// after the queue has had its chance to reuse it warm (spec R92).
#[test]
fn zero_keep_alive_expires_at_once_unless_the_queue_reuses_it() {
    let mut cfg = config(1, host_spec(1_000, 1, 1_000), 1_000);
    cfg.pressure = Pressure::Queue { capacity: 4 };
    let mut w = World::keep_alive(cfg, 0);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 100_000);
    let (a, _) = w.invoke(0, f, success(100, 1));
    let (b, events) = w.invoke(10, f, success(10, 2));
    assert_eq!(events, vec![accepted(10, b, f), queued(10, b, 1)]);
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            completed(300, a, 1, SMALL_COST),
            idle(300, ctr(0), 300),
            warm(300, b, ctr(0), H0),
            exec(310, b, ctr(0)),
            completed(320, b, 2, SMALL_COST),
            idle(320, ctr(0), 320),
            removed(320, ctr(0), H0, RemovalCause::Expired),
        ]
    );
}

/// With no overheads and zero-length code, an invocation runs to its end
/// inside the step of its `Invoke` (timers created with a zero duration fire
/// in the same step), billed the request fee only.
#[test]
fn zero_durations_complete_within_the_invoke_step() {
    let mut cfg = default_config();
    cfg.cold_start_us = 0;
    cfg.warm_start_us = 0;
    let mut w = World::new(cfg);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 5);
    let (a, _) = w.invoke(0, f, success(0, 1));
    assert_eq!(
        w.advance(150),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(100, a, ctr(0)),
            completed(100, a, 1, 200_000),
            idle(100, ctr(0), 100 + KEEP),
        ]
    );
    let (b, events) = w.invoke(200, f, success(0, 2));
    assert_eq!(
        events,
        vec![
            accepted(200, b, f),
            warm(200, b, ctr(0), H0),
            exec(200, b, ctr(0)),
            completed(200, b, 2, 200_000),
            idle(200, ctr(0), 200 + KEEP),
        ]
    );
    // A failure at exactly the limit fails; one µs more times out at the
    // limit (spec example 3).
    let (c, events) = w.invoke(300, f, failure(5, 0, 0, Phase::Clone));
    assert_eq!(
        events,
        vec![
            accepted(300, c, f),
            warm(300, c, ctr(0), H0),
            exec(300, c, ctr(0)),
        ]
    );
    let (d, events) = w.invoke(310, f, failure(6, 0, 0, Phase::Clone));
    assert_eq!(
        events,
        vec![
            failed(305, c, Phase::Clone, SMALL_COST),
            removed(305, ctr(0), H0, RemovalCause::Discarded),
            accepted(310, d, f),
            cold(310, d, ctr_g(0, 1), H0, ImageSource::HostDisk),
            exec(310, d, ctr_g(0, 1)),
        ]
    );
    assert_eq!(
        w.advance(400),
        vec![
            timed_out(315, d, SMALL_COST),
            removed(315, ctr_g(0, 1), H0, RemovalCause::Discarded),
        ]
    );
}

/// With `terminal_records_max = Some(0)` every record is reaped right after
/// its ending; a wait still reports the ending (found in the events).
#[test]
fn retention_of_zero_reaps_at_once_and_waits_still_see_the_end() {
    let mut cfg = default_config();
    cfg.terminal_records_max = Some(0);
    let mut w = World::new(cfg);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    let (result, events) = w.wait(|p, ev| p.wait_for(a, None, ev));
    assert_eq!(result, Ok(finished(a, 210, done(1, SMALL_COST))));
    assert_eq!(
        events,
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            completed(210, a, 1, SMALL_COST),
            idle(210, ctr(0), 210 + KEEP),
            reaped(210, a),
        ]
    );
    assert_eq!(
        w.p.get_output(a),
        Err(ClientError::UnknownInvocation { invocation: a })
    );
}

/// Priorities and keep-alives at the extremes of `u64`.
#[derive(Clone, Debug, PartialEq)]
struct Extremes;

impl Policies for Extremes {
    fn warm_priority(&mut self, _container: &ContainerFacts) -> u64 {
        0
    }
    fn idle_eviction_priority(&mut self, _container: &ContainerFacts) -> u64 {
        u64::MAX
    }
    fn keep_alive_us(&mut self, _container: &ContainerFacts) -> u64 {
        u64::MAX
    }
    fn image_priority(&mut self, _image: &ImageFacts) -> u64 {
        u64::MAX
    }
}

/// Any `u64` is a valid priority (ties go by the order candidates entered
/// their set) and a keep-alive is clamped to `limits::DURATION_MAX_US`.
#[test]
fn custom_priorities_at_the_extremes_tie_break_by_entry_order() {
    use coldstart_core::limits::DURATION_MAX_US;
    let mut w = World::with(default_config(), Extremes);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(100, 1));
    let (b, _) = w.invoke(0, f, success(500, 2));
    assert_eq!(
        w.advance(1_000),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(1)),
            completed(300, a, 1, SMALL_COST),
            idle(300, ctr(0), 300 + DURATION_MAX_US),
            completed(700, b, 2, SMALL_COST),
            idle(700, ctr(1), 700 + DURATION_MAX_US),
        ]
    );
    // Equal warm priorities: ctr#0 went idle first, so it is reused first,
    // though the default policy would take the newest, ctr#1.
    let (c, events) = w.invoke(1_000, f, success(10, 3));
    assert_eq!(
        events,
        vec![accepted(1_000, c, f), warm(1_000, c, ctr(0), H0)]
    );
    let (d, events) = w.invoke(1_000, f, success(10, 4));
    assert_eq!(
        events,
        vec![accepted(1_000, d, f), warm(1_000, d, ctr(1), H0)]
    );
    assert_eq!(
        w.advance(2_000),
        vec![
            exec(1_010, c, ctr(0)),
            exec(1_010, d, ctr(1)),
            completed(1_020, c, 3, SMALL_COST),
            idle(1_020, ctr(0), 1_020 + DURATION_MAX_US),
            completed(1_020, d, 4, SMALL_COST),
            idle(1_020, ctr(1), 1_020 + DURATION_MAX_US),
        ]
    );
}

/// The host disk is an LRU cache (DESIGN.md): an image kept in use by warm
/// starts is more recently used than one untouched since its arrival, and
/// should outlive it. Core stamps a host copy's use only at cold starts and
/// arrival (spec R57, R67, open question 1), so it evicts the busier image.
#[test]
fn host_disk_lru_counts_warm_use() {
    let mut w = World::keep_alive(config(1, host_spec(1_000, 4, 100), 1_000), 1_000);
    let (a_img, b_img, c_img) = (w.image(40), w.image(40), w.image(40));
    let fa = w.function(a_img, 100, 0, 100_000);
    let fb = w.function(b_img, 100, 0, 100_000);
    let fc = w.function(c_img, 100, 0, 100_000);
    // a arrives at 80 and ctr#0 goes idle at 190; b arrives at 280.
    w.invoke(0, fa, success(10, 0));
    let (i1, _) = w.invoke(200, fb, success(10, 1));
    // a is used again, warm, at 1,000..1,030; b is never used again.
    let (i2, events) = w.invoke(1_000, fa, success(20, 2));
    assert_eq!(
        events,
        vec![
            download_finished(240, b_img),
            copy_started(240, b_img, H0),
            copy_finished(280, b_img, H0),
            exec(380, i1, ctr(1)),
            completed(390, i1, 1, SMALL_COST),
            idle(390, ctr(1), 1_390),
            accepted(1_000, i2, fa),
            warm(1_000, i2, ctr(0), H0),
        ]
    );
    assert_eq!(
        w.advance(3_000),
        vec![
            exec(1_010, i2, ctr(0)),
            completed(1_030, i2, 2, SMALL_COST),
            idle(1_030, ctr(0), 2_030),
            removed(1_390, ctr(1), H0, RemovalCause::Expired),
            removed(2_030, ctr(0), H0, RemovalCause::Expired),
        ]
    );
    // c needs 40 of the 20 free bytes: the least recently used image is b
    // (last used at 390), not a (last used at 1,030).
    let (i3, events) = w.invoke(3_000, fc, success(10, 3));
    assert_eq!(
        events,
        vec![
            accepted(3_000, i3, fc),
            evicted(3_000, b_img, Tier::Host(H0)),
            cold(3_000, i3, ctr_g(0, 1), H0, ImageSource::Registry),
            download_started(3_000, c_img),
        ]
    );
}

/// Heterogeneous hosts: first fit skips a host without the RAM; transfer
/// times round up to a whole µs; `ImageLocality` prefers a host holding the
/// image where first fit copies it to the lowest-numbered host.
#[test]
fn heterogeneous_hosts_and_image_locality() {
    for selection in [HostSelection::FirstFit, HostSelection::ImageLocality] {
        let mut cfg = default_config();
        cfg.hosts = vec![
            host_spec(100, 4, 1_000),
            host_spec(1_000, 4, 1_000).with_copy_bytes_per_s(3_000_000),
        ];
        let policies = Builtin::default().with_host_selection(selection);
        let mut w = World::with(cfg, policies);
        let image = w.image(50);
        let big = w.function(image, 200, 0, 10_000);
        let small = w.function(image, 50, 0, 10_000);
        let (a, events) = w.invoke(0, big, success(10, 1));
        assert_eq!(
            events,
            vec![
                accepted(0, a, big),
                cold(0, a, ctr(0), H1, ImageSource::Registry),
                download_started(0, image),
            ]
        );
        // 50 bytes at 3 bytes/µs: 16.7 µs, rounded up to 17.
        assert_eq!(
            w.advance(1_000),
            vec![
                download_finished(50, image),
                copy_started(50, image, H1),
                copy_finished(67, image, H1),
                exec(167, a, ctr(0)),
                completed(177, a, 1, SMALL_COST),
                idle(177, ctr(0), 177 + KEEP),
            ]
        );
        let (b, events) = w.invoke(1_000, small, success(10, 2));
        match selection {
            HostSelection::ImageLocality => assert_eq!(
                events,
                vec![
                    accepted(1_000, b, small),
                    cold(1_000, b, ctr(1), H1, ImageSource::HostDisk),
                ]
            ),
            _ => assert_eq!(
                events,
                vec![
                    accepted(1_000, b, small),
                    cold(1_000, b, ctr(1), H0, ImageSource::MainStorage),
                    copy_started(1_000, image, H0),
                ]
            ),
        }
    }
}

/// Waits learn endings from the events of the steps they drive: a failure
/// and a time-out that happen during the wait are reported as such.
#[test]
fn waits_report_failures_and_time_outs_met_on_the_way() {
    let mut w = World::new(default_config());
    let image = w.image(10);
    let f = w.function(image, 100, 0, 500);
    let (fails, _) = w.invoke(0, f, failure(5, 5, 5, Phase::Build));
    let (slow, _) = w.invoke(0, f, success(10_000, 1));
    let mut log = Vec::new();
    let finished = w.p.wait_for(fails, None, &mut log).expect("ends");
    // Download 10 µs, copy 10 µs, cold start 100 µs, clone 5 + build 5.
    assert_eq!(finished.invocation, fails);
    assert_eq!(finished.ending.at_us, 130);
    assert!(matches!(
        finished.ending.outcome,
        EndOutcome::Failed {
            phase: Phase::Build,
            ..
        }
    ));
    let finished = w.p.wait_for_any(&[slow], None, &mut log).expect("ends");
    assert_eq!(finished.ending.at_us, 120 + 500);
    assert!(matches!(
        finished.ending.outcome,
        EndOutcome::TimedOut { .. }
    ));
    assert!(w.state(slow).is_terminal());
    let states = w.p.get_states(&[fails, slow, inv(9)]);
    assert_eq!(states.len(), 3);
    assert!(states[0].as_ref().is_ok_and(|s| s.is_terminal()));
    assert!(states[1].as_ref().is_ok_and(|s| s.is_terminal()));
    assert_eq!(
        states[2],
        Err(ClientError::UnknownInvocation { invocation: inv(9) })
    );
    let (running, _) = w.invoke(w.now(), f, success(50, 2));
    assert!(!w.state(running).is_terminal());
}

/// Every error a user can meet reads as a sentence that names the thing.
#[test]
fn errors_explain_themselves() {
    let mut w = World::new(default_config());
    let image = w.image(10);
    let f = w.function(image, 100, 0, 500);
    let (i, _) = w.invoke(0, f, success(50, 2));
    let not_done = w.p.get_output(i).unwrap_err().to_string();
    assert!(not_done.contains("has no output"), "{not_done}");
    let unknown = ClientError::UnknownInvocation { invocation: inv(7) }.to_string();
    assert!(unknown.contains("inv#7.0"), "{unknown}");
    let waits = [
        (WaitError::Stalled { at_us: 5 }, "no timer left"),
        (WaitError::DeadlineReached { at_us: 5 }, "deadline reached"),
        (
            WaitError::DeadlineInPast {
                deadline_us: 1,
                now_us: 5,
            },
            "before the current time",
        ),
        (WaitError::NothingToWaitFor, "at least one"),
        (
            WaitError::UnknownInvocation { invocation: inv(3) },
            "inv#3.0",
        ),
    ];
    for (error, words) in waits {
        assert!(error.to_string().contains(words), "{error}");
    }
    let refusal = w.refuse(0, Command::RegisterImage { size_bytes: 0 });
    assert_eq!(refusal.to_string(), "size_bytes must be greater than zero");
}

/// Declines every placement: what a broken or overly strict policy does.
#[derive(Clone, Debug, PartialEq)]
struct Declines;

impl Policies for Declines {
    fn select_host(&mut self, _: &dyn HostView, _: &PlacementRequest) -> Option<HostId> {
        None
    }
}

/// A wait with a deadline that stalls first reports the stall, and time
/// stays where it was; a deadline equal to now is not in the past.
#[test]
fn deadlines_at_now_and_stalls_before_the_deadline() {
    let mut cfg = default_config();
    cfg.pressure = Pressure::Queue { capacity: 2 };
    let mut w = World::with(cfg, Declines);
    let image = w.image(10);
    let f = w.function(image, 100, 0, 500);
    let (queued, events) = w.invoke(7, f, success(50, 1));
    assert_eq!(
        events.last().map(|e| e.kind),
        Some(EventKind::Queued {
            invocation: queued,
            queue_len: 1
        })
    );
    let mut log = Vec::new();
    assert_eq!(w.p.next_timer_us(), None);
    assert_eq!(
        w.p.wait_for(queued, Some(7), &mut log),
        Err(WaitError::Stalled { at_us: 7 }),
        "a deadline equal to now is not in the past"
    );
    assert_eq!(
        w.p.wait_for(queued, Some(1_000), &mut log),
        Err(WaitError::Stalled { at_us: 7 })
    );
    assert_eq!(w.now(), 7, "a stall does not move time to the deadline");
    assert!(log.is_empty());
}

/// Declines one function and notes the time of every call, through the
/// policy's view.
#[derive(Clone, Debug, PartialEq)]
struct DeclinesOne {
    declined: FunctionId,
    calls_at_us: Vec<u64>,
}

impl Policies for DeclinesOne {
    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        self.calls_at_us.push(view.now_us());
        if request.function == self.declined {
            return None;
        }
        coldstart_core::policy::first_fit(view, request)
    }
}

/// Timers left before the deadline run out, then the wait stalls where the
/// last one fired — it does not jump to the deadline.
#[test]
fn a_wait_stalls_at_the_last_timer_not_at_the_deadline() {
    let mut cfg = default_config();
    cfg.pressure = Pressure::Queue { capacity: 2 };
    let policy = DeclinesOne {
        declined: fun(1),
        calls_at_us: Vec::new(),
    };
    let mut w = World::with(cfg, policy);
    let image = w.image(10);
    let f = w.function(image, 100, 0, 500);
    let g = w.function(image, 100, 0, 500);
    assert_eq!(g, fun(1));
    let (_, _) = w.invoke(0, f, success(50, 1));
    let (stuck, _) = w.invoke(5, g, success(50, 2));
    let mut log = Vec::new();
    // f: download 10, copy 10, cold 100, run 50 → idle at 170, expires at
    // 170 + 10 minutes; the queue is retried at both (R50), and g is
    // declined each time.
    let expiry_us = 170 + KEEP;
    assert_eq!(
        w.p.wait_for(stuck, Some(expiry_us + 1_000), &mut log),
        Err(WaitError::Stalled { at_us: expiry_us })
    );
    assert_eq!(w.p.policies().calls_at_us, vec![0, 5, 170, expiry_us]);
}

/// Records the use counts the provider reports to its policies.
#[derive(Clone, Debug, PartialEq, Default)]
struct CountsUses {
    container_uses: Vec<u64>,
    image_uses: Vec<(Tier, u64)>,
}

impl Policies for CountsUses {
    fn warm_priority(&mut self, container: &ContainerFacts) -> u64 {
        self.container_uses.push(container.uses);
        u64::MAX - container.created_seq
    }
    fn keep_alive_us(&mut self, _container: &ContainerFacts) -> u64 {
        1_000
    }
    fn image_priority(&mut self, image: &ImageFacts) -> u64 {
        self.image_uses.push((image.tier, image.uses));
        image.last_used_us
    }
}

/// A policy is told how many invocations an idle container has run and how
/// many starts a host's image copy has served (cold and warm), so that
/// frequency-based policies (LFU, greedy-dual) can be written.
#[test]
fn policies_see_how_often_containers_and_images_were_used() {
    let mut w = World::with(default_config(), CountsUses::default());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 100_000);
    // Two cold starts share one copy of the image; both containers go idle.
    w.invoke(0, f, success(10, 1));
    w.invoke(0, f, success(20, 2));
    w.advance(1_000);
    // The newest container, ctr#1, is reused twice.
    w.invoke(1_000, f, success(10, 3));
    w.advance(2_000);
    w.invoke(2_000, f, success(10, 4));
    // Both expire (keep-alive 1,000 µs) and free the host's copy.
    w.advance(10_000);
    assert_eq!(w.p.policies().container_uses, vec![1, 1, 2, 3]);
    assert_eq!(
        w.p.policies().image_uses,
        vec![(Tier::MainStorage, 1), (Tier::Host(H0), 4)]
    );
}

/// Every limit is inclusive: a size of exactly `BYTES_MAX` and a time of
/// exactly `TIME_MAX_US` are accepted.
#[test]
fn values_at_the_limits_are_accepted() {
    use coldstart_core::limits::{BYTES_MAX, TIME_MAX_US};
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke_io(0, f, success(10, 1), BYTES_MAX, BYTES_MAX);
    w.advance(TIME_MAX_US);
    assert_eq!(w.now(), TIME_MAX_US);
}

// ---------------------------------------------------------------------------
// Faults (spec §27): crashes, failed transfers, retries — nothing lost
// ---------------------------------------------------------------------------

/// The default world with `hosts` hosts and a readable retry setting: three
/// attempts, the first retry 1,000 µs after a failure, the second 2,000 µs.
fn fault_config(hosts: u32, slots: u32) -> Config {
    let mut config = config(hosts, host_spec(1_000, slots, 1_000), 1_000);
    config.retry = Retry::new(3, 1_000);
    config
}

fn host_down(at: u64, host: HostId) -> Event {
    ev(at, EventKind::HostDown { host })
}
fn host_up(at: u64, host: HostId, disk_kept: bool) -> Event {
    ev(at, EventKind::HostUp { host, disk_kept })
}
fn retrying(at: u64, i: InvocationId, attempt: u32, at_us: u64) -> Event {
    ev(
        at,
        EventKind::Retrying {
            invocation: i,
            attempt,
            at_us,
        },
    )
}
fn platform_failed(at: u64, i: InvocationId, reason: PlatformError) -> Event {
    ev(
        at,
        EventKind::PlatformFailed {
            invocation: i,
            reason,
        },
    )
}
fn lost(at: u64, image: ImageId, tier: Tier) -> Event {
    ev(at, EventKind::ImageLost { image, tier })
}
fn download_failed(at: u64, image: ImageId, attempt: u32, retrying: bool) -> Event {
    ev(
        at,
        EventKind::DownloadFailed {
            image,
            attempt,
            retrying,
        },
    )
}
fn copy_failed(at: u64, image: ImageId, host: HostId, attempt: u32, retrying: bool) -> Event {
    ev(
        at,
        EventKind::CopyFailed {
            image,
            host,
            attempt,
            retrying,
        },
    )
}

/// The host dies while the image is being copied to it: the container is
/// lost, the invocation is retried after the backoff and runs on the other
/// host, from main storage (the image arrived there before the crash).
#[test]
fn crash_during_a_copy_retries_on_another_host() {
    let mut w = World::new(fault_config(2, 4));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i, _) = w.invoke(0, f, success(200, 7));
    // Downloaded by 50, then copied to host 0 until 100; it dies at 70.
    let events = w.step(70, Command::HostDown { host: H0 });
    assert_eq!(
        events,
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            host_down(70, H0),
            removed(70, ctr(0), H0, RemovalCause::HostLost),
            retrying(70, i, 2, 1_070),
        ]
    );
    assert_eq!(
        w.state(i),
        InvocationState::Retrying {
            attempt: 2,
            retry_at_us: 1_070
        }
    );
    // The retry finds host 0 down and places the invocation on host 1.
    assert_eq!(
        w.advance(2_000),
        vec![
            cold(1_070, i, ctr_g(0, 1), H1, ImageSource::MainStorage),
            copy_started(1_070, image, H1),
            copy_finished(1_120, image, H1),
            exec(1_220, i, ctr_g(0, 1)),
            completed(1_420, i, 7, SMALL_COST),
            idle(1_420, ctr_g(0, 1), 1_420 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (
            m.retries,
            m.retry_cold_starts,
            m.containers_lost,
            m.completed
        ),
        (1, 1, 1, 1)
    );
    assert_eq!((m.hosts_down, m.retrying_now, m.in_flight_now), (1, 0, 0));
}

/// The host dies while the code runs; it comes back with its disk, so the
/// retry is a cold start from the host's disk; the host dies again and the
/// invocation, at its last attempt, ends on a platform error.
#[test]
fn crash_during_a_run_recovers_with_the_disk_then_exhausts_the_attempts() {
    let mut config = fault_config(1, 4);
    config.retry.attempts_max = 2;
    let mut w = World::new(config);
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i, _) = w.invoke(0, f, success(1_000, 7));
    let events = w.step(500, Command::HostDown { host: H0 });
    assert_eq!(
        events,
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, i, ctr(0)),
            host_down(500, H0),
            removed(500, ctr(0), H0, RemovalCause::HostLost),
            retrying(500, i, 2, 1_500),
        ]
    );
    assert_eq!(
        w.step(
            1_000,
            Command::HostUp {
                host: H0,
                disk_kept: true
            }
        ),
        vec![host_up(1_000, H0, true)]
    );
    // The image is still on the host's disk: no transfer.
    assert_eq!(
        w.advance(1_650),
        vec![
            cold(1_500, i, ctr_g(0, 1), H0, ImageSource::HostDisk),
            exec(1_600, i, ctr_g(0, 1)),
        ]
    );
    assert_eq!(
        w.step(1_700, Command::HostDown { host: H0 }),
        vec![
            host_down(1_700, H0),
            removed(1_700, ctr_g(0, 1), H0, RemovalCause::HostLost),
            platform_failed(1_700, i, PlatformError::HostLost),
        ]
    );
    assert_eq!(
        w.state(i),
        InvocationState::Ended(Ending {
            at_us: 1_700,
            outcome: EndOutcome::PlatformFailed {
                reason: PlatformError::HostLost
            }
        })
    );
    let m = w.p.metrics();
    assert_eq!((m.retries, m.platform_failed_host_lost), (1, 1));
    assert_eq!(m.cost_picodollars, 0, "platform errors are not billed");
    assert_eq!(w.p.next_timer_us(), None, "nothing left to happen");
}

/// A crash with a queue waiting. The queued invocation stays queued while
/// the only host is down; the host comes back without its disk and the
/// queue drains (the image is copied again from main storage). The
/// crashed invocation's retry finds the slot busy and queues behind it,
/// then takes over the container warm.
#[test]
fn crash_with_a_queue_waiting_recovers_without_the_disk() {
    let mut config = fault_config(1, 1);
    config.pressure = Pressure::Queue { capacity: 2 };
    let mut w = World::new(config);
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i0, _) = w.invoke(0, f, success(200, 1));
    let (i1, events) = w.invoke(0, f, success(1_000, 2));
    assert_eq!(events, vec![accepted(0, i1, f), queued(0, i1, 1)]);
    assert_eq!(
        w.step(300, Command::HostDown { host: H0 }),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, i0, ctr(0)),
            host_down(300, H0),
            removed(300, ctr(0), H0, RemovalCause::HostLost),
            retrying(300, i0, 2, 1_300),
        ]
    );
    assert_eq!(w.state(i1), InvocationState::Queued { since_us: 0 });
    assert_eq!(
        w.step(
            800,
            Command::HostUp {
                host: H0,
                disk_kept: false
            }
        ),
        vec![
            host_up(800, H0, false),
            lost(800, image, Tier::Host(H0)),
            cold(800, i1, ctr_g(0, 1), H0, ImageSource::MainStorage),
            copy_started(800, image, H0),
        ]
    );
    assert_eq!(
        w.advance(3_000),
        vec![
            copy_finished(850, image, H0),
            exec(950, i1, ctr_g(0, 1)),
            // The retry is admitted again (R146): the only slot is busy, so
            // it joins the queue.
            queued(1_300, i0, 1),
            completed(1_950, i1, 2, SMALL_COST),
            idle(1_950, ctr_g(0, 1), 1_950 + KEEP),
            warm(1_950, i0, ctr_g(0, 1), H0),
            exec(1_960, i0, ctr_g(0, 1)),
            completed(2_160, i0, 1, SMALL_COST),
            idle(2_160, ctr_g(0, 1), 2_160 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(m.accepted, 2);
    assert_eq!((m.completed, m.retries, m.images_lost), (2, 1, 1));
    assert_eq!(m.queued_total, 2, "the retry waited in the queue too");
}

/// A download fails twice, each time retried after a longer backoff
/// (1,000 µs, then 2,000 µs); the third attempt succeeds and the invocation
/// runs, none the wiser but later.
#[test]
fn a_download_that_fails_twice_then_succeeds() {
    let mut w = World::new(fault_config(1, 4));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i, _) = w.invoke(0, f, success(200, 7));
    assert_eq!(
        w.step(20, Command::DownloadFails { image }),
        vec![download_failed(20, image, 1, true)]
    );
    // While it waits for the next attempt, no download is in progress.
    assert_eq!(
        w.refuse(500, Command::DownloadFails { image }),
        Refusal::NoDownloadInProgress { image }
    );
    assert_eq!(w.advance(1_030), vec![download_started(1_020, image)]);
    assert_eq!(
        w.step(1_040, Command::DownloadFails { image }),
        vec![download_failed(1_040, image, 2, true)]
    );
    assert_eq!(
        w.state(i),
        InvocationState::Preparing {
            host: H0,
            container: ctr(0)
        }
    );
    assert_eq!(
        w.advance(5_000),
        vec![
            download_started(3_040, image),
            download_finished(3_090, image),
            copy_started(3_090, image, H0),
            copy_finished(3_140, image, H0),
            exec(3_240, i, ctr(0)),
            completed(3_440, i, 7, SMALL_COST),
            idle(3_440, ctr(0), 3_440 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.downloads_failed, m.bytes_downloaded), (2, 150));
}

/// A copy fails at every attempt: after the last, both invocations waiting
/// for it (one created the copy, one joined it) fail on a platform error,
/// their containers and the copy's disk space are released, and the image
/// stays in main storage for the next cold start.
#[test]
fn a_copy_retry_that_exhausts_its_attempts_fails_the_waiting_invocations() {
    let mut config = fault_config(1, 4);
    config.retry.attempts_max = 2;
    let mut w = World::new(config);
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i0, _) = w.invoke(0, f, success(200, 1));
    let (i1, events) = w.invoke(0, f, success(200, 2));
    assert_eq!(
        events,
        vec![
            accepted(0, i1, f),
            cold(0, i1, ctr(1), H0, ImageSource::HostCopyInFlight),
        ]
    );
    // A fault is judged by the state before the timers due at its time fire
    // (R29): the copy must have started by the last input.
    assert_eq!(
        w.advance(55),
        vec![download_finished(50, image), copy_started(50, image, H0)]
    );
    assert_eq!(
        w.step(60, Command::CopyFails { host: H0, image }),
        vec![copy_failed(60, image, H0, 1, true)]
    );
    assert_eq!(w.advance(1_065), vec![copy_started(1_060, image, H0)]);
    assert_eq!(
        w.step(1_070, Command::CopyFails { host: H0, image }),
        vec![
            copy_failed(1_070, image, H0, 2, false),
            removed(1_070, ctr(0), H0, RemovalCause::Discarded),
            platform_failed(1_070, i0, PlatformError::TransferFailed),
            removed(1_070, ctr(1), H0, RemovalCause::Discarded),
            platform_failed(1_070, i1, PlatformError::TransferFailed),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.copies_failed, m.platform_failed_transfer), (2, 2));
    assert_eq!(
        (m.containers_now, m.in_flight_now, m.bytes_copied),
        (0, 0, 100)
    );
    // The host's copy is gone, main storage still has the image.
    let (i2, events) = w.invoke(2_000, f, success(200, 3));
    assert_eq!(
        events,
        vec![
            accepted(2_000, i2, f),
            cold(2_000, i2, ctr_g(1, 1), H0, ImageSource::MainStorage),
            copy_started(2_000, image, H0),
        ]
    );
}

/// Main storage's disk is lost while an image is copied out of it: the
/// copy fails at once (its source is gone; no retry), its invocation fails,
/// and the image is gone from main storage: the next cold start downloads
/// it again.
#[test]
fn main_storage_lost_fails_the_copies_reading_from_it() {
    let mut w = World::new(fault_config(1, 4));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i0, _) = w.invoke(0, f, success(200, 1));
    assert_eq!(
        w.step(70, Command::MainStorageLost),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            ev(70, EventKind::MainStorageLost),
            copy_failed(70, image, H0, 1, false),
            removed(70, ctr(0), H0, RemovalCause::Discarded),
            platform_failed(70, i0, PlatformError::TransferFailed),
            lost(70, image, Tier::MainStorage),
        ]
    );
    let (i1, events) = w.invoke(100, f, success(200, 2));
    assert_eq!(
        events,
        vec![
            accepted(100, i1, f),
            cold(100, i1, ctr_g(0, 1), H0, ImageSource::Registry),
            download_started(100, image),
        ]
    );
    assert_eq!(w.p.metrics().main_storage_losses, 1);
}

/// Bad fault inputs are refused with a reason and change nothing; while
/// the only host is down, invocations are refused for want of room (the
/// analogue of an HTTP 429), and a policy cannot place on it.
#[test]
fn fault_inputs_are_checked_and_a_down_host_takes_nothing() {
    let mut w = World::new(fault_config(1, 4));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    assert_eq!(
        w.refuse(0, Command::HostDown { host: HostId(9) }),
        Refusal::UnknownHost { host: HostId(9) }
    );
    assert_eq!(
        w.refuse(
            0,
            Command::HostUp {
                host: H0,
                disk_kept: true
            }
        ),
        Refusal::HostAlreadyUp { host: H0 }
    );
    assert_eq!(
        w.refuse(0, Command::DownloadFails { image }),
        Refusal::NoDownloadInProgress { image }
    );
    assert_eq!(
        w.refuse(0, Command::CopyFails { host: H0, image }),
        Refusal::NoCopyInProgress { image, host: H0 }
    );
    assert_eq!(
        w.refuse(
            0,
            Command::DownloadFails {
                image: ImageId::from_bits(77)
            }
        ),
        Refusal::UnknownImage {
            image: ImageId::from_bits(77)
        }
    );
    assert_eq!(
        w.step(10, Command::HostDown { host: H0 }),
        vec![host_down(10, H0)]
    );
    assert_eq!(
        w.refuse(20, Command::HostDown { host: H0 }),
        Refusal::HostAlreadyDown { host: H0 }
    );
    let (i, events) = w.invoke(20, f, success(10, 1));
    assert_eq!(
        events,
        vec![
            accepted(20, i, f),
            rejected(20, i, RejectReason::ResourceUnavailable),
        ]
    );
}

/// A policy that always picks host 0.
#[derive(Clone, Debug, PartialEq, Default)]
struct AlwaysHost0;

impl Policies for AlwaysHost0 {
    fn select_host(&mut self, _view: &dyn HostView, _request: &PlacementRequest) -> Option<HostId> {
        Some(H0)
    }
}

/// A policy that places on a host that is down has its decision refused
/// (`HostDown`), and the invocation is refused for want of room; the
/// built-in first fit goes to the host that is up.
#[test]
fn a_decision_for_a_down_host_is_refused() {
    let mut w = World::with(fault_config(2, 4), AlwaysHost0);
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    w.step(0, Command::HostDown { host: H0 });
    let (i, events) = w.invoke(0, f, success(10, 1));
    assert_eq!(
        events,
        vec![
            accepted(0, i, f),
            ev(
                0,
                EventKind::DecisionRefused {
                    invocation: i,
                    host: H0,
                    reason: DecisionError::HostDown
                }
            ),
            rejected(0, i, RejectReason::ResourceUnavailable),
        ]
    );
    let mut w = World::new(fault_config(2, 4));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    w.step(0, Command::HostDown { host: H0 });
    let (i, events) = w.invoke(0, f, success(10, 1));
    assert_eq!(
        events,
        vec![
            accepted(0, i, f),
            cold(0, i, ctr(0), H1, ImageSource::Registry),
            download_started(0, image),
        ]
    );
}

/// A client waiting for an invocation waits through its retry: the wait
/// ends at its real end, not at the crash.
#[test]
fn a_wait_spans_a_retry() {
    let mut w = World::new(fault_config(2, 4));
    let image = w.image(50);
    let f = w.function(image, 100, 10, 10_000);
    let (i, _) = w.invoke(0, f, success(200, 7));
    w.step(70, Command::HostDown { host: H0 });
    let mut events = Vec::new();
    let finished = w.p.wait_for(i, None, &mut events).expect("it ends");
    assert_eq!(
        finished,
        Finished {
            invocation: i,
            ending: Ending {
                at_us: 1_420,
                outcome: EndOutcome::Completed {
                    output: 7,
                    cost_picodollars: SMALL_COST
                }
            }
        }
    );
    w.p.check_invariants().unwrap_or_else(|v| panic!("{v}"));
}

/// The hosts of the cold starts among `events`, in order.
fn cold_start_hosts(events: &[Event]) -> Vec<HostId> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ColdStart { host, .. } => Some(host),
            _ => None,
        })
        .collect()
}

/// Three invocations at once on two roomy hosts: first fit piles them on
/// host 0; round robin and least loaded alternate, so the second one pays
/// for a second copy of the image (to host 1) but runs beside less.
#[test]
fn round_robin_and_least_loaded_spread_what_first_fit_piles_up() {
    for (selection, expected) in [
        (HostSelection::FirstFit, [H0, H0, H0]),
        (HostSelection::RoundRobin, [H0, H1, H0]),
        (HostSelection::LeastLoaded, [H0, H1, H0]),
    ] {
        let policies = Builtin::default().with_host_selection(selection);
        let mut w = World::with(config(2, host_spec(1_000, 4, 1_000), 1_000), policies);
        let image = w.image(50);
        let f = w.function(image, 100, 0, 10_000);
        let mut hosts = Vec::new();
        for _ in 0..3 {
            let (_, events) = w.invoke(0, f, success(10, 1));
            hosts.extend(cold_start_hosts(&events));
        }
        assert_eq!(hosts, expected, "{selection:?}");
        let events = w.advance(1_000);
        let copies = events
            .iter()
            .filter(|e| matches!(e.kind, EventKind::CopyStarted { .. }))
            .count();
        assert_eq!(
            copies,
            if selection == HostSelection::FirstFit {
                1
            } else {
                2
            }
        );
    }
}

/// Room first, the default, against first fit on one story: two hosts of
/// one slot. While host 1 is empty, room first puts b there instead of
/// evicting a's warm container on host 0, so a's next invocation is warm;
/// first fit evicts it. When neither host has room (both hold an idle
/// container), room first falls back to first fit: host 0's idle
/// container is evicted for c.
#[test]
fn room_first_takes_an_empty_host_before_evicting_a_warm_container() {
    for selection in [HostSelection::RoomFirst, HostSelection::FirstFit] {
        let policies = Builtin::default().with_host_selection(selection);
        let mut w = World::with(config(2, host_spec(100, 1, 100), 1_000), policies);
        let (a_img, b_img, c_img) = (w.image(40), w.image(40), w.image(40));
        let fa = w.function(a_img, 100, 0, 100_000);
        let fb = w.function(b_img, 100, 0, 100_000);
        let fc = w.function(c_img, 100, 0, 100_000);
        let (i0, _) = w.invoke(0, fa, success(10, 0));
        assert_eq!(
            w.advance(1_000),
            vec![
                download_finished(40, a_img),
                copy_started(40, a_img, H0),
                copy_finished(80, a_img, H0),
                exec(180, i0, ctr(0)),
                completed(190, i0, 0, SMALL_COST),
                idle(190, ctr(0), 190 + KEEP),
            ]
        );
        let (i1, events) = w.invoke(1_000, fb, success(10, 1));
        if selection == HostSelection::FirstFit {
            // First fit: host 0 fits by evicting a's idle container.
            assert_eq!(
                events,
                vec![
                    accepted(1_000, i1, fb),
                    removed(1_000, ctr(0), H0, RemovalCause::Evicted),
                    cold(1_000, i1, ctr_g(0, 1), H0, ImageSource::Registry),
                    download_started(1_000, b_img),
                ]
            );
            w.advance(2_000);
            // And again for a, whose image is still on host 0's disk;
            // host 1 is never used.
            let (i2, events) = w.invoke(2_000, fa, success(10, 2));
            assert_eq!(
                events,
                vec![
                    accepted(2_000, i2, fa),
                    removed(2_000, ctr_g(0, 1), H0, RemovalCause::Evicted),
                    cold(2_000, i2, ctr_g(0, 2), H0, ImageSource::HostDisk),
                ]
            );
            let m = w.p.metrics();
            assert_eq!((m.warm_starts, m.containers_evicted), (0, 2));
            continue;
        }
        // Room first: host 1 has room, host 0 only by evicting.
        assert_eq!(
            events,
            vec![
                accepted(1_000, i1, fb),
                cold(1_000, i1, ctr(1), H1, ImageSource::Registry),
                download_started(1_000, b_img),
            ]
        );
        assert_eq!(
            w.advance(2_000),
            vec![
                download_finished(1_040, b_img),
                copy_started(1_040, b_img, H1),
                copy_finished(1_080, b_img, H1),
                exec(1_180, i1, ctr(1)),
                completed(1_190, i1, 1, SMALL_COST),
                idle(1_190, ctr(1), 1_190 + KEEP),
            ]
        );
        let (i2, events) = w.invoke(2_000, fa, success(10, 2));
        assert_eq!(
            events,
            vec![accepted(2_000, i2, fa), warm(2_000, i2, ctr(0), H0)]
        );
        assert_eq!(
            w.advance(3_000),
            vec![
                exec(2_010, i2, ctr(0)),
                completed(2_020, i2, 2, SMALL_COST),
                idle(2_020, ctr(0), 2_020 + KEEP),
            ]
        );
        // No host has room: the lowest host that fits, evicting there.
        let (i3, events) = w.invoke(3_000, fc, success(10, 3));
        assert_eq!(
            events,
            vec![
                accepted(3_000, i3, fc),
                removed(3_000, ctr(0), H0, RemovalCause::Evicted),
                cold(3_000, i3, ctr_g(0, 1), H0, ImageSource::Registry),
                download_started(3_000, c_img),
            ]
        );
        let m = w.p.metrics();
        assert_eq!((m.warm_starts, m.containers_evicted), (1, 1));
    }
}

/// Room counts disk held by unused cached images (the placement evicts
/// them, as the kubelet's image collection would) but not by idle
/// containers: host 0 holds a warm container, host 1 only image b, left
/// unused when b's container expired. Room first takes host 1 and evicts
/// image b; first fit takes host 0, evicting the warm container and then
/// image a for the disk.
#[test]
fn room_first_evicts_an_unused_image_rather_than_a_warm_container() {
    for selection in [HostSelection::RoomFirst, HostSelection::FirstFit] {
        let policies = Builtin::default()
            .with_host_selection(selection)
            .with_keep_alive_us(1_000);
        let mut w = World::with(config(2, host_spec(100, 1, 50), 1_000), policies);
        let (a_img, b_img, c_img) = (w.image(40), w.image(40), w.image(40));
        let fa = w.function(a_img, 100, 0, 100_000);
        let fb = w.function(b_img, 100, 0, 100_000);
        let fc = w.function(c_img, 100, 0, 100_000);
        let (i0, _) = w.invoke(0, fa, success(10, 0));
        let (i1, events) = w.invoke(0, fb, success(10, 1));
        assert_eq!(
            events,
            vec![
                accepted(0, i1, fb),
                cold(0, i1, ctr(1), H1, ImageSource::Registry),
                download_started(0, b_img),
            ]
        );
        assert_eq!(
            w.advance(1_000),
            vec![
                download_finished(40, a_img),
                copy_started(40, a_img, H0),
                download_finished(40, b_img),
                copy_started(40, b_img, H1),
                copy_finished(80, a_img, H0),
                copy_finished(80, b_img, H1),
                exec(180, i0, ctr(0)),
                exec(180, i1, ctr(1)),
                completed(190, i0, 0, SMALL_COST),
                idle(190, ctr(0), 1_190),
                completed(190, i1, 1, SMALL_COST),
                idle(190, ctr(1), 1_190),
            ]
        );
        // a is used again, so its container lives on; b's expires.
        let (i2, _) = w.invoke(1_100, fa, success(10, 2));
        assert_eq!(
            w.advance(1_500),
            vec![
                exec(1_110, i2, ctr(0)),
                completed(1_120, i2, 2, SMALL_COST),
                idle(1_120, ctr(0), 2_120),
                removed(1_190, ctr(1), H1, RemovalCause::Expired),
            ]
        );
        let (i3, events) = w.invoke(1_500, fc, success(10, 3));
        let expected = if selection == HostSelection::RoomFirst {
            vec![
                accepted(1_500, i3, fc),
                evicted(1_500, b_img, Tier::Host(H1)),
                cold(1_500, i3, ctr_g(1, 1), H1, ImageSource::Registry),
                download_started(1_500, c_img),
            ]
        } else {
            vec![
                accepted(1_500, i3, fc),
                removed(1_500, ctr(0), H0, RemovalCause::Evicted),
                evicted(1_500, a_img, Tier::Host(H0)),
                cold(1_500, i3, ctr_g(0, 1), H0, ImageSource::Registry),
                download_started(1_500, c_img),
            ]
        };
        assert_eq!(events, expected, "{selection:?}");
    }
}

/// A host short of disk for the image but holding it for a busy container
/// has room for the scratch alone: room first takes it although a lower
/// host has RAM and a slot free, as its disk cannot hold the image.
#[test]
fn room_first_counts_a_held_image_as_room_for_itself() {
    let mut w = World::new(config(2, host_spec(200, 2, 60), 1_000));
    let image = w.image(40);
    let small = w.image(30);
    let f = w.function(image, 100, 10, 100_000);
    let filler = w.function(small, 100, 0, 100_000);
    // A long run of the filler keeps host 0's disk (30 of 60 bytes).
    let (i0, _) = w.invoke(0, filler, success(100_000, 0));
    // Host 0 lacks 50 bytes for f; host 1 takes it and holds the image.
    let (i1, events) = w.invoke(0, f, success(100_000, 1));
    assert_eq!(
        events,
        vec![
            accepted(0, i1, f),
            cold(0, i1, ctr(1), H1, ImageSource::Registry),
            download_started(0, image),
        ]
    );
    // Another f: host 0 has RAM and a slot but not the disk (30 free of
    // the 50 needed); host 1 needs 10 bytes of scratch, and has 10.
    let (i2, events) = w.invoke(10, f, success(10, 2));
    assert_eq!(
        events,
        vec![
            accepted(10, i2, f),
            cold(10, i2, ctr(2), H1, ImageSource::HostCopyInFlight),
        ]
    );
    let _ = i0;
}

/// Seeded random placement replays: the same seed gives the same hosts,
/// and a snapshot taken mid-run carries the draw count, so the restored
/// provider continues with the same choices.
#[test]
fn seeded_random_placement_replays_and_survives_a_snapshot() {
    let run = |seed: u64, cut: Option<usize>| -> Vec<HostId> {
        let policies = Builtin::default().with_host_selection(HostSelection::SeededRandom { seed });
        let mut w = World::with(config(4, host_spec(1_000, 8, 1_000), 1_000), policies);
        let image = w.image(10);
        let f = w.function(image, 10, 0, 10_000);
        let mut hosts = Vec::new();
        for i in 0..12 {
            if cut == Some(i) {
                let json = serde_json::to_string(&w.p).expect("serialize");
                w.p = serde_json::from_str(&json).expect("deserialize");
            }
            let (_, events) = w.invoke(0, f, success(1_000, 1));
            hosts.extend(cold_start_hosts(&events));
        }
        hosts
    };
    let first = run(7, None);
    assert_eq!(first.len(), 12);
    assert_eq!(run(7, None), first);
    assert_eq!(run(7, Some(5)), first);
    assert!(first.iter().any(|&h| h != first[0]), "{first:?}");
    assert_ne!(run(8, None), first);
}

/// The kinds of start (`true` = cold) among `events`, in order.
fn starts(events: &[Event]) -> Vec<bool> {
    events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ColdStart { .. } => Some(true),
            EventKind::WarmStart { .. } => Some(false),
            _ => None,
        })
        .collect()
}

/// The containers evicted and the images evicted from hosts, among `events`.
fn evictions(events: &[Event]) -> (Vec<ContainerId>, Vec<ImageId>) {
    let containers = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ContainerRemoved {
                container,
                cause: RemovalCause::Evicted,
                ..
            } => Some(container),
            _ => None,
        })
        .collect();
    let images = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ImageEvicted {
                image,
                tier: Tier::Host(_),
            } => Some(image),
            _ => None,
        })
        .collect();
    (containers, images)
}

/// A function called every 20 minutes: a fixed 10-minute keep-alive lets
/// every call start cold; the hybrid histogram without pre-warming keeps
/// the first container for its 4-hour fallback, learns the 20-minute idle
/// times from it, then keeps containers to the end of their bin + 10%.
#[test]
fn hybrid_histogram_learns_to_keep_a_periodic_function_warm() {
    const MINUTE: u64 = 60_000_000;
    for policy in [
        KeepAlivePolicy::Fixed,
        KeepAlivePolicy::HybridHistogram(HybridHistogram {
            prewarm_percentile: 0,
            ..HybridHistogram::PAPER
        }),
    ] {
        let policies = Builtin::default().with_keep_alive_policy(policy);
        let mut w = World::with(default_config(), policies);
        let image = w.image(10);
        let f = w.function(image, 100, 0, 10_000);
        let mut kinds = Vec::new();
        let mut expiries = Vec::new();
        for k in 0..4 {
            let (_, events) = w.invoke(k * 20 * MINUTE, f, success(10, k));
            kinds.extend(starts(&events));
            let events = w.advance(k * 20 * MINUTE + 1_000);
            expiries.extend(events.iter().filter_map(|e| match e.kind {
                EventKind::ContainerIdle { expires_at_us, .. } => Some(expires_at_us - e.at_us),
                _ => None,
            }));
        }
        match policy {
            KeepAlivePolicy::Fixed => {
                assert_eq!(kinds, [true; 4]);
                assert_eq!(expiries, [KEEP; 4]);
            }
            _ => {
                assert_eq!(kinds, [true, false, false, false]);
                // The first gap is 110 µs short of 20 minutes (the first
                // call's image transfer and cold start end it later): bin 19,
                // 20 minutes + 10%. The next are 20 minutes exactly: bin 20.
                assert_eq!(
                    expiries,
                    [240 * MINUTE, 1_320_000_000, 1_386_000_000, 1_386_000_000]
                );
            }
        }
    }
}

/// The same function under the paper's policy, pre-warming on: once the
/// histogram has its first idle time (bin 19: the first gap is 110 µs
/// short of 20 minutes), each container is unloaded when its invocation
/// completes and a fresh one is pre-warmed at bin 19's start less 10%
/// (17.1 minutes), kept until bin 19's end plus 10% (22 minutes) after the
/// end. The next call finds it warm: 6 minutes of idle container per
/// call instead of 20.
#[test]
fn hybrid_histogram_unloads_and_prewarms_a_periodic_function() {
    const MINUTE: u64 = 60_000_000;
    let policies = Builtin::default()
        .with_keep_alive_policy(KeepAlivePolicy::HybridHistogram(HybridHistogram::PAPER));
    let mut w = World::with(default_config(), policies);
    let image = w.image(10);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke(0, f, success(10, 0));
    // Cold: 10 µs download, 10 µs copy, 100 µs overhead, 10 µs of code;
    // the first end has no idle time before it: the 4-hour fallback.
    assert_eq!(
        w.advance(1_000)[3..],
        [
            exec(120, inv(0), ctr(0)),
            completed(130, inv(0), 0, SMALL_COST),
            idle(130, ctr(0), 130 + 240 * MINUTE),
        ]
    );
    // Warm at 20 minutes; its end records 20 minutes less 110 µs: bin 19.
    let t1 = 20 * MINUTE;
    let (i1, events) = w.invoke(t1, f, success(10, 1));
    assert_eq!(events, [accepted(t1, i1, f), warm(t1, i1, ctr(0), H0)]);
    let end1 = t1 + WARM + 10;
    let prewarm_at = end1 + 1_026_000_000;
    assert_eq!(
        w.advance(t1 + 1_000),
        [
            exec(t1 + WARM, i1, ctr(0)),
            completed(end1, i1, 1, SMALL_COST),
            removed(end1, ctr(0), H0, RemovalCause::Unloaded),
            ev(
                end1,
                EventKind::PrewarmPlanned {
                    function: f,
                    at_us: prewarm_at
                }
            ),
        ]
    );
    // The pre-warm finds the image on the host's disk: only the overhead.
    assert_eq!(
        w.advance(prewarm_at + COLD),
        [
            ev(
                prewarm_at,
                EventKind::Prewarmed {
                    function: f,
                    container: ctr_g(0, 1),
                    host: H0,
                    image: ImageSource::HostDisk
                }
            ),
            idle(
                prewarm_at + COLD,
                ctr_g(0, 1),
                prewarm_at + COLD + 294_000_000
            ),
        ]
    );
    // The third call is warm on the pre-warmed container, which goes the
    // same way. Its idle time is 20 minutes exactly (bin 20): the 5th
    // percentile stays in bin 19 and the 99th moves to bin 20, so the
    // pre-warm is as before and the window ends at 23.1 minutes.
    let t2 = 40 * MINUTE;
    let (i2, events) = w.invoke(t2, f, success(10, 2));
    assert_eq!(events, [accepted(t2, i2, f), warm(t2, i2, ctr_g(0, 1), H0)]);
    let end2 = t2 + WARM + 10;
    assert_eq!(end2 - end1, 20 * MINUTE);
    assert_eq!(
        w.advance(end2 + 1_026_000_000 + COLD)[2..],
        [
            removed(end2, ctr_g(0, 1), H0, RemovalCause::Unloaded),
            ev(
                end2,
                EventKind::PrewarmPlanned {
                    function: f,
                    at_us: end2 + 1_026_000_000
                }
            ),
            ev(
                end2 + 1_026_000_000,
                EventKind::Prewarmed {
                    function: f,
                    container: ctr_g(0, 2),
                    host: H0,
                    image: ImageSource::HostDisk
                }
            ),
            idle(
                end2 + 1_026_000_000 + COLD,
                ctr_g(0, 2),
                end2 + 1_026_000_000 + COLD + 360_000_000
            ),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (
            m.cold_starts,
            m.warm_starts,
            m.prewarm_warm_starts,
            m.prewarms_planned,
            m.prewarms,
            m.containers_unloaded,
            m.containers_created
        ),
        (1, 2, 1, 2, 2, 2, 3)
    );
}

/// Room for two idle containers; function A's container has served three
/// calls, B's one, more recently. A third function needs room: least
/// recently used evicts A's container; FaasCache's greedy-dual evicts B's,
/// the one used least often for its size.
#[test]
fn greedy_dual_evicts_the_rarely_used_container_where_lru_evicts_the_old_one() {
    for policy in [
        KeepAlivePolicy::Fixed,
        KeepAlivePolicy::GreedyDual { cold_cost_us: COLD },
    ] {
        let policies = Builtin::default().with_keep_alive_policy(policy);
        let mut w = World::with(config(1, host_spec(200, 4, 1_000), 1_000), policies);
        let image = w.image(10);
        let a = w.function(image, 100, 0, 10_000);
        let b = w.function(image, 100, 0, 10_000);
        let c = w.function(image, 100, 0, 10_000);
        for k in 0..3 {
            w.invoke(k * 1_000, a, success(10, k));
            w.advance(k * 1_000 + 500);
        }
        w.invoke(5_000, b, success(10, 9));
        w.advance(6_000);
        let (_, events) = w.invoke(7_000, c, success(10, 10));
        let (containers, _) = evictions(&events);
        let expected = match policy {
            KeepAlivePolicy::Fixed => ctr(0),
            _ => ctr(1),
        };
        assert_eq!(containers, [expected], "{policy:?}");
    }
}

/// A host disk with room for two of three images: image X served three cold
/// starts long ago, Y one lately. Placing Z evicts X under LRU and Y under
/// LFU (and under GDSF, the sizes being equal).
#[test]
fn image_eviction_rules_choose_different_victims() {
    for rule in ImageEviction::ALL {
        let policies = Builtin::default()
            .with_image_eviction(rule)
            .with_keep_alive_us(0);
        let mut w = World::with(config(1, host_spec(1_000, 4, 700), 1_000), policies);
        let x = w.image(300);
        let y = w.image(300);
        let z = w.image(300);
        let fx = w.function(x, 100, 0, 10_000);
        let fy = w.function(y, 100, 0, 10_000);
        let fz = w.function(z, 100, 0, 10_000);
        for k in 0..3 {
            w.invoke(k * 10_000, fx, success(10, k));
            w.advance(k * 10_000 + 5_000);
        }
        w.invoke(40_000, fy, success(10, 4));
        w.advance(45_000);
        let (_, events) = w.invoke(50_000, fz, success(10, 5));
        let (_, images) = evictions(&events);
        let expected = match rule {
            ImageEviction::Lru => vec![x],
            ImageEviction::Lfu | ImageEviction::Gdsf => vec![y],
            // Y's arrival filled the disk to 600 of 700 bytes, past the
            // 85% mark: X was collected then, so Z finds room.
            ImageEviction::KubeletWatermark { .. } => vec![],
        };
        assert_eq!(images, expected, "{rule:?}");
    }
}

/// The kubelet's watermarks (85% / 80%) on both disks of 100 bytes, keep-alive
/// 0 so that every image is unused once its call ends. Images a and b (40
/// bytes each) fill both disks to 80%: under the marks. Image c (10 bytes)
/// brings each disk to 90% as it lands, past the high mark: the least
/// recently used unused image, a, is collected from main storage when c's
/// download finishes and from the host when c's copy arrives, each disk
/// down to 50 bytes (≤ 80). Under LRU, the default, nothing is evicted: c
/// fits.
#[test]
fn kubelet_watermarks_collect_unused_images_past_the_high_mark() {
    for rule in [ImageEviction::Lru, ImageEviction::KUBELET] {
        let policies = Builtin::default()
            .with_image_eviction(rule)
            .with_keep_alive_us(0);
        let mut w = World::with(config(1, host_spec(1_000, 4, 100), 100), policies);
        let (a, b, c) = (w.image(40), w.image(40), w.image(10));
        let fa = w.function(a, 100, 0, 100_000);
        let fb = w.function(b, 100, 0, 100_000);
        let fc = w.function(c, 100, 0, 100_000);
        w.invoke(0, fa, success(10, 0));
        w.advance(1_000);
        w.invoke(1_000, fb, success(10, 1));
        // b lands at 80 bytes on each disk: below 85, nothing collected.
        let events = w.advance(2_000);
        assert!(evictions(&events).1.is_empty(), "{rule:?}: {events:#?}");
        let (i2, events) = w.invoke(2_000, fc, success(10, 2));
        assert_eq!(
            events,
            vec![
                accepted(2_000, i2, fc),
                cold(2_000, i2, ctr_g(0, 2), H0, ImageSource::Registry),
                download_started(2_000, c),
            ],
            "{rule:?}"
        );
        let collection = |at, tier| {
            ev(
                at,
                EventKind::ImageCollection {
                    tier,
                    used_bytes: 90,
                    target_bytes: 80,
                },
            )
        };
        let mut expected = vec![download_finished(2_010, c), copy_started(2_010, c, H0)];
        if rule == ImageEviction::KUBELET {
            expected.extend([
                collection(2_010, Tier::MainStorage),
                evicted(2_010, a, Tier::MainStorage),
            ]);
        }
        expected.push(copy_finished(2_020, c, H0));
        if rule == ImageEviction::KUBELET {
            expected.extend([
                collection(2_020, Tier::Host(H0)),
                evicted(2_020, a, Tier::Host(H0)),
            ]);
        }
        expected.extend([
            exec(2_120, i2, ctr_g(0, 2)),
            completed(2_130, i2, 2, SMALL_COST),
            idle(2_130, ctr_g(0, 2), 2_130),
            removed(2_130, ctr_g(0, 2), H0, RemovalCause::Expired),
        ]);
        assert_eq!(w.advance(3_000), expected, "{rule:?}");
        let evicted_each = u64::from(rule == ImageEviction::KUBELET);
        assert_eq!(w.p.metrics().images_evicted_main, evicted_each);
        assert_eq!(w.p.metrics().images_evicted_host, evicted_each);
    }
}

/// Room for one idle container beside function A's (RAM 200, 100 each is
/// too much for three; A's is 80). A ran three times, so its greedy-dual
/// value is 3 × 100 × 2^20 / 80 = 3.75 units (a unit: one use of a 100-byte
/// container, 2^20); each newcomer runs once (1 unit). Without a clock A
/// would outlive every newcomer. With FaasCache's clock each eviction lifts
/// the clock to the victim's priority, so newcomers enter at 2, 3, then 4
/// units: the fourth eviction (F's cold start) takes A, not E.
#[test]
fn greedy_dual_clock_ages_out_a_once_popular_container() {
    const UNIT: u64 = 1 << 20;
    let policies = Builtin::default()
        .with_keep_alive_policy(KeepAlivePolicy::GreedyDual { cold_cost_us: COLD });
    let mut w = World::with(config(1, host_spec(200, 4, 1_000), 1_000), policies);
    let image = w.image(10);
    let fa = w.function(image, 80, 0, 10_000);
    for k in 0..3 {
        w.invoke(k * 1_000, fa, success(10, k));
        w.advance(k * 1_000 + 500);
    }
    let newcomers: Vec<FunctionId> = (0..5).map(|_| w.function(image, 100, 0, 10_000)).collect();
    let mut victims = Vec::new();
    let mut last = Vec::new();
    for (k, &f) in newcomers.iter().enumerate() {
        let at = 10_000 + k as u64 * 1_000;
        let (_, events) = w.invoke(at, f, success(10, 10 + k as u64));
        victims.extend(evictions(&events).0);
        w.advance(at + 500);
        last = events;
    }
    // A's container is ctr(0); newcomers take slot 1, then reuse it
    // (generation 1, 2, …) as each is evicted; the last one takes A's.
    assert_eq!(victims, [ctr(1), ctr_g(1, 1), ctr_g(1, 2), ctr(0)]);
    let (i, f) = (inv_g(7, 0), newcomers[4]);
    assert_eq!(
        last,
        vec![
            accepted(14_000, i, f),
            removed(14_000, ctr(0), H0, RemovalCause::Evicted),
            cold(14_000, i, ctr_g(0, 1), H0, ImageSource::HostDisk),
        ]
    );
    // The host's clock is the last victim's priority: A's 3.75 units.
    assert_eq!(
        w.p.policies().state.container_clock(H0),
        3 * UNIT * 100 / 80
    );
}

/// GDSF's clock on a host disk of 700 bytes, keep-alive 0 so every copy is
/// evictable once its call ends. Image X (250 bytes) served three cold
/// starts: `3 × 2^50 / 250`, 7.2 units of `2^50 / 600`; each newcomer (300
/// bytes) one: 2 units. Without a clock X would outlive every newcomer.
/// With it, each eviction lifts the disk's clock to the victim's priority,
/// so newcomers enter at 2, 4, 6, then 8 units, and the fourth eviction
/// takes X, not the newcomer before it.
#[test]
fn gdsf_clock_ages_out_a_once_popular_image() {
    let policies = Builtin::default()
        .with_image_eviction(ImageEviction::Gdsf)
        .with_keep_alive_us(0);
    let mut w = World::with(config(1, host_spec(1_000, 4, 700), 10_000), policies);
    let x = w.image(250);
    let fx = w.function(x, 100, 0, 10_000);
    for k in 0..3 {
        w.invoke(k * 10_000, fx, success(10, k));
        w.advance(k * 10_000 + 5_000);
    }
    let newcomers: Vec<(ImageId, FunctionId)> = (0..5)
        .map(|_| {
            let image = w.image(300);
            (image, w.function(image, 100, 0, 10_000))
        })
        .collect();
    let mut victims = Vec::new();
    let mut last = Vec::new();
    for (k, &(_, f)) in newcomers.iter().enumerate() {
        let at = 100_000 + k as u64 * 10_000;
        let (_, events) = w.invoke(at, f, success(10, 10 + k as u64));
        victims.extend(evictions(&events).1);
        w.advance(at + 5_000);
        last = events;
    }
    let images: Vec<ImageId> = newcomers.iter().map(|&(image, _)| image).collect();
    assert_eq!(victims, [images[0], images[1], images[2], x]);
    let (i, f) = (inv(7), newcomers[4].1);
    assert_eq!(
        last,
        vec![
            accepted(140_000, i, f),
            evicted(140_000, x, Tier::Host(H0)),
            cold(140_000, i, ctr_g(0, 7), H0, ImageSource::Registry),
            download_started(140_000, images[4]),
        ]
    );
    // The disk's clock is X's priority; main storage never evicted.
    let policies = &w.p.policies().state;
    assert_eq!(policies.image_clock(Tier::Host(H0)), 3 * (1 << 50) / 250);
    assert_eq!(policies.image_clock(Tier::MainStorage), 0);
}

// ---------------------------------------------------------------------------
// Pre-warming (spec §29)
// ---------------------------------------------------------------------------

/// A policy that unloads every container after its invocation and plans a
/// pre-warm `after_us` later, kept idle `keep_alive_us` once ready; a
/// pre-warm goes to `prewarm_host` if set (any number, to test refusals),
/// else to the first host that fits.
#[derive(Clone, Debug, PartialEq)]
struct AlwaysPrewarm {
    after_us: u64,
    keep_alive_us: u64,
    prewarm_host: Option<HostId>,
}

impl AlwaysPrewarm {
    fn after(after_us: u64) -> AlwaysPrewarm {
        AlwaysPrewarm {
            after_us,
            keep_alive_us: 10_000,
            prewarm_host: None,
        }
    }
}

impl Policies for AlwaysPrewarm {
    fn idle_plan(&mut self, _container: &ContainerFacts) -> IdlePlan {
        IdlePlan {
            keep_alive_us: self.keep_alive_us,
            prewarm_after_us: Some(self.after_us),
        }
    }

    fn select_host(&mut self, view: &dyn HostView, request: &PlacementRequest) -> Option<HostId> {
        match (request.invocation, self.prewarm_host) {
            (None, Some(host)) => Some(host),
            _ => policy::first_fit(view, request),
        }
    }
}

fn prewarm_planned(at: u64, function: FunctionId, due_us: u64) -> Event {
    ev(
        at,
        EventKind::PrewarmPlanned {
            function,
            at_us: due_us,
        },
    )
}

fn prewarmed(at: u64, f: FunctionId, c: ContainerId, host: HostId, image: ImageSource) -> Event {
    ev(
        at,
        EventKind::Prewarmed {
            function: f,
            container: c,
            host,
            image,
        },
    )
}

fn prewarm_skipped(at: u64, function: FunctionId, reason: PrewarmSkip) -> Event {
    ev(at, EventKind::PrewarmSkipped { function, reason })
}

/// Two calls at once: the first ends and plans a pre-warm, which goes idle
/// before the second ends; the second's plan then finds the function warm
/// and is skipped. A call that starts before a planned pre-warm cancels
/// it: no event, the timer is gone, and its own end plans anew.
#[test]
fn a_prewarm_is_skipped_when_warm_and_cancelled_by_a_start() {
    let mut w = World::with(default_config(), AlwaysPrewarm::after(100));
    let image = w.image(10);
    let f = w.function(image, 100, 0, 10_000);
    let (i0, _) = w.invoke(0, f, success(10, 0));
    let (i1, events) = w.invoke(0, f, success(500, 1));
    assert_eq!(
        events,
        [
            accepted(0, i1, f),
            cold(0, i1, ctr(1), H0, ImageSource::HostCopyInFlight)
        ]
    );
    assert_eq!(
        w.advance(800)[4..],
        [
            exec(120, i1, ctr(1)),
            completed(130, i0, 0, SMALL_COST),
            removed(130, ctr(0), H0, RemovalCause::Unloaded),
            prewarm_planned(130, f, 230),
            prewarmed(230, f, ctr_g(0, 1), H0, ImageSource::HostDisk),
            idle(330, ctr_g(0, 1), 10_330),
            completed(620, i1, 1, SMALL_COST),
            removed(620, ctr(1), H0, RemovalCause::Unloaded),
            prewarm_planned(620, f, 720),
            prewarm_skipped(720, f, PrewarmSkip::AlreadyWarm),
        ]
    );
    // Warm on the pre-warmed container; its end plans a pre-warm at 1,120,
    // which the cold start at 1,050 cancels.
    let (i2, events) = w.invoke(1_000, f, success(10, 2));
    assert_eq!(
        events,
        [accepted(1_000, i2, f), warm(1_000, i2, ctr_g(0, 1), H0)]
    );
    assert_eq!(
        w.advance(1_020)[1..],
        [
            completed(1_020, i2, 2, SMALL_COST),
            removed(1_020, ctr_g(0, 1), H0, RemovalCause::Unloaded),
            prewarm_planned(1_020, f, 1_120),
        ]
    );
    let (i3, events) = w.invoke(1_050, f, success(10, 3));
    assert_eq!(
        events,
        [
            accepted(1_050, i3, f),
            cold(1_050, i3, ctr_g(0, 2), H0, ImageSource::HostDisk)
        ]
    );
    assert_eq!(w.p.next_timer_us(), Some(1_150));
    assert_eq!(
        w.advance(1_260)[1..],
        [
            completed(1_160, i3, 3, SMALL_COST),
            removed(1_160, ctr_g(0, 2), H0, RemovalCause::Unloaded),
            prewarm_planned(1_160, f, 1_260),
            prewarmed(1_260, f, ctr_g(0, 3), H0, ImageSource::HostDisk),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (
            m.prewarms_planned,
            m.prewarms,
            m.prewarms_skipped,
            m.prewarm_warm_starts,
            m.containers_unloaded,
            m.cold_starts,
            m.containers_created,
            m.host_cache_hits + m.host_cache_joins + m.host_cache_misses
        ),
        (4, 2, 1, 1, 4, 3, 5, 3)
    );
}

/// A due pre-warm needs room like a cold start, but never takes it from a
/// waiting invocation: one slot, busy with another function, gives
/// `NoHost`; in queue mode, an invocation waiting gives `QueueWaiting`.
#[test]
fn a_prewarm_yields_to_a_full_host_and_to_the_queue() {
    for pressure in [Pressure::Reject, Pressure::Queue { capacity: 4 }] {
        let mut config = config(1, host_spec(1_000, 1, 1_000), 1_000);
        config.pressure = pressure;
        let mut w = World::with(config, AlwaysPrewarm::after(100));
        let image = w.image(10);
        let f = w.function(image, 100, 0, 10_000);
        let g = w.function(image, 100, 0, 10_000);
        w.invoke(0, f, success(10, 0));
        w.advance(130);
        let (_, events) = w.invoke(150, g, success(1_000, 1));
        assert_eq!(
            events[1].kind,
            cold(150, inv(1), ctr_g(0, 1), H0, ImageSource::HostDisk).kind
        );
        let reason = match pressure {
            Pressure::Reject => PrewarmSkip::NoHost,
            Pressure::Queue { .. } => {
                let (i2, events) = w.invoke(200, g, success(10, 2));
                assert_eq!(events, [accepted(200, i2, g), queued(200, i2, 1)]);
                PrewarmSkip::QueueWaiting
            }
        };
        assert_eq!(w.advance(230), [prewarm_skipped(230, f, reason)]);
        assert_eq!(w.p.metrics().prewarms_skipped, 1);
    }
}

/// The policy's host for a pre-warm is checked like any decision: an
/// unknown host, a host that is down, or one without room is refused,
/// counted in `decisions_refused`, and the pre-warm is skipped naming it.
#[test]
fn a_prewarm_on_a_host_that_cannot_take_it_is_refused() {
    for (host, reason) in [
        (HostId(7), DecisionError::UnknownHost),
        (H1, DecisionError::HostDown),
    ] {
        let policy = AlwaysPrewarm {
            prewarm_host: Some(host),
            ..AlwaysPrewarm::after(100)
        };
        let mut w = World::with(config(2, host_spec(1_000, 4, 1_000), 1_000), policy);
        let image = w.image(10);
        let f = w.function(image, 100, 0, 10_000);
        w.invoke(0, f, success(10, 0));
        w.advance(130);
        w.step(200, Command::HostDown { host: H1 });
        assert_eq!(
            w.advance(230),
            [prewarm_skipped(
                230,
                f,
                PrewarmSkip::Refused { host, reason }
            )]
        );
        assert_eq!(w.p.metrics().decisions_refused, 1);
    }
}

/// A pre-warming container holds its room like a cold start's and is lost
/// with its host like one, but has no invocation to retry; one whose
/// image copy is given up is discarded, with no platform failure.
#[test]
fn a_prewarming_container_dies_with_its_host_or_its_transfer() {
    for crash in [true, false] {
        let policy = AlwaysPrewarm {
            prewarm_host: Some(H1),
            ..AlwaysPrewarm::after(100)
        };
        let mut config = config(2, host_spec(1_000, 4, 1_000), 1_000);
        config.retry.attempts_max = 1;
        let mut w = World::with(config, policy);
        let image = w.image(10);
        let f = w.function(image, 100, 0, 10_000);
        w.invoke(0, f, success(10, 0));
        w.advance(130);
        // On host 1 the image is copied from main storage: 10 µs.
        assert_eq!(
            w.advance(230),
            [
                prewarmed(230, f, ctr_g(0, 1), H1, ImageSource::MainStorage),
                copy_started(230, image, H1),
            ]
        );
        let events = if crash {
            w.step(235, Command::HostDown { host: H1 })
        } else {
            w.step(235, Command::CopyFails { host: H1, image })
        };
        let cause = if crash {
            RemovalCause::HostLost
        } else {
            RemovalCause::Discarded
        };
        assert!(
            events.contains(&removed(235, ctr_g(0, 1), H1, cause)),
            "{events:#?}"
        );
        assert!(!events.iter().any(|e| matches!(
            e.kind,
            EventKind::Retrying { .. } | EventKind::PlatformFailed { .. }
        )));
        let m = w.p.metrics();
        assert_eq!((m.containers_now, m.in_flight_now, m.completed), (0, 0, 1));
    }
}

// ---------------------------------------------------------------------------
// Inputs at a later time that name what the timers in between change (R29)
// ---------------------------------------------------------------------------

/// The four-input log that crashed core (issue 15): a `DownloadFails` at a
/// time after the download finished, with nothing in between. It is judged
/// after the timers due by its time fired: refused `NoDownloadInProgress`,
/// carrying the download's end and what followed.
#[test]
fn a_download_fault_after_the_download_ended_is_refused_not_a_crash() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    let (a, _) = w.invoke(0, f, success(10, 1));
    let (advanced, events) = advanced_to(&w.p, 2_000_000);
    assert_eq!(events.first(), Some(&download_finished(50, image)));
    assert_eq!(
        w.refuse(2_000_000, Command::DownloadFails { image }),
        Refusal::NoDownloadInProgress { image }
    );
    assert_eq!(w.p, advanced);
    assert!(matches!(
        w.p.get_state(a),
        Ok(coldstart_core::InvocationState::Ended(_))
    ));
}

/// The same race for a copy: `CopyFails` after the copy ended.
#[test]
fn a_copy_fault_after_the_copy_ended_is_refused_not_a_crash() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke(0, f, success(10, 1));
    assert_eq!(
        w.refuse(2_000_000, Command::CopyFails { host: H0, image }),
        Refusal::NoCopyInProgress { image, host: H0 }
    );
}

/// An input at `t` is `Advance(t)` and then its command (R29): the same
/// events, in the same order, either way, and the same provider.
#[test]
fn an_input_is_an_advance_then_its_command() {
    let (cfg, policies, inputs) = workload();
    let mut whole = Provider::new(cfg.clone(), policies.clone()).expect("valid");
    let mut split = Provider::new(cfg, policies).expect("valid");
    for input in &inputs {
        let mut one: Vec<Event> = Vec::new();
        let r1 = whole.apply(input).map(|a| a.into_vec()).map_err(|r| {
            one.extend(r.events().iter().cloned());
            r.refusal().clone()
        });
        if let Ok(events) = &r1 {
            one.extend(events.iter().cloned());
        }
        let mut two: Vec<Event> = split
            .apply(&Input {
                at_us: input.at_us,
                command: Command::Advance,
            })
            .map(|a| a.into_vec())
            .unwrap_or_default();
        let r2 = split.apply(input).map(|a| a.into_vec()).map_err(|r| {
            assert!(r.events().is_empty(), "timers fired twice");
            r.refusal().clone()
        });
        if let Ok(events) = &r2 {
            two.extend(events.iter().cloned());
        }
        assert_eq!(one, two, "{input:?}");
        assert_eq!(r1.is_ok(), r2.is_ok(), "{input:?}");
        assert_eq!(whole, split);
    }
}

/// `validate` answers what `apply` would (R29): for every input of the
/// seeded workload, refused or not, and for a fault issued after its
/// transfer ended.
#[test]
fn validate_agrees_with_apply() {
    let (cfg, policies, inputs) = workload();
    let mut p = Provider::new(cfg, policies).expect("valid");
    for input in &inputs {
        let judged = p.validate(input);
        let applied = p.apply(input).map(|_| ()).map_err(|r| r.refusal().clone());
        assert_eq!(judged, applied, "{input:?}");
    }
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke(0, f, success(10, 1));
    let late = Input {
        at_us: 2_000_000,
        command: Command::DownloadFails { image },
    };
    assert_eq!(
        w.p.validate(&late),
        Err(Refusal::NoDownloadInProgress { image })
    );
    let now = Input {
        at_us: 0,
        command: Command::DownloadFails { image },
    };
    assert_eq!(w.p.validate(&now), Ok(()));
}

// ---------------------------------------------------------------------------
// Shared bandwidth (R85a–R85d)
// ---------------------------------------------------------------------------

/// The file's world with every link shared fairly among its transfers.
fn shared_config() -> Config {
    default_config().with_bandwidth(Bandwidth::FairShare)
}

/// Only the transfer events (downloads and copies started and finished),
/// in order.
fn transfers(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::DownloadStarted { .. }
                    | EventKind::DownloadFinished { .. }
                    | EventKind::CopyStarted { .. }
                    | EventKind::CopyFinished { .. }
            )
        })
        .copied()
        .collect()
}

/// `n` functions, each with its own image of `size` bytes.
fn functions_with_own_images(w: &mut World, n: u32, size: u64) -> Vec<(ImageId, FunctionId)> {
    (0..n)
        .map(|_| {
            let image = w.image(size);
            (image, w.function(image, 100, 10, 10_000))
        })
        .collect()
}

/// The analytic check: three equal downloads started together on one
/// link each get a third of it and finish together at three times the
/// single time (100 bytes at 1 B/µs: 300 µs, not 100); their three copies
/// then share the host's link the same way (the second and third start at
/// the same µs and re-time the first). With dedicated bandwidth (R85) the
/// same story ends 400 µs sooner.
#[test]
fn equal_transfers_started_together_finish_together_at_n_times_the_single_time() {
    for (bandwidth, download_us, copy_us) in [
        (Bandwidth::FairShare, 300, 300),
        (Bandwidth::Dedicated, 100, 100),
    ] {
        let mut w = World::new(default_config().with_bandwidth(bandwidth));
        let fs = functions_with_own_images(&mut w, 3, 100);
        let mut invocations = Vec::new();
        for (k, &(image, f)) in fs.iter().enumerate() {
            let (i, events) = w.invoke(0, f, success(200, k as u64));
            assert_eq!(
                events,
                vec![
                    accepted(0, i, f),
                    cold(0, i, ctr(k as u32), H0, ImageSource::Registry),
                    download_started(0, image),
                ]
            );
            invocations.push(i);
        }
        let d = download_us;
        let c = d + copy_us;
        let (i0, i1, i2) = (invocations[0], invocations[1], invocations[2]);
        let [(a, _), (b, _), (e, _)] = fs[..] else {
            unreachable!()
        };
        assert_eq!(
            w.advance(10_000),
            vec![
                download_finished(d, a),
                copy_started(d, a, H0),
                download_finished(d, b),
                copy_started(d, b, H0),
                download_finished(d, e),
                copy_started(d, e, H0),
                copy_finished(c, a, H0),
                copy_finished(c, b, H0),
                copy_finished(c, e, H0),
                exec(c + COLD, i0, ctr(0)),
                exec(c + COLD, i1, ctr(1)),
                exec(c + COLD, i2, ctr(2)),
                completed(c + COLD + 200, i0, 0, w_cost(&w, i0)),
                idle(c + COLD + 200, ctr(0), c + COLD + 200 + KEEP),
                completed(c + COLD + 200, i1, 1, w_cost(&w, i1)),
                idle(c + COLD + 200, ctr(1), c + COLD + 200 + KEEP),
                completed(c + COLD + 200, i2, 2, w_cost(&w, i2)),
                idle(c + COLD + 200, ctr(2), c + COLD + 200 + KEEP),
            ]
        );
    }
}

/// What an ended invocation was billed, as its state reports it.
fn w_cost(w: &World, invocation: InvocationId) -> u64 {
    match w.state(invocation) {
        InvocationState::Ended(Ending {
            outcome: EndOutcome::Completed {
                cost_picodollars, ..
            },
            ..
        }) => cost_picodollars,
        other => panic!("{invocation} not completed: {other:?}"),
    }
}

/// n equal transfers on one link, for n from 1 to 8 and an awkward
/// bandwidth (3 B/µs, 10-byte images): all finish at the same µs,
/// `⌈n × 10 / 3⌉`, the single time scaled by n and rounded up once.
#[test]
fn n_equal_downloads_finish_at_n_times_the_single_time_rounded_up_once() {
    for n in 1..=8u64 {
        let mut config = shared_config();
        config.main_storage.download_bytes_per_s = 3 * BW;
        config.hosts[0].slots = 8;
        let mut w = World::new(config);
        let fs = functions_with_own_images(&mut w, n as u32, 10);
        for &(_, f) in &fs {
            w.invoke(0, f, success(200, 0));
        }
        let finished: Vec<Event> = transfers(&w.advance(10_000))
            .into_iter()
            .filter(|e| matches!(e.kind, EventKind::DownloadFinished { .. }))
            .collect();
        let expected: Vec<Event> = fs
            .iter()
            .map(|&(image, _)| download_finished((n * 10).div_ceil(3), image))
            .collect();
        assert_eq!(finished, expected, "n = {n}");
    }
}

/// A download starts while another is half done: the first has 50 bytes
/// left and now half the link, so it ends at 150; the second then has the
/// link alone for its last 50 bytes and ends at 200 — the 200 bytes moved
/// in 200 µs, as on one link they must.
#[test]
fn a_transfer_that_starts_while_another_is_half_done() {
    let mut w = World::new(shared_config());
    let fs = functions_with_own_images(&mut w, 2, 100);
    let [(a, fa), (b, fb)] = fs[..] else {
        unreachable!()
    };
    w.invoke(0, fa, success(200, 0));
    let (_, events) = w.invoke(50, fb, success(200, 0));
    assert_eq!(transfers(&events), vec![download_started(50, b)]);
    assert_eq!(
        transfers(&w.advance(10_000)),
        vec![
            download_finished(150, a),
            copy_started(150, a, H0),
            // b's copy starts at 200 and shares the host's link with a's
            // (50 bytes left of it): a's ends at 300, b's at 350.
            download_finished(200, b),
            copy_started(200, b, H0),
            copy_finished(300, a, H0),
            copy_finished(350, b, H0),
        ]
    );
}

/// Rounding (R85b): progress is rounded down to a millionth of a byte and
/// a completion time up to a µs. On a 3 B/µs feed, a 10-byte download
/// alone would take ⌈10/3⌉ = 4 µs; a second one starts at 1 µs (3 bytes
/// of the first done): the first, 7 bytes left at 1.5 B/µs, is due at
/// 1 + ⌈14/3⌉ = 6; the second at 1 + ⌈20/3⌉ = 8, re-timed at 6 (7.5 bytes
/// done, 2.5 left alone) to 6 + ⌈2.5/3⌉ = 7. Neither finishes before its
/// share allows: the fluid times are 5.67 and 6.67.
#[test]
fn shared_progress_rounds_down_and_completion_times_round_up() {
    let mut config = shared_config();
    config.main_storage.download_bytes_per_s = 3 * BW;
    let mut w = World::new(config);
    let fs = functions_with_own_images(&mut w, 2, 10);
    let [(a, fa), (b, fb)] = fs[..] else {
        unreachable!()
    };
    w.invoke(0, fa, success(200, 0));
    w.invoke(1, fb, success(200, 0));
    let events = transfers(&w.advance(7));
    assert_eq!(
        events,
        vec![
            download_finished(6, a),
            copy_started(6, a, H0),
            download_finished(7, b),
            copy_started(7, b, H0),
        ]
    );
}

/// A download fails mid-share (R85d): the other one on the feed is charged
/// its half-rate progress and re-timed to the whole feed. Both start at 0
/// (100 bytes each, due at 200); a fails at 60 (30 bytes of each done),
/// so b, 70 bytes left alone, ends at 130. a's retry (at 1,060) has the
/// feed alone again.
#[test]
fn a_download_that_fails_mid_share_re_times_the_other() {
    let mut w = World::new(fault_config(1, 4).with_bandwidth(Bandwidth::FairShare));
    let fs = functions_with_own_images(&mut w, 2, 100);
    let [(a, fa), (b, fb)] = fs[..] else {
        unreachable!()
    };
    w.invoke(0, fa, success(200, 0));
    w.invoke(0, fb, success(200, 0));
    assert_eq!(
        w.step(60, Command::DownloadFails { image: a }),
        vec![download_failed(60, a, 1, true)]
    );
    assert_eq!(
        transfers(&w.advance(5_000)),
        vec![
            download_finished(130, b),
            copy_started(130, b, H0),
            copy_finished(230, b, H0),
            download_started(1_060, a),
            download_finished(1_160, a),
            copy_started(1_160, a, H0),
            copy_finished(1_260, a, H0),
        ]
    );
}

/// A copy fails mid-share (R85d): two copies to one host, 100 bytes each,
/// start at 200 (their downloads shared the feed); b's fails at 260 (30
/// bytes of each done), so a's, 70 bytes left with the link alone, ends at
/// 330 instead of 400.
#[test]
fn a_copy_that_fails_mid_share_re_times_the_other() {
    let mut w = World::new(fault_config(1, 4).with_bandwidth(Bandwidth::FairShare));
    let fs = functions_with_own_images(&mut w, 2, 100);
    let [(a, fa), (b, fb)] = fs[..] else {
        unreachable!()
    };
    w.invoke(0, fa, success(200, 0));
    w.invoke(0, fb, success(200, 0));
    assert_eq!(
        transfers(&w.advance(250)),
        vec![
            download_finished(200, a),
            copy_started(200, a, H0),
            download_finished(200, b),
            copy_started(200, b, H0),
        ]
    );
    assert_eq!(
        w.step(260, Command::CopyFails { host: H0, image: b }),
        vec![copy_failed(260, b, H0, 1, true)]
    );
    assert_eq!(
        transfers(&w.advance(5_000)),
        vec![
            copy_finished(330, a, H0),
            copy_started(1_260, b, H0),
            copy_finished(1_360, b, H0),
        ]
    );
}

/// A host goes down mid-share: every copy on its link ends with it, and
/// the copies to the other host keep their own link's timing (each host's
/// link is its own). Two hosts, two images; both downloads share the feed
/// (land at 200), then host 0 copies a and host 1 copies b at full rate
/// each; host 0 dies at 250; host 1's copy ends at 300 as it would have.
/// After host 0 comes back, a copy to it has its link alone.
#[test]
fn a_host_that_goes_down_mid_share_takes_its_copies_and_leaves_other_links_alone() {
    let mut config = fault_config(2, 4).with_bandwidth(Bandwidth::FairShare);
    config.hosts[0].slots = 1;
    let mut w = World::new(config);
    let fs = functions_with_own_images(&mut w, 2, 100);
    let [(a, fa), (b, fb)] = fs[..] else {
        unreachable!()
    };
    w.invoke(0, fa, success(200, 0));
    let (_, events) = w.invoke(0, fb, success(200, 0));
    assert_eq!(
        events[1],
        cold(0, inv(1), ctr(1), H1, ImageSource::Registry)
    );
    assert_eq!(
        transfers(&w.advance(250)),
        vec![
            download_finished(200, a),
            copy_started(200, a, H0),
            download_finished(200, b),
            copy_started(200, b, H1),
        ]
    );
    w.step(250, Command::HostDown { host: H0 });
    let events = w.advance(320);
    assert_eq!(transfers(&events), vec![copy_finished(300, b, H1)]);
    w.step(
        400,
        Command::HostUp {
            host: H0,
            disk_kept: false,
        },
    );
    // a's invocation retries at 1,250 and finds host 0 back, slot free.
    assert_eq!(
        transfers(&w.advance(5_000)),
        vec![copy_started(1_250, a, H0), copy_finished(1_350, a, H0)]
    );
}

// ---------------------------------------------------------------------------
// Per-container concurrency (R57a, R57b, R89a)
// ---------------------------------------------------------------------------

impl<P: Policies + std::fmt::Debug + PartialEq> World<P> {
    /// Registers a function whose containers run up to `concurrency`
    /// invocations at once.
    fn function_c(
        &mut self,
        image: ImageId,
        memory: u64,
        limit: u64,
        concurrency: u32,
    ) -> FunctionId {
        let at = self.now();
        let def = FunctionDef::new(image, memory, limit).with_concurrency(concurrency);
        let events = self.step(at, Command::RegisterFunction(def));
        let [Event {
            kind: EventKind::FunctionRegistered { function, .. },
            ..
        }] = events[..]
        else {
            panic!("unexpected events {events:#?}");
        };
        function
    }
}

/// A concurrency of 0 or above the limit is refused, in R40's order.
#[test]
fn concurrency_out_of_range_is_refused() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let def = FunctionDef::new(image, 100, 10_000);
    assert_eq!(
        w.refuse(
            0,
            Command::RegisterFunction(def.clone().with_concurrency(0))
        ),
        Refusal::Zero {
            field: "concurrency".into()
        }
    );
    assert_eq!(
        w.refuse(
            0,
            Command::RegisterFunction(def.clone().with_concurrency(1_001))
        ),
        Refusal::TooLarge {
            field: "concurrency".into(),
            value: 1_001,
            max: u64::from(limits::CONCURRENCY_MAX)
        }
    );
    // A zero memory is named before the concurrency.
    let zero_memory = FunctionDef::new(image, 0, 10_000).with_concurrency(0);
    assert_eq!(
        w.refuse(0, Command::RegisterFunction(zero_memory)),
        Refusal::Zero {
            field: "memory_bytes".into()
        }
    );
    w.function_c(image, 100, 10_000, limits::CONCURRENCY_MAX);
}

/// Concurrency 2: the second invocation joins the first's container while
/// it starts (a warm start, run when the container is ready); the third
/// finds it full and starts cold. Later a fourth joins the running
/// container rather than waking the idle one (R57b's defaults), starting
/// its code at once; the container goes idle when its last invocation
/// leaves, and its keep-alive counts from then.
#[test]
fn invocations_join_a_starting_then_a_running_container() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function_c(image, 100, 10_000, 2);
    let (a, _) = w.invoke(0, f, success(500, 1));
    let (b, events) = w.invoke(10, f, success(100, 2));
    assert_eq!(events, vec![accepted(10, b, f), warm(10, b, ctr(0), H0)]);
    let (c, events) = w.invoke(20, f, success(100, 3));
    assert_eq!(
        events,
        vec![
            accepted(20, c, f),
            cold(20, c, ctr(1), H0, ImageSource::HostCopyInFlight),
        ]
    );
    assert_eq!(
        w.advance(350),
        vec![
            download_finished(50, image),
            copy_started(50, image, H0),
            copy_finished(100, image, H0),
            exec(200, a, ctr(0)),
            exec(200, b, ctr(0)),
            exec(200, c, ctr(1)),
            completed(300, b, 2, SMALL_COST),
            completed(300, c, 3, SMALL_COST),
            idle(300, ctr(1), 300 + KEEP),
        ]
    );
    // ctr#0 still runs a (one of two): d joins it, not the idle ctr#1.
    let (d, events) = w.invoke(400, f, success(100, 4));
    assert_eq!(
        events,
        vec![
            accepted(400, d, f),
            warm(400, d, ctr(0), H0),
            exec(400, d, ctr(0)),
        ]
    );
    assert_eq!(
        w.advance(1_000),
        vec![
            completed(500, d, 4, SMALL_COST),
            completed(700, a, 1, SMALL_COST),
            idle(700, ctr(0), 700 + KEEP),
        ]
    );
    let m = w.p.metrics();
    assert_eq!((m.cold_starts, m.warm_starts), (2, 2));
    assert_eq!((m.joins_starting, m.joins_running), (1, 1));
    assert_eq!(m.containers_created, 2);
}

/// A failed invocation retires its container (R89a): the co-runner
/// finishes, no invocation joins meanwhile, and the container is discarded
/// when the last leaves.
#[test]
fn a_failure_retires_a_shared_container_after_its_last_invocation() {
    let mut w = World::new(default_config());
    let image = w.image(50);
    let f = w.function_c(image, 100, 10_000, 3);
    let (a, _) = w.invoke(0, f, success(500, 1));
    let (b, _) = w.invoke(0, f, failure(0, 0, 100, Phase::Run));
    let events = w.advance(350);
    // b fails at 300; its container stays, for a.
    assert_eq!(
        events[events.len() - 3..],
        [
            exec(200, a, ctr(0)),
            exec(200, b, ctr(0)),
            failed(300, b, Phase::Run, SMALL_COST),
        ]
    );
    let (c, events) = w.invoke(400, f, success(100, 3));
    assert_eq!(
        events,
        vec![
            accepted(400, c, f),
            cold(400, c, ctr(1), H0, ImageSource::HostDisk),
        ]
    );
    let events = w.advance(1_000);
    assert_eq!(
        events,
        vec![
            exec(500, c, ctr(1)),
            completed(600, c, 3, SMALL_COST),
            idle(600, ctr(1), 600 + KEEP),
            completed(700, a, 1, SMALL_COST),
            removed(700, ctr(0), H0, RemovalCause::Discarded),
        ]
    );
    assert_eq!(w.p.metrics().containers_discarded, 1);
}

// ---------------------------------------------------------------------------
// Minimum scale: the warm floor (spec §30)
// ---------------------------------------------------------------------------

fn floor_placed(at: u64, f: FunctionId, c: ContainerId, host: HostId, image: ImageSource) -> Event {
    ev(
        at,
        EventKind::FloorPlaced {
            function: f,
            container: c,
            host,
            image,
        },
    )
}

fn floor_short(at: u64, function: FunctionId, missing: u32, reason: PrewarmSkip) -> Event {
    ev(
        at,
        EventKind::FloorShort {
            function,
            missing,
            reason,
        },
    )
}

fn reserved(at: u64, container: ContainerId) -> Event {
    ev(at, EventKind::ContainerReserved { container })
}

impl<P: Policies + std::fmt::Debug + PartialEq> World<P> {
    /// Registers a function of 100 bytes of RAM, no scratch and a 10 ms
    /// limit with a floor of `min_scale`; returns it and the events.
    fn floor_function(&mut self, image: ImageId, min_scale: u32) -> (FunctionId, Vec<Event>) {
        let at = self.now();
        let def = FunctionDef::new(image, 100, 10_000).with_min_scale(min_scale);
        let events = self.step(at, Command::RegisterFunction(def));
        let EventKind::FunctionRegistered { function, .. } = events[0].kind else {
            panic!("unexpected events {events:#?}");
        };
        (function, events)
    }
}

/// R161–R163: registration places the floor (two containers on host 0, the
/// first fetching the image, the second joining its copy); once ready they
/// are Reserved. An invocation takes the newest warm, at the provisioned
/// price, and gives it back Reserved (no keep-alive). A crash of host 0
/// takes both; the same step places the floor again on host 1.
#[test]
fn a_min_scale_floor_is_placed_held_and_replaced() {
    let mut w = World::new(config(2, host_spec(1_000, 4, 1_000), 1_000));
    let image = w.image(10);
    let (f, events) = w.floor_function(image, 2);
    assert_eq!(
        events,
        [
            ev(0, EventKind::FunctionRegistered { function: f, image }),
            floor_placed(0, f, ctr(0), H0, ImageSource::Registry),
            ev(0, EventKind::DownloadStarted { image }),
            floor_placed(0, f, ctr(1), H0, ImageSource::HostCopyInFlight),
        ]
    );
    assert_eq!(
        w.advance(150),
        [
            ev(10, EventKind::DownloadFinished { image }),
            ev(10, EventKind::CopyStarted { image, host: H0 }),
            ev(20, EventKind::CopyFinished { image, host: H0 }),
            reserved(120, ctr(0)),
            reserved(120, ctr(1)),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (
            m.floors_placed,
            m.floor_containers_now,
            m.reserved_containers_now,
            m.idle_containers_now,
            m.busy_containers_now,
            m.cold_starts,
            m.prewarms
        ),
        (2, 2, 2, 2, 0, 0, 0)
    );
    // Two containers of 100 bytes for 150 µs.
    assert_eq!(m.floor_byte_us, 2 * 100 * 150);
    let (i0, events) = w.invoke(200, f, success(50, 7));
    assert_eq!(events, [accepted(200, i0, f), warm(200, i0, ctr(1), H0)]);
    // 100 bytes for 1 ms at the provisioned duration price rounds up to
    // 1 pd, plus the request.
    assert_eq!(
        w.advance(300),
        [
            exec(210, i0, ctr(1)),
            completed(260, i0, 7, 200_001),
            reserved(260, ctr(1)),
        ]
    );
    assert_eq!(w.p.metrics().floor_warm_starts, 1);
    assert_eq!(w.p.metrics().prewarm_warm_starts, 0);
    assert_eq!(
        w.step(400, Command::HostDown { host: H0 }),
        [
            ev(400, EventKind::HostDown { host: H0 }),
            removed(400, ctr(0), H0, RemovalCause::HostLost),
            removed(400, ctr(1), H0, RemovalCause::HostLost),
            floor_placed(400, f, ctr_g(1, 1), H1, ImageSource::MainStorage),
            ev(400, EventKind::CopyStarted { image, host: H1 }),
            floor_placed(400, f, ctr_g(0, 1), H1, ImageSource::HostCopyInFlight),
        ]
    );
    assert_eq!(
        w.advance(1_000),
        [
            ev(410, EventKind::CopyFinished { image, host: H1 }),
            reserved(510, ctr_g(1, 1)),
            reserved(510, ctr_g(0, 1)),
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (m.floors_placed, m.containers_lost, m.floor_shorts),
        (4, 2, 0)
    );
    // The floor's time: 2 × 100 bytes from 0 to 400, and again from 400
    // to 1,000.
    assert_eq!(m.floor_byte_us, 2 * 100 * 1_000);
    assert_eq!(
        w.p.provisioned_cost_picodollars(),
        (2 * 100 * 1_000 * 4_166_700u128).div_ceil((1 << 30) * 1_000_000)
    );
    // A floor never expires: nothing is pending.
    assert_eq!(w.p.next_timer_us(), None);
}

/// R161: a floor that finds no room is short (`FloorShort`, `NoHost`) and
/// is placed at the next `DRAIN` that frees room — here the end of another
/// function's invocation, whose idle container is evicted for it. A floor
/// container is never evicted for another function's cold start: that
/// invocation is rejected instead.
#[test]
fn a_short_floor_is_placed_when_room_frees_and_is_never_evicted() {
    let mut w = World::new(config(1, host_spec(1_000, 1, 1_000), 1_000));
    let image = w.image(10);
    let g = w.function(image, 100, 0, 10_000);
    let (i0, _) = w.invoke(0, g, success(100, 0));
    let (f, events) = w.floor_function(image, 1);
    assert_eq!(
        events,
        [
            ev(0, EventKind::FunctionRegistered { function: f, image }),
            floor_short(0, f, 1, PrewarmSkip::NoHost),
        ]
    );
    w.p.check_floor_held().unwrap();
    assert_eq!(
        w.advance(300)[3..],
        [
            exec(120, i0, ctr(0)),
            completed(220, i0, 0, SMALL_COST),
            idle(220, ctr(0), 220 + KEEP),
            removed(220, ctr(0), H0, RemovalCause::Evicted),
            floor_placed(220, f, ctr_g(0, 1), H0, ImageSource::HostDisk),
        ]
    );
    assert_eq!(w.advance(320), [reserved(320, ctr_g(0, 1))]);
    let (i1, events) = w.invoke(400, g, success(100, 1));
    assert_eq!(
        events,
        [
            accepted(400, i1, g),
            rejected(400, i1, RejectReason::ResourceUnavailable)
        ]
    );
    let m = w.p.metrics();
    assert_eq!(
        (m.floor_shorts, m.floors_placed, m.containers_evicted),
        (1, 1, 1)
    );
}

/// R163.5: an invocation that fails on a floor container discards it; the
/// same step's `DRAIN` places a new one. A queued invocation has the room
/// first: with one slot and the queue waiting, the floor waits
/// (`QueueWaiting` at registration) until the queue is empty.
#[test]
fn a_failed_floor_container_is_replaced_and_the_queue_goes_first() {
    let mut config = config(1, host_spec(1_000, 1, 1_000), 1_000);
    config.pressure = Pressure::Queue { capacity: 4 };
    let mut w = World::new(config);
    let image = w.image(10);
    let (f, _) = w.floor_function(image, 1);
    w.advance(200);
    let (i0, events) = w.invoke(200, f, failure(0, 0, 30, Phase::Run));
    assert_eq!(events, [accepted(200, i0, f), warm(200, i0, ctr(0), H0)]);
    assert_eq!(
        w.advance(300),
        [
            exec(210, i0, ctr(0)),
            failed(240, i0, Phase::Run, 200_001),
            removed(240, ctr(0), H0, RemovalCause::Discarded),
            floor_placed(240, f, ctr_g(0, 1), H0, ImageSource::HostDisk),
        ]
    );
    // The floor holds the only slot for good: g's invocation waits, and a
    // floor registered now finds the queue waiting.
    let g = w.function(image, 100, 0, 10_000);
    let (i1, events) = w.invoke(300, g, success(10, 1));
    assert_eq!(events, [accepted(300, i1, g), queued(300, i1, 1)]);
    let (h, events) = w.floor_function(image, 1);
    assert_eq!(
        events[1..],
        [floor_short(300, h, 1, PrewarmSkip::QueueWaiting)]
    );
    w.p.check_floor_held().unwrap();
}

// ---------------------------------------------------------------------------
// The autoscaler (spec §31)
// ---------------------------------------------------------------------------

fn scaled(at: u64, function: FunctionId, containers: u32, desired: u32) -> Event {
    ev(
        at,
        EventKind::Scaled {
            function,
            containers,
            desired,
        },
    )
}

/// Knative's rule on a small clock: ticks of 1 ms, a stable window of 10
/// ticks, a panic window of 1, 30 ms of grace... scaled down to 3 ms;
/// Knative's 70% target, 200% panic threshold and rates.
fn small_kpa() -> Builtin {
    Builtin::default().with_autoscaler(Autoscaler::Kpa(Kpa {
        stable_window_us: 10_000,
        panic_window_us: 1_000,
        scale_to_zero_grace_us: 3_000,
        ..Kpa::KNATIVE
    }))
}

/// Example 7 of the spec. A burst of three calls on a function whose
/// containers take 1.5 ms to start: at the first tick none is ready and
/// three are in flight, ⌈3 / 0.7⌉ = 5 ≥ 2 × 1, so the rule panics and
/// wants 5: two pre-warms. While it panics it never scales down, though
/// the calls end at 3.82 ms; panic ends more than a stable window after
/// it last held (12 ms), and the count falls by at most half a tick (5 →
/// 2 → 1, the oldest idle container first), then to 0 after 3 ms of grace
/// at 0; with nothing left the timer stops.
#[test]
fn the_kpa_rule_panics_on_a_burst_then_scales_down_to_zero() {
    let config = config(1, host_spec(1_000, 10, 1_000), 1_000).with_autoscale_tick_us(Some(1_000));
    let mut w = World::with(config, small_kpa());
    let image = w.image(10);
    let def = FunctionDef::new(image, 100, 100_000).with_cold_start_us(1_500);
    let events = w.step(0, Command::RegisterFunction(def));
    assert_eq!(
        events,
        [ev(
            0,
            EventKind::FunctionRegistered {
                function: fun(0),
                image
            }
        )]
    );
    let f = fun(0);
    let calls: Vec<InvocationId> = (0..3)
        .map(|i| w.invoke(0, f, success(2_300, i)).0)
        .collect();
    assert_eq!(w.p.next_timer_us(), Some(10));
    let events = w.advance(1_000);
    let tail = events.len() - 3;
    assert_eq!(
        events[tail..],
        [
            scaled(1_000, f, 3, 5),
            prewarmed(1_000, f, ctr(3), H0, ImageSource::HostDisk),
            prewarmed(1_000, f, ctr(4), H0, ImageSource::HostDisk),
        ]
    );
    assert!(w.p.policies().autoscale_state.in_panic(f));
    // Ready at 1,520 and 2,500; the calls end at 3,820. Ticks 2,000 to
    // 11,000 want 5, as many as there are: no event.
    let [c0, c1, c2] = [0, 1, 2].map(ctr);
    let events = w.advance(11_999);
    assert_eq!(
        events,
        [
            exec(1_520, calls[0], c0),
            exec(1_520, calls[1], c1),
            exec(1_520, calls[2], c2),
            idle(2_500, ctr(3), 2_500 + KEEP),
            idle(2_500, ctr(4), 2_500 + KEEP),
            completed(3_820, calls[0], 0, SMALL_COST),
            idle(3_820, c0, 3_820 + KEEP),
            completed(3_820, calls[1], 1, SMALL_COST),
            idle(3_820, c1, 3_820 + KEEP),
            completed(3_820, calls[2], 2, SMALL_COST),
            idle(3_820, c2, 3_820 + KEEP),
        ]
    );
    assert!(w.p.policies().autoscale_state.in_panic(f));
    // Panic held last at 1,000: at 12,000 it ends. The stable window
    // (3,000 to 12,000) holds 5,460 invocation·µs: ⌈0.55 / 0.7⌉ = 1, but
    // one tick may only halve the 5 ready: 2. At 13,000, 1; at 14,000 the
    // count is 0, kept at 1 for the grace, and 0 at 17,000.
    let scaled_down = |at, c| removed(at, c, H0, RemovalCause::ScaledDown);
    assert_eq!(
        w.advance(20_000),
        [
            scaled(12_000, f, 5, 2),
            scaled_down(12_000, c0),
            scaled_down(12_000, c1),
            scaled_down(12_000, c2),
            scaled(13_000, f, 2, 1),
            scaled_down(13_000, ctr(3)),
            scaled(17_000, f, 1, 0),
            scaled_down(17_000, ctr(4)),
        ]
    );
    assert!(!w.p.policies().autoscale_state.in_panic(f));
    assert_eq!(w.p.next_timer_us(), None, "nothing to watch: no tick");
    let m = w.p.metrics();
    assert_eq!(
        (
            m.autoscale_decisions,
            m.autoscale_prewarms,
            m.prewarms,
            m.containers_scaled_down,
            m.containers_created,
            m.cold_starts
        ),
        (4, 2, 2, 5, 5, 3)
    );
    // A new call arms the timer at the next multiple of the period.
    w.invoke(20_500, f, success(10, 9));
    assert_eq!(w.p.next_timer_us(), Some(21_000));
}

/// R169 with a floor (R159): the desired count is never below
/// `min_scale`, and the floor container (Reserved when idle) is never
/// scaled down. A floor of one takes the first of a burst of three calls,
/// two cold starts the others; the rule scales down to one — the floor —
/// and no `Scaled` ever asks for fewer (after the grace the rule answers
/// 0, which the floor raises to 1: no event).
#[test]
fn the_autoscaler_scales_down_to_the_floor_and_never_removes_it() {
    let config = config(1, host_spec(1_000, 10, 1_000), 1_000).with_autoscale_tick_us(Some(1_000));
    let mut w = World::with(config, small_kpa());
    let image = w.image(10);
    let (f, _) = w.floor_function(image, 1);
    let mut events = w.advance(500);
    assert_eq!(events.last(), Some(&reserved(120, ctr(0))));
    for i in 0..3 {
        events.extend(w.invoke(500, f, success(2_300, i)).1);
    }
    events.extend(w.advance(40_000));
    let scaled: Vec<(u32, u32)> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Scaled {
                containers,
                desired,
                ..
            } => Some((containers, desired)),
            _ => None,
        })
        .collect();
    assert_eq!(scaled.last().map(|&(_, d)| d), Some(1), "{scaled:?}");
    assert!(scaled.iter().all(|&(_, d)| d >= 1), "{scaled:?}");
    let scaled_down: Vec<ContainerId> = events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::ContainerRemoved {
                container,
                cause: RemovalCause::ScaledDown,
                ..
            } => Some(container),
            _ => None,
        })
        .collect();
    assert!(!scaled_down.is_empty());
    assert!(!scaled_down.contains(&ctr(0)), "{scaled_down:?}");
    let m = w.p.metrics();
    assert_eq!(
        (
            m.containers_now,
            m.floor_containers_now,
            m.reserved_containers_now
        ),
        (1, 1, 1)
    );
    assert_eq!(w.p.next_timer_us(), None, "the floor has no timer");
}

/// With no period configured, a policy's desired count is never asked:
/// the same burst runs exactly as without an autoscaler, with no timer
/// left at the end but keep-alives.
#[test]
fn without_a_tick_the_autoscaler_is_never_asked() {
    let run = |policies: Builtin| {
        let mut w = World::with(config(1, host_spec(1_000, 10, 1_000), 1_000), policies);
        let image = w.image(10);
        let f = w.function(image, 100, 0, 100_000);
        let mut events = Vec::new();
        for i in 0..3 {
            events.extend(w.invoke(0, f, success(2_300, i)).1);
        }
        events.extend(w.advance(20_000));
        (events, w.p.next_timer_us(), w.p.metrics().clone())
    };
    assert_eq!(run(small_kpa()), run(Builtin::default()));
}

// ---------------------------------------------------------------------------
// Shared CPU (R85f–R85k)
// ---------------------------------------------------------------------------

/// The file's world with `cores_millis` of CPU on its one host, shared by
/// processor sharing, and `slots` slots.
fn cpu_config(cores_millis: u64, slots: u32) -> Config {
    let host = host_spec(1_000, slots, 1_000).with_cores_millis(cores_millis);
    config(1, host, 1_000).with_cpu(Cpu::ProcessorSharing)
}

/// Only the execution and end events (`ExecutionStarted`, `Completed`,
/// `Failed`, `TimedOut`), in order.
fn runs(events: &[Event]) -> Vec<Event> {
    events
        .iter()
        .filter(|e| {
            matches!(
                e.kind,
                EventKind::ExecutionStarted { .. }
                    | EventKind::Completed { .. }
                    | EventKind::Failed { .. }
                    | EventKind::TimedOut { .. }
            )
        })
        .copied()
        .collect()
}

/// `n` invocations of `function` at time 0, each cold in its own container:
/// one download and one copy of the 100-byte image (100 µs each), a cold
/// start of 100 µs, so every code begins at 300.
fn invoke_together(w: &mut World, function: FunctionId, codes: &[Code]) -> Vec<InvocationId> {
    codes
        .iter()
        .map(|&code| w.invoke(0, function, code).0)
        .collect()
}

/// The cost a run of `code_us` of code time is billed (cold, 100 MB-ish
/// function of this file), read from a dedicated-CPU run of that length.
fn cost_of(code_us: u64) -> u64 {
    let mut w = World::new(default_config());
    let image = w.image(100);
    let f = w.function(image, 100, 10, 100_000);
    let (i, _) = w.invoke(0, f, success(code_us, 0));
    let events = w.advance(100_000);
    events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Completed {
                invocation,
                cost_picodollars,
                ..
            } if invocation == i => Some(cost_picodollars),
            _ => None,
        })
        .expect("completed")
}

/// The analytic check (R85k(3)): three runs of 200 µs begun together on one
/// core each get a third of it and end together at three times the single
/// time (600 µs, not 200), in the order they began; billed for the wall time
/// they ran. With dedicated CPU (or enough cores) they end after 200.
#[test]
fn equal_runs_begun_together_on_one_core_end_together_at_n_times_the_single_time() {
    for (config, run_us) in [
        (cpu_config(1_000, 4), 600),
        (cpu_config(3_000, 4), 200),
        (
            default_config()
                .with_host_specs(vec![host_spec(1_000, 4, 1_000).with_cores_millis(1_000)]),
            200,
        ),
    ] {
        let mut w = World::new(config);
        let image = w.image(100);
        let f = w.function(image, 100, 10, 100_000);
        let is = invoke_together(
            &mut w,
            f,
            &[success(200, 0), success(200, 1), success(200, 2)],
        );
        let cost = cost_of(run_us);
        assert_eq!(
            runs(&w.advance(10_000)),
            vec![
                exec(300, is[0], ctr(0)),
                exec(300, is[1], ctr(1)),
                exec(300, is[2], ctr(2)),
                completed(300 + run_us, is[0], 0, cost),
                completed(300 + run_us, is[1], 1, cost),
                completed(300 + run_us, is[2], 2, cost),
            ]
        );
    }
}

/// A run begins while another is under way (R85h): on one core, a's 1,000
/// µs begin at 300; b, invoked at 500, cold starts in a second container
/// and begins at 600, when a has 700 left. Both then run at half speed: a
/// ends at 2,000, when b has done 700 of its 1,000 and ends alone at 2,300.
/// `get_state` reports b's phase by its work done, not its wall time.
#[test]
fn a_run_that_begins_while_another_is_half_done_slows_it_from_then_on() {
    let mut w = World::new(cpu_config(1_000, 4));
    let image = w.image(100);
    let f = w.function(image, 100, 10, 100_000);
    let a = invoke_together(&mut w, f, &[success(1_000, 0)])[0];
    let (b, events) = w.invoke(
        500,
        f,
        Code {
            clone_us: 100,
            build_us: 100,
            run_us: 800,
            outcome: Outcome::Success { output: 1 },
        },
    );
    assert_eq!(runs(&events), vec![exec(300, a, ctr(0))]);
    // b cold starts in its own container (a's is busy): its image is on
    // the host, so it begins at 600 after the 100 µs overhead.
    assert_eq!(runs(&w.advance(600)), vec![exec(600, b, ctr(1))]);
    // At 800 b has done 100 µs of work (200 µs at half speed): Build.
    w.advance(800);
    let InvocationState::Running { phase, .. } = w.state(b) else {
        panic!("{:?}", w.state(b))
    };
    assert_eq!(phase, Phase::Build);
    // a: 300 done alone by 600, 700 left at half speed → ends at 2,000;
    // b: 700 done by then, 300 left alone → ends at 2,300.
    assert_eq!(
        runs(&w.advance(10_000)),
        vec![
            completed(2_000, a, 0, cost_of(1_700)),
            completed(2_300, b, 1, cost_of(1_700)),
        ]
    );
}

/// A time-out under stretch (R85i): two runs of 1,000 µs begun at 300 with
/// a limit of 1,500 on one core would each end at 2,300; both time out at
/// their limit, 1,800, billed for it (alone each would complete at 1,300).
#[test]
fn a_run_stretched_past_its_time_limit_times_out_at_the_limit() {
    let mut w = World::new(cpu_config(1_000, 4));
    let image = w.image(100);
    let f = w.function(image, 100, 10, 1_500);
    let is = invoke_together(&mut w, f, &[success(1_000, 0), success(1_000, 1)]);
    let events = runs(&w.advance(10_000));
    let cost = match events[2].kind {
        EventKind::TimedOut {
            cost_picodollars, ..
        } => cost_picodollars,
        _ => panic!("{events:#?}"),
    };
    assert_eq!(cost, cost_of(1_500));
    assert_eq!(
        events,
        vec![
            exec(300, is[0], ctr(0)),
            exec(300, is[1], ctr(1)),
            timed_out(1_800, is[0], cost),
            timed_out(1_800, is[1], cost),
        ]
    );
}

/// Demand weighs the share (R85f): on a 2-core host a 2-core run and a
/// 1-core run of 600 µs each demand 3 cores: both progress at two thirds
/// and end at 900 after their start. A host twice as fast halves a lone
/// run.
#[test]
fn demands_above_the_cores_stretch_every_run_alike_and_speed_scales_them() {
    let mut w = World::new(cpu_config(2_000, 4));
    let image = w.image(100);
    let big = {
        let at = w.now();
        let events = w.step(
            at,
            Command::RegisterFunction(FunctionDef::new(image, 100, 100_000).with_cpu_millis(2_000)),
        );
        let EventKind::FunctionRegistered { function, .. } = events[0].kind else {
            panic!("{events:#?}")
        };
        function
    };
    let small = w.function(image, 100, 10, 100_000);
    let (a, _) = w.invoke(0, big, success(600, 0));
    let (b, _) = w.invoke(0, small, success(600, 1));
    let ends: Vec<(u64, InvocationId)> = runs(&w.advance(10_000))
        .iter()
        .filter(|e| matches!(e.kind, EventKind::Completed { .. }))
        .map(|e| match e.kind {
            EventKind::Completed { invocation, .. } => (e.at_us, invocation),
            _ => unreachable!(),
        })
        .collect();
    assert_eq!(ends, vec![(1_200, a), (1_200, b)]);

    let fast = host_spec(1_000, 4, 1_000).with_speed_permille(2_000);
    let mut w = World::new(config(1, fast, 1_000).with_cpu(Cpu::ProcessorSharing));
    let image = w.image(100);
    let f = w.function(image, 100, 10, 100_000);
    let (i, _) = w.invoke(0, f, success(600, 0));
    assert_eq!(
        runs(&w.advance(10_000)),
        vec![exec(300, i, ctr(0)), completed(600, i, 0, cost_of(300))]
    );
}

/// Progress rounds down and completion up (R85g): two runs of 1 µs and one
/// of 2 µs (1,000 and 2,000 units) on a host of 2 cores at speed 999:
/// demand 3,000, so 666 units per µs each. The first two are due at 300 +
/// ⌈1,000 × 3,000 / 1,998,000⌉ = 302; the charge there gives each
/// ⌊2 × 1,998,000 / 3,000⌋ = 1,332, so the third has 668 left, which alone
/// (999 per µs) takes one µs more: 303.
#[test]
fn shared_progress_rounds_down_and_completion_up() {
    let host = host_spec(1_000, 4, 1_000)
        .with_cores_millis(2_000)
        .with_speed_permille(999);
    let mut w = World::new(config(1, host, 1_000).with_cpu(Cpu::ProcessorSharing));
    let image = w.image(100);
    let f = w.function(image, 100, 10, 100_000);
    let is = invoke_together(&mut w, f, &[success(1, 0), success(1, 1), success(2, 2)]);
    let ends: Vec<(u64, InvocationId)> = runs(&w.advance(10_000))
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Completed { invocation, .. } => Some((e.at_us, invocation)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![(302, is[0]), (302, is[1]), (303, is[2])]);
}

/// A host that goes down mid-share (R85j) ends every run on it: both
/// invocations are interrupted and retried, nothing is left on the host's
/// CPU, and the retries, back on the host alone after it returns, share it
/// afresh.
#[test]
fn a_host_that_goes_down_mid_share_ends_every_run_on_it() {
    let mut config = cpu_config(1_000, 4);
    config.retry = Retry::new(3, 1_000);
    let mut w = World::new(config);
    let image = w.image(100);
    let f = w.function(image, 100, 10, 100_000);
    let is = invoke_together(&mut w, f, &[success(1_000, 0), success(1_000, 1)]);
    assert_eq!(
        runs(&w.advance(400)),
        vec![exec(300, is[0], ctr(0)), exec(300, is[1], ctr(1))]
    );
    assert_eq!(
        w.step(800, Command::HostDown { host: H0 }),
        vec![
            host_down(800, H0),
            removed(800, ctr(0), H0, RemovalCause::HostLost),
            retrying(800, is[0], 2, 1_800),
            removed(800, ctr(1), H0, RemovalCause::HostLost),
            retrying(800, is[1], 2, 1_800),
        ]
    );
    w.step(
        1_000,
        Command::HostUp {
            host: H0,
            disk_kept: true,
        },
    );
    // The retries cold start at 1,800 (image on disk: 100 µs), begin at
    // 1,900 and share the core afresh: 2,000 µs later.
    let ends: Vec<(u64, InvocationId)> = runs(&w.advance(10_000))
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Completed { invocation, .. } => Some((e.at_us, invocation)),
            _ => None,
        })
        .collect();
    assert_eq!(ends, vec![(3_900, is[0]), (3_900, is[1])]);
}

/// R40: a CPU demand of zero or above `CPU_MILLIS_MAX` is refused by name.
#[test]
fn a_cpu_demand_out_of_range_is_refused() {
    let mut w = World::new(cpu_config(1_000, 4));
    let image = w.image(100);
    assert_eq!(
        w.refuse(
            0,
            Command::RegisterFunction(FunctionDef::new(image, 100, 1_000).with_cpu_millis(0))
        ),
        Refusal::Zero {
            field: "cpu_millis".into()
        }
    );
    assert_eq!(
        w.refuse(
            0,
            Command::RegisterFunction(
                FunctionDef::new(image, 100, 1_000)
                    .with_cpu_millis(coldstart_core::limits::CPU_MILLIS_MAX + 1)
            )
        ),
        Refusal::TooLarge {
            field: "cpu_millis".into(),
            value: u64::from(coldstart_core::limits::CPU_MILLIS_MAX) + 1,
            max: u64::from(coldstart_core::limits::CPU_MILLIS_MAX),
        }
    );
}

// ---------------------------------------------------------------------------
// Billing by container instance: Cloud Run's models (R104a–R104d)
// ---------------------------------------------------------------------------

fn billed(at: u64, c: ContainerId, function: FunctionId, cost: u64) -> Event {
    ev(
        at,
        EventKind::ContainerBilled {
            container: c,
            function,
            cost_picodollars: cost,
        },
    )
}

/// One container of a function of 512 MiB (1 vCPU, R104c) at concurrency
/// 2, kept alive 1,000 µs, told under `billing`; returns the events from
/// t = 0 on and the metrics' total cost.
///
/// The image (50 bytes) is downloaded 0–50 and copied 50–100; the cold
/// overhead runs 100–200, so the instance starts at 100. `a` (t = 0, runs
/// 500) and `b` (t = 10, joins while it starts, runs 100) run 200–700 and
/// 200–300: overlapping, they count once. Idle 700–1,000; `c` wakes it at
/// 1,000 (warm overhead 10, runs 90, ends at 1,100); idle again until its
/// keep-alive runs out at 2,100, when it is removed and billed.
/// Instance time: 2,100 − 100 = 2,000 µs; idle 300 + 1,000 = 1,300; active
/// 700 (100–700 and 1,000–1,100).
fn one_shared_container_under(billing: Billing) -> (Vec<Event>, u128, [EndOutcome; 3]) {
    let host = host_spec(4 * GIB, 4, 1_000);
    let policies = Builtin::default()
        .with_keep_alive_us(1_000)
        .with_billing(billing);
    let mut w = World::with(config(1, host, 1_000), policies);
    let image = w.image(50);
    let f = w.function_c(image, 512 * MIB, 10_000, 2);
    let mut events = Vec::new();
    let (a, e) = w.invoke(0, f, success(500, 1));
    events.extend(e);
    let (b, e) = w.invoke(10, f, success(100, 2));
    events.extend(e);
    let (c, e) = w.invoke(1_000, f, success(90, 3));
    events.extend(e);
    events.extend(w.advance(3_000));
    let ending = |i| match w.state(i) {
        InvocationState::Ended(ending) => ending.outcome,
        other => panic!("{other:?}"),
    };
    let endings = [ending(a), ending(b), ending(c)];
    (events, w.p.metrics().cost_picodollars, endings)
}

/// The story's events but the bill: the same under every model, with
/// `cost` on each invocation and `tail` after the removal.
fn shared_container_story(cost: u64, tail: Vec<Event>) -> Vec<Event> {
    let (f, image) = (fun(0), img(0));
    let (a, b, c) = (inv(0), inv(1), inv(2));
    let mut events = vec![
        accepted(0, a, f),
        cold(0, a, ctr(0), H0, ImageSource::Registry),
        download_started(0, image),
        accepted(10, b, f),
        warm(10, b, ctr(0), H0),
        // c's Invoke at 1,000 fires the timers due before it first.
        download_finished(50, image),
        copy_started(50, image, H0),
        copy_finished(100, image, H0),
        exec(200, a, ctr(0)),
        exec(200, b, ctr(0)),
        completed(300, b, 2, cost),
        completed(700, a, 1, cost),
        idle(700, ctr(0), 1_700),
        accepted(1_000, c, f),
        warm(1_000, c, ctr(0), H0),
        exec(1_010, c, ctr(0)),
        completed(1_100, c, 3, cost),
        idle(1_100, ctr(0), 2_100),
        removed(2_100, ctr(0), H0, RemovalCause::Expired),
    ];
    events.extend(tail);
    events
}

/// Instance-based billing bills the instance's whole life (2,000 µs,
/// billed as 100 ms): CPU 1 vCPU × 0.1 s × $0.000018 = 1,800,000 pd,
/// memory 0.5 GiB × 0.1 s × $0.000002 = 100,000 pd; no request fee, so
/// the invocations cost 0 (no transfers either).
#[test]
fn cloud_run_instance_billing_bills_the_instance_life_once_at_removal() {
    let (events, total, _) = one_shared_container_under(Billing::cloud_run_instance());
    let bill = 1_800_000 + 100_000;
    assert_eq!(
        events,
        shared_container_story(0, vec![billed(2_100, ctr(0), fun(0), bill)])
    );
    assert_eq!(total, u128::from(bill));
}

/// Request-based billing bills only the 700 µs the instance was starting
/// or busy (also billed as 100 ms): CPU 0.1 s × $0.000024 = 2,400,000 pd,
/// memory 0.5 × 0.1 × $0.0000025 = 125,000 pd; each invocation pays the
/// request fee, $0.40 per million = 400,000 pd.
#[test]
fn cloud_run_request_billing_bills_active_time_and_a_fee_per_request() {
    let (events, total, _) = one_shared_container_under(Billing::cloud_run_request());
    let bill = 2_400_000 + 125_000;
    assert_eq!(
        events,
        shared_container_story(400_000, vec![billed(2_100, ctr(0), fun(0), bill)])
    );
    assert_eq!(total, u128::from(bill + 3 * 400_000));
}

/// With a rounding of 1 µs the bills tell the two times apart exactly:
/// instance-based, 2,000 µs: CPU 18 pd/µs × 2,000 = 36,000, memory
/// 1 pd/µs × 2,000 = 2,000; request-based, 700 µs (the overlap of a and b
/// counted once; the idle 1,300 µs left out): CPU 24 × 700 = 16,800,
/// memory 1.25 × 700 = 875.
#[test]
fn cloud_run_bills_count_overlapping_invocations_once_and_idle_time_only_per_instance() {
    let instance = Billing::CloudRunInstance(CloudRunPrices::instance_based().with_rounding_us(1));
    let (events, _, _) = one_shared_container_under(instance);
    assert_eq!(events.last(), Some(&billed(2_100, ctr(0), fun(0), 38_000)));
    let request = Billing::CloudRunRequest(CloudRunPrices::request_based().with_rounding_us(1));
    let (events, _, _) = one_shared_container_under(request);
    assert_eq!(events.last(), Some(&billed(2_100, ctr(0), fun(0), 17_675)));
}

/// Lambda's billing (the default) bills no container: the same story has
/// no `ContainerBilled`, and each invocation its own duration (R103).
#[test]
fn lambda_billing_bills_no_container() {
    let (events, total, endings) = one_shared_container_under(Billing::Lambda);
    assert!(!events
        .iter()
        .any(|e| matches!(e.kind, EventKind::ContainerBilled { .. })));
    // a: cold, 100 µs of overhead + 500 µs, billed as 1 ms of 0.5 GiB:
    // 16,666,700 / 2 / 1,000 = 8,333.35 → 8,334, plus 200,000. b (a
    // join: a warm start, whose overhead is not billed) 100 µs and c 90
    // µs, each billed 1 ms too.
    let costs: Vec<u64> = endings
        .iter()
        .map(|outcome| match outcome {
            EndOutcome::Completed {
                cost_picodollars, ..
            } => *cost_picodollars,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(costs, vec![208_334; 3]);
    assert_eq!(total, 3 * 208_334);
}

/// A container removed before its image reached its host never started:
/// under Cloud Run it is billed for no time (R104b), here 0 pd; the
/// invocation it held is retried elsewhere.
#[test]
fn a_container_lost_before_it_started_is_billed_nothing() {
    let policies = Builtin::default().with_billing(Billing::cloud_run_instance());
    let mut w = World::with(config(2, host_spec(1_000, 4, 1_000), 1_000), policies);
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke(0, f, success(100, 1));
    // The copy to host#0 runs 50–100: the host goes down at 60.
    let events = w.step(60, Command::HostDown { host: H0 });
    let bills: Vec<&Event> = events
        .iter()
        .filter(|e| matches!(e.kind, EventKind::ContainerBilled { .. }))
        .collect();
    assert_eq!(bills, vec![&billed(60, ctr(0), f, 0)]);
    let at = events
        .iter()
        .position(|e| {
            e.kind
                == EventKind::ContainerBilled {
                    container: ctr(0),
                    function: f,
                    cost_picodollars: 0,
                }
        })
        .expect("billed");
    assert_eq!(
        events[at - 1],
        removed(60, ctr(0), H0, RemovalCause::HostLost)
    );
}

/// An applied step's events are its timers' events then its own, in that
/// order (R29): `events()` is the two slices end to end, and `into_vec`
/// gives the same. A later invocation fires the first one's end on the way.
#[test]
fn an_applied_steps_events_are_its_timers_then_its_own() {
    let mut w = World::new(default_config());
    let image = w.image(100);
    let f = w.function(image, 100, 10, 100_000);
    w.invoke(0, f, success(200, 0));
    let applied =
        w.p.apply(&Input {
            at_us: 50_000,
            command: Command::Invoke {
                function: f,
                code: success(200, 1),
                ingress_bytes: 0,
                egress_bytes: 0,
            },
        })
        .expect("accepted");
    assert!(!applied.timer_events().is_empty());
    assert!(!applied.own_events().is_empty());
    let joined = [applied.timer_events(), applied.own_events()].concat();
    assert_eq!(applied.events(), &joined[..]);
    assert_eq!(applied.into_vec(), joined);
}

/// A policy that records what the view says of each host's being up, and
/// declines.
#[derive(Clone, Debug, PartialEq, Default)]
struct SeesUp(Vec<Vec<bool>>);

impl Policies for SeesUp {
    fn select_host(&mut self, view: &dyn HostView, _request: &PlacementRequest) -> Option<HostId> {
        self.0.push(
            (0..view.host_count() + 1)
                .map(|h| view.is_up(HostId(h)))
                .collect(),
        );
        None
    }
}

/// The view a policy is given says which hosts are down (R141), and a host
/// it does not have is not up: a policy can avoid them before the core
/// refuses its decision.
#[test]
fn the_host_view_tells_a_policy_which_hosts_are_down() {
    let mut w = World::with(
        config(2, host_spec(1_000, 4, 1_000), 1_000),
        SeesUp::default(),
    );
    let image = w.image(50);
    let f = w.function(image, 100, 0, 10_000);
    w.invoke(0, f, success(10, 1));
    w.step(10, Command::HostDown { host: H0 });
    w.invoke(20, f, success(10, 2));
    assert_eq!(
        w.p.policies().0,
        vec![vec![true, true, false], vec![false, true, false]]
    );
}
