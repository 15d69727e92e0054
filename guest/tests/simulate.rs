//! The simulation engine over a month of the example timeline: imports,
//! DataSource switches, garbage collection, failures and determinism.

use bootsource_guest::simulate::{simulate, EntryKind, Publication, Report, SimulateRequest};
use serde_json::Value;

const HYPERCONVERGED: &str = include_str!("../../host/examples/hyperconverged-okd-4.12.yaml");
const TIMELINE: &str = include_str!("../../host/examples/publish-timeline-month.yaml");
const START: &str = "2026-11-01T00:00:00Z";
const END: &str = "2026-12-01T00:00:00Z";
const WEEKLY_SOURCES: &[&str] = &[
    "kubevirt-os-images/fedora",
    "kubevirt-os-images/centos-stream9",
    "kubevirt-os-images/centos-stream10",
];

fn month_request(failure_rate: f64, seed: u64) -> SimulateRequest {
    let hyperconverged: Value = serde_yaml::from_str(HYPERCONVERGED).expect("example parses");
    let timeline: Vec<Publication> = serde_yaml::from_str(TIMELINE).expect("timeline parses");
    SimulateRequest {
        start: START.into(),
        end: END.into(),
        timeline,
        failure_rate,
        seed,
        objects: vec![hyperconverged],
        ..SimulateRequest::default()
    }
}

/// Returns the month run without failures, computed once for all tests.
fn month_report() -> &'static Report {
    static REPORT: std::sync::OnceLock<Report> = std::sync::OnceLock::new();
    REPORT.get_or_init(|| run(&month_request(0.0, 1)))
}

fn run(request: &SimulateRequest) -> Report {
    let response = simulate(request).expect("simulation runs");
    response.report.expect("a run without pauseAt finishes")
}

fn stats<'r>(report: &'r Report, boot_source: &str) -> &'r bootsource_guest::simulate::SourceStats {
    report
        .boot_sources
        .iter()
        .find(|s| s.boot_source == boot_source)
        .unwrap_or_else(|| panic!("no statistics for {boot_source}: {:?}", report.boot_sources))
}

#[test]
fn month_imports_every_weekly_digest() {
    let report = month_report();
    for source in WEEKLY_SOURCES {
        let stats = stats(report, source);
        // One digest published before the start and four during the month.
        assert_eq!(stats.imports, 5, "{source} imports");
        assert_eq!(stats.switches, 5, "{source} DataSource switches");
        assert_eq!(stats.failed_imports, 0, "{source} failed imports");
    }
}

/// Returns the cron's `importsToKeep` at the end of the run; CDI keeps 3
/// when it is unset.
fn imports_to_keep(report: &Report, data_source: &str) -> u32 {
    report
        .objects
        .iter()
        .find(|o| o["kind"] == "DataImportCron" && o["spec"]["managedDataSource"] == data_source)
        .and_then(|o| o["spec"]["importsToKeep"].as_u64())
        .map_or(3, |n| n as u32)
}

#[test]
fn month_keeps_imports_to_keep() {
    let report = month_report();
    for source in WEEKLY_SOURCES {
        let stats = stats(report, source);
        let keep = imports_to_keep(report, source.rsplit('/').next().unwrap_or(""));
        assert_eq!(stats.pvcs_at_end, keep, "{source} PVCs left");
        assert_eq!(stats.deleted_pvcs, 5 - keep, "{source} PVCs collected");
    }
}

#[test]
fn month_reclaims_requested_storage() {
    let report = month_report();
    let fedora = stats(report, "kubevirt-os-images/fedora");
    let collected = u64::from(fedora.deleted_pvcs);
    // The built-in fedora template requests 5Gi.
    assert_eq!(fedora.reclaimed_bytes, collected * (5u64 << 30));
}

#[test]
fn certain_failure_never_switches() {
    let report = run(&month_request(1.0, 7));
    for source in WEEKLY_SOURCES {
        let stats = stats(&report, source);
        assert_eq!(stats.switches, 0, "{source} DataSource switches");
        assert_eq!(
            stats.failed_imports, stats.imports,
            "{source} failed imports"
        );
    }
    let switched = report
        .timeline
        .iter()
        .filter(|e| e.kind == EntryKind::DataSourceSwitched)
        .count();
    assert_eq!(switched, 0);
}

#[test]
fn same_seed_gives_same_report() {
    let mut request = month_request(0.3, 99);
    request.end = "2026-11-15T00:00:00Z".into();
    let first = run(&request);
    let second = run(&request);
    assert_eq!(first, second);
}

#[test]
fn paused_run_matches_single_run() {
    let single = month_report();
    let mut request = month_request(0.0, 1);
    let mut pause = next_day(START);
    let report = loop {
        request.pause_at = Some(pause.clone());
        let response = simulate(&request).expect("window runs");
        if let Some(report) = response.report {
            break report;
        }
        request.state = response.state;
        request.objects.clear();
        pause = next_day(&pause);
    };
    assert_eq!(&report, single);
}

#[test]
fn stale_time_is_bounded_by_poll_interval() {
    let report = month_report();
    let fedora = stats(report, "kubevirt-os-images/fedora");
    // Four publications in the month, each seen within 12 hours of polling
    // plus a 20-minute import; the first digest is stale from the start
    // until the first import ends.
    assert!(fedora.stale_seconds > 0, "stale {}", fedora.stale_seconds);
    assert!(
        fedora.stale_seconds <= 5 * (12 * 3600 + 20 * 60),
        "stale {}",
        fedora.stale_seconds
    );
}

fn next_day(time: &str) -> String {
    let parsed = chrono::DateTime::parse_from_rfc3339(time).expect("valid time");
    (parsed + chrono::Duration::days(1)).to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}
