//! The deployable files under `policies/`: every YAML document parses, and
//! each webhook configuration, Gatekeeper object and Kyverno policy points
//! at a route the server serves, for the resources and operations the
//! module reviews.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use bootsource::webhook::{self, routes, Reviewer};
use hyper::StatusCode;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::support::{fixture, runtime, TestServer};

/// Resources the module reviews: API group, plural resource, kind and the
/// API versions the cluster serves them in.
const REVIEWED: [(&str, &str, &str, &[&str]); 2] = [
    (
        "hco.kubevirt.io",
        "hyperconvergeds",
        "HyperConverged",
        &["v1beta1", "v1"],
    ),
    (
        "cdi.kubevirt.io",
        "dataimportcrons",
        "DataImportCron",
        &["v1beta1"],
    ),
];

/// Operations the module reviews; it allows every other one unchecked.
const REVIEWED_OPERATIONS: [&str; 2] = ["CREATE", "UPDATE"];

/// Namespace, Service name and port every policy file sends requests to.
const SERVICE_NAMESPACE: &str = "bootsource";
const SERVICE_NAME: &str = "bootsource-webhook";

fn policies_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies")
}

/// Returns every YAML file under `dir`, recursively, sorted.
fn yaml_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            if path.file_name().is_some_and(|name| name == "node_modules") {
                continue;
            }
            files.extend(yaml_files(&path));
        } else if path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml")
        {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// Parses every YAML document of every file under `policies/`, keyed by
/// kind. Panics with the file name on a document that does not parse.
fn policy_documents() -> Vec<(PathBuf, Value)> {
    let mut documents = Vec::new();
    for path in yaml_files(&policies_dir()) {
        let text = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("{}: failed to read: {e}", path.display()));
        for document in serde_yaml::Deserializer::from_str(&text) {
            let value = Value::deserialize(document)
                .unwrap_or_else(|e| panic!("{}: invalid YAML: {e}", path.display()));
            if !value.is_null() {
                documents.push((path.clone(), value));
            }
        }
    }
    documents
}

fn documents_of_kind(kind: &str) -> Vec<(PathBuf, Value)> {
    policy_documents()
        .into_iter()
        .filter(|(_, document)| document["kind"] == kind)
        .collect()
}

fn strings(value: &Value) -> BTreeSet<String> {
    value
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default()
}

fn reviewed_operations() -> BTreeSet<String> {
    REVIEWED_OPERATIONS.iter().map(|s| s.to_string()).collect()
}

/// Splits an `https://HOST:PORT/PATH` URL into host, port and path.
fn split_https_url(url: &str) -> (String, u16, String) {
    let rest = url
        .strip_prefix("https://")
        .unwrap_or_else(|| panic!("{url}: not an https URL"));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = authority.split_once(':').unwrap_or((authority, "443"));
    let port = port
        .parse()
        .unwrap_or_else(|e| panic!("{url}: invalid port: {e}"));
    (host.to_string(), port, format!("/{path}"))
}

/// Port of the default listen address, which the policy files target.
fn default_port() -> u16 {
    let address: std::net::SocketAddr = webhook::DEFAULT_LISTEN.parse().expect("listen address");
    address.port()
}

/// Checks the rules of an admission registration (webhook configuration
/// or Kubewarden policy): each names one reviewed resource in the versions
/// it is served in, for exactly the reviewed operations, and together they
/// cover every reviewed resource.
fn check_rules(origin: &str, rules: &Value) {
    let rules = rules
        .as_array()
        .unwrap_or_else(|| panic!("{origin}: rules is not a list"));
    let mut covered = BTreeSet::new();
    for rule in rules {
        let groups = strings(&rule["apiGroups"]);
        let resources = strings(&rule["resources"]);
        assert_eq!(
            strings(&rule["operations"]),
            reviewed_operations(),
            "{origin}: {rule}"
        );
        for group in &groups {
            for resource in &resources {
                let reviewed = REVIEWED
                    .iter()
                    .find(|(g, r, _, _)| g == group && r == resource)
                    .unwrap_or_else(|| panic!("{origin}: {group}/{resource} is not reviewed"));
                let versions: BTreeSet<String> = reviewed.3.iter().map(|v| v.to_string()).collect();
                assert_eq!(strings(&rule["apiVersions"]), versions, "{origin}: {rule}");
                covered.insert(reviewed.2);
            }
        }
    }
    let all: BTreeSet<&str> = REVIEWED.iter().map(|(_, _, kind, _)| *kind).collect();
    assert_eq!(
        covered, all,
        "{origin}: not every reviewed resource is covered"
    );
}

#[test]
fn every_policy_file_parses() {
    let files = yaml_files(&policies_dir());
    assert!(files.len() >= 8, "too few policy files: {files:?}");
    let documents = policy_documents();
    for (path, document) in &documents {
        // Kubewarden's metadata.yml is read by kwctl, not applied to a
        // cluster, so it has no apiVersion or kind.
        if path.ends_with("kubewarden/metadata.yml") {
            continue;
        }
        assert!(
            document["apiVersion"].is_string(),
            "{}: no apiVersion",
            path.display()
        );
        assert!(document["kind"].is_string(), "{}: no kind", path.display());
    }
}

#[test]
fn module_reviews_listed_resources_only() {
    let reviewer = Reviewer::new(runtime(), json!({}));
    for (group, _, kind, versions) in REVIEWED {
        for version in versions {
            for operation in REVIEWED_OPERATIONS {
                let object = json!({"apiVersion": format!("{group}/{version}"), "kind": kind,
                                    "metadata": {"name": "probe", "namespace": "probe"}});
                let request = json!({
                    "kind": {"group": group, "version": version, "kind": kind},
                    "operation": operation,
                    "object": object,
                    "oldObject": object,
                });
                let verdict = reviewer.review(&request).expect("the module runs");
                let message = verdict.message.unwrap_or_default();
                assert!(
                    !message.contains("unexpected kind"),
                    "{kind} {version} {operation}: {message}"
                );
            }
        }
    }
    let pod = json!({"kind": {"group": "", "version": "v1", "kind": "Pod"}, "operation": "CREATE",
                     "object": {"apiVersion": "v1", "kind": "Pod"}});
    let verdict = reviewer.review(&pod).expect("the module runs");
    assert!(!verdict.allowed);
}

#[test]
fn webhook_configurations_target_served_routes() {
    for (kind, route) in [
        ("ValidatingWebhookConfiguration", routes::VALIDATE),
        ("MutatingWebhookConfiguration", routes::MUTATE),
    ] {
        let documents = documents_of_kind(kind);
        assert_eq!(documents.len(), 1, "expected one {kind}");
        let (path, configuration) = &documents[0];
        let webhooks = configuration["webhooks"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        assert!(!webhooks.is_empty(), "{}: no webhooks", path.display());
        let mut all_rules = Vec::new();
        for hook in &webhooks {
            let origin = format!("{}: {}", path.display(), hook["name"]);
            let service = &hook["clientConfig"]["service"];
            assert_eq!(service["path"], route, "{origin}");
            assert_eq!(service["port"], default_port(), "{origin}");
            assert_eq!(service["name"], SERVICE_NAME, "{origin}");
            assert_eq!(service["namespace"], SERVICE_NAMESPACE, "{origin}");
            assert!(
                strings(&hook["admissionReviewVersions"]).contains("v1"),
                "{origin}"
            );
            assert_eq!(hook["sideEffects"], "None", "{origin}");
            // The API server waits at most this long; the server's own
            // request timeout must not be longer.
            let timeout = hook["timeoutSeconds"].as_u64().unwrap_or(10);
            assert!(
                timeout >= webhook::DEFAULT_REQUEST_TIMEOUT_SECS,
                "{origin}: timeoutSeconds {timeout}"
            );
            all_rules.extend(hook["rules"].as_array().cloned().unwrap_or_default());
        }
        check_rules(&path.display().to_string(), &Value::Array(all_rules));
    }
}

#[test]
fn kubewarden_policy_rules_match_module() {
    for kind in ["ClusterAdmissionPolicy"] {
        for (path, policy) in documents_of_kind(kind) {
            check_rules(&path.display().to_string(), &policy["spec"]["rules"]);
        }
    }
    let metadata = policies_dir().join("kubewarden/metadata.yml");
    let text = std::fs::read_to_string(&metadata).expect("metadata.yml is readable");
    let metadata: Value = serde_yaml::from_str(&text).expect("metadata.yml parses");
    check_rules("metadata.yml", &metadata["rules"]);
}

#[test]
fn gatekeeper_provider_targets_served_route() {
    let providers = documents_of_kind("Provider");
    assert_eq!(providers.len(), 1, "expected one Provider");
    let (path, provider) = &providers[0];
    assert_eq!(
        provider["apiVersion"],
        webhook::GATEKEEPER_API_VERSION,
        "{}",
        path.display()
    );
    let url = provider["spec"]["url"].as_str().unwrap_or_default();
    let (host, port, route) = split_https_url(url);
    assert_eq!(host, format!("{SERVICE_NAME}.{SERVICE_NAMESPACE}"));
    assert_eq!(port, default_port());
    assert_eq!(route, routes::GATEKEEPER_PROVIDER);
    let timeout = provider["spec"]["timeout"].as_u64().unwrap_or(0);
    assert!(timeout > 0, "{}: no timeout", path.display());
    assert!(
        provider["spec"]["caBundle"].is_string(),
        "{}: Gatekeeper needs a caBundle for https",
        path.display()
    );
}

#[test]
fn gatekeeper_template_calls_provider() {
    let provider_name = documents_of_kind("Provider")[0].1["metadata"]["name"].clone();
    let templates = documents_of_kind("ConstraintTemplate");
    assert_eq!(templates.len(), 1, "expected one ConstraintTemplate");
    let (path, template) = &templates[0];
    let origin = path.display().to_string();
    let rego = template["spec"]["targets"][0]["rego"]
        .as_str()
        .unwrap_or_default();
    assert!(rego.contains("external_data("), "{origin}");
    let provider_call = format!("\"provider\": {provider_name}");
    assert!(rego.contains(&provider_call), "{origin}: {provider_call}");
    // The package name must equal the template name, which must be the
    // lower-case constraint kind.
    let name = template["metadata"]["name"].as_str().unwrap_or_default();
    assert!(rego.contains(&format!("package {name}")), "{origin}");
    let constraint_kind = template["spec"]["crd"]["spec"]["names"]["kind"]
        .as_str()
        .unwrap_or_default();
    assert_eq!(constraint_kind.to_lowercase(), name, "{origin}");

    let constraints = documents_of_kind(constraint_kind);
    assert_eq!(constraints.len(), 1, "expected one {constraint_kind}");
    let (path, constraint) = &constraints[0];
    let mut matched = BTreeSet::new();
    for entry in constraint["spec"]["match"]["kinds"]
        .as_array()
        .cloned()
        .unwrap_or_default()
    {
        for group in strings(&entry["apiGroups"]) {
            for kind in strings(&entry["kinds"]) {
                matched.insert((group.clone(), kind));
            }
        }
    }
    let reviewed: BTreeSet<(String, String)> = REVIEWED
        .iter()
        .map(|(group, _, kind, _)| (group.to_string(), kind.to_string()))
        .collect();
    assert_eq!(matched, reviewed, "{}", path.display());
}

#[test]
fn kyverno_policy_calls_served_route() {
    let policies = documents_of_kind("ClusterPolicy");
    assert_eq!(policies.len(), 1, "expected one ClusterPolicy");
    let (path, policy) = &policies[0];
    let origin = path.display().to_string();
    let rules = policy["spec"]["rules"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(!rules.is_empty(), "{origin}: no rules");
    for rule in &rules {
        let mut kinds = BTreeSet::new();
        let mut operations = BTreeSet::new();
        for entry in rule["match"]["any"].as_array().cloned().unwrap_or_default() {
            kinds.extend(strings(&entry["resources"]["kinds"]));
            operations.extend(strings(&entry["resources"]["operations"]));
        }
        assert_eq!(operations, reviewed_operations(), "{origin}");
        for (group, _, kind, versions) in REVIEWED {
            let covered = kinds.iter().any(|entry| {
                let parts: Vec<&str> = entry.split('/').collect();
                match parts.as_slice() {
                    [g, v, k] => *g == group && *k == kind && (*v == "*" || versions.contains(v)),
                    _ => false,
                }
            });
            assert!(covered, "{origin}: {kind} is not matched by {kinds:?}");
        }

        let calls: Vec<&Value> = rule["context"]
            .as_array()
            .map(|entries| entries.iter().map(|e| &e["apiCall"]).collect())
            .unwrap_or_default();
        assert_eq!(calls.len(), 1, "{origin}: expected one apiCall");
        let call = calls[0];
        assert_eq!(call["method"], "POST", "{origin}");
        let url = call["service"]["url"].as_str().unwrap_or_default();
        let (host, port, route) = split_https_url(url);
        assert_eq!(host, format!("{SERVICE_NAME}.{SERVICE_NAMESPACE}"));
        assert_eq!(port, default_port());
        assert_eq!(route, routes::KYVERNO_VALIDATE);
    }
}

/// Builds the body the Kyverno policy's `apiCall` sends for `request`,
/// substituting the AdmissionRequest for `{{ request }}`.
fn kyverno_body(request: &Value) -> Value {
    let (_, policy) = &documents_of_kind("ClusterPolicy")[0];
    let data = policy["spec"]["rules"][0]["context"][0]["apiCall"]["data"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let mut body = serde_json::Map::new();
    for entry in data {
        let key = entry["key"].as_str().expect("data key").to_string();
        let value = match entry["value"].as_str().map(str::trim) {
            Some("{{ request }}") => request.clone(),
            _ => entry["value"].clone(),
        };
        body.insert(key, value);
    }
    Value::Object(body)
}

#[tokio::test]
async fn kyverno_call_body_gets_verdict() {
    let server = TestServer::default().await;
    for (file, allowed) in [
        ("dataimportcron-create-accepted.json", true),
        ("dataimportcron-update-spec-rejected.json", false),
    ] {
        let request = fixture(file)["request"].clone();
        let body = kyverno_body(&request);
        let (status, reply) = server.post_json(routes::KYVERNO_VALIDATE, &body).await;
        assert_eq!(status, StatusCode::OK, "{file}: {reply}");
        // The policy denies on `review.allowed` and shows `review.message`.
        assert_eq!(reply["allowed"], allowed, "{file}: {reply}");
        assert!(reply["message"].is_string(), "{file}: {reply}");
    }
}
