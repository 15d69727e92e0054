//! The webhook server over real HTTPS on 127.0.0.1: AdmissionReviews from
//! `tests/test_data/admission/`, Gatekeeper provider and Kyverno calls, the
//! request limits, and reloading the certificate.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
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
fn runtime() -> Arc<Runtime> {
    static RUNTIME: OnceLock<Arc<Runtime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| Arc::new(Runtime::embedded().expect("the embedded module loads")))
        .clone()
}

/// A test certificate authority and the server certificates it signs.
struct TestCa {
    params: CertificateParams,
    key: KeyPair,
    der: CertificateDer<'static>,
}

impl TestCa {
    fn new() -> Self {
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
    fn server_cert(&self, common_name: &str) -> (String, String, CertificateDer<'static>) {
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
struct TestServer {
    address: SocketAddr,
    ca: TestCa,
    dir: PathBuf,
    _shutdown: tokio::sync::oneshot::Sender<()>,
}

impl TestServer {
    async fn start(max_body_bytes: usize) -> Self {
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
            request_timeout: Duration::from_secs(10),
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

    async fn default() -> Self {
        Self::start(webhook::DEFAULT_MAX_BODY_BYTES).await
    }

    /// Opens a TLS connection that trusts only the test CA.
    async fn connect(&self) -> tokio_rustls::client::TlsStream<TcpStream> {
        let mut roots = RootCertStore::empty();
        roots
            .add(self.ca.der.clone())
            .expect("the CA is a valid root");
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
    async fn send(
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

    async fn post_json(&self, path: &str, body: &Value) -> (StatusCode, Value) {
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

fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// Writes a file through a rename, as a Secret volume update does.
fn write_atomically(path: &Path, contents: &str) {
    let temporary = path.with_extension(format!("tmp{}", unique()));
    std::fs::write(&temporary, contents).expect("write");
    std::fs::rename(&temporary, path).expect("rename");
}

fn fixture(name: &str) -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tests/test_data/admission")
        .join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: failed to read: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"))
}

fn message_of(response: &Value) -> &str {
    response["status"]["message"].as_str().unwrap_or("")
}

#[tokio::test]
async fn validate_admission_review_table() {
    let server = TestServer::default().await;
    // (fixture, allowed, text the message contains, number of warnings)
    let cases: [(&str, bool, &str, usize); 8] = [
        ("hyperconverged-create-accepted.json", true, "", 0),
        ("dataimportcron-create-accepted.json", true, "", 0),
        (
            "dataimportcron-create-storage-class-warned.json",
            true,
            "",
            1,
        ),
        ("dataimportcron-update-metadata-accepted.json", true, "", 0),
        (
            "dataimportcron-create-schedule-rejected.json",
            false,
            "spec.schedule: Illegal cron schedule",
            0,
        ),
        (
            "dataimportcron-update-spec-rejected.json",
            false,
            "Cannot update DataImportCron Spec",
            0,
        ),
        (
            "hyperconverged-update-duplicate-rejected.json",
            false,
            "my-cron DataImportCronTable is already defined",
            0,
        ),
        (
            "pod-create-unexpected-kind-rejected.json",
            false,
            "unexpected kind \"Pod\"",
            0,
        ),
    ];
    for (file, allowed, message, warnings) in cases {
        let review = fixture(file);
        let (status, reply) = server.post_json("/validate", &review).await;
        assert_eq!(status, StatusCode::OK, "{file}: {reply}");
        assert_eq!(reply["kind"], "AdmissionReview", "{file}");
        assert_eq!(reply["apiVersion"], "admission.k8s.io/v1", "{file}");
        let response = &reply["response"];
        assert_eq!(response["uid"], review["request"]["uid"], "{file}");
        assert_eq!(response["allowed"], allowed, "{file}: {reply}");
        assert!(message_of(response).contains(message), "{file}: {reply}");
        let warning_count = response["warnings"].as_array().map_or(0, Vec::len);
        assert_eq!(warning_count, warnings, "{file}: {reply}");
        assert!(
            response.get("patch").is_none(),
            "{file}: validate returned a patch"
        );
    }
}

#[tokio::test]
async fn unexpected_kind_denied_with_code() {
    let server = TestServer::default().await;
    let (status, reply) = server
        .post_json(
            "/validate",
            &fixture("pod-create-unexpected-kind-rejected.json"),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(reply["response"]["allowed"], false);
    assert_eq!(reply["response"]["status"]["code"], 400);
}

#[tokio::test]
async fn mutate_returns_decodable_json_patch() {
    let server = TestServer::default().await;
    for file in [
        "hyperconverged-create-mutated.json",
        "hyperconverged-create-multiarch-mutated.json",
    ] {
        let review = fixture(file);
        let (status, reply) = server.post_json("/mutate", &review).await;
        assert_eq!(status, StatusCode::OK, "{file}: {reply}");
        let response = &reply["response"];
        assert_eq!(response["uid"], review["request"]["uid"], "{file}");
        assert_eq!(response["allowed"], true, "{file}: {reply}");
        assert_eq!(response["patchType"], "JSONPatch", "{file}: {reply}");

        let encoded = response["patch"].as_str().unwrap_or_default();
        let decoded = BASE64.decode(encoded).expect("the patch is base64");
        let patch: json_patch::Patch =
            serde_json::from_slice(&decoded).expect("the patch is an RFC 6902 patch");
        assert!(!patch.0.is_empty(), "{file}: empty patch");

        let mut object = review["request"]["object"].clone();
        json_patch::patch(&mut object, &patch).expect("the patch applies to the object");
        assert_ne!(
            object, review["request"]["object"],
            "{file}: the patch changed nothing"
        );
    }
}

#[tokio::test]
async fn mutate_of_valid_object_has_no_patch() {
    let server = TestServer::default().await;
    let (_, reply) = server
        .post_json("/mutate", &fixture("dataimportcron-create-accepted.json"))
        .await;
    assert_eq!(reply["response"]["allowed"], true);
    assert!(reply["response"].get("patch").is_none(), "{reply}");
    assert!(reply["response"].get("patchType").is_none(), "{reply}");
}

#[tokio::test]
async fn review_without_uid_gets_400() {
    let server = TestServer::default().await;
    let mut review = fixture("dataimportcron-create-accepted.json");
    review["request"]
        .as_object_mut()
        .expect("request object")
        .remove("uid");
    let (status, reply) = server.post_json("/validate", &review).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"].as_str().unwrap_or("").contains("uid"),
        "{reply}"
    );
}

#[tokio::test]
async fn gatekeeper_provider_reviews_each_key() {
    let server = TestServer::default().await;
    let accepted = fixture("dataimportcron-create-accepted.json")["request"]["object"].clone();
    let rejected = fixture("dataimportcron-create-schedule-rejected.json")["request"].clone();
    let keys = [
        accepted.to_string(),
        json!({"request": rejected}).to_string(),
        "not json".to_string(),
    ];
    let body = json!({
        "apiVersion": "externaldata.gatekeeper.sh/v1beta1",
        "kind": "ProviderRequest",
        "request": {"keys": keys},
    });
    let (status, reply) = server.post_json("/gatekeeper/provider", &body).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["apiVersion"], "externaldata.gatekeeper.sh/v1beta1");
    assert_eq!(reply["kind"], "ProviderResponse");
    assert_eq!(reply["response"]["systemError"], "", "{reply}");
    let items = reply["response"]["items"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert_eq!(items.len(), 3, "{reply}");

    assert_eq!(items[0]["key"], keys[0].as_str());
    assert_eq!(items[0]["value"]["allowed"], true, "{reply}");
    assert_eq!(items[0]["error"], "");

    assert_eq!(items[1]["value"]["allowed"], false, "{reply}");
    let message = items[1]["value"]["message"].as_str().unwrap_or("");
    assert!(message.contains("Illegal cron schedule"), "{reply}");

    assert_eq!(items[2]["key"], "not json");
    let error = items[2]["error"].as_str().unwrap_or("");
    assert!(error.contains("not valid JSON"), "{reply}");
}

#[tokio::test]
async fn gatekeeper_malformed_request_sets_system_error() {
    let server = TestServer::default().await;
    for body in [
        json!({"kind": "ProviderRequest", "request": {"keys": "one"}}),
        json!({"kind": "ProviderRequest", "request": {}}),
        json!({"kind": "Something", "request": {"keys": []}}),
        json!({"kind": "ProviderRequest", "request": {"keys": [1]}}),
    ] {
        let (status, reply) = server.post_json("/gatekeeper/provider", &body).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert_eq!(reply["kind"], "ProviderResponse", "{body}");
        let error = reply["response"]["systemError"].as_str().unwrap_or("");
        assert!(!error.is_empty(), "{body}: {reply}");
        assert_eq!(reply["response"]["items"], json!([]), "{body}");
    }
}

#[tokio::test]
async fn kyverno_validate_object_and_request() {
    let server = TestServer::default().await;
    let accepted = fixture("dataimportcron-create-accepted.json")["request"]["object"].clone();
    let (status, reply) = server.post_json("/kyverno/validate", &accepted).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["allowed"], true, "{reply}");
    assert_eq!(reply["message"], "", "{reply}");
    assert_eq!(reply["warnings"], json!([]), "{reply}");

    let rejected = fixture("dataimportcron-update-spec-rejected.json")["request"].clone();
    let (status, reply) = server
        .post_json("/kyverno/validate", &json!({"request": rejected}))
        .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["allowed"], false, "{reply}");
    let message = reply["message"].as_str().unwrap_or("");
    assert!(
        message.contains("Cannot update DataImportCron Spec"),
        "{reply}"
    );
}

#[tokio::test]
async fn kyverno_unexpected_kind_not_allowed() {
    let server = TestServer::default().await;
    let pod = fixture("pod-create-unexpected-kind-rejected.json")["request"]["object"].clone();
    let (status, reply) = server.post_json("/kyverno/validate", &pod).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["allowed"], false, "{reply}");
    assert!(
        reply["message"]
            .as_str()
            .unwrap_or("")
            .contains("unexpected kind"),
        "{reply}"
    );
}

#[tokio::test]
async fn kyverno_non_object_body_gets_400() {
    let server = TestServer::default().await;
    let (status, reply) = server.post_json("/kyverno/validate", &json!([1, 2])).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        reply["error"].as_str().unwrap_or("").contains("an array"),
        "{reply}"
    );
}

#[tokio::test]
async fn oversized_body_gets_413() {
    let server = TestServer::default().await;
    let mut review = fixture("dataimportcron-create-accepted.json");
    let padding = "x".repeat(webhook::DEFAULT_MAX_BODY_BYTES);
    review["request"]["object"]["metadata"]["annotations"] = json!({"padding": padding});
    let (status, reply) = server.post_json("/validate", &review).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{reply}");
    assert!(
        reply["error"].as_str().unwrap_or("").contains("maximum"),
        "{reply}"
    );
}

#[tokio::test]
async fn body_at_limit_is_read() {
    let review = fixture("dataimportcron-create-accepted.json");
    let size = review.to_string().len();
    let server = TestServer::start(size).await;
    let (status, reply) = server.post_json("/validate", &review).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let small = TestServer::start(size - 1).await;
    let (status, _) = small.post_json("/validate", &review).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn invalid_utf8_gets_400() {
    let server = TestServer::default().await;
    let body = b"{\"request\": \"\xff\xfe\"}".to_vec();
    let (status, bytes) = server
        .send("POST", "/validate", Some("application/json"), body)
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let reply: Value = serde_json::from_slice(&bytes).expect("JSON error body");
    assert!(
        reply["error"].as_str().unwrap_or("").contains("UTF-8"),
        "{reply}"
    );
}

#[tokio::test]
async fn malformed_json_gets_400() {
    let server = TestServer::default().await;
    for path in [
        "/validate",
        "/mutate",
        "/gatekeeper/provider",
        "/kyverno/validate",
    ] {
        let (status, bytes) = server
            .send(
                "POST",
                path,
                Some("application/json"),
                b"{\"request\": ".to_vec(),
            )
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let reply: Value = serde_json::from_slice(&bytes).expect("JSON error body");
        let error = reply["error"].as_str().unwrap_or("");
        assert!(error.contains("not valid JSON"), "{path}: {reply}");
    }
}

#[tokio::test]
async fn non_json_content_type_gets_415() {
    let server = TestServer::default().await;
    let body = fixture("dataimportcron-create-accepted.json")
        .to_string()
        .into_bytes();
    for content_type in [Some("text/plain"), Some("application/yaml"), None] {
        let (status, _) = server
            .send("POST", "/validate", content_type, body.clone())
            .await;
        assert_eq!(
            status,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type:?}"
        );
    }
    let (status, _) = server
        .send(
            "POST",
            "/validate",
            Some("application/json; charset=utf-8"),
            body,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
}

#[tokio::test]
async fn healthz_and_unknown_paths() {
    let server = TestServer::default().await;
    let (status, _) = server.send("GET", "/healthz", None, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = server.send("GET", "/validate", None, Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    let (status, _) = server.send("POST", "/nothing", None, Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn certificate_reload_on_new_connection() {
    let server = TestServer::default().await;
    let first = server.connect().await;
    let first_cert = first.get_ref().1.peer_certificates().map(|c| c[0].clone());

    let (cert, key, der) = server.ca.server_cert("second");
    // Key first, then certificate: between the two writes the pair does not
    // match, and the server must keep serving the old certificate.
    write_atomically(&server.dir.join("tls.key"), &key);
    let between = server.connect().await;
    let between_cert = between
        .get_ref()
        .1
        .peer_certificates()
        .map(|c| c[0].clone());
    assert_eq!(between_cert, first_cert, "a mismatched pair was served");
    write_atomically(&server.dir.join("tls.crt"), &cert);

    let second = server.connect().await;
    let second_cert = second.get_ref().1.peer_certificates().map(|c| c[0].clone());
    assert_ne!(
        second_cert, first_cert,
        "the old certificate is still served"
    );
    assert_eq!(second_cert, Some(der));

    let (status, _) = server.send("GET", "/healthz", None, Vec::new()).await;
    assert_eq!(status, StatusCode::OK);
}
