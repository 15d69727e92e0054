//! The module contract: named operations, one JSON document in and one out.
//!
//! Every response is an envelope, `{"ok": ...}` or `{"error": ...}`, so that
//! a failure is a value and never a trap. The contract carries a
//! `major.minor` version; a host refuses a module whose major version
//! differs from its own, and minor versions only add operations or fields.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind};
use crate::hco_version::HcoVersion;
use crate::plan::Plan;
use crate::snapshot::Snapshot;
use crate::templates::{self, common::CommonTemplateFile, StageSettings};

/// Major version of the contract; changes break hosts.
pub const CONTRACT_MAJOR: u32 = 1;
/// Minor version of the contract; changes only add.
pub const CONTRACT_MINOR: u32 = 1;

/// Largest request accepted, in bytes (64 MiB). Bigger inputs are rejected
/// with an error value before parsing.
pub const MAX_REQUEST_BYTES: usize = 64 << 20;

/// Operation names.
pub mod op {
    /// Returns the contract version and the operations served.
    pub const CONTRACT: &str = "contract";
    /// Runs the stages on a snapshot and returns a plan.
    pub const PLAN: &str = "plan";
    /// Returns the built-in common templates.
    pub const COMMON_TEMPLATES: &str = "commonTemplates";
    /// Checks objects offline as the admission webhooks would. Named apart
    /// from Kubewarden's `validate`, which the same module serves.
    pub const VALIDATE_OBJECTS: &str = "validateObjects";
}

/// Reply of the `contract` operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ContractInfo {
    pub major: u32,
    pub minor: u32,
    pub operations: Vec<String>,
}

/// A stage of the reconcile chain.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    /// What HCO does: templates to status and SSP.
    Templates,
}

/// Request of the `plan` operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PlanRequest {
    /// HCO release to reproduce, e.g. `1.8`; defaults to the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hco_version: Option<String>,
    /// The current time, RFC 3339. The module has no clock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub now: Option<String>,
    /// Stages to run, in chain order; defaults to all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stages: Option<Vec<Stage>>,
    /// Common-template files in place of the built-in set.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_templates: Option<Vec<CommonTemplateFile>>,
    /// Apply HCO's mutating-webhook defaults to the HyperConverged spec
    /// first; defaults to true.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub admission_defaults: Option<bool>,
    /// Golden-image namespace for templates without one; defaults to
    /// `kubevirt-os-images`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_images_namespace: Option<String>,
    /// The cluster objects: a HyperConverged, and for later stages the
    /// SSP CR, DataImportCrons, DataSources, DataVolumes, PVCs and so on.
    #[serde(default)]
    pub objects: Vec<Value>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
enum Envelope<T> {
    Ok(T),
    Error(Error),
}

/// Runs operation `operation` on the JSON `payload` and returns the JSON
/// envelope. Never panics on any input.
pub fn dispatch(operation: &str, payload: &[u8]) -> Vec<u8> {
    let result = match operation {
        op::CONTRACT => to_value(&contract_info()),
        op::PLAN => parse(payload)
            .and_then(|request| plan(&request))
            .and_then(|p| to_value(&p)),
        op::COMMON_TEMPLATES => Ok(templates::common::built_in().templates),
        op::VALIDATE_OBJECTS => parse(payload)
            .and_then(|request| crate::admission::validate_objects(&request))
            .and_then(|response| to_value(&response)),
        other => Err(Error {
            kind: ErrorKind::UnknownOperation,
            ..Error::invalid(format!(
                "unknown operation {other:?}; this module serves {}",
                operations().join(", ")
            ))
        }),
    };
    let envelope = match result {
        Ok(value) => Envelope::Ok(value),
        Err(error) => Envelope::Error(error),
    };
    serde_json::to_vec(&envelope).unwrap_or_else(|_| {
        br#"{"error":{"kind":"invalidInput","message":"response could not be encoded"}}"#.to_vec()
    })
}

fn operations() -> Vec<String> {
    [
        op::CONTRACT,
        op::PLAN,
        op::COMMON_TEMPLATES,
        op::VALIDATE_OBJECTS,
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

/// Returns this module's contract version.
pub fn contract_info() -> ContractInfo {
    ContractInfo {
        major: CONTRACT_MAJOR,
        minor: CONTRACT_MINOR,
        operations: operations(),
    }
}

fn to_value<T: Serialize>(value: &T) -> Result<Value, Error> {
    serde_json::to_value(value)
        .map_err(|e| Error::invalid(format!("response could not be encoded: {e}")))
}

/// Parses a request document, with the size limit and a message that names
/// the line and column of a syntax error.
pub fn parse<T: serde::de::DeserializeOwned>(payload: &[u8]) -> Result<T, Error> {
    if payload.len() > MAX_REQUEST_BYTES {
        return Err(Error::invalid(format!(
            "request is {} bytes, more than the maximum of {MAX_REQUEST_BYTES} bytes",
            payload.len()
        )));
    }
    let value: Value = serde_json::from_slice(payload)
        .map_err(|e| Error::invalid(format!("request is not valid JSON: {e}")))?;
    crate::error::from_value(&value)
}

/// Runs the requested stages on the request's objects.
pub fn plan(request: &PlanRequest) -> Result<Plan, Error> {
    let version = match &request.hco_version {
        Some(text) => HcoVersion::parse(text)?,
        None => HcoVersion::CURRENT,
    };
    if let Some(now) = &request.now {
        chrono::DateTime::parse_from_rfc3339(now).map_err(|e| {
            Error::invalid(format!("invalid time {now:?}: {e}"))
                .at("now")
                .hint("write an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
        })?;
    }
    let snapshot = Snapshot::from_objects(&request.objects)?;
    let files = match &request.common_templates {
        Some(files) => files.clone(),
        None => vec![templates::common::built_in()],
    };
    let commons = templates::common::load(&files, version)?;
    let settings = StageSettings {
        version,
        now: request.now.as_deref(),
        admission_defaults: request.admission_defaults.unwrap_or(true),
        os_images_namespace: request
            .os_images_namespace
            .as_deref()
            .unwrap_or(templates::DEFAULT_OS_IMAGES_NAMESPACE),
    };
    let stages = request
        .stages
        .clone()
        .unwrap_or_else(|| vec![Stage::Templates]);

    let mut plan = Plan {
        hco_version: version.to_string(),
        ..Plan::default()
    };
    if stages.contains(&Stage::Templates) {
        let output = templates::run(&snapshot, &commons, &settings)?;
        plan.status = Some(output.status);
        plan.boot_sources = output.boot_sources;
        plan.actions.extend(output.actions);
        plan.warnings.extend(output.warnings);
    }
    Ok(plan)
}
