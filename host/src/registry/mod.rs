//! The registry poller and puller: resolves `docker://` sources to manifest
//! digests and pulls containerdisk images by digest, through the
//! `oci-client` crate on a current-thread tokio runtime.

mod auth;
pub mod containerdisk;

use std::path::{Path, PathBuf};
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{
    IMAGE_MANIFEST_LIST_MEDIA_TYPE, IMAGE_MANIFEST_MEDIA_TYPE, OCI_IMAGE_INDEX_MEDIA_TYPE,
    OCI_IMAGE_MEDIA_TYPE,
};
use oci_client::{Client, Reference};
use serde_json::Value;
use sha2::{Digest as _, Sha256};
use tracing::debug;

pub use auth::AuthConfig;

/// Manifest media types accepted on a pull: OCI and Docker, single image
/// and multi-architecture index.
const MANIFEST_TYPES: [&str; 4] = [
    OCI_IMAGE_MEDIA_TYPE,
    OCI_IMAGE_INDEX_MEDIA_TYPE,
    IMAGE_MANIFEST_MEDIA_TYPE,
    IMAGE_MANIFEST_LIST_MEDIA_TYPE,
];

/// Failures of talking to a registry.
#[derive(Debug, thiserror::Error)]
pub enum RegistryError {
    #[error("invalid image URL {url:?}: {message}")]
    InvalidUrl { url: String, message: String },
    #[error("{reference}: {operation} failed: {message}")]
    Request {
        reference: String,
        operation: &'static str,
        message: String,
    },
    #[error("{reference}: {operation} timed out after {}s", timeout.as_secs())]
    Timeout {
        reference: String,
        operation: &'static str,
        timeout: Duration,
    },
    #[error("{reference}: digest mismatch on {what}: expected {expected}, got {actual}")]
    DigestMismatch {
        reference: String,
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{reference}: invalid image: {message}")]
    InvalidImage { reference: String, message: String },
    #[error("{}: {action} failed: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: std::io::Error,
    },
}

impl RegistryError {
    /// True when the image could not be fetched at all (as opposed to a
    /// fetched image that is unusable), which CDI reports as
    /// `ImagePullFailed`.
    pub fn is_pull_failure(&self) -> bool {
        matches!(
            self,
            RegistryError::Request { .. } | RegistryError::Timeout { .. }
        )
    }
}

/// Connection settings of the registry client.
#[derive(Debug, Clone, Default)]
pub struct RegistryConfig {
    /// Registries (`HOST:PORT`) spoken to over plain HTTP.
    pub insecure: Vec<String>,
    /// Credentials, from a docker config file.
    pub auth: AuthConfig,
    /// Timeout of one request: a poll as a whole, or connect and each
    /// read of a pull.
    pub timeout: Duration,
}

/// A registry client with its own single-threaded async runtime.
pub struct Registry {
    runtime: tokio::runtime::Runtime,
    client: Client,
    config: RegistryConfig,
}

impl Registry {
    /// Builds the client and its runtime; the error is the runtime's.
    pub fn new(config: RegistryConfig) -> Result<Self, std::io::Error> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let client = Client::new(ClientConfig {
            protocol: ClientProtocol::HttpsExcept(config.insecure.clone()),
            connect_timeout: Some(config.timeout),
            read_timeout: Some(config.timeout),
            platform_resolver: None,
            ..ClientConfig::default()
        });
        Ok(Registry {
            runtime,
            client,
            config,
        })
    }

    /// Resolves `url` (`docker://host[:port]/repo[:tag]`) to the digest of
    /// its manifest with a HEAD request. For a multi-architecture image
    /// this is the digest of the index, not of one platform's manifest.
    pub fn resolve(&self, url: &str) -> Result<String, RegistryError> {
        let reference = parse_url(url)?;
        let auth = self.config.auth.for_registry(reference.resolve_registry());
        let name = reference.whole();
        let request = self.client.fetch_manifest_digest(&reference, &auth);
        let digest = self
            .runtime
            .block_on(async { tokio::time::timeout(self.config.timeout, request).await })
            .map_err(|_| RegistryError::Timeout {
                reference: name.clone(),
                operation: "HEAD of the manifest",
                timeout: self.config.timeout,
            })?
            .map_err(|e| self.request_error(&reference, "HEAD of the manifest", &e))?;
        debug!(reference = %name, %digest, "resolved");
        Ok(digest)
    }

    /// Pulls the image `url` (which must name a digest), verifies the
    /// sha256 of the manifest and of every blob, and extracts its disk
    /// into `dest_dir` (see [`containerdisk::extract_disk`]). Downloads go
    /// to `tmp_dir`. `architecture` picks the entry of a multi-architecture
    /// index; it defaults to the architecture of this machine.
    pub fn pull_disk(
        &self,
        url: &str,
        architecture: Option<&str>,
        tmp_dir: &Path,
        dest_dir: &Path,
    ) -> Result<PathBuf, RegistryError> {
        let reference = parse_url(url)?;
        let name = reference.whole();
        let Some(digest) = reference.digest().map(str::to_string) else {
            return Err(RegistryError::InvalidUrl {
                url: url.to_string(),
                message: "an import URL must name a digest (`@sha256:...`)".into(),
            });
        };
        let architecture = architecture.unwrap_or(host_architecture());

        let mut manifest = self.manifest(&reference, &digest)?;
        if manifest.get("manifests").is_some() {
            let entry = pick_platform(&manifest, architecture).ok_or_else(|| {
                RegistryError::InvalidImage {
                    reference: name.clone(),
                    message: format!("the index has no linux/{architecture} image"),
                }
            })?;
            let platform_reference = reference.clone_with_digest(entry.clone());
            manifest = self.manifest(&platform_reference, &entry)?;
        }

        let config_digest = manifest
            .pointer("/config/digest")
            .and_then(Value::as_str)
            .ok_or_else(|| RegistryError::InvalidImage {
                reference: name.clone(),
                message: "the manifest has no config".into(),
            })?;
        let mut layers = Vec::new();
        for (index, layer) in manifest
            .get("layers")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            let layer_digest = layer.get("digest").and_then(Value::as_str).ok_or_else(|| {
                RegistryError::InvalidImage {
                    reference: name.clone(),
                    message: format!("layer {index} has no digest"),
                }
            })?;
            layers.push(layer_digest.to_string());
        }
        if layers.is_empty() {
            return Err(RegistryError::InvalidImage {
                reference: name,
                message: "the manifest has no layers".into(),
            });
        }

        let config_path = self.blob(&reference, config_digest, tmp_dir)?;
        let _ = std::fs::remove_file(&config_path);
        let mut layer_paths = Vec::new();
        for layer in &layers {
            layer_paths.push(self.blob(&reference, layer, tmp_dir)?);
        }
        let extracted =
            containerdisk::extract_disk(&layer_paths, tmp_dir, dest_dir).map_err(|message| {
                RegistryError::InvalidImage {
                    reference: name.clone(),
                    message,
                }
            });
        for path in &layer_paths {
            let _ = std::fs::remove_file(path);
        }
        extracted
    }

    /// Wraps a failed request to `reference`'s registry: the message contains
    /// the error's whole source chain and, where a cause is recognised, a
    /// hint (see [`request_message`]).
    fn request_error(
        &self,
        reference: &Reference,
        operation: &'static str,
        error: &(dyn std::error::Error + 'static),
    ) -> RegistryError {
        let registry = reference.resolve_registry();
        RegistryError::Request {
            reference: reference.whole(),
            operation,
            message: request_message(
                error,
                &RequestContext {
                    registry,
                    https: !self.config.insecure.iter().any(|host| host == registry),
                    credentials: self.config.auth.has(registry),
                },
            ),
        }
    }

    /// Fetches the manifest `digest` of `reference`'s repository and checks
    /// that its bytes hash to that digest.
    fn manifest(&self, reference: &Reference, digest: &str) -> Result<Value, RegistryError> {
        let by_digest = reference.clone_with_digest(digest.to_string());
        let name = by_digest.whole();
        let auth = self.config.auth.for_registry(reference.resolve_registry());
        let (bytes, _) = self
            .runtime
            .block_on(
                self.client
                    .pull_manifest_raw(&by_digest, &auth, &MANIFEST_TYPES),
            )
            .map_err(|e| self.request_error(&by_digest, "GET of the manifest", &e))?;
        let actual = sha256_digest(&bytes);
        if actual != digest {
            return Err(RegistryError::DigestMismatch {
                reference: name,
                what: "the manifest".into(),
                expected: digest.to_string(),
                actual,
            });
        }
        serde_json::from_slice(&bytes).map_err(|e| RegistryError::InvalidImage {
            reference: name,
            message: format!("the manifest is not JSON: {e}"),
        })
    }

    /// Downloads blob `digest` into `tmp_dir` and checks its sha256.
    fn blob(
        &self,
        reference: &Reference,
        digest: &str,
        tmp_dir: &Path,
    ) -> Result<PathBuf, RegistryError> {
        let name = reference.whole();
        let hex = digest
            .strip_prefix("sha256:")
            .ok_or_else(|| RegistryError::InvalidImage {
                reference: name.clone(),
                message: format!("blob digest {digest} is not sha256"),
            })?;
        let path = tmp_dir.join(format!("blob-{hex}"));
        let io_error = |action| {
            let path = path.clone();
            move |source| RegistryError::Io {
                path,
                action,
                source,
            }
        };
        let pulled: Result<(), RegistryError> = self.runtime.block_on(async {
            let file = tokio::fs::File::create(&path)
                .await
                .map_err(io_error("creating"))?;
            self.client
                .pull_blob(reference, digest, file)
                .await
                .map_err(|e| self.request_error(reference, "GET of a blob", &e))
        });
        if let Err(error) = pulled {
            let _ = std::fs::remove_file(&path);
            return Err(error);
        }
        let actual = sha256_file(&path).map_err(io_error("reading"))?;
        if actual != digest {
            let _ = std::fs::remove_file(&path);
            return Err(RegistryError::DigestMismatch {
                reference: name,
                what: format!("blob {digest}"),
                expected: digest.to_string(),
                actual,
            });
        }
        Ok(path)
    }
}

/// The request details that a request error's message names.
#[derive(Debug, Clone, Copy)]
pub struct RequestContext<'a> {
    /// The registry, `host[:port]`.
    pub registry: &'a str,
    /// True when the client spoke HTTPS to the registry.
    pub https: bool,
    /// True when credentials for the registry were given.
    pub credentials: bool,
}

/// Builds the message of a failed registry request: the error followed by
/// each of its causes, joined by `: `, so that the root cause (such as
/// `Connection refused` or a TLS alert) is kept. A refused login (HTTP
/// 401) comes first, with the registry's name. A TLS failure towards a
/// registry reached over HTTPS ends with a hint at `--insecure-registry`.
pub fn request_message(
    error: &(dyn std::error::Error + 'static),
    request: &RequestContext,
) -> String {
    let chain = source_chain(error);
    let registry = request.registry;
    if is_unauthorized(error) {
        let credentials = if request.credentials {
            "the credentials given for it were refused"
        } else {
            "no credentials for it were given (--registry-config)"
        };
        return format!(
            "authentication failed (401) at registry {registry}: {credentials}: {chain}"
        );
    }
    if request.https && is_tls_failure(error) {
        return format!(
            "{chain}; if {registry} serves plain HTTP, pass `--insecure-registry {registry}`"
        );
    }
    chain
}

/// Joins the text of `error` and of each of its sources with `: `. A
/// source whose text the previous one already contains is left out.
pub fn source_chain(error: &(dyn std::error::Error + 'static)) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut next = Some(error);
    while let Some(current) = next {
        let text = current.to_string();
        let repeated = parts.last().is_some_and(|last| last.contains(&text));
        if !text.is_empty() && !repeated {
            parts.push(text);
        }
        next = current.source();
    }
    parts.join(": ")
}

fn causes<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> impl Iterator<Item = &'a (dyn std::error::Error + 'static)> {
    std::iter::successors(Some(error), |e| e.source())
}

/// True when the registry returned 401 Unauthorized.
fn is_unauthorized(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| {
        matches!(
            cause.downcast_ref::<OciDistributionError>(),
            Some(
                OciDistributionError::UnauthorizedError { .. }
                    | OciDistributionError::ServerError { code: 401, .. }
            )
        )
    })
}

/// True when a cause is a failed TLS handshake or record, as when HTTPS
/// meets a server that speaks plain HTTP. Certificate checks are not
/// counted: those servers do speak TLS.
fn is_tls_failure(error: &(dyn std::error::Error + 'static)) -> bool {
    causes(error).any(|cause| {
        let text = cause.to_string().to_ascii_lowercase();
        let tls = ["ssl", "tls", "handshake", "wrong version number"]
            .iter()
            .any(|word| text.contains(word));
        tls && !text.contains("certificate")
    })
}

/// Parses `docker://host[:port]/repo[:tag][@digest]` into a reference.
pub fn parse_url(url: &str) -> Result<Reference, RegistryError> {
    let invalid = |message: String| RegistryError::InvalidUrl {
        url: url.to_string(),
        message,
    };
    let rest = url
        .strip_prefix("docker://")
        .ok_or_else(|| invalid("only docker:// URLs can be polled or pulled".into()))?;
    Reference::try_from(rest).map_err(|e| invalid(e.to_string()))
}

/// Returns `sha256:<hex>` of `bytes`.
pub fn sha256_digest(bytes: &[u8]) -> String {
    format!("sha256:{}", hex(&Sha256::digest(bytes)))
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher)?;
    Ok(format!("sha256:{}", hex(&hasher.finalize())))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Returns the digest of the index entry for `linux/<architecture>`, or of
/// the only entry when the index has one.
fn pick_platform(index: &Value, architecture: &str) -> Option<String> {
    let entries = index.get("manifests")?.as_array()?;
    let digest = |entry: &Value| entry.get("digest")?.as_str().map(str::to_string);
    let matching = entries.iter().find(|entry| {
        let field = |name: &str| {
            entry
                .pointer(&format!("/platform/{name}"))
                .and_then(Value::as_str)
        };
        field("architecture") == Some(architecture) && field("os").is_none_or(|os| os == "linux")
    });
    match (matching, entries.as_slice()) {
        (Some(entry), _) => digest(entry),
        (None, [only]) => digest(only),
        _ => None,
    }
}

/// Returns this machine's architecture as OCI names it.
fn host_architecture() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "powerpc64" => "ppc64le",
        other => other,
    }
}

/// Returns the wait before retry number `failures` (1 for the first
/// retry): `base` doubled per earlier failure, at most `cap`.
pub fn backoff_delay(failures: u32, base: Duration, cap: Duration) -> Duration {
    let doublings = failures.saturating_sub(1).min(30);
    base.saturating_mul(1u32 << doublings).min(cap)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_up_to_cap() {
        let base = Duration::from_secs(10);
        let cap = Duration::from_secs(300);
        let delays: Vec<u64> = (1..=7)
            .map(|n| backoff_delay(n, base, cap).as_secs())
            .collect();
        assert_eq!(delays, vec![10, 20, 40, 80, 160, 300, 300]);
    }

    #[test]
    fn url_with_port_parses_registry() {
        let reference = parse_url("docker://127.0.0.1:5000/disks/fedora:41");
        let reference = reference.map_err(|e| e.to_string());
        assert_eq!(
            reference.as_ref().map(|r| r.registry().to_string()),
            Ok("127.0.0.1:5000".to_string())
        );
        assert_eq!(
            reference.as_ref().map(|r| r.tag().map(str::to_string)),
            Ok(Some("41".to_string()))
        );
    }

    #[test]
    fn url_without_docker_scheme_rejected() {
        assert!(parse_url("oci-archive:///tmp/x.tar").is_err());
    }

    /// An error with a text and an optional source, for building chains.
    #[derive(Debug)]
    struct Link {
        text: &'static str,
        source: Option<Box<Link>>,
    }

    impl std::fmt::Display for Link {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str(self.text)
        }
    }

    impl std::error::Error for Link {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.source
                .as_deref()
                .map(|link| link as &(dyn std::error::Error + 'static))
        }
    }

    fn chain(texts: &[&'static str]) -> Link {
        let mut links = texts.iter().rev();
        let mut link = Link {
            text: links.next().copied().unwrap_or_default(),
            source: None,
        };
        for text in links {
            link = Link {
                text,
                source: Some(Box::new(link)),
            };
        }
        link
    }

    const REGISTRY: &str = "127.0.0.1:5000";

    fn context(https: bool, credentials: bool) -> RequestContext<'static> {
        RequestContext {
            registry: REGISTRY,
            https,
            credentials,
        }
    }

    #[test]
    fn request_message_keeps_every_cause() {
        // (causes, HTTPS, expected message)
        let cases: [(&[&'static str], bool, &str); 5] = [
            (
                &[
                    "error sending request for url (http://127.0.0.1:5000/v2/)",
                    "client error (Connect)",
                    "tcp connect error",
                    "Connection refused (os error 111)",
                ],
                false,
                "error sending request for url (http://127.0.0.1:5000/v2/): client error (Connect): \
                 tcp connect error: Connection refused (os error 111)",
            ),
            (
                &[
                    "error sending request for url (https://registry.invalid/v2/)",
                    "client error (Connect)",
                    "dns error",
                    "failed to lookup address information: Name or service not known",
                ],
                true,
                "error sending request for url (https://registry.invalid/v2/): client error \
                 (Connect): dns error: failed to lookup address information: Name or service not known",
            ),
            (
                &[
                    "error sending request for url (https://127.0.0.1:5000/v2/)",
                    "client error (Connect)",
                    "error:0A00010B:SSL routines:ssl3_get_record:wrong version number",
                ],
                true,
                "error sending request for url (https://127.0.0.1:5000/v2/): client error (Connect): \
                 error:0A00010B:SSL routines:ssl3_get_record:wrong version number; \
                 if 127.0.0.1:5000 serves plain HTTP, pass `--insecure-registry 127.0.0.1:5000`",
            ),
            (
                &[
                    "error sending request for url (https://127.0.0.1:5000/v2/)",
                    "error:0A000086:SSL routines:tls_post_process_server_certificate:\
                     certificate verify failed",
                ],
                true,
                "error sending request for url (https://127.0.0.1:5000/v2/): error:0A000086:SSL \
                 routines:tls_post_process_server_certificate:certificate verify failed",
            ),
            (
                &["tcp connect error: Connection refused", "Connection refused"],
                false,
                "tcp connect error: Connection refused",
            ),
        ];
        for (causes, https, expected) in cases {
            let error = chain(causes);
            assert_eq!(request_message(&error, &context(https, false)), expected);
        }
    }

    #[test]
    fn tls_hint_only_over_https() {
        let error = chain(&[
            "client error (Connect)",
            "SSL routines::wrong version number",
        ]);
        let message = request_message(&error, &context(false, false));
        assert!(!message.contains("--insecure-registry"), "{message}");
    }

    #[test]
    fn unauthorized_names_registry_and_credentials() {
        let error = OciDistributionError::UnauthorizedError {
            url: "http://127.0.0.1:5000/v2/disks/testdisk/manifests/latest".into(),
        };
        let cases = [
            (true, "the credentials given for it were refused"),
            (
                false,
                "no credentials for it were given (--registry-config)",
            ),
        ];
        for (credentials, detail) in cases {
            let message = request_message(&error, &context(false, credentials));
            assert_eq!(
                message,
                format!(
                    "authentication failed (401) at registry 127.0.0.1:5000: {detail}: \
                     {error}"
                )
            );
        }
    }

    #[test]
    fn index_entry_chosen_by_architecture() {
        let index = serde_json::json!({"manifests": [
            {"digest": "sha256:a", "platform": {"architecture": "arm64", "os": "linux"}},
            {"digest": "sha256:b", "platform": {"architecture": "amd64", "os": "linux"}},
        ]});
        assert_eq!(pick_platform(&index, "amd64"), Some("sha256:b".into()));
        assert_eq!(pick_platform(&index, "s390x"), None);
    }
}
