//! The `bootsource` command line.

use std::process::ExitCode;

use bootsource::cli::{Cli, EXIT_INVALID_INPUT};
use clap::Parser;

fn main() -> ExitCode {
    match Cli::try_parse() {
        Ok(cli) => bootsource::cli::run(cli),
        Err(error) => {
            // clap exits 2 on a bad option; bootsource keeps 2 for its own
            // failures, so a bad command line is invalid input, exit 1.
            // `--help` and `--version` print to stdout and succeed.
            let _ = error.print();
            if error.use_stderr() {
                ExitCode::from(EXIT_INVALID_INPUT)
            } else {
                ExitCode::SUCCESS
            }
        }
    }
}
