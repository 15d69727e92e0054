//! Cron schedules as CDI parses them: robfig/cron v3.0.1 `ParseStandard`.
//!
//! Grammar: five fields (minute 0-59, hour 0-23, day-of-month 1-31, month
//! 1-12 or `jan`-`dec`, day-of-week 0-6 or `sun`-`sat`, names in any case),
//! each a comma list of `*`, `?`, `N` or `N-M` with an optional `/STEP`,
//! where `N/STEP` runs from N to the field's maximum. Descriptors `@yearly`,
//! `@annually`, `@monthly`, `@weekly`, `@daily`, `@midnight`, `@hourly` and
//! `@every <Go duration>` replace the five fields. A `TZ=<zone> ` or
//! `CRON_TZ=<zone> ` prefix selects an IANA time zone; without one the
//! zone is UTC, the default zone of the CDI controller container.
//!
//! When both day-of-month and day-of-week are restricted, a day matches if
//! either matches. A day field counts as unrestricted only when written
//! `*` or `?` (also `*/1`), so `*/2` is restricted.
//!
//! The fire-time search is this module's own port of robfig's walk, not
//! the `cron` or `croner` crate behind an adapter. Both crates can be made
//! to parse the same set of expressions, but their searches differ from
//! robfig's where CDI can notice: the `cron` crate stops at the year 2100,
//! neither gives up after five years as robfig does (a schedule whose next
//! match is further away never fires), and both resolve daylight-saving
//! changes their own way. robfig steps through a repeated local hour and
//! fires in both copies of it. Parsing needs robfig's own error rules and
//! field names in any case, so an adapter would have kept little of either
//! crate.

mod duration;
mod fields;
mod walk;

use chrono::{DateTime, TimeDelta, Utc};
use chrono_tz::Tz;

use fields::{DAY_OF_MONTH, DAY_OF_WEEK, HOUR, MINUTE, MONTH};
use walk::Fields;

/// A parse failure, with the field it concerns when known.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleError {
    /// `minute`, `hour`, `day-of-month`, `month`, `day-of-week`, or none for
    /// the expression as a whole.
    pub field: Option<String>,
    pub message: String,
}

impl ScheduleError {
    fn whole(message: String) -> Self {
        ScheduleError {
            field: None,
            message,
        }
    }
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
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Kind {
    /// Five fields, or a descriptor other than `@every`, read in a zone.
    Fields { fields: Fields, zone: Tz },
    /// `@every`: a fixed delay in whole seconds, at least 1.
    Every { seconds: i64 },
}

/// Parses a cron expression with CDI's rules (see the module docs). Never
/// panics; every failure is an error naming the field when it is one of
/// the five.
pub fn parse(expression: &str) -> Result<Schedule, ScheduleError> {
    if expression.is_empty() {
        return Err(ScheduleError::whole(
            "the schedule is empty; write five fields, e.g. \"0 */12 * * *\"".into(),
        ));
    }
    let (zone, spec) = split_zone(expression)?;

    if spec.starts_with('@') {
        return parse_descriptor(spec, zone);
    }

    let parts: Vec<&str> = spec.split_whitespace().collect();
    if parts.len() != 5 {
        return Err(ScheduleError::whole(format!(
            "expected exactly 5 fields (minute hour day-of-month month day-of-week), found {}: {spec:?}",
            parts.len()
        )));
    }
    let fields = Fields {
        minute: MINUTE.parse(parts[0])?,
        hour: HOUR.parse(parts[1])?,
        day_of_month: DAY_OF_MONTH.parse(parts[2])?,
        month: MONTH.parse(parts[3])?,
        day_of_week: DAY_OF_WEEK.parse(parts[4])?,
    };
    Ok(Schedule {
        kind: Kind::Fields { fields, zone },
    })
}

/// Checks a DataImportCron `spec.schedule`: the empty string is allowed
/// and means the cron never polls; anything else must parse.
pub fn validate_cdi(expression: &str) -> Result<(), ScheduleError> {
    if expression.is_empty() {
        return Ok(());
    }
    parse(expression).map(|_| ())
}

impl Schedule {
    /// Returns the first fire time strictly after `after`, or `None` when
    /// the schedule does not fire within five years of `after`.
    ///
    /// `@every D` fires at `after`, cut to whole seconds, plus D; D is
    /// rounded down to whole seconds and is at least one second.
    pub fn next_after(&self, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
        match &self.kind {
            Kind::Fields { fields, zone } => walk::next_after(fields, *zone, after),
            Kind::Every { seconds } => {
                let start = DateTime::from_timestamp(after.timestamp(), 0)?;
                start.checked_add_signed(TimeDelta::try_seconds(*seconds)?)
            }
        }
    }
}

/// Splits off a `TZ=` or `CRON_TZ=` prefix. The zone name ends at the
/// first space. An empty name, `UTC` and `Local` are UTC, because `Local`
/// is the controller container's zone.
fn split_zone(expression: &str) -> Result<(Tz, &str), ScheduleError> {
    let Some(rest) = expression
        .strip_prefix("TZ=")
        .or_else(|| expression.strip_prefix("CRON_TZ="))
    else {
        return Ok((Tz::UTC, expression));
    };
    let Some((name, spec)) = rest.split_once(' ') else {
        return Err(ScheduleError::whole(format!(
            "the time zone prefix in {expression:?} must be followed by a space and the schedule"
        )));
    };
    // NOTE: zones come from the IANA data built into chrono-tz, while the
    // controller reads the tzdata of its container image, so a zone added or
    // changed in one release of the data may be handled differently.
    let zone = match name {
        "" | "UTC" | "Local" => Tz::UTC,
        _ => name.parse::<Tz>().map_err(|_| {
            ScheduleError::whole(format!(
                "unknown time zone {name:?}; use an IANA name such as Europe/Berlin"
            ))
        })?,
    };
    Ok((zone, spec.trim()))
}

fn parse_descriptor(spec: &str, zone: Tz) -> Result<Schedule, ScheduleError> {
    if let Some(text) = spec.strip_prefix("@every ") {
        let nanos = duration::parse_go_duration(text).map_err(|reason| {
            ScheduleError::whole(format!(
                "{reason}; write a Go duration after @every, e.g. \"@every 1h30m\""
            ))
        })?;
        let seconds = (nanos / 1_000_000_000).max(1);
        return Ok(Schedule {
            kind: Kind::Every { seconds },
        });
    }

    let midnight = |day_of_month: u64, month: u64, day_of_week: u64| Fields {
        minute: MINUTE.only(0),
        hour: HOUR.only(0),
        day_of_month,
        month,
        day_of_week,
    };
    let fields = match spec {
        "@yearly" | "@annually" => midnight(DAY_OF_MONTH.only(1), MONTH.only(1), DAY_OF_WEEK.all()),
        "@monthly" => midnight(DAY_OF_MONTH.only(1), MONTH.all(), DAY_OF_WEEK.all()),
        "@weekly" => midnight(DAY_OF_MONTH.all(), MONTH.all(), DAY_OF_WEEK.only(0)),
        "@daily" | "@midnight" => midnight(DAY_OF_MONTH.all(), MONTH.all(), DAY_OF_WEEK.all()),
        "@hourly" => Fields {
            hour: HOUR.all(),
            ..midnight(DAY_OF_MONTH.all(), MONTH.all(), DAY_OF_WEEK.all())
        },
        _ => {
            return Err(ScheduleError::whole(format!(
                "unknown descriptor {spec:?}; use @yearly, @annually, @monthly, @weekly, \
                 @daily, @midnight, @hourly or @every <duration>"
            )))
        }
    };
    Ok(Schedule {
        kind: Kind::Fields { fields, zone },
    })
}

#[cfg(test)]
mod tests;
