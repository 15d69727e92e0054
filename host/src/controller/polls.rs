//! The controller's registry poller: acts on the polls a plan lists for
//! registry sources, as `bootsource run` does on a state folder.
//!
//! A plan lists a cron's poll once per schedule time, in the same plan
//! that moves its `nextCronTime` on, so the poller keeps the polls it has
//! not run yet and the back-off of failed ones in memory. A successful
//! poll writes the digest and `lastCronTime` annotations (merge patch) and
//! a `Polled` condition (status subresource). A failed one writes only the
//! condition, False with the cause, and is retried after a back-off. A
//! poll never deletes anything.
//!
//! A restarted controller polls every registry cron once in its first
//! reconcile, because a poll the previous process was given may not have
//! run.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bootsource_guest::model::meta::ObjectRef;
use bootsource_guest::plan::{Action, Plan, PollSource};
use chrono::{DateTime, Utc};
use serde_json::Value;

use super::apply::{Applier, Written};
use super::cache::Cache;
use super::Error;
use crate::poll_result::{self, PollResult};
use crate::registry::{backoff_delay, Registry, RegistryConfig};

/// Kind name of the objects polls are for.
const CRON_KIND: &str = "DataImportCron";

/// The time source of the controller: [`Clock::system`] by default; a test
/// gives its own to move time forward.
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>);

impl Clock {
    /// Returns the system clock (`Utc::now`).
    pub fn system() -> Self {
        Clock(Arc::new(Utc::now))
    }

    /// Returns a clock that reads `now`.
    pub fn new(now: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        Clock(Arc::new(now))
    }

    /// Returns the current time.
    pub fn now(&self) -> DateTime<Utc> {
        (self.0)()
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

/// Back-off of failed polls: `base` doubled per failure in a row, at most
/// `cap`.
#[derive(Debug, Clone, Copy)]
pub struct PollRetry {
    /// Wait after the first failure. Defaults to 10 s.
    pub base: Duration,
    /// Maximum wait. Defaults to 10 minutes.
    pub cap: Duration,
}

impl Default for PollRetry {
    fn default() -> Self {
        PollRetry {
            base: Duration::from_secs(10),
            cap: Duration::from_secs(600),
        }
    }
}

/// Namespace and name of a cron.
type CronId = (String, String);

#[derive(Debug, Clone)]
struct Backoff {
    url: String,
    failures: u32,
    retry_at: DateTime<Utc>,
}

#[derive(Default)]
struct State {
    /// True after the first run, which polls every registry cron.
    started: bool,
    /// Polls to run, by cron: the source URL.
    pending: BTreeMap<CronId, String>,
    backoff: BTreeMap<CronId, Backoff>,
}

/// Result of one round of polls.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PollsOutcome {
    pub polls: usize,
    pub failed: usize,
    /// Writes the API server accepted.
    pub writes: usize,
    /// When the earliest failed poll is retried.
    pub retry_at: Option<DateTime<Utc>>,
}

/// The registry poller; see the module documentation.
pub struct Poller {
    registry: Result<Arc<OwnedRegistry>, String>,
    retry: PollRetry,
    state: Mutex<State>,
}

impl Poller {
    /// Creates a poller whose registry client uses `config`. A client that
    /// fails to start turns every poll into a failed one with that cause.
    pub fn new(config: &RegistryConfig, retry: PollRetry) -> Self {
        let registry = Registry::new(config.clone())
            .map(|r| Arc::new(OwnedRegistry(Some(r))))
            .map_err(|e| format!("the registry client failed to start: {e}"));
        Poller {
            registry,
            retry,
            state: Mutex::new(State::default()),
        }
    }

    /// Runs the polls that are due: those `plan` lists for registry
    /// sources, those a failed poll left for `now` or earlier, and in the
    /// first run every registry cron in `cache`.
    ///
    /// A failed write returns the error and keeps the poll for the next
    /// run.
    pub async fn run(
        &self,
        plan: &Plan,
        applier: &Applier<'_>,
        cache: &Cache,
        now: DateTime<Utc>,
    ) -> Result<PollsOutcome, Error> {
        let crons = cache.objects_of(CRON_KIND);
        let due = self.due(plan, &crons, now);
        let mut outcome = PollsOutcome::default();
        for (id, url) in due {
            let Some(cron) = cache
                .objects_of(CRON_KIND)
                .into_iter()
                .find(|c| cron_id(c).as_ref() == Some(&id))
            else {
                let mut state = self.lock();
                state.pending.remove(&id);
                state.backoff.remove(&id);
                continue;
            };
            outcome.polls += 1;
            let result = match self.resolve(&url).await {
                Ok(digest) => PollResult::Resolved {
                    url: url.clone(),
                    digest,
                },
                Err(message) => {
                    outcome.failed += 1;
                    let failures = self.lock().backoff.get(&id).map_or(0, |b| b.failures) + 1;
                    let delay = backoff_delay(failures, self.retry.base, self.retry.cap);
                    let retry_at =
                        now + chrono::Duration::from_std(delay).unwrap_or(chrono::Duration::zero());
                    tracing::warn!(cron = %format!("{}/{}", id.0, id.1), %url, failures, retry_at = %poll_result::stamp(retry_at), "poll failed: {message}");
                    PollResult::Failed {
                        message,
                        failures,
                        retry_at,
                    }
                }
            };
            outcome.writes += write(applier, &cron, &result, now).await?;
            let mut state = self.lock();
            state.pending.remove(&id);
            match result {
                PollResult::Resolved { digest, .. } => {
                    tracing::info!(cron = %format!("{}/{}", id.0, id.1), %url, %digest, "polled");
                    state.backoff.remove(&id);
                }
                PollResult::Failed {
                    failures, retry_at, ..
                } => {
                    state.backoff.insert(
                        id,
                        Backoff {
                            url,
                            failures,
                            retry_at,
                        },
                    );
                }
            }
        }
        outcome.retry_at = self.lock().backoff.values().map(|b| b.retry_at).min();
        Ok(outcome)
    }

    fn due(&self, plan: &Plan, crons: &[Value], now: DateTime<Utc>) -> Vec<(CronId, String)> {
        let mut state = self.lock();
        if !state.started {
            state.started = true;
            for cron in crons {
                let url = cron
                    .pointer("/spec/template/spec/source/registry/url")
                    .and_then(Value::as_str);
                if let (Some(id), Some(url)) = (cron_id(cron), url) {
                    state.pending.insert(id, url.to_string());
                }
            }
        }
        for poll in &plan.polls {
            if let PollSource::Registry { url, .. } = &poll.source {
                let id = (
                    poll.cron.namespace.clone().unwrap_or_default(),
                    poll.cron.name.clone(),
                );
                // A poll the plan lists again while its back-off runs waits
                // for the back-off.
                if !state.backoff.contains_key(&id) {
                    state.pending.insert(id, url.clone());
                }
            }
        }
        let retries: Vec<(CronId, String)> = state
            .backoff
            .iter()
            .filter(|(_, b)| b.retry_at <= now)
            .map(|(id, b)| (id.clone(), b.url.clone()))
            .collect();
        state.pending.extend(retries);
        state
            .pending
            .iter()
            .map(|(id, url)| (id.clone(), url.clone()))
            .collect()
    }

    /// Resolves `url` on a blocking thread, since the registry client
    /// blocks on its own runtime.
    async fn resolve(&self, url: &str) -> Result<String, String> {
        let registry = self.registry.clone()?;
        let url = url.to_string();
        tokio::task::spawn_blocking(move || match &registry.0 {
            Some(registry) => registry.resolve(&url).map_err(|e| e.to_string()),
            None => Err("the registry client is gone".to_string()),
        })
        .await
        .map_err(|e| format!("the poll task failed: {e}"))?
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Writes a poll's result onto the cron: the annotations with a merge
/// patch, the `Polled` condition through the status subresource. Returns
/// the number of accepted writes.
async fn write(
    applier: &Applier<'_>,
    cron: &Value,
    result: &PollResult,
    now: DateTime<Utc>,
) -> Result<usize, Error> {
    let mut recorded = cron.clone();
    poll_result::record(&mut recorded, result, now);
    let text = |pointer: &str| {
        cron.pointer(pointer)
            .and_then(Value::as_str)
            .unwrap_or_default()
    };
    let object = ObjectRef::new(
        text("/apiVersion"),
        CRON_KIND,
        text("/metadata/namespace"),
        text("/metadata/name"),
    );
    let mut actions = Vec::new();
    if matches!(result, PollResult::Resolved { .. }) {
        if let Some(patch) = poll_result::annotations_patch(&recorded) {
            actions.push(Action::merge_patch(
                object.clone(),
                patch,
                false,
                "record the polled source digest",
            ));
        }
    }
    actions.push(Action::merge_patch(
        object,
        poll_result::conditions_patch(&recorded),
        true,
        "record the result of the registry poll",
    ));
    let mut writes = 0;
    for action in &actions {
        if applier.apply(action).await? == Written::Changed {
            writes += 1;
        }
    }
    Ok(writes)
}

fn cron_id(cron: &Value) -> Option<CronId> {
    let text = |pointer: &str| cron.pointer(pointer).and_then(Value::as_str);
    Some((
        text("/metadata/namespace").unwrap_or_default().to_string(),
        text("/metadata/name")?.to_string(),
    ))
}

/// Holds the registry client, whose own runtime must not be dropped on an
/// async thread: the drop moves it to a plain thread.
struct OwnedRegistry(Option<Registry>);

impl Drop for OwnedRegistry {
    fn drop(&mut self) {
        if let Some(registry) = self.0.take() {
            std::thread::spawn(move || drop(registry));
        }
    }
}
