//! The five cron fields, parsed into bit sets the way robfig/cron v3 does.

use super::ScheduleError;

/// Set in a field's bits when the field is `*` or `?` without a step
/// larger than 1. Only day-of-month and day-of-week use it: when either of
/// them carries it, a day must match both fields, otherwise either.
pub const STAR_BIT: u64 = 1 << 63;

/// One cron field: its name in messages, its bounds and its value names.
#[derive(Debug, Clone, Copy)]
pub struct Field {
    pub name: &'static str,
    pub min: u32,
    pub max: u32,
    /// Three-letter names, lowercase, paired with their numbers.
    names: &'static [(&'static str, u32)],
}

pub const MINUTE: Field = Field {
    name: "minute",
    min: 0,
    max: 59,
    names: &[],
};
pub const HOUR: Field = Field {
    name: "hour",
    min: 0,
    max: 23,
    names: &[],
};
pub const DAY_OF_MONTH: Field = Field {
    name: "day-of-month",
    min: 1,
    max: 31,
    names: &[],
};
pub const MONTH: Field = Field {
    name: "month",
    min: 1,
    max: 12,
    names: &[
        ("jan", 1),
        ("feb", 2),
        ("mar", 3),
        ("apr", 4),
        ("may", 5),
        ("jun", 6),
        ("jul", 7),
        ("aug", 8),
        ("sep", 9),
        ("oct", 10),
        ("nov", 11),
        ("dec", 12),
    ],
};
pub const DAY_OF_WEEK: Field = Field {
    name: "day-of-week",
    min: 0,
    max: 6,
    names: &[
        ("sun", 0),
        ("mon", 1),
        ("tue", 2),
        ("wed", 3),
        ("thu", 4),
        ("fri", 5),
        ("sat", 6),
    ],
};

impl Field {
    /// Bits `min..=max` plus [`STAR_BIT`]: the field written as `*`.
    pub fn all(&self) -> u64 {
        bits(self.min, self.max, 1) | STAR_BIT
    }

    /// The single bit of `value`.
    pub fn only(&self, value: u32) -> u64 {
        1 << value
    }

    /// Parses a comma-separated list of `*`, `?`, `N`, `N-M`, each with an
    /// optional `/STEP`. Empty list items are skipped, so `,` alone is a
    /// field that matches nothing.
    pub fn parse(&self, text: &str) -> Result<u64, ScheduleError> {
        let mut result = 0;
        for item in text.split(',').filter(|item| !item.is_empty()) {
            result |= self.parse_range(item)?;
        }
        Ok(result)
    }

    fn parse_range(&self, item: &str) -> Result<u64, ScheduleError> {
        let mut range_and_step = item.split('/');
        let range = range_and_step.next().unwrap_or_default();
        let step_text = range_and_step.next();
        if range_and_step.next().is_some() {
            return Err(self.error(format!("{item:?} has more than one '/'")));
        }

        // A leading `*` or `?` stands for the whole range; whatever follows
        // a hyphen after it is ignored, as robfig/cron v3.0.1 does.
        let bounds: Vec<&str> = range.split('-').collect();
        let is_star = bounds[0] == "*" || bounds[0] == "?";
        let single_value = bounds.len() == 1;
        let (start, mut end) = if is_star {
            (self.min, self.max)
        } else {
            let start = self.parse_value(bounds[0], item)?;
            let end = match bounds.len() {
                1 => start,
                2 => self.parse_value(bounds[1], item)?,
                _ => return Err(self.error(format!("{item:?} has more than one '-'"))),
            };
            (start, end)
        };

        let mut star = is_star;
        let step = match step_text {
            None => 1,
            Some(text) => {
                let step = parse_number(text).map_err(|reason| {
                    self.error(format!("invalid step {text:?} in {item:?}: {reason}"))
                })?;
                // `N/S` runs from N to the field's maximum.
                if single_value {
                    end = self.max;
                }
                if step > 1 {
                    star = false;
                }
                step
            }
        };

        if start < self.min {
            return Err(self.error(format!(
                "{start} in {item:?} is below the minimum of {}",
                self.min
            )));
        }
        if end > self.max {
            return Err(self.error(format!(
                "{end} in {item:?} is above the maximum of {}",
                self.max
            )));
        }
        if start > end {
            return Err(self.error(format!(
                "range {item:?} starts at {start}, after its end {end}"
            )));
        }
        if step == 0 {
            return Err(self.error(format!("step in {item:?} must be at least 1")));
        }

        let extra = if star { STAR_BIT } else { 0 };
        Ok(bits(start, end, step) | extra)
    }

    /// Parses a number, or in month and day-of-week a three-letter name in
    /// any case.
    fn parse_value(&self, text: &str, item: &str) -> Result<u32, ScheduleError> {
        let lower = text.to_ascii_lowercase();
        if let Some((_, value)) = self.names.iter().find(|(name, _)| *name == lower) {
            return Ok(*value);
        }
        parse_number(text).map_err(|reason| {
            let expected = match self.names.first() {
                Some((first, _)) => format!(
                    "a number from {} to {} or a three-letter name ({first} to {})",
                    self.min,
                    self.max,
                    self.names.last().map_or("", |(last, _)| last)
                ),
                None => format!("a number from {} to {}", self.min, self.max),
            };
            self.error(format!(
                "invalid value {text:?} in {item:?}: {reason}; expected {expected}"
            ))
        })
    }

    fn error(&self, message: String) -> ScheduleError {
        ScheduleError {
            field: Some(self.name.to_string()),
            message,
        }
    }
}

/// Parses a decimal integer with an optional sign, as Go's `strconv.Atoi`
/// does, and rejects negative numbers. Values above `u32::MAX` saturate,
/// which every bound check then rejects.
fn parse_number(text: &str) -> Result<u32, String> {
    let value: i64 = text.parse().map_err(|_| {
        if text.is_empty() {
            "the value is empty".to_string()
        } else if is_decimal(text) {
            "the number is too large".to_string()
        } else {
            "not a number (L, W, #, H and full day or month names are not supported)".to_string()
        }
    })?;
    if value < 0 {
        return Err(format!("negative number {value} is not allowed"));
    }
    Ok(u32::try_from(value).unwrap_or(u32::MAX))
}

/// Reports whether `text` is an optionally signed run of decimal digits.
fn is_decimal(text: &str) -> bool {
    let digits = text.strip_prefix(['+', '-']).unwrap_or(text);
    !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit())
}

/// Bits `start`, `start + step`, ... up to `end`. Callers keep `end` at
/// most 59 and `step` at least 1.
fn bits(start: u32, end: u32, step: u32) -> u64 {
    (start..=end)
        .step_by(step as usize)
        .fold(0, |acc, value| acc | 1 << value)
}
