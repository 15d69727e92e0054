//! The Kubewarden operations called natively: settings, protocol version
//! and bad input.

use bootsource_guest::surface::kubewarden::{
    protocol_version, validate, validate_settings, METADATA_JSON,
};
use serde_json::{json, Value};

fn call(function: fn(&[u8]) -> Vec<u8>, payload: &[u8]) -> Value {
    serde_json::from_slice(&function(payload)).expect("the reply is JSON")
}

#[test]
fn protocol_version_is_v1_string() {
    assert_eq!(call(protocol_version, b""), json!("v1"));
}

#[test]
fn settings_table() {
    let cases: Vec<(Value, bool)> = vec![
        (json!({}), true),
        (Value::Null, true),
        (json!({"hcoVersion": "1.14"}), true),
        (
            json!({"hcoVersion": "1.14", "osImagesNamespace": "golden"}),
            true,
        ),
        (json!({"hcoVersion": "2.0"}), false),
        (json!({"hcoVersion": 14}), false),
        (json!({"osImagesNamespace": ""}), false),
        (json!({"hcoversion": "1.14"}), false),
        (json!(["hcoVersion"]), false),
    ];
    for (settings, valid) in cases {
        let reply = call(validate_settings, settings.to_string().as_bytes());
        assert_eq!(reply["valid"], json!(valid), "{settings}: {reply}");
        if !valid {
            assert!(
                reply["message"].as_str().is_some_and(|m| !m.is_empty()),
                "{settings}"
            );
        }
    }
}

#[test]
fn unknown_setting_names_known_ones() {
    let reply = call(validate_settings, br#"{"mode": "strict"}"#);
    let message = reply["message"].as_str().unwrap_or_default();
    assert!(message.contains("unknown field `mode`"), "{message}");
    assert!(message.contains("hcoVersion"), "{message}");
}

#[test]
fn settings_not_json_invalid() {
    let reply = call(validate_settings, b"\xff\xfe");
    assert_eq!(reply["valid"], false);
}

#[test]
fn bad_validation_requests_rejected() {
    let cases: Vec<&[u8]> = vec![
        b"",
        b"{",
        b"\xff\xfe\xfd",
        b"[]",
        br#"{"settings": {}}"#,
        br#"{"request": {"operation": "CREATE"}, "settings": {}}"#,
        br#"{"request": {"operation": "CREATE", "kind": {"group": "", "version": "v1", "kind": "Pod"}, "object": {}}, "settings": {}}"#,
        br#"{"request": {"operation": "CREATE", "object": {}}, "settings": {"nosuch": 1}}"#,
    ];
    for payload in cases {
        let reply = call(validate, payload);
        let text = String::from_utf8_lossy(payload);
        assert_eq!(reply["accepted"], false, "{text}");
        assert!(
            reply["message"].as_str().is_some_and(|m| !m.is_empty()),
            "{text}"
        );
        assert_eq!(reply["code"], 400, "{text}");
        assert!(reply.get("mutated_object").is_none(), "{text}");
    }
}

#[test]
fn metadata_declares_mutating_wapc_policy() {
    let metadata: Value = serde_json::from_slice(METADATA_JSON).expect("metadata is JSON");
    assert_eq!(metadata["protocolVersion"], "v1");
    assert_eq!(metadata["mutating"], true);
    assert_eq!(metadata["executionMode"], "kubewarden-wapc");
    assert_eq!(metadata["rules"].as_array().map(Vec::len), Some(2));
}
