//! The wasmtime host: contract check, limits, and errors as values.

use std::time::Duration;

use bootsource::runtime::{Limits, Runtime, RuntimeError, EMBEDDED_MODULE};
use serde_json::json;

#[test]
fn embedded_module_reports_contract() {
    let runtime = Runtime::embedded().expect("loads");
    assert_eq!(
        runtime.contract().major,
        bootsource_guest::contract::CONTRACT_MAJOR
    );
    assert!(runtime.contract().operations.iter().any(|o| o == "plan"));
}

#[test]
fn malformed_request_is_an_error_value() {
    let runtime = Runtime::embedded().expect("loads");
    let bytes = runtime.call("plan", b"{not json").expect("no trap");
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("envelope");
    assert!(value["error"]["message"]
        .as_str()
        .unwrap_or("")
        .contains("not valid JSON"));
}

#[test]
fn invalid_utf8_request_is_an_error_value() {
    let runtime = Runtime::embedded().expect("loads");
    let bytes = runtime.call("plan", &[0xff, 0xfe, 0x00]).expect("no trap");
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("envelope");
    assert!(value.get("error").is_some());
}

#[test]
fn unknown_operation_is_a_guest_error() {
    let runtime = Runtime::embedded().expect("loads");
    let error = runtime
        .call("nosuch", b"{}")
        .expect_err("waPC reports the unknown operation");
    assert!(matches!(error, RuntimeError::Guest { .. }), "{error}");
    assert!(error.to_string().contains("nosuch"), "{error}");
}

#[test]
fn unknown_operation_is_an_error_value_natively() {
    let bytes = bootsource_guest::dispatch("nosuch", b"{}");
    let value: serde_json::Value = serde_json::from_slice(&bytes).expect("envelope");
    assert_eq!(value["error"]["kind"], json!("unknownOperation"));
}

#[test]
fn fuel_limit_stops_a_call() {
    let limits = Limits {
        fuel: 10_000,
        ..Limits::default()
    };
    let error = Runtime::new(EMBEDDED_MODULE, limits)
        .err()
        .expect("contract call runs out of fuel");
    assert!(matches!(error, RuntimeError::OutOfFuel { .. }), "{error}");
}

#[test]
fn memory_limit_stops_a_call() {
    let runtime = Runtime::new(
        EMBEDDED_MODULE,
        Limits {
            max_memory_bytes: 4 << 20,
            timeout: Duration::from_secs(30),
            ..Limits::default()
        },
    )
    .expect("small calls fit");
    // A 3 MiB request cannot be copied into a 4 MiB memory next to the
    // module's own data.
    let big = vec![b' '; 3 << 20];
    let error = runtime
        .call("plan", &big)
        .expect_err("the call exceeds memory");
    assert!(matches!(error, RuntimeError::OutOfMemory { .. }), "{error}");
}

#[test]
fn module_of_other_contract_is_refused() {
    // A minimal waPC module whose contract operation returns major version 99.
    let wat = wasm_module_reporting_major(99);
    let error = Runtime::new(&wat, Limits::default())
        .err()
        .expect("refused");
    assert!(
        matches!(
            error,
            RuntimeError::ContractMismatch {
                found_major: 99,
                ..
            }
        ),
        "{error}"
    );
    assert!(error.to_string().contains("contract 99.0"), "{error}");
}

#[test]
fn module_without_wapc_is_refused() {
    // The smallest valid module: magic number and version, nothing else.
    let empty = b"\0asm\x01\0\0\0";
    let error = Runtime::new(empty, Limits::default())
        .err()
        .expect("refused");
    assert!(matches!(error, RuntimeError::NotWapc(_)), "{error}");
}

/// Encodes, by hand, a module that imports `wapc.__guest_response`, exports
/// memory and `__guest_call`, and answers every call with a contract
/// envelope of the given major version.
fn wasm_module_reporting_major(major: u32) -> Vec<u8> {
    let body = format!(r#"{{"ok":{{"major":{major},"minor":0,"operations":["contract"]}}}}"#);
    let data = body.as_bytes();
    let mut module = b"\0asm\x01\0\0\0".to_vec();
    // type section: 0 = (i32, i32) -> (), 1 = (i32, i32) -> i32
    section(
        &mut module,
        1,
        &[2, 0x60, 2, 0x7f, 0x7f, 0, 0x60, 2, 0x7f, 0x7f, 1, 0x7f],
    );
    // import section: wapc.__guest_response of type 0
    let mut import = vec![1];
    name(&mut import, "wapc");
    name(&mut import, "__guest_response");
    import.extend([0, 0]);
    section(&mut module, 2, &import);
    // function section: one function of type 1
    section(&mut module, 3, &[1, 1]);
    // memory section: one memory of 1 page
    section(&mut module, 5, &[1, 0, 1]);
    // export section: memory and __guest_call (function index 1)
    let mut export = vec![2];
    name(&mut export, "memory");
    export.extend([2, 0]);
    name(&mut export, "__guest_call");
    export.extend([0, 1]);
    section(&mut module, 7, &export);
    // code: call __guest_response(16, len); return 1
    let mut code = vec![0];
    code.extend([0x41, 16]);
    code.push(0x41);
    leb(&mut code, data.len() as u32);
    code.extend([0x10, 0, 0x41, 1, 0x0b]);
    let mut func = Vec::new();
    leb(&mut func, code.len() as u32);
    func.extend(code);
    let mut code_section = vec![1];
    code_section.extend(func);
    section(&mut module, 10, &code_section);
    // data: the envelope at offset 16
    let mut data_section = vec![1, 0, 0x41, 16, 0x0b];
    leb(&mut data_section, data.len() as u32);
    data_section.extend(data);
    section(&mut module, 11, &data_section);
    module
}

fn section(module: &mut Vec<u8>, id: u8, content: &[u8]) {
    module.push(id);
    leb(module, content.len() as u32);
    module.extend(content);
}

fn name(out: &mut Vec<u8>, text: &str) {
    leb(out, text.len() as u32);
    out.extend(text.as_bytes());
}

fn leb(out: &mut Vec<u8>, mut value: u32) {
    loop {
        let byte = (value & 0x7f) as u8;
        value >>= 7;
        if value == 0 {
            out.push(byte);
            break;
        }
        out.push(byte | 0x80);
    }
}
