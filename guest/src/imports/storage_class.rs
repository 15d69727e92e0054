//! The storage class imports are made on, what a change of it does, and the
//! source format (`pvc` or `snapshot`) its StorageProfile sets.

use chrono::Duration;
use serde_json::Value;

use super::{annotation, kind, naming, CronPass, PassError, Stop};
use crate::model::cdi::{ImportStatus, ANNOTATION_SOURCE_DESIRED_DIGEST, ANNOTATION_STORAGE_CLASS};
use crate::model::core::{ANNOTATION_DEFAULT_CLASS, ANNOTATION_DEFAULT_VIRT_CLASS};

/// Source format that keeps each import as a PVC.
pub const FORMAT_PVC: &str = "pvc";
/// Source format that keeps each import as a VolumeSnapshot.
pub const FORMAT_SNAPSHOT: &str = "snapshot";
/// StorageProfile annotation: default to ReadWriteOnce for cron imports.
pub const ANNOTATION_USE_RWO: &str = "cdi.kubevirt.io/useReadWriteOnceForDataImportCron";
/// StorageProfile annotation: VolumeSnapshotClass for cron snapshots.
pub const ANNOTATION_SNAPSHOT_CLASS: &str = "cdi.kubevirt.io/snapshotClassForDataImportCron";
/// Seconds to wait before the pass after a deletion it depends on.
pub const RETRY_SECONDS: i64 = 1;

/// The class imports should be made on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DesiredClass {
    /// None when the template names no class and no class is default.
    pub name: Option<String>,
    /// True when the template names the class itself.
    pub explicit: bool,
}

/// Chooses the desired class: the template's own `storageClassName`, else
/// the default virt class, else the Kubernetes default class. Among several
/// defaults the newest wins, then the first by name.
pub(crate) fn desired(pass: &mut CronPass<'_>) -> Result<DesiredClass, PassError> {
    if let Some(name) = pass.cron.spec.template.spec.storage_class_name() {
        return Ok(DesiredClass {
            name: Some(name.to_string()),
            explicit: true,
        });
    }
    let default = newest_with(pass, ANNOTATION_DEFAULT_VIRT_CLASS)
        .or_else(|| newest_with(pass, ANNOTATION_DEFAULT_CLASS));
    if default.is_none() {
        let warning = pass.warn(
            Some("spec.template.spec.storage.storageClassName"),
            "no default storage class: the import PVC stays Pending until a StorageClass is \
             marked default or the template names one",
        );
        pass.out.warnings.push(warning);
    }
    Ok(DesiredClass {
        name: default,
        explicit: false,
    })
}

fn newest_with(pass: &CronPass<'_>, key: &str) -> Option<String> {
    let mut defaults: Vec<(&str, &str)> = pass
        .snapshot
        .of_kind(kind::STORAGE_CLASS)
        .iter()
        .filter(|e| annotation(&e.value, key) == Some("true"))
        .map(|e| {
            let created = e
                .value
                .pointer("/metadata/creationTimestamp")
                .and_then(Value::as_str)
                .unwrap_or("");
            (created, e.reference.name.as_str())
        })
        .collect();
    // Newest first; equal times fall back to the name.
    defaults.sort_by(|a, b| b.0.cmp(a.0).then(a.1.cmp(b.1)));
    defaults.first().map(|(_, name)| name.to_string())
}

/// Handles a change of the desired class, before anything else uses it.
///
/// - A Pending import PVC of this cron on another, non-empty class, when the
///   class is not explicit, is deleted so the import restarts on the new
///   default; the pass ends there.
/// - When the cron's storage-class annotation names another class, the
///   snapshot, DataVolume and PVC of the desired digest are deleted; once
///   they are gone the annotation moves to the new class and the pass ends,
///   so the image is imported again on the new class.
/// - Otherwise the annotation is set to the desired class.
pub(crate) fn handle_change(
    pass: &mut CronPass<'_>,
    class: &DesiredClass,
    current: Option<&ImportStatus>,
) -> Result<(), PassError> {
    let Some(desired) = class.name.clone() else {
        return Ok(());
    };
    if let (Some(current), false) = (current, class.explicit) {
        if let Some((entry, pvc)) = pass.pvc(&current.data_volume_name)? {
            let pending = pvc.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Pending");
            let ours = super::label(&entry.value, crate::model::cdi::LABEL_DATA_IMPORT_CRON)
                == Some(pass.name());
            let other_class = pvc
                .spec
                .storage_class_name
                .as_deref()
                .is_some_and(|c| !c.is_empty() && c != desired);
            if pending && ours && other_class {
                pass.delete(
                    entry,
                    format!("the Pending import PVC is on an old storage class; the desired class is now {desired}"),
                );
                pass.out.due_at(pass.now + Duration::seconds(RETRY_SECONDS));
                return Err(PassError::Stop(Stop::Requeue));
            }
        }
    }

    let recorded = pass.annotations.get(ANNOTATION_STORAGE_CLASS).cloned();
    match recorded {
        Some(old) if old != desired => {
            let digest = pass
                .annotations
                .get(ANNOTATION_SOURCE_DESIRED_DIGEST)
                .cloned()
                .unwrap_or_default();
            let name = naming::import_name(&pass.cron.spec.managed_data_source, &digest).ok();
            let mut waiting = false;
            if let Some(name) = name {
                for kind in [kind::SNAPSHOT, kind::DATA_VOLUME, kind::PVC] {
                    if let Some(entry) = pass.find(kind, &name) {
                        pass.delete(
                            entry,
                            format!("the import was made on storage class {old}; the desired class is now {desired}"),
                        );
                        waiting = true;
                    }
                }
            }
            pass.out.due_at(pass.now + Duration::seconds(RETRY_SECONDS));
            if waiting {
                return Err(pass.fail(
                    Some("metadata.annotations"),
                    format!("waiting for old sources on storage class {old} to be deleted"),
                ));
            }
            pass.annotations
                .insert(ANNOTATION_STORAGE_CLASS.to_string(), desired);
            Err(PassError::Stop(Stop::Requeue))
        }
        Some(_) => Ok(()),
        None => {
            pass.annotations
                .insert(ANNOTATION_STORAGE_CLASS.to_string(), desired);
            Ok(())
        }
    }
}

/// Returns the source format the StorageProfile of `class` sets:
/// `snapshot` or, by default and without a class, `pvc`.
pub(crate) fn source_format(pass: &CronPass<'_>, class: Option<&str>) -> Result<String, PassError> {
    let Some(class) = class else {
        return Ok(FORMAT_PVC.to_string());
    };
    let format = pass
        .snapshot
        .get(kind::STORAGE_PROFILE, "", class)
        .and_then(|e| e.value.pointer("/status/dataImportCronSourceFormat"))
        .and_then(Value::as_str);
    Ok(match format {
        Some(FORMAT_SNAPSHOT) => FORMAT_SNAPSHOT,
        _ => FORMAT_PVC,
    }
    .to_string())
}

/// Returns annotation `key` of the StorageProfile of `class`.
pub(crate) fn profile_annotation<'v>(
    pass: &CronPass<'v>,
    class: Option<&str>,
    key: &str,
) -> Option<&'v str> {
    let entry = pass.snapshot.get(kind::STORAGE_PROFILE, "", class?)?;
    annotation(&entry.value, key)
}

/// Returns the VolumeSnapshotClass for cron snapshots on `class`: the
/// profile's annotation, else the profile's `status.snapshotClass`.
pub(crate) fn snapshot_class<'v>(pass: &CronPass<'v>, class: Option<&str>) -> Option<&'v str> {
    profile_annotation(pass, class, ANNOTATION_SNAPSHOT_CLASS).or_else(|| {
        pass.snapshot
            .get(kind::STORAGE_PROFILE, "", class?)?
            .value
            .pointer("/status/snapshotClass")?
            .as_str()
    })
}
