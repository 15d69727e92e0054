//! Simulation of the full reconcile chain over simulated time on an
//! in-memory cluster.
//!
//! The engine advances from event to event (a poll or retry that a plan
//! asks for, an import that finishes, a digest publication), plays the
//! cluster's part between reconciles (the poller writes observed digests
//! into the crons, importer pods finish or fail, the provisioner binds
//! PVCs, deletes cascade from a DataVolume to its PVC), runs `plan` at
//! each step and applies its actions. A seeded SplitMix64 decides which
//! imports fail, so equal requests give equal reports.
//!
//! The engine runs inside the module, in windows: a request may carry
//! `pauseAt`, and the response then holds the whole engine state to send
//! back with the next request. Running in the module keeps the rules of a
//! step in one place for every host; pausing keeps each call far below the
//! host's per-call fuel and time limits (by estimate, a month of four boot
//! sources runs over a thousand plans), and lets a host report progress
//! between windows.

pub mod cluster;
pub mod rng;

use std::collections::{BTreeMap, BTreeSet};

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::contract::{self, PlanRequest};
use crate::error::Error;
use crate::imports::{format_seconds, kind, naming};
use crate::model::cdi::{ANNOTATION_LAST_CRON_TIME, ANNOTATION_SOURCE_DESIRED_DIGEST};
use crate::plan::{ActionKind, Plan, PollSource};
use crate::templates::common::CommonTemplateFile;
use cluster::text;
use rng::SplitMix64;

/// Import duration when the request sets none: 20 minutes, in seconds.
pub const DEFAULT_IMPORT_SECONDS: i64 = 20 * 60;
/// Most publications a timeline may list. A year of daily publications
/// for a hundred boot sources fits.
pub const MAX_TIMELINE_ENTRIES: usize = 50_000;
/// Maximum import duration, in seconds (30 days).
pub const MAX_IMPORT_SECONDS: i64 = 30 * 86_400;
/// Name of the default StorageClass created when the input has none.
pub const DEFAULT_STORAGE_CLASS: &str = "standard";
/// Steps a whole run may take before it is stopped with an error. Defaults
/// to 100,000, far above what a month of polls twice a day needs.
pub const DEFAULT_MAX_STEPS: u32 = 100_000;
/// Plans run at one simulated instant before the step gives up waiting for
/// the cluster to settle. Each round applies one plan; a poll or a finished
/// import needs two or three.
pub const MAX_ROUNDS_PER_STEP: usize = 8;
/// Distinct plan warnings kept in the report.
pub const MAX_WARNINGS: usize = 50;

/// One publication: at `time`, `source` starts serving `digest`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Publication {
    /// RFC 3339 time of the publication.
    pub time: String,
    /// The registry URL exactly as a cron's `source.registry.url` names it,
    /// e.g. `docker://quay.io/containerdisks/fedora:latest`.
    pub source: String,
    /// The manifest digest, `sha256:<hex>`.
    pub digest: String,
}

/// Request of the `simulate` operation.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SimulateRequest {
    /// Start of simulated time, RFC 3339.
    pub start: String,
    /// End of simulated time, RFC 3339; later than `start`.
    pub end: String,
    /// Digest publications, in any order.
    #[serde(default)]
    pub timeline: Vec<Publication>,
    /// Seconds from the creation of an import DataVolume to its end;
    /// defaults to [`DEFAULT_IMPORT_SECONDS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_duration_seconds: Option<i64>,
    /// Probability, from 0.0 to 1.0, that an import fails; defaults to 0.
    #[serde(default)]
    pub failure_rate: f64,
    /// Seed of the generator that decides failures; defaults to 0.
    #[serde(default)]
    pub seed: u64,
    /// Name of the default StorageClass created when the objects contain no
    /// StorageClass; defaults to [`DEFAULT_STORAGE_CLASS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storage_class: Option<String>,
    /// HCO release to reproduce, as in `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hco_version: Option<String>,
    /// Common-template files in place of the built-in set, as in `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub common_templates: Option<Vec<CommonTemplateFile>>,
    /// Golden-image namespace, as in `plan`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os_images_namespace: Option<String>,
    /// Steps the whole run may take; defaults to [`DEFAULT_MAX_STEPS`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_steps: Option<u32>,
    /// Return before the first step later than this time, RFC 3339, with
    /// the state to resume from. Unset runs to `end`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pause_at: Option<String>,
    /// State returned by a paused call. When set, `objects` is ignored and
    /// the other fields must equal those of the first call.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SimState>,
    /// The cluster objects at `start`.
    #[serde(default)]
    pub objects: Vec<Value>,
}

/// An import the simulated cluster is running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunningImport {
    pub namespace: String,
    pub name: String,
    /// RFC 3339 time the import ends.
    pub ends: String,
    /// True when the import ends in failure.
    pub fails: bool,
}

/// The engine state between two windows of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimState {
    /// Time of the next step, not yet run, RFC 3339.
    pub now: String,
    pub objects: Vec<Value>,
    pub rng: SplitMix64,
    /// Imports in progress, by `namespace/name`.
    pub running: BTreeMap<String, RunningImport>,
    /// Publications announced so far (a prefix of the sorted timeline).
    pub published: usize,
    pub steps: u32,
    /// Last uid number handed out.
    pub uids: u64,
    pub timeline: Vec<TimelineEntry>,
    /// Statistics by boot source (`namespace/dataSource`).
    pub stats: BTreeMap<String, SourceStats>,
    pub warnings: BTreeSet<String>,
    pub done: bool,
}

/// What happened in a timeline entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum EntryKind {
    /// A source published a digest.
    Published,
    /// An import DataVolume was created.
    ImportStarted,
    /// An import finished and its PVC is bound.
    ImportSucceeded,
    /// An import failed for good.
    ImportFailed,
    /// A DataSource now points at another import.
    DataSourceSwitched,
    /// A PVC (with its DataVolume) or a DataVolume alone was deleted.
    Deleted,
}

/// One line of the timeline.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TimelineEntry {
    pub time: String,
    pub kind: EntryKind,
    /// `namespace/dataSource`, or the source URL of a publication.
    pub boot_source: String,
    /// Object the entry is about: DataVolume, PVC or DataSource target.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<String>,
    /// Requested storage of a deleted PVC, in bytes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size_bytes: Option<u64>,
}

/// Counts of one boot source over the run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceStats {
    /// `namespace/dataSource`.
    pub boot_source: String,
    /// The cron's registry URL.
    pub source: String,
    pub imports: u32,
    pub failed_imports: u32,
    /// DataSource source changes, the first one included.
    pub switches: u32,
    /// Seconds during which a digest was published and the DataSource did
    /// not point at its import.
    pub stale_seconds: i64,
    /// PVCs deleted (garbage collection, failed imports have none).
    pub deleted_pvcs: u32,
    /// Requested storage of the deleted PVCs, in bytes.
    pub reclaimed_bytes: u64,
    /// DataVolumes deleted without a PVC: failed imports replaced by newer
    /// digests.
    pub deleted_data_volumes: u32,
    /// Import PVCs labelled for the cron at the end of the run.
    pub pvcs_at_end: u32,
}

/// Reply of the `simulate` operation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SimulateResponse {
    /// True when the run reached `end`.
    pub done: bool,
    /// Time of the next step, RFC 3339.
    pub now: String,
    pub steps: u32,
    /// The state to send back, present while the run is paused.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<SimState>,
    /// The report, present when the run is done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

/// The result of a finished run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub start: String,
    pub end: String,
    pub steps: u32,
    pub timeline: Vec<TimelineEntry>,
    pub boot_sources: Vec<SourceStats>,
    /// Distinct plan warnings, at most [`MAX_WARNINGS`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
    /// The cluster objects at `end`.
    pub objects: Vec<Value>,
}

/// A cron as the simulation tracks it.
struct CronInfo {
    namespace: String,
    name: String,
    data_source: String,
    url: String,
}

impl CronInfo {
    fn boot_source(&self) -> String {
        format!("{}/{}", self.namespace, self.data_source)
    }
}

/// Checked request values.
struct Config {
    start: DateTime<Utc>,
    end: DateTime<Utc>,
    pause_at: Option<DateTime<Utc>>,
    import_duration: Duration,
    timeline: Vec<(DateTime<Utc>, Publication)>,
    storage_class: String,
    failure_rate: f64,
    max_steps: u32,
}

/// Runs the simulation, or one window of it.
pub fn simulate(request: &SimulateRequest) -> Result<SimulateResponse, Error> {
    let config = check(request)?;
    let mut state = match &request.state {
        Some(state) => state.clone(),
        None => initial_state(request, &config),
    };
    let mut now = parse_time(&state.now, "state.now")?;

    while !state.done {
        if config.pause_at.is_some_and(|pause| now > pause) {
            return Ok(SimulateResponse {
                done: false,
                now: state.now.clone(),
                steps: state.steps,
                state: Some(state),
                report: None,
            });
        }
        if state.steps >= config.max_steps {
            return Err(Error::invalid(format!(
                "the simulation took {} steps without reaching the end at {}",
                config.max_steps,
                format_seconds(config.end)
            ))
            .at("maxSteps")
            .hint("raise maxSteps or shorten the run"));
        }
        state.steps += 1;
        let next_reconcile = step(request, &config, &mut state, now)?;
        let next = next_time(&config, &state, now, next_reconcile);
        let until = next.min(config.end);
        accumulate_staleness(&config, &mut state, now, until);
        if next > config.end || now >= config.end {
            state.done = true;
        } else {
            now = next;
            state.now = format_seconds(now);
        }
    }
    let report = report(&config, &mut state);
    Ok(SimulateResponse {
        done: true,
        now: state.now.clone(),
        steps: state.steps,
        state: None,
        report: Some(report),
    })
}

fn parse_time(text: &str, field: &str) -> Result<DateTime<Utc>, Error> {
    DateTime::parse_from_rfc3339(text)
        .map(|t| t.with_timezone(&Utc))
        .map_err(|e| {
            Error::invalid(format!("invalid time {text:?}: {e}"))
                .at(field)
                .hint("write an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
        })
}

fn check(request: &SimulateRequest) -> Result<Config, Error> {
    let start = parse_time(&request.start, "start")?;
    let end = parse_time(&request.end, "end")?;
    if end <= start {
        return Err(Error::invalid(format!(
            "end {} is not later than start {}",
            request.end, request.start
        ))
        .at("end"));
    }
    let pause_at = match &request.pause_at {
        Some(text) => Some(parse_time(text, "pauseAt")?),
        None => None,
    };
    let seconds = request
        .import_duration_seconds
        .unwrap_or(DEFAULT_IMPORT_SECONDS);
    if seconds < 0 {
        return Err(
            Error::invalid(format!("import duration {seconds} s is negative"))
                .at("importDurationSeconds"),
        );
    }
    if seconds > MAX_IMPORT_SECONDS {
        return Err(Error::invalid(format!(
            "import duration {seconds} s is longer than the maximum of {MAX_IMPORT_SECONDS} s"
        ))
        .at("importDurationSeconds"));
    }
    if !(0.0..=1.0).contains(&request.failure_rate) {
        return Err(Error::invalid(format!(
            "failure rate {} is out of range; give a probability from 0.0 to 1.0",
            request.failure_rate
        ))
        .at("failureRate"));
    }
    if request.timeline.len() > MAX_TIMELINE_ENTRIES {
        return Err(Error::invalid(format!(
            "the timeline has {} publications, more than the maximum of {MAX_TIMELINE_ENTRIES}",
            request.timeline.len()
        ))
        .at("timeline")
        .hint("simulate a shorter period or fewer sources"));
    }
    let mut timeline = Vec::with_capacity(request.timeline.len());
    for (i, publication) in request.timeline.iter().enumerate() {
        let time = parse_time(&publication.time, &format!("timeline[{i}].time"))?;
        if publication.source.is_empty() {
            return Err(Error::invalid("source is empty")
                .at(format!("timeline[{i}].source"))
                .hint("write the registry URL as the cron names it, e.g. docker://quay.io/containerdisks/fedora:latest"));
        }
        if let Err(e) = naming::import_name("check", &publication.digest) {
            return Err(
                Error::invalid(format!("invalid digest {:?}: {e}", publication.digest))
                    .at(format!("timeline[{i}].digest"))
                    .hint("write sha256: and at least 12 hex digits"),
            );
        }
        timeline.push((time, publication.clone()));
    }
    // Stable, so equal times keep the file's order.
    timeline.sort_by_key(|(time, _)| *time);
    Ok(Config {
        start,
        end,
        pause_at,
        import_duration: Duration::seconds(seconds),
        timeline,
        storage_class: request
            .storage_class
            .clone()
            .unwrap_or_else(|| DEFAULT_STORAGE_CLASS.into()),
        failure_rate: request.failure_rate,
        max_steps: request.max_steps.unwrap_or(DEFAULT_MAX_STEPS),
    })
}

fn initial_state(request: &SimulateRequest, config: &Config) -> SimState {
    let start = format_seconds(config.start);
    let mut objects = request.objects.clone();
    if !cluster::has_storage_class(&objects) {
        objects.push(cluster::default_storage_class(
            &config.storage_class,
            &start,
        ));
    }
    let mut uids = 0;
    cluster::admit_new_objects(&mut objects, &mut uids, &start);
    SimState {
        now: start,
        objects,
        rng: SplitMix64::new(request.seed),
        running: BTreeMap::new(),
        published: 0,
        steps: 0,
        uids,
        timeline: Vec::new(),
        stats: BTreeMap::new(),
        warnings: BTreeSet::new(),
        done: false,
    }
}

/// Runs one step at `now` and returns the next reconcile the last plan
/// asked for.
fn step(
    request: &SimulateRequest,
    config: &Config,
    state: &mut SimState,
    now: DateTime<Utc>,
) -> Result<Option<DateTime<Utc>>, Error> {
    let stamp = format_seconds(now);
    announce_publications(config, state, now);
    finish_imports(config, state, now);

    let mut next_reconcile = None;
    for _ in 0..MAX_ROUNDS_PER_STEP {
        let before = state.objects.clone();
        let plan = run_plan(request, state, &stamp)?;
        for warning in &plan.warnings {
            if state.warnings.len() < MAX_WARNINGS {
                state.warnings.insert(warning.message.clone());
            }
        }
        next_reconcile = plan
            .next_reconcile
            .as_deref()
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map(|t| t.with_timezone(&Utc));
        apply(config, state, &plan, now);
        observe_polls(config, state, &plan, now);
        if state.objects == before {
            break;
        }
    }
    Ok(next_reconcile)
}

fn run_plan(request: &SimulateRequest, state: &SimState, now: &str) -> Result<Plan, Error> {
    let plan_request = PlanRequest {
        hco_version: request.hco_version.clone(),
        now: Some(now.to_string()),
        stages: None,
        common_templates: request.common_templates.clone(),
        admission_defaults: None,
        os_images_namespace: request.os_images_namespace.clone(),
        deleted_crons: None,
        data_source_names: None,
        authorization: None,
        objects: state.objects.clone(),
    };
    contract::plan(&plan_request)
}

fn announce_publications(config: &Config, state: &mut SimState, now: DateTime<Utc>) {
    while let Some((time, publication)) = config.timeline.get(state.published) {
        if *time > now {
            break;
        }
        state.timeline.push(TimelineEntry {
            time: format_seconds(*time),
            kind: EntryKind::Published,
            boot_source: publication.source.clone(),
            object: None,
            digest: Some(publication.digest.clone()),
            size_bytes: None,
        });
        state.published += 1;
    }
}

/// Ends the imports whose time is up: success binds a PVC, failure sets
/// `Running=False` with reason `Error`.
fn finish_imports(config: &Config, state: &mut SimState, now: DateTime<Utc>) {
    let stamp = format_seconds(now);
    let due: Vec<String> = state
        .running
        .iter()
        .filter(|(_, r)| DateTime::parse_from_rfc3339(&r.ends).is_ok_and(|t| t <= now))
        .map(|(key, _)| key.clone())
        .collect();
    for key in due {
        let Some(import) = state.running.remove(&key) else {
            continue;
        };
        let Some(index) = cluster::find(
            &state.objects,
            kind::DATA_VOLUME,
            &import.namespace,
            &import.name,
        ) else {
            continue;
        };
        let boot_source = boot_source_of(&state.objects, &state.objects[index]);
        let stats = state.stats.entry(boot_source.clone()).or_default();
        let kind = if import.fails {
            stats.failed_imports += 1;
            cluster::fail_import(&mut state.objects, index);
            EntryKind::ImportFailed
        } else {
            cluster::complete_import(&mut state.objects, index, &config.storage_class, &stamp);
            EntryKind::ImportSucceeded
        };
        state.timeline.push(TimelineEntry {
            time: stamp.clone(),
            kind,
            boot_source,
            object: Some(import.name),
            digest: None,
            size_bytes: None,
        });
    }
    cluster::admit_new_objects(&mut state.objects, &mut state.uids, &stamp);
}

/// Applies a plan and records imports started, deletions and DataSource
/// switches.
fn apply(config: &Config, state: &mut SimState, plan: &Plan, now: DateTime<Utc>) {
    let stamp = format_seconds(now);
    let pointers_before = data_source_targets(&state.objects);
    let before = state.objects.clone();
    crate::apply::apply_actions(&mut state.objects, &plan.actions);

    for action in &plan.actions {
        let namespace = action.object.namespace.clone().unwrap_or_default();
        let name = action.object.name.clone();
        let key = format!("{namespace}/{name}");
        match (action.action, action.object.kind.as_str()) {
            (ActionKind::Create, kind::DATA_VOLUME) => {
                let Some(index) =
                    cluster::find(&state.objects, kind::DATA_VOLUME, &namespace, &name)
                else {
                    continue;
                };
                if state.running.contains_key(&key) {
                    continue;
                }
                if let Some(map) = state.objects[index].as_object_mut() {
                    map.entry("status").or_insert_with(
                        || json!({ "phase": "ImportInProgress", "progress": "0.0%" }),
                    );
                }
                let fails = state.rng.next_f64() < config.failure_rate;
                let boot_source = boot_source_of(&state.objects, &state.objects[index]);
                let digest = digest_of_import(&state.objects[index]);
                state.stats.entry(boot_source.clone()).or_default().imports += 1;
                state.running.insert(
                    key,
                    RunningImport {
                        namespace,
                        name: name.clone(),
                        ends: format_seconds(now + config.import_duration),
                        fails,
                    },
                );
                state.timeline.push(TimelineEntry {
                    time: stamp.clone(),
                    kind: EntryKind::ImportStarted,
                    boot_source,
                    object: Some(name),
                    digest,
                    size_bytes: None,
                });
            }
            (ActionKind::Delete, kind::DATA_VOLUME | kind::PVC) => {
                record_deletion(state, &before, &namespace, &name, &stamp);
            }
            _ => {}
        }
    }
    cluster::admit_new_objects(&mut state.objects, &mut state.uids, &stamp);

    let pointers_after = data_source_targets(&state.objects);
    for (boot_source, target) in &pointers_after {
        if target.is_empty() || pointers_before.get(boot_source) == Some(target) {
            continue;
        }
        state.stats.entry(boot_source.clone()).or_default().switches += 1;
        state.timeline.push(TimelineEntry {
            time: stamp.clone(),
            kind: EntryKind::DataSourceSwitched,
            boot_source: boot_source.clone(),
            object: Some(target.clone()),
            digest: None,
            size_bytes: None,
        });
    }
}

/// Records the deletion of a DataVolume or PVC that `before` held, and
/// deletes the PVC of a deleted DataVolume as its owner reference would.
fn record_deletion(
    state: &mut SimState,
    before: &[Value],
    namespace: &str,
    name: &str,
    stamp: &str,
) {
    let was_data_volume = cluster::find(before, kind::DATA_VOLUME, namespace, name).is_some();
    let data_volume_gone = was_data_volume
        && cluster::find(&state.objects, kind::DATA_VOLUME, namespace, name).is_none();
    if data_volume_gone {
        state.running.remove(&format!("{namespace}/{name}"));
        if let Some(i) = cluster::find(&state.objects, kind::PVC, namespace, name) {
            state.objects.remove(i);
        }
    }
    let pvc_before = cluster::find(before, kind::PVC, namespace, name).map(|i| &before[i]);
    let pvc_gone =
        pvc_before.is_some() && cluster::find(&state.objects, kind::PVC, namespace, name).is_none();
    if !pvc_gone && !data_volume_gone {
        return;
    }
    let source_object = pvc_before
        .or_else(|| cluster::find(before, kind::DATA_VOLUME, namespace, name).map(|i| &before[i]));
    let Some(source_object) = source_object else {
        return;
    };
    let boot_source = boot_source_of(&state.objects, source_object);
    let stats = state.stats.entry(boot_source.clone()).or_default();
    let size_bytes = match pvc_before.filter(|_| pvc_gone) {
        Some(pvc) => {
            let size =
                cluster::quantity_bytes(text(pvc, "/spec/resources/requests/storage")).unwrap_or(0);
            stats.deleted_pvcs += 1;
            stats.reclaimed_bytes += size;
            Some(size)
        }
        None => {
            stats.deleted_data_volumes += 1;
            None
        }
    };
    state.timeline.push(TimelineEntry {
        time: stamp.to_string(),
        kind: EntryKind::Deleted,
        boot_source,
        object: Some(name.to_string()),
        digest: None,
        size_bytes,
    });
}

/// Plays the poller: for each poll of a registry source, writes the digest
/// the source serves at `now` and the poll time into the cron. A source
/// that has published nothing yet fails its poll, so nothing is written.
fn observe_polls(config: &Config, state: &mut SimState, plan: &Plan, now: DateTime<Utc>) {
    for poll in &plan.polls {
        let PollSource::Registry { url, .. } = &poll.source else {
            continue;
        };
        let Some(digest) = published_digest(config, url, now) else {
            continue;
        };
        let namespace = poll.cron.namespace.clone().unwrap_or_default();
        let Some(index) = cluster::find(&state.objects, kind::CRON, &namespace, &poll.cron.name)
        else {
            continue;
        };
        let patch = json!({ "metadata": { "annotations": {
            ANNOTATION_SOURCE_DESIRED_DIGEST: digest,
            ANNOTATION_LAST_CRON_TIME: format_seconds(now),
        }}});
        crate::apply::merge_patch(&mut state.objects[index], &patch);
    }
}

/// Returns the digest `url` serves at `now`: its latest publication.
fn published_digest<'c>(config: &'c Config, url: &str, now: DateTime<Utc>) -> Option<&'c str> {
    config
        .timeline
        .iter()
        .take_while(|(time, _)| *time <= now)
        .filter(|(_, p)| p.source == url)
        .map(|(_, p)| p.digest.as_str())
        .last()
}

/// Returns the PVC or snapshot each DataSource points at, by
/// `namespace/name`; "" when it points at nothing.
fn data_source_targets(objects: &[Value]) -> BTreeMap<String, String> {
    objects
        .iter()
        .filter(|o| text(o, "/kind") == kind::DATA_SOURCE)
        .map(|o| {
            let key = format!(
                "{}/{}",
                text(o, "/metadata/namespace"),
                text(o, "/metadata/name")
            );
            let target = match text(o, "/spec/source/pvc/name") {
                "" => text(o, "/spec/source/snapshot/name"),
                name => name,
            };
            (key, target.to_string())
        })
        .collect()
}

/// The DataImportCrons with a registry source.
fn crons(objects: &[Value]) -> Vec<CronInfo> {
    objects
        .iter()
        .filter(|o| text(o, "/kind") == kind::CRON)
        .map(|o| CronInfo {
            namespace: text(o, "/metadata/namespace").to_string(),
            name: text(o, "/metadata/name").to_string(),
            data_source: text(o, "/spec/managedDataSource").to_string(),
            url: text(o, "/spec/template/spec/source/registry/url").to_string(),
        })
        .filter(|c| !c.url.is_empty())
        .collect()
}

/// Returns `namespace/dataSource` of the cron an import object is labelled
/// for, or `namespace/cron` when that cron is gone.
fn boot_source_of(objects: &[Value], object: &Value) -> String {
    let namespace = text(object, "/metadata/namespace");
    let cron = cluster::cron_of(object);
    crons(objects)
        .into_iter()
        .find(|c| c.namespace == namespace && c.name == cron)
        .map(|c| c.boot_source())
        .unwrap_or_else(|| format!("{namespace}/{cron}"))
}

/// Returns the digest in an import DataVolume's `docker://...@sha256:...`
/// URL.
fn digest_of_import(data_volume: &Value) -> Option<String> {
    let url = text(data_volume, "/spec/source/registry/url");
    url.rsplit_once('@').map(|(_, digest)| digest.to_string())
}

/// Returns the time of the next step: the next reconcile the plan asked
/// for, the next import to end or the next publication, whichever comes
/// first; past `end` when there is none.
fn next_time(
    config: &Config,
    state: &SimState,
    now: DateTime<Utc>,
    next_reconcile: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    let imports = state
        .running
        .values()
        .filter_map(|r| DateTime::parse_from_rfc3339(&r.ends).ok())
        .map(|t| t.with_timezone(&Utc));
    let publication = config.timeline.get(state.published).map(|(time, _)| *time);
    next_reconcile
        .into_iter()
        .chain(imports)
        .chain(publication)
        .filter(|t| *t > now)
        .min()
        .unwrap_or(config.end + Duration::seconds(1))
}

/// Adds `until - from` to the stale time of every boot source whose
/// DataSource does not point at the import of its source's latest digest.
fn accumulate_staleness(
    config: &Config,
    state: &mut SimState,
    from: DateTime<Utc>,
    until: DateTime<Utc>,
) {
    let seconds = (until - from).num_seconds().max(0);
    let targets = data_source_targets(&state.objects);
    for cron in crons(&state.objects) {
        let stats = state.stats.entry(cron.boot_source()).or_default();
        let Some(digest) = published_digest(config, &cron.url, from) else {
            continue;
        };
        let Ok(expected) = naming::import_name(&cron.data_source, digest) else {
            continue;
        };
        if targets.get(&cron.boot_source()) != Some(&expected) {
            stats.stale_seconds += seconds;
        }
    }
}

fn report(config: &Config, state: &mut SimState) -> Report {
    for cron in crons(&state.objects) {
        let pvcs = state
            .objects
            .iter()
            .filter(|o| text(o, "/kind") == kind::PVC)
            .filter(|o| text(o, "/metadata/namespace") == cron.namespace)
            .filter(|o| cluster::cron_of(o) == cron.name)
            .count();
        let stats = state.stats.entry(cron.boot_source()).or_default();
        stats.source = cron.url.clone();
        stats.pvcs_at_end = u32::try_from(pvcs).unwrap_or(u32::MAX);
    }
    let boot_sources = state
        .stats
        .iter()
        .map(|(key, stats)| SourceStats {
            boot_source: key.clone(),
            ..stats.clone()
        })
        .collect();
    Report {
        start: format_seconds(config.start),
        end: format_seconds(config.end),
        steps: state.steps,
        timeline: std::mem::take(&mut state.timeline),
        boot_sources,
        warnings: state.warnings.iter().cloned().collect(),
        objects: std::mem::take(&mut state.objects),
    }
}
