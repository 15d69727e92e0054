//! Checks the schedule parser against fire times that robfig/cron v3.0.1
//! `ParseStandard` computed, one row per expression and start time.
//!
//! Columns of `data/cron-oracle.tsv`: expression, start time, then the next
//! four fire times in UTC separated by commas, or `ERR` when robfig rejects
//! the expression.

use bootsource_guest::schedule;
use chrono::{DateTime, SecondsFormat, Utc};

const ORACLE: &str = include_str!("data/cron-oracle.tsv");

struct Row<'a> {
    line: usize,
    expression: &'a str,
    after: &'a str,
    expected: &'a str,
}

fn rows() -> Vec<Row<'static>> {
    ORACLE
        .lines()
        .enumerate()
        .skip(1)
        .filter(|(_, text)| !text.is_empty())
        .map(|(index, text)| {
            let columns: Vec<&str> = text.split('\t').collect();
            assert_eq!(columns.len(), 3, "line {}: {text:?}", index + 1);
            Row {
                line: index + 1,
                expression: columns[0],
                after: columns[1],
                expected: columns[2],
            }
        })
        .collect()
}

/// Computes the next `count` fire times after `after`, or returns the parse error.
fn fire_times(expression: &str, after: DateTime<Utc>, count: usize) -> Result<Vec<String>, String> {
    let schedule = schedule::parse(expression).map_err(|e| e.to_string())?;
    let mut times = Vec::new();
    let mut cursor = after;
    for _ in 0..count {
        match schedule.next_after(cursor) {
            Some(time) => {
                times.push(time.to_rfc3339_opts(SecondsFormat::Secs, true));
                cursor = time;
            }
            None => break,
        }
    }
    Ok(times)
}

#[test]
fn oracle_has_rows() {
    assert!(rows().len() >= 100, "only {} rows", rows().len());
}

#[test]
fn every_oracle_row_matches() {
    let mut failures = Vec::new();
    for row in rows() {
        let after = match DateTime::parse_from_rfc3339(row.after) {
            Ok(time) => time.with_timezone(&Utc),
            Err(error) => panic!("line {}: bad start time {:?}: {error}", row.line, row.after),
        };
        let actual = fire_times(row.expression, after, 4);
        let matches = match (&actual, row.expected) {
            (Err(_), "ERR") => true,
            (Ok(times), expected) => times.join(",") == expected,
            (Err(_), _) => false,
        };
        if !matches {
            failures.push(format!(
                "line {}: {:?} after {}: expected {}, got {:?}",
                row.line, row.expression, row.after, row.expected, actual
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} rows differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
