//! Unknown HyperConverged spec fields: the API server prunes them, so the
//! plan and the admission review warn, naming the field and the closest
//! known one. Every call goes through a guest operation; the workspace
//! `tests` crate runs this file through the wasm module too.

use bootsource_guest::admission::{ValidateRequest, ValidateResponse, Verdict};
use bootsource_guest::contract::{op, AdmissionReviewRequest, PlanRequest, Stage};
use bootsource_guest::model::hco_fields;
use bootsource_guest::plan::Warning;
use bootsource_guest::validation::Severity;
use serde_json::{json, Value};

mod support;

const V1BETA1: &str = "hco.kubevirt.io/v1beta1";
const V1: &str = "hco.kubevirt.io/v1";
const UNKNOWN: &str = "unknown field; the API server drops it";

/// The built-in example the `bootsource` CLI plans when given no file.
const EXAMPLE: &str = include_str!("../../host/examples/hyperconverged-okd-4.12.yaml");

fn hyperconverged(api_version: &str, spec: Value) -> Value {
    json!({
        "apiVersion": api_version,
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": "kubevirt-hyperconverged"},
        "spec": spec
    })
}

/// Reviews the creation of `object` through the `admissionReview`
/// operation under the current HCO release.
fn review(object: &Value) -> Verdict {
    let request = AdmissionReviewRequest {
        request: json!({"operation": "CREATE", "object": object}),
        settings: json!({}),
    };
    support::call_typed(op::ADMISSION_REVIEW, &request).expect("the settings are valid")
}

/// Returns the admission warnings about unknown fields.
fn unknown_field_warnings(verdict: &Verdict) -> Vec<String> {
    verdict
        .warnings
        .iter()
        .filter(|w| w.contains(UNKNOWN))
        .cloned()
        .collect()
}

/// Plans the templates stage for `object`.
fn plan_warnings(object: &Value) -> Vec<Warning> {
    let request = PlanRequest {
        stages: Some(vec![Stage::Templates]),
        objects: vec![object.clone()],
        ..PlanRequest::default()
    };
    support::plan(&request)
        .expect("the templates stage succeeds")
        .warnings
}

fn plan_unknown_field_warnings(object: &Value) -> Vec<Warning> {
    plan_warnings(object)
        .into_iter()
        .filter(|w| w.message.starts_with(UNKNOWN))
        .collect()
}

/// Returns a value of the right type for a known field, so that the
/// model reads the object.
fn value_for(api_version: &str, parent: &str, field: &str) -> Value {
    match (parent, field) {
        ("spec", "featureGates") if api_version == V1 => json!([]),
        ("spec", "featureGates" | "workloadSources") => json!({}),
        (_, "dataImportCronTemplates") => json!([]),
        ("spec.featureGates", _) => json!(false),
        _ => Value::Null,
    }
}

/// Builds an object with `field` set under `parent` (`spec`,
/// `spec.featureGates` or `spec.workloadSources`).
fn object_with(api_version: &str, parent: &str, field: &str) -> Value {
    let value = value_for(api_version, parent, field);
    let spec = match parent.strip_prefix("spec.") {
        None => json!({ field: value }),
        Some(child) => {
            let mut inner = json!({ field: value });
            if child == "featureGates" && api_version == V1 {
                inner = json!([]);
            }
            json!({ child: inner })
        }
    };
    hyperconverged(api_version, spec)
}

#[test]
fn misspelt_fields_warn_with_suggestion() {
    let cases = [
        (
            V1BETA1,
            json!({"dataImportCronTemplate": []}),
            "spec.dataImportCronTemplate: unknown field; the API server drops it; \
             did you mean spec.dataImportCronTemplates?",
        ),
        (
            V1BETA1,
            json!({"enableCommonBootImageImprt": false}),
            "spec.enableCommonBootImageImprt: unknown field; the API server drops it; \
             did you mean spec.enableCommonBootImageImport?",
        ),
        (
            V1BETA1,
            json!({"DataImportCronTemplates": []}),
            "spec.DataImportCronTemplates: unknown field; the API server drops it; \
             did you mean spec.dataImportCronTemplates?",
        ),
        (
            V1BETA1,
            json!({"featureGates": {"enableMultiArchBootImageImprot": true}}),
            "spec.featureGates.enableMultiArchBootImageImprot: unknown field; the API server \
             drops it; did you mean spec.featureGates.enableMultiArchBootImageImport?",
        ),
        (
            V1,
            json!({"dataImportCronTemplates": []}),
            "spec.dataImportCronTemplates: unknown field; the API server drops it; \
             did you mean spec.workloadSources.dataImportCronTemplates?",
        ),
        (
            V1,
            json!({"workloadSources": {"enableCommonBootImageImprt": false}}),
            "spec.workloadSources.enableCommonBootImageImprt: unknown field; the API server \
             drops it; did you mean spec.workloadSources.enableCommonBootImageImport?",
        ),
    ];
    for (api_version, spec, expected) in cases {
        let verdict = review(&hyperconverged(api_version, spec.clone()));
        assert_eq!(
            unknown_field_warnings(&verdict),
            vec![expected.to_string()],
            "{api_version} {spec}"
        );
    }
}

#[test]
fn unknown_field_does_not_reject() {
    let verdict = review(&hyperconverged(
        V1BETA1,
        json!({"dataImportCronTemplate": []}),
    ));
    assert!(verdict.allowed, "{verdict:?}");
}

#[test]
fn unknown_field_finding_is_a_warning() {
    let verdict = review(&hyperconverged(
        V1BETA1,
        json!({"dataImportCronTemplate": []}),
    ));
    let severities: Vec<Severity> = verdict
        .findings
        .iter()
        .filter(|f| f.field == "spec.dataImportCronTemplate")
        .map(|f| f.severity)
        .collect();
    assert_eq!(severities, vec![Severity::Warning]);
}

#[test]
fn plan_warns_about_misspelt_field() {
    let object = hyperconverged(V1BETA1, json!({"dataImportCronTemplate": []}));
    let warnings = plan_unknown_field_warnings(&object);
    let fields: Vec<Option<&str>> = warnings.iter().map(|w| w.field.as_deref()).collect();
    assert_eq!(fields, vec![Some("spec.dataImportCronTemplate")]);
    assert_eq!(
        warnings[0].message,
        "unknown field; the API server drops it; did you mean spec.dataImportCronTemplates?"
    );
    let object_name = warnings[0].object.as_ref().map(|o| o.name.as_str());
    assert_eq!(object_name, Some("kubevirt-hyperconverged"));
}

#[test]
fn far_off_name_gets_no_suggestion() {
    for (api_version, spec, field) in [
        (
            V1BETA1,
            json!({"bootSourcesPlease": true}),
            "spec.bootSourcesPlease",
        ),
        (
            V1BETA1,
            json!({"featureGates": {"fastBoot": true}}),
            "spec.featureGates.fastBoot",
        ),
        (V1, json!({"x": 1}), "spec.x"),
    ] {
        let verdict = review(&hyperconverged(api_version, spec));
        assert_eq!(
            unknown_field_warnings(&verdict),
            vec![format!("{field}: {UNKNOWN}")],
            "{api_version} {field}"
        );
    }
}

#[test]
fn unknown_field_warnings_are_sorted() {
    let spec = json!({
        "zzz": 1,
        "featureGates": {"b": true, "a": true},
        "aaa": 1,
        "dataImportCronTemplate": []
    });
    let object = hyperconverged(V1BETA1, spec);
    let expected = vec![
        "spec.aaa",
        "spec.dataImportCronTemplate",
        "spec.featureGates.a",
        "spec.featureGates.b",
        "spec.zzz",
    ];
    let admission_fields: Vec<String> = unknown_field_warnings(&review(&object))
        .iter()
        .filter_map(|w| w.split_once(": ").map(|(field, _)| field.to_string()))
        .collect();
    assert_eq!(admission_fields, expected);
    let plan_fields: Vec<String> = plan_unknown_field_warnings(&object)
        .into_iter()
        .filter_map(|w| w.field)
        .collect();
    assert_eq!(plan_fields, expected);
}

#[test]
fn every_known_field_gives_no_warning() {
    let table: [(&str, &str, &[&str]); 4] = [
        (V1BETA1, "spec", hco_fields::V1BETA1_SPEC),
        (
            V1BETA1,
            "spec.featureGates",
            hco_fields::V1BETA1_FEATURE_GATES,
        ),
        (V1, "spec", hco_fields::V1_SPEC),
        (V1, "spec.workloadSources", hco_fields::V1_WORKLOAD_SOURCES),
    ];
    let mut warned = Vec::new();
    for (api_version, parent, fields) in table {
        for field in fields {
            let object = object_with(api_version, parent, field);
            let verdict = review(&object);
            if !unknown_field_warnings(&verdict).is_empty() {
                warned.push(format!("{api_version} {parent}.{field}"));
            }
        }
    }
    assert_eq!(warned, Vec::<String>::new());
}

#[test]
fn every_known_field_plans_without_warning() {
    let table: [(&str, &str, &[&str]); 2] = [
        (V1BETA1, "spec", hco_fields::V1BETA1_SPEC),
        (V1, "spec", hco_fields::V1_SPEC),
    ];
    let mut warned = Vec::new();
    for (api_version, parent, fields) in table {
        for field in fields {
            let object = object_with(api_version, parent, field);
            if !plan_unknown_field_warnings(&object).is_empty() {
                warned.push(format!("{api_version} {parent}.{field}"));
            }
        }
    }
    assert_eq!(warned, Vec::<String>::new());
}

#[test]
fn known_field_lists_are_sorted() {
    for list in [
        hco_fields::V1BETA1_SPEC,
        hco_fields::V1BETA1_FEATURE_GATES,
        hco_fields::V1_SPEC,
        hco_fields::V1_WORKLOAD_SOURCES,
    ] {
        let mut sorted = list.to_vec();
        sorted.sort_unstable();
        sorted.dedup();
        assert_eq!(list, sorted.as_slice());
    }
}

#[test]
fn built_in_example_has_no_unknown_fields() {
    let example: Value = serde_yaml::from_str(EXAMPLE).expect("the example is YAML");
    assert_eq!(
        unknown_field_warnings(&review(&example)),
        Vec::<String>::new()
    );
}

#[test]
fn built_in_example_plans_without_unknown_fields() {
    let example: Value = serde_yaml::from_str(EXAMPLE).expect("the example is YAML");
    assert_eq!(plan_unknown_field_warnings(&example), Vec::<Warning>::new());
}

#[test]
fn validate_objects_warns_about_misspelt_field() {
    let request = ValidateRequest {
        objects: vec![hyperconverged(
            V1BETA1,
            json!({"enableCommonBootImageImprt": false}),
        )],
        ..ValidateRequest::default()
    };
    let response: ValidateResponse =
        support::call_typed("validateObjects", &request).expect("the request is valid");
    let fields: Vec<&str> = response.results[0]
        .findings
        .iter()
        .filter(|f| f.message.starts_with(UNKNOWN))
        .map(|f| f.field.as_str())
        .collect();
    assert_eq!(fields, vec!["spec.enableCommonBootImageImprt"]);
}
