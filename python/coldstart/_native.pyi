"""Type stubs of the extension module coldstart._native (python/src/lib.rs)."""

import os
from typing import Any, Dict, List, Mapping, Optional, Sequence, Union

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
def replay(path: str, *, verify: bool = False, check: bool = False) -> Dict[str, Any]: ...
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
    ) -> None: ...
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
