//! Analytic checks of shared CPU (spec R85f–R85k), through the library:
//! `n` equal runs begun together on `C` cores end together at `n × T / C`
//! (exactly, R85k(3)), at scale (1,000 runs on one host); and a seeded
//! M/M/1 processor-sharing queue whose mean sojourn matches `1 / (μ − λ)`
//! within a stated tolerance.

use coldstart_core::*;

/// A provider of one host with `cores_millis` shared by processor sharing,
/// room for `slots` containers, free cold and warm starts, one 1-byte
/// image and one function of `memory` 1 with a long time limit: returns it
/// and the function.
fn one_host(cores_millis: u64, slots: u32) -> (Provider<Builtin>, FunctionId) {
    let host =
        HostSpec::new(u64::from(slots), slots, 1_000, 1_000_000).with_cores_millis(cores_millis);
    let config = Config::homogeneous(MainStorageSpec::new(1_000, 1_000_000), host, 1)
        .with_cold_start_us(0)
        .with_warm_start_us(0)
        .with_cpu(Cpu::ProcessorSharing);
    let policies = Builtin::default().with_keep_alive_us(limits::DURATION_MAX_US);
    let mut p = Provider::new(config, policies).expect("valid");
    let events = p
        .apply(&Input {
            at_us: 0,
            command: Command::RegisterImage { size_bytes: 1 },
        })
        .expect("registered");
    let EventKind::ImageRegistered { image, .. } = events[0].kind else {
        panic!("{events:?}")
    };
    let def = FunctionDef::new(image, 1, 1_000_000_000_000);
    let events = p
        .apply(&Input {
            at_us: 0,
            command: Command::RegisterFunction(def),
        })
        .expect("registered");
    let EventKind::FunctionRegistered { function, .. } = events[0].kind else {
        panic!("{events:?}")
    };
    (p, function)
}

fn invoke(p: &mut Provider<Builtin>, at_us: u64, function: FunctionId, run_us: u64) -> Vec<Event> {
    p.apply(&Input {
        at_us,
        command: Command::Invoke {
            function,
            code: Code::success(run_us, 0),
            ingress_bytes: 0,
            egress_bytes: 0,
        },
    })
    .expect("accepted")
    .into_vec()
}

/// `(ExecutionStarted µs, end µs)` of every invocation, by invocation.
fn sojourns(events: &[Event]) -> std::collections::BTreeMap<InvocationId, (u64, u64)> {
    let mut out = std::collections::BTreeMap::new();
    for e in events {
        match e.kind {
            EventKind::ExecutionStarted { invocation, .. } => {
                out.insert(invocation, (e.at_us, 0));
            }
            EventKind::Completed { invocation, .. } => {
                out.get_mut(&invocation).expect("started").1 = e.at_us;
            }
            EventKind::Failed { .. } | EventKind::TimedOut { .. } => panic!("{e:?}"),
            _ => {}
        }
    }
    out
}

/// R85k(3) at scale: 1,000 runs of 5,000 µs begun at the same µs on a
/// host of 10 cores all end `1,000 × 5,000 / 10` = 500,000 µs later, in
/// the order they began; and 7 on one core at 7 × 5,000. `cargo test
/// --release -p coldstart-core --test cpu_analytic -- --nocapture` prints
/// the time of the 1,000.
#[test]
fn n_equal_runs_on_c_cores_end_together_at_n_times_over_c() {
    // 1,000 in release (the scale check); 200 in debug builds, where each
    // timer cancel's debug check scans the heap (quadratic per re-timing).
    let big: u64 = if cfg!(debug_assertions) { 200 } else { 1_000 };
    for (n, cores_millis, expected_us) in [(7u64, 1_000, 35_000), (big, 10_000, big * 500)] {
        let (mut p, f) = one_host(cores_millis, n as u32);
        let mut events = Vec::new();
        for _ in 0..n {
            events.extend(invoke(&mut p, 10, f, 5_000));
        }
        let started = std::time::Instant::now();
        events.extend(
            p.apply(&Input {
                at_us: 10_000_000,
                command: Command::Advance,
            })
            .expect("advanced")
            .into_vec(),
        );
        eprintln!(
            "{n} shared runs on {cores_millis} millicores: {:?}",
            started.elapsed()
        );
        p.check_invariants().expect("invariants");
        let runs = sojourns(&events);
        assert_eq!(runs.len() as u64, n);
        // Image copy (1 µs after the 1 µs download): code begins at 12.
        assert!(
            runs.values()
                .all(|&(s, e)| s == 12 && e == 12 + expected_us),
            "{runs:?}"
        );
        let ends: Vec<InvocationId> = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::Completed { invocation, .. } => Some(invocation),
                _ => None,
            })
            .collect();
        let begun: Vec<InvocationId> = events
            .iter()
            .filter_map(|e| match e.kind {
                EventKind::ExecutionStarted { invocation, .. } => Some(invocation),
                _ => None,
            })
            .collect();
        assert_eq!(ends, begun);
    }
}

/// SplitMix64: the test's own seeded stream.
struct Stream(u64);

impl Stream {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// An exponential draw of mean `mean_us`, in whole µs (at least 1).
    fn exponential_us(&mut self, mean_us: f64) -> u64 {
        let u = ((self.next_u64() >> 11) as f64 + 0.5) / (1u64 << 53) as f64;
        ((-u.ln() * mean_us).round() as u64).max(1)
    }
}

/// M/M/1-PS: Poisson arrivals at λ = 50/s of exponential work of mean 10
/// ms (μ = 100/s) on one core shared by processor sharing. Each run's
/// sojourn (from `ExecutionStarted` — at its arrival, warm starts being
/// free — to its end) averages `1 / (μ − λ)` = 20 ms in theory (Kleinrock,
/// *Queueing Systems* vol. 2, §4.4: the PS mean sojourn of a job of size x
/// is `x / (1 − ρ)`). Over 20,000 arrivals (seed 21) the measured mean is
/// within 10% of it; the first 1,000 (warm-up, cold starts) are left out.
#[test]
fn poisson_arrivals_under_processor_sharing_match_the_m_m_1_ps_mean_sojourn() {
    const ARRIVALS: usize = 20_000;
    const WARM_UP: usize = 1_000;
    let (lambda_per_s, mu_per_s) = (50.0_f64, 100.0_f64);
    let (mut p, f) = one_host(1_000, 200);
    let mut stream = Stream(21);
    let mut events = Vec::new();
    let mut at_us = 0u64;
    let mut order = Vec::new();
    for _ in 0..ARRIVALS {
        at_us += stream.exponential_us(1e6 / lambda_per_s);
        let step = invoke(&mut p, at_us, f, stream.exponential_us(1e6 / mu_per_s));
        for e in &step {
            if let EventKind::Accepted { invocation, .. } = e.kind {
                order.push(invocation);
            }
        }
        events.extend(step);
    }
    events.extend(
        p.apply(&Input {
            at_us: at_us + 100_000_000,
            command: Command::Advance,
        })
        .expect("advanced")
        .into_vec(),
    );
    p.check_invariants().expect("invariants");
    let runs = sojourns(&events);
    assert_eq!(runs.len(), ARRIVALS, "every arrival ran (none rejected)");
    let measured: Vec<f64> = order[WARM_UP..]
        .iter()
        .map(|i| {
            let (s, e) = runs[i];
            (e - s) as f64
        })
        .collect();
    let mean_us = measured.iter().sum::<f64>() / measured.len() as f64;
    let theory_us = 1e6 / (mu_per_s - lambda_per_s);
    eprintln!("M/M/1-PS mean sojourn {mean_us:.0} µs against {theory_us:.0} µs");
    assert!(
        (mean_us - theory_us).abs() <= 0.10 * theory_us,
        "mean sojourn {mean_us:.0} µs is not within 10% of {theory_us:.0} µs"
    );
}
