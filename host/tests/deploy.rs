//! The manifests under deploy/: every file parses, the RBAC grants exactly
//! what the controller code uses, and the Deployment is locked down.

use std::collections::BTreeSet;
use std::path::PathBuf;

use bootsource::controller::resources::{
    Permission, CLUSTER_PERMISSIONS, LEASE_PERMISSIONS, POLL_PERMISSIONS,
};
use serde::Deserialize;
use serde_json::Value;

fn deploy_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../deploy")
}

/// Every document of every file under deploy/.
fn documents() -> Vec<(String, Value)> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(deploy_dir())
        .expect("deploy/ exists")
        .map(|entry| entry.expect("directory entry").path())
        .collect();
    files.sort();
    let mut documents = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable manifest");
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", file.display()));
            if !value.is_null() {
                documents.push((file.display().to_string(), value));
            }
        }
    }
    documents
}

fn of_kind(kind: &str) -> Vec<Value> {
    documents()
        .into_iter()
        .map(|(_, v)| v)
        .filter(|v| v.get("kind").and_then(Value::as_str) == Some(kind))
        .collect()
}

fn strings(value: Option<&Value>) -> Vec<String> {
    value
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect()
}

/// Flattens RBAC rules to (group, resource, verb) triples.
fn granted(role: &Value) -> BTreeSet<(String, String, String)> {
    let mut triples = BTreeSet::new();
    for rule in role
        .get("rules")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        for group in strings(rule.get("apiGroups")) {
            for resource in strings(rule.get("resources")) {
                for verb in strings(rule.get("verbs")) {
                    triples.insert((group.clone(), resource.clone(), verb));
                }
            }
        }
    }
    triples
}

fn used(permissions: &[Permission]) -> BTreeSet<(String, String, String)> {
    permissions
        .iter()
        .flat_map(|p| {
            p.verbs
                .iter()
                .map(|v| (p.group.to_string(), p.resource.to_string(), v.to_string()))
        })
        .collect()
}

#[test]
fn every_manifest_parses_with_kind() {
    let documents = documents();
    assert!(documents.len() >= 8, "only {} documents", documents.len());
    for (file, document) in &documents {
        assert!(
            document.get("kind").and_then(Value::as_str).is_some(),
            "{file}: no kind"
        );
        assert!(
            document.get("apiVersion").and_then(Value::as_str).is_some(),
            "{file}: no apiVersion"
        );
    }
}

#[test]
fn cluster_role_grants_exactly_used_verbs() {
    let roles = of_kind("ClusterRole");
    assert_eq!(roles.len(), 1, "ClusterRole count");
    let granted = granted(&roles[0]);
    let used = used(CLUSTER_PERMISSIONS);
    let extra: Vec<_> = granted.difference(&used).collect();
    let missing: Vec<_> = used.difference(&granted).collect();
    assert!(extra.is_empty(), "granted but unused: {extra:?}");
    assert!(missing.is_empty(), "used but not granted: {missing:?}");
}

#[test]
fn cluster_role_lets_events_be_recorded() {
    let roles = of_kind("ClusterRole");
    assert_eq!(roles.len(), 1, "ClusterRole count");
    let granted = granted(&roles[0]);
    for verb in ["create", "patch"] {
        let triple = (
            "events.k8s.io".to_string(),
            "events".to_string(),
            verb.to_string(),
        );
        assert!(granted.contains(&triple), "events {verb} not granted");
    }
}

#[test]
fn cluster_role_grants_poll_writes() {
    let granted = granted(&of_kind("ClusterRole")[0]);
    let missing: Vec<_> = used(POLL_PERMISSIONS)
        .into_iter()
        .filter(|triple| !granted.contains(triple))
        .collect();
    assert!(missing.is_empty(), "poll writes not granted: {missing:?}");
}

#[test]
fn rbac_has_no_wildcards() {
    for kind in ["ClusterRole", "Role"] {
        for role in of_kind(kind) {
            for (group, resource, verb) in granted(&role) {
                assert!(
                    group != "*" && resource != "*" && verb != "*",
                    "{kind} has a wildcard: {group} {resource} {verb}"
                );
            }
        }
    }
}

#[test]
fn lease_role_grants_exactly_used_verbs() {
    let roles = of_kind("Role");
    assert_eq!(roles.len(), 1, "Role count");
    assert_eq!(granted(&roles[0]), used(LEASE_PERMISSIONS));
}

#[test]
fn bindings_name_the_service_account() {
    let account = of_kind("ServiceAccount");
    assert_eq!(account.len(), 1, "ServiceAccount count");
    let name = account[0].pointer("/metadata/name").cloned();
    for kind in ["ClusterRoleBinding", "RoleBinding"] {
        let bindings = of_kind(kind);
        assert_eq!(bindings.len(), 1, "{kind} count");
        assert_eq!(
            bindings[0].pointer("/subjects/0/name").cloned(),
            name,
            "{kind} subject"
        );
    }
}

fn container() -> Value {
    let deployments = of_kind("Deployment");
    assert_eq!(deployments.len(), 1, "Deployment count");
    deployments[0]
        .pointer("/spec/template/spec/containers/0")
        .cloned()
        .expect("a container")
}

#[test]
fn deployment_runs_locked_down() {
    let deployment = &of_kind("Deployment")[0];
    let pod = deployment.pointer("/spec/template/spec").expect("pod spec");
    assert_eq!(
        pod.pointer("/securityContext/runAsNonRoot"),
        Some(&Value::Bool(true))
    );
    let container = container();
    let security = container
        .get("securityContext")
        .expect("container securityContext");
    assert_eq!(
        security.get("readOnlyRootFilesystem"),
        Some(&Value::Bool(true))
    );
    assert_eq!(
        security.get("allowPrivilegeEscalation"),
        Some(&Value::Bool(false))
    );
    assert_eq!(
        strings(security.pointer("/capabilities/drop")),
        vec!["ALL".to_string()]
    );
}

#[test]
fn deployment_sets_resources_and_probes() {
    let container = container();
    for pointer in [
        "/resources/requests/cpu",
        "/resources/requests/memory",
        "/resources/limits/cpu",
        "/resources/limits/memory",
    ] {
        assert!(container.pointer(pointer).is_some(), "{pointer} missing");
    }
    assert_eq!(
        container
            .pointer("/livenessProbe/httpGet/path")
            .and_then(Value::as_str),
        Some("/healthz")
    );
    assert_eq!(
        container
            .pointer("/readinessProbe/httpGet/path")
            .and_then(Value::as_str),
        Some("/readyz")
    );
}

#[test]
fn deployment_serves_metrics_on_all_interfaces() {
    let args = strings(container().get("args"));
    assert!(
        args.iter().any(|a| a == "--metrics-addr=0.0.0.0:8080"),
        "args: {args:?}"
    );
    let services = of_kind("Service");
    assert_eq!(services.len(), 1, "Service count");
    assert_eq!(
        services[0]
            .pointer("/spec/ports/0/targetPort")
            .and_then(Value::as_str),
        Some("metrics")
    );
}
