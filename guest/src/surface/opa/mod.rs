//! OPA surface of `bootsource-opa.wasm`: the two entrypoints an OPA host
//! evaluates, as pure functions from the input document to the result set.
//!
//! The input is an AdmissionReview (`{"request": ...}`), Gatekeeper's
//! `{"review": ...}`, or a bare AdmissionRequest. An optional `settings`
//! key next to `request` takes the Kubewarden policy settings. Every
//! failure becomes a rejection with a message; none traps.

use serde_json::{json, Map, Value};

use crate::admission::{self, Verdict};
use crate::surface::kubewarden::Settings;
use crate::validation::Severity;

#[cfg(all(target_arch = "wasm32", feature = "opa"))]
mod abi;

/// Entrypoint returning the [`Verdict`]: allowed, message, code, warnings,
/// patch and findings.
pub const VALIDATE: &str = "bootsource/validate";
/// Entrypoint returning Gatekeeper's violation list: one `{msg, details}`
/// per rejection, empty when the request is allowed.
pub const VIOLATION: &str = "bootsource/violation";

/// Entrypoint names in the order of their ids, as `entrypoints()` lists them.
pub const ENTRYPOINTS: [&str; 2] = [VALIDATE, VIOLATION];

/// Returns the `entrypoints()` document: each name mapped to its id.
pub fn entrypoints() -> Value {
    let map: Map<String, Value> = ENTRYPOINTS
        .iter()
        .enumerate()
        .map(|(id, name)| ((*name).to_string(), json!(id)))
        .collect();
    Value::Object(map)
}

/// Evaluates entrypoint `id` on `input` and returns OPA's result set,
/// `[{"result": ...}]`. An unknown id gives an empty result set, as OPA
/// gives for an undefined rule.
pub fn evaluate(id: i32, input: Option<&Value>) -> Value {
    let verdict = match input {
        Some(input) => review(input),
        None => Verdict::bad_request("no input: evaluate the policy with an AdmissionReview"),
    };
    result_set(id, &verdict)
}

/// Evaluates entrypoint `id` on input bytes that may not be JSON: invalid
/// JSON gives a rejection rather than a trap.
pub fn evaluate_bytes(id: i32, input: Option<&[u8]>) -> Value {
    match input.map(serde_json::from_slice::<Value>) {
        None => evaluate(id, None),
        Some(Ok(value)) => evaluate(id, Some(&value)),
        Some(Err(error)) => {
            let verdict = Verdict::bad_request(format!("input is not valid JSON: {error}"));
            result_set(id, &verdict)
        }
    }
}

fn result_set(id: i32, verdict: &Verdict) -> Value {
    let result = match usize::try_from(id).ok().and_then(|i| ENTRYPOINTS.get(i)) {
        Some(&VALIDATE) => serde_json::to_value(verdict).unwrap_or_else(|e| {
            json!({"allowed": false, "message": format!("the verdict could not be encoded: {e}")})
        }),
        Some(&VIOLATION) => violations(verdict),
        _ => return json!([]),
    };
    json!([{ "result": result }])
}

/// Reviews the request inside `input` with the settings next to it.
fn review(input: &Value) -> Verdict {
    let Some(document) = input.as_object() else {
        return Verdict::bad_request(invalid_input(input));
    };
    let request = ["request", "review"]
        .iter()
        .find_map(|key| document.get(*key))
        .unwrap_or(input);
    let settings = document.get("settings").unwrap_or(&Value::Null);
    let settings = match Settings::from_value(settings).and_then(|s| s.review_settings()) {
        Ok(settings) => settings,
        Err(error) => return Verdict::bad_request(format!("invalid settings: {error}")),
    };
    admission::review(request, &settings)
}

fn invalid_input(input: &Value) -> String {
    let kind = match input {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    };
    format!("invalid input: expected an AdmissionReview or an AdmissionRequest object, got {kind}")
}

/// Returns Gatekeeper's violation list for `verdict`: empty when allowed,
/// otherwise one entry whose `msg` is the verdict's message and whose
/// `details` carry the error findings and the status code.
pub fn violations(verdict: &Verdict) -> Value {
    if verdict.allowed {
        return json!([]);
    }
    let errors: Vec<Value> = verdict
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| json!({"field": f.field, "message": f.message}))
        .collect();
    let mut details = Map::new();
    if let Some(code) = verdict.code {
        details.insert("code".into(), json!(code));
    }
    if !errors.is_empty() {
        details.insert("errors".into(), Value::Array(errors));
    }
    let message = verdict
        .message
        .clone()
        .unwrap_or_else(|| "the request was rejected".into());
    json!([{ "msg": message, "details": details }])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_request() -> Value {
        json!({
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "operation": "CREATE",
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}},
        })
    }

    fn result(set: &Value) -> &Value {
        &set[0]["result"]
    }

    #[test]
    fn entrypoints_map_names_to_ids() {
        assert_eq!(
            entrypoints(),
            json!({"bootsource/validate": 0, "bootsource/violation": 1})
        );
    }

    #[test]
    fn review_and_bare_request_agree() {
        let bare = evaluate(0, Some(&pod_request()));
        let wrapped = evaluate(0, Some(&json!({ "request": pod_request() })));
        let gatekeeper = evaluate(0, Some(&json!({ "review": pod_request() })));
        assert_eq!(bare, wrapped);
        assert_eq!(bare, gatekeeper);
    }

    #[test]
    fn unexpected_kind_is_one_violation() {
        let set = evaluate(1, Some(&json!({ "request": pod_request() })));
        let list = result(&set).as_array().cloned().unwrap_or_default();
        assert_eq!(list.len(), 1);
        let message = list[0]["msg"].as_str().unwrap_or_default();
        assert!(message.contains("unexpected kind \"Pod\""), "{message}");
        assert_eq!(list[0]["details"]["code"], 400);
    }

    #[test]
    fn bad_input_rejected_with_message() {
        let cases: Vec<(&str, Value)> = vec![
            ("no input", evaluate_bytes(0, None)),
            (
                "truncated JSON",
                evaluate_bytes(0, Some(b"{\"request\": {")),
            ),
            ("string input", evaluate(0, Some(&json!("not a review")))),
            ("number request", evaluate(0, Some(&json!({"request": 42})))),
            (
                "invalid settings",
                evaluate(
                    0,
                    Some(&json!({"request": pod_request(), "settings": {"x": 1}})),
                ),
            ),
        ];
        for (name, set) in cases {
            assert_eq!(result(&set)["allowed"], false, "{name}: {set}");
            let message = result(&set)["message"].as_str().unwrap_or_default();
            assert!(!message.is_empty(), "{name}: no message");
        }
    }

    #[test]
    fn unknown_entrypoint_gives_empty_set() {
        assert_eq!(evaluate(7, Some(&pod_request())), json!([]));
        assert_eq!(evaluate(-1, Some(&pod_request())), json!([]));
    }
}
