"""Runs a Jupyter notebook's code cells in order, in one namespace, as a
kernel would, and fails on the first cell that raises; no Jupyter needed.

    python scripts/run_notebook.py examples/python.ipynb

scripts/test-python.sh runs examples/python.ipynb so, in CI, so the notebook
cannot rot. Plots go to matplotlib's non-interactive Agg backend (when
matplotlib is installed at all); `display` prints.
"""

from __future__ import annotations

import json
import os
import pathlib
import sys
import time


def main() -> int:
    path = pathlib.Path(sys.argv[1]).resolve()
    notebook = json.loads(path.read_text())
    os.environ.setdefault("MPLBACKEND", "Agg")
    # A kernel starts in the notebook's folder.
    os.chdir(path.parent)
    namespace = {"__name__": "__main__", "display": print}
    cells = [cell for cell in notebook["cells"] if cell["cell_type"] == "code"]
    start = time.perf_counter()
    for number, cell in enumerate(cells, start=1):
        source = "".join(cell["source"])
        try:
            exec(compile(source, f"{path.name}, code cell {number}", "exec"), namespace)
        except Exception:
            print(f"{path}: code cell {number} of {len(cells)} raised:", file=sys.stderr)
            raise
    print(f"{path.name}: {len(cells)} code cells ran in {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
