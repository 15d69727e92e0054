//! The module contract: named operations, one JSON document in and one out.
//!
//! Every response is an envelope, `{"ok": ...}` or `{"error": ...}`, so that
//! a failure is a value and never a trap. The contract carries a
//! `major.minor` version; a host refuses a module whose major version
//! differs from its own, and minor versions only add operations or fields.

use std::collections::BTreeSet;

use chrono::Datelike;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::admission::{self, Verdict};
use crate::crons::{self, source::SspInput, CronsInput};
use crate::error::{Error, ErrorKind};
use crate::hco_version::HcoVersion;
use crate::imports::{
    self,
    authorization::{Authorizations, CloneAuthorization},
};
use crate::model::cdi::NamespacedName;
use crate::plan::{ActionKind, Plan, Warning};
use crate::snapshot::Snapshot;
use crate::surface::kubewarden::Settings;
use crate::templates::{self, common::CommonTemplateFile, StageSettings};

/// Major version of the contract; changes break hosts.
pub const CONTRACT_MAJOR: u32 = 1;
/// Minor version of the contract; changes only add.
pub const CONTRACT_MINOR: u32 = 6;

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
    /// Returns the next fire times of a cron schedule.
    pub const SCHEDULE: &str = "schedule";
    /// Checks objects offline as the admission webhooks would. Named apart
    /// from Kubewarden's `validate`, which the same module serves.
    pub const VALIDATE_OBJECTS: &str = "validateObjects";
    /// Runs the reconcile chain over simulated time, or one window of it.
    pub const SIMULATE: &str = "simulate";
    /// Reviews one AdmissionRequest and returns the full verdict, with the
    /// RFC 6902 patch and every finding. The webhook server serves this.
    pub const ADMISSION_REVIEW: &str = "admissionReview";
}

/// Maximum number of fire times one `schedule` request may ask for.
pub const MAX_SCHEDULE_COUNT: u32 = 1000;

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
    /// The HCO step: templates to the HyperConverged status and the SSP CR.
    Templates,
    /// The SSP step: SSP templates to DataImportCrons and DataSource
    /// labels.
    Crons,
    /// The CDI DataImportCron controller's work: crons to imports,
    /// DataSource updates and clean-up. Needs `now`.
    Imports,
}

/// Every stage, in chain order.
pub const ALL_STAGES: &[Stage] = &[Stage::Templates, Stage::Crons, Stage::Imports];

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
    /// Stages to run, in chain order; defaults to all three.
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
    /// DataImportCrons that no longer exist, so that the imports stage
    /// cleans up after them under their retention policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deleted_crons: Option<Vec<NamespacedName>>,
    /// SSP's DataSource collection: the DataSource names its common VM
    /// templates reference. Defaults to the DataSources the common
    /// boot-source templates manage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source_names: Option<Vec<String>>,
    /// Results of CDI's clone check for crons with a PVC source: whether
    /// the cron's service account may clone the PVC. A cron and PVC pair
    /// that is not listed is allowed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization: Option<Vec<CloneAuthorization>>,
    /// The cluster objects: a HyperConverged, and for later stages the
    /// SSP CR, DataImportCrons, DataSources, DataVolumes, PVCs and so on.
    #[serde(default)]
    pub objects: Vec<Value>,
}

/// Request of the `schedule` operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ScheduleRequest {
    /// A cron expression as CDI accepts it in a DataImportCron's
    /// `spec.schedule`, e.g. `0 */12 * * *`.
    pub expression: String,
    /// The time to start from, RFC 3339; fire times are strictly later.
    pub after: String,
    /// How many fire times to return, from 1 to [`MAX_SCHEDULE_COUNT`];
    /// defaults to 1.
    #[serde(default = "default_schedule_count")]
    pub count: u32,
}

fn default_schedule_count() -> u32 {
    1
}

/// Reply of the `schedule` operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ScheduleResponse {
    /// Fire times in RFC 3339 UTC to whole seconds, oldest first. Fewer than
    /// `count` when the schedule stops firing: a search that finds no match
    /// within five years ends the list, and so does the end of year 9999.
    pub times: Vec<String>,
    /// Reason the list is shorter than `count`, if it is.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stopped: Option<String>,
}

/// Last year an RFC 3339 time can write: its year has four digits.
pub const MAX_RFC3339_YEAR: i32 = 9999;

/// The response of every operation: `{"ok": <result>}` or
/// `{"error": <error>}`. Hosts and tests decode it with `E` = [`Error`],
/// or with `serde_json::Value` for both to keep the raw JSON.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Envelope<T, E = Error> {
    Ok(T),
    Error(E),
}

impl<T, E> Envelope<T, E> {
    /// Returns the result as a `Result`: `Ok` for `ok`, `Err` for `error`.
    pub fn into_result(self) -> Result<T, E> {
        match self {
            Envelope::Ok(value) => Ok(value),
            Envelope::Error(error) => Err(error),
        }
    }
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
        op::SCHEDULE => parse(payload)
            .and_then(|request| schedule(&request))
            .and_then(|response| to_value(&response)),
        op::VALIDATE_OBJECTS => parse(payload)
            .and_then(|request| crate::admission::validate_objects(&request))
            .and_then(|response| to_value(&response)),
        op::SIMULATE => parse(payload)
            .and_then(|request| crate::simulate::simulate(&request))
            .and_then(|response| to_value(&response)),
        op::ADMISSION_REVIEW => parse(payload)
            .and_then(|request| admission_review(&request))
            .and_then(|verdict| to_value(&verdict)),
        other => Err(Error {
            kind: ErrorKind::UnknownOperation,
            ..Error::invalid(format!(
                "unknown operation {other:?}; this module serves {}",
                operations().join(", ")
            ))
        }),
    };
    let envelope: Envelope<Value> = match result {
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
        op::SCHEDULE,
        op::VALIDATE_OBJECTS,
        op::SIMULATE,
        op::ADMISSION_REVIEW,
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

/// Request of the `admissionReview` operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AdmissionReviewRequest {
    /// The AdmissionRequest, as the `request` of an AdmissionReview.
    pub request: Value,
    /// Kubewarden policy settings (`hcoVersion`, `osImagesNamespace`);
    /// `null` or absent for the defaults.
    #[serde(default)]
    pub settings: Value,
}

/// Reviews one AdmissionRequest. Invalid settings are an error value; an
/// AdmissionRequest that cannot be read is a rejection with code 400, as
/// every admission surface reports it.
pub fn admission_review(request: &AdmissionReviewRequest) -> Result<Verdict, Error> {
    let settings = Settings::from_value(&request.settings)
        .and_then(|settings| settings.review_settings())
        .map_err(|error| error.within("settings"))?;
    Ok(admission::review(&request.request, &settings))
}

/// Runs the requested stages on the request's objects.
pub fn plan(request: &PlanRequest) -> Result<Plan, Error> {
    let version = match &request.hco_version {
        Some(text) => HcoVersion::parse(text)?,
        None => HcoVersion::CURRENT,
    };
    let now = match &request.now {
        Some(now) => Some(chrono::DateTime::parse_from_rfc3339(now).map_err(|e| {
            Error::invalid(format!("invalid time {now:?}: {e}"))
                .at("now")
                .hint("write an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
        })?),
        None => None,
    };
    let snapshot = Snapshot::from_objects(&request.objects)?;
    let files = match &request.common_templates {
        Some(files) => files.clone(),
        None => vec![templates::common::built_in()],
    };
    let built_in_warning = (request.common_templates.is_none() && version != HcoVersion::CURRENT)
        .then(|| built_in_templates_warning(version));
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
        .unwrap_or_else(|| ALL_STAGES.to_vec());

    let mut plan = Plan {
        hco_version: version.to_string(),
        ..Plan::default()
    };
    plan.warnings.extend(skipped_kinds_warning(&snapshot));
    plan.warnings.extend(built_in_warning);
    let mut handover = None;
    if stages.contains(&Stage::Templates) {
        let output = templates::run(&snapshot, &commons, &settings)?;
        plan.status = Some(output.status);
        plan.boot_sources = output.boot_sources;
        plan.actions.extend(output.actions);
        plan.warnings.extend(output.warnings);
        let architectures = output
            .hyperconverged
            .status
            .node_info
            .as_ref()
            .map(|nodes| {
                crons::multiarch::cluster_architectures(
                    &nodes.control_plane_architectures,
                    &nodes.workloads_architectures,
                )
            })
            .unwrap_or_default();
        handover = Some(crons::source::from_handover(
            &snapshot,
            version.ssp_api_version(),
            &templates::ssp::ssp_namespace(&output.hyperconverged),
            templates::ssp::SSP_NAME,
            output.templates.ssp_templates,
            output.templates.multi_arch,
            architectures,
        )?);
    }
    if stages.contains(&Stage::Crons) {
        let ssp: SspInput = match handover {
            Some(ssp) => ssp,
            None => crons::source::from_snapshot(&snapshot)?,
        };
        // NOTE: SSP's DataSource collection comes from its common VM
        // templates. Unless the request lists it, the DataSources that the
        // common boot-source templates manage stand in for it.
        let data_source_names: BTreeSet<String> = match &request.data_source_names {
            Some(names) => names.iter().cloned().collect(),
            None => commons
                .iter()
                .filter_map(|t| t.spec.as_ref())
                .map(|spec| spec.managed_data_source.clone())
                .filter(|name| !name.is_empty())
                .collect(),
        };
        let input = CronsInput {
            templates: &ssp.templates,
            owner: &ssp.owner,
            multi_arch: ssp.multi_arch,
            architectures: &ssp.architectures,
            os_images_namespace: settings.os_images_namespace,
            data_source_names: &data_source_names,
        };
        let output = crons::run(&snapshot, &input)?;
        plan.actions.extend(output.actions);
        plan.warnings.extend(output.warnings);
    }
    if stages.contains(&Stage::Imports) {
        let Some(now) = now else {
            return Err(Error::invalid("the imports stage needs the current time")
                .at("now")
                .hint("set now to an RFC 3339 time, e.g. 2026-01-31T12:00:00Z, or leave imports out of stages"));
        };
        run_imports(request, &mut plan, now.with_timezone(&chrono::Utc))?;
    }
    Ok(plan)
}

/// Warns that an older HCO release shipped other common templates than
/// the built-in set, which is the current release's.
fn built_in_templates_warning(version: HcoVersion) -> Warning {
    Warning {
        object: None,
        field: Some("commonTemplates".into()),
        message: format!(
            "the built-in common templates are those of HCO {}, not of HCO {version}; \
             to plan with HCO {version}'s templates, pass its dataImportCronTemplates \
             file in commonTemplates (on the command line: --common-templates FILE|DIR)",
            HcoVersion::CURRENT
        ),
    }
}

/// Returns one warning listing the kinds no stage reads that the input
/// contained, with their counts, or `None` when there were none.
fn skipped_kinds_warning(snapshot: &Snapshot) -> Option<Warning> {
    let skipped = snapshot.skipped_kinds();
    if skipped.is_empty() {
        return None;
    }
    let total: usize = skipped.values().sum();
    let kinds: Vec<String> = skipped
        .iter()
        .map(|(kind, count)| format!("{count} {kind}"))
        .collect();
    Some(Warning {
        object: None,
        field: Some("objects".into()),
        message: format!(
            "skipped {total} {} of kinds that no stage reads: {}",
            if total == 1 { "object" } else { "objects" },
            kinds.join(", ")
        ),
    })
}

/// Computes the next `count` fire times of a cron expression after a time.
pub fn schedule(request: &ScheduleRequest) -> Result<ScheduleResponse, Error> {
    if !(1..=MAX_SCHEDULE_COUNT).contains(&request.count) {
        return Err(Error::invalid(format!(
            "count {} is out of range; ask for 1 to {MAX_SCHEDULE_COUNT} fire times",
            request.count
        ))
        .at("count"));
    }
    let after = chrono::DateTime::parse_from_rfc3339(&request.after).map_err(|e| {
        Error::invalid(format!("invalid time {:?}: {e}", request.after))
            .at("after")
            .hint("write an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
    })?;
    let parsed = crate::schedule::parse(&request.expression).map_err(|e| {
        let error = Error::invalid(format!("invalid schedule {:?}: {e}", request.expression))
            .at("expression");
        match e.field {
            Some(_) => error.hint(
                "fields are minute (0-59), hour (0-23), day-of-month (1-31), \
                 month (1-12 or jan-dec) and day-of-week (0-6 or sun-sat)",
            ),
            None => error,
        }
    })?;

    let after = after.with_timezone(&chrono::Utc);
    if !(0..=MAX_RFC3339_YEAR).contains(&after.year()) {
        return Err(Error::invalid(format!(
            "time {:?} is outside years 0000 to {MAX_RFC3339_YEAR} in UTC, \
             the range RFC 3339 can write",
            request.after
        ))
        .at("after")
        .hint("give a time from 0000-01-01T00:00:00Z to 9999-12-31T23:59:59Z"));
    }

    let mut times = Vec::new();
    let mut stopped = None;
    let mut cursor = after;
    for _ in 0..request.count {
        let Some(next) = parsed.next_after(cursor) else {
            stopped = Some("the schedule has no match within five years".to_string());
            break;
        };
        if next.year() > MAX_RFC3339_YEAR {
            stopped = Some(format!(
                "the next fire time is after year {MAX_RFC3339_YEAR}, \
                 the last year RFC 3339 can write"
            ));
            break;
        }
        times.push(next.to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
        cursor = next;
    }
    Ok(ScheduleResponse { times, stopped })
}

/// Runs the imports stage on the objects as the earlier stages' actions
/// leave them, so it reads the crons they create and clean-up runs for the
/// crons they delete.
pub(crate) fn run_imports(
    request: &PlanRequest,
    plan: &mut Plan,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), Error> {
    let mut objects = request.objects.clone();
    crate::apply::apply_actions(&mut objects, &plan.actions);
    let snapshot = Snapshot::from_objects(&objects)?;

    let mut deleted = request.deleted_crons.clone().unwrap_or_default();
    deleted.extend(
        plan.actions
            .iter()
            .filter(|a| a.action == ActionKind::Delete && a.object.kind == imports::kind::CRON)
            .map(|a| NamespacedName {
                namespace: a.object.namespace.clone().unwrap_or_default(),
                name: a.object.name.clone(),
            }),
    );

    let authorization = Authorizations::new(request.authorization.as_deref().unwrap_or_default());
    let output = imports::run(&snapshot, now, &deleted, &authorization)?;
    plan.actions.extend(output.actions);
    plan.events.extend(output.events);
    plan.warnings.extend(output.warnings);
    plan.polls.extend(output.polls);
    if let Some(due) = output.next_due {
        let earlier = match &plan.next_reconcile {
            Some(existing) => chrono::DateTime::parse_from_rfc3339(existing)
                .map(|t| t.with_timezone(&chrono::Utc) > due)
                .unwrap_or(true),
            None => true,
        };
        if earlier {
            plan.next_reconcile = Some(imports::format_seconds(due));
            plan.requeue_after_seconds = Some((due - now).num_seconds().max(0));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::meta::ObjectRef;
    use crate::plan::{Action, Preconditions};
    use serde_json::json;

    fn request(objects: Vec<Value>) -> PlanRequest {
        PlanRequest {
            now: Some("2026-01-31T12:00:00Z".into()),
            objects,
            ..PlanRequest::default()
        }
    }

    fn cron_ref() -> ObjectRef {
        ObjectRef::new("cdi.kubevirt.io/v1beta1", "DataImportCron", "ns", "cron")
    }

    #[test]
    fn imports_see_crons_created_earlier() {
        let cron = json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataImportCron",
            "metadata": {"name": "cron", "namespace": "ns",
                         "annotations": {"cdi.kubevirt.io/storage.import.sourceDesiredDigest": "sha256:aaaaaaaaaaaa0000"}},
            "spec": {"managedDataSource": "ds", "schedule": "",
                     "template": {"spec": {"source": {"registry": {"url": "docker://r/img"}}}}}
        });
        let mut plan = Plan {
            actions: vec![Action::create(cron_ref(), cron, "test")],
            ..Plan::default()
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        let result = run_imports(&request(vec![]), &mut plan, now);
        assert!(result.is_ok());
        assert!(plan
            .actions
            .iter()
            .any(|a| a.object.kind == "DataVolume" && a.object.name == "ds-aaaaaaaaaaaa"));
    }

    #[test]
    fn imports_clean_up_crons_deleted_earlier() {
        let cron = json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataImportCron",
            "metadata": {"name": "cron", "namespace": "ns"},
            "spec": {"managedDataSource": "ds", "schedule": "", "retentionPolicy": "None"}
        });
        let volume = json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
            "metadata": {"name": "ds-aaaaaaaaaaaa", "namespace": "ns",
                         "labels": {"cdi.kubevirt.io/dataImportCron": "cron",
                                    "cdi.kubevirt.io/dataImportCron.cleanup": "true"}}
        });
        let delete = Action::delete(
            cron_ref(),
            Preconditions {
                uid: None,
                resource_version: None,
            },
            "test",
        );
        let mut plan = Plan {
            actions: vec![delete],
            ..Plan::default()
        };
        let now = chrono::DateTime::parse_from_rfc3339("2026-01-31T12:00:00Z")
            .map(|t| t.with_timezone(&chrono::Utc))
            .unwrap_or_default();
        let result = run_imports(&request(vec![cron, volume]), &mut plan, now);
        assert!(result.is_ok());
        assert!(plan.actions.iter().any(|a| a.action == ActionKind::Delete
            && a.object.kind == "DataVolume"
            && a.object.name == "ds-aaaaaaaaaaaa"));
    }
}
