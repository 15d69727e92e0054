//! The cron's `UpToDate` and `Progressing` conditions and their bookkeeping.

use crate::model::cdi::CdiCondition;

/// Condition type: whether an import is running.
pub const PROGRESSING: &str = "Progressing";
/// Condition type: whether the newest digest has been imported.
pub const UP_TO_DATE: &str = "UpToDate";

pub const REASON_NO_IMPORT: &str = "NoImport";
pub const REASON_IMPORT_SCHEDULED: &str = "ImportScheduled";
pub const REASON_IMPORT_PROGRESSING: &str = "ImportProgressing";
pub const REASON_OUTDATED: &str = "Outdated";
pub const REASON_UP_TO_DATE: &str = "UpToDate";
pub const REASON_NO_DIGEST: &str = "NoDigest";

pub const MESSAGE_NO_IMPORT: &str = "No current import";
pub const MESSAGE_IMPORT_SCHEDULED: &str = "Import is scheduled";
pub const MESSAGE_IMPORT_PROGRESSING: &str = "Import is progressing";
pub const MESSAGE_OUTDATED: &str = "Source digest updated since last import";
pub const MESSAGE_UP_TO_DATE: &str = "Latest import is up to date";
pub const MESSAGE_NO_DIGEST: &str = "No source digest";
pub const MESSAGE_SNAPSHOT_PROGRESSING: &str = "Snapshot of imported data is progressing";

/// Sets condition `type_` in `list` at time `now`.
///
/// `lastTransitionTime` changes only when the status changes;
/// `lastHeartbeatTime`, reason and message change whenever any of status,
/// reason or message changes. An empty reason or message is stored as
/// absent.
pub fn set(
    list: &mut Vec<CdiCondition>,
    type_: &str,
    status: bool,
    reason: &str,
    message: &str,
    now: &str,
) {
    let status = if status { "True" } else { "False" }.to_string();
    let reason = (!reason.is_empty()).then(|| reason.to_string());
    let message = (!message.is_empty()).then(|| message.to_string());
    match list.iter_mut().find(|c| c.type_ == type_) {
        Some(existing) => {
            if existing.status != status {
                existing.last_transition_time = Some(now.to_string());
            }
            if existing.status != status || existing.reason != reason || existing.message != message
            {
                existing.last_heartbeat_time = Some(now.to_string());
                existing.status = status;
                existing.reason = reason;
                existing.message = message;
            }
        }
        None => list.push(CdiCondition {
            type_: type_.to_string(),
            status,
            last_transition_time: Some(now.to_string()),
            last_heartbeat_time: Some(now.to_string()),
            reason,
            message,
        }),
    }
}
