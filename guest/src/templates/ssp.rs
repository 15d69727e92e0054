//! The hand-off to SSP: the `ssp-kubevirt-hyperconverged` CR's templates.

use serde_json::{json, Map, Value};

use super::merge::StatusTemplate;
use super::multiarch::is_undeployable;
use crate::hco_version::HcoVersion;
use crate::model::dict::{
    DataImportCronTemplate, ARCHITECTURES_ANNOTATION, IMMEDIATE_BIND_ANNOTATION,
};
use crate::model::hyperconverged::HyperConverged;

/// Name of the SSP CR HCO manages, in the HyperConverged's namespace.
pub const SSP_NAME: &str = "ssp-kubevirt-hyperconverged";
/// Namespace of VM templates when `commonTemplatesNamespace` is unset.
pub const DEFAULT_COMMON_TEMPLATES_NAMESPACE: &str = "openshift";
/// Namespace HCO runs in when the HyperConverged names none.
pub const DEFAULT_HCO_NAMESPACE: &str = "kubevirt-hyperconverged";

/// Converts the status list into the templates SSP receives.
///
/// Undeployable multi-arch entries are left out. Metadata and spec are
/// copied (an absent spec becomes an empty one); HCO-only status is not
/// sent. HCO 1.9+ adds the immediate-bind annotation with `"true"` when the
/// key is missing and keeps any existing value, `"false"` included. While
/// multi-arch is off, HCO 1.16+ drops the architecture annotation.
pub fn ssp_templates(
    status: &[StatusTemplate],
    version: HcoVersion,
    multi_arch: bool,
) -> Vec<DataImportCronTemplate> {
    status
        .iter()
        .filter(|t| !is_undeployable(t))
        .map(|t| {
            let mut template = DataImportCronTemplate {
                metadata: t.metadata.clone(),
                spec: Some(t.spec.clone().unwrap_or_default()),
            };
            if version.adds_immediate_bind()
                && template
                    .metadata
                    .annotation(IMMEDIATE_BIND_ANNOTATION)
                    .is_none()
            {
                template
                    .metadata
                    .set_annotation(IMMEDIATE_BIND_ANNOTATION, "true");
            }
            if version.has_multi_arch() && !multi_arch {
                template
                    .metadata
                    .remove_annotation(ARCHITECTURES_ANNOTATION);
            }
            template
        })
        .collect()
}

/// Returns the namespace of the SSP CR: the HyperConverged's own.
pub fn ssp_namespace(hc: &HyperConverged) -> String {
    match hc.metadata.namespace() {
        "" => DEFAULT_HCO_NAMESPACE.to_string(),
        ns => ns.to_string(),
    }
}

/// Builds the SSP fields HCO owns for boot sources, as an apply body.
pub fn ssp_body(
    hc: &HyperConverged,
    templates: &[DataImportCronTemplate],
    version: HcoVersion,
    multi_arch: bool,
) -> Value {
    let templates_namespace = hc
        .common_templates_namespace
        .clone()
        .filter(|ns| !ns.is_empty())
        .unwrap_or_else(|| DEFAULT_COMMON_TEMPLATES_NAMESPACE.to_string());
    let mut spec = Map::new();
    spec.insert(
        "commonTemplates".into(),
        json!({
            "namespace": templates_namespace,
            "dataImportCronTemplates": templates,
        }),
    );
    if version.always_sets_multi_arch() {
        spec.insert(
            "enableMultipleArchitectures".into(),
            Value::Bool(multi_arch),
        );
    } else if version.has_multi_arch() {
        if let Some(gate) = hc.multi_arch_gate {
            spec.insert("enableMultipleArchitectures".into(), Value::Bool(gate));
        }
    }
    if version.has_multi_arch() {
        if let Some(nodes) = &hc.status.node_info {
            if !nodes.control_plane_architectures.is_empty()
                || !nodes.workloads_architectures.is_empty()
            {
                spec.insert(
                    "cluster".into(),
                    json!({
                        "controlPlaneArchitectures": nodes.control_plane_architectures,
                        "workloadArchitectures": nodes.workloads_architectures,
                    }),
                );
            }
        }
    }
    json!({
        "apiVersion": version.ssp_api_version(),
        "kind": "SSP",
        "metadata": {"name": SSP_NAME, "namespace": ssp_namespace(hc)},
        "spec": spec,
    })
}
