//! The controller: watches the cluster, plans with the module and applies
//! the plan.
//!
//! Every reconcile plans over the whole watched state, because the module
//! takes all objects at once. Any watch event triggers one; otherwise the
//! next runs when the plan's `requeueAfterSeconds` is due.

pub mod apply;
pub mod cache;
pub mod events;
pub mod lease;
pub mod metrics;
pub mod polls;
pub mod resources;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bootsource_guest::contract::{op, PlanRequest, Stage};
use bootsource_guest::hco_version::HcoVersion;
use bootsource_guest::model::cdi::NamespacedName;
use bootsource_guest::plan::Plan;
use kube::Client;

use crate::registry::RegistryConfig;
use crate::runtime::{Runtime, RuntimeError};
use apply::{Applier, RetryPolicy, Written};
use cache::{Cache, Watched};
use events::EventRecorder;
use lease::LeaseSettings;
use metrics::Metrics;
use polls::{Clock, PollRetry, Poller};
use resources::{api_resource, kind_of};

/// Delay after a watch event before the reconcile starts, so that a burst
/// of events gives one reconcile. Defaults to 200 ms.
pub const DEFAULT_DEBOUNCE: Duration = Duration::from_millis(200);
/// Reconcile interval when the plan names no due time. Defaults to 5 minutes.
pub const DEFAULT_RESYNC: Duration = Duration::from_secs(300);
/// Plans per reconcile: a plan whose delete was rejected because the object
/// changed is computed again with the re-read object, at most this often.
const MAX_PLANS_PER_RECONCILE: usize = 5;
/// Maximum wait after a failed reconcile.
const MAX_ERROR_BACKOFF: Duration = Duration::from_secs(300);

/// Failures of a reconcile.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    Module(#[from] RuntimeError),
    #[error("the module rejected the cluster objects: {0}")]
    Plan(String),
    #[error("the module call task failed: {0}")]
    Join(String),
    #[error("{object}: the controller has no API mapping for this kind")]
    UnknownKind { object: String },
    #[error("{object}: invalid action from the module: {message}")]
    Body { object: String, message: String },
    #[error("{object}: patch type {patch_type:?} is not supported; only merge patches are")]
    PatchType { object: String, patch_type: String },
    #[error("{object}: {verb} failed: {source}")]
    Write {
        object: String,
        verb: &'static str,
        #[source]
        source: Box<kube::Error>,
    },
    #[error("{object}: {verb} timed out after {timeout:?}")]
    Timeout {
        object: String,
        verb: &'static str,
        timeout: Duration,
    },
    #[error("{object}: the delete was rejected because the object changed since the plan; it is planned again")]
    Stale { object: String },
    #[error("lost the leader-election lease {lease}; exiting so that another replica takes over")]
    LeaseLost { lease: String },
    #[error("failed to serve metrics on {address}: {source}")]
    Metrics {
        address: SocketAddr,
        #[source]
        source: std::io::Error,
    },
}

impl Error {
    /// Returns the HTTP status code of an API error, if this is one.
    pub fn status_code(&self) -> Option<u16> {
        match self {
            Error::Write { source, .. } => match source.as_ref() {
                kube::Error::Api(status) => Some(status.code),
                _ => None,
            },
            _ => None,
        }
    }

    /// Returns the `reason` of an API error's Status body, if this is one.
    pub fn status_reason(&self) -> Option<&str> {
        match self {
            Error::Write { source, .. } => match source.as_ref() {
                kube::Error::Api(status) => Some(status.reason.as_str()),
                _ => None,
            },
            _ => None,
        }
    }
}

/// Controller settings.
///
/// With the imports stage the controller also acts on the plan's registry
/// polls: it resolves each source with the registry client of `registry`,
/// writes the digest onto the DataImportCron and retries failed polls
/// after `poll_retry`. It creates the DataVolumes of imports but does not
/// import: CDI's DataVolume controller must run in the cluster.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Stages to run. The `bootsource controller` default is templates and
    /// crons, because the imports stage would fight an installed CDI over
    /// the same DataImportCrons.
    pub stages: Vec<Stage>,
    /// HCO release whose behaviour to reproduce.
    pub hco_version: String,
    /// Golden-image namespace for templates that set none.
    pub os_images_namespace: String,
    pub retry: RetryPolicy,
    pub debounce: Duration,
    /// Reconcile interval when the plan names no due time.
    pub resync: Duration,
    /// Address of `/metrics`, `/healthz` and `/readyz`; none to serve none.
    pub metrics_addr: Option<SocketAddr>,
    /// Leader election; none to run without.
    pub lease: Option<LeaseSettings>,
    /// Registry client settings for polls (imports stage only).
    pub registry: RegistryConfig,
    /// Back-off of failed polls.
    pub poll_retry: PollRetry,
    /// The time plans and polls are made at; the system clock by default.
    pub clock: Clock,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            stages: vec![Stage::Templates, Stage::Crons],
            hco_version: HcoVersion::CURRENT.to_string(),
            os_images_namespace: "kubevirt-os-images".into(),
            retry: RetryPolicy::default(),
            debounce: DEFAULT_DEBOUNCE,
            resync: DEFAULT_RESYNC,
            metrics_addr: None,
            lease: None,
            registry: RegistryConfig {
                timeout: Duration::from_secs(30),
                ..RegistryConfig::default()
            },
            poll_retry: PollRetry::default(),
            clock: Clock::system(),
        }
    }
}

/// Result of one reconcile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Outcome {
    /// Writes the API server accepted.
    pub writes: usize,
    /// Actions that were already done (object existed, or was gone).
    pub already_done: usize,
    /// When to reconcile again if nothing changes before.
    pub requeue_after: Option<Duration>,
}

/// The controller's shared state.
pub struct Controller {
    client: Client,
    runtime: Arc<Runtime>,
    cache: Arc<Cache>,
    metrics: Arc<Metrics>,
    events: EventRecorder,
    /// The registry poller; only with the imports stage.
    poller: Option<Poller>,
    settings: Settings,
    reconcile_lock: tokio::sync::Mutex<()>,
    /// The warnings of the last plan, so that each is logged when it
    /// appears rather than on every reconcile.
    last_warnings: std::sync::Mutex<std::collections::BTreeSet<String>>,
}

impl Controller {
    /// Creates a controller; nothing runs until [`Controller::run`].
    pub fn new(client: Client, runtime: Runtime, settings: Settings) -> Arc<Self> {
        let kinds = watched(&settings)
            .iter()
            .map(Watched::kind)
            .collect::<Vec<_>>();
        let instance = settings.lease.as_ref().map(|l| l.identity.clone());
        let events = EventRecorder::new(client.clone(), instance, settings.retry.request_timeout);
        Arc::new(Controller {
            client,
            runtime: Arc::new(runtime),
            cache: Arc::new(Cache::new(kinds)),
            metrics: Arc::new(Metrics::new()),
            events,
            poller: settings
                .stages
                .contains(&Stage::Imports)
                .then(|| Poller::new(&settings.registry, settings.poll_retry)),
            settings,
            reconcile_lock: tokio::sync::Mutex::new(()),
            last_warnings: std::sync::Mutex::new(std::collections::BTreeSet::new()),
        })
    }

    /// Returns the metrics.
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Returns true once every watch finished its first list.
    pub fn synced(&self) -> bool {
        self.cache.synced()
    }

    /// Runs the controller until `shutdown` completes or the lease is lost.
    ///
    /// With leader election it first waits for the lease; the watches, and
    /// the metrics endpoint's readiness, start only then.
    pub async fn run(
        self: Arc<Self>,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), Error> {
        let mut tasks = Vec::new();
        if let Some(address) = self.settings.metrics_addr {
            let listener = metrics::bind(address)
                .await
                .map_err(|source| Error::Metrics { address, source })?;
            // The bound address, which differs from the requested one for
            // port 0.
            let address = listener.local_addr().unwrap_or(address);
            tracing::info!(%address, "serving /metrics, /healthz and /readyz");
            tasks.push(tokio::spawn(metrics::serve(listener, self.metrics.clone())));
        }

        let ended = tokio::select! {
            result = self.clone().lead_and_reconcile() => Some(result),
            () = shutdown => None,
        };
        // The reconcile loop is dropped at this point, so nothing writes
        // after the lease is handed back.
        let result = match ended {
            Some(result) => result,
            None => {
                tracing::info!("shutting down");
                if let Some(settings) = &self.settings.lease {
                    let timeout = self.settings.retry.request_timeout;
                    lease::release(&self.client, settings, timeout).await;
                }
                Ok(())
            }
        };
        for task in tasks {
            task.abort();
        }
        result
    }

    async fn lead_and_reconcile(self: Arc<Self>) -> Result<(), Error> {
        match self.settings.lease.clone() {
            None => self.reconcile_loop().await,
            Some(settings) => {
                lease::acquire(&self.client, &settings).await?;
                tokio::select! {
                    result = self.clone().reconcile_loop() => result,
                    error = lease::hold(&self.client, &settings) => Err(error),
                }
            }
        }
    }

    async fn reconcile_loop(self: Arc<Self>) -> Result<(), Error> {
        let watchers = cache::spawn_watchers(&self.client, &self.cache, &watched(&self.settings));
        let _abort = AbortOnDrop(watchers);
        while !self.cache.synced() {
            self.cache.changed().await;
        }
        self.metrics.set_ready();
        let stages: Vec<String> = self
            .settings
            .stages
            .iter()
            .map(|stage| {
                serde_json::to_value(stage)
                    .map_or(String::new(), |v| v.as_str().unwrap_or("").to_string())
            })
            .collect();
        tracing::info!(stages = %stages.join(","), "watches synced; reconciling");

        let mut failures: u32 = 0;
        loop {
            let wait = match self.reconcile().await {
                Ok(outcome) => {
                    failures = 0;
                    outcome.requeue_after.unwrap_or(self.settings.resync)
                }
                Err(error) => {
                    failures += 1;
                    let wait = error_policy(&error, failures);
                    tracing::warn!(%error, failures, ?wait, "reconcile failed; retrying");
                    wait
                }
            };
            tokio::select! {
                () = self.cache.changed() => tokio::time::sleep(self.settings.debounce).await,
                () = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// Plans over the cached objects and applies the plan.
    ///
    /// Calls are serialised, so a test may call this while [`Controller::run`]
    /// is running.
    pub async fn reconcile(&self) -> Result<Outcome, Error> {
        let _serial = self.reconcile_lock.lock().await;
        let started = Instant::now();
        let result = self.plan_and_apply().await;
        self.metrics
            .reconcile_duration
            .observe(started.elapsed().as_secs_f64());
        if result.is_err() {
            self.metrics.reconcile_errors.inc();
        }
        result
    }

    async fn plan_and_apply(&self) -> Result<Outcome, Error> {
        let mut outcome = Outcome::default();
        let applier = Applier {
            client: &self.client,
            cache: &self.cache,
            retry: self.settings.retry,
        };
        for attempt in 1..=MAX_PLANS_PER_RECONCILE {
            let now = self.settings.clock.now();
            self.metrics
                .observe_crons(&self.cache.objects_of("DataImportCron"), now);
            let stages = self.runnable_stages();
            if stages.is_empty() {
                tracing::info!("no HyperConverged or SSP object exists yet; waiting for one");
                return Ok(outcome);
            }
            let gone_crons = self.cache.gone_crons();
            let plan = self.plan(now, &gone_crons, stages).await?;
            self.log_new_warnings(&plan);

            match self.apply_all(&applier, &plan, &mut outcome).await {
                Ok(()) => {
                    self.cache.forget_gone_crons(&gone_crons);
                    let mut retry_at = None;
                    if let Some(poller) = &self.poller {
                        let polled = poller.run(&plan, &applier, &self.cache, now).await?;
                        outcome.writes += polled.writes;
                        retry_at = polled.retry_at;
                    }
                    for event in &plan.events {
                        tracing::info!(object = %event.object, reason = %event.reason, kind = %event.type_, "{}", event.message);
                        self.events.record(event, &self.cache).await;
                    }
                    let retry_after =
                        retry_at.map(|at| (at - now).to_std().unwrap_or(Duration::ZERO));
                    outcome.requeue_after = plan
                        .requeue_after_seconds
                        .map(|s| Duration::from_secs(u64::try_from(s).unwrap_or(0)))
                        .into_iter()
                        .chain(retry_after)
                        .min();
                    tracing::info!(
                        writes = outcome.writes,
                        already_done = outcome.already_done,
                        "reconciled"
                    );
                    return Ok(outcome);
                }
                Err(Error::Stale { object }) if attempt < MAX_PLANS_PER_RECONCILE => {
                    tracing::info!(%object, "object changed since the plan; planning again");
                }
                Err(error) => return Err(error),
            }
        }
        Err(Error::Plan(format!(
            "objects kept changing during {MAX_PLANS_PER_RECONCILE} plans"
        )))
    }

    async fn apply_all(
        &self,
        applier: &Applier<'_>,
        plan: &Plan,
        outcome: &mut Outcome,
    ) -> Result<(), Error> {
        for action in &plan.actions {
            // The name would go into the request path unchecked, and the
            // API server rejects such an object anyway. The other actions
            // still run.
            if let Err(error) = crate::store::ObjectKey::from(&action.object).check() {
                tracing::warn!(%error, "action skipped: an API server would reject the object's name");
                continue;
            }
            match applier.apply(action).await? {
                Written::Changed => {
                    tracing::info!(object = %action.object, action = ?action.action, reason = %action.reason, "applied");
                    outcome.writes += 1;
                }
                Written::AlreadyDone => outcome.already_done += 1,
            }
        }
        Ok(())
    }

    /// Logs the plan's warnings that the previous plan did not have.
    fn log_new_warnings(&self, plan: &Plan) {
        let mut current = std::collections::BTreeSet::new();
        let mut last = self
            .last_warnings
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        for warning in &plan.warnings {
            let object = warning
                .object
                .as_ref()
                .map_or_else(String::new, ToString::to_string);
            let message = crate::output::warning_text(warning);
            let line = format!("{object}\t{message}");
            if !last.contains(&line) {
                tracing::warn!(%object, "{message}");
            }
            current.insert(line);
        }
        *last = current;
    }

    /// Returns the chosen stages whose input exists: the templates stage needs a
    /// HyperConverged, the crons stage that or an SSP CR. A cluster where
    /// HCO has not created its CR yet is idle, not failing.
    fn runnable_stages(&self) -> Vec<Stage> {
        let has = |kind: &str| !self.cache.objects_of(kind).is_empty();
        let templates = has("HyperConverged");
        let crons = templates || has("SSP");
        self.settings
            .stages
            .iter()
            .copied()
            .filter(|stage| match stage {
                Stage::Templates => templates,
                Stage::Crons => crons,
                Stage::Imports => true,
            })
            .collect()
    }

    async fn plan(
        &self,
        now: chrono::DateTime<chrono::Utc>,
        gone_crons: &[(String, String)],
        stages: Vec<Stage>,
    ) -> Result<Plan, Error> {
        let deleted_crons: Vec<NamespacedName> = gone_crons
            .iter()
            .map(|(namespace, name)| NamespacedName {
                namespace: namespace.clone(),
                name: name.clone(),
            })
            .collect();
        let request = PlanRequest {
            hco_version: Some(self.settings.hco_version.clone()),
            now: Some(now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)),
            stages: Some(stages),
            admission_defaults: Some(true),
            os_images_namespace: Some(self.settings.os_images_namespace.clone()),
            deleted_crons: (!deleted_crons.is_empty()).then_some(deleted_crons),
            objects: self.cache.snapshot(),
            ..PlanRequest::default()
        };
        let runtime = self.runtime.clone();
        let started = Instant::now();
        let result =
            tokio::task::spawn_blocking(move || runtime.call_json::<_, Plan>(op::PLAN, &request))
                .await;
        self.metrics
            .module_call_duration
            .observe(started.elapsed().as_secs_f64());
        let plan = result.map_err(|e| Error::Join(e.to_string()))??;
        plan.map_err(|e| Error::Plan(e.to_string()))
    }
}

/// Returns how long to wait after the `failures`-th failed reconcile in a
/// row: 1 s doubling per failure, at most 5 minutes.
pub fn error_policy(_error: &Error, failures: u32) -> Duration {
    let exponent = failures.saturating_sub(1).min(16);
    Duration::from_secs(1u64 << exponent).min(MAX_ERROR_BACKOFF)
}

/// Returns the resources to watch for the chosen stages. The SSP CR is watched
/// because the templates stage compares it with what it would apply.
pub fn watched(settings: &Settings) -> Vec<Watched> {
    resources_read(
        &settings.hco_version,
        settings.stages.contains(&Stage::Imports),
    )
}

/// Returns the resources the module reads under HCO release `hco_version`; with
/// `imports`, also the VolumeSnapshots the imports stage reads.
pub fn resources_read(hco_version: &str, imports: bool) -> Vec<Watched> {
    let hco = HcoVersion::parse(hco_version).unwrap_or_default();
    let dynamic = |api_version: &str, kind: &str| {
        kind_of(api_version, kind).map(|k| Watched::Dynamic(api_resource(api_version, k)))
    };
    let mut list: Vec<Watched> = [
        dynamic("hco.kubevirt.io/v1beta1", "HyperConverged"),
        dynamic(hco.ssp_api_version(), "SSP"),
        dynamic("cdi.kubevirt.io/v1beta1", "DataImportCron"),
        dynamic("cdi.kubevirt.io/v1beta1", "DataSource"),
        dynamic("cdi.kubevirt.io/v1beta1", "DataVolume"),
    ]
    .into_iter()
    .flatten()
    .collect();
    list.push(Watched::PersistentVolumeClaims);
    list.push(Watched::StorageClasses);
    if imports {
        list.extend(dynamic("snapshot.storage.k8s.io/v1", "VolumeSnapshot"));
    }
    list
}

struct AbortOnDrop(Vec<tokio::task::JoinHandle<()>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        for task in &self.0 {
            task.abort();
        }
    }
}
