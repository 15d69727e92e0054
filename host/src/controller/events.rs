//! Records the plan's events as Kubernetes Events.
//!
//! The events go through `events.k8s.io/v1` with kube's [`Recorder`],
//! rather than as `core/v1` Events: it is the current Events API, it
//! carries the reporting controller and instance, and the recorder turns a
//! repeated event into one Event with a growing series count instead of a
//! new object per reconcile. `kubectl describe` shows both APIs alike.
//!
//! An Event is a report, not a change the plan needs: a failed or slow
//! write is logged and the reconcile goes on.

use std::time::Duration;

use bootsource_guest::model::meta::ObjectRef;
use bootsource_guest::plan::Event;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{self, EventType, Recorder, Reporter};
use kube::Client;
use serde_json::Value;

use super::cache::Cache;

/// The `reportingController` of every Event.
pub const REPORTING_CONTROLLER: &str = "bootsource";
/// The `action` of every Event: the API requires one, and every plan event
/// comes out of a reconcile.
pub const ACTION: &str = "Reconcile";
/// Longest `note` the API accepts, in bytes.
const MAX_NOTE_BYTES: usize = 1024;

/// Writes plan events as Events, one recorder for the controller's life so
/// that repeats of an event are counted in its series.
pub struct EventRecorder {
    recorder: Recorder,
    timeout: Duration,
}

impl EventRecorder {
    /// Creates a recorder. `instance` is the `reportingInstance`, normally
    /// the replica's identity; without one the API gets the controller name.
    /// A write that takes longer than `timeout` is given up.
    pub fn new(client: Client, instance: Option<String>, timeout: Duration) -> Self {
        let reporter = Reporter {
            controller: REPORTING_CONTROLLER.into(),
            instance,
        };
        EventRecorder {
            recorder: Recorder::new(client, reporter),
            timeout,
        }
    }

    /// Records one plan event about an object; the uid of the object comes
    /// from `cache` when the object is there. Failures are logged.
    pub async fn record(&self, event: &Event, cache: &Cache) {
        let regarding = regarding(&event.object, cache);
        let published = events::Event {
            type_: event_type(&event.type_),
            reason: event.reason.clone(),
            note: Some(truncate(&event.message, MAX_NOTE_BYTES).to_string()),
            action: ACTION.into(),
            secondary: None,
        };
        let write = self.recorder.publish(&published, &regarding);
        match tokio::time::timeout(self.timeout, write).await {
            Ok(Ok(())) => {}
            Ok(Err(error)) => {
                tracing::warn!(object = %event.object, reason = %event.reason, %error, "failed to record the event");
            }
            Err(_) => {
                tracing::warn!(object = %event.object, reason = %event.reason, timeout = ?self.timeout, "recording the event timed out");
            }
        }
    }
}

/// Maps the plan's event type; anything but `Warning` is `Normal`.
pub fn event_type(type_: &str) -> EventType {
    if type_ == "Warning" {
        EventType::Warning
    } else {
        EventType::Normal
    }
}

/// Builds the Event's `regarding` reference. The resourceVersion is left
/// out, so that repeats of an event about a changed object still count as
/// one series.
pub fn regarding(object: &ObjectRef, cache: &Cache) -> ObjectReference {
    let uid = cache
        .objects_of(&object.kind)
        .into_iter()
        .find(|cached| {
            let text = |pointer: &str| cached.pointer(pointer).and_then(Value::as_str);
            text("/metadata/name") == Some(object.name.as_str())
                && text("/metadata/namespace") == object.namespace.as_deref()
        })
        .and_then(|cached| {
            cached
                .pointer("/metadata/uid")
                .and_then(Value::as_str)
                .map(str::to_string)
        });
    ObjectReference {
        api_version: Some(object.api_version.clone()),
        kind: Some(object.kind.clone()),
        namespace: object.namespace.clone(),
        name: Some(object.name.clone()),
        uid,
        ..ObjectReference::default()
    }
}

/// Cuts `text` to at most `max` bytes on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    let mut end = max;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cache_with(objects: Vec<Value>) -> Cache {
        let cache = Cache::new(Vec::<String>::new());
        for object in objects {
            cache.upsert(object);
        }
        cache
    }

    fn cron_ref(namespace: &str, name: &str) -> ObjectRef {
        ObjectRef::new("cdi.kubevirt.io/v1beta1", "DataImportCron", namespace, name)
    }

    fn cron(namespace: &str, name: &str, uid: &str) -> Value {
        json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataImportCron",
            "metadata": {"name": name, "namespace": namespace, "uid": uid, "resourceVersion": "4"},
        })
    }

    #[test]
    fn regarding_takes_uid_from_cache() {
        let cache = cache_with(vec![cron("os", "fedora", "uid-1")]);
        let reference = regarding(&cron_ref("os", "fedora"), &cache);
        assert_eq!(reference.uid.as_deref(), Some("uid-1"));
    }

    #[test]
    fn regarding_without_cached_object_has_no_uid() {
        let cache = cache_with(vec![cron("other", "fedora", "uid-1")]);
        let reference = regarding(&cron_ref("os", "fedora"), &cache);
        assert_eq!(reference.uid, None);
    }

    #[test]
    fn regarding_leaves_out_resource_version() {
        let cache = cache_with(vec![cron("os", "fedora", "uid-1")]);
        let reference = regarding(&cron_ref("os", "fedora"), &cache);
        assert_eq!(reference.resource_version, None);
    }

    #[test]
    fn event_type_maps_plan_types() {
        let cases = [
            ("Warning", EventType::Warning),
            ("Normal", EventType::Normal),
            ("", EventType::Normal),
        ];
        for (given, expected) in cases {
            assert_eq!(event_type(given), expected, "{given:?}");
        }
    }

    #[test]
    fn long_note_cut_on_char_boundary() {
        // One ASCII byte first puts every boundary at an odd offset.
        let text = format!("a{}", "é".repeat(600));
        let cut = truncate(&text, MAX_NOTE_BYTES);
        assert_eq!(cut.len(), MAX_NOTE_BYTES - 1);
    }

    #[test]
    fn short_note_kept_whole() {
        assert_eq!(truncate("ready", MAX_NOTE_BYTES), "ready");
    }
}
