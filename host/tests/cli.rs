//! The `bootsource` binary on real files: output formats, exit codes and
//! the messages for each kind of bad input.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

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
fn unknown_kind_names_the_document() {
    let dir = scratch("unknown-kind");
    let file = write(
        &dir,
        "objects.yaml",
        &format!("{HC_HEADER}---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: x\n"),
    );
    let output = bootsource(&["plan", "-f", &file]);
    assert_eq!(output.status.code(), Some(1));
    let text = stderr(&output);
    assert!(text.contains("objects.yaml (document 2)"), "{text}");
    assert!(text.contains("unknown kind \"ConfigMap\""), "{text}");
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
