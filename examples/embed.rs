//! Embed the provider and drive it yourself: register an image and a
//! function, invoke it a few times, wait for the results as a client would,
//! and read the bill.
//!
//! Run with `cargo run --example embed`.

use coldstart::FunctionDef;
use coldstart::{
    Builtin, Code, Command, Config, EndOutcome, Input, InvocationId, MainStorageSpec, Provider,
    GIB, MIB,
};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The default scenario's hardware (four hosts of 16 GiB), with a
    // smaller main storage disk.
    let config = Config::default().with_main_storage(MainStorageSpec::new(2 * GIB, 200_000_000));
    let mut provider = Provider::new(config, Builtin::default())?;

    let image = provider
        .apply(&Input {
            at_us: 0,
            command: Command::RegisterImage {
                size_bytes: 300 * MIB,
            },
        })?
        .image()
        .ok_or("a registration creates an image")?;
    let function = provider
        .apply(&Input {
            at_us: 0,
            command: Command::RegisterFunction(
                FunctionDef::new(image, 512 * MIB, 3_000_000).with_scratch_bytes(512 * MIB),
            ),
        })?
        .function()
        .ok_or("a registration creates a function")?;

    let invoke = |at_us: u64, output: u64| Input {
        at_us,
        command: Command::Invoke {
            function,
            code: Code::success(120_000, output),
            ingress_bytes: 1_000,
            egress_bytes: 2_000,
        },
    };

    // The first invocation pays for the download into main storage, the
    // copy to a host and the container's cold start. A client's wait moves
    // virtual time, timer by timer, until it has ended.
    let first = provider
        .apply(&invoke(0, 0))?
        .invocation()
        .ok_or("an invocation is created")?;
    let mut events = Vec::new();
    let done = provider.wait_for(first, None, &mut events)?;
    println!(
        "{first} ended at {} µs: {:?}",
        done.ending.at_us, done.ending.outcome
    );

    // Four more, 200 ms apart from then on: the container is still warm
    // for the first, and each runs 120 ms, so one container serves all.
    let start_us = provider.now_us();
    let mut invocations: Vec<InvocationId> = Vec::new();
    for n in 1..5u64 {
        let applied = provider.apply(&invoke(start_us + n * 200_000, n))?;
        invocations.push(applied.invocation().ok_or("an invocation is created")?);
    }
    let finished = provider.wait_for_all(&invocations, None, &mut events)?;
    for done in &finished {
        let EndOutcome::Completed {
            output,
            cost_picodollars,
        } = done.ending.outcome
        else {
            return Err(format!("{} did not complete: {:?}", done.invocation, done.ending).into());
        };
        assert_eq!(provider.get_output(done.invocation)?, output);
        println!(
            "{} answered {output} at {} µs, billed {cost_picodollars} pico$",
            done.invocation, done.ending.at_us
        );
    }

    let metrics = provider.metrics();
    println!(
        "{} cold start(s), {} warm, {} events while waiting, total {} pico$",
        metrics.cold_starts,
        metrics.warm_starts,
        events.len(),
        metrics.cost_picodollars
    );
    assert_eq!((metrics.cold_starts, metrics.warm_starts), (1, 4));
    provider
        .check_invariants()
        .map_err(|violation| format!("{violation:?}"))?;
    Ok(())
}

#[test]
fn runs() {
    main().unwrap();
}
