"""simulate(), compare() and replay() against the CLI's --json output."""

import json
import threading
import time

import pytest

import coldstart
from conftest import EXAMPLES, ROOT, cli_error, cli_json, run_cli

EXAMPLE_FILES = sorted(p.name for p in EXAMPLES.glob("*.toml"))


def test_the_examples_are_there():
    assert "default.toml" in EXAMPLE_FILES and "simfaas-canonical.toml" in EXAMPLE_FILES


def test_default_scenario_equals_the_cli():
    report = coldstart.simulate()
    cli = cli_json("simulate")
    assert report == cli
    assert list(report) == list(cli) == coldstart.report_keys()
    # The default scenario's digest, as README prints it.
    assert report["events_digest"] == "4e634af45cd1c7da"
    assert report["invocations"] == 200_000


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_example_scenarios_equal_the_cli(name):
    path = EXAMPLES / name
    assert coldstart.simulate(path) == cli_json("simulate", str(path))
    # A str path works as an os.PathLike does.
    assert coldstart.simulate(str(path))["events_digest"] == cli_json("simulate", str(path))["events_digest"]


def test_default_toml_is_the_default_scenario():
    assert coldstart.simulate(EXAMPLES / "default.toml") == coldstart.simulate()


def test_sets_seed_and_invocations_equal_the_cli():
    sets = ["provider.policy.keep_alive=2min", "provider.pressure=queue"]
    report = coldstart.simulate(set=sets, seed=7, invocations=3_000)
    cli = cli_json(
        "simulate", "--set", sets[0], "--set", sets[1], "--seed", "7", "--invocations", "3000"
    )
    assert report == cli
    assert report["invocations"] == 3_000
    # A dict of overrides is the same as the list.
    assert coldstart.simulate(
        set={"provider.policy.keep_alive": "2min", "provider.pressure": "queue"},
        seed=7,
        invocations=3_000,
    ) == cli


def test_a_dict_shaped_like_the_file_is_the_file():
    scenario = {
        "seed": 11,
        "provider": {"policy": {"keep_alive": "1min"}, "hosts": [{"count": 2, "ram": "8GiB", "slots": 4, "disk": "20GiB", "copy_bandwidth": "1GB/s"}]},
        "workload": {"invocations": 2_000},
    }
    sets = [
        "seed=11",
        "provider.policy.keep_alive=1min",
        'provider.hosts=[{count = 2, ram = "8GiB", slots = 4, disk = "20GiB", copy_bandwidth = "1GB/s"}]',
        "workload.invocations=2000",
    ]
    cli = cli_json("simulate", *[a for s in sets for a in ("--set", s)])
    assert coldstart.simulate(scenario) == cli
    # Overrides apply after the dict; the seed last.
    assert coldstart.simulate(scenario, set={"workload.invocations": 1_000}, seed=3) == cli_json(
        "simulate", *[a for s in sets for a in ("--set", s)], "--set", "workload.invocations=1000", "--seed", "3"
    )


def test_seeds_change_the_run():
    a = coldstart.simulate(invocations=1_000, seed=1)
    b = coldstart.simulate(invocations=1_000, seed=2)
    assert a["events_digest"] != b["events_digest"]
    assert coldstart.simulate(invocations=1_000, seed=1) == a


def test_scenario_errors_have_the_cli_message():
    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate(set=["provider.hostz=1"])
    assert str(error.value) == cli_error("simulate", "--set", "provider.hostz=1")[len("error: "):]
    assert str(error.value).startswith("provider.hostz: unknown field `hostz`")

    missing = str(EXAMPLES / "nope.toml")
    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate(missing)
    assert str(error.value) == cli_error("simulate", missing)

    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate({"provider": {"hosts": [{"count": 2}]}})
    assert str(error.value) == "provider.hosts[0]: missing field `ram`"

    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate({"provider": {"pressure": None}})
    assert str(error.value) == "provider.pressure: None has no TOML value (leave the key out)"

    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate(set=["provider.hosts[7].count=1"])
    assert str(error.value) == cli_error("simulate", "--set", "provider.hosts[7].count=1")[len("error: "):]

    with pytest.raises(coldstart.ScenarioError):
        coldstart.simulate(42)  # neither a path nor a dict
    # Every error is a coldstart.Error.
    assert issubclass(coldstart.ScenarioError, coldstart.Error)


def test_a_bad_file_names_its_line(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[provider\n")
    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate(path)
    assert str(error.value) == cli_error("simulate", str(path))
    assert "line 1, column" in str(error.value)


def test_a_trace_error_is_a_scenario_error(tmp_path):
    trace = tmp_path / "trace.csv"
    trace.write_text("app,func,end_timestamp,duration\na,f,1.0,x\n")
    path = tmp_path / "trace.toml"
    path.write_text('[workload.trace]\npath = "trace.csv"\n')
    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.simulate(path)
    assert str(error.value) == cli_error("simulate", str(path))


def test_compare_equals_the_cli():
    rows = coldstart.compare(
        policy={"keep-alive-policy": ["fixed", "hybrid"]},
        set={"provider.policy.keep_alive": ["1min", "10min"]},
        seeds=2,
        invocations=400,
        threads=2,
    )
    cli = cli_json(
        "compare",
        "--policy", "keep-alive-policy=fixed,hybrid",
        "--set", "provider.policy.keep_alive=1min,10min",
        "--seeds", "2",
        "--invocations", "400",
    )
    assert rows == cli
    assert len(rows) == 4
    assert rows[0]["combination"] == {"keep-alive-policy": "fixed", "provider.policy.keep_alive": "1min"}
    assert rows[0]["seeds"] == [825126002983, 825126002984]
    assert set(rows[0]["metrics"]) == set(coldstart.report_keys()) - {"events_digest"}
    # The same seeds' runs, one at a time, give the row's digests.
    one = coldstart.simulate(
        set={"provider.policy.keep_alive_policy": "fixed", "provider.policy.keep_alive": "1min"},
        invocations=400,
    )
    assert rows[0]["events_digests"][0] == one["events_digest"]


def test_compare_of_a_file_and_its_errors():
    path = EXAMPLES / "azure-slice.toml"
    rows = coldstart.compare(path, policy="keep-alive-policy=fixed,hybrid", seeds=1)
    assert rows == cli_json("compare", str(path), "--policy", "keep-alive-policy=fixed,hybrid", "--seeds", "1")
    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.compare(policy={"keep-alive-policy": ["fixed", "nope"]}, seeds=1)
    assert str(error.value) == cli_error("compare", "--policy", "keep-alive-policy=fixed,nope", "--seeds", "1")
    with pytest.raises(coldstart.ScenarioError) as error:
        coldstart.compare(seeds=0)
    assert str(error.value) == "--seeds: must be at least 1"


def test_compare_frame_needs_pandas_only_when_called():
    rows = coldstart.compare(policy={"keep-alive-policy": ["fixed", "hybrid"]}, seeds=2, invocations=200)
    flat = coldstart._flat_row(rows[1])
    assert flat["keep-alive-policy"] == "hybrid"
    assert flat["seeds"] == 2
    assert flat["cold_start_ratio_mean"] == rows[1]["metrics"]["cold_start_ratio"]["mean"]
    assert flat["cold_start_ratio_ci95"] == rows[1]["metrics"]["cold_start_ratio"]["ci95"]
    try:
        import pandas  # noqa: F401
    except ImportError:
        with pytest.raises(ImportError):
            coldstart.to_dataframe(rows)
    else:
        frame = coldstart.to_dataframe(rows)
        assert list(frame["keep-alive-policy"]) == ["fixed", "hybrid"]


def test_replay_equals_the_cli(tmp_path):
    for name in ("run.cslog", "run.jsonl"):
        log = tmp_path / name
        run_cli("simulate", "--invocations", "2000", "--record", str(log), "--quiet")
        report = coldstart.replay(log, verify=True)
        assert report == cli_json("replay", str(log), "--verify")
        # A replay gives the run's figures and digest.
        simulated = coldstart.simulate(invocations=2_000)
        assert report["events_digest"] == simulated["events_digest"]
        assert report["completed"] == simulated["completed"]


def test_replay_errors_have_the_cli_message(tmp_path):
    bad = tmp_path / "bad.cslog"
    bad.write_bytes(b"garbage\n")
    with pytest.raises(coldstart.LogError) as error:
        coldstart.replay(bad)
    assert str(error.value) == cli_error("replay", str(bad))
    assert "not a coldstart log" in str(error.value)

    log = tmp_path / "cut.cslog"
    run_cli("simulate", "--invocations", "200", "--record", str(log), "--quiet")
    data = log.read_bytes()
    log.write_bytes(data[: len(data) - 7])
    with pytest.raises(coldstart.LogError) as error:
        coldstart.replay(log, verify=True)
    assert str(error.value) == cli_error("replay", str(log), "--verify")

    with pytest.raises(coldstart.LogError) as error:
        coldstart.replay(tmp_path / "none.cslog")
    assert "No such file" in str(error.value)


def test_long_calls_release_the_gil():
    """While simulate() runs in a thread, Python code runs in another."""
    done = threading.Event()
    result = {}

    def run():
        result["report"] = coldstart.simulate()
        done.set()

    worker = threading.Thread(target=run)
    started = time.perf_counter()
    worker.start()
    ticks = 0
    while not done.is_set():
        ticks += 1
        time.sleep(0.001)
    worker.join()
    elapsed = time.perf_counter() - started
    assert result["report"]["events_digest"] == "4e634af45cd1c7da"
    # Held, the GIL would let the loop run about once; released, about
    # once a millisecond (at least a tenth of that on a loaded machine).
    assert ticks >= max(5, int(elapsed * 100)), (ticks, elapsed)


def test_threads_run_simulations_in_parallel():
    from concurrent.futures import ThreadPoolExecutor

    seeds = [1, 2, 3, 4]
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda s: coldstart.simulate(invocations=2_000, seed=s), seeds))
    assert [r["events_digest"] for r in reports] == [
        coldstart.simulate(invocations=2_000, seed=s)["events_digest"] for s in seeds
    ]


def test_per_function_figures_add_up_to_the_report():
    report = coldstart.simulate(invocations=5_000)
    rows = coldstart.functions(invocations=5_000)
    assert len(rows) == 12  # the default scenario's functions
    assert [row["function"] for row in rows] == sorted(row["function"] for row in rows)
    for key in ["cold_starts", "warm_starts", "completed", "timed_out"]:
        assert sum(row[key] for row in rows) == report[key], key
    assert sum(row["invocations"] for row in rows) == report["invocations"]
    assert sum(row["rejected"] for row in rows) == report["rejected"]
    assert sum(row["failed"] for row in rows) == report["failed"]
    assert sum(row["cost_picodollars"] for row in rows) == report["cost_picodollars"]
    for row in rows:
        started = row["cold_starts"] + row["warm_starts"]
        if started:
            assert row["cold_start_ratio"] == row["cold_starts"] / started
            assert row["end_to_end_us_p50"] <= row["end_to_end_us_p99"]
    # The Zipf head is invoked most.
    assert rows[0]["invocations"] == max(row["invocations"] for row in rows)


def test_per_function_figures_take_a_scenario_file_and_refuse_a_bad_one():
    rows = coldstart.functions(EXAMPLES / "azure-slice.toml")
    assert sum(row["invocations"] for row in rows) == coldstart.simulate(EXAMPLES / "azure-slice.toml")["invocations"]
    with pytest.raises(coldstart.ScenarioError):
        coldstart.functions(set=["workload.nope=1"])
