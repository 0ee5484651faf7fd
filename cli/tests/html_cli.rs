//! `--html FILE` through the real binary: `simulate`, `replay` and
//! `compare` write one self-contained page whose charts are well-formed
//! SVG, whose size does not grow with the run, that names its run, and
//! that is refused over one of the run's own files.
//! (scripts/test-browser.sh renders the same pages in Chromium.)

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Output;

fn coldstart_in(directory: &Path, args: &[&str]) -> Output {
    std::process::Command::new(env!("CARGO_BIN_EXE_coldstart"))
        .args(args)
        .current_dir(directory)
        .output()
        .expect("the coldstart binary runs")
}

fn repository() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

fn ok(args: &[&str]) -> String {
    let output = coldstart_in(&repository(), args);
    assert!(
        output.status.success(),
        "coldstart {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Runs a command that must fail; returns its one line of stderr.
fn refused(directory: &Path, args: &[&str]) -> String {
    let output = coldstart_in(directory, args);
    assert_eq!(output.status.code(), Some(1), "coldstart {args:?}");
    let error = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(error.lines().count(), 1, "one line: {error}");
    assert!(error.starts_with("coldstart: "), "{error}");
    error
}

fn scratch(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("coldstart-html-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn path_arg(path: &Path) -> &str {
    path.to_str().expect("a UTF-8 path")
}

/// Every `<svg>…</svg>` of the page, each parsed as XML.
fn svgs(page: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = page;
    while let Some(start) = rest.find("<svg ") {
        let end = rest[start..].find("</svg>").expect("a closed svg") + start + 6;
        let svg = &rest[start..end];
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("bad SVG ({e}): {svg:.300}"));
        found.push(svg.to_string());
        rest = &rest[end..];
    }
    found
}

/// The page stands alone: no file or address outside it.
fn assert_self_contained(page: &str) {
    assert!(page.starts_with("<!DOCTYPE html>"));
    for needle in ["src=", "href=", "https://", "@import", "url("] {
        assert!(!page.contains(needle), "the page has {needle}");
    }
    // The only address is the SVG namespace's name.
    assert_eq!(
        page.matches("http://").count(),
        page.matches("xmlns=\"http://www.w3.org/2000/svg\"").count()
    );
    assert!(page.contains("default-src 'none'"));
}

fn json_report(args: &[&str]) -> Value {
    serde_json::from_str(&ok(args)).expect("a JSON report")
}

#[test]
fn simulate_writes_a_self_contained_report_of_its_run() {
    let directory = scratch("simulate");
    let html = directory.join("run.html");
    let report = json_report(&[
        "simulate",
        "--invocations",
        "1500",
        "--seed",
        "5",
        "--json",
        "--html",
        path_arg(&html),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    let digest = report["events_digest"].as_str().unwrap();
    assert!(page.contains(digest), "the digest {digest}");
    assert!(page.contains("<dt>seed</dt><dd>5</dd>"));
    assert!(page.contains(concat!(
        "<dt>coldstart version</dt><dd>",
        env!("CARGO_PKG_VERSION")
    )));
    let svgs = svgs(&page);
    assert_eq!(svgs.len(), 12, "8 time charts, 2 heat maps, 2 CDFs");
    for id in [
        "containers",
        "queue",
        "starts",
        "ends",
        "transfers",
        "caches",
        "memory",
        "cost",
        "ram-heat",
        "disk-heat",
        "start-delay",
        "end-to-end",
    ] {
        assert!(page.contains(&format!("<figure id=\"{id}\">")), "{id}");
    }
    // A row per function (12) and host (4) in the tables.
    let functions = page.split("id=\"functions\"").nth(1).unwrap();
    let functions = functions.split("</table>").next().unwrap();
    assert_eq!(functions.matches("<tr>").count(), 1 + 12);
    let hosts = page.split("id=\"hosts\"").nth(1).unwrap();
    let hosts = hosts.split("</table>").next().unwrap();
    assert_eq!(hosts.matches("<tr>").count(), 1 + 4);
    // The invocations in the table add up to the run's.
    let invocations: u64 = functions
        .split("<tr>")
        .skip(2)
        .map(|row| {
            let cell = row.split("<td data-v=\"").nth(2).unwrap();
            cell.split('"').next().unwrap().parse::<u64>().unwrap()
        })
        .sum();
    assert_eq!(invocations, report["invocations"].as_u64().unwrap());
}

#[test]
fn the_report_does_not_grow_with_the_run() {
    let directory = scratch("size");
    let sizes: Vec<usize> = ["500", "8000"]
        .iter()
        .map(|invocations| {
            let html = directory.join(format!("{invocations}.html"));
            ok(&[
                "simulate",
                "--invocations",
                invocations,
                "--quiet",
                "--html",
                path_arg(&html),
            ]);
            std::fs::metadata(&html).unwrap().len() as usize
        })
        .collect();
    // 16 times the invocations, about the same size: the same number of
    // intervals, functions and hosts.
    assert!(sizes[1] < sizes[0] * 5 / 4, "{sizes:?}");
    assert!(sizes[0] < sizes[1] * 5 / 4, "{sizes:?}");
    assert!(sizes[1] < 600_000, "{sizes:?}");
}

#[test]
fn replay_writes_the_same_run_s_report() {
    let directory = scratch("replay");
    let log = directory.join("run.cslog");
    let html = directory.join("replay.html");
    let simulated = json_report(&[
        "simulate",
        "--invocations",
        "800",
        "--faults",
        "60",
        "--json",
        "--record",
        path_arg(&log),
    ]);
    ok(&[
        "replay",
        path_arg(&log),
        "--quiet",
        "--html",
        path_arg(&html),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    assert!(page.contains(simulated["events_digest"].as_str().unwrap()));
    assert_eq!(svgs(&page).len(), 12);
}

#[test]
fn compare_writes_the_table_and_a_plot_per_metric() {
    let directory = scratch("compare");
    let html = directory.join("compare.html");
    ok(&[
        "compare",
        "--keep-alive-policy",
        "fixed,hybrid",
        "--seeds",
        "2",
        "--invocations",
        "600",
        "--html",
        path_arg(&html),
    ]);
    let page = std::fs::read_to_string(&html).unwrap();
    assert_self_contained(&page);
    let table = page.split("id=\"comparison\"").nth(1).unwrap();
    let table = table.split("</table>").next().unwrap();
    assert_eq!(table.matches("<tr>").count(), 1 + 2);
    for key in ["cold_start_ratio", "cost", "end_to_end_us_p99"] {
        let figure = page
            .split(&format!("<figure id=\"metric-{key}\">"))
            .nth(1)
            .unwrap_or_else(|| panic!("no plot of {key}"));
        let figure = figure.split("</figure>").next().unwrap();
        assert_eq!(figure.matches("class=\"bar\"").count(), 2, "{key}");
        assert_eq!(figure.matches("class=\"whisker\"").count(), 2, "{key}");
    }
    for svg in svgs(&page) {
        assert!(svg.contains("role=\"img\""));
    }
}

#[test]
fn html_is_refused_over_the_run_s_own_files() {
    let directory = scratch("refused");
    let scenario = directory.join("s.toml");
    std::fs::write(&scenario, "[workload]\ninvocations = 50\n").unwrap();
    let error = refused(&directory, &["simulate", "s.toml", "--html", "./s.toml"]);
    assert!(
        error.contains("--html: ./s.toml is") && error.contains("an input of this run"),
        "{error}"
    );
    assert_eq!(
        std::fs::read_to_string(&scenario).unwrap(),
        "[workload]\ninvocations = 50\n"
    );
    let error = refused(
        &directory,
        &[
            "simulate", "s.toml", "--record", "r.jsonl", "--html", "r.jsonl",
        ],
    );
    assert!(
        error.contains("--html: r.jsonl is also --record's output"),
        "{error}"
    );
    ok(&[
        "simulate",
        path_arg(&scenario),
        "--quiet",
        "--record",
        path_arg(&directory.join("r.jsonl")),
    ]);
    let error = refused(&directory, &["replay", "r.jsonl", "--html", "r.jsonl"]);
    assert!(
        error.contains("--html: r.jsonl is an input of this run"),
        "{error}"
    );
    let error = refused(
        &directory,
        &[
            "replay", "r.jsonl", "--events", "e.jsonl", "--html", "e.jsonl",
        ],
    );
    assert!(
        error.contains("--html: e.jsonl is also --events's output"),
        "{error}"
    );
    let error = refused(
        &directory,
        &["compare", "s.toml", "--seeds", "1", "--html", "s.toml"],
    );
    assert!(
        error.contains("--html: s.toml is an input of this run"),
        "{error}"
    );
    let error = refused(
        &directory,
        &[
            "compare", "--seeds", "1", "--svg", "p.svg", "--html", "p.svg",
        ],
    );
    assert!(
        error.contains("--html: p.svg is also --svg's output"),
        "{error}"
    );
    // A trace's file is an input too.
    let trace = repository().join("examples/azure-slice.toml");
    let data = repository().join("tests/data/azure2021-slice-998.csv");
    let error = refused(
        &directory,
        &["simulate", path_arg(&trace), "--html", path_arg(&data)],
    );
    assert!(error.contains("an input of this run"), "{error}");
    assert!(!directory.join("e.jsonl").exists());
}
