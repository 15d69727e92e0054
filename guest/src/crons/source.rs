//! Sources of the crons stage's templates and owner: the templates stage
//! hand-off, or the SSP CR in the snapshot.

use serde_json::Value;

use super::multiarch::cluster_architectures;
use super::owner::Owner;
use crate::error::{from_value, Error};
use crate::model::dict::DataImportCronTemplate;
use crate::snapshot::{Entry, Snapshot};

/// Path of the template list in the SSP CR.
pub const TEMPLATES_PATH: &str = "spec.commonTemplates.dataImportCronTemplates";

/// The SSP side of the input: the SSP CR and the templates it contains.
#[derive(Debug, Clone, PartialEq)]
pub struct SspInput {
    pub owner: Owner,
    /// `spec.commonTemplates.dataImportCronTemplates`, in spec order.
    pub templates: Vec<DataImportCronTemplate>,
    /// `spec.enableMultipleArchitectures`.
    pub multi_arch: bool,
    /// The architectures of `spec.cluster`: control-plane ones first, then
    /// workload ones, each once.
    pub architectures: Vec<String>,
}

/// Reads the snapshot's single SSP CR.
pub fn from_snapshot(snapshot: &Snapshot) -> Result<SspInput, Error> {
    let entry = match snapshot.of_kind("SSP") {
        [one] => one,
        [] => return Err(Error::invalid(
            "the crons stage needs the SSP CR, and the input has none",
        )
        .hint("pass the SSP CR (`kubectl get ssp -A -o yaml`), or run the templates stage too")),
        [_, second, ..] => {
            return Err(second.blame(
                Error::invalid("the input has more than one SSP CR")
                    .hint("a cluster has one SSP CR; pass only that one"),
            ))
        }
    };
    let owner = Owner::from_entry(entry)?;
    let templates = match entry
        .value
        .pointer("/spec/commonTemplates/dataImportCronTemplates")
    {
        None | Some(Value::Null) => Vec::new(),
        Some(list) => from_value(list).map_err(|e| entry.blame(e.within(TEMPLATES_PATH)))?,
    };
    let multi_arch = read_multi_arch(entry)?;
    let list = |key: &str| -> Result<Vec<String>, Error> {
        match entry.value.pointer(&format!("/spec/cluster/{key}")) {
            None | Some(Value::Null) => Ok(Vec::new()),
            Some(list) => {
                from_value(list).map_err(|e| entry.blame(e.within(&format!("spec.cluster.{key}"))))
            }
        }
    };
    let architectures = cluster_architectures(
        &list("controlPlaneArchitectures")?,
        &list("workloadArchitectures")?,
    );
    Ok(SspInput {
        owner,
        templates,
        multi_arch,
        architectures,
    })
}

/// Builds the input from the templates the templates stage hands to the
/// SSP CR `namespace/name` of `api_version`. The CR's labels and deletion
/// state are read from the snapshot when the CR is there.
pub fn from_handover(
    snapshot: &Snapshot,
    api_version: &str,
    namespace: &str,
    name: &str,
    templates: Vec<DataImportCronTemplate>,
    multi_arch: bool,
    architectures: Vec<String>,
) -> Result<SspInput, Error> {
    let owner = match snapshot.get("SSP", namespace, name) {
        Some(entry) => Owner::from_entry(entry)?,
        None => Owner {
            api_version: api_version.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
            ..Owner::default()
        },
    };
    Ok(SspInput {
        owner,
        templates,
        multi_arch,
        architectures,
    })
}

fn read_multi_arch(entry: &Entry) -> Result<bool, Error> {
    match entry.value.pointer("/spec/enableMultipleArchitectures") {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(on)) => Ok(*on),
        Some(other) => Err(entry.blame(
            Error::invalid(format!("invalid value {other}: expected a boolean"))
                .at("spec.enableMultipleArchitectures")
                .hint("write true or false"),
        )),
    }
}
