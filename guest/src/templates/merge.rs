//! Merging common templates with the HyperConverged spec entries.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::hco_version::HcoVersion;
use crate::model::dict::{DataImportCronSpec, DataImportCronTemplate, ARCHITECTURES_ANNOTATION};
use crate::model::meta::ObjectMeta;
use crate::plan::TemplateKind;

/// One entry of `status.dataImportCronTemplates`: the template inline plus
/// HCO's bookkeeping.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusTemplate {
    pub metadata: ObjectMeta,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spec: Option<DataImportCronSpec>,
    pub status: TemplateStatus,
}

/// `DataImportCronStatus` of HCO.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemplateStatus {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub common_template: bool,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub modified: bool,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conditions: Vec<Condition>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_supported_architectures: Option<String>,
}

/// A Kubernetes `metav1.Condition`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Condition {
    #[serde(rename = "type")]
    pub type_: String,
    pub status: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_transition_time: Option<String>,
    pub reason: String,
    pub message: String,
}

impl StatusTemplate {
    /// Returns `metadata.name`.
    pub fn name(&self) -> &str {
        self.metadata.name()
    }

    /// Tells where the template came from.
    pub fn kind(&self) -> TemplateKind {
        match (self.status.common_template, self.status.modified) {
            (true, true) => TemplateKind::Customised,
            (true, false) => TemplateKind::Common,
            (false, _) => TemplateKind::Custom,
        }
    }

    fn new(template: DataImportCronTemplate, status: TemplateStatus) -> Self {
        StatusTemplate {
            metadata: template.metadata,
            spec: template.spec,
            status,
        }
    }
}

/// What the merge depends on besides the two template lists.
#[derive(Debug, Clone)]
pub struct MergeContext<'a> {
    pub version: HcoVersion,
    /// The resolved `enableCommonBootImageImport` switch.
    pub common_import: bool,
    /// The resolved multi-arch switch.
    pub multi_arch: bool,
    /// `commonBootImageNamespace`; empty counts as unset.
    pub common_boot_image_namespace: Option<&'a str>,
    /// The cluster schedule every common template runs on.
    pub schedule: &'a str,
}

/// Merges `commons` with the spec `entries` into the status list.
///
/// - A spec entry whose name matches no common template is a custom
///   template; the switch never blocks it.
/// - An entry named like a common template customises it while the switch
///   is on, and is dropped entirely while it is off.
/// - A disabled entry (enable annotation other than `true`) is left out,
///   and a disabled entry named like a common template removes it.
/// - The result is sorted by name, byte-wise (HCO 1.7+); before 1.7 it was
///   common templates in file order, then entries in spec order.
///
/// Duplicate names and other invalid entries are rejected by validation
/// before this runs.
pub fn merge(
    commons: &[DataImportCronTemplate],
    entries: &[DataImportCronTemplate],
    ctx: &MergeContext,
) -> Vec<StatusTemplate> {
    let common_names: BTreeSet<&str> = commons.iter().map(DataImportCronTemplate::name).collect();
    // The first spec entry of each name; validation rejects duplicates.
    let mut entries_by_name: BTreeMap<&str, &DataImportCronTemplate> = BTreeMap::new();
    for entry in entries {
        entries_by_name.entry(entry.name()).or_insert(entry);
    }

    let mut custom = Vec::new();
    for entry in entries {
        if common_names.contains(entry.name()) {
            continue;
        }
        if ctx.version.skips_disabled_custom() && !entry.is_enabled() {
            continue;
        }
        custom.push(StatusTemplate::new(
            entry.clone(),
            TemplateStatus::default(),
        ));
    }

    let mut result = Vec::new();
    if ctx.common_import {
        for common in commons {
            let mut common = common.clone();
            // The cluster schedule overrides the file's schedule on every
            // common template.
            if let Some(spec) = &mut common.spec {
                spec.schedule = ctx.schedule.to_string();
            }
            let entry = entries_by_name.get(common.name()).copied();
            match entry {
                Some(entry) if ctx.version.has_customisation() => {
                    if entry.is_enabled() {
                        result.push(customise(&common, entry, ctx));
                    }
                }
                _ => {
                    if let Some(namespace) =
                        ctx.common_boot_image_namespace.filter(|ns| !ns.is_empty())
                    {
                        if ctx.version.has_common_boot_image_namespace() {
                            common.metadata.namespace = Some(namespace.to_string());
                        }
                    }
                    let status = TemplateStatus {
                        common_template: true,
                        ..TemplateStatus::default()
                    };
                    result.push(StatusTemplate::new(common, status));
                }
            }
        }
    }
    result.extend(custom);
    if ctx.version.has_customisation() {
        result.sort_by(|a, b| a.name().as_bytes().cmp(b.name().as_bytes()));
    }
    result
}

/// Applies a spec entry to the common template of the same name.
///
/// The entry's spec replaces the common spec as a whole, with no per-field
/// merge; an empty schedule inherits the common (cluster) schedule. The
/// entry's namespace replaces the common's, even when empty, so
/// `commonBootImageNamespace` never applies. Labels stay the common's.
/// Annotations: HCO 1.7-1.15 keep the common's only; 1.16+ lay the entry's
/// over the common's, except the architecture annotation while multi-arch
/// is on (see [`architecture_annotation`]). The computation works on copies
/// and leaves both inputs unchanged.
fn customise(
    common: &DataImportCronTemplate,
    entry: &DataImportCronTemplate,
    ctx: &MergeContext,
) -> StatusTemplate {
    let mut result = common.clone();

    result.spec = entry.spec.clone();
    if let Some(spec) = &mut result.spec {
        if spec.schedule.is_empty() {
            spec.schedule = common
                .spec
                .as_ref()
                .map(|s| s.schedule.clone())
                .unwrap_or_default();
        }
    }

    result.metadata.namespace = entry.metadata.namespace.clone().filter(|ns| !ns.is_empty());

    if ctx.version.merges_annotations() {
        let mut merged = common.metadata.annotations.clone().unwrap_or_default();
        if let Some(own) = &entry.metadata.annotations {
            merged.extend(own.iter().map(|(k, v)| (k.clone(), v.clone())));
        }
        if ctx.multi_arch {
            match architecture_annotation(common, entry) {
                Some(value) => merged.insert(ARCHITECTURES_ANNOTATION.into(), value.to_string()),
                None => merged.remove(ARCHITECTURES_ANNOTATION),
            };
        }
        result.metadata.annotations =
            (!merged.is_empty() || result.metadata.annotations.is_some()).then_some(merged);
    }

    let status = TemplateStatus {
        common_template: true,
        modified: true,
        ..TemplateStatus::default()
    };
    StatusTemplate::new(result, status)
}

/// Picks the architecture annotation of a customised common template while
/// multi-arch is on: an entry that keeps the common's registry (unset or
/// equal) keeps the common's architectures, because the image is the same;
/// an entry with another registry brings its own, or none. An entry without
/// `spec.template.spec.source` counts as unchanged rather than failing.
fn architecture_annotation<'a>(
    common: &'a DataImportCronTemplate,
    entry: &'a DataImportCronTemplate,
) -> Option<&'a str> {
    let registry_of = |t: &'a DataImportCronTemplate| {
        t.spec
            .as_ref()?
            .template
            .spec
            .source
            .as_ref()?
            .registry
            .as_ref()
    };
    let changed = match registry_of(entry) {
        None => false,
        Some(registry) => registry_of(common) != Some(registry),
    };
    let from = if changed { entry } else { common };
    from.metadata.annotation(ARCHITECTURES_ANNOTATION)
}
