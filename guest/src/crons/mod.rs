//! Crons stage: what the SSP operator does with boot-source templates.
//!
//! The templates of the SSP CR, the live DataImportCrons, DataSources and
//! golden PVCs go in. Out come the actions that create, re-create, patch or
//! delete the crons, and the DataSource changes that the auto-update
//! decision requires. Actions come in a fixed order: DataSources by name,
//! then crons by namespace and name, then deletes of leftover architecture
//! DataSources. So the plan does not depend on the order of the input
//! objects.

pub mod cron;
pub mod datasource;
pub mod equality;
pub mod multiarch;
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
use multiarch::Target;
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
    /// The cluster architectures: control-plane ones first, then workload
    /// ones, each once. Only read while `multi_arch` is on.
    pub architectures: &'a [String],
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

/// The DataSources of the golden-image namespace by name, with their
/// snapshot entries.
type LiveDataSources<'s> = BTreeMap<&'s str, (&'s Entry, DataSource)>;

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
    let architectures: &[String] = if input.multi_arch {
        if input.architectures.is_empty() {
            output.warnings.push(Warning {
                object: Some(ssp_reference(input.owner)),
                field: Some("spec.cluster".into()),
                message: "multi-architecture is on but the cluster lists no architectures, so \
                          each template gets one DataImportCron as with multi-architecture off"
                    .into(),
            });
        }
        input.architectures
    } else {
        &[]
    };
    let (candidates, references, reserved) =
        candidates(input, architectures, &mut output.warnings)?;

    let ns = input.os_images_namespace;
    let (actions, decisions) = plan_data_sources(
        snapshot,
        input,
        architectures,
        &candidates,
        references,
        &data_sources,
    );
    output.actions.extend(actions);

    // A template whose golden-image DataSource has auto-update off gets no
    // cron. Crons in other namespaces are always desired.
    let desired: BTreeMap<CronKey, DesiredCron> = candidates
        .into_iter()
        .filter(|(_, c)| {
            c.cron.namespace != ns
                || decisions.get(&c.managed_data_source) != Some(&AutoUpdate::Off)
        })
        .map(|(key, c)| (key, c.cron))
        .collect();
    output.actions.extend(plan_crons(
        input,
        &desired,
        &crons,
        &reserved,
        &mut output.warnings,
    ));

    output
        .actions
        .extend(delete_leftover_architecture_data_sources(
            input,
            &data_sources,
            &decisions,
        ));
    Ok(output)
}

/// Returns the DataSource actions and the auto-update decision for each
/// DataSource that SSP keeps in the golden-image namespace, by name.
fn plan_data_sources(
    snapshot: &Snapshot,
    input: &CronsInput,
    architectures: &[String],
    candidates: &BTreeMap<CronKey, Candidate>,
    references: Vec<(String, String)>,
    data_sources: &LiveDataSources,
) -> (Vec<Action>, BTreeMap<String, AutoUpdate>) {
    let ns = input.os_images_namespace;
    let mut targets: Vec<Target> = if architectures.is_empty() {
        input
            .data_source_names
            .iter()
            .map(|name| Target::plain(ns, name))
            .collect()
    } else {
        multiarch::collection_targets(ns, input.data_source_names, architectures, |name| {
            snapshot.get("PersistentVolumeClaim", ns, name).is_some()
        })
    };
    let mut target_names: BTreeSet<String> = targets.iter().map(|t| t.name.clone()).collect();
    for (name, points_to) in references {
        if target_names.insert(name.clone()) {
            targets.push(Target::reference(ns, &name, &points_to));
        }
    }
    targets.sort_by(|a, b| a.name.cmp(&b.name));

    // With several templates for one DataSource, the cron that sorts first
    // by name is the one the label names. Candidates iterate in key order.
    let mut first_cron: BTreeMap<&str, &str> = BTreeMap::new();
    for candidate in candidates.values().filter(|c| c.cron.namespace == ns) {
        first_cron
            .entry(candidate.managed_data_source.as_str())
            .or_insert(candidate.cron.name.as_str());
    }

    let mut actions = Vec::new();
    let mut decisions = BTreeMap::new();
    for target in &targets {
        let cron = first_cron.get(target.name.as_str()).copied();
        let live = data_sources.get(target.name.as_str()).map(|(_, ds)| ds);
        let golden_pvc = snapshot
            .get("PersistentVolumeClaim", ns, &target.golden_pvc)
            .is_some();
        let decision = datasource::decide(target, cron, live, golden_pvc);
        actions.extend(datasource::reconcile(
            ns,
            target,
            live,
            &decision,
            input.owner,
        ));
        decisions.insert(target.name.clone(), decision);
    }
    (actions, decisions)
}

/// Deletes owned architecture DataSources that SSP no longer keeps, for
/// example after multi-arch was turned off. These deletes go after the
/// cron actions, because CDI re-creates a DataSource whose cron still
/// exists.
fn delete_leftover_architecture_data_sources(
    input: &CronsInput,
    data_sources: &LiveDataSources,
    kept: &BTreeMap<String, AutoUpdate>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    for (name, (entry, data_source)) in data_sources {
        let meta = &data_source.metadata;
        if meta.label(multiarch::ARCHITECTURE_LABEL).is_some()
            && input.owner.owns(meta)
            && meta.deletion_timestamp.is_none()
            && !kept.contains_key(*name)
        {
            actions.push(Action::delete(
                entry.reference.clone(),
                preconditions(meta),
                "the architecture DataSource is no longer part of the multi-architecture setup",
            ));
        }
    }
    actions
}

/// Returns the cron actions: create, re-create or patch each desired cron,
/// and delete owned crons that are no longer desired.
fn plan_crons(
    input: &CronsInput,
    desired: &BTreeMap<CronKey, DesiredCron>,
    crons: &[LiveCron],
    reserved: &BTreeSet<CronKey>,
    warnings: &mut Vec<Warning>,
) -> Vec<Action> {
    let mut actions = Vec::new();
    let live_by_key: BTreeMap<CronKey, &LiveCron> =
        crons.iter().map(|c| (key_of(&c.reference), c)).collect();
    let keys: BTreeSet<&CronKey> = desired.keys().chain(live_by_key.keys()).collect();
    for key in keys {
        let live = live_by_key.get(key).copied();
        let owned = live.is_some_and(|c| input.owner.owns(&c.metadata));
        let deleting = live.is_some_and(|c| c.metadata.deletion_timestamp.is_some());
        match (desired.get(key), live) {
            (Some(_), Some(cron)) if !owned => warnings.push(Warning {
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
            (Some(cron), live) => actions.extend(cron::reconcile(cron, live)),
            (None, Some(cron)) if owned && !reserved.contains(key) => {
                actions.push(Action::delete(
                    cron.reference.clone(),
                    cron.preconditions(),
                    "no template requires this DataImportCron any more, or auto-update of its DataSource is off",
                ));
            }
            (None, _) => {}
        }
    }
    actions
}

/// Cron candidates keyed by (namespace, name), the reference DataSources
/// that multi-arch templates add, and the reserved cron keys.
type Candidates = (
    BTreeMap<CronKey, Candidate>,
    Vec<(String, String)>,
    BTreeSet<CronKey>,
);

/// Turns the templates into cron candidates, one per architecture when
/// `architectures` is not empty. Templates that cannot become a cron are
/// reported and their names reserved, so that an existing cron of the same
/// name is kept.
fn candidates(
    input: &CronsInput,
    architectures: &[String],
    warnings: &mut Vec<Warning>,
) -> Result<Candidates, Error> {
    let mut candidates = BTreeMap::new();
    let mut references = Vec::new();
    let mut reserved = BTreeSet::new();
    for (index, original) in input.templates.iter().enumerate() {
        let field = format!("{}[{index}]", source::TEMPLATES_PATH);
        let namespace = match original.metadata.namespace() {
            "" => input.os_images_namespace,
            ns => ns,
        };
        let managed = original
            .spec
            .as_ref()
            .map(|s| s.managed_data_source.clone())
            .unwrap_or_default();
        let expanded = if architectures.is_empty() {
            vec![multiarch::ArchTemplate {
                template: original.clone(),
                reference: None,
            }]
        } else {
            let in_collection = namespace == input.os_images_namespace
                && input.data_source_names.contains(&managed);
            multiarch::expand(original, architectures, in_collection)
        };

        for arch_template in expanded {
            let template = &arch_template.template;
            let key = (namespace.to_string(), template.name().to_string());
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
                    field: Some(field.clone()),
                    message: message.into(),
                });
                reserved.insert(key);
                continue;
            }
            let cron = DesiredCron::from_template(template, namespace, input.owner)
                .map_err(|e| e.on(ssp_reference(input.owner), None).at(field.clone()))?;
            let managed_data_source = template
                .spec
                .as_ref()
                .map(|s| s.managed_data_source.clone())
                .unwrap_or_default();
            if namespace == input.os_images_namespace {
                references.extend(arch_template.reference.clone());
            }
            candidates.insert(
                key,
                Candidate {
                    cron,
                    managed_data_source,
                },
            );
        }
    }
    references.sort();
    references.dedup();
    Ok((candidates, references, reserved))
}

/// Clean-up while the SSP CR is being deleted: the owned crons go first.
/// Only when none is left are the owned DataSources deleted, because CDI
/// re-creates a DataSource whose cron still exists.
fn clean_up(input: &CronsInput, crons: &[LiveCron], data_sources: &LiveDataSources) -> StageOutput {
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
                preconditions(meta),
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
) -> Result<LiveDataSources<'s>, Error> {
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

fn preconditions(meta: &ObjectMeta) -> Preconditions {
    Preconditions {
        uid: meta.uid.clone(),
        resource_version: meta.resource_version.clone(),
    }
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
