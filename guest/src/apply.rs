//! Applies a plan's actions to an in-memory list of objects, as an API
//! server would, so that a later stage, a test or a simulator sees the
//! cluster the plan leaves behind.

use serde_json::{Map, Value};

use crate::plan::{Action, ActionKind, MERGE_PATCH};

/// Applies `actions` to `objects` in order.
///
/// - `create` adds the body; an object that already exists is left as it is
///   (the API server answers AlreadyExists).
/// - `apply` merges the body into the object (RFC 7386), or adds it.
/// - `patch` merges a merge patch into the object; with the `status`
///   subresource only the patch's `status` is applied, and without it
///   everything but `status`.
/// - `delete` removes the object when its uid and resourceVersion match
///   the preconditions that are set.
///
/// Objects are matched by API group, kind, namespace and name. An action on
/// a missing object is skipped, as the API server answers NotFound.
///
/// NOTE: JSON patches (RFC 6902) are skipped; the stages emit merge patches
/// only. Server-side apply is approximated by a merge patch, so fields that
/// the body leaves out are kept rather than released.
pub fn apply_actions(objects: &mut Vec<Value>, actions: &[Action]) {
    for action in actions {
        let position = objects.iter().position(|o| matches(o, action));
        match action.action {
            ActionKind::Create => {
                if let (None, Some(body)) = (position, &action.body) {
                    objects.push(body.clone());
                }
            }
            ActionKind::Apply => match (position, &action.body) {
                (Some(i), Some(body)) => merge_patch(&mut objects[i], body),
                (None, Some(body)) => objects.push(body.clone()),
                _ => {}
            },
            ActionKind::Patch => {
                let is_merge = action.patch_type.as_deref().unwrap_or(MERGE_PATCH) == MERGE_PATCH;
                if let (Some(i), Some(patch), true) = (position, &action.patch, is_merge) {
                    let patch = restrict_to_subresource(patch, action.subresource.as_deref());
                    merge_patch(&mut objects[i], &patch);
                }
            }
            ActionKind::Delete => {
                if let Some(i) = position {
                    if preconditions_hold(&objects[i], action) {
                        objects.remove(i);
                    }
                }
            }
        }
    }
}

/// Merges `patch` into `target` as RFC 7386 defines it: objects merge key
/// by key, `null` removes a key, and any other value replaces the target.
pub fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(patch_map) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Map::new());
    }
    if let Value::Object(target_map) = target {
        for (key, value) in patch_map {
            if value.is_null() {
                target_map.remove(key);
            } else {
                merge_patch(target_map.entry(key.clone()).or_insert(Value::Null), value);
            }
        }
    }
}

fn restrict_to_subresource(patch: &Value, subresource: Option<&str>) -> Value {
    let Value::Object(map) = patch else {
        return patch.clone();
    };
    let keep_status = subresource == Some("status");
    let kept: Map<String, Value> = map
        .iter()
        .filter(|(key, _)| (key.as_str() == "status") == keep_status)
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Value::Object(kept)
}

fn matches(object: &Value, action: &Action) -> bool {
    let target = &action.object;
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
    };
    group(text("/apiVersion")) == group(&target.api_version)
        && text("/kind") == target.kind
        && text("/metadata/namespace") == target.namespace.as_deref().unwrap_or("")
        && text("/metadata/name") == target.name
}

fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

fn preconditions_hold(object: &Value, action: &Action) -> bool {
    let Some(pre) = &action.preconditions else {
        return true;
    };
    let field = |name: &str| {
        object
            .pointer(&format!("/metadata/{name}"))
            .and_then(Value::as_str)
    };
    let uid_ok = pre
        .uid
        .as_deref()
        .is_none_or(|uid| field("uid") == Some(uid));
    let version_ok = pre
        .resource_version
        .as_deref()
        .is_none_or(|rv| field("resourceVersion") == Some(rv));
    uid_ok && version_ok
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_removes_null_keys() {
        let mut target = json!({"a": 1, "b": {"c": 2, "d": 3}});
        merge_patch(&mut target, &json!({"b": {"c": null, "e": 4}}));
        assert_eq!(target, json!({"a": 1, "b": {"d": 3, "e": 4}}));
    }

    #[test]
    fn delete_skipped_on_stale_resource_version() {
        use crate::model::meta::ObjectRef;
        use crate::plan::Preconditions;
        let object = json!({"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"name": "p", "namespace": "ns", "uid": "u1", "resourceVersion": "5"}});
        let mut objects = vec![object];
        let reference = ObjectRef::new("v1", "PersistentVolumeClaim", "ns", "p");
        let stale = Preconditions {
            uid: Some("u1".into()),
            resource_version: Some("4".into()),
        };
        apply_actions(
            &mut objects,
            &[Action::delete(reference.clone(), stale, "test")],
        );
        assert_eq!(objects.len(), 1);
        let current = Preconditions {
            uid: Some("u1".into()),
            resource_version: Some("5".into()),
        };
        apply_actions(&mut objects, &[Action::delete(reference, current, "test")]);
        assert!(objects.is_empty());
    }

    #[test]
    fn status_patch_touches_only_status() {
        use crate::model::meta::ObjectRef;
        let mut objects = vec![
            json!({"apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataImportCron",
            "metadata": {"name": "c", "namespace": "ns"}, "spec": {"schedule": ""}}),
        ];
        let reference = ObjectRef::new("cdi.kubevirt.io/v1beta1", "DataImportCron", "ns", "c");
        let patch = json!({"spec": {"schedule": "x"}, "status": {"sourceFormat": "pvc"}});
        apply_actions(
            &mut objects,
            &[Action::merge_patch(reference, patch, true, "test")],
        );
        assert_eq!(objects[0]["spec"]["schedule"], json!(""));
        assert_eq!(objects[0]["status"]["sourceFormat"], json!("pvc"));
    }

    #[test]
    fn merge_patch_replaces_arrays() {
        let mut target = json!({"a": [1, 2]});
        merge_patch(&mut target, &json!({"a": [3]}));
        assert_eq!(target, json!({"a": [3]}));
    }
}
