//! The importer: what CDI's importer pod and the storage provisioner do
//! for a DataVolume with a registry source. It pulls the image by digest,
//! writes the disk into the volume folder, binds a PVC and records the
//! outcome in the DataVolume's status.

use std::time::Duration;

use bootsource_guest::imports::kind;
use bootsource_guest::model::cdi::ANNOTATION_LAST_USE_TIME;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::apply::CrashAfter;
use super::{ObjectKey, Store, StoreError};
use crate::registry::{backoff_delay, containerdisk, Registry};

/// Import strategy: real pulls or stand-ins.
pub enum ImportMode<'r> {
    /// Pull each image from its registry.
    Registry(&'r Registry),
    /// Contact no registry: an import succeeds `delay` after its DataVolume
    /// was created, with an empty disk file.
    StandIn { delay: Duration },
}

/// Retry policy of failed imports.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Wait before the first retry.
    pub base: Duration,
    /// Maximum wait between retries.
    pub cap: Duration,
}

/// Result of one round of imports.
#[derive(Debug, Default)]
pub struct ImportRound {
    /// DataVolumes whose status changed.
    pub changed: usize,
    /// The earliest time an import waits for: a stand-in delay or a retry.
    pub wake_at: Option<DateTime<Utc>>,
}

/// Runs every import that is due: DataVolumes with a `docker://` source
/// whose phase is neither `Succeeded` nor a `Failed` still waiting for its
/// retry.
pub fn run_imports(
    store: &mut Store,
    mode: &ImportMode<'_>,
    retry: RetryPolicy,
    now: DateTime<Utc>,
    crash: &mut CrashAfter,
) -> Result<ImportRound, StoreError> {
    let mut round = ImportRound::default();
    let stamp = now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    let data_volumes: Vec<(ObjectKey, Value)> = store
        .load()?
        .into_iter()
        .filter(|(key, _)| key.kind == kind::DATA_VOLUME)
        .collect();
    for (key, data_volume) in data_volumes {
        let text = |pointer: &str| data_volume.pointer(pointer).and_then(Value::as_str);
        let Some(url) = text("/spec/source/registry/url").filter(|u| u.starts_with("docker://"))
        else {
            continue;
        };
        let phase = text("/status/phase").unwrap_or("");
        if phase == "Succeeded" {
            continue;
        }
        if phase == "Failed" {
            let restarts = data_volume
                .pointer("/status/restartCount")
                .and_then(Value::as_u64)
                .unwrap_or(1);
            let last = text("/status/conditions/0/lastHeartbeatTime").and_then(parse_time);
            let delay = backoff_delay(restarts as u32, retry.base, retry.cap);
            if let Some(due) = last
                .map(|t| t + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero()))
            {
                if due > now {
                    round.wake_at = earliest(round.wake_at, due);
                    continue;
                }
            }
        }

        if storage_class_of(&data_volume).is_none() && default_storage_class(store).is_none() {
            // Without a StorageClass the PVC cannot bind, as on a cluster
            // with no default class: the import waits.
            if phase != "Pending" {
                warn!(object = %key, "import waits: no storageClassName and no default StorageClass");
                set_status(
                    store,
                    &data_volume,
                    json!({ "phase": "Pending" }),
                    &stamp,
                    crash,
                )?;
                round.changed += 1;
            }
            continue;
        }

        let volume_dir = store.volume_dir(&key.namespace, &key.name)?;
        let outcome = match mode {
            ImportMode::StandIn { delay } => {
                let created = text("/metadata/creationTimestamp").and_then(parse_time);
                let due = created.unwrap_or(now)
                    + chrono::Duration::from_std(*delay).unwrap_or(chrono::Duration::zero());
                if due > now {
                    round.wake_at = earliest(round.wake_at, due);
                    if phase != "ImportInProgress" {
                        set_status(store, &data_volume, in_progress(), &stamp, crash)?;
                        round.changed += 1;
                    }
                    continue;
                }
                warn!(object = %key, %url, "stand-in import: no registry contacted, the disk file is empty");
                containerdisk::write_empty_disk(&volume_dir).map_err(|m| (false, m))
            }
            ImportMode::Registry(registry) => {
                info!(object = %key, %url, "importing");
                let architecture = text("/spec/source/registry/platform/architecture");
                registry
                    .pull_disk(url, architecture, &store.tmp_dir(), &volume_dir)
                    .map_err(|e| (e.is_pull_failure(), e.to_string()))
            }
        };
        match outcome {
            Ok(disk) => {
                crash.tick();
                bind_pvc(store, &data_volume, &stamp)?;
                crash.tick();
                set_status(store, &data_volume, succeeded(), &stamp, crash)?;
                info!(object = %key, disk = %disk.display(), "import succeeded");
            }
            Err((pull_failure, message)) => {
                let restarts = data_volume
                    .pointer("/status/restartCount")
                    .and_then(Value::as_u64)
                    .unwrap_or(0)
                    + 1;
                let reason = if pull_failure {
                    "ImagePullFailed"
                } else {
                    "Error"
                };
                warn!(object = %key, %reason, %message, restarts, "import failed");
                set_status(
                    store,
                    &data_volume,
                    failed(reason, &message, restarts, &stamp),
                    &stamp,
                    crash,
                )?;
                let delay = backoff_delay(restarts as u32, retry.base, retry.cap);
                round.wake_at = earliest(
                    round.wake_at,
                    now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero()),
                );
            }
        }
        round.changed += 1;
    }
    Ok(round)
}

/// Removes volume folders whose PVC and DataVolume are both gone, as left
/// by a crash between deleting an object and its folder.
pub fn sweep_orphan_volumes(store: &mut Store) -> Result<usize, StoreError> {
    let objects = store.load()?;
    let mut removed = 0;
    for (namespace, name) in store.volumes()? {
        if store.volume_dir(&namespace, &name).is_err() {
            // Not a folder this store made; left alone.
            continue;
        }
        let owned = [kind::PVC, kind::DATA_VOLUME].iter().any(|kind| {
            objects.contains_key(&ObjectKey {
                kind: kind.to_string(),
                namespace: namespace.clone(),
                name: name.clone(),
            })
        });
        if !owned && store.remove_volume(&namespace, &name)? {
            info!(volume = %format!("{namespace}/{name}"), "orphaned volume folder deleted");
            removed += 1;
        }
    }
    Ok(removed)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn earliest(current: Option<DateTime<Utc>>, candidate: DateTime<Utc>) -> Option<DateTime<Utc>> {
    Some(current.map_or(candidate, |c| c.min(candidate)))
}

fn in_progress() -> Value {
    json!({ "phase": "ImportInProgress", "progress": "0.0%" })
}

fn succeeded() -> Value {
    json!({ "phase": "Succeeded", "progress": "100.0%", "conditions": [
        { "type": "Running", "status": "False", "reason": "Completed" },
        { "type": "Bound", "status": "True", "reason": "Bound" },
        { "type": "Ready", "status": "True" },
    ]})
}

fn failed(reason: &str, message: &str, restarts: u64, now: &str) -> Value {
    json!({ "phase": "Failed", "progress": "N/A", "restartCount": restarts, "conditions": [
        { "type": "Running", "status": "False", "reason": reason, "message": message,
          "lastHeartbeatTime": now, "lastTransitionTime": now },
        { "type": "Ready", "status": "False" },
    ]})
}

/// Replaces the status of `data_volume` with `status`, keeping the rest of
/// the stored object.
fn set_status(
    store: &mut Store,
    data_volume: &Value,
    status: Value,
    now: &str,
    crash: &mut CrashAfter,
) -> Result<(), StoreError> {
    let Some(key) = ObjectKey::of(data_volume) else {
        return Ok(());
    };
    let Some(mut stored) = store.get(&key)? else {
        return Ok(());
    };
    stored["status"] = status;
    crash.tick();
    store.put(stored, now)?;
    Ok(())
}

/// Creates the bound PVC of an imported DataVolume, as CDI and the
/// provisioner would; it inherits the DataVolume's labels and
/// `lastUseTime`.
fn bind_pvc(store: &mut Store, data_volume: &Value, now: &str) -> Result<(), StoreError> {
    let text = |pointer: &str| data_volume.pointer(pointer).and_then(Value::as_str);
    let namespace = text("/metadata/namespace").unwrap_or("");
    let name = text("/metadata/name").unwrap_or("");
    let key = ObjectKey {
        kind: kind::PVC.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    };
    if store.get(&key)?.is_some() {
        return Ok(());
    }
    let storage = [
        "/spec/storage/resources/requests/storage",
        "/spec/pvc/resources/requests/storage",
    ]
    .iter()
    .find_map(|p| text(p))
    .unwrap_or("0");
    let class = storage_class_of(data_volume).or_else(|| default_storage_class(store));
    let mut annotations = serde_json::Map::new();
    if let Some(last_use) = data_volume
        .pointer("/metadata/annotations")
        .and_then(|a| a.get(ANNOTATION_LAST_USE_TIME))
    {
        annotations.insert(ANNOTATION_LAST_USE_TIME.into(), last_use.clone());
    }
    let mut pvc = json!({
        "apiVersion": "v1",
        "kind": kind::PVC,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": data_volume.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": annotations,
            "ownerReferences": [{
                "apiVersion": "cdi.kubevirt.io/v1beta1",
                "kind": kind::DATA_VOLUME,
                "name": name,
                "uid": text("/metadata/uid").unwrap_or(""),
                "controller": true,
            }],
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": storage } },
        },
        "status": { "phase": "Bound", "capacity": { "storage": storage } },
    });
    if let Some(class) = class {
        pvc["spec"]["storageClassName"] = json!(class);
    }
    store.put(pvc, now)?;
    Ok(())
}

/// Returns the storageClassName the DataVolume requests, if any.
fn storage_class_of(data_volume: &Value) -> Option<String> {
    [
        "/spec/storage/storageClassName",
        "/spec/pvc/storageClassName",
    ]
    .iter()
    .find_map(|p| data_volume.pointer(p).and_then(Value::as_str))
    .filter(|class| !class.is_empty())
    .map(str::to_string)
}

/// Returns the StorageClass marked as the Kubernetes default, if any.
fn default_storage_class(store: &Store) -> Option<String> {
    let objects = store.load().ok()?;
    objects
        .iter()
        .filter(|(key, _)| key.kind == kind::STORAGE_CLASS)
        .find(|(_, class)| {
            class
                .pointer("/metadata/annotations")
                .and_then(|a| a.get(bootsource_guest::model::core::ANNOTATION_DEFAULT_CLASS))
                .and_then(Value::as_str)
                == Some("true")
        })
        .map(|(key, _)| key.name.clone())
}
