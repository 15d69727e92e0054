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
        "`{tool}` is missing: install it with `apt-get install -y docker-registry skopeo qemu-utils` \
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
/// drop.
pub struct Registry {
    child: Option<Child>,
    port: u16,
}

impl Registry {
    pub fn start(dir: &Path) -> Registry {
        require_tool("docker-registry");
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let root = dir.join("registry-root");
        fs::create_dir_all(&root).expect("registry root");
        let config = dir.join("registry.yml");
        fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\n  delete:\n    enabled: true\nhttp:\n  addr: 127.0.0.1:{port}\n",
                root.display()
            ),
        )
        .expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry starts");
        let deadline = Instant::now() + Duration::from_secs(20);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "the registry did not listen on port {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        Registry {
            child: Some(child),
            port,
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
    require_tool("qemu-img");
    let qcow2 = work.join(format!("disk-{tag}.qcow2"));
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
    fs::write(
        layout.join("oci-layout"),
        r#"{"imageLayoutVersion":"1.0.0"}"#,
    )
    .expect("oci-layout");
    let layer = add_blob(
        layout,
        "application/vnd.oci.image.layer.v1.tar+gzip",
        &layer_bytes,
    );
    let config = json!({
        "architecture": "amd64",
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
    let mut descriptor = add_blob(
        layout,
        "application/vnd.oci.image.manifest.v1+json",
        &manifest_bytes,
    );
    descriptor["annotations"] = json!({ "org.opencontainers.image.ref.name": tag });
    let index = json!({ "schemaVersion": 2, "manifests": [descriptor] });
    fs::write(
        layout.join("index.json"),
        serde_json::to_vec(&index).expect("index JSON"),
    )
    .expect("index.json");
    (disk, format!("sha256:{}", sha256_hex(&manifest_bytes)))
}

pub fn push(layout: &Path, tag: &str, registry: &Registry, dest_tag: &str) {
    require_tool("skopeo");
    let output = Command::new("skopeo")
        .args(["copy", "--insecure-policy", "--dest-tls-verify=false"])
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
