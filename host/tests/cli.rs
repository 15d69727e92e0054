//! The `bootsource` binary on real files: output formats, exit codes and
//! the messages for each kind of bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn bootsource(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args(args)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// A fresh folder under the target directory for one test.
fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    dir
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    fs::write(&path, text).expect("write file");
    path.display().to_string()
}

const HC_HEADER: &str = "apiVersion: hco.kubevirt.io/v1beta1\nkind: HyperConverged\nmetadata:\n  name: kubevirt-hyperconverged\n  namespace: openshift-cnv\n";

#[test]
fn example_prints_boot_source_table() {
    let output = bootsource(&["plan", "--example"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("TEMPLATE"), "{text}");
    assert!(text.contains("opensuse-image-cron"), "{text}");
    assert!(text.contains("fedora-image-cron"), "{text}");
    assert!(text.contains("custom"), "{text}");
}

#[test]
fn plan_table_lists_actions_without_templates_stage() {
    let output = bootsource(&["plan", "--example", "-o", "json"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_json::Value = serde_json::from_str(&stdout(&output)).expect("plan JSON");
    let ssp = plan["actions"]
        .as_array()
        .and_then(|actions| actions.iter().find(|a| a["object"]["kind"] == "SSP"))
        .map(|a| a["body"].clone())
        .expect("the example plan applies the SSP CR");
    let dir = scratch("plan-crons-only");
    let file = dir.join("ssp.json");
    std::fs::write(&file, ssp.to_string()).expect("SSP file");
    let path = file.display().to_string();

    let output = bootsource(&["plan", "-f", &path, "--stages", "crons"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.starts_with("ACTION"), "{text}");
    assert!(!text.contains("TEMPLATE"), "{text}");
    let created = text.lines().any(|line| {
        line.split_whitespace().take(3).collect::<Vec<_>>()
            == [
                "create",
                "DataImportCron",
                "kubevirt-os-images/fedora-image-cron",
            ]
    });
    assert!(created, "{text}");
}

#[test]
fn example_json_has_status_and_ssp_action() {
    let output = bootsource(&[
        "plan",
        "--example",
        "-o",
        "json",
        "--now",
        "2026-01-01T00:00:00Z",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    assert!(plan["status"]["dataImportCronTemplates"]
        .as_array()
        .is_some_and(|l| l.len() == 4));
    assert!(plan["status"]["dataImportSchedule"].is_string());
    let kinds: Vec<&str> = plan["actions"]
        .as_array()
        .expect("actions")
        .iter()
        .filter_map(|a| a["object"]["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"SSP"), "{kinds:?}");
}

#[test]
fn example_yaml_is_yaml() {
    let output = bootsource(&["plan", "--example", "-o", "yaml"]);
    assert!(output.status.success(), "{}", stderr(&output));
    let plan: serde_yaml::Value = serde_yaml::from_slice(&output.stdout).expect("YAML plan");
    assert!(plan.get("actions").is_some());
}

#[test]
fn okd_example_warns_about_deprecated_gate() {
    let output = bootsource(&["plan", "--example"]);
    assert!(
        stderr(&output).contains("deprecated"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn malformed_yaml_names_file_and_document() {
    let dir = scratch("malformed-yaml");
    let file = write(
        &dir,
        "hc.yaml",
        &format!("{HC_HEADER}spec:\n  dataImportCronTemplates: [\n"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("hc.yaml"), "{text}");
    assert!(text.contains("invalid YAML"), "{text}");
}

#[test]
fn wrong_type_names_object_and_field() {
    let dir = scratch("wrong-type");
    let file = write(
        &dir,
        "hc.yaml",
        &format!("{HC_HEADER}spec:\n  dataImportCronTemplates:\n  - metadata:\n      name: x\n    spec:\n      managedDataSource: x\n      importsToKeep: three\n"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("hc.yaml (document 1)"), "{text}");
    assert!(
        text.contains("HyperConverged openshift-cnv/kubevirt-hyperconverged"),
        "{text}"
    );
    assert!(
        text.contains("spec.dataImportCronTemplates[0].spec.importsToKeep"),
        "{text}"
    );
}

#[test]
fn annotation_not_string_suggests_quotes() {
    let dir = scratch("annotation-bool");
    let file = write(
        &dir,
        "hc.yaml",
        &format!("{HC_HEADER}spec:\n  dataImportCronTemplates:\n  - metadata:\n      name: fedora-image-cron\n      annotations:\n        dataimportcrontemplate.kubevirt.io/enable: false\n"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains("dataimportcrontemplate.kubevirt.io/enable"),
        "{text}"
    );
    assert!(text.contains("quote the value"), "{text}");
}

#[test]
fn duplicate_template_names_fail() {
    let dir = scratch("duplicates");
    let entry = "  - metadata:\n      name: my-cron\n    spec:\n      managedDataSource: my\n      schedule: \"0 0 * * *\"\n      template:\n        spec:\n          source:\n            registry:\n              url: docker://r.example/my:1\n";
    let file = write(
        &dir,
        "hc.yaml",
        &format!("{HC_HEADER}spec:\n  dataImportCronTemplates:\n{entry}{entry}"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("my-cron DataImportCronTable is already defined"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn unknown_kinds_are_skipped_with_warning() {
    let dir = scratch("unknown-kind");
    let configmap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n";
    let configmap_y = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: y\n";
    let secret = "apiVersion: v1\nkind: Secret\nmetadata:\n  name: s\n";
    let file = write(
        &dir,
        "objects.yaml",
        &format!("{HC_HEADER}---\n{configmap}---\n{configmap_y}---\n{secret}"),
    );
    let output = bootsource(&["plan", "-f", &file, "-o", "json"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    let warnings: Vec<&str> = text.lines().filter(|l| l.contains("skipped")).collect();
    assert_eq!(warnings.len(), 1, "{text}");
    assert!(warnings[0].contains("2 ConfigMap (v1)"), "{text}");
    assert!(warnings[0].contains("1 Secret (v1)"), "{text}");
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    let in_plan = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .filter(|w| w["message"].as_str().unwrap_or("").contains("ConfigMap"))
        .count();
    assert_eq!(in_plan, 1, "{}", plan["warnings"]);
}

#[test]
fn known_kind_in_other_group_is_rejected() {
    let dir = scratch("known-kind-other-group");
    let file = write(
        &dir,
        "objects.yaml",
        &format!("{HC_HEADER}---\napiVersion: example.com/v1\nkind: DataImportCron\nmetadata:\n  name: x\n"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("objects.yaml (document 2)"), "{text}");
    assert!(text.contains("cdi.kubevirt.io/v1beta1"), "{text}");
}

#[test]
fn unknown_api_version_suggests_versions() {
    let dir = scratch("unknown-api-version");
    let file = write(
        &dir,
        "hc.yaml",
        "apiVersion: hco.kubevirt.io/v9\nkind: HyperConverged\nmetadata:\n  name: x\n",
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("hco.kubevirt.io/v1beta1 or hco.kubevirt.io/v1"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn empty_file_is_rejected() {
    let dir = scratch("empty-file");
    let file = write(&dir, "empty.yaml", "# nothing here\n");
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("holds no objects"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn missing_file_is_rejected() {
    let output = bootsource(&["plan", "-f", "/nonexistent/hc.yaml"]);
    assert_eq!(output.status.code(), Some(1));
    assert!(
        stderr(&output).contains("failed to read"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn kubectl_list_is_flattened() {
    let dir = scratch("list");
    let body = HC_HEADER.replace('\n', "\n    ");
    let file = write(
        &dir,
        "list.yaml",
        &format!("apiVersion: v1\nkind: List\nitems:\n  - {body}\n"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert!(output.status.success(), "{}", stderr(&output));
}

#[test]
fn common_templates_folder_reads_only_yaml_files() {
    let dir = scratch("commons-folder");
    let commons = dir.join("dataImportCronTemplates");
    fs::create_dir_all(&commons).expect("folder");
    let template = |name: &str| {
        format!("- metadata:\n    name: {name}\n  spec:\n    schedule: \"0 */12 * * *\"\n    managedDataSource: {name}\n    template:\n      spec:\n        source:\n          registry:\n            url: docker://r.example/{name}:1\n")
    };
    write(&commons, "a.yaml", &template("from-yaml"));
    write(&commons, "b.yml", &template("from-yml"));
    let hc = write(&dir, "hc.yaml", HC_HEADER);
    let output = bootsource(&[
        "plan",
        "-f",
        &hc,
        "--common-templates",
        &commons.display().to_string(),
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("from-yaml"), "{text}");
    assert!(!text.contains("from-yml"), "{text}");
}

#[test]
fn missing_common_templates_folder_warns() {
    let dir = scratch("commons-missing");
    let hc = write(&dir, "hc.yaml", HC_HEADER);
    let output = bootsource(&[
        "plan",
        "-f",
        &hc,
        "--common-templates",
        "/nonexistent/folder",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("does not exist"),
        "{}",
        stderr(&output)
    );
    assert!(!stdout(&output).contains("fedora"), "{}", stdout(&output));
}

#[test]
fn hco_1_8_fixture_templates_load() {
    let commons = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hco-1.8-dataImportCronTemplates.yaml"
    );
    let output = bootsource(&[
        "plan",
        "--example",
        "--hco-version",
        "1.8",
        "--common-templates",
        commons,
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let text = stdout(&output);
    assert!(text.contains("centos-7-image-cron"), "{text}");
    assert!(
        !text.contains("centos-stream8-image-cron"),
        "the example disables it: {text}"
    );
}

#[test]
fn other_module_is_loaded_with_module_flag() {
    let dir = scratch("bad-module");
    let module = write(&dir, "bad.wasm", "not a module");
    let output = bootsource(&["plan", "--example", "--module", &module]);
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("failed to compile"),
        "{}",
        stderr(&output)
    );
}

const SNAPSHOT: &str = include_str!("data/snapshot.yaml");
const SNAPSHOT_NOW: &str = "2026-01-15T10:00:00Z";

/// Runs `plan -o json` on `documents` joined into one YAML file, with any
/// `extra` arguments, and returns the plan.
fn plan_json(test: &str, documents: &[&str], extra: &[&str]) -> Value {
    let dir = scratch(test);
    let file = write(&dir, "snapshot.yaml", &documents.join("\n---\n"));
    let mut args = vec!["plan", "-f", &file, "-o", "json", "--now", SNAPSHOT_NOW];
    args.extend_from_slice(extra);
    let output = bootsource(&args);
    assert!(output.status.success(), "{}", stderr(&output));
    serde_json::from_slice(&output.stdout).expect("JSON plan")
}

fn snapshot_documents() -> Vec<&'static str> {
    SNAPSHOT.split("\n---\n").collect()
}

fn actions(plan: &Value) -> &Vec<Value> {
    plan["actions"].as_array().expect("the plan has actions")
}

#[test]
fn templates_stage_only_changes_hco_and_ssp() {
    let plan = plan_json(
        "stages-templates",
        &snapshot_documents(),
        &["--stages", "templates"],
    );
    let kinds: Vec<&str> = actions(&plan)
        .iter()
        .filter_map(|a| a["object"]["kind"].as_str())
        .collect();
    assert!(!kinds.is_empty());
    for kind in &kinds {
        assert!(
            *kind == "HyperConverged" || *kind == "SSP",
            "unexpected {kind} action in {kinds:?}"
        );
    }
}

#[test]
fn all_stages_reach_crons_and_imports() {
    let plan = plan_json("stages-all", &snapshot_documents(), &[]);
    let kinds: Vec<&str> = actions(&plan)
        .iter()
        .filter_map(|a| a["object"]["kind"].as_str())
        .collect();
    assert!(kinds.contains(&"DataImportCron"), "{kinds:?}");
    assert!(kinds.contains(&"SSP"), "{kinds:?}");
}

#[test]
fn stages_flag_matches_default_when_all_listed() {
    let documents = snapshot_documents();
    let default = plan_json("stages-default", &documents, &[]);
    let listed = plan_json(
        "stages-listed",
        &documents,
        &["--stages", "imports,templates,crons"],
    );
    assert_eq!(actions(&default), actions(&listed));
}

#[test]
fn unknown_stage_is_rejected() {
    let dir = scratch("stages-unknown");
    let file = write(&dir, "snapshot.yaml", SNAPSHOT);
    let output = bootsource(&["plan", "-f", &file, "--stages", "templates,cleanup"]);
    assert!(!output.status.success());
    assert!(stderr(&output).contains("cleanup"), "{}", stderr(&output));
}

#[test]
fn snapshot_plan_ignores_document_order() {
    let documents = snapshot_documents();
    assert!(documents.len() >= 8, "{} documents", documents.len());
    let expected = plan_json("order-original", &documents, &[]);

    let reversed: Vec<&str> = documents.iter().rev().copied().collect();
    let mut rotated = documents.clone();
    rotated.rotate_left(3);
    let odd = documents.iter().skip(1).step_by(2);
    let even = documents.iter().step_by(2);
    let interleaved: Vec<&str> = odd.chain(even).copied().collect();

    for (name, order) in [
        ("order-reversed", reversed),
        ("order-rotated", rotated),
        ("order-interleaved", interleaved),
    ] {
        let plan = plan_json(name, &order, &[]);
        assert_eq!(actions(&plan), actions(&expected), "{name}");
    }
}

#[test]
fn snapshot_plan_actions_have_reasons() {
    let plan = plan_json("reasons", &snapshot_documents(), &[]);
    assert!(!actions(&plan).is_empty());
    for action in actions(&plan) {
        let reason = action["reason"].as_str().unwrap_or("");
        assert!(!reason.trim().is_empty(), "no reason: {action}");
    }
}

#[test]
fn snapshot_plan_deletes_carry_preconditions() {
    let plan = plan_json("preconditions", &snapshot_documents(), &[]);
    let deletes: Vec<&Value> = actions(&plan)
        .iter()
        .filter(|a| a["action"] == "delete")
        .collect();
    assert!(
        !deletes.is_empty(),
        "the snapshot has a retired cron to delete"
    );
    for delete in deletes {
        let uid = delete["preconditions"]["uid"].as_str().unwrap_or("");
        let version = delete["preconditions"]["resourceVersion"]
            .as_str()
            .unwrap_or("");
        assert!(!uid.is_empty(), "no uid precondition: {delete}");
        assert!(
            !version.is_empty(),
            "no resourceVersion precondition: {delete}"
        );
    }
}

#[test]
fn simulate_runs_through_the_module() {
    let timeline = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/examples/publish-timeline-month.yaml"
    );
    let output = bootsource(&[
        "simulate",
        "--example",
        "--timeline",
        timeline,
        "--start",
        "2026-11-01T00:00:00Z",
        "--duration",
        "10d",
        "-o",
        "json",
    ]);
    assert!(output.status.success(), "{}", stderr(&output));
    let report: Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    assert!(report.is_object(), "{report}");
}

#[test]
fn simulate_huge_durations_are_rejected() {
    let cases = [
        ("--duration", "100000000d", "3650d"),
        ("--import-duration", "100000000d", "30d"),
        ("--duration", "99999999999999999999s", "3650d"),
    ];
    for (option, value, maximum) in cases {
        let output = bootsource(&[
            "simulate",
            "--example",
            "--start",
            "2026-11-01T00:00:00Z",
            option,
            value,
        ]);
        assert_eq!(output.status.code(), Some(1), "{option} {value}");
        let text = stderr(&output);
        assert!(!text.contains("panicked"), "{text}");
        assert!(text.contains(option), "{text}");
        assert!(text.contains(maximum), "{text}");
    }
}

#[test]
fn simulate_bad_options_are_named() {
    let cases = [
        (vec!["--duration", "0s"], "--duration"),
        (vec!["--end", "2026-10-01T00:00:00Z"], "--end"),
        (vec!["--failure-rate", "NaN"], "--failure-rate"),
        (vec!["--failure-rate", "1.5"], "--failure-rate"),
    ];
    for (extra, option) in cases {
        let mut args = vec!["simulate", "--example", "--start", "2026-11-01T00:00:00Z"];
        args.extend(extra.iter().copied());
        let output = bootsource(&args);
        assert_eq!(output.status.code(), Some(1), "{extra:?}");
        let text = stderr(&output);
        assert!(text.starts_with(&format!("error: {option}:")), "{text}");
        assert!(!text.contains("failureRate"), "{text}");
    }
}

#[test]
fn simulate_timeline_errors_name_the_file() {
    let dir = scratch("timeline-error");
    let timeline = dir.join("timeline.yaml");
    std::fs::write(
        &timeline,
        "- time: 2026-11-02T00:00:00Z\n  source: docker://quay.io/containerdisks/fedora:latest\n  digest: nope\n",
    )
    .expect("timeline file");
    let path = timeline.display().to_string();
    let output = bootsource(&[
        "simulate",
        "--example",
        "--start",
        "2026-11-01T00:00:00Z",
        "--duration",
        "2d",
        "--timeline",
        &path,
    ]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(
        text.contains(&format!("{path}: timeline[0].digest")),
        "{text}"
    );
}

/// Runs bootsource with its standard output closed before it writes, as
/// `bootsource ... | head -1` does once `head` has read its line.
fn bootsource_closed_stdout(args: &[&str]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("the binary runs");
    drop(child.stdout.take());
    child.wait_with_output().expect("the binary ends")
}

#[test]
fn closed_stdout_ends_quietly() {
    let dir = scratch("closed-stdout");
    let state = dir.join("state").display().to_string();
    let made = bootsource(&[
        "run",
        "--state",
        &state,
        "--once",
        "--example",
        "--import-delay",
        "0s",
    ]);
    assert!(made.status.success(), "{}", stderr(&made));
    let cases: [&[&str]; 4] = [
        &["plan", "--example", "-o", "yaml"],
        &["schedule", "0 * * * *", "--count", "1000"],
        &["example"],
        &["explain", "fedora", "--state", &state],
    ];
    for args in cases {
        let output = bootsource_closed_stdout(args);
        let text = stderr(&output);
        assert!(!text.contains("panicked"), "{args:?}: {text}");
        assert!(!text.contains("Broken pipe"), "{args:?}: {text}");
        assert_eq!(output.status.code(), Some(0), "{args:?}: {text}");
    }
}

#[test]
fn bad_command_line_exits_one() {
    let cases: [&[&str]; 4] = [
        &["plan", "--no-such-option"],
        &["plan", "--example", "-o", "xml"],
        &["schedule", "0 * * * *", "--count", "many"],
        &["no-such-command"],
    ];
    for args in cases {
        let output = bootsource(args);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {text}");
        assert!(text.contains("--help"), "{args:?}: {text}");
    }
}

#[test]
fn help_and_version_exit_zero() {
    for args in [["--help"], ["--version"]] {
        let output = bootsource(&args);
        assert_eq!(output.status.code(), Some(0), "{args:?}");
        assert!(!output.stdout.is_empty(), "{args:?}");
    }
}

#[test]
fn schedule_stops_at_year_9999() {
    let output = bootsource(&[
        "schedule",
        "0 0 * * *",
        "--after",
        "9999-12-30T00:00:00Z",
        "--count",
        "5",
    ]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let times = stdout(&output);
    assert_eq!(times, "9999-12-31T00:00:00Z\n");
    let text = stderr(&output);
    assert!(text.contains("found 1 of 5"), "{text}");
    assert!(text.contains("9999"), "{text}");
}

#[test]
fn schedule_after_out_of_range_exits_one() {
    let cases = [
        "9999-12-31T23:00:00-05:00",
        "10000-01-01T00:00:00Z",
        "0000-01-01T00:00:00+01:00",
    ];
    for after in cases {
        let output = bootsource(&["schedule", "@daily", "--after", after]);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{after}: {text}");
        assert!(text.contains("after"), "{after}: {text}");
        assert!(output.stdout.is_empty(), "{after}");
    }
}

#[test]
fn deep_nesting_is_rejected_quickly() {
    let dir = scratch("deep-nesting");
    let deep = "[".repeat(100_000);
    let cases = [
        (
            "deep.yaml",
            format!("{HC_HEADER}---\nspec: {deep}\n"),
            "document 2",
        ),
        ("deep.json", deep.clone(), "document 1"),
    ];
    for (name, text, document) in cases {
        let file = write(&dir, name, &text);
        let started = std::time::Instant::now();
        let output = bootsource(&["plan", "-f", &file]);
        let elapsed = started.elapsed();
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{name}: {text}");
        assert!(text.contains(name), "{text}");
        assert!(text.contains(document), "{text}");
        assert!(text.contains("100 levels"), "{text}");
        assert!(elapsed.as_secs() < 5, "{name} took {elapsed:?}");
    }
}

#[test]
fn help_states_input_limits() {
    for command in ["plan", "simulate", "validate"] {
        let output = bootsource(&[command, "--help"]);
        let text = stdout(&output);
        assert!(text.contains("64 MiB"), "{command}: {text}");
        assert!(text.contains("100 levels"), "{command}: {text}");
    }
}

#[test]
fn oversized_file_is_rejected() {
    let dir = scratch("oversized");
    let path = dir.join("big.yaml");
    let file = fs::File::create(&path).expect("create file");
    file.set_len((64 << 20) + 1).expect("size file");
    let output = bootsource(&["plan", "-f", &path.display().to_string()]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("big.yaml"), "{text}");
    assert!(text.contains("maximum of 67108864 bytes"), "{text}");
}

#[test]
fn older_release_warns_about_built_in_templates() {
    let output = bootsource(&["plan", "--example", "--hco-version", "1.8", "-o", "json"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(text.contains("built-in common templates"), "{text}");
    assert!(text.contains("HCO 1.20"), "{text}");
    assert!(text.contains("--common-templates"), "{text}");
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    let in_plan = plan["warnings"]
        .as_array()
        .expect("warnings")
        .iter()
        .any(|w| w["field"] == "commonTemplates");
    assert!(in_plan, "{}", plan["warnings"]);
}

#[test]
fn given_templates_or_current_release_do_not_warn() {
    let commons = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/data/hco-1.8-dataImportCronTemplates.yaml"
    );
    let cases: [&[&str]; 2] = [
        &[
            "plan",
            "--example",
            "--hco-version",
            "1.8",
            "--common-templates",
            commons,
        ],
        &["plan", "--example"],
    ];
    for args in cases {
        let output = bootsource(args);
        let text = stderr(&output);
        assert_eq!(output.status.code(), Some(0), "{args:?}: {text}");
        assert!(
            !text.contains("built-in common templates"),
            "{args:?}: {text}"
        );
    }
}

#[test]
fn simulate_timeline_entries_are_capped() {
    let dir = scratch("timeline-cap");
    let entry = "- {time: \"2026-11-01T00:00:00Z\", source: \"docker://quay.io/containerdisks/fedora:latest\", digest: \"sha256:0123456789abcdef\"}\n";
    let file = write(&dir, "timeline.yaml", &entry.repeat(50_001));
    let output = bootsource(&[
        "simulate",
        "--example",
        "--timeline",
        &file,
        "--duration",
        "1d",
    ]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("timeline.yaml"), "{text}");
    assert!(text.contains("maximum of 50000"), "{text}");
}

#[test]
fn simulate_timeline_file_size_is_capped() {
    let dir = scratch("timeline-size");
    let path = dir.join("timeline.yaml");
    let file = fs::File::create(&path).expect("create file");
    file.set_len((64 << 20) + 1).expect("size file");
    let timeline = path.display().to_string();
    let output = bootsource(&["simulate", "--example", "--timeline", &timeline]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("maximum of 67108864 bytes"), "{text}");
}

#[test]
fn simulate_without_terminal_prints_no_progress() {
    for format in ["table", "json"] {
        let output = bootsource(&[
            "simulate",
            "--example",
            "--start",
            "2026-11-01T00:00:00Z",
            "--duration",
            "2d",
            "-o",
            format,
        ]);
        assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
        let out = stdout(&output);
        let err = stderr(&output);
        for text in [&out, &err] {
            assert!(!text.contains('\r'), "{format}: {text:?}");
            assert!(!text.contains("simulating"), "{format}: {text:?}");
        }
    }
}

/// A HyperConverged with `count` custom templates, about 370 bytes each.
fn hyperconverged_with_templates(count: usize) -> String {
    let mut text = format!("{HC_HEADER}spec:\n  dataImportCronTemplates:\n");
    for i in 0..count {
        text.push_str(&format!(
            "  - metadata:\n      name: image-{i}-cron\n    spec:\n      schedule: \"0 */12 * * *\"\n      managedDataSource: image-{i}\n      importsToKeep: 2\n      template:\n        spec:\n          source:\n            registry:\n              url: docker://quay.io/containerdisks/image-{i}:latest\n          storage:\n            resources:\n              requests:\n                storage: 10Gi\n"
        ));
    }
    text
}

#[test]
fn plan_handles_thousands_of_templates() {
    let dir = scratch("many-templates");
    let file = write(&dir, "hc.yaml", &hyperconverged_with_templates(3_000));
    let output = bootsource(&["plan", "-f", &file, "-o", "json", "--now", SNAPSHOT_NOW]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    let sources = plan["bootSources"].as_array().map_or(0, Vec::len);
    assert!(sources > 3_000, "{sources} boot sources");
}

#[test]
fn plan_handles_five_thousand_crons() {
    let dir = scratch("many-crons");
    let mut text = String::from(HC_HEADER);
    text.push_str("spec: {}\n");
    for i in 0..5_000 {
        text.push_str(&format!(
            "---\napiVersion: cdi.kubevirt.io/v1beta1\nkind: DataImportCron\nmetadata:\n  name: cron-{i}\n  namespace: kubevirt-os-images\n  uid: uid-{i}\n  resourceVersion: \"1\"\nspec:\n  managedDataSource: ds-{i}\n  schedule: \"\"\n  template:\n    spec:\n      source:\n        registry:\n          url: docker://quay.io/containerdisks/image-{i}:latest\n      storage:\n        resources:\n          requests:\n            storage: 10Gi\n"
        ));
    }
    let file = write(&dir, "crons.yaml", &text);
    let output = bootsource(&["plan", "-f", &file, "-o", "json", "--now", SNAPSHOT_NOW]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let plan: Value = serde_json::from_slice(&output.stdout).expect("JSON plan");
    assert!(actions(&plan).len() >= 5_000, "{}", actions(&plan).len());
}

#[test]
fn fuel_limit_exits_one_with_hint() {
    let dir = scratch("fuel-limit");
    let file = write(&dir, "hc.yaml", &hyperconverged_with_templates(300));
    let output = bootsource(&["plan", "-f", &file, "--fuel", "50000000"]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{text}");
    assert!(text.contains("50000000 units"), "{text}");
    assert!(text.contains("--fuel"), "{text}");
}

fn bootsource_with_cache(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args(args)
        .env("BOOTSOURCE_CACHE_DIR", dir)
        .output()
        .expect("the binary runs")
}

fn cached_modules(dir: &Path) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|x| x == "cwasm"))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn compiled_module_is_cached_once() {
    let dir = scratch("module-cache-once");
    let args = ["schedule", "0 * * * *", "--count", "1"];
    let first = bootsource_with_cache(&dir, &args);
    assert!(first.status.success(), "{}", stderr(&first));
    let second = bootsource_with_cache(&dir, &args);
    assert!(second.status.success(), "{}", stderr(&second));
    assert_eq!(stdout(&first), stdout(&second));
    assert_eq!(cached_modules(&dir).len(), 1);
}

#[test]
fn corrupt_cached_module_is_recompiled() {
    let dir = scratch("module-cache-corrupt");
    let args = ["schedule", "0 * * * *", "--count", "1"];
    let first = bootsource_with_cache(&dir, &args);
    assert!(first.status.success(), "{}", stderr(&first));
    let cached = cached_modules(&dir);
    assert_eq!(cached.len(), 1);
    fs::write(&cached[0], b"not a compiled module").expect("overwrite cache");
    let second = bootsource_with_cache(&dir, &args);
    assert!(second.status.success(), "{}", stderr(&second));
    let repaired = fs::read(&cached[0]).expect("cache file");
    assert_ne!(repaired, b"not a compiled module");
}

#[test]
fn empty_cache_variable_turns_cache_off() {
    let dir = scratch("module-cache-off");
    let output = Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args(["schedule", "0 * * * *", "--count", "1"])
        .env("BOOTSOURCE_CACHE_DIR", "")
        .env("XDG_CACHE_HOME", &dir)
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(cached_modules(&dir.join("bootsource")).is_empty());
}

#[test]
fn bad_option_values_rejected_early() {
    let dir = scratch("bad-option-values");
    let state = dir.join("state");
    let state_arg = state.display().to_string();
    let cases: &[(&[&str], &str)] = &[
        (
            &["run", "--state", &state_arg, "--hco-version", "1.5"],
            "--hco-version",
        ),
        (
            &["run", "--state", &state_arg, "--registry-timeout", "0s"],
            "--registry-timeout",
        ),
        (
            &["run", "--state", &state_arg, "--max-sleep", "0s"],
            "--max-sleep",
        ),
        (
            &[
                "run",
                "--state",
                &state_arg,
                "--retry-backoff",
                "1h",
                "--retry-backoff-max",
                "1m",
            ],
            "--retry-backoff-max",
        ),
        (
            &["controller", "--os-images-namespace", "Bad_NS!"],
            "--os-images-namespace",
        ),
        (
            &["controller", "--lease-namespace", ""],
            "--lease-namespace",
        ),
        (
            &["controller", "--request-timeout", "0"],
            "--request-timeout",
        ),
        (&["controller", "--hco-version", "2.0"], "--hco-version"),
        (
            &["explain", "fedora", "--cluster", "--hco-version", "x"],
            "--hco-version",
        ),
        (
            &[
                "explain",
                "fedora",
                "--state",
                &state_arg,
                "--now",
                "yesterday",
            ],
            "--now",
        ),
        (&["plan", "--example", "--now", "yesterday"], "--now"),
        (&["controller", "--lease-name", "A B"], "--lease-name"),
    ];
    for (args, option) in cases {
        let output = bootsource(args);
        let message = stderr(&output);
        assert_eq!(output.status.code(), Some(1), "{args:?}: {message}");
        assert!(message.contains(option), "{args:?}: {message}");
    }
    assert!(!state.exists(), "a rejected run created the state folder");
}

#[test]
fn missing_module_file_is_invalid_input() {
    let output = bootsource(&[
        "plan",
        "--example",
        "--module",
        "/nonexistent/bootsource.wasm",
    ]);
    let message = stderr(&output);
    assert_eq!(output.status.code(), Some(1), "{message}");
    assert!(
        message.contains("/nonexistent/bootsource.wasm: failed to read the module"),
        "{message}"
    );
}
