//! Watches the objects a plan reads and keeps the newest copy of each.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Debug;
use std::sync::Mutex;

use futures::StreamExt;
use k8s_openapi::api::core::v1::PersistentVolumeClaim;
use k8s_openapi::api::storage::v1::StorageClass;
use kube::api::{Api, DynamicObject, ListParams};
use kube::discovery::ApiResource;
use kube::runtime::watcher::{self, Event};
use kube::Client;
use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::Value;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// Namespace and name of an object; the namespace is empty for
/// cluster-scoped objects.
type Key = (String, String);

/// Kind whose disappearance the imports stage must hear of.
const CRON_KIND: &str = "DataImportCron";

/// The watched objects by kind, as JSON, and which kinds finished their
/// initial list.
#[derive(Default)]
struct Objects {
    by_kind: BTreeMap<String, BTreeMap<Key, Value>>,
    /// Objects of a relist in progress, swapped in when the list is done.
    relisting: BTreeMap<String, BTreeMap<Key, Value>>,
    synced: BTreeSet<String>,
    /// DataImportCrons seen disappearing, by a delete event, a relist or
    /// the controller's own delete, until a plan ran with them.
    gone_crons: BTreeSet<Key>,
}

/// The latest known state of every watched object.
///
/// Watch events and the controller's own write responses both update it,
/// so the next plan includes the controller's writes even before their watch
/// events arrive.
pub struct Cache {
    objects: Mutex<Objects>,
    expected_kinds: BTreeSet<String>,
    changed: Notify,
}

impl Cache {
    /// Creates an empty cache that counts as synced once every kind in
    /// `kinds` finished its first list.
    pub fn new(kinds: impl IntoIterator<Item = String>) -> Self {
        Cache {
            objects: Mutex::new(Objects::default()),
            expected_kinds: kinds.into_iter().collect(),
            changed: Notify::new(),
        }
    }

    /// Returns true once every watched kind finished its first list.
    pub fn synced(&self) -> bool {
        let objects = self.lock();
        self.expected_kinds
            .iter()
            .all(|k| objects.synced.contains(k))
    }

    /// Waits until a watched object changed since the last call.
    pub async fn changed(&self) {
        self.changed.notified().await;
    }

    /// Returns every cached object, ordered by kind, namespace and name.
    pub fn snapshot(&self) -> Vec<Value> {
        let objects = self.lock();
        objects
            .by_kind
            .values()
            .flat_map(|objects| objects.values().cloned())
            .collect()
    }

    /// Returns the cached objects of one kind.
    pub fn objects_of(&self, kind: &str) -> Vec<Value> {
        let objects = self.lock();
        objects
            .by_kind
            .get(kind)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Stores an object unless the cache already contains a newer version.
    pub fn upsert(&self, object: Value) {
        let Some((kind, key)) = identity(&object) else {
            return;
        };
        let mut objects = self.lock();
        let slot = objects.by_kind.entry(kind).or_default();
        if slot.get(&key).is_some_and(|held| is_newer(held, &object)) {
            return;
        }
        slot.insert(key, object);
        drop(objects);
        self.changed.notify_one();
    }

    /// Drops an object, unless the cache contains another incarnation of it
    /// (same name, other uid), which a late delete event must not remove.
    pub fn remove(&self, object: &Value) {
        let Some((kind, key)) = identity(object) else {
            return;
        };
        let mut objects = self.lock();
        if let Some(slot) = objects.by_kind.get_mut(&kind) {
            let same_uid = slot.get(&key).is_some_and(|held| uid(held) == uid(object));
            if same_uid {
                slot.remove(&key);
                if kind == CRON_KIND {
                    objects.gone_crons.insert(key);
                }
            }
        }
        drop(objects);
        self.changed.notify_one();
    }

    /// Returns the DataImportCrons seen disappearing that are not back, as
    /// (namespace, name), for the plan's `deletedCrons`.
    pub fn gone_crons(&self) -> Vec<(String, String)> {
        let objects = self.lock();
        let present = objects.by_kind.get(CRON_KIND);
        objects
            .gone_crons
            .iter()
            .filter(|key| !present.is_some_and(|p| p.contains_key(*key)))
            .cloned()
            .collect()
    }

    /// Forgets crons a plan ran with, once its actions were applied.
    pub fn forget_gone_crons(&self, crons: &[(String, String)]) {
        let mut objects = self.lock();
        for cron in crons {
            objects.gone_crons.remove(cron);
        }
    }

    fn begin_relist(&self, kind: &str) {
        self.lock()
            .relisting
            .insert(kind.to_string(), BTreeMap::new());
    }

    fn relisted(&self, kind: &str, object: Value) {
        if let Some((_, key)) = identity(&object) {
            let mut objects = self.lock();
            objects
                .relisting
                .entry(kind.to_string())
                .or_default()
                .insert(key, object);
        }
    }

    fn end_relist(&self, kind: &str) {
        let mut objects = self.lock();
        let listed = objects.relisting.remove(kind).unwrap_or_default();
        if kind == CRON_KIND {
            let vanished: Vec<Key> = objects
                .by_kind
                .get(kind)
                .into_iter()
                .flat_map(|held| held.keys())
                .filter(|key| !listed.contains_key(*key))
                .cloned()
                .collect();
            objects.gone_crons.extend(vanished);
        }
        objects.by_kind.insert(kind.to_string(), listed);
        objects.synced.insert(kind.to_string());
        drop(objects);
        self.changed.notify_one();
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Objects> {
        // A panic while the lock was held leaves plain data behind, which is
        // still usable.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn identity(object: &Value) -> Option<(String, Key)> {
    let kind = object.get("kind")?.as_str()?.to_string();
    let metadata = object.get("metadata")?;
    let name = metadata.get("name")?.as_str()?.to_string();
    let namespace = metadata
        .get("namespace")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    Some((kind, (namespace, name)))
}

fn uid(object: &Value) -> Option<&str> {
    object.pointer("/metadata/uid").and_then(Value::as_str)
}

/// Returns true when `held` is a later version of the same object than
/// `incoming`.
///
/// NOTE: Kubernetes calls resourceVersions opaque; this compares them as
/// integers, which is what etcd-backed API servers return. When either is
/// not an integer the incoming object wins.
fn is_newer(held: &Value, incoming: &Value) -> bool {
    let version = |o: &Value| {
        o.pointer("/metadata/resourceVersion")
            .and_then(Value::as_str)
            .and_then(|v| v.parse::<u64>().ok())
    };
    match (version(held), version(incoming)) {
        (Some(held_version), Some(incoming_version)) => {
            uid(held) == uid(incoming) && held_version > incoming_version
        }
        _ => false,
    }
}

/// A resource the controller watches.
#[derive(Debug, Clone)]
pub enum Watched {
    /// A custom resource, read as [`DynamicObject`].
    Dynamic(ApiResource),
    PersistentVolumeClaims,
    StorageClasses,
}

impl Watched {
    /// Returns the kind name the cache files the objects under.
    pub fn kind(&self) -> String {
        match self {
            Watched::Dynamic(resource) => resource.kind.clone(),
            Watched::PersistentVolumeClaims => "PersistentVolumeClaim".into(),
            Watched::StorageClasses => "StorageClass".into(),
        }
    }
}

/// Starts one watcher task per resource; each feeds `cache` until aborted.
pub fn spawn_watchers(
    client: &Client,
    cache: &std::sync::Arc<Cache>,
    watched: &[Watched],
) -> Vec<JoinHandle<()>> {
    watched
        .iter()
        .map(|resource| {
            let cache = cache.clone();
            let client = client.clone();
            match resource.clone() {
                Watched::Dynamic(ar) => {
                    let api = Api::<DynamicObject>::all_with(client, &ar);
                    tokio::spawn(watch(api, ar.api_version.clone(), ar.kind.clone(), cache))
                }
                Watched::PersistentVolumeClaims => {
                    let api = Api::<PersistentVolumeClaim>::all(client);
                    tokio::spawn(watch(api, "v1".into(), resource.kind(), cache))
                }
                Watched::StorageClasses => {
                    let api = Api::<StorageClass>::all(client);
                    tokio::spawn(watch(
                        api,
                        "storage.k8s.io/v1".into(),
                        resource.kind(),
                        cache,
                    ))
                }
            }
        })
        .collect()
}

/// Lists every object of `resources` once, for a one-shot read such as
/// `bootsource explain --cluster`. A custom resource the server does not
/// serve (its CRD is not installed) counts as none. An error names the
/// kind that could not be listed.
pub async fn list_once(client: &Client, resources: &[Watched]) -> Result<Vec<Value>, String> {
    let mut objects = Vec::new();
    for resource in resources {
        let kind = resource.kind();
        let failed = |error: kube::Error| {
            format!("failed to list {kind} objects: {}", kube_error_text(&error))
        };
        match resource {
            Watched::Dynamic(ar) => {
                let api = Api::<DynamicObject>::all_with(client.clone(), ar);
                match api.list(&ListParams::default()).await {
                    Ok(list) => objects.extend(
                        list.items
                            .iter()
                            .filter_map(|o| to_json(o, &ar.api_version, &ar.kind)),
                    ),
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(error) => return Err(failed(error)),
                }
            }
            Watched::PersistentVolumeClaims => {
                let api = Api::<PersistentVolumeClaim>::all(client.clone());
                let list = api.list(&ListParams::default()).await.map_err(failed)?;
                objects.extend(list.items.iter().filter_map(|o| to_json(o, "v1", &kind)));
            }
            Watched::StorageClasses => {
                let api = Api::<StorageClass>::all(client.clone());
                let list = api.list(&ListParams::default()).await.map_err(failed)?;
                objects.extend(
                    list.items
                        .iter()
                        .filter_map(|o| to_json(o, "storage.k8s.io/v1", &kind)),
                );
            }
        }
    }
    Ok(objects)
}

/// Converts a watched object to JSON with its `apiVersion` and `kind` set,
/// because list items may come without them.
pub fn to_json<K: Serialize>(object: &K, api_version: &str, kind: &str) -> Option<Value> {
    let mut value = serde_json::to_value(object).ok()?;
    let map = value.as_object_mut()?;
    map.insert("apiVersion".into(), Value::String(api_version.into()));
    map.insert("kind".into(), Value::String(kind.into()));
    Some(value)
}

/// Wait after the `failures`-th failed list or watch in a row: 1 s,
/// doubling per failure, at most 60 s.
fn watch_retry_delay(failures: u32) -> std::time::Duration {
    let exponent = failures.saturating_sub(1).min(6);
    std::time::Duration::from_secs(1u64 << exponent).min(std::time::Duration::from_secs(60))
}

/// True when the server does not serve the resource at all: its list
/// returns 404, as for a custom resource whose CRD is not installed.
fn is_not_served(error: &watcher::Error) -> bool {
    matches!(error, watcher::Error::InitialListFailed(kube::Error::Api(status)) if status.code == 404)
}

/// Describes a kube client error in one line. The error's own text for an
/// API error repeats the whole Status body in Debug form, so an API error
/// is given as code, reason and message.
fn kube_error_text(error: &kube::Error) -> String {
    match error {
        kube::Error::Api(status) if status.reason.is_empty() => format!(
            "the API server responded {}: {}",
            status.code, status.message
        ),
        kube::Error::Api(status) => format!(
            "the API server responded {} {}: {}",
            status.code, status.reason, status.message
        ),
        error => error.to_string(),
    }
}

/// Describes a watch error in one line, saying which step failed.
fn describe(error: &watcher::Error) -> String {
    let api = |what: &str, error: &kube::Error| format!("{what}: {}", kube_error_text(error));
    match error {
        watcher::Error::InitialListFailed(e) => api("list failed", e),
        watcher::Error::WatchStartFailed(e) => api("watch failed to start", e),
        watcher::Error::WatchFailed(e) => api("watch failed", e),
        error => error.to_string(),
    }
}

async fn watch<K>(api: Api<K>, api_version: String, kind: String, cache: std::sync::Arc<Cache>)
where
    K: kube::Resource + Clone + DeserializeOwned + Serialize + Debug + Send + 'static,
{
    // Retries are spaced here rather than by a stream backoff: the watcher
    // yields `Event::Init` before every list attempt, and that event would
    // reset a stream backoff after each failure.
    let stream = watcher::watcher(api, watcher::Config::default());
    let mut stream = std::pin::pin!(stream);
    let mut failures: u32 = 0;
    let mut not_served = false;
    while let Some(event) = stream.next().await {
        let event = match event {
            Ok(event) => event,
            Err(error) => {
                failures = failures.saturating_add(1);
                if is_not_served(&error) {
                    // Read as no objects, so that the first sync completes
                    // and the other kinds are reconciled. Listing goes on,
                    // because the resource may be installed later.
                    if !not_served {
                        not_served = true;
                        tracing::warn!(%kind, "the API server does not serve this resource (is its CRD installed?); reading it as no objects until it does");
                        cache.begin_relist(&kind);
                        cache.end_relist(&kind);
                    }
                } else if failures == 1 || failures.is_multiple_of(10) {
                    // The first failure and every tenth, so that a long
                    // outage does not flood the log.
                    tracing::warn!(%kind, error = %describe(&error), failures, "watch failed; retrying with backoff");
                }
                tokio::time::sleep(watch_retry_delay(failures)).await;
                continue;
            }
        };
        let json = |o: &K| to_json(o, &api_version, &kind);
        match event {
            // Sent before every list attempt, failed ones included, so it
            // does not end a run of failures.
            Event::Init => cache.begin_relist(&kind),
            Event::InitApply(object) => {
                if let Some(value) = json(&object) {
                    cache.relisted(&kind, value);
                }
            }
            Event::InitDone => {
                tracing::debug!(%kind, "listed");
                if not_served {
                    tracing::info!(%kind, "the API server serves this resource now");
                    not_served = false;
                }
                failures = 0;
                cache.end_relist(&kind);
            }
            Event::Apply(object) => {
                failures = 0;
                if let Some(value) = json(&object) {
                    cache.upsert(value);
                }
            }
            Event::Delete(object) => {
                failures = 0;
                if let Some(value) = json(&object) {
                    cache.remove(&value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cron(name: &str, uid: &str) -> Value {
        json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": CRON_KIND,
            "metadata": {"namespace": "ns", "name": name, "uid": uid, "resourceVersion": "1"},
        })
    }

    fn gone(names: &[&str]) -> Vec<(String, String)> {
        names
            .iter()
            .map(|n| ("ns".to_string(), n.to_string()))
            .collect()
    }

    #[test]
    fn removed_cron_is_listed_gone() {
        let cache = Cache::new([CRON_KIND.to_string()]);
        cache.upsert(cron("a", "1"));
        cache.remove(&cron("a", "1"));
        assert_eq!(cache.gone_crons(), gone(&["a"]));
    }

    #[test]
    fn relist_without_cron_lists_it_gone() {
        let cache = Cache::new([CRON_KIND.to_string()]);
        cache.upsert(cron("a", "1"));
        cache.upsert(cron("b", "2"));
        cache.begin_relist(CRON_KIND);
        cache.relisted(CRON_KIND, cron("b", "2"));
        cache.end_relist(CRON_KIND);
        assert_eq!(cache.gone_crons(), gone(&["a"]));
    }

    #[test]
    fn recreated_cron_is_not_gone() {
        let cache = Cache::new([CRON_KIND.to_string()]);
        cache.upsert(cron("a", "1"));
        cache.remove(&cron("a", "1"));
        cache.upsert(cron("a", "3"));
        assert_eq!(cache.gone_crons(), gone(&[]));
    }

    #[test]
    fn forgotten_cron_is_not_gone() {
        let cache = Cache::new([CRON_KIND.to_string()]);
        cache.upsert(cron("a", "1"));
        cache.remove(&cron("a", "1"));
        cache.forget_gone_crons(&gone(&["a"]));
        assert_eq!(cache.gone_crons(), gone(&[]));
    }

    #[test]
    fn removed_volume_is_not_a_cron() {
        let cache = Cache::new([CRON_KIND.to_string()]);
        let volume =
            json!({"kind": "DataVolume", "metadata": {"namespace": "ns", "name": "a", "uid": "1"}});
        cache.upsert(volume.clone());
        cache.remove(&volume);
        assert_eq!(cache.gone_crons(), gone(&[]));
    }
}
