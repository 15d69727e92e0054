//! The cluster schedule `status.dataImportSchedule` of common templates.
//!
//! HCO draws it at random once, as `"<m> <h>/12 * * *"` with m in 0..=59 and
//! h in 0..=11, so that clusters do not all poll the registry at the same
//! minute, and stores it in status; a stored value is authoritative. The
//! module has no randomness, so it derives the same spread from the
//! HyperConverged uid (or, without one, its namespace and name).

use crate::model::hyperconverged::HyperConverged;

/// Returns the stored schedule, or derives one when status has none. The
/// flag tells whether the value is new and must be written to status.
pub fn cluster_schedule(hc: &HyperConverged) -> (String, bool) {
    match hc.status.data_import_schedule.as_deref() {
        Some(stored) if !stored.is_empty() => (stored.to_string(), false),
        _ => (derive(hc), true),
    }
}

fn derive(hc: &HyperConverged) -> String {
    let seed = match hc.metadata.uid.as_deref() {
        Some(uid) if !uid.is_empty() => uid.to_string(),
        _ => format!("{}/{}", hc.metadata.namespace(), hc.metadata.name()),
    };
    let hash = crate::hash::fnv1a64(seed.as_bytes());
    let minute = hash % 60;
    let hour = (hash / 60) % 12;
    format!("{minute} {hour}/12 * * *")
}
