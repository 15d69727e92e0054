//! A fake Kubernetes API server for tests. It is not Kubernetes: it keeps
//! objects in memory, checks no schemas, runs no admission, finalizers or
//! garbage collection, and serves plain HTTP on 127.0.0.1.
//!
//! What it does enforce, because the controller's correctness depends on
//! it: resourceVersions (one counter for all objects), create conflicts
//! (409 AlreadyExists), delete preconditions and update resourceVersions
//! (409 Conflict), 404 NotFound, all as real `kind: Status` bodies; list
//! and `watch=true` streams of JSON events from a resourceVersion.
//!
//! Server-side apply is a plain recursive merge of the applied document
//! into the stored object. It does not track field managers, so it never
//! returns an apply conflict and never removes fields another manager
//! owns. Merge patches follow RFC 7386.
//!
//! Faults can be injected: the next N requests that match a method and a
//! path fragment get a 409, a 500, or a response delayed past the client's
//! timeout (the request itself is still carried out, as when a response is
//! lost), or the matched object is changed just before the request runs.

// Handlers return a ready error response as the `Err` value; its size does
// not matter in a test server.
#![allow(clippy::result_large_err)]

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use futures::StreamExt;
use http_body_util::{combinators::UnsyncBoxBody, BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

type Body = UnsyncBoxBody<Bytes, Infallible>;

/// What an injected fault does.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// Reply 409 Conflict without doing anything.
    Conflict,
    /// Reply 500 InternalError without doing anything.
    ServerError,
    /// Reply 404 NotFound with the body a real server gives for a resource
    /// it does not serve, such as a custom resource without its CRD.
    NotServed,
    /// Carry out the request, then hold the response this long.
    Delay(Duration),
    /// Bump the target object's resourceVersion (as another writer would)
    /// just before the request runs.
    TouchFirst,
}

/// A fault for the next `remaining` matching requests.
#[derive(Debug, Clone)]
pub struct Fault {
    pub method: Method,
    /// A fragment the request path must contain.
    pub path_contains: String,
    pub remaining: usize,
    pub kind: FaultKind,
}

/// One served request, for assertions.
#[derive(Debug, Clone)]
pub struct Logged {
    pub method: Method,
    pub path: String,
    pub status: u16,
    /// True when an injected fault replied to it or delayed it.
    pub faulted: bool,
    /// The request body as text.
    pub body: String,
    /// The name a client from [`FakeApiServer::client_as`] sent; empty for
    /// other clients.
    pub client: String,
}

/// Header that names the client of a request, for the log.
const CLIENT_HEADER: &str = "fake-apiserver-client";

/// A stored object's address: API prefix and plural, namespace, name.
type Key = (String, String, String);

#[derive(Debug, Clone)]
struct WatchEvent {
    resource: String,
    namespace: String,
    kind: &'static str,
    object: Value,
    version: u64,
}

#[derive(Default)]
struct State {
    /// Objects by resource (`/apis/group/version/plural` without the
    /// version, so that all versions share storage), then key.
    objects: BTreeMap<String, BTreeMap<Key, Value>>,
    version: u64,
    history: Vec<WatchEvent>,
    faults: Vec<Fault>,
    faults_used: usize,
    log: Vec<Logged>,
}

/// The fake API server; dropping it stops serving.
pub struct FakeApiServer {
    address: SocketAddr,
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<WatchEvent>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for FakeApiServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A parsed request path.
#[derive(Debug, Clone)]
struct Target {
    /// `/api/v1/persistentvolumeclaims` or `/apis/cdi.kubevirt.io/dataimportcrons`:
    /// the storage key, with the version left out.
    resource: String,
    namespace: Option<String>,
    name: Option<String>,
    subresource: Option<String>,
}

fn parse_path(path: &str) -> Option<Target> {
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    let (prefix, rest) = match segments.as_slice() {
        ["api", _version, rest @ ..] => ("/api".to_string(), rest),
        ["apis", group, _version, rest @ ..] => (format!("/apis/{group}"), rest),
        _ => return None,
    };
    let (namespace, rest) = match rest {
        ["namespaces", namespace, rest @ ..] if !rest.is_empty() => {
            (Some(namespace.to_string()), rest)
        }
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (plural, None, None),
        [plural, name] => (plural, Some(name.to_string()), None),
        [plural, name, sub] => (plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return None,
    };
    Some(Target {
        resource: format!("{prefix}/{plural}"),
        namespace,
        name,
        subresource,
    })
}

/// A Kubernetes `Status` failure body.
pub fn status_body(code: u16, reason: &str, message: &str, name: &str, kind: &str) -> Value {
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "details": {"name": name, "kind": kind},
        "code": code,
    })
}

fn json_response(status: u16, body: &Value) -> Response<Body> {
    let bytes = Bytes::from(body.to_string());
    let mut response = Response::new(Full::new(bytes).boxed_unsync());
    *response.status_mut() =
        StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// RFC 7386 merge patch, the same function the module applies plans with.
pub use bootsource_guest::apply::merge_patch;

impl FakeApiServer {
    /// Starts serving on a free port of 127.0.0.1.
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind 127.0.0.1:0");
        let address = listener.local_addr().expect("local address");
        let state = Arc::new(Mutex::new(State::default()));
        let (events, _) = broadcast::channel(4096);
        let server = Server {
            state: state.clone(),
            events: events.clone(),
        };
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let server = server.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let server = server.clone();
                        async move { Ok::<_, Infallible>(server.handle(request).await) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeApiServer {
            address,
            state,
            events,
            task,
        }
    }

    /// Returns the server's base URL.
    pub fn url(&self) -> String {
        format!("http://{}", self.address)
    }

    /// Returns a kube client for this server, with no TLS and no auth.
    pub fn client(&self) -> kube::Client {
        let uri: hyper::Uri = self.url().parse().expect("valid URL");
        let config = kube::Config::new(uri);
        kube::Client::try_from(config).expect("kube client")
    }

    /// Returns a kube client whose requests the log attributes to `name`,
    /// so that tests can tell two controllers on one server apart.
    pub fn client_as(&self, name: &str) -> kube::Client {
        let uri: hyper::Uri = self.url().parse().expect("valid URL");
        let mut config = kube::Config::new(uri);
        config.headers.push((
            hyper::header::HeaderName::from_static(CLIENT_HEADER),
            hyper::header::HeaderValue::from_str(name).expect("header-safe client name"),
        ));
        kube::Client::try_from(config).expect("kube client")
    }

    /// Queues a fault.
    pub fn inject(&self, method: Method, path_contains: &str, remaining: usize, kind: FaultKind) {
        self.lock().faults.push(Fault {
            method,
            path_contains: path_contains.to_string(),
            remaining,
            kind,
        });
    }

    /// Returns the number of queued faults not yet used up.
    pub fn pending_faults(&self) -> usize {
        self.lock().faults.iter().map(|f| f.remaining).sum()
    }

    /// Returns how many requests an injected fault answered, delayed or
    /// preceded. Unlike [`FakeApiServer::log`] this counts requests whose
    /// client gave up before the response.
    pub fn faults_used(&self) -> usize {
        self.lock().faults_used
    }

    /// Returns every request served so far. A request is logged after its
    /// response is ready, so an object may already be changed while its
    /// request is not yet in the log.
    pub fn log(&self) -> Vec<Logged> {
        self.lock().log.clone()
    }

    /// Stores an object as a create would (metadata filled in), at the
    /// resource path `collection`, e.g.
    /// `/apis/hco.kubevirt.io/v1beta1/namespaces/ns/hyperconvergeds`.
    pub fn seed(&self, collection: &str, object: Value) -> Value {
        let target = parse_path(collection).expect("collection path");
        let mut state = self.lock();
        let created = create(&mut state, &target, object).expect("seed object is new");
        self.publish(&mut state, &target.resource, "ADDED", &created);
        created
    }

    /// Returns the objects of a resource (any version), ordered by
    /// namespace and name.
    pub fn objects(&self, collection: &str) -> Vec<Value> {
        let target = parse_path(collection).expect("collection path");
        let state = self.lock();
        state
            .objects
            .get(&target.resource)
            .map(|m| m.values().cloned().collect())
            .unwrap_or_default()
    }

    /// Returns one object.
    pub fn get(&self, path: &str) -> Option<Value> {
        let target = parse_path(path)?;
        let state = self.lock();
        state
            .objects
            .get(&target.resource)?
            .get(&key(&target))
            .cloned()
    }

    /// Applies a merge patch as another client would, bumping the
    /// resourceVersion and sending a MODIFIED event.
    pub fn patch(&self, path: &str, patch: &Value) -> Value {
        self.try_patch(path, patch).expect("object exists")
    }

    /// Like [`FakeApiServer::patch`], but returns `None` when the object
    /// does not exist.
    pub fn try_patch(&self, path: &str, patch: &Value) -> Option<Value> {
        let target = parse_path(path)?;
        let mut state = self.lock();
        let updated = modify(&mut state, &target, |object| merge_patch(object, patch)).ok()?;
        self.publish(&mut state, &target.resource, "MODIFIED", &updated);
        Some(updated)
    }

    /// Deletes an object as another client would, sending a DELETED event;
    /// returns false when it did not exist.
    pub fn delete(&self, path: &str) -> bool {
        let Some(target) = parse_path(path) else {
            return false;
        };
        let mut state = self.lock();
        let Some(mut gone) = state
            .objects
            .get_mut(&target.resource)
            .and_then(|m| m.remove(&key(&target)))
        else {
            return false;
        };
        let version = next_version(&mut state);
        merge_patch(
            &mut gone,
            &json!({"metadata": {"resourceVersion": version}}),
        );
        self.publish(&mut state, &target.resource, "DELETED", &gone);
        true
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn publish(&self, state: &mut State, resource: &str, kind: &'static str, object: &Value) {
        publish(state, &self.events, resource, kind, object);
    }
}

fn key(target: &Target) -> Key {
    (
        target.resource.clone(),
        target.namespace.clone().unwrap_or_default(),
        target.name.clone().unwrap_or_default(),
    )
}

fn publish(
    state: &mut State,
    events: &broadcast::Sender<WatchEvent>,
    resource: &str,
    kind: &'static str,
    object: &Value,
) {
    let event = WatchEvent {
        resource: resource.to_string(),
        namespace: object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        kind,
        object: object.clone(),
        version: state.version,
    };
    state.history.push(event.clone());
    let _ = events.send(event);
}

fn next_version(state: &mut State) -> String {
    state.version += 1;
    state.version.to_string()
}

fn create(state: &mut State, target: &Target, mut object: Value) -> Result<Value, Response<Body>> {
    let name = object
        .pointer("/metadata/name")
        .and_then(Value::as_str)
        .or(target.name.as_deref())
        .unwrap_or_default()
        .to_string();
    let kind = object
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let mut target = target.clone();
    target.name = Some(name.clone());
    let key = key(&target);
    if state
        .objects
        .get(&target.resource)
        .is_some_and(|m| m.contains_key(&key))
    {
        let message = format!(
            "{} \"{name}\" already exists",
            target.resource.rsplit('/').next().unwrap_or("")
        );
        return Err(json_response(
            409,
            &status_body(409, "AlreadyExists", &message, &name, &kind),
        ));
    }
    let version = next_version(state);
    let uid = format!("00000000-0000-4000-8000-{:012}", state.version);
    if !object.is_object() {
        return Err(json_response(
            400,
            &status_body(400, "BadRequest", "the body is not an object", &name, &kind),
        ));
    }
    merge_patch(
        &mut object,
        &json!({"metadata": {
            "name": name,
            "uid": uid,
            "resourceVersion": version,
            "creationTimestamp": "2026-01-01T00:00:00Z",
            "generation": 1,
        }}),
    );
    if let Some(namespace) = &target.namespace {
        merge_patch(&mut object, &json!({"metadata": {"namespace": namespace}}));
    }
    state
        .objects
        .entry(target.resource.clone())
        .or_default()
        .insert(key, object.clone());
    Ok(object)
}

fn modify(
    state: &mut State,
    target: &Target,
    change: impl FnOnce(&mut Value),
) -> Result<Value, Response<Body>> {
    let key = key(target);
    let Some(stored) = state
        .objects
        .get(&target.resource)
        .and_then(|m| m.get(&key))
        .cloned()
    else {
        return Err(not_found(target));
    };
    let mut updated = stored.clone();
    change(&mut updated);
    // Identity fields stay the server's.
    for field in ["uid", "name", "namespace", "creationTimestamp"] {
        if let Some(value) = stored.pointer(&format!("/metadata/{field}")) {
            let mut metadata = serde_json::Map::new();
            metadata.insert(field.to_string(), value.clone());
            merge_patch(&mut updated, &json!({ "metadata": metadata }));
        }
    }
    let version = next_version(state);
    merge_patch(
        &mut updated,
        &json!({"metadata": {"resourceVersion": version}}),
    );
    state
        .objects
        .entry(target.resource.clone())
        .or_default()
        .insert(key, updated.clone());
    Ok(updated)
}

fn not_found(target: &Target) -> Response<Body> {
    let name = target.name.clone().unwrap_or_default();
    let plural = target.resource.rsplit('/').next().unwrap_or_default();
    let message = format!("{plural} \"{name}\" not found");
    json_response(404, &status_body(404, "NotFound", &message, &name, plural))
}

#[derive(Clone)]
struct Server {
    state: Arc<Mutex<State>>,
    events: broadcast::Sender<WatchEvent>,
}

impl Server {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn handle(&self, request: Request<hyper::body::Incoming>) -> Response<Body> {
        let method = request.method().clone();
        let path = request.uri().path().to_string();
        let query = request.uri().query().unwrap_or_default().to_string();
        let content_type = request
            .headers()
            .get(hyper::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let client = request
            .headers()
            .get(CLIENT_HEADER)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string();
        let body = match request.into_body().collect().await {
            Ok(collected) => collected.to_bytes(),
            Err(_) => Bytes::new(),
        };

        let fault = self.take_fault(&method, &path);
        let response = match fault {
            Some(FaultKind::Conflict) => json_response(
                409,
                &status_body(409, "Conflict", "Operation cannot be fulfilled: the object has been modified; please apply your changes to the latest version and try again (injected)", "", ""),
            ),
            Some(FaultKind::ServerError) => json_response(
                500,
                &status_body(500, "InternalError", "Internal error occurred: injected fault", "", ""),
            ),
            Some(FaultKind::NotServed) => json_response(
                404,
                &status_body(404, "NotFound", "the server could not find the requested resource", "", ""),
            ),
            Some(FaultKind::TouchFirst) => {
                if let Some(target) = parse_path(&path) {
                    let mut state = self.lock();
                    if let Ok(touched) = modify(&mut state, &target, |o| {
                        merge_patch(o, &json!({"metadata": {"annotations": {"fake-apiserver/touched": "true"}}}))
                    }) {
                        publish(&mut state, &self.events, &target.resource, "MODIFIED", &touched);
                    }
                }
                self.route(&method, &path, &query, &content_type, &body).await
            }
            Some(FaultKind::Delay(delay)) => {
                let response = self.route(&method, &path, &query, &content_type, &body).await;
                tokio::time::sleep(delay).await;
                response
            }
            None => self.route(&method, &path, &query, &content_type, &body).await,
        };
        self.lock().log.push(Logged {
            method,
            path,
            status: response.status().as_u16(),
            faulted: fault.is_some(),
            body: String::from_utf8_lossy(&body).into_owned(),
            client,
        });
        response
    }

    fn take_fault(&self, method: &Method, path: &str) -> Option<FaultKind> {
        let mut state = self.lock();
        let fault = state
            .faults
            .iter_mut()
            .find(|f| f.remaining > 0 && f.method == method && path.contains(&f.path_contains))?;
        fault.remaining -= 1;
        let kind = fault.kind;
        state.faults_used += 1;
        Some(kind)
    }

    async fn route(
        &self,
        method: &Method,
        path: &str,
        query: &str,
        content_type: &str,
        body: &Bytes,
    ) -> Response<Body> {
        let Some(target) = parse_path(path) else {
            return json_response(
                404,
                &status_body(
                    404,
                    "NotFound",
                    "the server could not find the requested resource",
                    "",
                    "",
                ),
            );
        };
        let parsed: Value = serde_json::from_slice(body)
            .or_else(|_| serde_yaml::from_slice(body))
            .unwrap_or(Value::Null);
        let watch = query
            .split('&')
            .any(|p| p == "watch=true" || p == "watch=1");
        let named = target.name.is_some();
        match (method.as_str(), named) {
            ("GET", false) if watch => self.watch(&target, query),
            ("GET", false) => self.list(&target),
            ("GET", true) => {
                let state = self.lock();
                match state
                    .objects
                    .get(&target.resource)
                    .and_then(|m| m.get(&key(&target)))
                {
                    Some(object) => json_response(200, object),
                    None => not_found(&target),
                }
            }
            ("POST", false) => {
                let mut state = self.lock();
                match create(&mut state, &target, parsed) {
                    Ok(created) => {
                        publish(
                            &mut state,
                            &self.events,
                            &target.resource,
                            "ADDED",
                            &created,
                        );
                        json_response(201, &created)
                    }
                    Err(response) => response,
                }
            }
            ("PUT", true) => self.replace(&target, parsed),
            ("PATCH", true) => self.patch(&target, content_type, parsed),
            ("DELETE", true) => self.delete(&target, &parsed),
            _ => json_response(
                405,
                &status_body(
                    405,
                    "MethodNotAllowed",
                    "the server does not allow this method on the requested resource",
                    "",
                    "",
                ),
            ),
        }
    }

    fn list(&self, target: &Target) -> Response<Body> {
        let state = self.lock();
        let items: Vec<Value> = state
            .objects
            .get(&target.resource)
            .map(|m| {
                m.values()
                    .filter(|o| in_namespace(o, target.namespace.as_deref()))
                    .cloned()
                    .collect()
            })
            .unwrap_or_default();
        json_response(
            200,
            &json!({
                "kind": "List",
                "apiVersion": "v1",
                "metadata": {"resourceVersion": state.version.to_string()},
                "items": items,
            }),
        )
    }

    fn watch(&self, target: &Target, query: &str) -> Response<Body> {
        let since: u64 = query
            .split('&')
            .find_map(|p| p.strip_prefix("resourceVersion="))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        // Subscribe under the lock, so that no event falls between the
        // backlog and the live stream.
        let (backlog, receiver) = {
            let state = self.lock();
            let backlog: Vec<WatchEvent> = state
                .history
                .iter()
                .filter(|e| e.version > since)
                .cloned()
                .collect();
            (backlog, self.events.subscribe())
        };
        let resource = target.resource.clone();
        let namespace = target.namespace.clone();
        let matches = move |e: &WatchEvent| {
            e.resource == resource && namespace.as_deref().is_none_or(|ns| ns == e.namespace)
        };
        let last_backlog = backlog.last().map_or(since, |e| e.version);
        let backlog_matches = matches.clone();
        let backlog =
            futures::stream::iter(backlog.into_iter().filter(move |e| backlog_matches(e)));
        let live = futures::stream::unfold(receiver, |mut receiver| async move {
            loop {
                match receiver.recv().await {
                    Ok(event) => return Some((event, receiver)),
                    Err(broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(broadcast::error::RecvError::Closed) => return None,
                }
            }
        })
        .filter(move |e| futures::future::ready(e.version > last_backlog && matches(e)));
        let frames = backlog.chain(live).map(|event| {
            let line = json!({"type": event.kind, "object": event.object}).to_string() + "\n";
            Ok::<_, Infallible>(Frame::data(Bytes::from(line)))
        });
        let mut response = Response::new(BodyExt::boxed_unsync(StreamBody::new(frames)));
        response.headers_mut().insert(
            hyper::header::CONTENT_TYPE,
            hyper::header::HeaderValue::from_static("application/json"),
        );
        response
    }

    fn replace(&self, target: &Target, body: Value) -> Response<Body> {
        let mut state = self.lock();
        let stored = state
            .objects
            .get(&target.resource)
            .and_then(|m| m.get(&key(target)))
            .cloned();
        let Some(stored) = stored else {
            return not_found(target);
        };
        let sent = body
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        let held = stored
            .pointer("/metadata/resourceVersion")
            .and_then(Value::as_str);
        if sent.is_some() && sent != held {
            return conflict(target, &stored);
        }
        match modify(&mut state, target, |o| *o = body) {
            Ok(updated) => {
                publish(
                    &mut state,
                    &self.events,
                    &target.resource,
                    "MODIFIED",
                    &updated,
                );
                json_response(200, &updated)
            }
            Err(response) => response,
        }
    }

    fn patch(&self, target: &Target, content_type: &str, patch: Value) -> Response<Body> {
        let mut state = self.lock();
        let exists = state
            .objects
            .get(&target.resource)
            .is_some_and(|m| m.contains_key(&key(target)));
        let apply = content_type.starts_with("application/apply-patch");
        let status_only = target.subresource.as_deref() == Some("status");
        let patch = if status_only {
            json!({"status": patch.get("status").cloned().unwrap_or(Value::Null)})
        } else {
            patch
        };
        let result = if !exists && apply {
            create(&mut state, target, patch).map(|o| ("ADDED", o))
        } else {
            modify(&mut state, target, |o| merge_patch(o, &patch)).map(|o| ("MODIFIED", o))
        };
        match result {
            Ok((kind, object)) => {
                publish(&mut state, &self.events, &target.resource, kind, &object);
                json_response(if kind == "ADDED" { 201 } else { 200 }, &object)
            }
            Err(response) => response,
        }
    }

    fn delete(&self, target: &Target, options: &Value) -> Response<Body> {
        let mut state = self.lock();
        let key = key(target);
        let Some(stored) = state
            .objects
            .get(&target.resource)
            .and_then(|m| m.get(&key))
            .cloned()
        else {
            return not_found(target);
        };
        let text = |v: &Value, p: &str| v.pointer(p).and_then(Value::as_str).map(str::to_string);
        if let Some(uid) = text(options, "/preconditions/uid") {
            if Some(uid.clone()) != text(&stored, "/metadata/uid") {
                let name = target.name.clone().unwrap_or_default();
                let message = format!(
                    "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
                    text(&stored, "/metadata/uid").unwrap_or_default()
                );
                let kind = text(&stored, "/kind").unwrap_or_default();
                return json_response(409, &status_body(409, "Conflict", &message, &name, &kind));
            }
        }
        if let Some(version) = text(options, "/preconditions/resourceVersion") {
            if Some(version) != text(&stored, "/metadata/resourceVersion") {
                return conflict(target, &stored);
            }
        }
        if let Some(objects) = state.objects.get_mut(&target.resource) {
            objects.remove(&key);
        }
        let mut gone = stored;
        let version = next_version(&mut state);
        merge_patch(
            &mut gone,
            &json!({"metadata": {"resourceVersion": version}}),
        );
        publish(&mut state, &self.events, &target.resource, "DELETED", &gone);
        json_response(200, &gone)
    }
}

fn conflict(target: &Target, stored: &Value) -> Response<Body> {
    let name = target.name.clone().unwrap_or_default();
    let kind = stored
        .get("kind")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let plural = target.resource.rsplit('/').next().unwrap_or_default();
    let message = format!(
        "Operation cannot be fulfilled on {plural} \"{name}\": the object has been modified; please apply your changes to the latest version and try again"
    );
    json_response(409, &status_body(409, "Conflict", &message, &name, kind))
}

fn in_namespace(object: &Value, namespace: Option<&str>) -> bool {
    namespace.is_none_or(|ns| {
        object
            .pointer("/metadata/namespace")
            .and_then(Value::as_str)
            == Some(ns)
    })
}
