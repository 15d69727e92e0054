//! Templates-stage cases on the native guest library.

use bootsource_tests::{plan_native, templates_cases::cases};

#[test]
fn templates_cases_native() {
    let mut failures = Vec::new();
    for case in cases() {
        let outcome = plan_native(&case.request);
        let result = std::panic::catch_unwind(|| (case.check)(&outcome));
        if result.is_err() {
            failures.push(case.name);
        }
    }
    assert!(failures.is_empty(), "failed cases: {failures:?}");
}

#[test]
fn case_names_are_unique() {
    let mut names: Vec<&str> = cases().iter().map(|c| c.name).collect();
    let total = names.len();
    names.sort();
    names.dedup();
    assert_eq!(names.len(), total);
}

#[test]
fn built_in_common_templates_match_upstream_file() {
    let text = include_str!("../../host/tests/data/hco-main-dataImportCronTemplates.yaml");
    let upstream: serde_json::Value = serde_yaml::from_str(text).expect("fixture parses");
    let built_in = bootsource_guest::templates::common::built_in().templates;
    assert_eq!(built_in, upstream);
}

#[test]
fn enable_annotation_values() {
    use bootsource_guest::model::dict::{DataImportCronTemplate, ENABLE_ANNOTATION};
    let with = |value: Option<&str>| {
        let mut template = DataImportCronTemplate::default();
        if let Some(value) = value {
            template.metadata.set_annotation(ENABLE_ANNOTATION, value);
        }
        template.is_enabled()
    };
    assert!(with(None));
    assert!(with(Some("true")));
    assert!(with(Some("TRUE")));
    assert!(with(Some("TrUe")));
    assert!(!with(Some("")));
    assert!(!with(Some("false")));
    assert!(!with(Some("something-else")));
}

#[test]
fn compute_leaves_its_input_unchanged() {
    use bootsource_guest::hco_version::HcoVersion;
    use bootsource_guest::model::hyperconverged::HyperConverged;
    use bootsource_guest::templates::{common, compute};
    use bootsource_tests::{hc_v1, template};
    use serde_json::json;

    let mut entry = template("fedora-image-cron");
    entry["spec"]["schedule"] = json!("");
    let hc = HyperConverged::from_value(&hc_v1(json!({"dataImportCronTemplates": [entry]})))
        .expect("parses");
    let commons = common::load(&[common::built_in()], HcoVersion::CURRENT).expect("built-in loads");
    let before = (hc.clone(), commons.clone());
    let result = compute(&hc, &commons, HcoVersion::CURRENT, None);
    assert!(!result.status.is_empty());
    assert_eq!((hc, commons), before);
}

#[test]
fn derived_schedule_is_stable_per_uid() {
    use bootsource_tests::{hc_v1, request};
    use serde_json::json;

    let schedule = |uid: &str| {
        let mut hc = hc_v1(json!({}));
        hc["metadata"]["uid"] = json!(uid);
        plan_native(&request(vec![hc], Some(vec![]), "1.20")).expect("plan")["status"]
            ["dataImportSchedule"]
            .clone()
    };
    assert_eq!(schedule("uid-a"), schedule("uid-a"));
    let spread: std::collections::BTreeSet<String> = (0..50)
        .map(|i| {
            schedule(&format!("uid-{i}"))
                .as_str()
                .unwrap_or("")
                .to_string()
        })
        .collect();
    assert!(
        spread.len() > 10,
        "50 clusters share {} schedules",
        spread.len()
    );
}
