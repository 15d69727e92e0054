//! waPC surface of `bootsource.wasm`: every contract operation registered
//! under its name. Failures travel inside the JSON envelope, so the waPC
//! call itself always succeeds.

use wapc_guest::{register_function, CallResult};

use crate::contract::{dispatch, op};

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function(op::CONTRACT, contract);
    register_function(op::PLAN, plan);
    register_function(op::COMMON_TEMPLATES, common_templates);
    register_function(op::SCHEDULE, schedule);
}

fn contract(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::CONTRACT, payload))
}

fn plan(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::PLAN, payload))
}

fn common_templates(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::COMMON_TEMPLATES, payload))
}

fn schedule(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::SCHEDULE, payload))
}
