use chrono::{DateTime, Utc};

use super::*;

fn at(text: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .unwrap_or_else(|e| panic!("bad test time {text}: {e}"))
}

fn next(expression: &str, after: &str) -> Option<String> {
    let schedule = parse(expression).unwrap_or_else(|e| panic!("{expression}: {e}"));
    schedule
        .next_after(at(after))
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
}

#[test]
fn errors_name_the_bad_field() {
    let cases = [
        ("60 * * * *", "minute", "60"),
        ("x * * * *", "minute", "\"x\""),
        ("H * * * *", "minute", "\"H\""),
        ("*/0 * * * *", "minute", "\"*/0\""),
        ("0 24 * * *", "hour", "24"),
        ("0 -1 * * *", "hour", "-1"),
        ("0 0 0 * *", "day-of-month", "0"),
        ("0 0 32 * *", "day-of-month", "32"),
        ("0 0 L * *", "day-of-month", "\"L\""),
        ("0 0 15W * *", "day-of-month", "\"15W\""),
        ("0 0 * 13 *", "month", "13"),
        ("0 0 * January *", "month", "\"January\""),
        ("0 0 1 1-14/3 *", "month", "14"),
        ("0 0 * * 7", "day-of-week", "7"),
        ("0 0 * * 5-7", "day-of-week", "7"),
        ("0 0 * * Monday", "day-of-week", "\"Monday\""),
        ("0 0 * * 5#2", "day-of-week", "\"5#2\""),
        ("0 0 * * 1/2/3", "day-of-week", "\"1/2/3\""),
        ("0 0 * * 1-2-3", "day-of-week", "\"1-2-3\""),
        ("0 0 * * 5-1", "day-of-week", "\"5-1\""),
        ("99999999999999999999 * * * *", "minute", "too large"),
    ];
    for (expression, field, value) in cases {
        let error = match parse(expression) {
            Ok(_) => panic!("{expression:?} was accepted"),
            Err(error) => error,
        };
        assert_eq!(
            error.field.as_deref(),
            Some(field),
            "{expression:?}: {error}"
        );
        assert!(
            error.message.contains(value),
            "{expression:?}: message {:?} does not mention {value}",
            error.message
        );
    }
}

#[test]
fn display_prefixes_the_field() {
    let error = parse("0 24 * * *").err();
    let text = error.map(|e| e.to_string()).unwrap_or_default();
    assert!(text.starts_with("hour: "), "{text}");
}

#[test]
fn whole_expression_errors_have_no_field() {
    let cases = [
        "",
        " ",
        "0 0 * * * *",
        "0 0 * *",
        "@DAILY",
        "@daily ",
        "@every",
        "@every 1d",
        "@every ",
        "TZ=Mars/Olympus 0 0 * * *",
        "TZ=UTC",
        "CRON_TZ=Europe/Berlin",
    ];
    for expression in cases {
        match parse(expression) {
            Ok(_) => panic!("{expression:?} was accepted"),
            Err(error) => assert_eq!(error.field, None, "{expression:?}: {error}"),
        }
    }
}

#[test]
fn hostile_input_never_panics() {
    let long = "1,".repeat(100_000);
    let inputs = [
        "\0 \0 \0 \0 \0",
        "* * * * \u{1F600}",
        "ééé * * * *",
        "-------- * * * *",
        "//// * * * *",
        "+ * * * *",
        "- * * * *",
        "18446744073709551616 * * * *",
        "*/18446744073709551616 * * * *",
        "*/4294967296 * * * *",
        "@every 9223372036854775807ns",
        "@every -9223372036854775808ns",
        "@every 99999999999999999999h",
        "@every .",
        "TZ= 0 0 * * *",
        "TZ==== * * * * *",
        "CRON_TZ=../../etc/passwd * * * * *",
        long.as_str(),
    ];
    for input in inputs {
        if let Ok(schedule) = parse(input) {
            let _ = schedule.next_after(at("2025-01-01T00:00:00Z"));
        }
    }
}

#[test]
fn star_with_trailing_range_is_whole_range() {
    assert_eq!(
        next("*-5 0 * * *", "2025-01-01T00:10:30Z").as_deref(),
        Some("2025-01-01T00:11:00Z")
    );
}

#[test]
fn empty_list_never_fires() {
    assert_eq!(next(", * * * *", "2025-01-01T00:00:00Z"), None);
}

#[test]
fn impossible_date_never_fires() {
    assert_eq!(next("0 0 30 2 *", "2025-01-01T00:00:00Z"), None);
}

#[test]
fn search_stops_after_five_years() {
    // February 29 comes eight years apart around 2100, which is no leap year.
    assert_eq!(next("0 0 29 2 *", "2096-03-01T00:00:00Z"), None);
    assert_eq!(
        next("0 0 29 2 *", "2099-03-01T00:00:00Z").as_deref(),
        Some("2104-02-29T00:00:00Z")
    );
}

#[test]
fn every_truncates_start_to_seconds() {
    assert_eq!(
        next("@every 1500ms", "2025-01-01T00:00:00.900Z").as_deref(),
        Some("2025-01-01T00:00:01Z")
    );
    assert_eq!(
        next("@every -5s", "2025-01-01T00:00:00Z").as_deref(),
        Some("2025-01-01T00:00:01Z")
    );
}

#[test]
fn every_ignores_time_zone() {
    assert_eq!(
        next("TZ=Asia/Tokyo @every 1h", "2025-01-01T00:00:10Z").as_deref(),
        Some("2025-01-01T01:00:10Z")
    );
}

#[test]
fn skipped_local_time_does_not_fire() {
    // New York skips 02:00-03:00 local on 2025-03-09.
    assert_eq!(
        next("TZ=America/New_York 30 2 * * *", "2025-03-08T12:00:00Z").as_deref(),
        Some("2025-03-10T06:30:00Z")
    );
}

#[test]
fn repeated_local_hour_fires_twice() {
    // New York repeats 01:00-02:00 local on 2025-11-02: 05:30Z and 06:30Z.
    let schedule = "TZ=America/New_York 30 1 * * *";
    assert_eq!(
        next(schedule, "2025-11-02T00:00:00Z").as_deref(),
        Some("2025-11-02T05:30:00Z")
    );
    assert_eq!(
        next(schedule, "2025-11-02T05:30:00Z").as_deref(),
        Some("2025-11-02T06:30:00Z")
    );
}

#[test]
fn validate_cdi_allows_empty_schedule() {
    assert_eq!(validate_cdi(""), Ok(()));
    assert_eq!(validate_cdi("0 */12 * * *"), Ok(()));
    assert!(validate_cdi(" ").is_err());
    assert!(validate_cdi("0 0 * * 7").is_err());
}
