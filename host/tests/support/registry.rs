//! A real OCI registry for tests: Debian's `docker-registry` on a free
//! loopback port, containerdisk images built with `qemu-img` and pushed
//! with `skopeo`.

use std::fs;
use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use flate2::Compression;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};

/// Repository the tests push their images to.
pub const REPOSITORY: &str = "disks/testdisk";

pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .args(["-c", &format!("command -v {tool}")])
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        found,
        "`{tool}` is missing: install it with `apt-get install -y docker-registry skopeo qemu-utils apache2-utils` \
         (the registry tests need a real registry and cannot be skipped)"
    );
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// A `docker-registry serve` process on a free loopback port; killed on
/// drop. Its log goes to `registry.log` in the test's folder.
pub struct Registry {
    child: Option<Child>,
    port: u16,
    /// User and password the registry requires, when it was started with
    /// an htpasswd file.
    credentials: Option<(String, String)>,
}

impl Registry {
    /// Starts a registry open to anyone.
    pub fn start(dir: &Path) -> Registry {
        Registry::launch(dir, None)
    }

    /// Starts a registry that requires `user` and `password` (HTTP basic
    /// authentication against a bcrypt htpasswd file made by `htpasswd
    /// -Bbn`), over plain HTTP.
    pub fn start_with_login(dir: &Path, user: &str, password: &str) -> Registry {
        require_tool("htpasswd");
        let output = Command::new("htpasswd")
            .args(["-Bbn", user, password])
            .output()
            .expect("htpasswd runs");
        assert!(output.status.success(), "htpasswd failed");
        fs::create_dir_all(dir).expect("test folder");
        fs::write(dir.join("htpasswd"), &output.stdout).expect("htpasswd file");
        Registry::launch(dir, Some((user.to_string(), password.to_string())))
    }

    fn launch(dir: &Path, credentials: Option<(String, String)>) -> Registry {
        require_tool("docker-registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let root = dir.join("registry-root");
        fs::create_dir_all(&root).expect("registry root");
        let auth = match credentials {
            Some(_) => format!(
                "auth:\n  htpasswd:\n    realm: bootsource-test\n    path: {}\n",
                dir.join("htpasswd").display()
            ),
            None => String::new(),
        };
        let config = dir.join("registry.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: info\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n{auth}",
                root.display()
            ),
        )
        .expect("registry config");
        let log = fs::File::create(dir.join("registry.log")).expect("registry log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("docker-registry starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not listen on port {port} within 20 s; see {}",
                dir.join("registry.log").display()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child: Some(child),
            port,
            credentials,
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Writes a blob into an OCI layout and returns its descriptor.
pub fn add_blob(layout: &Path, media_type: &str, bytes: &[u8]) -> Value {
    let hex = sha256_hex(bytes);
    let dir = layout.join("blobs").join("sha256");
    fs::create_dir_all(&dir).expect("blobs folder");
    fs::write(dir.join(&hex), bytes).expect("blob");
    json!({ "mediaType": media_type, "digest": format!("sha256:{hex}"), "size": bytes.len() })
}

/// Builds a containerdisk OCI layout under `layout` with tag `tag`: a
/// qcow2 of `size` made by `qemu-img`, in a gzip tar layer as
/// `disk/disk.qcow2`. Returns the qcow2 bytes and the manifest digest.
pub fn build_containerdisk(work: &Path, layout: &Path, tag: &str, size: &str) -> (Vec<u8>, String) {
    let (disk, mut descriptor) = add_containerdisk(work, layout, tag, size, "amd64");
    let digest = descriptor["digest"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    write_layout_index(layout, descriptor);
    (disk, digest)
}

/// Builds a multi-architecture containerdisk under `layout` with tag
/// `tag`: one image per `(architecture, size)` in `platforms`, each with
/// its own qcow2, joined by an OCI image index. Returns each
/// architecture's qcow2 bytes and the digest of the index.
pub fn build_multiarch_containerdisk(
    work: &Path,
    layout: &Path,
    tag: &str,
    platforms: &[(&str, &str)],
) -> (Vec<(String, Vec<u8>)>, String) {
    let mut disks = Vec::new();
    let mut manifests = Vec::new();
    for (architecture, size) in platforms {
        let name = format!("{tag}-{architecture}");
        let (disk, mut descriptor) = add_containerdisk(work, layout, &name, size, architecture);
        descriptor["platform"] = json!({ "architecture": architecture, "os": "linux" });
        manifests.push(descriptor);
        disks.push((architecture.to_string(), disk));
    }
    let index = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": manifests,
    });
    let index_bytes = serde_json::to_vec(&index).expect("index JSON");
    let mut descriptor = add_blob(
        layout,
        "application/vnd.oci.image.index.v1+json",
        &index_bytes,
    );
    descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    write_layout_index(layout, descriptor);
    (disks, format!("sha256:{}", sha256_hex(&index_bytes)))
}

/// Writes the layout's `oci-layout` and an `index.json` whose only entry
/// is `descriptor`.
fn write_layout_index(layout: &Path, descriptor: Value) {
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let index = json!({ "schemaVersion": 2, "manifests": [descriptor] });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index JSON"),
    )
    .expect("index.json");
}

/// Adds the blobs of one containerdisk image for `architecture` (a qcow2
/// of `size`) to `layout`. Returns the qcow2 bytes and the manifest's
/// descriptor.
fn add_containerdisk(
    work: &Path,
    layout: &Path,
    name: &str,
    size: &str,
    architecture: &str,
) -> (Vec<u8>, Value) {
    require_tool("qemu-img");
    let qcow2 = work.join(format!("disk-{name}.qcow2"));
    let status = Command::new("qemu-img")
        .args(["create", "-q", "-f", "qcow2"])
        .arg(&qcow2)
        .arg(size)
        .status()
        .expect("qemu-img runs");
    assert!(status.success(), "qemu-img create failed");
    let disk = fs::read(&qcow2).expect("qcow2 file");

    let mut tar_bytes = Vec::new();
    {
        let mut builder = tar::Builder::new(&mut tar_bytes);
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Directory);
        header.set_size(0);
        header.set_mode(0o755);
        header.set_cksum();
        builder
            .append_data(&mut header, "disk/", std::io::empty())
            .expect("tar dir");
        let mut header = tar::Header::new_gnu();
        header.set_size(disk.len() as u64);
        header.set_mode(0o440);
        header.set_uid(107);
        header.set_gid(107);
        header.set_cksum();
        builder
            .append_data(&mut header, "disk/disk.qcow2", disk.as_slice())
            .expect("tar entry");
        builder.finish().expect("tar finish");
    }
    let mut gzip = GzEncoder::new(Vec::new(), Compression::fast());
    gzip.write_all(&tar_bytes).expect("gzip");
    let layer_bytes = gzip.finish().expect("gzip finish");

    fs::create_dir_all(layout).expect("layout folder");
    let layer = add_blob(
        layout,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &layer_bytes,
    );
    let config = json!({
        "architecture": architecture,
        "os": "linux",
        "rootfs": { "type": "layers", "diff_ids": [format!("sha256:{}", sha256_hex(&tar_bytes))] },
    });
    let config = add_blob(
        layout,
        "application/vnd.oci.image.config.v1+json",
        &serde_json::to_vec(&config).expect("config JSON"),
    );
    let manifest = json!({
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": config,
        "layers": [layer],
    });
    let manifest_bytes = serde_json::to_vec(&manifest).expect("manifest JSON");
    let descriptor = add_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest_bytes,
    );
    (disk, descriptor)
}

/// Copies the image tagged `tag` in `layout` to the test repository as
/// `dest_tag`, logging in when the registry requires it.
pub fn push(layout: &Path, tag: &str, registry: &Registry, dest_tag: &str) {
    copy(layout, tag, registry, dest_tag, &[]);
}

/// Like [`push`] for an image index: `skopeo copy --all` copies every
/// platform's image and the index itself.
pub fn push_all(layout: &Path, tag: &str, registry: &Registry, dest_tag: &str) {
    copy(layout, tag, registry, dest_tag, &["--all"]);
}

fn copy(layout: &Path, tag: &str, registry: &Registry, dest_tag: &str, extra: &[&str]) {
    require_tool("skopeo");
    let mut command = Command::new("skopeo");
    command
        .args(["copy", "--insecure-policy", "--dest-tls-verify=false"])
        .args(extra);
    if let Some((user, password)) = &registry.credentials {
        command.arg(format!("--dest-creds={user}:{password}"));
    }
    let output = command
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(format!(
            "docker://{}/{REPOSITORY}:{dest_tag}",
            registry.host()
        ))
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo copy failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Returns the sha256 digest of the manifest (or index) bytes that the
/// registry serves for `dest_tag`, as `skopeo inspect --raw` fetches them.
pub fn served_digest(registry: &Registry, dest_tag: &str) -> String {
    require_tool("skopeo");
    let mut command = Command::new("skopeo");
    command.args(["inspect", "--raw", "--tls-verify=false"]);
    if let Some((user, password)) = &registry.credentials {
        command.arg(format!("--creds={user}:{password}"));
    }
    let output = command
        .arg(format!(
            "docker://{}/{REPOSITORY}:{dest_tag}",
            registry.host()
        ))
        .output()
        .expect("skopeo runs");
    assert!(
        output.status.success(),
        "skopeo inspect failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    format!("sha256:{}", sha256_hex(&output.stdout))
}
