//! HyperConverged in its API forms, read into one normalised view.
//!
//! Three forms carry the boot-source switch:
//! - `hco.kubevirt.io/v1beta1` with `spec.featureGates.enableCommonBootImageImport`
//!   (the form OKD 4.12 / HCO 1.8 documents),
//! - `hco.kubevirt.io/v1beta1` with `spec.enableCommonBootImageImport` (HCO 1.15+),
//! - `hco.kubevirt.io/v1` with `spec.workloadSources.*` (HCO 1.18+).
//!
//! Only the fields that boot sources depend on are read; the rest of the
//! spec is left alone, because the API server validates it.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dict::DataImportCronTemplate;
use super::meta::ObjectMeta;
use crate::error::{from_value, Error};

pub const GROUP: &str = "hco.kubevirt.io";
pub const KIND: &str = "HyperConverged";

/// Which API version the object was written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum ApiForm {
    V1Beta1,
    V1,
}

impl ApiForm {
    /// Parses an `apiVersion` string.
    pub fn from_api_version(api_version: &str) -> Option<Self> {
        match api_version {
            "hco.kubevirt.io/v1beta1" => Some(ApiForm::V1Beta1),
            "hco.kubevirt.io/v1" => Some(ApiForm::V1),
            _ => None,
        }
    }

    /// Path of the template list in this form, as JSON-pointer segments
    /// after `/spec`.
    pub fn templates_pointer(self) -> &'static str {
        match self {
            ApiForm::V1Beta1 => "/spec/dataImportCronTemplates",
            ApiForm::V1 => "/spec/workloadSources/dataImportCronTemplates",
        }
    }

    /// Dotted path of the template list in this form, for messages.
    pub fn templates_path(self) -> &'static str {
        match self {
            ApiForm::V1Beta1 => "spec.dataImportCronTemplates",
            ApiForm::V1 => "spec.workloadSources.dataImportCronTemplates",
        }
    }

    /// Dotted path of the multi-arch field in this form.
    pub fn multi_arch_field_path(self) -> &'static str {
        match self {
            ApiForm::V1Beta1 => "spec.enableMultiArchBootImageImport",
            ApiForm::V1 => "spec.workloadSources.enableMultiArchBootImageImport",
        }
    }

    /// Dotted path of the multi-arch feature gate in this form.
    pub fn multi_arch_gate_path(self) -> &'static str {
        match self {
            ApiForm::V1Beta1 => "spec.featureGates.enableMultiArchBootImageImport",
            ApiForm::V1 => "spec.featureGates[enableMultiArchBootImageImport]",
        }
    }
}

/// The boot-source part of a HyperConverged, whatever form it came in.
#[derive(Debug, Clone, PartialEq)]
pub struct HyperConverged {
    pub form: ApiForm,
    pub metadata: ObjectMeta,
    /// User templates, in spec order.
    pub templates: Vec<DataImportCronTemplate>,
    /// `spec.enableCommonBootImageImport` (v1beta1) or
    /// `spec.workloadSources.enableCommonBootImageImport` (v1).
    pub common_import_field: Option<bool>,
    /// `spec.featureGates.enableCommonBootImageImport` (v1beta1 only): the
    /// switch up to HCO 1.14, deprecated and ignored upstream from 1.15.
    pub common_import_gate: Option<bool>,
    pub common_boot_image_namespace: Option<String>,
    pub common_templates_namespace: Option<String>,
    /// `spec.enableMultiArchBootImageImport` (v1beta1, HCO 1.19+) or
    /// `spec.workloadSources.enableMultiArchBootImageImport` (v1).
    pub multi_arch_field: Option<bool>,
    /// The `enableMultiArchBootImageImport` feature gate: a bool in v1beta1,
    /// a `{name, state}` list item in v1.
    pub multi_arch_gate: Option<bool>,
    pub status: HyperConvergedStatus,
}

/// The status fields boot sources read and write.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct HyperConvergedStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_import_schedule: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_import_cron_templates: Option<Vec<Value>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub node_info: Option<NodeInfo>,
}

/// `status.nodeInfo`: CPU architectures of the cluster's nodes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct NodeInfo {
    #[serde(default)]
    pub control_plane_architectures: Vec<String>,
    #[serde(default)]
    pub workloads_architectures: Vec<String>,
}

#[derive(Deserialize)]
struct Raw<S> {
    #[serde(default)]
    metadata: ObjectMeta,
    #[serde(default)]
    spec: S,
    #[serde(default)]
    status: HyperConvergedStatus,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Beta1Spec {
    #[serde(default)]
    feature_gates: V1Beta1FeatureGates,
    enable_common_boot_image_import: Option<bool>,
    data_import_cron_templates: Option<Vec<DataImportCronTemplate>>,
    common_boot_image_namespace: Option<String>,
    common_templates_namespace: Option<String>,
    enable_multi_arch_boot_image_import: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Beta1FeatureGates {
    enable_common_boot_image_import: Option<bool>,
    enable_multi_arch_boot_image_import: Option<bool>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct V1Spec {
    #[serde(default)]
    workload_sources: WorkloadSources,
    #[serde(default)]
    feature_gates: Vec<FeatureGate>,
}

#[derive(Default, Deserialize)]
#[serde(rename_all = "camelCase")]
struct WorkloadSources {
    enable_common_boot_image_import: Option<bool>,
    data_import_cron_templates: Option<Vec<DataImportCronTemplate>>,
    common_boot_image_namespace: Option<String>,
    common_templates_namespace: Option<String>,
    enable_multi_arch_boot_image_import: Option<bool>,
}

/// A v1 feature-gate list item.
#[derive(Deserialize)]
struct FeatureGate {
    name: String,
    #[serde(default)]
    state: Option<String>,
}

const MULTI_ARCH_GATE: &str = "enableMultiArchBootImageImport";

impl HyperConverged {
    /// Reads a HyperConverged object. Errors name the field that failed.
    pub fn from_value(value: &Value) -> Result<Self, Error> {
        let api_version = value
            .get("apiVersion")
            .and_then(Value::as_str)
            .unwrap_or("");
        let form = ApiForm::from_api_version(api_version).ok_or_else(|| {
            Error::invalid(format!(
                "unsupported HyperConverged apiVersion {api_version:?}"
            ))
            .at("apiVersion")
            .hint("write hco.kubevirt.io/v1beta1 or hco.kubevirt.io/v1")
        })?;
        match form {
            ApiForm::V1Beta1 => {
                let raw: Raw<V1Beta1Spec> = from_value(value)?;
                Ok(HyperConverged {
                    form,
                    metadata: raw.metadata,
                    templates: raw.spec.data_import_cron_templates.unwrap_or_default(),
                    common_import_field: raw.spec.enable_common_boot_image_import,
                    common_import_gate: raw.spec.feature_gates.enable_common_boot_image_import,
                    common_boot_image_namespace: raw.spec.common_boot_image_namespace,
                    common_templates_namespace: raw.spec.common_templates_namespace,
                    multi_arch_field: raw.spec.enable_multi_arch_boot_image_import,
                    multi_arch_gate: raw.spec.feature_gates.enable_multi_arch_boot_image_import,
                    status: raw.status,
                })
            }
            ApiForm::V1 => {
                let raw: Raw<V1Spec> = from_value(value)?;
                let multi_arch_gate = v1_gate_state(&raw.spec.feature_gates, MULTI_ARCH_GATE)?;
                let sources = raw.spec.workload_sources;
                Ok(HyperConverged {
                    form,
                    metadata: raw.metadata,
                    templates: sources.data_import_cron_templates.unwrap_or_default(),
                    common_import_field: sources.enable_common_boot_image_import,
                    common_import_gate: None,
                    common_boot_image_namespace: sources.common_boot_image_namespace,
                    common_templates_namespace: sources.common_templates_namespace,
                    multi_arch_field: sources.enable_multi_arch_boot_image_import,
                    multi_arch_gate,
                    status: raw.status,
                })
            }
        }
    }
}

/// Reads the state of a v1 feature gate: `Enabled` is on, `Disabled` (the
/// default when `state` is unset) is off.
fn v1_gate_state(gates: &[FeatureGate], name: &str) -> Result<Option<bool>, Error> {
    let Some((index, gate)) = gates.iter().enumerate().find(|(_, g)| g.name == name) else {
        return Ok(None);
    };
    match gate.state.as_deref() {
        None | Some("Disabled") => Ok(Some(false)),
        Some("Enabled") => Ok(Some(true)),
        Some(other) => Err(
            Error::invalid(format!("invalid feature gate state {other:?}"))
                .at(format!("spec.featureGates[{index}].state"))
                .hint("write Enabled or Disabled"),
        ),
    }
}
