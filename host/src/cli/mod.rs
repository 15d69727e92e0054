//! Command-line interface: one module per subcommand.
//!
//! Exit codes: 0 on success, 1 on invalid input (the message names the
//! file, object and field), 2 when bootsource itself failed (for example a
//! module that cannot be loaded).

pub mod plan;
pub mod schedule;
pub mod simulate;
pub mod validate;
pub mod webhook;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::runtime::{Limits, Runtime, RuntimeError};

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
    /// Print the built-in example HyperConverged (OKD 4.12 form).
    Example,
}

/// Options shared by every command that runs the module.
#[derive(Debug, Clone, clap::Args)]
pub struct ModuleArgs {
    /// Load this build of bootsource.wasm instead of the module built into
    /// the binary.
    #[arg(long, value_name = "PATH", global = true)]
    pub module: Option<PathBuf>,
}

impl ModuleArgs {
    /// Loads the selected module with the default limits.
    pub fn load(&self) -> Result<Runtime, CliError> {
        self.load_with_limits(Limits::default())
    }

    /// Loads the selected module with the given per-call limits.
    pub fn load_with_limits(&self, limits: Limits) -> Result<Runtime, CliError> {
        match &self.module {
            None => {
                Runtime::new(crate::runtime::EMBEDDED_MODULE, limits).map_err(CliError::Runtime)
            }
            Some(path) => {
                let bytes = std::fs::read(path).map_err(|e| {
                    CliError::Failure(format!(
                        "{}: failed to read the module: {e}",
                        path.display()
                    ))
                })?;
                Runtime::new(&bytes, limits).map_err(CliError::Runtime)
            }
        }
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

/// The built-in example: a HyperConverged CR in the v1beta1 form that OKD
/// 4.12 documents.
pub const EXAMPLE_HYPERCONVERGED: &str =
    include_str!("../../examples/hyperconverged-okd-4.12.yaml");

/// Runs a parsed command line and returns the process exit code.
pub fn run(cli: Cli) -> ExitCode {
    let result = match cli.command {
        Command::Plan(args) => plan::run(&args),
        Command::Schedule(args) => schedule::run(&args),
        Command::Validate(args) => validate::run(&args),
        Command::Webhook(args) => webhook::run(&args),
        Command::Simulate(args) => simulate::run(&args),
        Command::Example => {
            print!("{EXAMPLE_HYPERCONVERGED}");
            Ok(())
        }
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("error: {error}");
            ExitCode::from(match error {
                CliError::InvalidInput(_) => EXIT_INVALID_INPUT,
                CliError::Failure(_) | CliError::Runtime(_) => EXIT_FAILURE,
            })
        }
    }
}
