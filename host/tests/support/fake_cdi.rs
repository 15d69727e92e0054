//! A fake of CDI's DataVolume controller and of the Kubernetes garbage
//! collector, for tests against the fake API server. It is not CDI: it
//! downloads nothing. Every new DataVolume is marked Succeeded at once and
//! gets a bound PVC of the same name, owned by it. A PVC whose owning
//! DataVolume is gone is deleted, as the garbage collector would.

use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};

use super::fake_apiserver::FakeApiServer;

const DATA_VOLUMES: &str = "/apis/cdi.kubevirt.io/v1beta1/datavolumes";
const PVCS: &str = "/api/v1/persistentvolumeclaims";
const TICK: Duration = Duration::from_millis(50);

/// The running fake importer; dropping it stops it.
pub struct FakeImporter {
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeImporter {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts the fake importer on `api`.
pub fn start(api: Arc<FakeApiServer>) -> FakeImporter {
    let task = tokio::spawn(async move {
        loop {
            step(&api);
            tokio::time::sleep(TICK).await;
        }
    });
    FakeImporter { task }
}

fn text<'a>(object: &'a Value, pointer: &str) -> &'a str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or_default()
}

/// Marks new DataVolumes imported and deletes orphaned PVCs.
fn step(api: &FakeApiServer) {
    let data_volumes = api.objects(DATA_VOLUMES);
    for data_volume in &data_volumes {
        if text(data_volume, "/status/phase") == "Succeeded" {
            continue;
        }
        let namespace = text(data_volume, "/metadata/namespace");
        let name = text(data_volume, "/metadata/name");
        let pvc_path = format!("/api/v1/namespaces/{namespace}/persistentvolumeclaims/{name}");
        if api.get(&pvc_path).is_none() {
            api.seed(
                &format!("/api/v1/namespaces/{namespace}/persistentvolumeclaims"),
                bound_pvc(data_volume),
            );
        }
        // The DataVolume may be deleted meanwhile; then there is nothing
        // to mark.
        api.try_patch(
            &format!("/apis/cdi.kubevirt.io/v1beta1/namespaces/{namespace}/datavolumes/{name}"),
            &json!({"status": {
                "phase": "Succeeded",
                "progress": "100.0%",
                "conditions": [
                    {"type": "Running", "status": "False", "reason": "Completed"},
                    {"type": "Bound", "status": "True", "reason": "Bound"},
                    {"type": "Ready", "status": "True"},
                ],
            }}),
        );
    }
    let live: Vec<&str> = data_volumes
        .iter()
        .map(|d| text(d, "/metadata/uid"))
        .collect();
    for pvc in api.objects(PVCS) {
        let owner = pvc
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .and_then(|owners| owners.iter().find(|o| o["kind"] == "DataVolume"));
        let Some(owner) = owner else {
            continue;
        };
        if !live.contains(&text(owner, "/uid")) {
            api.delete(&format!(
                "/api/v1/namespaces/{}/persistentvolumeclaims/{}",
                text(&pvc, "/metadata/namespace"),
                text(&pvc, "/metadata/name")
            ));
        }
    }
}

fn bound_pvc(data_volume: &Value) -> Value {
    let storage = [
        "/spec/storage/resources/requests/storage",
        "/spec/pvc/resources/requests/storage",
    ]
    .iter()
    .map(|p| text(data_volume, p))
    .find(|s| !s.is_empty())
    .unwrap_or("1Gi");
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": text(data_volume, "/metadata/name"),
            "labels": data_volume.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "ownerReferences": [{
                "apiVersion": "cdi.kubevirt.io/v1beta1",
                "kind": "DataVolume",
                "name": text(data_volume, "/metadata/name"),
                "uid": text(data_volume, "/metadata/uid"),
                "controller": true,
            }],
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": {"requests": {"storage": storage}},
        },
        "status": {"phase": "Bound", "capacity": {"storage": storage}},
    })
}
