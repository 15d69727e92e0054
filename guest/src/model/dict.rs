//! DataImportCronTemplate and the CDI `DataImportCronSpec` it carries.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::meta::ObjectMeta;

/// Per-template switch: absent or `true` in any case means enabled.
pub const ENABLE_ANNOTATION: &str = "dataimportcrontemplate.kubevirt.io/enable";
/// Asks CDI to bind the import volume at once, even on WaitForFirstConsumer
/// storage classes, where no pod would ever consume a golden image.
pub const IMMEDIATE_BIND_ANNOTATION: &str = "cdi.kubevirt.io/storage.bind.immediate.requested";
/// Comma-separated CPU architectures a template supports.
pub const ARCHITECTURES_ANNOTATION: &str = "ssp.kubevirt.io/dict.architectures";

/// A boot-source template: the metadata and spec of a DataImportCron to be.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DataImportCronTemplate {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<DataImportCronSpec>,
}

impl DataImportCronTemplate {
    /// Returns `metadata.name`, or `""` when unset.
    pub fn name(&self) -> &str {
        self.metadata.name()
    }

    /// Tells whether the enable annotation leaves this template on: absent,
    /// or a value that lower-cases to `true`. Every other value, `""`
    /// included, disables it.
    pub fn is_enabled(&self) -> bool {
        match self.metadata.annotation(ENABLE_ANNOTATION) {
            None => true,
            Some(value) => value.eq_ignore_ascii_case("true"),
        }
    }
}

/// CDI `DataImportCronSpec` (`cdi.kubevirt.io/v1beta1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataImportCronSpec {
    /// The DataVolume each import is made from.
    #[serde(default)]
    pub template: DataVolumeTemplate,
    /// Cron expression; `""` means "never poll".
    #[serde(default)]
    pub schedule: String,
    /// `Outdated` (the CDI default when unset) or `Never`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub garbage_collect: Option<String>,
    /// How many imports garbage collection keeps; CDI uses 3 when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub imports_to_keep: Option<i32>,
    /// Name of the DataSource the cron points at the newest import.
    #[serde(default)]
    pub managed_data_source: String,
    /// `None` deletes the imports with the cron; `All` (the CDI default
    /// when unset) keeps them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retention_policy: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_account_name: Option<String>,
}

/// The DataVolume object inside a DataImportCron spec.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DataVolumeTemplate {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub api_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metadata: Option<ObjectMeta>,
    #[serde(default)]
    pub spec: DataVolumeSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// CDI `DataVolumeSpec`. Fields outside the schema are kept in `unknown`,
/// because the API server prunes them without a word and validation warns
/// about them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<DataVolumeSource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_ref: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checkpoints: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_checkpoint: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preallocation: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority_class_name: Option<Value>,
    #[serde(flatten)]
    pub unknown: BTreeMap<String, Value>,
}

impl DataVolumeSpec {
    /// Returns the explicit storage class of `spec.storage` or `spec.pvc`.
    pub fn storage_class_name(&self) -> Option<&str> {
        [&self.storage, &self.pvc]
            .into_iter()
            .flatten()
            .find_map(|s| s.get("storageClassName")?.as_str())
    }
}

/// Where a DataVolume takes its data from. Only `registry` and `pvc` are
/// valid in a DataImportCron; the other kinds are kept so that validation
/// can name them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub registry: Option<RegistrySource>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<PvcSource>,
    #[serde(flatten)]
    pub other: BTreeMap<String, Value>,
}

/// `source.registry` of a DataVolume.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RegistrySource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_stream: Option<String>,
    /// `pod` (default) or `node`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub secret_ref: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cert_config_map: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
}

/// `registry.platform`: the architecture to pull from a multi-arch image.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Platform {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub architecture: Option<String>,
}

/// `source.pvc` of a DataVolume: a PVC to clone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PvcSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default)]
    pub name: String,
}

impl DataImportCronSpec {
    /// Describes the source for people: the registry URL, the ImageStream
    /// or the PVC to clone.
    pub fn source_display(&self) -> String {
        let Some(source) = &self.template.spec.source else {
            return "-".into();
        };
        if let Some(registry) = &source.registry {
            if let Some(url) = &registry.url {
                return url.clone();
            }
            if let Some(stream) = &registry.image_stream {
                return format!("imagestream:{stream}");
            }
        }
        if let Some(pvc) = &source.pvc {
            return format!(
                "pvc:{}/{}",
                pvc.namespace.as_deref().unwrap_or(""),
                pvc.name
            );
        }
        "-".into()
    }
}
