//! coldstart as a test oracle for another implementation: here, a metering
//! pipeline of the kind a platform team writes, which rebuilds each
//! invocation's bill from the platform's event stream. The oracle runs the
//! same workload and every bill the pipeline computes must equal the one
//! the model charged; the first disagreement is reported with its
//! invocation and both figures.
//!
//! Run with `cargo run --example oracle`.

use coldstart::driver::{Driver, DriverOptions};
use coldstart::simulate::default_workload;
use coldstart::FunctionDef;
use coldstart::{
    Builtin, Command, Config, Event, EventKind, FunctionId, Input, InvocationId, Provider,
};
use std::collections::BTreeMap;

/// The implementation under test: bills from events, with its own
/// arithmetic (billed milliseconds, prices per GiB-second and per GiB).
#[derive(Default)]
struct Metering {
    /// Charge the cold start's overhead (Lambda bills a function's init).
    bills_cold_start: bool,
    cold_start_us: u64,
    /// Function → (memory, scratch), from its registration.
    functions: BTreeMap<FunctionId, (u64, u64)>,
    /// Registrations seen but not yet answered with an id.
    registering: Option<(u64, u64)>,
    /// Invocation → (function, egress bytes, cold, code start µs).
    open: BTreeMap<InvocationId, Open>,
    /// The egress of the invocation just sent, until `Accepted` names it.
    sending: Option<u64>,
}

#[derive(Clone, Copy)]
struct Open {
    function: FunctionId,
    egress_bytes: u64,
    cold: bool,
    code_start_us: Option<u64>,
}

const GIB: u128 = 1 << 30;
const REQUEST_PICODOLLARS: u128 = 200_000;
const GIB_SECOND_PICODOLLARS: u128 = 16_666_700;
const SCRATCH_FREE_BYTES: u64 = 512 << 20;
const SCRATCH_GIB_SECOND_PICODOLLARS: u128 = 30_900;
const EGRESS_GIB_PICODOLLARS: u128 = 90_000_000_000;

impl Metering {
    /// Sees an input before the platform does.
    fn sent(&mut self, input: &Input) {
        match input.command {
            Command::RegisterFunction(FunctionDef {
                memory_bytes,
                scratch_bytes,
                ..
            }) => self.registering = Some((memory_bytes, scratch_bytes)),
            Command::Invoke { egress_bytes, .. } => self.sending = Some(egress_bytes),
            _ => {}
        }
    }

    /// Sees one event; returns `(invocation, bill)` when one ends billed.
    fn saw(&mut self, event: &Event) -> Option<(InvocationId, u64, u64)> {
        match event.kind {
            EventKind::FunctionRegistered { function, .. } => {
                let sizes = self.registering.take().expect("a registration was sent");
                self.functions.insert(function, sizes);
            }
            EventKind::Accepted {
                invocation,
                function,
            } => {
                let egress_bytes = self.sending.take().expect("an invocation was sent");
                let open = Open {
                    function,
                    egress_bytes,
                    cold: false,
                    code_start_us: None,
                };
                self.open.insert(invocation, open);
            }
            EventKind::ColdStart { invocation, .. } => {
                self.open.get_mut(&invocation)?.cold = true;
            }
            EventKind::ExecutionStarted { invocation, .. } => {
                self.open.get_mut(&invocation)?.code_start_us = Some(event.at_us);
            }
            EventKind::Completed {
                invocation,
                cost_picodollars,
                ..
            } => {
                return Some((
                    invocation,
                    self.bill(invocation, event.at_us, true),
                    cost_picodollars,
                ))
            }
            EventKind::Failed {
                invocation,
                cost_picodollars,
                ..
            }
            | EventKind::TimedOut {
                invocation,
                cost_picodollars,
            } => {
                return Some((
                    invocation,
                    self.bill(invocation, event.at_us, false),
                    cost_picodollars,
                ))
            }
            _ => {}
        }
        None
    }

    fn bill(&mut self, invocation: InvocationId, end_us: u64, completed: bool) -> u64 {
        let open = self
            .open
            .remove(&invocation)
            .expect("an ended invocation was open");
        let (memory_bytes, scratch_bytes) = self.functions[&open.function];
        let code_us = end_us - open.code_start_us.expect("it ran");
        let overhead_us = if open.cold && self.bills_cold_start {
            self.cold_start_us
        } else {
            0
        };
        let billed_ms = u128::from(code_us + overhead_us).div_ceil(1_000);
        let gib_ms =
            |bytes: u64, price: u128| (u128::from(bytes) * billed_ms * price).div_ceil(GIB * 1_000);
        let egress = if completed {
            (u128::from(open.egress_bytes) * EGRESS_GIB_PICODOLLARS).div_ceil(GIB)
        } else {
            0
        };
        let total = REQUEST_PICODOLLARS
            + gib_ms(memory_bytes, GIB_SECOND_PICODOLLARS)
            + gib_ms(
                scratch_bytes.saturating_sub(SCRATCH_FREE_BYTES),
                SCRATCH_GIB_SECOND_PICODOLLARS,
            )
            + egress;
        u64::try_from(total).expect("a bill fits in u64")
    }
}

/// Runs `invocations` of the default workload through the oracle and the
/// metering; the first bill they disagree on, or how many agreed.
fn check(metering: &mut Metering, invocations: u64) -> Result<u64, String> {
    let config = Config::default();
    metering.cold_start_us = config.cold_start_us;
    let provider = Provider::new(config, Builtin::default()).map_err(|e| e.to_string())?;
    let mut oracle = Driver::new(provider, DriverOptions::default());
    let mut agreed = 0;
    let mut compare = |metering: &mut Metering, event: &Event| -> Result<(), String> {
        if let Some((invocation, ours, oracles)) = metering.saw(event) {
            if ours != oracles {
                return Err(format!(
                    "{invocation} ended at {} µs: the metering billed {ours} pico$, the model {oracles}",
                    event.at_us
                ));
            }
            agreed += 1;
        }
        Ok(())
    };
    let workload = default_workload(11, invocations)
        .inputs()
        .map_err(|e| e.to_string())?;
    for input in workload {
        metering.sent(&input);
        let events = oracle.apply(&input).map_err(|e| e.to_string())?.to_vec();
        events
            .iter()
            .try_for_each(|event| compare(metering, event))?;
    }
    let mut drained = Vec::new();
    oracle
        .drain_with(|event| drained.push(*event))
        .map_err(|e| e.to_string())?;
    drained
        .iter()
        .try_for_each(|event| compare(metering, event))?;
    Ok(agreed)
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The pipeline as it should be: the cold start's overhead is billed.
    let agreed = check(
        &mut Metering {
            bills_cold_start: true,
            ..Default::default()
        },
        5_000,
    )?;
    println!("metering agrees with the model on {agreed} bills");

    // A pipeline that forgets the cold start's overhead is caught at the
    // first cold invocation's bill.
    let forgetful = check(&mut Metering::default(), 5_000);
    let disagreement = forgetful
        .err()
        .ok_or("the forgetful metering was not caught")?;
    println!("forgetful metering: {disagreement}");
    Ok(())
}

#[test]
fn runs() {
    main().unwrap();
}
