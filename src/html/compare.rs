//! The comparison's report (`compare --html`, `merge --html`): the table of
//! every combination (mean ± 95% confidence interval across seeds, sortable)
//! and, per metric, a bar per combination with its interval as a whisker.

use super::page::{document, escape, nice_ceiling, px, short_number, sortable_table};
use crate::study::compare::{count, number, Row, Summary, TABLE_KEYS};
use crate::study::grid::GridHeader;
use std::fmt::Write;

/// The metrics plotted when none are named: the table's and a few more.
pub const PLOT_KEYS_DEFAULT: [&str; 9] = [
    "cold_start_ratio",
    "cost",
    "end_to_end_us_p99",
    "start_delay_us_p99",
    "rejected",
    "avg_idle",
    "utilization",
    "host_cache_hit_ratio",
    "main_cache_hit_ratio",
];

/// What a key is measured in, for the axis.
fn unit_of(key: &str) -> &'static str {
    if key.ends_with("_ratio") || key.ends_with("_prob") || key == "utilization" {
        "ratio"
    } else if key.contains("_us") {
        "µs"
    } else if key == "cost" {
        "dollars"
    } else if key.starts_with("avg_") {
        "containers (time average)"
    } else {
        "count"
    }
}

fn label(header: &GridHeader, row: &Row) -> String {
    if header.axes.is_empty() {
        return header.scenario.clone();
    }
    header
        .axes
        .iter()
        .zip(&row.labels)
        .map(|(axis, value)| format!("{}={value}", axis.name))
        .collect::<Vec<_>>()
        .join(", ")
}

fn mean_ci_text(summary: Option<&Summary>) -> (String, Option<f64>) {
    match summary {
        Some(Summary {
            mean: Some(mean),
            ci95: Some(ci95),
            ..
        }) => (
            format!("{} ± {}", number(*mean), number(*ci95)),
            Some(*mean),
        ),
        Some(Summary {
            mean: Some(mean), ..
        }) => (number(*mean), Some(*mean)),
        _ => ("–".to_string(), Some(f64::NAN)),
    }
}

const ROW_PX: f64 = 26.0;
const BAR_PX: f64 = 14.0;
const LABEL_CHAR_PX: f64 = 6.6;
const PLOT_PX: f64 = 320.0;
const VALUE_PX: f64 = 120.0;

/// One metric's panel: a horizontal bar per combination (the mean) and a
/// whisker for its 95% interval; the value and interval written at the end
/// of each bar, so nothing depends on colour.
fn metric_panel(header: &GridHeader, rows: &[Row], key: &str) -> String {
    let labels: Vec<String> = rows.iter().map(|row| label(header, row)).collect();
    let label_px = labels
        .iter()
        .map(|l| l.chars().count())
        .max()
        .unwrap_or(8)
        .min(48) as f64
        * LABEL_CHAR_PX
        + 12.0;
    let top = 8.0;
    let height = top + ROW_PX * rows.len() as f64 + 40.0;
    let width = label_px + PLOT_PX + VALUE_PX;
    let high = rows
        .iter()
        .filter_map(|row| row.metric(key))
        .filter_map(|s| s.mean.map(|m| m.abs() + s.ci95.unwrap_or(0.0)))
        .fold(0.0_f64, f64::max);
    let axis_max = nice_ceiling(high);
    let x_of = |v: f64| label_px + PLOT_PX * (v / axis_max).clamp(0.0, 1.0);
    let mut svg = format!(
        "<svg viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        px(width),
        px(height),
        escape(key)
    );
    let bottom = top + ROW_PX * rows.len() as f64;
    for i in 0..=4 {
        let value = axis_max * f64::from(i) / 4.0;
        let x = px(x_of(value));
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{}</text>",
            px(top),
            px(bottom),
            px(bottom + 14.0),
            short_number(value)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">{} ({})</text>",
        px(label_px + PLOT_PX / 2.0),
        px(bottom + 30.0),
        escape(key),
        unit_of(key)
    );
    for (i, (row, name)) in rows.iter().zip(&labels).enumerate() {
        let y = top + ROW_PX * i as f64;
        let shown: String = name.chars().take(48).collect();
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            px(label_px - 6.0),
            px(y + ROW_PX / 2.0 + 4.0),
            escape(&shown)
        );
        let summary = row.metric(key);
        let (text, _) = mean_ci_text(summary);
        let Some(mean) = summary.and_then(|s| s.mean) else {
            continue;
        };
        let bar_y = y + (ROW_PX - BAR_PX) / 2.0;
        let tip = format!("{name}: {key} {text} (mean ± 95% CI)");
        let _ = write!(
            svg,
            "<g data-tip=\"{tip}\"><title>{tip}</title><rect class=\"bar\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"#9ecae9\" stroke=\"#1f4e79\"/>",
            px(label_px),
            px(bar_y),
            px((x_of(mean) - label_px).max(0.5)),
            px(BAR_PX),
            tip = escape(&tip)
        );
        if let Some(ci) = summary.and_then(|s| s.ci95) {
            let (x0, x1) = (x_of(mean - ci), x_of(mean + ci));
            let mid = y + ROW_PX / 2.0;
            let _ = write!(
                svg,
                "<path class=\"whisker\" stroke=\"#1b1b1b\" stroke-width=\"1.5\" fill=\"none\" d=\"M{} {}H{}M{} {}V{}M{} {}V{}\"/>",
                px(x0),
                px(mid),
                px(x1),
                px(x0),
                px(mid - 5.0),
                px(mid + 5.0),
                px(x1),
                px(mid - 5.0),
                px(mid + 5.0)
            );
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\">{}</text></g>",
            px(label_px + PLOT_PX + 6.0),
            px(y + ROW_PX / 2.0 + 4.0),
            escape(&text)
        );
    }
    svg.push_str("</svg>");
    format!(
        "<figure id=\"metric-{}\"><figcaption>{}</figcaption>\n{svg}\n<output class=\"readout\">Point at a bar for its value.</output></figure>\n",
        escape(key),
        escape(key)
    )
}

/// The whole comparison report. `keys`: the metrics to plot (report
/// keys); those absent from every row are left out.
pub fn render_comparison(header: &GridHeader, rows: &[Row], keys: &[&str]) -> String {
    let mut body = format!(
        "<h1>coldstart comparison: {}</h1>\n<dl class=\"meta\">",
        escape(&header.scenario)
    );
    let seeds = match header.seeds.as_slice() {
        [] => "none".to_string(),
        [seed] => seed.to_string(),
        [first, .., last] => format!("{} ({first} to {last})", header.seeds.len()),
    };
    for (name, value) in [
        ("scenario", header.scenario.clone()),
        ("combinations", count(rows.len(), "combination")),
        ("seeds", seeds),
        ("fingerprint", header.fingerprint.clone()),
        ("coldstart version", env!("CARGO_PKG_VERSION").to_string()),
    ] {
        let _ = write!(
            body,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            escape(name),
            escape(&value)
        );
    }
    body += "</dl>\n<p class=\"note\">Each value is the mean across seeds ± the half-width of its 95% confidence interval (Student's t). Click a header to sort.</p>\n";
    let mut headers: Vec<(String, String)> = if header.axes.is_empty() {
        vec![("scenario".to_string(), String::new())]
    } else {
        header
            .axes
            .iter()
            .map(|axis| (axis.name.clone(), axis.key.clone()))
            .collect()
    };
    headers.extend(
        TABLE_KEYS
            .iter()
            .map(|key| (key.to_string(), unit_of(key).to_string())),
    );
    headers.push((
        "digests".to_string(),
        "each seed's events digest".to_string(),
    ));
    let headers: Vec<(&str, &str)> = headers
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    let table_rows: Vec<Vec<(String, Option<f64>)>> = rows
        .iter()
        .map(|row| {
            let mut cells: Vec<(String, Option<f64>)> = if header.axes.is_empty() {
                vec![(header.scenario.clone(), None)]
            } else {
                row.labels.iter().map(|l| (l.clone(), None)).collect()
            };
            cells.extend(TABLE_KEYS.iter().map(|key| mean_ci_text(row.metric(key))));
            cells.push((row.digests.join(" "), None));
            cells
        })
        .collect();
    body += &sortable_table("comparison", &headers, &table_rows);
    body += "<h2>Metrics</h2>\n<div class=\"charts\">\n";
    for key in keys {
        if rows.iter().any(|row| row.metric(key).is_some()) {
            body += &metric_panel(header, rows, key);
        }
    }
    body += "</div>\n";
    document(&format!("coldstart comparison: {}", header.scenario), &body)
}
