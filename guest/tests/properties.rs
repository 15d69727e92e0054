//! Properties of the imports stage on random snapshots: random crons with
//! random digests, DataVolumes in random phases, PVCs with random
//! `lastUseTime` stamps and labels, and DataSources pointing anywhere.

use bootsource_guest::apply::apply_actions;
use bootsource_guest::contract::{plan, PlanRequest, Stage};
use bootsource_guest::imports::naming;
use bootsource_guest::plan::{ActionKind, Plan};
use proptest::prelude::*;
use serde_json::{json, Value};

const NOW: &str = "2026-01-31T12:00:00Z";
const NS: &str = "os-images";
const CRON_LABEL: &str = "cdi.kubevirt.io/dataImportCron";
const DIGEST_ANNOTATION: &str = "cdi.kubevirt.io/storage.import.sourceDesiredDigest";
const LAST_USE: &str = "cdi.kubevirt.io/storage.import.lastUseTime";
/// Plans after which a settled snapshot must have no actions left.
const MAX_ROUNDS: usize = 4;
const PHASES: &[&str] = &["Succeeded", "ImportInProgress", "ImportScheduled", ""];

/// One random import of a cron: the digest it imports, the DataVolume's
/// phase (None for no DataVolume), whether a PVC exists, its stamp in
/// minutes before now, and whether it carries the cron label.
#[derive(Debug, Clone)]
struct ImportSpec {
    digest: usize,
    phase: Option<usize>,
    pvc: bool,
    stamp_minutes: Option<u32>,
    labelled: bool,
}

#[derive(Debug, Clone)]
struct CronSpec {
    desired: Option<usize>,
    current: Option<usize>,
    keep: Option<i64>,
    imports: Vec<ImportSpec>,
    data_source: Option<usize>,
}

fn digest(index: usize) -> String {
    format!("sha256:{:0>12}{}", format!("{index:x}abc"), "0".repeat(52))
}

fn import_spec() -> impl Strategy<Value = ImportSpec> {
    (
        0..4usize,
        proptest::option::of(0..PHASES.len()),
        any::<bool>(),
        proptest::option::of(0..10_000u32),
        prop::bool::weighted(0.8),
    )
        .prop_map(|(digest, phase, pvc, stamp_minutes, labelled)| ImportSpec {
            digest,
            phase,
            pvc,
            stamp_minutes,
            labelled,
        })
}

fn cron_spec() -> impl Strategy<Value = CronSpec> {
    (
        proptest::option::of(0..4usize),
        proptest::option::of(0..4usize),
        proptest::option::of(0..4i64),
        prop::collection::vec(import_spec(), 0..5),
        proptest::option::of(0..4usize),
    )
        .prop_map(|(desired, current, keep, imports, data_source)| CronSpec {
            desired,
            current,
            keep,
            imports,
            data_source,
        })
}

fn snapshot() -> impl Strategy<Value = Vec<Value>> {
    prop::collection::vec(cron_spec(), 1..3).prop_map(|crons| build(&crons))
}

fn build(crons: &[CronSpec]) -> Vec<Value> {
    let mut objects = vec![json!({
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass",
        "metadata": {"name": "standard", "uid": "sc",
            "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}},
        "provisioner": "example.io",
    })];
    for (c, spec) in crons.iter().enumerate() {
        let cron = format!("cron-{c}");
        let ds = format!("ds-{c}");
        let import_name =
            |d: usize| naming::import_name(&ds, &digest(d)).unwrap_or_else(|_| "bad".into());
        let mut annotations = serde_json::Map::new();
        if let Some(d) = spec.desired {
            annotations.insert(DIGEST_ANNOTATION.into(), json!(digest(d)));
        }
        let mut status = json!({});
        if let Some(d) = spec.current {
            status = json!({"currentImports": [
                {"DataVolumeName": import_name(d), "Digest": digest(d)}]});
        }
        let mut cron_spec = json!({
            "managedDataSource": ds,
            "schedule": "",
            "template": {"spec": {
                "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}},
                "storage": {"resources": {"requests": {"storage": "5Gi"}}},
            }},
        });
        if let Some(keep) = spec.keep {
            cron_spec["importsToKeep"] = json!(keep);
        }
        objects.push(json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataImportCron",
            "metadata": {"name": cron, "namespace": NS, "uid": format!("uid-{cron}"),
                "resourceVersion": "1", "annotations": annotations},
            "spec": cron_spec,
            "status": status,
        }));
        let mut seen = std::collections::BTreeSet::new();
        for (i, import) in spec.imports.iter().enumerate() {
            let name = import_name(import.digest);
            if !seen.insert(name.clone()) {
                continue;
            }
            let mut labels = serde_json::Map::new();
            if import.labelled {
                labels.insert(CRON_LABEL.into(), json!(cron));
            }
            let mut annotations = serde_json::Map::new();
            if let Some(minutes) = import.stamp_minutes {
                let stamp = chrono::DateTime::parse_from_rfc3339(NOW).unwrap()
                    - chrono::Duration::minutes(i64::from(minutes));
                annotations.insert(
                    LAST_USE.into(),
                    json!(stamp.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
                );
            }
            if let Some(phase) = import.phase {
                objects.push(json!({
                    "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataVolume",
                    "metadata": {"name": name, "namespace": NS, "uid": format!("dv-{c}-{i}"),
                        "resourceVersion": "1", "labels": labels, "annotations": annotations},
                    "spec": {"source": {"registry": {"url": "docker://x@sha256:0"}}},
                    "status": {"phase": PHASES[phase]},
                }));
            }
            let finished = import.phase.is_none_or(|p| PHASES[p] == "Succeeded");
            if import.pvc && finished {
                objects.push(pvc(&name, labels, annotations, &format!("pvc-{c}-{i}")));
            }
        }
        if let Some(d) = spec.data_source {
            objects.push(json!({
                "apiVersion": "cdi.kubevirt.io/v1beta1", "kind": "DataSource",
                "metadata": {"name": ds, "namespace": NS, "uid": format!("uid-{ds}"),
                    "labels": {CRON_LABEL: cron}},
                "spec": {"source": {"pvc": {"name": import_name(d), "namespace": NS}}},
            }));
        }
    }
    objects
}

fn pvc(
    name: &str,
    labels: serde_json::Map<String, Value>,
    annotations: serde_json::Map<String, Value>,
    uid: &str,
) -> Value {
    json!({
        "apiVersion": "v1", "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": NS, "uid": uid, "resourceVersion": "1",
            "labels": labels, "annotations": annotations},
        "spec": {"resources": {"requests": {"storage": "5Gi"}}, "storageClassName": "standard"},
        "status": {"phase": "Bound"},
    })
}

fn plan_imports(objects: &[Value]) -> Plan {
    let request = PlanRequest {
        now: Some(NOW.into()),
        stages: Some(vec![Stage::Imports]),
        objects: objects.to_vec(),
        ..PlanRequest::default()
    };
    plan(&request).expect("random snapshots are valid input")
}

/// Finishes every import as the cluster would: each DataVolume succeeds
/// and gets a bound PVC with its labels and stamp.
fn finish_imports(objects: &mut Vec<Value>) {
    let mut created = Vec::new();
    for object in objects.iter_mut() {
        if object["kind"] != "DataVolume" {
            continue;
        }
        object["status"] = json!({"phase": "Succeeded"});
        let name = object["metadata"]["name"]
            .as_str()
            .unwrap_or("")
            .to_string();
        created.push((name, object["metadata"].clone()));
    }
    for (name, metadata) in created {
        let exists = objects
            .iter()
            .any(|o| o["kind"] == "PersistentVolumeClaim" && o["metadata"]["name"] == name);
        if !exists {
            let labels = metadata["labels"].as_object().cloned().unwrap_or_default();
            let annotations = metadata["annotations"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            objects.push(pvc(&name, labels, annotations, &format!("new-{name}")));
        }
    }
}

/// Applies a plan and deletes the PVC of each deleted DataVolume, as the
/// owner reference on the PVC makes the cluster do.
fn apply_with_cascade(objects: &mut Vec<Value>, plan: &Plan) {
    apply_actions(objects, &plan.actions);
    let volumes: Vec<String> = objects
        .iter()
        .filter(|o| o["kind"] == "DataVolume")
        .filter_map(|o| o["metadata"]["name"].as_str().map(str::to_string))
        .collect();
    let deleted: Vec<String> = deleted_names(plan)
        .into_iter()
        .filter(|(kind, name)| kind == "DataVolume" && !volumes.contains(name))
        .map(|(_, name)| name)
        .collect();
    objects.retain(|o| {
        o["kind"] != "PersistentVolumeClaim"
            || !deleted
                .iter()
                .any(|name| o["metadata"]["name"] == name.as_str())
    });
}

fn deleted_names(plan: &Plan) -> Vec<(String, String)> {
    plan.actions
        .iter()
        .filter(|a| a.action == ActionKind::Delete)
        .map(|a| (a.object.kind.clone(), a.object.name.clone()))
        .collect()
}

fn find<'o>(objects: &'o [Value], kind: &str, name: &str) -> Option<&'o Value> {
    objects
        .iter()
        .find(|o| o["kind"] == kind && o["metadata"]["name"] == name)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    /// With the digests fixed and every import finished between rounds,
    /// planning, applying and planning again at the same time reaches a
    /// plan with no actions within a few rounds.
    #[test]
    fn settled_snapshot_needs_no_more_actions(objects in snapshot()) {
        let mut objects = objects;
        let mut last = Vec::new();
        for _ in 0..MAX_ROUNDS {
            finish_imports(&mut objects);
            let plan = plan_imports(&objects);
            last = plan.actions.clone();
            if last.is_empty() {
                break;
            }
            apply_with_cascade(&mut objects, &plan);
        }
        prop_assert!(last.is_empty(), "actions left after {MAX_ROUNDS} rounds: {last:#?}");
    }

    /// Garbage collection never deletes the DataSource's source, an import
    /// still in progress, or an object without the cron label.
    #[test]
    fn collection_spares_protected_objects(objects in snapshot()) {
        let plan = plan_imports(&objects);
        for (kind, name) in deleted_names(&plan) {
            let object = find(&objects, &kind, &name);
            prop_assert!(object.is_some(), "deleted {kind} {name} is not in the snapshot");
            let object = object.unwrap();
            let label = object["metadata"]["labels"][CRON_LABEL].as_str().unwrap_or("");
            prop_assert!(!label.is_empty(), "deleted {kind} {name} has no cron label");
            let sources: Vec<&str> = objects
                .iter()
                .filter(|o| o["kind"] == "DataSource")
                .filter_map(|o| o["spec"]["source"]["pvc"]["name"].as_str())
                .collect();
            prop_assert!(!sources.contains(&name.as_str()), "deleted {kind} {name} is a DataSource's source");
            if kind == "DataVolume" {
                prop_assert_eq!(object["status"]["phase"].as_str(), Some("Succeeded"),
                    "deleted DataVolume {} is still importing", name);
            }
        }
    }

    /// The plan does not depend on the order of the input objects.
    #[test]
    fn shuffled_input_gives_same_plan(
        (objects, order) in snapshot().prop_flat_map(|objects| {
            let indices: Vec<usize> = (0..objects.len()).collect();
            (Just(objects), Just(indices).prop_shuffle())
        })
    ) {
        let shuffled: Vec<Value> = order.iter().map(|&i| objects[i].clone()).collect();
        prop_assert_eq!(plan_imports(&objects), plan_imports(&shuffled));
    }
}
