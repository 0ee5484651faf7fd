//! The run's report: header, time-series charts, heat maps, CDFs and the
//! per-function and per-host tables, as one HTML string.

use super::buckets::{Gauge, Timeline, BUCKETS};
use super::collector::{Collector, FunctionStats, Outcome, RUN_SUB_BITS};
use super::page::{
    document, escape, nice_ceiling, px, short_number, sortable_table, stroke, Fixed,
};
use crate::report::Histogram;
use crate::Metrics;
use std::fmt::Write;
use std::ops::Range;

/// What identifies the run, for the report's header. `#[non_exhaustive]`:
/// build it with [`RunInfo::new`] and the `with_*` methods.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct RunInfo {
    /// The scenario's name (its file, or `default`), or the log replayed.
    pub scenario: String,
    /// What made it: `simulate …` or `replay …`.
    pub source: String,
    /// The workload's seed, if the run has one.
    pub seed: Option<u64>,
    /// The run's event digest.
    pub digest: u64,
    /// Events the run produced.
    pub events: u64,
    /// Inputs applied.
    pub steps: u64,
    /// The coldstart version that made the run (a log's writer, for a
    /// replay); the report's own is printed beside it.
    pub version: String,
}

impl RunInfo {
    /// The run of `scenario`, made by `source`, whose `steps` inputs gave
    /// `events` events of digest `digest`; no seed, and this crate's
    /// version as the maker's.
    pub fn new(
        scenario: impl Into<String>,
        source: impl Into<String>,
        digest: u64,
        events: u64,
        steps: u64,
    ) -> RunInfo {
        RunInfo {
            scenario: scenario.into(),
            source: source.into(),
            seed: None,
            digest,
            events,
            steps,
            version: env!("CARGO_PKG_VERSION").to_string(),
        }
    }

    /// This workload seed (`None`: the run has none), in place of what there was.
    pub fn with_seed(mut self, seed: Option<u64>) -> RunInfo {
        self.seed = seed;
        self
    }

    /// This maker's version, in place of what there was.
    pub fn with_version(mut self, version: String) -> RunInfo {
        self.version = version;
        self
    }
}

/// The most rows of the per-function table: the functions with the most
/// invocations; the rest are summed in one row.
pub const FUNCTION_ROWS_MAX: usize = 200;

const WIDTH_PX: f64 = 640.0;
const HEIGHT_PX: f64 = 230.0;
const LEFT_PX: f64 = 58.0;
const RIGHT_PX: f64 = 118.0;
const TOP_PX: f64 = 12.0;
const BOTTOM_PX: f64 = 40.0;
const PICODOLLARS_PER_DOLLAR: f64 = 1e12;
const GIB: f64 = (1u64 << 30) as f64;

/// The time axis's unit: seconds, minutes or hours, by the run's length.
fn time_unit(end_us: u64) -> (f64, &'static str) {
    if end_us < 180_000_000 {
        (1e6, "s")
    } else if end_us < 3 * 3_600_000_000 {
        (60e6, "min")
    } else {
        (3_600e6, "h")
    }
}

/// One line of a chart: its name and a value per column (`None`: no
/// value there, a gap).
struct Line {
    name: String,
    values: Vec<Option<f64>>,
}

impl Line {
    fn new(name: &str, values: Vec<f64>) -> Line {
        Line {
            name: name.to_string(),
            values: values.into_iter().map(Some).collect(),
        }
    }
}

/// A fault marker: the column and what happened in it.
struct Fault {
    column: usize,
    text: String,
}

/// Columns drawn per chart and per heat-map row, whatever the run's
/// length: a run longer than [`BUCKETS`] µs uses between half and all of
/// its intervals, and each column groups one or two of them (exact:
/// counts and time integrals add), so the page has the same number of
/// points, hover cells and markers for 10^5 invocations as for 10^8.
pub const COLUMNS: usize = BUCKETS / 2;

/// The intervals each column groups: `COLUMNS` (or fewer, for a run
/// shorter than that many µs) consecutive ranges covering `0..used`.
fn columns(used: usize) -> Vec<Range<usize>> {
    let count = COLUMNS.min(used).max(1);
    (0..count)
        .map(|j| j * used / count..(j + 1) * used / count)
        .collect()
}

/// A chart over the run's time.
struct TimeChart<'a> {
    id: &'a str,
    title: &'a str,
    y_label: &'a str,
    /// Formats a value for the hover read-out.
    format: &'a dyn Fn(f64) -> String,
    /// Fixed axis end (a ratio's 100%), or `None` to fit the data.
    y_max: Option<f64>,
    lines: Vec<Line>,
}

struct Axis {
    timeline: Timeline,
    end_us: u64,
    columns: Vec<Range<usize>>,
    faults: Vec<Fault>,
}

impl Axis {
    fn x(&self, t_us: f64) -> f64 {
        let plot = WIDTH_PX - LEFT_PX - RIGHT_PX;
        LEFT_PX + plot * t_us / self.end_us.max(1) as f64
    }

    /// A column's start, clipped to the run.
    fn start_us(&self, column: usize) -> u64 {
        self.timeline
            .start_us(self.columns[column].start)
            .min(self.end_us)
    }

    /// A column's end, clipped to the run.
    fn end_of_us(&self, column: usize) -> u64 {
        self.timeline
            .start_us(self.columns[column].end)
            .min(self.end_us)
    }

    /// A column's midpoint, clipped to the run.
    fn mid_us(&self, column: usize) -> f64 {
        (self.start_us(column) + self.end_of_us(column)) as f64 / 2.0
    }

    fn span_text(&self, column: usize) -> String {
        let (divisor, unit) = time_unit(self.end_us);
        let start = self.start_us(column) as f64 / divisor;
        let end = self.end_of_us(column) as f64 / divisor;
        format!("{}–{} {unit}", Fixed(start, 2), Fixed(end, 2))
    }

    /// A gauge's time average over each column (its value now for a
    /// column of no time, at the run's very end).
    fn averages(&self, gauge: &Gauge) -> Vec<f64> {
        (0..self.columns.len())
            .map(|column| {
                let span_us = self.end_of_us(column) - self.start_us(column);
                if span_us == 0 {
                    gauge.value() as f64
                } else {
                    let integral: u128 =
                        gauge.integrals()[self.columns[column].clone()].iter().sum();
                    integral as f64 / span_us as f64
                }
            })
            .collect()
    }

    /// A gauge's maximum within each column.
    fn maxima(&self, gauge: &Gauge) -> Vec<f64> {
        self.columns
            .iter()
            .map(|range| {
                gauge.maxima()[range.clone()]
                    .iter()
                    .copied()
                    .max()
                    .unwrap_or(0) as f64
            })
            .collect()
    }

    /// Per-interval counts summed per column.
    fn sums(&self, counts: &[u64]) -> Vec<u64> {
        self.columns
            .iter()
            .map(|range| counts[range.clone()].iter().sum())
            .collect()
    }

    /// Counts per column as a rate per unit of the time axis: a column
    /// groups one or two intervals, so a rate, not a count, compares
    /// columns. Over the columns' full width (the last interval's too).
    fn rates(&self, counts: &[u64]) -> Vec<f64> {
        let (unit_us, _) = time_unit(self.end_us);
        self.columns
            .iter()
            .zip(self.sums(counts))
            .map(|(range, sum)| {
                let width_us = self.timeline.width_us() as f64 * range.len().max(1) as f64;
                sum as f64 * unit_us / width_us
            })
            .collect()
    }

    /// The x axis: ticks at nice steps, and the label with its unit.
    fn draw_x(&self, svg: &mut String, bottom: f64) {
        let (divisor, unit) = time_unit(self.end_us);
        let span = self.end_us as f64 / divisor;
        let step = nice_ceiling(span / 6.0);
        let _ = write!(
            svg,
            "<line class=\"axis\" x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/>",
            px(LEFT_PX),
            px(bottom),
            px(WIDTH_PX - RIGHT_PX),
            px(bottom)
        );
        let mut tick = 0.0;
        while tick <= span * 1.000_001 {
            let x = self.x(tick * divisor);
            let _ = write!(
                svg,
                "<line class=\"axis\" x1=\"{x}\" y1=\"{b}\" x2=\"{x}\" y2=\"{b5}\"/><text x=\"{x}\" y=\"{ty}\" text-anchor=\"middle\">{}</text>",
                short_number(tick),
                x = px(x),
                b = px(bottom),
                b5 = px(bottom + 4.0),
                ty = px(bottom + 16.0)
            );
            tick += step;
        }
        let _ = write!(
            svg,
            "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">virtual time ({unit})</text>",
            px(LEFT_PX + (WIDTH_PX - LEFT_PX - RIGHT_PX) / 2.0),
            px(bottom + 32.0)
        );
    }

    /// Fault markers: a dashed vertical line per column with a fault,
    /// a ▼ over it, and the faults in its tooltip.
    fn draw_faults(&self, svg: &mut String, top: f64, bottom: f64) {
        for fault in &self.faults {
            let x = px(self.x(self.mid_us(fault.column)));
            let _ = write!(
                svg,
                "<g class=\"fault-mark\" data-tip=\"{tip}\"><title>{tip}</title><line class=\"fault\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{}\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\" fill=\"#b00020\">▼</text></g>",
                px(top + 8.0),
                px(bottom),
                px(top + 8.0),
                tip = escape(&format!("{}: {}", self.span_text(fault.column), fault.text)),
            );
        }
    }
}

fn y_axis(svg: &mut String, y_max: f64, label: &str, format: &dyn Fn(f64) -> String) {
    let bottom = HEIGHT_PX - BOTTOM_PX;
    let plot = bottom - TOP_PX;
    for i in 0..=4 {
        let value = y_max * f64::from(i) / 4.0;
        let y = bottom - plot * f64::from(i) / 4.0;
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{}\" y1=\"{y}\" x2=\"{}\" y2=\"{y}\"/><text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
            px(LEFT_PX),
            px(WIDTH_PX - RIGHT_PX),
            px(LEFT_PX - 5.0),
            px(y + 4.0),
            escape(&format(value)),
            y = px(y)
        );
    }
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{l}\" y1=\"{}\" x2=\"{l}\" y2=\"{}\"/><text transform=\"translate(13 {}) rotate(-90)\" text-anchor=\"middle\">{}</text>",
        px(TOP_PX),
        px(bottom),
        px(TOP_PX + plot / 2.0),
        escape(label),
        l = px(LEFT_PX)
    );
}

/// Path data through the points, broken at gaps.
fn path_data(points: impl Iterator<Item = Option<(f64, f64)>>) -> String {
    let mut data = String::new();
    let mut pen_down = false;
    for point in points {
        match point {
            Some((x, y)) => {
                let _ = write!(
                    data,
                    "{}{} {}",
                    if pen_down { "L" } else { "M" },
                    px(x),
                    px(y)
                );
                pen_down = true;
            }
            None => pen_down = false,
        }
    }
    data
}

/// The legend at the right: each line's dash pattern and colour, and its
/// name.
fn legend(svg: &mut String, names: &[&str]) {
    let x = WIDTH_PX - RIGHT_PX + 8.0;
    for (i, name) in names.iter().enumerate() {
        let y = TOP_PX + 10.0 + 16.0 * i as f64;
        let _ = write!(
            svg,
            "<line class=\"line\" {} x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\"/><text x=\"{}\" y=\"{}\">{}</text>",
            stroke(i),
            px(x),
            px(y),
            px(x + 22.0),
            px(y),
            px(x + 26.0),
            px(y + 4.0),
            escape(name)
        );
    }
}

fn figure(id: &str, title: &str, svg: &str, readout: &str, note: &str) -> String {
    let mut html = format!(
        "<figure id=\"{id}\"><figcaption>{}</figcaption>\n{svg}\n<output class=\"readout\">{}</output>",
        escape(title),
        escape(readout)
    );
    if !note.is_empty() {
        let _ = write!(html, "<p class=\"note\">{}</p>", escape(note));
    }
    html.push_str("</figure>\n");
    html
}

impl TimeChart<'_> {
    fn render(&self, axis: &Axis, note: &str) -> String {
        let bottom = HEIGHT_PX - BOTTOM_PX;
        let plot = bottom - TOP_PX;
        let data_max = self
            .lines
            .iter()
            .flat_map(|line| line.values.iter().flatten())
            .fold(0.0_f64, |max, &v| max.max(v));
        let y_max = self.y_max.unwrap_or_else(|| nice_ceiling(data_max));
        let mut svg = format!(
            "<svg viewBox=\"0 0 {WIDTH_PX} {HEIGHT_PX}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
            escape(self.title)
        );
        y_axis(&mut svg, y_max, self.y_label, self.format);
        axis.draw_x(&mut svg, bottom);
        for (i, line) in self.lines.iter().enumerate() {
            let points = line.values.iter().enumerate().map(|(column, value)| {
                value.map(|v| {
                    (
                        axis.x(axis.mid_us(column)),
                        bottom - plot * (v / y_max).clamp(0.0, 1.0),
                    )
                })
            });
            let _ = write!(
                svg,
                "<path class=\"line series\" data-name=\"{}\" {} d=\"{}\"/>",
                escape(&line.name),
                stroke(i),
                path_data(points)
            );
        }
        axis.draw_faults(&mut svg, TOP_PX, bottom);
        // One transparent rectangle per column carries its values.
        for column in 0..axis.columns.len() {
            let x0 = axis.x(axis.start_us(column) as f64);
            let x1 = axis.x(axis.end_of_us(column) as f64);
            let mut tip = axis.span_text(column);
            for line in &self.lines {
                let value = line.values[column].map_or("–".to_string(), |v| (self.format)(v));
                let _ = write!(tip, " · {} {value}", line.name);
            }
            let _ = write!(
                svg,
                "<rect class=\"hit\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
                px(x0),
                px(TOP_PX),
                px((x1 - x0).max(0.1)),
                px(plot),
                escape(&tip)
            );
        }
        let names: Vec<&str> = self.lines.iter().map(|line| line.name.as_str()).collect();
        legend(&mut svg, &names);
        svg.push_str("</svg>");
        figure(
            self.id,
            self.title,
            &svg,
            "Point at the chart for the values of a column (one or two intervals).",
            note,
        )
    }
}

/// The sum of the rows' time averages per column: all hosts' RAM (or
/// disk).
fn total_averages(axis: &Axis, rows: &[Gauge]) -> Vec<f64> {
    let mut totals = vec![0.0; axis.columns.len()];
    for row in rows {
        for (total, average) in totals.iter_mut().zip(axis.averages(row)) {
            *total += average;
        }
    }
    totals
}

/// Idle containers' time average per column: (live − busy) integrals
/// over each column's span.
fn idle_averages(collector: &Collector, axis: &Axis) -> Vec<f64> {
    let s = collector.series();
    let live = axis.averages(&s.live);
    let busy = axis.averages(&s.busy);
    live.iter()
        .zip(&busy)
        .map(|(l, b)| (l - b).max(0.0))
        .collect()
}

fn ratio_line(name: &str, parts: &[u64], wholes: &[&[u64]], axis: &Axis) -> Line {
    let parts = axis.sums(parts);
    let wholes: Vec<Vec<u64>> = wholes.iter().map(|w| axis.sums(w)).collect();
    let values = (0..axis.columns.len())
        .map(|c| {
            let whole: u64 = wholes.iter().map(|w| w[c]).sum();
            (whole > 0).then(|| parts[c] as f64 / whole as f64)
        })
        .collect();
    Line {
        name: name.to_string(),
        values,
    }
}

fn percent(value: f64) -> String {
    format!("{}%", Fixed(value * 100.0, 1))
}

fn gib(bytes: f64) -> String {
    format!("{} GiB", Fixed(bytes / GIB, 2))
}

fn dollars(picodollars: f64) -> String {
    let value = picodollars / PICODOLLARS_PER_DOLLAR;
    if value == 0.0 {
        "$0".to_string()
    } else if value.abs() >= 100.0 {
        format!("${}", Fixed(value, 0))
    } else if value.abs() >= 1.0 {
        format!("${}", Fixed(value, 2))
    } else {
        format!("${}", Fixed(value, 4))
    }
}

fn plain(value: f64) -> String {
    short_number(value)
}

fn ms(us: u64) -> String {
    format!("{} ms", Fixed(us as f64 / 1_000.0, 3))
}

/// The heat map of one gauge per host row: the time average per column,
/// as a share of the row's capacity, in 10 grey levels (lightness, so it
/// reads in grey too); the exact value of a cell in its tooltip.
fn heat_map(
    id: &str,
    title: &str,
    rows: &[(String, &Gauge, u64)],
    axis: &Axis,
    note: &str,
) -> String {
    const LEVELS: usize = 10;
    let row_px = (160.0 / rows.len().max(1) as f64).clamp(2.5, 40.0);
    let height = TOP_PX + row_px * rows.len() as f64 + BOTTOM_PX + 8.0;
    let bottom = TOP_PX + row_px * rows.len() as f64;
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH_PX} {}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        px(height),
        escape(title)
    );
    let mut paths: Vec<String> = vec![String::new(); LEVELS];
    let mut tips = String::new();
    for (r, (name, gauge, capacity)) in rows.iter().enumerate() {
        let averages = axis.averages(gauge);
        let y = TOP_PX + row_px * r as f64;
        for (column, average) in averages.iter().enumerate() {
            let share = if *capacity == 0 {
                0.0
            } else {
                average / *capacity as f64
            };
            let level = ((share * LEVELS as f64) as usize).min(LEVELS - 1);
            let x0 = axis.x(axis.start_us(column) as f64);
            let x1 = axis.x(axis.end_of_us(column) as f64);
            if share > 0.0 {
                let _ = write!(
                    paths[level],
                    "M{} {}h{}v{}h-{}z",
                    px(x0),
                    px(y),
                    px(x1 - x0),
                    px(row_px),
                    px(x1 - x0)
                );
            }
            if column % 4 == 0 {
                // A hover cell per 4 columns keeps the file small.
                let last = (column + 4).min(axis.columns.len());
                let x_end = axis.x(axis.end_of_us(last - 1) as f64);
                let mean_share = if *capacity == 0 {
                    0.0
                } else {
                    averages[column..last].iter().sum::<f64>()
                        / (last - column) as f64
                        / *capacity as f64
                };
                let tip = format!(
                    "{name}, {}–: {} of {} on average",
                    axis.span_text(column).split('–').next().unwrap_or(""),
                    percent(mean_share),
                    gib(*capacity as f64)
                );
                let _ = write!(
                    tips,
                    "<rect class=\"hit\" x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" data-tip=\"{}\"/>",
                    px(x0),
                    px(y),
                    px((x_end - x0).max(0.1)),
                    px(row_px),
                    escape(&tip)
                );
            }
        }
        if rows.len() <= 16 || r % (rows.len() / 8).max(1) == 0 {
            let _ = write!(
                svg,
                "<text x=\"{}\" y=\"{}\" text-anchor=\"end\">{}</text>",
                px(LEFT_PX - 5.0),
                px(y + row_px / 2.0 + 4.0),
                escape(name)
            );
        }
    }
    for (level, data) in paths.iter().enumerate() {
        if data.is_empty() {
            continue;
        }
        // From light (low use) to dark (full), one hue.
        let lightness = 92 - (level as i32) * 8;
        let _ = write!(
            svg,
            "<path class=\"heat\" fill=\"hsl(215 60% {lightness}%)\" d=\"{data}\"/>"
        );
    }
    svg.push_str(&tips);
    let _ = write!(
        svg,
        "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"none\" class=\"axis\"/>",
        px(LEFT_PX),
        px(TOP_PX),
        px(WIDTH_PX - LEFT_PX - RIGHT_PX),
        px(bottom - TOP_PX)
    );
    axis.draw_x(&mut svg, bottom);
    axis.draw_faults(&mut svg, TOP_PX - 8.0, bottom);
    // The scale: 10 swatches with their share.
    for level in 0..LEVELS {
        let y = TOP_PX + 12.0 * level as f64;
        let lightness = 92 - (level as i32) * 8;
        let _ = write!(
            svg,
            "<rect x=\"{}\" y=\"{}\" width=\"14\" height=\"11\" fill=\"hsl(215 60% {lightness}%)\" stroke=\"#999\"/><text x=\"{}\" y=\"{}\">{}–{}%</text>",
            px(WIDTH_PX - RIGHT_PX + 8.0),
            px(y),
            px(WIDTH_PX - RIGHT_PX + 26.0),
            px(y + 9.5),
            level * 10,
            level * 10 + 10
        );
    }
    svg.push_str("</svg>");
    figure(
        id,
        title,
        &svg,
        "Point at a row for its use in that stretch of time.",
        note,
    )
}

/// log10 of `x ≥ 1` from basic IEEE-754 operations (no `log10`, whose last
/// bit may differ between platforms): the whole decades, then the binary
/// digits of the rest's logarithm by repeated squaring; ample for a plot.
fn log10(mut x: f64) -> f64 {
    if !(x >= 1.0 && x.is_finite()) {
        return 0.0;
    }
    let mut decades = 0.0;
    while x >= 10.0 {
        x /= 10.0;
        decades += 1.0;
    }
    // log2 of x in [1, 10), then divided by log2(10).
    let mut log2 = 0.0;
    while x >= 2.0 {
        x /= 2.0;
        log2 += 1.0;
    }
    let mut bit = 0.5;
    for _ in 0..24 {
        x *= x;
        if x >= 2.0 {
            x /= 2.0;
            log2 += bit;
        }
        bit /= 2.0;
    }
    decades + log2 / std::f64::consts::LOG2_10
}

/// At most this many points per CDF line: one per step of its share.
const CDF_POINTS_MAX: u64 = 400;

/// The CDF chart of one latency, a line per outcome, on a log time axis.
fn cdf_chart(
    id: &str,
    title: &str,
    sketches: &[(&str, &Histogram<RUN_SUB_BITS>)],
    note: &str,
) -> String {
    let bottom = HEIGHT_PX - BOTTOM_PX;
    let plot_h = bottom - TOP_PX;
    let plot_w = WIDTH_PX - LEFT_PX - RIGHT_PX;
    let max_us = sketches
        .iter()
        .filter_map(|(_, s)| s.max())
        .max()
        .unwrap_or(1)
        .max(1);
    // Decades from the one below the smallest sample to the max, log scale.
    let min_us = sketches
        .iter()
        .filter_map(|(_, s)| s.cumulative().first().map(|p| p.0))
        .min()
        .unwrap_or(1)
        .max(1);
    let mut decades_us = vec![1_u64];
    while decades_us[0].saturating_mul(10) <= min_us {
        decades_us[0] *= 10;
    }
    while *decades_us.last().unwrap_or(&1) < max_us {
        let next = decades_us.last().unwrap_or(&1).saturating_mul(10);
        decades_us.push(next);
    }
    let log_top = (decades_us.len() - 1).max(1) as f64;
    let x_of = |us: u64| -> f64 {
        let us = (us.max(1) as f64).max(decades_us[0] as f64);
        let decades = log10(us / decades_us[0] as f64);
        LEFT_PX + plot_w * (decades / log_top).clamp(0.0, 1.0)
    };
    let mut svg = format!(
        "<svg viewBox=\"0 0 {WIDTH_PX} {HEIGHT_PX}\" role=\"img\" aria-label=\"{}\" xmlns=\"http://www.w3.org/2000/svg\">",
        escape(title)
    );
    y_axis(&mut svg, 1.0, "share of invocations", &percent);
    let _ = write!(
        svg,
        "<line class=\"axis\" x1=\"{}\" y1=\"{b}\" x2=\"{}\" y2=\"{b}\"/>",
        px(LEFT_PX),
        px(WIDTH_PX - RIGHT_PX),
        b = px(bottom)
    );
    for &decade_us in &decades_us {
        let x = px(x_of(decade_us));
        let label = short_number(decade_us as f64 / 1_000.0);
        let _ = write!(
            svg,
            "<line class=\"grid\" x1=\"{x}\" y1=\"{}\" x2=\"{x}\" y2=\"{b}\"/><text x=\"{x}\" y=\"{}\" text-anchor=\"middle\">{label}</text>",
            px(TOP_PX),
            px(bottom + 16.0),
            b = px(bottom)
        );
    }
    let _ = write!(
        svg,
        "<text x=\"{}\" y=\"{}\" text-anchor=\"middle\">latency (ms, log scale)</text>",
        px(LEFT_PX + plot_w / 2.0),
        px(bottom + 32.0)
    );
    let mut names = Vec::new();
    for (i, (name, sketch)) in sketches.iter().enumerate() {
        let samples = sketch.samples();
        names.push(name.to_string());
        if samples == 0 {
            continue;
        }
        // From 0 at the smallest value, so a jump there shows as a rise.
        let first_us = sketch.cumulative().first().map_or(1, |p| p.0);
        let mut points = vec![Some((x_of(first_us), bottom))];
        let mut next_share = 0;
        for (value_us, seen) in sketch.cumulative() {
            // Keep a point each time the share passes a step (and the last).
            let share_step = seen * CDF_POINTS_MAX / samples;
            if share_step >= next_share || seen == samples {
                points.push(Some((
                    x_of(value_us),
                    bottom - plot_h * seen as f64 / samples as f64,
                )));
                next_share = share_step + 1;
            }
        }
        let _ = write!(
            svg,
            "<path class=\"line series\" data-name=\"{}\" {} d=\"{}\"/>",
            escape(name),
            stroke(i),
            path_data(points.into_iter())
        );
        for (per_mille, label) in [(500, "p50"), (990, "p99")] {
            if let Some(value_us) = sketch.percentile(per_mille) {
                let x = x_of(value_us);
                let y = bottom - plot_h * per_mille as f64 / 1_000.0;
                let tip = format!("{name}: {label} {}", ms(value_us));
                let _ = write!(
                    svg,
                    "<circle cx=\"{}\" cy=\"{}\" r=\"4\" fill=\"#fff\" {} stroke-width=\"1.5\" data-tip=\"{}\"><title>{}</title></circle>",
                    px(x),
                    px(y),
                    stroke(i),
                    escape(&tip),
                    escape(&tip)
                );
            }
        }
    }
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    legend(&mut svg, &names);
    svg.push_str("</svg>");
    figure(
        id,
        title,
        &svg,
        "Circles mark p50 and p99; point at one for its value.",
        note,
    )
}

/// The percentiles under a CDF chart.
fn quantile_table(id: &str, sketches: &[(&str, &Histogram<RUN_SUB_BITS>)]) -> String {
    let headers = [
        ("outcome", "how the invocation ended"),
        ("invocations", "samples"),
        ("p50", "ms"),
        ("p90", "ms"),
        ("p99", "ms"),
        ("p99.9", "ms"),
        ("max", "ms, exact"),
    ];
    let rows: Vec<Vec<(String, Option<f64>)>> = sketches
        .iter()
        .map(|(name, sketch)| {
            let mut row = vec![
                (name.to_string(), None),
                (sketch.samples().to_string(), Some(sketch.samples() as f64)),
            ];
            for per_mille in [500, 900, 990, 999] {
                row.push(ms_cell(sketch.percentile(per_mille)));
            }
            row.push(ms_cell(sketch.max()));
            row
        })
        .collect();
    sortable_table(id, &headers, &rows)
}

fn ms_cell(us: Option<u64>) -> (String, Option<f64>) {
    match us {
        Some(us) => (ms(us), Some(us as f64)),
        None => ("–".to_string(), Some(f64::NAN)),
    }
}

fn ratio_cell(part: u64, whole: u64) -> (String, Option<f64>) {
    if whole == 0 {
        ("–".to_string(), Some(f64::NAN))
    } else {
        let r = part as f64 / whole as f64;
        (percent(r), Some(r))
    }
}

fn count_cell(n: u64) -> (String, Option<f64>) {
    (n.to_string(), Some(n as f64))
}

fn dollars_cell(picodollars: u128) -> (String, Option<f64>) {
    let value = picodollars as f64;
    (dollars(value), Some(value / PICODOLLARS_PER_DOLLAR))
}

fn function_row(name: String, f: &FunctionStats) -> Vec<(String, Option<f64>)> {
    let started = f.cold_starts + f.warm_starts;
    vec![
        (name, None),
        (
            format!("{} MiB", f.memory_bytes >> 20),
            Some(f.memory_bytes as f64),
        ),
        count_cell(f.invocations),
        ratio_cell(f.cold_starts, started),
        ms_cell(f.end_to_end_us.percentile(500)),
        ms_cell(f.end_to_end_us.percentile(990)),
        count_cell(f.completed),
        count_cell(f.timed_out),
        count_cell(f.failed + f.platform_failed),
        count_cell(f.rejected),
        dollars_cell(f.cost_picodollars),
    ]
}

fn function_table(collector: &Collector) -> String {
    let headers = [
        ("function", "its id"),
        ("memory", "RAM per container"),
        ("invocations", "accepted"),
        ("cold-start ratio", "cold starts / starts"),
        ("p50", "end to end, ms, every outcome"),
        ("p99", "end to end, ms, every outcome"),
        ("completed", ""),
        ("timeouts", "ran past the time limit"),
        ("failures", "failed in a phase, or on a platform error"),
        ("rejected", "no room, or the queue full"),
        ("cost", "dollars billed"),
    ];
    let mut order: Vec<usize> = (0..collector.functions().len()).collect();
    let functions = collector.functions();
    order.sort_by(|&a, &b| {
        functions[b]
            .invocations
            .cmp(&functions[a].invocations)
            .then(a.cmp(&b))
    });
    let mut rows: Vec<Vec<(String, Option<f64>)>> = order
        .iter()
        .take(FUNCTION_ROWS_MAX)
        .map(|&i| {
            let name = functions[i]
                .function
                .map_or(format!("fn #{i}"), |id| id.to_string());
            function_row(name, &functions[i])
        })
        .collect();
    if order.len() > FUNCTION_ROWS_MAX {
        let mut rest = FunctionStats::default();
        for &i in &order[FUNCTION_ROWS_MAX..] {
            let f = &functions[i];
            rest.invocations += f.invocations;
            rest.cold_starts += f.cold_starts;
            rest.warm_starts += f.warm_starts;
            rest.completed += f.completed;
            rest.timed_out += f.timed_out;
            rest.failed += f.failed;
            rest.platform_failed += f.platform_failed;
            rest.rejected += f.rejected;
            rest.cost_picodollars += f.cost_picodollars;
        }
        let mut row = function_row(
            format!("{} other functions", order.len() - FUNCTION_ROWS_MAX),
            &rest,
        );
        row[1] = ("–".to_string(), Some(f64::NAN));
        rows.push(row);
    }
    sortable_table("functions", &headers, &rows)
}

fn host_table(collector: &Collector) -> String {
    let headers = [
        ("hosts", "a host, or a group of consecutive hosts"),
        ("RAM", "capacity"),
        ("disk", "capacity"),
        ("cold starts", ""),
        ("warm starts", ""),
        ("cold-start ratio", "cold starts / starts"),
        ("RAM avg", "time average, share of capacity"),
        ("RAM peak", "highest, share of capacity"),
        ("disk avg", "time average, share of capacity"),
        ("disk peak", "highest, share of capacity"),
        ("crashes", "HostDown"),
        ("cost", "dollars billed for invocations that ended there"),
    ];
    let series = collector.series();
    let end_us = collector.end_us().max(1);
    let rows: Vec<Vec<(String, Option<f64>)>> = collector
        .host_rows()
        .iter()
        .enumerate()
        .map(|(r, row)| {
            let share = |gauge: &Gauge, capacity: u64, peak: bool| -> (String, Option<f64>) {
                if capacity == 0 {
                    return ("–".to_string(), Some(f64::NAN));
                }
                let value = if peak {
                    gauge.maxima().iter().copied().max().unwrap_or(0) as f64
                } else {
                    gauge.integrals().iter().sum::<u128>() as f64 / end_us as f64
                };
                let s = value / capacity as f64;
                (percent(s), Some(s))
            };
            vec![
                (host_row_name(row.first_host, row.hosts), None),
                (gib(row.ram_bytes as f64), Some(row.ram_bytes as f64)),
                (gib(row.disk_bytes as f64), Some(row.disk_bytes as f64)),
                count_cell(row.cold_starts),
                count_cell(row.warm_starts),
                ratio_cell(row.cold_starts, row.cold_starts + row.warm_starts),
                share(&series.ram_rows[r], row.ram_bytes, false),
                share(&series.ram_rows[r], row.ram_bytes, true),
                share(&series.disk_rows[r], row.disk_bytes, false),
                share(&series.disk_rows[r], row.disk_bytes, true),
                count_cell(row.crashes),
                dollars_cell(row.cost_picodollars),
            ]
        })
        .collect();
    sortable_table("hosts", &headers, &rows)
}

fn host_row_name(first: u32, hosts: u32) -> String {
    match hosts {
        0 | 1 => format!("host#{first}"),
        n => format!("host#{first}–{}", first + n - 1),
    }
}

/// The fault markers: columns with a `HostDown`, `HostUp` or
/// `MainStorageLost`, each with what happened (at most one per column).
fn faults(collector: &Collector, columns: &[Range<usize>]) -> Vec<Fault> {
    let series = collector.series();
    (0..columns.len())
        .filter_map(|column| {
            let mut parts = Vec::new();
            for (counter, what) in [
                (&series.host_downs, "host crash"),
                (&series.host_ups, "host back up"),
                (&series.main_storage_losses, "main storage lost"),
            ] {
                let n: u64 = counter.counts()[columns[column].clone()].iter().sum();
                if n > 0 {
                    parts.push(format!("{n} × {what}"));
                }
            }
            (!parts.is_empty()).then(|| Fault {
                column,
                text: parts.join(", "),
            })
        })
        .collect()
}

fn meta(items: &[(&str, String)]) -> String {
    let mut html = String::from("<dl class=\"meta\">");
    for (name, value) in items {
        let _ = write!(
            html,
            "<div><dt>{}</dt><dd>{}</dd></div>",
            escape(name),
            escape(value)
        );
    }
    html.push_str("</dl>\n");
    html
}

/// The whole report of a finished collection ([`Collector::finish`]).
pub fn render_run(collector: &Collector, info: &RunInfo, metrics: &Metrics) -> String {
    let used = collector.used();
    let end_us = collector.end_us();
    let timeline = *collector.timeline();
    let columns = columns(used);
    let axis = Axis {
        timeline,
        end_us,
        faults: faults(collector, &columns),
        columns,
    };
    let s = collector.series();
    let averages = |gauge: &Gauge| axis.averages(gauge);
    let rates = |counts: &[u64]| axis.rates(counts);
    let m = metrics;
    let started = m.cold_starts + m.warm_starts;
    let mut body = format!("<h1>coldstart report: {}</h1>\n", escape(&info.scenario));
    let (divisor, unit) = time_unit(end_us);
    body += &meta(&[
        ("scenario", info.scenario.clone()),
        ("made by", info.source.clone()),
        (
            "seed",
            info.seed
                .map_or("(in the log)".to_string(), |s| s.to_string()),
        ),
        ("events digest", format!("{:016x}", info.digest)),
        ("events", info.events.to_string()),
        ("steps", info.steps.to_string()),
        (
            "coldstart version",
            if info.version == env!("CARGO_PKG_VERSION") {
                info.version.clone()
            } else {
                format!("{} (report by {})", info.version, env!("CARGO_PKG_VERSION"))
            },
        ),
        (
            "virtual time",
            format!(
                "{:.3} s ({:.2} {unit})",
                end_us as f64 / 1e6,
                end_us as f64 / divisor
            ),
        ),
        ("invocations", m.accepted.to_string()),
        (
            "cold-start ratio",
            if started == 0 {
                "–".to_string()
            } else {
                percent(m.cold_starts as f64 / started as f64)
            },
        ),
        ("rejected", m.rejected().to_string()),
        ("timed out", m.timed_out.to_string()),
        (
            "failed",
            (m.failed() + m.platform_failed_host_lost + m.platform_failed_transfer).to_string(),
        ),
        ("cost", dollars(m.cost_picodollars as f64)),
        ("host crashes", m.hosts_down.to_string()),
        (
            "interval",
            format!(
                "{:.3} s, {used} in use, drawn as {} column{}",
                timeline.width_us() as f64 / 1e6,
                axis.columns.len(),
                if axis.columns.len() == 1 { "" } else { "s" }
            ),
        ),
    ]);
    body += "<p class=\"note\">Every chart is over virtual time, cut into the intervals above \
             (their number is fixed, their width doubles as a run grows) and drawn as a fixed \
             number of columns of one or two intervals each; gauges are time averages within a \
             column, counts are rates over it. ▼ and a dashed line mark faults.</p>\n";
    let per_unit = format!("invocations per {unit}");

    body += "<h2>Containers and queue</h2>\n<div class=\"charts\">\n";
    body += &TimeChart {
        id: "containers",
        title: "Containers (time average)",
        y_label: "containers",
        format: &plain,
        y_max: None,
        lines: vec![
            Line::new("live", averages(&s.live)),
            Line::new("busy", averages(&s.busy)),
            Line::new("idle", idle_averages(collector, &axis)),
        ],
    }
    .render(&axis, "");
    let queue_max = axis.maxima(&s.queue);
    body += &TimeChart {
        id: "queue",
        title: "Queue length",
        y_label: "invocations queued",
        format: &plain,
        y_max: None,
        lines: vec![
            Line::new("average", averages(&s.queue)),
            Line::new("maximum", queue_max),
        ],
    }
    .render(
        &axis,
        if s.queue.maxima().iter().all(|&m| m == 0) {
            "No invocation waited in the queue (pressure reject, or room enough)."
        } else {
            ""
        },
    );
    body += &TimeChart {
        id: "starts",
        title: "Starts and rejections (rate)",
        y_label: &per_unit,
        format: &plain,
        y_max: None,
        lines: vec![
            Line::new("cold starts", rates(s.cold_starts.counts())),
            Line::new("warm starts", rates(s.warm_starts.counts())),
            Line::new("rejected", rates(s.rejected.counts())),
        ],
    }
    .render(&axis, "");
    body += &TimeChart {
        id: "ends",
        title: "Ends (rate)",
        y_label: &per_unit,
        format: &plain,
        y_max: None,
        lines: vec![
            Line::new("completed", rates(s.completed.counts())),
            Line::new("failed", rates(s.failed.counts())),
            Line::new("timed out", rates(s.timed_out.counts())),
        ],
    }
    .render(&axis, "");
    body += "</div>\n<h2>Images: transfers and caches</h2>\n<div class=\"charts\">\n";
    body += &TimeChart {
        id: "transfers",
        title: "Transfers in flight (time average)",
        y_label: "transfers",
        format: &plain,
        y_max: None,
        lines: vec![
            Line::new("downloads", averages(&s.downloads)),
            Line::new("copies", averages(&s.copies)),
        ],
    }
    .render(&axis, "");
    let host_all: [&[u64]; 3] = [
        s.host_cache[0].counts(),
        s.host_cache[1].counts(),
        s.host_cache[2].counts(),
    ];
    let main_all: [&[u64]; 3] = [
        s.main_cache[0].counts(),
        s.main_cache[1].counts(),
        s.main_cache[2].counts(),
    ];
    body += &TimeChart {
        id: "caches",
        title: "Cache hit ratio per tier",
        y_label: "hits / look-ups",
        format: &percent,
        y_max: Some(1.0),
        lines: vec![
            ratio_line("host disk", s.host_cache[0].counts(), &host_all, &axis),
            ratio_line("main storage", s.main_cache[0].counts(), &main_all, &axis),
        ],
    }
    .render(
        &axis,
        "Host disk: cold starts that found the image there, of all cold starts (and pre-warms); \
         main storage: host misses that found it in main storage. A gap: no look-up then.",
    );
    body += "</div>\n<h2>RAM, disk and cost</h2>\n<div class=\"charts\">\n";
    let ram_total: u64 = collector.host_rows().iter().map(|r| r.ram_bytes).sum();
    let disk_total: u64 = collector.host_rows().iter().map(|r| r.disk_bytes).sum();
    let share_of = |values: Vec<f64>, total: u64| -> Vec<f64> {
        values
            .into_iter()
            .map(|v| if total == 0 { 0.0 } else { v / total as f64 })
            .collect()
    };
    body += &TimeChart {
        id: "memory",
        title: "RAM and disk in use, all hosts (time average)",
        y_label: "share of capacity",
        format: &percent,
        y_max: Some(1.0),
        lines: vec![
            Line::new(
                "RAM",
                share_of(total_averages(&axis, &s.ram_rows), ram_total),
            ),
            Line::new(
                "disk",
                share_of(total_averages(&axis, &s.disk_rows), disk_total),
            ),
        ],
    }
    .render(
        &axis,
        &format!(
            "Of {} of RAM and {} of host disk in all. Disk: image copies (from the cold start \
             that needs them) and the scratch of live containers.",
            gib(ram_total as f64),
            gib(disk_total as f64)
        ),
    );
    let mut accumulated = 0_u128;
    let cost: Vec<f64> = axis
        .sums(s.cost_picodollars.counts())
        .into_iter()
        .map(|c| {
            accumulated += u128::from(c);
            accumulated as f64
        })
        .collect();
    body += &TimeChart {
        id: "cost",
        title: "Cost accumulated",
        y_label: "dollars",
        format: &|v| dollars(v),
        y_max: None,
        lines: vec![Line::new("cost", cost)],
    }
    .render(&axis, "Billed when each invocation ends.");
    let rows = collector.host_rows();
    let ram_rows: Vec<(String, &Gauge, u64)> = rows
        .iter()
        .zip(&s.ram_rows)
        .map(|(row, gauge)| {
            (
                host_row_name(row.first_host, row.hosts),
                gauge,
                row.ram_bytes,
            )
        })
        .collect();
    let disk_rows: Vec<(String, &Gauge, u64)> = rows
        .iter()
        .zip(&s.disk_rows)
        .map(|(row, gauge)| {
            (
                host_row_name(row.first_host, row.hosts),
                gauge,
                row.disk_bytes,
            )
        })
        .collect();
    let grouped = if rows.iter().any(|r| r.hosts > 1) {
        "Consecutive hosts are grouped into at most 64 rows. "
    } else {
        ""
    };
    body += &heat_map(
        "ram-heat",
        "RAM in use per host (time average)",
        &ram_rows,
        &axis,
        &format!(
            "{grouped}Darker is fuller; the scale at the right is the share of the row's RAM."
        ),
    );
    body += &heat_map(
        "disk-heat",
        "Disk in use per host (time average)",
        &disk_rows,
        &axis,
        &format!(
            "{grouped}Darker is fuller; the scale at the right is the share of the row's disk."
        ),
    );
    body += "</div>\n<h2>Latency</h2>\n<div class=\"charts\">\n";
    let start: Vec<(&str, &Histogram<RUN_SUB_BITS>)> = Outcome::ALL
        .iter()
        .map(|&o| (o.name(), collector.start_delay_us(o)))
        .collect();
    let end: Vec<(&str, &Histogram<RUN_SUB_BITS>)> = Outcome::ALL
        .iter()
        .map(|&o| (o.name(), collector.end_to_end_us(o)))
        .collect();
    body += "<div>";
    body += &cdf_chart(
        "start-delay",
        "Start delay CDF (Accepted → ExecutionStarted)",
        &start,
        "Per outcome; a retried invocation counts its last start.",
    );
    body += &quantile_table("start-delay-table", &start);
    body += "</div><div>";
    body += &cdf_chart(
        "end-to-end",
        "End-to-end CDF (Accepted → its end)",
        &end,
        "Per outcome. Values are within 0.8% below the true ones; the max is exact.",
    );
    body += &quantile_table("end-to-end-table", &end);
    body += "</div></div>\n";
    body += "<h2>Functions</h2>\n<p class=\"note\">Click a header to sort. Latencies are end to end, within 3.2% below the true value.";
    if collector.functions().len() > FUNCTION_ROWS_MAX {
        let _ = write!(
            body,
            " The {FUNCTION_ROWS_MAX} functions with the most invocations, the others summed in the last row."
        );
    }
    body += "</p>\n";
    body += &function_table(collector);
    body += "<h2>Hosts</h2>\n<p class=\"note\">Click a header to sort.</p>\n";
    body += &host_table(collector);
    let _ = writeln!(
        body,
        "<p class=\"note\">Made by coldstart {} — a self-contained file: nothing in it is fetched from the network.</p>",
        env!("CARGO_PKG_VERSION")
    );
    document(&format!("coldstart report: {}", info.scenario), &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn log10_is_close_and_exact_at_decades() {
        assert_eq!(log10(1.0), 0.0);
        assert_eq!(log10(1_000.0), 3.0);
        for x in [2.0, 3.5, 7.77, 12_345.0, 9.99e8] {
            assert!((log10(x) - f64::log10(x)).abs() < 1e-6, "{x}");
        }
    }
}
