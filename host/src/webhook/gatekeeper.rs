//! `POST /gatekeeper/provider`: a Gatekeeper external-data provider.
//!
//! Each key of a `ProviderRequest` is a JSON-encoded Kubernetes object, or
//! `{"request": AdmissionRequest}` to review an update; its value is the
//! verdict `{allowed, message, warnings}`. A key that is not such a
//! document gets an item error; a request that is not a `ProviderRequest`
//! gets a `systemError`. Both come with HTTP 200, because Gatekeeper reads
//! errors from the body.

use serde_json::{json, Value};

use super::outcome::{request_kind, Outcome, VerdictLabel};
use super::review::{admission_request, type_name, Reviewer};

/// API version of the external-data protocol (Gatekeeper 3.11 and later).
pub const API_VERSION: &str = "externaldata.gatekeeper.sh/v1beta1";
const REQUEST_KIND: &str = "ProviderRequest";
const RESPONSE_KIND: &str = "ProviderResponse";

/// Reviews each key of a `ProviderRequest`.
pub fn handle(reviewer: &Reviewer, body: &Value) -> Outcome {
    let keys = match read_keys(body) {
        Ok(keys) => keys,
        Err(message) => {
            let mut outcome = Outcome::ok(response(Vec::new(), &message), VerdictLabel::Error);
            outcome.kind = Some(REQUEST_KIND.into());
            return outcome;
        }
    };

    let mut items = Vec::with_capacity(keys.len());
    let mut kinds = Vec::new();
    let (mut allowed, mut denied, mut failed) = (0usize, 0usize, 0usize);
    for key in keys {
        let item = match review_key(reviewer, key) {
            Ok((value, kind)) => {
                if value.get("allowed") == Some(&Value::Bool(true)) {
                    allowed += 1;
                } else {
                    denied += 1;
                }
                if let Some(kind) = kind.filter(|k| !kinds.contains(k)) {
                    kinds.push(kind);
                }
                json!({"key": key, "value": value, "error": ""})
            }
            Err(message) => {
                failed += 1;
                json!({"key": key, "value": null, "error": message})
            }
        };
        items.push(item);
    }

    let verdict = match (allowed, denied + failed) {
        (_, 0) => VerdictLabel::Allowed,
        (0, _) => VerdictLabel::Denied,
        _ => VerdictLabel::Mixed,
    };
    let mut outcome = Outcome::ok(response(items, ""), verdict);
    outcome.kind = (!kinds.is_empty()).then(|| kinds.join(","));
    outcome
}

/// Reviews one key; returns the verdict value and the object's kind.
fn review_key(reviewer: &Reviewer, key: &str) -> Result<(Value, Option<String>), String> {
    let subject: Value =
        serde_json::from_str(key).map_err(|e| format!("the key is not valid JSON: {e}"))?;
    let request = admission_request(&subject)?;
    let review = reviewer
        .review(&request)
        .map_err(|e| format!("the review failed: {e}"))?;
    let value = json!({
        "allowed": review.allowed,
        "message": review.message.unwrap_or_default(),
        "warnings": review.warnings,
    });
    Ok((value, request_kind(&request)))
}

fn read_keys(body: &Value) -> Result<Vec<&str>, String> {
    let kind = body.get("kind").and_then(Value::as_str);
    if kind != Some(REQUEST_KIND) {
        return Err(format!(
            "expected kind {REQUEST_KIND} with apiVersion {API_VERSION}, found kind {kind:?}"
        ));
    }
    let Some(keys) = body.pointer("/request/keys") else {
        return Err("the ProviderRequest has no request.keys".into());
    };
    let Some(keys) = keys.as_array() else {
        return Err(format!(
            "request.keys must be an array of strings, found {}",
            type_name(keys)
        ));
    };
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            key.as_str().ok_or_else(|| {
                format!(
                    "request.keys[{index}] must be a string, found {}",
                    type_name(key)
                )
            })
        })
        .collect()
}

fn response(items: Vec<Value>, system_error: &str) -> Value {
    json!({
        "apiVersion": API_VERSION,
        "kind": RESPONSE_KIND,
        "response": {
            // The same key always gives the same verdict, so Gatekeeper
            // may cache it.
            "idempotent": true,
            "items": items,
            "systemError": system_error,
        }
    })
}
