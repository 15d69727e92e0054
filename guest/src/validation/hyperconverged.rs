//! HCO's validating-webhook rules for the template list of a
//! HyperConverged.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Map, Value};

use super::{dataimportcron, Finding};
use crate::hco_version::HcoVersion;
use crate::model::dict::ENABLE_ANNOTATION;
use crate::model::hco_fields;
use crate::model::hyperconverged::{ApiForm, HyperConverged};

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

/// Warns about each `spec` key (and each `spec.featureGates` or
/// `spec.workloadSources` key) that the HyperConverged schema does not
/// list. The API server prunes such a field without a word, so a misspelt
/// template list or switch is silently ignored. A warning, not an error:
/// HCO's schema grows with releases, and a newer field may be missing from
/// the lists. Sorted by field path.
pub fn check_unknown_fields(object: &Value, form: ApiForm) -> Vec<Finding> {
    let Some(spec) = object.get("spec").and_then(Value::as_object) else {
        return Vec::new();
    };
    let mut findings = Vec::new();
    match form {
        ApiForm::V1Beta1 => {
            unknown_keys(spec, "spec", hco_fields::V1BETA1_SPEC, &[], &mut findings);
            if let Some(gates) = spec.get("featureGates").and_then(Value::as_object) {
                unknown_keys(
                    gates,
                    "spec.featureGates",
                    hco_fields::V1BETA1_FEATURE_GATES,
                    &[],
                    &mut findings,
                );
            }
        }
        ApiForm::V1 => {
            unknown_keys(
                spec,
                "spec",
                hco_fields::V1_SPEC,
                hco_fields::V1_WORKLOAD_SOURCES,
                &mut findings,
            );
            if let Some(sources) = spec.get("workloadSources").and_then(Value::as_object) {
                unknown_keys(
                    sources,
                    "spec.workloadSources",
                    hco_fields::V1_WORKLOAD_SOURCES,
                    &[],
                    &mut findings,
                );
            }
        }
    }
    findings.sort_by(|a, b| a.field.cmp(&b.field));
    findings
}

/// Adds a warning for each key of `map` that is not in `known`. `moved`
/// lists the fields that this version keeps under `spec.workloadSources`.
fn unknown_keys(
    map: &Map<String, Value>,
    parent: &str,
    known: &[&str],
    moved: &[&str],
    findings: &mut Vec<Finding>,
) {
    for key in map.keys().filter(|key| !known.contains(&key.as_str())) {
        let mut message = String::from("unknown field; the API server drops it");
        if let Some(suggestion) = suggestion(parent, key, known, moved) {
            message.push_str(&format!("; did you mean {suggestion}?"));
        }
        findings.push(Finding::warning(format!("{parent}.{key}"), message));
    }
}

/// The known field path to suggest for an unknown `key` under `parent`:
/// a v1 boot-source field written at the top level, or a near miss of one,
/// belongs under `spec.workloadSources`; otherwise the closest known name,
/// if close.
fn suggestion(parent: &str, key: &str, known: &[&str], moved: &[&str]) -> Option<String> {
    if let Some(name) = closest(key, moved).filter(|name| edit_distance(name, key) <= 1) {
        return Some(format!("spec.workloadSources.{name}"));
    }
    closest(key, known).map(|name| format!("{parent}.{name}"))
}

/// Returns the known name closest to `key` by edit distance (case ignored), when
/// it is close enough to be a typo: at most one edit per five characters,
/// between one and three. Ties go to the first name in list order.
fn closest<'a>(key: &str, known: &[&'a str]) -> Option<&'a str> {
    let length = key.chars().count();
    let limit = (length / 5).clamp(1, 3);
    known
        .iter()
        // The distance is at least the difference in length; skipping the
        // rest keeps a huge key from costing a full comparison per name.
        .filter(|name| name.chars().count().abs_diff(length) <= limit)
        .map(|name| (edit_distance(name, key), *name))
        .filter(|(distance, _)| *distance <= limit)
        .min_by_key(|(distance, _)| *distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance between `a` and `b`, ignoring ASCII case.
fn edit_distance(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().map(|c| c.to_ascii_lowercase()).collect();
    let b: Vec<char> = b.chars().map(|c| c.to_ascii_lowercase()).collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    let mut current = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        current[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != cb);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        std::mem::swap(&mut previous, &mut current);
    }
    previous[b.len()]
}
