//! `bootsource schedule` and the `schedule` operation run inside
//! bootsource.wasm under wasmtime, compared with the same code run natively.

use std::process::ExitCode;

use bootsource::cli::schedule::fire_times;
use bootsource::cli::{self, Cli, CliError, Command, EXIT_INVALID_INPUT};
use bootsource::runtime::Runtime;
use bootsource_guest::contract::{op, ScheduleRequest};
use bootsource_guest::dispatch;

const ORACLE: &str = include_str!("../../guest/tests/data/cron-oracle.tsv");

fn runtime() -> Runtime {
    Runtime::embedded().unwrap_or_else(|e| panic!("embedded module failed to load: {e}"))
}

fn parse_command_line(args: &[&str]) -> Cli {
    <Cli as clap::Parser>::try_parse_from(args)
        .unwrap_or_else(|e| panic!("{args:?} was rejected: {e}"))
}

#[test]
fn wasm_and_native_agree_on_oracle() {
    let runtime = runtime();
    let mut rows = 0;
    for line in ORACLE.lines().skip(1).filter(|line| !line.is_empty()) {
        let columns: Vec<&str> = line.split('\t').collect();
        let request = ScheduleRequest {
            expression: columns[0].to_string(),
            after: columns[1].to_string(),
            count: 4,
        };
        let payload = serde_json::to_vec(&request).unwrap_or_default();
        let native = dispatch(op::SCHEDULE, &payload);
        let wasm = runtime
            .call(op::SCHEDULE, &payload)
            .unwrap_or_else(|e| panic!("{line}: runtime failed: {e}"));
        assert_eq!(
            String::from_utf8_lossy(&wasm),
            String::from_utf8_lossy(&native),
            "{line}"
        );
        rows += 1;
    }
    assert!(rows >= 100, "only {rows} oracle rows");
}

#[test]
fn wasm_fire_times_match_oracle() {
    let runtime = runtime();
    for line in ORACLE.lines().skip(1).filter(|line| !line.is_empty()) {
        let columns: Vec<&str> = line.split('\t').collect();
        let request = ScheduleRequest {
            expression: columns[0].to_string(),
            after: columns[1].to_string(),
            count: 4,
        };
        match (fire_times(&runtime, &request), columns[2]) {
            (Err(CliError::InvalidInput(_)), "ERR") => {}
            (Ok(times), expected) => assert_eq!(times.join(","), expected, "{line}"),
            (Err(error), expected) => panic!("{line}: expected {expected}, got error {error}"),
        }
    }
}

#[test]
fn cli_defaults_to_five_times() {
    let cli = parse_command_line(&["bootsource", "schedule", "@daily"]);
    let Command::Schedule(args) = cli.command else {
        panic!("parsed as another command");
    };
    assert_eq!(args.count, 5);
    assert_eq!(args.after, None);
}

#[test]
fn cli_error_names_field() {
    let request = ScheduleRequest {
        expression: "0 0 * * 7".into(),
        after: "2025-01-01T00:00:00Z".into(),
        count: 5,
    };
    let message = match fire_times(&runtime(), &request) {
        Err(CliError::InvalidInput(message)) => message,
        other => panic!("expected invalid input, got {other:?}"),
    };
    assert!(message.contains("day-of-week"), "{message}");
    assert!(message.contains('7'), "{message}");
}

#[test]
fn cli_invalid_schedule_exits_one() {
    let cli = parse_command_line(&["bootsource", "schedule", "0 24 * * *", "--count", "2"]);
    assert_eq!(cli::run(cli), ExitCode::from(EXIT_INVALID_INPUT));
}

#[test]
fn cli_count_out_of_range_exits_one() {
    let cli = parse_command_line(&["bootsource", "schedule", "@daily", "--count", "1001"]);
    assert_eq!(cli::run(cli), ExitCode::from(EXIT_INVALID_INPUT));
}

#[test]
fn cli_valid_schedule_exits_zero() {
    let cli = parse_command_line(&[
        "bootsource",
        "schedule",
        "0 */12 * * *",
        "--after",
        "2025-01-01T00:00:00Z",
        "--count",
        "2",
    ]);
    assert_eq!(cli::run(cli), ExitCode::SUCCESS);
}

#[test]
fn cli_help_explains_fields() {
    let mut command = <Cli as clap::CommandFactory>::command();
    let help = command
        .find_subcommand_mut("schedule")
        .map(|sub| sub.render_long_help().to_string())
        .unwrap_or_default();
    for text in [
        "minute 0-59",
        "day-of-week 0-6",
        "RFC 3339",
        "1 to 1000",
        "UTC",
    ] {
        assert!(help.contains(text), "help lacks {text:?}:\n{help}");
    }
}
