//! Applies a plan's actions to the state folder as an API server would.

use bootsource_guest::apply::{merge_patch, preconditions_hold, restrict_to_subresource};
use bootsource_guest::imports::kind;
use bootsource_guest::plan::{Action, ActionKind, MERGE_PATCH};
use serde_json::Value;
use tracing::{debug, info, warn};

use super::{ObjectKey, Store, StoreError};

/// Counts of what applying a list of actions changed.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Applied {
    /// Objects created, updated or deleted.
    pub changed: usize,
    /// Actions skipped: create of an existing object, change of a missing
    /// one, a delete whose preconditions no longer hold, a JSON patch.
    pub skipped: usize,
}

/// Stops the process after a number of object writes, as `kill -9` would;
/// crash tests set it through the hidden `--crash-after-writes` option.
#[derive(Debug, Clone, Copy, Default)]
pub struct CrashAfter(pub Option<usize>);

/// Applies `actions` in order at time `now`.
///
/// - `create` stores the body; an object that exists is left alone
///   (AlreadyExists).
/// - `apply` merges the body into the stored object (RFC 7386), or stores
///   it. NOTE: server-side apply is approximated by a merge, so fields the
///   body leaves out are kept rather than released.
/// - `patch` merges a merge patch; with the `status` subresource only the
///   patch's `status` applies, without it everything but `status`. JSON
///   patches are skipped with a warning: the module emits merge patches.
/// - `delete` removes the object when its uid and resourceVersion match the
///   preconditions that are set. Deleting a DataVolume deletes its PVC, as
///   the owner reference would; deleting a PVC deletes its volume folder.
///
/// uid, creationTimestamp and resourceVersion are kept by [`Store::put`].
/// An unchanged object is not written again.
pub fn apply_actions(
    store: &mut Store,
    actions: &[Action],
    now: &str,
    crash: &mut CrashAfter,
) -> Result<Applied, StoreError> {
    let mut applied = Applied::default();
    for action in actions {
        let key = ObjectKey::from(&action.object);
        if let Err(error) = key.check() {
            // An API server rejects such a name, and the other actions
            // still run, so one bad template does not stop the rest.
            warn!(%error, "action skipped: an API server would reject the object's name");
            applied.skipped += 1;
            continue;
        }
        let existing = store.get(&key)?;
        let next = match (action.action, existing) {
            (ActionKind::Create, Some(_)) => {
                debug!(object = %key, "create skipped: the object already exists");
                None
            }
            (ActionKind::Create | ActionKind::Apply, None) => action.body.clone(),
            (ActionKind::Apply, Some(mut object)) => {
                if let Some(body) = &action.body {
                    merge_patch(&mut object, body);
                }
                Some(object)
            }
            (ActionKind::Patch, Some(mut object)) => {
                let is_merge = action.patch_type.as_deref().unwrap_or(MERGE_PATCH) == MERGE_PATCH;
                match (&action.patch, is_merge) {
                    (Some(patch), true) => {
                        let patch = restrict_to_subresource(patch, action.subresource.as_deref());
                        merge_patch(&mut object, &patch);
                        Some(object)
                    }
                    _ => {
                        warn!(object = %key, "JSON patch skipped: only merge patches are applied");
                        None
                    }
                }
            }
            (ActionKind::Patch, None) => {
                debug!(object = %key, "patch skipped: the object does not exist");
                None
            }
            (ActionKind::Delete, None) => {
                debug!(object = %key, "delete skipped: the object is already gone");
                None
            }
            (ActionKind::Delete, Some(object)) => {
                if !preconditions_hold(&object, action) {
                    warn!(object = %key, "delete skipped: uid or resourceVersion changed since the plan");
                    applied.skipped += 1;
                    continue;
                }
                delete(store, &key, crash)?;
                info!(object = %key, reason = %action.reason, "deleted");
                applied.changed += 1;
                continue;
            }
        };
        let Some(next) = next else {
            applied.skipped += 1;
            continue;
        };
        if store
            .get(&key)?
            .is_some_and(|old| same_content(&old, &next))
        {
            continue;
        }
        crash.tick();
        store.put(next, now)?;
        info!(object = %key, action = ?action.action, reason = %action.reason, "applied");
        applied.changed += 1;
    }
    Ok(applied)
}

impl CrashAfter {
    /// Counts one write and aborts the process when the budget is spent.
    pub fn tick(&mut self) {
        if let Some(left) = self.0.as_mut() {
            if *left == 0 {
                eprintln!("bootsource: stopping mid-apply as --crash-after-writes asked");
                std::process::abort();
            }
            *left -= 1;
        }
    }
}

/// Deletes `key` and what hangs on it: a DataVolume's PVC and a PVC's
/// volume folder. The object file goes first, so a crash leaves at worst
/// a volume folder that [`super::pass`] sweeps as orphaned.
pub fn delete(
    store: &mut Store,
    key: &ObjectKey,
    crash: &mut CrashAfter,
) -> Result<(), StoreError> {
    crash.tick();
    store.remove(key)?;
    if key.kind == kind::DATA_VOLUME {
        let pvc = ObjectKey {
            kind: kind::PVC.to_string(),
            ..key.clone()
        };
        crash.tick();
        if store.remove(&pvc)? {
            info!(object = %pvc, "deleted with its DataVolume");
        }
    }
    if key.kind == kind::DATA_VOLUME || key.kind == kind::PVC {
        crash.tick();
        if store.remove_volume(&key.namespace, &key.name)? {
            info!(volume = %format!("{}/{}", key.namespace, key.name), "volume folder deleted");
        }
    }
    Ok(())
}

/// True when two versions of an object differ at most in resourceVersion.
fn same_content(old: &Value, new: &Value) -> bool {
    let strip = |value: &Value| {
        let mut value = value.clone();
        if let Some(metadata) = value.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.remove("resourceVersion");
        }
        value
    };
    strip(old) == strip(new)
}
