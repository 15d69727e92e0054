//! Shared test support: builders for requests and the table of
//! templates-stage cases that run both natively and in the wasm module.

pub mod parity;
pub mod templates_cases;

use serde_json::{json, Value};

/// The time every test request runs at.
pub const NOW: &str = "2026-01-15T10:00:00Z";

/// The outcome of a `plan` call: the plan or the error value, as JSON.
pub type Outcome = Result<Value, Value>;

/// Decodes a `{"ok": ...}` / `{"error": ...}` envelope.
pub fn outcome(envelope: &[u8]) -> Outcome {
    let value: Value = serde_json::from_slice(envelope).expect("the envelope is JSON");
    if let Some(ok) = value.get("ok") {
        Ok(ok.clone())
    } else {
        Err(value
            .get("error")
            .cloned()
            .expect("the envelope has ok or error"))
    }
}

/// Runs the `plan` operation natively on the guest library.
pub fn plan_native(request: &Value) -> Outcome {
    let bytes = serde_json::to_vec(request).expect("request encodes");
    outcome(&bootsource_guest::dispatch("plan", &bytes))
}

/// Builds a HyperConverged in the v1beta1 form.
pub fn hc_v1beta1(spec: Value) -> Value {
    json!({
        "apiVersion": "hco.kubevirt.io/v1beta1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": "kubevirt-hyperconverged", "uid": "7a3e2c1b-0000-4000-8000-000000000001"},
        "spec": spec,
    })
}

/// Builds a HyperConverged in the v1 form; `sources` is `spec.workloadSources`.
pub fn hc_v1(sources: Value) -> Value {
    json!({
        "apiVersion": "hco.kubevirt.io/v1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": "kubevirt-hyperconverged", "uid": "7a3e2c1b-0000-4000-8000-000000000001"},
        "spec": {"workloadSources": sources},
    })
}

/// A template named `name` managing DataSource `name` from
/// `docker://quay.io/test/<name>`.
pub fn template(name: &str) -> Value {
    json!({
        "metadata": {"name": name},
        "spec": {
            "schedule": "1 */12 * * *",
            "managedDataSource": name,
            "garbageCollect": "Outdated",
            "template": {"spec": {
                "source": {"registry": {"url": format!("docker://quay.io/test/{name}")}},
                "storage": {"resources": {"requests": {"storage": "10Gi"}}},
            }},
        },
    })
}

/// A common-templates file holding `templates`.
pub fn common_file(source: &str, templates: Vec<Value>) -> Value {
    json!({"source": source, "templates": templates})
}

/// A templates-stage request over `objects` with the given common files
/// (`None` keeps the built-in set) and HCO version.
pub fn request(objects: Vec<Value>, commons: Option<Vec<Value>>, hco_version: &str) -> Value {
    let mut request = json!({
        "hcoVersion": hco_version,
        "now": NOW,
        "stages": ["templates"],
        "objects": objects,
    });
    if let Some(files) = commons {
        request["commonTemplates"] = Value::Array(files);
    }
    request
}

/// Returns the status entry named `name` of a plan.
pub fn status_entry<'a>(plan: &'a Value, name: &str) -> Option<&'a Value> {
    plan.pointer("/status/dataImportCronTemplates")?
        .as_array()?
        .iter()
        .find(|e| e.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
}

/// Returns the names in the status list, in order.
pub fn status_names(plan: &Value) -> Vec<String> {
    names(plan.pointer("/status/dataImportCronTemplates"))
}

/// Returns the SSP apply action's templates.
pub fn ssp_templates(plan: &Value) -> Option<&Vec<Value>> {
    plan["actions"]
        .as_array()?
        .iter()
        .find(|a| a.pointer("/object/kind").and_then(Value::as_str) == Some("SSP"))?
        .pointer("/body/spec/commonTemplates/dataImportCronTemplates")?
        .as_array()
}

/// Returns the SSP template named `name`.
pub fn ssp_entry<'a>(plan: &'a Value, name: &str) -> Option<&'a Value> {
    ssp_templates(plan)?
        .iter()
        .find(|e| e.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
}

/// Returns the names handed to SSP, in order.
pub fn ssp_names(plan: &Value) -> Vec<String> {
    ssp_templates(plan)
        .map(|list| {
            list.iter()
                .filter_map(|e| e.pointer("/metadata/name")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn names(list: Option<&Value>) -> Vec<String> {
    list.and_then(Value::as_array)
        .map(|list| {
            list.iter()
                .filter_map(|e| e.pointer("/metadata/name")?.as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}
