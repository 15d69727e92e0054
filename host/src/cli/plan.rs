//! `bootsource plan`: what the operators would do with a set of objects.

use std::path::PathBuf;

use bootsource_guest::contract::{op, PlanRequest, Stage};
use bootsource_guest::plan::Plan;
use clap::{Args, ValueEnum};

use super::objects::ObjectArgs;
use super::{CliError, ModuleArgs};
use crate::input;
use crate::output::{self, Format};

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub objects: ObjectArgs,
    /// Common-template file, or folder of `*.yaml` files, used in place of
    /// the built-in set (the current upstream HCO templates).
    #[arg(long, value_name = "FILE|DIR")]
    pub common_templates: Option<PathBuf>,
    /// The current time (RFC 3339); defaults to the system clock.
    #[arg(long, value_name = "RFC3339", value_parser = super::parse_rfc3339)]
    pub now: Option<String>,
    /// Stages to run, comma-separated; they always run in chain order
    /// (templates, crons, imports). Leave out `crons` and `imports` on a
    /// cluster where SSP and CDI already reconcile the DataImportCrons.
    #[arg(
        long,
        value_enum,
        value_name = "STAGES",
        value_delimiter = ',',
        default_value = "templates,crons,imports"
    )]
    pub stages: Vec<StageArg>,
    /// Golden-image namespace for templates that set none.
    #[arg(long, value_name = "NAMESPACE", default_value = "kubevirt-os-images",
          value_parser = super::parse_namespace)]
    pub os_images_namespace: String,
    /// Take the HyperConverged as written, without the defaults HCO's
    /// mutating webhook adds on admission.
    #[arg(long)]
    pub no_admission_defaults: bool,
    /// Output format: a table of effective boot sources, or the whole plan.
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    pub output: Format,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// A stage of the reconcile chain, as named on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum StageArg {
    /// HCO: HyperConverged spec to boot-source templates, status and SSP CR.
    Templates,
    /// SSP: templates to DataImportCrons and DataSource labels.
    Crons,
    /// CDI: DataImportCrons to imports, DataSource updates and clean-up.
    Imports,
}

impl From<StageArg> for Stage {
    fn from(stage: StageArg) -> Self {
        match stage {
            StageArg::Templates => Stage::Templates,
            StageArg::Crons => Stage::Crons,
            StageArg::Imports => Stage::Imports,
        }
    }
}

/// Runs `bootsource plan`.
pub fn run(args: &PlanArgs) -> Result<(), CliError> {
    let objects = args.objects.read()?;

    let common_templates = match &args.common_templates {
        None => None,
        Some(path) => {
            let files = input::read_common_templates(path)
                .map_err(|e| CliError::InvalidInput(e.to_string()))?;
            if files.is_none() {
                eprintln!(
                    "warning: {} does not exist; using no common templates",
                    path.display()
                );
            }
            Some(files.unwrap_or_default())
        }
    };

    let request = PlanRequest {
        hco_version: Some(args.objects.hco_version.clone()),
        now: Some(args.now.clone().unwrap_or_else(now_rfc3339)),
        stages: Some(args.stages.iter().copied().map(Stage::from).collect()),
        common_templates,
        admission_defaults: Some(!args.no_admission_defaults),
        os_images_namespace: Some(args.os_images_namespace.clone()),
        deleted_crons: None,
        data_source_names: None,
        authorization: None,
        objects: objects.values,
    };

    let runtime = args.module.load()?;
    let plan: Plan = runtime
        .call_json(op::PLAN, &request)
        .map_err(CliError::Runtime)?
        .map_err(|e| CliError::InvalidInput(output::guest_error(&e, &objects.origins)))?;

    for warning in &plan.warnings {
        let mut line = String::from("warning: ");
        if let Some(object) = &warning.object {
            line.push_str(&format!("{object}: "));
        }
        line.push_str(&output::warning_text(warning));
        eprintln!("{line}");
    }
    match args.output {
        Format::Table => super::print_stdout(&output::plan_tables(&plan)),
        format => super::print_stdout(&output::document(&plan, format)),
    }
}

/// Returns the system time as RFC 3339 UTC, to whole seconds.
pub fn now_rfc3339() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
