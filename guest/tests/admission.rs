//! Admission rules of HyperConverged and DataImportCron, through the
//! `admissionReview` operation, the review every admission surface serves.
//! The workspace `tests` crate runs this file through the wasm module too.

use bootsource_guest::admission::Verdict;
use bootsource_guest::contract::{op, AdmissionReviewRequest};
use bootsource_guest::validation::Severity;
use serde_json::{json, Value};

mod support;

/// Kubewarden settings that select HCO release `1.<minor>`.
fn settings(minor: u32) -> Value {
    json!({"hcoVersion": format!("1.{minor}")})
}

/// The default settings: the current HCO release.
fn default_settings() -> Value {
    json!({})
}

/// Reviews `request` through the module operation and returns the verdict.
fn review(request: &Value, settings: &Value) -> Verdict {
    let request = AdmissionReviewRequest {
        request: request.clone(),
        settings: settings.clone(),
    };
    support::call_typed(op::ADMISSION_REVIEW, &request).expect("the settings are valid")
}

fn create(object: Value) -> Verdict {
    review(
        &json!({"operation": "CREATE", "object": object}),
        &default_settings(),
    )
}

fn update(object: Value, old: Value) -> Verdict {
    review(
        &json!({"operation": "UPDATE", "object": object, "oldObject": old}),
        &default_settings(),
    )
}

/// Returns a valid DataImportCron, to be broken one field at a time.
fn cron() -> Value {
    json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataImportCron",
        "metadata": {"name": "fedora-image-cron", "namespace": "kubevirt-os-images"},
        "spec": {
            "managedDataSource": "fedora",
            "schedule": "30 1 * * 1",
            "template": {"spec": {
                "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}},
                "storage": {"resources": {"requests": {"storage": "30Gi"}}}
            }}
        }
    })
}

fn cron_with(pointer: &str, value: Value) -> Value {
    let mut object = cron();
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    object
        .pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .insert(key.to_string(), value);
    object
}

fn errors(verdict: &Verdict) -> Vec<String> {
    verdict
        .findings
        .iter()
        .filter(|f| f.severity == Severity::Error)
        .map(|f| format!("{}: {}", f.field, f.message))
        .collect()
}

/// Returns a v1beta1 HyperConverged with the given templates.
fn hyperconverged(templates: Value) -> Value {
    json!({
        "apiVersion": "hco.kubevirt.io/v1beta1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": "kubevirt-hyperconverged"},
        "spec": {"dataImportCronTemplates": templates}
    })
}

fn template(name: &str, annotations: Option<Value>, with_spec: bool) -> Value {
    let mut entry = json!({"metadata": {"name": name}});
    if let Some(annotations) = annotations {
        entry["metadata"]["annotations"] = annotations;
    }
    if with_spec {
        entry["spec"] = json!({
            "managedDataSource": name,
            "schedule": "0 1 * * *",
            "template": {"spec": {
                "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}},
                "storage": {}
            }}
        });
    }
    entry
}

#[test]
fn valid_cron_is_allowed_without_warnings() {
    let verdict = create(cron());
    assert!(verdict.allowed, "{verdict:?}");
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);
    assert!(verdict.patch.is_empty());
}

#[test]
fn cron_webhook_table() {
    let cases: Vec<(&str, Value, Option<&str>)> = vec![
        ("schedule 61", cron_with("/spec/schedule", json!("61 * * * *")), Some("spec.schedule: Illegal cron schedule")),
        ("empty schedule", cron_with("/spec/schedule", json!("")), None),
        ("weekly schedule", cron_with("/spec/schedule", json!("30 1 * * 1")), None),
        ("importsToKeep -1", cron_with("/spec/importsToKeep", json!(-1)), Some("spec.importsToKeep: Illegal ImportsToKeep value")),
        ("importsToKeep 0", cron_with("/spec/importsToKeep", json!(0)), None),
        ("garbageCollect nosuch", cron_with("/spec/garbageCollect", json!("nosuch")), Some("spec.garbageCollect: Illegal GarbageCollect value")),
        ("garbageCollect Never", cron_with("/spec/garbageCollect", json!("Never")), None),
        ("empty managedDataSource", cron_with("/spec/managedDataSource", json!("")), Some("spec.managedDataSource: Illegal ManagedDataSource value")),
        (
            "url without scheme",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "invalidurl"}})),
            Some("spec.template.spec.source.registry.url: Illegal registry source URL scheme"),
        ),
        (
            "url scheme joker",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "joker://quay.io/img"}})),
            Some("spec.template.spec.source.registry.url: Illegal registry source URL scheme"),
        ),
        (
            "space in the url's host",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "docker://not a url/x"}})),
            Some("spec.template.spec.source.registry.url: Invalid source URL \"docker://not a url/x\": invalid character ' ' in host name"),
        ),
        (
            "registry with port and digest",
            cron_with(
                "/spec/template/spec/source",
                json!({"registry": {"url": "docker://127.0.0.1:5000/disks/fedora@sha256:0123"}}),
            ),
            None,
        ),
        (
            "storage size not a quantity",
            cron_with("/spec/template/spec/storage", json!({"resources": {"requests": {"storage": "lots"}}})),
            Some("spec.template.spec.storage.resources.requests.storage: quantities must match"),
        ),
        (
            "storage size a list",
            cron_with("/spec/template/spec/storage", json!({"resources": {"requests": {"storage": [1, 2]}}})),
            Some("spec.template.spec.storage.resources.requests.storage: quantities must match"),
        ),
        (
            "storage size zero",
            cron_with("/spec/template/spec/storage", json!({"resources": {"requests": {"storage": "0"}}})),
            Some("spec.template.spec.storage.resources.requests.storage: must be greater than zero"),
        ),
        (
            "storage size negative",
            cron_with("/spec/template/spec/storage", json!({"resources": {"requests": {"storage": "-1Gi"}}})),
            Some("spec.template.spec.storage.resources.requests.storage: must be greater than zero"),
        ),
        (
            "port not a number",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "docker://host:abc/x:1"}})),
            Some("spec.template.spec.source.registry.url: Invalid source URL \"docker://host:abc/x:1\": invalid port"),
        ),
        (
            "unclosed IPv6 bracket",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "docker://[::1/x:1"}})),
            Some("spec.template.spec.source.registry.url: Invalid source URL \"docker://[::1/x:1\": missing ']'"),
        ),
        (
            "IPv6 registry with port",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "docker://[::1]:5000/x:1"}})),
            None,
        ),
        (
            "storage size 10Gi",
            cron_with("/spec/template/spec/storage", json!({"resources": {"requests": {"storage": "10Gi"}}})),
            None,
        ),
        (
            "managedDataSource leaves its namespace",
            cron_with("/spec/managedDataSource", json!("../victim")),
            Some("spec.managedDataSource: a lowercase RFC 1123 subdomain"),
        ),
        (
            "managedDataSource with capitals",
            cron_with("/spec/managedDataSource", json!("Fedora")),
            Some("spec.managedDataSource: a lowercase RFC 1123 subdomain"),
        ),
        (
            "oci-archive url",
            cron_with("/spec/template/spec/source", json!({"registry": {"url": "oci-archive:///images/disk.tar"}})),
            None,
        ),
        (
            "url and imageStream",
            cron_with(
                "/spec/template/spec/source",
                json!({"registry": {"url": "docker://quay.io/img", "imageStream": "fedora", "pullMethod": "node"}}),
            ),
            Some("spec.template.spec.source.registry: Source registry should have either URL or ImageStream"),
        ),
        (
            "imageStream with pod pull",
            cron_with("/spec/template/spec/source", json!({"registry": {"imageStream": "fedora"}})),
            Some("spec.template.spec.source.registry.pullMethod: Source registry ImageStream is supported only with node pull import"),
        ),
        (
            "imageStream with node pull",
            cron_with("/spec/template/spec/source", json!({"registry": {"imageStream": "fedora", "pullMethod": "node"}})),
            None,
        ),
        (
            "pullMethod sideways",
            cron_with(
                "/spec/template/spec/source",
                json!({"registry": {"url": "docker://quay.io/img", "pullMethod": "sideways"}}),
            ),
            Some("spec.template.spec.source.registry.pullMethod: ImportMethod sideways is neither pod, node"),
        ),
        (
            "sourceRef in template",
            cron_with("/spec/template/spec/sourceRef", json!({"kind": "DataSource", "name": "x"})),
            Some("spec.template.spec: Unsettable fields: SourceRef, ContentType, Checkpoints, FinalCheckpoint"),
        ),
        (
            "contentType in template",
            cron_with("/spec/template/spec/contentType", json!("archive")),
            Some("spec.template.spec: Unsettable fields"),
        ),
        ("no source", cron_with("/spec/template/spec/source", Value::Null), Some("spec.template.spec.source: Missing source")),
        (
            "http source",
            cron_with("/spec/template/spec/source", json!({"http": {"url": "https://example.invalid/disk.img"}})),
            Some("spec.template.spec.source: Missing source"),
        ),
        (
            "no storage and no pvc",
            cron_with("/spec/template/spec/storage", Value::Null),
            Some("spec.template.spec.pvc: Missing Data volume PVC"),
        ),
        (
            "storage and pvc",
            cron_with("/spec/template/spec/pvc", json!({"accessModes": ["ReadWriteOnce"]})),
            Some("spec.template.spec: Duplicate storage definition"),
        ),
    ];
    for (name, object, expected) in cases {
        let verdict = create(object);
        match expected {
            None => assert!(verdict.allowed, "{name}: expected allowed, got {verdict:?}"),
            Some(message) => {
                assert!(!verdict.allowed, "{name}: expected rejected");
                let got = verdict.message.clone().unwrap_or_default();
                assert!(
                    got.starts_with(message),
                    "{name}: message {got:?}, expected {message:?}"
                );
            }
        }
    }
}

#[test]
fn cron_pvc_without_access_modes_rejected() {
    let mut object = cron_with("/spec/template/spec/pvc", json!({"resources": {}}));
    object["spec"]["template"]["spec"]
        .as_object_mut()
        .unwrap()
        .remove("storage");
    let verdict = create(object);
    assert_eq!(
        verdict.message.as_deref(),
        Some("spec.template.spec.pvc.accessModes: Required value: at least 1 access mode is required")
    );
}

#[test]
fn cron_first_failing_check_wins() {
    let mut object = cron_with("/spec/schedule", json!("61 * * * *"));
    object["spec"]["importsToKeep"] = json!(-1);
    object["spec"]["template"]["spec"]["source"] = Value::Null;
    let verdict = create(object);
    let message = verdict.message.unwrap_or_default();
    assert!(
        message.starts_with("spec.template.spec.source: Missing source"),
        "{message}"
    );
}

#[test]
fn cron_findings_list_every_error() {
    let mut object = cron_with("/spec/schedule", json!("61 * * * *"));
    object["spec"]["importsToKeep"] = json!(-1);
    object["spec"]["garbageCollect"] = json!("Sometimes");
    let found = errors(&create(object));
    assert_eq!(found.len(), 3, "{found:?}");
}

#[test]
fn schedule_grammar_table() {
    let cases = [
        ("", true),
        ("* * * * *", true),
        ("42 5/12 * * *", true),
        ("0 0 * * * *", false),
        ("61 * * * *", false),
        ("not-a-cron", false),
    ];
    for (schedule, allowed) in cases {
        let verdict = create(cron_with("/spec/schedule", json!(schedule)));
        assert_eq!(
            verdict.allowed, allowed,
            "schedule {schedule:?}: {verdict:?}"
        );
        if !allowed {
            let finding = &verdict.findings[0];
            assert_eq!(finding.field, "spec.schedule", "schedule {schedule:?}");
            assert!(
                finding.message.starts_with("Illegal cron schedule"),
                "{schedule:?}"
            );
        }
    }
}

// NOTE: descriptors such as @daily need the robfig-compatible parser in
// `schedule::parse`; until it lands, the interim parser rejects them.
#[test]
fn schedule_descriptor_daily_allowed() {
    assert!(create(cron_with("/spec/schedule", json!("@daily"))).allowed);
}

#[test]
fn garbage_collect_sometimes_rejected() {
    let verdict = create(cron_with("/spec/garbageCollect", json!("Sometimes")));
    let message = verdict.message.unwrap_or_default();
    assert!(
        message.starts_with("spec.garbageCollect: Illegal GarbageCollect value"),
        "{message}"
    );
}

#[test]
fn cron_name_length_limit() {
    let cases = [(63, true), (64, false), (253, false)];
    for (length, allowed) in cases {
        let object = cron_with("/metadata/name", json!("a".repeat(length)));
        let verdict = create(object);
        assert_eq!(verdict.allowed, allowed, "name of {length} characters");
        if !allowed {
            assert_eq!(
                verdict.message.as_deref(),
                Some("metadata.name: Name cannot be longer than 63 characters")
            );
        }
    }
}

#[test]
fn managed_data_source_length_limit() {
    let cases = [(63, true), (64, false)];
    for (length, allowed) in cases {
        let object = cron_with("/spec/managedDataSource", json!("d".repeat(length)));
        let verdict = create(object);
        assert_eq!(
            verdict.allowed, allowed,
            "managedDataSource of {length} characters"
        );
        if !allowed {
            assert_eq!(
                verdict.message.as_deref(),
                Some("spec.managedDataSource: Name cannot be longer than 63 characters")
            );
        }
    }
}

#[test]
fn cron_spec_change_on_update_rejected() {
    let verdict = update(cron_with("/spec/schedule", json!("0 2 * * *")), cron());
    assert!(!verdict.allowed);
    let message = verdict.message.unwrap_or_default();
    assert!(
        message.starts_with("spec: Cannot update DataImportCron Spec"),
        "{message}"
    );
}

#[test]
fn cron_metadata_update_allowed() {
    let mut object = cron();
    object["metadata"]["labels"] = json!({"team": "virt"});
    let verdict = update(object, cron());
    assert!(verdict.allowed, "{verdict:?}");
}

#[test]
fn cron_status_update_allowed() {
    let mut object = cron();
    object["status"] = json!({"lastImportTimestamp": "2026-01-01T00:00:00Z"});
    let verdict = update(object, cron());
    assert!(verdict.allowed, "{verdict:?}");
}

#[test]
fn cron_update_still_checks_name_length() {
    let long = cron_with("/metadata/name", json!("a".repeat(64)));
    let verdict = update(long.clone(), long);
    assert!(!verdict.allowed);
}

#[test]
fn misplaced_storage_class_warns() {
    let object = cron_with("/spec/template/spec/storageClassName", json!("fast"));
    let verdict = create(object);
    assert!(verdict.allowed, "{verdict:?}");
    assert_eq!(verdict.warnings.len(), 1);
    assert!(
        verdict.warnings[0].contains("move it to spec.template.spec.storage.storageClassName"),
        "{}",
        verdict.warnings[0]
    );
}

#[test]
fn enable_annotation_table() {
    let enable = |value: &str| Some(json!({"dataimportcrontemplate.kubevirt.io/enable": value}));
    let cases: Vec<(&str, Option<Value>, bool, Option<&str>)> = vec![
        ("true", enable("true"), true, None),
        ("TRUE", enable("TRUE"), true, None),
        ("TrUe", enable("TrUe"), true, None),
        ("false with spec", enable("false"), true, None),
        ("FaLsE with spec", enable("FaLsE"), true, None),
        ("false without spec", enable("false"), false, None),
        ("FaLsE without spec", enable("FaLsE"), false, None),
        ("absent with spec", None, true, None),
        (
            "absent without spec",
            None,
            false,
            Some("dataImportCronTemplate spec is empty for an enabled DataImportCronTemplate"),
        ),
        (
            "True without spec",
            enable("True"),
            false,
            Some("dataImportCronTemplate spec is empty for an enabled DataImportCronTemplate"),
        ),
        (
            "empty",
            enable(""),
            true,
            Some("must be either \"true\" or \"false\""),
        ),
        (
            "wrong",
            enable("wrong"),
            true,
            Some("must be either \"true\" or \"false\""),
        ),
        (
            "mistake",
            enable("mistake"),
            true,
            Some("must be either \"true\" or \"false\""),
        ),
    ];
    for (name, annotations, with_spec, expected) in cases {
        let object = hyperconverged(json!([template("image1", annotations, with_spec)]));
        for verdict in [
            create(object.clone()),
            update(object.clone(), hyperconverged(json!([]))),
        ] {
            match expected {
                None => assert!(verdict.allowed, "{name}: {verdict:?}"),
                Some(message) => {
                    assert!(!verdict.allowed, "{name}: expected rejected");
                    let got = verdict.message.unwrap_or_default();
                    assert!(got.contains(message), "{name}: {got:?}");
                }
            }
        }
    }
}

#[test]
fn duplicate_template_names_rejected() {
    let object = hyperconverged(json!([
        template("my-cron", None, true),
        template("my-cron", None, true)
    ]));
    let verdict = create(object);
    assert_eq!(
        verdict.message.as_deref(),
        Some("spec.dataImportCronTemplates[1].metadata.name: my-cron DataImportCronTable is already defined")
    );
}

#[test]
fn common_template_name_is_not_duplicate() {
    let object = hyperconverged(json!([template("fedora-image-cron", None, true)]));
    assert!(create(object).allowed);
}

#[test]
fn template_without_name_rejected() {
    let mut entry = template("x", None, true);
    entry["metadata"] = json!({"annotations": {"team": "virt"}});
    let verdict = create(hyperconverged(json!([entry])));
    assert!(!verdict.allowed);
    assert_eq!(
        verdict.findings[0].field,
        "spec.dataImportCronTemplates[0].metadata.name"
    );
}

#[test]
fn patch_paths_follow_api_form() {
    let entries = json!([
        {"metadata": {"name": "u1"}, "spec": {"managedDataSource": "u1", "template": {"spec": {
            "source": {"registry": {"url": "docker://r.example/u1:1"}}, "storage": {}}}}},
        {"metadata": {"name": "u2", "annotations": {"dataimportcrontemplate.kubevirt.io/enable": "false"}}},
        {"metadata": {"name": "u3", "annotations": {"cdi.kubevirt.io/storage.bind.immediate.requested": "false",
            "dataimportcrontemplate.kubevirt.io/enable": "false"}}}
    ]);
    let v1 = json!({
        "apiVersion": "hco.kubevirt.io/v1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged"},
        "spec": {"workloadSources": {"dataImportCronTemplates": entries.clone()}}
    });
    let cases = [
        (v1, "/spec/workloadSources/dataImportCronTemplates"),
        (hyperconverged(entries), "/spec/dataImportCronTemplates"),
    ];
    for (object, base) in cases {
        let verdict = create(object.clone());
        let paths: Vec<&str> = verdict
            .patch
            .iter()
            .filter_map(|op| op["path"].as_str())
            .collect();
        let expected = vec![
            format!("{base}/0/metadata/annotations"),
            format!("{base}/0/spec/retentionPolicy"),
            format!("{base}/0/spec/importsToKeep"),
            format!(
                "{base}/1/metadata/annotations/cdi.kubevirt.io~1storage.bind.immediate.requested"
            ),
        ];
        assert_eq!(paths, expected, "{base}");
        let mutated = verdict.mutated_object(&object).unwrap().unwrap();
        let first = mutated.pointer(&format!("{base}/0")).unwrap();
        assert_eq!(
            first["metadata"]["annotations"]["cdi.kubevirt.io/storage.bind.immediate.requested"],
            "true"
        );
        assert_eq!(first["spec"]["retentionPolicy"], "None");
        assert_eq!(first["spec"]["importsToKeep"], 1);
        let disabled = mutated.pointer(&format!("{base}/2")).unwrap();
        assert_eq!(
            disabled["metadata"]["annotations"]["cdi.kubevirt.io/storage.bind.immediate.requested"],
            "false"
        );
    }
}

#[test]
fn explicit_retention_values_kept() {
    let mut entry = template("u1", None, true);
    entry["spec"]["retentionPolicy"] = json!("All");
    entry["spec"]["importsToKeep"] = json!(5);
    let verdict = create(hyperconverged(json!([entry])));
    let paths: Vec<&str> = verdict
        .patch
        .iter()
        .filter_map(|op| op["path"].as_str())
        .collect();
    assert_eq!(
        paths,
        vec!["/spec/dataImportCronTemplates/0/metadata/annotations"]
    );
}

#[test]
fn old_feature_gate_warns_deprecated() {
    let mut object = hyperconverged(json!([]));
    object["spec"]["featureGates"] = json!({"enableCommonBootImageImport": false});
    let verdict = create(object);
    assert!(verdict.allowed);
    assert_eq!(verdict.warnings.len(), 1);
    assert_eq!(
        verdict.warnings[0],
        "spec.featureGates.enableCommonBootImageImport: deprecated and ignored; \
         use spec.enableCommonBootImageImport instead"
    );
}

#[test]
fn old_feature_gate_silent_before_deprecation() {
    let mut object = hyperconverged(json!([]));
    object["spec"]["featureGates"] = json!({"enableCommonBootImageImport": false});
    let verdict = review(
        &json!({"operation": "CREATE", "object": object}),
        &settings(14),
    );
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);
}

fn multi_arch(gate: Option<bool>, field: Option<bool>) -> Value {
    let mut object = hyperconverged(json!([]));
    if let Some(gate) = gate {
        object["spec"]["featureGates"] = json!({"enableMultiArchBootImageImport": gate});
    }
    if let Some(field) = field {
        object["spec"]["enableMultiArchBootImageImport"] = json!(field);
    }
    object
}

#[test]
fn multi_arch_gate_copied_to_field() {
    let verdict = create(multi_arch(Some(true), None));
    assert!(verdict.allowed);
    assert_eq!(
        verdict.patch,
        vec![json!({"op": "add", "path": "/spec/enableMultiArchBootImageImport", "value": true})]
    );
    assert_eq!(verdict.warnings.len(), 1);
    assert_eq!(
        verdict.warnings[0],
        "spec.featureGates.enableMultiArchBootImageImport: deprecated; \
         use spec.enableMultiArchBootImageImport instead"
    );
}

#[test]
fn multi_arch_gate_and_field_agree_warns() {
    let verdict = create(multi_arch(Some(false), Some(false)));
    assert!(verdict.allowed);
    assert!(verdict.patch.is_empty());
    assert_eq!(verdict.warnings.len(), 1);
}

#[test]
fn multi_arch_contradiction_rejected() {
    let verdict = create(multi_arch(Some(true), Some(false)));
    assert!(!verdict.allowed);
    assert!(verdict
        .message
        .unwrap_or_default()
        .contains("contradict each other"));
}

#[test]
fn multi_arch_update_changed_gate_copied() {
    let verdict = update(
        multi_arch(Some(true), Some(false)),
        multi_arch(Some(false), Some(false)),
    );
    assert!(verdict.allowed, "{verdict:?}");
    assert_eq!(verdict.patch[0]["value"], true);
}

#[test]
fn multi_arch_update_changed_field_wins() {
    let verdict = update(
        multi_arch(Some(false), Some(true)),
        multi_arch(Some(false), Some(false)),
    );
    assert!(verdict.allowed, "{verdict:?}");
    assert!(verdict.patch.is_empty());
}

#[test]
fn multi_arch_gate_ignored_before_field() {
    let object = multi_arch(Some(true), Some(false));
    let verdict = review(
        &json!({"operation": "CREATE", "object": object}),
        &settings(18),
    );
    assert!(verdict.allowed);
    assert!(verdict
        .patch
        .iter()
        .all(|op| op["path"] != "/spec/enableMultiArchBootImageImport"));
}

#[test]
fn multi_arch_v1_creates_workload_sources() {
    let object = json!({
        "apiVersion": "hco.kubevirt.io/v1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged"},
        "spec": {"featureGates": [{"name": "enableMultiArchBootImageImport", "state": "Enabled"}]}
    });
    let verdict = create(object.clone());
    let mutated = verdict.mutated_object(&object).unwrap().unwrap();
    assert_eq!(
        mutated["spec"]["workloadSources"]["enableMultiArchBootImageImport"],
        true
    );
}

#[test]
fn shared_data_source_warns() {
    let mut second = template("other-cron", None, true);
    second["spec"]["managedDataSource"] = json!("my-cron");
    let verdict = create(hyperconverged(json!([
        template("my-cron", None, true),
        second
    ])));
    assert!(verdict.allowed);
    assert_eq!(verdict.warnings.len(), 1);
    assert!(verdict.warnings[0].contains("both manage DataSource kubevirt-os-images/my-cron"));
}

#[test]
fn shared_data_source_other_namespace_silent() {
    let mut second = template("other-cron", None, true);
    second["spec"]["managedDataSource"] = json!("my-cron");
    second["metadata"]["namespace"] = json!("team-images");
    let verdict = create(hyperconverged(json!([
        template("my-cron", None, true),
        second
    ])));
    assert!(verdict.warnings.is_empty(), "{:?}", verdict.warnings);
}

#[test]
fn template_storage_class_misplaced_warns() {
    let mut entry = template("my-cron", None, true);
    entry["spec"]["template"]["spec"]["storageClassName"] = json!("fast");
    let verdict = create(hyperconverged(json!([entry])));
    assert!(verdict.allowed);
    assert_eq!(verdict.warnings.len(), 1);
    assert!(verdict.warnings[0].contains(
        "move it to spec.dataImportCronTemplates[0].spec.template.spec.storage.storageClassName"
    ));
}

#[test]
fn template_cdi_rejection_only_warns() {
    let mut entry = template("my-cron", None, true);
    entry["spec"]["schedule"] = json!("61 * * * *");
    let verdict = create(hyperconverged(json!([entry])));
    assert!(verdict.allowed);
    assert_eq!(verdict.warnings.len(), 1);
    assert!(verdict.warnings[0].contains("CDI will reject"));
}

#[test]
fn unexpected_kind_rejected() {
    let verdict = review(
        &json!({"operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"},
                "object": {"apiVersion": "v1", "kind": "Pod"}}),
        &default_settings(),
    );
    assert!(!verdict.allowed);
    assert_eq!(verdict.code, Some(400));
    assert!(verdict
        .message
        .unwrap_or_default()
        .contains("unexpected kind \"Pod\""));
}

#[test]
fn malformed_request_rejected() {
    let cases = [
        json!("not an object"),
        json!({"object": cron()}),
        json!({"operation": "CREATE"}),
        json!({"operation": "UPDATE", "object": cron()}),
        json!({"operation": "PATCH", "object": cron()}),
        json!({"operation": "CREATE", "object": {"apiVersion": "cdi.kubevirt.io/v1beta1",
               "kind": "DataImportCron", "spec": {"schedule": 5}}}),
    ];
    for request in cases {
        let verdict = review(&request, &default_settings());
        assert!(!verdict.allowed, "{request}");
        assert!(verdict.message.is_some(), "{request}");
    }
}

#[test]
fn delete_is_allowed_unchecked() {
    let verdict = review(
        &json!({"operation": "DELETE", "oldObject": cron_with("/spec/schedule", json!("61 * * * *"))}),
        &default_settings(),
    );
    assert!(verdict.allowed);
}

#[test]
fn offline_validation_pairs_old_objects() {
    use bootsource_guest::admission::{ValidateRequest, ValidateResponse};
    let configmap = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "x"}});
    let request = ValidateRequest {
        hco_version: None,
        objects: vec![cron_with("/spec/schedule", json!("0 2 * * *")), configmap],
        old_objects: vec![cron()],
    };
    let response: ValidateResponse =
        support::call_typed("validateObjects", &request).expect("the request is valid");
    let cron_result = &response.results[0];
    assert_eq!(cron_result.operation, "UPDATE");
    assert!(!cron_result.allowed);
    assert_eq!(cron_result.findings[0].field, "spec");
    let skipped = &response.results[1];
    assert!(!skipped.checked);
    assert!(skipped.allowed);
}

#[test]
fn offline_validation_rejects_bad_version() {
    use bootsource_guest::admission::{ValidateRequest, ValidateResponse};
    let request = ValidateRequest {
        hco_version: Some("9.9".into()),
        ..ValidateRequest::default()
    };
    let error = support::call_typed::<_, ValidateResponse>("validateObjects", &request)
        .expect_err("the version is invalid");
    assert_eq!(error.field.as_deref(), Some("hcoVersion"));
}

#[test]
fn review_operation_rejects_bad_settings() {
    let request = AdmissionReviewRequest {
        request: json!({"operation": "CREATE", "object": cron()}),
        settings: json!({"hcoVersion": "9.9"}),
    };
    let error = support::call_typed::<_, Verdict>(op::ADMISSION_REVIEW, &request)
        .expect_err("the version is invalid");
    let field = error.field.as_deref().unwrap_or("");
    assert!(field.starts_with("settings"), "{error}");
}
