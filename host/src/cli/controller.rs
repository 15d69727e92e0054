//! `bootsource controller`: runs the reconcile loop against a cluster.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::time::Duration;

use clap::{Args, ValueEnum};

use super::plan::StageArg;
use super::{CliError, ModuleArgs, RegistryArgs, RetryArgs};
use crate::controller::apply::RetryPolicy;
use crate::controller::lease::LeaseSettings;
use crate::controller::polls::PollRetry;
use crate::controller::{Controller, Settings};

#[derive(Debug, Args)]
pub struct ControllerArgs {
    /// Stages to run, comma-separated. The default leaves out `imports`,
    /// because on a cluster with CDI installed its DataImportCron controller
    /// already runs that stage and the two would fight over the same
    /// objects. Add `imports` only where CDI's controller is not running:
    /// then bootsource polls the registries itself and creates the
    /// DataVolumes, and CDI's DataVolume controller must still import them.
    #[arg(
        long,
        value_enum,
        value_name = "STAGES",
        value_delimiter = ',',
        default_value = "templates,crons"
    )]
    pub stages: Vec<StageArg>,
    /// HCO release whose behaviour to reproduce, from 1.6 to 1.20.
    #[arg(long, value_name = "VERSION", default_value = "1.20", value_parser = super::parse_hco_version)]
    pub hco_version: String,
    /// Golden-image namespace for templates that set none.
    #[arg(long, value_name = "NAMESPACE", default_value = "kubevirt-os-images",
          value_parser = super::parse_namespace)]
    pub os_images_namespace: String,
    /// Address of the `/metrics`, `/healthz` and `/readyz` endpoints.
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    pub metrics_addr: SocketAddr,
    /// Run only while holding a coordination.k8s.io Lease, so that one of
    /// several replicas reconciles at a time.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the leader-election Lease.
    #[arg(long, value_name = "NAME", default_value = "bootsource-controller",
          value_parser = super::parse_object_name)]
    pub lease_name: String,
    /// Namespace of the leader-election Lease; the Deployment sets it to
    /// its own namespace.
    #[arg(
        long,
        value_name = "NAMESPACE",
        env = "POD_NAMESPACE",
        default_value = "default",
        value_parser = super::parse_namespace
    )]
    pub lease_namespace: String,
    /// Identity written to the Lease; defaults to the pod name.
    #[arg(long, value_name = "ID", env = "POD_NAME")]
    pub identity: Option<String>,
    /// Time limit of one API request, in seconds; a request that takes
    /// longer is retried.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub retry: RetryArgs,
    /// Log format on standard error.
    #[arg(long, value_enum, default_value = "text")]
    pub log_format: LogFormat,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

/// Initialises `tracing` output on standard error. `RUST_LOG` sets the
/// filter; the default is `info`.
pub fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::stderr().is_terminal())
        .with_writer(std::io::stderr);
    let result = match format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    if let Err(error) = result {
        eprintln!("warning: logging was already initialised: {error}");
    }
}

/// Runs `bootsource controller` until SIGINT or SIGTERM.
pub fn run(args: &ControllerArgs) -> Result<(), CliError> {
    init_logging(args.log_format);
    let runtime = args.module.load()?;
    let settings = settings(args)?;
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("failed to start the async runtime: {e}")))?;
    tokio.block_on(async {
        let client = kube::Client::try_default().await.map_err(|e| {
            CliError::Failure(format!(
                "failed to configure the Kubernetes client from the in-cluster environment or kubeconfig: {e}"
            ))
        })?;
        let controller = Controller::new(client, runtime, settings);
        controller
            .run(shutdown_signal())
            .await
            .map_err(|e| CliError::Failure(e.to_string()))
    })
}

fn settings(args: &ControllerArgs) -> Result<Settings, CliError> {
    let identity = args
        .identity
        .clone()
        .unwrap_or_else(|| format!("bootsource-{}", std::process::id()));
    args.retry.check()?;
    Ok(Settings {
        stages: args.stages.iter().copied().map(Into::into).collect(),
        hco_version: args.hco_version.clone(),
        os_images_namespace: args.os_images_namespace.clone(),
        retry: RetryPolicy {
            request_timeout: Duration::from_secs(args.request_timeout),
            ..RetryPolicy::default()
        },
        metrics_addr: Some(args.metrics_addr),
        lease: args.leader_elect.then(|| {
            LeaseSettings::new(
                args.lease_name.clone(),
                args.lease_namespace.clone(),
                identity,
            )
        }),
        registry: args.registry.config()?,
        poll_retry: PollRetry {
            base: args.retry.retry_backoff,
            cap: args.retry.retry_backoff_max,
        },
        ..Settings::default()
    })
}

/// Completes on SIGINT, or on SIGTERM where signals exist.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!(%error, "failed to listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(error) => {
                tracing::warn!(%error, "failed to listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = interrupt => {}
        () = terminate => {}
    }
}
