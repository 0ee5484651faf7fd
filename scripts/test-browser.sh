#!/usr/bin/env bash
# The HTML reports in a real browser: renders the default scenario's, the
# Azure slice's (with its faults), a replayed log's and a comparison's
# report in headless Chromium and checks what a person would see — every
# chart drawn with data, the tables filled, the inline script run to its
# end without an error (it sets data-ready="ok" on the body last), sorting
# that sorts — and saves a screenshot of the default report at
# docs/report.png for the README when UPDATE_SCREENSHOT=1.
#
# Installs Debian's chromium if it is missing (as root: apt-get). Needs
# python3 for the checks (standard library only).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v chromium >/dev/null 2>&1; then
    if [ "$(id -u)" -ne 0 ]; then
        echo "test-browser: chromium is missing; install it (apt-get install chromium) as root" >&2
        exit 1
    fi
    apt-get update
    DEBIAN_FRONTEND=noninteractive apt-get install -y chromium
fi

out=$(mktemp -d)
profiles=()
cleanup() {
    rm -rf "$out" "${profiles[@]}"
}
trap cleanup EXIT

# Release: the default scenario's 200,000 invocations take a second there.
cargo build --release -p coldstart-cli
bin=target/release/coldstart

"$bin" simulate --quiet --html "$out/default.html"
"$bin" simulate examples/azure-slice.toml --quiet --html "$out/azure.html"
"$bin" simulate examples/azure-slice-faults.toml --quiet --html "$out/azure-faults.html"
"$bin" simulate --invocations 5000 --queue-capacity 20 --pressure queue --faults 30 \
    --quiet --record "$out/run.cslog"
"$bin" replay "$out/run.cslog" --quiet --html "$out/replay.html"
"$bin" compare --keep-alive-policy fixed,hybrid --seeds 2 --invocations 3000 \
    --html "$out/compare.html" >/dev/null

# The flags that keep a headless Chromium off the network and out of the
# user's profile.
chromium_run() {
    local profile
    profile=$(mktemp -d)
    profiles+=("$profile")
    timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
        --disable-background-networking --disable-component-update --disable-sync \
        --user-data-dir="$profile" "$@"
}

for name in default azure azure-faults replay compare; do
    chromium_run --dump-dom "file://$out/$name.html#check-sort" \
        >"$out/$name.dom" 2>"$out/$name.stderr"
done

chromium_run --hide-scrollbars --window-size=1400,2300 \
    --screenshot="$out/report.png" "file://$out/default.html" >/dev/null 2>&1

python3 - "$out" <<'PYTHON'
"""Checks the rendered pages (the DOM after the scripts ran)."""
import sys
from html.parser import HTMLParser
from pathlib import Path

out = Path(sys.argv[1])
failures = []
results = []


class Page(HTMLParser):
    """Collects the figures, their drawn paths, and the tables' rows."""

    def __init__(self):
        super().__init__()
        self.body = {}
        self.figure = None
        self.figures = {}
        self.table = None
        self.tables = {}
        self.external = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for attr in ("src", "href"):
            if attr in attrs and attrs[attr]:
                self.external.append(f"<{tag} {attr}={attrs[attr]}>")
        if tag == "body":
            self.body = attrs
        elif tag == "figure":
            self.figure = attrs.get("id")
            self.figures[self.figure] = {"svg": 0, "paths": 0, "bars": 0}
        elif self.figure and tag == "svg":
            self.figures[self.figure]["svg"] += 1
        elif self.figure and tag == "path":
            classes = attrs.get("class", "").split()
            # A drawn line or heat-map level has at least two points.
            if ("series" in classes or "heat" in classes) and attrs.get("d", "").count(" ") >= 2:
                self.figures[self.figure]["paths"] += 1
        elif self.figure and tag == "rect" and "bar" in attrs.get("class", ""):
            self.figures[self.figure]["bars"] += 1
        elif tag == "table":
            self.table = attrs.get("id")
            self.tables[self.table] = 0
        elif tag == "tr" and self.table and self.in_body:
            self.tables[self.table] += 1
        if tag == "tbody":
            self.in_body = True
        elif tag == "thead":
            self.in_body = False

    in_body = False

    def handle_endtag(self, tag):
        if tag == "figure":
            self.figure = None
        elif tag == "table":
            self.table = None


def check(name, figures, tables):
    """`figures`: ids that must show data; `tables`: id → least rows."""
    path = out / f"{name}.dom"
    text = path.read_text()
    page = Page()
    page.feed(text)
    problems = []
    if page.body.get("data-ready") != "ok":
        problems.append("the inline script did not finish (no data-ready=ok on the body)")
    if page.body.get("data-sort-check") != "ok":
        problems.append(f"sorting the tables failed (data-sort-check={page.body.get('data-sort-check')})")
    if page.external:
        problems.append(f"references outside the file: {page.external[:3]}")
    for figure in figures:
        drawn = page.figures.get(figure)
        if drawn is None:
            problems.append(f"no figure #{figure}")
        elif drawn["svg"] == 0 or drawn["paths"] + drawn["bars"] == 0:
            problems.append(f"figure #{figure} is empty: {drawn}")
    for table, least in tables.items():
        rows = page.tables.get(table)
        if rows is None or rows < least:
            problems.append(f"table #{table} has {rows} rows, expected at least {least}")
    stderr = (out / f"{name}.stderr").read_text()
    for line in stderr.splitlines():
        if "Uncaught" in line or "CONSOLE" in line and "rror" in line:
            problems.append(f"console: {line.strip()}")
    for problem in problems:
        failures.append(f"{name}: {problem}")
    results.append(not problems)
    status = "ok" if not problems else "FAILED"
    print(f"test-browser: {name}: {len(page.figures)} figures, "
          f"{sum(page.tables.values())} table rows: {status}")


RUN_FIGURES = ["containers", "starts", "ends", "transfers", "caches", "memory",
               "cost", "ram-heat", "disk-heat", "start-delay", "end-to-end"]
check("default", RUN_FIGURES, {"functions": 12, "hosts": 4, "end-to-end-table": 3})
check("azure", RUN_FIGURES, {"functions": 49, "hosts": 4})
check("azure-faults", RUN_FIGURES, {"functions": 49, "hosts": 4})
check("replay", RUN_FIGURES + ["queue"], {"functions": 12, "hosts": 4})
check("compare", ["metric-cold_start_ratio", "metric-cost", "metric-end_to_end_us_p99"],
      {"comparison": 2})

# The Azure slice's 4 faults, marked on the first chart.
faults_page = (out / "azure-faults.dom").read_text()
containers = faults_page.split('id="containers"')[-1].split("</figure>")[0]
marks = containers.count('class="fault-mark"')
results.append(marks == 4)
if marks != 4:
    failures.append(f"azure-faults: {marks} fault markers on the containers chart, expected 4")

png = (out / "report.png").read_bytes()
results.append(png.startswith(b"\x89PNG") and len(png) > 50_000)
if not results[-1]:
    failures.append(f"the screenshot is not a plausible PNG ({len(png)} bytes)")

for failure in failures:
    print(f"test-browser: {failure}", file=sys.stderr)
print(f"{results.count(True)} passed, {results.count(False)} failed")
sys.exit(1 if failures else 0)
PYTHON

# A test never rewrites a tracked file: the README's screenshot is updated
# only when asked (UPDATE_SCREENSHOT=1 scripts/test-browser.sh).
if [ "${UPDATE_SCREENSHOT:-}" = "1" ]; then
    cp "$out/report.png" docs/report.png
fi
