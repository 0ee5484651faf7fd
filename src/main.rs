//! The `coldstart` command.

use clap::{Args, Parser, Subcommand, ValueEnum};
use coldstart::simulate::{
    simulate, SimulateOptions, INVOCATIONS_DEFAULT, QUEUE_CAPACITY_DEFAULT, SEED_DEFAULT,
};
use coldstart::summary;
use coldstart::Pressure;
use std::process::ExitCode;
use std::time::Instant;

/// The most invocations one `simulate` run may generate.
const INVOCATIONS_MAX: u64 = 1_000_000_000;

/// A deterministic model of a Function-as-a-Service provider.
#[derive(Debug, Parser)]
#[command(name = "coldstart", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs the embedded default scenario and prints a summary.
    Simulate(SimulateArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum PressureArg {
    /// An invocation that finds no room ends at once, rejected.
    Reject,
    /// It waits in a first-in, first-out queue.
    Queue,
}

#[derive(Debug, Args)]
struct SimulateArgs {
    /// Seed of the synthetic workload.
    #[arg(long, default_value_t = SEED_DEFAULT)]
    seed: u64,
    /// Invocations to generate.
    #[arg(long, default_value_t = INVOCATIONS_DEFAULT,
          value_parser = clap::value_parser!(u64).range(0..=INVOCATIONS_MAX))]
    invocations: u64,
    /// What happens to an invocation when no host has room.
    #[arg(long, value_enum, default_value_t = PressureArg::Reject)]
    pressure: PressureArg,
    /// Queue capacity, with `--pressure queue`.
    #[arg(long, default_value_t = QUEUE_CAPACITY_DEFAULT,
          value_parser = clap::value_parser!(u32).range(1..))]
    queue_capacity: u32,
    /// Check every invariant after every step (always on in debug builds).
    #[arg(long)]
    check: bool,
}

impl SimulateArgs {
    fn options(&self) -> SimulateOptions {
        let pressure = match self.pressure {
            PressureArg::Reject => Pressure::Reject,
            PressureArg::Queue => Pressure::Queue {
                capacity: self.queue_capacity,
            },
        };
        SimulateOptions {
            seed: self.seed,
            invocations: self.invocations,
            pressure,
            check_invariants: self.check || cfg!(debug_assertions),
        }
    }

    /// The command that reruns this simulation, for error messages.
    fn rerun_command(&self) -> String {
        let pressure = match self.pressure {
            PressureArg::Reject => "reject",
            PressureArg::Queue => "queue",
        };
        format!(
            "coldstart simulate --seed {} --invocations {} --pressure {pressure} --queue-capacity {} --check",
            self.seed, self.invocations, self.queue_capacity
        )
    }
}

fn run_simulate(args: &SimulateArgs) -> ExitCode {
    let started = Instant::now();
    match simulate(args.options()) {
        Ok(simulation) => {
            let wall_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
            print!("{}", summary::render(&simulation));
            print!(
                "{}",
                summary::render_wall(simulation.metrics.accepted, wall_us)
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!(
                "coldstart: error: {error} (rerun: {})",
                args.rerun_command()
            );
            ExitCode::FAILURE
        }
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        Command::Simulate(args) => run_simulate(args),
    }
}
