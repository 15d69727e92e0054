//! Multi-architecture filtering of the status list (HCO 1.16+).

use std::collections::BTreeMap;

use serde_json::Value;

use super::merge::{Condition, StatusTemplate};
use crate::model::dict::ARCHITECTURES_ANNOTATION;

pub const DEPLOYED: &str = "Deployed";
pub const UNSUPPORTED_ARCHITECTURES: &str = "UnsupportedArchitectures";
pub const NO_SUPPORTED_ARCHITECTURES: &str =
    "DataImportCronTemplate has no supported architectures for the current cluster";

/// Filters each template's architecture annotation to the workload
/// architectures `workloads`, while multi-arch is on.
///
/// The annotation is split on `,`; items that exactly match a workload
/// architecture are kept in the annotation's order, without trimming. The
/// original value goes to `originalSupportedArchitectures`. A template left
/// with none gets `Deployed=False/UnsupportedArchitectures` and stays in
/// status but out of SSP. A template without the annotation passes
/// unchanged: HCO never adds it. `previous` is the current status list,
/// whose `lastTransitionTime` is kept while a condition does not change;
/// `now` stamps a new one.
pub fn filter_architectures(
    templates: &mut [StatusTemplate],
    workloads: &[String],
    previous: &[Value],
    now: Option<&str>,
) {
    // First entry of each name, as a scan in status order would find it.
    let mut previous_by_name: BTreeMap<&str, &Value> = BTreeMap::new();
    for entry in previous {
        if let Some(name) = entry.pointer("/metadata/name").and_then(Value::as_str) {
            previous_by_name.entry(name).or_insert(entry);
        }
    }
    for template in templates {
        let Some(original) = template
            .metadata
            .annotation(ARCHITECTURES_ANNOTATION)
            .map(str::to_string)
        else {
            continue;
        };
        let kept: Vec<&str> = original
            .split(',')
            .filter(|arch| workloads.iter().any(|w| w == arch))
            .collect();
        let filtered = kept.join(",");
        template
            .metadata
            .set_annotation(ARCHITECTURES_ANNOTATION, filtered.clone());
        template.status.original_supported_architectures =
            (!original.is_empty()).then_some(original);
        template.status.conditions.retain(|c| c.type_ != DEPLOYED);
        if filtered.is_empty() {
            let since = previous_by_name
                .get(template.name())
                .and_then(|entry| previous_transition(entry))
                .or(now.map(str::to_string));
            template.status.conditions.push(Condition {
                type_: DEPLOYED.into(),
                status: "False".into(),
                last_transition_time: since,
                reason: UNSUPPORTED_ARCHITECTURES.into(),
                message: NO_SUPPORTED_ARCHITECTURES.into(),
            });
        }
    }
}

/// Tells whether multi-arch filtering left the template undeployable.
pub fn is_undeployable(template: &StatusTemplate) -> bool {
    template
        .status
        .conditions
        .iter()
        .any(|c| c.type_ == DEPLOYED && c.status == "False")
}

fn previous_transition(entry: &Value) -> Option<String> {
    let conditions = entry.pointer("/status/conditions")?.as_array()?;
    let deployed = conditions.iter().find(|c| {
        c.get("type").and_then(Value::as_str) == Some(DEPLOYED)
            && c.get("status").and_then(Value::as_str) == Some("False")
    })?;
    deployed
        .get("lastTransitionTime")?
        .as_str()
        .map(str::to_string)
}
