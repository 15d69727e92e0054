//! The controller against the in-process fake API server: convergence,
//! retries under injected faults, deletes with preconditions, metrics,
//! readiness, Kubernetes Events and leader election with two replicas.

mod support;

use std::sync::Arc;
use std::time::Duration;

use bootsource::cli::EXAMPLE_HYPERCONVERGED;
use bootsource::controller::apply::RetryPolicy;
use bootsource::controller::lease::LeaseSettings;
use bootsource::controller::{Controller, Settings};
use bootsource::runtime::Runtime;
use bootsource_guest::contract::{op, PlanRequest, Stage};
use bootsource_guest::plan::{ActionKind, Plan};
use hyper::Method;
use serde_json::{json, Value};
use support::fake_apiserver::{FakeApiServer, FaultKind};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const HCO_COLLECTION: &str =
    "/apis/hco.kubevirt.io/v1beta1/namespaces/openshift-cnv/hyperconvergeds";
const HCO_PATH: &str =
    "/apis/hco.kubevirt.io/v1beta1/namespaces/openshift-cnv/hyperconvergeds/kubevirt-hyperconverged";
const CRONS: &str = "/apis/cdi.kubevirt.io/v1beta1/dataimportcrons";
const REMOVED_CRON: &str = "opensuse-image-cron";
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);

/// A DataImportCron the module plans to create for the example.
#[derive(Debug, Clone)]
struct ExpectedCron {
    namespace: String,
    name: String,
    labels: serde_json::Map<String, Value>,
}

fn example_hyperconverged() -> Value {
    serde_yaml::from_str(EXAMPLE_HYPERCONVERGED).expect("example parses")
}

/// Returns the crons the module creates from the example alone.
fn expected_crons(hyperconverged: &Value) -> Vec<ExpectedCron> {
    let runtime = Runtime::embedded().expect("module loads");
    let request = PlanRequest {
        now: Some("2026-01-01T00:00:00Z".into()),
        stages: Some(vec![Stage::Templates, Stage::Crons]),
        admission_defaults: Some(true),
        objects: vec![hyperconverged.clone()],
        ..PlanRequest::default()
    };
    let plan: Plan = runtime
        .call_json(op::PLAN, &request)
        .expect("module call")
        .expect("plan");
    plan.actions
        .iter()
        .filter(|a| a.action == ActionKind::Create && a.object.kind == "DataImportCron")
        .map(|a| ExpectedCron {
            namespace: a.object.namespace.clone().unwrap_or_default(),
            name: a.object.name.clone(),
            labels: a
                .body
                .as_ref()
                .and_then(|b| b.pointer("/metadata/labels"))
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
        })
        .collect()
}

fn fast_settings() -> Settings {
    Settings {
        retry: RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            request_timeout: Duration::from_millis(500),
        },
        debounce: Duration::from_millis(50),
        ..Settings::default()
    }
}

struct Running {
    controller: Arc<Controller>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), bootsource::controller::Error>>,
}

impl Running {
    async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let result = (&mut self.task).await.expect("controller task");
        assert!(result.is_ok(), "controller ended with {result:?}");
    }
}

fn start(api: &FakeApiServer, settings: Settings) -> Running {
    let runtime = Runtime::embedded().expect("module loads");
    let controller = Controller::new(api.client(), runtime, settings);
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller.clone().run(async move {
        let _ = stopped.await;
    }));
    Running {
        controller,
        stop: Some(stop),
        task,
    }
}

async fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    support::poll_until(what, CONVERGE_TIMEOUT, condition).await;
}

fn find_cron<'a>(crons: &'a [Value], expected: &ExpectedCron) -> Option<&'a Value> {
    crons.iter().find(|c| {
        c.pointer("/metadata/name").and_then(Value::as_str) == Some(expected.name.as_str())
            && c.pointer("/metadata/namespace").and_then(Value::as_str)
                == Some(expected.namespace.as_str())
    })
}

fn converged(api: &FakeApiServer, expected: &[ExpectedCron]) -> bool {
    let crons = api.objects(CRONS);
    let all_crons = expected.iter().all(|e| find_cron(&crons, e).is_some());
    let status = api
        .get(HCO_PATH)
        .and_then(|hc| hc.pointer("/status/dataImportCronTemplates").cloned())
        .is_some();
    all_crons && status
}

/// Starts a fake with the example HyperConverged and the expected crons.
async fn example_cluster() -> (FakeApiServer, Vec<ExpectedCron>) {
    let api = FakeApiServer::start().await;
    let hyperconverged = example_hyperconverged();
    let expected = expected_crons(&hyperconverged);
    api.seed(HCO_COLLECTION, hyperconverged);
    (api, expected)
}

fn writes(log: &[support::fake_apiserver::Logged]) -> Vec<String> {
    log.iter()
        .filter(|l| l.method != Method::GET)
        .map(|l| format!("{} {} -> {}", l.method, l.path, l.status))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn example_converges_then_idles() {
    let (api, expected) = example_cluster().await;
    assert!(expected.len() >= 2, "the example plans crons: {expected:?}");
    let running = start(&api, fast_settings());

    wait_until("the crons and status exist", || converged(&api, &expected)).await;

    let crons = api.objects(CRONS);
    for cron in &expected {
        let stored = find_cron(&crons, cron).expect("cron exists");
        let labels = stored
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        for (key, value) in &cron.labels {
            assert_eq!(
                labels.and_then(|l| l.get(key)),
                Some(value),
                "label {key} of {}",
                cron.name
            );
        }
    }
    let hc = api.get(HCO_PATH).expect("HyperConverged exists");
    let listed = hc
        .pointer("/status/dataImportCronTemplates")
        .and_then(Value::as_array)
        .map_or(0, Vec::len);
    assert!(listed >= expected.len(), "status lists {listed} templates");

    // Let the watch events of the controller's own writes arrive, then a
    // reconcile must find nothing to do.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = api.log().len();
    let outcome = running.controller.reconcile().await.expect("reconcile");
    assert_eq!(outcome.writes, 0, "second reconcile wrote");
    let later = api.log().split_off(before);
    assert_eq!(writes(&later), Vec::<String>::new());
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_still_converge_without_loss() {
    let (api, expected) = example_cluster().await;
    api.inject(Method::POST, "dataimportcrons", 3, FaultKind::Conflict);
    api.inject(
        Method::POST,
        "dataimportcrons",
        2,
        FaultKind::Delay(Duration::from_millis(1500)),
    );
    api.inject(Method::PATCH, "hyperconvergeds", 2, FaultKind::ServerError);
    api.inject(Method::PATCH, "ssps", 1, FaultKind::ServerError);
    api.inject(Method::POST, "datasources", 1, FaultKind::ServerError);
    let running = start(&api, fast_settings());

    wait_until("the crons and status exist", || converged(&api, &expected)).await;
    wait_until("every fault was used", || api.pending_faults() == 0).await;

    assert_eq!(api.faults_used(), 9, "faulted requests");
    let log = api.log();
    let injected_conflict = log.iter().any(|l| l.faulted && l.status == 409);
    assert!(injected_conflict, "no injected 409 was served");
    let deletes: Vec<_> = log.iter().filter(|l| l.method == Method::DELETE).collect();
    assert!(deletes.is_empty(), "objects were deleted: {deletes:?}");
    let crons = api.objects(CRONS);
    assert_eq!(crons.len(), expected.len(), "cron count");

    tokio::time::sleep(Duration::from_millis(500)).await;
    let outcome = running.controller.reconcile().await.expect("reconcile");
    assert_eq!(outcome.writes, 0, "reconcile after the faults wrote");
    running.stop().await;
}

/// Removes the user-defined template from the example HyperConverged.
fn remove_custom_template(api: &FakeApiServer) {
    let hc = api.get(HCO_PATH).expect("HyperConverged exists");
    let kept: Vec<Value> = hc
        .pointer("/spec/dataImportCronTemplates")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|t| t.pointer("/metadata/name").and_then(Value::as_str) != Some(REMOVED_CRON))
        .cloned()
        .collect();
    api.patch(
        HCO_PATH,
        &json!({"spec": {"dataImportCronTemplates": kept}}),
    );
}

/// Returns true once the log shows an accepted delete of the removed cron.
/// The fake logs a request after the change, so the log can lag behind.
fn accepted_delete_logged(api: &FakeApiServer) -> bool {
    api.log()
        .iter()
        .any(|l| l.method == Method::DELETE && l.path.ends_with(REMOVED_CRON) && l.status == 200)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn removed_template_deletes_its_cron() {
    let (api, expected) = example_cluster().await;
    assert!(
        expected.iter().any(|c| c.name == REMOVED_CRON),
        "the example plans {REMOVED_CRON}"
    );
    let running = start(&api, fast_settings());
    wait_until("the crons and status exist", || converged(&api, &expected)).await;
    let live = api
        .objects(CRONS)
        .into_iter()
        .find(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(REMOVED_CRON))
        .expect("cron exists");

    remove_custom_template(&api);
    let gone = |api: &FakeApiServer| {
        !api.objects(CRONS)
            .iter()
            .any(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(REMOVED_CRON))
    };
    wait_until("the cron of the removed template is gone", || gone(&api)).await;

    let remaining = api.objects(CRONS);
    for cron in expected.iter().filter(|c| c.name != REMOVED_CRON) {
        assert!(
            find_cron(&remaining, cron).is_some(),
            "{} was lost",
            cron.name
        );
    }
    wait_until("the delete is logged", || accepted_delete_logged(&api)).await;
    let delete = api
        .log()
        .into_iter()
        .find(|l| l.method == Method::DELETE && l.path.ends_with(REMOVED_CRON))
        .unwrap_or_else(|| panic!("no delete request in {:?}", writes(&api.log())));
    let options: Value = serde_json::from_str(&delete.body).expect("delete options are JSON");
    assert_eq!(
        options.pointer("/preconditions/uid"),
        live.pointer("/metadata/uid"),
        "uid precondition"
    );
    assert!(
        options.pointer("/preconditions/resourceVersion").is_some(),
        "resourceVersion precondition: {options}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stale_delete_is_reread_and_retried() {
    let (api, expected) = example_cluster().await;
    let running = start(&api, fast_settings());
    wait_until("the crons and status exist", || converged(&api, &expected)).await;

    // Another writer changes the cron just before the controller's delete
    // arrives, so the delete's resourceVersion precondition is stale.
    api.inject(Method::DELETE, REMOVED_CRON, 1, FaultKind::TouchFirst);
    remove_custom_template(&api);
    wait_until("the cron of the removed template is gone", || {
        !api.objects(CRONS)
            .iter()
            .any(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(REMOVED_CRON))
    })
    .await;
    wait_until("the delete is logged", || accepted_delete_logged(&api)).await;

    let log = api.log();
    let for_cron: Vec<_> = log
        .iter()
        .filter(|l| l.path.ends_with(REMOVED_CRON))
        .collect();
    let refused = for_cron
        .iter()
        .position(|l| l.method == Method::DELETE && l.status == 409)
        .expect("the stale delete was refused");
    let reread = for_cron[refused..]
        .iter()
        .position(|l| l.method == Method::GET && l.status == 200);
    assert!(
        reread.is_some(),
        "no re-read after the refusal: {for_cron:?}"
    );
    let accepted = for_cron[refused..]
        .iter()
        .any(|l| l.method == Method::DELETE && l.status == 200);
    assert!(
        accepted,
        "no accepted delete after the refusal: {for_cron:?}"
    );
    let remaining = api.objects(CRONS);
    assert_eq!(remaining.len(), expected.len() - 1, "cron count");
    running.stop().await;
}

/// Sends a GET over HTTP/1.1 and returns the status code and body.
async fn http_get(address: std::net::SocketAddr, path: &str) -> (u16, String) {
    let mut stream = tokio::net::TcpStream::connect(address)
        .await
        .expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut response = String::new();
    stream.read_to_string(&mut response).await.expect("read");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

fn free_address() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("address")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_endpoint_reports_reconciles() {
    let (api, expected) = example_cluster().await;
    let address = free_address();
    let settings = Settings {
        metrics_addr: Some(address),
        ..fast_settings()
    };
    let running = start(&api, settings);
    wait_until("the crons and status exist", || converged(&api, &expected)).await;

    // CDI would write the import time; the fake writes it instead.
    let cron = &expected[0];
    let cron_path = format!(
        "/apis/cdi.kubevirt.io/v1beta1/namespaces/{}/dataimportcrons/{}",
        cron.namespace, cron.name
    );
    api.patch(
        &cron_path,
        &json!({"status": {
            "lastImportTimestamp": "2026-01-01T00:00:00Z",
            "conditions": [{"type": "UpToDate", "status": "True"}],
        }}),
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.controller.reconcile().await.expect("reconcile");

    let (status, health) = http_get(address, "/healthz").await;
    assert_eq!(status, 200, "healthz: {health}");
    let (status, ready) = http_get(address, "/readyz").await;
    assert_eq!(status, 200, "readyz: {ready}");
    let (status, text) = http_get(address, "/metrics").await;
    assert_eq!(status, 200, "metrics status");
    for family in [
        "bootsource_reconcile_duration_seconds_count",
        "bootsource_module_call_duration_seconds_count",
        "bootsource_reconcile_errors_total",
    ] {
        assert!(text.contains(family), "{family} missing from:\n{text}");
    }
    let outdated = format!("bootsource_boot_sources_outdated {}", expected.len() - 1);
    assert!(
        text.contains(&outdated),
        "expected `{outdated}` in:\n{text}"
    );
    let managed = api
        .get(&cron_path)
        .and_then(|c| c.pointer("/spec/managedDataSource").cloned())
        .and_then(|v| v.as_str().map(str::to_string))
        .expect("cron names its DataSource");
    let age_line = text
        .lines()
        .find(|l| {
            l.starts_with("bootsource_data_source_last_import_age_seconds{")
                && l.contains(&format!("data_source=\"{managed}\""))
        })
        .unwrap_or_else(|| panic!("no import age for {managed} in:\n{text}"));
    let age: f64 = age_line
        .rsplit(' ')
        .next()
        .and_then(|v| v.parse().ok())
        .expect("numeric age");
    assert!(age > 0.0, "import age {age}");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn leader_election_takes_free_lease() {
    let (api, expected) = example_cluster().await;
    let mut lease = LeaseSettings::new(
        "bootsource-controller".into(),
        "default".into(),
        "replica-a".into(),
    );
    lease.retry_period = Duration::from_millis(200);
    let settings = Settings {
        lease: Some(lease),
        ..fast_settings()
    };
    let running = start(&api, settings);
    wait_until("the crons and status exist", || converged(&api, &expected)).await;
    let stored = api
        .get("/apis/coordination.k8s.io/v1/namespaces/default/leases/bootsource-controller")
        .expect("lease exists");
    assert_eq!(
        stored
            .pointer("/spec/holderIdentity")
            .and_then(Value::as_str),
        Some("replica-a")
    );
    running.stop().await;
}

/// Stores the controller's Lease as held by `replica-b`, renewed now and
/// valid for an hour.
fn seed_lease_held_by_replica_b(api: &FakeApiServer) {
    let renewed = chrono::Utc::now()
        .format("%Y-%m-%dT%H:%M:%S%.6fZ")
        .to_string();
    api.seed(
        "/apis/coordination.k8s.io/v1/namespaces/default/leases",
        json!({
            "apiVersion": "coordination.k8s.io/v1",
            "kind": "Lease",
            "metadata": {"name": "bootsource-controller"},
            "spec": {"holderIdentity": "replica-b", "leaseDurationSeconds": 3600, "renewTime": renewed},
        }),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn held_lease_blocks_reconciles() {
    let (api, _expected) = example_cluster().await;
    seed_lease_held_by_replica_b(&api);
    let mut lease = LeaseSettings::new(
        "bootsource-controller".into(),
        "default".into(),
        "replica-a".into(),
    );
    lease.retry_period = Duration::from_millis(100);
    let settings = Settings {
        lease: Some(lease),
        ..fast_settings()
    };
    let running = start(&api, settings);
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(writes(&api.log()), Vec::<String>::new());
    running.stop().await;
}

// ---------- Kubernetes Events ----------

const IMAGES_NS: &str = "os-images";
const EVENTS: &str = "/apis/events.k8s.io/v1/events";
const ALREADY_MANAGED: &str = "ErrDataSourceAlreadyManaged";

fn import_cron(name: &str, data_source: &str) -> Value {
    json!({
        "apiVersion": "cdi.kubevirt.io/v1beta1",
        "kind": "DataImportCron",
        "metadata": {"name": name, "namespace": IMAGES_NS},
        "spec": {
            "managedDataSource": data_source,
            "schedule": "",
            "template": {"spec": {
                "source": {"registry": {"url": "docker://registry.example/fedora:41"}},
                "storage": {"resources": {"requests": {"storage": "5Gi"}}}
            }}
        }
    })
}

/// Starts a fake where two crons name one DataSource that the first one
/// manages, so the imports stage warns about the second. Returns the
/// second cron as stored.
async fn shared_data_source_cluster() -> (FakeApiServer, Value) {
    let api = FakeApiServer::start().await;
    let crons = format!("/apis/cdi.kubevirt.io/v1beta1/namespaces/{IMAGES_NS}/dataimportcrons");
    api.seed(&crons, import_cron("cron-a", "ds"));
    let second = api.seed(&crons, import_cron("cron-b", "ds"));
    api.seed(
        &format!("/apis/cdi.kubevirt.io/v1beta1/namespaces/{IMAGES_NS}/datasources"),
        json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataSource",
            "metadata": {"name": "ds", "labels": {"cdi.kubevirt.io/dataImportCron": "cron-a"}},
            "spec": {"source": {}}
        }),
    );
    api.seed(
        "/apis/storage.k8s.io/v1/storageclasses",
        json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "standard",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "example.com/csi"
        }),
    );
    (api, second)
}

fn imports_settings() -> Settings {
    Settings {
        stages: vec![Stage::Imports],
        ..fast_settings()
    }
}

fn events_with_reason(api: &FakeApiServer, reason: &str) -> Vec<Value> {
    api.objects(EVENTS)
        .into_iter()
        .filter(|e| e.get("reason").and_then(Value::as_str) == Some(reason))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_event_becomes_kubernetes_event() {
    let (api, second) = shared_data_source_cluster().await;
    let running = start(&api, imports_settings());
    wait_until("the warning is recorded", || {
        !events_with_reason(&api, ALREADY_MANAGED).is_empty()
    })
    .await;

    let event = events_with_reason(&api, ALREADY_MANAGED).remove(0);
    let text = |pointer: &str| event.pointer(pointer).and_then(Value::as_str);
    assert_eq!(text("/type"), Some("Warning"), "type: {event}");
    assert_eq!(
        text("/reportingController"),
        Some("bootsource"),
        "reporting controller: {event}"
    );
    assert_eq!(text("/regarding/kind"), Some("DataImportCron"), "{event}");
    assert_eq!(text("/regarding/name"), Some("cron-b"), "{event}");
    assert_eq!(text("/regarding/namespace"), Some(IMAGES_NS), "{event}");
    assert_eq!(
        event.pointer("/regarding/uid"),
        second.pointer("/metadata/uid"),
        "regarding uid: {event}"
    );
    assert_eq!(
        text("/metadata/namespace"),
        Some(IMAGES_NS),
        "Event namespace: {event}"
    );
    assert_eq!(
        text("/note"),
        Some("DataSource ds is already managed by DataImportCron cron-a"),
        "note: {event}"
    );
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn repeated_event_counts_one_series() {
    let (api, _second) = shared_data_source_cluster().await;
    let running = start(&api, imports_settings());
    wait_until("the warning is recorded", || {
        !events_with_reason(&api, ALREADY_MANAGED).is_empty()
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    running.controller.reconcile().await.expect("reconcile");

    let events = events_with_reason(&api, ALREADY_MANAGED);
    assert_eq!(events.len(), 1, "Event objects: {events:?}");
    let count = events[0]
        .pointer("/series/count")
        .and_then(Value::as_i64)
        .unwrap_or(1);
    assert!(count >= 2, "series count {count}: {:?}", events[0]);
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_event_write_keeps_reconcile_ok() {
    let (api, _second) = shared_data_source_cluster().await;
    api.inject(Method::POST, "/events", 1000, FaultKind::ServerError);
    let running = start(&api, imports_settings());
    wait_until("an event write was refused", || api.faults_used() > 0).await;

    let outcome = running.controller.reconcile().await;
    assert!(outcome.is_ok(), "reconcile: {outcome:?}");
    assert_eq!(
        running.controller.metrics().reconcile_errors.get(),
        0,
        "failed reconciles"
    );
    assert_eq!(api.objects(EVENTS), Vec::<Value>::new());
    running.stop().await;
}

// ---------- readiness ----------

/// Sends a GET, or returns None while nothing listens.
async fn probe(address: std::net::SocketAddr, path: &str) -> Option<u16> {
    tokio::net::TcpStream::connect(address).await.ok()?;
    Some(http_get(address, path).await.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readyz_waits_for_first_sync() {
    let (api, _expected) = example_cluster().await;
    // The response to the first list of StorageClasses is held for 3 s.
    api.inject(
        Method::GET,
        "storageclasses",
        1,
        FaultKind::Delay(Duration::from_secs(3)),
    );
    let address = free_address();
    let settings = Settings {
        metrics_addr: Some(address),
        ..fast_settings()
    };
    let running = start(&api, settings);
    let deadline = tokio::time::Instant::now() + CONVERGE_TIMEOUT;
    while probe(address, "/healthz").await.is_none() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "metrics never served"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    wait_until("the list is held", || api.faults_used() == 1).await;

    assert_eq!(
        probe(address, "/readyz").await,
        Some(503),
        "readyz while listing"
    );
    assert_eq!(
        probe(address, "/healthz").await,
        Some(200),
        "healthz while listing"
    );
    assert!(
        !running.controller.synced(),
        "synced before the held list ended"
    );

    wait_until("the watches synced", || running.controller.synced()).await;
    let mut ready = probe(address, "/readyz").await;
    while ready != Some(200) && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
        ready = probe(address, "/readyz").await;
    }
    assert_eq!(ready, Some(200), "readyz after the sync");
    assert_eq!(
        probe(address, "/healthz").await,
        Some(200),
        "healthz after the sync"
    );
    running.stop().await;
}

// ---------- two replicas ----------

const LEASE_PATH: &str =
    "/apis/coordination.k8s.io/v1/namespaces/default/leases/bootsource-controller";
const LEASE_DURATION: Duration = Duration::from_secs(2);

fn replica_settings(identity: &str) -> Settings {
    let mut lease = LeaseSettings::new(
        "bootsource-controller".into(),
        "default".into(),
        identity.into(),
    );
    lease.duration = LEASE_DURATION;
    lease.retry_period = Duration::from_millis(100);
    Settings {
        lease: Some(lease),
        ..fast_settings()
    }
}

fn start_replica(api: &FakeApiServer, identity: &str) -> Running {
    let runtime = Runtime::embedded().expect("module loads");
    let controller = Controller::new(api.client_as(identity), runtime, replica_settings(identity));
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let task = tokio::spawn(controller.clone().run(async move {
        let _ = stopped.await;
    }));
    Running {
        controller,
        stop: Some(stop),
        task,
    }
}

fn lease_holder(api: &FakeApiServer) -> Option<String> {
    api.get(LEASE_PATH)?
        .pointer("/spec/holderIdentity")?
        .as_str()
        .map(str::to_string)
}

/// Returns the writes in `log` sent by `client`.
fn writes_by(log: &[support::fake_apiserver::Logged], client: &str) -> Vec<String> {
    let mine: Vec<_> = log.iter().filter(|l| l.client == client).cloned().collect();
    writes(&mine)
}

fn cron_gone(api: &FakeApiServer, name: &str) -> bool {
    !api.objects(CRONS)
        .iter()
        .any(|c| c.pointer("/metadata/name").and_then(Value::as_str) == Some(name))
}

/// Starts replica a, lets it converge, starts replica b and checks that b
/// only waits. Returns both.
async fn two_replicas(api: &FakeApiServer, expected: &[ExpectedCron]) -> (Running, Running) {
    let first = start_replica(api, "replica-a");
    wait_until("the crons and status exist", || converged(api, expected)).await;
    let second = start_replica(api, "replica-b");
    tokio::time::sleep(Duration::from_secs(1)).await;

    let log = api.log();
    assert!(
        !writes_by(&log, "replica-a").is_empty(),
        "the leader wrote nothing"
    );
    assert_eq!(writes_by(&log, "replica-b"), Vec::<String>::new());
    assert!(
        log.iter().any(|l| l.client == "replica-b"),
        "the waiting replica sent no request"
    );
    assert_eq!(lease_holder(api).as_deref(), Some("replica-a"));
    (first, second)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopped_leader_hands_over_lease() {
    let (api, expected) = example_cluster().await;
    let (first, second) = two_replicas(&api, &expected).await;

    first.stop().await;
    let stopped_at = api.log().len();
    let stopped = tokio::time::Instant::now();
    wait_until("replica b holds the lease", || {
        lease_holder(&api).as_deref() == Some("replica-b")
    })
    .await;
    let takeover = stopped.elapsed();
    assert!(
        takeover < LEASE_DURATION,
        "takeover took {takeover:?}, not less than the lease duration"
    );

    remove_custom_template(&api);
    wait_until("replica b deleted the removed cron", || {
        cron_gone(&api, REMOVED_CRON)
    })
    .await;
    wait_until("the delete is logged", || accepted_delete_logged(&api)).await;
    let after = api.log().split_off(stopped_at);
    assert_eq!(writes_by(&after, "replica-a"), Vec::<String>::new());
    let deleted_by_b = after.iter().any(|l| {
        l.method == Method::DELETE && l.path.ends_with(REMOVED_CRON) && l.client == "replica-b"
    });
    assert!(
        deleted_by_b,
        "replica b did not delete: {:?}",
        writes(&after)
    );
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborted_leader_replaced_after_expiry() {
    let (api, expected) = example_cluster().await;
    let (first, second) = two_replicas(&api, &expected).await;

    let aborted = tokio::time::Instant::now();
    first.task.abort();
    let _ = first.task.await;
    // A renewal already sent when the task was aborted still completes at
    // the server; give it time to land before the log is cut.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let aborted_at = api.log().len();
    wait_until("replica b holds the lease", || {
        lease_holder(&api).as_deref() == Some("replica-b")
    })
    .await;
    let takeover = aborted.elapsed();
    assert!(
        takeover >= Duration::from_secs(1),
        "took over after {takeover:?}, before the lease expired"
    );

    remove_custom_template(&api);
    wait_until("replica b deleted the removed cron", || {
        cron_gone(&api, REMOVED_CRON)
    })
    .await;
    wait_until("the delete is logged", || accepted_delete_logged(&api)).await;
    let after = api.log().split_off(aborted_at);
    assert_eq!(writes_by(&after, "replica-a"), Vec::<String>::new());
    second.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_keeps_other_replicas_lease() {
    let (api, _expected) = example_cluster().await;
    seed_lease_held_by_replica_b(&api);
    let waiting = start_replica(&api, "replica-a");
    tokio::time::sleep(Duration::from_millis(500)).await;
    waiting.stop().await;

    assert_eq!(lease_holder(&api).as_deref(), Some("replica-b"));
    assert_eq!(writes_by(&api.log(), "replica-a"), Vec::<String>::new());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unserved_resource_reads_as_none() {
    let (api, expected) = example_cluster().await;
    // No VolumeSnapshot CRD: every list of them returns 404, as a cluster
    // without the external snapshotter does.
    api.inject(
        Method::GET,
        "volumesnapshots",
        1_000_000,
        FaultKind::NotServed,
    );
    let settings = Settings {
        stages: vec![Stage::Templates, Stage::Crons, Stage::Imports],
        ..fast_settings()
    };
    let running = start(&api, settings);
    wait_until("the crons and status exist", || converged(&api, &expected)).await;
    assert!(running.controller.synced(), "the first sync never ended");
    let snapshot_lists = api
        .log()
        .iter()
        .filter(|l| l.method == Method::GET && l.path.contains("volumesnapshots"))
        .count();
    assert!(snapshot_lists >= 1, "VolumeSnapshots were never listed");
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_hyperconverged_is_idle() {
    let api = FakeApiServer::start().await;
    let running = start(&api, fast_settings());
    wait_until("the first sync ends", || running.controller.synced()).await;
    let outcome = running
        .controller
        .reconcile()
        .await
        .expect("a cluster without a HyperConverged is not an error");
    assert_eq!(outcome.writes, 0);
    assert_eq!(writes(&api.log()), Vec::<String>::new());

    // Once HCO creates its CR, the controller acts on it.
    let hyperconverged = example_hyperconverged();
    let expected = expected_crons(&hyperconverged);
    api.seed(HCO_COLLECTION, hyperconverged);
    wait_until("the crons and status exist", || converged(&api, &expected)).await;
    running.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_names_never_reach_requests() {
    let api = FakeApiServer::start().await;
    let bad_name = "../../../../api/v1/namespaces/kube-system/configmaps/x";
    let mut hyperconverged = example_hyperconverged();
    let templates = hyperconverged
        .pointer_mut("/spec/dataImportCronTemplates")
        .and_then(Value::as_array_mut)
        .expect("the example has templates");
    templates.push(json!({
        "metadata": {"name": "escape-image-cron"},
        "spec": {
            "managedDataSource": bad_name,
            "schedule": "0 0 1 1 *",
            "template": {"spec": {
                "source": {"registry": {"url": "docker://quay.io/containerdisks/fedora:latest"}},
                "storage": {}
            }}
        }
    }));
    let expected = expected_crons(&hyperconverged);
    api.seed(HCO_COLLECTION, hyperconverged);
    let settings = Settings {
        stages: vec![Stage::Templates, Stage::Crons, Stage::Imports],
        ..fast_settings()
    };
    let running = start(&api, settings);
    wait_until("the crons and status exist", || converged(&api, &expected)).await;
    running.controller.reconcile().await.expect("reconcile");
    let reached: Vec<String> = api
        .log()
        .iter()
        // The HyperConverged status, the SSP and the cron carry the name
        // as a value; only a request for the DataSource itself may not.
        .filter(|l| {
            l.path.contains("..") || (l.path.ends_with("/datasources") && l.body.contains(bad_name))
        })
        .map(|l| format!("{} {}", l.method, l.path))
        .collect();
    assert_eq!(reached, Vec::<String>::new());
    running.stop().await;
}
