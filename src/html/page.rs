//! The page around the charts: escaping, the stylesheet, the script, and
//! small SVG helpers shared by the run's and the comparison's reports.

use std::fmt::Write;

/// Escapes text for HTML and SVG content and attributes.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// Line styles: a colour from a palette safe for colour-blind readers
/// (Okabe and Ito's) and, so that no line is told apart by colour alone, a
/// dash pattern of its own; legends show both, with the name.
pub const STYLES: [(&str, &str); 6] = [
    ("#0072b2", ""),
    ("#d55e00", "7 3"),
    ("#009e73", "2 2"),
    ("#cc79a7", "9 3 2 3"),
    ("#e69f00", "4 4"),
    ("#56b4e9", "1 3"),
];

/// The stroke attributes of style `index`.
pub fn stroke(index: usize) -> String {
    let (colour, dashes) = STYLES[index % STYLES.len()];
    if dashes.is_empty() {
        format!("stroke=\"{colour}\"")
    } else {
        format!("stroke=\"{colour}\" stroke-dasharray=\"{dashes}\"")
    }
}

/// The smallest of 1, 2, 2.5, 5 × 10^k at or above `max` (1 when `max` is
/// not positive): an axis's end. Basic float operations only, so the same
/// data give the same bytes everywhere.
pub fn nice_ceiling(max: f64) -> f64 {
    if !(max > 0.0 && max.is_finite()) {
        return 1.0;
    }
    let mut power = 1.0;
    while power * 10.0 < max {
        power *= 10.0;
    }
    while power > max {
        power /= 10.0;
    }
    for step in [1.0, 2.0, 2.5, 5.0, 10.0] {
        if step * power >= max {
            return step * power;
        }
    }
    10.0 * power
}

/// A number for an axis or a cell: at most 3 significant decimals, with
/// k, M, G suffixes from 10,000 on.
pub fn short_number(value: f64) -> String {
    if !value.is_finite() {
        return "–".to_string();
    }
    let magnitude = value.abs();
    let (scaled, suffix) = if magnitude >= 1e10 {
        (value / 1e9, "G")
    } else if magnitude >= 1e7 {
        (value / 1e6, "M")
    } else if magnitude >= 1e4 {
        (value / 1e3, "k")
    } else {
        (value, "")
    };
    let decimals = if scaled.abs() >= 100.0 || scaled == scaled.trunc() {
        0
    } else if scaled.abs() >= 10.0 {
        1
    } else if scaled.abs() >= 1.0 {
        2
    } else {
        3
    };
    format!("{}{suffix}", Fixed(scaled, decimals))
}

/// A number with a fixed number of decimals, written from integers: the
/// report writes tens of thousands of them, and float formatting would be
/// most of its cost. Values beyond ±9.2 × 10^18 / 10^decimals saturate.
#[derive(Clone, Copy, Debug)]
pub struct Fixed(pub f64, pub u32);

impl std::fmt::Display for Fixed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let Fixed(value, decimals) = *self;
        if !value.is_finite() {
            return f.write_str("–");
        }
        let scale = 10_u64.pow(decimals);
        let scaled = (value * scale as f64).round() as i64;
        let mut digits = Digits::new();
        digits.push_fixed(scaled, decimals);
        f.write_str(digits.as_str())
    }
}

/// A number's text written backwards into a buffer on the stack, with no
/// formatting machinery: the report writes tens of thousands of numbers,
/// and `write!` of each was most of its rendering time.
struct Digits {
    buffer: [u8; 48],
    start: usize,
}

impl Digits {
    fn new() -> Digits {
        Digits {
            buffer: [0; 48],
            start: 48,
        }
    }

    fn push_byte(&mut self, byte: u8) {
        self.start -= 1;
        self.buffer[self.start] = byte;
    }

    /// `scaled / 10^decimals`, with exactly `decimals` decimals (at most
    /// 19 of them, and 20 digits before the point: 48 bytes suffice).
    fn push_fixed(&mut self, scaled: i64, decimals: u32) {
        let mut magnitude = scaled.unsigned_abs();
        for _ in 0..decimals {
            self.push_byte(b'0' + (magnitude % 10) as u8);
            magnitude /= 10;
        }
        if decimals > 0 {
            self.push_byte(b'.');
        }
        loop {
            self.push_byte(b'0' + (magnitude % 10) as u8);
            magnitude /= 10;
            if magnitude == 0 {
                break;
            }
        }
        if scaled < 0 {
            self.push_byte(b'-');
        }
    }

    fn as_str(&self) -> &str {
        // Only ASCII digits, '.' and '-' were written.
        std::str::from_utf8(&self.buffer[self.start..]).unwrap_or("")
    }
}

/// A coordinate, rounded to 0.1 px, without a trailing `.0`.
#[derive(Clone, Copy, Debug)]
pub struct Px(f64);

pub fn px(value: f64) -> Px {
    Px(value)
}

impl std::fmt::Display for Px {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let tenths = (self.0 * 10.0).round() as i64;
        let mut digits = Digits::new();
        if tenths % 10 == 0 {
            digits.push_fixed(tenths / 10, 0);
        } else {
            digits.push_fixed(tenths, 1);
        }
        f.write_str(digits.as_str())
    }
}

const STYLE: &str = r#"
:root { color-scheme: light; --ink: #1b1b1b; --muted: #555; --rule: #d9d9d9; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--ink);
  margin: 0 auto; padding: 16px 24px 48px; max-width: 1400px; background: #fff; }
h1 { font-size: 22px; margin: 4px 0 8px; }
h2 { font-size: 18px; margin: 28px 0 8px; border-bottom: 1px solid var(--rule); padding-bottom: 4px; }
dl.meta { display: grid; grid-template-columns: repeat(auto-fill, minmax(230px, 1fr)); gap: 2px 18px; margin: 8px 0; }
dl.meta div { display: flex; gap: 6px; } dl.meta dt { color: var(--muted); } dl.meta dd { margin: 0; font-weight: 600; overflow-wrap: anywhere; }
.charts { display: grid; grid-template-columns: repeat(auto-fill, minmax(560px, 1fr)); gap: 14px 22px; }
figure { margin: 0; } figcaption { font-weight: 600; margin-bottom: 2px; }
figure svg { width: 100%; height: auto; display: block; }
svg text { font: 11px system-ui, sans-serif; fill: var(--ink); }
svg .axis { stroke: var(--ink); stroke-width: 1; } svg .grid { stroke: var(--rule); stroke-width: 1; }
svg .line { fill: none; stroke-width: 1.8; } svg .fault { stroke: #b00020; stroke-width: 1.2; stroke-dasharray: 3 2; }
svg rect.hit { fill: transparent; } svg rect.hit:hover { fill: rgba(0,0,0,.07); }
output.readout { display: block; min-height: 1.45em; color: var(--muted); font-variant-numeric: tabular-nums; }
table { border-collapse: collapse; font-variant-numeric: tabular-nums; margin: 6px 0; }
th, td { padding: 3px 10px; border-bottom: 1px solid var(--rule); text-align: right; white-space: nowrap; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; position: sticky; top: 0; }
th[data-sort] { cursor: pointer; } th[data-sort]:hover { background: #e6e6e6; }
th[aria-sort=ascending]::after { content: " ▲"; } th[aria-sort=descending]::after { content: " ▼"; }
.scroll { max-height: 560px; overflow: auto; border: 1px solid var(--rule); display: inline-block; max-width: 100%; }
p.note { color: var(--muted); margin: 4px 0; max-width: 900px; }
"#;

/// Hover read-outs (the `data-tip` of the interval under the pointer goes
/// to the figure's `<output>`), table sorting by clicking a header, and,
/// once both are set up without an error, `data-ready="ok"` on the body:
/// the browser test reads it back from the rendered page.
const SCRIPT: &str = r##"
(function () {
  "use strict";
  document.querySelectorAll("figure").forEach(function (figure) {
    var out = figure.querySelector("output.readout");
    if (!out) return;
    var idle = out.textContent;
    figure.querySelectorAll("[data-tip]").forEach(function (element) {
      element.addEventListener("mouseenter", function () { out.textContent = element.getAttribute("data-tip"); });
      element.addEventListener("mouseleave", function () { out.textContent = idle; });
    });
  });
  function key(cell) {
    var v = cell.getAttribute("data-v");
    if (v === null) return cell.textContent;
    var n = parseFloat(v);
    return isNaN(n) ? -Infinity : n;
  }
  document.querySelectorAll("table.sortable").forEach(function (table) {
    var body = table.tBodies[0];
    table.querySelectorAll("th[data-sort]").forEach(function (th, column) {
      th.tabIndex = 0;
      function sort() {
        var descending = th.getAttribute("aria-sort") !== "descending";
        table.querySelectorAll("th").forEach(function (other) { other.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", descending ? "descending" : "ascending");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[column]), y = key(b.cells[column]);
          var order = x < y ? -1 : x > y ? 1 : 0;
          return descending ? -order : order;
        });
        rows.forEach(function (row) { body.appendChild(row); });
      }
      th.addEventListener("click", sort);
      th.addEventListener("keydown", function (e) { if (e.key === "Enter" || e.key === " ") { e.preventDefault(); sort(); } });
    });
  });
  // scripts/test-browser.sh opens the page at #check-sort: sort the first
  // numeric column of every table both ways and say whether the rows came
  // out in order.
  if (location.hash === "#check-sort") {
    var checked = 0, failed = 0;
    document.querySelectorAll("table.sortable").forEach(function (table) {
      var body = table.tBodies[0];
      if (body.rows.length < 2) return;
      var column = Array.prototype.findIndex.call(body.rows[0].cells, function (c) { return c.hasAttribute("data-v"); });
      if (column < 0) return;
      var th = table.querySelectorAll("th[data-sort]")[column];
      [1, -1].forEach(function (direction) {
        th.click();
        var values = Array.prototype.map.call(body.rows, function (row) { return key(row.cells[column]); });
        for (var i = 1; i < values.length; i++) {
          if (direction * (values[i - 1] - values[i]) < 0) failed++;
        }
        checked++;
      });
    });
    document.body.setAttribute("data-sort-check", failed === 0 && checked > 0 ? "ok" : "failed");
  }
  document.body.setAttribute("data-ready", "ok");
})();
"##;

/// The whole document around `body` (already HTML).
pub fn document(title: &str, body: &str) -> String {
    let mut html = String::with_capacity(body.len() + 8_192);
    html.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    html.push_str("<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n");
    // Nothing is fetched: no external script, style, font or image.
    html.push_str(
        "<meta http-equiv=\"Content-Security-Policy\" content=\"default-src 'none'; \
         style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n",
    );
    let _ = writeln!(html, "<title>{}</title>", escape(title));
    let _ = writeln!(html, "<style>{STYLE}</style>\n</head>\n<body>");
    html.push_str(body);
    let _ = writeln!(html, "<script>{SCRIPT}</script>\n</body>\n</html>");
    html
}

/// A sortable table: `headers` (name, tooltip), rows of cells, each cell
/// its text and, for numbers, the value it sorts by.
pub fn sortable_table(
    id: &str,
    headers: &[(&str, &str)],
    rows: &[Vec<(String, Option<f64>)>],
) -> String {
    let mut html =
        format!("<div class=\"scroll\"><table class=\"sortable\" id=\"{id}\">\n<thead><tr>");
    for (name, tip) in headers {
        let _ = write!(
            html,
            "<th data-sort scope=\"col\" title=\"{}\">{}</th>",
            escape(tip),
            escape(name)
        );
    }
    html.push_str("</tr></thead>\n<tbody>\n");
    for row in rows {
        html.push_str("<tr>");
        for (text, value) in row {
            match value {
                Some(value) if value.is_finite() => {
                    let _ = write!(html, "<td data-v=\"{value}\">{}</td>", escape(text));
                }
                Some(_) => {
                    let _ = write!(html, "<td data-v=\"\">{}</td>", escape(text));
                }
                None => {
                    let _ = write!(html, "<td>{}</td>", escape(text));
                }
            }
        }
        html.push_str("</tr>\n");
    }
    html.push_str("</tbody></table></div>\n");
    html
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numbers_and_axes_are_short_and_stable() {
        assert_eq!(nice_ceiling(0.0), 1.0);
        assert_eq!(nice_ceiling(7.3), 10.0);
        assert_eq!(nice_ceiling(0.42), 0.5);
        assert_eq!(nice_ceiling(1_900.0), 2_000.0);
        assert_eq!(short_number(12_345.0), "12.3k");
        assert_eq!(short_number(0.1234), "0.123");
        assert_eq!(short_number(250.0), "250");
        assert_eq!(short_number(3.0e9), "3000M");
        assert_eq!(px(1.26).to_string(), "1.3");
        assert_eq!(px(2.0).to_string(), "2");
        assert_eq!(px(-0.04).to_string(), "0");
        assert_eq!(px(-3.25).to_string(), "-3.3");
        assert_eq!(Fixed(0.05, 3).to_string(), "0.050");
        assert_eq!(Fixed(-12.5, 0).to_string(), "-13");
        assert_eq!(Fixed(f64::NAN, 2).to_string(), "–");
        assert_eq!(Fixed(-0.04, 1).to_string(), "0.0");
        assert_eq!(Fixed(-0.06, 1).to_string(), "-0.1");
        assert_eq!(Fixed(1_234.567_8, 2).to_string(), "1234.57");
        assert_eq!(Fixed(0.0, 0).to_string(), "0");
        assert_eq!(Fixed(1e30, 0).to_string(), "9223372036854775807");
        assert_eq!(Fixed(-1e30, 3).to_string(), "-9223372036854775.808");
        assert_eq!(px(640.0).to_string(), "640");
        assert_eq!(px(-12.0).to_string(), "-12");
        assert_eq!(px(0.05).to_string(), "0.1");
        assert_eq!(escape("a<b & \"c\""), "a&lt;b &amp; &quot;c&quot;");
    }
}
