//! Test support: a webhook server on 127.0.0.1 with a certificate made by
//! a test CA, an HTTPS client that trusts only that CA, and the
//! AdmissionReview fixtures under `tests/test_data/admission/`.

// Each test module uses only some of these helpers.
#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bootsource::runtime::Runtime;
use bootsource::webhook::{self, Reviewer, Server, WebhookConfig};
use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;
use rcgen::{BasicConstraints, CertificateParams, IsCa, KeyPair, SanType};
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use serde_json::{json, Value};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;

/// Returns the compiled module, shared by every test in this process.
pub fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::embedded().expect("the embedded module loads")))
        .clone()
}

/// A test certificate authority and the server certificates it signs.
pub struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    pub der: CertificateDer<'static>,
}

impl TestCa {
    pub fn new() -> Self {
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA parameters");
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "bootsource test CA");
        let key = KeyPair::generate().expect("CA key");
        let cert = params.clone().self_signed(&key).expect("CA certificate");
        TestCa {
            der: cert.der().clone(),
            params,
            key,
        }
    }

    /// Returns a server certificate for localhost and 127.0.0.1 as PEM
    /// (certificate, key) and its DER form.
    pub fn server_cert(&self, common_name: &str) -> (String, String, CertificateDer<'static>) {
        let issuer = self
            .params
            .clone()
            .self_signed(&self.key)
            .expect("CA certificate");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("server parameters");
        params.subject_alt_names = vec![
            SanType::DnsName("localhost".try_into().expect("DNS name")),
            SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        ];
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, common_name);
        let key = KeyPair::generate().expect("server key");
        let cert = params
            .signed_by(&key, &issuer, &self.key)
            .expect("server certificate");
        (cert.pem(), key.serialize_pem(), cert.der().clone())
    }
}

/// A running server with its certificate files.
pub struct TestServer {
    pub address: SocketAddr,
    pub ca: TestCa,
    pub dir: PathBuf,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    /// Starts a server with the given body limit in bytes and request
    /// timeout.
    pub async fn start(max_body_bytes: usize, request_timeout: Duration) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "bootsource-webhook-{}-{}",
            std::process::id(),
            unique()
        ));
        std::fs::create_dir_all(&dir).expect("temporary folder");
        let ca = TestCa::new();
        let (cert, key, _) = ca.server_cert("first");
        write_atomically(&dir.join("tls.crt"), &cert);
        write_atomically(&dir.join("tls.key"), &key);

        let config = WebhookConfig {
            listen: "127.0.0.1:0".parse().expect("address"),
            tls_cert: dir.join("tls.crt"),
            tls_key: dir.join("tls.key"),
            max_body_bytes,
            request_timeout,
        };
        let server = Server::bind(&config, Reviewer::new(runtime(), json!({})))
            .await
            .expect("the server binds");
        let address = server.local_addr();
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.serve_until(async {
            let _ = stopped.await;
        }));
        TestServer {
            address,
            ca,
            dir,
            _shutdown: shutdown,
        }
    }

    /// Starts a server with the default limits.
    pub async fn default() -> Self {
        Self::start(
            webhook::DEFAULT_MAX_BODY_BYTES,
            Duration::from_secs(webhook::DEFAULT_REQUEST_TIMEOUT_SECS),
        )
        .await
    }

    /// A client for this server.
    pub fn client(&self) -> Client {
        Client::new(&self.ca, self.address)
    }

    /// Opens a TLS connection that trusts only the test CA.
    pub async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        self.client().connect().await
    }

    /// Sends one request on a new connection; returns the status and body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        self.client().send(method, path, content_type, body).await
    }

    /// Posts `body` as JSON; returns the status and the decoded reply.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        self.client().post_json(path, body).await
    }
}

/// An HTTPS client for `localhost` at a fixed address that trusts only one
/// test CA. Each request opens a new connection.
pub struct Client {
    ca: CertificateDer<'static>,
    address: SocketAddr,
}

impl Client {
    pub fn new(ca: &TestCa, address: SocketAddr) -> Self {
        Client {
            ca: ca.der.clone(),
            address,
        }
    }

    /// Opens a TLS connection that trusts only the test CA.
    pub async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = RootCertStore::empty();
        roots.add(self.ca.clone()).expect("the CA is a valid root");
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("protocol versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        let stream = TcpStream::connect(self.address).await.expect("TCP connect");
        let name = ServerName::try_from("localhost").expect("server name");
        TlsConnector::from(Arc::new(config))
            .connect(name, stream)
            .await
            .expect("TLS handshake")
    }

    /// Sends one request on a new connection; returns the status and body.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> (StatusCode, Vec<u8>) {
        let tls = self.connect().await;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("HTTP handshake");
        tokio::spawn(connection);
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(content_type) = content_type {
            request = request.header("content-type", content_type);
        }
        let request = request.body(Full::new(Bytes::from(body))).expect("request");
        let response = sender.send_request(request).await.expect("response");
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .expect("response body")
            .to_bytes()
            .to_vec();
        (status, body)
    }

    /// Posts `body` as JSON; returns the status and the decoded reply.
    pub async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
        let (status, bytes) = self
            .send(
                "POST",
                path,
                Some("application/json"),
                body.to_string().into_bytes(),
            )
            .await;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|e| panic!("{path} returned invalid JSON ({e}): {bytes:?}"));
        (status, value)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

pub fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Writes a file through a rename, as a Secret volume update does.
pub fn write_atomically(path: &Path, contents: &str) {
    let temporary = path.with_extension(format!("tmp{}", unique()));
    std::fs::write(&temporary, contents).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

/// The folder of AdmissionReview fixtures shared by every admission surface.
pub fn admission_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/test_data/admission")
}

/// Names of every AdmissionReview fixture, sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(admission_dir())
        .expect("the admission test data is readable")
        .filter_map(|entry| entry.ok()?.file_name().into_string().ok())
        .filter(|name| name.ends_with(".json"))
        .collect();
    names.sort();
    names
}

/// Reads an AdmissionReview fixture.
pub fn fixture(name: &str) -> Value {
    let path = admission_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: failed to read: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"))
}

pub fn message_of(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or("")
}
