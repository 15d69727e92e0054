//! Crons stage: what the SSP operator does with boot-source templates.
//!
//! The templates of the SSP CR, the live DataImportCrons, DataSources and
//! golden PVCs go in. Out come the actions that create, re-create, patch or
//! delete the crons, and the DataSource changes that the auto-update
//! decision requires. Actions come in a fixed order: DataSources by name,
//! then crons by namespace and name, so that the plan does not depend on
//! the order of the input objects.

pub mod cron;
pub mod datasource;
pub mod equality;
pub mod owner;
pub mod source;

use std::collections::{BTreeMap, BTreeSet};

use serde_json::Value;

use crate::error::{from_value, Error};
use crate::model::cdi::DataSource;
use crate::model::dict::DataImportCronTemplate;
use crate::model::meta::{ObjectMeta, ObjectRef};
use crate::plan::{Action, Preconditions, Warning};
use crate::snapshot::{Entry, Snapshot};
use cron::{DesiredCron, LiveCron};
use datasource::AutoUpdate;
use owner::Owner;

/// Input of the crons stage besides the snapshot.
#[derive(Debug, Clone, Copy)]
pub struct CronsInput<'a> {
    /// The SSP CR's `spec.commonTemplates.dataImportCronTemplates`.
    pub templates: &'a [DataImportCronTemplate],
    /// The SSP CR: owner of the crons and DataSources.
    pub owner: &'a Owner,
    /// The SSP CR's `spec.enableMultipleArchitectures`.
    pub multi_arch: bool,
    /// Namespace of the golden images and of crons whose template sets no
    /// namespace.
    pub os_images_namespace: &'a str,
    /// SSP's DataSource collection: the DataSource names its common VM
    /// templates reference. SSP keeps one DataSource per name in the
    /// golden-image namespace and decides auto-update for each.
    pub data_source_names: &'a BTreeSet<String>,
}

/// Actions and warnings the crons stage adds to a plan.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct StageOutput {
    pub actions: Vec<Action>,
    pub warnings: Vec<Warning>,
}

/// A cron's place in the cluster: (namespace, name).
type CronKey = (String, String);

/// A template turned into a cron, with the DataSource it manages.
struct Candidate {
    cron: DesiredCron,
    managed_data_source: String,
}

/// Runs the crons stage.
pub fn run(snapshot: &Snapshot, input: &CronsInput) -> Result<StageOutput, Error> {
    let crons = live_crons(snapshot)?;
    let data_sources = live_data_sources(snapshot, input.os_images_namespace)?;
    if input.owner.deleting {
        return Ok(clean_up(input, &crons, &data_sources));
    }

    let mut output = StageOutput::default();
    // NOTE: multi-architecture crons (one cron per listed architecture,
    // `<name>-<arch>` DataSources and reference DataSources) are not planned
    // yet. With multi-arch on, each template still gets one cron as if it
    // were off, and a warning reports it.
    if input.multi_arch {
        output.warnings.push(Warning {
            object: Some(ssp_reference(input.owner)),
            field: Some("spec.enableMultipleArchitectures".into()),
            message: "multi-architecture crons are not planned yet; each template gets one \
                      DataImportCron as with multi-architecture off"
                .into(),
        });
    }
    let (candidates, reserved) = candidates(input, &mut output.warnings)?;

    let mut decisions = BTreeMap::new();
    for name in input.data_source_names {
        let cron = candidates
            .values()
            .find(|c| {
                c.cron.namespace == input.os_images_namespace && &c.managed_data_source == name
            })
            .map(|c| c.cron.name.as_str());
        let live = data_sources.get(name.as_str()).map(|(_, ds)| ds);
        let golden_pvc = snapshot
            .get("PersistentVolumeClaim", input.os_images_namespace, name)
            .is_some();
        let decision = datasource::decide(cron, live, golden_pvc);
        output.actions.extend(datasource::reconcile(
            input.os_images_namespace,
            name,
            live,
            &decision,
            input.owner,
        ));
        decisions.insert(name.clone(), decision);
    }

    let desired: BTreeMap<CronKey, DesiredCron> = candidates
        .into_iter()
        .filter(|(_, c)| {
            let in_collection = c.cron.namespace == input.os_images_namespace
                && decisions.contains_key(&c.managed_data_source);
            !in_collection || decisions.get(&c.managed_data_source) != Some(&AutoUpdate::Off)
        })
        .map(|(key, c)| (key, c.cron))
        .collect();

    let live_by_key: BTreeMap<CronKey, &LiveCron> =
        crons.iter().map(|c| (key_of(&c.reference), c)).collect();
    let keys: BTreeSet<&CronKey> = desired.keys().chain(live_by_key.keys()).collect();
    for key in keys {
        let live = live_by_key.get(key).copied();
        let owned = live.is_some_and(|c| input.owner.owns(&c.metadata));
        let deleting = live.is_some_and(|c| c.metadata.deletion_timestamp.is_some());
        match (desired.get(key), live) {
            (Some(_), Some(cron)) if !owned => output.warnings.push(Warning {
                object: Some(cron.reference.clone()),
                field: Some("metadata.annotations".into()),
                message: format!(
                    "DataImportCron is not owned by SSP {}, so it is left unchanged and its \
                     template is not applied",
                    input.owner.primary_resource()
                ),
            }),
            // A cron that is being deleted is created again on a later pass.
            (_, Some(_)) if deleting => {}
            (Some(cron), live) => output.actions.extend(cron::reconcile(cron, live)),
            (None, Some(cron)) if owned && !reserved.contains(key) => {
                output.actions.push(Action::delete(
                    cron.reference.clone(),
                    cron.preconditions(),
                    "no template requires this DataImportCron any more, or auto-update of its DataSource is off",
                ));
            }
            (None, _) => {}
        }
    }
    Ok(output)
}

/// Turns the templates into cron candidates, keyed by (namespace, name).
/// Templates that cannot become a cron are reported and their names
/// reserved, so that an existing cron of the same name is kept.
fn candidates(
    input: &CronsInput,
    warnings: &mut Vec<Warning>,
) -> Result<(BTreeMap<CronKey, Candidate>, BTreeSet<CronKey>), Error> {
    let mut candidates = BTreeMap::new();
    let mut reserved = BTreeSet::new();
    for (index, template) in input.templates.iter().enumerate() {
        let field = format!("{}[{index}]", source::TEMPLATES_PATH);
        let namespace = match template.metadata.namespace() {
            "" => input.os_images_namespace,
            ns => ns,
        };
        let key = (namespace.to_string(), template.name().to_string());
        let managed = template
            .spec
            .as_ref()
            .map(|s| s.managed_data_source.clone())
            .unwrap_or_default();
        let problem = if template.name().is_empty() {
            Some("the template has no metadata.name, so no DataImportCron is made from it")
        } else if managed.is_empty() {
            Some("the template has no spec.managedDataSource, which CDI requires, so no DataImportCron is made from it")
        } else if candidates.contains_key(&key) {
            Some("another template already makes a DataImportCron of this name in this namespace; the first one is used")
        } else {
            None
        };
        if let Some(message) = problem {
            warnings.push(Warning {
                object: Some(ssp_reference(input.owner)),
                field: Some(field),
                message: message.into(),
            });
            reserved.insert(key);
            continue;
        }
        let cron = DesiredCron::from_template(template, namespace, input.owner)
            .map_err(|e| e.on(ssp_reference(input.owner), None).at(field))?;
        candidates.insert(
            key,
            Candidate {
                cron,
                managed_data_source: managed,
            },
        );
    }
    Ok((candidates, reserved))
}

/// Clean-up while the SSP CR is being deleted: the owned crons go first.
/// Only when none is left are the owned DataSources deleted, because CDI
/// re-creates a DataSource whose cron still exists.
fn clean_up(
    input: &CronsInput,
    crons: &[LiveCron],
    data_sources: &BTreeMap<&str, (&Entry, DataSource)>,
) -> StageOutput {
    let mut output = StageOutput::default();
    let owned: Vec<&LiveCron> = crons
        .iter()
        .filter(|c| input.owner.owns(&c.metadata))
        .collect();
    for cron in &owned {
        if cron.metadata.deletion_timestamp.is_none() {
            output.actions.push(Action::delete(
                cron.reference.clone(),
                cron.preconditions(),
                "the SSP CR is being deleted, so its DataImportCrons are deleted first",
            ));
        }
    }
    if !owned.is_empty() {
        return output;
    }
    for (entry, data_source) in data_sources.values() {
        let meta = &data_source.metadata;
        if input.owner.owns(meta) && meta.deletion_timestamp.is_none() {
            output.actions.push(Action::delete(
                entry.reference.clone(),
                Preconditions {
                    uid: meta.uid.clone(),
                    resource_version: meta.resource_version.clone(),
                },
                "the SSP CR is being deleted and none of its DataImportCrons is left",
            ));
        }
    }
    output
}

fn live_crons(snapshot: &Snapshot) -> Result<Vec<LiveCron>, Error> {
    snapshot
        .of_kind("DataImportCron")
        .iter()
        .map(|entry| {
            let metadata = entry.value.get("metadata").unwrap_or(&Value::Null);
            let metadata: ObjectMeta =
                from_value(metadata).map_err(|e| entry.blame(e.within("metadata")))?;
            Ok(LiveCron {
                reference: entry.reference.clone(),
                metadata,
                spec: entry.value.get("spec").cloned().unwrap_or(Value::Null),
            })
        })
        .collect()
}

/// Reads the DataSources of the golden-image namespace, by name.
fn live_data_sources<'s>(
    snapshot: &'s Snapshot,
    namespace: &str,
) -> Result<BTreeMap<&'s str, (&'s Entry, DataSource)>, Error> {
    snapshot
        .of_kind("DataSource")
        .iter()
        .filter(|e| e.reference.namespace.as_deref() == Some(namespace))
        .map(|entry| {
            let data_source: DataSource = from_value(&entry.value).map_err(|e| entry.blame(e))?;
            Ok((entry.reference.name.as_str(), (entry, data_source)))
        })
        .collect()
}

fn key_of(reference: &ObjectRef) -> CronKey {
    (
        reference.namespace.clone().unwrap_or_default(),
        reference.name.clone(),
    )
}

fn ssp_reference(owner: &Owner) -> ObjectRef {
    owner.reference()
}

#[cfg(test)]
mod tests {
    use super::equality::{parse_quantity, semantic_eq};
    use serde_json::json;

    #[test]
    fn quantities_compare_by_amount() {
        assert_eq!(parse_quantity("1Gi"), parse_quantity("1024Mi"));
        assert_eq!(parse_quantity("1.5G"), parse_quantity("1500M"));
        assert_eq!(parse_quantity("2e3"), parse_quantity("2k"));
        assert_eq!(parse_quantity("100m"), parse_quantity("0.1"));
        assert_eq!(parse_quantity("Gi"), None);
        assert_eq!(parse_quantity("1Xi"), None);
    }

    #[test]
    fn empty_values_are_equal() {
        let a = json!({"template": {"metadata": {}, "spec": {"x": []}}, "schedule": "1 * * * *"});
        let b = json!({"template": {"spec": {}}, "schedule": "1 * * * *", "importsToKeep": null});
        assert!(semantic_eq(&a, &b));
    }

    #[test]
    fn storage_requests_compare_as_quantities() {
        let a = json!({"storage": {"resources": {"requests": {"storage": "10Gi"}}}});
        let b = json!({"storage": {"resources": {"requests": {"storage": "10240Mi"}}}});
        let c = json!({"storage": {"resources": {"requests": {"storage": "11Gi"}}}});
        assert!(semantic_eq(&a, &b));
        assert!(!semantic_eq(&a, &c));
    }
}
