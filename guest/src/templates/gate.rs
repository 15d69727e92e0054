//! The switches: `enableCommonBootImageImport` and multi-arch import.

use crate::hco_version::HcoVersion;
use crate::model::hyperconverged::HyperConverged;
use crate::plan::Warning;

/// Message HCO 1.15 and later return when the old feature gate is set.
pub const FEATURE_GATE_DEPRECATED: &str =
    "spec.featureGates.enableCommonBootImageImport is deprecated and ignored; \
     use spec.enableCommonBootImageImport instead";

/// Resolves whether common templates are imported.
///
/// Every form is accepted. The field form (`spec.enableCommonBootImageImport`
/// or `spec.workloadSources.enableCommonBootImageImport`) decides when set;
/// otherwise the OKD 4.12 feature gate `spec.featureGates.enableCommonBootImageImport`
/// decides; with neither, the CRD default `true` applies. This matches HCO
/// 1.8 on its own input, the 1.15 upgrade patch, and HCO 1.15+ whenever the
/// field is set. From 1.15 on, setting the feature gate also warns.
pub fn common_import_enabled(hc: &HyperConverged, version: HcoVersion) -> (bool, Option<Warning>) {
    let enabled = hc
        .common_import_field
        .or(hc.common_import_gate)
        .unwrap_or(true);
    let warning =
        (hc.common_import_gate.is_some() && version.deprecates_feature_gate()).then(|| Warning {
            object: None,
            field: Some("spec.featureGates.enableCommonBootImageImport".into()),
            message: FEATURE_GATE_DEPRECATED.into(),
        });
    (enabled, warning)
}

/// Resolves the multi-arch switch (HCO 1.16+): the v1 field wins when set,
/// else the `enableMultiArchBootImageImport` feature gate, else off.
pub fn multi_arch_enabled(hc: &HyperConverged, version: HcoVersion) -> bool {
    version.has_multi_arch() && hc.multi_arch_field.or(hc.multi_arch_gate).unwrap_or(false)
}
