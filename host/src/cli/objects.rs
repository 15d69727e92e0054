//! Input options shared by the commands that run the reconcile chain.

use std::path::PathBuf;

use clap::Args;

use super::{CliError, EXAMPLE_HYPERCONVERGED};
use crate::input::{self, Objects, Origin};

/// Input objects and the HCO release to reproduce.
#[derive(Debug, Args)]
pub struct ObjectArgs {
    /// YAML or JSON files with cluster objects: a HyperConverged, and
    /// optionally the SSP CR and other objects. `-` reads standard input.
    /// Each file may be up to 64 MiB and nest up to 100 levels deep.
    #[arg(
        short = 'f',
        long = "filename",
        value_name = "FILE",
        required_unless_present = "example"
    )]
    pub files: Vec<PathBuf>,
    /// Use the built-in example HyperConverged (OKD 4.12 form) as input.
    #[arg(long, conflicts_with = "files")]
    pub example: bool,
    /// HCO release whose behaviour to reproduce, from 1.6 to 1.20.
    #[arg(long, value_name = "VERSION", default_value = "1.20", value_parser = super::parse_hco_version)]
    pub hco_version: String,
}

impl ObjectArgs {
    /// Reads the objects of the files, or of the built-in example.
    pub fn read(&self) -> Result<Objects, CliError> {
        if !self.example {
            return input::read_objects(&self.files)
                .map_err(|e| CliError::InvalidInput(e.to_string()));
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
}
