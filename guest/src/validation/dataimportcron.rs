//! CDI's validating-webhook rules for DataImportCron, plus warnings for
//! template fields the API server would prune without a word.
//!
//! The checks run in CDI's order and keep CDI's messages, so that a user
//! who searches for a message finds the upstream discussion of it.

use serde_json::Value;

use super::Finding;
use crate::model::dict::{DataImportCronSpec, DataVolumeSpec, RegistrySource};
use crate::model::meta::is_dns_subdomain;

/// Maximum length of a DataImportCron name and of `managedDataSource`, in
/// characters: the DNS-1035 label maximum, because both end up as label
/// values and index keys.
pub const MAX_NAME_LENGTH: usize = 63;

/// Message for a name or `managedDataSource` over [`MAX_NAME_LENGTH`].
pub const NAME_TOO_LONG: &str = "Name cannot be longer than 63 characters";
pub const MISSING_SOURCE: &str = "Missing source";
pub const UNSETTABLE_FIELDS: &str =
    "Unsettable fields: SourceRef, ContentType, Checkpoints, FinalCheckpoint";
pub const MISSING_PVC: &str = "Missing Data volume PVC";
pub const DUPLICATE_STORAGE: &str =
    "Duplicate storage definition, both target storage and target pvc defined";
pub const MISSING_ACCESS_MODES: &str = "Required value: at least 1 access mode is required";
pub const MULTIPLE_SOURCES: &str = "Multiple Data volume sources";
pub const URL_XOR_IMAGE_STREAM: &str = "Source registry should have either URL or ImageStream";
pub const IMAGE_STREAM_NEEDS_NODE_PULL: &str =
    "Source registry ImageStream is supported only with node pull import";
pub const ILLEGAL_SCHEDULE: &str = "Illegal cron schedule";
pub const ILLEGAL_IMPORTS_TO_KEEP: &str = "Illegal ImportsToKeep value";
pub const ILLEGAL_GARBAGE_COLLECT: &str = "Illegal GarbageCollect value";
pub const ILLEGAL_MANAGED_DATA_SOURCE: &str = "Illegal ManagedDataSource value";
pub const SPEC_IMMUTABLE: &str = "Cannot update DataImportCron Spec";
/// The API server's rule for object names.
pub const INVALID_NAME: &str = "a lowercase RFC 1123 subdomain must consist of lower case \
     alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character";
/// The API server's rule for resource quantities.
pub const INVALID_QUANTITY: &str =
    "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

/// Registry URL schemes CDI imports from.
const REGISTRY_SCHEMES: [&str; 2] = ["docker", "oci-archive"];
/// `registry.pullMethod` values; unset means `pod`.
const PULL_METHODS: [&str; 2] = ["pod", "node"];
/// `garbageCollect` values; unset means `Outdated`.
const GARBAGE_COLLECT_VALUES: [&str; 2] = ["Outdated", "Never"];
/// DataVolume spec fields that users write directly under `template.spec`
/// but that belong under `template.spec.storage`.
const STORAGE_FIELDS: [&str; 5] = [
    "storageClassName",
    "accessModes",
    "resources",
    "volumeMode",
    "dataSource",
];

/// Checks the name of a DataImportCron; `path` is `metadata.name`.
pub fn check_name(name: &str, path: &str) -> Option<Finding> {
    if name.chars().count() > MAX_NAME_LENGTH {
        return Some(Finding::error(path, NAME_TOO_LONG));
    }
    (!is_dns_subdomain(name))
        .then(|| Finding::error(path, format!("{INVALID_NAME} (got {name:?})")))
}

/// Returns why Go's `net/url`, which CDI uses, would reject `url`,
/// if it would: a control character anywhere, or a character not allowed
/// in a host name (a space among them).
fn url_parse_error(url: &str) -> Option<String> {
    if let Some(c) = url.chars().find(|c| c.is_control()) {
        return Some(format!("invalid control character {c:?} in URL"));
    }
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let host = authority
        .rsplit_once('@')
        .map_or(authority, |(_, host)| host);
    let allowed = |c: char| c.is_ascii_alphanumeric() || "-._~!$&'()*+,;=:[]%".contains(c);
    if let Some(c) = host.chars().find(|c| !allowed(*c)) {
        return Some(format!("invalid character {c:?} in host name"));
    }
    let port = if let Some(bracketed) = host.strip_prefix('[') {
        let Some((_, after)) = bracketed.split_once(']') else {
            return Some("missing ']' in host".into());
        };
        after.strip_prefix(':')
    } else {
        host.rsplit_once(':').map(|(_, port)| port)
    };
    port.filter(|port| !port.chars().all(|c| c.is_ascii_digit()))
        .map(|port| format!("invalid port {port:?} after host"))
}

/// Checks a DataImportCron spec as CDI does on create, in CDI's order:
/// source, unsettable fields, DataVolume storage and source, schedule,
/// `importsToKeep`, `garbageCollect`, `managedDataSource`. CDI stops at the
/// first failure; all failures are returned here, first failure first, so
/// that an offline check can list them together. `prefix` is the path of
/// the spec, e.g. `spec`.
pub fn check_spec(spec: &DataImportCronSpec, prefix: &str) -> Vec<Finding> {
    let mut findings = Vec::new();
    let dv = &spec.template.spec;
    let dv_path = format!("{prefix}.template.spec");
    check_source(dv, &dv_path, &mut findings);
    check_unsettable(dv, &dv_path, &mut findings);
    check_storage(dv, &dv_path, &mut findings);

    // An empty schedule is valid: the cron never polls, and an import runs
    // only when the desired-digest annotation is set from outside.
    if !spec.schedule.is_empty() {
        if let Err(error) = crate::schedule::parse(&spec.schedule) {
            let mut finding = Finding::error(format!("{prefix}.schedule"), ILLEGAL_SCHEDULE);
            finding.message = format!("{ILLEGAL_SCHEDULE}: {}", one_line(&error.to_string()));
            findings.push(finding);
        }
    }
    if spec.imports_to_keep.is_some_and(|n| n < 0) {
        findings.push(Finding::error(
            format!("{prefix}.importsToKeep"),
            ILLEGAL_IMPORTS_TO_KEEP,
        ));
    }
    if let Some(value) = &spec.garbage_collect {
        if !GARBAGE_COLLECT_VALUES.contains(&value.as_str()) {
            findings.push(Finding::error(
                format!("{prefix}.garbageCollect"),
                format!("{ILLEGAL_GARBAGE_COLLECT} {value:?}; write Outdated or Never"),
            ));
        }
    }
    let data_source_path = format!("{prefix}.managedDataSource");
    if spec.managed_data_source.is_empty() {
        findings.push(Finding::error(
            data_source_path,
            ILLEGAL_MANAGED_DATA_SOURCE,
        ));
    } else if let Some(finding) = check_name(&spec.managed_data_source, &data_source_path) {
        findings.push(finding);
    }
    findings
}

/// Checks an update. CDI keeps the spec immutable, so any change to it is
/// rejected. The specs are compared as JSON, so key order does not matter.
/// Metadata and status may change.
pub fn check_spec_unchanged(new_spec: &Value, old_spec: &Value, path: &str) -> Option<Finding> {
    (new_spec != old_spec).then(|| {
        Finding::error(
            path,
            format!(
                "{SPEC_IMMUTABLE}; delete the DataImportCron and create it again with the new spec"
            ),
        )
    })
}

/// Warns about fields under `template.spec` that are not part of the
/// DataVolume spec. The API server prunes them without a word, so a
/// storage class written there is silently ignored.
pub fn check_pruned_fields(dv: &DataVolumeSpec, dv_path: &str) -> Vec<Finding> {
    dv.unknown
        .keys()
        .map(|key| {
            let path = format!("{dv_path}.{key}");
            if STORAGE_FIELDS.contains(&key.as_str()) {
                Finding::warning(
                    path,
                    format!(
                        "{key} is not a DataVolume spec field, so the API server drops it; \
                         move it to {dv_path}.storage.{key}"
                    ),
                )
            } else {
                Finding::warning(
                    path,
                    format!(
                        "{key} is not a DataVolume spec field, so the API server drops it; \
                         check the spelling and the indentation"
                    ),
                )
            }
        })
        .collect()
}

/// The source must be a registry or a PVC, and only one of them.
fn check_source(dv: &DataVolumeSpec, dv_path: &str, findings: &mut Vec<Finding>) {
    let source_path = format!("{dv_path}.source");
    let Some(source) = &dv.source else {
        findings.push(Finding::error(source_path, MISSING_SOURCE));
        return;
    };
    if source.registry.is_none() && source.pvc.is_none() {
        let mut finding = Finding::error(&source_path, MISSING_SOURCE);
        if let Some(kind) = source.other.keys().next() {
            finding.message = format!(
                "{MISSING_SOURCE}: a DataImportCron imports from registry or pvc, not {kind}"
            );
        }
        findings.push(finding);
        return;
    }
    let kinds = usize::from(source.registry.is_some())
        + usize::from(source.pvc.is_some())
        + source.other.values().filter(|v| !v.is_null()).count();
    if kinds > 1 {
        findings.push(Finding::error(&source_path, MULTIPLE_SOURCES));
    }
    if let Some(registry) = &source.registry {
        check_registry(registry, &format!("{source_path}.registry"), findings);
    }
}

fn check_registry(registry: &RegistrySource, path: &str, findings: &mut Vec<Finding>) {
    let url = registry.url.as_deref();
    let stream = registry.image_stream.as_deref();
    match (url, stream) {
        (Some(_), Some(_)) | (None, None) => {
            findings.push(Finding::error(path, URL_XOR_IMAGE_STREAM));
        }
        (Some(url), None) => {
            let scheme = url.split_once("://").map_or("", |(scheme, _)| scheme);
            if !REGISTRY_SCHEMES.contains(&scheme) {
                findings.push(Finding::error(
                    format!("{path}.url"),
                    format!(
                        "Illegal registry source URL scheme {url:?}; write docker://HOST/IMAGE:TAG \
                         or oci-archive://PATH"
                    ),
                ));
            } else if let Some(reason) = url_parse_error(url) {
                findings.push(Finding::error(
                    format!("{path}.url"),
                    format!("Invalid source URL {url:?}: {reason}"),
                ));
            }
        }
        (None, Some(stream)) => {
            if stream.is_empty() {
                findings.push(Finding::error(
                    format!("{path}.imageStream"),
                    "Source registry ImageStream is not valid",
                ));
            }
            if registry.pull_method.as_deref() != Some("node") {
                findings.push(Finding::error(
                    format!("{path}.pullMethod"),
                    IMAGE_STREAM_NEEDS_NODE_PULL,
                ));
            }
        }
    }
    if let Some(method) = registry.pull_method.as_deref() {
        if !PULL_METHODS.contains(&method) {
            findings.push(Finding::error(
                format!("{path}.pullMethod"),
                format!("ImportMethod {method} is neither pod, node or \"\""),
            ));
        }
    }
}

fn check_unsettable(dv: &DataVolumeSpec, dv_path: &str, findings: &mut Vec<Finding>) {
    let content_type_set = dv
        .content_type
        .as_ref()
        .is_some_and(|v| !(v.is_null() || v.as_str() == Some("")));
    if dv.source_ref.is_some()
        || content_type_set
        || dv.checkpoints.is_some()
        || dv.final_checkpoint.is_some()
    {
        findings.push(Finding::error(dv_path, UNSETTABLE_FIELDS));
    }
}

fn check_storage(dv: &DataVolumeSpec, dv_path: &str, findings: &mut Vec<Finding>) {
    for (field, spec) in [("pvc", &dv.pvc), ("storage", &dv.storage)] {
        let Some(size) = spec
            .as_ref()
            .and_then(|spec| spec.pointer("/resources/requests/storage"))
        else {
            continue;
        };
        let amount = match size {
            Value::String(text) => crate::crons::equality::parse_quantity(text),
            Value::Number(number) => crate::crons::equality::parse_quantity(&number.to_string()),
            _ => None,
        };
        let path = format!("{dv_path}.{field}.resources.requests.storage");
        match amount {
            None => findings.push(Finding::error(
                path,
                format!("{INVALID_QUANTITY} (got {size})"),
            )),
            Some(amount) if amount <= 0 => findings.push(Finding::error(
                path,
                format!("must be greater than zero (got {size})"),
            )),
            Some(_) => {}
        }
    }
    match (&dv.pvc, &dv.storage) {
        (Some(_), Some(_)) => findings.push(Finding::error(dv_path, DUPLICATE_STORAGE)),
        (None, None) => findings.push(Finding::error(format!("{dv_path}.pvc"), MISSING_PVC)),
        (Some(pvc), None) => {
            let has_modes = pvc
                .get("accessModes")
                .and_then(Value::as_array)
                .is_some_and(|modes| !modes.is_empty());
            if !has_modes {
                findings.push(Finding::error(
                    format!("{dv_path}.pvc.accessModes"),
                    MISSING_ACCESS_MODES,
                ));
            }
        }
        (None, Some(_)) => {}
    }
}

/// Joins a parser message onto one line, dropping caret-only marker lines,
/// so that it reads as one admission message.
fn one_line(message: &str) -> String {
    message
        .lines()
        .map(str::trim)
        .filter(|line| !line.trim_matches('^').is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}
