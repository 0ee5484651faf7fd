//! `coldstart compare`: a scenario run for every combination of a grid
//! (`src/study/grid.rs`) and every seed, in parallel, then each report metric
//! summarized per combination as a mean and a 95% confidence interval
//! across seeds (Student's t). Runs are deterministic and results are
//! gathered by their place in the grid, so the output is the same whatever
//! the number of threads — and the same when the runs come from result
//! files (`coldstart merge`, `cli/src/jobs.rs`), which go through the same
//! [`summarize_runs`] and renderers.

use crate::report::{self, Latencies};
use crate::scenario::Scenario;
use crate::simulate::{simulate_scenario_with, SimulateError, SimulateOptions};
use crate::study::grid::{Grid, GridHeader};
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

/// One run's report: the keys and values of `simulate --json`, in order.
pub type Fields = Vec<(String, Value)>;

/// One metric of one combination across seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    /// The report key, as `simulate --json` names it.
    pub key: String,
    /// Runs that had a value (a ratio of nothing, or a percentile of no
    /// samples, has none).
    pub samples: usize,
    /// The mean over the runs that had a value.
    pub mean: Option<f64>,
    /// Half-width of the 95% confidence interval of the mean; `None` with
    /// fewer than two samples.
    pub ci95: Option<f64>,
}

/// One combination's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    /// Each axis's value, in axis order.
    pub labels: Vec<String>,
    /// Each seed's event digest, in seed order: the runs' fingerprints.
    pub digests: Vec<String>,
    /// Each report key's summary, in the report's order.
    pub metrics: Vec<Summary>,
}

impl Row {
    /// The summary of report key `key`, if the report has it.
    pub fn metric(&self, key: &str) -> Option<&Summary> {
        self.metrics.iter().find(|m| m.key == key)
    }
}

/// Runs one scenario to the end and returns its report, as `simulate
/// --json` prints it.
pub fn run_scenario(scenario: &Scenario, check_invariants: bool) -> Result<Fields, SimulateError> {
    let options = SimulateOptions {
        check_invariants,
        ..SimulateOptions::default()
    };
    let mut latencies = Latencies::new();
    let simulation = simulate_scenario_with(
        scenario,
        options,
        None::<(std::io::Sink, crate::log::LogFormat)>,
        |event| latencies.observe(event),
    )?;
    let slots_total: u64 = scenario
        .config
        .hosts
        .iter()
        .map(|host| u64::from(host.slots))
        .sum();
    let fields = report::fields(
        &simulation.metrics,
        &simulation.report,
        slots_total,
        &mut latencies,
    );
    Ok(fields
        .into_iter()
        .map(|(key, value)| (key.to_string(), value))
        .collect())
}

/// A run that failed: which one, and why (one line).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunFailure {
    /// `name=value, …` of the combination.
    pub combination: String,
    /// The seed of the failed run.
    pub seed: u64,
    /// What went wrong, on one line.
    pub problem: String,
}

impl std::fmt::Display for RunFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{}, seed {}: {}",
            self.combination, self.seed, self.problem
        )
    }
}

impl std::error::Error for RunFailure {}

/// Runs every combination × seed of `grid` on `threads` worker threads and
/// returns the reports in run order (combination-major). On failure, the
/// first failed run in that order.
pub fn run_grid(
    grid: &Grid,
    check_invariants: bool,
    threads: usize,
) -> Result<Vec<Fields>, RunFailure> {
    let header = &grid.header;
    let seeds = header.seeds.len();
    let runs = header.runs();
    let run = |index: usize| -> Result<Fields, RunFailure> {
        let (combination, seed) = (index / seeds, header.seeds[index % seeds]);
        grid.scenario(combination, seed)
            .map_err(|error| error.to_string())
            .and_then(|scenario| {
                run_scenario(&scenario, check_invariants).map_err(|error| error.to_string())
            })
            .map_err(|problem| RunFailure {
                combination: header.describe(combination),
                seed,
                problem,
            })
    };
    let results: Mutex<Vec<Option<Result<Fields, RunFailure>>>> = Mutex::new(vec![None; runs]);
    let next = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..threads.clamp(1, runs.max(1)) {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= runs {
                    break;
                }
                let result = run(index);
                results.lock().expect("no worker panics holding the lock")[index] = Some(result);
            });
        }
    });
    let results = results.into_inner().expect("no worker panicked");
    results
        .into_iter()
        .map(|result| result.expect("every run ran"))
        .collect()
}

/// Summarizes runs in run order (combination-major, as [`run_grid`]
/// returns them) into one row per combination.
pub fn summarize_runs(header: &GridHeader, runs: &[Fields]) -> Vec<Row> {
    let seeds = header.seeds.len();
    runs.chunks(seeds.max(1))
        .enumerate()
        .map(|(combination, runs)| summarize_combination(header.labels(combination), runs))
        .collect()
}

fn summarize_combination(labels: Vec<String>, runs: &[Fields]) -> Row {
    let digests = runs
        .iter()
        .map(|fields| {
            fields
                .iter()
                .find(|(key, _)| key == "events_digest")
                .and_then(|(_, value)| value.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    // Every key but the digest (the only string) is a metric.
    let keys: Vec<&str> = runs
        .first()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, value)| !value.is_string())
                .map(|(key, _)| key.as_str())
                .collect()
        })
        .unwrap_or_default();
    let metrics = keys
        .into_iter()
        .map(|key| {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|fields| fields.iter().find(|(k, _)| k == key))
                .filter_map(|(_, value)| value.as_f64())
                .collect();
            summarize(key, &values)
        })
        .collect();
    Row {
        labels,
        digests,
        metrics,
    }
}

/// Two-sided 97.5% quantiles of Student's t for 1 to 30 degrees of freedom.
const T_975: [f64; 30] = [
    12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160,
    2.145, 2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056,
    2.052, 2.048, 2.045, 2.042,
];

/// The t quantile for `degrees` degrees of freedom (≥ 1); beyond the table,
/// a few steps down to the normal's 1.960.
pub fn t_975(degrees: usize) -> f64 {
    match degrees {
        0 => f64::NAN,
        1..=30 => T_975[degrees - 1],
        31..=40 => 2.021,
        41..=60 => 2.000,
        61..=120 => 1.980,
        _ => 1.960,
    }
}

/// Mean and 95% confidence half-width of `values`, summed in order.
pub fn summarize(key: &str, values: &[f64]) -> Summary {
    let n = values.len();
    if n == 0 {
        return Summary {
            key: key.to_string(),
            samples: 0,
            mean: None,
            ci95: None,
        };
    }
    // Runs that agree (a trace, the same whatever the seed) have exactly
    // their value as the mean and no interval: summing and dividing would
    // round the mean off the value and leave a variance of rounding error.
    let identical = values.iter().all(|&v| v == values[0]);
    let mean = if identical {
        values[0]
    } else {
        values.iter().sum::<f64>() / n as f64
    };
    let ci95 = (n >= 2).then(|| {
        if identical {
            return 0.0;
        }
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        t_975(n - 1) * (variance / n as f64).sqrt()
    });
    Summary {
        key: key.to_string(),
        samples: n,
        mean: Some(mean),
        ci95,
    }
}

/// The metrics in the printed table.
pub const TABLE_KEYS: [&str; 6] = [
    "cold_start_ratio",
    "rejected",
    "cost",
    "avg_idle",
    "start_delay_us_p99",
    "end_to_end_us_p99",
];

/// Four significant digits or so: whole numbers from 100 up, two decimals
/// from 1, four below.
pub fn number(value: f64) -> String {
    if value == 0.0 {
        "0".into()
    } else if value.abs() >= 100.0 {
        format!("{value:.0}")
    } else if value.abs() >= 1.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}

fn mean_ci(summary: Option<&Summary>) -> String {
    match summary {
        Some(Summary {
            mean: Some(mean),
            ci95: Some(ci95),
            ..
        }) => format!("{} ± {}", number(*mean), number(*ci95)),
        Some(Summary {
            mean: Some(mean), ..
        }) => number(*mean),
        _ => "-".to_string(),
    }
}

/// The label columns' names: the axes', or `scenario` when nothing varies.
fn label_names(header: &GridHeader) -> Vec<String> {
    if header.axes.is_empty() {
        return vec!["scenario".into()];
    }
    header.axes.iter().map(|axis| axis.name.clone()).collect()
}

fn label_values(header: &GridHeader, row: &Row) -> Vec<String> {
    if header.axes.is_empty() {
        return vec![header.scenario.clone()];
    }
    row.labels.clone()
}

/// `1 seed`, `3 seeds`.
pub fn count(n: usize, noun: &str) -> String {
    if n == 1 {
        format!("1 {noun}")
    } else {
        format!("{n} {noun}s")
    }
}

/// The seeds, as the table's first line says them.
fn seeds_text(seeds: &[u64]) -> String {
    match seeds {
        [] => "no seeds".into(),
        [seed] => format!("1 seed ({seed})"),
        [first, .., last] => format!("{} seeds ({first} to {last})", seeds.len()),
    }
}

/// A text table: one row per combination, the `TABLE_KEYS` as mean ± 95% CI.
pub fn render_table(header: &GridHeader, rows: &[Row]) -> String {
    let mut cells: Vec<Vec<String>> = vec![label_names(header)
        .into_iter()
        .chain(TABLE_KEYS.iter().map(|s| s.to_string()))
        .collect()];
    for row in rows {
        cells.push(
            label_values(header, row)
                .into_iter()
                .chain(TABLE_KEYS.iter().map(|key| mean_ci(row.metric(key))))
                .collect(),
        );
    }
    let columns = cells[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = format!(
        "scenario {}: {} × {}; mean ± 95% confidence interval across seeds\n",
        header.scenario,
        count(rows.len(), "combination"),
        seeds_text(&header.seeds)
    );
    for row in &cells {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect();
        text += line.join("  ").trim_end();
        text += "\n";
    }
    text
}

fn optional(value: Option<f64>) -> Value {
    value.map_or(Value::Null, Value::from)
}

/// One JSON object per combination, one per line: its axis values, the
/// seeds, each seed's event digest, and every metric's mean, 95% CI and
/// number of samples.
pub fn render_json(header: &GridHeader, rows: &[Row]) -> String {
    let mut text = String::new();
    for row in rows {
        let mut combination = serde_json::Map::new();
        for (axis, value) in header.axes.iter().zip(&row.labels) {
            combination.insert(axis.name.clone(), Value::from(value.clone()));
        }
        let mut metrics = serde_json::Map::new();
        for m in &row.metrics {
            metrics.insert(
                m.key.clone(),
                serde_json::json!({"mean": optional(m.mean), "ci95": optional(m.ci95), "samples": m.samples}),
            );
        }
        let object = serde_json::json!({
            "scenario": header.scenario,
            "combination": combination,
            "seeds": header.seeds,
            "events_digests": row.digests,
            "metrics": metrics,
        });
        text += &object.to_string();
        text += "\n";
    }
    text
}

/// A CSV cell: quoted when it holds a comma, a quote or a line break.
fn csv_cell(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_string()
    }
}

/// A header row, then one row per combination: the axis values (or the
/// scenario), the number of seeds, and for every metric `KEY_mean` and
/// `KEY_ci95`.
pub fn render_csv(header: &GridHeader, rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut names = label_names(header);
    names.push("seeds".into());
    for m in &first.metrics {
        names.push(format!("{}_mean", m.key));
        names.push(format!("{}_ci95", m.key));
    }
    let names: Vec<String> = names.iter().map(|name| csv_cell(name)).collect();
    let mut text = names.join(",") + "\n";
    for row in rows {
        let mut cells: Vec<String> = label_values(header, row)
            .iter()
            .map(|label| csv_cell(label))
            .collect();
        cells.push(row.digests.len().to_string());
        for m in &row.metrics {
            for value in [m.mean, m.ci95] {
                cells.push(value.map_or(String::new(), |v| v.to_string()));
            }
        }
        text += &(cells.join(",") + "\n");
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identical_runs_have_their_value_as_mean_and_no_interval() {
        // 0.4289 × 5 / 5 is not 0.4289 in floating point.
        let summary = summarize("cold_start_ratio", &[0.4289; 5]);
        assert_eq!((summary.mean, summary.ci95), (Some(0.4289), Some(0.0)));
        assert_eq!(mean_ci(Some(&summary)), "0.4289 ± 0");
    }

    #[test]
    fn confidence_intervals_use_students_t() {
        let s = summarize("x", &[1.0, 2.0, 3.0]);
        assert_eq!(s.mean, Some(2.0));
        // sd 1, n 3: 4.303 / √3.
        let ci = s.ci95.expect("two or more samples");
        assert!((ci - 4.303 / 3f64.sqrt()).abs() < 1e-12);
        assert_eq!(summarize("x", &[5.0]).ci95, None);
        assert_eq!(summarize("x", &[]).mean, None);
        assert_eq!(t_975(1), 12.706);
        assert_eq!(t_975(1_000), 1.960);
    }

    fn header(axes: &[(&str, &[&str])], seeds: &[u64]) -> GridHeader {
        GridHeader {
            scenario: "s.toml".into(),
            axes: axes
                .iter()
                .map(|(name, values)| crate::study::grid::Axis {
                    name: name.to_string(),
                    key: name.to_string(),
                    values: values.iter().map(|v| v.to_string()).collect(),
                })
                .collect(),
            seeds: seeds.to_vec(),
            fingerprint: String::new(),
        }
    }

    fn run(cold_start_ratio: f64, digest: &str) -> Fields {
        vec![
            ("cold_start_ratio".into(), Value::from(cold_start_ratio)),
            ("events_digest".into(), Value::from(digest)),
            ("rejected".into(), Value::Null),
        ]
    }

    #[test]
    fn rows_summarize_each_combination_s_seeds() {
        let header = header(&[("set", &["[1, 2]", "x"])], &[3, 4]);
        let runs = [run(0.5, "a"), run(0.25, "b"), run(0.0, "c"), run(0.0, "d")];
        let rows = summarize_runs(&header, &runs);
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].labels, ["[1, 2]"]);
        assert_eq!(rows[0].digests, ["a", "b"]);
        let ratio = rows[0].metric("cold_start_ratio").unwrap();
        assert_eq!(ratio.mean, Some(0.375));
        assert_eq!(rows[1].metric("cold_start_ratio").unwrap().ci95, Some(0.0));
        assert_eq!(rows[0].metric("rejected").unwrap().samples, 0);
        assert_eq!(
            render_csv(&header, &rows),
            "set,seeds,cold_start_ratio_mean,cold_start_ratio_ci95,rejected_mean,rejected_ci95\n\
             \"[1, 2]\",2,0.375,1.58825,,\n\
             x,2,0,0,,\n"
        );
        let table = render_table(&header, &rows);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(
            lines[0],
            "scenario s.toml: 2 combinations × 2 seeds (3 to 4); mean ± 95% confidence interval across seeds"
        );
        assert_eq!(
            lines[1..],
            [
                "set     cold_start_ratio  rejected  cost  avg_idle  start_delay_us_p99  end_to_end_us_p99",
                "[1, 2]  0.3750 ± 1.59     -         -     -         -                   -",
                "x       0 ± 0             -         -     -         -                   -",
            ]
        );
    }

    #[test]
    fn without_axes_the_scenario_names_the_row() {
        let header = header(&[], &[7]);
        let rows = summarize_runs(&header, &[run(0.5, "a")]);
        let table = render_table(&header, &rows);
        assert!(table.starts_with("scenario s.toml: 1 combination × 1 seed (7);"));
        assert!(table
            .lines()
            .nth(1)
            .unwrap()
            .starts_with("scenario  cold_start_ratio"));
        assert!(table
            .lines()
            .nth(2)
            .unwrap()
            .starts_with("s.toml    0.5000"));
        let json: Value = serde_json::from_str(render_json(&header, &rows).trim()).unwrap();
        assert_eq!(json["combination"], serde_json::json!({}));
        assert_eq!(json["metrics"]["cold_start_ratio"]["ci95"], Value::Null);
    }
}
