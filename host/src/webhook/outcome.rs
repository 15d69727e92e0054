//! The result of one endpoint call: the HTTP reply and the fields logged
//! for it.

use hyper::StatusCode;
use serde_json::{json, Value};

use bootsource_guest::admission::Verdict;

/// Result of a request, for the request log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VerdictLabel {
    Allowed,
    Denied,
    /// Some items of a provider call were allowed, some denied.
    Mixed,
    /// The request could not be served: malformed input, a limit, or a
    /// failure of the module.
    Error,
    /// The endpoint gives no verdict (`/healthz`).
    None,
}

impl VerdictLabel {
    pub fn as_str(self) -> &'static str {
        match self {
            VerdictLabel::Allowed => "allowed",
            VerdictLabel::Denied => "denied",
            VerdictLabel::Mixed => "mixed",
            VerdictLabel::Error => "error",
            VerdictLabel::None => "none",
        }
    }

    pub fn of(review: &Verdict) -> Self {
        if review.allowed {
            VerdictLabel::Allowed
        } else {
            VerdictLabel::Denied
        }
    }
}

/// An HTTP reply with a JSON body, and what the request log records.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: StatusCode,
    pub body: Value,
    /// AdmissionRequest uid, when the request carried one.
    pub uid: Option<String>,
    /// Kind of the reviewed object(s).
    pub kind: Option<String>,
    pub verdict: VerdictLabel,
}

impl Outcome {
    /// Builds a successful reply.
    pub fn ok(body: Value, verdict: VerdictLabel) -> Self {
        Outcome {
            status: StatusCode::OK,
            body,
            uid: None,
            kind: None,
            verdict,
        }
    }

    /// Builds an error reply: `{"error": message}` with `status`.
    pub fn error(status: StatusCode, message: impl Into<String>) -> Self {
        Outcome {
            status,
            body: json!({"error": message.into()}),
            uid: None,
            kind: None,
            verdict: VerdictLabel::Error,
        }
    }

    pub fn with_uid(mut self, uid: Option<String>) -> Self {
        self.uid = uid;
        self
    }

    pub fn with_kind(mut self, kind: Option<String>) -> Self {
        self.kind = kind;
        self
    }
}

/// Kind of the object an AdmissionRequest is about: the request's
/// `kind.kind`, else the object's `kind`.
pub fn request_kind(request: &Value) -> Option<String> {
    request
        .pointer("/kind/kind")
        .or_else(|| request.pointer("/object/kind"))
        .and_then(Value::as_str)
        .map(str::to_string)
}
