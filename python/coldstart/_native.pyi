"""Type stubs of the extension module coldstart._native (python/src/lib.rs)."""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Tuple, Union

COLDSTART_VERSION: str

class Error(Exception):
    """The base of every error coldstart raises; the message is the Rust error's one line."""

class ScenarioError(Error):
    """A scenario (file, dict, ``set=`` override or grid axis) was refused; the message names the key's path."""

class ConfigError(Error):
    """The provider's configuration is invalid."""

class SimulationError(Error):
    """A run failed part way (a refused step, a broken invariant, undrained timers)."""

class LogError(Error):
    """A command log could not be read, or its replay failed or did not verify."""

class InputError(Error):
    """An input dict does not describe an input."""

class Refused(Error):
    """The provider refused an input."""

    refusal: Dict[str, Any]
    """The refusal: ``{"kind": "UnknownFunction", "function": 7}``."""
    events: List[Dict[str, Any]]
    """Events of the timers that fired before the input was judged."""
    step: int
    """With ``apply_all``: the index of the refused input."""

class ClientError(Error):
    """``get_state``/``get_output`` of an unknown invocation, or the output of one that did not complete."""

class WaitError(Error):
    """A wait could not finish: unknown invocation, no timer left, or the deadline came first."""

class InvariantViolation(Error):
    """``check_invariants`` found a broken invariant."""

class SnapshotError(Error):
    """Bytes that are not a snapshot of this version of coldstart."""

class PolicyError(Error):
    """A policy written in Python raised (``__cause__`` is its exception), answered no decision, or could not be copied; or a provider whose policy failed was used again."""

class HarnessError(Error):
    """The policy harness could not check the policy."""

class PolicyFinding(HarnessError):
    """The policy harness found a problem."""

    finding: Finding

Event = Dict[str, Any]
"""``{"at_us": int, "kind": str, ...the kind's fields}``; ids are ints."""
InputDict = Mapping[str, Any]
"""``{"at_us": int, "command": str, ...the command's fields}``."""
Finished = Dict[str, Any]
"""``{"invocation": int, "at_us": int, "outcome": str, ...the outcome's fields}``."""
State = Dict[str, Any]
"""``{"state": str, ...}``; an ended one as ``Finished`` without ``invocation``."""

def simulate(
    scenario: Union[None, str, os.PathLike[str], Mapping[str, Any]] = None,
    *,
    set: Optional[Sequence[str]] = None,
    seed: Optional[int] = None,
    invocations: Optional[int] = None,
    check: bool = False,
) -> Dict[str, Any]: ...
def function_figures(
    scenario: Union[None, str, os.PathLike[str], Mapping[str, Any]] = None,
    *,
    set: Optional[Sequence[str]] = None,
    seed: Optional[int] = None,
    invocations: Optional[int] = None,
) -> List[Dict[str, Any]]: ...
def compare_rows(
    scenario: Optional[str] = None,
    *,
    policy: Optional[Sequence[str]] = None,
    set: Optional[Sequence[str]] = None,
    seeds: int = 5,
    seed: Optional[int] = None,
    invocations: Optional[int] = None,
    threads: Optional[int] = None,
    check: bool = False,
) -> List[Dict[str, Any]]: ...
def replay(path: str, *, verify: bool = False, check: bool = False, policy: Any = None) -> Dict[str, Any]: ...
def report_keys() -> List[str]: ...
def _restore(snapshot: bytes) -> Provider: ...

class Provider:
    """A provider stepped one input at a time, with the built-in policies."""

    def __init__(
        self,
        config: Union[None, str, os.PathLike[str], Mapping[str, Any]] = None,
        *,
        set: Optional[Sequence[str]] = None,
        seed: Optional[int] = None,
        policy: Any = None,
    ) -> None: ...
    @property
    def policy(self) -> Any:
        """The ``policy=`` object (the provider's own), or None for the built-ins."""
    def apply(self, input: InputDict) -> List[Event]: ...
    def apply_all(self, inputs: Sequence[InputDict]) -> List[Event]: ...
    def validate(self, input: InputDict) -> None: ...
    def get_state(self, invocation: int) -> State: ...
    def get_states(self, invocations: Sequence[int]) -> List[Optional[State]]: ...
    def get_output(self, invocation: int) -> int: ...
    def wait_for(
        self, invocation: int, deadline_us: Optional[int] = None, events: Optional[List[Event]] = None
    ) -> Finished: ...
    def wait_for_all(
        self, invocations: Sequence[int], deadline_us: Optional[int] = None, events: Optional[List[Event]] = None
    ) -> List[Finished]: ...
    def wait_for_any(
        self, invocations: Sequence[int], deadline_us: Optional[int] = None, events: Optional[List[Event]] = None
    ) -> Finished: ...
    def check_invariants(self) -> None: ...
    def metrics(self) -> Dict[str, Any]: ...
    def config(self) -> Dict[str, Any]: ...
    def queue(self) -> List[int]: ...
    @property
    def now_us(self) -> int: ...
    @property
    def next_timer_us(self) -> Optional[int]: ...
    def snapshot(self) -> bytes: ...
    @staticmethod
    def restore(snapshot: bytes) -> Provider: ...
    def __copy__(self) -> Provider: ...
    def __deepcopy__(self, memo: Any) -> Provider: ...
    def __eq__(self, other: object) -> bool: ...

class Recorder:
    """A provider that writes a command log (``.jsonl`` or ``.cslog``) as it goes."""

    def __init__(
        self,
        path: Union[str, os.PathLike[str]],
        config: Union[None, str, os.PathLike[str], Mapping[str, Any]] = None,
        *,
        set: Optional[Sequence[str]] = None,
        seed: Optional[int] = None,
        policy: Any = None,
        check: bool = False,
    ) -> None: ...
    def apply(self, input: InputDict) -> List[Event]: ...
    def apply_all(self, inputs: Sequence[InputDict]) -> List[Event]: ...
    def wait_for(
        self, invocation: int, deadline_us: Optional[int] = None, events: Optional[List[Event]] = None
    ) -> Finished: ...
    def wait_for_all(
        self, invocations: Sequence[int], deadline_us: Optional[int] = None, events: Optional[List[Event]] = None
    ) -> List[Finished]: ...
    def wait_for_any(
        self, invocations: Sequence[int], deadline_us: Optional[int] = None, events: Optional[List[Event]] = None
    ) -> Finished: ...
    def drain(self, events: Optional[List[Event]] = None) -> int: ...
    def finish(self) -> Dict[str, Any]:
        """Writes the trailer: ``{"steps", "events", "events_digest"}``."""
    def provider(self) -> Provider: ...
    def get_state(self, invocation: int) -> State: ...
    def get_output(self, invocation: int) -> int: ...
    def metrics(self) -> Dict[str, Any]: ...
    def check_invariants(self) -> None: ...
    @property
    def path(self) -> str: ...
    @property
    def finished(self) -> bool: ...
    @property
    def steps_logged(self) -> int: ...
    @property
    def now_us(self) -> int: ...
    @property
    def next_timer_us(self) -> Optional[int]: ...
    def __enter__(self) -> Recorder: ...
    def __exit__(self, *exception: Any) -> bool: ...

# What a policy written in Python is shown (read-only attributes).

class PlacementRequest:
    invocation: Optional[int]
    """None for a pre-warm."""
    function: int
    image: int
    image_bytes: int
    memory_bytes: int
    scratch_bytes: int

class HostFacts:
    ram_bytes: int
    slots: int
    disk_bytes: int
    copy_bytes_per_s: int
    ram_used_bytes: int
    slots_used: int
    disk_used_bytes: int
    idle_containers: int
    busy_containers: int

class HostView:
    """The provider as ``select_host`` sees it; valid only during that call."""

    def now_us(self) -> int: ...
    def host_count(self) -> int: ...
    def host(self, host: int) -> Optional[HostFacts]: ...
    def has_image(self, host: int, image: int) -> bool: ...
    def fits(self, host: int, request: PlacementRequest) -> bool: ...
    def is_up(self, host: int) -> bool: ...
    def first_fitting_host(self, request: PlacementRequest) -> Optional[int]: ...

class ContainerFacts:
    container: int
    function: int
    host: int
    memory_bytes: int
    created_at_us: int
    created_seq: int
    last_used_us: int
    uses: int

class JoinFacts:
    """A container with room that an invocation of its function may join."""
    container: int
    function: int
    host: int
    created_at_us: int
    created_seq: int
    ready: bool
    """True when it is running code; False while it is still starting."""
    invocations: int
    concurrency: int

class ImageFacts:
    image: int
    tier: str
    """"MainStorage" or "Host"."""
    host: Optional[int]
    size_bytes: int
    first_stored_us: int
    last_used_us: int
    uses: int

class DiskFacts:
    tier: str
    host: Optional[int]
    capacity_bytes: int
    used_bytes: int

class Eviction:
    kind: str
    """"Container" or "Image"."""
    container: Optional[int]
    function: Optional[int]
    host: Optional[int]
    image: Optional[int]
    tier: Optional[str]
    priority: int

class Usage:
    function: int
    time_limit_us: int
    memory_bytes: int
    scratch_bytes: int
    duration_us: int
    ingress_bytes: int
    egress_bytes: int
    cold: bool

class Finding:
    """A problem the harness found, and the configuration and inputs that show it."""

    @property
    def problem(self) -> str: ...
    @property
    def kind(self) -> str: ...
    @property
    def details(self) -> Dict[str, Any]: ...
    @property
    def config(self) -> Dict[str, Any]: ...
    @property
    def inputs(self) -> List[Dict[str, Any]]: ...
    @property
    def starvation_bound_us(self) -> int: ...
    @property
    def drain_steps_max(self) -> int: ...
    def to_json(self) -> str: ...
    @staticmethod
    def from_json(text: str) -> Finding: ...
    def check(self, policy: Any) -> None: ...
    def provider(self, policy: Any) -> Provider: ...
    def regression_test(self, test_name: str, policy: str) -> str: ...
    def record(self, path: Union[str, os.PathLike[str]], policy: Any) -> None: ...

def check_policy(
    policy: Any,
    *,
    cases: int = 64,
    seed: int = 0,
    ops_max: Optional[int] = None,
    starvation_bound_us: Optional[int] = None,
    drain_steps_max: Optional[int] = None,
    shrink_runs_max: Optional[int] = None,
    config: Union[None, str, os.PathLike[str], Mapping[str, Any]] = None,
    scale: Optional[Tuple[int, int]] = None,
) -> None: ...
def fuzz_policy(
    policy: Any,
    data: bytes,
    *,
    ops_max: Optional[int] = None,
    starvation_bound_us: Optional[int] = None,
    drain_steps_max: Optional[int] = None,
    shrink_runs_max: Optional[int] = None,
    config: Union[None, str, os.PathLike[str], Mapping[str, Any]] = None,
    scale: Optional[Tuple[int, int]] = None,
) -> None: ...
def check_inputs(
    policy: Any,
    config: Union[str, os.PathLike[str], Mapping[str, Any]],
    inputs: Sequence[InputDict],
    *,
    starvation_bound_us: Optional[int] = None,
    drain_steps_max: Optional[int] = None,
) -> None: ...
