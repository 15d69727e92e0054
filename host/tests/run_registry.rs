//! `bootsource run` against a real OCI registry: Debian's `docker-registry`
//! on 127.0.0.1 with containerdisk images built here and pushed by
//! `skopeo`. Polls, imports byte for byte, repointing on a new digest,
//! garbage collection, a registry outage and a crash mid-apply, a registry
//! that requires a login, a multi-architecture image and the error causes
//! shown when HTTPS meets a plain-HTTP registry.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{json, Value};

#[path = "support/process.rs"]
mod process;
#[path = "support/registry.rs"]
mod registry;
use process::{bootsource, scratch, stderr, stdout};
use registry::{
    build_containerdisk, build_multiarch_containerdisk, push, push_all, served_digest, Registry,
    REPOSITORY,
};

const OS_IMAGES: &str = "kubevirt-os-images";

fn hc_file(dir: &Path, registry: &Registry) -> String {
    let path = dir.join("hc.yaml");
    fs::write(
        &path,
        format!(
            "apiVersion: hco.kubevirt.io/v1beta1
kind: HyperConverged
metadata:
  name: kubevirt-hyperconverged
  namespace: kubevirt-hyperconverged
spec:
  enableCommonBootImageImport: false
  dataImportCronTemplates:
  - metadata:
      name: testdisk-image-cron
    spec:
      managedDataSource: testdisk
      schedule: \"0 0 1 1 *\"
      importsToKeep: 1
      template:
        spec:
          source:
            registry:
              url: docker://{}/{REPOSITORY}:latest
          storage:
            resources:
              requests:
                storage: 1Gi
",
            registry.host()
        ),
    )
    .expect("hc file");
    path.display().to_string()
}

fn object(state: &Path, kind: &str, namespace: &str, name: &str) -> Option<Value> {
    let path = state
        .join("objects")
        .join(kind.to_ascii_lowercase())
        .join(namespace)
        .join(format!("{name}.yaml"));
    serde_yaml::from_str(&fs::read_to_string(path).ok()?).ok()
}

fn data_source_target(state: &Path) -> Option<String> {
    object(state, "DataSource", OS_IMAGES, "testdisk")?
        .pointer("/spec/source/pvc/name")?
        .as_str()
        .map(str::to_string)
}

fn import_name(digest: &str) -> String {
    format!("testdisk-{}", &digest.trim_start_matches("sha256:")[..12])
}

fn volume_disk(state: &Path, name: &str) -> PathBuf {
    state
        .join("volumes")
        .join(OS_IMAGES)
        .join(name)
        .join("disk.qcow2")
}

/// Runs passes until the DataSource points at `expected`, at most three.
fn run_until_pointed(state: &str, hc: &str, registry: &Registry, expected: &str) -> String {
    run_until_pointed_with(state, hc, registry, expected, &[])
}

/// Like [`run_until_pointed`], with `extra` arguments to `run`.
fn run_until_pointed_with(
    state: &str,
    hc: &str,
    registry: &Registry,
    expected: &str,
    extra: &[&str],
) -> String {
    let mut log = String::new();
    for _ in 0..3 {
        let output = run_once(state, hc, Some(registry), "5s", extra);
        log.push_str(&stderr(&output));
        assert!(output.status.success(), "{log}");
        if data_source_target(Path::new(state)).as_deref() == Some(expected) {
            break;
        }
    }
    log
}

/// Runs one pass that polls now; `insecure` is the registry to reach over
/// plain HTTP.
fn run_once(
    state: &str,
    hc: &str,
    insecure: Option<&Registry>,
    timeout: &str,
    extra: &[&str],
) -> std::process::Output {
    let host = insecure.map(Registry::host);
    let mut args = vec![
        "run",
        "--state",
        state,
        "--once",
        "--poll-now",
        "-f",
        hc,
        "--registry-timeout",
        timeout,
    ];
    if let Some(host) = &host {
        args.extend(["--insecure-registry", host.as_str()]);
    }
    args.extend(extra);
    bootsource(&args)
}

/// Returns the cron's `Polled` condition, or null.
fn polled_condition(state: &Path) -> Value {
    object(state, "DataImportCron", OS_IMAGES, "testdisk-image-cron")
        .and_then(|cron| {
            cron["status"]["conditions"]
                .as_array()
                .and_then(|list| list.iter().find(|c| c["type"] == "Polled"))
                .cloned()
        })
        .unwrap_or(Value::Null)
}

/// Writes a docker config file with `user:password` for `host`.
fn docker_config(dir: &Path, name: &str, host: &str, user: &str, password: &str) -> String {
    use base64::Engine as _;
    let auth = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    let path = dir.join(name);
    fs::write(
        &path,
        json!({ "auths": { host: { "auth": auth } } }).to_string(),
    )
    .expect("docker config");
    path.display().to_string()
}

/// This machine's architecture as OCI names it.
fn oci_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        other => other,
    }
}

fn listing(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        for entry in fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else if let Ok(relative) = path.strip_prefix(root) {
                out.push(relative.display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn registry_imports_update_and_outage() {
    let dir = scratch("registry-scenario");
    let mut registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (disk_v1, digest_v1) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "latest");

    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let hc = hc_file(&dir, &registry);

    // First import: the DataSource points at the import of the pushed
    // digest, and the disk equals the qcow2 byte for byte.
    let first = import_name(&digest_v1);
    let log = run_until_pointed(&state_arg, &hc, &registry, &first);
    assert_eq!(data_source_target(&state), Some(first.clone()), "{log}");
    let cron = object(&state, "DataImportCron", OS_IMAGES, "testdisk-image-cron").expect("cron");
    assert_eq!(
        cron["metadata"]["annotations"]["cdi.kubevirt.io/storage.import.sourceDesiredDigest"],
        json!(digest_v1)
    );
    assert_eq!(
        fs::read(volume_disk(&state, &first)).ok(),
        Some(disk_v1),
        "imported disk differs"
    );
    let explain = bootsource(&["explain", "testdisk", "--state", &state_arg]);
    assert!(
        stdout(&explain).contains("state: up to date"),
        "{}",
        stdout(&explain)
    );

    // New content under the same tag: the next passes import it, repoint
    // the DataSource, and importsToKeep 1 collects the old volume.
    let (disk_v2, digest_v2) = build_containerdisk(&dir, &layout, "v2", "6M");
    assert_ne!(digest_v1, digest_v2);
    push(&layout, "v2", &registry, "latest");
    let second = import_name(&digest_v2);
    let log = run_until_pointed(&state_arg, &hc, &registry, &second);
    assert_eq!(data_source_target(&state), Some(second.clone()), "{log}");
    assert_eq!(
        fs::read(volume_disk(&state, &second)).ok(),
        Some(disk_v2),
        "second disk differs"
    );
    assert!(
        !state.join("volumes").join(OS_IMAGES).join(&first).exists(),
        "the old volume folder was not collected: {log}"
    );
    assert!(object(&state, "PersistentVolumeClaim", OS_IMAGES, &first).is_none());

    // Registry down: a pass keeps every object and volume and records
    // the failed poll on the cron.
    registry.stop();
    let before = listing(&state.join("volumes"));
    let objects_before = listing(&state.join("objects"));
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "--poll-now",
        "-f",
        &hc,
        "--insecure-registry",
        &registry.host(),
        "--registry-timeout",
        "2s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert_eq!(listing(&state.join("volumes")), before);
    assert_eq!(listing(&state.join("objects")), objects_before);
    assert_eq!(data_source_target(&state), Some(second.clone()));
    let cron = object(&state, "DataImportCron", OS_IMAGES, "testdisk-image-cron").expect("cron");
    let polled = cron["status"]["conditions"]
        .as_array()
        .and_then(|list| list.iter().find(|c| c["type"] == "Polled"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(polled["status"], "False", "{cron}");
    assert_eq!(polled["reason"], "PollFailed", "{cron}");
    assert!(
        polled["message"]
            .as_str()
            .is_some_and(|m| m.contains(REPOSITORY)),
        "{polled}"
    );
    assert!(
        polled["message"]
            .as_str()
            .is_some_and(|m| m.contains("Connection refused")),
        "the root cause is missing: {polled}"
    );
    let explain = bootsource(&["explain", "testdisk-image-cron", "--state", &state_arg]);
    assert!(
        stdout(&explain).contains("the last registry poll failed"),
        "{}",
        stdout(&explain)
    );
}

#[test]
fn registry_crash_mid_import_converges() {
    let dir = scratch("registry-crash");
    let registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (disk, digest) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "latest");
    let hc = hc_file(&dir, &registry);
    let expected = import_name(&digest);

    for writes in [3, 6, 9] {
        let state = dir.join(format!("state-{writes}"));
        let state_arg = state.display().to_string();
        let writes_arg = writes.to_string();
        let crashed = bootsource(&[
            "run",
            "--state",
            &state_arg,
            "--once",
            "-f",
            &hc,
            "--insecure-registry",
            &registry.host(),
            "--crash-after-writes",
            &writes_arg,
        ]);
        assert!(!crashed.status.success(), "no crash after {writes} writes");
        run_until_pointed(&state_arg, &hc, &registry, &expected);
        assert_eq!(
            data_source_target(&state),
            Some(expected.clone()),
            "crash at write {writes}"
        );
        assert_eq!(
            fs::read(volume_disk(&state, &expected)).ok().as_deref(),
            Some(disk.as_slice()),
            "disk after a crash at write {writes}"
        );
        let leftovers: Vec<String> = listing(&state)
            .into_iter()
            .filter(|f| f.contains(".tmp") || f.starts_with("tmp/"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
}

#[test]
fn registry_manifest_digest_matches_head() {
    let dir = scratch("registry-head");
    let registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (_, digest) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "v1");
    let url = format!("docker://{}/{REPOSITORY}:v1", registry.host());
    let client = bootsource::registry::Registry::new(bootsource::registry::RegistryConfig {
        insecure: vec![registry.host()],
        auth: Default::default(),
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    let resolved = client.resolve(&url).map_err(|e| e.to_string());
    assert_eq!(resolved, Ok(digest));
}

#[test]
fn registry_missing_tag_fails_poll() {
    let dir = scratch("registry-missing-tag");
    let registry = Registry::start(&dir);
    let client = bootsource::registry::Registry::new(bootsource::registry::RegistryConfig {
        insecure: vec![registry.host()],
        auth: Default::default(),
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    let url = format!("docker://{}/{REPOSITORY}:absent", registry.host());
    let error = client
        .resolve(&url)
        .err()
        .map(|e| e.to_string())
        .unwrap_or_default();
    assert!(error.contains("HEAD of the manifest failed"), "{error}");
}

#[test]
fn registry_login_decides_poll_outcome() {
    let dir = scratch("registry-login");
    let registry = Registry::start_with_login(&dir, "tester", "s3cret");
    let layout = dir.join("layout");
    let (disk, digest) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "latest");
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let hc = hc_file(&dir, &registry);
    let host = registry.host();

    // The right credentials: the pass imports the pushed disk.
    let good = docker_config(&dir, "good.json", &host, "tester", "s3cret");
    let expected = import_name(&digest);
    let log = run_until_pointed_with(
        &state_arg,
        &hc,
        &registry,
        &expected,
        &["--registry-config", &good],
    );
    assert_eq!(data_source_target(&state), Some(expected.clone()), "{log}");
    assert_eq!(
        fs::read(volume_disk(&state, &expected)).ok(),
        Some(disk),
        "imported disk differs"
    );

    // Wrong credentials or none: the poll fails with a Polled False
    // condition that states the refused login, and nothing is deleted.
    let wrong = docker_config(&dir, "wrong.json", &host, "tester", "not-the-password");
    let cases: [(&str, Vec<&str>, &str); 2] = [
        (
            "wrong credentials",
            vec!["--registry-config", &wrong],
            "the credentials given for it were refused",
        ),
        ("no credentials", vec![], "no credentials for it were given"),
    ];
    for (case, extra, detail) in cases {
        let volumes = listing(&state.join("volumes"));
        let objects = listing(&state.join("objects"));
        let output = run_once(&state_arg, &hc, Some(&registry), "5s", &extra);
        assert!(output.status.success(), "{case}: {}", stderr(&output));
        let polled = polled_condition(&state);
        assert_eq!(polled["status"], "False", "{case}: {polled}");
        let message = polled["message"].as_str().unwrap_or_default();
        assert!(
            message.contains(&format!(
                "authentication failed (401) at registry {host}: {detail}"
            )),
            "{case}: {message}"
        );
        assert!(
            stderr(&output).contains("authentication failed (401)"),
            "{case}: the log lacks the cause"
        );
        assert_eq!(listing(&state.join("volumes")), volumes, "{case}");
        assert_eq!(listing(&state.join("objects")), objects, "{case}");
        assert_eq!(data_source_target(&state), Some(expected.clone()), "{case}");
    }
}

#[test]
fn registry_index_imports_host_architecture() {
    let dir = scratch("registry-index");
    let registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (disks, index_digest) =
        build_multiarch_containerdisk(&dir, &layout, "multi", &[("amd64", "4M"), ("arm64", "6M")]);
    assert_ne!(disks[0].1, disks[1].1, "the platforms' disks must differ");
    push_all(&layout, "multi", &registry, "latest");

    // The poll resolves the tag to the index's digest: the one the
    // registry serves and the one built here.
    let served = served_digest(&registry, "latest");
    assert_eq!(served, index_digest, "skopeo changed the index");
    let client = bootsource::registry::Registry::new(bootsource::registry::RegistryConfig {
        insecure: vec![registry.host()],
        auth: Default::default(),
        timeout: Duration::from_secs(5),
    })
    .expect("client");
    let url = format!("docker://{}/{REPOSITORY}:latest", registry.host());
    assert_eq!(client.resolve(&url).map_err(|e| e.to_string()), Ok(served));

    // The import is named after the index digest and contains the disk of
    // this machine's architecture.
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let hc = hc_file(&dir, &registry);
    let expected = import_name(&index_digest);
    let log = run_until_pointed(&state_arg, &hc, &registry, &expected);
    assert_eq!(data_source_target(&state), Some(expected.clone()), "{log}");
    let host_disk = disks
        .iter()
        .find(|(architecture, _)| architecture == oci_architecture())
        .map(|(_, disk)| disk.clone());
    assert!(host_disk.is_some(), "no image for {}", oci_architecture());
    assert_eq!(
        fs::read(volume_disk(&state, &expected)).ok(),
        host_disk,
        "the imported disk is not this architecture's"
    );
}

#[test]
fn registry_https_to_plain_http_hints() {
    let dir = scratch("registry-plain-http");
    let registry = Registry::start(&dir);
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let hc = hc_file(&dir, &registry);
    let host = registry.host();

    // No --insecure-registry: the client speaks HTTPS to a plain-HTTP
    // registry.
    let output = run_once(&state_arg, &hc, None, "5s", &[]);
    assert!(output.status.success(), "{}", stderr(&output));
    let polled = polled_condition(&state);
    assert_eq!(polled["status"], "False", "{polled}");
    let message = polled["message"].as_str().unwrap_or_default();
    let hint = format!("if {host} serves plain HTTP, pass `--insecure-registry {host}`");
    assert!(message.contains(&hint), "no hint: {message}");
    assert!(
        message.to_ascii_lowercase().contains("ssl"),
        "the TLS cause is missing: {message}"
    );
    assert!(stderr(&output).contains(&hint), "the log lacks the hint");
}
