//! `bootsource explain --cluster` against the in-process fake of the
//! Kubernetes API: the objects of a state folder, stored in the fake API,
//! must be explained exactly as the state folder is. Also the errors of an
//! unreachable or failing API server.

mod support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use hyper::Method;
use serde_json::Value;
use support::fake_apiserver::{FakeApiServer, FaultKind};

#[allow(dead_code)]
#[path = "support/process.rs"]
mod process;
use process::{bootsource, scratch, stderr, stdout};

const NOW: &str = "2026-12-04T12:00:00Z";

/// Writes a kubeconfig whose current context is the server at `url`,
/// without TLS or credentials.
fn kubeconfig(dir: &Path, url: &str) -> PathBuf {
    let path = dir.join("kubeconfig");
    let text = format!(
        "apiVersion: v1\nkind: Config\nclusters:\n- name: fake\n  cluster:\n    server: {url}\n\
         contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: fake\n\
         current-context: fake\nusers:\n- name: fake\n  user: {{}}\n"
    );
    fs::write(&path, text).expect("kubeconfig");
    path
}

/// Runs `bootsource explain --cluster` with `args`, reading `config`. Runs
/// on a blocking thread so that the fake API keeps serving meanwhile.
async fn explain_cluster(config: &Path, args: &[&str]) -> Output {
    let config = config.to_path_buf();
    let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        Command::new(env!("CARGO_BIN_EXE_bootsource"))
            .arg("explain")
            .arg("--cluster")
            .args(&args)
            .env("KUBECONFIG", &config)
            .env_remove("KUBERNETES_SERVICE_HOST")
            .env_remove("KUBERNETES_SERVICE_PORT")
            .output()
            .expect("the binary runs")
    })
    .await
    .expect("the explain process")
}

/// Reads every object file of a state folder.
fn stored_objects(state: &Path) -> Vec<Value> {
    fn walk(dir: &Path, out: &mut Vec<Value>) {
        let mut entries: Vec<_> = fs::read_dir(dir)
            .expect("objects folder")
            .map(|e| e.expect("folder entry").path())
            .collect();
        entries.sort();
        for path in entries {
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml") {
                let text = fs::read_to_string(&path).expect("object file");
                out.push(serde_yaml::from_str(&text).expect("object YAML"));
            }
        }
    }
    let mut out = Vec::new();
    walk(&state.join("objects"), &mut out);
    out
}

/// Returns the API collection path an object is created under.
fn collection(object: &Value) -> String {
    let api_version = object["apiVersion"].as_str().expect("apiVersion");
    let kind = object["kind"].as_str().expect("kind").to_ascii_lowercase();
    let plural = if kind.ends_with('s') {
        format!("{kind}es")
    } else {
        format!("{kind}s")
    };
    let base = if api_version.contains('/') {
        format!("/apis/{api_version}")
    } else {
        format!("/api/{api_version}")
    };
    match object
        .pointer("/metadata/namespace")
        .and_then(Value::as_str)
    {
        Some(namespace) if !namespace.is_empty() => {
            format!("{base}/namespaces/{namespace}/{plural}")
        }
        _ => format!("{base}/{plural}"),
    }
}

/// Starts a fake API holding the objects of a state folder made by one
/// pass of `bootsource run` on the built-in example with stand-in imports.
async fn cluster_like_state(dir: &Path) -> (FakeApiServer, PathBuf, usize) {
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "--example",
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let api = FakeApiServer::start().await;
    let objects = stored_objects(&state);
    for mut object in objects.iter().cloned() {
        // A create carries neither; the fake API assigns its own.
        if let Some(metadata) = object["metadata"].as_object_mut() {
            metadata.remove("resourceVersion");
            metadata.remove("uid");
        }
        api.seed(&collection(&object), object);
    }
    (api, state, objects.len())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_explains_like_the_state_folder() {
    let dir = scratch("explain-cluster");
    let (api, state, count) = cluster_like_state(&dir).await;
    assert!(count > 10, "the example pass stored only {count} objects");
    let config = kubeconfig(&dir, &api.url());
    let state_arg = state.display().to_string();

    for name in ["fedora", "centos-stream10-image-cron"] {
        let from_state = bootsource(&["explain", name, "--state", &state_arg, "--now", NOW]);
        assert!(from_state.status.success(), "{}", stderr(&from_state));
        let from_cluster = explain_cluster(&config, &[name, "--now", NOW]).await;
        assert!(from_cluster.status.success(), "{}", stderr(&from_cluster));
        let text = stdout(&from_cluster);
        assert!(text.starts_with("boot source "), "{text}");
        assert!(text.contains("schedule "), "{text}");
        assert_eq!(text, stdout(&from_state), "explain {name}");
    }
    let lists = api.log().iter().filter(|l| l.method == Method::GET).count();
    assert!(lists >= 7, "only {lists} list requests reached the API");

    let missing = explain_cluster(&config, &["no-such-source", "--now", NOW]).await;
    assert_eq!(missing.status.code(), Some(1), "{}", stderr(&missing));
    let message = stderr(&missing);
    assert!(
        message.contains("no-such-source") && message.contains("in the cluster"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failing_list_names_the_kind() {
    let dir = scratch("explain-cluster-fault");
    let api = FakeApiServer::start().await;
    let config = kubeconfig(&dir, &api.url());
    api.inject(Method::GET, "datasources", 1, FaultKind::ServerError);
    let output = explain_cluster(&config, &["fedora"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(
        message.contains("failed to list DataSource objects")
            && message.contains("500 InternalError"),
        "{message}"
    );
    assert!(!message.contains("Status {"), "Debug text: {message}");
    assert_eq!(api.pending_faults(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_api_server_is_an_error() {
    let dir = scratch("explain-cluster-down");
    // A port that was just free: nothing listens there.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port();
    let config = kubeconfig(&dir, &format!("http://127.0.0.1:{port}"));
    let output = explain_cluster(&config, &["fedora", "--request-timeout", "2"]).await;
    assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("failed to list"), "{message}");
    assert!(message.contains(&format!("127.0.0.1:{port}")), "{message}");
}

#[test]
fn missing_kubeconfig_is_invalid_input() {
    let dir = scratch("explain-no-kubeconfig");
    let output = Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args(["explain", "fedora", "--cluster"])
        .env("KUBECONFIG", dir.join("missing-kubeconfig"))
        .env("HOME", &dir)
        .env_remove("KUBERNETES_SERVICE_HOST")
        .env_remove("KUBERNETES_SERVICE_PORT")
        .output()
        .expect("the binary runs");
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(message.contains("kubeconfig"), "{message}");
}

#[test]
fn state_and_cluster_exclude_each_other() {
    let both = bootsource(&["explain", "fedora", "--state", "/nonexistent", "--cluster"]);
    // A bad command line is invalid input: exit 1.
    assert_eq!(both.status.code(), Some(1));
    assert!(stderr(&both).contains("--cluster"), "{}", stderr(&both));
    let neither = bootsource(&["explain", "fedora"]);
    assert_eq!(neither.status.code(), Some(1));
    let message = stderr(&neither);
    assert!(message.contains("--state"), "{message}");
    assert!(message.contains("--cluster"), "{message}");
}
