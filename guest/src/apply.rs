//! Applies a plan's actions to an in-memory list of objects, as an API
//! server would, so that a later stage, a test or a simulator sees the
//! cluster the plan leaves behind.

use std::collections::BTreeMap;

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
///
/// Objects are found through an index by identity, so applying a plan
/// takes O((objects + actions) log objects) rather than a scan per action.
/// A patch does not move an object in the index; the stages never rename
/// objects.
pub fn apply_actions(objects: &mut Vec<Value>, actions: &[Action]) {
    let mut slots: Vec<Option<Value>> = objects.drain(..).map(Some).collect();
    // Positions of the live objects of each identity, oldest first, so the
    // first is the one a scan in input order would find.
    let mut index: BTreeMap<Identity, Vec<usize>> = BTreeMap::new();
    for (position, object) in slots.iter().enumerate() {
        if let Some(object) = object {
            index.entry(identity_of(object)).or_default().push(position);
        }
    }

    for action in actions {
        let key = identity_of_action(action);
        let position = index
            .get(&key)
            .and_then(|positions| positions.first().copied());
        match action.action {
            ActionKind::Create | ActionKind::Apply if position.is_none() => {
                if let Some(body) = &action.body {
                    index.entry(key).or_default().push(slots.len());
                    slots.push(Some(body.clone()));
                }
            }
            ActionKind::Create => {}
            ActionKind::Apply => {
                if let (Some(i), Some(body)) = (position, &action.body) {
                    if let Some(object) = &mut slots[i] {
                        merge_patch(object, body);
                    }
                }
            }
            ActionKind::Patch => {
                let is_merge = action.patch_type.as_deref().unwrap_or(MERGE_PATCH) == MERGE_PATCH;
                if let (Some(i), Some(patch), true) = (position, &action.patch, is_merge) {
                    let patch = restrict_to_subresource(patch, action.subresource.as_deref());
                    if let Some(object) = &mut slots[i] {
                        merge_patch(object, &patch);
                    }
                }
            }
            ActionKind::Delete => {
                let Some(i) = position else { continue };
                if slots[i]
                    .as_ref()
                    .is_some_and(|o| preconditions_hold(o, action))
                {
                    slots[i] = None;
                    if let Some(positions) = index.get_mut(&key) {
                        positions.remove(0);
                    }
                }
            }
        }
    }
    objects.extend(slots.into_iter().flatten());
}

/// API group, kind, namespace and name: what identifies an object here.
type Identity = (String, String, String, String);

fn identity_of(object: &Value) -> Identity {
    let text = |pointer: &str| {
        object
            .pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string()
    };
    (
        group(&text("/apiVersion")).to_string(),
        text("/kind"),
        text("/metadata/namespace"),
        text("/metadata/name"),
    )
}

fn identity_of_action(action: &Action) -> Identity {
    let target = &action.object;
    (
        group(&target.api_version).to_string(),
        target.kind.clone(),
        target.namespace.clone().unwrap_or_default(),
        target.name.clone(),
    )
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

/// Keeps the part of a patch that a write to `subresource` may change: only
/// `status` for the status subresource, everything but `status` otherwise.
pub fn restrict_to_subresource(patch: &Value, subresource: Option<&str>) -> Value {
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

fn group(api_version: &str) -> &str {
    api_version.rsplit_once('/').map(|(g, _)| g).unwrap_or("")
}

/// Checks the action's uid and resourceVersion preconditions against the
/// stored object.
pub fn preconditions_hold(object: &Value, action: &Action) -> bool {
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
