//! The managed DataSource: who owns it, and pointing it at the newest
//! import.

use serde_json::{json, Map, Value};

use super::storage_class::FORMAT_SNAPSHOT;
use super::{kind, label, naming, CronPass, PassError};
use crate::error::Error;
use crate::model::cdi::{API_VERSION, LABEL_DATA_IMPORT_CRON};
use crate::model::meta::ObjectRef;
use crate::plan::{Action, Event};

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
        pass.out.actions.push(Action::create(
            reference,
            body,
            "the cron's managed DataSource does not exist yet",
        ));
        pass.created.insert((kind::DATA_SOURCE.to_string(), name));
        return Ok(());
    };
    if label(&entry.value, LABEL_DATA_IMPORT_CRON) != Some(pass.name()) {
        return Ok(());
    }

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
    Ok(())
}
