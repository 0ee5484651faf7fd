#!/usr/bin/env bash
# Builds the Python package (python/) into a virtual environment and runs its
# pytest suite (python/tests), after running the notebook examples/python.ipynb
# (scripts/run_notebook.py), so that it cannot rot. Needs python3 (3.9 or
# later, with venv) and the Rust toolchain; installs maturin, pytest and
# matplotlib (for the notebook's plots, which it skips without) from PyPI
# into the venv only. The venv lives in target/py-venv (PY_VENV overrides)
# and is reused.
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${PY_VENV:-target/py-venv}"
python="${PYTHON:-python3}"
if [ ! -x "$venv/bin/python" ]; then
    "$python" -m venv "$venv"
fi
"$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
    'maturin>=1.9.4,<2' 'pytest>=7'
# The release binary: the tests compare the package's reports with the CLI's.
cargo build --release -q -p coldstart-cli
# `maturin develop` builds the extension (release) and installs the package
# into the venv, as `pip install ./python` would.
VIRTUAL_ENV="$(cd "$venv" && pwd)" "$venv/bin/maturin" develop --release -q -m python/Cargo.toml
if ! "$venv/bin/python" -m pip install --quiet --disable-pip-version-check 'matplotlib>=3.5'; then
    echo "test-python.sh: matplotlib could not be installed; the notebook runs without its plots" >&2
fi
"$venv/bin/python" scripts/run_notebook.py examples/python.ipynb
COLDSTART_BIN="$PWD/target/release/coldstart" "$venv/bin/python" -m pytest -q python/tests "$@"
