//! Memory per live entity, measured: the growth of this process's resident
//! set (`/proc/self/statm`) as a provider takes on N live containers or
//! invocations, divided by N. The figures include everything each entity
//! costs — its arena slot, its entries in the ordered sets and the timer
//! map, and the allocator's overhead — not just `size_of`.
//!
//! `cargo bench --bench memory` (Linux only; prints, does not time).
//! `MEMORY_ENTITIES=N` changes N (default 1,000,000).

use coldstart::FunctionDef;
use coldstart::{
    Builtin, Code, Command, Config, Event, EventKind, Events, HostSpec, Input, InvocationId,
    MainStorageSpec, Pressure, Provider, GIB, MIB,
};
use std::hint::black_box;

fn resident_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").expect("Linux /proc");
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .expect("resident pages");
    // The page size of every Linux this runs on here; statm counts pages.
    pages * 4_096
}

/// One host with a slot for each of `containers` (slots are capped at
/// 2^20), RAM and disk to match; nothing is ever evicted or reaped by
/// retention.
fn provider(containers: u64, pressure: Pressure) -> Provider {
    let config = Config::homogeneous(
        MainStorageSpec::new(GIB, 1_000_000_000),
        HostSpec::new(
            (containers + 1) * MIB,
            containers.max(1) as u32,
            (containers + 1) * 1_024 + GIB,
            1_000_000_000,
        ),
        1,
    )
    .with_pressure(pressure)
    .with_terminal_records_max(None);
    let mut provider = Provider::new(config, Builtin::default()).expect("valid");
    for command in [
        Command::RegisterImage { size_bytes: MIB },
        Command::RegisterFunction(
            FunctionDef::new(coldstart::ImageId::from_bits(0), MIB, 10_000_000)
                .with_scratch_bytes(1_024),
        ),
    ] {
        provider
            .apply(&Input { at_us: 0, command })
            .expect("registers");
    }
    provider
}

fn invoke(at_us: u64, run_us: u64) -> Input {
    Input {
        at_us,
        command: Command::Invoke {
            function: coldstart::FunctionId::from_bits(0),
            code: Code::success(run_us, 0),
            ingress_bytes: 0,
            egress_bytes: 0,
        },
    }
}

fn per_entity(label: &str, before: u64, after: u64, n: u64) {
    println!(
        "{label}: {:.1} bytes each ({} MB for {n})",
        after.saturating_sub(before) as f64 / n as f64,
        after.saturating_sub(before) / 1_000_000
    );
}

fn main() {
    // Criterion passes `--bench`; this binary takes no options.
    let n: u64 = std::env::var("MEMORY_ENTITIES")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1_000_000);
    println!(
        "size_of: Input {} B, Event {} B, Events (inline for 8) {} B",
        std::mem::size_of::<Input>(),
        std::mem::size_of::<Event>(),
        std::mem::size_of::<Events>()
    );

    // N invocations running at once, each in its own container (cold
    // starts: every container is new), then the same containers idle
    // with the N ended records kept, then the records reaped.
    let mut p = provider(n, Pressure::Reject);
    let mut out = Events::new();
    let base = resident_bytes();
    let mut ids: Vec<InvocationId> = Vec::with_capacity(n as usize);
    for _ in 0..n {
        p.apply_into(&invoke(1, 1_000_000), &mut out)
            .expect("valid");
        let EventKind::Accepted { invocation, .. } = out[0].kind else {
            unreachable!()
        };
        ids.push(invocation);
    }
    let running = resident_bytes();
    assert_eq!(p.metrics().in_flight_now, n, "all running");
    // The ids vector's 8 bytes per entry are not the provider's.
    println!(
        "running invocation with its busy container (cold started): {:.1} bytes each",
        running.saturating_sub(base) as f64 / n as f64 - 8.0
    );
    p.apply_into(
        &Input {
            at_us: 10_000_000,
            command: Command::Advance,
        },
        &mut out,
    )
    .expect("valid");
    assert_eq!(p.metrics().idle_containers_now, n, "all idle");
    let idle_and_ended = resident_bytes();
    for &invocation in &ids {
        p.apply_into(
            &Input {
                at_us: 10_000_000,
                command: Command::Reap { invocation },
            },
            &mut out,
        )
        .expect("valid");
    }
    let idle_only = resident_bytes();
    println!(
        "each of those containers idle, its ended record kept: {:.1} bytes more \
         (its entries in two ordered idle sets; a keep-alive timer in place of the end timer)",
        idle_and_ended.saturating_sub(running) as f64 / n as f64
    );
    println!(
        "after reaping the records: {:.1} bytes each in all (the freed record slots stay \
         in the arena for reuse)",
        idle_only.saturating_sub(base) as f64 / n as f64 - 8.0
    );
    black_box(&p);
    drop(p);
    drop(ids);

    // N invocations waiting in the queue of a provider with one slot.
    let mut p = provider(1, Pressure::Queue { capacity: n as u32 });
    let before = resident_bytes();
    for _ in 0..=n {
        p.apply_into(&invoke(1, 1_000_000), &mut out)
            .expect("valid");
    }
    assert_eq!(p.metrics().queued_now, n, "all queued");
    per_entity("queued invocation", before, resident_bytes(), n);
    black_box(&p);
}
