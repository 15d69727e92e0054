//! Kubewarden policy surface: the `validate`, `validate_settings` and
//! `protocol_version` operations of a waPC policy, and the policy metadata
//! in the `io.kubewarden.metadata` custom section.
//!
//! The functions here take and return the raw JSON documents of the
//! Kubewarden protocol (not the contract's envelopes), because
//! policy-server reads them directly. Every failure becomes a rejection
//! or an invalid-settings reply with a message; none traps.

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::admission::{self, ReviewSettings, CODE_BAD_REQUEST};
use crate::contract::MAX_REQUEST_BYTES;
use crate::error::{from_value, Error};
use crate::hco_version::HcoVersion;

/// Operation names Kubewarden calls.
pub mod op {
    pub const VALIDATE: &str = "validate";
    pub const VALIDATE_SETTINGS: &str = "validate_settings";
    pub const PROTOCOL_VERSION: &str = "protocol_version";
}

/// Kubewarden policy protocol version this module implements.
pub const PROTOCOL_VERSION: &str = "v1";

/// The policy metadata, as kwctl and policy-server read it from the
/// `io.kubewarden.metadata` custom section.
pub const METADATA_JSON: &[u8] = include_bytes!("../../assets/kubewarden-metadata.json");

#[cfg(target_arch = "wasm32")]
#[link_section = "io.kubewarden.metadata"]
#[used]
static METADATA_SECTION: [u8; METADATA_JSON.len()] = {
    let mut bytes = [0u8; METADATA_JSON.len()];
    let mut i = 0;
    while i < METADATA_JSON.len() {
        bytes[i] = METADATA_JSON[i];
        i += 1;
    }
    bytes
};

/// Policy settings, set in the `settings` of a ClusterAdmissionPolicy.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Settings {
    /// HCO release whose webhook rules apply, e.g. `1.14`; defaults to the
    /// current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hco_version: Option<String>,
    /// Golden-image namespace of templates that set none; defaults to
    /// `kubevirt-os-images`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_images_namespace: Option<String>,
}

impl Settings {
    /// Reads settings; `null` counts as no settings. Unknown keys are
    /// rejected, so that a misspelt setting does not pass unnoticed.
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        if value.is_null() {
            return Ok(Settings::default());
        }
        from_value(value).map_err(|error| {
            if error.message.starts_with("unknown field") {
                error.hint("the settings are hcoVersion and osImagesNamespace")
            } else {
                error
            }
        })
    }

    /// Checks the values and turns them into review settings.
    pub fn review_settings(&self) -> Result<ReviewSettings, Error> {
        let mut settings = ReviewSettings::default();
        if let Some(text) = &self.hco_version {
            settings.version = HcoVersion::parse(text)?;
        }
        if let Some(namespace) = &self.os_images_namespace {
            if namespace.is_empty() {
                return Err(Error::invalid("osImagesNamespace is empty")
                    .at("osImagesNamespace")
                    .hint("remove the setting or name a namespace"));
            }
            settings.os_images_namespace = namespace.clone();
        }
        Ok(settings)
    }
}

/// Kubewarden `ValidationRequest`.
#[derive(Debug, Clone, Deserialize)]
struct ValidationRequest {
    request: Value,
    #[serde(default)]
    settings: Value,
}

/// Kubewarden `ValidationResponse`; the keys are snake case on the wire.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
struct ValidationResponse {
    accepted: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    code: Option<u16>,
    #[serde(skip_serializing_if = "Option::is_none")]
    mutated_object: Option<Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    warnings: Option<Vec<String>>,
}

impl ValidationResponse {
    fn reject(message: String) -> Self {
        ValidationResponse {
            accepted: false,
            message: Some(message),
            code: Some(CODE_BAD_REQUEST),
            ..ValidationResponse::default()
        }
    }
}

/// Returns the protocol version as a JSON string.
pub fn protocol_version(_payload: &[u8]) -> Vec<u8> {
    format!("{PROTOCOL_VERSION:?}").into_bytes()
}

/// Checks policy settings: `{"valid": true}`, or `{"valid": false,
/// "message": ...}` naming the setting that failed.
pub fn validate_settings(payload: &[u8]) -> Vec<u8> {
    let result = parse_json(payload)
        .and_then(|value| Settings::from_value(&value))
        .and_then(|settings| settings.review_settings());
    let reply = match result {
        Ok(_) => json!({"valid": true}),
        Err(error) => json!({"valid": false, "message": format!("invalid settings: {error}")}),
    };
    encode(&reply)
}

/// Reviews a Kubewarden `ValidationRequest` and returns the
/// `ValidationResponse`. A request that cannot be read, or whose settings
/// are invalid, is rejected with code 400 and a message.
pub fn validate(payload: &[u8]) -> Vec<u8> {
    encode(&validation_response(payload))
}

fn validation_response(payload: &[u8]) -> ValidationResponse {
    let request: ValidationRequest = match parse_json(payload).and_then(|v| from_value(&v)) {
        Ok(request) => request,
        Err(error) => {
            return ValidationResponse::reject(format!("invalid ValidationRequest: {error}"))
        }
    };
    let settings = match Settings::from_value(&request.settings)
        .and_then(|settings| settings.review_settings())
    {
        Ok(settings) => settings,
        Err(error) => return ValidationResponse::reject(format!("invalid settings: {error}")),
    };
    let verdict = admission::review(&request.request, &settings);
    let warnings = (!verdict.warnings.is_empty()).then(|| verdict.warnings.clone());
    if !verdict.allowed {
        return ValidationResponse {
            accepted: false,
            message: verdict.message,
            code: verdict.code,
            mutated_object: None,
            warnings,
        };
    }
    let object = request.request.get("object").unwrap_or(&Value::Null);
    match verdict.mutated_object(object) {
        Ok(mutated_object) => ValidationResponse {
            accepted: true,
            message: None,
            code: None,
            mutated_object,
            warnings,
        },
        Err(message) => ValidationResponse::reject(format!(
            "the defaults could not be applied to the object: {message}"
        )),
    }
}

/// Parses a JSON payload, with the contract's size limit. Invalid UTF-8 is
/// reported as invalid JSON.
fn parse_json(payload: &[u8]) -> Result<Value, Error> {
    if payload.len() > MAX_REQUEST_BYTES {
        return Err(Error::invalid(format!(
            "request is {} bytes, more than the maximum of {MAX_REQUEST_BYTES} bytes",
            payload.len()
        )));
    }
    serde_json::from_slice(payload)
        .map_err(|e| Error::invalid(format!("request is not valid JSON: {e}")))
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|_| {
        br#"{"accepted":false,"message":"response could not be encoded","code":500}"#.to_vec()
    })
}
