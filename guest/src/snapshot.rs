//! The cluster objects of a request, checked and sorted by kind.

use std::collections::BTreeMap;

use serde_json::Value;

use crate::error::Error;
use crate::model::cdi::LABEL_DATA_IMPORT_CRON;
use crate::model::meta::ObjectRef;

/// Most objects one request may carry. A real cluster's boot-source
/// objects number in the hundreds; this bound keeps a hostile input from
/// exhausting the module's memory with tiny objects.
pub const MAX_OBJECTS: usize = 100_000;

/// Kinds the stages read, by (API group, kind), with the versions accepted.
const KNOWN_KINDS: &[(&str, &str, &[&str])] = &[
    ("hco.kubevirt.io", "HyperConverged", &["v1beta1", "v1"]),
    ("ssp.kubevirt.io", "SSP", &["v1beta1", "v1beta2", "v1beta3"]),
    ("cdi.kubevirt.io", "DataImportCron", &["v1beta1"]),
    ("cdi.kubevirt.io", "DataSource", &["v1beta1"]),
    ("cdi.kubevirt.io", "DataVolume", &["v1beta1"]),
    ("cdi.kubevirt.io", "StorageProfile", &["v1beta1"]),
    ("", "PersistentVolumeClaim", &["v1"]),
    ("", "Namespace", &["v1"]),
    ("storage.k8s.io", "StorageClass", &["v1"]),
    ("snapshot.storage.k8s.io", "VolumeSnapshot", &["v1"]),
    ("image.openshift.io", "ImageStream", &["v1"]),
];

/// One input object with its position in the request.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub index: usize,
    pub reference: ObjectRef,
    pub value: Value,
}

impl Entry {
    /// Attaches this object to an error about it.
    pub fn blame(&self, error: Error) -> Error {
        error.on(self.reference.clone(), Some(self.index))
    }
}

/// Input objects grouped by kind, each group sorted by namespace and name
/// so that nothing downstream depends on the order of the input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    by_kind: BTreeMap<String, Vec<Entry>>,
    /// Objects of kinds no stage reads, counted by `Kind (apiVersion)`.
    skipped: BTreeMap<String, usize>,
    /// Positions in `by_kind` of the objects that carry the
    /// `cdi.kubevirt.io/dataImportCron` label, by (kind, namespace, label
    /// value), so that a cron's imports are found without a scan.
    by_cron_label: BTreeMap<(String, String, String), Vec<usize>>,
}

/// The result of checking one input object.
enum Checked {
    Read(Entry),
    /// A kind no stage reads, such as a ConfigMap in a `kubectl get` dump.
    Skipped(String),
}

impl Snapshot {
    /// Checks every object's apiVersion, kind and name and groups them.
    pub fn from_objects(objects: &[Value]) -> Result<Self, Error> {
        if objects.len() > MAX_OBJECTS {
            return Err(Error::invalid(format!(
                "the request has {} objects, more than the maximum of {MAX_OBJECTS}",
                objects.len()
            ))
            .at("objects"));
        }
        let mut by_kind: BTreeMap<String, Vec<Entry>> = BTreeMap::new();
        let mut skipped: BTreeMap<String, usize> = BTreeMap::new();
        for (index, value) in objects.iter().enumerate() {
            let entry = match check_object(index, value)? {
                Checked::Read(entry) => entry,
                Checked::Skipped(kind) => {
                    *skipped.entry(kind).or_default() += 1;
                    continue;
                }
            };
            by_kind
                .entry(entry.reference.kind.clone())
                .or_default()
                .push(entry);
        }
        for entries in by_kind.values_mut() {
            entries.sort_by(|a, b| {
                sort_key(a)
                    .cmp(&sort_key(b))
                    .then_with(|| a.reference.namespace.cmp(&b.reference.namespace))
            });
            if let Some(pair) = entries.windows(2).find(|w| {
                w[0].reference.namespace == w[1].reference.namespace
                    && w[0].reference.name == w[1].reference.name
            }) {
                return Err(pair[1].blame(
                    Error::invalid("the same object appears twice in the input")
                        .at("metadata.name")
                        .hint("keep one copy of each object"),
                ));
            }
        }
        let mut by_cron_label: BTreeMap<(String, String, String), Vec<usize>> = BTreeMap::new();
        for (kind, entries) in &by_kind {
            for (position, entry) in entries.iter().enumerate() {
                let Some(cron) = cron_label(&entry.value) else {
                    continue;
                };
                let namespace = entry.reference.namespace.clone().unwrap_or_default();
                by_cron_label
                    .entry((kind.clone(), namespace, cron.to_string()))
                    .or_default()
                    .push(position);
            }
        }
        Ok(Snapshot {
            by_kind,
            skipped,
            by_cron_label,
        })
    }

    /// Returns the objects of `kind` in `namespace` whose
    /// `cdi.kubevirt.io/dataImportCron` label is `cron`, sorted by name.
    pub fn labelled_for_cron<'s>(
        &'s self,
        kind: &str,
        namespace: &str,
        cron: &str,
    ) -> impl Iterator<Item = &'s Entry> + 's {
        let entries = self.of_kind(kind);
        self.by_cron_label
            .get(&(kind.to_string(), namespace.to_string(), cron.to_string()))
            .into_iter()
            .flatten()
            .filter_map(move |&position| entries.get(position))
    }

    /// Returns the number of skipped objects per `Kind (apiVersion)` of a
    /// kind no stage reads.
    pub fn skipped_kinds(&self) -> &BTreeMap<String, usize> {
        &self.skipped
    }

    /// Returns the objects of `kind`, sorted by namespace and name.
    pub fn of_kind(&self, kind: &str) -> &[Entry] {
        self.by_kind.get(kind).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Returns the object of `kind` named `namespace/name`, by binary
    /// search, because the stages look objects up once per cron or
    /// template.
    pub fn get(&self, kind: &str, namespace: &str, name: &str) -> Option<&Entry> {
        let entries = self.of_kind(kind);
        let first = entries.partition_point(|e| sort_key(e) < (namespace, name));
        entries
            .get(first)
            .filter(|e| sort_key(e) == (namespace, name))
    }
}

fn cron_label(object: &Value) -> Option<&str> {
    object
        .get("metadata")?
        .get("labels")?
        .get(LABEL_DATA_IMPORT_CRON)?
        .as_str()
}

/// Orders objects by namespace, an unset one as empty, then by name.
fn sort_key(entry: &Entry) -> (&str, &str) {
    (
        entry.reference.namespace.as_deref().unwrap_or(""),
        &entry.reference.name,
    )
}

/// Checks one object. A kind no stage reads is skipped; a kind the stages
/// read under another API group or version is an error, because the
/// object was most likely meant for them.
fn check_object(index: usize, value: &Value) -> Result<Checked, Error> {
    let unnamed = |message: String| {
        let mut error = Error::invalid(message);
        error.object_index = Some(index);
        error
    };
    if !value.is_object() {
        return Err(unnamed(format!("object {index} is not a mapping"))
            .hint("each document must be a Kubernetes object"));
    }
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind = value.get("kind").and_then(Value::as_str).unwrap_or("");
    if api_version.is_empty() || kind.is_empty() {
        return Err(unnamed(format!("object {index} has no apiVersion or kind").to_string())
            .at(if api_version.is_empty() { "apiVersion" } else { "kind" })
            .hint("every document needs apiVersion and kind, e.g. hco.kubevirt.io/v1beta1 HyperConverged"));
    }
    let metadata = value.get("metadata");
    let name = metadata
        .and_then(|m| m.get("name"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let namespace = metadata
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str)
        .unwrap_or("");
    let reference = ObjectRef::new(api_version, kind, namespace, name);
    let (group, version) = api_version.rsplit_once('/').unwrap_or(("", api_version));
    if !KNOWN_KINDS.iter().any(|(_, k, _)| *k == kind) {
        return Ok(Checked::Skipped(format!("{kind} ({api_version})")));
    }
    let Some((_, _, versions)) = KNOWN_KINDS
        .iter()
        .find(|(g, k, _)| *g == group && *k == kind)
    else {
        let expected: Vec<String> = KNOWN_KINDS
            .iter()
            .filter(|(_, k, _)| *k == kind)
            .flat_map(|(g, _, versions)| versions.iter().map(move |v| api_version_of(g, v)))
            .collect();
        return Err(Error::invalid(format!(
            "unknown API group in apiVersion {api_version:?} for kind {kind}"
        ))
        .on(reference, Some(index))
        .at("apiVersion")
        .hint(format!("write {}", expected.join(" or "))));
    };
    if !versions.contains(&version) {
        let expected: Vec<String> = versions.iter().map(|v| api_version_of(group, v)).collect();
        return Err(Error::invalid(format!(
            "unknown apiVersion {api_version:?} for kind {kind}"
        ))
        .on(reference, Some(index))
        .at("apiVersion")
        .hint(format!("write {}", expected.join(" or "))));
    }
    if name.is_empty() {
        return Err(Error::invalid("the object has no name")
            .on(reference, Some(index))
            .at("metadata.name")
            .hint("set metadata.name"));
    }
    Ok(Checked::Read(Entry {
        index,
        reference,
        value: value.clone(),
    }))
}

/// Joins an API group and version as `apiVersion` writes them.
fn api_version_of(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}
