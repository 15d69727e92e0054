//! Clone authorisation of PVC sources.
//!
//! Before importing from a PVC, CDI sends the API server a
//! SubjectAccessReview to check that the cron's service account
//! (`spec.serviceAccountName`, default `default`, in the cron's namespace)
//! may clone that PVC. The module cannot send one, so the caller passes the
//! results in the plan request. A pair without a result counts as allowed.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::model::cdi::NamespacedName;

/// Progressing reason when the cron may not clone its PVC source.
pub const REASON_NOT_AUTHORIZED: &str = "NotAuthorized";
/// Progressing message when the cron may not clone its PVC source.
pub const MESSAGE_NOT_AUTHORIZED: &str = "Not authorized to create DataVolume";

/// One result of the clone check: whether `cron` may clone `pvc`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CloneAuthorization {
    /// The DataImportCron whose service account the check is for.
    pub cron: NamespacedName,
    /// The source PVC of the cron's template.
    pub pvc: NamespacedName,
    /// The SubjectAccessReview's `status.allowed`.
    pub allowed: bool,
}

/// The clone-check results of a request by (cron, PVC). Where one pair is
/// listed more than once, the last result counts.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Authorizations {
    results: BTreeMap<(NamespacedName, NamespacedName), bool>,
}

impl Authorizations {
    /// Indexes the clone-check results of a request.
    pub fn new(list: &[CloneAuthorization]) -> Self {
        let results = list
            .iter()
            .map(|a| ((a.cron.clone(), a.pvc.clone()), a.allowed))
            .collect();
        Authorizations { results }
    }

    /// Tells whether `cron` may clone `pvc`; true when no result was given.
    pub fn may_clone(&self, cron: &NamespacedName, pvc: &NamespacedName) -> bool {
        self.results
            .get(&(cron.clone(), pvc.clone()))
            .copied()
            .unwrap_or(true)
    }
}
