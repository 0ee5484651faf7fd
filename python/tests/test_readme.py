"""The Python examples of README.md and python/README.md run as written
(```python blocks; ```py blocks need packages the project does not
install, Dask)."""

import contextlib
import io
import re

from conftest import ROOT


def python_blocks(path):
    return re.findall(r"```python\n(.*?)```", path.read_text(), flags=re.S)


def test_the_package_readme_examples_run(monkeypatch):
    blocks = python_blocks(ROOT / "python" / "README.md")
    assert len(blocks) == 1
    monkeypatch.chdir(ROOT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        exec(compile(blocks[0], "python/README.md", "exec"), {"__name__": "readme"})
    lines = out.getvalue().splitlines()
    assert [line.split(":")[0] for line in lines] == [
        f"keep-alive {keep_alive:>5}" for keep_alive in ["1min", "5min", "10min", "30min"]
    ]
    # The threads' reports are the serial runs'.
    import coldstart

    for keep_alive, line in zip(["1min", "5min", "10min", "30min"], lines):
        report = coldstart.simulate(
            "examples/azure-slice.toml", set={"provider.policy.keep_alive": keep_alive}
        )
        assert f"ratio {report['cold_start_ratio']:.3f}," in line
        assert f"cost {report['cost_picodollars'] / 1e12:.4f} USD" in line


def test_the_readme_examples_run(monkeypatch, tmp_path):
    blocks = python_blocks(ROOT / "README.md")
    assert len(blocks) == 2
    # The first runs from the repository (its scenario paths); the
    # second writes a log, here into a scratch folder.
    namespace = {"__name__": "readme"}
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        monkeypatch.chdir(ROOT)
        exec(compile(blocks[0], "README.md", "exec"), namespace)
        monkeypatch.chdir(tmp_path)
        exec(compile(blocks[1], "README.md", "exec"), namespace)
    lines = out.getvalue().splitlines()
    assert "'outcome': 'Completed'" in lines[1] and lines[1].endswith(" 42")
    assert lines[-1] == "1"
    assert (tmp_path / "lastfit.jsonl").exists()
