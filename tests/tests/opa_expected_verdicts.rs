//! Expected verdicts for the OPA build: runs every AdmissionReview under
//! `test_data/admission/` through the Kubewarden `validate` operation of
//! the waPC build and writes the replies to
//! `target/opa/expected-verdicts.json`, keyed by file name. The Node test
//! in `policies/opa/` checks `bootsource-opa.wasm` against that file.

use std::collections::BTreeMap;
use std::path::PathBuf;

use bootsource::runtime::Runtime;
use serde_json::{json, Value};

fn workspace_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

#[test]
fn wapc_verdicts_written_for_opa() {
    let runtime = Runtime::embedded().expect("the embedded module loads");
    let dir = workspace_dir().join("tests/test_data/admission");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .expect("the admission test data is readable")
        .map(|entry| entry.expect("directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no AdmissionReview files in {dir:?}");

    let mut verdicts = BTreeMap::new();
    for path in &files {
        let name = path
            .file_name()
            .and_then(|name| name.to_str())
            .expect("file names are UTF-8")
            .to_string();
        let text = std::fs::read_to_string(path).expect("readable");
        let review: Value = serde_json::from_str(&text).expect("valid JSON");
        let payload = json!({"request": review["request"], "settings": {}});
        let reply = runtime
            .call("validate", payload.to_string().as_bytes())
            .unwrap_or_else(|e| panic!("{name}: validate failed: {e}"));
        let reply: Value = serde_json::from_slice(&reply).expect("validate returns JSON");
        assert!(reply["accepted"].is_boolean(), "{name}: {reply}");
        verdicts.insert(name, reply);
    }

    let out_dir = workspace_dir().join("target/opa");
    std::fs::create_dir_all(&out_dir).expect("target/opa can be created");
    let text = serde_json::to_string_pretty(&verdicts).expect("verdicts encode");
    std::fs::write(out_dir.join("expected-verdicts.json"), text)
        .expect("expected-verdicts.json can be written");
}
