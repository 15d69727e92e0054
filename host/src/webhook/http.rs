//! HTTP handling: routing, the body-size limit, the content-type check,
//! JSON decoding, the request timeout and the one log line per request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::header::{HeaderValue, CONTENT_LENGTH, CONTENT_TYPE};
use hyper::{Method, Request, Response, StatusCode};
use serde_json::{json, Value};

use super::admission::{self, Webhook};
use super::outcome::{Outcome, VerdictLabel};
use super::review::Reviewer;
use super::{gatekeeper, kyverno, routes};

/// State shared by every request handler.
pub struct State {
    pub reviewer: Reviewer,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
    /// Time allowed for reading the body and reviewing it.
    pub request_timeout: Duration,
}

/// Endpoints that take a JSON body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Endpoint {
    Validate,
    Mutate,
    GatekeeperProvider,
    KyvernoValidate,
}

/// Serves one request. Never fails: every error becomes a JSON reply with
/// its status code, and every request is logged once.
pub async fn serve(
    state: Arc<State>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let started = Instant::now();
    let method = request.method().clone();
    let path = request.uri().path().to_string();

    let timeout = state.request_timeout;
    let outcome = match tokio::time::timeout(timeout, route(state, request)).await {
        Ok(outcome) => outcome,
        Err(_) => Outcome::error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!(
                "the request did not finish within {} seconds",
                timeout.as_secs_f64()
            ),
        ),
    };

    let duration_ms = started.elapsed().as_secs_f64() * 1000.0;
    let status = outcome.status.as_u16();
    let uid = outcome.uid.as_deref().unwrap_or("");
    let kind = outcome.kind.as_deref().unwrap_or("");
    let verdict = outcome.verdict.as_str();
    if outcome.status.is_server_error() {
        tracing::warn!(%method, path = path.as_str(), status, uid, kind, verdict, duration_ms, "request");
    } else {
        tracing::info!(%method, path = path.as_str(), status, uid, kind, verdict, duration_ms, "request");
    }
    Ok(into_response(outcome))
}

async fn route(state: Arc<State>, request: Request<Incoming>) -> Outcome {
    let path = request.uri().path();
    let endpoint = match path {
        routes::HEALTHZ if request.method() == Method::GET => {
            return Outcome::ok(json!({"status": "ok"}), VerdictLabel::None);
        }
        routes::VALIDATE => Endpoint::Validate,
        routes::MUTATE => Endpoint::Mutate,
        routes::GATEKEEPER_PROVIDER => Endpoint::GatekeeperProvider,
        routes::KYVERNO_VALIDATE => Endpoint::KyvernoValidate,
        routes::HEALTHZ => {
            return method_not_allowed(request.method(), path, "GET");
        }
        _ => {
            return Outcome::error(
                StatusCode::NOT_FOUND,
                format!(
                    "no endpoint at {path}; the endpoints are POST {}, GET {}",
                    routes::POST.join(", POST "),
                    routes::HEALTHZ
                ),
            );
        }
    };
    if request.method() != Method::POST {
        return method_not_allowed(request.method(), path, "POST");
    }

    let body = match read_json(&state, request).await {
        Ok(body) => body,
        Err(outcome) => return outcome,
    };

    // The module call is CPU-bound and blocking; it runs off the I/O
    // threads. Its own time limit stops it if this request times out.
    let worker = Arc::clone(&state);
    let reviewed = tokio::task::spawn_blocking(move || {
        let reviewer = &worker.reviewer;
        match endpoint {
            Endpoint::Validate => admission::handle(reviewer, &body, Webhook::Validating),
            Endpoint::Mutate => admission::handle(reviewer, &body, Webhook::Mutating),
            Endpoint::GatekeeperProvider => gatekeeper::handle(reviewer, &body),
            Endpoint::KyvernoValidate => kyverno::handle(reviewer, &body),
        }
    })
    .await;
    reviewed.unwrap_or_else(|error| {
        tracing::error!(error = %error, "the review task failed");
        Outcome::error(StatusCode::INTERNAL_SERVER_ERROR, "the review task failed")
    })
}

fn method_not_allowed(method: &Method, path: &str, allowed: &str) -> Outcome {
    Outcome::error(
        StatusCode::METHOD_NOT_ALLOWED,
        format!("{method} is not allowed on {path}; use {allowed}"),
    )
}

/// Checks the content type and size, reads the body and decodes it as
/// JSON. Errors are the replies to send: 415, 413 or 400.
async fn read_json(state: &State, request: Request<Incoming>) -> Result<Value, Outcome> {
    if !is_json(request.headers().get(CONTENT_TYPE)) {
        let found = request
            .headers()
            .get(CONTENT_TYPE)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_else(|| "none".into());
        return Err(Outcome::error(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            format!("expected Content-Type application/json, found {found}"),
        ));
    }

    let max = state.max_body_bytes;
    let too_large = || {
        Outcome::error(
            StatusCode::PAYLOAD_TOO_LARGE,
            format!("the request body is larger than the maximum of {max} bytes"),
        )
    };
    let declared = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if declared.is_some_and(|length| length > max as u64) {
        return Err(too_large());
    }

    let bytes = match Limited::new(request.into_body(), max).collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(error) if error.downcast_ref::<LengthLimitError>().is_some() => {
            return Err(too_large());
        }
        Err(error) => {
            return Err(Outcome::error(
                StatusCode::BAD_REQUEST,
                format!("failed to read the request body: {error}"),
            ));
        }
    };

    let text = std::str::from_utf8(&bytes).map_err(|error| {
        Outcome::error(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid UTF-8: {error}"),
        )
    })?;
    serde_json::from_str(text).map_err(|error| {
        Outcome::error(
            StatusCode::BAD_REQUEST,
            format!("the request body is not valid JSON: {error}"),
        )
    })
}

/// True for `application/json`, with or without parameters such as
/// `charset=utf-8`.
fn is_json(content_type: Option<&HeaderValue>) -> bool {
    let Some(value) = content_type.and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/json")
}

fn into_response(outcome: Outcome) -> Response<Full<Bytes>> {
    let body = serde_json::to_vec(&outcome.body)
        .unwrap_or_else(|_| br#"{"error":"the response could not be encoded"}"#.to_vec());
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = outcome.status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
