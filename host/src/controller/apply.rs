//! Applies a plan's actions to the API server, with bounded retries.

use std::future::Future;
use std::time::Duration;

use bootsource_guest::plan::{Action, ActionKind, MERGE_PATCH};
use kube::api::{Api, DeleteParams, DynamicObject, Patch, PatchParams, PostParams, Preconditions};
use kube::Client;
use serde_json::Value;

use super::cache::{to_json, Cache};
use super::resources::{api_resource, kind_of};
use super::Error;

/// Field manager of every write, so that `managedFields` shows which fields
/// bootsource owns.
pub const FIELD_MANAGER: &str = "bootsource";

/// Retry schedule for one write: exponential backoff, bounded in attempts.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts per write, the first included. Defaults to 6.
    pub max_attempts: u32,
    /// Delay before the second attempt; it doubles per attempt. Defaults to
    /// 200 ms.
    pub initial_delay: Duration,
    /// Upper bound of the delay. Defaults to 5 s.
    pub max_delay: Duration,
    /// Time limit of one request, after which it counts as failed and is
    /// retried. Defaults to 10 s.
    pub request_timeout: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 6,
            initial_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
        }
    }
}

/// Result of one write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Written {
    /// The API server accepted the change.
    Changed,
    /// Nothing to do: the object to create exists, or the one to delete is
    /// gone.
    AlreadyDone,
}

/// Applies actions through one client and records the results in the cache.
pub struct Applier<'a> {
    pub client: &'a Client,
    pub cache: &'a Cache,
    pub retry: RetryPolicy,
}

impl Applier<'_> {
    /// Applies one action.
    ///
    /// A rejected delete (409 on its preconditions) re-reads the object: if
    /// it is unchanged the delete is tried again, otherwise the fresh object
    /// goes into the cache and the caller gets [`Error::Stale`] and plans again.
    pub async fn apply(&self, action: &Action) -> Result<Written, Error> {
        let object = action.object.to_string();
        let kind = kind_of(&action.object.api_version, &action.object.kind).ok_or_else(|| {
            Error::UnknownKind {
                object: object.clone(),
            }
        })?;
        let resource = api_resource(&action.object.api_version, kind);
        let api: Api<DynamicObject> = match &action.object.namespace {
            Some(namespace) if kind.namespaced => {
                Api::namespaced_with(self.client.clone(), namespace, &resource)
            }
            _ => Api::all_with(self.client.clone(), &resource),
        };
        let name = action.object.name.as_str();
        let store = |o: &DynamicObject| {
            if let Some(value) = to_json(o, &resource.api_version, &resource.kind) {
                self.cache.upsert(value);
            }
        };

        match action.action {
            ActionKind::Create => {
                let body = dynamic_body(action, &object)?;
                let params = PostParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PostParams::default()
                };
                match self
                    .retrying(&object, "create", || async {
                        api.create(&params, &body).await
                    })
                    .await
                {
                    Ok(created) => {
                        store(&created);
                        Ok(Written::Changed)
                    }
                    Err(error) if error.status_reason() == Some("AlreadyExists") => {
                        Ok(Written::AlreadyDone)
                    }
                    Err(error) => Err(error),
                }
            }
            ActionKind::Apply => {
                let body = action
                    .body
                    .clone()
                    .ok_or_else(|| missing(&object, "body"))?;
                let params = PatchParams::apply(FIELD_MANAGER).force();
                let applied = self
                    .retrying(&object, "apply", || async {
                        api.patch(name, &params, &Patch::Apply(&body)).await
                    })
                    .await?;
                store(&applied);
                Ok(Written::Changed)
            }
            ActionKind::Patch => {
                let patch_type = action.patch_type.as_deref().unwrap_or(MERGE_PATCH);
                if patch_type != MERGE_PATCH {
                    return Err(Error::PatchType {
                        object,
                        patch_type: patch_type.to_string(),
                    });
                }
                let patch = action
                    .patch
                    .clone()
                    .ok_or_else(|| missing(&object, "patch"))?;
                let params = PatchParams {
                    field_manager: Some(FIELD_MANAGER.into()),
                    ..PatchParams::default()
                };
                let status = action.subresource.as_deref() == Some("status");
                let verb = if status { "patch status" } else { "patch" };
                let patched = self
                    .retrying(&object, verb, || async {
                        if status {
                            api.patch_status(name, &params, &Patch::Merge(&patch)).await
                        } else {
                            api.patch(name, &params, &Patch::Merge(&patch)).await
                        }
                    })
                    .await?;
                store(&patched);
                Ok(Written::Changed)
            }
            ActionKind::Delete => self.delete(&api, action, &object, &resource).await,
        }
    }

    async fn delete(
        &self,
        api: &Api<DynamicObject>,
        action: &Action,
        object: &str,
        resource: &kube::discovery::ApiResource,
    ) -> Result<Written, Error> {
        let name = action.object.name.as_str();
        let expected =
            action
                .preconditions
                .clone()
                .unwrap_or(bootsource_guest::plan::Preconditions {
                    uid: None,
                    resource_version: None,
                });
        let params = DeleteParams {
            preconditions: Some(Preconditions {
                uid: expected.uid.clone(),
                resource_version: expected.resource_version.clone(),
            }),
            ..DeleteParams::default()
        };
        for _ in 0..self.retry.max_attempts {
            let error = match self
                .retrying(object, "delete", || async {
                    api.delete(name, &params).await
                })
                .await
            {
                Ok(_) => {
                    let deleted = serde_json::json!({
                        "apiVersion": resource.api_version,
                        "kind": resource.kind,
                        "metadata": {
                            "name": name,
                            "namespace": action.object.namespace,
                            "uid": expected.uid,
                        },
                    });
                    self.cache.remove(&deleted);
                    return Ok(Written::Changed);
                }
                Err(error) => error,
            };
            match error.status_code() {
                Some(404) => return Ok(Written::AlreadyDone),
                Some(409) => {}
                _ => return Err(error),
            }

            // The API server rejected the preconditions: re-read the object and delete
            // it only if it is still the version the plan saw.
            let current = match self
                .retrying(object, "get", || async { api.get_opt(name).await })
                .await?
            {
                None => return Ok(Written::AlreadyDone),
                Some(current) => current,
            };
            let unchanged = current.metadata.uid == expected.uid
                && current.metadata.resource_version == expected.resource_version;
            if !unchanged {
                if let Some(value) = to_json(&current, &resource.api_version, &resource.kind) {
                    self.cache.upsert(value);
                }
                return Err(Error::Stale {
                    object: object.to_string(),
                });
            }
            tracing::info!(
                object,
                "delete rejected although the object is unchanged; retrying"
            );
        }
        Err(Error::Stale {
            object: object.to_string(),
        })
    }

    /// Runs one request with the timeout and retries of the policy.
    ///
    /// Retried: 409 other than AlreadyExists on calls other than delete,
    /// 429, 5xx, timeouts and transport errors. Everything else returns at
    /// once.
    async fn retrying<T, F, Fut>(
        &self,
        object: &str,
        verb: &'static str,
        call: F,
    ) -> Result<T, Error>
    where
        F: Fn() -> Fut,
        Fut: Future<Output = Result<T, kube::Error>>,
    {
        let mut delay = self.retry.initial_delay;
        let mut attempt = 1;
        loop {
            let error = match tokio::time::timeout(self.retry.request_timeout, call()).await {
                Ok(Ok(value)) => return Ok(value),
                Ok(Err(source)) => Error::Write {
                    object: object.to_string(),
                    verb,
                    source: Box::new(source),
                },
                Err(_) => Error::Timeout {
                    object: object.to_string(),
                    verb,
                    timeout: self.retry.request_timeout,
                },
            };
            let retryable = match error.status_code() {
                Some(409) => verb != "delete" && error.status_reason() != Some("AlreadyExists"),
                Some(code) => code == 429 || code >= 500,
                None => true,
            };
            if !retryable || attempt >= self.retry.max_attempts {
                return Err(error);
            }
            tracing::warn!(object, verb, attempt, %error, ?delay, "write failed; retrying");
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(self.retry.max_delay);
            attempt += 1;
        }
    }
}

fn dynamic_body(action: &Action, object: &str) -> Result<DynamicObject, Error> {
    let body: Value = action.body.clone().ok_or_else(|| missing(object, "body"))?;
    serde_json::from_value(body).map_err(|e| Error::Body {
        object: object.to_string(),
        message: e.to_string(),
    })
}

fn missing(object: &str, field: &str) -> Error {
    Error::Body {
        object: object.to_string(),
        message: format!("the module returned the action without its {field}"),
    }
}
