//! The record of a registry poll on its DataImportCron, shared by the state
//! folder (`bootsource run`) and the controller. A successful poll writes
//! the digest and `lastCronTime` annotations, and every poll writes a
//! `Polled` condition.

use bootsource_guest::model::cdi::{ANNOTATION_LAST_CRON_TIME, ANNOTATION_SOURCE_DESIRED_DIGEST};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Value};

/// Condition type on a DataImportCron that bootsource adds for its own
/// poller: whether the last registry poll succeeded. CDI has no such
/// condition, and the module keeps condition types it does not manage.
pub const CONDITION_POLLED: &str = "Polled";

/// The result of one registry poll.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PollResult {
    /// The URL resolved to a manifest digest.
    Resolved { url: String, digest: String },
    /// The poll failed; the next attempt is due at `retry_at`.
    Failed {
        message: String,
        /// Failed polls in a row, this one included.
        failures: u32,
        retry_at: DateTime<Utc>,
    },
}

/// Formats a time as Kubernetes does, to the second.
pub fn stamp(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Writes `result` onto `cron` at time `now`: on success the digest and
/// `lastCronTime` annotations; in every case the `Polled` condition. A
/// failed poll changes nothing else, so objects and volumes are kept.
///
/// Returns true when the digest annotation changed.
pub fn record(cron: &mut Value, result: &PollResult, now: DateTime<Utc>) -> bool {
    let time = stamp(now);
    match result {
        PollResult::Resolved { url, digest } => {
            let annotations = &mut cron["metadata"]["annotations"];
            if !annotations.is_object() {
                *annotations = json!({});
            }
            let previous = annotations
                .get(ANNOTATION_SOURCE_DESIRED_DIGEST)
                .and_then(Value::as_str);
            let changed = previous != Some(digest.as_str());
            annotations[ANNOTATION_SOURCE_DESIRED_DIGEST] = json!(digest);
            annotations[ANNOTATION_LAST_CRON_TIME] = json!(time);
            set_polled_condition(
                cron,
                true,
                "PollSucceeded",
                &format!("{url} resolved to {digest}"),
                &time,
            );
            changed
        }
        PollResult::Failed {
            message,
            failures,
            retry_at,
        } => {
            let text = format!(
                "{message}; attempt {failures}, next attempt at {}; objects and volumes are kept",
                stamp(*retry_at)
            );
            set_polled_condition(cron, false, "PollFailed", &text, &time);
            false
        }
    }
}

/// Returns the merge patch of the metadata part of a recorded poll: the
/// digest and `lastCronTime` annotations, or `None` when `cron` has
/// neither.
pub fn annotations_patch(cron: &Value) -> Option<Value> {
    let annotations = cron.pointer("/metadata/annotations")?;
    let mut patch = serde_json::Map::new();
    for key in [ANNOTATION_SOURCE_DESIRED_DIGEST, ANNOTATION_LAST_CRON_TIME] {
        if let Some(value) = annotations.get(key) {
            patch.insert(key.to_string(), value.clone());
        }
    }
    (!patch.is_empty()).then(|| json!({"metadata": {"annotations": patch}}))
}

/// Returns the merge patch of the status part of a recorded poll: the
/// whole condition list, since a merge patch replaces lists.
pub fn conditions_patch(cron: &Value) -> Value {
    let conditions = cron
        .pointer("/status/conditions")
        .cloned()
        .unwrap_or_else(|| json!([]));
    json!({"status": {"conditions": conditions}})
}

/// Sets the `Polled` condition with CDI's bookkeeping: lastTransitionTime
/// changes with the status only.
fn set_polled_condition(cron: &mut Value, ok: bool, reason: &str, message: &str, now: &str) {
    let status = if ok { "True" } else { "False" };
    if !cron.get("status").is_some_and(Value::is_object) {
        cron["status"] = json!({});
    }
    let conditions = &mut cron["status"]["conditions"];
    if !conditions.is_array() {
        *conditions = json!([]);
    }
    let Some(list) = conditions.as_array_mut() else {
        return;
    };
    let position = list
        .iter()
        .position(|c| c.get("type").and_then(Value::as_str) == Some(CONDITION_POLLED));
    let transition = match position.map(|i| &list[i]) {
        Some(old) if old.get("status").and_then(Value::as_str) == Some(status) => old
            .get("lastTransitionTime")
            .cloned()
            .unwrap_or_else(|| json!(now)),
        _ => json!(now),
    };
    let condition = json!({
        "type": CONDITION_POLLED,
        "status": status,
        "reason": reason,
        "message": message,
        "lastTransitionTime": transition,
        "lastHeartbeatTime": now,
    });
    match position {
        Some(i) => list[i] = condition,
        None => list.push(condition),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .map(|t| t.with_timezone(&Utc))
            .unwrap_or_default()
    }

    fn resolved(digest: &str) -> PollResult {
        PollResult::Resolved {
            url: "docker://127.0.0.1:5000/disk".into(),
            digest: digest.into(),
        }
    }

    fn polled(cron: &Value) -> Value {
        cron.pointer("/status/conditions/0")
            .cloned()
            .unwrap_or(Value::Null)
    }

    #[test]
    fn success_writes_digest_and_time() {
        let mut cron = json!({"metadata": {"name": "c"}});
        let changed = record(
            &mut cron,
            &resolved("sha256:aa"),
            at("2026-01-01T00:00:00Z"),
        );
        assert!(changed);
        assert_eq!(
            annotations_patch(&cron),
            Some(json!({"metadata": {"annotations": {
                ANNOTATION_SOURCE_DESIRED_DIGEST: "sha256:aa",
                ANNOTATION_LAST_CRON_TIME: "2026-01-01T00:00:00Z",
            }}}))
        );
    }

    #[test]
    fn same_digest_is_unchanged() {
        let mut cron =
            json!({"metadata": {"annotations": {ANNOTATION_SOURCE_DESIRED_DIGEST: "sha256:aa"}}});
        let changed = record(
            &mut cron,
            &resolved("sha256:aa"),
            at("2026-01-01T00:00:00Z"),
        );
        assert!(!changed);
    }

    #[test]
    fn failure_keeps_digest_and_sets_false() {
        let mut cron =
            json!({"metadata": {"annotations": {ANNOTATION_SOURCE_DESIRED_DIGEST: "sha256:aa"}}});
        let failed = PollResult::Failed {
            message: "connection refused".into(),
            failures: 2,
            retry_at: at("2026-01-01T00:00:20Z"),
        };
        record(&mut cron, &failed, at("2026-01-01T00:00:00Z"));
        assert_eq!(
            cron.pointer("/metadata/annotations").cloned(),
            Some(json!({ANNOTATION_SOURCE_DESIRED_DIGEST: "sha256:aa"}))
        );
        assert_eq!(polled(&cron)["status"], "False");
        assert_eq!(polled(&cron)["reason"], "PollFailed");
    }

    #[test]
    fn transition_time_moves_with_status_only() {
        let mut cron = json!({});
        record(
            &mut cron,
            &resolved("sha256:aa"),
            at("2026-01-01T00:00:00Z"),
        );
        record(
            &mut cron,
            &resolved("sha256:aa"),
            at("2026-01-02T00:00:00Z"),
        );
        assert_eq!(polled(&cron)["lastTransitionTime"], "2026-01-01T00:00:00Z");
        let failed = PollResult::Failed {
            message: "down".into(),
            failures: 1,
            retry_at: at("2026-01-03T00:00:10Z"),
        };
        record(&mut cron, &failed, at("2026-01-03T00:00:00Z"));
        assert_eq!(polled(&cron)["lastTransitionTime"], "2026-01-03T00:00:00Z");
    }
}
