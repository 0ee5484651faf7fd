//! Quantities with their units, as scenario files write them: sizes
//! (`"512MiB"`, `"1.5GiB"`, `"4GB"`), durations (`"250ms"`, `"10min"`) and
//! bandwidths (`"200MB/s"`). A bare number is refused: the unit is part of
//! the value, so no reader has to guess it.
//!
//! Numbers are decimal, with an optional fraction (`"1.5GiB"`), and are
//! converted exactly: the result must be a whole number of the base unit
//! (bytes, microseconds), so `"1.5B"` or `"0.5us"` is refused rather than
//! rounded. `_` may separate digits (`"10_000ms"`).

use serde::de::{self, Deserialize, Deserializer, Visitor};

/// Size units: decimal (`kB`, `MB`, …) and binary (`KiB`, `MiB`, …).
const SIZE_UNITS: [(&str, u64); 9] = [
    ("B", 1),
    ("kB", 1_000),
    ("MB", 1_000_000),
    ("GB", 1_000_000_000),
    ("TB", 1_000_000_000_000),
    ("KiB", 1 << 10),
    ("MiB", 1 << 20),
    ("GiB", 1 << 30),
    ("TiB", 1 << 40),
];

/// Duration units, in microseconds.
const DURATION_UNITS: [(&str, u64); 6] = [
    ("us", 1),
    ("µs", 1),
    ("ms", 1_000),
    ("s", 1_000_000),
    ("min", 60_000_000),
    ("h", 3_600_000_000),
];

/// The most fraction digits a number may have.
const FRACTION_DIGITS_MAX: u32 = 18;

/// `number × unit`, exactly; `None` if it is not a whole number or
/// overflows a `u64`.
fn scale(number: &str, unit: u64) -> Result<u64, String> {
    let digits: String = number.chars().filter(|&c| c != '_').collect();
    let (whole, fraction) = digits.split_once('.').unwrap_or((&digits, ""));
    let is_digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    if whole.is_empty() || !is_digits(whole) || !is_digits(fraction) {
        return Err(format!(
            "`{}` is not a non-negative decimal number",
            crate::files::echo(number)
        ));
    }
    if fraction.len() as u32 > FRACTION_DIGITS_MAX {
        return Err(format!(
            "`{}` has too many decimals",
            crate::files::echo(number)
        ));
    }
    let too_large = || format!("`{}` is too large", crate::files::echo(number));
    let whole: u128 = whole.parse().map_err(|_| too_large())?;
    let denominator = 10u128.pow(fraction.len() as u32);
    let fraction: u128 = if fraction.is_empty() {
        0
    } else {
        fraction.parse().map_err(|_| too_large())?
    };
    let numerator = whole
        .checked_mul(denominator)
        .and_then(|n| n.checked_add(fraction))
        .and_then(|n| n.checked_mul(u128::from(unit)))
        .ok_or_else(too_large)?;
    if numerator % denominator != 0 {
        return Err(format!(
            "`{}` is not a whole number of the base unit",
            crate::files::echo(number)
        ));
    }
    u64::try_from(numerator / denominator).map_err(|_| too_large())
}

/// Splits `"1.5GiB"` into `("1.5", "GiB")` (spaces between are allowed).
fn split(text: &str) -> (&str, &str) {
    let text = text.trim();
    let end = text
        .find(|c: char| !(c.is_ascii_digit() || c == '.' || c == '_'))
        .unwrap_or(text.len());
    (&text[..end], text[end..].trim_start())
}

fn parse_with(text: &str, units: &[(&str, u64)], what: &str) -> Result<u64, String> {
    let (number, unit) = split(text);
    let names: Vec<&str> = units.iter().map(|(name, _)| *name).collect();
    if number.is_empty() {
        return Err(format!(
            "`{text}` does not start with a number: a {what} is written like \"{}\"",
            example(what)
        ));
    }
    match units.iter().find(|(name, _)| *name == unit) {
        Some(&(_, factor)) => scale(number, factor),
        None if unit.is_empty() => Err(format!(
            "`{text}` has no unit: a {what} is written like \"{}\" (units: {})",
            example(what),
            names.join(", ")
        )),
        None => Err(format!(
            "`{text}`: unknown {what} unit `{unit}` (units: {})",
            names.join(", ")
        )),
    }
}

fn example(what: &str) -> &'static str {
    match what {
        "size" => "512MiB",
        "duration" => "250ms",
        _ => "200MB/s",
    }
}

/// A size in bytes: `"512MiB"`, `"1.5GiB"`, `"4GB"`, `"1000B"`.
pub fn parse_bytes(text: &str) -> Result<u64, String> {
    parse_with(text, &SIZE_UNITS, "size")
}

/// A duration in microseconds: `"250ms"`, `"1.5s"`, `"10min"`, `"2h"`.
pub fn parse_duration_us(text: &str) -> Result<u64, String> {
    parse_with(text, &DURATION_UNITS, "duration")
}

/// A bandwidth in bytes per second: a size followed by `/s`, `"200MB/s"`.
pub fn parse_bytes_per_s(text: &str) -> Result<u64, String> {
    match text.trim().strip_suffix("/s") {
        Some(size) => parse_with(size, &SIZE_UNITS, "bandwidth"),
        None => Err(format!(
            "`{text}`: a bandwidth is a size per second, like \"200MB/s\""
        )),
    }
}

/// Deserializes a string with `parse`; a number (no unit) is refused.
struct UnitVisitor {
    what: &'static str,
    parse: fn(&str) -> Result<u64, String>,
}

impl Visitor<'_> for UnitVisitor {
    type Value = u64;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "a {} with its unit, as a string like \"{}\"",
            self.what,
            example(self.what)
        )
    }

    fn visit_str<E: de::Error>(self, text: &str) -> Result<u64, E> {
        (self.parse)(text).map_err(E::custom)
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<u64, E> {
        Err(E::custom(format!(
            "{value} has no unit: write a {} as a string like \"{}\"",
            self.what,
            example(self.what)
        )))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<u64, E> {
        self.visit_i64(value as i64)
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<u64, E> {
        Err(E::custom(format!(
            "{value} has no unit: write a {} as a string like \"{}\"",
            self.what,
            example(self.what)
        )))
    }
}

macro_rules! unit_type {
    ($(#[$doc:meta])* $name:ident, $what:literal, $parse:path) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub struct $name(pub u64);

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                deserializer
                    .deserialize_any(UnitVisitor { what: $what, parse: $parse })
                    .map($name)
            }
        }
    };
}

unit_type!(
    /// Bytes, written with a unit (`"512MiB"`).
    Bytes,
    "size",
    parse_bytes
);
unit_type!(
    /// Microseconds, written with a unit (`"250ms"`).
    DurationUs,
    "duration",
    parse_duration_us
);
unit_type!(
    /// Bytes per second, written with a unit (`"200MB/s"`).
    BytesPerS,
    "bandwidth",
    parse_bytes_per_s
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        for (text, bytes) in [
            ("512MiB", 512 << 20),
            ("1.5GiB", 3 << 29),
            ("4GB", 4_000_000_000),
            ("1000B", 1_000),
            ("2 kB", 2_000),
            ("0.25KiB", 256),
            ("1_024KiB", 1 << 20),
        ] {
            assert_eq!(parse_bytes(text), Ok(bytes), "{text}");
        }
        for text in [
            "512",
            "1.5B",
            "MiB",
            "-1MiB",
            "5 parsecs",
            "1e3B",
            "99999999TiB",
        ] {
            assert!(parse_bytes(text).is_err(), "{text}");
        }
        assert!(parse_bytes("512").unwrap_err().contains("no unit"));
    }

    #[test]
    fn durations_and_bandwidths() {
        for (text, us) in [
            ("250ms", 250_000),
            ("1.5s", 1_500_000),
            ("10min", 600_000_000),
            ("2h", 7_200_000_000),
            ("7us", 7),
            ("7µs", 7),
            ("0s", 0),
        ] {
            assert_eq!(parse_duration_us(text), Ok(us), "{text}");
        }
        assert!(parse_duration_us("0.5us").is_err());
        assert!(parse_duration_us("3 days").is_err());
        assert_eq!(parse_bytes_per_s("200MB/s"), Ok(200_000_000));
        assert_eq!(parse_bytes_per_s("1GiB/s"), Ok(1 << 30));
        assert!(parse_bytes_per_s("200MB").is_err());
        assert!(parse_bytes_per_s("200/s").is_err());
    }
}
