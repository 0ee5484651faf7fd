//! Scale of shared links (spec R85a): 1,000 cold starts at once, each of
//! its own image, so 1,000 downloads share main storage's feed and then
//! 1,000 copies share one host's link. Every start and end re-times the
//! others on its link: about 2 × 1,000 re-timings of up to 1,000 timers.
//! `cargo test --release -p coldstart-core --test bandwidth_scale --
//! --nocapture` prints the time; the test checks the analytic end times.

use coldstart_core::*;

#[test]
fn a_thousand_concurrent_transfers_on_one_link() {
    const N: u64 = 1_000;
    let host = HostSpec::new(N * 100, N as u32, N * 200, 1_000_000);
    let config = Config::homogeneous(MainStorageSpec::new(N * 100, 1_000_000), host, 1)
        .with_cold_start_us(0)
        .with_bandwidth(Bandwidth::FairShare);
    let mut p = Provider::new(config, Builtin::default()).expect("valid");
    let mut functions = Vec::new();
    for _ in 0..N {
        let events = p
            .apply(&Input {
                at_us: 0,
                command: Command::RegisterImage { size_bytes: 100 },
            })
            .expect("registered");
        let EventKind::ImageRegistered { image, .. } = events[0].kind else {
            panic!("{events:?}")
        };
        let events = p
            .apply(&Input {
                at_us: 0,
                command: Command::RegisterFunction(FunctionDef::new(image, 100, 1_000_000)),
            })
            .expect("registered");
        let EventKind::FunctionRegistered { function, .. } = events[0].kind else {
            panic!("{events:?}")
        };
        functions.push(function);
    }
    let started = std::time::Instant::now();
    for &function in &functions {
        p.apply(&Input {
            at_us: 0,
            command: Command::Invoke {
                function,
                code: Code::success(10, 0),
                ingress_bytes: 0,
                egress_bytes: 0,
            },
        })
        .expect("accepted");
    }
    let events = p
        .apply(&Input {
            at_us: 10_000_000,
            command: Command::Advance,
        })
        .expect("advanced");
    let elapsed = started.elapsed();
    let at = |pick: fn(&EventKind) -> bool| -> Vec<u64> {
        events
            .iter()
            .filter(|e| pick(&e.kind))
            .map(|e| e.at_us)
            .collect()
    };
    // 1,000 × 100 bytes at 1 B/µs: all downloads end at 100,000 µs; the
    // copies all start then and end 100,000 µs later.
    let downloads = at(|k| matches!(k, EventKind::DownloadFinished { .. }));
    let copies = at(|k| matches!(k, EventKind::CopyFinished { .. }));
    assert_eq!(downloads, vec![N * 100; N as usize]);
    assert_eq!(copies, vec![2 * N * 100; N as usize]);
    eprintln!("{N} shared downloads then {N} shared copies on one host: {elapsed:?}");
}
