//! The same AdmissionReview gives the same verdict, message, warnings and
//! patch on every admission surface. Each fixture under
//! `tests/test_data/admission/` runs through the webhook's four endpoints,
//! the `bootsource validate` command, the module's `admissionReview`
//! operation, and its Kubewarden `validate` operation. The Kubewarden reply
//! is the reference: the OPA build's test compares `bootsource-opa.wasm`
//! against exactly these replies (`expected-verdicts.json`).

use std::path::Path;
use std::process::Command;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bootsource::webhook::routes;
use bootsource_guest::admission::Verdict;
use bootsource_guest::contract::{op, AdmissionReviewRequest};
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::support::{fixture, fixture_names, runtime, unique, TestServer};

/// The verdict as every surface can report it.
#[derive(Debug, Clone, PartialEq)]
struct Seen {
    allowed: bool,
    /// The rejection message; empty when allowed.
    message: String,
    warnings: Vec<String>,
}

/// Returns the Kubewarden `ValidationResponse` for `request`: the reply
/// the OPA build is tested against.
fn kubewarden_reply(request: &Value) -> Value {
    let payload = json!({"request": request, "settings": {}});
    let reply = runtime()
        .call("validate", payload.to_string().as_bytes())
        .expect("the module runs");
    serde_json::from_slice(&reply).expect("validate returns JSON")
}

fn seen_from_kubewarden(reply: &Value) -> Seen {
    Seen {
        allowed: reply["accepted"] == true,
        message: reply["message"].as_str().unwrap_or_default().to_string(),
        warnings: string_list(&reply["warnings"]),
    }
}

fn seen_from_flat(reply: &Value) -> Seen {
    Seen {
        allowed: reply["allowed"] == true,
        message: reply["message"].as_str().unwrap_or_default().to_string(),
        warnings: string_list(&reply["warnings"]),
    }
}

fn seen_from_admission_response(response: &Value) -> Seen {
    Seen {
        allowed: response["allowed"] == true,
        message: response["status"]["message"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        warnings: string_list(&response["warnings"]),
    }
}

fn string_list(value: &Value) -> Vec<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

/// Decodes the base64 JSONPatch of an AdmissionReview response; an absent
/// patch is an empty one.
fn decoded_patch(name: &str, response: &Value) -> Vec<Value> {
    let Some(encoded) = response["patch"].as_str() else {
        assert!(
            response.get("patchType").is_none(),
            "{name}: patchType without patch"
        );
        return Vec::new();
    };
    assert_eq!(response["patchType"], "JSONPatch", "{name}");
    let bytes = BASE64.decode(encoded).expect("the patch is base64");
    serde_json::from_slice(&bytes).expect("the patch is a JSON array")
}

#[tokio::test]
async fn admission_fixtures_agree_across_surfaces() {
    let server = TestServer::default().await;
    let names = fixture_names();
    assert!(names.len() >= 10, "too few fixtures: {names:?}");

    for name in &names {
        let review = fixture(name);
        let request = &review["request"];
        let object = &request["object"];

        let reference = kubewarden_reply(request);
        let expected = seen_from_kubewarden(&reference);

        let (status, validated) = server.post_json(routes::VALIDATE, &review).await;
        assert_eq!(status, StatusCode::OK, "{name}: {validated}");
        let validated = &validated["response"];
        assert_eq!(
            seen_from_admission_response(validated),
            expected,
            "{name}: validate"
        );
        assert!(
            validated.get("patch").is_none(),
            "{name}: validate sent a patch"
        );

        let (status, mutated) = server.post_json(routes::MUTATE, &review).await;
        assert_eq!(status, StatusCode::OK, "{name}: {mutated}");
        let mutated = &mutated["response"];
        assert_eq!(
            seen_from_admission_response(mutated),
            expected,
            "{name}: mutate"
        );
        let patch = decoded_patch(name, mutated);

        // The patch is the module's own, byte for byte, as the OPA build's
        // `bootsource/validate` entrypoint returns it.
        let verdict: Verdict = runtime()
            .call_json(
                op::ADMISSION_REVIEW,
                &AdmissionReviewRequest {
                    request: request.clone(),
                    settings: json!({}),
                },
            )
            .expect("the module runs")
            .expect("the settings are valid");
        assert_eq!(
            patch, verdict.patch,
            "{name}: patch differs from the module's"
        );

        // Applied to the object, the patch gives Kubewarden's mutated object.
        let patched = if patch.is_empty() {
            None
        } else {
            let operations: json_patch::Patch =
                serde_json::from_value(Value::Array(patch.clone())).expect("RFC 6902 patch");
            let mut patched = object.clone();
            json_patch::patch(&mut patched, &operations).expect("the patch applies");
            Some(patched)
        };
        assert_eq!(
            patched.as_ref(),
            reference.get("mutated_object"),
            "{name}: patched object differs from Kubewarden's"
        );

        let (status, kyverno) = server
            .post_json(routes::KYVERNO_VALIDATE, &json!({"request": request}))
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: {kyverno}");
        assert_eq!(seen_from_flat(&kyverno), expected, "{name}: kyverno");

        let key = json!({"request": request}).to_string();
        let provider_request = json!({
            "apiVersion": bootsource::webhook::GATEKEEPER_API_VERSION,
            "kind": "ProviderRequest",
            "request": {"keys": [key]},
        });
        let (status, provider) = server
            .post_json(routes::GATEKEEPER_PROVIDER, &provider_request)
            .await;
        assert_eq!(status, StatusCode::OK, "{name}: {provider}");
        let item = &provider["response"]["items"][0];
        assert_eq!(item["error"], "", "{name}: {provider}");
        assert_eq!(
            seen_from_flat(&item["value"]),
            expected,
            "{name}: gatekeeper"
        );

        check_cli(name, request, &expected);
    }
}

/// Runs `bootsource validate` on the fixture's object (and old object, as
/// `--old`) and checks its exit code, error and warning lines. The command
/// skips kinds it has no rules for, where the webhook rejects them.
fn check_cli(name: &str, request: &Value, expected: &Seen) {
    let dir = std::env::temp_dir().join(format!(
        "bootsource-parity-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    let object_file = dir.join("object.json");
    write_json(&object_file, &request["object"]);
    let mut command = Command::new(env!("CARGO_BIN_EXE_bootsource"));
    command.arg("validate").arg("-f").arg(&object_file);
    if request["oldObject"].is_object() {
        let old_file = dir.join("old.json");
        write_json(&old_file, &request["oldObject"]);
        command.arg("--old").arg(&old_file);
    }
    let output = command.output().expect("the binary runs");
    let _ = std::fs::remove_dir_all(&dir);
    let stdout = String::from_utf8_lossy(&output.stdout);

    let kind = request["object"]["kind"].as_str().unwrap_or_default();
    if kind != "HyperConverged" && kind != "DataImportCron" {
        assert!(stdout.contains("skipped:"), "{name}: {stdout}");
        assert_eq!(output.status.code(), Some(0), "{name}: {stdout}");
        return;
    }

    let code = if expected.allowed { 0 } else { 1 };
    assert_eq!(output.status.code(), Some(code), "{name}: {stdout}");
    let message = expected.message.trim_start_matches(": ");
    assert!(
        stdout.contains(message),
        "{name}: {message:?} not in {stdout}"
    );
    let warning_lines = stdout.lines().filter(|l| l.starts_with("warning:")).count();
    assert_eq!(warning_lines, expected.warnings.len(), "{name}: {stdout}");
    for warning in &expected.warnings {
        let warning = warning.trim_start_matches(": ");
        assert!(
            stdout.contains(warning),
            "{name}: {warning:?} not in {stdout}"
        );
    }
}

fn write_json(path: &Path, value: &Value) {
    let text = serde_json::to_string_pretty(value).expect("JSON encodes");
    std::fs::write(path, text).expect("write");
}
