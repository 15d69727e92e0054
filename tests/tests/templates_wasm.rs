//! Templates-stage cases through the freshly built `bootsource.wasm` under
//! wasmtime: the same checks, and byte-identical JSON to the native library.

use std::sync::LazyLock;

use bootsource::runtime::Runtime;
use bootsource_tests::{outcome, templates_cases::cases};

static RUNTIME: LazyLock<Runtime> =
    LazyLock::new(|| Runtime::embedded().expect("the embedded module loads"));

#[test]
fn templates_cases_wasm_match_native() {
    let mut failures = Vec::new();
    for case in cases() {
        let payload = serde_json::to_vec(&case.request).expect("request encodes");
        let wasm = RUNTIME.call("plan", &payload).expect("the module runs");
        let native = bootsource_guest::dispatch("plan", &payload);
        if wasm != native {
            failures.push(format!("{}: wasm and native output differ", case.name));
            continue;
        }
        let result = std::panic::catch_unwind(|| (case.check)(&outcome(&wasm)));
        if result.is_err() {
            failures.push(format!("{}: check failed", case.name));
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
