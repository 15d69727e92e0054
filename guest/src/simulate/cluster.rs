//! The simulated cluster's own behaviour: what the API server, the storage
//! provisioner and CDI's importer pods would do between reconciles.

use serde_json::{json, Value};

use crate::imports::{kind, label};
use crate::model::cdi::{ANNOTATION_LAST_USE_TIME, LABEL_DATA_IMPORT_CRON};
use crate::model::core::ANNOTATION_DEFAULT_CLASS;

/// Provisioner of the StorageClass the simulation creates.
pub const SIMULATED_PROVISIONER: &str = "simulated.bootsource.io";

/// Returns the text at `pointer` in `object`, or "".
pub fn text<'v>(object: &'v Value, pointer: &str) -> &'v str {
    object
        .pointer(pointer)
        .and_then(Value::as_str)
        .unwrap_or("")
}

/// Returns the index of the object of `kind` named `name` in `namespace`.
pub fn find(objects: &[Value], kind: &str, namespace: &str, name: &str) -> Option<usize> {
    objects.iter().position(|o| {
        text(o, "/kind") == kind
            && text(o, "/metadata/namespace") == namespace
            && text(o, "/metadata/name") == name
    })
}

/// Builds a default StorageClass named `name`, created at `now`.
pub fn default_storage_class(name: &str, now: &str) -> Value {
    json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": name,
            "creationTimestamp": now,
            "annotations": { ANNOTATION_DEFAULT_CLASS: "true" },
        },
        "provisioner": SIMULATED_PROVISIONER,
        "volumeBindingMode": "Immediate",
    })
}

/// Returns true when the objects contain any StorageClass.
pub fn has_storage_class(objects: &[Value]) -> bool {
    objects
        .iter()
        .any(|o| text(o, "/kind") == kind::STORAGE_CLASS)
}

/// Gives every object without a uid a fresh one and a creation time, as the
/// API server does on create. `counter` numbers the uids.
pub fn admit_new_objects(objects: &mut [Value], counter: &mut u64, now: &str) {
    for object in objects.iter_mut() {
        if !text(object, "/metadata/uid").is_empty() {
            continue;
        }
        *counter += 1;
        let uid = format!("00000000-0000-4000-8000-{:012x}", *counter);
        if let Some(metadata) = object.get_mut("metadata").and_then(Value::as_object_mut) {
            metadata.insert("uid".into(), json!(uid));
            metadata
                .entry("creationTimestamp")
                .or_insert_with(|| json!(now));
        }
    }
}

/// Returns the storage a DataVolume requests, as written (`spec.storage`
/// or `spec.pvc`).
pub fn requested_storage(data_volume: &Value) -> Option<String> {
    [
        "/spec/storage/resources/requests/storage",
        "/spec/pvc/resources/requests/storage",
    ]
    .iter()
    .find_map(|p| data_volume.pointer(p).and_then(Value::as_str))
    .map(str::to_string)
}

/// Marks the DataVolume at `index` as imported and creates its bound PVC,
/// as CDI's importer and the provisioner would. The PVC inherits the
/// DataVolume's labels (the cron label among them) and `lastUseTime`.
pub fn complete_import(objects: &mut Vec<Value>, index: usize, default_class: &str, now: &str) {
    let data_volume = &mut objects[index];
    if let Some(map) = data_volume.as_object_mut() {
        map.insert(
            "status".into(),
            json!({ "phase": "Succeeded", "progress": "100.0%", "conditions": [
                { "type": "Bound", "status": "True", "reason": "Bound" },
                { "type": "Ready", "status": "True" },
                { "type": "Running", "status": "False", "reason": "Completed" },
            ]}),
        );
    }
    let data_volume = objects[index].clone();
    let namespace = text(&data_volume, "/metadata/namespace");
    let name = text(&data_volume, "/metadata/name");
    if find(objects, kind::PVC, namespace, name).is_some() {
        return;
    }
    let storage = requested_storage(&data_volume).unwrap_or_else(|| "0".into());
    let class = match text(&data_volume, "/spec/storage/storageClassName") {
        "" => default_class,
        class => class,
    };
    let mut annotations = serde_json::Map::new();
    let last_use = text(
        &data_volume,
        &format!("/metadata/annotations/{}", escape(ANNOTATION_LAST_USE_TIME)),
    );
    if !last_use.is_empty() {
        annotations.insert(ANNOTATION_LAST_USE_TIME.into(), json!(last_use));
    }
    let pvc = json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "creationTimestamp": now,
            "labels": data_volume.pointer("/metadata/labels").cloned().unwrap_or_else(|| json!({})),
            "annotations": annotations,
        },
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "resources": { "requests": { "storage": storage } },
            "storageClassName": class,
        },
        "status": { "phase": "Bound", "capacity": { "storage": storage } },
    });
    objects.push(pvc);
}

/// Marks the DataVolume at `index` as failed for good: `Running=False`
/// with reason `Error`, which lets a newer digest replace it.
pub fn fail_import(objects: &mut [Value], index: usize) {
    if let Some(map) = objects[index].as_object_mut() {
        map.insert(
            "status".into(),
            json!({ "phase": "Failed", "progress": "N/A", "restartCount": 3, "conditions": [
                { "type": "Bound", "status": "True", "reason": "Bound" },
                { "type": "Ready", "status": "False" },
                { "type": "Running", "status": "False", "reason": "Error",
                  "message": "simulated import failure" },
            ]}),
        );
    }
}

/// Returns the cron label of an object, or "".
pub fn cron_of(object: &Value) -> &str {
    label(object, LABEL_DATA_IMPORT_CRON).unwrap_or("")
}

/// Escapes a key for a JSON pointer (RFC 6901).
pub fn escape(key: &str) -> String {
    key.replace('~', "~0").replace('/', "~1")
}

/// Parses a Kubernetes quantity such as `30Gi` or `5G` into bytes. Returns
/// None for a form it does not know (milli-units, exponents).
pub fn quantity_bytes(text: &str) -> Option<u64> {
    const SUFFIXES: &[(&str, u64)] = &[
        ("Ki", 1 << 10),
        ("Mi", 1 << 20),
        ("Gi", 1 << 30),
        ("Ti", 1 << 40),
        ("Pi", 1 << 50),
        ("k", 1_000),
        ("M", 1_000_000),
        ("G", 1_000_000_000),
        ("T", 1_000_000_000_000),
        ("P", 1_000_000_000_000_000),
    ];
    let text = text.trim();
    for (suffix, factor) in SUFFIXES {
        if let Some(number) = text.strip_suffix(suffix) {
            return number.parse::<u64>().ok()?.checked_mul(*factor);
        }
    }
    text.parse::<u64>().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_parse_to_bytes() {
        let cases = [
            ("30Gi", Some(30u64 << 30)),
            ("5G", Some(5_000_000_000)),
            ("512", Some(512)),
            ("1.5Gi", None),
        ];
        for (text, expected) in cases {
            assert_eq!(quantity_bytes(text), expected, "{text}");
        }
    }
}
