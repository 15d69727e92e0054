//! Clean-up of a deleted cron under its `retentionPolicy`.

use super::{kind, label, preconditions_of, ImportsOutput};
use crate::model::cdi::LABEL_CLEANUP;
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
        for entry in snapshot.labelled_for_cron(kind, namespace, name) {
            if label(&entry.value, LABEL_CLEANUP) == Some("true") {
                output.actions.push(Action::delete(
                    entry.reference.clone(),
                    preconditions_of(&entry.value),
                    format!("DataImportCron {name} was deleted with retentionPolicy None"),
                ));
            }
        }
    }
}
