//! `bootsource run`: reconcile a local state folder, polling registries and
//! importing disks, once or in a loop.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use chrono::Utc;
use clap::Args;
use serde_json::{json, Value};
use tracing::{info, warn};

use super::{CliError, ModuleArgs, RegistryArgs, RetryArgs, EXAMPLE_HYPERCONVERGED};
use crate::input;
use crate::registry::Registry;
use crate::store::apply::CrashAfter;
use crate::store::imports::{ImportMode, RetryPolicy};
use crate::store::pass::{run_pass, until, PassConfig};
use crate::store::{ObjectKey, Store};

/// Name of the StorageClass `run` creates in a state folder that has none.
pub const LOCAL_STORAGE_CLASS: &str = "local-disk";

#[derive(Debug, Args)]
pub struct RunArgs {
    /// State folder: objects as YAML files under `objects/`, imported disks
    /// under `volumes/`. Created when missing.
    #[arg(long, value_name = "DIR")]
    pub state: PathBuf,
    /// Run one pass and exit.
    #[arg(long)]
    pub once: bool,
    /// YAML or JSON files with objects merged into the state folder at the
    /// start of every pass (a HyperConverged, StorageClasses, ...).
    #[arg(short = 'f', long = "filename", value_name = "FILE")]
    pub files: Vec<PathBuf>,
    /// Merge the built-in example HyperConverged (OKD 4.12 form) into the
    /// state folder.
    #[arg(long, conflicts_with = "files")]
    pub example: bool,
    /// Contact no registry: polls get a stand-in digest (the sha256 of the
    /// URL) and each import succeeds this long after its DataVolume was
    /// created, with an empty disk file. A duration such as `0s`, `30s`,
    /// `5m`.
    #[arg(long, value_name = "DURATION", value_parser = humantime::parse_duration)]
    pub import_delay: Option<Duration>,
    #[command(flatten)]
    pub registry: RegistryArgs,
    #[command(flatten)]
    pub retry: RetryArgs,
    /// Maximum sleep between passes, even when nothing is due sooner,
    /// e.g. `5m`.
    #[arg(long, value_name = "DURATION", value_parser = super::parse_positive_duration,
          default_value = "5m")]
    pub max_sleep: Duration,
    /// Poll every registry source in the first round of each pass, even
    /// when its schedule is not due.
    #[arg(long)]
    pub poll_now: bool,
    /// HCO release whose behaviour to reproduce, from 1.6 to 1.20.
    #[arg(long, value_name = "VERSION", default_value = "1.20", value_parser = super::parse_hco_version)]
    pub hco_version: String,
    /// Abort the process after this many object writes, as `kill -9`
    /// would; for crash tests.
    #[arg(long, value_name = "N", hide = true)]
    pub crash_after_writes: Option<usize>,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Runs `bootsource run`.
pub fn run(args: &RunArgs) -> Result<(), CliError> {
    init_tracing();
    // Options and input files are checked before the state folder is
    // created or changed.
    args.retry.check()?;
    let registry_config = args.registry.config()?;
    let seeds = read_seeds(args)?;
    let runtime = args.module.load()?;
    let mut store = Store::open(&args.state)?;
    let _lock = store.lock()?;
    // Every object file is read and checked before anything is written.
    let objects = store.load()?;
    store.clean_tmp()?;
    ensure_storage_class(&mut store, &objects)?;

    let registry = Registry::new(registry_config)
        .map_err(|e| CliError::Failure(format!("failed to start the registry client: {e}")))?;
    let mode = match args.import_delay {
        Some(delay) => {
            warn!(delay = %humantime::format_duration(delay), "stand-in imports: no registry is contacted and disk files are empty");
            ImportMode::StandIn { delay }
        }
        None => ImportMode::Registry(&registry),
    };
    let mut config = PassConfig {
        runtime: &runtime,
        mode,
        retry: RetryPolicy {
            base: args.retry.retry_backoff,
            cap: args.retry.retry_backoff_max,
        },
        poll_now: args.poll_now,
        seeds,
        hco_version: Some(args.hco_version.clone()),
        crash: CrashAfter(args.crash_after_writes),
    };

    let interrupted = listen_for_signals()?;

    info!(state = %args.state.display(), "run started");
    loop {
        let report = run_pass(&mut store, &mut config)?;
        info!(
            rounds = report.rounds,
            changed = report.changed,
            polls = report.polls,
            failed_polls = report.failed_polls,
            imports = report.imports,
            next = %report
                .wake_at
                .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
                .unwrap_or_else(|| "none".into()),
            "pass finished"
        );
        if args.once {
            break;
        }
        let sleep = report
            .wake_at
            .map(|t| until(t, Utc::now()))
            .unwrap_or(args.max_sleep)
            .min(args.max_sleep)
            .max(Duration::from_secs(1));
        info!(seconds = sleep.as_secs(), "sleeping until the next pass");
        if interrupted.recv_timeout(sleep).is_ok() {
            info!("interrupted; stopping between passes");
            break;
        }
    }
    info!("run stopped");
    Ok(())
}

/// Listens for SIGINT and SIGTERM on a thread of its own, so that a
/// signal is noticed during a pass too. The first one is reported on the
/// returned channel: the loop ends once the pass is over. A second one
/// ends the process at once (exit 130 for SIGINT, 143 for SIGTERM): every
/// write is atomic and the next pass completes an interrupted one, so
/// nothing is lost.
fn listen_for_signals() -> Result<std::sync::mpsc::Receiver<()>, CliError> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("failed to start the signal handler: {e}")))?;
    let mut interrupts = runtime
        .block_on(async { Interrupts::new() })
        .map_err(|e| CliError::Failure(format!("failed to install the signal handler: {e}")))?;
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        runtime.block_on(async {
            interrupts.recv().await;
            info!(
                "signal received; stopping after the current pass (send another to stop at once)"
            );
            let _ = sender.send(());
            let code = interrupts.recv().await;
            warn!("second signal: stopping now; the next run completes the interrupted pass");
            std::process::exit(code);
        })
    });
    Ok(receiver)
}

/// SIGINT and SIGTERM.
struct Interrupts {
    interrupt: tokio::signal::unix::Signal,
    terminate: tokio::signal::unix::Signal,
}

impl Interrupts {
    fn new() -> std::io::Result<Self> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Interrupts {
            interrupt: signal(SignalKind::interrupt())?,
            terminate: signal(SignalKind::terminate())?,
        })
    }

    /// Waits for either signal and returns the exit code a process ended
    /// by it has by convention: 128 plus the signal number.
    async fn recv(&mut self) -> i32 {
        tokio::select! {
            _ = self.interrupt.recv() => 130,
            _ = self.terminate.recv() => 143,
        }
    }
}

/// Sends `tracing` output to stderr; `RUST_LOG` sets the level (default
/// `info`).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}

fn read_seeds(args: &RunArgs) -> Result<Vec<Value>, CliError> {
    if args.example {
        let path = PathBuf::from("<built-in example>");
        return input::parse_documents(&path, EXAMPLE_HYPERCONVERGED)
            .map_err(|e| CliError::Failure(e.to_string()));
    }
    if args.files.is_empty() {
        return Ok(Vec::new());
    }
    let objects =
        input::read_objects(&args.files).map_err(|e| CliError::InvalidInput(e.to_string()))?;
    for (object, origin) in objects.values.iter().zip(&objects.origins) {
        let Some(key) = ObjectKey::of(object) else {
            return Err(CliError::InvalidInput(format!(
                "{origin}: the object has no kind or metadata.name"
            )));
        };
        if let Err(error) = key.check() {
            return Err(CliError::InvalidInput(format!("{origin}: {error}")));
        }
    }
    Ok(objects.values)
}

/// Stores a default StorageClass when the state folder has no
/// StorageClass at all, so that imports can bind. A folder with only
/// non-default classes is left as it is, like a cluster without a default.
fn ensure_storage_class(
    store: &mut Store,
    objects: &BTreeMap<ObjectKey, Value>,
) -> Result<(), CliError> {
    if objects.keys().any(|key| key.kind == "StorageClass") {
        return Ok(());
    }
    let class = json!({
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {
            "name": LOCAL_STORAGE_CLASS,
            "annotations": { bootsource_guest::model::core::ANNOTATION_DEFAULT_CLASS: "true" },
        },
        "provisioner": "bootsource.local",
        "volumeBindingMode": "Immediate",
    });
    let now = Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    store.put(class, &now)?;
    info!(
        storage_class = LOCAL_STORAGE_CLASS,
        "default StorageClass created for the volumes folder"
    );
    Ok(())
}

/// Checks a registry address, `HOST[:PORT]`: a host name (labels of
/// letters, digits and inner hyphens, each up to 63 characters), an IPv4
/// address or an IPv6 address in brackets, then an optional port from 1 to
/// 65535. Returns it unchanged.
pub fn parse_registry_host(text: &str) -> Result<String, String> {
    let fail = |why: &str| {
        Err(format!(
            "{text:?} is not a registry address: {why}; expected HOST[:PORT], e.g. localhost:5000, 10.0.0.7:5000 or [::1]:5000"
        ))
    };
    if text.contains("://") {
        return fail("it has a scheme; give the address alone");
    }
    if text.contains('/') {
        return fail("it has a path; give the address alone");
    }
    let port = if let Some(rest) = text.strip_prefix('[') {
        let Some((address, after)) = rest.split_once(']') else {
            return fail("the IPv6 address has no closing ]");
        };
        if address.parse::<std::net::Ipv6Addr>().is_err() {
            return fail("the address in brackets is not an IPv6 address");
        }
        match after {
            "" => None,
            _ => match after.strip_prefix(':') {
                Some(port) => Some(port),
                None => return fail("only :PORT may follow the IPv6 address"),
            },
        }
    } else {
        let (host, port) = match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        };
        if host.contains(':') {
            return fail("an IPv6 address must be written in brackets");
        }
        if !is_host_name(host) {
            return fail("the host is neither a host name nor an IPv4 address");
        }
        port
    };
    if let Some(port) = port {
        let valid = !port.is_empty()
            && port.bytes().all(|b| b.is_ascii_digit())
            && port.parse::<u16>().is_ok_and(|p| p >= 1);
        if !valid {
            return fail("the port must be a number from 1 to 65535");
        }
    }
    Ok(text.to_string())
}

/// True for a DNS host name or a dotted-quad IPv4 address.
fn is_host_name(host: &str) -> bool {
    if host.parse::<std::net::Ipv4Addr>().is_ok() {
        return true;
    }
    let all_digits_and_dots = host.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if host.is_empty() || host.len() > 253 || all_digits_and_dots {
        return false;
    }
    host.split('.').all(|label| {
        !label.is_empty()
            && label.len() <= 63
            && !label.starts_with('-')
            && !label.ends_with('-')
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
    })
}

#[cfg(test)]
mod tests {
    use super::parse_registry_host;

    #[test]
    fn registry_addresses_are_checked() {
        let cases = [
            ("localhost", true),
            ("localhost:5000", true),
            ("registry.example.test:443", true),
            ("my-registry", true),
            ("10.0.0.7", true),
            ("10.0.0.7:5000", true),
            ("[::1]", true),
            ("[::1]:5000", true),
            ("[fe80::1]:65535", true),
            ("not a host", false),
            ("", false),
            ("localhost:", false),
            ("localhost:0", false),
            ("localhost:65536", false),
            ("localhost:+80", false),
            ("localhost:http", false),
            ("-bad.example", false),
            ("bad-.example", false),
            ("a..b", false),
            ("under_score", false),
            ("::1", false),
            ("[::1", false),
            ("[not-ipv6]:80", false),
            ("[::1]5000", false),
            ("300.1.1.1", false),
            ("http://localhost:5000", false),
            ("localhost:5000/path", false),
        ];
        for (text, valid) in cases {
            assert_eq!(parse_registry_host(text).is_ok(), valid, "{text:?}");
        }
    }

    #[test]
    fn registry_address_errors_say_what_is_extra() {
        let scheme = parse_registry_host("http://127.0.0.1:5000").unwrap_err();
        assert!(scheme.contains("it has a scheme"), "{scheme}");
        let path = parse_registry_host("127.0.0.1:5000/disks").unwrap_err();
        assert!(path.contains("it has a path"), "{path}");
    }
}
