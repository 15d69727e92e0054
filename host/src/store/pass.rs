//! One reconcile pass over the state folder: read the objects, plan, apply
//! the plan, poll the sources that are due, run the imports, and repeat
//! until nothing changes.

use std::collections::BTreeSet;
use std::time::Duration;

use bootsource_guest::contract::{op, PlanRequest, Stage};
use bootsource_guest::imports::kind;
use bootsource_guest::model::cdi::NamespacedName;
use bootsource_guest::plan::{ActionKind, Plan, PollSource};
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use tracing::{info, warn};

use super::apply::{apply_actions, CrashAfter};
use super::imports::{run_imports, sweep_orphan_volumes, ImportMode, RetryPolicy};
use super::{ObjectKey, PollBackoff, Settled, Store, StoreError};
use crate::poll_result::{self, stamp, PollResult};
use crate::registry::{backoff_delay, sha256_digest};
use crate::runtime::{Runtime, RuntimeError};

/// Maximum plan/apply rounds in one pass. Each round moves a boot source
/// one step: cron created, polled, imported, DataSource repointed. A fresh
/// state folder settles in about six rounds, and the rest is headroom.
pub const MAX_ROUNDS: usize = 16;

pub use crate::poll_result::CONDITION_POLLED;

/// Failures that end a pass.
#[derive(Debug, thiserror::Error)]
pub enum PassError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Runtime(#[from] RuntimeError),
    #[error("the module rejected the stored objects: {0}")]
    Module(String),
}

/// Settings of a pass.
pub struct PassConfig<'a> {
    pub runtime: &'a Runtime,
    pub mode: ImportMode<'a>,
    /// Back-off of failed polls and failed imports.
    pub retry: RetryPolicy,
    /// Poll every registry source in the first round, due or not.
    pub poll_now: bool,
    /// Objects applied (merged) into the store at the start of the pass.
    pub seeds: Vec<Value>,
    /// HCO release to reproduce; `None` for the module's default.
    pub hco_version: Option<String>,
    pub crash: CrashAfter,
}

/// Summary of one pass.
#[derive(Debug, Default)]
pub struct PassReport {
    pub rounds: usize,
    /// Objects written or deleted by plans.
    pub changed: usize,
    pub polls: usize,
    pub failed_polls: usize,
    /// Imports whose DataVolume status changed.
    pub imports: usize,
    /// When the next pass is due: the plan's `nextReconcile`, a poll or
    /// import retry, or the end of a stand-in import delay.
    pub wake_at: Option<DateTime<Utc>>,
    /// The plan of the last round.
    pub plan: Plan,
}

/// Runs one pass.
pub fn run_pass(store: &mut Store, config: &mut PassConfig<'_>) -> Result<PassReport, PassError> {
    let mut report = PassReport::default();
    let start = Utc::now();
    seed(store, &config.seeds, &stamp(start), &mut config.crash)?;
    let removed = sweep_orphan_volumes(store)?;
    if removed > 0 {
        info!(removed, "orphaned volume folders removed");
    }

    let fingerprint = fingerprint(store, config)?;
    if let Some(wake_at) = settled_until(store, config, &fingerprint, start) {
        info!("nothing changed since the last pass and nothing is due; no plan is run");
        report.wake_at = wake_at;
        return Ok(report);
    }

    let mut polled = BTreeSet::new();
    // A pass is one reconcile at one instant: every round plans with the
    // same `now`, so that an object the plan stamps with `now` (the
    // `lastUseTime` of the source in use) is written once per pass, not
    // again whenever a round starts in a new second.
    let now = start;
    // Each round plans again and mostly finds the same warnings and
    // events; each is logged once per pass.
    let mut logged = BTreeSet::new();
    for round in 0..MAX_ROUNDS {
        report.rounds = round + 1;
        let plan = plan(store, config, now)?;
        for warning in &plan.warnings {
            let object = warning.object.as_ref().map(ToString::to_string);
            let message = crate::output::warning_text(warning);
            if !logged.insert((object.clone(), message.clone())) {
                continue;
            }
            match object {
                Some(object) => warn!(%object, "{message}"),
                None => warn!("{message}"),
            }
        }
        for event in &plan.events {
            if logged.insert((Some(event.object.to_string()), event.message.clone())) {
                warn!(object = %event.object, reason = %event.reason, "{}", event.message);
            }
        }

        let deleted: Vec<String> = plan
            .actions
            .iter()
            .filter(|a| a.action == ActionKind::Delete && a.object.kind == kind::CRON)
            .map(|a| {
                format!(
                    "{}/{}",
                    a.object.namespace.as_deref().unwrap_or(""),
                    a.object.name
                )
            })
            .collect();
        let planned_polls: Vec<(String, String)> = plan
            .polls
            .iter()
            .filter_map(|poll| match &poll.source {
                PollSource::Registry { url, .. } => Some((
                    format!(
                        "{}/{}",
                        poll.cron.namespace.as_deref().unwrap_or(""),
                        poll.cron.name
                    ),
                    url.clone(),
                )),
                _ => None,
            })
            .filter(|(cron, _)| !polled.contains(cron))
            .collect();
        store.update_state(|state| {
            for cron in deleted {
                if !state.deleted_crons.contains(&cron) {
                    state.deleted_crons.push(cron);
                }
            }
            state.pending_polls.extend(planned_polls);
        })?;
        let applied = apply_actions(store, &plan.actions, &stamp(now), &mut config.crash)?;
        report.changed += applied.changed;

        let polls = polls_due(store, config, round == 0, now)?;
        let mut poll_changes = 0;
        for (cron, url) in polls {
            let cron_id = format!("{}/{}", cron.namespace, cron.name);
            if !polled.insert(cron_id) {
                continue;
            }
            report.polls += 1;
            match poll(store, config, &cron, &url, now)? {
                PollOutcome::Changed => poll_changes += 1,
                PollOutcome::Unchanged => {}
                PollOutcome::Failed => report.failed_polls += 1,
            }
        }

        let imports = run_imports(store, &config.mode, config.retry, now, &mut config.crash)?;
        report.imports += imports.changed;
        report.wake_at = earliest([
            imports.wake_at,
            plan.next_reconcile.as_deref().and_then(parse_time),
        ]);
        report.plan = plan;
        if applied.changed == 0 && poll_changes == 0 && imports.changed == 0 {
            break;
        }
    }
    if report.rounds == MAX_ROUNDS {
        warn!(
            rounds = MAX_ROUNDS,
            "the pass stopped before the plan settled; the next pass goes on"
        );
    }

    let retry_at = store
        .state()
        .polls
        .values()
        .filter_map(|b| parse_time(&b.retry_at))
        .min();
    report.wake_at = earliest([report.wake_at, retry_at]);
    let settled = if report.rounds < MAX_ROUNDS {
        Some(Settled {
            fingerprint: self::fingerprint(store, config)?,
            wake_at: report.wake_at.map(stamp),
        })
    } else {
        None
    };
    store.update_state(|state| {
        state.deleted_crons.clear();
        state.settled = settled;
    })?;
    Ok(report)
}

/// Returns the fingerprint of what a plan would be computed from: the
/// stored objects and the HCO release.
fn fingerprint(store: &Store, config: &PassConfig<'_>) -> Result<String, StoreError> {
    let objects: Vec<Value> = store.load()?.into_values().collect();
    let input = json!({ "hcoVersion": config.hco_version, "objects": objects });
    Ok(sha256_digest(input.to_string().as_bytes()))
}

/// Returns `Some(wake_at)` when the last pass settled with the folder as it
/// is now and nothing is due before `now`: no object changed (a write by
/// anyone changes its resourceVersion or content), no poll or cron
/// clean-up is left over, and the next timed reconcile, retry or import
/// lies ahead. Such a pass has nothing to reconcile: on a cluster no event
/// and no requeue would start one.
fn settled_until(
    store: &Store,
    config: &PassConfig<'_>,
    fingerprint: &str,
    now: DateTime<Utc>,
) -> Option<Option<DateTime<Utc>>> {
    let state = store.state();
    let settled = state.settled.as_ref()?;
    if config.poll_now
        || settled.fingerprint != fingerprint
        || !state.pending_polls.is_empty()
        || !state.deleted_crons.is_empty()
    {
        return None;
    }
    let wake_at = match settled.wake_at.as_deref() {
        Some(text) => Some(parse_time(text)?),
        None => None,
    };
    if wake_at.is_some_and(|t| t <= now) {
        return None;
    }
    Some(wake_at)
}

fn parse_time(text: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(text)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

fn earliest<const N: usize>(times: [Option<DateTime<Utc>>; N]) -> Option<DateTime<Utc>> {
    times.into_iter().flatten().min()
}

/// Merges the objects given on the command line into the store; an object
/// that is already there unchanged is not written.
fn seed(
    store: &mut Store,
    seeds: &[Value],
    now: &str,
    crash: &mut CrashAfter,
) -> Result<(), StoreError> {
    for object in seeds {
        let Some(key) = ObjectKey::of(object) else {
            continue;
        };
        let merged = match store.get(&key)? {
            Some(mut existing) => {
                let before = existing.clone();
                bootsource_guest::apply::merge_patch(&mut existing, object);
                if existing == before {
                    continue;
                }
                existing
            }
            None => object.clone(),
        };
        crash.tick();
        store.put(merged, now)?;
        info!(object = %key, "input object stored");
    }
    Ok(())
}

/// Returns the stages to run on a state folder: all of them when it contains
/// a HyperConverged, otherwise only the imports stage, so that a folder of
/// DataImportCrons alone works as CDI would.
pub fn stages_for<'k>(mut keys: impl Iterator<Item = &'k ObjectKey>) -> Option<Vec<Stage>> {
    if keys.any(|key| key.kind == "HyperConverged") {
        None
    } else {
        Some(vec![Stage::Imports])
    }
}

fn plan(store: &Store, config: &PassConfig<'_>, now: DateTime<Utc>) -> Result<Plan, PassError> {
    let objects = store.load()?;
    let deleted_crons = store
        .state()
        .deleted_crons
        .iter()
        .filter_map(|entry| entry.split_once('/'))
        .filter(|(namespace, name)| {
            !objects.contains_key(&ObjectKey {
                kind: kind::CRON.to_string(),
                namespace: namespace.to_string(),
                name: name.to_string(),
            })
        })
        .map(|(namespace, name)| NamespacedName {
            namespace: namespace.to_string(),
            name: name.to_string(),
        })
        .collect::<Vec<_>>();
    let request = PlanRequest {
        hco_version: config.hco_version.clone(),
        now: Some(stamp(now)),
        stages: stages_for(objects.keys()),
        deleted_crons: (!deleted_crons.is_empty()).then_some(deleted_crons),
        objects: objects.into_values().collect(),
        ..PlanRequest::default()
    };
    config.runtime.call_json(op::PLAN, &request)?.map_err(|e| {
        // Name the file to fix, when the error names a stored object.
        let file = e.object.as_deref().and_then(|object| {
            let path = store.object_path(&ObjectKey::from(object)).ok()?;
            path.is_file().then_some(path)
        });
        match file {
            Some(path) => PassError::Module(format!("{e} (in {})", path.display())),
            None => PassError::Module(e.to_string()),
        }
    })
}

/// Returns the registry polls to run, as (cron key, url): those plans
/// listed that have not run yet, and in the first round those whose
/// back-off has run out, or all of them with `poll_now`.
fn polls_due(
    store: &Store,
    config: &PassConfig<'_>,
    first_round: bool,
    now: DateTime<Utc>,
) -> Result<Vec<(ObjectKey, String)>, StoreError> {
    let mut due = Vec::new();
    for (cron, url) in &store.state().pending_polls {
        if let Some((namespace, name)) = cron.split_once('/') {
            due.push((
                ObjectKey {
                    kind: kind::CRON.to_string(),
                    namespace: namespace.to_string(),
                    name: name.to_string(),
                },
                url.clone(),
            ));
        }
    }
    if !first_round {
        return Ok(due);
    }
    for (key, cron) in store.load()? {
        if key.kind != kind::CRON {
            continue;
        }
        let Some(url) = cron
            .pointer("/spec/template/spec/source/registry/url")
            .and_then(Value::as_str)
        else {
            continue;
        };
        let backoff_over = store
            .state()
            .polls
            .get(&format!("{}/{}", key.namespace, key.name))
            .and_then(|b| parse_time(&b.retry_at))
            .is_some_and(|retry_at| retry_at <= now);
        if config.poll_now || backoff_over {
            due.push((key, url.to_string()));
        }
    }
    Ok(due)
}

enum PollOutcome {
    Changed,
    Unchanged,
    Failed,
}

/// Polls `url` for cron `cron`. On success it writes the digest (when it
/// changed) and `lastCronTime` into the cron's annotations. On failure it
/// records the back-off and a `Polled` condition and changes nothing else.
fn poll(
    store: &mut Store,
    config: &mut PassConfig<'_>,
    cron: &ObjectKey,
    url: &str,
    now: DateTime<Utc>,
) -> Result<PollOutcome, StoreError> {
    let cron_id = format!("{}/{}", cron.namespace, cron.name);
    let result = match &config.mode {
        ImportMode::Registry(registry) => registry.resolve(url).map_err(|e| e.to_string()),
        ImportMode::StandIn { .. } => {
            let digest = sha256_digest(url.as_bytes());
            warn!(cron = %cron_id, %url, %digest, "stand-in poll: no registry contacted, the digest is the sha256 of the URL");
            Ok(digest)
        }
    };
    let Some(mut object) = store.get(cron)? else {
        store.update_state(|state| {
            state.pending_polls.remove(&cron_id);
        })?;
        return Ok(PollOutcome::Unchanged);
    };
    let time = stamp(now);
    match result {
        Ok(digest) => {
            let changed = poll_result::record(
                &mut object,
                &PollResult::Resolved {
                    url: url.to_string(),
                    digest: digest.clone(),
                },
                now,
            );
            config.crash.tick();
            store.put(object, &time)?;
            store.update_state(|state| {
                state.polls.remove(&cron_id);
                state.pending_polls.remove(&cron_id);
            })?;
            if changed {
                info!(cron = %cron_id, %url, %digest, "new source digest");
                Ok(PollOutcome::Changed)
            } else {
                info!(cron = %cron_id, %url, %digest, "source digest unchanged");
                Ok(PollOutcome::Unchanged)
            }
        }
        Err(message) => {
            let failures = store.state().polls.get(&cron_id).map_or(0, |b| b.failures) + 1;
            let delay = backoff_delay(failures, config.retry.base, config.retry.cap);
            let retry_at =
                now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
            warn!(cron = %cron_id, %url, failures, retry_at = %stamp(retry_at), "poll failed: {message}");
            poll_result::record(
                &mut object,
                &PollResult::Failed {
                    message,
                    failures,
                    retry_at,
                },
                now,
            );
            config.crash.tick();
            store.put(object, &time)?;
            store.update_state(|state| {
                state.pending_polls.remove(&cron_id);
                state.polls.insert(
                    cron_id.clone(),
                    PollBackoff {
                        failures,
                        retry_at: stamp(retry_at),
                    },
                );
            })?;
            Ok(PollOutcome::Failed)
        }
    }
}

/// Returns `duration` as a std duration, clamped at zero.
pub fn until(wake_at: DateTime<Utc>, now: DateTime<Utc>) -> Duration {
    (wake_at - now).to_std().unwrap_or(Duration::ZERO)
}
