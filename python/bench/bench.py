"""Speed of the Python package against the command line (docs/performance.md).

    target/py-venv/bin/python python/bench/bench.py [--runs N] [--bin PATH]

Measures, best of N runs each:

- ``simulate()`` on the default scenario against ``coldstart simulate --json``
  (a fresh process: its time includes starting it), checking that both
  give the same report;
- ``Provider.apply`` (one input per call) and ``Provider.apply_all`` on a
  stream of invocations and advances, in inputs per second;
- the same default-scenario run four times, one after another and on a
  ``concurrent.futures.ThreadPoolExecutor`` (the runs release the GIL), and
  the process's CPU time over the wall time while the threads run (above 1
  only if they ran at once).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import pathlib
import subprocess
import time

import coldstart as cs

ROOT = pathlib.Path(__file__).resolve().parents[2]
MIB = 1 << 20


def best_of(runs: int, body) -> float:
    """The shortest of `runs` wall-clock times of body(), in seconds."""
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        body()
        times.append(time.perf_counter() - start)
    return min(times)


def simulate_against_cli(runs: int, binary: str) -> dict:
    report = cs.simulate()
    cli = json.loads(subprocess.run([binary, "simulate", "--json"], capture_output=True, check=True).stdout)
    assert report == cli, "simulate() and the CLI disagree"
    python_s = best_of(runs, cs.simulate)
    cli_s = best_of(runs, lambda: subprocess.run([binary, "simulate", "--json"], capture_output=True, check=True))
    return {
        "invocations": report["invocations"],
        "events": report["events"],
        "simulate_s": python_s,
        "cli_s": cli_s,
        "ratio": python_s / cli_s,
    }


def step_inputs(count: int) -> list:
    """Registrations, then invocations of 8 functions 1 ms apart, each
    followed by an advance to its time plus 500 µs."""
    inputs = [cs.register_image(0, 100 * MIB)]
    inputs += [cs.register_function(0, 0, 256 * MIB, 64 * MIB, 10_000_000) for _ in range(8)]
    at_us = 0
    while len(inputs) < count:
        at_us += 1_000
        function = (at_us // 1_000) % 8
        inputs.append(cs.invoke(at_us, function, cs.success(20_000, at_us)))
        inputs.append(cs.advance(at_us + 500))
    return inputs[:count]


def apply_rate(runs: int, count: int) -> dict:
    inputs = step_inputs(count)
    functions = cs.Provider().apply_all(inputs[:9])
    ids = [e["function"] for e in functions if e["kind"] == "FunctionRegistered"]
    # Function ids are arena keys: use the ones the provider handed out.
    for input in inputs[9:]:
        if input["command"] == "Invoke":
            input["function"] = ids[input["function"]]
    events = []

    def one_by_one():
        provider = cs.Provider()
        apply = provider.apply
        total = 0
        for input in inputs:
            total += len(apply(input))
        events.append(total)

    def all_at_once():
        provider = cs.Provider()
        events.append(len(provider.apply_all(inputs)))

    apply_s = best_of(runs, one_by_one)
    apply_all_s = best_of(runs, all_at_once)
    assert len(set(events)) == 1, "the runs differ"
    return {
        "inputs": count,
        "events": events[0],
        "apply_inputs_per_s": count / apply_s,
        "apply_all_inputs_per_s": count / apply_all_s,
    }


def threaded_sweep(runs: int, jobs: int = 4) -> dict:
    seeds = list(range(1, jobs + 1))

    def serial():
        return [cs.simulate(seed=seed)["events_digest"] for seed in seeds]

    def threaded():
        with concurrent.futures.ThreadPoolExecutor(max_workers=os.cpu_count()) as pool:
            return [report["events_digest"] for report in pool.map(lambda s: cs.simulate(seed=s), seeds)]

    assert serial() == threaded()
    serial_s = best_of(runs, serial)
    threaded_s = best_of(runs, threaded)
    # CPU time over wall time while the threads run: above 1 only if they
    # ran at once (with the GIL held, one at a time, it stays at or below
    # 1), whatever else the machine is doing.
    cpu_start, wall_start = time.process_time(), time.perf_counter()
    threaded()
    parallelism = (time.process_time() - cpu_start) / (time.perf_counter() - wall_start)
    return {
        "runs": jobs,
        "threads": os.cpu_count(),
        "serial_s": serial_s,
        "threaded_s": threaded_s,
        "speedup": serial_s / threaded_s,
        "cpu_over_wall_threaded": parallelism,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--inputs", type=int, default=200_000)
    parser.add_argument("--bin", default=os.environ.get("COLDSTART_BIN", str(ROOT / "target/release/coldstart")))
    args = parser.parse_args()
    results = {
        "simulate": simulate_against_cli(args.runs, args.bin),
        "apply": apply_rate(args.runs, args.inputs),
        "threads": threaded_sweep(max(1, args.runs // 2)),
    }
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
