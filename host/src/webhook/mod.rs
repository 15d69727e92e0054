//! Admission webhook server: Kubernetes validating and mutating webhooks,
//! a Gatekeeper external-data provider and a Kyverno `apiCall` service,
//! all served over TLS from the same compiled module.
//!
//! Endpoints are listed in [`routes`]. The server speaks HTTP/1.1 only.

mod admission;
mod gatekeeper;
mod http;
mod kyverno;
mod outcome;
pub mod review;
pub mod tls;

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;

use crate::runtime::Runtime;
pub use review::Reviewer;
pub use tls::TlsError;

/// Paths the server serves. The files under `policies/` point at these.
pub mod routes {
    /// `POST`: AdmissionReview v1 for a validating webhook.
    pub const VALIDATE: &str = "/validate";
    /// `POST`: AdmissionReview v1 for a mutating webhook; the reply carries
    /// the defaults as a base64 JSONPatch.
    pub const MUTATE: &str = "/mutate";
    /// `POST`: Gatekeeper external-data `ProviderRequest`.
    pub const GATEKEEPER_PROVIDER: &str = "/gatekeeper/provider";
    /// `POST`: the body of a Kyverno `apiCall` service call.
    pub const KYVERNO_VALIDATE: &str = "/kyverno/validate";
    /// `GET`: returns 200 while the server runs.
    pub const HEALTHZ: &str = "/healthz";
    /// Every `POST` route, which take a JSON body.
    pub const POST: [&str; 4] = [VALIDATE, MUTATE, GATEKEEPER_PROVIDER, KYVERNO_VALIDATE];
}

/// API version of the Gatekeeper external-data protocol the provider
/// endpoint speaks.
pub use gatekeeper::API_VERSION as GATEKEEPER_API_VERSION;

/// Default listen address: every interface, port 8443.
pub const DEFAULT_LISTEN: &str = "0.0.0.0:8443";
/// Default request-body limit in bytes: 3 MiB, the size limit the
/// Kubernetes API server itself puts on a request body.
pub const DEFAULT_MAX_BODY_BYTES: usize = 3 << 20;
/// Default time for reading and reviewing one request, in seconds. The
/// API server waits 10 seconds for a webhook by default.
pub const DEFAULT_REQUEST_TIMEOUT_SECS: u64 = 10;

// `Runtime::call` takes `&self` and builds a fresh store per call, so one
// compiled module can serve every connection; this fails to compile if the
// runtime ever stops being shareable across threads.
const _: fn() = || {
    fn shareable<T: Send + Sync>() {}
    shareable::<Runtime>();
};

/// Server settings.
#[derive(Debug, Clone)]
pub struct WebhookConfig {
    /// Address to listen on; port 0 picks a free port.
    pub listen: SocketAddr,
    /// PEM certificate chain, leaf first.
    pub tls_cert: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub tls_key: PathBuf,
    /// Largest request body accepted, in bytes; larger ones get 413.
    pub max_body_bytes: usize,
    /// Time allowed for each of three steps: the TLS handshake, reading a
    /// request's headers, and reading plus reviewing its body. A body not
    /// read and reviewed in time gets 503; the other two close the
    /// connection.
    pub request_timeout: Duration,
}

/// Error starting the server.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    #[error(transparent)]
    Tls(#[from] TlsError),
    #[error("failed to listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

/// A bound server, ready to serve.
pub struct Server {
    listener: TcpListener,
    local_addr: SocketAddr,
    acceptor: TlsAcceptor,
    state: Arc<http::State>,
}

impl Server {
    /// Loads the certificate and binds the listener. Logs the bound address.
    pub async fn bind(config: &WebhookConfig, reviewer: Reviewer) -> Result<Self, WebhookError> {
        let tls = tls::server_config(&config.tls_cert, &config.tls_key)?;
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| WebhookError::Bind {
                    address: config.listen,
                    source,
                })?;
        let local_addr = listener.local_addr().map_err(|source| WebhookError::Bind {
            address: config.listen,
            source,
        })?;
        tracing::info!(address = %local_addr, "webhook listening");
        Ok(Server {
            listener,
            local_addr,
            acceptor: TlsAcceptor::from(Arc::new(tls)),
            state: Arc::new(http::State {
                reviewer,
                max_body_bytes: config.max_body_bytes,
                request_timeout: config.request_timeout,
            }),
        })
    }

    /// The address the server listens on, with the port picked when the
    /// configuration asked for port 0.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Serves connections until `shutdown` completes. Connections already
    /// accepted finish on their own tasks.
    pub async fn serve_until(self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        loop {
            let accepted = tokio::select! {
                accepted = self.listener.accept() => accepted,
                () = &mut shutdown => {
                    tracing::info!(address = %self.local_addr, "webhook stopping");
                    return;
                }
            };
            match accepted {
                Ok((stream, peer)) => self.spawn_connection(stream, peer),
                Err(error) => {
                    // Running out of file descriptors, for example; back off
                    // briefly rather than spin.
                    tracing::warn!(error = %error, "failed to accept a connection");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    }

    /// Serves connections until the process ends.
    pub async fn serve(self) {
        self.serve_until(std::future::pending()).await;
    }

    fn spawn_connection(&self, stream: tokio::net::TcpStream, peer: SocketAddr) {
        let acceptor = self.acceptor.clone();
        let state = Arc::clone(&self.state);
        tokio::spawn(async move {
            let handshake = tokio::time::timeout(state.request_timeout, acceptor.accept(stream));
            let tls = match handshake.await {
                Ok(Ok(tls)) => tls,
                Ok(Err(error)) => {
                    tracing::debug!(peer = %peer, error = %error, "TLS handshake failed");
                    return;
                }
                Err(_) => {
                    tracing::debug!(peer = %peer, "TLS handshake timed out");
                    return;
                }
            };
            let header_timeout = state.request_timeout;
            let service = service_fn(move |request| http::serve(Arc::clone(&state), request));
            // A client that sends its headers too slowly is cut off, so
            // that idle half-open requests cannot pile up.
            if let Err(error) = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(TokioIo::new(tls), service)
                .await
            {
                tracing::debug!(peer = %peer, error = %error, "connection ended with an error");
            }
        });
    }
}
