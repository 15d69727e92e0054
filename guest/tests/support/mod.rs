//! The one path by which the stage tests call the guest through its
//! operations.
//!
//! Built in this crate, a call runs the native `dispatch`. The workspace
//! `tests` crate compiles the same test files with the `wasm_parity` cfg set.
//! There a call runs both natively and through the built wasm module, and it
//! fails unless the two JSON responses are byte-identical.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use bootsource_guest::contract::PlanRequest;
use bootsource_guest::error::Error;
use bootsource_guest::plan::Plan;
use serde::de::DeserializeOwned;
use serde_json::Value;

/// Runs operation `operation` on `request` and returns the decoded
/// `{"ok": ...}` / `{"error": ...}` envelope.
#[cfg(not(wasm_parity))]
pub fn call(operation: &str, request: &Value) -> Value {
    let payload = serde_json::to_vec(request).expect("the request encodes");
    let response = bootsource_guest::dispatch(operation, &payload);
    serde_json::from_slice(&response).expect("the response is JSON")
}

#[cfg(wasm_parity)]
pub use bootsource_tests::parity::call;

/// Runs operation `operation` and decodes the envelope into the `ok` value
/// or the error value.
pub fn call_typed<Req, Resp>(operation: &str, request: &Req) -> Result<Resp, Error>
where
    Req: serde::Serialize,
    Resp: DeserializeOwned,
{
    let request = serde_json::to_value(request).expect("the request encodes");
    let mut envelope = call(operation, &request);
    if let Some(error) = envelope.get_mut("error") {
        return Err(serde_json::from_value(error.take()).expect("the error value decodes"));
    }
    let ok = envelope
        .get_mut("ok")
        .map(Value::take)
        .expect("the envelope has ok or error");
    Ok(serde_json::from_value(ok).expect("the ok value decodes"))
}

/// Runs the `plan` operation on `request`.
pub fn plan(request: &PlanRequest) -> Result<Plan, Error> {
    call_typed("plan", request)
}
