//! The `bootsource` command line.

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let cli = bootsource::cli::Cli::parse();
    bootsource::cli::run(cli)
}
