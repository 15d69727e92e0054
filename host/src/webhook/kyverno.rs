//! `POST /kyverno/validate`: the service a Kyverno `apiCall` context entry
//! calls. The body is a Kubernetes object or `{"request":
//! AdmissionRequest}`; the reply is `{allowed, message, warnings}`, which
//! a rule's deny condition reads.

use hyper::StatusCode;
use serde_json::{json, Value};

use super::outcome::{request_kind, Outcome, VerdictLabel};
use super::review::{admission_request, Reviewer};

/// Reviews the body and returns the verdict. A body that is not a JSON
/// object gets 400; a failure of the module gets 500.
pub fn handle(reviewer: &Reviewer, body: &Value) -> Outcome {
    let request = match admission_request(body) {
        Ok(request) => request,
        Err(message) => return Outcome::error(StatusCode::BAD_REQUEST, message),
    };
    let kind = request_kind(&request);
    let uid = request
        .get("uid")
        .and_then(Value::as_str)
        .map(str::to_string);

    match reviewer.review(&request) {
        Ok(review) => {
            let verdict = VerdictLabel::of(&review);
            let body = json!({
                "allowed": review.allowed,
                "message": review.message.unwrap_or_default(),
                "warnings": review.warnings,
            });
            Outcome::ok(body, verdict).with_uid(uid).with_kind(kind)
        }
        Err(error) => {
            tracing::error!(error = %error, "the module failed to review the request");
            Outcome::error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("the review failed: {error}"),
            )
            .with_uid(uid)
            .with_kind(kind)
        }
    }
}
