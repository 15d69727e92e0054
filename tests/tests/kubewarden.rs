//! bootsource.wasm as a Kubewarden policy, run by the waPC host that
//! Kubewarden's policy evaluator uses (`wapc` with `wasmtime-provider`), on
//! AdmissionReview requests kept under `test_data/admission/`.

use std::path::PathBuf;

use serde_json::{json, Value};
use wapc::WapcHost;
use wasmtime_provider::WasmtimeEngineProviderBuilder;

/// Expected outcome of one admission request.
enum Expected {
    /// Accepted unchanged, with this many warnings.
    Accepted { warnings: usize },
    /// Accepted with a `mutated_object`.
    Mutated,
    /// Rejected with a message that contains this text.
    Rejected(&'static str),
}

thread_local! {
    /// One waPC host per test thread: `WapcHost` is neither `Send` nor
    /// `Sync`, as policy-server also keeps one instance per worker.
    static HOST: WapcHost = {
        let engine = WasmtimeEngineProviderBuilder::new()
            .module_bytes(bootsource::runtime::EMBEDDED_MODULE)
            .build()
            .expect("the wasmtime provider loads bootsource.wasm");
        WapcHost::new(Box::new(engine), None).expect("the waPC host initialises the module")
    };
}

fn call(operation: &str, payload: &[u8]) -> Value {
    let reply = HOST
        .with(|host| host.call(operation, payload))
        .unwrap_or_else(|e| panic!("{operation} failed in the waPC host: {e}"));
    serde_json::from_slice(&reply)
        .unwrap_or_else(|e| panic!("{operation} returned invalid JSON: {e}"))
}

fn test_data(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("test_data/admission")
        .join(name)
}

/// Reads an AdmissionReview fixture and returns its `request`.
fn admission_request(name: &str) -> Value {
    let text = std::fs::read_to_string(test_data(name))
        .unwrap_or_else(|e| panic!("{name}: failed to read: {e}"));
    let review: Value =
        serde_json::from_str(&text).unwrap_or_else(|e| panic!("{name}: invalid JSON: {e}"));
    review["request"].clone()
}

fn validate(request: &Value, settings: Value) -> Value {
    let payload = json!({"request": request, "settings": settings});
    call("validate", payload.to_string().as_bytes())
}

#[test]
fn protocol_version_is_v1() {
    assert_eq!(call("protocol_version", b""), json!("v1"));
}

#[test]
fn settings_accept_documented_keys() {
    for settings in [json!({}), json!({"hcoVersion": "1.8"})] {
        let reply = call("validate_settings", settings.to_string().as_bytes());
        assert_eq!(reply, json!({"valid": true}), "{settings}");
    }
}

#[test]
fn settings_reject_unknown_key() {
    let reply = call("validate_settings", br#"{"strict": true}"#);
    assert_eq!(reply["valid"], false);
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(message.contains("strict"), "{message}");
}

#[test]
fn admission_review_table() {
    let cases = [
        (
            "hyperconverged-create-accepted.json",
            Expected::Accepted { warnings: 0 },
        ),
        ("hyperconverged-create-mutated.json", Expected::Mutated),
        (
            "hyperconverged-create-multiarch-mutated.json",
            Expected::Mutated,
        ),
        (
            "hyperconverged-update-duplicate-rejected.json",
            Expected::Rejected("my-cron DataImportCronTable is already defined"),
        ),
        (
            "hyperconverged-create-bad-enable-rejected.json",
            Expected::Rejected("must be either \"true\" or \"false\""),
        ),
        (
            "dataimportcron-create-accepted.json",
            Expected::Accepted { warnings: 0 },
        ),
        (
            "dataimportcron-create-empty-schedule-accepted.json",
            Expected::Accepted { warnings: 0 },
        ),
        (
            "dataimportcron-create-storage-class-warned.json",
            Expected::Accepted { warnings: 1 },
        ),
        (
            "dataimportcron-create-schedule-rejected.json",
            Expected::Rejected("spec.schedule: Illegal cron schedule"),
        ),
        (
            "dataimportcron-create-long-name-rejected.json",
            Expected::Rejected("Name cannot be longer than 63 characters"),
        ),
        (
            "dataimportcron-update-metadata-accepted.json",
            Expected::Accepted { warnings: 0 },
        ),
        (
            "dataimportcron-update-spec-rejected.json",
            Expected::Rejected("Cannot update DataImportCron Spec"),
        ),
        (
            "pod-create-unexpected-kind-rejected.json",
            Expected::Rejected("unexpected kind \"Pod\""),
        ),
    ];
    for (file, expected) in cases {
        let reply = validate(&admission_request(file), json!({}));
        match expected {
            Expected::Accepted { warnings } => {
                assert_eq!(reply["accepted"], true, "{file}: {reply}");
                assert!(
                    reply.get("mutated_object").is_none(),
                    "{file}: mutated without need"
                );
                let count = reply["warnings"].as_array().map_or(0, Vec::len);
                assert_eq!(count, warnings, "{file}: {reply}");
            }
            Expected::Mutated => {
                assert_eq!(reply["accepted"], true, "{file}: {reply}");
                assert!(
                    reply["mutated_object"].is_object(),
                    "{file}: no mutated_object"
                );
            }
            Expected::Rejected(text) => {
                assert_eq!(reply["accepted"], false, "{file}: {reply}");
                assert!(
                    reply.get("mutated_object").is_none(),
                    "{file}: rejected yet mutated"
                );
                let message = reply["message"].as_str().unwrap_or_default();
                assert!(message.contains(text), "{file}: message {message:?}");
            }
        }
    }
}

#[test]
fn template_defaults_are_only_change() {
    let request = admission_request("hyperconverged-create-mutated.json");
    let reply = validate(&request, json!({}));
    let mut mutated = reply["mutated_object"].clone();
    let entry = &mut mutated["spec"]["dataImportCronTemplates"][0];
    assert_eq!(
        entry["metadata"]["annotations"]["cdi.kubevirt.io/storage.bind.immediate.requested"],
        "true"
    );
    assert_eq!(entry["spec"]["retentionPolicy"], "None");
    assert_eq!(entry["spec"]["importsToKeep"], 1);

    // Removing the three defaults must give back the original object.
    entry["metadata"]
        .as_object_mut()
        .unwrap()
        .remove("annotations");
    let spec = entry["spec"].as_object_mut().unwrap();
    spec.remove("retentionPolicy");
    spec.remove("importsToKeep");
    assert_eq!(mutated, request["object"]);
}

#[test]
fn multi_arch_gate_copied_to_field() {
    let request = admission_request("hyperconverged-create-multiarch-mutated.json");
    let reply = validate(&request, json!({}));
    assert_eq!(
        reply["mutated_object"]["spec"]["enableMultiArchBootImageImport"],
        true
    );
    let warnings = reply["warnings"].as_array().map_or(0, Vec::len);
    assert_eq!(warnings, 1, "{reply}");
}

#[test]
fn older_hco_skips_retention_defaults() {
    let request = admission_request("hyperconverged-create-mutated.json");
    let reply = validate(&request, json!({"hcoVersion": "1.14"}));
    let entry = &reply["mutated_object"]["spec"]["dataImportCronTemplates"][0];
    assert!(entry["spec"].get("retentionPolicy").is_none(), "{entry}");
}

#[test]
fn bad_input_rejected_without_trap() {
    let pod_request = admission_request("pod-create-unexpected-kind-rejected.json");
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("empty payload", Vec::new()),
        (
            "truncated JSON",
            br#"{"request": {"operation": "CRE"#.to_vec(),
        ),
        ("invalid UTF-8", b"{\"request\": \"\xff\xfe\"}".to_vec()),
        ("no request", br#"{"settings": {}}"#.to_vec()),
        (
            "request not an object",
            br#"{"request": 42, "settings": {}}"#.to_vec(),
        ),
        (
            "unexpected kind",
            json!({"request": pod_request, "settings": {}})
                .to_string()
                .into_bytes(),
        ),
        (
            "invalid settings",
            json!({"request": admission_request("dataimportcron-create-accepted.json"),
                   "settings": {"hcoVersion": "one"}})
            .to_string()
            .into_bytes(),
        ),
    ];
    for (name, payload) in cases {
        let reply = call("validate", &payload);
        assert_eq!(reply["accepted"], false, "{name}: {reply}");
        let message = reply["message"].as_str().unwrap_or_default();
        assert!(!message.is_empty(), "{name}: no message");
        assert!(reply.get("mutated_object").is_none(), "{name}: mutated");
    }
}

/// Returns the payload of custom section `name` of a WebAssembly binary.
fn custom_section<'a>(wasm: &'a [u8], name: &str) -> Option<&'a [u8]> {
    fn leb128(bytes: &[u8], at: &mut usize) -> Option<usize> {
        let (mut value, mut shift) = (0usize, 0);
        loop {
            let byte = *bytes.get(*at)?;
            *at += 1;
            value |= usize::from(byte & 0x7f) << shift;
            if byte & 0x80 == 0 {
                return Some(value);
            }
            shift += 7;
        }
    }
    let mut at = 8; // magic and version
    while at < wasm.len() {
        let id = wasm[at];
        at += 1;
        let size = leb128(wasm, &mut at)?;
        let end = at.checked_add(size)?;
        if id == 0 {
            let mut cursor = at;
            let name_len = leb128(wasm, &mut cursor)?;
            let section_name = wasm.get(cursor..cursor + name_len)?;
            if section_name == name.as_bytes() {
                return wasm.get(cursor + name_len..end);
            }
        }
        at = end;
    }
    None
}

#[test]
fn metadata_section_matches_metadata_yml() {
    let section = custom_section(
        bootsource::runtime::EMBEDDED_MODULE,
        "io.kubewarden.metadata",
    )
    .expect("bootsource.wasm has an io.kubewarden.metadata section");
    let embedded: Value = serde_json::from_slice(section).expect("the section is JSON");
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/kubewarden/metadata.yml");
    let text = std::fs::read_to_string(&path).expect("metadata.yml is readable");
    let documented: Value = serde_yaml::from_str(&text).expect("metadata.yml is YAML");
    assert_eq!(embedded, documented);
}

#[test]
fn policy_rules_match_metadata() {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../policies/kubewarden/cluster-admission-policy.yaml");
    let text = std::fs::read_to_string(&path).expect("the policy YAML is readable");
    let policy: Value = serde_yaml::from_str(&text).expect("the policy is YAML");
    let metadata_path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../policies/kubewarden/metadata.yml");
    let metadata: Value =
        serde_yaml::from_str(&std::fs::read_to_string(metadata_path).expect("readable"))
            .expect("metadata.yml is YAML");
    assert_eq!(policy["kind"], "ClusterAdmissionPolicy");
    assert_eq!(policy["spec"]["rules"], metadata["rules"]);
    assert_eq!(policy["spec"]["mutating"], true);
    let settings = policy["spec"]["settings"].to_string();
    let reply = call("validate_settings", settings.as_bytes());
    assert_eq!(reply["valid"], true, "{reply}");
}
