//! Leader election with a `coordination.k8s.io/v1` Lease.
//!
//! kube-runtime has no leader election, so this is a small loop: take the
//! Lease when it is free or expired, renew it well before it expires, and
//! stop the controller when a renewal fails for longer than the lease
//! lasts, because another replica may then have taken over. On shutdown the
//! holder hands the lease back, so that a waiting replica takes over at its
//! next attempt instead of after the lease expired.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kube::api::{Api, DynamicObject, PostParams};
use kube::discovery::ApiResource;
use kube::Client;
use serde_json::{json, Value};

use super::Error;

/// Leader-election settings.
#[derive(Debug, Clone)]
pub struct LeaseSettings {
    /// Name of the Lease object.
    pub name: String,
    /// Namespace of the Lease, normally the controller's own.
    pub namespace: String,
    /// This replica's identity, written to `spec.holderIdentity`.
    pub identity: String,
    /// How long a lease holds without renewal. Defaults to 15 s.
    pub duration: Duration,
    /// Interval of renewals and of attempts to take the lease. Defaults to
    /// 5 s; it must be well below `duration`.
    pub retry_period: Duration,
}

impl LeaseSettings {
    /// Creates settings with the default duration and retry period.
    pub fn new(name: String, namespace: String, identity: String) -> Self {
        LeaseSettings {
            name,
            namespace,
            identity,
            duration: Duration::from_secs(15),
            retry_period: Duration::from_secs(5),
        }
    }
}

fn lease_resource() -> ApiResource {
    ApiResource {
        group: "coordination.k8s.io".into(),
        version: "v1".into(),
        api_version: "coordination.k8s.io/v1".into(),
        kind: "Lease".into(),
        plural: "leases".into(),
    }
}

/// Formats a time as the API's MicroTime.
fn micro_time(time: DateTime<Utc>) -> String {
    time.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// Waits until this replica holds the lease.
pub async fn acquire(client: &Client, settings: &LeaseSettings) -> Result<(), Error> {
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &settings.namespace,
        &lease_resource(),
    );
    loop {
        match try_acquire_or_renew(&api, settings).await {
            Ok(true) => {
                tracing::info!(lease = %settings.name, identity = %settings.identity, "became leader");
                return Ok(());
            }
            Ok(false) => tracing::debug!(lease = %settings.name, "lease held by another replica"),
            Err(error) => {
                tracing::warn!(lease = %settings.name, %error, "failed to take the lease")
            }
        }
        tokio::time::sleep(settings.retry_period).await;
    }
}

/// Renews the lease until a renewal is impossible for a whole lease
/// duration; then returns [`Error::LeaseLost`].
pub async fn hold(client: &Client, settings: &LeaseSettings) -> Error {
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &settings.namespace,
        &lease_resource(),
    );
    let mut last_renewal = tokio::time::Instant::now();
    loop {
        tokio::time::sleep(settings.retry_period).await;
        match try_acquire_or_renew(&api, settings).await {
            Ok(true) => last_renewal = tokio::time::Instant::now(),
            Ok(false) => {
                return Error::LeaseLost {
                    lease: settings.name.clone(),
                }
            }
            Err(error) => {
                tracing::warn!(lease = %settings.name, %error, "failed to renew the lease");
                if last_renewal.elapsed() >= settings.duration {
                    return Error::LeaseLost {
                        lease: settings.name.clone(),
                    };
                }
            }
        }
    }
}

/// Hands the lease back if this replica holds it: clears the holder and
/// shortens the duration to one second. The
/// replace carries the resourceVersion just read, so it never clears another
/// replica's lease. Failures are logged; the lease then simply expires.
pub async fn release(client: &Client, settings: &LeaseSettings, timeout: Duration) {
    let api = Api::<DynamicObject>::namespaced_with(
        client.clone(),
        &settings.namespace,
        &lease_resource(),
    );
    match tokio::time::timeout(timeout, try_release(&api, settings)).await {
        Ok(Ok(true)) => {
            tracing::info!(lease = %settings.name, identity = %settings.identity, "released the lease")
        }
        Ok(Ok(false)) => {}
        Ok(Err(error)) => {
            tracing::warn!(lease = %settings.name, %error, "failed to release the lease")
        }
        Err(_) => {
            tracing::warn!(lease = %settings.name, ?timeout, "releasing the lease timed out")
        }
    }
}

/// Clears the holder of a lease this replica holds; returns false when it
/// holds none.
async fn try_release(
    api: &Api<DynamicObject>,
    settings: &LeaseSettings,
) -> Result<bool, kube::Error> {
    let Some(mut current) = api.get_opt(&settings.name).await? else {
        return Ok(false);
    };
    let holder = current
        .data
        .pointer("/spec/holderIdentity")
        .and_then(Value::as_str);
    if holder != Some(settings.identity.as_str()) {
        return Ok(false);
    }
    if let Some(spec) = current.data.get_mut("spec").and_then(Value::as_object_mut) {
        spec.insert("holderIdentity".into(), json!(""));
        spec.insert("leaseDurationSeconds".into(), json!(1));
        spec.insert("renewTime".into(), json!(micro_time(Utc::now())));
    }
    api.replace(&settings.name, &PostParams::default(), &current)
        .await?;
    Ok(true)
}

/// Takes or renews the lease; returns false while another replica holds
/// an unexpired one.
async fn try_acquire_or_renew(
    api: &Api<DynamicObject>,
    settings: &LeaseSettings,
) -> Result<bool, kube::Error> {
    let now = Utc::now();
    let duration_seconds = settings.duration.as_secs().max(1);
    let Some(current) = api.get_opt(&settings.name).await? else {
        let lease = lease_object(settings, None, now, now, 0, duration_seconds);
        api.create(&PostParams::default(), &lease).await?;
        return Ok(true);
    };

    let spec = current.data.get("spec").cloned().unwrap_or(Value::Null);
    // An empty holder is a released lease: free to take.
    let holder = spec
        .get("holderIdentity")
        .and_then(Value::as_str)
        .filter(|h| !h.is_empty());
    let renewed = spec
        .get("renewTime")
        .and_then(Value::as_str)
        .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
        .map(|t| t.with_timezone(&Utc));
    let held_for = spec
        .get("leaseDurationSeconds")
        .and_then(Value::as_i64)
        .unwrap_or(duration_seconds as i64);
    let expired = renewed.is_none_or(|t| t + chrono::Duration::seconds(held_for) < now);
    let mine = holder == Some(settings.identity.as_str());
    if !mine && !expired && holder.is_some() {
        return Ok(false);
    }

    let transitions = spec
        .get("leaseTransitions")
        .and_then(Value::as_i64)
        .unwrap_or(0);
    let (acquired, transitions) = if mine {
        let acquired = spec
            .get("acquireTime")
            .and_then(Value::as_str)
            .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
            .map_or(now, |t| t.with_timezone(&Utc));
        (acquired, transitions)
    } else {
        (now, transitions + 1)
    };
    // The replace carries the resourceVersion just read, so two replicas
    // that both saw an expired lease cannot both take it: one gets 409.
    let lease = lease_object(
        settings,
        current.metadata.resource_version.clone(),
        acquired,
        now,
        transitions,
        duration_seconds,
    );
    api.replace(&settings.name, &PostParams::default(), &lease)
        .await?;
    Ok(true)
}

fn lease_object(
    settings: &LeaseSettings,
    resource_version: Option<String>,
    acquired: DateTime<Utc>,
    renewed: DateTime<Utc>,
    transitions: i64,
    duration_seconds: u64,
) -> DynamicObject {
    let mut lease =
        DynamicObject::new(&settings.name, &lease_resource()).within(&settings.namespace);
    lease.metadata.resource_version = resource_version;
    lease.data = json!({
        "spec": {
            "holderIdentity": settings.identity,
            "leaseDurationSeconds": duration_seconds,
            "acquireTime": micro_time(acquired),
            "renewTime": micro_time(renewed),
            "leaseTransitions": transitions,
        }
    });
    lease
}
