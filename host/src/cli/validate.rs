//! `bootsource validate`: checks objects offline as the admission webhooks
//! would, through the same module the Kubewarden policy runs.

use std::path::PathBuf;

use bootsource_guest::admission::{ValidateRequest, ValidateResponse};
use bootsource_guest::contract::op;
use bootsource_guest::validation::Severity;
use clap::Args;

use super::{CliError, ModuleArgs};
use crate::input::{self, Origin};
use crate::output;

#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// YAML or JSON files with HyperConverged and DataImportCron objects.
    /// Objects of other kinds are skipped. `-` reads standard input. Each
    /// file may be up to 64 MiB and nest up to 100 levels deep.
    #[arg(short = 'f', long = "filename", value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// File with the previous versions of the objects: an object with the
    /// same apiVersion, kind, namespace and name there is checked as an
    /// update of it.
    #[arg(long, value_name = "FILE")]
    pub old: Option<PathBuf>,
    /// HCO release whose webhook rules apply, from 1.6 to 1.20.
    #[arg(long, value_name = "VERSION", default_value = "1.20", value_parser = super::parse_hco_version)]
    pub hco_version: String,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// Runs `bootsource validate`: prints every error and warning with its
/// file, object and field, and fails with exit code 1 when any object
/// would be rejected.
pub fn run(args: &ValidateArgs) -> Result<(), CliError> {
    let objects =
        input::read_objects(&args.files).map_err(|e| CliError::InvalidInput(e.to_string()))?;
    let old_objects = match &args.old {
        None => Vec::new(),
        Some(path) => {
            input::read_objects(std::slice::from_ref(path))
                .map_err(|e| CliError::InvalidInput(e.to_string()))?
                .values
        }
    };
    let request = ValidateRequest {
        hco_version: Some(args.hco_version.clone()),
        objects: objects.values,
        old_objects,
    };

    let runtime = args.module.load()?;
    let response: ValidateResponse = runtime
        .call_json(op::VALIDATE_OBJECTS, &request)
        .map_err(CliError::Runtime)?
        .map_err(|e| CliError::InvalidInput(output::guest_error(&e, &objects.origins)))?;

    let report = report(&response, &objects.origins);
    super::print_stdout(&report.text)?;
    if report.errors > 0 {
        return Err(CliError::InvalidInput(format!(
            "{} of {} would be rejected",
            report.rejected,
            super::counted(report.checked, "checked object", "checked objects")
        )));
    }
    Ok(())
}

/// Formatted findings and their counts.
struct Report {
    text: String,
    checked: usize,
    rejected: usize,
    errors: usize,
}

/// Formats one line per finding: `severity: FILE (document N): OBJECT:
/// FIELD: MESSAGE`, then a summary line.
fn report(response: &ValidateResponse, origins: &[Origin]) -> Report {
    let mut text = String::new();
    let (mut checked, mut rejected, mut errors, mut warnings) = (0, 0, 0, 0);
    for result in &response.results {
        let origin = origins
            .get(result.object_index)
            .map(|o| format!("{o}: "))
            .unwrap_or_default();
        if !result.checked {
            text.push_str(&format!(
                "skipped: {origin}{}: no admission rules for this kind\n",
                result.object
            ));
            continue;
        }
        checked += 1;
        rejected += usize::from(!result.allowed);
        for finding in &result.findings {
            let severity = match finding.severity {
                Severity::Error => {
                    errors += 1;
                    "error"
                }
                Severity::Warning => {
                    warnings += 1;
                    "warning"
                }
            };
            let field = if finding.field.is_empty() {
                String::new()
            } else {
                format!("{}: ", finding.field)
            };
            text.push_str(&format!(
                "{severity}: {origin}{} ({}): {field}{}\n",
                result.object, result.operation, finding.message
            ));
        }
    }
    text.push_str(&format!(
        "{} checked: {}, {}\n",
        super::counted(checked, "object", "objects"),
        super::counted(errors, "error", "errors"),
        super::counted(warnings, "warning", "warnings"),
    ));
    Report {
        text,
        checked,
        rejected,
        errors,
    }
}

#[cfg(test)]
mod tests {
    use bootsource_guest::admission::ObjectFindings;
    use bootsource_guest::model::meta::ObjectRef;
    use bootsource_guest::validation::Finding;

    use super::*;

    fn result(index: usize, checked: bool, findings: Vec<Finding>) -> ObjectFindings {
        let allowed = findings.iter().all(|f| f.severity != Severity::Error);
        ObjectFindings {
            object_index: index,
            object: ObjectRef::new(
                "cdi.kubevirt.io/v1beta1",
                "DataImportCron",
                "images",
                "cron",
            ),
            operation: "CREATE".into(),
            checked,
            allowed,
            findings,
            patch: Vec::new(),
        }
    }

    #[test]
    fn report_names_file_object_and_field() {
        let response = ValidateResponse {
            results: vec![result(
                0,
                true,
                vec![Finding::error("spec.schedule", "Illegal cron schedule")],
            )],
        };
        let origins = vec![Origin {
            file: PathBuf::from("crons.yaml"),
            document: 2,
        }];
        let report = report(&response, &origins);
        let first = report.text.lines().next().unwrap_or_default();
        assert_eq!(
            first,
            "error: crons.yaml (document 2): DataImportCron images/cron (CREATE): \
             spec.schedule: Illegal cron schedule"
        );
        assert_eq!(report.errors, 1);
        assert_eq!(report.rejected, 1);
    }

    #[test]
    fn report_counts_warnings_and_skips() {
        let response = ValidateResponse {
            results: vec![
                result(0, true, vec![Finding::warning("spec.x", "pruned")]),
                result(1, false, Vec::new()),
            ],
        };
        let report = report(&response, &[]);
        assert_eq!(report.errors, 0);
        assert_eq!(report.checked, 1);
        assert!(report.text.contains("skipped: DataImportCron images/cron"));
        assert!(report
            .text
            .ends_with("1 object checked: 0 errors, 1 warning\n"));
    }
}
