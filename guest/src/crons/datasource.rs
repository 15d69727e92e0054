//! DataSource auto-update: label opt-in, golden PVC precedence and the
//! DataSource changes that follow from the decision.

use serde_json::{json, Map, Value};

use super::owner::Owner;
use crate::model::cdi::{DataSource, NamespacedName, API_VERSION, LABEL_DATA_IMPORT_CRON};
use crate::model::meta::ObjectRef;
use crate::plan::Action;

/// Whether CDI updates a DataSource from a cron, or SSP keeps it on its
/// golden PVC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AutoUpdate {
    /// The cron named here imports into the DataSource.
    On { cron: String },
    /// No cron; the DataSource points at the golden PVC of the same name.
    Off,
}

/// Decides auto-update for one DataSource of SSP's collection.
///
/// `cron` is the cron of the template that manages the DataSource in the
/// golden-image namespace, if any. Only the presence of the
/// `cdi.kubevirt.io/dataImportCron` label key opts in; its value does not
/// matter, so there is no "false" opt-out. Without the label, a golden PVC
/// named like the DataSource wins over the import.
pub fn decide(
    cron: Option<&str>,
    data_source: Option<&DataSource>,
    golden_pvc_exists: bool,
) -> AutoUpdate {
    let Some(cron) = cron else {
        return AutoUpdate::Off;
    };
    let labelled =
        data_source.is_some_and(|ds| ds.metadata.label(LABEL_DATA_IMPORT_CRON).is_some());
    if labelled || !golden_pvc_exists {
        AutoUpdate::On {
            cron: cron.to_string(),
        }
    } else {
        AutoUpdate::Off
    }
}

/// Returns the action that brings DataSource `namespace/name` in line
/// with `decision`, or nothing when it already is.
///
/// With auto-update on, only the label is written and the spec is left to
/// CDI; a new DataSource gets an empty `spec.source` that CDI fills after
/// the first import. With auto-update off, the label is removed, the app
/// labels are added and the spec points at the golden PVC.
pub fn reconcile(
    namespace: &str,
    name: &str,
    live: Option<&DataSource>,
    decision: &AutoUpdate,
    owner: &Owner,
) -> Option<Action> {
    let reference = ObjectRef::new(API_VERSION, "DataSource", namespace, name);
    let golden = NamespacedName {
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    let Some(live) = live else {
        let mut labels = owner.app_labels();
        let (source, reason) = match decision {
            AutoUpdate::On { cron } => {
                labels.insert(LABEL_DATA_IMPORT_CRON.to_string(), cron.clone());
                (
                    json!({}),
                    format!("DataSource is missing and DataImportCron {cron} will import into it"),
                )
            }
            AutoUpdate::Off => (
                json!({"pvc": golden}),
                "DataSource is missing and points at its golden PVC while auto-update is off"
                    .to_string(),
            ),
        };
        let body = json!({
            "apiVersion": API_VERSION,
            "kind": "DataSource",
            "metadata": {
                "name": name,
                "namespace": namespace,
                "labels": labels,
                "annotations": owner.annotations(),
            },
            "spec": {"source": source},
        });
        return Some(Action::create(reference, body, reason));
    };

    match decision {
        AutoUpdate::On { cron } => {
            if live.metadata.label(LABEL_DATA_IMPORT_CRON) == Some(cron.as_str()) {
                return None;
            }
            Some(Action::merge_patch(
                reference,
                json!({"metadata": {"labels": {LABEL_DATA_IMPORT_CRON: cron}}}),
                false,
                format!(
                    "DataSource label {LABEL_DATA_IMPORT_CRON} must name DataImportCron {cron} so that CDI updates it"
                ),
            ))
        }
        AutoUpdate::Off => restore_patch(live, &golden, owner).map(|patch| {
            Action::merge_patch(
                reference,
                patch,
                false,
                "auto-update is off, so the DataSource is restored to its golden PVC without the cron label",
            )
        }),
    }
}

/// Returns the merge patch that removes the cron label, adds the app labels
/// and points the spec at `golden`, or nothing when `live` already matches.
fn restore_patch(live: &DataSource, golden: &NamespacedName, owner: &Owner) -> Option<Value> {
    let mut labels = Map::new();
    for (key, value) in owner.app_labels() {
        if live.metadata.label(&key) != Some(value.as_str()) {
            labels.insert(key, Value::String(value));
        }
    }
    if live.metadata.label(LABEL_DATA_IMPORT_CRON).is_some() {
        labels.insert(LABEL_DATA_IMPORT_CRON.to_string(), Value::Null);
    }

    let source = &live.spec.source;
    let on_golden = source.pvc.as_ref() == Some(golden)
        && source.snapshot.is_none()
        && source.data_source.is_none();
    let mut patch = Map::new();
    if !labels.is_empty() {
        patch.insert("metadata".into(), json!({"labels": labels}));
    }
    if !on_golden {
        let mut replacement = Map::new();
        replacement.insert("pvc".into(), json!(golden));
        if source.snapshot.is_some() {
            replacement.insert("snapshot".into(), Value::Null);
        }
        if source.data_source.is_some() {
            replacement.insert("dataSource".into(), Value::Null);
        }
        patch.insert("spec".into(), json!({"source": replacement}));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}
