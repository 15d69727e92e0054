//! Semantic deep equality of object specs, as Kubernetes controllers compare them.
//!
//! Two JSON documents are equal when they differ only in ways the API
//! server does not distinguish. A missing field, `null`, `{}` and `[]` are
//! all "empty", and numbers compare by value. Resource quantities under
//! `requests` or `limits` compare by amount, so `1Gi` equals `1024Mi`.

use serde_json::{Map, Value};

/// Keys whose values are maps of resource quantities.
const QUANTITY_MAPS: [&str; 2] = ["requests", "limits"];

/// Tells whether `a` and `b` are semantically equal.
pub fn semantic_eq(a: &Value, b: &Value) -> bool {
    values_eq(a, b, false)
}

/// Compares `a` and `b`; `quantities` is true inside a `requests` or
/// `limits` map, where strings are resource quantities.
fn values_eq(a: &Value, b: &Value, quantities: bool) -> bool {
    if is_empty(a) && is_empty(b) {
        return true;
    }
    match (a, b) {
        // An absent map equals a map whose fields are all empty.
        (Value::Null, Value::Object(_)) => values_eq(&Value::Object(Map::new()), b, quantities),
        (Value::Object(_), Value::Null) => values_eq(a, &Value::Object(Map::new()), quantities),
        (Value::Object(x), Value::Object(y)) => {
            let empty = Value::Null;
            x.keys().chain(y.keys()).all(|key| {
                let left = x.get(key).unwrap_or(&empty);
                let right = y.get(key).unwrap_or(&empty);
                values_eq(
                    left,
                    right,
                    quantities || QUANTITY_MAPS.contains(&key.as_str()),
                )
            })
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(l, r)| values_eq(l, r, false))
        }
        (Value::Number(x), Value::Number(y)) => x == y || x.as_f64() == y.as_f64(),
        (Value::String(x), Value::String(y)) if quantities && x != y => {
            match (parse_quantity(x), parse_quantity(y)) {
                (Some(l), Some(r)) => l == r,
                _ => false,
            }
        }
        _ => a == b,
    }
}

fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::Object(map) => map.is_empty(),
        Value::Array(items) => items.is_empty(),
        _ => false,
    }
}

/// Parses a Kubernetes resource quantity (`1Gi`, `500M`, `1.5`, `2e3`,
/// `100m`) into an exact amount in nano-units. Returns `None` for text that
/// is not a quantity, for an amount finer than one nano-unit, and on
/// overflow of 128 bits.
pub fn parse_quantity(text: &str) -> Option<i128> {
    let text = text.trim();
    let (negative, unsigned) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let number_end = unsigned
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(unsigned.len());
    let (number, suffix) = unsigned.split_at(number_end);
    let (whole, fraction) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && fraction.is_empty() {
        return None;
    }
    let (power_of_two, mut power_of_ten) = suffix_exponents(suffix)?;

    let mut mantissa: i128 = 0;
    for digit in whole.chars().chain(fraction.chars()) {
        let value = i128::from(digit.to_digit(10)?);
        mantissa = mantissa.checked_mul(10)?.checked_add(value)?;
    }
    power_of_ten += 9 - i32::try_from(fraction.len()).ok()?;
    let mut amount = mantissa.checked_mul(2i128.checked_pow(power_of_two)?)?;
    if power_of_ten >= 0 {
        amount = amount.checked_mul(10i128.checked_pow(power_of_ten.unsigned_abs())?)?;
    } else {
        let divisor = 10i128.checked_pow(power_of_ten.unsigned_abs())?;
        if amount % divisor != 0 {
            return None;
        }
        amount /= divisor;
    }
    Some(if negative { -amount } else { amount })
}

/// Returns the (power of two, power of ten) that a quantity suffix stands for.
fn suffix_exponents(suffix: &str) -> Option<(u32, i32)> {
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(bits) = binary {
        return Some((bits, 0));
    }
    let decimal = match suffix {
        "" => 0,
        "n" => -9,
        "u" => -6,
        "m" => -3,
        "k" => 3,
        "M" => 6,
        "G" => 9,
        "T" => 12,
        "P" => 15,
        "E" => 18,
        other => {
            let exponent = other.strip_prefix(['e', 'E'])?;
            exponent.parse::<i32>().ok().filter(|e| e.abs() <= 30)?
        }
    };
    Some((0, decimal))
}
