//! The `schedule` contract operation: fire times in, errors as values out.

use bootsource_guest::dispatch;
use serde_json::{json, Value};

fn call(request: Value) -> Value {
    let payload = serde_json::to_vec(&request).unwrap_or_default();
    let response = dispatch("schedule", &payload);
    serde_json::from_slice(&response).unwrap_or_else(|e| panic!("response is not JSON: {e}"))
}

#[test]
fn schedule_returns_count_times() {
    let response = call(json!({
        "expression": "55 8/12 * * *",
        "after": "2025-01-01T00:00:00Z",
        "count": 3,
    }));
    assert_eq!(
        response,
        json!({"ok": {"times": [
            "2025-01-01T08:55:00Z",
            "2025-01-01T20:55:00Z",
            "2025-01-02T08:55:00Z",
        ]}})
    );
}

#[test]
fn schedule_count_defaults_to_one() {
    let response = call(json!({"expression": "@hourly", "after": "2025-01-01T00:30:00+02:00"}));
    assert_eq!(response, json!({"ok": {"times": ["2024-12-31T23:00:00Z"]}}));
}

#[test]
fn schedule_stops_when_never_firing() {
    let response = call(json!({
        "expression": "0 0 30 2 *",
        "after": "2025-01-01T00:00:00Z",
        "count": 5,
    }));
    assert_eq!(response["ok"]["times"], json!([]));
    assert_eq!(
        response["ok"]["stopped"],
        json!("the schedule has no match within five years")
    );
}

#[test]
fn schedule_stops_before_year_10000() {
    let response = call(json!({
        "expression": "0 0 * * *",
        "after": "9999-12-30T00:00:00Z",
        "count": 5,
    }));
    assert_eq!(response["ok"]["times"], json!(["9999-12-31T00:00:00Z"]));
    let stopped = response["ok"]["stopped"].as_str().unwrap_or("");
    assert!(stopped.contains("after year 9999"), "{stopped}");
}

#[test]
fn schedule_rejects_after_outside_rfc3339_years() {
    for after in ["9999-12-31T23:00:00-05:00", "0000-01-01T00:00:00+01:00"] {
        let response = call(json!({"expression": "@daily", "after": after}));
        assert_eq!(response["error"]["field"], json!("after"), "{after}");
    }
}

#[test]
fn schedule_errors_name_request_field() {
    let cases = [
        (
            json!({"expression": "0 0 * * 7", "after": "2025-01-01T00:00:00Z", "count": 1}),
            "expression",
            "day-of-week",
        ),
        (
            json!({"expression": "0 24 * * *", "after": "2025-01-01T00:00:00Z", "count": 1}),
            "expression",
            "hour",
        ),
        (
            json!({"expression": "", "after": "2025-01-01T00:00:00Z", "count": 1}),
            "expression",
            "empty",
        ),
        (
            json!({"expression": "@daily", "after": "yesterday", "count": 1}),
            "after",
            "yesterday",
        ),
        (
            json!({"expression": "@daily", "after": "2025-01-01T00:00:00Z", "count": 0}),
            "count",
            "count 0",
        ),
        (
            json!({"expression": "@daily", "after": "2025-01-01T00:00:00Z", "count": 1001}),
            "count",
            "count 1001",
        ),
        (
            json!({"expression": "@daily", "after": "2025-01-01T00:00:00Z", "count": -1}),
            "count",
            "invalid value",
        ),
        (
            json!({"after": "2025-01-01T00:00:00Z"}),
            "",
            "missing field `expression`",
        ),
        (
            json!({"expression": "@daily", "after": "2025-01-01T00:00:00Z", "extra": 1}),
            "extra",
            "unknown field",
        ),
    ];
    for (request, field, text) in cases {
        let response = call(request.clone());
        let error = &response["error"];
        assert_eq!(error["kind"], "invalidInput", "{request}: {response}");
        let actual_field = error["field"].as_str().unwrap_or_default();
        assert_eq!(actual_field, field, "{request}: {response}");
        let message = error["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(text),
            "{request}: {message:?} lacks {text:?}"
        );
    }
}

#[test]
fn contract_lists_schedule_operation() {
    let operations = serde_json::from_slice::<Value>(&dispatch("contract", b"{}"))
        .map(|v| v["ok"]["operations"].clone())
        .unwrap_or_default();
    let listed = operations
        .as_array()
        .is_some_and(|ops| ops.contains(&json!("schedule")));
    assert!(listed, "{operations}");
}
