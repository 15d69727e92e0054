//! `bootsource webhook`: serves the admission webhooks, the Gatekeeper
//! external-data provider and the Kyverno `apiCall` service over TLS.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use serde_json::{json, Map, Value};

use super::{CliError, ModuleArgs};
use crate::runtime::Limits;
use crate::webhook::{self, Reviewer, Server, WebhookConfig};

/// Format of the log lines on standard error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// One JSON object per line.
    Json,
    /// Human-readable lines.
    Text,
}

#[derive(Debug, Args)]
pub struct WebhookArgs {
    /// IP address and TCP port to listen on; port 0 picks a free port.
    #[arg(long, value_name = "ADDRESS", default_value = webhook::DEFAULT_LISTEN)]
    pub listen: SocketAddr,
    /// PEM file with the server certificate chain, leaf first. Reloaded
    /// when it changes.
    #[arg(long, value_name = "FILE")]
    pub tls_cert: PathBuf,
    /// PEM file with the server's private key. Reloaded when it changes.
    #[arg(long, value_name = "FILE")]
    pub tls_key: PathBuf,
    /// Largest request body accepted, in bytes (at least 1); larger
    /// requests get 413.
    #[arg(long, value_name = "BYTES", default_value_t = webhook::DEFAULT_MAX_BODY_BYTES,
          value_parser = at_least_one::<usize>)]
    pub max_body_bytes: usize,
    /// Time allowed, in seconds (at least 1), for the TLS handshake, for a
    /// request's headers, and for reading and reviewing its body; a body
    /// over it gets 503. Also the module's time limit per review.
    #[arg(long, value_name = "SECONDS", default_value_t = webhook::DEFAULT_REQUEST_TIMEOUT_SECS,
          value_parser = at_least_one::<u64>)]
    pub request_timeout: u64,
    /// HCO release whose webhook rules apply, e.g. 1.14; defaults to the
    /// newest one the module knows.
    #[arg(long, value_name = "VERSION", value_parser = super::parse_hco_version)]
    pub hco_version: Option<String>,
    /// Golden-image namespace of templates that set none; defaults to
    /// kubevirt-os-images.
    #[arg(long, value_name = "NAMESPACE", value_parser = super::parse_namespace)]
    pub os_images_namespace: Option<String>,
    /// Format of the log lines on standard error; `RUST_LOG` sets the level
    /// (default info).
    #[arg(long, value_enum, default_value_t = LogFormat::Json)]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Parses a whole number of at least 1: a limit of zero would refuse
/// every request.
fn at_least_one<T: std::str::FromStr + PartialEq + From<u8>>(text: &str) -> Result<T, String> {
    let value: T = text
        .parse()
        .map_err(|_| format!("{text:?} is not a whole number"))?;
    if value == T::from(0) {
        return Err("must be at least 1; a limit of 0 would refuse every request".into());
    }
    Ok(value)
}

/// Runs the server until SIGINT or SIGTERM.
pub fn run(args: &WebhookArgs) -> Result<(), CliError> {
    init_logging(args.log_format);

    let request_timeout = Duration::from_secs(args.request_timeout);
    // The module's own time limit matches the request timeout, so that a
    // review abandoned by a timed-out request does not run on.
    let limits = Limits {
        timeout: request_timeout,
        ..Limits::default()
    };
    let runtime = args.module.load_with_limits(limits)?;
    let reviewer = Reviewer::new(Arc::new(runtime), settings(args));
    reviewer.check().map_err(CliError::InvalidInput)?;

    let config = WebhookConfig {
        listen: args.listen,
        tls_cert: args.tls_cert.clone(),
        tls_key: args.tls_key.clone(),
        max_body_bytes: args.max_body_bytes,
        request_timeout,
    };
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("failed to start the async runtime: {e}")))?;
    tokio.block_on(async {
        let server = Server::bind(&config, reviewer)
            .await
            .map_err(|e| CliError::InvalidInput(e.to_string()))?;
        server.serve_until(shutdown_signal()).await;
        Ok(())
    })
}

/// The Kubewarden policy settings the options select.
fn settings(args: &WebhookArgs) -> Value {
    let mut settings = Map::new();
    if let Some(version) = &args.hco_version {
        settings.insert("hcoVersion".into(), json!(version));
    }
    if let Some(namespace) = &args.os_images_namespace {
        settings.insert("osImagesNamespace".into(), json!(namespace));
    }
    Value::Object(settings)
}

/// Sends logs to standard error; `RUST_LOG` overrides the default `info`
/// level. A logger already installed is kept, with a warning.
fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal, so that log files and collectors get
    // plain text.
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
    if let Err(error) = result {
        eprintln!("warning: logging was already set up: {error}");
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut terminate =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(signal) => signal,
                Err(error) => {
                    tracing::warn!(error = %error, "failed to listen for SIGTERM");
                    let _ = interrupt.await;
                    return;
                }
            };
        tokio::select! {
            _ = interrupt => {}
            _ = terminate.recv() => {}
        }
    }
    #[cfg(not(unix))]
    {
        let _ = interrupt.await;
    }
}
