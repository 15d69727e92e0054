//! CDI objects: DataImportCron, DataSource, DataVolume, StorageProfile.
//!
//! Cluster objects are read leniently: fields this project does not use are
//! accepted and dropped, because a snapshot of a live cluster carries many.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::dict::DataImportCronSpec;
use super::meta::ObjectMeta;

pub const API_VERSION: &str = "cdi.kubevirt.io/v1beta1";

/// Label naming the DataImportCron that owns an object.
pub const LABEL_DATA_IMPORT_CRON: &str = "cdi.kubevirt.io/dataImportCron";
/// Label marking objects to delete with their cron (`retentionPolicy: None`).
pub const LABEL_CLEANUP: &str = "cdi.kubevirt.io/dataImportCron.cleanup";
/// Cron annotation: the newest digest seen at the source.
pub const ANNOTATION_SOURCE_DESIRED_DIGEST: &str =
    "cdi.kubevirt.io/storage.import.sourceDesiredDigest";
/// Cron annotation: the ImageStream tag item's docker reference.
pub const ANNOTATION_IMAGE_STREAM_DOCKER_REF: &str =
    "cdi.kubevirt.io/storage.import.imageStreamDockerRef";
/// Cron annotation: next poll time (RFC 3339).
pub const ANNOTATION_NEXT_CRON_TIME: &str = "cdi.kubevirt.io/storage.import.nextCronTime";
/// Cron annotation: last poll time (RFC 3339).
pub const ANNOTATION_LAST_CRON_TIME: &str = "cdi.kubevirt.io/storage.import.lastCronTime";
/// Import annotation: last time the cron created or used the object (UTC
/// RFC 3339 with nanoseconds); the garbage-collection order key.
pub const ANNOTATION_LAST_USE_TIME: &str = "cdi.kubevirt.io/storage.import.lastUseTime";
/// Cron annotation: storage class the current imports were made on.
pub const ANNOTATION_STORAGE_CLASS: &str = "cdi.kubevirt.io/storage.import.storageClass";

/// A `{namespace, name}` pair.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct NamespacedName {
    #[serde(default)]
    pub namespace: String,
    #[serde(default)]
    pub name: String,
}

/// A CDI condition (`ConditionState` plus type and timestamps).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CdiCondition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_heartbeat_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `DataImportCron` (`cdi.kubevirt.io/v1beta1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataImportCron {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DataImportCronSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DataImportCronStatus>,
}

/// `DataImportCron.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataImportCronStatus {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current_imports: Option<Vec<ImportStatus>>,
    /// The wire key spells PVC in capitals.
    #[serde(
        rename = "lastImportedPVC",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub last_imported_pvc: Option<NamespacedName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_execution_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_import_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<CdiCondition>>,
}

/// One entry of `status.currentImports`. The wire keys are capitalised, as
/// the CDI API defines them.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImportStatus {
    #[serde(rename = "DataVolumeName", default)]
    pub data_volume_name: String,
    #[serde(rename = "Digest", default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
}

/// `DataSource` (`cdi.kubevirt.io/v1beta1`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSource {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: DataSourceSpec,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
}

/// `DataSource.spec`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataSourceSpec {
    #[serde(default)]
    pub source: DataSourceSource,
}

/// `DataSource.spec.source`: one kind at a time.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataSourceSource {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pvc: Option<NamespacedName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot: Option<NamespacedName>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_source: Option<NamespacedName>,
}

/// `DataVolume` (`cdi.kubevirt.io/v1beta1`); the spec is kept as JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct DataVolume {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default)]
    pub spec: Value,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<DataVolumeStatus>,
}

/// `DataVolume.status`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataVolumeStatus {
    /// `Pending`, `ImportScheduled`, `ImportInProgress`, `Succeeded`,
    /// `Failed`, `WaitForFirstConsumer`, `PendingPopulation`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phase: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<CdiCondition>,
}

/// `StorageProfile` (`cdi.kubevirt.io/v1beta1`), named after its class.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct StorageProfile {
    #[serde(default)]
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<StorageProfileStatus>,
}

/// The `StorageProfile.status` fields a cron reads.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StorageProfileStatus {
    /// `pvc` (default) or `snapshot`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_import_cron_source_format: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_class: Option<String>,
}
