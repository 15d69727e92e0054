//! Go duration strings (`1h30m`, `90s`, `1.5h`), the argument of `@every`.

/// Nanoseconds per unit, for the units Go's `time.ParseDuration` accepts.
/// Both the micro sign (U+00B5) and the Greek mu (U+03BC) spell `µs`.
const UNITS: &[(&str, u64)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("\u{b5}s", 1_000),
    ("\u{3bc}s", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("h", 3_600_000_000_000),
];

/// The largest magnitude a Go duration holds, in nanoseconds (2^63).
const MAX_MAGNITUDE: u64 = 1 << 63;

/// Parses a Go duration into signed nanoseconds, with Go's grammar: an
/// optional sign, then one or more decimal numbers (a fraction allowed),
/// each followed by a unit; a bare `0` is also accepted. Fails on anything
/// else and on values beyond about 292 years.
pub fn parse_go_duration(text: &str) -> Result<i64, String> {
    let invalid = || format!("invalid duration {text:?}");
    let (negative, mut rest) = match text.as_bytes().first() {
        Some(b'-') => (true, &text[1..]),
        Some(b'+') => (false, &text[1..]),
        _ => (false, text),
    };
    if rest == "0" {
        return Ok(0);
    }
    if rest.is_empty() {
        return Err(invalid());
    }

    let mut total: u64 = 0;
    while !rest.is_empty() {
        if !rest.starts_with(|c: char| c == '.' || c.is_ascii_digit()) {
            return Err(invalid());
        }

        let (whole, after_whole) = leading_int(rest).ok_or_else(invalid)?;
        let has_whole = after_whole.len() != rest.len();
        rest = after_whole;

        let mut fraction = 0;
        let mut scale = 1.0;
        let mut has_fraction = false;
        if let Some(after_dot) = rest.strip_prefix('.') {
            let (digits, digits_scale, after_digits) = leading_fraction(after_dot);
            has_fraction = after_digits.len() != after_dot.len();
            fraction = digits;
            scale = digits_scale;
            rest = after_digits;
        }
        if !has_whole && !has_fraction {
            return Err(invalid());
        }

        let unit_len = rest
            .find(|c: char| c == '.' || c.is_ascii_digit())
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = &rest[unit_len..];
        if unit.is_empty() {
            return Err(format!("missing unit in duration {text:?}"));
        }
        let Some(&(_, nanos)) = UNITS.iter().find(|(name, _)| *name == unit) else {
            return Err(format!(
                "unknown unit {unit:?} in duration {text:?}; use ns, us, ms, s, m or h"
            ));
        };

        if whole > MAX_MAGNITUDE / nanos {
            return Err(invalid());
        }
        let mut value = whole * nanos;
        if fraction > 0 {
            // Go computes the fractional part in floating point as well.
            value += (fraction as f64 * (nanos as f64 / scale)) as u64;
            if value > MAX_MAGNITUDE {
                return Err(invalid());
            }
        }
        total = total.checked_add(value).ok_or_else(invalid)?;
        if total > MAX_MAGNITUDE {
            return Err(invalid());
        }
    }

    if negative {
        // 2^63 negated is exactly i64::MIN.
        return Ok(0i64.wrapping_sub_unsigned(total));
    }
    i64::try_from(total).map_err(|_| invalid())
}

/// Consumes leading decimal digits; `None` when they exceed 2^63.
fn leading_int(text: &str) -> Option<(u64, &str)> {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let mut value: u64 = 0;
    for digit in text[..end].bytes() {
        if value > MAX_MAGNITUDE / 10 {
            return None;
        }
        value = value * 10 + u64::from(digit - b'0');
        if value > MAX_MAGNITUDE {
            return None;
        }
    }
    Some((value, &text[end..]))
}

/// Consumes leading decimal digits of a fraction and returns them with
/// their scale (10 to the number of digits kept). Digits past the precision
/// of a `u64` are consumed but ignored.
fn leading_fraction(text: &str) -> (u64, f64, &str) {
    let end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let mut value: u64 = 0;
    let mut scale = 1.0;
    let mut overflow = false;
    for digit in text[..end].bytes() {
        if overflow {
            continue;
        }
        if value > (MAX_MAGNITUDE - 1) / 10 {
            overflow = true;
            continue;
        }
        let next = value * 10 + u64::from(digit - b'0');
        if next > MAX_MAGNITUDE {
            overflow = true;
            continue;
        }
        value = next;
        scale *= 10.0;
    }
    (value, scale, &text[end..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn go_durations_parse_to_nanoseconds() {
        let cases: &[(&str, i64)] = &[
            ("0", 0),
            ("-0", 0),
            ("1h", 3_600_000_000_000),
            ("1h30m", 5_400_000_000_000),
            ("90m", 5_400_000_000_000),
            ("1.5h", 5_400_000_000_000),
            (".5s", 500_000_000),
            ("1.s", 1_000_000_000),
            ("-2s", -2_000_000_000),
            ("+3ms", 3_000_000),
            ("4\u{b5}s", 4_000),
            ("4\u{3bc}s", 4_000),
            ("5us", 5_000),
            ("6ns", 6),
            ("9223372036854775807ns", i64::MAX),
            ("-9223372036854775808ns", i64::MIN),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_go_duration(text), Ok(*expected), "{text}");
        }
    }

    #[test]
    fn go_durations_reject_bad_text() {
        for text in [
            "",
            "+",
            "-",
            "1",
            "1d",
            "h",
            ".s",
            "1h 30m",
            " 1h",
            "1H",
            "1.2.3s",
            "9223372036854775808ns",
            "3000000h",
            "99999999999999999999s",
        ] {
            assert!(parse_go_duration(text).is_err(), "{text:?} was accepted");
        }
    }
}
