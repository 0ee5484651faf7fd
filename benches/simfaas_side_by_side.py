#!/usr/bin/env python3
"""SimFaaS and coldstart side by side, on one machine, in one run.

Both simulate SimFaaS's canonical workload: one function, Poisson arrivals,
Exp(1.991 s) warm service, 2.244 s mean cold service, a 600 s keep-alive
(expiration threshold), the newest idle instance reused first, no capacity
limit reached. coldstart runs `examples/simfaas-canonical.toml` (what
differs from SimFaaS is listed in that file), with `--set
workload.interarrival_mean=...` for the arrival rate and `--invocations` for
the length.

What is timed:
- SimFaaS: `ServerlessSimulator.generate_trace()` alone (the simulation),
  not the interpreter's start, the import, nor the result analysis.
- coldstart: the whole `coldstart simulate` process (start, scenario
  parsing, workload generation, simulation, report), wall clock.
So the comparison is conservative for coldstart.

Both wall time and CPU time (user + system, of this process for SimFaaS and
of the child process for coldstart) are measured; both simulators are
single-threaded, and CPU time moves much less than wall time when other
work shares the machine. Ratios are printed for both.

Each simulator runs RUNS times per workload (seeds 1..RUNS); the medians are
used. Requests per second = requests simulated / median seconds, where
requests are SimFaaS's `total_req_count` and coldstart's `invocations` (its
JSON report).

Run it with SimFaaS's Python (SimFaaS is not installed in this repository):

    cargo build --release
    /path/to/simfaas-venv/bin/python benches/simfaas_side_by_side.py

Options: --coldstart PATH (default target/release/coldstart), --runs N
(default 3), --quick (shorter runs, for a smoke test).
"""

import argparse
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCENARIO = os.path.join(REPO, "examples", "simfaas-canonical.toml")

WARM_SERVICE_MEAN_S = 1.991
COLD_SERVICE_MEAN_S = 2.244
EXPIRATION_THRESHOLD_S = 600

# (name, arrival rate per second, SimFaaS simulated seconds, coldstart
# invocations). SimFaaS runs for a fixed virtual time; coldstart for a fixed
# number of arrivals. Lengths are chosen so each SimFaaS run takes a few
# seconds and each coldstart run about a second: rates, not totals, are
# compared, and both are long past their start-up transient.
WORKLOADS = [
    ("lambda=0.9", 0.9, 200_000, 2_000_000),
    ("lambda=100", 100.0, 400, 2_000_000),
]
QUICK_WORKLOADS = [
    ("lambda=0.9", 0.9, 20_000, 200_000),
    ("lambda=100", 100.0, 40, 200_000),
]
TARGETS = {"lambda=0.9": 100, "lambda=100": 1000}


def run_simfaas(rate, max_time_s, seed):
    """One SimFaaS run; returns (requests, wall seconds and CPU seconds of
    generate_trace, cold starts / arrivals)."""
    import numpy as np
    from simfaas.ServerlessSimulator import ServerlessSimulator

    np.random.seed(seed)
    sim = ServerlessSimulator(
        arrival_rate=rate,
        warm_service_rate=1 / WARM_SERVICE_MEAN_S,
        cold_service_rate=1 / COLD_SERVICE_MEAN_S,
        expiration_threshold=EXPIRATION_THRESHOLD_S,
        max_time=max_time_s,
    )
    start, start_cpu = time.perf_counter(), time.process_time()
    sim.generate_trace(debug_print=False, progress=False)
    seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    return (
        sim.total_req_count,
        seconds,
        cpu_seconds,
        sim.total_cold_count / sim.total_req_count,
    )


def children_cpu_seconds():
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def run_coldstart(binary, rate, invocations, seed):
    """One coldstart run; returns (requests, wall seconds and CPU seconds of
    the whole process, cold starts / arrivals)."""
    interarrival_us = round(1_000_000 / rate)
    command = [
        binary,
        "simulate",
        SCENARIO,
        "--set",
        f"workload.interarrival_mean={interarrival_us}us",
        "--invocations",
        str(invocations),
        "--seed",
        str(seed),
        "--json",
    ]
    start, start_cpu = time.perf_counter(), children_cpu_seconds()
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    seconds, cpu_seconds = time.perf_counter() - start, children_cpu_seconds() - start_cpu
    report = json.loads(result.stdout)
    return (
        report["invocations"],
        seconds,
        cpu_seconds,
        report["cold_starts"] / report["invocations"],
    )


def median_run(runs, one):
    """The medians of each field over `runs` runs (SimFaaS's request count
    varies with the seed, as it runs for a fixed virtual time)."""
    results = [one(seed) for seed in range(1, runs + 1)]
    return tuple(statistics.median(r[i] for r in results) for i in range(4))


def cpu_model():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--coldstart", default=os.path.join(REPO, "target", "release", "coldstart")
    )
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if not os.path.exists(args.coldstart):
        sys.exit(f"{args.coldstart} not found: run `cargo build --release` first")
    try:
        import simfaas  # noqa: F401
    except ImportError:
        sys.exit("SimFaaS is not importable: run this with the Python that has simfaas 0.2.2")

    print(f"machine: {cpu_model()}, {os.cpu_count()} cores, Python {platform.python_version()}")
    print(f"load average at start: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"median of {args.runs} runs each (seeds 1..{args.runs})")
    print("SimFaaS: generate_trace() only; coldstart: the whole `coldstart simulate` process")
    print()
    header = (
        f"{'workload':<12} {'simulator':<10} {'requests':>10} {'wall s':>8} {'requests/s':>12}"
        f" {'CPU s':>8} {'requests/CPU s':>15} {'cold/arrivals':>14}"
    )
    print(header)
    print("-" * len(header))
    ratios = {}
    cpu_ratios = {}
    for name, rate, max_time_s, invocations in QUICK_WORKLOADS if args.quick else WORKLOADS:
        rows = [
            ("SimFaaS", median_run(args.runs, lambda seed: run_simfaas(rate, max_time_s, seed))),
            (
                "coldstart",
                median_run(
                    args.runs,
                    lambda seed: run_coldstart(args.coldstart, rate, invocations, seed),
                ),
            ),
        ]
        rates = {}
        for simulator, (requests, seconds, cpu_seconds, cold) in rows:
            rates[simulator] = (requests / seconds, requests / cpu_seconds)
            print(
                f"{name:<12} {simulator:<10} {requests:>10.0f} {seconds:>8.3f}"
                f" {requests / seconds:>12,.0f} {cpu_seconds:>8.3f}"
                f" {requests / cpu_seconds:>15,.0f} {cold:>14.5f}"
            )
            sys.stdout.flush()
        ratios[name] = rates["coldstart"][0] / rates["SimFaaS"][0]
        cpu_ratios[name] = rates["coldstart"][1] / rates["SimFaaS"][1]
    print()
    for name, ratio in ratios.items():
        target = TARGETS[name]
        verdict = "meets" if ratio >= target else "below"
        print(
            f"{name}: coldstart / SimFaaS = {ratio:,.1f}x by wall time,"
            f" {cpu_ratios[name]:,.1f}x by CPU time ({verdict} the {target}x target by wall time)"
        )
    print(f"load average at end: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
