//! Ownership annotations and app labels that SSP puts on the objects it manages.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::{from_value, Error};
use crate::model::meta::{ObjectMeta, ObjectRef};
use crate::snapshot::Entry;

/// Annotation naming the SSP CR that manages an object, as `<namespace>/<name>`.
pub const ANNOTATION_PRIMARY_RESOURCE: &str = "operator-sdk/primary-resource";
/// Annotation naming the kind of the managing CR.
pub const ANNOTATION_PRIMARY_RESOURCE_TYPE: &str = "operator-sdk/primary-resource-type";
/// Value of [`ANNOTATION_PRIMARY_RESOURCE_TYPE`] on SSP-managed objects.
pub const PRIMARY_RESOURCE_TYPE: &str = "SSP.ssp.kubevirt.io";

/// `app.kubernetes.io/name` of the objects of SSP's data-sources operand.
pub const APP_NAME: &str = "data-sources";
/// `app.kubernetes.io/component` of those objects.
pub const APP_COMPONENT: &str = "templating";
/// `app.kubernetes.io/managed-by` of those objects.
pub const APP_MANAGED_BY: &str = "ssp-operator";

const LABEL_NAME: &str = "app.kubernetes.io/name";
const LABEL_COMPONENT: &str = "app.kubernetes.io/component";
const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";
/// Labels copied from the SSP CR onto managed objects when the CR has them.
const COPIED_LABELS: [&str; 2] = ["app.kubernetes.io/part-of", "app.kubernetes.io/version"];

/// The SSP CR whose templates are reconciled: the owner of the crons and
/// DataSources this stage writes.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Owner {
    /// API version of the SSP CR, e.g. `ssp.kubevirt.io/v1beta3`.
    pub api_version: String,
    pub namespace: String,
    pub name: String,
    /// Labels of the SSP CR; `part-of` and `version` are copied from here.
    pub labels: BTreeMap<String, String>,
    /// True when the SSP CR has a deletionTimestamp, so that clean-up runs
    /// in place of the reconcile.
    pub deleting: bool,
}

impl Owner {
    /// Reads the owner from an SSP CR in the snapshot.
    pub fn from_entry(entry: &Entry) -> Result<Self, Error> {
        let metadata = entry.value.get("metadata").unwrap_or(&Value::Null);
        let meta: ObjectMeta =
            from_value(metadata).map_err(|e| entry.blame(e.within("metadata")))?;
        Ok(Owner {
            api_version: entry.reference.api_version.clone(),
            namespace: meta.namespace().to_string(),
            name: meta.name().to_string(),
            labels: meta.labels.clone().unwrap_or_default(),
            deleting: meta.deletion_timestamp.is_some(),
        })
    }

    /// Returns the reference of the SSP CR.
    pub fn reference(&self) -> ObjectRef {
        ObjectRef::new(&self.api_version, "SSP", &self.namespace, &self.name)
    }

    /// Returns the value of [`ANNOTATION_PRIMARY_RESOURCE`] for this owner.
    pub fn primary_resource(&self) -> String {
        format!("{}/{}", self.namespace, self.name)
    }

    /// Returns the two ownership annotations.
    pub fn annotations(&self) -> BTreeMap<String, String> {
        BTreeMap::from([
            (
                ANNOTATION_PRIMARY_RESOURCE.to_string(),
                self.primary_resource(),
            ),
            (
                ANNOTATION_PRIMARY_RESOURCE_TYPE.to_string(),
                PRIMARY_RESOURCE_TYPE.to_string(),
            ),
        ])
    }

    /// Tells whether `meta` carries both ownership annotations of this owner.
    pub fn owns(&self, meta: &ObjectMeta) -> bool {
        meta.annotation(ANNOTATION_PRIMARY_RESOURCE) == Some(self.primary_resource().as_str())
            && meta.annotation(ANNOTATION_PRIMARY_RESOURCE_TYPE) == Some(PRIMARY_RESOURCE_TYPE)
    }

    /// Returns the app labels SSP adds to its crons and DataSources.
    pub fn app_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::from([
            (LABEL_NAME.to_string(), APP_NAME.to_string()),
            (LABEL_COMPONENT.to_string(), APP_COMPONENT.to_string()),
            (LABEL_MANAGED_BY.to_string(), APP_MANAGED_BY.to_string()),
        ]);
        for key in COPIED_LABELS {
            if let Some(value) = self.labels.get(key) {
                labels.insert(key.to_string(), value.clone());
            }
        }
        labels
    }
}
