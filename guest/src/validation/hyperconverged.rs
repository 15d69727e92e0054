//! HCO's validating-webhook rules for the template list of a
//! HyperConverged.

use std::collections::BTreeSet;

use super::Finding;
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
