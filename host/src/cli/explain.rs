//! `bootsource explain`: why a boot source is or is not up to date, from a
//! state folder or a cluster and the plan the module makes for it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bootsource_guest::contract::{op, PlanRequest};
use bootsource_guest::imports::kind;
use bootsource_guest::model::cdi::{
    ANNOTATION_LAST_CRON_TIME, ANNOTATION_NEXT_CRON_TIME, ANNOTATION_SOURCE_DESIRED_DIGEST,
    LABEL_DATA_IMPORT_CRON,
};
use bootsource_guest::model::core::{ANNOTATION_DEFAULT_CLASS, ANNOTATION_DEFAULT_VIRT_CLASS};
use bootsource_guest::plan::Plan;
use clap::Args;
use serde_json::Value;

use super::{CliError, ModuleArgs};
use crate::controller::{cache, resources_read};
use crate::store::pass::{stages_for, CONDITION_POLLED};
use crate::store::{ObjectKey, Store};

/// Golden-image namespace of templates that set none.
const OS_IMAGES_NAMESPACE: &str = "kubevirt-os-images";

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("source").required(true).args(["state", "cluster"])))]
pub struct ExplainArgs {
    /// A DataSource, DataImportCron or boot-source template name.
    #[arg(value_name = "NAME")]
    pub name: String,
    /// State folder written by `bootsource run`.
    #[arg(long, value_name = "DIR")]
    pub state: Option<PathBuf>,
    /// Read the objects from the cluster instead of a state folder, through
    /// the kubeconfig (`KUBECONFIG` or ~/.kube/config) or, inside a pod, its
    /// service account. Needs list on the resources the controller watches.
    #[arg(long)]
    pub cluster: bool,
    /// With `--cluster`: time limit of each API request, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 10,
          value_parser = clap::value_parser!(u64).range(1..))]
    pub request_timeout: u64,
    /// HCO release whose behaviour to reproduce, from 1.6 to 1.20; with
    /// `--cluster` it also picks the SSP API version to read.
    #[arg(long, value_name = "VERSION", default_value = "1.20", value_parser = super::parse_hco_version)]
    pub hco_version: String,
    /// The current time (RFC 3339); defaults to the system clock.
    #[arg(long, value_name = "RFC3339", value_parser = super::parse_rfc3339)]
    pub now: Option<String>,
    #[command(flatten)]
    pub module: ModuleArgs,
}

/// The objects one boot source is made of.
struct Target {
    namespace: String,
    data_source: String,
    cron: String,
    /// The template name, when the plan's boot-source table lists it.
    template: Option<String>,
}

/// Runs `bootsource explain`.
pub fn run(args: &ExplainArgs) -> Result<(), CliError> {
    let (objects, source) = match &args.state {
        Some(state) => (read_state(state)?, state.display().to_string()),
        None => (read_cluster(args)?, "the cluster".to_string()),
    };
    let now = args.now.clone().unwrap_or_else(super::plan::now_rfc3339);
    let request = PlanRequest {
        hco_version: Some(args.hco_version.clone()),
        now: Some(now),
        stages: stages_for(objects.keys()),
        deleted_crons: None,
        objects: objects.values().cloned().collect(),
        ..PlanRequest::default()
    };
    let runtime = args.module.load()?;
    let plan: Plan = runtime
        .call_json(op::PLAN, &request)
        .map_err(CliError::Runtime)?
        .map_err(|e| CliError::InvalidInput(format!("the stored objects are invalid: {e}")))?;

    let target = find_target(&args.name, &objects, &plan).ok_or_else(|| {
        CliError::InvalidInput(format!(
            "{}: no DataSource, DataImportCron or boot-source template of that name in {source}",
            args.name
        ))
    })?;
    let (up_to_date, findings) = explain(&target, &objects, &plan);
    let mut text = format!(
        "boot source {}: DataSource {}/{}, DataImportCron {}/{}\nstate: {}\n",
        target.template.as_deref().unwrap_or(&target.data_source),
        target.namespace,
        target.data_source,
        target.namespace,
        target.cron,
        if up_to_date {
            "up to date"
        } else {
            "not up to date"
        }
    );
    for finding in findings {
        text.push_str(&format!("- {finding}\n"));
    }
    super::print_stdout(&text)
}

/// Reads the objects of a state folder.
fn read_state(state: &Path) -> Result<BTreeMap<ObjectKey, Value>, CliError> {
    if !state.join("objects").is_dir() {
        return Err(CliError::InvalidInput(format!(
            "{}: not a state folder (no objects/ inside); create one with `bootsource run --state {}`",
            state.display(),
            state.display()
        )));
    }
    let store = Store::open(state)?;
    store
        .load()
        .map_err(|e| CliError::InvalidInput(e.to_string()))
}

/// Lists the objects the controller would read from the cluster.
fn read_cluster(args: &ExplainArgs) -> Result<BTreeMap<ObjectKey, Value>, CliError> {
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::Failure(format!("failed to start the async runtime: {e}")))?;
    let listed = tokio.block_on(async {
        // A missing or broken kubeconfig is the user's to fix: exit 1.
        let mut config = kube::Config::infer().await.map_err(|e| {
            CliError::InvalidInput(format!("failed to configure the Kubernetes client from the kubeconfig or the in-cluster environment: {e}"))
        })?;
        let server = config.cluster_url.to_string();
        let timeout = Duration::from_secs(args.request_timeout);
        config.connect_timeout = Some(timeout);
        config.read_timeout = Some(timeout);
        config.write_timeout = Some(timeout);
        let client = kube::Client::try_from(config)
            .map_err(|e| CliError::Failure(format!("failed to start the Kubernetes client: {e}")))?;
        cache::list_once(&client, &resources_read(&args.hco_version, true))
            .await
            .map_err(|e| CliError::Failure(format!("{e} (API server {server})")))
    });
    let listed = listed?;
    Ok(listed
        .into_iter()
        .filter_map(|object| Some((ObjectKey::of(&object)?, object)))
        .collect())
}

fn key(kind: &str, namespace: &str, name: &str) -> ObjectKey {
    ObjectKey {
        kind: kind.to_string(),
        namespace: namespace.to_string(),
        name: name.to_string(),
    }
}

fn text<'v>(object: &'v Value, pointer: &str) -> Option<&'v str> {
    object.pointer(pointer).and_then(Value::as_str)
}

fn annotation<'v>(object: &'v Value, name: &str) -> Option<&'v str> {
    object.pointer("/metadata/annotations")?.get(name)?.as_str()
}

fn label<'v>(object: &'v Value, name: &str) -> Option<&'v str> {
    object.pointer("/metadata/labels")?.get(name)?.as_str()
}

fn condition<'v>(object: &'v Value, type_: &str) -> Option<&'v Value> {
    object
        .pointer("/status/conditions")?
        .as_array()?
        .iter()
        .find(|c| text(c, "/type") == Some(type_))
}

/// Finds the boot source `name` names: a cron, a DataSource, the
/// managedDataSource of a cron, or a template of the plan's boot-source
/// table, in that order.
fn find_target(name: &str, objects: &BTreeMap<ObjectKey, Value>, plan: &Plan) -> Option<Target> {
    let template_of = |data_source: &str, namespace: &str| {
        plan.boot_sources
            .iter()
            .find(|b| b.data_source == data_source && b.namespace == namespace)
            .map(|b| b.template.clone())
    };
    if let Some((key, cron)) = objects
        .iter()
        .find(|(k, _)| k.kind == kind::CRON && k.name == name)
    {
        let data_source = text(cron, "/spec/managedDataSource")
            .unwrap_or("")
            .to_string();
        return Some(Target {
            template: template_of(&data_source, &key.namespace),
            namespace: key.namespace.clone(),
            data_source,
            cron: key.name.clone(),
        });
    }
    if let Some((key, data_source)) = objects
        .iter()
        .find(|(k, _)| k.kind == kind::DATA_SOURCE && k.name == name)
    {
        let cron = label(data_source, LABEL_DATA_IMPORT_CRON)
            .filter(|l| !l.is_empty())
            .map(str::to_string)
            .or_else(|| {
                objects
                    .iter()
                    .find(|(k, c)| {
                        k.kind == kind::CRON
                            && k.namespace == key.namespace
                            && text(c, "/spec/managedDataSource") == Some(name)
                    })
                    .map(|(k, _)| k.name.clone())
            })
            .or_else(|| template_of(name, &key.namespace))
            .unwrap_or_default();
        return Some(Target {
            template: template_of(name, &key.namespace),
            namespace: key.namespace.clone(),
            data_source: name.to_string(),
            cron,
        });
    }
    if let Some((key, _)) = objects
        .iter()
        .find(|(k, c)| k.kind == kind::CRON && text(c, "/spec/managedDataSource") == Some(name))
    {
        return Some(Target {
            template: template_of(name, &key.namespace),
            namespace: key.namespace.clone(),
            data_source: name.to_string(),
            cron: key.name.clone(),
        });
    }
    plan.boot_sources
        .iter()
        .find(|b| b.template == name || b.data_source == name)
        .map(|b| Target {
            namespace: if b.namespace.is_empty() {
                OS_IMAGES_NAMESPACE.to_string()
            } else {
                b.namespace.clone()
            },
            data_source: b.data_source.clone(),
            cron: b.template.clone(),
            template: Some(b.template.clone()),
        })
}

/// Returns whether the boot source is up to date and the reasons, one
/// sentence each.
fn explain(
    target: &Target,
    objects: &BTreeMap<ObjectKey, Value>,
    plan: &Plan,
) -> (bool, Vec<String>) {
    let mut findings = Vec::new();
    let namespace = target.namespace.as_str();
    let data_source = objects.get(&key(kind::DATA_SOURCE, namespace, &target.data_source));
    let cron = objects.get(&key(kind::CRON, namespace, &target.cron));
    let golden_pvc = objects.get(&key(kind::PVC, namespace, &target.data_source));

    if let Some(source) = plan
        .boot_sources
        .iter()
        .find(|b| Some(&b.template) == target.template.as_ref())
    {
        if !source.deployed {
            findings.push(
                "the template is not deployed: no architecture of the cluster is supported".into(),
            );
        }
    }

    let cron = match cron {
        Some(cron) => cron,
        None => {
            let planned = plan
                .actions
                .iter()
                .any(|a| a.object.kind == kind::CRON && a.object.name == target.cron);
            if planned {
                findings.push(format!(
                    "DataImportCron {} does not exist yet; the next reconcile creates it",
                    target.cron
                ));
            } else {
                findings.push(format!(
                    "no DataImportCron {} exists and none is planned, so the DataSource is not updated automatically",
                    target.cron
                ));
            }
            if golden_pvc.is_some() {
                findings.push(format!(
                    "the golden PVC {namespace}/{} exists and takes precedence over automatic imports",
                    target.data_source
                ));
            }
            if let Some(ds) = data_source {
                if label(ds, LABEL_DATA_IMPORT_CRON).is_none() {
                    findings.push(format!(
                        "DataSource {} has no {LABEL_DATA_IMPORT_CRON} label; add it (any value) to opt in to automatic updates",
                        target.data_source
                    ));
                }
            }
            return (false, findings);
        }
    };

    schedule_findings(cron, &mut findings);
    if let Some(polled) = condition(cron, CONDITION_POLLED) {
        if text(polled, "/status") == Some("False") {
            findings.push(format!(
                "the last registry poll failed: {}",
                text(polled, "/message").unwrap_or("no message")
            ));
        }
    }

    let mut managed_elsewhere = false;
    if let Some(ds) = data_source {
        match label(ds, LABEL_DATA_IMPORT_CRON) {
            None => findings.push(format!(
                "DataSource {} has no {LABEL_DATA_IMPORT_CRON} label naming this cron, so CDI leaves it untouched",
                target.data_source
            )),
            Some(other) if !other.is_empty() && other != target.cron => {
                let other_manages = objects
                    .get(&key(kind::CRON, namespace, other))
                    .is_some_and(|c| text(c, "/spec/managedDataSource") == Some(target.data_source.as_str()));
                if other_manages {
                    managed_elsewhere = true;
                    findings.push(format!(
                        "DataSource {} is managed by another DataImportCron, {other}; this cron is not reconciled",
                        target.data_source
                    ));
                }
            }
            Some(_) => {}
        }
    }
    for event in &plan.events {
        if event.object.name == target.cron && !managed_elsewhere {
            findings.push(format!("{}: {}", event.reason, event.message));
        }
    }

    if !has_default_storage_class(objects) && explicit_storage_class(cron).is_none() {
        findings.push(
            "no default StorageClass: import PVCs cannot bind; mark a StorageClass with storageclass.kubernetes.io/is-default-class: \"true\" or set storageClassName in the template".into(),
        );
    }

    let desired = annotation(cron, ANNOTATION_SOURCE_DESIRED_DIGEST);
    match desired {
        None => findings
            .push("no source digest yet: the source has not been polled successfully".into()),
        Some(digest) => findings.push(format!("desired digest: {digest}")),
    }
    let current = cron
        .pointer("/status/currentImports/0/DataVolumeName")
        .and_then(Value::as_str);
    if let Some(dv_name) = current {
        import_findings(objects, namespace, dv_name, &mut findings);
    }

    let up_to_date_condition = condition(cron, "UpToDate");
    let up_to_date = up_to_date_condition.and_then(|c| text(c, "/status")) == Some("True");
    if let Some(c) = up_to_date_condition {
        findings.push(format!(
            "UpToDate is {} ({}): {}",
            text(c, "/status").unwrap_or("Unknown"),
            text(c, "/reason").unwrap_or(""),
            text(c, "/message").unwrap_or("")
        ));
    }
    let last_imported = cron
        .pointer("/status/lastImportedPVC/name")
        .and_then(Value::as_str);
    let pointed = data_source.and_then(|ds| {
        text(ds, "/spec/source/pvc/name").or_else(|| text(ds, "/spec/source/snapshot/name"))
    });
    match pointed {
        Some(name) => findings.push(format!(
            "DataSource {} points at {namespace}/{name}",
            target.data_source
        )),
        None => findings.push(format!(
            "DataSource {} points at nothing yet",
            target.data_source
        )),
    }
    let pointing_at_import = last_imported.is_some() && pointed == last_imported;
    (
        up_to_date && pointing_at_import && !managed_elsewhere,
        findings,
    )
}

fn schedule_findings(cron: &Value, findings: &mut Vec<String>) {
    let schedule = text(cron, "/spec/schedule").unwrap_or("");
    if schedule.is_empty() {
        findings.push("the schedule is empty: the source is never polled; an import starts only when something sets the digest annotation".into());
        return;
    }
    let next = annotation(cron, ANNOTATION_NEXT_CRON_TIME).unwrap_or("not set yet");
    let last = annotation(cron, ANNOTATION_LAST_CRON_TIME).unwrap_or("never");
    findings.push(format!(
        "schedule {schedule:?}: last poll {last}, next poll {next}"
    ));
}

fn import_findings(
    objects: &BTreeMap<ObjectKey, Value>,
    namespace: &str,
    name: &str,
    findings: &mut Vec<String>,
) {
    let Some(dv) = objects.get(&key(kind::DATA_VOLUME, namespace, name)) else {
        if objects.contains_key(&key(kind::PVC, namespace, name)) {
            findings.push(format!("current import: PVC {namespace}/{name}"));
        } else {
            findings.push(format!(
                "current import {namespace}/{name} no longer exists; it is re-created"
            ));
        }
        return;
    };
    let phase = text(dv, "/status/phase").unwrap_or("(no phase yet)");
    let running = condition(dv, "Running");
    let reason = running.and_then(|c| text(c, "/reason"));
    match (phase, reason) {
        ("Failed", _) | (_, Some("Error" | "ImagePullFailed")) => findings.push(format!(
            "the import {namespace}/{name} is failing ({}): {}",
            reason.unwrap_or(phase),
            running
                .and_then(|c| text(c, "/message"))
                .unwrap_or("no message")
        )),
        ("Pending", _) => findings.push(format!(
            "the import {namespace}/{name} is pending: its PVC cannot bind without a StorageClass"
        )),
        (phase, _) => findings.push(format!("current import {namespace}/{name}: phase {phase}")),
    }
}

fn has_default_storage_class(objects: &BTreeMap<ObjectKey, Value>) -> bool {
    objects
        .iter()
        .filter(|(k, _)| k.kind == kind::STORAGE_CLASS)
        .any(|(_, class)| {
            annotation(class, ANNOTATION_DEFAULT_CLASS) == Some("true")
                || annotation(class, ANNOTATION_DEFAULT_VIRT_CLASS) == Some("true")
        })
}

fn explicit_storage_class(cron: &Value) -> Option<&str> {
    text(cron, "/spec/template/spec/storage/storageClassName")
        .or_else(|| text(cron, "/spec/template/spec/pvc/storageClassName"))
        .filter(|c| !c.is_empty())
}
