//! `coldstart compare`, `run-job` and `merge` through the real binary:
//! grids over policies and scenario keys, results independent of the thread
//! count, a comparison's rows equal to `simulate`'s runs, the SVG plot,
//! job files that run anywhere and merge back to `compare`'s exact output,
//! and one-line errors for bad input.

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

fn coldstart(args: &[&str]) -> Output {
    coldstart_in(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/..")), args)
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn ok(args: &[&str]) -> String {
    let output = coldstart(args);
    assert!(
        output.status.success(),
        "coldstart {args:?} failed: {}",
        stderr(&output)
    );
    stdout(&output)
}

/// Runs a command that must fail, and returns its one line of stderr.
fn refused(directory: &Path, args: &[&str]) -> String {
    let output = coldstart_in(directory, args);
    assert_eq!(output.status.code(), Some(1), "coldstart {args:?}");
    let error = stderr(&output);
    assert_eq!(error.lines().count(), 1, "one line: {error}");
    assert!(error.starts_with("coldstart: "), "{error}");
    assert!(!error.contains("panicked"), "{error}");
    error
}

/// A fresh, empty directory for one test.
fn scratch(name: &str) -> PathBuf {
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join(format!("coldstart-compare-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&path);
    std::fs::create_dir_all(&path).unwrap();
    path
}

fn json_lines(text: &str) -> Vec<Value> {
    text.lines()
        .map(|line| serde_json::from_str(line).expect("one JSON object per line"))
        .collect()
}

/// `compare` prints the same table, CSV, JSON and plot with one thread and
/// two; the axes are the shorthand flags', in order.
#[test]
fn compare_is_the_same_whatever_the_thread_count() {
    let directory = scratch("threads");
    let run = |threads: &str, format: &[&str]| {
        let svg = directory.join(format!("plot-{threads}.svg"));
        let mut args = vec![
            "compare",
            "--host-selection",
            "first-fit,round-robin",
            "--keep-alive-policy",
            "fixed,hybrid",
            "--seeds",
            "2",
            "--invocations",
            "150",
            "--threads",
            threads,
            "--svg",
            svg.to_str().unwrap(),
        ];
        args.extend(format);
        let text = ok(&args);
        (text, std::fs::read_to_string(&svg).unwrap())
    };
    let (table, svg) = run("1", &[]);
    assert_eq!(run("2", &[]), (table.clone(), svg));
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(
        lines[0],
        "scenario default: 4 combinations × 2 seeds (825126002983 to 825126002984); \
         mean ± 95% confidence interval across seeds"
    );
    assert!(lines[1].starts_with("host-selection  keep-alive-policy  cold_start_ratio"));
    assert!(lines[5].starts_with("round-robin     hybrid  "), "{table}");
    assert_eq!(lines.len(), 2 + 4, "{table}");
    let csv = run("2", &["--csv"]).0;
    assert_eq!(run("1", &["--csv"]).0, csv);
    assert!(
        csv.starts_with("host-selection,keep-alive-policy,seeds,invocations_mean,invocations_ci95")
    );
    assert!(csv
        .lines()
        .nth(2)
        .unwrap()
        .starts_with("first-fit,hybrid,2,150,0,"));
    let json = run("2", &["--json"]).0;
    assert_eq!(run("1", &["--json"]).0, json);
    let rows = json_lines(&json);
    assert_eq!(rows.len(), 4);
    assert_eq!(
        rows[3]["combination"],
        serde_json::json!({"host-selection": "round-robin", "keep-alive-policy": "hybrid"})
    );
    assert_eq!(rows[0]["metrics"]["invocations"]["mean"], 150.0);
    assert_eq!(rows[0]["metrics"]["invocations"]["ci95"], 0.0);
    assert_eq!(
        rows[0]["seeds"],
        serde_json::json!([825126002983_u64, 825126002984_u64])
    );
    let _ = std::fs::remove_dir_all(&directory);
}

/// `simulate ARGS --json` as a value.
/// `prewarm-percentile` is a policy axis; the pre-warm counters are in the
/// CSV (last, as in the report) and the JSON.
#[test]
fn the_prewarm_percentile_is_an_axis_and_its_counters_are_reported() {
    let args = [
        "compare",
        "examples/azure-slice.toml",
        "--set",
        "provider.policy.keep_alive_policy=hybrid",
        "--policy",
        "prewarm-percentile=0,5",
        "--seeds",
        "1",
    ];
    let rows = json_lines(&ok(&[&args[..], &["--json"]].concat()));
    assert_eq!(rows.len(), 2);
    assert_eq!(
        rows[0]["combination"],
        serde_json::json!({"prewarm-percentile": "0"})
    );
    let prewarms = |row: &Value| row["metrics"]["prewarms"]["mean"].as_f64().unwrap();
    assert_eq!(prewarms(&rows[0]), 0.0);
    assert!(prewarms(&rows[1]) > 0.0, "{}", rows[1]);
    let csv = ok(&[&args[..], &["--csv"]].concat());
    let header = csv.lines().next().unwrap();
    assert!(header.starts_with("prewarm-percentile,seeds,"), "{header}");
    assert!(
        header.ends_with(
            ",containers_at_end_mean,containers_at_end_ci95,\
             containers_unloaded_mean,containers_unloaded_ci95,\
             prewarms_planned_mean,prewarms_planned_ci95,\
             prewarms_mean,prewarms_ci95,\
             prewarms_skipped_mean,prewarms_skipped_ci95,\
             prewarm_warm_starts_mean,prewarm_warm_starts_ci95,\
             joins_running_mean,joins_running_ci95,\
             joins_starting_mean,joins_starting_ci95,\
             autoscale_decisions_mean,autoscale_decisions_ci95,\
             autoscale_prewarms_mean,autoscale_prewarms_ci95,\
             containers_scaled_down_mean,containers_scaled_down_ci95"
        ),
        "{header}"
    );
}

fn simulate_report(args: &[&str]) -> Value {
    let mut all = vec!["simulate"];
    all.extend_from_slice(args);
    all.push("--json");
    serde_json::from_str(&ok(&all)).unwrap()
}

/// Each row of a `--set` grid is exactly the runs `simulate` makes with
/// that value and each seed: the same digests, and means of their values.
#[test]
fn a_row_is_the_mean_of_simulate_runs() {
    let json = ok(&[
        "compare",
        "examples/default.toml",
        "--set",
        "provider.hosts[0].count=2,3",
        "--set",
        "provider.policy.keep_alive=2min",
        "--policy",
        "host-selection=random",
        "--invocations",
        "300",
        "--seed",
        "40",
        "--seeds",
        "2",
        "--json",
    ]);
    let rows = json_lines(&json);
    assert_eq!(rows.len(), 2);
    for (row, count) in rows.iter().zip(["2", "3"]) {
        assert_eq!(row["scenario"], "examples/default.toml");
        assert_eq!(
            row["combination"],
            serde_json::json!({ "provider.hosts[0].count": count })
        );
        let runs: Vec<Value> = ["40", "41"]
            .iter()
            .map(|seed| {
                simulate_report(&[
                    "examples/default.toml",
                    "--set",
                    &format!("provider.hosts[0].count={count}"),
                    "--set",
                    "provider.policy.keep_alive=2min",
                    "--host-selection",
                    "random",
                    "--invocations",
                    "300",
                    "--seed",
                    seed,
                ])
            })
            .collect();
        let digests: Vec<&Value> = runs.iter().map(|run| &run["events_digest"]).collect();
        assert_eq!(
            row["events_digests"]
                .as_array()
                .unwrap()
                .iter()
                .collect::<Vec<_>>(),
            digests
        );
        for key in ["cold_start_ratio", "cost", "end_to_end_us_p99", "avg_idle"] {
            let mean = (runs[0][key].as_f64().unwrap() + runs[1][key].as_f64().unwrap()) / 2.0;
            assert_eq!(row["metrics"][key]["mean"].as_f64(), Some(mean), "{key}");
        }
    }
    // The two host counts, and the two seeds, are different runs.
    assert_ne!(rows[0]["events_digests"], rows[1]["events_digests"]);
    assert_ne!(rows[0]["events_digests"][0], rows[0]["events_digests"][1]);
}

/// The plot is well-formed XML: one bar per combination in each metric's
/// panel, labelled with the combination.
#[test]
fn the_plot_is_valid_svg_with_a_bar_per_combination() {
    let directory = scratch("svg");
    let svg = directory.join("plot.svg");
    ok(&[
        "compare",
        "examples/default.toml",
        "--keep-alive-policy",
        "fixed,greedy-dual",
        "--set",
        "provider.hosts[0].count=2,4",
        "--invocations",
        "150",
        "--seeds",
        "2",
        "--svg",
        svg.to_str().unwrap(),
        "--svg-metrics",
        "cold_start_ratio,cost",
    ]);
    let text = std::fs::read_to_string(&svg).unwrap();
    let document = roxmltree::Document::parse(&text).expect("well-formed XML");
    let root = document.root_element();
    assert_eq!(root.tag_name().name(), "svg");
    assert_eq!(
        root.tag_name().namespace(),
        Some("http://www.w3.org/2000/svg")
    );
    let bars = root
        .descendants()
        .filter(|node| node.has_tag_name("rect") && node.attribute("fill") == Some("#4e79a7"))
        .count();
    assert_eq!(bars, 4 * 2);
    let texts: Vec<&str> = root
        .descendants()
        .filter(|node| node.has_tag_name("text"))
        .filter_map(|node| node.text())
        .collect();
    for expected in [
        "keep-alive-policy=greedy-dual, provider.hosts[0].count=4",
        "cold_start_ratio",
        "cost",
    ] {
        assert!(texts.contains(&expected), "no `{expected}` in {texts:?}");
    }
    let _ = std::fs::remove_dir_all(&directory);
}

/// Jobs written by `--emit-jobs` run from anywhere once the scenario file
/// is gone (the trace stays: the one outside file a job reads), and
/// `merge` prints exactly what `compare` prints: table, CSV, JSON, plot.
#[test]
fn jobs_merge_into_exactly_what_compare_prints() {
    let directory = scratch("jobs");
    let slice = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("tests/data/azure2021-slice-998.csv");
    std::fs::copy(&slice, directory.join("slice.csv")).unwrap();
    let scenario = directory.join("slice.toml");
    std::fs::write(
        &scenario,
        "[workload]\ninvocations = 200\ntrace = { path = \"slice.csv\" }\n",
    )
    .unwrap();
    let grid: Vec<String> = [
        scenario.to_str().unwrap(),
        "--keep-alive-policy",
        "fixed,greedy-dual",
        "--host-selection",
        "random,first-fit",
        "--seeds",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let compare = |extra: &[&str]| -> String {
        let mut args: Vec<&str> = vec!["compare"];
        args.extend(grid.iter().map(String::as_str));
        args.extend(extra);
        ok(&args)
    };
    let jobs = directory.join("jobs");
    let listing = compare(&["--emit-jobs", jobs.to_str().unwrap()]);
    assert_eq!(
        listing,
        format!(
            "8 jobs (4 combinations × 2 seeds) in {}: job-0000.json to job-0007.json\n",
            jobs.display()
        )
    );
    let job: Value =
        serde_json::from_str(&std::fs::read_to_string(jobs.join("job-0005.json")).unwrap())
            .unwrap();
    assert_eq!(job["format"], "coldstart-job");
    assert_eq!(job["combination"], 2);
    assert_eq!(job["labels"], serde_json::json!(["first-fit", "fixed"]));
    assert_eq!(job["seed"], 825126002984_u64);
    assert_eq!(
        job["scenario"]["workload"]["trace"]["path"],
        directory.join("slice.csv").to_str().unwrap()
    );
    let table = compare(&[]);
    let csv = compare(&["--csv"]);
    let json = compare(&["--json"]);
    let compare_svg = directory.join("compare.svg");
    compare(&["--svg", compare_svg.to_str().unwrap()]);

    // The scenario file goes; jobs run from another directory.
    std::fs::remove_file(&scenario).unwrap();
    let results = directory.join("results");
    std::fs::create_dir(&results).unwrap();
    let elsewhere = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    for run in 0..8 {
        let job = jobs.join(format!("job-{run:04}.json"));
        let result = results.join(format!("result-{run:04}.json"));
        let output = coldstart_in(
            &elsewhere,
            &[
                "run-job",
                job.to_str().unwrap(),
                "-o",
                result.to_str().unwrap(),
            ],
        );
        assert!(output.status.success(), "{}", stderr(&output));
    }
    let merge = |extra: &[&str]| {
        let mut args = vec!["merge", results.to_str().unwrap()];
        args.extend(extra);
        ok(&args)
    };
    assert_eq!(merge(&[]), table);
    assert_eq!(merge(&["--csv"]), csv);
    assert_eq!(merge(&["--json"]), json);
    let merge_svg = directory.join("merge.svg");
    merge(&["--svg", merge_svg.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(&merge_svg).unwrap(),
        std::fs::read(&compare_svg).unwrap()
    );
    // Random placement makes the seeds differ.
    assert_ne!(
        json_lines(&json)[0]["events_digests"][0],
        json_lines(&json)[0]["events_digests"][1]
    );

    // A result printed to stdout is the same file; files may be named one
    // by one.
    let stdout_result = stdout(&coldstart_in(
        &elsewhere,
        &["run-job", jobs.join("job-0003.json").to_str().unwrap()],
    ));
    assert_eq!(
        stdout_result,
        std::fs::read_to_string(results.join("result-0003.json")).unwrap()
    );
    let files: Vec<String> = (0..8)
        .rev()
        .map(|run| {
            results
                .join(format!("result-{run:04}.json"))
                .display()
                .to_string()
        })
        .collect();
    let mut args = vec!["merge"];
    args.extend(files.iter().map(String::as_str));
    assert_eq!(ok(&args), table, "the order of the files does not matter");

    // Refusals: a duplicate, a missing result, another comparison's result,
    // a job given as a result, a malformed file.
    let first = results.join("result-0000.json");
    let error = refused(
        &elsewhere,
        &["merge", results.to_str().unwrap(), first.to_str().unwrap()],
    );
    assert!(
        error.contains(
            "a second result of host-selection=random, keep-alive-policy=fixed, seed 825126002983"
        ),
        "{error}"
    );
    let mut seven: Vec<&str> = vec!["merge"];
    seven.extend(files[..7].iter().map(String::as_str));
    assert_eq!(
        refused(&elsewhere, &seven),
        "coldstart: merge: 1 of 8 results missing, the first: host-selection=random, \
         keep-alive-policy=fixed, seed 825126002983 (job-0000.json)\n"
    );
    let other_jobs = directory.join("other-jobs");
    ok(&[
        "compare",
        "--keep-alive-policy",
        "fixed,greedy-dual",
        "--host-selection",
        "random,first-fit",
        "--seeds",
        "2",
        "--invocations",
        "100",
        "--emit-jobs",
        other_jobs.to_str().unwrap(),
    ]);
    let other_result = directory.join("other.json");
    ok(&[
        "run-job",
        other_jobs.join("job-0000.json").to_str().unwrap(),
        "-o",
        other_result.to_str().unwrap(),
    ]);
    let error = refused(
        &elsewhere,
        &["merge", files[7].as_str(), other_result.to_str().unwrap()],
    );
    assert!(
        error.starts_with(&format!(
            "coldstart: {}: belongs to another comparison than {}",
            other_result.display(),
            files[7]
        )),
        "{error}"
    );
    let job0 = jobs.join("job-0000.json");
    let error = refused(&elsewhere, &["merge", job0.to_str().unwrap()]);
    assert_eq!(
        error,
        format!(
            "coldstart: {}: is a `coldstart-job` file, not a `coldstart-result` file\n",
            job0.display()
        )
    );
    let malformed = directory.join("malformed.json");
    std::fs::write(&malformed, "{\"format\": \"coldstart-job\", \"seed\": -1").unwrap();
    let error = refused(&elsewhere, &["run-job", malformed.to_str().unwrap()]);
    assert!(
        error.starts_with(&format!(
            "coldstart: {}: not a coldstart job file: ",
            malformed.display()
        )),
        "{error}"
    );
    let error = refused(&elsewhere, &["run-job", first.to_str().unwrap()]);
    assert!(
        error.ends_with("is a `coldstart-result` file, not a `coldstart-job` file\n"),
        "{error}"
    );
    // Emitting into a directory that holds files is refused.
    let error = refused(
        &elsewhere,
        &["compare", "--emit-jobs", jobs.to_str().unwrap()],
    );
    assert_eq!(
        error,
        format!(
            "coldstart: {}: not empty; --emit-jobs writes into a new or empty directory\n",
            jobs.display()
        )
    );
    let _ = std::fs::remove_dir_all(&directory);
}

/// Bad names, keys, files and flags end with exit code 1 and one line that
/// names the flag or file and the problem.
#[test]
fn bad_input_is_one_line_naming_the_flag_or_file() {
    let here = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."));
    for (args, expected) in [
        (
            &["compare", "--policy", "keep-alive-policy=fixed,lazy"][..],
            "coldstart: --policy keep-alive-policy=lazy: provider.policy.keep_alive_policy: \
             unknown keep-alive policy `lazy`; one of: fixed[:SECONDS] (600), hybrid, greedy-dual\n",
        ),
        (
            &["compare", "--keep-alive-policy", "fixed,lazy"],
            "coldstart: --policy keep-alive-policy=lazy: provider.policy.keep_alive_policy: \
             unknown keep-alive policy `lazy`; one of: fixed[:SECONDS] (600), hybrid, greedy-dual\n",
        ),
        (
            &["compare", "--policy", "colour=red,blue"],
            "coldstart: --policy colour=red: provider.policy.colour: unknown field `colour`",
        ),
        (
            &["compare", "--set", "provider.colour=red,blue"],
            "coldstart: --set provider.colour=red: provider.colour: unknown field `colour`",
        ),
        (
            &["compare", "--set", "provider.hosts[0].slots=1,,2"],
            "coldstart: --set provider.hosts[0].slots=1,,2: an empty value in the list\n",
        ),
        (
            &["compare", "--set", "provider.hosts[7].slots=1,2"],
            "coldstart: --set provider.hosts[7].slots=1: provider.hosts is not in the scenario: \
             only a list the file gives has elements to set (examples/default.toml spells out \
             the default scenario)\n",
        ),
        (
            &["compare", "--policy", "prewarm-percentile=0,150"],
            "coldstart: --policy prewarm-percentile=150: provider.policy.prewarm_percentile: \
             150 is above 100",
        ),
        (
            &["compare", "--set", "seed=x,y"],
            "coldstart: --set seed=x: seed: invalid type: string \"x\"",
        ),
        (
            &["compare", "missing.toml"],
            "coldstart: missing.toml: cannot read the scenario: ",
        ),
        (
            &["compare", "--svg-metrics", "colour"],
            "coldstart: --svg-metrics: `colour` is not a report key",
        ),
        (
            &["run-job", "missing.json"],
            "coldstart: missing.json: No such file",
        ),
        (
            &["merge", "missing.json"],
            "coldstart: missing.json: No such file",
        ),
    ] {
        let error = refused(here, args);
        assert!(
            error.starts_with(expected),
            "{args:?}:\n  got      {error}\n  expected {expected}"
        );
    }
}

/// A job names its own problems: a scenario key it should not hold, a
/// trace no longer at its path (the one outside file a job reads), a
/// result path that cannot be written.
#[test]
fn a_job_names_its_own_problems() {
    let directory = scratch("job-problems");
    let slice = Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
        .join("tests/data/azure2021-slice-998.csv");
    let trace = directory.join("slice.csv");
    std::fs::copy(&slice, &trace).unwrap();
    let scenario = directory.join("slice.toml");
    std::fs::write(
        &scenario,
        "[workload]\ninvocations = 50\ntrace = { path = \"slice.csv\" }\n",
    )
    .unwrap();
    let jobs = directory.join("jobs");
    ok(&[
        "compare",
        scenario.to_str().unwrap(),
        "--seeds",
        "2",
        "--emit-jobs",
        jobs.to_str().unwrap(),
    ]);
    let job = jobs.join("job-0001.json");
    let text = std::fs::read_to_string(&job).unwrap();

    let edited = directory.join("edited.json");
    std::fs::write(
        &edited,
        text.replacen("\"workload\": {", "\"workload\": {\n \"colour\": 1,", 1),
    )
    .unwrap();
    assert_eq!(
        refused(&directory, &["run-job", edited.to_str().unwrap()]),
        format!(
            "coldstart: {}: scenario: workload.colour: unknown field `colour`, expected one of \
             `invocations`, `interarrival_mean`, `failure_per_phase_ppm`, `long_run_ppm`, \
             `popularity`, `arrivals`, `rate_profile`, `images`, `function_defaults`, \
             `functions`, `trace`, `cold_start_model`\n",
            edited.display()
        )
    );
    let blocked = directory.join("slice.toml").join("result.json");
    let error = refused(
        &directory,
        &[
            "run-job",
            job.to_str().unwrap(),
            "-o",
            blocked.to_str().unwrap(),
        ],
    );
    assert!(error.starts_with("coldstart: "), "{error}");
    assert!(error.contains("slice.toml"), "{error}");
    std::fs::remove_file(&trace).unwrap();
    let error = refused(&directory, &["run-job", job.to_str().unwrap()]);
    assert!(
        error.starts_with(&format!("coldstart: {}: ", job.display())),
        "{error}"
    );
    assert!(error.contains(trace.to_str().unwrap()), "{error}");
    let _ = std::fs::remove_dir_all(&directory);
}
