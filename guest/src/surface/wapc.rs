//! waPC surface of `bootsource.wasm`: every contract operation registered
//! under its name, plus Kubewarden's three. Failures travel inside the JSON
//! replies, so the waPC call itself always succeeds.

use wapc_guest::{register_function, CallResult};

use super::kubewarden;
use crate::contract::{dispatch, op};

#[no_mangle]
pub extern "C" fn wapc_init() {
    register_function(op::CONTRACT, contract);
    register_function(op::PLAN, plan);
    register_function(op::COMMON_TEMPLATES, common_templates);
    register_function(op::SCHEDULE, schedule);
    register_function(op::VALIDATE_OBJECTS, validate_objects);
    register_function(op::SIMULATE, simulate);
    register_function(kubewarden::op::VALIDATE, |p| Ok(kubewarden::validate(p)));
    register_function(kubewarden::op::VALIDATE_SETTINGS, |p| {
        Ok(kubewarden::validate_settings(p))
    });
    register_function(kubewarden::op::PROTOCOL_VERSION, |p| {
        Ok(kubewarden::protocol_version(p))
    });
    register_function(op::ADMISSION_REVIEW, admission_review);
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

fn simulate(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::SIMULATE, payload))
}

fn validate_objects(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::VALIDATE_OBJECTS, payload))
}

fn admission_review(payload: &[u8]) -> CallResult {
    Ok(dispatch(op::ADMISSION_REVIEW, payload))
}
