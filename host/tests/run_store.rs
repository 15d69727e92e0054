//! `bootsource run` on a state folder with stand-in imports (no registry),
//! crash recovery, and `bootsource explain` for each reason a boot source
//! can be out of date.

use std::fs;
use std::path::Path;
use std::process::Command;

use serde_json::Value;
use sha2::{Digest, Sha256};

#[path = "support/process.rs"]
mod process;
use process::{bootsource, scratch, stderr, stdout};

/// Reads the stored object `kind/namespace/name`.
fn object(state: &Path, kind: &str, namespace: &str, name: &str) -> Option<Value> {
    let path = state
        .join("objects")
        .join(kind.to_ascii_lowercase())
        .join(namespace)
        .join(format!("{name}.yaml"));
    let text = fs::read_to_string(path).ok()?;
    serde_yaml::from_str(&text).ok()
}

/// Writes an object file into a state folder, as a user (or a test) would.
fn put(state: &Path, kind: &str, namespace: &str, name: &str, yaml: &str) {
    let dir = state
        .join("objects")
        .join(kind.to_ascii_lowercase())
        .join(namespace);
    fs::create_dir_all(&dir).expect("object folder");
    fs::write(dir.join(format!("{name}.yaml")), yaml).expect("object file");
}

/// Name of the import of `data_source` for `digest`: the DataSource name and
/// the first 12 hex digits of the digest.
fn import_name(data_source: &str, digest: &str) -> String {
    let hex = digest.trim_start_matches("sha256:");
    format!("{data_source}-{}", &hex[..12])
}

/// Returns the stand-in digest `run --import-delay` records for `url`.
fn stand_in_digest(url: &str) -> String {
    let hash = Sha256::digest(url.as_bytes());
    let hex: String = hash.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256:{hex}")
}

const OS_IMAGES: &str = "kubevirt-os-images";
const CUSTOM_URL: &str = "docker://registry.invalid/disks/custom:latest";

fn custom_hc(state_parent: &Path) -> String {
    let path = state_parent.join("hc.yaml");
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
      name: custom-image-cron
    spec:
      managedDataSource: custom
      schedule: \"0 0 1 1 *\"
      importsToKeep: 1
      template:
        spec:
          source:
            registry:
              url: {CUSTOM_URL}
          storage:
            resources:
              requests:
                storage: 1Gi
"
        ),
    )
    .expect("hc file");
    path.display().to_string()
}

fn data_source_target(state: &Path, name: &str) -> Option<String> {
    object(state, "DataSource", OS_IMAGES, name)?
        .pointer("/spec/source/pvc/name")?
        .as_str()
        .map(str::to_string)
}

#[test]
fn stand_in_import_repoints_data_source() {
    let dir = scratch("stand-in-import");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));

    let expected = import_name("custom", &stand_in_digest(CUSTOM_URL));
    assert_eq!(data_source_target(&state, "custom"), Some(expected.clone()));
    let pvc = object(&state, "PersistentVolumeClaim", OS_IMAGES, &expected).expect("PVC");
    assert_eq!(pvc["status"]["phase"], "Bound");
    let disk = state
        .join("volumes")
        .join(OS_IMAGES)
        .join(&expected)
        .join("disk.img");
    assert_eq!(fs::metadata(&disk).map(|m| m.len()).ok(), Some(0));
    let log = stderr(&output);
    assert!(log.contains("stand-in import"), "{log}");
}

#[test]
fn stored_objects_get_api_metadata() {
    let dir = scratch("api-metadata");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let cron = object(&state, "DataImportCron", OS_IMAGES, "custom-image-cron").expect("cron");
    let uid = cron["metadata"]["uid"].as_str().unwrap_or("");
    assert!(uid.starts_with("00000000-0000-4000-8000-"), "{uid}");
    assert!(cron["metadata"]["creationTimestamp"].is_string());
    let version: u64 = cron["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    assert!(version > 0);

    // A second pass keeps uid and creationTimestamp.
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let again = object(&state, "DataImportCron", OS_IMAGES, "custom-image-cron").expect("cron");
    assert_eq!(again["metadata"]["uid"], cron["metadata"]["uid"]);
    assert_eq!(
        again["metadata"]["creationTimestamp"],
        cron["metadata"]["creationTimestamp"]
    );
}

#[test]
fn import_delay_keeps_import_in_progress() {
    let dir = scratch("import-delay");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "1h",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let name = import_name("custom", &stand_in_digest(CUSTOM_URL));
    let dv = object(&state, "DataVolume", OS_IMAGES, &name).expect("DataVolume");
    assert_eq!(dv["status"]["phase"], "ImportInProgress");
    assert_eq!(data_source_target(&state, "custom"), None);
}

#[test]
fn example_runs_from_empty_folder() {
    let dir = scratch("example-run");
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
    let url = "docker://quay.io/containerdisks/opensuse-leap:15.5";
    let expected = import_name("opensuse", &stand_in_digest(url));
    assert_eq!(data_source_target(&state, "opensuse"), Some(expected));
    // The pass plans several rounds; its warnings are logged once each.
    let log = stderr(&output);
    assert_eq!(
        log.matches("enableCommonBootImageImport is deprecated")
            .count(),
        1,
        "{log}"
    );
}

/// Lists every file under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
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
fn crash_mid_apply_converges_next_pass() {
    let dir = scratch("crash-reference");
    let reference = dir.join("state");
    let hc = custom_hc(&dir);
    let reference_arg = reference.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &reference_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let expected_files: Vec<String> = files(&reference)
        .into_iter()
        .filter(|f| f.starts_with("objects/") || f.starts_with("volumes/"))
        .collect();
    let expected_target = data_source_target(&reference, "custom");
    assert!(expected_target.is_some());

    // Crash after 0, 3, 6, ... writes until a run has fewer writes than
    // that and finishes; every crash point must converge on the next pass.
    let mut crash_points = 0;
    for writes in (0..).step_by(3) {
        let dir = scratch(&format!("crash-after-{writes}"));
        let state = dir.join("state");
        let hc = custom_hc(&dir);
        let state_arg = state.display().to_string();
        let writes_arg = writes.to_string();
        let crashed = bootsource(&[
            "run",
            "--state",
            &state_arg,
            "--once",
            "-f",
            &hc,
            "--import-delay",
            "0s",
            "--crash-after-writes",
            &writes_arg,
        ]);
        if crashed.status.success() {
            break;
        }
        crash_points += 1;

        let output = bootsource(&[
            "run",
            "--state",
            &state_arg,
            "--once",
            "-f",
            &hc,
            "--import-delay",
            "0s",
        ]);
        assert!(
            output.status.success(),
            "after {writes}: {}",
            stderr(&output)
        );
        assert_eq!(
            data_source_target(&state, "custom"),
            expected_target,
            "DataSource after a crash at write {writes}"
        );
        let found: Vec<String> = files(&state)
            .into_iter()
            .filter(|f| f.starts_with("objects/") || f.starts_with("volumes/"))
            .collect();
        assert_eq!(
            found, expected_files,
            "files after a crash at write {writes}"
        );
    }
    assert!(
        crash_points >= 4,
        "only {crash_points} crash points were exercised"
    );
}

#[test]
fn explain_reports_schedule_and_next_poll() {
    let dir = scratch("explain-schedule");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = bootsource(&["explain", "custom", "--state", &state_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("state: up to date"), "{text}");
    assert!(text.contains("schedule \"0 0 1 1 *\""), "{text}");
    assert!(text.contains("next poll 20"), "{text}");
}

#[test]
fn explain_reports_missing_default_storage_class() {
    let dir = scratch("explain-no-default-class");
    let state = dir.join("state");
    put(
        &state,
        "StorageClass",
        "_cluster",
        "slow",
        "apiVersion: storage.k8s.io/v1\nkind: StorageClass\nmetadata:\n  name: slow\nprovisioner: example.invalid\n",
    );
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let output = bootsource(&["explain", "custom-image-cron", "--state", &state_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("state: not up to date"), "{text}");
    assert!(text.contains("no default StorageClass"), "{text}");
    assert!(text.contains("is pending"), "{text}");
}

const FEDORA_HC: &str = "apiVersion: hco.kubevirt.io/v1beta1
kind: HyperConverged
metadata:
  name: kubevirt-hyperconverged
  namespace: kubevirt-hyperconverged
spec:
  enableCommonBootImageImport: true
";

#[test]
fn explain_reports_golden_pvc_precedence() {
    let dir = scratch("explain-golden-pvc");
    let state = dir.join("state");
    put(
        &state,
        "HyperConverged",
        "kubevirt-hyperconverged",
        "kubevirt-hyperconverged",
        FEDORA_HC,
    );
    put(
        &state,
        "DataSource",
        OS_IMAGES,
        "fedora",
        "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataSource\nmetadata:\n  name: fedora\n  namespace: kubevirt-os-images\nspec:\n  source:\n    pvc:\n      name: fedora\n      namespace: kubevirt-os-images\n",
    );
    put(
        &state,
        "PersistentVolumeClaim",
        OS_IMAGES,
        "fedora",
        "apiVersion: v1\nkind: PersistentVolumeClaim\nmetadata:\n  name: fedora\n  namespace: kubevirt-os-images\nstatus:\n  phase: Bound\n",
    );
    let state_arg = state.display().to_string();
    let output = bootsource(&["explain", "fedora", "--state", &state_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("state: not up to date"), "{text}");
    assert!(
        text.contains("golden PVC kubevirt-os-images/fedora exists and takes precedence"),
        "{text}"
    );
    assert!(
        text.contains("has no cdi.kubevirt.io/dataImportCron label"),
        "{text}"
    );
}

const CRON_A: &str = "apiVersion: cdi.kubevirt.io/v1beta1
kind: DataImportCron
metadata:
  name: cron-a
  namespace: images
spec:
  managedDataSource: shared
  schedule: \"\"
  template:
    spec:
      source:
        registry:
          url: docker://registry.invalid/a:1
      storage: {}
";

#[test]
fn explain_reports_other_managing_cron() {
    let dir = scratch("explain-other-cron");
    let state = dir.join("state");
    put(&state, "DataImportCron", "images", "cron-a", CRON_A);
    put(
        &state,
        "DataImportCron",
        "images",
        "cron-b",
        &CRON_A.replace("cron-a", "cron-b").replace("/a:1", "/b:1"),
    );
    put(
        &state,
        "DataSource",
        "images",
        "shared",
        "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataSource\nmetadata:\n  name: shared\n  namespace: images\n  labels:\n    cdi.kubevirt.io/dataImportCron: cron-a\nspec:\n  source: {}\n",
    );
    let state_arg = state.display().to_string();
    let output = bootsource(&["explain", "cron-b", "--state", &state_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("managed by another DataImportCron, cron-a"),
        "{text}"
    );
    assert!(text.contains("schedule is empty"), "{text}");
}

#[test]
fn explain_reports_failing_import() {
    let dir = scratch("explain-failing-import");
    let state = dir.join("state");
    let digest = format!("sha256:{}", "ab".repeat(32));
    let cron = CRON_A.replace(
        "  namespace: images\n",
        &format!(
            "  namespace: images\n  annotations:\n    cdi.kubevirt.io/storage.import.sourceDesiredDigest: \"{digest}\"\n"
        ),
    ) + "status:\n  currentImports:\n  - DataVolumeName: shared-abababababab\n    Digest: \""
        + &digest
        + "\"\n";
    put(&state, "DataImportCron", "images", "cron-a", &cron);
    put(
        &state,
        "DataVolume",
        "images",
        "shared-abababababab",
        "apiVersion: cdi.kubevirt.io/v1beta1\nkind: DataVolume\nmetadata:\n  name: shared-abababababab\n  namespace: images\n  labels:\n    cdi.kubevirt.io/dataImportCron: cron-a\nspec:\n  source:\n    registry:\n      url: docker://registry.invalid/a@sha256:abab\nstatus:\n  phase: Failed\n  conditions:\n  - type: Running\n    status: \"False\"\n    reason: ImagePullFailed\n    message: manifest unknown\n",
    );
    let state_arg = state.display().to_string();
    let output = bootsource(&["explain", "shared", "--state", &state_arg]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(
        text.contains("is failing (ImagePullFailed): manifest unknown"),
        "{text}"
    );
    assert!(text.contains("state: not up to date"), "{text}");
}

#[test]
fn explain_unknown_name_exits_1() {
    let dir = scratch("explain-unknown");
    let state = dir.join("state");
    put(&state, "DataImportCron", "images", "cron-a", CRON_A);
    let state_arg = state.display().to_string();
    let output = bootsource(&["explain", "nothing-here", "--state", &state_arg]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("nothing-here"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn loop_stops_cleanly_on_sigint() {
    let dir = scratch("loop-sigint");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let child = Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args([
            "run",
            "--state",
            &state_arg,
            "-f",
            &hc,
            "--import-delay",
            "0s",
            "--max-sleep",
            "1s",
        ])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");

    // The signal handler is installed before the first pass, so once the
    // first pass has repointed the DataSource a SIGINT must end the loop.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    while data_source_target(&state, "custom").is_none() {
        assert!(
            std::time::Instant::now() < deadline,
            "the first pass did not finish in 120 s"
        );
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(status.success());

    let output = child.wait_with_output().expect("the run ends");
    let log = stderr(&output);
    assert!(output.status.success(), "{log}");
    assert!(
        log.contains("interrupted; stopping between passes"),
        "{log}"
    );
    assert!(log.matches("pass finished").count() >= 2, "{log}");
}

/// Runs `run --once` with the built-in example and stand-in imports.
fn run_example(state: &Path) -> std::process::Output {
    let state_arg = state.display().to_string();
    bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "--example",
        "--import-delay",
        "0s",
    ])
}

/// Returns every file under `dir` with its modification time and content.
fn snapshot(dir: &Path) -> Vec<(String, std::time::SystemTime, Vec<u8>)> {
    files(dir)
        .into_iter()
        .map(|file| {
            let path = dir.join(&file);
            let modified = fs::metadata(&path)
                .and_then(|m| m.modified())
                .expect("modification time");
            let content = fs::read(&path).expect("file content");
            (file, modified, content)
        })
        .collect()
}

#[test]
fn converged_pass_makes_no_writes() {
    let dir = scratch("converged-no-writes");
    let state = dir.join("state");
    let first = run_example(&state);
    assert!(first.status.success(), "{}", stderr(&first));
    let before = snapshot(&state);

    let second = run_example(&state);
    assert!(second.status.success(), "{}", stderr(&second));
    let log = stderr(&second);
    assert!(log.contains("changed=0 "), "{log}");
    assert!(!log.contains("applied"), "{log}");
    assert_eq!(snapshot(&state), before);
}

#[test]
fn edit_after_settling_is_reconciled() {
    let dir = scratch("edit-after-settling");
    let state = dir.join("state");
    let first = run_example(&state);
    assert!(first.status.success(), "{}", stderr(&first));
    let target = data_source_target(&state, "fedora");
    assert!(target.is_some());

    let data_source = state
        .join("objects")
        .join("datasource")
        .join(OS_IMAGES)
        .join("fedora.yaml");
    fs::remove_file(&data_source).expect("remove the DataSource");
    let second = run_example(&state);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(data_source_target(&state, "fedora"), target);
}

#[test]
fn plan_warnings_log_object_without_debug_text() {
    let dir = scratch("warning-object-text");
    let output = run_example(&dir.join("state"));
    assert!(output.status.success(), "{}", stderr(&output));
    let log = stderr(&output);
    let line = log
        .lines()
        .find(|line| line.contains("is deprecated"))
        .unwrap_or_else(|| panic!("no deprecation warning in {log}"));
    assert!(
        line.contains("object=HyperConverged openshift-cnv/kubevirt-hyperconverged"),
        "{line}"
    );
    assert!(!line.contains("Some("), "{line}");
}

const DATA_SOURCE: &str = "apiVersion: cdi.kubevirt.io/v1beta1
kind: DataSource
metadata:
  name: fedora
  namespace: kubevirt-os-images
spec:
  source: {}
";

#[test]
fn object_file_off_its_path_is_rejected() {
    // (kind folder, namespace folder, file name, field named in the error)
    let cases = [
        ("DataSource", OS_IMAGES, "centos", "metadata.name"),
        ("DataSource", "other", "fedora", "metadata.namespace"),
        ("DataImportCron", OS_IMAGES, "fedora", "kind"),
        ("DataSource", "_cluster", "fedora", "metadata.namespace"),
    ];
    for (kind, namespace, name, field) in cases {
        let dir = scratch(&format!("off-path-{kind}-{namespace}-{name}"));
        let state = dir.join("state");
        put(&state, kind, namespace, name, DATA_SOURCE);
        let before = snapshot(&state);

        let output = run_example(&state);
        let log = stderr(&output);
        let file = format!("{}/{namespace}/{name}.yaml", kind.to_ascii_lowercase());
        assert_eq!(output.status.code(), Some(1), "{file}: {log}");
        assert!(log.contains(&file), "{file}: {log}");
        assert!(log.contains(&format!("{field} is")), "{file}: {log}");
        assert!(!log.contains("applied"), "{file}: {log}");
        let after: Vec<_> = snapshot(&state)
            .into_iter()
            .filter(|(f, _, _)| f.starts_with("objects/") || f == "store.json")
            .collect();
        assert_eq!(after, before, "{file}: files changed");
    }
}

#[test]
fn broken_state_files_exit_1() {
    // (file, content, words the message must contain)
    let cases: [(&str, &[u8], &str); 4] = [
        (
            "objects/datasource/kubevirt-os-images/fedora.yaml",
            b"kind: DataSource\nmetadata: [unclosed\n",
            "invalid object file",
        ),
        (
            "objects/datasource/kubevirt-os-images/fedora.yaml",
            b"kind: DataSource\nmetadata:\n  name: fedora\xff\xfe\n",
            "not UTF-8",
        ),
        ("store.json", b"{\"lastUid\": ", "store.json"),
        ("store.json", b"\xff\xfe", "store.json"),
    ];
    for (index, (file, content, words)) in cases.into_iter().enumerate() {
        let dir = scratch(&format!("broken-state-{index}"));
        let state = dir.join("state");
        let path = state.join(file);
        fs::create_dir_all(path.parent().expect("parent")).expect("folder");
        fs::write(&path, content).expect("broken file");

        let output = run_example(&state);
        let log = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{file}: {log}");
        assert!(log.contains(file), "{file}: {log}");
        assert!(log.contains(words), "{file}: {log}");
        assert!(log.contains("fix or remove the file"), "{file}: {log}");
    }
}

#[test]
fn explain_on_broken_store_json_exits_1() {
    let dir = scratch("explain-broken-store-json");
    let state = dir.join("state");
    fs::create_dir_all(state.join("objects")).expect("objects folder");
    fs::write(state.join("store.json"), "not json").expect("store.json");
    let state_arg = state.display().to_string();
    let output = bootsource(&["explain", "fedora", "--state", &state_arg]);
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(log.contains("store.json"), "{log}");
}

#[test]
fn insecure_registry_must_be_an_address() {
    let dir = scratch("insecure-registry-address");
    let state_arg = dir.join("state").display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "--insecure-registry",
        "not a host",
    ]);
    let log = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{log}");
    assert!(log.contains("--insecure-registry"), "{log}");
    assert!(log.contains("HOST[:PORT]"), "{log}");
    assert!(!dir.join("state").exists(), "the state folder was created");
}

/// Lists every file under `dir`, as paths relative to it.
fn all_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let root = dir.to_path_buf();
    let mut stack = vec![root.clone()];
    while let Some(folder) = stack.pop() {
        for entry in fs::read_dir(&folder).expect("folder").flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(&root).expect("under the root");
                out.push(relative.display().to_string());
            }
        }
    }
    out.sort();
    out
}

#[test]
fn names_that_leave_the_state_folder_are_refused() {
    let dir = scratch("name-traversal");
    let state = dir.join("state").join("inner");
    let state_arg = state.display().to_string();

    // An input object whose namespace and name climb out of the folder.
    let objects = dir.join("objects.yaml");
    fs::write(
        &objects,
        "apiVersion: cdi.kubevirt.io/v1beta1
kind: DataSource
metadata:
  name: ../../../../../escaped
  namespace: kubevirt-os-images
spec: {}
---
apiVersion: cdi.kubevirt.io/v1beta1
kind: DataSource
metadata:
  name: ok
  namespace: ../../../../escaped-ns
spec: {}
",
    )
    .expect("objects file");
    let hc = custom_hc(&dir);
    let objects_arg = objects.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "-f",
        &objects_arg,
        "--import-delay",
        "0s",
    ]);
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("is not a valid"), "{message}");
    // Input files are checked before the state folder is made.
    assert!(message.contains("objects.yaml (document 1)"), "{message}");
    assert!(
        !state.exists(),
        "the rejected input created the state folder"
    );

    // A template whose DataSource name climbs out: the planned actions on
    // that name are skipped, as an API server would reject them, and the
    // rest of the pass goes on.
    let text = fs::read_to_string(&hc).expect("hc file");
    fs::write(
        &hc,
        text.replace(
            "managedDataSource: custom",
            "managedDataSource: ../../../../victim",
        ),
    )
    .expect("hc file");
    let fresh = dir.join("fresh");
    let fresh_arg = fresh.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &fresh_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    assert!(fresh
        .join("objects/dataimportcron/kubevirt-os-images/custom-image-cron.yaml")
        .is_file());
    let message = stderr(&output);
    assert!(message.contains("action skipped"), "{message}");
    assert!(
        message.contains("metadata.name \"../../../../victim")
            && message.contains("is not a valid object name"),
        "{message}"
    );

    let outside: Vec<String> = all_files(&dir)
        .into_iter()
        .filter(|f| !f.starts_with("state/inner/") && !f.starts_with("fresh/"))
        .collect();
    assert_eq!(
        outside,
        vec!["hc.yaml".to_string(), "objects.yaml".to_string()]
    );
}

/// The stderr lines of a running child, read on a thread of their own so
/// that the child never blocks on a full pipe.
struct LogLines(std::sync::mpsc::Receiver<String>);

impl LogLines {
    fn of(child: &mut std::process::Child) -> Self {
        let pipe = child.stderr.take().expect("stderr is piped");
        let (sender, receiver) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(pipe).lines().map_while(Result::ok) {
                let _ = sender.send(line);
            }
        });
        LogLines(receiver)
    }

    /// Waits up to 120 s for a line that contains `needle`.
    fn wait_for(&self, needle: &str) {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.0.recv_timeout(left) {
                Ok(line) if line.contains(needle) => return,
                Ok(_) => {}
                Err(_) => panic!("no log line containing {needle:?} within 120 s"),
            }
        }
    }
}

#[test]
fn second_run_on_a_locked_folder_is_refused() {
    let dir = scratch("locked-folder");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let state_arg = state.display().to_string();
    let mut looping = Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args([
            "run",
            "--state",
            &state_arg,
            "-f",
            &hc,
            "--import-delay",
            "0s",
            "--max-sleep",
            "10m",
        ])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    // The folder is compared before and after the refused run, so the
    // loop must have finished its first pass and be asleep.
    LogLines::of(&mut looping).wait_for("sleeping until the next pass");
    assert!(data_source_target(&state, "custom").is_some());

    let before = snapshot(&state);
    let second = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "--import-delay",
        "0s",
    ]);
    let message = stderr(&second);
    assert_eq!(second.status.code(), Some(1), "{message}");
    assert!(message.contains("another bootsource run"), "{message}");
    assert_eq!(
        snapshot(&state),
        before,
        "the refused run changed the folder"
    );
    // Reading is not refused.
    let explain = bootsource(&["explain", "custom", "--state", &state_arg]);
    assert!(explain.status.success(), "{}", stderr(&explain));

    // The lock goes with its process, however it ends.
    looping.kill().expect("kill the loop");
    looping.wait().expect("the loop ends");
    let third = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "--import-delay",
        "0s",
    ]);
    assert!(third.status.success(), "{}", stderr(&third));
}

/// Sends `flag` (a `kill` option) twice to a run whose pass hangs in a
/// poll and checks that the second ends it at once with `code`.
fn stop_stuck_pass_twice(flag: &str, code: i32) {
    // A stand-in for a registry that accepts connections and never
    // responds, so that the first pass hangs in its poll.
    let hung = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a port");
    let address = hung.local_addr().expect("address").to_string();
    let (accepted_tx, accepted_rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in hung.incoming().flatten() {
            held.push(stream);
            let _ = accepted_tx.send(());
        }
    });

    let dir = scratch(&format!("second-signal{flag}"));
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let text = fs::read_to_string(&hc).expect("hc file");
    fs::write(
        &hc,
        text.replace(
            CUSTOM_URL,
            &format!("docker://{address}/disks/custom:latest"),
        ),
    )
    .expect("hc file");
    let state_arg = state.display().to_string();
    let mut child = Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args([
            "run",
            "--state",
            &state_arg,
            "-f",
            &hc,
            "--insecure-registry",
            &address,
            "--registry-timeout",
            "10m",
        ])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("the binary runs");
    let log = LogLines::of(&mut child);
    accepted_rx
        .recv_timeout(std::time::Duration::from_secs(120))
        .expect("the pass polls the registry");
    let pid = child.id().to_string();
    let signal = || {
        let status = Command::new("kill")
            .args([flag, pid.as_str()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    };

    signal();
    log.wait_for("signal received; stopping after the current pass");
    assert!(
        child.try_wait().expect("child state").is_none(),
        "the first signal ended the stuck pass"
    );
    signal();
    log.wait_for("second signal: stopping now");
    let status = child.wait().expect("the run ends");
    assert_eq!(status.code(), Some(code));

    // What the stopped pass left is a state folder the next run reads.
    let explain = bootsource(&["explain", "custom", "--state", &state_arg]);
    assert!(explain.status.success(), "{}", stderr(&explain));
}

#[test]
fn second_sigint_stops_a_stuck_pass() {
    stop_stuck_pass_twice("-INT", 130);
}

#[test]
fn second_sigterm_stops_a_stuck_pass() {
    stop_stuck_pass_twice("-TERM", 143);
}

#[test]
fn rejected_object_names_its_file() {
    let dir = scratch("rejected-object-file");
    let state = dir.join("state");
    let hc = custom_hc(&dir);
    let text = fs::read_to_string(&hc).expect("hc file");
    fs::write(
        &hc,
        text.replace("schedule: \"0 0 1 1 *\"", "schedule: [5]"),
    )
    .expect("hc file");
    let state_arg = state.display().to_string();
    let output = bootsource(&[
        "run",
        "--state",
        &state_arg,
        "--once",
        "-f",
        &hc,
        "--import-delay",
        "0s",
    ]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    let file =
        state.join("objects/hyperconverged/kubevirt-hyperconverged/kubevirt-hyperconverged.yaml");
    assert!(
        message.contains("spec.dataImportCronTemplates[0].spec.schedule")
            && message.contains(&format!("(in {})", file.display())),
        "{message}"
    );
}

#[test]
fn sweep_leaves_links_and_stray_files() {
    let dir = scratch("sweep-links");
    let state = dir.join("state");
    let made = run_example(&state);
    assert!(made.status.success(), "{}", stderr(&made));

    // Folders outside the state folder, reached through links, and files
    // a user left under volumes/.
    let outside = dir.join("outside");
    fs::create_dir_all(outside.join("inner")).expect("outside folder");
    fs::write(outside.join("inner/file"), "keep").expect("outside file");
    fs::create_dir_all(dir.join("outside2")).expect("outside folder");
    fs::write(dir.join("outside2/file"), "keep").expect("outside file");
    let volumes = state.join("volumes");
    std::os::unix::fs::symlink(&outside, volumes.join("linkedns")).expect("link");
    std::os::unix::fs::symlink(dir.join("outside2"), volumes.join(OS_IMAGES).join("linked"))
        .expect("link");
    fs::write(volumes.join("readme"), "notes").expect("stray file");
    fs::write(volumes.join(OS_IMAGES).join("notes.txt"), "notes").expect("stray file");

    let again = run_example(&state);
    assert!(again.status.success(), "{}", stderr(&again));
    assert!(
        outside.join("inner/file").is_file(),
        "a linked namespace folder was swept"
    );
    assert!(
        dir.join("outside2/file").is_file(),
        "a linked volume folder was swept"
    );
    assert!(volumes.join(OS_IMAGES).join("linked").exists());
    assert!(volumes.join("readme").is_file());
    assert!(volumes.join(OS_IMAGES).join("notes.txt").is_file());
}

#[test]
fn namespaced_object_without_namespace_is_refused() {
    let dir = scratch("missing-namespace");
    let state = dir.join("state");
    let objects = dir.join("objects.yaml");
    fs::write(
        &objects,
        "apiVersion: cdi.kubevirt.io/v1beta1
kind: DataSource
metadata:
  name: x
  namespace: \"\"
spec: {}
",
    )
    .expect("objects file");
    let state_arg = state.display().to_string();
    let objects_arg = objects.display().to_string();
    let output = bootsource(&["run", "--state", &state_arg, "--once", "-f", &objects_arg]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("metadata.namespace is missing, but a DataSource belongs to a namespace"),
        "{message}"
    );
    assert!(
        !state.exists(),
        "the rejected input created the state folder"
    );
}
