//! The invariant checker bites: a snapshot whose bookkeeping is tampered
//! with is restored fine (serde checks shapes, not meaning) but fails
//! `check_invariants`, naming what is wrong.

use coldstart_core::*;
use serde_json::Value;

/// One host of 200 bytes of RAM, 2 slots and 1,000 bytes of disk, and main
/// storage of 1,000 bytes; transfers at 1 byte/µs.
fn one_host() -> Config {
    let host = HostSpec::new(200, 2, 1_000, 1_000_000);
    Config::homogeneous(MainStorageSpec::new(1_000, 1_000_000), host, 1)
}

/// A provider mid-run: one busy container, one idle, images on both tiers,
/// timers pending, one invocation queued.
fn busy_provider() -> Provider {
    let mut config = one_host();
    config.pressure = Pressure::Queue { capacity: 4 };
    let mut p = Provider::new(config, Builtin::default()).expect("valid");
    let at = |p: &mut Provider, at_us: u64, command: Command| {
        p.apply(&Input { at_us, command })
            .expect("accepted")
            .into_vec()
    };
    at(&mut p, 0, Command::RegisterImage { size_bytes: 100 });
    let image = ImageId::from_bits(0);
    at(
        &mut p,
        0,
        Command::RegisterFunction(FunctionDef::new(image, 100, 10_000_000).with_scratch_bytes(10)),
    );
    let function = FunctionId::from_bits(0);
    let invoke = |run_us| Command::Invoke {
        function,
        code: Code::success(run_us, 1),
        ingress_bytes: 0,
        egress_bytes: 0,
    };
    at(&mut p, 0, invoke(10));
    at(&mut p, 1_000_000, invoke(5_000_000));
    at(&mut p, 1_000_000, invoke(5_000_000));
    at(&mut p, 1_000_000, invoke(5_000_000));
    p.check_invariants().expect("a sound provider");
    assert_eq!(
        p.metrics().queued_now,
        1,
        "the set-up queues one invocation"
    );
    p
}

fn tampered(edit: impl FnOnce(&mut Value)) -> Result<(), Violation> {
    let mut value = serde_json::to_value(busy_provider()).expect("serializes");
    edit(&mut value);
    let provider: Provider = serde_json::from_value(value).expect("still the right shape");
    provider.check_invariants()
}

fn bump(value: &mut Value, by: i64) {
    let n = value.as_i64().expect("a number");
    *value = Value::from(n + by);
}

#[track_caller]
fn assert_caught(result: Result<(), Violation>, words: &str) {
    match result {
        Ok(()) => panic!("tampering not caught (expected {words:?})"),
        Err(v) => assert!(
            v.to_string().contains(words),
            "{v} does not mention {words:?}"
        ),
    }
}

#[test]
fn an_untampered_snapshot_passes() {
    assert_eq!(tampered(|_| {}), Ok(()));
}

#[test]
fn host_counters_are_recounted() {
    assert_caught(
        tampered(|v| bump(&mut v["core"]["hosts"][0]["ram_used_bytes"], 1)),
        "RAM used",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["hosts"][0]["slots_used"], -1)),
        "slots used",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["hosts"][0]["disk_used_bytes"], 5)),
        "disk used",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["hosts"][0]["idle_ram_bytes"], 1)),
        "idle totals",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["hosts"][0]["busy_count"], 1)),
        "idle/busy",
    );
}

#[test]
fn gauges_and_the_nothing_lost_sum_are_recounted() {
    assert_caught(
        tampered(|v| bump(&mut v["core"]["metrics"]["accepted"], 1)),
        "nothing lost",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["metrics"]["in_flight_now"], 1)),
        "in-flight",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["metrics"]["idle_containers_now"], 1)),
        "idle container gauge",
    );
    assert_caught(
        tampered(|v| v["core"]["queue"] = Value::Array(vec![])),
        "not in the queue",
    );
}

#[test]
fn main_storage_and_timers_are_recounted() {
    assert_caught(
        tampered(|v| bump(&mut v["core"]["main"]["used_bytes"], 1)),
        "main storage used",
    );
    assert_caught(
        tampered(|v| v["core"]["timers"] = Value::Array(vec![])),
        "ready timers",
    );
    assert_caught(
        tampered(|v| bump(&mut v["core"]["now_us"], 100_000_000)),
        "still pending",
    );
}

/// Two hosts, one invocation started on host 0 at time 0 and observed at
/// `at_us`: preparing (its image on the way), starting (cold overhead) or
/// running.
fn one_invocation_at(at_us: u64) -> Provider {
    let host = HostSpec::new(100, 1, 1_000, 1_000_000);
    let main = MainStorageSpec::new(1_000, 1_000_000);
    let mut p =
        Provider::new(Config::homogeneous(main, host, 2), Builtin::default()).expect("valid");
    let at = |p: &mut Provider, at_us: u64, command: Command| {
        p.apply(&Input { at_us, command }).expect("accepted");
    };
    at(&mut p, 0, Command::RegisterImage { size_bytes: 100 });
    let memory_bytes = 100;
    let register = Command::RegisterFunction(FunctionDef::new(
        ImageId::from_bits(0),
        memory_bytes,
        10_000_000,
    ));
    at(&mut p, 0, register);
    let invoke = Command::Invoke {
        function: FunctionId::from_bits(0),
        code: Code::success(1_000_000, 1),
        ingress_bytes: 0,
        egress_bytes: 0,
    };
    at(&mut p, 0, invoke);
    at(&mut p, at_us, Command::Advance);
    p.check_invariants().expect("a sound provider");
    p
}

/// Moves every invocation in `state` to host 1, leaving its container on
/// host 0.
fn move_invocations(value: &mut Value, state: &str) -> usize {
    let mut moved = 0;
    match value {
        Value::Object(map) => {
            if let Some(Value::Object(fields)) = map.get_mut(state) {
                if let Some(host) = fields.get_mut("host") {
                    *host = Value::from(1);
                    moved += 1;
                }
            }
            for child in map.values_mut() {
                moved += move_invocations(child, state);
            }
        }
        Value::Array(items) => {
            for item in items {
                moved += move_invocations(item, state);
            }
        }
        _ => {}
    }
    moved
}

#[test]
fn an_invocation_and_its_container_must_agree_on_the_host() {
    // Preparing at 10 µs (downloading), starting at 1,000 µs (cold
    // overhead), running at 300,000 µs.
    for (at_us, state) in [(10, "Preparing"), (1_000, "Starting"), (300_000, "Running")] {
        let mut value = serde_json::to_value(one_invocation_at(at_us)).expect("serializes");
        assert_eq!(move_invocations(&mut value, state), 1, "{state} at {at_us}");
        let provider: Provider = serde_json::from_value(value).expect("still the right shape");
        assert_caught(provider.check_invariants(), "disagree on their state");
    }
}

/// A container must wait for its image while preparing and hold it once
/// started: flipping the copy's `arriving` flag breaks either.
#[test]
fn a_container_and_its_image_copy_must_agree() {
    for (at_us, words) in [
        (10, "is not waiting for its image"),
        (1_000, "started before its image arrived"),
    ] {
        let mut value = serde_json::to_value(one_invocation_at(at_us)).expect("serializes");
        let copy = &mut value["core"]["hosts"][0]["images"]["0"];
        let arriving = copy["arriving"].as_bool().expect("a copy on host 0");
        copy["arriving"] = Value::from(!arriving);
        let provider: Provider = serde_json::from_value(value).expect("still the right shape");
        assert_caught(provider.check_invariants(), words);
    }
}

/// The busy provider right after its only host went down: its containers
/// lost, the invocations that ran on them retrying.
fn crashed_provider() -> Provider {
    let mut p = busy_provider();
    let at_us = p.now_us();
    let events = p
        .apply(&Input {
            at_us,
            command: Command::HostDown { host: HostId(0) },
        })
        .expect("accepted")
        .into_vec();
    assert!(
        events
            .iter()
            .any(|e| matches!(e.kind, EventKind::Retrying { .. })),
        "{events:#?}"
    );
    p.check_invariants().expect("a sound provider");
    p
}

fn tampered_crash(edit: impl FnOnce(&mut Value)) -> Result<(), Violation> {
    let mut value = serde_json::to_value(crashed_provider()).expect("serializes");
    edit(&mut value);
    let provider: Provider = serde_json::from_value(value).expect("still the right shape");
    provider.check_invariants()
}

/// Faults' bookkeeping is recounted too: the retrying gauge and the
/// nothing-lost sum that includes it, the retry timers, the starts that
/// a retry accounts for, and a host marked down while it holds containers.
#[test]
fn fault_bookkeeping_is_recounted() {
    assert_eq!(tampered_crash(|_| {}), Ok(()));
    assert_caught(
        tampered_crash(|v| bump(&mut v["core"]["metrics"]["retrying_now"], 1)),
        "retrying count",
    );
    assert_caught(
        tampered_crash(|v| bump(&mut v["core"]["metrics"]["retries"], 1)),
        "starts do not match",
    );
    assert_caught(
        tampered_crash(|v| {
            let timers = v["core"]["timers"].as_array_mut().expect("timers");
            timers.retain(|t| t[2].get("RetryDue").is_none());
        }),
        "no single retry timer",
    );
    // Host 0 is down and empty: marking it up is fine, but a host that is
    // down with containers on it is not.
    assert_eq!(
        tampered_crash(|v| v["core"]["hosts"][0]["up"] = Value::from(true)),
        Ok(())
    );
    assert_caught(
        tampered(|v| v["core"]["hosts"][0]["up"] = Value::from(false)),
        "is down but holds",
    );
}

/// A function with a planned pre-warm (its container unloaded after one
/// call, spec §29): the plan and its timer must match.
fn prewarm_planned_provider() -> Provider {
    let mut config = one_host();
    config.cold_start_us = 100;
    let policies = Builtin {
        keep_alive_policy: KeepAlivePolicy::HybridHistogram(HybridHistogram {
            bin_us: 10,
            bins: 10,
            cv_threshold_hundredths: 0,
            ..HybridHistogram::PAPER
        }),
        ..Builtin::default()
    };
    let mut p = Provider::new(config, policies).expect("valid");
    let mut at = |at_us: u64, command: Command| {
        p.apply(&Input { at_us, command }).expect("accepted");
    };
    at(0, Command::RegisterImage { size_bytes: 10 });
    at(
        0,
        Command::RegisterFunction(FunctionDef::new(ImageId::from_bits(0), 100, 1_000)),
    );
    let invoke = Command::Invoke {
        function: FunctionId::from_bits(0),
        code: Code::success(10, 1),
        ingress_bytes: 0,
        egress_bytes: 0,
    };
    // Two cold calls 50 µs apart, ending at 130 and 160 µs (the second
    // finds the image on the disk): an idle time in bin 3, so the second's
    // container is unloaded and a pre-warm planned for 27 µs later.
    at(0, invoke.clone());
    at(50, invoke);
    at(170, Command::Advance);
    p.check_invariants().expect("a sound provider");
    assert_eq!(p.metrics().containers_unloaded, 1);
    assert_eq!(p.next_timer_us(), Some(187));
    p
}

#[test]
fn a_planned_prewarm_must_match_its_timer() {
    let tampered = |edit: &dyn Fn(&mut Value)| {
        let mut value = serde_json::to_value(prewarm_planned_provider()).expect("serializes");
        edit(&mut value);
        let provider: Provider = serde_json::from_value(value).expect("still the right shape");
        provider.check_invariants()
    };
    assert_eq!(tampered(&|_| {}), Ok(()));
    assert_caught(
        tampered(&|v| v["core"]["functions"]["slots"][0]["value"]["prewarm"] = Value::Null),
        "planned pre-warm",
    );
}
