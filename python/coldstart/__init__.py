"""coldstart: a deterministic model of a Function-as-a-Service provider.

The whole-run API runs scenarios as the command line does and returns its
reports as dicts:

- :func:`simulate` -- one run; the same keys and values as
  ``coldstart simulate --json`` (the events digest included);
- :func:`compare` -- a grid of runs, one row per combination, as
  ``coldstart compare --json``; :func:`compare_frame` gives a pandas
  DataFrame when pandas is installed;
- :func:`replay` -- a command log, as ``coldstart replay --json``.

The step API is :class:`Provider`: apply inputs one at a time (dicts, made
with the helpers below or by hand), read events, states and outputs, wait
for invocations, check invariants, snapshot, restore and pickle.
:class:`Recorder` is a provider that writes a command log as it goes,
which ``coldstart replay LOG --verify`` runs again.

A policy written in Python is any object with ``select_host(view,
request)`` and, optionally, the other hooks of core's ``Policies`` trait
(``warm_priority``, ``join_priority``, ``join_before_waking``,
``idle_eviction_priority``, ``idle_plan``,
``keep_alive_us``, ``image_priority``, ``evicted``,
``collection_target_bytes``, ``bill``): give it as ``Provider(config,
policy=obj)`` or ``Recorder(path, config, policy=obj)``, replay its logs
with ``replay(log, policy=obj)``, and check it with the policy harness:
:func:`check_policy`, :func:`fuzz_policy`, :func:`check_inputs`.

Every error is a :class:`Error`; its message is the Rust error's one line.
Runs, comparisons, replays, waits and harness checks release the GIL, so
threads run them in parallel.
"""

from __future__ import annotations

import os
from typing import Any, Dict, Iterable, List, Mapping, Optional, Sequence, Union

from . import _native
from ._native import (
    COLDSTART_VERSION,
    ClientError,
    ConfigError,
    ContainerFacts,
    DiskFacts,
    Error,
    Eviction,
    Finding,
    HarnessError,
    HostFacts,
    JoinFacts,
    HostView,
    ImageFacts,
    InputError,
    InvariantViolation,
    LogError,
    PlacementRequest,
    PolicyError,
    PolicyFinding,
    Provider,
    Recorder,
    Refused,
    ScenarioError,
    SimulationError,
    SnapshotError,
    Usage,
    WaitError,
    check_inputs,
    check_policy,
    fuzz_policy,
    report_keys,
)

__version__ = COLDSTART_VERSION

__all__ = [
    "functions",
    "functions_frame",
    "COLDSTART_VERSION",
    "ClientError",
    "ConfigError",
    "ContainerFacts",
    "DiskFacts",
    "Error",
    "Eviction",
    "Finding",
    "HarnessError",
    "HostFacts",
    "JoinFacts",
    "HostView",
    "ImageFacts",
    "InputError",
    "InvariantViolation",
    "LogError",
    "PlacementRequest",
    "PolicyError",
    "PolicyFinding",
    "Provider",
    "Recorder",
    "Refused",
    "ScenarioError",
    "SimulationError",
    "SnapshotError",
    "Usage",
    "WaitError",
    "advance",
    "check_inputs",
    "check_policy",
    "compare",
    "compare_frame",
    "copy_fails",
    "download_fails",
    "failure",
    "fuzz_policy",
    "host_down",
    "host_up",
    "invoke",
    "main_storage_lost",
    "reap",
    "register_function",
    "register_image",
    "replay",
    "report_keys",
    "simulate",
    "success",
    "to_dataframe",
]

Scenario = Union[None, str, "os.PathLike[str]", Mapping[str, Any]]
"""A scenario: None (the default), a file's path, or a dict shaped like the file."""

Sets = Union[None, str, Sequence[str], Mapping[str, Any]]
"""``set=`` overrides: ``"key.path=value"`` strings, or a dict of key paths to values."""


def _value_text(value: Any) -> str:
    """A value as ``--set`` reads it: TOML literals for bools and numbers."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float, str)):
        return str(value)
    raise TypeError(f"a set= value is a str, int, float or bool, not {type(value).__name__}")


def _sets(set: Sets) -> Optional[List[str]]:
    if set is None:
        return None
    if isinstance(set, str):
        return [set]
    if isinstance(set, Mapping):
        return [f"{key}={_value_text(value)}" for key, value in set.items()]
    return [str(item) for item in set]


def _axes(axes: Union[None, str, Sequence[str], Mapping[str, Any]]) -> Optional[List[str]]:
    """Grid axes as ``NAME=V1,V2`` strings; a dict's list values are joined."""
    if axes is None:
        return None
    if isinstance(axes, str):
        return [axes]
    if isinstance(axes, Mapping):
        out = []
        for key, values in axes.items():
            if isinstance(values, (list, tuple)):
                out.append(f"{key}=" + ",".join(_value_text(v) for v in values))
            else:
                out.append(f"{key}={_value_text(values)}")
        return out
    return [str(item) for item in axes]


def simulate(
    scenario: Scenario = None,
    *,
    set: Sets = None,
    seed: Optional[int] = None,
    invocations: Optional[int] = None,
    check: bool = False,
) -> Dict[str, Any]:
    """Runs a scenario to the end and returns its report.

    The report has the keys and values that ``coldstart simulate --json``
    prints for the same scenario, overrides and seed, in the same order
    (README, "The report"): counts, ratios, latency percentiles, cost,
    ``events`` and ``events_digest``.

    :param scenario: None for the default scenario, a scenario file's path,
        or a dict shaped like the file (``{"provider": {"pressure": "queue"}}``).
    :param set: overrides applied in order after the file is read, as
        ``--set``: ``["provider.policy.keep_alive=5min"]`` or
        ``{"provider.hosts[0].count": 8}``.
    :param seed: replaces the scenario's seed (as ``--seed``).
    :param invocations: as ``--invocations`` (``workload.invocations``).
    :param check: check every invariant after every step (slower).
    :raises ScenarioError: a refused key, value or override (the message
        names its path).
    :raises SimulationError: the run failed part way.
    """
    return _native.simulate(
        scenario, set=_sets(set), seed=seed, invocations=invocations, check=check
    )


def compare(
    scenario: Union[None, str, "os.PathLike[str]"] = None,
    *,
    policy: Union[None, str, Sequence[str], Mapping[str, Any]] = None,
    set: Union[None, str, Sequence[str], Mapping[str, Any]] = None,
    seeds: int = 5,
    seed: Optional[int] = None,
    invocations: Optional[int] = None,
    threads: Optional[int] = None,
    check: bool = False,
) -> List[Dict[str, Any]]:
    """Runs every combination of a grid over several seeds, as ``coldstart compare``.

    Returns one dict per combination, as ``coldstart compare --json`` prints
    them: ``scenario``, ``combination`` (axis name to value), ``seeds``,
    ``events_digests`` (one per seed) and ``metrics`` (report key to
    ``{"mean", "ci95", "samples"}``: the mean across seeds and the half-width
    of its 95% confidence interval).

    :param policy: policy axes, ``{"keep-alive-policy": ["fixed", "hybrid"]}``
        or ``["keep-alive-policy=fixed,hybrid"]`` (as ``--policy``).
    :param set: key axes, ``{"provider.policy.keep_alive": ["1min", "10min"]}``
        (as ``--set``); an axis of one value applies to every run.
    :param seeds: seeds per combination: ``seed``, ``seed + 1``, ...
    :param seed: the first seed (default: the scenario's).
    :param threads: worker threads (default: every core); results do not
        depend on it.
    """
    return _native.compare_rows(
        None if scenario is None else os.fspath(scenario),
        policy=_axes(policy),
        set=_axes(set),
        seeds=seeds,
        seed=seed,
        invocations=invocations,
        threads=threads,
        check=check,
    )


def functions(
    scenario: Scenario = None,
    *,
    set: Sets = None,
    seed: Optional[int] = None,
    invocations: Optional[int] = None,
) -> List[Dict[str, Any]]:
    """Runs a scenario to the end and returns one dict per function, in
    registration order: the per-function table of the HTML report.

    Keys: ``function`` (its id), ``memory_bytes``, ``invocations``,
    ``cold_starts``, ``warm_starts``, ``cold_start_ratio`` (None if it
    never started), ``completed``, ``failed``, ``platform_failed``,
    ``timed_out``, ``rejected``, ``cost_picodollars``,
    ``end_to_end_us_p50`` and ``end_to_end_us_p99`` (None if none ended;
    a bucket's lower bound, within 1/32 of the value). Summed over the
    functions, the counts and the cost are the report's. Arguments as
    :func:`simulate`.
    """
    return _native.function_figures(scenario, set=_sets(set), seed=seed, invocations=invocations)


def functions_frame(scenario: Scenario = None, **options: Any) -> Any:
    """:func:`functions` (same arguments) as a pandas DataFrame, one row per
    function. Needs pandas."""
    import pandas  # noqa: PLC0415 -- optional dependency

    return pandas.DataFrame(functions(scenario, **options))


def to_dataframe(rows: Iterable[Mapping[str, Any]]) -> Any:
    """Comparison rows (from :func:`compare`) as a pandas DataFrame.

    One row per combination, with the columns of ``coldstart compare --csv``:
    each axis (or ``scenario`` without axes), ``seeds``, then ``KEY_mean``
    and ``KEY_ci95`` for every report key. Needs pandas.
    """
    import pandas  # noqa: PLC0415 -- optional dependency

    return pandas.DataFrame([_flat_row(row) for row in rows])


def _flat_row(row: Mapping[str, Any]) -> Dict[str, Any]:
    flat: Dict[str, Any] = {}
    if row["combination"]:
        flat.update(row["combination"])
    else:
        flat["scenario"] = row["scenario"]
    flat["seeds"] = len(row["seeds"])
    for key, summary in row["metrics"].items():
        flat[f"{key}_mean"] = summary["mean"]
        flat[f"{key}_ci95"] = summary["ci95"]
    return flat


def compare_frame(scenario: Union[None, str, "os.PathLike[str]"] = None, **options: Any) -> Any:
    """:func:`compare` (same arguments) as a pandas DataFrame (:func:`to_dataframe`)."""
    return to_dataframe(compare(scenario, **options))


def replay(
    path: Union[str, "os.PathLike[str]"], *, verify: bool = False, check: bool = False, policy: Any = None
) -> Dict[str, Any]:
    """Replays a command log (binary ``.cslog`` or JSON Lines) and returns its report.

    The same keys and values as ``coldstart replay LOG --json``.

    :param verify: check every step's events against the log's step checks,
        and the run's event count and digest against its trailer.
    :param policy: for a log recorded with a policy written in Python: the
        policy, in its starting state (its identity must be the one the log
        names, see :class:`Recorder`).
    :raises LogError: the log cannot be read, a step is refused, it does
        not verify, or it needs another policy (the message starts with the
        file's path).
    :raises PolicyError: the policy raised or answered no decision.
    """
    return _native.replay(os.fspath(path), verify=verify, check=check, policy=policy)


# ---------------------------------------------------------------------------
# Inputs for Provider.apply: plain dicts, {"at_us": T, "command": NAME, ...}.


def success(run_us: int, output: int, *, clone_us: int = 0, build_us: int = 0) -> Dict[str, Any]:
    """Fake code that clones, builds, runs ``run_us`` µs and completes with ``output``."""
    return {
        "clone_us": clone_us,
        "build_us": build_us,
        "run_us": run_us,
        "outcome": {"Success": {"output": output}},
    }


def failure(phase: str, *, clone_us: int = 0, build_us: int = 0, run_us: int = 0) -> Dict[str, Any]:
    """Fake code that fails at the end of ``phase`` (``"Clone"``, ``"Build"`` or ``"Run"``)."""
    return {
        "clone_us": clone_us,
        "build_us": build_us,
        "run_us": run_us,
        "outcome": {"Failure": {"phase": phase}},
    }


def register_image(at_us: int, size_bytes: int) -> Dict[str, Any]:
    """Registers an image; answered by ``ImageRegistered`` with its id."""
    return {"at_us": at_us, "command": "RegisterImage", "size_bytes": size_bytes}


def register_function(
    at_us: int,
    image: int,
    memory_bytes: int,
    scratch_bytes: int,
    time_limit_us: int,
    *,
    cold_start_us: Optional[int] = None,
    warm_start_us: Optional[int] = None,
    concurrency: int = 1,
    min_scale: int = 0,
) -> Dict[str, Any]:
    """Registers a function of ``image``; answered by ``FunctionRegistered``.

    ``cold_start_us`` and ``warm_start_us`` give the function start costs of
    its own (µs); left out (``None``), it has the configuration's.
    ``concurrency`` is the most invocations one of its containers runs at
    once (1, the default, is Lambda's one per execution environment).
    ``min_scale`` is how many of its containers are kept warm at all times
    (provisioned concurrency, spec R159; 0, the default, keeps none).
    """
    command = {
        "at_us": at_us,
        "command": "RegisterFunction",
        "image": image,
        "memory_bytes": memory_bytes,
        "scratch_bytes": scratch_bytes,
        "time_limit_us": time_limit_us,
    }
    if cold_start_us is not None:
        command["cold_start_us"] = cold_start_us
    if warm_start_us is not None:
        command["warm_start_us"] = warm_start_us
    if concurrency != 1:
        command["concurrency"] = concurrency
    if min_scale != 0:
        command["min_scale"] = min_scale
    return command


def invoke(
    at_us: int, function: int, code: Mapping[str, Any], *, ingress_bytes: int = 0, egress_bytes: int = 0
) -> Dict[str, Any]:
    """Invokes ``function`` with fake ``code`` (:func:`success`, :func:`failure`)."""
    return {
        "at_us": at_us,
        "command": "Invoke",
        "function": function,
        "code": dict(code),
        "ingress_bytes": ingress_bytes,
        "egress_bytes": egress_bytes,
    }


def advance(at_us: int) -> Dict[str, Any]:
    """Lets time pass to ``at_us``, firing every timer due by then."""
    return {"at_us": at_us, "command": "Advance"}


def reap(at_us: int, invocation: int) -> Dict[str, Any]:
    """Drops the record of a terminal invocation."""
    return {"at_us": at_us, "command": "Reap", "invocation": invocation}


def host_down(at_us: int, host: int) -> Dict[str, Any]:
    """Fault: the host goes down."""
    return {"at_us": at_us, "command": "HostDown", "host": host}


def host_up(at_us: int, host: int, *, disk_kept: bool) -> Dict[str, Any]:
    """The host comes back, its disk cache kept or lost."""
    return {"at_us": at_us, "command": "HostUp", "host": host, "disk_kept": disk_kept}


def download_fails(at_us: int, image: int) -> Dict[str, Any]:
    """Fault: the image's download in progress fails."""
    return {"at_us": at_us, "command": "DownloadFails", "image": image}


def copy_fails(at_us: int, host: int, image: int) -> Dict[str, Any]:
    """Fault: the copy of the image to the host in progress fails."""
    return {"at_us": at_us, "command": "CopyFails", "host": host, "image": image}


def main_storage_lost(at_us: int) -> Dict[str, Any]:
    """Fault: main storage's disk is lost."""
    return {"at_us": at_us, "command": "MainStorageLost"}
