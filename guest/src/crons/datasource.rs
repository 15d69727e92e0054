//! DataSource auto-update: label opt-in, golden PVC precedence and the
//! DataSource changes that follow from the decision.

use serde_json::{json, Map, Value};

use super::equality::semantic_eq;
use super::multiarch::Target;
use super::owner::Owner;
use crate::model::cdi::{DataSource, API_VERSION, LABEL_DATA_IMPORT_CRON};
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
/// matter, so there is no "false" opt-out. Without the label, the target's
/// golden PVC wins over the import. A target marked `forced_off` is always
/// off.
pub fn decide(
    target: &Target,
    cron: Option<&str>,
    data_source: Option<&DataSource>,
    golden_pvc_exists: bool,
) -> AutoUpdate {
    let Some(cron) = cron.filter(|_| !target.forced_off) else {
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

/// Returns the action that brings the DataSource of `target` in line with
/// `decision`, or nothing when it already is.
///
/// With auto-update on, only the label is written and the spec is left to
/// CDI. A new DataSource gets an empty `spec.source` that CDI fills after
/// the first import. With auto-update off, the label is removed, the app
/// labels are added and the spec is set to the target's golden source.
pub fn reconcile(
    namespace: &str,
    target: &Target,
    live: Option<&DataSource>,
    decision: &AutoUpdate,
    owner: &Owner,
) -> Option<Action> {
    let reference = ObjectRef::new(API_VERSION, "DataSource", namespace, &target.name);
    let Some(live) = live else {
        let mut labels = owner.app_labels();
        labels.extend(target.labels.clone());
        let (source, reason) = match decision {
            AutoUpdate::On { cron } => {
                labels.insert(LABEL_DATA_IMPORT_CRON.to_string(), cron.clone());
                (
                    json!({}),
                    format!("DataSource is missing and DataImportCron {cron} will import into it"),
                )
            }
            AutoUpdate::Off => (
                target.golden.clone(),
                "DataSource is missing and points at its golden source while auto-update is off"
                    .to_string(),
            ),
        };
        let body = json!({
            "apiVersion": API_VERSION,
            "kind": "DataSource",
            "metadata": {
                "name": target.name,
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
        AutoUpdate::Off => restore_patch(live, &target.golden, owner).map(|patch| {
            Action::merge_patch(
                reference,
                patch,
                false,
                "auto-update is off, so the DataSource is restored to its golden source without the cron label",
            )
        }),
    }
}

/// Returns the merge patch that removes the cron label, adds the app labels
/// and sets `spec.source` to `golden`, or nothing when `live` already
/// matches.
fn restore_patch(live: &DataSource, golden: &Value, owner: &Owner) -> Option<Value> {
    let mut labels = Map::new();
    for (key, value) in owner.app_labels() {
        if live.metadata.label(&key) != Some(value.as_str()) {
            labels.insert(key, Value::String(value));
        }
    }
    if live.metadata.label(LABEL_DATA_IMPORT_CRON).is_some() {
        labels.insert(LABEL_DATA_IMPORT_CRON.to_string(), Value::Null);
    }

    let current = serde_json::to_value(&live.spec.source).unwrap_or(Value::Null);
    let mut patch = Map::new();
    if !labels.is_empty() {
        patch.insert("metadata".into(), json!({"labels": labels}));
    }
    if !semantic_eq(&current, golden) {
        let mut replacement = golden.as_object().cloned().unwrap_or_default();
        if let Some(fields) = current.as_object() {
            for key in fields.keys() {
                replacement.entry(key.clone()).or_insert(Value::Null);
            }
        }
        patch.insert("spec".into(), json!({"source": replacement}));
    }
    (!patch.is_empty()).then_some(Value::Object(patch))
}
