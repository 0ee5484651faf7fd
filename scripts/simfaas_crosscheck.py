#!/usr/bin/env python3
"""Side-by-side cross-check of coldstart against SimFaaS (Mahmoudi & Khazaei).

Runs SimFaaS's ServerlessSimulator on its canonical configuration (Poisson
arrivals at 0.9/s, warm service Exp(mean 1.991 s), cold service Exp(mean
2.244 s), expiration threshold 600 s) and `coldstart simulate
examples/simfaas-canonical.toml --json` over the same number of seeds, and
prints each metric's mean and 95% confidence interval (Student's t over the
seeds) for both, the difference of the means with its 95% interval (Welch),
and whether the means agree within the noise (that interval holds 0).

Needs a Python with simfaas 0.2.2 (numpy, scipy come with it) and a built
coldstart binary; `cargo test` does not use it:

    cargo build --release
    /work/simfaas-venv/bin/python scripts/simfaas_crosscheck.py --seeds 10

The metrics are SimFaaS's own definitions (see `get_result_dict` in its
ServerlessSimulator), read from coldstart's `simfaas_*` report keys:
cold-start probability over all arrivals (`simfaas_cold_start_prob`),
time-averaged instances / running / idle (`simfaas_avg_containers`,
`simfaas_avg_running`, `simfaas_avg_idle`), running / instances
(`simfaas_utilization`) and the mean lifespan of expired instances
(`simfaas_expired_lifespan_us_mean`). Like SimFaaS's, coldstart's figures
stop when the arrivals stop (at the last arrival), not after the final
keep-alives run out.

SimFaaS is slow (about a minute per 10^6 simulated seconds here):
`--json-out FILE` keeps every run's figures, and `--reuse-simfaas FILE`
takes SimFaaS's runs from such a file and reruns coldstart only.

`--cold-service shifted` replaces SimFaaS's exponential cold service by
coldstart's shape, a constant 0.253 s plus the Exp(1.991 s) run, to measure
what that difference does (run both and compare the SimFaaS columns).

`--concurrency N` runs SimFaaS's `ParServerlessSimulator` instead (N
requests at once per instance) against coldstart with
`workload.functions[0].concurrency = N`; `--rate R` changes the arrival
rate of both (default 0.9/s). SimFaaS's parallel instance draws its cold
start as an initialization before the warm service, so there its cold
service is the constant 0.253 s then Exp(1.991 s), coldstart's own shape,
and `--cold-service` does not apply. `--simfaas-join coldstart` gives
SimFaaS coldstart's default choice of instance (a subclass of
ParServerlessSimulator), to tell the rule's effect from the models'.
"""

import argparse
import json
import math
import os
import subprocess
import sys
import time

import numpy as np
from scipy import stats
from simfaas.ServerlessSimulator import ServerlessSimulator
from simfaas.ParServerlessSimulator import ParServerlessSimulator
from simfaas.SimProcess import ConstSimProcess, ExpSimProcess, SimProcess

ARRIVAL_RATE_PER_S = 0.9
WARM_MEAN_S = 1.991
COLD_MEAN_S = 2.244
# coldstart's cold start: this constant overhead, then the warm run.
COLD_OVERHEAD_S = 0.253
EXPIRATION_S = 600.0

# (label, SimFaaS result key, coldstart report key, scale to SimFaaS units)
METRICS = [
    ("cold-start probability", "prob_cold", "simfaas_cold_start_prob", 1.0),
    ("time-avg instances", "inst_count_avg", "simfaas_avg_containers", 1.0),
    ("time-avg running", "inst_running_count_avg", "simfaas_avg_running", 1.0),
    ("time-avg idle", "inst_idle_count_avg", "simfaas_avg_idle", 1.0),
    ("utilization (running/instances)", "utilization", "simfaas_utilization", 1.0),
    ("mean expired lifespan (s)", "lifespan_avg", "simfaas_expired_lifespan_us_mean", 1e-6),
]


class ShiftedExp(SimProcess):
    """A constant plus an exponential: coldstart's cold service."""

    def __init__(self, constant, mean):
        super().__init__()
        self.constant = constant
        self.mean = mean

    def generate_trace(self):
        return self.constant + np.random.exponential(self.mean)


class ColdstartJoin(ParServerlessSimulator):
    """ParServerlessSimulator with coldstart's default choice of instance
    (Policies::join_priority and join_before_waking, spec R57b): an
    instance running requests with room first, the newest; else the newest
    idle one; else the newest still starting. SimFaaS's own rule takes the
    newest instance with room, whatever its state."""

    def schedule_warm_instance(self, t):
        ready = [s for s in self.servers if s.is_ready()]
        for state in ("WARM", "IDLE", "COLD"):
            group = [s for s in ready if s.state == state]
            if group:
                return max(group, key=lambda s: s.creation_time)
        raise Exception("no instance with room")


def run_simfaas(seed, max_time_s, cold_service, rate_per_s, concurrency, join="simfaas"):
    np.random.seed(seed)
    common = dict(
        arrival_process=ExpSimProcess(rate=rate_per_s),
        warm_service_process=ExpSimProcess(rate=1 / WARM_MEAN_S),
        expiration_threshold=EXPIRATION_S,
        max_time=max_time_s,
    )
    if concurrency is not None:
        # A parallel instance's cold process is its initialization only;
        # the request then runs its warm service.
        simulator = ColdstartJoin if join == "coldstart" else ParServerlessSimulator
        sim = simulator(
            concurrency, cold_service_process=ConstSimProcess(rate=1 / COLD_OVERHEAD_S), **common
        )
    else:
        if cold_service == "exp":
            cold = ExpSimProcess(rate=1 / COLD_MEAN_S)
        else:
            cold = ShiftedExp(COLD_OVERHEAD_S, WARM_MEAN_S)
        sim = ServerlessSimulator(cold_service_process=cold, **common)
    sim.generate_trace()
    result = sim.get_result_dict()
    result["utilization"] = result["inst_running_count_avg"] / result["inst_count_avg"]
    return {key: float(value) for key, value in result.items()}


def run_coldstart(binary, scenario, seed, invocations, rate_per_s, concurrency):
    command = [
        binary, "simulate", scenario, "--seed", str(seed),
        "--set", f"workload.invocations={invocations}",
        "--set", f"workload.interarrival_mean={round(1e6 / rate_per_s)}us",
        "--json",
    ]
    if concurrency is not None:
        command += ["--set", f"workload.functions[0].concurrency={concurrency}"]
    output = subprocess.run(command, check=True, capture_output=True, text=True)
    return json.loads(output.stdout)


def mean_ci(values):
    """Mean and the half-width of its 95% interval (Student's t)."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    mean = float(values.mean())
    if n < 2:
        return mean, float("nan"), float("nan")
    sd = float(values.std(ddof=1))
    return mean, float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n), sd


def welch(a, b):
    """Difference of means (b - a) and its 95% half-width (Welch)."""
    a, b = np.asarray(a, dtype=float), np.asarray(b, dtype=float)
    va, vb = a.var(ddof=1) / len(a), b.var(ddof=1) / len(b)
    se = math.sqrt(va + vb)
    if se == 0:
        return float(b.mean() - a.mean()), 0.0
    dof = (va + vb) ** 2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return float(b.mean() - a.mean()), float(stats.t.ppf(0.975, dof)) * se


def number(value):
    if math.isnan(value):
        return "n/a"
    if abs(value) >= 100:
        return f"{value:.1f}"
    if abs(value) >= 1:
        return f"{value:.4f}"
    return f"{value:.6f}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10, help="runs per simulator (default 10)")
    parser.add_argument("--first-seed", type=int, default=1, help="seeds are FIRST.. FIRST+N-1 (default 1)")
    parser.add_argument("--max-time-s", type=float, default=1e6,
                        help="SimFaaS's simulated time; coldstart gets round(rate x this) arrivals (default 1e6)")
    parser.add_argument("--rate", type=float, default=ARRIVAL_RATE_PER_S,
                        help="arrivals per second, for both (default 0.9)")
    parser.add_argument("--concurrency", type=int,
                        help="requests at once per instance: SimFaaS's ParServerlessSimulator "
                             "against coldstart's per-container concurrency")
    parser.add_argument("--simfaas-join", choices=["simfaas", "coldstart"], default="simfaas",
                        help="with --concurrency, SimFaaS's instance choice: simfaas = the newest "
                             "with room (its own), coldstart = coldstart's default (running "
                             "before idle before starting, newest first)")
    parser.add_argument("--cold-service", choices=["exp", "shifted"], default="exp",
                        help="SimFaaS's cold service: exp = Exp(2.244 s) (SimFaaS's own), "
                             "shifted = 0.253 s + Exp(1.991 s) (coldstart's shape)")
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    parser.add_argument("--coldstart", default=os.path.join(root, "target/release/coldstart"))
    parser.add_argument("--scenario", default=os.path.join(root, "examples/simfaas-canonical.toml"))
    parser.add_argument("--json-out", help="also write every run's figures here")
    parser.add_argument("--reuse-simfaas", metavar="FILE",
                        help="take SimFaaS's runs from a --json-out file (same seeds, time, cold service)")
    args = parser.parse_args()
    if args.seeds < 2:
        parser.error("--seeds must be at least 2 for a confidence interval")

    seeds = list(range(args.first_seed, args.first_seed + args.seeds))
    if args.concurrency is not None and args.concurrency < 1:
        parser.error("--concurrency must be at least 1")
    if args.rate <= 0:
        parser.error("--rate must be positive")
    invocations = round(args.rate * args.max_time_s)
    simfaas_runs, coldstart_runs = [], []
    reused = None
    if args.reuse_simfaas:
        with open(args.reuse_simfaas) as saved:
            saved = json.load(saved)
        settings = (saved.get("max_time_s"), saved.get("cold_service"),
                    saved.get("rate", ARRIVAL_RATE_PER_S), saved.get("concurrency"),
                    saved.get("simfaas_join", "simfaas"))
        wanted = (args.max_time_s, args.cold_service, args.rate, args.concurrency,
                  args.simfaas_join)
        if saved["seeds"] != seeds or settings != wanted:
            parser.error(f"{args.reuse_simfaas} holds seeds {saved['seeds']}, settings {settings}")
        reused = saved["simfaas"]
    for index, seed in enumerate(seeds):
        started = time.monotonic()
        if reused is None:
            simfaas_runs.append(run_simfaas(seed, args.max_time_s, args.cold_service, args.rate,
                                             args.concurrency, args.simfaas_join))
        else:
            simfaas_runs.append(reused[index])
        simfaas_s = time.monotonic() - started
        started = time.monotonic()
        coldstart_runs.append(run_coldstart(args.coldstart, args.scenario, seed, invocations, args.rate,
                                            args.concurrency))
        coldstart_s = time.monotonic() - started
        print(f"seed {seed}: SimFaaS {simfaas_s:.1f} s, coldstart {coldstart_s:.1f} s",
              file=sys.stderr, flush=True)

    if args.json_out:
        with open(args.json_out, "w") as out:
            json.dump({"seeds": seeds, "max_time_s": args.max_time_s,
                       "cold_service": args.cold_service,
                       "rate": args.rate, "concurrency": args.concurrency,
                       "simfaas_join": args.simfaas_join,
                       "simfaas": simfaas_runs, "coldstart": coldstart_runs}, out)

    shape = (f"ParServerlessSimulator, concurrency {args.concurrency}, {args.simfaas_join}'s join rule" if args.concurrency is not None
             else f"{args.cold_service} cold service")
    print(f"seeds {seeds[0]}..{seeds[-1]} ({len(seeds)} per simulator); {args.rate:g} arrivals/s; "
          f"SimFaaS {args.max_time_s:g} s with {shape}; coldstart {invocations} arrivals")
    print("mean ± 95% CI (Student's t); difference coldstart − SimFaaS ± 95% CI (Welch)")
    print()
    print("| metric | SimFaaS | coldstart | difference | agree |")
    print("|---|---|---|---|---|")
    for label, simfaas_key, coldstart_key, scale in METRICS:
        a = [run[simfaas_key] for run in simfaas_runs]
        b = [run[coldstart_key] * scale for run in coldstart_runs]
        (ma, ha, _), (mb, hb, _) = mean_ci(a), mean_ci(b)
        diff, half = welch(a, b)
        agree = "yes" if abs(diff) <= half else "no"
        print(f"| {label} | {number(ma)} ± {number(ha)} | {number(mb)} ± {number(hb)} "
              f"| {number(diff)} ± {number(half)} | {agree} |")


if __name__ == "__main__":
    main()
