"""Shared helpers: the repository's paths and the CLI binary to compare with."""

import json
import os
import pathlib
import subprocess

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"


def cli_binary() -> str:
    """The `coldstart` binary: $COLDSTART_BIN (scripts/test-python.sh sets it), else target/release."""
    path = os.environ.get("COLDSTART_BIN", str(ROOT / "target" / "release" / "coldstart"))
    if not os.path.exists(path):
        pytest.fail(f"no coldstart binary at {path}: run `cargo build --release -p coldstart-cli`")
    return path


def run_cli(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(
        [cli_binary(), *args], capture_output=True, text=True, check=check, cwd=ROOT
    )


def cli_json(*args: str):
    """The CLI's --json output, parsed (JSON Lines for compare)."""
    out = run_cli(*args, "--json").stdout
    lines = [json.loads(line) for line in out.splitlines() if line.strip()]
    return lines[0] if len(lines) == 1 else lines


def cli_error(*args: str) -> str:
    """The CLI's one-line error, without its `coldstart: ` prefix."""
    done = run_cli(*args, check=False)
    assert done.returncode == 1, done
    line = done.stderr.strip()
    assert line.startswith("coldstart: "), line
    return line[len("coldstart: "):]
