//! Runs admission reviews through the module's `admissionReview`
//! operation, the same review the Kubewarden and OPA surfaces serve.

use std::sync::Arc;

use bootsource_guest::admission::Verdict;
use bootsource_guest::contract::{op, AdmissionReviewRequest};
use serde_json::{json, Value};

use crate::runtime::{Runtime, RuntimeError};

/// Error that stopped a review. A rejection is not an error: it is a
/// [`Verdict`] with `allowed: false`.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The module failed: a trap, a limit, or a reply it could not decode.
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    /// The module returned an error value, for example for invalid
    /// settings.
    #[error("the module rejected the review request: {0}")]
    Guest(bootsource_guest::Error),
}

/// Reviews AdmissionRequests with the module. Cheap to clone; every clone
/// shares the compiled module.
#[derive(Clone)]
pub struct Reviewer {
    runtime: Arc<Runtime>,
    /// Kubewarden policy settings passed on every call.
    settings: Value,
}

impl Reviewer {
    /// Creates a reviewer; `settings` are the Kubewarden policy settings
    /// (`hcoVersion`, `osImagesNamespace`), `null` or `{}` for the defaults.
    pub fn new(runtime: Arc<Runtime>, settings: Value) -> Self {
        Reviewer { runtime, settings }
    }

    /// Checks that the module serves `admissionReview` and accepts the
    /// settings, so that a bad module or setting fails at start-up rather
    /// than on every request. The error is a message for the operator.
    pub fn check(&self) -> Result<(), String> {
        let contract = self.runtime.contract();
        if !contract
            .operations
            .iter()
            .any(|o| o == op::ADMISSION_REVIEW)
        {
            return Err(format!(
                "the module (contract {}.{}) does not serve the {:?} operation; \
                 use a module built from this bootsource release or drop --module",
                contract.major,
                contract.minor,
                op::ADMISSION_REVIEW
            ));
        }
        let request = AdmissionReviewRequest {
            request: json!({"operation": "DELETE"}),
            settings: self.settings.clone(),
        };
        match self
            .runtime
            .call_json::<_, Verdict>(op::ADMISSION_REVIEW, &request)
        {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(error)) => Err(format!("invalid settings: {error}")),
            Err(error) => Err(error.to_string()),
        }
    }

    /// Reviews one AdmissionRequest. Blocks while the module runs, so call
    /// it from a blocking task. A request the module cannot read is a
    /// rejection with code 400, not an error.
    pub fn review(&self, request: &Value) -> Result<Verdict, ReviewError> {
        let request = AdmissionReviewRequest {
            request: request.clone(),
            settings: self.settings.clone(),
        };
        self.runtime
            .call_json(op::ADMISSION_REVIEW, &request)?
            .map_err(ReviewError::Guest)
    }
}

/// Reads the subject of a Kyverno or Gatekeeper call: either
/// `{"request": AdmissionRequest}` or a bare object, which is reviewed as
/// if it were being created.
pub fn admission_request(subject: &Value) -> Result<Value, String> {
    let Some(map) = subject.as_object() else {
        return Err(format!(
            "expected a JSON object (a Kubernetes object or {{\"request\": AdmissionRequest}}), found {}",
            type_name(subject)
        ));
    };
    if let Some(request) = map.get("request") {
        if !request.is_object() {
            return Err(format!(
                "request must be an AdmissionRequest object, found {}",
                type_name(request)
            ));
        }
        return Ok(request.clone());
    }
    Ok(json!({"operation": "CREATE", "object": subject}))
}

/// Names a JSON value's type for messages.
pub fn type_name(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
