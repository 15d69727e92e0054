//! Admission review: the one entry point every admission surface calls.
//!
//! An AdmissionRequest (kind, operation, object, oldObject) goes in; a
//! [`Verdict`] comes out: allowed or not, the message, warnings and the
//! RFC 6902 patch of the mutating webhook. HyperConverged gets HCO's rules,
//! DataImportCron gets CDI's; any other kind, and any request that cannot
//! be read, is rejected with a message, never accepted by default.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{from_value, Error};
use crate::hco_version::HcoVersion;
use crate::model::cdi::DataImportCron;
use crate::model::hyperconverged::{self, HyperConverged};
use crate::model::meta::ObjectRef;
use crate::mutation;
use crate::templates::DEFAULT_OS_IMAGES_NAMESPACE;
use crate::validation::{dataimportcron, hyperconverged as hco_rules, Finding, Severity};

/// HTTP status code of a rejected request that could not be read.
pub const CODE_BAD_REQUEST: u16 = 400;

/// API group of DataImportCron.
const CDI_GROUP: &str = "cdi.kubevirt.io";
const DATA_IMPORT_CRON: &str = "DataImportCron";

/// Settings that apply to every review.
#[derive(Debug, Clone, PartialEq)]
pub struct ReviewSettings {
    /// HCO release whose webhook rules apply to HyperConverged objects.
    pub version: HcoVersion,
    /// Golden-image namespace of templates that set none.
    pub os_images_namespace: String,
}

impl Default for ReviewSettings {
    fn default() -> Self {
        ReviewSettings {
            version: HcoVersion::CURRENT,
            os_images_namespace: DEFAULT_OS_IMAGES_NAMESPACE.into(),
        }
    }
}

/// `group`, `version` and `kind` of an AdmissionRequest.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

/// The AdmissionRequest fields a review reads; the others are ignored.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionRequest {
    #[serde(default)]
    pub kind: Option<GroupVersionKind>,
    /// `CREATE`, `UPDATE`, `DELETE` or `CONNECT`.
    pub operation: String,
    #[serde(default)]
    pub object: Option<Value>,
    #[serde(default)]
    pub old_object: Option<Value>,
}

/// The outcome of a review.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Verdict {
    pub allowed: bool,
    /// Why the request was rejected: the first error, as `field: message`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// HTTP status code for a rejection, set for requests that could not
    /// be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<u16>,
    /// Warnings for the user, as `field: message`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// RFC 6902 patch the mutating webhook applies; empty when rejected.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<Value>,
    /// Every finding, errors first-failure-first, with its field path.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
}

impl Verdict {
    /// A rejection of a request that could not be reviewed.
    pub fn bad_request(message: impl Into<String>) -> Self {
        Verdict {
            allowed: false,
            message: Some(message.into()),
            code: Some(CODE_BAD_REQUEST),
            ..Verdict::default()
        }
    }

    /// A verdict from findings: rejected when any is an error, with the
    /// first error as the message.
    fn from_findings(findings: Vec<Finding>, patch: Vec<Value>) -> Self {
        let first_error = findings.iter().find(|f| f.severity == Severity::Error);
        let message = first_error.map(|f| format!("{}: {}", f.field, f.message));
        let allowed = message.is_none();
        let warnings = findings
            .iter()
            .filter(|f| f.severity == Severity::Warning)
            .map(|f| format!("{}: {}", f.field, f.message))
            .collect();
        Verdict {
            allowed,
            message,
            code: None,
            warnings,
            patch: if allowed { patch } else { Vec::new() },
            findings,
        }
    }

    /// Returns `object` with the patch applied, or `None` when the patch is
    /// empty.
    pub fn mutated_object(&self, object: &Value) -> Result<Option<Value>, String> {
        if self.patch.is_empty() {
            return Ok(None);
        }
        let mut mutated = object.clone();
        mutation::apply_patch(&mut mutated, &self.patch)?;
        Ok(Some(mutated))
    }
}

/// The kinds a review has rules for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    HyperConverged,
    DataImportCron,
}

/// Reviews an AdmissionRequest given as JSON. Never panics: a request that
/// cannot be read is rejected with code 400 and a message.
pub fn review(request: &Value, settings: &ReviewSettings) -> Verdict {
    match from_value::<AdmissionRequest>(request) {
        Ok(request) => review_request(&request, settings),
        Err(error) => Verdict::bad_request(format!("invalid AdmissionRequest: {error}")),
    }
}

/// Reviews a parsed AdmissionRequest.
pub fn review_request(request: &AdmissionRequest, settings: &ReviewSettings) -> Verdict {
    match request.operation.as_str() {
        "CREATE" | "UPDATE" => {}
        // Deleting or connecting to an object is never restricted here.
        "DELETE" | "CONNECT" => {
            return Verdict {
                allowed: true,
                ..Verdict::default()
            }
        }
        other => {
            return Verdict::bad_request(format!(
                "invalid operation {other:?}; expected CREATE, UPDATE, DELETE or CONNECT"
            ))
        }
    }
    let Some(object) = &request.object else {
        return Verdict::bad_request(format!("the {} request has no object", request.operation));
    };
    let old = match (request.operation.as_str(), &request.old_object) {
        ("UPDATE", None) => {
            return Verdict::bad_request("the UPDATE request has no oldObject");
        }
        ("UPDATE", Some(old)) => Some(old),
        _ => None,
    };
    let kind = match kind_of(request.kind.as_ref(), object) {
        Ok(kind) => kind,
        Err(message) => return Verdict::bad_request(message),
    };
    let result = match kind {
        Kind::HyperConverged => review_hyperconverged(object, old, settings),
        Kind::DataImportCron => review_data_import_cron(object, old),
    };
    result.unwrap_or_else(|error| {
        let mut verdict = Verdict::bad_request(error.to_string());
        verdict.findings = vec![Finding::error(
            error.field.clone().unwrap_or_default(),
            error.message.clone(),
        )];
        verdict
    })
}

/// Identifies the kind from the request's `kind`, or from the object's
/// `apiVersion` and `kind` when the request has none.
fn kind_of(request_kind: Option<&GroupVersionKind>, object: &Value) -> Result<Kind, String> {
    let (group, kind) = match request_kind {
        Some(gvk) => (gvk.group.clone(), gvk.kind.clone()),
        None => {
            let api_version = object
                .get("apiVersion")
                .and_then(Value::as_str)
                .unwrap_or("");
            let group = api_version
                .rsplit_once('/')
                .map_or("", |(group, _)| group)
                .to_string();
            let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
            (group, kind.to_string())
        }
    };
    match (group.as_str(), kind.as_str()) {
        (hyperconverged::GROUP, hyperconverged::KIND) => Ok(Kind::HyperConverged),
        (CDI_GROUP, DATA_IMPORT_CRON) => Ok(Kind::DataImportCron),
        _ => Err(format!(
            "unexpected kind {kind:?} in group {group:?}: bootsource reviews HyperConverged \
             ({}) and DataImportCron ({CDI_GROUP}); narrow the policy's rules to those",
            hyperconverged::GROUP
        )),
    }
}

fn review_hyperconverged(
    object: &Value,
    old: Option<&Value>,
    settings: &ReviewSettings,
) -> Result<Verdict, Error> {
    let hc = HyperConverged::from_value(object)?;
    let old_hc = old
        .map(HyperConverged::from_value)
        .transpose()
        .map_err(|e| e.within("oldObject"))?;
    let version = settings.version;

    let mut findings = hco_rules::check_templates(&hc, version);
    let gates = hco_rules::check_feature_gates(&hc, old_hc.as_ref(), version);
    findings.extend(gates.findings);
    findings.extend(hco_rules::check_template_warnings(
        &hc,
        &settings.os_images_namespace,
    ));
    findings.extend(hco_rules::check_unknown_fields(object, hc.form));

    let mut patch = mutation::template_defaults(&hc, version);
    if let Some(enabled) = gates.copy_multi_arch_to_field {
        patch.push(mutation::multi_arch_field_patch(hc.form, object, enabled));
    }
    Ok(Verdict::from_findings(sort_errors_first(findings), patch))
}

fn review_data_import_cron(object: &Value, old: Option<&Value>) -> Result<Verdict, Error> {
    let cron: DataImportCron = from_value(object)?;
    let mut findings = Vec::new();
    findings.extend(dataimportcron::check_name(
        cron.metadata.name(),
        "metadata.name",
    ));
    match old {
        None => findings.extend(dataimportcron::check_spec(&cron.spec, "spec")),
        Some(old) => {
            let null = Value::Null;
            let new_spec = object.get("spec").unwrap_or(&null);
            let old_spec = old.get("spec").unwrap_or(&null);
            findings.extend(dataimportcron::check_spec_unchanged(
                new_spec, old_spec, "spec",
            ));
        }
    }
    findings.extend(dataimportcron::check_pruned_fields(
        &cron.spec.template.spec,
        "spec.template.spec",
    ));
    Ok(Verdict::from_findings(findings, Vec::new()))
}

/// Moves errors before warnings and keeps the order within each group, so
/// that the first error is the first failing check.
fn sort_errors_first(mut findings: Vec<Finding>) -> Vec<Finding> {
    findings.sort_by_key(|f| f.severity != Severity::Error);
    findings
}

/// Request of the offline `validateObjects` operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ValidateRequest {
    /// HCO release whose rules apply; defaults to the current one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hco_version: Option<String>,
    /// Objects to check, as they would be created or updated.
    #[serde(default)]
    pub objects: Vec<Value>,
    /// Previous versions: an object with the same kind, namespace and name
    /// here is checked as an update of it.
    #[serde(default)]
    pub old_objects: Vec<Value>,
}

/// Findings about one object of a [`ValidateRequest`].
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectFindings {
    /// Position of the object in the request's `objects`.
    pub object_index: usize,
    pub object: ObjectRef,
    /// `CREATE`, or `UPDATE` when an old version was given.
    pub operation: String,
    /// False for kinds without admission rules, which are skipped.
    pub checked: bool,
    pub allowed: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub findings: Vec<Finding>,
    /// The mutating webhook's RFC 6902 patch.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub patch: Vec<Value>,
}

/// Reply of the `validateObjects` operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ValidateResponse {
    pub results: Vec<ObjectFindings>,
}

/// Checks each object offline as the admission webhooks would, as an
/// update when `old_objects` holds a previous version of it.
pub fn validate_objects(request: &ValidateRequest) -> Result<ValidateResponse, Error> {
    let version = match &request.hco_version {
        Some(text) => HcoVersion::parse(text)?,
        None => HcoVersion::CURRENT,
    };
    let settings = ReviewSettings {
        version,
        ..ReviewSettings::default()
    };
    let mut results = Vec::new();
    for (index, object) in request.objects.iter().enumerate() {
        let reference = object_ref(object);
        let kind = kind_of(None, object);
        let old = request
            .old_objects
            .iter()
            .find(|old| object_ref(old) == reference);
        let operation = if old.is_some() { "UPDATE" } else { "CREATE" };
        if kind.is_err() {
            results.push(ObjectFindings {
                object_index: index,
                object: reference,
                operation: operation.into(),
                checked: false,
                allowed: true,
                findings: Vec::new(),
                patch: Vec::new(),
            });
            continue;
        }
        let admission = AdmissionRequest {
            kind: None,
            operation: operation.into(),
            object: Some(object.clone()),
            old_object: old.cloned(),
        };
        let verdict = review_request(&admission, &settings);
        let mut findings = verdict.findings;
        if findings.is_empty() && !verdict.allowed {
            findings.push(Finding::error("", verdict.message.unwrap_or_default()));
        }
        results.push(ObjectFindings {
            object_index: index,
            object: reference,
            operation: operation.into(),
            checked: true,
            allowed: verdict.allowed,
            findings,
            patch: verdict.patch,
        });
    }
    Ok(ValidateResponse { results })
}

fn object_ref(object: &Value) -> ObjectRef {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    ObjectRef::new(
        text("/apiVersion"),
        text("/kind"),
        text("/metadata/namespace"),
        text("/metadata/name"),
    )
}
