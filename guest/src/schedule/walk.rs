//! The search for the next fire time of a five-field schedule, stepping
//! through local time in a zone the way robfig/cron v3.0.1 does.
//!
//! The search advances in absolute time (an hour or a minute at a time) and
//! rebuilds local dates with Go's `time.Date` rules. So it shares robfig's
//! behaviour around daylight-saving changes. A local time that is skipped
//! never fires, and one that occurs twice fires twice when the schedule
//! steps through it by the hour or minute. It gives up after five years.

use chrono::{DateTime, Datelike, Days, NaiveDate, Offset, TimeZone, Timelike, Utc};
use chrono_tz::Tz;

use super::fields::STAR_BIT;

/// Years searched past the start before a schedule counts as never firing
/// again; robfig/cron v3 returns its zero time in that case.
const SEARCH_YEARS: i32 = 5;

/// The fields of a five-field schedule as bit sets; bit `n` set means value
/// `n` matches. The seconds field is always 0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub minute: u64,
    pub hour: u64,
    pub day_of_month: u64,
    pub month: u64,
    pub day_of_week: u64,
}

impl Fields {
    /// Whether `date` matches: both day fields must match when either is
    /// unrestricted (`*` or `?`), otherwise one of them is enough.
    fn day_matches(&self, date: NaiveDate) -> bool {
        let by_month_day = self.day_of_month & (1 << date.day()) != 0;
        let by_weekday = self.day_of_week & (1 << date.weekday().num_days_from_sunday()) != 0;
        if (self.day_of_month | self.day_of_week) & STAR_BIT != 0 {
            by_month_day && by_weekday
        } else {
            by_month_day || by_weekday
        }
    }
}

/// A point in time, as Unix seconds, read in one zone.
#[derive(Clone, Copy)]
struct Cursor {
    seconds: i64,
    zone: Tz,
}

impl Cursor {
    fn local(&self) -> Option<DateTime<Tz>> {
        self.zone.timestamp_opt(self.seconds, 0).single()
    }

    fn add_seconds(self, delta: i64) -> Option<Cursor> {
        Some(Cursor {
            seconds: self.seconds.checked_add(delta)?,
            ..self
        })
    }

    /// Converts a local date and time to an instant, with months and days past
    /// their end carried over as Go's `time.Date` does.
    fn at_local(
        zone: Tz,
        year: i32,
        month0: i64,
        day: u32,
        (hour, minute, second): (u32, u32, u32),
    ) -> Option<Cursor> {
        let months = i64::from(year) * 12 + month0;
        let year = i32::try_from(months.div_euclid(12)).ok()?;
        let month = u32::try_from(months.rem_euclid(12)).ok()? + 1;
        let date = NaiveDate::from_ymd_opt(year, month, 1)?
            .checked_add_days(Days::new(u64::from(day.checked_sub(1)?)))?;
        let local_as_utc = date
            .and_hms_opt(hour, minute, second)?
            .and_utc()
            .timestamp();

        // Go takes the zone offset in force at the local time read as UTC,
        // and if the result falls outside that offset's period, the offset
        // in force at the result.
        let offset_at = |seconds: i64| -> Option<i64> {
            let utc = DateTime::from_timestamp(seconds, 0)?.naive_utc();
            Some(i64::from(
                zone.offset_from_utc_datetime(&utc).fix().local_minus_utc(),
            ))
        };
        let first = offset_at(local_as_utc)?;
        let guess = local_as_utc.checked_sub(first)?;
        let offset = offset_at(guess)?;
        Some(Cursor {
            seconds: local_as_utc.checked_sub(offset)?,
            zone,
        })
    }
}

/// Returns the local midnight of day `day` in the month of `local`.
fn start_of_day(zone: Tz, local: &DateTime<Tz>, day: u32) -> Option<Cursor> {
    Cursor::at_local(
        zone,
        local.year(),
        i64::from(local.month0()),
        day,
        (0, 0, 0),
    )
}

/// Returns the first time strictly after `after` that matches `fields` in
/// `zone`, or `None` when there is none within five years.
pub fn next_after(fields: &Fields, zone: Tz, after: DateTime<Utc>) -> Option<DateTime<Utc>> {
    if fields.minute == 0 || fields.hour == 0 || fields.month == 0 {
        return None;
    }
    let mut t = Cursor {
        seconds: after.timestamp().checked_add(1)?,
        zone,
    };
    let year_limit = t.local()?.year().checked_add(SEARCH_YEARS)?;
    // Once the search moves past the start, it continues from the start of
    // a month, day, hour or minute instead of the start time's fields.
    let mut moved = false;

    'wrap: loop {
        let mut local = t.local()?;
        if local.year() > year_limit {
            return None;
        }

        while fields.month & (1 << local.month()) == 0 {
            if !moved {
                moved = true;
                t = start_of_day(zone, &local, 1)?;
                local = t.local()?;
            }
            t = Cursor::at_local(
                zone,
                local.year(),
                i64::from(local.month0()) + 1,
                local.day(),
                (local.hour(), local.minute(), local.second()),
            )?;
            local = t.local()?;
            if local.month() == 1 {
                continue 'wrap;
            }
        }

        while !fields.day_matches(local.date_naive()) {
            if !moved {
                moved = true;
                t = start_of_day(zone, &local, local.day())?;
                local = t.local()?;
            }
            t = Cursor::at_local(
                zone,
                local.year(),
                i64::from(local.month0()),
                local.day() + 1,
                (local.hour(), local.minute(), local.second()),
            )?;
            local = t.local()?;
            // A daylight-saving change can leave the new day off midnight;
            // move to the nearer midnight.
            let hour = i64::from(local.hour());
            if hour > 12 {
                t = t.add_seconds((24 - hour) * 3600)?;
            } else if hour > 0 {
                t = t.add_seconds(-hour * 3600)?;
            }
            local = t.local()?;
            if local.day() == 1 {
                continue 'wrap;
            }
        }

        while fields.hour & (1 << local.hour()) == 0 {
            if !moved {
                moved = true;
                t = Cursor::at_local(
                    zone,
                    local.year(),
                    i64::from(local.month0()),
                    local.day(),
                    (local.hour(), 0, 0),
                )?;
            }
            t = t.add_seconds(3600)?;
            local = t.local()?;
            if local.hour() == 0 {
                continue 'wrap;
            }
        }

        while fields.minute & (1 << local.minute()) == 0 {
            if !moved {
                moved = true;
                t.seconds -= t.seconds.rem_euclid(60);
            }
            t = t.add_seconds(60)?;
            local = t.local()?;
            if local.minute() == 0 {
                continue 'wrap;
            }
        }

        // The seconds field is always 0.
        if local.second() != 0 {
            moved = true;
            t = t.add_seconds(i64::from(60 - local.second()))?;
            local = t.local()?;
            if local.second() == 0 {
                continue 'wrap;
            }
        }

        return DateTime::from_timestamp(t.seconds, 0);
    }
}
