//! The `snapshot` source format: a VolumeSnapshot of each imported PVC
//! replaces the PVC once it is ready to use.

use serde_json::{json, Map, Value};

use super::import::Success;
use super::storage_class::{self, DesiredClass};
use super::{annotation, naming, CronPass, PassError};
use crate::model::core::VolumeSnapshot;
use crate::model::meta::ObjectRef;
use crate::plan::Action;
use crate::snapshot::Entry;

/// Snapshot annotation: the volume mode of the PVC it was taken from.
pub const ANNOTATION_SOURCE_VOLUME_MODE: &str = "cdi.kubevirt.io/storage.import.sourceVolumeMode";
/// Snapshot annotation: the size a PVC restored from it should request.
pub const ANNOTATION_ADVISED_RESTORE_SIZE: &str =
    "cdi.kubevirt.io/storage.import.advisedRestoreSize";

/// Handles a succeeded import PVC when the format is `snapshot`.
///
/// A PVC on a class that is no longer desired is not snapshotted. Otherwise
/// a VolumeSnapshot of the PVC's name is taken, and once it is ReadyToUse
/// the DataVolume (or the PVC when there is no DataVolume) is deleted.
pub(crate) fn handle(
    pass: &mut CronPass<'_>,
    name: &str,
    class: &DesiredClass,
) -> Result<Success, PassError> {
    let Some((pvc_entry, pvc)) = pass.pvc(name)? else {
        return Ok(Success::SnapshotMissing);
    };
    if pvc.spec.storage_class_name.as_deref() != class.name.as_deref() {
        return Ok(Success::SnapshotMissing);
    }
    let Some((_, snapshot)) = pass.volume_snapshot(name)? else {
        create(pass, pvc_entry, class);
        return Ok(Success::SnapshotPending);
    };
    if snapshot.status.as_ref().and_then(|s| s.ready_to_use) != Some(true) {
        return Ok(Success::SnapshotPending);
    }
    let reason = "the import snapshot is ready to use, so the imported volume is no longer needed";
    match pass.find(super::kind::DATA_VOLUME, name) {
        Some(dv) => pass.delete(dv, reason),
        None => pass.delete(pvc_entry, reason),
    }
    Ok(Success::Ready)
}

fn create(pass: &mut CronPass<'_>, pvc: &Entry, class: &DesiredClass) {
    let name = pvc.reference.name.clone();
    let mut labels = Map::new();
    labels.insert("app".into(), json!("containerized-data-importer"));
    labels.insert("cdi.kubevirt.io".into(), json!(""));
    if let Some(pvc_labels) = pvc
        .value
        .pointer("/metadata/labels")
        .and_then(Value::as_object)
    {
        for (key, value) in pvc_labels {
            if naming::is_propagated_label(key) {
                labels.insert(key.clone(), value.clone());
            }
        }
    }
    for (key, value) in pass.cron_labels() {
        labels.insert(key, json!(value));
    }

    let mut annotations = Map::new();
    annotations.insert(
        crate::model::cdi::ANNOTATION_LAST_USE_TIME.into(),
        json!(pass.now_nanos()),
    );
    // NOTE: the advised size is the template's request, else the PVC's;
    // quantities are not compared with the snapshot's restore size.
    let size = pass
        .entry
        .value
        .pointer("/spec/template/spec/storage/resources/requests/storage")
        .or_else(|| {
            pass.entry
                .value
                .pointer("/spec/template/spec/pvc/resources/requests/storage")
        })
        .or_else(|| pvc.value.pointer("/spec/resources/requests/storage"));
    if let Some(size) = size {
        annotations.insert(ANNOTATION_ADVISED_RESTORE_SIZE.into(), size.clone());
    }
    if let Some(mode) = pvc.value.pointer("/spec/volumeMode") {
        annotations.insert(ANNOTATION_SOURCE_VOLUME_MODE.into(), mode.clone());
    }

    let mut spec = Map::new();
    spec.insert(
        "source".into(),
        json!({ "persistentVolumeClaimName": name }),
    );
    if let Some(snapshot_class) = storage_class::snapshot_class(pass, class.name.as_deref()) {
        spec.insert("volumeSnapshotClassName".into(), json!(snapshot_class));
    }
    let body = json!({
        "apiVersion": "snapshot.storage.k8s.io/v1",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name, "namespace": pass.namespace(), "labels": labels, "annotations": annotations},
        "spec": spec,
    });
    let reference = ObjectRef::new(
        "snapshot.storage.k8s.io/v1",
        "VolumeSnapshot",
        pass.namespace(),
        &name,
    );
    pass.out.actions.push(Action::create(
        reference,
        body,
        "the StorageProfile keeps cron imports as snapshots",
    ));
    pass.created
        .insert((super::kind::SNAPSHOT.to_string(), name));
}

/// Adds the restore-size annotation that an older snapshot may lack, so a
/// PVC restored from it requests enough space.
pub(crate) fn keep_snapshot(
    pass: &mut CronPass<'_>,
    entry: &Entry,
    snapshot: &VolumeSnapshot,
) -> Result<(), PassError> {
    if annotation(&entry.value, ANNOTATION_ADVISED_RESTORE_SIZE).is_some() {
        return Ok(());
    }
    let Some(size) = snapshot
        .status
        .as_ref()
        .and_then(|s| s.restore_size.clone())
    else {
        return Ok(());
    };
    pass.out.actions.push(Action::merge_patch(
        entry.reference.clone(),
        json!({ "metadata": { "annotations": { ANNOTATION_ADVISED_RESTORE_SIZE: size } } }),
        false,
        "record the advised restore size on the import snapshot",
    ));
    Ok(())
}
