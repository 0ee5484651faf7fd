//! One `step` of each kind, from a prepared state: every command of
//! `core/src/input.rs` (an `Invoke` in each of the ways it can go), each
//! kind of timer firing, and the client queries. Each iteration clones the
//! prepared provider (not timed) and applies one input to the clone.
//!
//! `cargo bench --bench step [-- FILTER]`.

use coldstart::FunctionDef;
use coldstart::{
    Builtin, Code, Command, Config, Event, EventKind, Events, FunctionId, HostId, HostSpec,
    ImageId, Input, InvocationId, MainStorageSpec, Pressure, Provider, GIB, MIB,
};
use criterion::{criterion_group, criterion_main, BatchSize, Criterion};
use std::hint::black_box;
use std::time::Duration;

fn config(pressure: Pressure) -> Config {
    Config::homogeneous(
        MainStorageSpec::new(4 * GIB, 200_000_000),
        HostSpec::new(2 * GIB, 2, 40 * GIB, 1_000_000_000),
        4,
    )
    .with_pressure(pressure)
    .with_terminal_records_max(Some(10_000))
}

fn at(at_us: u64, command: Command) -> Input {
    Input { at_us, command }
}

fn invoke(at_us: u64, function: FunctionId, run_us: u64) -> Input {
    at(
        at_us,
        Command::Invoke {
            function,
            code: Code::success(run_us, 1),
            ingress_bytes: 1_024,
            egress_bytes: 1_024,
        },
    )
}

/// The ids a prepared provider was built with.
struct Prepared {
    provider: Provider,
    /// Functions 0 and 1 share image 0; function 2 runs from image 1.
    functions: Vec<FunctionId>,
    images: Vec<ImageId>,
}

fn apply(provider: &mut Provider, input: &Input) -> Vec<Event> {
    provider.apply(input).expect("a valid input").to_vec()
}

/// Two images, three functions, nothing invoked yet.
fn registered(pressure: Pressure) -> Prepared {
    let mut provider = Provider::new(config(pressure), Builtin::default()).expect("valid");
    let mut images = vec![];
    for size_bytes in [200 * MIB, 300 * MIB] {
        let events = apply(&mut provider, &at(0, Command::RegisterImage { size_bytes }));
        let EventKind::ImageRegistered { image, .. } = events[0].kind else {
            unreachable!()
        };
        images.push(image);
    }
    let mut functions = vec![];
    for image in [images[0], images[0], images[1]] {
        let command = Command::RegisterFunction(
            FunctionDef::new(image, 512 * MIB, 10_000_000).with_scratch_bytes(512 * MIB),
        );
        let events = apply(&mut provider, &at(0, command));
        let EventKind::FunctionRegistered { function, .. } = events[0].kind else {
            unreachable!()
        };
        functions.push(function);
    }
    Prepared {
        provider,
        functions,
        images,
    }
}

fn accepted(events: &[Event]) -> InvocationId {
    events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::Accepted { invocation, .. } => Some(invocation),
            _ => None,
        })
        .expect("accepted")
}

/// Benchmarks applying `input` to clones of `provider`, after checking the
/// step emits an event `expect` recognizes (so a change of behaviour cannot
/// silently make a bench measure something else).
fn bench_input(
    c: &mut Criterion,
    name: &str,
    provider: &Provider,
    input: &Input,
    expect: impl Fn(&EventKind) -> bool,
) {
    let events = provider.clone().apply(input).expect("a valid input");
    assert!(
        events.iter().any(|e| expect(&e.kind)),
        "{name}: unexpected events {events:?}"
    );
    bench_unchecked(c, name, provider, input);
}

fn bench_unchecked(c: &mut Criterion, name: &str, provider: &Provider, input: &Input) {
    c.bench_function(name, |b| {
        let mut out = Events::new();
        b.iter_batched_ref(
            || provider.clone(),
            |p| {
                p.apply_into(black_box(input), &mut out).expect("valid");
                black_box(out.len())
            },
            BatchSize::SmallInput,
        )
    });
}

fn steps(c: &mut Criterion) {
    let base = registered(Pressure::Reject);
    let (f0, f1, f2) = (base.functions[0], base.functions[1], base.functions[2]);

    // Registrations.
    bench_input(
        c,
        "step/register_image",
        &base.provider,
        &at(0, Command::RegisterImage { size_bytes: MIB }),
        |k| matches!(k, EventKind::ImageRegistered { .. }),
    );
    bench_input(
        c,
        "step/register_function",
        &base.provider,
        &at(
            0,
            Command::RegisterFunction(
                FunctionDef::new(base.images[0], MIB, 1_000_000).with_scratch_bytes(MIB),
            ),
        ),
        |k| matches!(k, EventKind::FunctionRegistered { .. }),
    );

    // An invoke that misses everywhere: download, then copy.
    bench_input(
        c,
        "step/invoke_cold_from_registry",
        &base.provider,
        &invoke(0, f0, 100_000),
        |k| {
            matches!(
                k,
                EventKind::ColdStart {
                    image: coldstart::ImageSource::Registry,
                    ..
                }
            )
        },
    );

    // Walk one invocation through its timers, snapshotting before each.
    let mut walk = base.provider.clone();
    let first = accepted(&apply(&mut walk, &invoke(0, f0, 100_000)));
    let timer_names = [
        ("step/timer_download_done", "DownloadFinished"),
        ("step/timer_copy_done", "CopyFinished"),
        ("step/timer_container_ready", "ExecutionStarted"),
        ("step/timer_invocation_end", "Completed"),
    ];
    for (name, expected) in timer_names {
        let due_us = walk.next_timer_us().expect("a timer is pending");
        let input = at(due_us, Command::Advance);
        bench_input(c, name, &walk, &input, |k| {
            format!("{k:?}").starts_with(expected)
        });
        apply(&mut walk, &input);
    }
    // `walk` now holds one idle container of f0, image 0 on host 0 and in
    // main storage.
    let idle = walk.clone();
    let now_us = idle.now_us();
    bench_input(
        c,
        "step/invoke_warm",
        &idle,
        &invoke(now_us, f0, 100_000),
        |k| matches!(k, EventKind::WarmStart { .. }),
    );
    bench_input(
        c,
        "step/invoke_cold_image_on_host",
        &idle,
        &invoke(now_us, f1, 100_000),
        |k| {
            matches!(
                k,
                EventKind::ColdStart {
                    image: coldstart::ImageSource::HostDisk,
                    ..
                }
            )
        },
    );
    let nothing = at(now_us, Command::Advance);
    assert!(idle.clone().apply(&nothing).expect("valid").is_empty());
    bench_unchecked(c, "step/advance_nothing_due", &idle, &nothing);
    let expiry_us = idle.next_timer_us().expect("the keep-alive is pending");
    bench_input(
        c,
        "step/timer_keep_alive_expired",
        &idle,
        &at(expiry_us, Command::Advance),
        |k| matches!(k, EventKind::ContainerRemoved { .. }),
    );
    bench_input(
        c,
        "step/reap",
        &idle,
        &at(now_us, Command::Reap { invocation: first }),
        |k| matches!(k, EventKind::Reaped { .. }),
    );
    bench_input(
        c,
        "step/host_down",
        &idle,
        &at(now_us, Command::HostDown { host: HostId(0) }),
        |k| matches!(k, EventKind::HostDown { .. }),
    );
    let mut down = idle.clone();
    apply(
        &mut down,
        &at(now_us, Command::HostDown { host: HostId(0) }),
    );
    bench_input(
        c,
        "step/host_up",
        &down,
        &at(
            now_us,
            Command::HostUp {
                host: HostId(0),
                disk_kept: true,
            },
        ),
        |k| matches!(k, EventKind::HostUp { .. }),
    );
    bench_input(
        c,
        "step/main_storage_lost",
        &idle,
        &at(now_us, Command::MainStorageLost),
        |k| matches!(k, EventKind::MainStorageLost),
    );

    // Transfers in progress, for their faults: f2's image 1 downloading.
    let mut downloading = idle.clone();
    apply(&mut downloading, &invoke(now_us, f2, 100_000));
    bench_input(
        c,
        "step/download_fails",
        &downloading,
        &at(
            now_us,
            Command::DownloadFails {
                image: base.images[1],
            },
        ),
        |k| format!("{k:?}").starts_with("DownloadFailed"),
    );
    // f0 invoked on a host without image 0 (host 0's slots held by two
    // running invocations): a copy from main storage.
    let mut copying = idle.clone();
    apply(&mut copying, &invoke(now_us, f0, 10_000_000));
    apply(&mut copying, &invoke(now_us, f1, 10_000_000));
    let events = apply(&mut copying, &invoke(now_us, f0, 10_000_000));
    let host = events
        .iter()
        .find_map(|e| match e.kind {
            EventKind::CopyStarted { host, .. } => Some(host),
            _ => None,
        })
        .expect("a copy to another host");
    bench_input(
        c,
        "step/copy_fails",
        &copying,
        &at(
            now_us,
            Command::CopyFails {
                host,
                image: base.images[0],
            },
        ),
        |k| format!("{k:?}").starts_with("CopyFailed"),
    );

    // Pressure: every slot busy (4 hosts × 2 slots), then one more.
    let mut full = idle.clone();
    for _ in 0..8 {
        apply(&mut full, &invoke(now_us, f2, 10_000_000));
    }
    bench_input(
        c,
        "step/invoke_rejected",
        &full,
        &invoke(now_us, f2, 100_000),
        |k| matches!(k, EventKind::Rejected { .. }),
    );
    let queued = registered(Pressure::Queue { capacity: 1_000 });
    let mut queue_full = queued.provider.clone();
    for _ in 0..9 {
        apply(&mut queue_full, &invoke(0, queued.functions[2], 10_000_000));
    }
    bench_input(
        c,
        "step/invoke_queued",
        &queue_full,
        &invoke(0, queued.functions[2], 100_000),
        |k| matches!(k, EventKind::Queued { .. }),
    );
}

fn client(c: &mut Criterion) {
    let prepared = registered(Pressure::Reject);
    let mut provider = prepared.provider;
    let mut ids = vec![];
    let mut now_us = 0;
    // Eight: one for each slot (4 hosts × 2), so none is rejected and each
    // wait has timers to fire.
    for i in 0..8 {
        now_us += 1_000;
        ids.push(accepted(&apply(
            &mut provider,
            &invoke(now_us, prepared.functions[i % 3], 50_000),
        )));
    }
    let mut ended = provider.clone();
    let mut log = Vec::new();
    ended.wait_for_all(&ids, None, &mut log).expect("they end");
    assert!(ids
        .iter()
        .all(|&id| !provider.get_state(id).expect("known").is_terminal()));
    c.bench_function("client/get_state", |b| {
        b.iter(|| black_box(provider.get_state(black_box(ids[3]))))
    });
    c.bench_function("client/get_states_8", |b| {
        b.iter(|| black_box(provider.get_states(black_box(&ids))))
    });
    c.bench_function("client/get_output", |b| {
        b.iter(|| black_box(ended.get_output(black_box(ids[0]))))
    });
    c.bench_function("client/wait_for", |b| {
        b.iter_batched_ref(
            || (provider.clone(), Vec::new()),
            |(p, log)| black_box(p.wait_for(ids[7], None, log)),
            BatchSize::SmallInput,
        )
    });
    c.bench_function("client/wait_for_any_8", |b| {
        b.iter_batched_ref(
            || (provider.clone(), Vec::new()),
            |(p, log)| black_box(p.wait_for_any(&ids, None, log)),
            BatchSize::SmallInput,
        )
    });
}

fn short() -> Criterion {
    Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(300))
        .measurement_time(Duration::from_secs(1))
}

criterion_group! {
    name = benches;
    config = short();
    targets = steps, client
}
criterion_main!(benches);
