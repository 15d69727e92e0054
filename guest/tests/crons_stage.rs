//! Tests of the crons stage: SSP templates to DataImportCrons and DataSource
//! auto-update, checked on the actions and on the cluster state they leave.

use std::collections::BTreeSet;

use bootsource_guest::contract::{PlanRequest, Stage};
use bootsource_guest::crons::owner::Owner;
use bootsource_guest::crons::{self, CronsInput, StageOutput};
use bootsource_guest::model::dict::DataImportCronTemplate;
use bootsource_guest::plan::{Action, ActionKind, MERGE_PATCH};
use bootsource_guest::snapshot::Snapshot;
use serde_json::{json, Value};

mod support;

const OS_IMAGES: &str = "kubevirt-os-images";
const SSP_NAMESPACE: &str = "kubevirt-hyperconverged";
const SSP_NAME: &str = "ssp-kubevirt-hyperconverged";
const CRON_LABEL: &str = "cdi.kubevirt.io/dataImportCron";
const ARCH_ANNOTATION: &str = "ssp.kubevirt.io/dict.architectures";

// ---------------------------------------------------------------------------
// Fixtures
// ---------------------------------------------------------------------------

fn owner() -> Owner {
    Owner {
        api_version: "ssp.kubevirt.io/v1beta3".into(),
        namespace: SSP_NAMESPACE.into(),
        name: SSP_NAME.into(),
        ..Owner::default()
    }
}

fn owner_annotations() -> Value {
    json!({
        "operator-sdk/primary-resource": format!("{SSP_NAMESPACE}/{SSP_NAME}"),
        "operator-sdk/primary-resource-type": "SSP.ssp.kubevirt.io",
    })
}

fn cron_spec(data_source: &str, storage: &str) -> Value {
    json!({
        "template": {"spec": {
            "source": {"registry": {"url": "docker://quay.io/containerdisks/centos-stream:9"}},
            "storage": {"resources": {"requests": {"storage": storage}}},
        }},
        "schedule": "55 8/12 * * *",
        "managedDataSource": data_source,
    })
}

/// Builds a template `name` that manages DataSource `data_source`, in
/// `namespace` when set.
fn template(name: &str, namespace: Option<&str>, data_source: &str) -> Value {
    let mut metadata = json!({"name": name});
    if let Some(ns) = namespace {
        metadata["namespace"] = json!(ns);
    }
    json!({"metadata": metadata, "spec": cron_spec(data_source, "30Gi")})
}

fn parse_templates(templates: &[Value]) -> Vec<DataImportCronTemplate> {
    serde_json::from_value(Value::Array(templates.to_vec())).expect("test templates parse")
}

fn pvc(namespace: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {"name": name, "namespace": namespace, "uid": format!("uid-pvc-{name}")},
    })
}

/// Builds a DataSource in the golden-image namespace. `label` is the value
/// of the cron label, or `None` for no label.
fn data_source(name: &str, label: Option<&str>, source: Value) -> Value {
    let mut value = json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataSource",
        "metadata": {"name": name, "namespace": OS_IMAGES, "uid": format!("uid-ds-{name}"),
                     "resourceVersion": "10"},
        "spec": {"source": source},
    });
    if let Some(label) = label {
        value["metadata"]["labels"] = json!({ CRON_LABEL: label });
    }
    value
}

fn golden_source(name: &str) -> Value {
    json!({"pvc": {"name": name, "namespace": OS_IMAGES}})
}

/// Builds a live cron as SSP creates it from `template(name, .., ds)`,
/// owned by the test SSP CR when `owned`.
fn live_cron(namespace: &str, name: &str, data_source: &str, owned: bool) -> Value {
    let annotations = if owned {
        owner_annotations()
    } else {
        json!({})
    };
    json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataImportCron",
        "metadata": {
            "name": name, "namespace": namespace,
            "uid": format!("uid-cron-{name}"), "resourceVersion": "7",
            "labels": {
                "app.kubernetes.io/name": "data-sources",
                "app.kubernetes.io/component": "templating",
                "app.kubernetes.io/managed-by": "ssp-operator",
            },
            "annotations": annotations,
        },
        "spec": cron_spec(data_source, "30Gi"),
    })
}

fn collection(names: &[&str]) -> BTreeSet<String> {
    names.iter().map(|n| n.to_string()).collect()
}

/// Runs the crons stage with the test SSP CR as owner.
fn run_stage(templates: &[Value], objects: &[Value], names: &BTreeSet<String>) -> StageOutput {
    run_with_owner(templates, objects, names, &owner(), false)
}

fn run_with_owner(
    templates: &[Value],
    objects: &[Value],
    names: &BTreeSet<String>,
    owner: &Owner,
    multi_arch: bool,
) -> StageOutput {
    run_multi_arch(templates, objects, names, owner, multi_arch, &[])
}

fn run_multi_arch(
    templates: &[Value],
    objects: &[Value],
    names: &BTreeSet<String>,
    owner: &Owner,
    multi_arch: bool,
    architectures: &[&str],
) -> StageOutput {
    let architectures: Vec<String> = architectures.iter().map(|a| a.to_string()).collect();
    let templates = parse_templates(templates);
    let snapshot = Snapshot::from_objects(objects).expect("test objects are valid");
    let input = CronsInput {
        templates: &templates,
        owner,
        multi_arch,
        architectures: &architectures,
        os_images_namespace: OS_IMAGES,
        data_source_names: names,
    };
    crons::run(&snapshot, &input).expect("crons stage succeeds")
}

fn find<'a>(actions: &'a [Action], kind: &str, namespace: &str, name: &str) -> Vec<&'a Action> {
    actions
        .iter()
        .filter(|a| {
            a.object.kind == kind
                && a.object.namespace.as_deref() == Some(namespace)
                && a.object.name == name
        })
        .collect()
}

fn kinds(actions: &[&Action]) -> Vec<ActionKind> {
    actions.iter().map(|a| a.action).collect()
}

// ---------------------------------------------------------------------------
// A small in-memory cluster that applies plans
// ---------------------------------------------------------------------------

/// RFC 7386 JSON merge patch.
fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(fields) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = json!({});
    }
    let Value::Object(map) = target else {
        return;
    };
    for (key, value) in fields {
        if value.is_null() {
            map.remove(key);
        } else {
            merge_patch(map.entry(key.clone()).or_insert(Value::Null), value);
        }
    }
}

fn same_object(value: &Value, action: &Action) -> bool {
    value["kind"] == json!(action.object.kind)
        && value["metadata"]["name"] == json!(action.object.name)
        && value["metadata"]["namespace"].as_str() == action.object.namespace.as_deref()
}

/// Applies `actions` to `objects` as an API server would, panicking on a
/// create of an existing object, a patch or delete of a missing one, and a
/// delete whose preconditions fail.
fn apply(objects: &mut Vec<Value>, actions: &[Action]) {
    for (step, action) in actions.iter().enumerate() {
        let position = objects.iter().position(|o| same_object(o, action));
        match action.action {
            ActionKind::Create => {
                assert!(position.is_none(), "create of existing {}", action.object);
                let mut body = action.body.clone().expect("create has a body");
                body["metadata"]["uid"] = json!(format!("uid-created-{step}"));
                body["metadata"]["resourceVersion"] = json!("1");
                objects.push(body);
            }
            ActionKind::Apply => {
                let body = action.body.clone().expect("apply has a body");
                match position {
                    Some(i) => merge_patch(&mut objects[i], &body),
                    None => objects.push(body),
                }
            }
            ActionKind::Patch => {
                assert_eq!(action.patch_type.as_deref(), Some(MERGE_PATCH));
                let i = position.unwrap_or_else(|| panic!("patch of missing {}", action.object));
                merge_patch(&mut objects[i], action.patch.as_ref().expect("patch"));
            }
            ActionKind::Delete => {
                let i = position.unwrap_or_else(|| panic!("delete of missing {}", action.object));
                let pre = action
                    .preconditions
                    .as_ref()
                    .expect("delete has preconditions");
                let meta = &objects[i]["metadata"];
                assert_eq!(meta["uid"].as_str(), pre.uid.as_deref(), "uid precondition");
                assert_eq!(
                    meta["resourceVersion"].as_str(),
                    pre.resource_version.as_deref(),
                    "resourceVersion precondition"
                );
                objects.remove(i);
            }
        }
    }
}

/// Plans, applies, and returns the objects after the plan.
fn reconcile(templates: &[Value], objects: &[Value], names: &BTreeSet<String>) -> Vec<Value> {
    let mut cluster = objects.to_vec();
    let output = run_stage(templates, &cluster, names);
    apply(&mut cluster, &output.actions);
    cluster
}

fn get<'a>(objects: &'a [Value], kind: &str, namespace: &str, name: &str) -> Option<&'a Value> {
    objects.iter().find(|o| {
        o["kind"] == json!(kind)
            && o["metadata"]["namespace"] == json!(namespace)
            && o["metadata"]["name"] == json!(name)
    })
}

fn label<'a>(object: &'a Value, key: &str) -> Option<&'a str> {
    object["metadata"]["labels"][key].as_str()
}

fn remove_label(objects: &mut [Value], kind: &str, name: &str, key: &str) {
    for object in objects.iter_mut() {
        if object["kind"] == json!(kind) && object["metadata"]["name"] == json!(name) {
            if let Some(labels) = object["metadata"]["labels"].as_object_mut() {
                labels.remove(key);
            }
        }
    }
}

fn set_label(objects: &mut [Value], kind: &str, name: &str, key: &str, value: &str) {
    for object in objects.iter_mut() {
        if object["kind"] == json!(kind) && object["metadata"]["name"] == json!(name) {
            object["metadata"]["labels"][key] = json!(value);
        }
    }
}

// ---------------------------------------------------------------------------
// Cron creation
// ---------------------------------------------------------------------------

#[test]
fn cron_created_in_golden_namespace() {
    let templates = [template("centos8", None, "centos8")];
    let output = run_stage(&templates, &[], &collection(&["centos8"]));

    let cron = find(&output.actions, "DataImportCron", OS_IMAGES, "centos8");
    assert_eq!(kinds(&cron), vec![ActionKind::Create]);
    let body = cron[0].body.as_ref().expect("body");
    assert_eq!(body["spec"], cron_spec("centos8", "30Gi"));
    assert_eq!(body["metadata"]["annotations"], owner_annotations());
    assert_eq!(label(body, "app.kubernetes.io/name"), Some("data-sources"));
    assert_eq!(
        label(body, "app.kubernetes.io/component"),
        Some("templating")
    );
    assert_eq!(
        label(body, "app.kubernetes.io/managed-by"),
        Some("ssp-operator")
    );

    let ds = find(&output.actions, "DataSource", OS_IMAGES, "centos8");
    assert_eq!(kinds(&ds), vec![ActionKind::Create]);
    assert_eq!(
        label(ds[0].body.as_ref().expect("body"), CRON_LABEL),
        Some("centos8")
    );
}

#[test]
fn new_auto_update_datasource_has_empty_source() {
    let templates = [template("centos8", None, "centos8")];
    let output = run_stage(&templates, &[], &collection(&["centos8"]));
    let ds = find(&output.actions, "DataSource", OS_IMAGES, "centos8");
    let body = ds[0].body.as_ref().expect("body");
    assert_eq!(body["spec"]["source"], json!({}));
    assert_eq!(body["metadata"]["annotations"], owner_annotations());
}

#[test]
fn cron_labels_copy_template_and_ssp() {
    let mut t = template("centos8", None, "centos8");
    t["metadata"]["labels"] = json!({"instancetype.kubevirt.io/default-preference": "centos"});
    t["metadata"]["annotations"] = json!({
        "cdi.kubevirt.io/storage.bind.immediate.requested": "true",
        ARCH_ANNOTATION: "amd64,arm64",
    });
    let ssp = Owner {
        labels: [
            ("app.kubernetes.io/part-of", "hyperconverged-cluster"),
            ("app.kubernetes.io/version", "1.14.0"),
            ("unrelated", "x"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect(),
        ..owner()
    };
    let output = run_with_owner(&[t], &[], &collection(&[]), &ssp, false);
    let cron = find(&output.actions, "DataImportCron", OS_IMAGES, "centos8");
    let body = cron[0].body.as_ref().expect("body");
    let annotations = &body["metadata"]["annotations"];

    assert_eq!(
        label(body, "instancetype.kubevirt.io/default-preference"),
        Some("centos")
    );
    assert_eq!(
        label(body, "app.kubernetes.io/part-of"),
        Some("hyperconverged-cluster")
    );
    assert_eq!(label(body, "app.kubernetes.io/version"), Some("1.14.0"));
    assert_eq!(label(body, "unrelated"), None);
    assert_eq!(
        annotations["cdi.kubevirt.io/storage.bind.immediate.requested"],
        "true"
    );
    assert!(annotations.get(ARCH_ANNOTATION).is_none());
}

#[test]
fn cron_created_in_template_namespace() {
    let templates = [template("centos8", Some("other-namespace"), "centos8")];
    let output = run_stage(&templates, &[], &collection(&["centos8"]));

    let cron = find(
        &output.actions,
        "DataImportCron",
        "other-namespace",
        "centos8",
    );
    assert_eq!(kinds(&cron), vec![ActionKind::Create]);
    assert!(find(&output.actions, "DataImportCron", OS_IMAGES, "centos8").is_empty());
    // The key of the decision is (DataSource, cron namespace), so the
    // golden-image DataSource of the same name stays on its golden PVC.
    let ds = find(&output.actions, "DataSource", OS_IMAGES, "centos8");
    let body = ds[0].body.as_ref().expect("body");
    assert_eq!(label(body, CRON_LABEL), None);
    assert_eq!(body["spec"]["source"], golden_source("centos8"));
}

#[test]
fn removed_template_deletes_cron_in_other_namespace() {
    let objects = [live_cron("other-namespace", "centos8", "centos8", true)];
    let output = run_stage(&[], &objects, &collection(&[]));
    let cron = find(
        &output.actions,
        "DataImportCron",
        "other-namespace",
        "centos8",
    );
    assert_eq!(kinds(&cron), vec![ActionKind::Delete]);
    let pre = cron[0].preconditions.as_ref().expect("preconditions");
    assert_eq!(pre.uid.as_deref(), Some("uid-cron-centos8"));
    assert_eq!(pre.resource_version.as_deref(), Some("7"));
}

#[test]
fn datasource_outside_collection_always_gets_cron() {
    let templates = [template("my-image-cron", None, "my-image")];
    let objects = [pvc(OS_IMAGES, "my-image")];
    let output = run_stage(&templates, &objects, &collection(&["centos8"]));
    let cron = find(
        &output.actions,
        "DataImportCron",
        OS_IMAGES,
        "my-image-cron",
    );
    assert_eq!(kinds(&cron), vec![ActionKind::Create]);
    assert!(find(&output.actions, "DataSource", OS_IMAGES, "my-image").is_empty());
}

// ---------------------------------------------------------------------------
// Golden PVC and label opt-in
// ---------------------------------------------------------------------------

#[test]
fn golden_pvc_blocks_cron_without_label() {
    let templates = [template("centos8", None, "centos8")];
    let objects = [
        pvc(OS_IMAGES, "centos8"),
        data_source("centos8", None, golden_source("centos8")),
    ];
    let output = run_stage(&templates, &objects, &collection(&["centos8"]));
    assert!(find(&output.actions, "DataImportCron", OS_IMAGES, "centos8").is_empty());
}

#[test]
fn any_label_value_opts_in() {
    for value in ["", "test-value", "false", "true"] {
        let templates = [template("centos8-image-cron", None, "centos8")];
        let objects = [
            pvc(OS_IMAGES, "centos8"),
            data_source("centos8", Some(value), golden_source("centos8")),
        ];
        let output = run_stage(&templates, &objects, &collection(&["centos8"]));
        let cron = find(
            &output.actions,
            "DataImportCron",
            OS_IMAGES,
            "centos8-image-cron",
        );
        assert_eq!(
            kinds(&cron),
            vec![ActionKind::Create],
            "label value {value:?}"
        );
        let ds = find(&output.actions, "DataSource", OS_IMAGES, "centos8");
        assert_eq!(
            ds[0].patch,
            Some(json!({"metadata": {"labels": {CRON_LABEL: "centos8-image-cron"}}})),
            "label value {value:?}"
        );
    }
}

#[test]
fn auto_update_leaves_datasource_spec_alone() {
    let templates = [template("centos8", None, "centos8")];
    for source in [
        json!({"pvc": {"name": "centos8-0123456789ab", "namespace": OS_IMAGES}}),
        json!({"snapshot": {"name": "centos8-0123456789ab", "namespace": OS_IMAGES}}),
    ] {
        let objects = [
            live_cron(OS_IMAGES, "centos8", "centos8", true),
            data_source("centos8", Some("centos8"), source.clone()),
        ];
        let output = run_stage(&templates, &objects, &collection(&["centos8"]));
        assert_eq!(output.actions, vec![], "source {source}");
    }
}

/// One row of the auto-update table: the situation, then the state that a
/// reconcile leaves.
struct AutoUpdateRow {
    situation: &'static str,
    template: bool,
    /// `None`: no DataSource; `Some(None)`: a DataSource without the label.
    data_source: Option<Option<&'static str>>,
    golden_pvc: bool,
    cron_before: bool,
    cron_after: bool,
    label_after: Option<&'static str>,
    golden_spec_after: bool,
}

#[test]
fn auto_update_decision_table() {
    let cron = "centos8-image-cron";
    let rows = [
        AutoUpdateRow {
            situation: "no template; user-added label",
            template: false,
            data_source: Some(Some("user-value")),
            golden_pvc: false,
            cron_before: false,
            cron_after: false,
            label_after: None,
            golden_spec_after: true,
        },
        AutoUpdateRow {
            situation: "template; no DataSource; no golden PVC",
            template: true,
            data_source: None,
            golden_pvc: false,
            cron_before: false,
            cron_after: true,
            label_after: Some(cron),
            golden_spec_after: false,
        },
        AutoUpdateRow {
            situation: "template; no DataSource; golden PVC",
            template: true,
            data_source: None,
            golden_pvc: true,
            cron_before: false,
            cron_after: false,
            label_after: None,
            golden_spec_after: true,
        },
        AutoUpdateRow {
            situation: "template; DataSource with empty label; golden PVC",
            template: true,
            data_source: Some(Some("")),
            golden_pvc: true,
            cron_before: false,
            cron_after: true,
            label_after: Some(cron),
            golden_spec_after: true,
        },
        AutoUpdateRow {
            situation: "template; DataSource without label; golden PVC",
            template: true,
            data_source: Some(None),
            golden_pvc: true,
            cron_before: false,
            cron_after: false,
            label_after: None,
            golden_spec_after: true,
        },
        AutoUpdateRow {
            situation: "template; DataSource without label; no golden PVC",
            template: true,
            data_source: Some(None),
            golden_pvc: false,
            cron_before: false,
            cron_after: true,
            label_after: Some(cron),
            golden_spec_after: true,
        },
        AutoUpdateRow {
            situation: "auto-update was on; label removed; golden PVC",
            template: true,
            data_source: Some(None),
            golden_pvc: true,
            cron_before: true,
            cron_after: false,
            label_after: None,
            golden_spec_after: true,
        },
    ];
    for row in rows {
        let templates: Vec<Value> = if row.template {
            vec![template(cron, None, "centos8")]
        } else {
            vec![]
        };
        let mut objects = Vec::new();
        if let Some(label) = row.data_source {
            let source = if row.cron_before {
                json!({"pvc": {"name": "centos8-0123456789ab", "namespace": OS_IMAGES}})
            } else {
                golden_source("centos8")
            };
            objects.push(data_source("centos8", label, source));
        }
        if row.golden_pvc {
            objects.push(pvc(OS_IMAGES, "centos8"));
        }
        if row.cron_before {
            objects.push(live_cron(OS_IMAGES, cron, "centos8", true));
        }

        let after = reconcile(&templates, &objects, &collection(&["centos8"]));
        let ds = get(&after, "DataSource", OS_IMAGES, "centos8").expect("DataSource exists");
        assert_eq!(
            get(&after, "DataImportCron", OS_IMAGES, cron).is_some(),
            row.cron_after,
            "cron after: {}",
            row.situation
        );
        assert_eq!(
            label(ds, CRON_LABEL),
            row.label_after,
            "label: {}",
            row.situation
        );
        assert_eq!(
            ds["spec"]["source"] == golden_source("centos8"),
            row.golden_spec_after,
            "golden spec: {}",
            row.situation
        );
    }
}

// ---------------------------------------------------------------------------
// Template removal and DataSource restore
// ---------------------------------------------------------------------------

#[test]
fn removed_template_restores_datasource() {
    let objects = [
        live_cron(OS_IMAGES, "rhel9-image-cron", "rhel9", true),
        data_source(
            "rhel9",
            Some("rhel9-image-cron"),
            json!({"pvc": {"name": "rhel9-0123456789ab", "namespace": OS_IMAGES}}),
        ),
    ];
    let output = run_stage(&[], &objects, &collection(&["rhel9"]));

    let cron = find(
        &output.actions,
        "DataImportCron",
        OS_IMAGES,
        "rhel9-image-cron",
    );
    assert_eq!(kinds(&cron), vec![ActionKind::Delete]);
    let ds = find(&output.actions, "DataSource", OS_IMAGES, "rhel9");
    assert_eq!(kinds(&ds), vec![ActionKind::Patch]);

    let mut after = objects.to_vec();
    apply(&mut after, &output.actions);
    let ds = get(&after, "DataSource", OS_IMAGES, "rhel9").expect("DataSource kept");
    assert_eq!(label(ds, CRON_LABEL), None);
    assert_eq!(label(ds, "app.kubernetes.io/name"), Some("data-sources"));
    assert_eq!(label(ds, "app.kubernetes.io/component"), Some("templating"));
    assert_eq!(
        label(ds, "app.kubernetes.io/managed-by"),
        Some("ssp-operator")
    );
    assert_eq!(ds["spec"]["source"], golden_source("rhel9"));
    assert!(get(&after, "DataImportCron", OS_IMAGES, "rhel9-image-cron").is_none());
}

#[test]
fn restore_clears_snapshot_source() {
    let objects = [data_source(
        "rhel9",
        Some("rhel9-image-cron"),
        json!({"snapshot": {"name": "rhel9-0123456789ab", "namespace": OS_IMAGES}}),
    )];
    let after = reconcile(&[], &objects, &collection(&["rhel9"]));
    let ds = get(&after, "DataSource", OS_IMAGES, "rhel9").expect("DataSource kept");
    assert_eq!(ds["spec"]["source"], golden_source("rhel9"));
}

#[test]
fn datasource_restored_before_cron_deleted() {
    let objects = [
        live_cron(OS_IMAGES, "rhel9-image-cron", "rhel9", true),
        data_source("rhel9", Some("rhel9-image-cron"), json!({})),
    ];
    let output = run_stage(&[], &objects, &collection(&["rhel9"]));
    let order: Vec<&str> = output
        .actions
        .iter()
        .map(|a| a.object.kind.as_str())
        .collect();
    assert_eq!(order, vec!["DataSource", "DataImportCron"]);
}

// ---------------------------------------------------------------------------
// Ownership
// ---------------------------------------------------------------------------

#[test]
fn unowned_cron_is_never_deleted() {
    let objects = [live_cron(OS_IMAGES, "centos8", "centos8", false)];
    let output = run_stage(&[], &objects, &collection(&[]));
    assert_eq!(output.actions, vec![]);
}

#[test]
fn cron_of_other_ssp_is_never_deleted() {
    let mut cron = live_cron(OS_IMAGES, "centos8", "centos8", true);
    cron["metadata"]["annotations"]["operator-sdk/primary-resource"] = json!("other/ssp");
    let output = run_stage(&[], &[cron], &collection(&[]));
    assert_eq!(output.actions, vec![]);
}

#[test]
fn cron_with_one_ownership_annotation_is_kept() {
    let mut cron = live_cron(OS_IMAGES, "centos8", "centos8", true);
    cron["metadata"]["annotations"]
        .as_object_mut()
        .expect("annotations")
        .remove("operator-sdk/primary-resource-type");
    let output = run_stage(&[], &[cron], &collection(&[]));
    assert_eq!(output.actions, vec![]);
}

#[test]
fn unowned_cron_at_template_name_untouched() {
    let mut cron = live_cron(OS_IMAGES, "centos8", "centos8", false);
    cron["spec"] = cron_spec("centos8", "99Gi");
    let templates = [template("centos8", None, "centos8")];
    let output = run_stage(&templates, &[cron], &collection(&[]));
    assert_eq!(output.actions, vec![]);
    assert_eq!(output.warnings.len(), 1);
    assert_eq!(
        output.warnings[0].object.as_ref().map(|o| o.name.as_str()),
        Some("centos8")
    );
}

// ---------------------------------------------------------------------------
// Spec and metadata changes
// ---------------------------------------------------------------------------

#[test]
fn spec_change_recreates_cron() {
    let mut t = template("centos8", None, "centos8");
    t["spec"] = cron_spec("centos8", "50Gi");
    let objects = [live_cron(OS_IMAGES, "centos8", "centos8", true)];
    let output = run_stage(&[t], &objects, &collection(&[]));

    let cron = find(&output.actions, "DataImportCron", OS_IMAGES, "centos8");
    assert_eq!(kinds(&cron), vec![ActionKind::Delete, ActionKind::Create]);
    let pre = cron[0].preconditions.as_ref().expect("preconditions");
    assert_eq!(pre.uid.as_deref(), Some("uid-cron-centos8"));
    assert_eq!(pre.resource_version.as_deref(), Some("7"));
    let body = cron[1].body.as_ref().expect("body");
    assert_eq!(body["spec"], cron_spec("centos8", "50Gi"));
}

#[test]
fn equal_quantity_is_no_spec_change() {
    let mut cron = live_cron(OS_IMAGES, "centos8", "centos8", true);
    cron["spec"] = cron_spec("centos8", "30720Mi");
    cron["spec"]["template"]["metadata"] = json!({"creationTimestamp": null});
    let templates = [template("centos8", None, "centos8")];
    let output = run_stage(&templates, &[cron], &collection(&[]));
    assert_eq!(output.actions, vec![]);
}

#[test]
fn metadata_difference_only_patches() {
    let mut t = template("centos8", None, "centos8");
    t["metadata"]["labels"] = json!({"app": "x"});
    let mut cron = live_cron(OS_IMAGES, "centos8", "centos8", true);
    cron["metadata"]["labels"]["cdi-added"] = json!("y");
    cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.sourceDesiredDigest"] =
        json!("sha256:aaaaaaaaaaaa");
    let objects = [cron];
    let output = run_stage(&[t], &objects, &collection(&[]));

    let actions = find(&output.actions, "DataImportCron", OS_IMAGES, "centos8");
    assert_eq!(kinds(&actions), vec![ActionKind::Patch]);
    assert_eq!(
        actions[0].patch,
        Some(json!({"metadata": {"labels": {"app": "x"}}}))
    );

    let mut after = objects.to_vec();
    apply(&mut after, &output.actions);
    let cron = get(&after, "DataImportCron", OS_IMAGES, "centos8").expect("cron kept");
    assert_eq!(label(cron, "app"), Some("x"));
    assert_eq!(label(cron, "cdi-added"), Some("y"));
    assert_eq!(
        cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.sourceDesiredDigest"],
        "sha256:aaaaaaaaaaaa"
    );
    assert_eq!(cron["metadata"]["uid"], "uid-cron-centos8");
}

#[test]
fn cron_being_deleted_is_left_alone() {
    let mut cron = live_cron(OS_IMAGES, "centos8", "centos8", true);
    cron["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
    cron["spec"] = cron_spec("centos8", "99Gi");
    let templates = [template("centos8", None, "centos8")];
    let output = run_stage(&templates, &[cron], &collection(&[]));
    assert_eq!(output.actions, vec![]);
}

// ---------------------------------------------------------------------------
// Multi-architecture
// ---------------------------------------------------------------------------

const ARCHES: [&str; 3] = ["amd64", "arm64", "s390x"];
const ARCH_LABEL: &str = "template.kubevirt.io/architecture";

fn multi_arch_stage(templates: &[Value], objects: &[Value], names: &[&str]) -> StageOutput {
    run_multi_arch(
        templates,
        objects,
        &collection(names),
        &owner(),
        true,
        &ARCHES,
    )
}

fn multi_arch_reconcile(templates: &[Value], objects: &[Value], names: &[&str]) -> Vec<Value> {
    let mut cluster = objects.to_vec();
    let output = multi_arch_stage(templates, &cluster, names);
    apply(&mut cluster, &output.actions);
    cluster
}

#[test]
fn multi_arch_cron_per_architecture() {
    let mut t = template("centos8", None, "centos8");
    t["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "amd64,arm64,s390x" });
    let cluster = multi_arch_reconcile(&[t], &[], &[]);
    for arch in ARCHES {
        let name = format!("centos8-{arch}");
        let cron = get(&cluster, "DataImportCron", OS_IMAGES, &name).expect("cron created");
        let spec = &cron["spec"];
        assert_eq!(spec["managedDataSource"], json!(name), "{arch}");
        assert_eq!(
            spec["template"]["spec"]["source"]["registry"]["platform"]["architecture"],
            json!(arch)
        );
        assert_eq!(label(cron, ARCH_LABEL), Some(arch));
        assert_eq!(
            label(cron, "cdi.kubevirt.io/storage.import.datasource-name"),
            Some("centos8")
        );
        assert!(cron["metadata"]["annotations"]
            .get(ARCH_ANNOTATION)
            .is_none());
    }
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, "centos8").is_none());
}

#[test]
fn multi_arch_skips_architectures_not_in_cluster() {
    let mut t = template("centos8", None, "centos8");
    t["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "arm64,ppc64le,bogus" });
    let output = multi_arch_stage(&[t], &[], &[]);
    let crons: Vec<&str> = output
        .actions
        .iter()
        .filter(|a| a.object.kind == "DataImportCron")
        .map(|a| a.object.name.as_str())
        .collect();
    assert_eq!(crons, vec!["centos8-arm64"]);
}

#[test]
fn multi_arch_collection_datasources() {
    let cluster = multi_arch_reconcile(&[], &[], &["fedora"]);
    for arch in ARCHES {
        let name = format!("fedora-{arch}");
        let ds = get(&cluster, "DataSource", OS_IMAGES, &name).expect("arch DataSource");
        assert_eq!(label(ds, ARCH_LABEL), Some(arch));
        assert_eq!(ds["spec"]["source"], golden_source(&name));
    }
    let reference = get(&cluster, "DataSource", OS_IMAGES, "fedora").expect("reference");
    assert_eq!(
        reference["spec"]["source"],
        json!({"dataSource": {"name": "fedora-amd64", "namespace": OS_IMAGES}})
    );
}

#[test]
fn multi_arch_plain_template_manages_default_arch() {
    let templates = [template("fedora-image-cron", None, "fedora")];
    let cluster = multi_arch_reconcile(&templates, &[], &["fedora"]);
    let cron = get(&cluster, "DataImportCron", OS_IMAGES, "fedora-image-cron").expect("cron");
    assert_eq!(cron["spec"]["managedDataSource"], "fedora-amd64");
    let ds = get(&cluster, "DataSource", OS_IMAGES, "fedora-amd64").expect("DataSource");
    assert_eq!(label(ds, CRON_LABEL), Some("fedora-image-cron"));
    let other = get(&cluster, "DataSource", OS_IMAGES, "fedora-arm64").expect("DataSource");
    assert_eq!(label(other, CRON_LABEL), None);
}

#[test]
fn multi_arch_keeps_unsuffixed_golden_pvc() {
    let templates = [template("fedora-image-cron", None, "fedora")];
    let objects = [pvc(OS_IMAGES, "fedora")];
    let cluster = multi_arch_reconcile(&templates, &objects, &["fedora"]);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "fedora-amd64").expect("DataSource");
    assert_eq!(ds["spec"]["source"], golden_source("fedora"));
    assert_eq!(label(ds, CRON_LABEL), None);
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, "fedora-image-cron").is_none());
}

#[test]
fn multi_arch_custom_datasource_gets_reference() {
    let mut t = template("my-image-cron", None, "my-image");
    t["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "s390x,arm64" });
    let cluster = multi_arch_reconcile(&[t], &[], &[]);
    let reference = get(&cluster, "DataSource", OS_IMAGES, "my-image").expect("reference");
    assert_eq!(
        reference["spec"]["source"],
        json!({"dataSource": {"name": "my-image-s390x", "namespace": OS_IMAGES}})
    );
}

#[test]
fn multi_arch_plan_converges() {
    let mut annotated = template("centos8", None, "centos8");
    annotated["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "amd64,arm64" });
    let templates = [annotated, template("fedora-image-cron", None, "fedora")];
    let cluster = multi_arch_reconcile(&templates, &[pvc(OS_IMAGES, "centos8")], &["fedora"]);
    let second = multi_arch_stage(&templates, &cluster, &["fedora"]);
    assert_eq!(second.actions, vec![]);
}

#[test]
fn multi_arch_plan_ignores_input_order() {
    let mut annotated = template("centos8", None, "centos8");
    annotated["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "amd64,arm64" });
    let templates = [annotated, template("fedora-image-cron", None, "fedora")];
    let objects = vec![
        pvc(OS_IMAGES, "fedora"),
        data_source("fedora-arm64", Some(""), json!({})),
        live_cron(OS_IMAGES, "centos8-amd64", "centos8-amd64", true),
        live_cron(OS_IMAGES, "old-image-cron", "old", true),
    ];
    let expected = multi_arch_stage(&templates, &objects, &["fedora", "rhel9"]);
    assert!(!expected.actions.is_empty());
    let mut reversed = objects.clone();
    reversed.reverse();
    assert_eq!(
        multi_arch_stage(&templates, &reversed, &["fedora", "rhel9"]),
        expected
    );
}

#[test]
fn multi_arch_off_removes_architecture_objects() {
    let mut annotated = template("centos8", None, "centos8");
    annotated["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "amd64,arm64" });
    let templates = [annotated, template("fedora-image-cron", None, "fedora")];
    let cluster = multi_arch_reconcile(&templates, &[], &["fedora"]);

    let output = run_stage(&templates, &cluster, &collection(&["fedora"]));
    let mut after = cluster.clone();
    apply(&mut after, &output.actions);
    let leftovers: Vec<&str> = after
        .iter()
        .filter(|o| label(o, ARCH_LABEL).is_some())
        .map(|o| o["metadata"]["name"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(leftovers, Vec::<&str>::new());
    let fedora = get(&after, "DataSource", OS_IMAGES, "fedora").expect("plain DataSource");
    assert_eq!(label(fedora, CRON_LABEL), Some("fedora-image-cron"));
    assert!(get(&after, "DataImportCron", OS_IMAGES, "centos8").is_some());

    let last_cron = output
        .actions
        .iter()
        .rposition(|a| a.object.kind == "DataImportCron")
        .expect("cron actions");
    let first_arch_ds_delete = output
        .actions
        .iter()
        .position(|a| a.object.kind == "DataSource" && a.action == ActionKind::Delete)
        .expect("DataSource deletes");
    assert!(last_cron < first_arch_ds_delete);
}

#[test]
fn multi_arch_without_architectures_warns() {
    let mut t = template("centos8", None, "centos8");
    t["metadata"]["annotations"] = json!({ ARCH_ANNOTATION: "amd64,arm64" });
    let output = run_with_owner(&[t], &[], &collection(&[]), &owner(), true);

    let cron = find(&output.actions, "DataImportCron", OS_IMAGES, "centos8");
    assert_eq!(kinds(&cron), vec![ActionKind::Create]);
    assert_eq!(output.warnings.len(), 1);
    assert_eq!(output.warnings[0].field.as_deref(), Some("spec.cluster"));
}

// ---------------------------------------------------------------------------
// User golden PVC and label opt-in/opt-out, step by step
// ---------------------------------------------------------------------------

#[test]
fn golden_pvc_and_label_sequence() {
    let cron = "rhel8-image-cron";
    let templates = [template(cron, None, "rhel8")];
    let names = collection(&["rhel8"]);

    // No DataSource and no golden PVC: the cron is created and the new
    // DataSource is labelled with the cron name.
    let cluster = reconcile(&templates, &[], &names);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "rhel8").expect("DataSource created");
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, cron).is_some());
    assert_eq!(label(ds, CRON_LABEL), Some(cron));

    // The user deletes the label: it is restored and auto-update stays on.
    let mut cluster = cluster;
    remove_label(&mut cluster, "DataSource", "rhel8", CRON_LABEL);
    let cluster = reconcile(&templates, &cluster, &names);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "rhel8").expect("DataSource kept");
    assert_eq!(label(ds, CRON_LABEL), Some(cron));
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, cron).is_some());

    // A golden PVC exists and the DataSource has no label: no cron, and the
    // DataSource points at the PVC.
    let start = [
        pvc(OS_IMAGES, "rhel8"),
        data_source("rhel8", None, json!({})),
    ];
    let cluster = reconcile(&templates, &start, &names);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "rhel8").expect("DataSource kept");
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, cron).is_none());
    assert_eq!(ds["spec"]["source"], golden_source("rhel8"));

    // The user adds the label with value "true": the cron is created and
    // the value is rewritten to the cron name.
    let mut cluster = cluster;
    set_label(&mut cluster, "DataSource", "rhel8", CRON_LABEL, "true");
    let cluster = reconcile(&templates, &cluster, &names);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "rhel8").expect("DataSource kept");
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, cron).is_some());
    assert_eq!(label(ds, CRON_LABEL), Some(cron));

    // The label is removed again: the cron is deleted and the DataSource
    // restored to the golden PVC.
    let mut cluster = cluster;
    remove_label(&mut cluster, "DataSource", "rhel8", CRON_LABEL);
    let pointer = json!({"pvc": {"name": "rhel8-0123456789ab", "namespace": OS_IMAGES}});
    for object in cluster.iter_mut() {
        if object["kind"] == "DataSource" {
            object["spec"]["source"] = pointer.clone();
        }
    }
    let cluster = reconcile(&templates, &cluster, &names);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "rhel8").expect("DataSource kept");
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, cron).is_none());
    assert_eq!(ds["spec"]["source"], golden_source("rhel8"));

    // The golden PVC is deleted, still without label: auto-update resumes.
    let mut cluster = cluster;
    cluster.retain(|o| o["kind"] != "PersistentVolumeClaim");
    let cluster = reconcile(&templates, &cluster, &names);
    let ds = get(&cluster, "DataSource", OS_IMAGES, "rhel8").expect("DataSource kept");
    assert!(get(&cluster, "DataImportCron", OS_IMAGES, cron).is_some());
    assert_eq!(label(ds, CRON_LABEL), Some(cron));
}

// ---------------------------------------------------------------------------
// SSP CR deletion
// ---------------------------------------------------------------------------

#[test]
fn ssp_deletion_removes_crons_before_datasources() {
    let mut owned_ds = data_source("centos8", Some("centos8"), json!({}));
    owned_ds["metadata"]["annotations"] = owner_annotations();
    let objects = vec![
        live_cron(OS_IMAGES, "centos8", "centos8", true),
        live_cron(OS_IMAGES, "foreign", "foreign", false),
        owned_ds,
    ];
    let deleting = Owner {
        deleting: true,
        ..owner()
    };
    let templates = [template("centos8", None, "centos8")];
    let names = collection(&["centos8"]);

    let first = run_with_owner(&templates, &objects, &names, &deleting, false);
    let deleted: Vec<(&str, &str)> = first
        .actions
        .iter()
        .map(|a| (a.object.kind.as_str(), a.object.name.as_str()))
        .collect();
    assert_eq!(deleted, vec![("DataImportCron", "centos8")]);

    let mut cluster = objects.clone();
    apply(&mut cluster, &first.actions);
    let second = run_with_owner(&templates, &cluster, &names, &deleting, false);
    let deleted: Vec<(&str, &str)> = second
        .actions
        .iter()
        .map(|a| (a.object.kind.as_str(), a.object.name.as_str()))
        .collect();
    assert_eq!(deleted, vec![("DataSource", "centos8")]);
}

// ---------------------------------------------------------------------------
// Order independence and convergence
// ---------------------------------------------------------------------------

/// A cluster exercising every kind of action: creates, a re-create, a
/// metadata patch, DataSource patches, a delete and an unowned cron.
fn busy_cluster() -> (Vec<Value>, Vec<Value>, BTreeSet<String>) {
    let mut changed = template("fedora-image-cron", None, "fedora");
    changed["spec"] = cron_spec("fedora", "40Gi");
    let mut labelled = template("centos-image-cron", None, "centos");
    labelled["metadata"]["labels"] = json!({"team": "virt"});
    let templates = vec![
        template("rhel9-image-cron", None, "rhel9"),
        changed,
        labelled,
        template("custom", Some("user-ns"), "custom-ds"),
        template("rhel8-image-cron", None, "rhel8"),
    ];
    let objects = vec![
        live_cron(OS_IMAGES, "fedora-image-cron", "fedora", true),
        live_cron(OS_IMAGES, "centos-image-cron", "centos", true),
        live_cron(OS_IMAGES, "old-image-cron", "old", true),
        live_cron("user-ns", "handmade", "handmade", false),
        data_source("fedora", Some("fedora-image-cron"), json!({})),
        data_source("centos", Some("wrong"), json!({})),
        data_source("old", Some("old-image-cron"), json!({})),
        data_source("rhel8", None, golden_source("rhel8")),
        pvc(OS_IMAGES, "rhel8"),
        pvc("user-ns", "unrelated"),
    ];
    let names = collection(&["fedora", "centos", "old", "rhel8", "rhel9"]);
    (templates, objects, names)
}

#[test]
fn input_order_does_not_change_plan() {
    let (templates, objects, names) = busy_cluster();
    let expected = run_stage(&templates, &objects, &names);
    assert!(!expected.actions.is_empty());

    let count = objects.len();
    for rotation in 0..count {
        for stride in [1, 3, 7] {
            let shuffled: Vec<Value> = (0..count)
                .map(|i| objects[(rotation + i * stride) % count].clone())
                .collect();
            let output = run_stage(&templates, &shuffled, &names);
            assert_eq!(output, expected, "rotation {rotation}, stride {stride}");
        }
    }
    let mut reversed = objects.clone();
    reversed.reverse();
    assert_eq!(run_stage(&templates, &reversed, &names), expected);
}

#[test]
fn applied_plan_converges() {
    let (templates, objects, names) = busy_cluster();
    let mut cluster = objects;
    let first = run_stage(&templates, &cluster, &names);
    apply(&mut cluster, &first.actions);
    let second = run_stage(&templates, &cluster, &names);
    assert_eq!(second.actions, vec![]);
}

#[test]
fn busy_cluster_plan_has_each_change() {
    let (templates, objects, names) = busy_cluster();
    let actions = run_stage(&templates, &objects, &names).actions;
    let cron = |ns: &str, name: &str| kinds(&find(&actions, "DataImportCron", ns, name));
    let ds = |name: &str| kinds(&find(&actions, "DataSource", OS_IMAGES, name));

    assert_eq!(
        cron(OS_IMAGES, "rhel9-image-cron"),
        vec![ActionKind::Create]
    );
    assert_eq!(
        cron(OS_IMAGES, "fedora-image-cron"),
        vec![ActionKind::Delete, ActionKind::Create]
    );
    assert_eq!(
        cron(OS_IMAGES, "centos-image-cron"),
        vec![ActionKind::Patch]
    );
    assert_eq!(cron("user-ns", "custom"), vec![ActionKind::Create]);
    assert_eq!(cron(OS_IMAGES, "old-image-cron"), vec![ActionKind::Delete]);
    assert_eq!(cron(OS_IMAGES, "rhel8-image-cron"), vec![]);
    assert_eq!(cron("user-ns", "handmade"), vec![]);
    assert_eq!(ds("rhel9"), vec![ActionKind::Create]);
    assert_eq!(ds("centos"), vec![ActionKind::Patch]);
    assert_eq!(ds("old"), vec![ActionKind::Patch]);
    assert_eq!(ds("fedora"), vec![]);
    assert_eq!(ds("rhel8"), vec![ActionKind::Patch]);
}

#[test]
fn every_action_has_a_reason() {
    let (templates, objects, names) = busy_cluster();
    for action in run_stage(&templates, &objects, &names).actions {
        assert!(!action.reason.is_empty(), "{}", action.object);
        assert!(
            action.reason.ends_with(|c: char| c.is_alphanumeric()),
            "{}",
            action.reason
        );
    }
}

// ---------------------------------------------------------------------------
// Through the plan operation
// ---------------------------------------------------------------------------

fn ssp_cr(templates: &[Value]) -> Value {
    json!({
        "apiVersion": "ssp.kubevirt.io/v1beta3",
        "kind": "SSP",
        "metadata": {"name": SSP_NAME, "namespace": SSP_NAMESPACE},
        "spec": {"commonTemplates": {"namespace": "openshift", "dataImportCronTemplates": templates}},
    })
}

#[test]
fn crons_stage_alone_reads_ssp_cr() {
    let request = PlanRequest {
        stages: Some(vec![Stage::Crons]),
        objects: vec![ssp_cr(&[template("custom", Some("user-ns"), "custom-ds")])],
        ..PlanRequest::default()
    };
    let plan = support::plan(&request).expect("plan succeeds");
    let cron = find(&plan.actions, "DataImportCron", "user-ns", "custom");
    assert_eq!(kinds(&cron), vec![ActionKind::Create]);
    let body = cron[0].body.as_ref().expect("body");
    assert_eq!(body["metadata"]["annotations"], owner_annotations());
}

#[test]
fn crons_stage_alone_needs_ssp_cr() {
    let request = PlanRequest {
        stages: Some(vec![Stage::Crons]),
        ..PlanRequest::default()
    };
    let error = support::plan(&request).expect_err("no SSP CR");
    assert!(error.message.contains("SSP CR"), "{}", error.message);
}

#[test]
fn invalid_ssp_template_names_field() {
    let mut cr = ssp_cr(&[template("custom", None, "custom-ds")]);
    cr["spec"]["commonTemplates"]["dataImportCronTemplates"][0]["spec"]["importsToKeep"] =
        json!("three");
    let request = PlanRequest {
        stages: Some(vec![Stage::Crons]),
        objects: vec![cr],
        ..PlanRequest::default()
    };
    let error = support::plan(&request).expect_err("invalid template");
    assert_eq!(
        error.field.as_deref(),
        Some("spec.commonTemplates.dataImportCronTemplates[0].spec.importsToKeep")
    );
}

#[test]
fn default_stages_chain_templates_into_crons() {
    // The imports stage also runs by default and patches the new crons'
    // status, so only the creates are counted.
    let hyperconverged = json!({
        "apiVersion": "hco.kubevirt.io/v1beta1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": SSP_NAMESPACE},
        "spec": {"enableCommonBootImageImport": true},
    });
    let request = PlanRequest {
        hco_version: Some("1.15".into()),
        now: Some("2026-01-31T12:00:00Z".into()),
        objects: vec![hyperconverged],
        ..PlanRequest::default()
    };
    let plan = support::plan(&request).expect("plan succeeds");
    let crons: Vec<&Action> = plan
        .actions
        .iter()
        .filter(|a| a.object.kind == "DataImportCron" && a.action == ActionKind::Create)
        .collect();
    assert_eq!(crons.len(), plan.boot_sources.len());
    for cron in crons {
        assert_eq!(cron.action, ActionKind::Create);
        let annotations = &cron.body.as_ref().expect("body")["metadata"]["annotations"];
        assert_eq!(
            annotations["operator-sdk/primary-resource"],
            format!("{SSP_NAMESPACE}/{SSP_NAME}")
        );
    }
}
