//! Test support shared by the integration tests.

// Each test binary uses a part of the support code.
#[allow(dead_code)]
pub mod fake_apiserver;
#[allow(dead_code)]
pub mod fake_cdi;
