//! Runs admission reviews through the module's Kubewarden `validate`
//! operation and turns the result into a verdict with an RFC 6902 patch.

use std::sync::Arc;

use serde::Deserialize;
use serde_json::{json, Value};

use crate::runtime::{Runtime, RuntimeError};

/// Module operation that reviews one AdmissionRequest.
const VALIDATE: &str = "validate";

/// The outcome of one review, as every endpoint reports it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Review {
    pub allowed: bool,
    /// Why the request was rejected.
    pub message: Option<String>,
    /// HTTP status code of a rejection, set for requests that could not be
    /// read.
    pub code: Option<u16>,
    pub warnings: Vec<String>,
    /// RFC 6902 operations that turn the object into the defaulted one;
    /// empty when nothing changes or the request was rejected.
    pub patch: Vec<Value>,
}

/// Kubewarden `ValidationResponse` as the module returns it.
#[derive(Debug, Deserialize)]
struct ValidationResponse {
    accepted: bool,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    code: Option<u16>,
    #[serde(default)]
    mutated_object: Option<Value>,
    #[serde(default)]
    warnings: Option<Vec<String>>,
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
    /// (`hcoVersion`, `osImagesNamespace`), `null` for the defaults.
    pub fn new(runtime: Arc<Runtime>, settings: Value) -> Self {
        Reviewer { runtime, settings }
    }

    /// Checks the settings with the module's `validate_settings`, so that a
    /// bad setting fails at start-up rather than on every request.
    pub fn check_settings(&self) -> Result<(), String> {
        let payload = serde_json::to_vec(&self.settings).map_err(|e| e.to_string())?;
        let bytes = self
            .runtime
            .call("validate_settings", &payload)
            .map_err(|e| e.to_string())?;
        let reply: Value = serde_json::from_slice(&bytes).map_err(|e| e.to_string())?;
        if reply.get("valid").and_then(Value::as_bool) == Some(true) {
            return Ok(());
        }
        Err(reply
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("the module rejected the settings")
            .to_string())
    }

    /// Reviews one AdmissionRequest. Blocks while the module runs, so call
    /// it from a blocking task. The error is a failure of the module, not a
    /// rejection.
    pub fn review(&self, request: &Value) -> Result<Review, RuntimeError> {
        let payload = json!({"request": request, "settings": self.settings});
        let payload = serde_json::to_vec(&payload).map_err(|e| RuntimeError::Response {
            operation: VALIDATE.into(),
            message: format!("request could not be encoded: {e}"),
        })?;
        let bytes = self.runtime.call(VALIDATE, &payload)?;
        let response: ValidationResponse =
            serde_json::from_slice(&bytes).map_err(|e| RuntimeError::Response {
                operation: VALIDATE.into(),
                message: e.to_string(),
            })?;

        // The module returns the defaulted object; the API server wants the
        // operations that produce it.
        let patch = match (&response.mutated_object, request.get("object")) {
            (Some(mutated), Some(object)) if response.accepted => {
                let operations = json_patch::diff(object, mutated);
                match serde_json::to_value(&operations) {
                    Ok(Value::Array(operations)) => operations,
                    _ => {
                        return Err(RuntimeError::Response {
                            operation: VALIDATE.into(),
                            message: "the patch could not be encoded".into(),
                        })
                    }
                }
            }
            _ => Vec::new(),
        };
        Ok(Review {
            allowed: response.accepted,
            message: response.message,
            code: response.code,
            warnings: response.warnings.unwrap_or_default(),
            patch,
        })
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
