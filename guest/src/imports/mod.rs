//! Imports stage: what CDI's DataImportCron controller does with each cron.
//!
//! Each DataImportCron, its observed digest (the
//! `cdi.kubevirt.io/storage.import.sourceDesiredDigest` annotation), the
//! DataVolumes, PVCs, VolumeSnapshots, DataSources and storage classes of
//! the snapshot and the current time go in. Out come the imports to start,
//! DataSource updates, cron status and annotations, outdated imports to
//! delete, clean-up of deleted crons, the polls due now and the time the
//! next poll is due. One call runs one reconcile pass per cron.

pub mod authorization;
pub mod conditions;
pub mod datasource;
pub mod gc;
pub mod import;
pub mod naming;
pub mod poll;
pub mod retention;
pub mod snapshot_format;
pub mod storage_class;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{json, Map, Value};

use crate::error::{from_value, Error};
use crate::model::cdi::{
    self, DataImportCron, DataImportCronStatus, DataVolume, NamespacedName, LABEL_CLEANUP,
    LABEL_DATA_IMPORT_CRON,
};
use crate::model::core::{PersistentVolumeClaim, VolumeSnapshot};
use crate::model::meta::ObjectRef;
use crate::plan::{Action, ActionKind, Event, Poll, Preconditions, Warning};
use crate::snapshot::{Entry, Snapshot};
use authorization::Authorizations;

/// Kind names as they appear in the snapshot.
pub mod kind {
    pub const CRON: &str = "DataImportCron";
    pub const DATA_SOURCE: &str = "DataSource";
    pub const DATA_VOLUME: &str = "DataVolume";
    pub const PVC: &str = "PersistentVolumeClaim";
    pub const SNAPSHOT: &str = "VolumeSnapshot";
    pub const STORAGE_CLASS: &str = "StorageClass";
    pub const STORAGE_PROFILE: &str = "StorageProfile";
    pub const IMAGE_STREAM: &str = "ImageStream";
}

/// `retentionPolicy` value that deletes a cron's imports with it.
pub const RETENTION_NONE: &str = "None";

/// Everything the imports stage returns.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ImportsOutput {
    pub actions: Vec<Action>,
    pub events: Vec<Event>,
    pub warnings: Vec<Warning>,
    pub polls: Vec<Poll>,
    /// The earliest time a cron needs another pass: its next poll, or a
    /// short retry after a deletion it waits on.
    pub next_due: Option<DateTime<Utc>>,
    /// Objects patched by `actions[..patches_seen]`, kept up to date by
    /// [`ImportsOutput::was_patched`] so no action is scanned twice.
    patched: BTreeSet<ObjectRef>,
    patches_seen: usize,
}

impl ImportsOutput {
    /// Tells whether an action so far patches `object`.
    fn was_patched(&mut self, object: &ObjectRef) -> bool {
        for action in &self.actions[self.patches_seen..] {
            if action.action == ActionKind::Patch {
                self.patched.insert(action.object.clone());
            }
        }
        self.patches_seen = self.actions.len();
        self.patched.contains(object)
    }

    fn due_at(&mut self, time: DateTime<Utc>) {
        self.next_due = Some(match self.next_due {
            Some(current) if current <= time => current,
            _ => time,
        });
    }
}

/// Runs one reconcile pass for every DataImportCron in `snapshot`, and the
/// clean-up of every cron in `deleted` that is no longer in it.
///
/// Crons are visited in namespace and name order, so the plan does not
/// depend on the order of the input. Invalid objects give an error; a
/// failure that the controller would retry (an unusable digest, a missing
/// ImageStream) becomes a warning on the cron and ends its pass.
///
/// `authorization` contains the results of CDI's clone check for crons with
/// a PVC source.
pub fn run(
    snapshot: &Snapshot,
    now: DateTime<Utc>,
    deleted: &[NamespacedName],
    authorization: &Authorizations,
) -> Result<ImportsOutput, Error> {
    let mut output = ImportsOutput::default();
    for entry in snapshot.of_kind(kind::CRON) {
        let cron: DataImportCron = from_value(&entry.value).map_err(|e| entry.blame(e))?;
        // A cron being deleted has no finalizer: its pass is the clean-up.
        if cron.metadata.deletion_timestamp.is_some() {
            retention::clean_up(
                snapshot,
                cron.metadata.namespace(),
                cron.metadata.name(),
                &mut output,
            );
            continue;
        }
        let mut pass = CronPass::new(snapshot, entry, cron, now, &mut output, authorization);
        pass.reconcile()?;
    }
    let missing_crons: BTreeSet<&NamespacedName> = deleted
        .iter()
        .filter(|c| snapshot.get(kind::CRON, &c.namespace, &c.name).is_none())
        .collect();
    for cron in missing_crons {
        retention::clean_up(snapshot, &cron.namespace, &cron.name, &mut output);
    }
    output.polls.sort_by(|a, b| a.cron.cmp(&b.cron));
    Ok(output)
}

/// Formats `time` as Kubernetes `metav1.Time` does: RFC 3339, whole
/// seconds, UTC.
pub fn format_seconds(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// Formats `time` as Go's RFC3339Nano does: UTC, with the fraction of a
/// second trimmed of trailing zeros, and none when it is zero.
pub fn format_nanos(time: DateTime<Utc>) -> String {
    let whole = time.format("%Y-%m-%dT%H:%M:%S").to_string();
    let nanos = time.timestamp_subsec_nanos();
    if nanos == 0 {
        return format!("{whole}Z");
    }
    let fraction = format!("{nanos:09}");
    format!("{whole}.{}Z", fraction.trim_end_matches('0'))
}

/// Returns label `key` of a raw object.
pub fn label<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object.get("metadata")?.get("labels")?.get(key)?.as_str()
}

/// Returns annotation `key` of a raw object.
pub fn annotation<'v>(object: &'v Value, key: &str) -> Option<&'v str> {
    object
        .get("metadata")?
        .get("annotations")?
        .get(key)?
        .as_str()
}

/// Returns delete preconditions naming the object's uid and
/// resourceVersion, so a delete never hits a re-created object.
pub fn preconditions_of(object: &Value) -> Preconditions {
    let field = |name: &str| {
        object
            .get("metadata")
            .and_then(|m| m.get(name))
            .and_then(Value::as_str)
            .map(str::to_string)
    };
    Preconditions {
        uid: field("uid"),
        resource_version: field("resourceVersion"),
    }
}

/// The cause of a pass that stopped before writing the cron back.
pub(crate) enum Stop {
    /// Stop without an error; the host retries at `next_due`.
    Requeue,
    /// A failure the controller would retry; reported as a warning.
    Failed(Box<Warning>),
}

/// One reconcile pass of one cron: the state read at the start and what the
/// pass has changed so far.
pub(crate) struct CronPass<'a> {
    pub snapshot: &'a Snapshot,
    pub entry: &'a Entry,
    pub cron: DataImportCron,
    pub now: DateTime<Utc>,
    pub out: &'a mut ImportsOutput,
    /// The cron's annotations as this pass leaves them.
    pub annotations: BTreeMap<String, String>,
    /// The cron's status as this pass leaves them.
    pub status: DataImportCronStatus,
    /// Objects (kind, name) in the cron's namespace deleted in this pass.
    pub deleted: BTreeSet<(String, String)>,
    /// Objects (kind, name) created in this pass.
    pub created: BTreeSet<(String, String)>,
    /// Objects (kind, name) stamped with `lastUseTime = now` in this pass.
    pub stamped: BTreeSet<(String, String)>,
    /// Results of the clone check for PVC sources.
    pub authorization: &'a Authorizations,
}

impl<'a> CronPass<'a> {
    fn new(
        snapshot: &'a Snapshot,
        entry: &'a Entry,
        cron: DataImportCron,
        now: DateTime<Utc>,
        out: &'a mut ImportsOutput,
        authorization: &'a Authorizations,
    ) -> Self {
        let annotations = cron.metadata.annotations.clone().unwrap_or_default();
        let status = cron.status.clone().unwrap_or_default();
        CronPass {
            snapshot,
            entry,
            cron,
            now,
            out,
            annotations,
            status,
            deleted: BTreeSet::new(),
            created: BTreeSet::new(),
            stamped: BTreeSet::new(),
            authorization,
        }
    }

    pub fn name(&self) -> &str {
        self.cron.metadata.name()
    }

    pub fn namespace(&self) -> &str {
        self.cron.metadata.namespace()
    }

    pub fn cron_ref(&self) -> ObjectRef {
        self.entry.reference.clone()
    }

    /// `now` as RFC3339Nano, the form of `lastUseTime`.
    pub fn now_nanos(&self) -> String {
        format_nanos(self.now)
    }

    /// `now` as `metav1.Time`.
    pub fn now_seconds(&self) -> String {
        format_seconds(self.now)
    }

    pub fn retains_nothing(&self) -> bool {
        self.cron.spec.retention_policy.as_deref() == Some(RETENTION_NONE)
    }

    /// Returns the object of `kind` named `name` in the cron's namespace,
    /// unless this pass deleted it.
    pub fn find(&self, kind: &str, name: &str) -> Option<&'a Entry> {
        if self.deleted.contains(&(kind.to_string(), name.to_string())) {
            return None;
        }
        self.snapshot.get(kind, self.namespace(), name)
    }

    /// Returns the objects of `kind` in the cron's namespace that carry this
    /// cron's label and were not deleted in this pass.
    pub fn labelled(&self, kind: &str) -> Vec<&'a Entry> {
        self.snapshot
            .labelled_for_cron(kind, self.namespace(), self.name())
            .filter(|e| {
                !self
                    .deleted
                    .contains(&(kind.to_string(), e.reference.name.clone()))
            })
            .collect()
    }

    pub fn data_volume(&self, name: &str) -> Result<Option<(&'a Entry, DataVolume)>, Error> {
        parse_found(self.find(kind::DATA_VOLUME, name))
    }

    pub fn pvc(&self, name: &str) -> Result<Option<(&'a Entry, PersistentVolumeClaim)>, Error> {
        parse_found(self.find(kind::PVC, name))
    }

    pub fn volume_snapshot(
        &self,
        name: &str,
    ) -> Result<Option<(&'a Entry, VolumeSnapshot)>, Error> {
        parse_found(self.find(kind::SNAPSHOT, name))
    }

    /// Deletes `entry` with uid and resourceVersion preconditions.
    pub fn delete(&mut self, entry: &Entry, reason: impl Into<String>) {
        let mut preconditions = preconditions_of(&entry.value);
        // A patch earlier in this plan changes the object's resourceVersion,
        // so the delete can only be guarded by its uid; otherwise it would
        // fail on every pass and the object would never go.
        if self.out.was_patched(&entry.reference) {
            preconditions.resource_version = None;
        }
        self.out.actions.push(Action::delete(
            entry.reference.clone(),
            preconditions,
            reason,
        ));
        self.deleted
            .insert((entry.reference.kind.clone(), entry.reference.name.clone()));
    }

    /// Returns the labels that mark an object as this cron's import: the cron
    /// label, and the clean-up label when `retentionPolicy` is `None`.
    pub fn cron_labels(&self) -> BTreeMap<String, String> {
        let mut labels = BTreeMap::new();
        labels.insert(LABEL_DATA_IMPORT_CRON.to_string(), self.name().to_string());
        if self.retains_nothing() {
            labels.insert(LABEL_CLEANUP.to_string(), "true".to_string());
        }
        labels
    }

    /// Touches an import object: sets `lastUseTime = now` and the cron
    /// labels. The stamp is what garbage collection orders by, so the
    /// source in use is always the newest.
    pub fn touch(&mut self, entry: &Entry, reason: &str) {
        let now = self.now_nanos();
        let mut labels = Map::new();
        for (key, value) in self.cron_labels() {
            if label(&entry.value, &key) != Some(value.as_str()) {
                labels.insert(key, Value::String(value));
            }
        }
        let mut metadata = Map::new();
        if !labels.is_empty() {
            metadata.insert("labels".into(), Value::Object(labels));
        }
        if annotation(&entry.value, cdi::ANNOTATION_LAST_USE_TIME) != Some(now.as_str()) {
            metadata.insert(
                "annotations".into(),
                json!({ cdi::ANNOTATION_LAST_USE_TIME: now }),
            );
        }
        self.stamped
            .insert((entry.reference.kind.clone(), entry.reference.name.clone()));
        if metadata.is_empty() {
            return;
        }
        self.out.actions.push(Action::merge_patch(
            entry.reference.clone(),
            json!({ "metadata": metadata }),
            false,
            reason,
        ));
    }

    /// Sets condition `type_` of the cron's status.
    pub fn set_condition(&mut self, type_: &str, status: bool, reason: &str, message: &str) {
        let now = self.now_seconds();
        let list = self.status.conditions.get_or_insert_with(Vec::new);
        conditions::set(list, type_, status, reason, message, &now);
    }

    /// Ends the pass with a warning on the cron, as a reconcile error the
    /// controller would retry.
    pub fn fail(&self, field: Option<&str>, message: impl Into<String>) -> PassError {
        PassError::Stop(Stop::Failed(Box::new(self.warn(field, message))))
    }

    pub fn warn(&self, field: Option<&str>, message: impl Into<String>) -> Warning {
        Warning {
            object: Some(self.cron_ref()),
            field: field.map(str::to_string),
            message: message.into(),
        }
    }

    /// Runs the pass: the already-managed check, polling, the branch on the
    /// current import, garbage collection, the DataSource update, the
    /// digest decision and the write-back of annotations and status.
    fn reconcile(&mut self) -> Result<(), Error> {
        if datasource::managed_by_other(self)? {
            return Ok(());
        }
        match self.update() {
            Ok(()) => {
                self.write_back();
                Ok(())
            }
            Err(PassError::Stop(Stop::Requeue)) => {
                self.write_back();
                Ok(())
            }
            Err(PassError::Stop(Stop::Failed(warning))) => {
                self.out.warnings.push(*warning);
                Ok(())
            }
            Err(PassError::Invalid(error)) => Err(*error),
        }
    }

    fn update(&mut self) -> Result<(), PassError> {
        // Current state: only the first entry of currentImports is used.
        let current = self
            .status
            .current_imports
            .as_ref()
            .and_then(|list| list.first())
            .cloned();

        let class = storage_class::desired(self)?;
        storage_class::handle_change(self, &class, current.as_ref())?;
        let format = storage_class::source_format(self, class.name.as_deref())?;

        let succeeded = import::branch_on_current(self, current.as_ref(), &class, &format)?;
        if succeeded.is_some() {
            let name = current
                .as_ref()
                .map(|c| c.data_volume_name.clone())
                .unwrap_or_default();
            let imported = NamespacedName {
                namespace: self.namespace().to_string(),
                name,
            };
            // lastImportTimestamp moves only when lastImportedPVC changes.
            if self.status.last_imported_pvc.as_ref() != Some(&imported) {
                self.status.last_import_timestamp = Some(self.now_seconds());
            }
            self.status.last_imported_pvc = Some(imported);
            self.set_condition(
                conditions::PROGRESSING,
                false,
                conditions::REASON_NO_IMPORT,
                "",
            );
            gc::collect(self)?;
        }

        datasource::update(self, &format)?;
        poll::poll(self)?;
        import::decide(self, succeeded, &class, &format)?;

        if let Some(last) = self.annotations.get(cdi::ANNOTATION_LAST_CRON_TIME) {
            self.status.last_execution_timestamp = Some(last.clone());
        }
        Ok(())
    }

    /// Writes annotations (main resource) and status (status subresource)
    /// back with merge patches, each only when it changed.
    fn write_back(&mut self) {
        let before = self.cron.metadata.annotations.clone().unwrap_or_default();
        let mut changed = Map::new();
        for (key, value) in &self.annotations {
            if before.get(key) != Some(value) {
                changed.insert(key.clone(), Value::String(value.clone()));
            }
        }
        for key in before.keys() {
            if !self.annotations.contains_key(key) {
                changed.insert(key.clone(), Value::Null);
            }
        }
        if !changed.is_empty() {
            self.out.actions.push(Action::merge_patch(
                self.cron_ref(),
                json!({ "metadata": { "annotations": changed } }),
                false,
                "record the poll schedule, observed digest and storage class on the cron",
            ));
        }

        let before = serde_json::to_value(self.cron.status.clone().unwrap_or_default())
            .unwrap_or(Value::Null);
        let after = serde_json::to_value(&self.status).unwrap_or(Value::Null);
        if let (Value::Object(before), Value::Object(after)) = (&before, &after) {
            let mut patch = Map::new();
            for (key, value) in after {
                if before.get(key) != Some(value) {
                    patch.insert(key.clone(), value.clone());
                }
            }
            for key in before.keys() {
                if !after.contains_key(key) {
                    patch.insert(key.clone(), Value::Null);
                }
            }
            if !patch.is_empty() {
                self.out.actions.push(Action::merge_patch(
                    self.cron_ref(),
                    json!({ "status": patch }),
                    true,
                    "record the import state and conditions on the cron",
                ));
            }
        }
    }
}

/// The failure of a pass step: a stop the controller would retry, or
/// invalid input that fails the whole plan.
pub(crate) enum PassError {
    Stop(Stop),
    Invalid(Box<Error>),
}

impl From<Error> for PassError {
    fn from(error: Error) -> Self {
        PassError::Invalid(Box::new(error))
    }
}

fn parse_found<T: serde::de::DeserializeOwned>(
    entry: Option<&Entry>,
) -> Result<Option<(&Entry, T)>, Error> {
    match entry {
        None => Ok(None),
        Some(entry) => {
            let parsed = from_value(&entry.value).map_err(|e| entry.blame(e))?;
            Ok(Some((entry, parsed)))
        }
    }
}
