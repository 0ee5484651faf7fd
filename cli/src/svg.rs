//! The plot of a comparison (`compare --svg`, `merge --svg`): one panel per
//! metric, side by side, each a horizontal bar per combination (the mean
//! across seeds) with a whisker for its 95% confidence interval, the
//! combinations named on the left. Written by hand as a string: no plotting
//! dependency, and the same rows give the same bytes (coordinates are
//! rounded to 0.1 px; the scale comes from basic float operations only, no
//! `log10`, whose last bit may differ between platforms).

use coldstart::html::{escape, nice_ceiling};
use coldstart::study::compare::{number, Row};
use coldstart::study::grid::GridHeader;
use std::fmt::Write;

const FONT_PX: f64 = 12.0;
/// A generous average advance of a 12 px sans-serif character, to size the
/// label column without measuring text.
const CHAR_PX: f64 = 7.0;
const MARGIN_PX: f64 = 12.0;
const TITLE_Y_PX: f64 = 20.0;
const PANEL_TITLE_Y_PX: f64 = 44.0;
const ROWS_TOP_PX: f64 = 56.0;
const ROW_PX: f64 = 24.0;
const BAR_PX: f64 = 14.0;
/// The bars' full length, and room after it for the mean's value.
const BAR_AREA_PX: f64 = 180.0;
const VALUE_AREA_PX: f64 = 72.0;
const PANEL_GAP_PX: f64 = 16.0;
const AXIS_PX: f64 = 36.0;

const BAR_FILL: &str = "#4e79a7";
const WHISKER: &str = "#1b1b1b";
const GRID_LINE: &str = "#d9d9d9";

/// A tick's label: at most four decimals, trailing zeros dropped; from
/// 10,000 up, in thousands (`k`), millions (`M`) or billions (`G`).
fn tick_text(value: f64) -> String {
    let trimmed = |value: f64| {
        let text = format!("{value:.4}");
        text.trim_end_matches('0').trim_end_matches('.').to_string()
    };
    for (scale, suffix) in [(1e9, "G"), (1e6, "M"), (1e4, "k")] {
        if value >= scale {
            let scale = if suffix == "k" { 1e3 } else { scale };
            return format!("{}{suffix}", trimmed(value / scale));
        }
    }
    trimmed(value)
}

/// The plot of `rows` for the metrics `keys`.
pub fn render_svg(header: &GridHeader, rows: &[Row], keys: &[&str]) -> String {
    let labels: Vec<String> = (0..rows.len()).map(|c| header.describe(c)).collect();
    let label_px = labels
        .iter()
        .map(|label| label.chars().count())
        .max()
        .unwrap_or(0) as f64
        * CHAR_PX;
    let panels_left_px = MARGIN_PX + label_px + MARGIN_PX;
    let panel_px = BAR_AREA_PX + VALUE_AREA_PX;
    let width_px = panels_left_px + keys.len() as f64 * (panel_px + PANEL_GAP_PX) + MARGIN_PX;
    let rows_bottom_px = ROWS_TOP_PX + rows.len() as f64 * ROW_PX;
    let height_px = rows_bottom_px + AXIS_PX;
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width_px:.0}\" height=\"{height_px:.0}\" \
         viewBox=\"0 0 {width_px:.0} {height_px:.0}\" font-family=\"sans-serif\" font-size=\"{FONT_PX:.0}\">"
    );
    let _ = writeln!(
        svg,
        "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n\
         <text x=\"{MARGIN_PX:.0}\" y=\"{TITLE_Y_PX:.0}\" font-weight=\"bold\">scenario {}: mean and 95% \
         confidence interval across {}</text>",
        escape(&header.scenario),
        coldstart::study::compare::count(header.seeds.len(), "seed")
    );
    for (index, label) in labels.iter().enumerate() {
        let y = row_middle_px(index);
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"end\" dominant-baseline=\"middle\">{}</text>",
            panels_left_px - MARGIN_PX,
            y,
            escape(label)
        );
    }
    for (panel, key) in keys.iter().enumerate() {
        let left_px = panels_left_px + panel as f64 * (panel_px + PANEL_GAP_PX);
        render_panel(&mut svg, rows, key, left_px, rows_bottom_px);
    }
    svg += "</svg>\n";
    svg
}

fn row_middle_px(index: usize) -> f64 {
    ROWS_TOP_PX + index as f64 * ROW_PX + ROW_PX / 2.0
}

/// One metric's panel: title, grid lines and ticks, a bar and whisker per
/// row.
fn render_panel(svg: &mut String, rows: &[Row], key: &str, left_px: f64, bottom_px: f64) {
    let summaries: Vec<(Option<f64>, f64)> = rows
        .iter()
        .map(|row| {
            let summary = row.metric(key);
            (
                summary.and_then(|s| s.mean),
                summary.and_then(|s| s.ci95).unwrap_or(0.0),
            )
        })
        .collect();
    let max = summaries
        .iter()
        .filter_map(|&(mean, ci)| mean.map(|m| m + ci))
        .fold(0.0, f64::max);
    let end = nice_ceiling(max);
    let x_of = |value: f64| left_px + value.clamp(0.0, end) / end * BAR_AREA_PX;
    let _ = writeln!(
        svg,
        "<text x=\"{left_px:.1}\" y=\"{PANEL_TITLE_Y_PX:.0}\" font-weight=\"bold\">{}</text>",
        escape(key)
    );
    for tick in [0.0, end / 2.0, end] {
        let x = x_of(tick);
        let _ = writeln!(
            svg,
            "<line x1=\"{x:.1}\" y1=\"{ROWS_TOP_PX:.0}\" x2=\"{x:.1}\" y2=\"{bottom_px:.1}\" \
             stroke=\"{GRID_LINE}\"/>\n<text x=\"{x:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>",
            bottom_px + 16.0,
            tick_text(tick)
        );
    }
    for (index, &(mean, ci)) in summaries.iter().enumerate() {
        let middle = row_middle_px(index);
        let Some(mean) = mean else {
            let _ = writeln!(
                svg,
                "<text x=\"{:.1}\" y=\"{middle:.1}\" dominant-baseline=\"middle\">n/a</text>",
                left_px + 4.0
            );
            continue;
        };
        let title = if ci > 0.0 {
            format!("{} ± {}", number(mean), number(ci))
        } else {
            number(mean)
        };
        let _ = writeln!(
            svg,
            "<rect x=\"{left_px:.1}\" y=\"{:.1}\" width=\"{:.1}\" height=\"{BAR_PX:.0}\" fill=\"{BAR_FILL}\">\
             <title>{}</title></rect>",
            middle - BAR_PX / 2.0,
            x_of(mean) - left_px,
            escape(&title)
        );
        let (low, high) = (x_of(mean - ci), x_of(mean + ci));
        if ci > 0.0 {
            let cap = BAR_PX / 2.0 - 2.0;
            let _ = writeln!(
                svg,
                "<path d=\"M{low:.1} {middle:.1}H{high:.1}M{low:.1} {:.1}V{:.1}M{high:.1} {:.1}V{:.1}\" \
                 stroke=\"{WHISKER}\" fill=\"none\"/>",
                middle - cap,
                middle + cap,
                middle - cap,
                middle + cap
            );
        }
        let _ = writeln!(
            svg,
            "<text x=\"{:.1}\" y=\"{middle:.1}\" dominant-baseline=\"middle\">{}</text>",
            x_of(mean).max(high) + 4.0,
            escape(&number(mean))
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn axes_end_at_a_round_number() {
        for (max, end) in [
            (0.0, 1.0),
            (f64::NAN, 1.0),
            (0.414, 0.5),
            (0.2, 0.2),
            (0.21, 0.25),
            (1.0, 1.0),
            (7.3, 10.0),
            (12.0, 20.0),
            (352_845_824.0, 500_000_000.0),
            (0.000_31, 0.000_5),
        ] {
            let got = nice_ceiling(max);
            assert!((got - end).abs() <= end * 1e-12, "{max}: {got}, not {end}");
        }
        assert_eq!(tick_text(0.25), "0.25");
        assert_eq!(tick_text(0.0), "0");
        assert_eq!(tick_text(250_000_000.0), "250M");
        assert_eq!(tick_text(5_000_000_000.0), "5G");
        assert_eq!(tick_text(25_000.0), "25k");
        assert_eq!(tick_text(5_000.0), "5000");
    }

    #[test]
    fn text_is_escaped() {
        assert_eq!(escape("a<b & \"c\"'"), "a&lt;b &amp; &quot;c&quot;&#39;");
    }
}
