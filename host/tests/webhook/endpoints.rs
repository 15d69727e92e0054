//! Each endpoint over HTTPS: AdmissionReviews from the shared fixtures,
//! Gatekeeper provider and Kyverno calls, bad input, the request limits,
//! and reloading the certificate.

use std::time::Duration;

use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use bootsource::webhook;
use hyper::StatusCode;
use serde_json::{json, Value};

use crate::support::{fixture, message_of, write_atomically, TestServer};

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
            1,
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
    let timeout = Duration::from_secs(webhook::DEFAULT_REQUEST_TIMEOUT_SECS);
    let server = TestServer::start(size, timeout).await;
    let (status, reply) = server.post_json("/validate", &review).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let small = TestServer::start(size - 1, timeout).await;
    let (status, _) = small.post_json("/validate", &review).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn invalid_utf8_gets_400() {
    let server = TestServer::default().await;
    for path in webhook::routes::POST {
        let body = b"{\"request\": \"\xff\xfe\"}".to_vec();
        let (status, bytes) = server
            .send("POST", path, Some("application/json"), body)
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}");
        let reply: Value = serde_json::from_slice(&bytes).expect("JSON error body");
        let error = reply["error"].as_str().unwrap_or("");
        assert!(error.contains("UTF-8"), "{path}: {reply}");
    }
}

#[tokio::test]
async fn malformed_json_gets_400() {
    let server = TestServer::default().await;
    for path in webhook::routes::POST {
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
    for path in webhook::routes::POST {
        for content_type in [Some("text/plain"), Some("application/yaml"), None] {
            let (status, _) = server.send("POST", path, content_type, body.clone()).await;
            assert_eq!(
                status,
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{path}: {content_type:?}"
            );
        }
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

#[tokio::test]
async fn review_without_request_gets_400() {
    let server = TestServer::default().await;
    let bodies = [
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview"}),
        json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": "x"}),
    ];
    for path in [webhook::routes::VALIDATE, webhook::routes::MUTATE] {
        for body in &bodies {
            let (status, reply) = server.post_json(path, body).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {body}");
            let error = reply["error"].as_str().unwrap_or("");
            assert!(error.contains("no request object"), "{path}: {reply}");
        }
    }
}

#[tokio::test]
async fn review_of_other_kind_gets_400() {
    let server = TestServer::default().await;
    let mut review = fixture("dataimportcron-create-accepted.json");
    review["kind"] = json!("ConfigMap");
    let (status, reply) = server.post_json(webhook::routes::VALIDATE, &review).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let error = reply["error"].as_str().unwrap_or("");
    assert!(error.contains("expected kind AdmissionReview"), "{reply}");

    let (status, reply) = server
        .post_json(webhook::routes::VALIDATE, &json!(["not", "a", "review"]))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{reply}");
    let error = reply["error"].as_str().unwrap_or("");
    assert!(error.contains("found an array"), "{reply}");
}

#[tokio::test]
async fn unreadable_object_denied_with_message() {
    let server = TestServer::default().await;
    let mut review = fixture("dataimportcron-create-accepted.json");
    review["request"]["object"]["spec"]["schedule"] = json!(5);
    for path in [webhook::routes::VALIDATE, webhook::routes::MUTATE] {
        let (status, reply) = server.post_json(path, &review).await;
        assert_eq!(status, StatusCode::OK, "{path}: {reply}");
        let response = &reply["response"];
        assert_eq!(response["allowed"], false, "{path}: {reply}");
        assert!(
            message_of(response).contains("spec.schedule"),
            "{path}: {reply}"
        );
        assert!(response.get("patch").is_none(), "{path}: {reply}");
    }
}

#[tokio::test]
async fn unsupported_operation_denied_with_code() {
    let server = TestServer::default().await;
    let mut review = fixture("dataimportcron-create-accepted.json");
    review["request"]["operation"] = json!("PATCH");
    let (status, reply) = server.post_json(webhook::routes::VALIDATE, &review).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["response"]["allowed"], false, "{reply}");
    assert_eq!(reply["response"]["status"]["code"], 400, "{reply}");
}

#[tokio::test]
async fn delete_allowed_without_patch() {
    let server = TestServer::default().await;
    let mut review = fixture("hyperconverged-create-mutated.json");
    let object = review["request"]["object"].take();
    review["request"]["operation"] = json!("DELETE");
    review["request"]["oldObject"] = object;
    let (status, reply) = server.post_json(webhook::routes::MUTATE, &review).await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    assert_eq!(reply["response"]["allowed"], true, "{reply}");
    assert!(reply["response"].get("patch").is_none(), "{reply}");
}

#[tokio::test]
async fn oversized_body_gets_413_everywhere() {
    let server = TestServer::start(64, Duration::from_secs(10)).await;
    let body = json!({"padding": "x".repeat(100)});
    for path in webhook::routes::POST {
        let (status, reply) = server.post_json(path, &body).await;
        assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{path}: {reply}");
        let error = reply["error"].as_str().unwrap_or("");
        assert!(error.contains("maximum of 64 bytes"), "{path}: {reply}");
    }
}

#[tokio::test]
async fn chunked_oversized_body_gets_413() {
    // Without Content-Length the limit applies while the body is read.
    let server = TestServer::start(64, Duration::from_secs(10)).await;
    let body = "x".repeat(100);
    let request = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         transfer-encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    );
    let reply = raw_exchange(&server, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 413"), "{reply}");
}

#[tokio::test]
async fn slow_body_gets_503_after_timeout() {
    let server = TestServer::start(webhook::DEFAULT_MAX_BODY_BYTES, Duration::from_secs(1)).await;
    // Announces 100 bytes and sends 2, then waits.
    let request = "POST /validate HTTP/1.1\r\nhost: localhost\r\n\
                   content-type: application/json\r\ncontent-length: 100\r\n\r\n{}";
    let started = std::time::Instant::now();
    let reply = raw_exchange(&server, request.as_bytes(), Duration::from_secs(10)).await;
    assert!(reply.starts_with("HTTP/1.1 503"), "{reply}");
    assert!(reply.contains("did not finish within 1 seconds"), "{reply}");
    assert!(started.elapsed() >= Duration::from_secs(1));
}

/// Writes `request` on a new TLS connection and reads the reply until the
/// server has sent a whole response or closes, or `limit` passes.
async fn raw_exchange(server: &TestServer, request: &[u8], limit: Duration) -> String {
    use std::future::poll_fn;
    use std::pin::Pin;
    use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

    let mut tls = server.connect().await;
    let mut written = 0;
    while written < request.len() {
        let count = poll_fn(|cx| Pin::new(&mut tls).poll_write(cx, &request[written..]))
            .await
            .expect("the request is written");
        written += count;
    }
    poll_fn(|cx| Pin::new(&mut tls).poll_flush(cx))
        .await
        .expect("the request is flushed");

    let mut reply = Vec::new();
    let read = async {
        loop {
            let mut buffer = [0u8; 4096];
            let mut chunk = ReadBuf::new(&mut buffer);
            let result = poll_fn(|cx| Pin::new(&mut tls).poll_read(cx, &mut chunk)).await;
            if result.is_err() || chunk.filled().is_empty() {
                break;
            }
            reply.extend_from_slice(chunk.filled());
            if response_complete(&reply) {
                break;
            }
        }
    };
    let _ = tokio::time::timeout(limit, read).await;
    String::from_utf8_lossy(&reply).into_owned()
}

/// True once `reply` contains the headers and the `content-length` bytes of
/// body they announce.
fn response_complete(reply: &[u8]) -> bool {
    let text = String::from_utf8_lossy(reply);
    let Some((head, body)) = text.split_once("\r\n\r\n") else {
        return false;
    };
    let length = head
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            name.eq_ignore_ascii_case("content-length")
                .then(|| value.trim().parse::<usize>().ok())?
        })
        .unwrap_or(0);
    body.len() >= length
}
