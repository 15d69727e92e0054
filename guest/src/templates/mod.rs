//! Templates stage: what the HyperConverged operator (HCO) does with
//! boot-source templates.
//!
//! Common templates and the HyperConverged spec go in; out come the
//! `status.dataImportCronTemplates` list, the stored cluster schedule and the
//! templates handed to SSP.

pub mod common;
pub mod gate;
pub mod merge;
pub mod multiarch;
pub mod schedule;
pub mod ssp;

use serde_json::{json, Map, Value};

use crate::error::Error;
use crate::hco_version::HcoVersion;
use crate::model::dict::DataImportCronTemplate;
use crate::model::hyperconverged::HyperConverged;
use crate::model::meta::ObjectRef;
use crate::plan::{Action, BootSource, Warning};
use crate::snapshot::{Entry, Snapshot};
use crate::validation::hyperconverged::{check_templates, check_unknown_fields};
use crate::validation::Severity;
use merge::{MergeContext, StatusTemplate};

/// Namespace of golden images when a template sets none (SSP's default;
/// OpenShift Virtualization uses `openshift-virtualization-os-images`).
pub const DEFAULT_OS_IMAGES_NAMESPACE: &str = "kubevirt-os-images";

/// What the templates stage computes for one HyperConverged.
#[derive(Debug, Clone, PartialEq)]
pub struct Templates {
    /// `status.dataImportCronTemplates`, sorted by name.
    pub status: Vec<StatusTemplate>,
    /// `status.dataImportSchedule`.
    pub schedule: String,
    /// True when the schedule was derived now and is not yet in status.
    pub schedule_is_new: bool,
    /// The templates handed to SSP.
    pub ssp_templates: Vec<DataImportCronTemplate>,
    /// The resolved multi-arch switch.
    pub multi_arch: bool,
    pub warnings: Vec<Warning>,
}

/// Runs the templates stage on a HyperConverged that passed validation.
pub fn compute(
    hc: &HyperConverged,
    commons: &[DataImportCronTemplate],
    version: HcoVersion,
    now: Option<&str>,
) -> Templates {
    let (common_import, gate_warning) = gate::common_import_enabled(hc, version);
    let multi_arch = gate::multi_arch_enabled(hc, version);
    let (schedule, schedule_is_new) = schedule::cluster_schedule(hc);

    let ctx = MergeContext {
        version,
        common_import,
        multi_arch,
        common_boot_image_namespace: hc.common_boot_image_namespace.as_deref(),
        schedule: &schedule,
    };
    let mut status = merge::merge(commons, &hc.templates, &ctx);

    if multi_arch {
        let workloads = hc
            .status
            .node_info
            .as_ref()
            .map(|n| n.workloads_architectures.clone())
            .unwrap_or_default();
        let previous = hc
            .status
            .data_import_cron_templates
            .as_deref()
            .unwrap_or(&[]);
        multiarch::filter_architectures(&mut status, &workloads, previous, now);
    }
    let ssp_templates = ssp::ssp_templates(&status, version, multi_arch);

    Templates {
        status,
        schedule,
        schedule_is_new,
        ssp_templates,
        multi_arch,
        warnings: gate_warning.into_iter().collect(),
    }
}

/// Settings of the templates stage that do not come from cluster objects.
#[derive(Debug, Clone)]
pub struct StageSettings<'a> {
    pub version: HcoVersion,
    pub now: Option<&'a str>,
    /// Apply HCO's mutating-webhook defaults to the spec entries first, as
    /// the API server would have stored them.
    pub admission_defaults: bool,
    pub os_images_namespace: &'a str,
}

/// What the stage adds to a plan.
#[derive(Debug, Clone, PartialEq)]
pub struct StageOutput {
    pub status: Value,
    pub boot_sources: Vec<BootSource>,
    pub actions: Vec<Action>,
    pub warnings: Vec<Warning>,
    pub templates: Templates,
    pub hyperconverged: HyperConverged,
}

/// Runs the stage on the snapshot's single HyperConverged and turns the
/// result into actions: a status patch when the status differs, and an
/// apply of the SSP CR when its templates differ.
pub fn run(
    snapshot: &Snapshot,
    commons: &[DataImportCronTemplate],
    settings: &StageSettings,
) -> Result<StageOutput, Error> {
    let entry = single_hyperconverged(snapshot)?;
    let mut hc = HyperConverged::from_value(&entry.value).map_err(|e| entry.blame(e))?;
    if let Some(finding) = check_templates(&hc, settings.version)
        .into_iter()
        .find(|f| f.severity == Severity::Error)
    {
        return Err(entry.blame(Error::invalid(finding.message).at(finding.field)));
    }
    if !settings.version.has_customisation() {
        reject_common_names(&hc, commons).map_err(|e| entry.blame(e))?;
    }
    if settings.admission_defaults {
        crate::mutation::apply_template_defaults(&mut hc, settings.version);
    }

    let templates = compute(&hc, commons, settings.version, settings.now);
    let hc_ref = entry.reference.clone();
    let unknown_fields = check_unknown_fields(&entry.value, hc.form)
        .into_iter()
        .map(|finding| Warning {
            object: None,
            field: Some(finding.field),
            message: finding.message,
        });
    let warnings = templates
        .warnings
        .iter()
        .cloned()
        .chain(unknown_fields)
        .map(|mut w| {
            w.object = Some(hc_ref.clone());
            w
        })
        .collect();

    let status = status_fragment(&templates, settings.version);
    let mut actions = Vec::new();
    if let Some(patch) = status_patch(&hc, &status) {
        actions.push(Action::merge_patch(
            hc_ref,
            json!({ "status": patch }),
            true,
            "HyperConverged status does not list the effective boot-source templates",
        ));
    }
    let body = ssp::ssp_body(
        &hc,
        &templates.ssp_templates,
        settings.version,
        templates.multi_arch,
    );
    let ssp_ref = ObjectRef::new(
        settings.version.ssp_api_version(),
        "SSP",
        &ssp::ssp_namespace(&hc),
        ssp::SSP_NAME,
    );
    if ssp_differs(snapshot, &ssp_ref, &body) {
        actions.push(Action::apply(
            ssp_ref,
            body,
            "SSP spec.commonTemplates.dataImportCronTemplates differs from the effective templates",
        ));
    }

    let boot_sources = boot_sources(&templates.status, settings.os_images_namespace);
    Ok(StageOutput {
        status,
        boot_sources,
        actions,
        warnings,
        templates,
        hyperconverged: hc,
    })
}

/// HCO 1.6 had no customisation: a spec entry named like a common template
/// was a duplicate.
fn reject_common_names(
    hc: &HyperConverged,
    commons: &[DataImportCronTemplate],
) -> Result<(), Error> {
    for (index, entry) in hc.templates.iter().enumerate() {
        if commons.iter().any(|c| c.name() == entry.name()) {
            return Err(Error::invalid(format!("{} DataImportCronTable is already defined", entry.name()))
                .at(format!("{}[{index}].metadata.name", hc.form.templates_path()))
                .hint("HCO 1.6 cannot customise common templates; rename the entry or select --hco-version 1.7 or later"));
        }
    }
    Ok(())
}

fn single_hyperconverged(snapshot: &Snapshot) -> Result<&Entry, Error> {
    match snapshot.of_kind("HyperConverged") {
        [one] => Ok(one),
        [] => Err(Error::invalid("the input has no HyperConverged object")
            .hint("pass a file with the HyperConverged CR, e.g. `kubectl get hyperconverged -A -o yaml`")),
        [_, second, ..] => Err(second.blame(
            Error::invalid("the input has more than one HyperConverged object")
                .hint("a cluster has one HyperConverged; pass only that one"),
        )),
    }
}

/// Builds the status fragment: `dataImportCronTemplates` (omitted when
/// empty, and before HCO 1.7) and `dataImportSchedule`.
fn status_fragment(templates: &Templates, version: HcoVersion) -> Value {
    let mut fragment = Map::new();
    if version.has_customisation() && !templates.status.is_empty() {
        fragment.insert("dataImportCronTemplates".into(), json!(templates.status));
    }
    fragment.insert("dataImportSchedule".into(), json!(templates.schedule));
    Value::Object(fragment)
}

/// Returns the merge patch that brings the stored status to `fragment`, or
/// nothing when it already matches. A stored schedule is never rewritten.
fn status_patch(hc: &HyperConverged, fragment: &Value) -> Option<Value> {
    let mut patch = Map::new();
    let stored = hc
        .status
        .data_import_cron_templates
        .clone()
        .map(Value::Array);
    let wanted = fragment.get("dataImportCronTemplates").cloned();
    if stored
        .as_ref()
        .filter(|v| v.as_array().is_some_and(|a| !a.is_empty()))
        != wanted.as_ref()
    {
        patch.insert(
            "dataImportCronTemplates".into(),
            wanted.unwrap_or(Value::Null),
        );
    }
    if hc
        .status
        .data_import_schedule
        .as_deref()
        .unwrap_or("")
        .is_empty()
    {
        patch.insert(
            "dataImportSchedule".into(),
            fragment["dataImportSchedule"].clone(),
        );
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}

/// Tells whether the SSP CR in the snapshot lacks any field of `body`.
fn ssp_differs(snapshot: &Snapshot, reference: &ObjectRef, body: &Value) -> bool {
    let namespace = reference.namespace.as_deref().unwrap_or("");
    let Some(existing) = snapshot.get("SSP", namespace, &reference.name) else {
        return true;
    };
    let Some(wanted) = body.get("spec").and_then(Value::as_object) else {
        return true;
    };
    let spec = existing.value.get("spec");
    wanted.iter().any(|(key, value)| match key.as_str() {
        "commonTemplates" => {
            let stored = spec.and_then(|s| s.get("commonTemplates"));
            ["namespace", "dataImportCronTemplates"]
                .iter()
                .any(|k| stored.and_then(|s| s.get(*k)) != value.get(*k))
        }
        _ => spec.and_then(|s| s.get(key)) != Some(value),
    })
}

fn boot_sources(status: &[StatusTemplate], os_images_namespace: &str) -> Vec<BootSource> {
    status
        .iter()
        .map(|t| {
            let spec = t.spec.clone().unwrap_or_default();
            BootSource {
                template: t.name().to_string(),
                data_source: spec.managed_data_source.clone(),
                source: spec.source_display(),
                schedule: spec.schedule.clone(),
                kind: t.kind(),
                namespace: match t.metadata.namespace() {
                    "" => os_images_namespace.to_string(),
                    ns => ns.to_string(),
                },
                deployed: !multiarch::is_undeployable(t),
            }
        })
        .collect()
}
