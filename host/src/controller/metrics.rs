//! Prometheus metrics and the `/metrics`, `/healthz` and `/readyz` endpoints.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use chrono::{DateTime, Utc};
use http_body_util::Full;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use serde_json::Value;
use tokio::net::TcpListener;

/// Labels of the per-DataSource import age.
#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct DataSourceLabels {
    pub namespace: String,
    pub data_source: String,
}

/// The controller's metrics.
pub struct Metrics {
    registry: Registry,
    /// DataImportCrons whose `UpToDate` condition is not `True`.
    pub boot_sources_outdated: Gauge,
    /// Seconds since the last successful import, per DataSource.
    pub last_import_age: Family<DataSourceLabels, Gauge<f64, AtomicU64>>,
    /// Duration of a whole reconcile, in seconds.
    pub reconcile_duration: Histogram,
    /// Duration of one module call, in seconds.
    pub module_call_duration: Histogram,
    /// Reconciles that ended in an error.
    pub reconcile_errors: Counter,
    ready: AtomicBool,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Creates the metrics, registered under the `bootsource_` prefix.
    pub fn new() -> Self {
        let mut registry = Registry::with_prefix("bootsource");
        let boot_sources_outdated = Gauge::default();
        let last_import_age = Family::<DataSourceLabels, Gauge<f64, AtomicU64>>::default();
        // 1 ms to about 33 s.
        let reconcile_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let module_call_duration = Histogram::new(exponential_buckets(0.001, 2.0, 16));
        let reconcile_errors = Counter::default();
        registry.register(
            "boot_sources_outdated",
            "DataImportCrons whose UpToDate condition is not True",
            boot_sources_outdated.clone(),
        );
        registry.register(
            "data_source_last_import_age_seconds",
            "Seconds since the last successful import into the DataSource, from its DataImportCron's status.lastImportTimestamp",
            last_import_age.clone(),
        );
        registry.register(
            "reconcile_duration_seconds",
            "Duration of a reconcile: snapshot, module call and writes",
            reconcile_duration.clone(),
        );
        registry.register(
            "module_call_duration_seconds",
            "Duration of one call of the WebAssembly module",
            module_call_duration.clone(),
        );
        registry.register(
            "reconcile_errors",
            "Reconciles that failed and were retried",
            reconcile_errors.clone(),
        );
        Metrics {
            registry,
            boot_sources_outdated,
            last_import_age,
            reconcile_duration,
            module_call_duration,
            reconcile_errors,
            ready: AtomicBool::new(false),
        }
    }

    /// Marks the controller ready: the first sync of every watch is done.
    pub fn set_ready(&self) {
        self.ready.store(true, Ordering::Relaxed);
    }

    /// Returns true once [`Metrics::set_ready`] was called.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Relaxed)
    }

    /// Sets the boot-source gauges from the cached DataImportCrons.
    pub fn observe_crons(&self, crons: &[Value], now: DateTime<Utc>) {
        let outdated = crons.iter().filter(|cron| !is_up_to_date(cron)).count();
        self.boot_sources_outdated
            .set(i64::try_from(outdated).unwrap_or(i64::MAX));

        self.last_import_age.clear();
        for cron in crons {
            let text = |pointer: &str| cron.pointer(pointer).and_then(Value::as_str);
            let (Some(data_source), Some(last_import)) = (
                text("/spec/managedDataSource"),
                text("/status/lastImportTimestamp"),
            ) else {
                continue;
            };
            let Ok(last_import) = DateTime::parse_from_rfc3339(last_import) else {
                continue;
            };
            let age = (now - last_import.with_timezone(&Utc)).num_milliseconds() as f64 / 1000.0;
            let labels = DataSourceLabels {
                namespace: text("/metadata/namespace").unwrap_or_default().to_string(),
                data_source: data_source.to_string(),
            };
            self.last_import_age.get_or_create(&labels).set(age);
        }
    }

    /// Encodes every metric in the OpenMetrics text format.
    pub fn encode(&self) -> String {
        let mut text = String::new();
        if let Err(error) = prometheus_client::encoding::text::encode(&mut text, &self.registry) {
            tracing::debug!(%error, "failed to encode the metrics");
        }
        text
    }
}

fn is_up_to_date(cron: &Value) -> bool {
    cron.pointer("/status/conditions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .any(|c| {
            c.get("type").and_then(Value::as_str) == Some("UpToDate")
                && c.get("status").and_then(Value::as_str) == Some("True")
        })
}

/// Serves `/metrics`, `/healthz` and `/readyz` on `listener` until the task
/// is aborted.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "failed to accept a metrics connection");
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service =
                hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                    let metrics = metrics.clone();
                    async move { Ok::<_, Infallible>(respond(&request, &metrics)) }
                });
            let connection = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "metrics connection failed");
            }
        });
    }
}

/// Binds the metrics address.
pub async fn bind(address: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(address).await
}

fn respond<B>(request: &Request<B>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "application/openmetrics-text; version=1.0.0; charset=utf-8",
            metrics.encode(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" if metrics.is_ready() => (StatusCode::OK, "text/plain", "ok\n".to_string()),
        "/readyz" => (
            StatusCode::SERVICE_UNAVAILABLE,
            "text/plain",
            "the first sync of the watched objects is not done\n".to_string(),
        ),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_string(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = hyper::header::HeaderValue::from_str(content_type) {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}
