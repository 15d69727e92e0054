//! `bootsource validate` on YAML files, through the embedded module.

use std::path::PathBuf;

use bootsource::cli::{validate, Cli, CliError, Command};
use clap::Parser;

fn data(name: &str) -> String {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/validate")
        .join(name)
        .display()
        .to_string()
}

fn run(args: &[&str]) -> Result<(), CliError> {
    let cli = Cli::try_parse_from(["bootsource", "validate"].iter().chain(args))
        .expect("the command line parses");
    let Command::Validate(args) = cli.command else {
        panic!("parsed as another command");
    };
    validate::run(&args)
}

#[test]
fn valid_objects_pass() {
    let result = run(&["-f", &data("valid.yaml")]);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn invalid_cron_fails_with_invalid_input() {
    let result = run(&["-f", &data("invalid.yaml")]);
    assert!(
        matches!(result, Err(CliError::InvalidInput(_))),
        "{result:?}"
    );
}

#[test]
fn unchanged_spec_update_passes() {
    let result = run(&["-f", &data("old.yaml"), "--old", &data("old.yaml")]);
    assert!(result.is_ok(), "{result:?}");
}

#[test]
fn changed_spec_update_fails() {
    let result = run(&["-f", &data("changed.yaml"), "--old", &data("old.yaml")]);
    assert!(
        matches!(result, Err(CliError::InvalidInput(_))),
        "{result:?}"
    );
}

#[test]
fn changed_spec_as_create_passes() {
    let result = run(&["-f", &data("changed.yaml")]);
    assert!(result.is_ok(), "{result:?}");
}
