//! `POST /validate` and `POST /mutate`: Kubernetes AdmissionReview v1 in
//! and out.

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hyper::StatusCode;
use serde_json::{json, Map, Value};

use super::outcome::{request_kind, Outcome, VerdictLabel};
use super::review::{type_name, Reviewer};

/// AdmissionReview `apiVersion` of the response when the request names none.
const ADMISSION_V1: &str = "admission.k8s.io/v1";

/// Webhook the API server called.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Webhook {
    /// The validating webhook: allowed or not, never a patch.
    Validating,
    /// The mutating webhook: also returns the defaults as a JSON patch.
    Mutating,
}

/// Reviews an AdmissionReview. A review without `request.uid` gets 400; a
/// request the module cannot read gets `allowed: false` and
/// its message, because the API server shows that message to the user.
pub fn handle(reviewer: &Reviewer, body: &Value, webhook: Webhook) -> Outcome {
    let (api_version, request, uid) = match read_review(body) {
        Ok(parts) => parts,
        Err(message) => return Outcome::error(StatusCode::BAD_REQUEST, message),
    };
    let kind = request_kind(request);

    let review = match reviewer.review(request) {
        Ok(review) => review,
        Err(error) => {
            tracing::error!(uid = %uid, error = %error, "the module failed to review the request");
            return Outcome::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the review failed: {error}"),
            )
            .with_uid(Some(uid))
            .with_kind(kind);
        }
    };

    let mut response = Map::new();
    response.insert("uid".into(), json!(uid));
    response.insert("allowed".into(), json!(review.allowed));
    if let Some(message) = &review.message {
        let mut status = Map::new();
        status.insert("message".into(), json!(message));
        if let Some(code) = review.code {
            status.insert("code".into(), json!(code));
        }
        response.insert("status".into(), Value::Object(status));
    }
    if !review.warnings.is_empty() {
        response.insert("warnings".into(), json!(review.warnings));
    }
    if webhook == Webhook::Mutating && !review.patch.is_empty() {
        match serde_json::to_vec(&review.patch) {
            Ok(patch) => {
                response.insert("patchType".into(), json!("JSONPatch"));
                response.insert("patch".into(), json!(BASE64.encode(patch)));
            }
            Err(error) => {
                return Outcome::error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    format!("the patch could not be encoded: {error}"),
                )
            }
        }
    }

    let body = json!({
        "apiVersion": api_version,
        "kind": "AdmissionReview",
        "response": Value::Object(response),
    });
    Outcome::ok(body, VerdictLabel::of(&review))
        .with_uid(Some(uid))
        .with_kind(kind)
}

/// Splits an AdmissionReview into its `apiVersion`, `request` and
/// `request.uid`.
fn read_review(body: &Value) -> Result<(String, &Value, String), String> {
    let Some(review) = body.as_object() else {
        return Err(format!(
            "expected an AdmissionReview object, found {}",
            type_name(body)
        ));
    };
    if let Some(kind) = review.get("kind").and_then(Value::as_str) {
        if kind != "AdmissionReview" {
            return Err(format!("expected kind AdmissionReview, found {kind:?}"));
        }
    }
    let api_version = review
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or(ADMISSION_V1)
        .to_string();
    let Some(request) = review.get("request").filter(|r| r.is_object()) else {
        return Err("the AdmissionReview has no request object".into());
    };
    let Some(uid) = request.get("uid").and_then(Value::as_str) else {
        return Err("the AdmissionReview request has no uid; the response must echo it".into());
    };
    Ok((api_version, request, uid.to_string()))
}
