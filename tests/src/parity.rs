//! Native/wasm parity for guest operations: one call runs both the native
//! library and the built wasm module and requires byte-identical responses.

use std::sync::LazyLock;

use bootsource::runtime::Runtime;
use serde_json::Value;

/// The built module, loaded once per test binary.
static RUNTIME: LazyLock<Runtime> =
    LazyLock::new(|| Runtime::embedded().expect("the embedded module loads"));

/// Runs operation `operation` on `request` natively and through the wasm
/// module, asserts that both JSON responses are byte-identical, and returns
/// the decoded envelope.
pub fn call(operation: &str, request: &Value) -> Value {
    let payload = serde_json::to_vec(request).expect("the request encodes");
    let native = bootsource_guest::dispatch(operation, &payload);
    let wasm = RUNTIME.call(operation, &payload).expect("the module runs");
    assert!(
        wasm == native,
        "wasm and native responses to {operation} differ\nnative: {}\nwasm:   {}",
        String::from_utf8_lossy(&native),
        String::from_utf8_lossy(&wasm),
    );
    serde_json::from_slice(&wasm).expect("the response is JSON")
}
