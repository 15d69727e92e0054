//! Test support shared by the integration tests.

// Each test binary uses a part of the support code.
#[allow(dead_code)]
pub mod fake_apiserver;
#[allow(dead_code)]
pub mod fake_cdi;

/// Checks `condition` every 50 ms until it holds, and fails the test when
/// `timeout` passes first.
#[allow(dead_code)]
pub async fn poll_until(
    what: &str,
    timeout: std::time::Duration,
    mut condition: impl FnMut() -> bool,
) {
    let deadline = tokio::time::Instant::now() + timeout;
    while !condition() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "timed out waiting until {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}
