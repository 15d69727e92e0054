//! Behaviour of the imports stage: what CDI's DataImportCron controller
//! does with each cron, one reconcile pass per plan.

use bootsource_guest::apply::apply_actions;
use bootsource_guest::contract::{PlanRequest, Stage};
use bootsource_guest::imports::naming;
use bootsource_guest::plan::{ActionKind, Plan, PollSource};
use serde_json::{json, Value};
use support::plan;

mod support;

const NOW: &str = "2026-01-31T12:00:00Z";
const NS: &str = "os-images";
const DIGEST_A: &str = "sha256:aaaaaaaaaaaa0000000000000000000000000000000000000000000000000000";
const DIGEST_B: &str = "sha256:bbbbbbbbbbbb0000000000000000000000000000000000000000000000000000";
const DIGEST_ANN: &str = "cdi.kubevirt.io/storage.import.sourceDesiredDigest";
const LAST_USE: &str = "cdi.kubevirt.io/storage.import.lastUseTime";
const CRON_LABEL: &str = "cdi.kubevirt.io/dataImportCron";
const CLEANUP_LABEL: &str = "cdi.kubevirt.io/dataImportCron.cleanup";

// ---------- fixtures ----------

fn cron(name: &str, data_source: &str) -> Value {
    json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataImportCron",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "resourceVersion": "1"},
        "spec": {
            "managedDataSource": data_source,
            "schedule": "",
            "template": {"spec": {
                "source": {"registry": {"url": "docker://quay.io/kubevirt/fedora:41"}},
                "storage": {"resources": {"requests": {"storage": "5Gi"}}}
            }}
        }
    })
}

fn with_digest(mut cron: Value, digest: &str) -> Value {
    cron["metadata"]["annotations"][DIGEST_ANN] = json!(digest);
    cron
}

fn with_current(mut cron: Value, name: &str, digest: &str) -> Value {
    cron["status"]["currentImports"] = json!([{"DataVolumeName": name, "Digest": digest}]);
    cron
}

fn data_volume(name: &str, phase: Option<&str>) -> Value {
    let mut dv = json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataVolume",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "resourceVersion": "7",
                     "labels": {CRON_LABEL: "cron"}},
        "spec": {}
    });
    if let Some(phase) = phase {
        dv["status"] = json!({"phase": phase});
    }
    dv
}

fn pvc(name: &str, phase: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-{name}"), "resourceVersion": "3",
                     "labels": {CRON_LABEL: "cron"}},
        "spec": {},
        "status": {"phase": phase}
    })
}

fn stamped(mut object: Value, time: &str) -> Value {
    object["metadata"]["annotations"][LAST_USE] = json!(time);
    object
}

fn unlabelled(mut object: Value) -> Value {
    object["metadata"]["labels"] = json!({});
    object
}

fn data_source(name: &str, owner: Option<&str>) -> Value {
    let mut ds = json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataSource",
        "metadata": {"name": name, "namespace": NS, "uid": format!("uid-ds-{name}"), "resourceVersion": "2", "labels": {}},
        "spec": {"source": {}}
    });
    if let Some(owner) = owner {
        ds["metadata"]["labels"][CRON_LABEL] = json!(owner);
    }
    ds
}

fn storage_class(name: &str, annotation: Option<&str>, created: &str) -> Value {
    let mut sc = json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name, "creationTimestamp": created},
        "provisioner": "example.com/csi"
    });
    if let Some(key) = annotation {
        sc["metadata"]["annotations"][key] = json!("true");
    }
    sc
}

fn storage_profile(name: &str, format: Option<&str>, annotations: Value) -> Value {
    let mut profile = json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "StorageProfile",
        "metadata": {"name": name, "annotations": annotations},
        "status": {}
    });
    if let Some(format) = format {
        profile["status"]["dataImportCronSourceFormat"] = json!(format);
    }
    profile
}

fn default_class() -> Value {
    storage_class(
        "standard",
        Some("storageclass.kubernetes.io/is-default-class"),
        "2025-01-01T00:00:00Z",
    )
}

// ---------- running and reading plans ----------

fn run(objects: Vec<Value>) -> Plan {
    run_at(objects, NOW)
}

fn run_at(objects: Vec<Value>, now: &str) -> Plan {
    let request = PlanRequest {
        now: Some(now.to_string()),
        stages: Some(vec![Stage::Imports]),
        objects,
        ..PlanRequest::default()
    };
    match plan(&request) {
        Ok(plan) => plan,
        Err(error) => panic!("plan failed: {error}"),
    }
}

fn find<'p>(
    plan: &'p Plan,
    action: ActionKind,
    kind: &str,
    name: &str,
) -> Option<&'p bootsource_guest::plan::Action> {
    plan.actions
        .iter()
        .find(|a| a.action == action && a.object.kind == kind && a.object.name == name)
}

fn created_dv(plan: &Plan, name: &str) -> Option<Value> {
    find(plan, ActionKind::Create, "DataVolume", name).and_then(|a| a.body.clone())
}

fn deleted(plan: &Plan, kind: &str, name: &str) -> bool {
    find(plan, ActionKind::Delete, kind, name).is_some()
}

fn any_create(plan: &Plan, kind: &str) -> bool {
    plan.actions
        .iter()
        .any(|a| a.action == ActionKind::Create && a.object.kind == kind)
}

/// Returns the fields of the cron's status that the plan patches.
fn cron_status(plan: &Plan, name: &str) -> Value {
    let mut status = json!({});
    for action in &plan.actions {
        if action.object.kind == "DataImportCron"
            && action.object.name == name
            && action.subresource.as_deref() == Some("status")
        {
            if let Some(patch) = action.patch.as_ref().and_then(|p| p.get("status")) {
                bootsource_guest::apply::merge_patch(&mut status, patch);
            }
        }
    }
    status
}

fn cron_annotations(plan: &Plan, name: &str) -> Value {
    plan.actions
        .iter()
        .filter(|a| {
            a.object.kind == "DataImportCron" && a.object.name == name && a.subresource.is_none()
        })
        .filter_map(|a| a.patch.as_ref()?.pointer("/metadata/annotations").cloned())
        .next()
        .unwrap_or(json!({}))
}

fn condition(status: &Value, type_: &str) -> (String, String) {
    let found = status["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == type_))
        .cloned()
        .unwrap_or(json!({}));
    (
        found["status"].as_str().unwrap_or("").to_string(),
        found["reason"].as_str().unwrap_or("").to_string(),
    )
}

/// Plans, applies and plans again with the same `now` until a plan has no
/// actions; returns the objects and the number of rounds it took.
fn converge(mut objects: Vec<Value>, rounds: usize) -> (Vec<Value>, usize) {
    for round in 1..=rounds {
        let plan = run(objects.clone());
        if plan.actions.is_empty() {
            return (objects, round);
        }
        apply_actions(&mut objects, &plan.actions);
    }
    panic!("no fixed point after {rounds} rounds");
}

// ---------- digests, naming and the import DataVolume ----------

#[test]
fn empty_schedule_imports_external_digest() {
    let plan = run(vec![
        with_digest(cron("cron", "fedora"), DIGEST_A),
        default_class(),
    ]);
    assert!(created_dv(&plan, "fedora-aaaaaaaaaaaa").is_some());
    assert!(plan.polls.is_empty());
    assert_eq!(plan.next_reconcile, None);
}

#[test]
fn missing_digest_reports_no_digest() {
    let plan = run(vec![cron("cron", "fedora"), default_class()]);
    let status = cron_status(&plan, "cron");
    assert_eq!(
        condition(&status, "Progressing"),
        ("False".into(), "NoImport".into())
    );
    assert_eq!(
        condition(&status, "UpToDate"),
        ("False".into(), "NoDigest".into())
    );
    assert!(!any_create(&plan, "DataVolume"));
}

#[test]
fn digest_creates_import_data_volume() {
    let plan = run(vec![
        with_digest(cron("cron", "fedora"), DIGEST_A),
        default_class(),
    ]);
    let Some(dv) = created_dv(&plan, "fedora-aaaaaaaaaaaa") else {
        panic!("no DataVolume created: {:#?}", plan.actions);
    };
    assert_eq!(
        dv["spec"]["source"]["registry"]["url"],
        json!(format!("docker://quay.io/kubevirt/fedora@{DIGEST_A}"))
    );
    assert_eq!(
        dv["metadata"]["annotations"]["cdi.kubevirt.io/storage.bind.immediate.requested"],
        json!("true")
    );
    assert_eq!(dv["metadata"]["annotations"][LAST_USE], json!(NOW));
    assert_eq!(dv["metadata"]["labels"][CRON_LABEL], json!("cron"));
    assert_eq!(dv["metadata"]["labels"].get(CLEANUP_LABEL), None);
    let status = cron_status(&plan, "cron");
    assert_eq!(
        status["currentImports"],
        json!([{"DataVolumeName": "fedora-aaaaaaaaaaaa", "Digest": DIGEST_A}])
    );
    assert_eq!(
        condition(&status, "UpToDate"),
        ("False".into(), "Outdated".into())
    );
    let Some(ds) =
        find(&plan, ActionKind::Create, "DataSource", "fedora").and_then(|a| a.body.clone())
    else {
        panic!("no DataSource created");
    };
    assert_eq!(ds["metadata"]["labels"][CRON_LABEL], json!("cron"));
    assert_eq!(ds["spec"]["source"], json!({}));
}

#[test]
fn cleanup_label_follows_retention_none() {
    let mut cron = with_digest(cron("cron", "fedora"), DIGEST_A);
    cron["spec"]["retentionPolicy"] = json!("None");
    let plan = run(vec![cron, default_class()]);
    let dv = created_dv(&plan, "fedora-aaaaaaaaaaaa").unwrap_or_default();
    assert_eq!(dv["metadata"]["labels"][CLEANUP_LABEL], json!("true"));
}

#[test]
fn unusable_digests_reported_on_cron() {
    let cases = [
        ("sha234:012345678901", "Digest has no supported prefix"),
        ("sha256:01234567890", "Digest is too short"),
    ];
    for (digest, message) in cases {
        let plan = run(vec![
            with_digest(cron("cron", "fedora"), digest),
            default_class(),
        ]);
        assert!(!any_create(&plan, "DataVolume"), "{digest}");
        let warned = plan.warnings.iter().any(|w| {
            w.message.contains(message) && w.object.as_ref().is_some_and(|o| o.name == "cron")
        });
        assert!(warned, "{digest}: {:?}", plan.warnings);
    }
}

#[test]
fn import_names_follow_digest() {
    let cases = [
        (
            "test-datasource",
            "sha256:68b44fc891f3fae6aaaa",
            Ok("test-datasource-68b44fc891f3".to_string()),
        ),
        (
            "ds",
            "uid:0123-4567-89ab-cdef",
            Ok("ds-0123-4567-89".to_string()),
        ),
        (
            "ds",
            "sha234:012345678901",
            Err(naming::DigestError::UnsupportedPrefix),
        ),
        (
            "ds",
            "sha256:01234567890",
            Err(naming::DigestError::TooShort),
        ),
    ];
    for (data_source, digest, expected) in cases {
        assert_eq!(
            naming::import_name(data_source, digest),
            expected,
            "{digest}"
        );
    }
}

#[test]
fn long_import_name_shortened_with_hash() {
    let base = "a".repeat(260);
    let name = naming::shorten(&base, "0123456789ab", 253);
    assert_eq!(name.len(), 253);
    assert!(name.ends_with(&format!("-{}-0123456789ab", naming::fnv1a_hex(&base))));
}

#[test]
fn fnv_hash_matches_reference_values() {
    assert_eq!(naming::fnv1a_hex(""), "811c9dc5");
    assert_eq!(naming::fnv1a_hex("a"), "e40c292c");
}

#[test]
fn registry_url_loses_tag() {
    let cases = [
        (
            "docker://quay.io/kubevirt/junk:12.34_56-7890",
            "docker://quay.io/kubevirt/junk@sha256:x",
        ),
        (
            "docker://quay.io/kubevirt/junk",
            "docker://quay.io/kubevirt/junk@sha256:x",
        ),
        ("docker://reg:5000/img:1", "docker://reg:5000/img@sha256:x"),
        ("docker://reg/img@sha256:old", "docker://reg/img@sha256:x"),
    ];
    for (url, expected) in cases {
        assert_eq!(naming::digest_url(url, "sha256:x"), expected, "{url}");
    }
}

#[test]
fn cron_labels_reach_data_volume_and_datasource() {
    let mut cron = with_digest(cron("cron", "fedora"), DIGEST_A);
    cron["metadata"]["labels"] = json!({
        "instancetype.kubevirt.io/default-preference": "fedora",
        "kubevirt.io/dynamic-credentials-support": "true",
        "template.kubevirt.io/architecture": "amd64",
        "invalid": "x"
    });
    let plan = run(vec![cron, default_class()]);
    let dv = created_dv(&plan, "fedora-aaaaaaaaaaaa").unwrap_or_default();
    let ds = find(&plan, ActionKind::Create, "DataSource", "fedora")
        .and_then(|a| a.body.clone())
        .unwrap_or_default();
    assert_eq!(
        dv["metadata"]["labels"]["instancetype.kubevirt.io/default-preference"],
        json!("fedora")
    );
    assert_eq!(
        dv["metadata"]["labels"]["kubevirt.io/dynamic-credentials-support"],
        json!("true")
    );
    assert_eq!(dv["metadata"]["labels"].get("invalid"), None);
    assert_eq!(
        ds["metadata"]["labels"]["template.kubevirt.io/architecture"],
        json!("amd64")
    );
    assert_eq!(ds["metadata"]["labels"].get("invalid"), None);
}

#[test]
fn read_write_once_default_from_profile() {
    // (profile annotation, template storage, expected access modes)
    let cases = [
        (Some("true"), json!({}), json!(["ReadWriteOnce"])),
        (
            Some("true"),
            json!({"accessModes": ["ReadWriteMany"]}),
            json!(["ReadWriteMany"]),
        ),
        (None, json!({}), Value::Null),
        (Some("false"), json!({}), Value::Null),
    ];
    for (annotation, storage, expected) in cases {
        let mut cron = with_digest(cron("cron", "fedora"), DIGEST_A);
        cron["spec"]["template"]["spec"]["storage"] = storage.clone();
        let annotations = match annotation {
            Some(value) => json!({"cdi.kubevirt.io/useReadWriteOnceForDataImportCron": value}),
            None => json!({}),
        };
        let plan = run(vec![
            cron,
            default_class(),
            storage_profile("standard", None, annotations),
        ]);
        let dv = created_dv(&plan, "fedora-aaaaaaaaaaaa").unwrap_or_default();
        let modes = dv["spec"]["storage"]
            .get("accessModes")
            .cloned()
            .unwrap_or(Value::Null);
        assert_eq!(modes, expected, "{annotation:?} {storage}");
    }
}

#[test]
fn read_write_once_not_applied_to_pvc_spec() {
    let mut cron = with_digest(cron("cron", "fedora"), DIGEST_A);
    let spec = &mut cron["spec"]["template"]["spec"];
    spec.as_object_mut().map(|m| m.remove("storage"));
    spec["pvc"] = json!({"resources": {"requests": {"storage": "5Gi"}}});
    let annotations = json!({"cdi.kubevirt.io/useReadWriteOnceForDataImportCron": "true"});
    let plan = run(vec![
        cron,
        default_class(),
        storage_profile("standard", None, annotations),
    ]);
    let dv = created_dv(&plan, "fedora-aaaaaaaaaaaa").unwrap_or_default();
    assert_eq!(dv["spec"]["pvc"].get("accessModes"), None);
}

// ---------- the current import ----------

#[test]
fn import_progress_sets_progressing() {
    let cases = [
        ("ImportScheduled", "False", "ImportScheduled"),
        ("ImportInProgress", "True", "ImportProgressing"),
        ("WaitForFirstConsumer", "False", "WaitForFirstConsumer"),
    ];
    for (phase, status, reason) in cases {
        let cron = with_current(
            with_digest(cron("cron", "fedora"), DIGEST_A),
            "fedora-aaaaaaaaaaaa",
            DIGEST_A,
        );
        let plan = run(vec![
            cron,
            data_volume("fedora-aaaaaaaaaaaa", Some(phase)),
            default_class(),
        ]);
        let cron_status = cron_status(&plan, "cron");
        assert_eq!(
            condition(&cron_status, "Progressing"),
            (status.into(), reason.into()),
            "{phase}"
        );
        assert_eq!(
            condition(&cron_status, "UpToDate"),
            ("False".into(), "ImportProgressing".into()),
            "{phase}"
        );
    }
}

#[test]
fn succeeded_import_points_datasource_at_pvc() {
    let cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    let plan = run(vec![
        cron,
        data_volume("fedora-aaaaaaaaaaaa", Some("Succeeded")),
        pvc("fedora-aaaaaaaaaaaa", "Bound"),
        data_source("fedora", Some("cron")),
        default_class(),
    ]);
    let status = cron_status(&plan, "cron");
    assert_eq!(
        condition(&status, "Progressing"),
        ("False".into(), "NoImport".into())
    );
    assert_eq!(
        condition(&status, "UpToDate"),
        ("True".into(), "UpToDate".into())
    );
    assert_eq!(
        status["lastImportedPVC"],
        json!({"namespace": NS, "name": "fedora-aaaaaaaaaaaa"})
    );
    assert_eq!(status["lastImportTimestamp"], json!(NOW));
    assert_eq!(status["sourceFormat"], json!("pvc"));
    let patch =
        find(&plan, ActionKind::Patch, "DataSource", "fedora").and_then(|a| a.patch.clone());
    let pvc_source = patch
        .as_ref()
        .and_then(|p| p.pointer("/spec/source/pvc"))
        .cloned();
    assert_eq!(
        pvc_source,
        Some(json!({"namespace": NS, "name": "fedora-aaaaaaaaaaaa"}))
    );
}

#[test]
fn import_timestamp_moves_only_on_change() {
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["status"]["lastImportedPVC"] = json!({"namespace": NS, "name": "fedora-aaaaaaaaaaaa"});
    cron["status"]["lastImportTimestamp"] = json!("2026-01-01T00:00:00Z");
    let plan = run(vec![
        cron,
        pvc("fedora-aaaaaaaaaaaa", "Bound"),
        default_class(),
    ]);
    let status = cron_status(&plan, "cron");
    assert_eq!(status.get("lastImportTimestamp"), None);
}

#[test]
fn deleted_import_recreated_same_pass() {
    let cron = with_current(
        with_digest(
            cron("cron", "test-datasource"),
            "sha256:68b44fc891f3fae60000",
        ),
        "test-datasource-68b44fc891f3",
        "sha256:68b44fc891f3fae60000",
    );
    let mut objects = vec![cron, default_class()];
    let plan = run(objects.clone());
    assert!(created_dv(&plan, "test-datasource-68b44fc891f3").is_some());
    let status = cron_status(&plan, "cron");
    apply_actions(&mut objects, &plan.actions);
    let applied = objects
        .iter()
        .find(|o| o["kind"] == "DataImportCron")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        applied["status"]["currentImports"][0]["DataVolumeName"],
        json!("test-datasource-68b44fc891f3")
    );
    assert_eq!(
        condition(&status, "Progressing"),
        ("False".into(), "NoImport".into())
    );
}

#[test]
fn earlier_digest_reuses_existing_pvc() {
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-bbbbbbbbbbbb",
        DIGEST_B,
    );
    cron["spec"]["importsToKeep"] = json!(2);
    let plan = run(vec![
        cron,
        stamped(pvc("fedora-aaaaaaaaaaaa", "Bound"), "2026-01-21T12:00:00Z"),
        stamped(pvc("fedora-bbbbbbbbbbbb", "Bound"), "2026-01-30T12:00:00Z"),
        default_class(),
    ]);
    assert!(!any_create(&plan, "DataVolume"));
    let touch = find(
        &plan,
        ActionKind::Patch,
        "PersistentVolumeClaim",
        "fedora-aaaaaaaaaaaa",
    )
    .and_then(|a| a.patch.clone());
    assert_eq!(
        touch
            .as_ref()
            .and_then(|p| p.pointer("/metadata/annotations"))
            .and_then(|a| a.get(LAST_USE)),
        Some(&json!(NOW))
    );
    let status = cron_status(&plan, "cron");
    assert_eq!(
        status["currentImports"],
        json!([{"DataVolumeName": "fedora-aaaaaaaaaaaa", "Digest": DIGEST_A}])
    );
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-aaaaaaaaaaaa"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-bbbbbbbbbbbb"
    ));
}

#[test]
fn existing_data_volume_adopted_not_recreated() {
    let cron = with_digest(cron("cron", "fedora"), DIGEST_A);
    let plan = run(vec![
        cron,
        data_volume("fedora-aaaaaaaaaaaa", Some("ImportInProgress")),
        default_class(),
    ]);
    assert!(!any_create(&plan, "DataVolume"));
    let status = cron_status(&plan, "cron");
    assert_eq!(
        status["currentImports"][0]["DataVolumeName"],
        json!("fedora-aaaaaaaaaaaa")
    );
}

#[test]
fn failed_import_deleted_for_new_digest() {
    // (Running status, reason, deleted and replaced)
    let cases = [
        ("False", "Error", true),
        ("False", "ImagePullFailed", true),
        ("False", "Pending", false),
        ("True", "", false),
    ];
    for (running, reason, replaced) in cases {
        let cron = with_current(
            with_digest(cron("cron", "fedora"), DIGEST_B),
            "fedora-aaaaaaaaaaaa",
            DIGEST_A,
        );
        let mut dv = data_volume("fedora-aaaaaaaaaaaa", Some("ImportInProgress"));
        dv["status"]["conditions"] =
            json!([{"type": "Running", "status": running, "reason": reason}]);
        let plan = run(vec![cron, dv, default_class()]);
        let status = cron_status(&plan, "cron");
        assert_eq!(
            condition(&status, "UpToDate"),
            ("False".into(), "Outdated".into()),
            "{reason}"
        );
        assert_eq!(
            deleted(&plan, "DataVolume", "fedora-aaaaaaaaaaaa"),
            replaced,
            "{reason}"
        );
        assert_eq!(
            created_dv(&plan, "fedora-bbbbbbbbbbbb").is_some(),
            replaced,
            "{reason}"
        );
    }
}

#[test]
fn new_digest_waits_for_running_import() {
    let cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_B),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    let plan = run(vec![
        cron,
        data_volume("fedora-aaaaaaaaaaaa", Some("ImportInProgress")),
        default_class(),
    ]);
    assert!(!any_create(&plan, "DataVolume"));
}

#[test]
fn new_digest_after_success_starts_import() {
    let cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_B),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    let plan = run(vec![
        cron,
        pvc("fedora-aaaaaaaaaaaa", "Bound"),
        default_class(),
    ]);
    assert!(created_dv(&plan, "fedora-bbbbbbbbbbbb").is_some());
}

// ---------- DataSource ownership ----------

#[test]
fn datasource_owned_by_other_cron_skips() {
    // (DataSource label, second cron's managedDataSource, reconciled)
    let cases = [
        (Some("cron-a"), "ds", false),
        (Some(""), "ds", true),
        (Some("nosuchdic"), "ds", true),
        (Some("cron-a"), "other", true),
        (None, "ds", true),
    ];
    for (owner, a_manages, reconciled) in cases {
        let cron_a = cron("cron-a", a_manages);
        let cron_b = with_digest(cron("cron-b", "ds"), DIGEST_A);
        let mut objects = vec![cron_a, cron_b, default_class()];
        if let Some(owner) = owner {
            objects.push(data_source("ds", Some(owner)));
        }
        let plan = run(objects);
        let b_touched = plan.actions.iter().any(|a| a.object.name == "cron-b");
        assert_eq!(b_touched, reconciled, "{owner:?} {a_manages}");
        let warned = plan.events.iter().any(|e| {
            e.reason == "ErrDataSourceAlreadyManaged"
                && e.message == "DataSource ds is already managed by DataImportCron cron-a"
        });
        assert_eq!(warned, !reconciled, "{owner:?} {a_manages}");
    }
}

#[test]
fn unlabelled_datasource_left_untouched() {
    let mut cron = with_current(
        with_digest(cron("fedora-cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["status"]["lastImportedPVC"] = json!({"namespace": NS, "name": "fedora-aaaaaaaaaaaa"});
    let mut ds = data_source("fedora", None);
    ds["spec"]["source"] = json!({"pvc": {"namespace": NS, "name": "my-upload"}});
    let plan = run(vec![
        cron,
        ds,
        pvc("fedora-aaaaaaaaaaaa", "Bound"),
        default_class(),
    ]);
    assert!(plan.actions.iter().all(|a| a.object.kind != "DataSource"));
}

#[test]
fn tampered_datasource_reset_to_import() {
    let mut cron = with_current(
        with_digest(cron("fedora-cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["status"]["lastImportedPVC"] = json!({"namespace": NS, "name": "fedora-aaaaaaaaaaaa"});
    let mut ds = data_source("fedora", Some("fedora-cron"));
    ds["spec"]["source"] = json!({"pvc": {"name": "tampered"}});
    let mut objects = vec![cron, ds, default_class()];
    let mut imported = pvc("fedora-aaaaaaaaaaaa", "Bound");
    imported["metadata"]["labels"][CRON_LABEL] = json!("fedora-cron");
    objects.push(imported);
    let plan = run(objects.clone());
    apply_actions(&mut objects, &plan.actions);
    let ds = objects
        .iter()
        .find(|o| o["kind"] == "DataSource")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        ds["spec"]["source"],
        json!({"pvc": {"namespace": NS, "name": "fedora-aaaaaaaaaaaa"}})
    );
}

// ---------- garbage collection ----------

fn gc_cron(keep: Option<i64>, current: &str) -> Value {
    let digest = format!("sha256:{}", current.trim_start_matches("fedora-")) + "0000";
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), &digest),
        current,
        &digest,
    );
    if let Some(keep) = keep {
        cron["spec"]["importsToKeep"] = json!(keep);
    }
    cron
}

#[test]
fn gc_deletes_least_recently_used() {
    // Used in the order p0, p1, p0, p2 with importsToKeep 2: p1 goes.
    let plan = run(vec![
        gc_cron(Some(2), "fedora-222222222222"),
        stamped(pvc("fedora-000000000000", "Bound"), "2026-01-03T00:00:00Z"),
        stamped(pvc("fedora-111111111111", "Bound"), "2026-01-02T00:00:00Z"),
        pvc("fedora-222222222222", "Bound"),
        default_class(),
    ]);
    assert!(deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-111111111111"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-000000000000"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-222222222222"
    ));
}

#[test]
fn gc_deletes_data_volume_of_pvc() {
    let plan = run(vec![
        gc_cron(Some(1), "fedora-222222222222"),
        stamped(pvc("fedora-111111111111", "Bound"), "2026-01-02T00:00:00Z"),
        data_volume("fedora-111111111111", Some("Succeeded")),
        pvc("fedora-222222222222", "Bound"),
        default_class(),
    ]);
    assert!(deleted(&plan, "DataVolume", "fedora-111111111111"));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-111111111111"
    ));
}

#[test]
fn gc_keeps_three_by_default() {
    let mut objects = vec![
        gc_cron(None, "fedora-444444444444"),
        pvc("fedora-444444444444", "Bound"),
        default_class(),
    ];
    for (i, day) in [(1, "01"), (2, "02"), (3, "03")] {
        objects.push(stamped(
            pvc(&format!("fedora-{}", i.to_string().repeat(12)), "Bound"),
            &format!("2026-01-{day}T00:00:00Z"),
        ));
    }
    let plan = run(objects);
    let deletions: Vec<&str> = plan
        .actions
        .iter()
        .filter(|a| a.action == ActionKind::Delete)
        .map(|a| a.object.name.as_str())
        .collect();
    assert_eq!(deletions, vec!["fedora-111111111111"]);
}

#[test]
fn gc_never_deletes_nothing() {
    let mut cron = gc_cron(Some(1), "fedora-222222222222");
    cron["spec"]["garbageCollect"] = json!("Never");
    let plan = run(vec![
        cron,
        stamped(pvc("fedora-111111111111", "Bound"), "2026-01-02T00:00:00Z"),
        pvc("fedora-222222222222", "Bound"),
        default_class(),
    ]);
    assert!(plan.actions.iter().all(|a| a.action != ActionKind::Delete));
}

#[test]
fn gc_stamps_unstamped_current_first() {
    let plan = run(vec![
        gc_cron(Some(2), "fedora-333333333333"),
        stamped(pvc("fedora-111111111111", "Bound"), "2024-01-01T00:00:00Z"),
        stamped(pvc("fedora-222222222222", "Bound"), "2024-02-01T00:00:00Z"),
        pvc("fedora-333333333333", "Bound"),
        default_class(),
    ]);
    let stamp = find(
        &plan,
        ActionKind::Patch,
        "PersistentVolumeClaim",
        "fedora-333333333333",
    );
    let stamp_index = plan.actions.iter().position(|a| Some(a) == stamp);
    let delete_index = plan
        .actions
        .iter()
        .position(|a| a.action == ActionKind::Delete);
    assert!(deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-111111111111"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-222222222222"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-333333333333"
    ));
    assert!(stamp_index.is_some());
    assert!(stamp_index < delete_index);
}

#[test]
fn gc_keeps_import_in_flight() {
    // A new import's DataVolume and PVC exist but have not finished.
    let mut cron = gc_cron(Some(1), "fedora-aaaaaaaaaaaa");
    cron["metadata"]["annotations"][DIGEST_ANN] = json!(DIGEST_A);
    let plan = run(vec![
        cron,
        pvc("fedora-aaaaaaaaaaaa", "Bound"),
        data_volume("fedora-bbbbbbbbbbbb", Some("ImportInProgress")),
        pvc("fedora-bbbbbbbbbbbb", "Pending"),
        default_class(),
    ]);
    assert!(!deleted(&plan, "DataVolume", "fedora-bbbbbbbbbbbb"));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-bbbbbbbbbbbb"
    ));
}

#[test]
fn gc_prefers_stamped_over_unstamped() {
    let plan = run(vec![
        gc_cron(Some(2), "fedora-333333333333"),
        stamped(pvc("fedora-111111111111", "Bound"), "2026-01-02T00:00:00Z"),
        pvc("fedora-222222222222", "Bound"),
        pvc("fedora-333333333333", "Bound"),
        default_class(),
    ]);
    assert!(deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-111111111111"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-222222222222"
    ));
}

#[test]
fn gc_keeps_datasource_source() {
    let mut ds = data_source("fedora", Some("cron"));
    ds["spec"]["source"] = json!({"pvc": {"namespace": NS, "name": "fedora-111111111111"}});
    let plan = run(vec![
        gc_cron(Some(0), "fedora-222222222222"),
        ds,
        stamped(pvc("fedora-111111111111", "Bound"), "2020-01-01T00:00:00Z"),
        pvc("fedora-222222222222", "Bound"),
        default_class(),
    ]);
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-111111111111"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-222222222222"
    ));
}

#[test]
fn gc_old_version_data_volumes() {
    // keep 1: a labelled DV whose PVC lacks the label goes; a labelled DV
    // with a labelled PVC stays; unlabelled DV and PVC are not looked at.
    let plan = run(vec![
        gc_cron(Some(1), "fedora-333333333333"),
        pvc("fedora-333333333333", "Bound"),
        data_volume("fedora-333333333333", Some("Succeeded")),
        data_volume("fedora-111111111111", Some("Succeeded")),
        unlabelled(pvc("fedora-111111111111", "Bound")),
        unlabelled(data_volume("fedora-222222222222", Some("Succeeded"))),
        unlabelled(pvc("fedora-222222222222", "Bound")),
        default_class(),
    ]);
    assert!(deleted(&plan, "DataVolume", "fedora-111111111111"));
    assert!(!deleted(&plan, "DataVolume", "fedora-333333333333"));
    assert!(!deleted(&plan, "DataVolume", "fedora-222222222222"));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-222222222222"
    ));
}

#[test]
fn gc_deletes_carry_preconditions() {
    let plan = run(vec![
        gc_cron(Some(1), "fedora-222222222222"),
        stamped(pvc("fedora-111111111111", "Bound"), "2026-01-02T00:00:00Z"),
        pvc("fedora-222222222222", "Bound"),
        default_class(),
    ]);
    let delete = find(
        &plan,
        ActionKind::Delete,
        "PersistentVolumeClaim",
        "fedora-111111111111",
    );
    let pre = delete.and_then(|d| d.preconditions.clone());
    assert_eq!(
        pre.as_ref().and_then(|p| p.uid.clone()),
        Some("uid-fedora-111111111111".into())
    );
    assert_eq!(
        pre.as_ref().and_then(|p| p.resource_version.clone()),
        Some("3".into())
    );
}

// ---------- deletion and retention ----------

fn cleanup_labelled(mut object: Value, cron: &str) -> Value {
    object["metadata"]["labels"] = json!({CRON_LABEL: cron, CLEANUP_LABEL: "true"});
    object
}

#[test]
fn deleting_cron_removes_cleanup_objects() {
    let mut cron = cron("fedora-cron", "fedora");
    cron["metadata"]["deletionTimestamp"] = json!("2026-01-31T11:00:00Z");
    cron["spec"]["retentionPolicy"] = json!("None");
    let mut only_cron_label = pvc("fedora-keep00000000", "Bound");
    only_cron_label["metadata"]["labels"] = json!({CRON_LABEL: "fedora-cron"});
    let plan = run(vec![
        cron,
        cleanup_labelled(data_source("fedora", None), "fedora-cron"),
        cleanup_labelled(
            data_volume("fedora-aaaaaaaaaaaa", Some("Succeeded")),
            "fedora-cron",
        ),
        cleanup_labelled(pvc("fedora-aaaaaaaaaaaa", "Bound"), "fedora-cron"),
        only_cron_label,
    ]);
    assert!(deleted(&plan, "DataSource", "fedora"));
    assert!(deleted(&plan, "DataVolume", "fedora-aaaaaaaaaaaa"));
    assert!(deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-aaaaaaaaaaaa"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-keep00000000"
    ));
    assert!(!any_create(&plan, "DataVolume"));
}

#[test]
fn cron_listed_as_deleted_cleans_up() {
    let request = PlanRequest {
        now: Some(NOW.into()),
        stages: Some(vec![Stage::Imports]),
        deleted_crons: Some(vec![bootsource_guest::model::cdi::NamespacedName {
            namespace: NS.into(),
            name: "gone".into(),
        }]),
        objects: vec![
            cleanup_labelled(pvc("fedora-aaaaaaaaaaaa", "Bound"), "gone"),
            cleanup_labelled(pvc("fedora-bbbbbbbbbbbb", "Bound"), "other"),
        ],
        ..PlanRequest::default()
    };
    let plan = plan(&request).unwrap_or_default();
    assert!(deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-aaaaaaaaaaaa"
    ));
    assert!(!deleted(
        &plan,
        "PersistentVolumeClaim",
        "fedora-bbbbbbbbbbbb"
    ));
}

#[test]
fn retain_all_keeps_everything() {
    let mut cron = cron("fedora-cron", "fedora");
    cron["metadata"]["deletionTimestamp"] = json!("2026-01-31T11:00:00Z");
    let mut kept = data_volume("fedora-aaaaaaaaaaaa", Some("Succeeded"));
    kept["metadata"]["labels"] = json!({CRON_LABEL: "fedora-cron"});
    let plan = run(vec![cron, kept]);
    assert!(plan.actions.is_empty());
}

// ---------- sources and polling ----------

fn image_stream(tags: Value) -> Value {
    json!({
        "apiVersion": "image.openshift.io/v1",
        "kind": "ImageStream",
        "metadata": {"name": "is", "namespace": NS},
        "status": {"tags": tags}
    })
}

fn image_stream_cron(stream: &str) -> Value {
    let mut cron = cron("cron", "fedora");
    cron["spec"]["schedule"] = json!("* * * * *");
    cron["spec"]["template"]["spec"]["source"] =
        json!({"registry": {"imageStream": stream, "pullMethod": "node"}});
    cron
}

#[test]
fn image_stream_tag_sets_digest_and_url() {
    let tags = json!([
        {"tag": "first", "items": [{"image": DIGEST_B, "dockerImageReference": "reg/first@x"}]},
        {"tag": "t", "items": [{"image": DIGEST_A, "dockerImageReference": "reg/img@sha256:aaaa"}]}
    ]);
    let cases = [
        ("is:t", DIGEST_A, "docker://reg/img@sha256:aaaa"),
        ("is", DIGEST_B, "docker://reg/first@x"),
    ];
    for (stream, digest, url) in cases {
        let plan = run(vec![
            image_stream_cron(stream),
            image_stream(tags.clone()),
            default_class(),
        ]);
        let annotations = cron_annotations(&plan, "cron");
        assert_eq!(annotations[DIGEST_ANN], json!(digest), "{stream}");
        let name = naming::import_name("fedora", digest).unwrap_or_default();
        let dv = created_dv(&plan, &name).unwrap_or_default();
        assert_eq!(
            dv["spec"]["source"]["registry"]["url"],
            json!(url),
            "{stream}"
        );
        assert_eq!(
            dv["spec"]["source"]["registry"].get("imageStream"),
            None,
            "{stream}"
        );
    }
}

#[test]
fn image_stream_errors_reported() {
    let cases = [
        ("is:", json!([]), "Illegal ImageStream name"),
        ("is:a:b", json!([]), "Illegal ImageStream name"),
        (
            "is:nosuch",
            json!([{"tag": "t", "items": [{"image": DIGEST_A}]}]),
            "has no tag nosuch",
        ),
        ("is:t", json!([{"tag": "t", "items": []}]), "has no items"),
        ("is", json!([]), "has no tags"),
    ];
    for (stream, tags, message) in cases {
        let plan = run(vec![
            image_stream_cron(stream),
            image_stream(tags),
            default_class(),
        ]);
        assert!(
            plan.warnings.iter().any(|w| w.message.contains(message)),
            "{stream}: {:?}",
            plan.warnings
        );
        assert!(!any_create(&plan, "DataVolume"), "{stream}");
    }
}

#[test]
fn pvc_source_digest_is_uid() {
    let mut cron = cron("cron", "fedora");
    cron["spec"]["schedule"] = json!("0 0 * * *");
    cron["spec"]["template"]["spec"]["source"] =
        json!({"pvc": {"namespace": "golden", "name": "base"}});
    let mut source = pvc("base", "Bound");
    source["metadata"]["namespace"] = json!("golden");
    source["metadata"]["uid"] = json!("0123abcd-4567-89ab-cdef-000000000000");
    let plan = run(vec![cron.clone(), source, default_class()]);
    assert_eq!(
        cron_annotations(&plan, "cron")[DIGEST_ANN],
        json!("uid:0123abcd-4567-89ab-cdef-000000000000")
    );
    assert!(created_dv(&plan, "fedora-0123abcd-456").is_some());
    let missing = run(vec![cron, default_class()]);
    assert!(missing
        .warnings
        .iter()
        .any(|w| w.message.contains("not found")));
}

#[test]
fn poll_timing_follows_next_cron_time() {
    // (nextCronTime annotation, polled now)
    let cases = [
        (None, true),
        (Some("2026-01-31T12:30:00Z"), false),
        (Some("2026-01-31T11:00:00Z"), true),
        (Some(NOW), true),
    ];
    for (next, polled) in cases {
        let mut cron = cron("cron", "fedora");
        cron["spec"]["schedule"] = json!("0 * * * *");
        if let Some(next) = next {
            cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.nextCronTime"] =
                json!(next);
        }
        let plan = run(vec![cron, default_class()]);
        assert_eq!(!plan.polls.is_empty(), polled, "{next:?}");
        assert_eq!(
            plan.next_reconcile.as_deref(),
            Some("2026-01-31T13:00:00Z"),
            "{next:?}"
        );
        assert_eq!(plan.requeue_after_seconds, Some(3600), "{next:?}");
    }
}

#[test]
fn poll_lists_registry_source() {
    let mut cron = cron("cron", "fedora");
    cron["spec"]["schedule"] = json!("*/15 * * * *");
    let plan = run(vec![cron, default_class()]);
    let expected = PollSource::Registry {
        url: "docker://quay.io/kubevirt/fedora:41".into(),
        pull_method: None,
        secret_ref: None,
        cert_config_map: None,
        architecture: None,
    };
    assert_eq!(plan.polls.first().map(|p| p.source.clone()), Some(expected));
    assert_eq!(
        cron_annotations(&plan, "cron")["cdi.kubevirt.io/storage.import.nextCronTime"],
        json!("2026-01-31T12:15:00Z")
    );
}

#[test]
fn next_reconcile_is_earliest_cron() {
    let mut hourly = cron("hourly", "a");
    hourly["spec"]["schedule"] = json!("0 * * * *");
    let mut quarter = cron("quarter", "b");
    quarter["spec"]["schedule"] = json!("*/15 * * * *");
    let plan = run(vec![hourly, quarter, default_class()]);
    assert_eq!(plan.next_reconcile.as_deref(), Some("2026-01-31T12:15:00Z"));
    assert_eq!(plan.polls.len(), 2);
}

#[test]
fn imports_stage_requires_now() {
    let request = PlanRequest {
        stages: Some(vec![Stage::Imports]),
        objects: vec![cron("cron", "fedora")],
        ..PlanRequest::default()
    };
    let error = plan(&request).err();
    assert_eq!(
        error.as_ref().and_then(|e| e.field.clone()),
        Some("now".into())
    );
}

// ---------- storage classes ----------

#[test]
fn missing_default_class_warns() {
    let plan = run(vec![with_digest(cron("cron", "fedora"), DIGEST_A)]);
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.message.contains("no default storage class")));
    let dv = created_dv(&plan, "fedora-aaaaaaaaaaaa").unwrap_or_default();
    assert_eq!(dv["spec"]["storage"].get("storageClassName"), None);
    assert_eq!(
        cron_annotations(&plan, "cron").get("cdi.kubevirt.io/storage.import.storageClass"),
        None
    );
}

#[test]
fn default_virt_class_preferred() {
    let plan = run(vec![
        with_digest(cron("cron", "fedora"), DIGEST_A),
        default_class(),
        storage_class(
            "virt",
            Some("storageclass.kubevirt.io/is-default-virt-class"),
            "2020-01-01T00:00:00Z",
        ),
    ]);
    assert_eq!(
        cron_annotations(&plan, "cron")["cdi.kubevirt.io/storage.import.storageClass"],
        json!("virt")
    );
}

#[test]
fn newest_default_class_wins() {
    let key = Some("storageclass.kubernetes.io/is-default-class");
    let plan = run(vec![
        with_digest(cron("cron", "fedora"), DIGEST_A),
        storage_class("old", key, "2020-01-01T00:00:00Z"),
        storage_class("new", key, "2025-01-01T00:00:00Z"),
    ]);
    assert_eq!(
        cron_annotations(&plan, "cron")["cdi.kubevirt.io/storage.import.storageClass"],
        json!("new")
    );
}

#[test]
fn class_change_reimports_on_new_class() {
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.storageClass"] =
        json!("old-sc");
    let objects = vec![
        cron,
        data_volume("fedora-aaaaaaaaaaaa", Some("Succeeded")),
        pvc("fedora-aaaaaaaaaaaa", "Bound"),
        storage_class(
            "new-sc",
            Some("storageclass.kubevirt.io/is-default-virt-class"),
            "2025-01-01T00:00:00Z",
        ),
    ];
    let first = run(objects.clone());
    assert!(deleted(&first, "DataVolume", "fedora-aaaaaaaaaaaa"));
    assert!(deleted(
        &first,
        "PersistentVolumeClaim",
        "fedora-aaaaaaaaaaaa"
    ));
    assert!(!any_create(&first, "DataVolume"));
    let mut objects = objects;
    apply_actions(&mut objects, &first.actions);
    let second = run(objects.clone());
    assert_eq!(
        cron_annotations(&second, "cron")["cdi.kubevirt.io/storage.import.storageClass"],
        json!("new-sc")
    );
    apply_actions(&mut objects, &second.actions);
    let third = run(objects);
    assert!(created_dv(&third, "fedora-aaaaaaaaaaaa").is_some());
}

#[test]
fn pending_pvc_on_old_class() {
    // (explicit template class, PVC class, PVC has the cron label, phase, deleted)
    let cases = [
        (None, "old-sc", true, "Pending", true),
        (None, "old-sc", false, "Pending", false),
        (None, "new-sc", true, "Pending", false),
        (None, "old-sc", true, "Bound", false),
        (None, "old-sc", false, "Bound", false),
        (Some("new-sc"), "old-sc", false, "Pending", false),
    ];
    for (explicit, class, labelled, phase, expected) in cases {
        let mut cron = with_current(
            with_digest(cron("cron", "fedora"), DIGEST_A),
            "fedora-aaaaaaaaaaaa",
            DIGEST_A,
        );
        cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.storageClass"] =
            json!("new-sc");
        if let Some(explicit) = explicit {
            cron["spec"]["template"]["spec"]["storage"]["storageClassName"] = json!(explicit);
        }
        let mut claim = pvc("fedora-aaaaaaaaaaaa", phase);
        claim["spec"]["storageClassName"] = json!(class);
        if !labelled {
            claim = unlabelled(claim);
        }
        let plan = run(vec![
            cron,
            data_volume("fedora-aaaaaaaaaaaa", Some("ImportScheduled")),
            claim,
            storage_class(
                "new-sc",
                Some("storageclass.kubevirt.io/is-default-virt-class"),
                "2025-01-01T00:00:00Z",
            ),
            storage_class(
                "old-sc",
                Some("storageclass.kubernetes.io/is-default-class"),
                "2024-01-01T00:00:00Z",
            ),
        ]);
        assert_eq!(
            deleted(&plan, "PersistentVolumeClaim", "fedora-aaaaaaaaaaaa"),
            expected,
            "{explicit:?} {class} {labelled} {phase}"
        );
    }
}

// ---------- snapshot format ----------

#[test]
fn snapshot_format_replaces_pvc_when_ready() {
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.storageClass"] =
        json!("standard");
    let mut claim = pvc("fedora-aaaaaaaaaaaa", "Bound");
    claim["spec"]["storageClassName"] = json!("standard");
    let mut objects = vec![
        cron,
        data_volume("fedora-aaaaaaaaaaaa", Some("Succeeded")),
        claim,
        data_source("fedora", Some("cron")),
        default_class(),
        storage_profile(
            "standard",
            Some("snapshot"),
            json!({"cdi.kubevirt.io/snapshotClassForDataImportCron": "csi-snap"}),
        ),
    ];
    let first = run(objects.clone());
    let snapshot = find(
        &first,
        ActionKind::Create,
        "VolumeSnapshot",
        "fedora-aaaaaaaaaaaa",
    )
    .and_then(|a| a.body.clone())
    .unwrap_or_default();
    assert_eq!(
        snapshot["spec"]["volumeSnapshotClassName"],
        json!("csi-snap")
    );
    assert_eq!(
        snapshot["spec"]["source"]["persistentVolumeClaimName"],
        json!("fedora-aaaaaaaaaaaa")
    );
    assert_eq!(
        condition(&cron_status(&first, "cron"), "UpToDate"),
        ("False".into(), "ImportProgressing".into())
    );

    apply_actions(&mut objects, &first.actions);
    for object in objects.iter_mut().filter(|o| o["kind"] == "VolumeSnapshot") {
        object["status"] = json!({"readyToUse": true});
    }
    let second = run(objects.clone());
    assert!(deleted(&second, "DataVolume", "fedora-aaaaaaaaaaaa"));
    assert_eq!(
        condition(&cron_status(&second, "cron"), "UpToDate"),
        ("True".into(), "UpToDate".into())
    );
    apply_actions(&mut objects, &second.actions);
    let ds = objects
        .iter()
        .find(|o| o["kind"] == "DataSource")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        ds["spec"]["source"],
        json!({"snapshot": {"namespace": NS, "name": "fedora-aaaaaaaaaaaa"}})
    );
}

#[test]
fn snapshot_deleted_when_format_back_to_pvc() {
    let cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    let snapshot = json!({
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "fedora-aaaaaaaaaaaa", "namespace": NS, "labels": {CRON_LABEL: "cron"}},
        "spec": {}, "status": {"readyToUse": true}
    });
    let plan = run(vec![cron, snapshot, default_class()]);
    assert!(deleted(&plan, "VolumeSnapshot", "fedora-aaaaaaaaaaaa"));
    assert_eq!(plan.requeue_after_seconds, Some(1));
}

// ---------- determinism and convergence ----------

#[test]
fn plan_independent_of_input_order() {
    let objects = vec![
        with_digest(cron("b-cron", "b"), DIGEST_A),
        with_digest(cron("a-cron", "a"), DIGEST_B),
        stamped(pvc("x-000000000000", "Bound"), "2026-01-01T00:00:00Z"),
        default_class(),
    ];
    let mut reversed = objects.clone();
    reversed.reverse();
    assert_eq!(run(objects), run(reversed));
}

#[test]
fn conditions_keep_transition_time() {
    let mut cron = cron("cron", "fedora");
    cron["status"]["conditions"] = json!([
        {"type": "UpToDate", "status": "False", "reason": "Outdated", "message": "m", "lastTransitionTime": "2026-01-01T00:00:00Z", "lastHeartbeatTime": "2026-01-01T00:00:00Z"}
    ]);
    let plan = run(vec![cron, default_class()]);
    let status = cron_status(&plan, "cron");
    let up_to_date = status["conditions"]
        .as_array()
        .and_then(|l| l.iter().find(|c| c["type"] == "UpToDate"))
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        up_to_date["lastTransitionTime"],
        json!("2026-01-01T00:00:00Z")
    );
    assert_eq!(up_to_date["lastHeartbeatTime"], json!(NOW));
    assert_eq!(up_to_date["reason"], json!("NoDigest"));
}

#[test]
fn new_cron_converges_after_import() {
    let objects = vec![
        with_digest(cron("cron", "fedora"), DIGEST_A),
        default_class(),
    ];
    let (mut objects, _) = converge(objects, 6);
    // The cluster finishes the import.
    for object in objects.iter_mut().filter(|o| o["kind"] == "DataVolume") {
        object["status"] = json!({"phase": "Succeeded"});
    }
    objects.push(pvc("fedora-aaaaaaaaaaaa", "Bound"));
    let (objects, rounds) = converge(objects, 6);
    assert!(rounds <= 4, "took {rounds} rounds");
    let ds = objects
        .iter()
        .find(|o| o["kind"] == "DataSource")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        ds["spec"]["source"]["pvc"]["name"],
        json!("fedora-aaaaaaaaaaaa")
    );
}

#[test]
fn scheduled_cron_converges() {
    let mut cron = cron("cron", "fedora");
    cron["spec"]["schedule"] = json!("0 0 * * *");
    let (_, rounds) = converge(vec![cron, default_class()], 5);
    assert!(rounds <= 3, "took {rounds} rounds");
}

#[test]
fn gc_example_converges_to_keep() {
    let objects = vec![
        gc_cron(Some(1), "fedora-222222222222"),
        data_source("fedora", Some("cron")),
        stamped(pvc("fedora-111111111111", "Bound"), "2026-01-02T00:00:00Z"),
        pvc("fedora-222222222222", "Bound"),
        default_class(),
    ];
    let (objects, _) = converge(objects, 6);
    let pvcs: Vec<&str> = objects
        .iter()
        .filter(|o| o["kind"] == "PersistentVolumeClaim")
        .filter_map(|o| o["metadata"]["name"].as_str())
        .collect();
    assert_eq!(pvcs, vec!["fedora-222222222222"]);
}

// ---------- DataSource Ready ----------

fn ready_of(plan: &Plan) -> (String, String) {
    let status = plan
        .actions
        .iter()
        .filter(|a| a.object.kind == "DataSource" && a.subresource.as_deref() == Some("status"))
        .find_map(|a| a.patch.as_ref()?.get("status").cloned())
        .unwrap_or_default();
    condition(&status, "Ready")
}

#[test]
fn created_datasource_has_no_source() {
    let plan = run(vec![
        with_digest(cron("cron", "fedora"), DIGEST_A),
        default_class(),
    ]);
    assert_eq!(ready_of(&plan), ("False".into(), "NoSource".into()));
}

#[test]
fn datasource_ready_follows_source() {
    let snapshot = |ready: bool| {
        json!({
            "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
            "metadata": {"name": "img", "namespace": NS}, "spec": {}, "status": {"readyToUse": ready}
        })
    };
    // (DataSource source, other objects, Ready status, reason)
    let cases = [
        (
            json!({"pvc": {"namespace": NS, "name": "img"}}),
            vec![pvc("img", "Bound")],
            "True",
            "Ready",
        ),
        (
            json!({"pvc": {"namespace": NS, "name": "img"}}),
            vec![data_volume("img", Some("ImportInProgress"))],
            "False",
            "ImportInProgress",
        ),
        (
            json!({"pvc": {"namespace": NS, "name": "img"}}),
            vec![data_volume("img", Some("Succeeded"))],
            "True",
            "Ready",
        ),
        (
            json!({"pvc": {"namespace": NS, "name": "img"}}),
            vec![],
            "False",
            "NotFound",
        ),
        (
            json!({"snapshot": {"namespace": NS, "name": "img"}}),
            vec![],
            "False",
            "NotFound",
        ),
        (
            json!({"snapshot": {"namespace": NS, "name": "img"}}),
            vec![snapshot(false)],
            "False",
            "SnapshotNotReady",
        ),
        (
            json!({"snapshot": {"namespace": NS, "name": "img"}}),
            vec![snapshot(true)],
            "True",
            "Ready",
        ),
        (json!({}), vec![], "False", "NoSource"),
    ];
    for (source, others, status, reason) in cases {
        let mut ds = data_source("fedora", Some("cron"));
        ds["spec"]["source"] = source.clone();
        let mut objects = vec![cron("cron", "fedora"), ds, default_class()];
        objects.extend(others);
        let plan = run(objects);
        assert_eq!(ready_of(&plan), (status.into(), reason.into()), "{source}");
    }
}

// ---------- more edge cases ----------

#[test]
fn invalid_schedule_warns_without_poll() {
    let mut cron = cron("cron", "fedora");
    cron["spec"]["schedule"] = json!("61 * * * *");
    let plan = run(vec![cron, default_class()]);
    assert!(plan.polls.is_empty());
    assert!(plan
        .warnings
        .iter()
        .any(|w| w.field.as_deref() == Some("spec.schedule")));
}

#[test]
fn unreadable_next_cron_time_polls() {
    let mut cron = cron("cron", "fedora");
    cron["spec"]["schedule"] = json!("0 * * * *");
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.nextCronTime"] =
        json!("yesterday");
    let plan = run(vec![cron, default_class()]);
    assert_eq!(plan.polls.len(), 1);
}

#[test]
fn last_cron_time_becomes_execution_timestamp() {
    let mut cron = cron("cron", "fedora");
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.lastCronTime"] =
        json!("2026-01-31T11:00:00Z");
    let plan = run(vec![cron, default_class()]);
    assert_eq!(
        cron_status(&plan, "cron")["lastExecutionTimestamp"],
        json!("2026-01-31T11:00:00Z")
    );
}

#[test]
fn long_datasource_name_import_shortened() {
    let data_source = "d".repeat(250);
    let plan = run(vec![
        with_digest(cron("cron", &data_source), DIGEST_A),
        default_class(),
    ]);
    let created = plan
        .actions
        .iter()
        .find(|a| a.action == ActionKind::Create && a.object.kind == "DataVolume")
        .map(|a| a.object.name.clone())
        .unwrap_or_default();
    assert_eq!(created.len(), 253);
    assert!(created.ends_with("-aaaaaaaaaaaa"));
}

#[test]
fn snapshot_not_taken_on_old_class() {
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.storageClass"] =
        json!("standard");
    let mut claim = pvc("fedora-aaaaaaaaaaaa", "Bound");
    claim["spec"]["storageClassName"] = json!("older");
    let plan = run(vec![
        cron,
        data_volume("fedora-aaaaaaaaaaaa", Some("Succeeded")),
        claim,
        default_class(),
        storage_profile("standard", Some("snapshot"), json!({})),
    ]);
    assert!(!any_create(&plan, "VolumeSnapshot"));
}

#[test]
fn snapshot_of_other_class_deleted() {
    let mut cron = with_current(
        with_digest(cron("cron", "fedora"), DIGEST_A),
        "fedora-aaaaaaaaaaaa",
        DIGEST_A,
    );
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.storageClass"] =
        json!("standard");
    let snapshot = json!({
        "apiVersion": "snapshot.storage.k8s.io/v1", "kind": "VolumeSnapshot",
        "metadata": {"name": "fedora-aaaaaaaaaaaa", "namespace": NS, "labels": {CRON_LABEL: "cron"}},
        "spec": {"volumeSnapshotClassName": "old-snap"}, "status": {"readyToUse": true}
    });
    let profile = storage_profile(
        "standard",
        Some("snapshot"),
        json!({"cdi.kubevirt.io/snapshotClassForDataImportCron": "new-snap"}),
    );
    let plan = run(vec![cron, snapshot, default_class(), profile]);
    assert!(deleted(&plan, "VolumeSnapshot", "fedora-aaaaaaaaaaaa"));
}

#[test]
fn image_stream_poll_listed() {
    let tags =
        json!([{"tag": "t", "items": [{"image": DIGEST_A, "dockerImageReference": "reg/img@x"}]}]);
    let plan = run(vec![
        image_stream_cron("is:t"),
        image_stream(tags),
        default_class(),
    ]);
    let expected = PollSource::ImageStream {
        namespace: NS.into(),
        name: "is".into(),
        tag: Some("t".into()),
    };
    assert_eq!(plan.polls.first().map(|p| p.source.clone()), Some(expected));
    assert_eq!(
        cron_annotations(&plan, "cron")["cdi.kubevirt.io/storage.import.lastCronTime"],
        json!(NOW)
    );
}

#[test]
fn image_stream_cron_converges() {
    let tags =
        json!([{"tag": "t", "items": [{"image": DIGEST_A, "dockerImageReference": "reg/img@x"}]}]);
    let (objects, rounds) = converge(
        vec![
            image_stream_cron("is:t"),
            image_stream(tags),
            default_class(),
        ],
        6,
    );
    assert!(rounds <= 4, "took {rounds} rounds");
    assert!(objects
        .iter()
        .any(|o| o["kind"] == "DataVolume" && o["metadata"]["name"] == "fedora-aaaaaaaaaaaa"));
}

#[test]
fn stage_name_serialises_lower_case() {
    assert_eq!(
        serde_json::to_value(Stage::Imports).unwrap_or_default(),
        json!("imports")
    );
}

// ---------- multi-step simulation ----------

/// Sets the cron's digest, then plans and applies at `now` until nothing
/// is left to do, with the cluster finishing every import at once: a new
/// DataVolume succeeds and gets a Bound PVC, and deleting a DataVolume
/// deletes its PVC.
fn settle(objects: &mut Vec<Value>, digest: &str, now: &str) {
    for object in objects.iter_mut().filter(|o| o["kind"] == "DataImportCron") {
        object["metadata"]["annotations"][DIGEST_ANN] = json!(digest);
    }
    for _ in 0..8 {
        let plan = run_at(objects.clone(), now);
        if plan.actions.is_empty() {
            return;
        }
        apply_actions(objects, &plan.actions);
        let deleted_volumes: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.action == ActionKind::Delete && a.object.kind == "DataVolume")
            .map(|a| a.object.name.clone())
            .collect();
        objects.retain(|o| {
            let name = o["metadata"]["name"].as_str().unwrap_or("");
            !(o["kind"] == "PersistentVolumeClaim" && deleted_volumes.iter().any(|d| d == name))
        });
        let mut new_claims = Vec::new();
        for volume in objects
            .iter_mut()
            .filter(|o| o["kind"] == "DataVolume" && o.get("status").is_none())
        {
            volume["status"] = json!({"phase": "Succeeded"});
            let mut claim = pvc(volume["metadata"]["name"].as_str().unwrap_or(""), "Bound");
            claim["metadata"]["labels"] = volume["metadata"]["labels"].clone();
            claim["metadata"]["annotations"] = volume["metadata"]["annotations"].clone();
            new_claims.push(claim);
        }
        for claim in new_claims {
            let exists = objects.iter().any(|o| {
                o["kind"] == "PersistentVolumeClaim"
                    && o["metadata"]["name"] == claim["metadata"]["name"]
            });
            if !exists {
                objects.push(claim);
            }
        }
    }
    panic!("no fixed point at {now}");
}

fn claim_names(objects: &[Value]) -> Vec<String> {
    objects
        .iter()
        .filter(|o| o["kind"] == "PersistentVolumeClaim")
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect()
}

#[test]
fn gc_worked_example_least_recently_used() {
    let digest = |d: char| format!("sha256:{}", d.to_string().repeat(64));
    let mut cron = cron("cron", "fedora");
    cron["spec"]["importsToKeep"] = json!(2);
    let mut objects = vec![cron, default_class()];
    let steps = [
        ('0', "2026-01-31T12:01:00Z"),
        ('1', "2026-01-31T12:02:00Z"),
        ('0', "2026-01-31T12:03:00Z"),
        ('2', "2026-01-31T12:04:00Z"),
    ];
    for (d, now) in steps {
        settle(&mut objects, &digest(d), now);
    }
    let mut names = claim_names(&objects);
    names.sort();
    assert_eq!(names, vec!["fedora-000000000000", "fedora-222222222222"]);

    settle(&mut objects, &digest('0'), "2026-01-31T12:05:00Z");
    settle(&mut objects, &digest('1'), "2026-01-31T12:06:00Z");
    let mut names = claim_names(&objects);
    names.sort();
    assert_eq!(names, vec!["fedora-000000000000", "fedora-111111111111"]);
}

#[test]
fn datasource_follows_each_digest() {
    let digest = |d: char| format!("sha256:{}", d.to_string().repeat(64));
    let mut objects = vec![cron("cron", "fedora"), default_class()];
    settle(&mut objects, &digest('a'), "2026-01-31T12:01:00Z");
    settle(&mut objects, &digest('b'), "2026-01-31T12:02:00Z");
    let ds = objects
        .iter()
        .find(|o| o["kind"] == "DataSource")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        ds["spec"]["source"]["pvc"]["name"],
        json!("fedora-bbbbbbbbbbbb")
    );
    assert_eq!(
        condition(&ds["status"], "Ready"),
        ("True".into(), "Ready".into())
    );
    let cron = objects
        .iter()
        .find(|o| o["kind"] == "DataImportCron")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        condition(&cron["status"], "UpToDate"),
        ("True".into(), "UpToDate".into())
    );
}
