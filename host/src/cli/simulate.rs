//! `bootsource simulate`: the full reconcile chain over simulated time.
//!
//! The engine is the module's `simulate` operation. This command calls it
//! in windows of one simulated day, passing the returned state back, so
//! each call stays within the runtime's per-call fuel and time limits
//! however long the run, and a progress bar on a terminal can follow the
//! windows.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use bootsource_guest::contract::op;
use bootsource_guest::simulate::{
    EntryKind, Publication, Report, SimulateRequest, SimulateResponse, DEFAULT_STORAGE_CLASS,
    MAX_IMPORT_SECONDS, MAX_TIMELINE_ENTRIES,
};
use chrono::{DateTime, Duration, SecondsFormat, Utc};
use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::objects::ObjectArgs;
use super::{CliError, ModuleArgs};
use crate::input;
use crate::output::{self, Format};

/// Simulated time one module call covers.
const WINDOW: Duration = Duration::days(1);
/// Longest simulated run, in days (ten years). `--duration` and the span
/// from `--start` to `--end` may not exceed it.
pub const MAX_RUN_DAYS: i64 = 3650;
/// Maximum import duration, in days (the module's limit).
pub const MAX_IMPORT_DAYS: i64 = MAX_IMPORT_SECONDS / 86_400;

#[derive(Debug, Args)]
pub struct SimulateArgs {
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// YAML or JSON list of digest publications:
    /// `{time: RFC3339, source: docker://host/repo:tag, digest: sha256:...}`;
    /// at most 50000 entries and 64 MiB.
    #[arg(long, value_name = "FILE")]
    pub timeline: Option<PathBuf>,
    /// Start of simulated time (RFC 3339); defaults to the system clock.
    #[arg(long, value_name = "RFC3339")]
    pub start: Option<String>,
    /// End of simulated time (RFC 3339).
    #[arg(long, value_name = "RFC3339", conflicts_with = "duration")]
    pub end: Option<String>,
    /// Length of the run instead of --end: a number with s, m, h or d,
    /// e.g. 30d; at most 3650d.
    #[arg(long, value_name = "DURATION", default_value = "30d")]
    pub duration: String,
    /// Time from the creation of an import to its end, e.g. 20m; at most
    /// 30d.
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
    /// Output format: a timeline and summary table, or the whole report.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Parses a duration such as `90s`, `20m`, `12h` or `30d` given to
/// `option`, and rejects one longer than `max_days` days.
pub fn parse_duration(text: &str, option: &str, max_days: i64) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let too_long =
        || format!("{option}: duration {text:?} is too long; the maximum is {max_days}d");
    let number: i64 = number.parse().map_err(|e: std::num::ParseIntError| {
        if matches!(e.kind(), std::num::IntErrorKind::PosOverflow) {
            too_long()
        } else {
            format!(
                "{option}: invalid duration {text:?}; write a number and s, m, h or d, e.g. 30d"
            )
        }
    })?;
    let unit_seconds: i64 = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "{option}: invalid duration unit in {text:?}; use s, m, h or d, e.g. 30d"
            ))
        }
    };
    match number.checked_mul(unit_seconds) {
        Some(seconds) if seconds <= max_days * 86_400 => Ok(Duration::seconds(seconds)),
        _ => Err(too_long()),
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
    let objects = args.objects.read()?;
    let timeline = match &args.timeline {
        None => Vec::new(),
        Some(path) => read_timeline(path)?,
    };
    let start = match &args.start {
        Some(text) => parse_time(text, "--start")?,
        None => Utc::now(),
    };
    let end = match &args.end {
        Some(text) => {
            let end = parse_time(text, "--end")?;
            if end - start > Duration::days(MAX_RUN_DAYS) {
                return Err(CliError::InvalidInput(format!(
                    "--end: the run from --start to --end is longer than the maximum of \
                     {MAX_RUN_DAYS}d; choose an earlier --end"
                )));
            }
            end
        }
        None => {
            let duration = parse_duration(&args.duration, "--duration", MAX_RUN_DAYS)
                .map_err(CliError::InvalidInput)?;
            start.checked_add_signed(duration).ok_or_else(|| {
                CliError::InvalidInput(format!(
                    "--duration: the run from {} ends after the largest representable time; \
                     choose an earlier --start",
                    format_time(start)
                ))
            })?
        }
    };
    if end <= start {
        let option = if args.end.is_some() {
            "--end"
        } else {
            "--duration"
        };
        return Err(CliError::InvalidInput(format!(
            "{option}: the run must end after it starts ({} to {}); give a later --end or a \
             --duration above 0",
            format_time(start),
            format_time(end)
        )));
    }
    let import_duration =
        parse_duration(&args.import_duration, "--import-duration", MAX_IMPORT_DAYS)
            .map_err(CliError::InvalidInput)?;
    if !(0.0..=1.0).contains(&args.failure_rate) {
        return Err(CliError::InvalidInput(format!(
            "--failure-rate: {} is not a probability; give a number from 0.0 to 1.0",
            args.failure_rate
        )));
    }

    let mut request = SimulateRequest {
        start: format_time(start),
        end: format_time(end),
        timeline,
        import_duration_seconds: Some(import_duration.num_seconds()),
        failure_rate: args.failure_rate,
        seed: args.seed,
        storage_class: Some(args.storage_class.clone()),
        hco_version: Some(args.objects.hco_version.clone()),
        objects: objects.values,
        ..SimulateRequest::default()
    };

    let runtime = args.module.load()?;
    let progress = progress_bar(args.output, start, end);
    let mut pause = start + WINDOW;
    let report = loop {
        request.pause_at = Some(format_time(pause));
        let response: SimulateResponse = runtime
            .call_json(op::SIMULATE, &request)
            .map_err(CliError::Runtime)?
            .map_err(|e| CliError::InvalidInput(simulate_error(&e, args, &objects.origins)))?;
        if let Some(bar) = &progress {
            let reached = pause.min(end);
            bar.set_position(u64::try_from((reached - start).num_seconds()).unwrap_or(0));
            bar.set_message(format!(
                "{} of {}, {}",
                format_time(reached),
                format_time(end),
                super::counted(response.steps as usize, "step", "steps")
            ));
        }
        if let Some(report) = response.report {
            break report;
        }
        request.state = response.state;
        request.objects.clear();
        pause += WINDOW;
    };
    if let Some(bar) = progress {
        bar.finish_and_clear();
    }

    for warning in &report.warnings {
        eprintln!("warning: {warning}");
    }
    match args.output {
        Format::Table => super::print_stdout(&report_tables(&report)),
        format => super::print_stdout(&output::document(&report, format)),
    }
}

/// Formats a module error; one about a timeline entry names the timeline
/// file, because the module knows the entries only by their index.
fn simulate_error(
    error: &bootsource_guest::Error,
    args: &SimulateArgs,
    origins: &[input::Origin],
) -> String {
    let text = output::guest_error(error, origins);
    match (&args.timeline, error.field.as_deref()) {
        (Some(path), Some(field)) if field.starts_with("timeline") => {
            format!("{}: {text}", path.display())
        }
        _ => text,
    }
}

/// Reads a timeline file: at most [`input::MAX_FILE_BYTES`] bytes and
/// [`MAX_TIMELINE_ENTRIES`] publications.
fn read_timeline(path: &Path) -> Result<Vec<Publication>, CliError> {
    let text = input::read_text(path).map_err(|e| CliError::InvalidInput(e.to_string()))?;
    let mut documents =
        input::parse_documents(path, &text).map_err(|e| CliError::InvalidInput(e.to_string()))?;
    let list = match documents.len() {
        0 => return Ok(Vec::new()),
        1 => documents.remove(0),
        count => {
            return Err(CliError::InvalidInput(format!(
                "{}: the timeline has {count} YAML documents; write one list of \
                 {{time, source, digest}}",
                path.display()
            )))
        }
    };
    if let Some(count) = list.as_array().map(Vec::len) {
        if count > MAX_TIMELINE_ENTRIES {
            return Err(CliError::InvalidInput(format!(
                "{}: the timeline has {count} publications, more than the maximum of \
                 {MAX_TIMELINE_ENTRIES}; simulate a shorter period or fewer sources",
                path.display()
            )));
        }
    }
    serde_json::from_value(list).map_err(|e| {
        CliError::InvalidInput(format!(
            "{}: invalid timeline: {e}; write a list of {{time, source, digest}}",
            path.display()
        ))
    })
}

/// Returns a progress bar over simulated seconds on standard error, or
/// `None` when standard error is not a terminal or the output is for
/// machines (JSON or YAML).
fn progress_bar(format: Format, start: DateTime<Utc>, end: DateTime<Utc>) -> Option<ProgressBar> {
    if format != Format::Table || !std::io::stderr().is_terminal() {
        return None;
    }
    let total = u64::try_from((end - start).num_seconds()).unwrap_or(0);
    let bar = ProgressBar::with_draw_target(Some(total), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("simulating {wide_bar} {percent:>3}% {msg}") {
        bar.set_style(style);
    }
    Some(bar)
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
            assert_eq!(
                parse_duration(text, "--duration", 30),
                Ok(expected),
                "{text}"
            );
        }
    }

    #[test]
    fn duration_without_unit_is_rejected() {
        assert!(parse_duration("30", "--duration", 30).is_err());
    }

    #[test]
    fn duration_above_maximum_is_rejected() {
        let cases = ["31d", "100000000d", "99999999999999999999d", "2678401s"];
        for text in cases {
            let error = parse_duration(text, "--duration", 30).expect_err(text);
            assert!(error.contains("the maximum is 30d"), "{text}: {error}");
        }
    }
}
