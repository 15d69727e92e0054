//! Command-line interface: one module per subcommand.
//!
//! Exit codes: 0 on success, 1 on invalid input (the message names the
//! file, object and field) or an input too large for a module call's fuel,
//! time or memory limit, 2 when bootsource itself failed (for example a
//! module that cannot be loaded).

pub mod controller;
pub mod explain;
pub mod objects;
pub mod plan;
pub mod run;
pub mod schedule;
pub mod simulate;
pub mod validate;
pub mod webhook;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use std::time::Duration;

use crate::runtime::{
    Limits, Runtime, RuntimeError, DEFAULT_FUEL, DEFAULT_TIMEOUT, EMBEDDED_MODULE,
};

/// Exit code for invalid input.
pub const EXIT_INVALID_INPUT: u8 = 1;
/// Exit code when bootsource failed for another reason.
pub const EXIT_FAILURE: u8 = 2;

/// Keeps KubeVirt boot sources imported and up to date.
#[derive(Debug, Parser)]
#[command(name = "bootsource", version, about)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compute what HCO, SSP and CDI would do with the given cluster objects.
    Plan(plan::PlanArgs),
    /// Print the next fire times of a cron schedule as CDI computes them, one
    /// RFC 3339 UTC time per line.
    Schedule(schedule::ScheduleArgs),
    /// Check HyperConverged and DataImportCron objects offline as the
    /// admission webhooks would; exit 1 when any would be rejected.
    Validate(validate::ValidateArgs),
    /// Serve the admission webhooks, the Gatekeeper external-data provider
    /// and the Kyverno apiCall service over TLS.
    Webhook(webhook::WebhookArgs),
    /// Run the reconcile chain over simulated time against a digest
    /// timeline and report imports, DataSource switches and clean-up.
    Simulate(simulate::SimulateArgs),
    /// Reconcile a local state folder: poll registries, import disks into
    /// volume folders, repoint DataSources and collect old imports.
    Run(run::RunArgs),
    /// Explain why a boot source is or is not up to date, from a state
    /// folder or a cluster.
    Explain(explain::ExplainArgs),
    /// Watch a cluster and keep its boot sources reconciled: the HCO and
    /// SSP stages by default, the CDI stage on request.
    Controller(controller::ControllerArgs),
    /// Print the built-in example HyperConverged (OKD 4.12 form).
    Example,
}

/// Registry client options shared by `run` and `controller`.
#[derive(Debug, Clone, clap::Args)]
pub struct RegistryArgs {
    /// Docker config file with registry credentials (`auths.<host>.auth`,
    /// base64 of `user:password`).
    #[arg(long, value_name = "FILE")]
    pub registry_config: Option<PathBuf>,
    /// Registry to reach over plain HTTP instead of HTTPS, as `HOST[:PORT]`:
    /// a host name, an IPv4 address or an IPv6 address in brackets, and a
    /// port from 1 to 65535. Repeatable.
    #[arg(long, value_name = "HOST:PORT", value_parser = run::parse_registry_host)]
    pub insecure_registry: Vec<String>,
    /// Timeout of one registry request (a poll, or each connect and read of
    /// a pull), as a duration such as `30s` or `2m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration,
          default_value = "30s")]
    pub registry_timeout: Duration,
}

impl RegistryArgs {
    /// Reads the credentials file, if any, into the client settings.
    pub fn config(&self) -> Result<crate::registry::RegistryConfig, CliError> {
        let auth = match &self.registry_config {
            Some(path) => {
                crate::registry::AuthConfig::read(path).map_err(CliError::InvalidInput)?
            }
            None => crate::registry::AuthConfig::default(),
        };
        Ok(crate::registry::RegistryConfig {
            insecure: self.insecure_registry.clone(),
            auth,
            timeout: self.registry_timeout,
        })
    }
}

/// Parses `--hco-version`: a release this module reproduces, e.g. `1.20`.
pub fn parse_hco_version(text: &str) -> Result<String, String> {
    bootsource_guest::hco_version::HcoVersion::parse(text)
        .map(|_| text.to_string())
        .map_err(|e| {
            let text = e.to_string();
            text.strip_prefix("hcoVersion: ")
                .unwrap_or(&text)
                .to_string()
        })
}

/// Parses a namespace option: a DNS-1123 label, as the API server wants.
pub fn parse_namespace(text: &str) -> Result<String, String> {
    if bootsource_guest::model::meta::is_dns_label(text) {
        Ok(text.to_string())
    } else {
        Err("not a namespace name: 1 to 63 lowercase letters, digits and '-', starting and ending with a letter or digit".into())
    }
}

/// Parses an object name option: a DNS-1123 subdomain, as the API server
/// wants.
pub fn parse_object_name(text: &str) -> Result<String, String> {
    if bootsource_guest::model::meta::is_dns_subdomain(text) {
        Ok(text.to_string())
    } else {
        Err("not an object name: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit".into())
    }
}

/// Parses a time option in RFC 3339, e.g. `2026-12-01T08:00:00Z`, and
/// returns the text unchanged.
pub fn parse_rfc3339(text: &str) -> Result<String, String> {
    chrono::DateTime::parse_from_rfc3339(text)
        .map(|_| text.to_string())
        .map_err(|e| format!("{e}; write a time such as 2026-12-01T08:00:00Z"))
}

/// Parses a duration that must be longer than zero, e.g. `30s` or `2m`.
pub fn parse_positive_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if duration.is_zero() => Err("must be longer than 0".into()),
        Ok(duration) => Ok(duration),
        Err(error) => Err(format!(
            "{error} (write a number with a unit, e.g. 30s, 5m or 1h)"
        )),
    }
}

/// Retry back-off options shared by `run` and `controller`.
#[derive(Debug, Clone, clap::Args)]
pub struct RetryArgs {
    /// Wait before retrying a failed registry poll (and, in `run`, a failed
    /// import), as a duration such as `10s`; doubled per failure in a row.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration,
          default_value = "10s")]
    pub retry_backoff: Duration,
    /// Maximum wait between retries, as a duration such as `10m`.
    #[arg(long, value_name = "DURATION", value_parser = parse_positive_duration,
          default_value = "10m")]
    pub retry_backoff_max: Duration,
}

impl RetryArgs {
    /// Checks that the back-off does not start above its maximum.
    pub fn check(&self) -> Result<(), CliError> {
        if self.retry_backoff > self.retry_backoff_max {
            return Err(CliError::InvalidInput(format!(
                "--retry-backoff {} is longer than --retry-backoff-max {}",
                humantime::format_duration(self.retry_backoff),
                humantime::format_duration(self.retry_backoff_max)
            )));
        }
        Ok(())
    }
}

/// Options shared by every command that runs the module.
#[derive(Debug, Clone, clap::Args)]
pub struct ModuleArgs {
    /// Load this build of bootsource.wasm instead of the module built into
    /// the binary.
    #[arg(long, value_name = "PATH", global = true)]
    pub module: Option<PathBuf>,
    /// Fuel per module call: about the number of WebAssembly instructions
    /// a call may run. Raise it for inputs of many thousand objects.
    #[arg(long, value_name = "UNITS", global = true, default_value_t = DEFAULT_FUEL)]
    pub fuel: u64,
    /// Wall-clock limit per module call, in seconds.
    #[arg(
        long,
        value_name = "SECONDS",
        global = true,
        default_value_t = DEFAULT_TIMEOUT.as_secs()
    )]
    pub timeout: u64,
}

impl ModuleArgs {
    /// Loads the selected module with the limits given by `--fuel` and
    /// `--timeout`.
    pub fn load(&self) -> Result<Runtime, CliError> {
        self.load_with_limits(Limits {
            fuel: self.fuel,
            timeout: Duration::from_secs(self.timeout),
            ..Limits::default()
        })
    }

    /// Loads the selected module with the given per-call limits.
    pub fn load_with_limits(&self, limits: Limits) -> Result<Runtime, CliError> {
        let bytes = match &self.module {
            None => std::borrow::Cow::Borrowed(EMBEDDED_MODULE),
            Some(path) => std::borrow::Cow::Owned(std::fs::read(path).map_err(|e| {
                CliError::InvalidInput(format!(
                    "{}: failed to read the module: {e}",
                    path.display()
                ))
            })?),
        };
        Runtime::new(&bytes, limits).map_err(CliError::Runtime)
    }
}

/// A command failure and the exit code it maps to.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// The user's input is invalid; exit 1.
    #[error("{0}")]
    InvalidInput(String),
    /// bootsource failed; exit 2.
    #[error("{0}")]
    Failure(String),
    #[error(transparent)]
    Runtime(RuntimeError),
}

impl From<crate::store::StoreError> for CliError {
    /// A hand-broken file in the state folder is invalid input; a failed
    /// read or write is a failure.
    fn from(error: crate::store::StoreError) -> Self {
        if error.is_invalid_input() {
            CliError::InvalidInput(error.to_string())
        } else {
            CliError::Failure(error.to_string())
        }
    }
}

impl From<crate::store::pass::PassError> for CliError {
    fn from(error: crate::store::pass::PassError) -> Self {
        use crate::store::pass::PassError;
        match error {
            PassError::Store(error) => error.into(),
            PassError::Runtime(error) => CliError::Runtime(error),
            // The module rejects stored objects the user wrote or edited.
            PassError::Module(_) => CliError::InvalidInput(error.to_string()),
        }
    }
}

/// The built-in example: a HyperConverged CR in the v1beta1 form that OKD
/// 4.12 documents.
pub const EXAMPLE_HYPERCONVERGED: &str =
    include_str!("../../examples/hyperconverged-okd-4.12.yaml");

/// Returns what to do when a module call hit one of its limits.
fn limit_hint(error: &CliError) -> Option<&'static str> {
    match error {
        CliError::Runtime(RuntimeError::OutOfFuel { .. }) => {
            Some("pass fewer objects, or raise the limit with --fuel")
        }
        CliError::Runtime(RuntimeError::Timeout { .. }) => {
            Some("pass fewer objects, or raise the limit with --timeout")
        }
        CliError::Runtime(RuntimeError::OutOfMemory { .. }) => Some("pass fewer objects"),
        _ => None,
    }
}

/// Returns `count` followed by `singular` or `plural`, as in "1 object"
/// and "2 objects".
pub fn counted(count: usize, singular: &str, plural: &str) -> String {
    if count == 1 {
        format!("{count} {singular}")
    } else {
        format!("{count} {plural}")
    }
}

/// Writes `text` to standard output. A reader that closed the pipe early,
/// as `head` does, ends the output quietly: that is not an error.
pub fn print_stdout(text: &str) -> Result<(), CliError> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(CliError::Failure(format!(
            "failed to write to standard output: {e}"
        ))),
    }
}

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Schedule(args) => schedule::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Webhook(args) => webhook::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Run(args) => run::run(&args),
        Command::Explain(args) => explain::run(&args),
        Command::Controller(args) => controller::run(&args),
        Command::Example => print_stdout(EXAMPLE_HYPERCONVERGED),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            if let Some(hint) = limit_hint(&error) {
                eprintln!("  fix: {hint}");
            }
            ExitCode::from(match error {
                CliError::InvalidInput(_) => EXIT_INVALID_INPUT,
                // A call that hits a limit was given too large an input.
                CliError::Runtime(
                    RuntimeError::OutOfFuel { .. }
                    | RuntimeError::Timeout { .. }
                    | RuntimeError::OutOfMemory { .. },
                ) => EXIT_INVALID_INPUT,
                CliError::Failure(_) | CliError::Runtime(_) => EXIT_FAILURE,
            })
        }
    }
}
