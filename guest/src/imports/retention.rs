//! Clean-up of a deleted cron under its `retentionPolicy`.

use super::{kind, label, preconditions_of, ImportsOutput};
use crate::model::cdi::{LABEL_CLEANUP, LABEL_DATA_IMPORT_CRON};
use crate::plan::Action;
use crate::snapshot::Snapshot;

/// Deletes the DataSources, DataVolumes, PVCs and VolumeSnapshots in the
/// cron's namespace that carry both the cron label naming `name` and the
/// clean-up label. The clean-up label is put on objects only under
/// `retentionPolicy: None`, so under `All` (the default) everything stays;
/// an object with only the cron label stays too.
pub fn clean_up(snapshot: &Snapshot, namespace: &str, name: &str, output: &mut ImportsOutput) {
    for kind in [
        kind::DATA_SOURCE,
        kind::DATA_VOLUME,
        kind::PVC,
        kind::SNAPSHOT,
    ] {
        for entry in snapshot.of_kind(kind) {
            let same_namespace = entry.reference.namespace.as_deref().unwrap_or("") == namespace;
            let ours = label(&entry.value, LABEL_DATA_IMPORT_CRON) == Some(name);
            let marked = label(&entry.value, LABEL_CLEANUP) == Some("true");
            if same_namespace && ours && marked {
                output.actions.push(Action::delete(
                    entry.reference.clone(),
                    preconditions_of(&entry.value),
                    format!("DataImportCron {name} was deleted with retentionPolicy None"),
                ));
            }
        }
    }
}
