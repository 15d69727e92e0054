//! HCO's validating-webhook rules for the template list of a
//! HyperConverged.

use std::collections::{BTreeMap, BTreeSet};

use super::{dataimportcron, Finding};
use crate::hco_version::HcoVersion;
use crate::model::dict::ENABLE_ANNOTATION;
use crate::model::hyperconverged::HyperConverged;

/// Message for an enable annotation other than `true` or `false`.
pub const INVALID_ENABLE_VALUE: &str =
    "the dataimportcrontemplate.kubevirt.io/enable annotation of a dataImportCronTemplate must be either \"true\" or \"false\"";
/// Message for an enabled template without a spec.
pub const EMPTY_SPEC: &str =
    "dataImportCronTemplate spec is empty for an enabled DataImportCronTemplate";

/// Checks the template list:
/// - every entry has a name, because SSP rejects templates without one;
/// - no name appears twice (HCO's wording, "DataImportCronTable", kept);
/// - HCO 1.7+: the enable annotation is `true` or `false` in any case, and
///   an enabled entry has a spec (a disabled one needs none).
pub fn check_templates(hc: &HyperConverged, version: HcoVersion) -> Vec<Finding> {
    let base = hc.form.templates_path();
    let mut findings = Vec::new();
    let mut seen = BTreeSet::new();
    for (index, entry) in hc.templates.iter().enumerate() {
        let path = format!("{base}[{index}]");
        if entry.name().is_empty() {
            findings.push(Finding::error(
                format!("{path}.metadata.name"),
                "dataImportCronTemplate has no name; set metadata.name",
            ));
        } else if !seen.insert(entry.name()) {
            findings.push(Finding::error(
                format!("{path}.metadata.name"),
                format!("{} DataImportCronTable is already defined", entry.name()),
            ));
        }
        if !version.has_customisation() {
            continue;
        }
        if let Some(value) = entry.metadata.annotation(ENABLE_ANNOTATION) {
            if !value.eq_ignore_ascii_case("true") && !value.eq_ignore_ascii_case("false") {
                findings.push(Finding::error(
                    format!("{path}.metadata.annotations[{ENABLE_ANNOTATION:?}]"),
                    INVALID_ENABLE_VALUE,
                ));
                continue;
            }
        }
        if entry.is_enabled() && entry.spec.is_none() {
            findings.push(Finding::error(format!("{path}.spec"), EMPTY_SPEC));
        }
    }
    findings
}

/// What the gate checks found, and the value the mutating webhook copies
/// from the multi-arch feature gate to its field, if any.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct GateReview {
    pub findings: Vec<Finding>,
    /// Set when the field is to be written with the gate's value.
    pub copy_multi_arch_to_field: Option<bool>,
}

/// Checks the deprecated feature gates:
/// - HCO 1.15+: `spec.featureGates.enableCommonBootImageImport` is ignored,
///   so setting it warns;
/// - HCO 1.19+: the multi-arch feature gate gives way to a field. A gate
///   without the field is copied to the field, with a warning. Gate and
///   field that agree only warn. Gate and field that contradict each other
///   are rejected, except on an update that changed only one of them: the
///   changed one is the user's intent, so a changed gate is copied over the
///   field and a changed field wins over the stale gate.
pub fn check_feature_gates(
    hc: &HyperConverged,
    old: Option<&HyperConverged>,
    version: HcoVersion,
) -> GateReview {
    let mut review = GateReview::default();
    if hc.common_import_gate.is_some() && version.deprecates_feature_gate() {
        review.findings.push(Finding::warning(
            "spec.featureGates.enableCommonBootImageImport",
            "deprecated and ignored; use spec.enableCommonBootImageImport instead",
        ));
    }
    if !version.moves_multi_arch_gate_to_field() {
        return review;
    }
    let Some(gate) = hc.multi_arch_gate else {
        return review;
    };
    let gate_path = hc.form.multi_arch_gate_path();
    let field_path = hc.form.multi_arch_field_path();
    let deprecated = Finding::warning(gate_path, format!("deprecated; use {field_path} instead"));
    match hc.multi_arch_field {
        None => {
            review.copy_multi_arch_to_field = Some(gate);
            review.findings.push(deprecated);
        }
        Some(field) if field == gate => review.findings.push(deprecated),
        Some(_) => {
            let gate_changed = old.is_some_and(|o| o.multi_arch_gate != hc.multi_arch_gate);
            let field_changed = old.is_some_and(|o| o.multi_arch_field != hc.multi_arch_field);
            if gate_changed && !field_changed {
                review.copy_multi_arch_to_field = Some(gate);
                review.findings.push(deprecated);
            } else if field_changed && !gate_changed {
                review.findings.push(deprecated);
            } else {
                review.findings.push(Finding::error(
                    gate_path,
                    format!(
                        "{gate_path} and {field_path} contradict each other; \
                         remove the feature gate and keep only {field_path}"
                    ),
                ));
            }
        }
    }
    review
}

/// Warns about template-list mistakes that HCO accepts but that break
/// later:
/// - two enabled templates that manage the same DataSource in the same
///   namespace, so their DataImportCrons keep repointing it;
/// - a template spec that CDI's webhook will reject when SSP creates the
///   DataImportCron (the HyperConverged itself is still admitted);
/// - fields under `template.spec` that the API server prunes without a word.
///
/// `default_namespace` is the golden-image namespace of templates that set
/// none.
pub fn check_template_warnings(hc: &HyperConverged, default_namespace: &str) -> Vec<Finding> {
    let base = hc.form.templates_path();
    let mut findings = Vec::new();
    let mut managers: BTreeMap<(String, String), String> = BTreeMap::new();
    for (index, entry) in hc.templates.iter().enumerate() {
        let path = format!("{base}[{index}]");
        let Some(spec) = entry.spec.as_ref().filter(|_| entry.is_enabled()) else {
            continue;
        };
        let namespace = match entry.metadata.namespace() {
            "" => default_namespace,
            ns => ns,
        };
        let key = (namespace.to_string(), spec.managed_data_source.clone());
        if !spec.managed_data_source.is_empty() {
            if let Some(first) = managers.get(&key) {
                findings.push(Finding::warning(
                    format!("{path}.spec.managedDataSource"),
                    format!(
                        "templates {first} and {} both manage DataSource {namespace}/{}, so their \
                         DataImportCrons will keep repointing it; give each template its own \
                         managedDataSource",
                        entry.name(),
                        spec.managed_data_source
                    ),
                ));
            } else {
                managers.insert(key, entry.name().to_string());
            }
        }
        for finding in dataimportcron::check_spec(spec, &format!("{path}.spec")) {
            findings.push(Finding::warning(
                finding.field,
                format!(
                    "CDI will reject the DataImportCron made from this template: {}",
                    finding.message
                ),
            ));
        }
        findings.extend(dataimportcron::check_pruned_fields(
            &spec.template.spec,
            &format!("{path}.spec.template.spec"),
        ));
    }
    findings
}
