//! DataImportCrons from templates: the desired object and the actions that
//! bring a live cron to it.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use super::equality::semantic_eq;
use super::owner::Owner;
use crate::error::Error;
use crate::model::cdi::API_VERSION;
use crate::model::dict::{DataImportCronTemplate, ARCHITECTURES_ANNOTATION};
use crate::model::meta::{ObjectMeta, ObjectRef};
use crate::plan::{Action, Preconditions};

/// The DataImportCron that SSP makes from a template.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredCron {
    pub namespace: String,
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub annotations: BTreeMap<String, String>,
    /// The template spec, serialised.
    pub spec: Value,
}

impl DesiredCron {
    /// Builds the cron for `template` in `namespace`: the template's labels
    /// plus the app labels, the template's annotations without the
    /// architecture annotation plus the ownership annotations, and the
    /// template spec unchanged.
    pub fn from_template(
        template: &DataImportCronTemplate,
        namespace: &str,
        owner: &Owner,
    ) -> Result<Self, Error> {
        let mut labels = template.metadata.labels.clone().unwrap_or_default();
        labels.extend(owner.app_labels());
        let mut annotations = template.metadata.annotations.clone().unwrap_or_default();
        annotations.remove(ARCHITECTURES_ANNOTATION);
        annotations.extend(owner.annotations());
        let spec = serde_json::to_value(template.spec.clone().unwrap_or_default())
            .map_err(|e| Error::invalid(format!("template spec could not be encoded: {e}")))?;
        Ok(DesiredCron {
            namespace: namespace.to_string(),
            name: template.name().to_string(),
            labels,
            annotations,
            spec,
        })
    }

    /// Returns the reference of the cron.
    pub fn reference(&self) -> ObjectRef {
        ObjectRef::new(API_VERSION, "DataImportCron", &self.namespace, &self.name)
    }

    /// Returns the full object to create.
    pub fn body(&self) -> Value {
        json!({
            "apiVersion": API_VERSION,
            "kind": "DataImportCron",
            "metadata": {
                "name": self.name,
                "namespace": self.namespace,
                "labels": self.labels,
                "annotations": self.annotations,
            },
            "spec": self.spec,
        })
    }
}

/// A DataImportCron found in the snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveCron {
    pub reference: ObjectRef,
    pub metadata: ObjectMeta,
    /// `spec` as found, unparsed, so that fields unknown to this model
    /// still take part in the comparison.
    pub spec: Value,
}

impl LiveCron {
    /// Returns the delete preconditions that pin this very object.
    pub fn preconditions(&self) -> Preconditions {
        Preconditions {
            uid: self.metadata.uid.clone(),
            resource_version: self.metadata.resource_version.clone(),
        }
    }
}

/// Returns the actions that bring `live` to `desired`.
///
/// The cron spec is immutable, so a spec that is not semantically equal
/// is replaced by a delete pinned to the live object, then a create. A
/// difference in labels or annotations alone gives a merge patch that adds
/// or corrects the desired keys and keeps every other key, because CDI
/// writes its own state into the cron's annotations.
pub fn reconcile(desired: &DesiredCron, live: Option<&LiveCron>) -> Vec<Action> {
    let reference = desired.reference();
    let Some(live) = live else {
        return vec![Action::create(
            reference,
            desired.body(),
            "the template has no DataImportCron yet",
        )];
    };
    if !semantic_eq(&live.spec, &desired.spec) {
        return vec![
            Action::delete(
                reference.clone(),
                live.preconditions(),
                "the DataImportCron spec differs from its template and CDI rejects spec updates",
            ),
            Action::create(
                reference,
                desired.body(),
                "the DataImportCron is re-created with the template's new spec",
            ),
        ];
    }
    metadata_patch(desired, &live.metadata)
        .map(|patch| {
            Action::merge_patch(
                reference,
                patch,
                false,
                "the DataImportCron lacks labels or annotations of its template",
            )
        })
        .into_iter()
        .collect()
}

/// Returns the merge patch that sets the desired labels and annotations that
/// are missing or different on `live`, or nothing when all match.
fn metadata_patch(desired: &DesiredCron, live: &ObjectMeta) -> Option<Value> {
    let missing = |desired: &BTreeMap<String, String>, found: Option<&BTreeMap<String, String>>| {
        desired
            .iter()
            .filter(|(key, value)| found.and_then(|f| f.get(*key)) != Some(*value))
            .map(|(key, value)| (key.clone(), Value::String(value.clone())))
            .collect::<Map<String, Value>>()
    };
    let labels = missing(&desired.labels, live.labels.as_ref());
    let annotations = missing(&desired.annotations, live.annotations.as_ref());
    let mut metadata = Map::new();
    if !labels.is_empty() {
        metadata.insert("labels".into(), Value::Object(labels));
    }
    if !annotations.is_empty() {
        metadata.insert("annotations".into(), Value::Object(annotations));
    }
    (!metadata.is_empty()).then(|| json!({"metadata": metadata}))
}
