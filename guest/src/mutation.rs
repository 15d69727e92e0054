//! HCO's mutating-webhook defaults for the template list of a
//! HyperConverged.

use serde_json::{json, Value};

use crate::hco_version::HcoVersion;
use crate::model::dict::IMMEDIATE_BIND_ANNOTATION;
use crate::model::hyperconverged::{ApiForm, HyperConverged};

/// Returns the RFC 6902 patch HCO's mutating webhook makes to the
/// HyperConverged's template list:
/// - HCO 1.9+: each entry without the immediate-bind key gets it with
///   `"true"` (the annotations map is created when missing), disable-only
///   entries included; an existing value is kept;
/// - HCO 1.18+: each entry with a spec gets `retentionPolicy: None` and
///   `importsToKeep: 1` where they are missing.
///
/// Paths follow the object's API form: `/spec/workloadSources/...` for v1,
/// `/spec/...` for v1beta1.
pub fn template_defaults(hc: &HyperConverged, version: HcoVersion) -> Vec<Value> {
    let base = hc.form.templates_pointer();
    let mut patch = Vec::new();
    for (index, entry) in hc.templates.iter().enumerate() {
        let path = format!("{base}/{index}");
        if version.adds_immediate_bind() {
            match &entry.metadata.annotations {
                None => patch.push(json!({
                    "op": "add",
                    "path": format!("{path}/metadata/annotations"),
                    "value": {IMMEDIATE_BIND_ANNOTATION: "true"},
                })),
                Some(annotations) if !annotations.contains_key(IMMEDIATE_BIND_ANNOTATION) => patch.push(json!({
                    "op": "add",
                    "path": format!("{path}/metadata/annotations/{}", escape_pointer(IMMEDIATE_BIND_ANNOTATION)),
                    "value": "true",
                })),
                Some(_) => {}
            }
        }
        if version.defaults_retention() {
            if let Some(spec) = &entry.spec {
                if spec.retention_policy.is_none() {
                    patch.push(json!({"op": "add", "path": format!("{path}/spec/retentionPolicy"), "value": "None"}));
                }
                if spec.imports_to_keep.is_none() {
                    patch.push(json!({"op": "add", "path": format!("{path}/spec/importsToKeep"), "value": 1}));
                }
            }
        }
    }
    patch
}

/// Applies the same defaults as [`template_defaults`] to the in-memory
/// object, as the API server would have stored it after admission.
pub fn apply_template_defaults(hc: &mut HyperConverged, version: HcoVersion) {
    for entry in &mut hc.templates {
        if version.adds_immediate_bind()
            && entry
                .metadata
                .annotation(IMMEDIATE_BIND_ANNOTATION)
                .is_none()
        {
            entry
                .metadata
                .set_annotation(IMMEDIATE_BIND_ANNOTATION, "true");
        }
        if version.defaults_retention() {
            if let Some(spec) = &mut entry.spec {
                spec.retention_policy.get_or_insert_with(|| "None".into());
                spec.imports_to_keep.get_or_insert(1);
            }
        }
    }
}

/// Escapes a JSON-pointer segment (RFC 6901): `~` to `~0`, `/` to `~1`.
pub fn escape_pointer(segment: &str) -> String {
    segment.replace('~', "~0").replace('/', "~1")
}

/// Returns the RFC 6902 operation that writes the multi-arch field with the
/// value of its deprecated feature gate (HCO 1.19+). In the v1 form the
/// `spec.workloadSources` object is created when `object` lacks it.
pub fn multi_arch_field_patch(form: ApiForm, object: &Value, enabled: bool) -> Value {
    match form {
        ApiForm::V1Beta1 => json!({
            "op": "add",
            "path": "/spec/enableMultiArchBootImageImport",
            "value": enabled,
        }),
        ApiForm::V1
            if object
                .pointer("/spec/workloadSources")
                .is_some_and(Value::is_object) =>
        {
            json!({
                "op": "add",
                "path": "/spec/workloadSources/enableMultiArchBootImageImport",
                "value": enabled,
            })
        }
        ApiForm::V1 => json!({
            "op": "add",
            "path": "/spec/workloadSources",
            "value": {"enableMultiArchBootImageImport": enabled},
        }),
    }
}

/// Applies the `add` operations of an RFC 6902 patch to `target`: the
/// only operation this module emits. Returns a message naming the
/// operation that could not be applied.
pub fn apply_patch(target: &mut Value, patch: &[Value]) -> Result<(), String> {
    for (index, operation) in patch.iter().enumerate() {
        let op = operation.get("op").and_then(Value::as_str);
        let path = operation.get("path").and_then(Value::as_str);
        let (Some("add"), Some(path), Some(value)) = (op, path, operation.get("value")) else {
            return Err(format!(
                "patch operation {index} is not an add with a path and a value"
            ));
        };
        let (parent, last) = path
            .rsplit_once('/')
            .ok_or_else(|| format!("patch operation {index}: invalid path {path:?}"))?;
        let key = last.replace("~1", "/").replace("~0", "~");
        let container = target
            .pointer_mut(parent)
            .ok_or_else(|| format!("patch operation {index}: {parent:?} does not exist"))?;
        match container {
            Value::Object(map) => {
                map.insert(key, value.clone());
            }
            Value::Array(items) if key == "-" => items.push(value.clone()),
            Value::Array(items) => {
                let position = key
                    .parse::<usize>()
                    .ok()
                    .filter(|&i| i <= items.len())
                    .ok_or_else(|| format!("patch operation {index}: invalid index in {path:?}"))?;
                items.insert(position, value.clone());
            }
            _ => {
                return Err(format!(
                    "patch operation {index}: {parent:?} is neither an object nor an array"
                ))
            }
        }
    }
    Ok(())
}
