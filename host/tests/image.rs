//! The controller's container image built by `scripts/build-image` from the
//! test build of the binary: pushed to a real `docker-registry` on
//! 127.0.0.1 and pulled back with `skopeo`, its layer unpacked into an
//! empty folder and the binary run there through the image's own dynamic
//! loader and libraries. Also checks that two builds give one digest and
//! that the script's errors say what is wrong.
//!
//! The debug binary is about 500 MB, so each test keeps its files in its
//! own scratch folder and deletes it at the end. The layer is compressed
//! with `--gzip-level 1` to keep the tests fast.

use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use flate2::read::GzDecoder;
use serde_json::Value;

#[allow(dead_code)]
#[path = "support/process.rs"]
mod process;
#[allow(dead_code)]
#[path = "support/registry.rs"]
mod registry;
use process::{scratch, stderr, stdout};
use registry::{require_tool, sha256_hex, Registry};

const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../scripts/build-image");
const BINARY: &str = env!("CARGO_BIN_EXE_bootsource");
const REPOSITORY: &str = "bootsource/controller";

/// A scratch folder deleted when the test ends, pass or fail.
struct Scratch(PathBuf);

impl Scratch {
    fn new(name: &str) -> Scratch {
        Scratch(scratch(name))
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Runs the script with `args` on the test build of the binary.
fn build_image(args: &[&str]) -> Output {
    Command::new("bash")
        .arg(SCRIPT)
        .args(["--binary", BINARY, "--gzip-level", "1"])
        .args(args)
        .output()
        .expect("bash runs the script")
}

/// Runs the script and returns the manifest digest it prints.
fn build_ok(args: &[&str]) -> String {
    let output = build_image(args);
    assert!(
        output.status.success(),
        "build-image failed: {}",
        stderr(&output)
    );
    stdout(&output).trim().to_string()
}

fn read_json(path: &Path) -> Value {
    let bytes = fs::read(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

fn blob_path(layout: &Path, digest: &str) -> PathBuf {
    let hex = digest.strip_prefix("sha256:").expect("a sha256 digest");
    layout.join("blobs").join("sha256").join(hex)
}

/// Reads the manifest digest that the layout's index.json names, and the
/// manifest and config it leads to.
fn read_layout(layout: &Path) -> (String, Value, Value) {
    let index = read_json(&layout.join("index.json"));
    let digest = index["manifests"][0]["digest"]
        .as_str()
        .expect("index.json names a manifest")
        .to_string();
    let manifest = read_json(&blob_path(layout, &digest));
    let config_digest = manifest["config"]["digest"]
        .as_str()
        .expect("the manifest names a config");
    let config = read_json(&blob_path(layout, config_digest));
    (digest, manifest, config)
}

fn layer_path(layout: &Path, manifest: &Value) -> PathBuf {
    let digest = manifest["layers"][0]["digest"]
        .as_str()
        .expect("the manifest names a layer");
    blob_path(layout, digest)
}

/// Lists every regular file under `dir`, recursively.
fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(current) = pending.pop() {
        for entry in fs::read_dir(&current).expect("readable folder") {
            let path = entry.expect("folder entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                files.push(path);
            }
        }
    }
    files
}

/// Finds the image's dynamic loader and the folders of its shared
/// libraries.
fn loader_and_library_path(root: &Path) -> (PathBuf, String) {
    let files = files_under(root);
    let loader = files
        .iter()
        .find(|f| {
            f.file_name()
                .is_some_and(|n| n.to_string_lossy().starts_with("ld-linux"))
        })
        .expect("the image holds a dynamic loader")
        .clone();
    let mut folders: Vec<String> = files
        .iter()
        .filter(|f| f.to_string_lossy().contains(".so") && **f != loader)
        .filter_map(|f| f.parent().map(|p| p.display().to_string()))
        .collect();
    folders.sort();
    folders.dedup();
    (loader, folders.join(":"))
}

/// Runs the unpacked binary through the image's loader with only the
/// image's library folders and an empty environment.
fn run_in_image(root: &Path, args: &[&str]) -> Output {
    let (loader, library_path) = loader_and_library_path(root);
    Command::new(&loader)
        .env_clear()
        .arg("--library-path")
        .arg(&library_path)
        .args(args)
        .output()
        .expect("the image's loader runs")
}

#[test]
fn image_runs_after_a_registry_round_trip() {
    require_tool("skopeo");
    let dir = Scratch::new("image-round-trip");
    let registry = Registry::start(&dir.0.join("registry"));
    let built = dir.0.join("built");
    let destination = format!("docker://{}/{REPOSITORY}:test", registry.host());
    let digest = build_ok(&[
        "--tag",
        "test",
        "--push",
        &destination,
        "--insecure",
        built.to_str().expect("UTF-8 path"),
    ]);

    let pulled = dir.0.join("pulled");
    let output = Command::new("skopeo")
        .args(["copy", "--insecure-policy", "--src-tls-verify=false"])
        .arg(&destination)
        .arg(format!("oci:{}:test", pulled.display()))
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo could not pull: {}",
        stderr(&output)
    );
    let (pulled_digest, manifest, config) = read_layout(&pulled);
    assert_eq!(pulled_digest, digest, "the registry changed the manifest");
    assert_eq!(config["config"]["User"], "65532:65532");
    assert_eq!(
        config["config"]["Entrypoint"],
        serde_json::json!(["/usr/local/bin/bootsource"])
    );
    assert_eq!(config["os"], "linux");

    let root = dir.0.join("root");
    fs::create_dir(&root).expect("empty root folder");
    let layer = fs::File::open(layer_path(&pulled, &manifest)).expect("layer blob");
    tar::Archive::new(GzDecoder::new(layer))
        .unpack(&root)
        .expect("the layer unpacks");

    let passwd = fs::read_to_string(root.join("etc/passwd")).expect("etc/passwd in the image");
    assert!(
        passwd.lines().any(|l| l.contains(":65532:65532:")),
        "no user 65532 in etc/passwd:\n{passwd}"
    );
    let group = fs::read_to_string(root.join("etc/group")).expect("etc/group in the image");
    assert!(
        group.lines().any(|l| l.ends_with(":65532:")),
        "no group 65532 in etc/group:\n{group}"
    );
    let certificates = fs::read_to_string(root.join("etc/ssl/certs/ca-certificates.crt"))
        .expect("CA bundle in the image");
    assert!(
        certificates.contains("BEGIN CERTIFICATE"),
        "the CA bundle holds no certificate"
    );

    let binary = root.join("usr/local/bin/bootsource");
    let binary_arg = binary.to_str().expect("UTF-8 path");
    let listing = run_in_image(&root, &["--list", binary_arg]);
    assert!(
        listing.status.success(),
        "the loader cannot list the libraries: {}",
        stderr(&listing)
    );
    let outside: Vec<String> = stdout(&listing)
        .lines()
        .filter(|l| l.contains("=>") && !l.contains(&root.display().to_string()))
        .map(str::to_string)
        .collect();
    assert!(
        outside.is_empty(),
        "libraries resolved outside the image: {outside:?}"
    );

    let plan = run_in_image(&root, &[binary_arg, "plan", "--example"]);
    assert!(
        plan.status.success(),
        "the binary in the image failed: {}",
        stderr(&plan)
    );
    let table = stdout(&plan);
    let header = table.lines().next().unwrap_or_default();
    assert!(
        header.starts_with("TEMPLATE") && header.contains("DATASOURCE"),
        "no boot-source table header in:\n{table}"
    );
    assert!(
        table.contains("centos-stream9-image-cron"),
        "the boot-source table lacks centos-stream9:\n{table}"
    );
}

#[test]
fn two_builds_give_one_manifest_digest() {
    let dir = Scratch::new("image-twice");
    let first = dir.0.join("first");
    let second = dir.0.join("second");
    let first_digest = build_ok(&[first.to_str().expect("UTF-8 path")]);
    let second_digest = build_ok(&[second.to_str().expect("UTF-8 path")]);
    assert_eq!(first_digest, second_digest);

    let (index_digest, manifest, config) = read_layout(&first);
    assert_eq!(
        index_digest, first_digest,
        "the script printed another digest"
    );
    let manifest_bytes = fs::read(blob_path(&first, &index_digest)).expect("manifest blob");
    assert_eq!(
        format!("sha256:{}", sha256_hex(&manifest_bytes)),
        index_digest,
        "the manifest blob does not match its name"
    );
    assert_eq!(config["created"], "1970-01-01T00:00:00Z");

    let layer = fs::File::open(layer_path(&first, &manifest)).expect("layer blob");
    let mut archive = tar::Archive::new(GzDecoder::new(layer));
    let mut names = Vec::new();
    for entry in archive.entries().expect("layer entries") {
        let entry = entry.expect("layer entry");
        let header = entry.header();
        let name = entry.path().expect("entry name").display().to_string();
        assert_eq!(header.uid().expect("uid"), 0, "owner of {name}");
        assert_eq!(header.gid().expect("gid"), 0, "group of {name}");
        assert_eq!(header.mtime().expect("mtime"), 0, "mtime of {name}");
        names.push(name);
    }
    let mut sorted = names.clone();
    sorted.sort();
    assert_eq!(names, sorted, "layer entries are not sorted");
}

#[test]
fn missing_binary_is_named() {
    let dir = Scratch::new("image-missing-binary");
    let output = Command::new("bash")
        .arg(SCRIPT)
        .args(["--binary", "/nonexistent/bootsource"])
        .arg(dir.0.join("out"))
        .output()
        .expect("bash runs the script");
    assert!(!output.status.success(), "a missing binary was accepted");
    assert!(
        stderr(&output).contains("binary /nonexistent/bootsource does not exist"),
        "unexpected error: {}",
        stderr(&output)
    );
}

#[test]
fn missing_skopeo_is_named_on_push() {
    let dir = Scratch::new("image-missing-skopeo");
    // A PATH with only the tools the script needs before it looks for
    // skopeo.
    let bin = dir.0.join("bin");
    fs::create_dir(&bin).expect("bin folder");
    for tool in ["dirname", "tar", "head", "grep", "gzip", "sha256sum", "ldd"] {
        let found = Command::new("sh")
            .args(["-c", &format!("command -v {tool}")])
            .output()
            .expect("sh runs");
        let path = stdout(&found).trim().to_string();
        assert!(!path.is_empty(), "`{tool}` is not installed");
        symlink(&path, bin.join(tool)).expect("tool link");
    }
    let bash = stdout(
        &Command::new("sh")
            .args(["-c", "command -v bash"])
            .output()
            .expect("sh runs"),
    )
    .trim()
    .to_string();
    let output = Command::new(bash)
        .env("PATH", &bin)
        .arg(SCRIPT)
        .args(["--binary", BINARY, "--push", "docker://127.0.0.1:1/x:y"])
        .arg(dir.0.join("out"))
        .output()
        .expect("bash runs the script");
    assert!(
        !output.status.success(),
        "a push without skopeo was accepted"
    );
    assert!(
        stderr(&output).contains("`skopeo` is missing"),
        "unexpected error: {}",
        stderr(&output)
    );
}

#[test]
fn non_empty_out_dir_is_refused() {
    let dir = Scratch::new("image-non-empty");
    fs::write(dir.0.join("keep"), "data").expect("a file in the folder");
    let output = build_image(&[dir.0.to_str().expect("UTF-8 path")]);
    assert!(!output.status.success(), "a non-empty folder was accepted");
    assert!(
        stderr(&output).contains("is not empty"),
        "unexpected error: {}",
        stderr(&output)
    );
    assert!(dir.0.join("keep").exists(), "the script removed a file");
}

#[test]
fn help_names_every_option() {
    let output = Command::new("bash")
        .arg(SCRIPT)
        .arg("--help")
        .output()
        .expect("bash runs the script");
    assert!(output.status.success(), "--help failed");
    let help = stdout(&output);
    for option in [
        "--binary",
        "--tag",
        "--push",
        "--insecure",
        "--gzip-level",
        "OUT_DIR",
    ] {
        assert!(help.contains(option), "--help does not mention {option}");
    }
}
