//! `coldstart compare`: the default scenario run for every combination of
//! policies in a grid and every seed, in parallel, then each report metric
//! summarized per combination as a mean and a 95% confidence interval
//! across seeds (Student's t). Runs are deterministic and results are
//! gathered by their place in the grid, so the output is the same whatever
//! the number of threads.

use crate::policy_names::{
    host_selection_name, image_eviction_name, keep_alive_name, PolicyChoice,
};
use crate::report::{self, Latencies};
use crate::simulate::{default_config, simulate_with, SimulateError, SimulateOptions};
use crate::Pressure;
use serde_json::Value;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

#[derive(Clone, Debug)]
pub struct CompareOptions {
    /// The combinations of policies, in output order.
    pub grid: Vec<PolicyChoice>,
    /// The workload seeds every combination runs with.
    pub seeds: Vec<u64>,
    pub invocations: u64,
    pub pressure: Pressure,
    pub check_invariants: bool,
    /// Worker threads (at least 1).
    pub threads: usize,
}

/// One metric of one combination across seeds.
#[derive(Clone, Debug, PartialEq)]
pub struct Summary {
    pub key: &'static str,
    /// Runs that had a value (a ratio of nothing, or a percentile of no
    /// samples, has none).
    pub samples: usize,
    pub mean: Option<f64>,
    /// Half-width of the 95% confidence interval of the mean; `None` with
    /// fewer than two samples.
    pub ci95: Option<f64>,
}

/// One combination's results.
#[derive(Clone, Debug, PartialEq)]
pub struct Row {
    pub choice: PolicyChoice,
    /// Each seed's event digest, in seed order: the runs' fingerprints.
    pub digests: Vec<String>,
    pub metrics: Vec<Summary>,
}

impl Row {
    pub fn names(&self) -> [String; 3] {
        [
            host_selection_name(self.choice.host_selection),
            keep_alive_name(self.choice.keep_alive),
            image_eviction_name(self.choice.image_eviction),
        ]
    }

    pub fn metric(&self, key: &str) -> Option<&Summary> {
        self.metrics.iter().find(|m| m.key == key)
    }
}

type Fields = Vec<(&'static str, Value)>;

fn run_one(
    options: &CompareOptions,
    choice: PolicyChoice,
    seed: u64,
) -> Result<Fields, SimulateError> {
    let simulate_options = SimulateOptions {
        seed,
        invocations: options.invocations,
        pressure: options.pressure,
        check_invariants: options.check_invariants,
        faults: None,
        policies: choice,
    };
    let mut latencies = Latencies::new();
    let simulation = simulate_with(
        simulate_options,
        None::<(std::io::Sink, crate::log::LogFormat)>,
        |event| latencies.observe(event),
    )?;
    let slots_total: u64 = default_config(options.pressure)
        .hosts
        .iter()
        .map(|host| u64::from(host.slots))
        .sum();
    Ok(report::fields(
        &simulation.metrics,
        &simulation.report,
        slots_total,
        &mut latencies,
    ))
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
pub fn summarize(key: &'static str, values: &[f64]) -> Summary {
    let n = values.len();
    if n == 0 {
        return Summary {
            key,
            samples: 0,
            mean: None,
            ci95: None,
        };
    }
    let mean = values.iter().sum::<f64>() / n as f64;
    let ci95 = (n >= 2).then(|| {
        let variance = values.iter().map(|v| (v - mean).powi(2)).sum::<f64>() / (n - 1) as f64;
        t_975(n - 1) * (variance / n as f64).sqrt()
    });
    Summary {
        key,
        samples: n,
        mean: Some(mean),
        ci95,
    }
}

/// Runs the grid × seeds and summarizes each combination.
pub fn compare(options: &CompareOptions) -> Result<Vec<Row>, SimulateError> {
    let seeds = options.seeds.len();
    let jobs = options.grid.len() * seeds;
    let results: Mutex<Vec<Option<Result<Fields, SimulateError>>>> = Mutex::new(vec![None; jobs]);
    let next = AtomicUsize::new(0);
    let threads = options.threads.clamp(1, jobs.max(1));
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let job = next.fetch_add(1, Ordering::Relaxed);
                if job >= jobs {
                    break;
                }
                let choice = options.grid[job / seeds];
                let seed = options.seeds[job % seeds];
                let result = run_one(options, choice, seed);
                results.lock().expect("no worker panics holding the lock")[job] = Some(result);
            });
        }
    });
    let results = results.into_inner().expect("no worker panicked");
    let mut rows = Vec::with_capacity(options.grid.len());
    for (index, choice) in options.grid.iter().enumerate() {
        let mut runs = Vec::with_capacity(seeds);
        for result in &results[index * seeds..(index + 1) * seeds] {
            runs.push(result.clone().expect("every job ran")?);
        }
        rows.push(summarize_runs(*choice, &runs));
    }
    Ok(rows)
}

fn summarize_runs(choice: PolicyChoice, runs: &[Fields]) -> Row {
    let digests = runs
        .iter()
        .map(|fields| {
            fields
                .iter()
                .find(|(key, _)| *key == "events_digest")
                .and_then(|(_, value)| value.as_str())
                .unwrap_or_default()
                .to_string()
        })
        .collect();
    let keys: Vec<&'static str> = runs
        .first()
        .map(|fields| {
            fields
                .iter()
                .filter(|(_, value)| !value.is_string())
                .map(|(key, _)| *key)
                .collect()
        })
        .unwrap_or_default();
    let metrics = keys
        .into_iter()
        .map(|key| {
            let values: Vec<f64> = runs
                .iter()
                .filter_map(|fields| fields.iter().find(|(k, _)| *k == key))
                .filter_map(|(_, value)| value.as_f64())
                .collect();
            summarize(key, &values)
        })
        .collect();
    Row {
        choice,
        digests,
        metrics,
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

fn number(value: f64) -> String {
    if value.abs() >= 100.0 {
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

/// A text table: one row per combination, the `TABLE_KEYS` as mean ± 95% CI.
pub fn render_table(rows: &[Row], seeds: usize) -> String {
    let mut cells: Vec<Vec<String>> = vec![["host selection", "keep-alive", "images"]
        .iter()
        .map(|s| s.to_string())
        .chain(TABLE_KEYS.iter().map(|s| s.to_string()))
        .collect()];
    for row in rows {
        cells.push(
            row.names()
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
    let mut text = format!("{seeds} seed(s) per combination; mean ± 95% confidence interval\n");
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

/// One JSON object per combination, one per line.
pub fn render_json(rows: &[Row]) -> String {
    let mut text = String::new();
    for row in rows {
        let [host, keep_alive, images] = row.names();
        let mut metrics = serde_json::Map::new();
        for m in &row.metrics {
            metrics.insert(
                m.key.to_string(),
                serde_json::json!({"mean": optional(m.mean), "ci95": optional(m.ci95), "samples": m.samples}),
            );
        }
        let object = serde_json::json!({
            "host_selection": host,
            "keep_alive": keep_alive,
            "image_eviction": images,
            "seeds": row.digests.len(),
            "events_digests": row.digests,
            "metrics": metrics,
        });
        text += &object.to_string();
        text += "\n";
    }
    text
}

/// A header row, then one row per combination: the policies, the number
/// of seeds, and for every metric `KEY_mean` and `KEY_ci95`.
pub fn render_csv(rows: &[Row]) -> String {
    let Some(first) = rows.first() else {
        return String::new();
    };
    let mut header = vec![
        "host_selection".to_string(),
        "keep_alive".into(),
        "image_eviction".into(),
        "seeds".into(),
    ];
    for m in &first.metrics {
        header.push(format!("{}_mean", m.key));
        header.push(format!("{}_ci95", m.key));
    }
    let mut text = header.join(",") + "\n";
    for row in rows {
        let mut cells: Vec<String> = row.names().into_iter().collect();
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
}
