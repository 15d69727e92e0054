//! The controller with the imports stage against the fake API server and a
//! real registry (Debian's `docker-registry` on 127.0.0.1). Covered: polls,
//! imports through a fake CDI importer, repointing on a new digest, garbage
//! collection, a registry outage, injected API faults and restarts.

mod support;

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bootsource::controller::apply::RetryPolicy;
use bootsource::controller::polls::{Clock, PollRetry};
use bootsource::controller::{Controller, Settings};
use bootsource::registry::RegistryConfig;
use bootsource::runtime::Runtime;
use bootsource_guest::contract::Stage;
use hyper::Method;
use serde_json::{json, Value};
use support::fake_apiserver::{FakeApiServer, FaultKind};
use support::fake_cdi;

// This binary uses a part of the registry support.
#[allow(dead_code)]
#[path = "support/registry.rs"]
mod registry;
use registry::{build_containerdisk, push, Registry, REPOSITORY};

const CRON_PATH: &str =
    "/apis/cdi.kubevirt.io/v1beta1/namespaces/kubevirt-os-images/dataimportcrons/testdisk-image-cron";
const DATA_SOURCE_PATH: &str =
    "/apis/cdi.kubevirt.io/v1beta1/namespaces/kubevirt-os-images/datasources/testdisk";
const DATA_VOLUMES: &str = "/apis/cdi.kubevirt.io/v1beta1/datavolumes";
const PVCS: &str = "/api/v1/persistentvolumeclaims";
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);
const YEAR_SECONDS: i64 = 366 * 24 * 3600;

fn scratch(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("bootsource-ctrl-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

/// Returns a HyperConverged with one custom template on the test registry, polled
/// once a year, keeping one import.
fn hyperconverged(registry: &Registry) -> Value {
    json!({
        "apiVersion": "hco.kubevirt.io/v1beta1",
        "kind": "HyperConverged",
        "metadata": {"name": "kubevirt-hyperconverged", "namespace": "kubevirt-hyperconverged"},
        "spec": {
            "enableCommonBootImageImport": false,
            "dataImportCronTemplates": [{
                "metadata": {"name": "testdisk-image-cron"},
                "spec": {
                    "managedDataSource": "testdisk",
                    "schedule": "0 0 1 1 *",
                    "importsToKeep": 1,
                    "template": {"spec": {
                        "source": {"registry": {
                            "url": format!("docker://{}/{REPOSITORY}:latest", registry.host()),
                        }},
                        "storage": {"resources": {"requests": {"storage": "1Gi"}}},
                    }},
                },
            }],
        },
    })
}

/// Stores a default StorageClass, so that import PVCs can bind.
fn seed_default_storage_class(api: &FakeApiServer) {
    api.seed(
        "/apis/storage.k8s.io/v1/storageclasses",
        json!({
            "apiVersion": "storage.k8s.io/v1",
            "kind": "StorageClass",
            "metadata": {
                "name": "local",
                "annotations": {"storageclass.kubernetes.io/is-default-class": "true"},
            },
            "provisioner": "example.com/local",
        }),
    );
}

/// Starts a fake API with the HyperConverged and a default StorageClass.
async fn cluster(registry: &Registry) -> Arc<FakeApiServer> {
    let api = Arc::new(FakeApiServer::start().await);
    api.seed(
        "/apis/hco.kubevirt.io/v1beta1/namespaces/kubevirt-hyperconverged/hyperconvergeds",
        hyperconverged(registry),
    );
    seed_default_storage_class(&api);
    api
}

/// Returns a clock that runs with the system clock plus an offset the
/// test moves.
fn shifted_clock() -> (Clock, Arc<AtomicI64>) {
    let offset = Arc::new(AtomicI64::new(0));
    let read = offset.clone();
    let clock = Clock::new(move || {
        chrono::Utc::now() + chrono::Duration::seconds(read.load(Ordering::SeqCst))
    });
    (clock, offset)
}

fn settings(registry: &Registry, clock: Clock) -> Settings {
    Settings {
        stages: vec![Stage::Templates, Stage::Crons, Stage::Imports],
        retry: RetryPolicy {
            max_attempts: 8,
            initial_delay: Duration::from_millis(20),
            max_delay: Duration::from_millis(200),
            request_timeout: Duration::from_millis(500),
        },
        debounce: Duration::from_millis(50),
        registry: RegistryConfig {
            insecure: vec![registry.host()],
            timeout: Duration::from_secs(2),
            ..RegistryConfig::default()
        },
        poll_retry: PollRetry {
            base: Duration::from_millis(300),
            cap: Duration::from_secs(1),
        },
        clock,
        ..Settings::default()
    }
}

struct Running {
    controller: Arc<Controller>,
    task: tokio::task::JoinHandle<Result<(), bootsource::controller::Error>>,
}

fn start(api: &FakeApiServer, settings: Settings) -> Running {
    let runtime = Runtime::embedded().expect("module loads");
    let controller = Controller::new(api.client(), runtime, settings);
    let task = tokio::spawn(controller.clone().run(std::future::pending()));
    Running { controller, task }
}

async fn wait_until(what: &str, condition: impl FnMut() -> bool) {
    support::poll_until(what, CONVERGE_TIMEOUT, condition).await;
}

fn import_name(digest: &str) -> String {
    format!("testdisk-{}", &digest.trim_start_matches("sha256:")[..12])
}

fn data_source_target(api: &FakeApiServer) -> Option<String> {
    api.get(DATA_SOURCE_PATH)?
        .pointer("/spec/source/pvc/name")?
        .as_str()
        .map(str::to_string)
}

fn names(api: &FakeApiServer, collection: &str) -> Vec<String> {
    api.objects(collection)
        .iter()
        .filter_map(|o| o.pointer("/metadata/name").and_then(Value::as_str))
        .map(str::to_string)
        .collect()
}

fn polled_condition(api: &FakeApiServer) -> Value {
    api.get(CRON_PATH)
        .and_then(|cron| {
            cron.pointer("/status/conditions")
                .and_then(Value::as_array)
                .and_then(|list| list.iter().find(|c| c["type"] == "Polled").cloned())
        })
        .unwrap_or(Value::Null)
}

fn digest_annotation(api: &FakeApiServer) -> Option<String> {
    api.get(CRON_PATH)?
        .pointer("/metadata/annotations")?
        .get("cdi.kubevirt.io/storage.import.sourceDesiredDigest")?
        .as_str()
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn registry_updates_repoint_and_outage_keeps() {
    let dir = scratch("update");
    let mut registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (_, digest_v1) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "latest");
    let api = cluster(&registry).await;
    let _importer = fake_cdi::start(api.clone());
    api.inject(Method::POST, "datavolumes", 2, FaultKind::Conflict);
    api.inject(Method::PATCH, "dataimportcrons", 2, FaultKind::ServerError);
    api.inject(
        Method::PATCH,
        "dataimportcrons/testdisk-image-cron",
        1,
        FaultKind::Delay(Duration::from_millis(1500)),
    );
    api.inject(Method::POST, "datasources", 1, FaultKind::ServerError);
    let (clock, offset) = shifted_clock();
    let running = start(&api, settings(&registry, clock));

    // First import: the DataSource points at the import of the pushed
    // digest.
    let first = import_name(&digest_v1);
    wait_until("the DataSource points at the first import", || {
        data_source_target(&api).as_deref() == Some(first.as_str())
    })
    .await;
    assert_eq!(digest_annotation(&api), Some(digest_v1.clone()));
    assert_eq!(polled_condition(&api)["status"], "True");
    assert_eq!(api.pending_faults(), 0, "faults left unused");

    // New content under the same tag, and a year later the poll is due:
    // the new import is made, the DataSource repointed, the old one
    // collected.
    let (_, digest_v2) = build_containerdisk(&dir, &layout, "v2", "6M");
    assert_ne!(digest_v1, digest_v2);
    push(&layout, "v2", &registry, "latest");
    api.inject(Method::DELETE, "datavolumes", 1, FaultKind::ServerError);
    api.inject(Method::PATCH, "datasources", 1, FaultKind::Conflict);
    offset.store(YEAR_SECONDS, Ordering::SeqCst);
    running.controller.reconcile().await.expect("reconcile");
    let second = import_name(&digest_v2);
    wait_until("the DataSource points at the second import", || {
        data_source_target(&api).as_deref() == Some(second.as_str())
    })
    .await;
    wait_until("the first import is collected", || {
        !names(&api, DATA_VOLUMES).contains(&first) && !names(&api, PVCS).contains(&first)
    })
    .await;
    assert_eq!(names(&api, DATA_VOLUMES), vec![second.clone()]);
    assert_eq!(digest_annotation(&api), Some(digest_v2.clone()));
    assert_eq!(
        api.pending_faults(),
        0,
        "faults left unused after the update"
    );

    // Registry down, next poll due: everything is kept, the cron's
    // condition gives the cause, and the failed poll is retried without
    // any outside event.
    registry.stop();
    let deletes_before = api
        .log()
        .iter()
        .filter(|l| l.method == Method::DELETE)
        .count();
    offset.store(2 * YEAR_SECONDS, Ordering::SeqCst);
    running.controller.reconcile().await.expect("reconcile");
    wait_until("the failed poll is retried", || {
        polled_condition(&api)["message"]
            .as_str()
            .is_some_and(|m| m.contains("attempt 2"))
    })
    .await;
    let polled = polled_condition(&api);
    assert_eq!(polled["status"], "False", "{polled}");
    assert_eq!(polled["reason"], "PollFailed", "{polled}");
    assert!(
        polled["message"]
            .as_str()
            .is_some_and(|m| m.contains(REPOSITORY)),
        "{polled}"
    );
    assert_eq!(data_source_target(&api), Some(second.clone()));
    assert_eq!(names(&api, DATA_VOLUMES), vec![second.clone()]);
    assert_eq!(names(&api, PVCS), vec![second.clone()]);
    assert_eq!(digest_annotation(&api), Some(digest_v2));
    let deletes_after = api
        .log()
        .iter()
        .filter(|l| l.method == Method::DELETE)
        .count();
    assert_eq!(deletes_after, deletes_before, "deletes during the outage");
    running.task.abort();
}

/// What a converged cluster holds, for comparing runs.
#[derive(Debug, PartialEq, Eq)]
struct Converged {
    data_source_target: Option<String>,
    digest: Option<String>,
    crons: Vec<String>,
    data_sources: Vec<String>,
    data_volumes: Vec<String>,
    pvcs: Vec<String>,
}

fn converged(api: &FakeApiServer) -> Converged {
    Converged {
        data_source_target: data_source_target(api),
        digest: digest_annotation(api),
        crons: names(api, "/apis/cdi.kubevirt.io/v1beta1/dataimportcrons"),
        data_sources: names(api, "/apis/cdi.kubevirt.io/v1beta1/datasources"),
        data_volumes: names(api, DATA_VOLUMES),
        pvcs: names(api, PVCS),
    }
}

/// Accepted writes so far.
fn accepted_writes(api: &FakeApiServer) -> usize {
    api.log()
        .iter()
        .filter(|l| l.method != Method::GET && l.status < 300)
        .count()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restarted_controller_converges_the_same() {
    let dir = scratch("restart");
    let registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (_, digest) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "latest");
    let expected_target = import_name(&digest);

    let reference = {
        let api = cluster(&registry).await;
        let _importer = fake_cdi::start(api.clone());
        let running = start(&api, settings(&registry, Clock::system()));
        wait_until("the uninterrupted run converges", || {
            data_source_target(&api).as_deref() == Some(expected_target.as_str())
        })
        .await;
        running.task.abort();
        converged(&api)
    };
    assert_eq!(reference.data_volumes, vec![expected_target.clone()]);

    for writes in [2, 6, 10] {
        let api = cluster(&registry).await;
        let _importer = fake_cdi::start(api.clone());
        let first = start(&api, settings(&registry, Clock::system()));
        // Checked often, so that the abort falls close to the count.
        let deadline = tokio::time::Instant::now() + CONVERGE_TIMEOUT;
        while accepted_writes(&api) < writes {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {writes} writes"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        first.task.abort();
        let _ = first.task.await;
        assert_eq!(
            data_source_target(&api),
            None,
            "the abort after {writes} writes came after the import"
        );

        let second = start(&api, settings(&registry, Clock::system()));
        wait_until("the restarted controller converges", || {
            data_source_target(&api).as_deref() == Some(expected_target.as_str())
        })
        .await;
        // Let the last writes and the importer settle before comparing.
        tokio::time::sleep(Duration::from_millis(500)).await;
        assert_eq!(converged(&api), reference, "restart after {writes} writes");
        second.task.abort();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleted_cron_cleans_up_imports() {
    let dir = scratch("deleted-cron");
    let registry = Registry::start(&dir);
    let layout = dir.join("layout");
    let (_, digest) = build_containerdisk(&dir, &layout, "v1", "4M");
    push(&layout, "v1", &registry, "latest");
    let api = Arc::new(FakeApiServer::start().await);
    seed_default_storage_class(&api);
    // A cron of its own, as CDI's users create them: nothing recreates it
    // once it is deleted.
    api.seed(
        "/apis/cdi.kubevirt.io/v1beta1/namespaces/kubevirt-os-images/dataimportcrons",
        json!({
            "apiVersion": "cdi.kubevirt.io/v1beta1",
            "kind": "DataImportCron",
            "metadata": {"name": "testdisk-image-cron"},
            "spec": {
                "managedDataSource": "testdisk",
                "schedule": "0 0 1 1 *",
                "importsToKeep": 1,
                "retentionPolicy": "None",
                "template": {"spec": {
                    "source": {"registry": {
                        "url": format!("docker://{}/{REPOSITORY}:latest", registry.host()),
                    }},
                    "storage": {"resources": {"requests": {"storage": "1Gi"}}},
                }},
            },
        }),
    );
    let _importer = fake_cdi::start(api.clone());
    let settings = Settings {
        stages: vec![Stage::Imports],
        ..settings(&registry, Clock::system())
    };
    let running = start(&api, settings);
    let imported = import_name(&digest);
    wait_until("the DataSource points at the import", || {
        data_source_target(&api).as_deref() == Some(imported.as_str())
    })
    .await;

    // Deleted by another client: only a watch event lets the controller see it.
    assert!(api.delete(CRON_PATH), "the cron existed");
    wait_until("the imports of the deleted cron are gone", || {
        api.get(DATA_SOURCE_PATH).is_none()
            && names(&api, DATA_VOLUMES).is_empty()
            && names(&api, PVCS).is_empty()
    })
    .await;
    let deleted: Vec<String> = api
        .log()
        .iter()
        .filter(|l| l.method == Method::DELETE && l.status == 200)
        .map(|l| l.path.rsplit('/').nth(1).unwrap_or_default().to_string())
        .collect();
    assert!(
        deleted.contains(&"datasources".to_string()),
        "deletes: {deleted:?}"
    );
    running.task.abort();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_during_update_converges() {
    let dir = scratch("restart-update");
    let registry = Registry::start(&dir);
    let layout_v1 = dir.join("layout-v1");
    let layout_v2 = dir.join("layout-v2");
    let (_, digest_v1) = build_containerdisk(&dir, &layout_v1, "v1", "4M");
    let (_, digest_v2) = build_containerdisk(&dir, &layout_v2, "v2", "6M");
    let first = import_name(&digest_v1);
    let second = import_name(&digest_v2);

    for writes in [1, 3, 5] {
        push(&layout_v1, "v1", &registry, "latest");
        let api = cluster(&registry).await;
        let _importer = fake_cdi::start(api.clone());
        let (clock, offset) = shifted_clock();
        let old = start(&api, settings(&registry, clock.clone()));
        wait_until("the DataSource points at the first import", || {
            data_source_target(&api).as_deref() == Some(first.as_str())
        })
        .await;
        // Let the writes of the first import settle before counting.
        tokio::time::sleep(Duration::from_millis(500)).await;

        // New content, the poll is due: the update starts and the
        // controller is aborted after a few of its writes.
        push(&layout_v2, "v2", &registry, "latest");
        offset.store(YEAR_SECONDS, Ordering::SeqCst);
        let start_count = accepted_writes(&api);
        let controller = old.controller.clone();
        let reconcile = tokio::spawn(async move { controller.reconcile().await });
        let deadline = tokio::time::Instant::now() + CONVERGE_TIMEOUT;
        while accepted_writes(&api) < start_count + writes {
            assert!(
                tokio::time::Instant::now() < deadline,
                "timed out waiting for {writes} update writes"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
        reconcile.abort();
        old.task.abort();
        let _ = old.task.await;
        let finished = data_source_target(&api).as_deref() == Some(second.as_str())
            && !names(&api, DATA_VOLUMES).contains(&first);
        assert!(
            !finished,
            "the abort after {writes} writes came after the update"
        );

        let new = start(&api, settings(&registry, clock));
        wait_until("the restarted controller repoints the DataSource", || {
            data_source_target(&api).as_deref() == Some(second.as_str())
        })
        .await;
        wait_until("the first import is collected", || {
            !names(&api, DATA_VOLUMES).contains(&first) && !names(&api, PVCS).contains(&first)
        })
        .await;
        assert_eq!(
            names(&api, DATA_VOLUMES),
            vec![second.clone()],
            "after {writes} writes"
        );
        assert_eq!(
            names(&api, PVCS),
            vec![second.clone()],
            "after {writes} writes"
        );
        assert_eq!(digest_annotation(&api), Some(digest_v2.clone()));
        new.task.abort();
    }
}
