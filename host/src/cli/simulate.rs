//! `bootsource simulate`: the full reconcile chain over simulated time.
//!
//! The engine is the module's `simulate` operation. This command calls it
//! in windows of one simulated day, passing the returned state back, so
//! each call stays within the runtime's per-call fuel and time limits
//! however long the run, and a progress line can follow the windows.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;

use bootsource_guest::contract::op;
use bootsource_guest::simulate::{
    EntryKind, Publication, Report, SimulateRequest, SimulateResponse, DEFAULT_STORAGE_CLASS,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use clap::Args;

use super::{CliError, ModuleArgs, EXAMPLE_HYPERCONVERGED};
use crate::input::{self, Objects, Origin};
use crate::output::{self, Format};

/// Simulated time one module call covers.
const WINDOW: Duration = Duration::days(1);

#[derive(Debug, Args)]
pub struct SimulateArgs {
    /// YAML or JSON files with the cluster objects at the start.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        required_unless_present = "example"
    )]
    pub files: Vec<PathBuf>,
    /// Start from the built-in example HyperConverged (OKD 4.12 form).
    #[arg(long, conflicts_with = "files")]
    pub example: bool,
    /// YAML or JSON list of digest publications:
    /// `{time: RFC3339, source: docker://host/repo:tag, digest: sha256:...}`.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// Start of simulated time (RFC 3339); defaults to the system clock.
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<String>,
    /// End of simulated time (RFC 3339).
    #[arg(long, value_name = "RFC3339", conflicts_with = "duration")]
    pub end: Option<String>,
    /// Length of the run instead of --end: a number with s, m, h or d,
    /// e.g. 30d.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub duration: String,
    /// Time from the creation of an import to its end, e.g. 20m.
    #[arg(long, value_name = "DURATION", default_value = "20m")]
    pub import_duration: String,
    /// Probability from 0.0 to 1.0 that an import fails.
    #[arg(long, value_name = "RATE", default_value_t = 0.0)]
    pub failure_rate: f64,
    /// Seed of the generator that decides which imports fail.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Name of the default StorageClass created when the input has none.
    #[arg(long, value_name = "NAME", default_value = DEFAULT_STORAGE_CLASS)]
    pub storage_class: String,
    /// HCO release whose behaviour to reproduce, from 1.6 to 1.20.
    #[arg(long, value_name = "VERSION", default_value = "1.20")]
    pub hco_version: String,
    /// Output format: a timeline and summary table, or the whole report.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Parses a duration such as `90s`, `20m`, `12h` or `30d`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: i64 = number.parse().map_err(|_| {
        format!("invalid duration {text:?}; write a number and s, m, h or d, e.g. 30d")
    })?;
    match unit {
        "s" => Ok(Duration::seconds(number)),
        "m" => Ok(Duration::minutes(number)),
        "h" => Ok(Duration::hours(number)),
        "d" => Ok(Duration::days(number)),
        _ => Err(format!(
            "invalid duration unit in {text:?}; use s, m, h or d, e.g. 30d"
        )),
    }
}

fn parse_time(text: &str, option: &str) -> Result<DateTime<Utc>, CliError> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            CliError::InvalidInput(format!(
                "{option}: invalid time {text:?}: {e}; write RFC 3339, e.g. 2026-11-01T00:00:00Z"
            ))
        })
}

fn format_time(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Runs `bootsource simulate`.
pub fn run(args: &SimulateArgs) -> Result<(), CliError> {
    let objects = read_objects(args)?;
    let timeline: Vec<Publication> = match &args.timeline {
        None => Vec::new(),
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|e| {
                CliError::InvalidInput(format!("{}: failed to read: {e}", path.display()))
            })?;
            serde_yaml::from_str(&text).map_err(|e| {
                CliError::InvalidInput(format!(
                    "{}: invalid timeline: {e}; write a list of {{time, source, digest}}",
                    path.display()
                ))
            })?
        }
    };
    let start = match &args.start {
        Some(text) => parse_time(text, "--start")?,
        None => Utc::now(),
    };
    let end = match &args.end {
        Some(text) => parse_time(text, "--end")?,
        None => start + parse_duration(&args.duration).map_err(CliError::InvalidInput)?,
    };
    let import_duration = parse_duration(&args.import_duration).map_err(CliError::InvalidInput)?;

    let mut request = SimulateRequest {
        start: format_time(start),
        end: format_time(end),
        timeline,
        import_duration_seconds: Some(import_duration.num_seconds()),
        failure_rate: args.failure_rate,
        seed: args.seed,
        storage_class: Some(args.storage_class.clone()),
        hco_version: Some(args.hco_version.clone()),
        objects: objects.values,
        ..SimulateRequest::default()
    };

    let runtime = args.module.load()?;
    let progress = std::io::stderr().is_terminal();
    let mut pause = start + WINDOW;
    let report = loop {
        request.pause_at = Some(format_time(pause));
        let response: SimulateResponse = runtime
            .call_json(op::SIMULATE, &request)
            .map_err(CliError::Runtime)?
            .map_err(|e| CliError::InvalidInput(output::guest_error(&e, &objects.origins)))?;
        if progress {
            show_progress(start, end, pause.min(end), response.steps);
        }
        if let Some(report) = response.report {
            break report;
        }
        request.state = response.state;
        request.objects.clear();
        pause += WINDOW;
    };
    if progress {
        eprintln!();
    }

    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    match args.output {
        Format::Table => print!("{}", report_tables(&report)),
        format => print!("{}", output::document(&report, format)),
    }
    Ok(())
}

fn read_objects(args: &SimulateArgs) -> Result<Objects, CliError> {
    if !args.example {
        return input::read_objects(&args.files).map_err(|e| CliError::InvalidInput(e.to_string()));
    }
    let path = PathBuf::from("<built-in example>");
    let values = input::parse_documents(&path, EXAMPLE_HYPERCONVERGED)
        .map_err(|e| CliError::Failure(e.to_string()))?;
    let origins = (1..=values.len())
        .map(|document| Origin {
            file: path.clone(),
            document,
        })
        .collect();
    Ok(Objects { values, origins })
}

/// Rewrites one progress line on standard error.
// NOTE: a plain carriage-return line; the indicatif crate would draw a bar.
fn show_progress(start: DateTime<Utc>, end: DateTime<Utc>, reached: DateTime<Utc>, steps: u32) {
    let total = (end - start).num_seconds().max(1);
    let done = (reached - start).num_seconds().clamp(0, total);
    let percent = done * 100 / total;
    let mut stderr = std::io::stderr();
    let _ = write!(
        stderr,
        "\rsimulating: {percent:3}% ({} of {}, {steps} steps)",
        format_time(reached),
        format_time(end)
    );
    let _ = stderr.flush();
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Published => "published",
        EntryKind::ImportStarted => "import started",
        EntryKind::ImportSucceeded => "import succeeded",
        EntryKind::ImportFailed => "import failed",
        EntryKind::DataSourceSwitched => "DataSource switched",
        EntryKind::Deleted => "deleted",
    }
}

/// Formats a byte count in binary units, e.g. `10Gi`.
pub fn format_bytes(bytes: u64) -> String {
    const UNITS: &[(&str, u64)] = &[
        ("Ti", 1 << 40),
        ("Gi", 1 << 30),
        ("Mi", 1 << 20),
        ("Ki", 1 << 10),
    ];
    for (unit, size) in UNITS {
        if bytes >= *size && bytes.is_multiple_of(*size) {
            return format!("{}{unit}", bytes / size);
        }
    }
    format!("{bytes}")
}

/// Formats seconds as days, hours and minutes, e.g. `1d 4h 20m`.
pub fn format_span(seconds: i64) -> String {
    let (days, rest) = (seconds / 86_400, seconds % 86_400);
    let (hours, minutes) = (rest / 3600, rest % 3600 / 60);
    match (days, hours) {
        (0, 0) => format!("{minutes}m"),
        (0, _) => format!("{hours}h {minutes}m"),
        _ => format!("{days}d {hours}h {minutes}m"),
    }
}

fn report_tables(report: &Report) -> String {
    let rows: Vec<Vec<String>> = report
        .timeline
        .iter()
        .map(|entry| {
            let mut detail = entry.object.clone().unwrap_or_default();
            if let Some(digest) = &entry.digest {
                detail = if detail.is_empty() {
                    digest.clone()
                } else {
                    format!("{detail} {digest}")
                };
            }
            if let Some(size) = entry.size_bytes {
                detail.push_str(&format!(" ({})", format_bytes(size)));
            }
            vec![
                entry.time.clone(),
                kind_name(entry.kind).to_string(),
                entry.boot_source.clone(),
                detail,
            ]
        })
        .collect();
    let mut text = output::table(&["TIME", "EVENT", "BOOT SOURCE", "DETAIL"], &rows);
    text.push('\n');
    let rows: Vec<Vec<String>> = report
        .boot_sources
        .iter()
        .map(|s| {
            vec![
                s.boot_source.clone(),
                s.imports.to_string(),
                s.failed_imports.to_string(),
                s.switches.to_string(),
                format_span(s.stale_seconds),
                format!("{} ({})", s.deleted_pvcs, format_bytes(s.reclaimed_bytes)),
                s.pvcs_at_end.to_string(),
            ]
        })
        .collect();
    text.push_str(&output::table(
        &[
            "BOOT SOURCE",
            "IMPORTS",
            "FAILED",
            "SWITCHES",
            "STALE",
            "RECLAIMED",
            "PVCS",
        ],
        &rows,
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse_by_unit() {
        let cases = [
            ("90s", Duration::seconds(90)),
            ("20m", Duration::minutes(20)),
            ("12h", Duration::hours(12)),
            ("30d", Duration::days(30)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text), Ok(expected), "{text}");
        }
    }

    #[test]
    fn duration_without_unit_is_rejected() {
        assert!(parse_duration("30").is_err());
    }
}
