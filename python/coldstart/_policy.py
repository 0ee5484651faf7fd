"""The identity a command log records of a policy written in Python.

A log cannot carry code, so it names the policy (core's
``PolicySpec::Custom``): a name and parameters, compared as written when
the log is replayed with ``replay(log, policy=obj)``. Two objects with the
same identity must make the same decisions from the same state.
"""

from __future__ import annotations

import json
from typing import Any, Tuple


def policy_identity(policy: Any) -> Tuple[str, str]:
    """``(name, parameters)`` of a policy object.

    The name is ``policy.policy_name`` if the object has one, else its
    class's ``module.qualname``. The parameters are ``policy.policy_parameters``
    (called if it is a method; a str is taken as is, anything else as its
    JSON with sorted keys), else the JSON of the object's attributes
    (``vars(policy)``) when they have one, else empty.
    """
    name = getattr(policy, "policy_name", None)
    if not isinstance(name, str):
        kind = type(policy)
        name = f"{kind.__module__}.{kind.__qualname__}"
    if hasattr(policy, "policy_parameters"):
        parameters = policy.policy_parameters
        if callable(parameters):
            parameters = parameters()
        if not isinstance(parameters, str):
            parameters = json.dumps(parameters, sort_keys=True)
        return name, parameters
    try:
        return name, json.dumps(vars(policy), sort_keys=True)
    except TypeError:
        # No __dict__ (slots, a builtin), or attributes without a JSON form.
        return name, ""
