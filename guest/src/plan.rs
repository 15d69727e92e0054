//! The plan: what a reconcile returns for the host to apply.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::model::meta::ObjectRef;

/// What to do with one object.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionKind {
    /// Create the object; it must not exist yet.
    Create,
    /// Server-side apply `body` with the bootsource field manager.
    Apply,
    /// Apply `patch` (of `patchType`) to the object or its `subresource`.
    Patch,
    /// Delete the object, if it still matches `preconditions`.
    Delete,
}

/// Delete preconditions: the object must still be the one the plan saw.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Preconditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
}

/// One change to the cluster.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Action {
    pub action: ActionKind,
    pub object: ObjectRef,
    /// Why the change is needed, in one sentence.
    pub reason: String,
    /// Full object for `create` and `apply`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
    /// Patch document for `patch`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch: Option<Value>,
    /// `application/merge-patch+json` or `application/json-patch+json`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<String>,
    /// `status` when the patch targets the status subresource.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subresource: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preconditions: Option<Preconditions>,
}

/// Media type of a JSON merge patch (RFC 7386).
pub const MERGE_PATCH: &str = "application/merge-patch+json";
/// Media type of a JSON patch (RFC 6902).
pub const JSON_PATCH: &str = "application/json-patch+json";

impl Action {
    /// An `apply` of `body`.
    pub fn apply(object: ObjectRef, body: Value, reason: impl Into<String>) -> Self {
        Action {
            action: ActionKind::Apply,
            object,
            reason: reason.into(),
            body: Some(body),
            patch: None,
            patch_type: None,
            subresource: None,
            preconditions: None,
        }
    }

    /// A `create` of `body`.
    pub fn create(object: ObjectRef, body: Value, reason: impl Into<String>) -> Self {
        Action {
            action: ActionKind::Create,
            ..Action::apply(object, body, reason)
        }
    }

    /// A merge patch of the object, or of its status when `status` is set.
    pub fn merge_patch(
        object: ObjectRef,
        patch: Value,
        status: bool,
        reason: impl Into<String>,
    ) -> Self {
        Action {
            action: ActionKind::Patch,
            object,
            reason: reason.into(),
            body: None,
            patch: Some(patch),
            patch_type: Some(MERGE_PATCH.into()),
            subresource: status.then(|| "status".into()),
            preconditions: None,
        }
    }

    /// A `delete` guarded by the object's uid and resourceVersion.
    pub fn delete(
        object: ObjectRef,
        preconditions: Preconditions,
        reason: impl Into<String>,
    ) -> Self {
        Action {
            action: ActionKind::Delete,
            object,
            reason: reason.into(),
            body: None,
            patch: None,
            patch_type: None,
            subresource: None,
            preconditions: Some(preconditions),
        }
    }
}

/// A Kubernetes event to record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Event {
    pub object: ObjectRef,
    /// `Normal` or `Warning`.
    #[serde(rename = "type")]
    pub type_: String,
    pub reason: String,
    pub message: String,
}

/// Something a user should know that does not stop the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Warning {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<ObjectRef>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
}

/// Origin of an effective boot source.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TemplateKind {
    /// Shipped with the operator, unchanged.
    Common,
    /// Shipped with the operator and customised in the HyperConverged spec.
    Customised,
    /// Defined only in the HyperConverged spec.
    Custom,
}

impl TemplateKind {
    /// Returns the lower-case name shown in tables.
    pub fn as_str(self) -> &'static str {
        match self {
            TemplateKind::Common => "common",
            TemplateKind::Customised => "customised",
            TemplateKind::Custom => "custom",
        }
    }
}

/// One row of the effective boot-source table.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BootSource {
    pub template: String,
    pub data_source: String,
    pub source: String,
    pub schedule: String,
    pub kind: TemplateKind,
    /// Namespace of the DataImportCron; the golden-image namespace when the
    /// template sets none.
    pub namespace: String,
    /// False when multi-arch filtering left no supported architecture, so
    /// the template stays in status but is not handed to SSP.
    pub deployed: bool,
}

/// The result of a reconcile.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    /// HCO release whose behaviour was reproduced.
    pub hco_version: String,
    /// The HyperConverged status fragment, exactly as HCO writes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<Value>,
    /// The effective boot sources, in status order.
    #[serde(default)]
    pub boot_sources: Vec<BootSource>,
    /// Changes to apply, in order.
    pub actions: Vec<Action>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<Event>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<Warning>,
    /// When the next reconcile is due (RFC 3339), if a timed one is needed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_reconcile: Option<String>,
    /// Seconds from the request's `now` to `nextReconcile`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requeue_after_seconds: Option<i64>,
    /// Sources whose DataImportCron is due for a poll now, sorted by cron.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub polls: Vec<Poll>,
}

/// A source the host polls for its current digest on behalf of a cron.
///
/// After a successful poll the host sets the cron's
/// `cdi.kubevirt.io/storage.import.sourceDesiredDigest` annotation (when the
/// digest changed) and `cdi.kubevirt.io/storage.import.lastCronTime`. For
/// ImageStream and PVC sources found in the snapshot the imports stage reads
/// the digest itself and writes those annotations in the same plan.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Poll {
    /// The DataImportCron the poll is for.
    pub cron: ObjectRef,
    pub source: PollSource,
}

/// The source a poll reads.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PollSource {
    /// A registry image; the digest is that of its manifest.
    #[serde(rename_all = "camelCase")]
    Registry {
        url: String,
        /// `pod` (default) or `node`.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        pull_method: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        secret_ref: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        cert_config_map: Option<String>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        architecture: Option<String>,
    },
    /// An ImageStream tag in the cron's namespace; the first tag when
    /// `tag` is unset.
    #[serde(rename_all = "camelCase")]
    ImageStream {
        namespace: String,
        name: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        tag: Option<String>,
    },
    /// A PVC to clone; the digest is `uid:` plus its UID.
    Pvc { namespace: String, name: String },
}
