//! The current import (DataVolume, bound PVC or VolumeSnapshot), the digest
//! decision, and the shape of a new import DataVolume.

use serde_json::{json, Map, Value};

use super::conditions::{self as cond, PROGRESSING, UP_TO_DATE};
use super::storage_class::{self, DesiredClass, FORMAT_PVC};
use super::{authorization, kind, naming, snapshot_format, CronPass, PassError, Stop};
use crate::model::cdi::{
    ImportStatus, NamespacedName, ANNOTATION_IMAGE_STREAM_DOCKER_REF, ANNOTATION_LAST_USE_TIME,
    ANNOTATION_SOURCE_DESIRED_DIGEST, API_VERSION, LABEL_DATA_IMPORT_CRON,
};
use crate::model::dict::IMMEDIATE_BIND_ANNOTATION;
use crate::model::meta::ObjectRef;
use crate::plan::{Action, Preconditions};

/// DataVolume phase of a finished import.
pub const PHASE_SUCCEEDED: &str = "Succeeded";
/// Reasons of a `Running=False` DataVolume condition that mean the import
/// failed for good, so a new digest may replace it.
pub const FAILED_RUNNING_REASONS: &[&str] = &["Error", "ImagePullFailed"];
/// Cron annotation copied to the import DataVolume: keep the importer pod.
pub const ANNOTATION_RETAIN_AFTER_COMPLETION: &str =
    "cdi.kubevirt.io/storage.pod.retainAfterCompletion";

/// How far a succeeded import got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Success {
    /// The source in the wanted format is ready to use.
    Ready,
    /// The snapshot of the imported PVC exists but is not ReadyToUse yet.
    SnapshotPending,
    /// The format is `snapshot` but no snapshot is taken yet, because the
    /// PVC is on a class that is no longer desired.
    SnapshotMissing,
}

/// Branches on the current import and returns how far it succeeded, or
/// None when it has not.
///
/// - A DataVolume: `Succeeded` is a success; other phases set Progressing.
/// - No DataVolume but a Bound PVC: a success.
/// - Neither, but a VolumeSnapshot: kept when the format and snapshot class
///   still fit, else deleted and the pass ends.
/// - Nothing: the first `currentImports` entry is dropped, so the digest
///   decision re-creates the import in this same pass.
pub(crate) fn branch_on_current(
    pass: &mut CronPass<'_>,
    current: Option<&ImportStatus>,
    class: &DesiredClass,
    format: &str,
) -> Result<Option<Success>, PassError> {
    let name = current
        .map(|c| c.data_volume_name.clone())
        .unwrap_or_default();
    let data_volume = match current {
        Some(_) => pass.data_volume(&name)?,
        None => None,
    };
    let pvc = match current {
        Some(_) => pass.pvc(&name)?,
        None => None,
    };

    if let Some((_, dv)) = &data_volume {
        let phase = dv
            .status
            .as_ref()
            .and_then(|s| s.phase.clone())
            .unwrap_or_default();
        if phase == PHASE_SUCCEEDED {
            return populated(pass, &name, class, format).map(Some);
        }
        match phase.as_str() {
            "ImportScheduled" => pass.set_condition(
                PROGRESSING,
                false,
                cond::REASON_IMPORT_SCHEDULED,
                cond::MESSAGE_IMPORT_SCHEDULED,
            ),
            "ImportInProgress" => pass.set_condition(
                PROGRESSING,
                true,
                cond::REASON_IMPORT_PROGRESSING,
                cond::MESSAGE_IMPORT_PROGRESSING,
            ),
            other => {
                // NOTE: a DataVolume with no phase yet is reported as Pending.
                let other = if other.is_empty() { "Pending" } else { other };
                pass.set_condition(
                    PROGRESSING,
                    false,
                    other,
                    &format!("Import DataVolume phase {other}"),
                )
            }
        }
        return Ok(None);
    }

    let bound = pvc
        .as_ref()
        .and_then(|(_, p)| p.status.as_ref()?.phase.as_deref())
        == Some("Bound");
    if bound {
        return populated(pass, &name, class, format).map(Some);
    }

    if current.is_some() {
        if let Some((entry, snapshot)) = pass.volume_snapshot(&name)? {
            let profile_class = storage_class::snapshot_class(pass, class.name.as_deref());
            let class_differs = profile_class.is_some()
                && snapshot.spec.volume_snapshot_class_name.as_deref() != profile_class;
            if format == FORMAT_PVC || class_differs {
                pass.delete(
                    entry,
                    "the import snapshot no longer fits the StorageProfile's source format or snapshot class",
                );
                pass.out
                    .due_at(pass.now + chrono::Duration::seconds(storage_class::RETRY_SECONDS));
                return Err(PassError::Stop(Stop::Requeue));
            }
            snapshot_format::keep_snapshot(pass, entry, &snapshot)?;
            pass.touch(entry, "mark the import snapshot as in use by its cron");
            let ready = snapshot.status.as_ref().and_then(|s| s.ready_to_use) == Some(true);
            return Ok(Some(if ready {
                Success::Ready
            } else {
                Success::SnapshotPending
            }));
        }
    }

    // Nothing found: forget the import so that it is re-created now.
    if let Some(list) = pass.status.current_imports.as_mut() {
        if !list.is_empty() {
            list.remove(0);
        }
    }
    pass.set_condition(
        PROGRESSING,
        false,
        cond::REASON_NO_IMPORT,
        cond::MESSAGE_NO_IMPORT,
    );
    Ok(None)
}

fn populated(
    pass: &mut CronPass<'_>,
    name: &str,
    class: &DesiredClass,
    format: &str,
) -> Result<Success, PassError> {
    if let Some((entry, _)) = pass.pvc(name)? {
        pass.touch(entry, "mark the imported PVC as in use by its cron");
    }
    if format == FORMAT_PVC {
        return Ok(Success::Ready);
    }
    snapshot_format::handle(pass, name, class)
}

/// Makes the digest decision: starts an import for a new digest, or
/// reports how up to date the cron is.
///
/// A new digest never interrupts an import still running: it waits until
/// that import succeeds or fails for good (`Running=False` with reason
/// `Error` or `ImagePullFailed`), and a failed import is deleted first.
pub(crate) fn decide(
    pass: &mut CronPass<'_>,
    succeeded: Option<Success>,
    class: &DesiredClass,
    format: &str,
) -> Result<(), PassError> {
    let desired = pass
        .annotations
        .get(ANNOTATION_SOURCE_DESIRED_DIGEST)
        .cloned()
        .unwrap_or_default();
    let first = pass
        .status
        .current_imports
        .as_ref()
        .and_then(|l| l.first())
        .cloned();

    let outdated = !desired.is_empty()
        && first
            .as_ref()
            .is_none_or(|f| f.digest.as_deref() != Some(desired.as_str()));
    if outdated {
        pass.set_condition(
            UP_TO_DATE,
            false,
            cond::REASON_OUTDATED,
            cond::MESSAGE_OUTDATED,
        );
        let mut no_imports = first.is_none();
        if let Some(first) = &first {
            if delete_failed_import(pass, &first.data_volume_name)? {
                pass.status.current_imports = None;
                no_imports = true;
            }
        }
        if succeeded.is_some() || no_imports {
            create(pass, &desired, class)?;
        }
        return Ok(());
    }

    match (succeeded, first.is_some()) {
        (Some(Success::Ready), _) => {
            pass.status.source_format = Some(format.to_string());
            pass.set_condition(
                UP_TO_DATE,
                true,
                cond::REASON_UP_TO_DATE,
                cond::MESSAGE_UP_TO_DATE,
            );
        }
        (Some(Success::SnapshotPending), _) => pass.set_condition(
            UP_TO_DATE,
            false,
            cond::REASON_IMPORT_PROGRESSING,
            cond::MESSAGE_SNAPSHOT_PROGRESSING,
        ),
        (Some(Success::SnapshotMissing), _) => {}
        (None, true) => pass.set_condition(
            UP_TO_DATE,
            false,
            cond::REASON_IMPORT_PROGRESSING,
            cond::MESSAGE_IMPORT_PROGRESSING,
        ),
        (None, false) => pass.set_condition(
            UP_TO_DATE,
            false,
            cond::REASON_NO_DIGEST,
            cond::MESSAGE_NO_DIGEST,
        ),
    }
    Ok(())
}

/// Deletes the DataVolume `name` when its import failed for good, after
/// blanking its cron label so that it no longer counts as this cron's.
fn delete_failed_import(pass: &mut CronPass<'_>, name: &str) -> Result<bool, PassError> {
    let Some((entry, dv)) = pass.data_volume(name)? else {
        return Ok(false);
    };
    let failed = dv.status.as_ref().is_some_and(|s| {
        s.conditions.iter().any(|c| {
            c.type_ == "Running"
                && c.status == "False"
                && c.reason
                    .as_deref()
                    .is_some_and(|r| FAILED_RUNNING_REASONS.contains(&r))
        })
    });
    if !failed {
        return Ok(false);
    }
    pass.out.actions.push(Action::merge_patch(
        entry.reference.clone(),
        json!({ "metadata": { "labels": { LABEL_DATA_IMPORT_CRON: "" } } }),
        false,
        "detach the failed import from its cron before deleting it",
    ));
    // The label patch changes the resourceVersion, so only the uid guards
    // the delete.
    let uid = super::preconditions_of(&entry.value).uid;
    pass.out.actions.push(Action::delete(
        entry.reference.clone(),
        Preconditions {
            uid,
            resource_version: None,
        },
        "the import failed for good and a newer digest is waiting",
    ));
    pass.deleted
        .insert((kind::DATA_VOLUME.to_string(), name.to_string()));
    Ok(true)
}

/// Starts the import of `digest`, or reuses what already exists for it.
///
/// An existing VolumeSnapshot or PVC of the import name is touched and
/// reused, and no DataVolume is made: the digest went back to an older
/// one, or the cron was re-created. An existing DataVolume of that name is
/// adopted as the API server's AlreadyExists would leave it.
fn create(pass: &mut CronPass<'_>, digest: &str, class: &DesiredClass) -> Result<(), PassError> {
    let name = naming::import_name(&pass.cron.spec.managed_data_source, digest).map_err(|e| {
        pass.fail(
            Some("metadata.annotations[\"cdi.kubevirt.io/storage.import.sourceDesiredDigest\"]"),
            format!("{e}: {digest:?}; a digest is sha256:<hex> or uid:<PVC UID>"),
        )
    })?;
    let import = ImportStatus {
        data_volume_name: name.clone(),
        digest: Some(digest.to_string()),
    };

    let existing: Vec<_> = [kind::SNAPSHOT, kind::PVC]
        .iter()
        .filter_map(|k| pass.find(k, &name))
        .collect();
    if !existing.is_empty() {
        for entry in existing {
            pass.touch(entry, "reuse the existing import of this digest");
        }
        pass.status.current_imports = Some(vec![import]);
        return Ok(());
    }
    if pass.find(kind::DATA_VOLUME, &name).is_some() {
        pass.status.current_imports = Some(vec![import]);
        return Ok(());
    }

    if let Some(source) = pvc_source(pass) {
        let cron = NamespacedName {
            namespace: pass.namespace().to_string(),
            name: pass.name().to_string(),
        };
        if !pass.authorization.may_clone(&cron, &source) {
            // currentImports stays as it is, so the next pass checks again.
            pass.set_condition(
                PROGRESSING,
                false,
                authorization::REASON_NOT_AUTHORIZED,
                authorization::MESSAGE_NOT_AUTHORIZED,
            );
            let warning = pass.warn(
                Some("spec.template.spec.source.pvc"),
                format!(
                    "the cron's service account may not clone PVC {}/{}, so no import is \
                     started; grant it clone permission on that PVC",
                    source.namespace, source.name
                ),
            );
            pass.out.warnings.push(warning);
            return Ok(());
        }
    }

    let body = data_volume(pass, &name, digest, class)?;
    let reference = ObjectRef::new(API_VERSION, "DataVolume", pass.namespace(), &name);
    pass.out.actions.push(Action::create(
        reference,
        body,
        format!(
            "import digest {digest} for DataSource {}",
            pass.cron.spec.managed_data_source
        ),
    ));
    pass.created.insert((kind::DATA_VOLUME.to_string(), name));
    pass.status.current_imports = Some(vec![import]);
    Ok(())
}

/// Returns the PVC the cron's template imports from, if its source is a
/// PVC; an unset namespace is the cron's.
fn pvc_source(pass: &CronPass<'_>) -> Option<NamespacedName> {
    let pvc = pass.entry.value.pointer("/spec/template/spec/source/pvc")?;
    let name = pvc.get("name").and_then(Value::as_str)?;
    let namespace = pvc
        .get("namespace")
        .and_then(Value::as_str)
        .filter(|ns| !ns.is_empty())
        .unwrap_or(pass.namespace());
    Some(NamespacedName {
        namespace: namespace.to_string(),
        name: name.to_string(),
    })
}

/// Builds the import DataVolume: the cron's template with the digest URL,
/// the cron labels, the immediate-bind annotation (no pod ever consumes a
/// golden image, so WaitForFirstConsumer must not hold it back) and a
/// `lastUseTime` stamp from creation on.
fn data_volume(
    pass: &CronPass<'_>,
    name: &str,
    digest: &str,
    class: &DesiredClass,
) -> Result<Value, PassError> {
    let template = pass
        .entry
        .value
        .pointer("/spec/template")
        .cloned()
        .unwrap_or_else(|| json!({}));
    let mut spec = template.get("spec").cloned().unwrap_or_else(|| json!({}));

    if let Some(registry) = spec
        .pointer_mut("/source/registry")
        .and_then(Value::as_object_mut)
    {
        if let Some(url) = registry.get("url").and_then(Value::as_str) {
            let url = naming::digest_url(url, digest);
            registry.insert("url".into(), Value::String(url));
        } else if registry.contains_key("imageStream") {
            let Some(reference) = pass.annotations.get(ANNOTATION_IMAGE_STREAM_DOCKER_REF) else {
                return Err(pass.fail(
                    Some("metadata.annotations"),
                    "the ImageStream has no docker image reference recorded yet; it is set by the next poll",
                ));
            };
            registry.insert("url".into(), Value::String(format!("docker://{reference}")));
            registry.remove("imageStream");
        }
    }
    if let Some(pvc) = spec
        .pointer_mut("/source/pvc")
        .and_then(Value::as_object_mut)
    {
        if pvc
            .get("namespace")
            .and_then(Value::as_str)
            .unwrap_or("")
            .is_empty()
        {
            pvc.insert(
                "namespace".into(),
                Value::String(pass.namespace().to_string()),
            );
        }
    }
    // ReadWriteOnce by default when the StorageProfile asks for it and the
    // template's `storage` names no access modes; `pvc` is left alone.
    let use_rwo = storage_class::profile_annotation(
        pass,
        class.name.as_deref(),
        storage_class::ANNOTATION_USE_RWO,
    ) == Some("true");
    if let (true, Some(storage)) = (
        use_rwo,
        spec.get_mut("storage").and_then(Value::as_object_mut),
    ) {
        let has_modes = storage
            .get("accessModes")
            .and_then(Value::as_array)
            .is_some_and(|m| !m.is_empty());
        if !has_modes {
            storage.insert("accessModes".into(), json!(["ReadWriteOnce"]));
        }
    }

    let template_meta = template.get("metadata");
    let mut labels = object_map(template_meta.and_then(|m| m.get("labels")));
    labels.insert(
        "app.kubernetes.io/managed-by".into(),
        json!("cdi-controller"),
    );
    labels.insert("app.kubernetes.io/component".into(), json!("storage"));
    for (key, value) in pass.cron.metadata.labels.iter().flatten() {
        if naming::is_propagated_label(key)
            || naming::DATA_VOLUME_INHERITED_LABELS.contains(&key.as_str())
        {
            labels.insert(key.clone(), json!(value));
        }
    }
    for (key, value) in pass.cron_labels() {
        labels.insert(key, json!(value));
    }

    let mut annotations = object_map(template_meta.and_then(|m| m.get("annotations")));
    annotations.insert(IMMEDIATE_BIND_ANNOTATION.into(), json!("true"));
    annotations.insert(ANNOTATION_LAST_USE_TIME.into(), json!(pass.now_nanos()));
    if let Some(retain) = pass
        .cron
        .metadata
        .annotation(ANNOTATION_RETAIN_AFTER_COMPLETION)
    {
        annotations.insert(ANNOTATION_RETAIN_AFTER_COMPLETION.into(), json!(retain));
    }

    Ok(json!({
        "apiVersion": API_VERSION,
        "kind": "DataVolume",
        "metadata": {
            "name": name,
            "namespace": pass.namespace(),
            "labels": labels,
            "annotations": annotations,
        },
        "spec": spec,
    }))
}

fn object_map(value: Option<&Value>) -> Map<String, Value> {
    value
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}
