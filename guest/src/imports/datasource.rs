//! The managed DataSource: who owns it, and pointing it at the newest
//! import.

use serde_json::{json, Map, Value};

use super::storage_class::FORMAT_SNAPSHOT;
use super::{conditions, kind, label, naming, CronPass, PassError};
use crate::error::Error;
use crate::model::cdi::{CdiCondition, API_VERSION, LABEL_DATA_IMPORT_CRON};
use crate::model::meta::ObjectRef;
use crate::plan::{Action, Event};

/// DataSource condition type: the source can be cloned from.
pub const READY: &str = "Ready";
const REASON_READY: &str = "Ready";
const MESSAGE_READY: &str = "DataSource is ready to be consumed";

/// Event reason when another cron already manages the DataSource.
pub const REASON_ALREADY_MANAGED: &str = "ErrDataSourceAlreadyManaged";

/// Tells whether another existing cron manages this cron's DataSource, and
/// if so records a Warning event: the DataSource's cron label names another
/// cron of the same namespace whose `managedDataSource` is this DataSource.
/// A missing DataSource, an empty label, or a label naming a missing cron or
/// one that manages another DataSource leaves the cron to be reconciled.
pub(crate) fn managed_by_other(pass: &mut CronPass<'_>) -> Result<bool, Error> {
    let data_source = pass.cron.spec.managed_data_source.clone();
    let Some(entry) = pass.find(kind::DATA_SOURCE, &data_source) else {
        return Ok(false);
    };
    let owner = label(&entry.value, LABEL_DATA_IMPORT_CRON).unwrap_or("");
    if owner.is_empty() || owner == pass.name() {
        return Ok(false);
    }
    let Some(other) = pass.find(kind::CRON, owner) else {
        return Ok(false);
    };
    let other_manages = other
        .value
        .pointer("/spec/managedDataSource")
        .and_then(Value::as_str)
        == Some(data_source.as_str());
    if !other_manages {
        return Ok(false);
    }
    pass.out.events.push(Event {
        object: pass.cron_ref(),
        type_: "Warning".into(),
        reason: REASON_ALREADY_MANAGED.into(),
        message: format!("DataSource {data_source} is already managed by DataImportCron {owner}"),
    });
    Ok(true)
}

/// Creates the managed DataSource or brings a labelled one up to date.
///
/// A DataSource whose cron label is not this cron's name (absent, empty or
/// another cron) is never changed: the cron does not adopt DataSources. A
/// labelled one gets the cron labels again and, once an import succeeded,
/// its whole `spec.source` replaced by the last imported PVC, or by the
/// snapshot of the same name for the `snapshot` format.
pub(crate) fn update(pass: &mut CronPass<'_>, format: &str) -> Result<(), PassError> {
    let name = pass.cron.spec.managed_data_source.clone();
    let mut labels = Map::new();
    for (key, value) in pass.cron.metadata.labels.iter().flatten() {
        if naming::is_propagated_label(key) {
            labels.insert(key.clone(), json!(value));
        }
    }
    for (key, value) in pass.cron_labels() {
        labels.insert(key, json!(value));
    }
    let source = pass.status.last_imported_pvc.as_ref().map(|last| {
        if format == FORMAT_SNAPSHOT {
            json!({ "snapshot": { "namespace": last.namespace, "name": last.name } })
        } else {
            json!({ "pvc": { "namespace": last.namespace, "name": last.name } })
        }
    });

    let Some(entry) = pass.find(kind::DATA_SOURCE, &name) else {
        labels.insert(
            "app.kubernetes.io/managed-by".into(),
            json!("cdi-controller"),
        );
        labels.insert("app.kubernetes.io/component".into(), json!("storage"));
        let body = json!({
            "apiVersion": API_VERSION,
            "kind": "DataSource",
            "metadata": { "name": name, "namespace": pass.namespace(), "labels": labels },
            "spec": { "source": source.unwrap_or_else(|| json!({})) },
        });
        let reference = ObjectRef::new(API_VERSION, "DataSource", pass.namespace(), &name);
        let created_source = body.pointer("/spec/source").cloned().unwrap_or(Value::Null);
        pass.out.actions.push(Action::create(
            reference.clone(),
            body,
            "the cron's managed DataSource does not exist yet",
        ));
        pass.created.insert((kind::DATA_SOURCE.to_string(), name));
        // The API server ignores status on create, so Ready is a patch.
        update_ready(pass, reference, &created_source, None)?;
        return Ok(());
    };
    if label(&entry.value, LABEL_DATA_IMPORT_CRON) != Some(pass.name()) {
        return Ok(());
    }
    let mut effective_source = entry
        .value
        .pointer("/spec/source")
        .cloned()
        .unwrap_or(Value::Null);

    let mut patch = Map::new();
    let missing: Map<String, Value> = labels
        .into_iter()
        .filter(|(key, value)| label(&entry.value, key) != value.as_str())
        .collect();
    if !missing.is_empty() {
        patch.insert("metadata".into(), json!({ "labels": missing }));
    }
    if let Some(source) = source {
        let current = entry
            .value
            .pointer("/spec/source")
            .cloned()
            .unwrap_or(Value::Null);
        if current != source {
            // A merge patch merges maps, so every other source kind is
            // cleared explicitly to replace the whole source.
            let mut replacement = Map::new();
            for key in ["pvc", "snapshot", "dataSource"] {
                replacement.insert(key.into(), Value::Null);
            }
            if let Value::Object(current) = &current {
                for key in current.keys() {
                    replacement.insert(key.clone(), Value::Null);
                }
            }
            if let Value::Object(wanted) = &source {
                for (key, value) in wanted {
                    replacement.insert(key.clone(), value.clone());
                }
            }
            patch.insert("spec".into(), json!({ "source": replacement }));
            effective_source = source;
        }
    }
    if !patch.is_empty() {
        pass.out.actions.push(Action::merge_patch(
            entry.reference.clone(),
            Value::Object(patch),
            false,
            "point the managed DataSource at the cron's newest import",
        ));
    }
    let status = entry.value.get("status").cloned();
    update_ready(
        pass,
        entry.reference.clone(),
        &effective_source,
        status.as_ref(),
    )?;
    Ok(())
}

/// Sets the DataSource's `Ready` condition and `status.source` as the
/// DataSource controller does for a `pvc` or `snapshot` source:
///
/// | source | state | Ready | reason |
/// |---|---|---|---|
/// | none | | False | `NoSource` |
/// | pvc | DataVolume not Succeeded | False | the DataVolume phase |
/// | pvc | DataVolume Succeeded, or PVC without DataVolume | True | `Ready` |
/// | pvc | neither exists | False | `NotFound` |
/// | snapshot | missing / not ReadyToUse / ReadyToUse | False / False / True | `NotFound` / `SnapshotNotReady` / `Ready` |
///
/// `status.source` is the source while Ready is True, and cleared
/// otherwise. A `dataSource` reference is left to the DataSource
/// controller, and the PVC's Bound phase is not checked.
fn update_ready(
    pass: &mut CronPass<'_>,
    reference: ObjectRef,
    source: &Value,
    status: Option<&Value>,
) -> Result<(), PassError> {
    if source.get("dataSource").is_some() {
        return Ok(());
    }
    let (ready, reason, message) = ready_state(pass, source)?;
    let mut conditions: Vec<CdiCondition> = status
        .and_then(|s| s.get("conditions"))
        .and_then(|c| serde_json::from_value(c.clone()).ok())
        .unwrap_or_default();
    let before = conditions.clone();
    conditions::set(
        &mut conditions,
        READY,
        ready,
        &reason,
        &message,
        &pass.now_seconds(),
    );
    let wanted_source = if ready { source.clone() } else { Value::Null };
    let current_source = status
        .and_then(|s| s.get("source"))
        .cloned()
        .unwrap_or(Value::Null);
    if before == conditions && wanted_source == current_source {
        return Ok(());
    }
    pass.out.actions.push(Action::merge_patch(
        reference,
        json!({ "status": { "conditions": conditions, "source": wanted_source } }),
        true,
        "report whether the managed DataSource's source is ready",
    ));
    Ok(())
}

fn ready_state(pass: &CronPass<'_>, source: &Value) -> Result<(bool, String, String), PassError> {
    let reference = |key: &str| {
        let value = source.get(key)?;
        let name = value.get("name")?.as_str()?.to_string();
        let namespace = value
            .get("namespace")
            .and_then(Value::as_str)
            .filter(|n| !n.is_empty())
            .unwrap_or(pass.namespace())
            .to_string();
        Some((namespace, name))
    };
    if let Some((namespace, name)) = reference("pvc") {
        let found = |kind: &str| -> Option<&Value> {
            if namespace == pass.namespace() {
                pass.find(kind, &name).map(|e| &e.value)
            } else {
                pass.snapshot.get(kind, &namespace, &name).map(|e| &e.value)
            }
        };
        if let Some(dv) = found(kind::DATA_VOLUME) {
            let phase = dv
                .pointer("/status/phase")
                .and_then(Value::as_str)
                .unwrap_or("");
            if phase == super::import::PHASE_SUCCEEDED {
                return Ok((true, REASON_READY.into(), MESSAGE_READY.into()));
            }
            return Ok((
                false,
                phase.to_string(),
                format!("Import DataVolume phase {phase}"),
            ));
        }
        if found(kind::PVC).is_some() {
            return Ok((true, REASON_READY.into(), MESSAGE_READY.into()));
        }
        return Ok((false, "NotFound".into(), "PVC not found".into()));
    }
    if let Some((namespace, name)) = reference("snapshot") {
        let snapshot = if namespace == pass.namespace() {
            pass.find(kind::SNAPSHOT, &name)
        } else {
            pass.snapshot.get(kind::SNAPSHOT, &namespace, &name)
        };
        return Ok(match snapshot {
            None => (false, "NotFound".into(), "Snapshot not found".into()),
            Some(entry)
                if entry.value.pointer("/status/readyToUse") == Some(&Value::Bool(true)) =>
            {
                (true, REASON_READY.into(), String::new())
            }
            Some(_) => (
                false,
                "SnapshotNotReady".into(),
                "Snapshot phase is not ready".into(),
            ),
        });
    }
    Ok((false, "NoSource".into(), "No source PVC set".into()))
}
