//! Multi-architecture boot sources: one cron and one DataSource per CPU
//! architecture, and reference DataSources that point at the default one.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{json, Value};

use crate::model::dict::{DataImportCronTemplate, Platform, ARCHITECTURES_ANNOTATION};

/// Label naming the architecture of a DataSource or cron.
pub const ARCHITECTURE_LABEL: &str = "template.kubevirt.io/architecture";
/// Label on an architecture cron naming the DataSource without suffix.
pub const DATASOURCE_NAME_LABEL: &str = "cdi.kubevirt.io/storage.import.datasource-name";

/// Returns the cluster architectures: the control-plane ones, then the
/// workload ones, each once.
pub fn cluster_architectures(control_plane: &[String], workloads: &[String]) -> Vec<String> {
    let mut architectures: Vec<String> = Vec::new();
    for arch in control_plane.iter().chain(workloads) {
        if !arch.is_empty() && !architectures.contains(arch) {
            architectures.push(arch.clone());
        }
    }
    architectures
}

/// A DataSource that SSP keeps in the golden-image namespace.
#[derive(Debug, Clone, PartialEq)]
pub struct Target {
    pub name: String,
    /// `spec.source` while auto-update is off: the golden PVC, or for a
    /// reference DataSource the architecture DataSource it points at.
    pub golden: Value,
    /// Name of the PVC whose existence turns auto-update off.
    pub golden_pvc: String,
    /// Labels the DataSource is created with besides the app labels.
    pub labels: BTreeMap<String, String>,
    /// True when auto-update is off whatever the label is.
    pub forced_off: bool,
}

impl Target {
    /// Builds the target of a DataSource that points at its own golden PVC.
    pub fn plain(namespace: &str, name: &str) -> Self {
        Target {
            name: name.to_string(),
            golden: json!({"pvc": {"namespace": namespace, "name": name}}),
            golden_pvc: name.to_string(),
            labels: BTreeMap::new(),
            forced_off: false,
        }
    }

    /// Builds the target of a reference DataSource `name` that points at
    /// DataSource `points_to`.
    pub fn reference(namespace: &str, name: &str, points_to: &str) -> Self {
        Target {
            golden: json!({"dataSource": {"namespace": namespace, "name": points_to}}),
            forced_off: true,
            ..Target::plain(namespace, name)
        }
    }
}

/// Returns the DataSources of the collection with multi-arch on.
///
/// Each name gets `<name>-<arch>` per cluster architecture, with the
/// architecture label and golden PVC `<name>-<arch>`, and a reference
/// DataSource `<name>` that points at `<name>-<default arch>`. When the
/// PVC `<name>` exists, the default-architecture DataSource points at it
/// and auto-update is off for it, which keeps clusters that predate
/// multi-arch on their golden image.
pub fn collection_targets(
    namespace: &str,
    names: &BTreeSet<String>,
    architectures: &[String],
    pvc_exists: impl Fn(&str) -> bool,
) -> Vec<Target> {
    let mut targets = Vec::new();
    // NOTE: SSP reads which architectures each collection DataSource
    // supports from its common VM templates. This module does not, so
    // every name is taken to support every cluster architecture, and the
    // default architecture is the first cluster architecture.
    let Some(default_arch) = architectures.first() else {
        return targets;
    };
    for name in names {
        for arch in architectures {
            let arch_name = format!("{name}-{arch}");
            let mut target = Target::plain(namespace, &arch_name);
            target
                .labels
                .insert(ARCHITECTURE_LABEL.to_string(), arch.clone());
            if arch == default_arch && pvc_exists(name) {
                target.golden = json!({"pvc": {"namespace": namespace, "name": name}});
                target.golden_pvc = name.clone();
                target.forced_off = true;
            }
            targets.push(target);
        }
        targets.push(Target::reference(
            namespace,
            name,
            &format!("{name}-{default_arch}"),
        ));
    }
    targets
}

/// One cron that a template becomes with multi-arch on.
#[derive(Debug, Clone, PartialEq)]
pub struct ArchTemplate {
    pub template: DataImportCronTemplate,
    /// Reference DataSource to add for a DataSource outside the collection:
    /// (name, architecture DataSource it points at).
    pub reference: Option<(String, String)>,
}

/// Expands `template` for the cluster `architectures`.
///
/// A template with the architectures annotation becomes one cron per
/// listed architecture that the cluster has, named `<template>-<arch>`,
/// managing `<ds>-<arch>` and pulling that architecture from the registry.
/// A template without it keeps one cron. When it manages a collection
/// DataSource, that cron manages `<ds>-<default arch>`.
pub fn expand(
    template: &DataImportCronTemplate,
    architectures: &[String],
    in_collection: bool,
) -> Vec<ArchTemplate> {
    let Some(spec) = &template.spec else {
        return vec![unchanged(template)];
    };
    let data_source = spec.managed_data_source.clone();
    let Some(listed) = template.metadata.annotation(ARCHITECTURES_ANNOTATION) else {
        let Some(default_arch) = architectures.first().filter(|_| in_collection) else {
            return vec![unchanged(template)];
        };
        let mut single = template.clone();
        if let Some(spec) = &mut single.spec {
            spec.managed_data_source = format!("{data_source}-{default_arch}");
        }
        return vec![unchanged(&single)];
    };

    let supported: Vec<&String> = listed
        .split(',')
        .map(str::trim)
        .filter_map(|arch| architectures.iter().find(|a| a.as_str() == arch))
        .collect();
    let reference = supported
        .first()
        .filter(|_| !in_collection)
        .map(|arch| (data_source.clone(), format!("{data_source}-{arch}")));
    supported
        .into_iter()
        .map(|arch| {
            let mut copy = template.clone();
            copy.metadata.name = Some(format!("{}-{arch}", template.name()));
            copy.metadata.set_label(ARCHITECTURE_LABEL, arch.clone());
            copy.metadata
                .set_label(DATASOURCE_NAME_LABEL, data_source.clone());
            if let Some(spec) = &mut copy.spec {
                spec.managed_data_source = format!("{data_source}-{arch}");
                if let Some(registry) = spec
                    .template
                    .spec
                    .source
                    .as_mut()
                    .and_then(|s| s.registry.as_mut())
                {
                    registry
                        .platform
                        .get_or_insert_with(Platform::default)
                        .architecture = Some(arch.clone());
                }
            }
            ArchTemplate {
                template: copy,
                reference: reference.clone(),
            }
        })
        .collect()
}

fn unchanged(template: &DataImportCronTemplate) -> ArchTemplate {
    ArchTemplate {
        template: template.clone(),
        reference: None,
    }
}
