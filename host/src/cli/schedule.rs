//! `bootsource schedule`: the next fire times of a DataImportCron schedule.

use bootsource_guest::contract::{op, ScheduleRequest, ScheduleResponse};
use clap::Args;

use super::{CliError, ModuleArgs};
use crate::output;
use crate::runtime::Runtime;

/// Number of fire times printed when `--count` is not given.
pub const DEFAULT_COUNT: u32 = 5;

#[derive(Debug, Args)]
pub struct ScheduleArgs {
    /// Cron expression as CDI accepts it in a DataImportCron's
    /// spec.schedule: five fields (minute 0-59, hour 0-23, day-of-month
    /// 1-31, month 1-12 or jan-dec, day-of-week 0-6 or sun-sat), a
    /// descriptor such as @daily or "@every 1h30m", and an optional
    /// "TZ=<zone> " prefix. Times are in UTC unless a zone is given. Quote
    /// it in the shell.
    #[arg(value_name = "EXPR")]
    pub expression: String,
    /// Start time (RFC 3339); fire times are strictly later. Defaults to
    /// the system clock.
    #[arg(long, value_name = "RFC3339")]
    pub after: Option<String>,
    /// Number of fire times to print, from 1 to 1000.
    #[arg(short = 'n', long, value_name = "N", default_value_t = DEFAULT_COUNT)]
    pub count: u32,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Runs `bootsource schedule`: prints one RFC 3339 UTC time per line.
pub fn run(args: &ScheduleArgs) -> Result<(), CliError> {
    let runtime = args.module.load()?;
    let request = ScheduleRequest {
        expression: args.expression.clone(),
        after: args.after.clone().unwrap_or_else(super::plan::now_rfc3339),
        count: args.count,
    };
    let response = schedule(&runtime, &request)?;
    let mut text = String::new();
    for time in &response.times {
        text.push_str(time);
        text.push('\n');
    }
    super::print_stdout(&text)?;
    if let Some(reason) = &response.stopped {
        eprintln!(
            "warning: found {} of {}, because {reason}",
            response.times.len(),
            super::counted(request.count as usize, "fire time", "fire times")
        );
    }
    Ok(())
}

/// Computes fire times with the `schedule` operation of `runtime`.
/// Fails with [`CliError::InvalidInput`] when the module rejects the
/// request, e.g. for an invalid expression or a count above
/// [`MAX_SCHEDULE_COUNT`](bootsource_guest::contract::MAX_SCHEDULE_COUNT).
pub fn fire_times(runtime: &Runtime, request: &ScheduleRequest) -> Result<Vec<String>, CliError> {
    Ok(schedule(runtime, request)?.times)
}

/// Calls the `schedule` operation of `runtime`: the fire times, and why
/// the list is short when it is. Fails as [`fire_times`] does.
pub fn schedule(
    runtime: &Runtime,
    request: &ScheduleRequest,
) -> Result<ScheduleResponse, CliError> {
    runtime
        .call_json(op::SCHEDULE, request)
        .map_err(CliError::Runtime)?
        .map_err(|e| CliError::InvalidInput(output::guest_error(&e, &[])))
}
