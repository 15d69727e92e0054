//! Cron schedules as CDI parses them (robfig/cron v3 `ParseStandard`).
//!
//! NOTE: interim implementation on the `cron` crate without the robfig
//! compatibility rules (day-of-week numbering, day-of-month/day-of-week OR,
//! descriptors, time zones); the oracle test does not pass yet.

use std::str::FromStr;

use chrono::{DateTime, Utc};

/// A parse failure, with the field it concerns when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `minute`, `hour`, `day-of-month`, `month`, `day-of-week`, or none for
    /// the expression as a whole.
    pub field: Option<String>,
    pub message: String,
}

impl std::fmt::Display for ScheduleError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "{field}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

impl std::error::Error for ScheduleError {}

/// A parsed schedule.
#[derive(Debug, Clone)]
pub struct Schedule {
    inner: cron::Schedule,
}

/// Parses a five-field cron expression.
pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
    let fields = expression.split_whitespace().count();
    if fields != 5 {
        return Err(ScheduleError {
            field: None,
            message: format!("expected exactly 5 fields, found {fields}: {expression:?}"),
        });
    }
    let inner =
        cron::Schedule::from_str(&format!("0 {expression}")).map_err(|e| ScheduleError {
            field: None,
            message: e.to_string(),
        })?;
    Ok(Schedule { inner })
}

impl Schedule {
    /// Returns the first fire time strictly after `after`, or `None` when
    /// the schedule never fires again.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.inner.after(&after).next()
    }
}
