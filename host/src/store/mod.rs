//! The local state store: Kubernetes objects as YAML files in a folder,
//! kept the way an API server keeps them, plus the imported disk images.
//!
//! Layout of a state folder:
//!
//! | path | content |
//! |---|---|
//! | `objects/<kind>/<namespace>/<name>.yaml` | one object per file; `<kind>` in lower case, `_cluster` as the namespace of cluster-scoped objects |
//! | `volumes/<namespace>/<name>/disk.qcow2` (or `disk.img`) | the disk imported into the PVC `<namespace>/<name>` |
//! | `store.json` | the uid and resourceVersion counters, crons deleted and polls planned since the last full pass, and poll back-off state |
//! | `tmp/` | downloads in progress; emptied when `run` starts |
//!
//! Every file is replaced atomically: written to a temporary file in the
//! same folder, flushed with fsync, renamed over the old name, and the
//! folder is flushed too. A crash therefore leaves each file either old or
//! new, never half written, and the next pass re-plans from what is there.

pub mod apply;
mod atomic;
pub mod imports;
pub mod pass;

use std::collections::BTreeMap;
use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use bootsource_guest::imports::kind;
use bootsource_guest::model::meta::{is_dns_label, is_dns_subdomain, ObjectRef};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

pub use atomic::{commit as atomic_commit, remove_file, write_atomically};

/// Folder name used in place of a namespace for cluster-scoped objects.
pub const CLUSTER_SCOPE: &str = "_cluster";

/// The file `run` locks while it works on a state folder.
pub const LOCK_FILE: &str = "lock";

/// Failures of reading or writing the state folder.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{}: {action} failed: {source}", path.display())]
    Io {
        path: PathBuf,
        action: &'static str,
        #[source]
        source: io::Error,
    },
    #[error("{}: invalid object file: {message}; fix or remove the file", path.display())]
    InvalidObject { path: PathBuf, message: String },
    /// Another process holds the state folder's lock.
    #[error("{}: another bootsource run is using this state folder (it holds {}); wait for it to end or stop it", root.display(), root.join(LOCK_FILE).display())]
    Locked { root: PathBuf },
    /// An object whose kind, namespace or name an API server would reject.
    /// These parts become file and folder names, so they are checked
    /// before any path is built from them.
    #[error("{object}: {message}")]
    InvalidName { object: String, message: String },
}

impl StoreError {
    /// True when the state folder contains a file the user has to fix (the
    /// input is invalid), false when reading or writing failed.
    pub fn is_invalid_input(&self) -> bool {
        matches!(
            self,
            StoreError::InvalidObject { .. }
                | StoreError::InvalidName { .. }
                | StoreError::Locked { .. }
        )
    }

    pub(crate) fn io<'p>(
        path: &'p Path,
        action: &'static str,
    ) -> impl FnOnce(io::Error) -> Self + 'p {
        move |source| StoreError::Io {
            path: path.to_path_buf(),
            action,
            source,
        }
    }
}

/// The key of one object: kind, namespace ("" when cluster-scoped) and
/// name.
///
/// NOTE: the API group is not part of the key, so two kinds of the same
/// name in different groups would share a folder. No boot-source kind
/// collides.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ObjectKey {
    pub kind: String,
    pub namespace: String,
    pub name: String,
}

impl ObjectKey {
    /// Returns the key of `object`, or `None` when kind or name is missing.
    pub fn of(object: &Value) -> Option<Self> {
        let text = |pointer: &str| object.pointer(pointer).and_then(Value::as_str);
        let kind = text("/kind").filter(|k| !k.is_empty())?;
        let name = text("/metadata/name").filter(|n| !n.is_empty())?;
        Some(ObjectKey {
            kind: kind.to_string(),
            namespace: text("/metadata/namespace").unwrap_or("").to_string(),
            name: name.to_string(),
        })
    }
}

impl ObjectKey {
    /// Checks the key as an API server checks names: the kind is a word of
    /// ASCII letters and digits, the namespace a DNS-1123 label and the
    /// name a DNS-1123 subdomain. Such parts cannot leave the state folder
    /// when used as path components (no `/`, no `..`).
    pub fn check(&self) -> Result<(), StoreError> {
        let fail = |message: String| {
            Err(StoreError::InvalidName {
                object: self.to_string(),
                message,
            })
        };
        if !self.kind.starts_with(|c: char| c.is_ascii_alphabetic())
            || !self.kind.chars().all(|c| c.is_ascii_alphanumeric())
            || self.kind.len() > 63
        {
            return fail(format!(
                "kind {:?} is not a kind name (ASCII letters and digits, starting with a letter)",
                self.kind
            ));
        }
        if self.namespace.is_empty() && NAMESPACED_KINDS.contains(&self.kind.as_str()) {
            return fail(format!(
                "metadata.namespace is missing, but a {} belongs to a namespace",
                self.kind
            ));
        }
        if !self.namespace.is_empty() && !is_dns_label(&self.namespace) {
            return fail(format!(
                "metadata.namespace {:?} is not a valid namespace: at most 63 lowercase letters, digits and '-', starting and ending with a letter or digit",
                self.namespace
            ));
        }
        if !is_dns_subdomain(&self.name) {
            return fail(format!(
                "metadata.name {:?} is not a valid object name: at most 253 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit",
                self.name
            ));
        }
        Ok(())
    }
}

/// Kinds the module reads that live in a namespace. An object of one of
/// these without a namespace would be stored as cluster-scoped.
const NAMESPACED_KINDS: &[&str] = &[
    "HyperConverged",
    "SSP",
    kind::CRON,
    kind::DATA_SOURCE,
    kind::DATA_VOLUME,
    kind::PVC,
    kind::SNAPSHOT,
];

impl From<&ObjectRef> for ObjectKey {
    fn from(object: &ObjectRef) -> Self {
        ObjectKey {
            kind: object.kind.clone(),
            namespace: object.namespace.clone().unwrap_or_default(),
            name: object.name.clone(),
        }
    }
}

impl std::fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{} {}", self.kind, self.name)
        } else {
            write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
        }
    }
}

/// Back-off state of one cron's registry poll.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PollBackoff {
    /// Failed polls in a row.
    pub failures: u32,
    /// When the next attempt is due (RFC 3339).
    pub retry_at: String,
}

/// The bookkeeping kept in `store.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoreState {
    /// Last uid number handed out.
    #[serde(default)]
    pub last_uid: u64,
    /// Last resourceVersion handed out.
    #[serde(default)]
    pub resource_version: u64,
    /// Crons deleted by a plan, as `namespace/name`; sent as `deletedCrons`
    /// until a pass completes, so that a crash cannot skip their clean-up.
    #[serde(default)]
    pub deleted_crons: Vec<String>,
    /// Poll back-off per cron, keyed by `namespace/name`.
    #[serde(default)]
    pub polls: BTreeMap<String, PollBackoff>,
    /// Polls a plan asked for that have not run yet, as cron
    /// `namespace/name` to source URL. They are recorded before the plan is
    /// applied, because the same plan moves the cron's `nextCronTime` on:
    /// after a crash the schedule alone would not bring the poll back.
    #[serde(default)]
    pub pending_polls: BTreeMap<String, String>,
    /// How the last pass that settled left the folder; a pass that finds
    /// the folder so and nothing due runs no plan.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settled: Option<Settled>,
}

/// The state a pass settled in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Settled {
    /// sha256 of the stored objects and the HCO release planned for.
    pub fingerprint: String,
    /// When the next timed reconcile, retry or import is due (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wake_at: Option<String>,
}

/// An open state folder.
#[derive(Debug)]
pub struct Store {
    root: PathBuf,
    state: StoreState,
}

impl Store {
    /// Opens the state folder at `root`, creating it and its sub-folders
    /// when missing. Reading the folder this way changes nothing else.
    pub fn open(root: &Path) -> Result<Self, StoreError> {
        for sub in ["objects", "volumes", "tmp"] {
            let path = root.join(sub);
            fs::create_dir_all(&path).map_err(StoreError::io(&path, "creating the folder"))?;
        }
        let state_path = root.join("store.json");
        let state = match fs::read(&state_path) {
            Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| StoreError::InvalidObject {
                path: state_path.clone(),
                message: e.to_string(),
            })?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => StoreState::default(),
            Err(e) => return Err(StoreError::io(&state_path, "reading")(e)),
        };
        Ok(Store {
            root: root.to_path_buf(),
            state,
        })
    }

    /// Takes the state folder's lock, held until the returned file is
    /// dropped (or the process ends, however it ends). Two processes that
    /// apply passes to one folder would undo each other's downloads.
    pub fn lock(&self) -> Result<fs::File, StoreError> {
        let path = self.root.join(LOCK_FILE);
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(StoreError::io(&path, "opening the lock file"))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(StoreError::Locked {
                root: self.root.clone(),
            }),
            Err(fs::TryLockError::Error(e)) => Err(StoreError::io(&path, "locking")(e)),
        }
    }

    /// Removes downloads left in `tmp/` by an interrupted pass. Only the
    /// process that runs passes may call this.
    pub fn clean_tmp(&self) -> Result<(), StoreError> {
        let tmp = self.tmp_dir();
        let entries = fs::read_dir(&tmp).map_err(StoreError::io(&tmp, "listing"))?;
        for entry in entries.flatten() {
            let path = entry.path();
            let removed = if path.is_dir() {
                fs::remove_dir_all(&path)
            } else {
                fs::remove_file(&path)
            };
            removed.map_err(StoreError::io(&path, "removing a leftover download"))?;
        }
        Ok(())
    }

    /// Returns the state folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Returns the bookkeeping read from `store.json`.
    pub fn state(&self) -> &StoreState {
        &self.state
    }

    /// Changes the bookkeeping and writes `store.json`.
    pub fn update_state(&mut self, change: impl FnOnce(&mut StoreState)) -> Result<(), StoreError> {
        let mut next = self.state.clone();
        change(&mut next);
        if next == self.state {
            return Ok(());
        }
        let path = self.root.join("store.json");
        let bytes = serde_json::to_vec_pretty(&next).map_err(|e| StoreError::InvalidObject {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomically(&path, &bytes)?;
        self.state = next;
        Ok(())
    }

    /// Returns the file that contains the object `key`, after checking
    /// that the key's parts are valid Kubernetes names.
    pub fn object_path(&self, key: &ObjectKey) -> Result<PathBuf, StoreError> {
        key.check()?;
        let namespace = if key.namespace.is_empty() {
            CLUSTER_SCOPE
        } else {
            &key.namespace
        };
        Ok(self
            .root
            .join("objects")
            .join(key.kind.to_ascii_lowercase())
            .join(namespace)
            .join(format!("{}.yaml", key.name)))
    }

    /// Returns the folder of the volume behind PVC `namespace/name`, after
    /// checking both names.
    pub fn volume_dir(&self, namespace: &str, name: &str) -> Result<PathBuf, StoreError> {
        ObjectKey {
            kind: kind::PVC.to_string(),
            namespace: namespace.to_string(),
            name: name.to_string(),
        }
        .check()?;
        Ok(self.root.join("volumes").join(namespace).join(name))
    }

    /// Returns the disk file of PVC `namespace/name`, if one was imported.
    pub fn volume_disk(&self, namespace: &str, name: &str) -> Option<PathBuf> {
        let dir = self.volume_dir(namespace, name).ok()?;
        ["disk.qcow2", "disk.img"]
            .iter()
            .map(|file| dir.join(file))
            .find(|path| path.is_file())
    }

    /// Returns the folder for downloads in progress.
    pub fn tmp_dir(&self) -> PathBuf {
        self.root.join("tmp")
    }

    /// Reads every stored object, sorted by key.
    pub fn load(&self) -> Result<BTreeMap<ObjectKey, Value>, StoreError> {
        let mut objects = BTreeMap::new();
        let mut files = Vec::new();
        collect_yaml_files(&self.root.join("objects"), &mut files)?;
        for path in files {
            let object = read_object(&path)?;
            let key = ObjectKey::of(&object).ok_or_else(|| StoreError::InvalidObject {
                path: path.clone(),
                message: "kind or metadata.name is missing".into(),
            })?;
            key.check().map_err(|e| StoreError::InvalidObject {
                path: path.clone(),
                message: e.to_string(),
            })?;
            self.check_path(&path, &key)?;
            objects.insert(key, object);
        }
        Ok(objects)
    }

    /// Checks that the object `key` read from `path` is stored under its
    /// own name. A file whose kind, namespace or name differs from its
    /// path would be read as one object and written back as another, so
    /// it is rejected before anything is planned.
    fn check_path(&self, path: &Path, key: &ObjectKey) -> Result<(), StoreError> {
        let expected = self.object_path(key)?;
        if expected == path {
            return Ok(());
        }
        let objects = self.root.join("objects");
        let parts: Vec<String> = path
            .strip_prefix(&objects)
            .unwrap_or(path)
            .iter()
            .map(|part| part.to_string_lossy().into_owned())
            .collect();
        let namespace = if key.namespace.is_empty() {
            CLUSTER_SCOPE
        } else {
            &key.namespace
        };
        let message = match parts.as_slice() {
            [kind, _, _] if *kind != key.kind.to_ascii_lowercase() => format!(
                "kind is {:?}, but the file is in the folder of kind {kind:?}",
                key.kind
            ),
            [_, folder, _] if folder != namespace => {
                if key.namespace.is_empty() {
                    format!(
                        "metadata.namespace is not set (a cluster-scoped object, stored under {CLUSTER_SCOPE}), but the file is in the folder of namespace {folder:?}"
                    )
                } else {
                    format!(
                        "metadata.namespace is {:?}, but the file is in the folder {folder:?}",
                        key.namespace
                    )
                }
            }
            [_, _, file] => format!(
                "metadata.name is {:?}, but the file is named {file:?}",
                key.name
            ),
            _ => "the file is not at objects/<kind>/<namespace>/<name>.yaml".to_string(),
        };
        Err(StoreError::InvalidObject {
            path: path.to_path_buf(),
            message: format!("{message}; the object belongs in {}", expected.display()),
        })
    }

    /// Reads the object `key`, if stored.
    pub fn get(&self, key: &ObjectKey) -> Result<Option<Value>, StoreError> {
        let path = self.object_path(key)?;
        match fs::read(&path) {
            Ok(bytes) => parse_object(&path, bytes).map(Some),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(StoreError::io(&path, "reading")(e)),
        }
    }

    /// Writes `object` as an API server stores a create or update. A new
    /// object gets a uid and a creationTimestamp of `now`, and every write
    /// gets the next resourceVersion. Returns the stored object.
    ///
    /// The counters are written before the object, so a crash between the
    /// two only skips numbers.
    pub fn put(&mut self, mut object: Value, now: &str) -> Result<Value, StoreError> {
        let key = ObjectKey::of(&object).ok_or_else(|| StoreError::InvalidObject {
            path: self.root.join("objects"),
            message: "an object to store has no kind or metadata.name".into(),
        })?;
        let existing = self.get(&key)?;
        let mut next_uid = None;
        self.update_state(|state| {
            state.resource_version += 1;
            if existing.is_none() {
                state.last_uid += 1;
                next_uid = Some(state.last_uid);
            }
        })?;
        let resource_version = self.state.resource_version;
        if !object.get("metadata").is_some_and(Value::is_object) {
            object["metadata"] = json!({});
        }
        let metadata = &mut object["metadata"];
        match (&existing, next_uid) {
            (Some(old), _) => {
                for field in ["uid", "creationTimestamp"] {
                    if let Some(value) = old.pointer(&format!("/metadata/{field}")) {
                        metadata[field] = value.clone();
                    }
                }
            }
            (None, Some(number)) => {
                metadata["uid"] = json!(format!("00000000-0000-4000-8000-{number:012x}"));
                if metadata.get("creationTimestamp").is_none_or(Value::is_null) {
                    metadata["creationTimestamp"] = json!(now);
                }
            }
            (None, None) => {}
        }
        metadata["resourceVersion"] = json!(resource_version.to_string());

        let path = self.object_path(&key)?;
        let text = serde_yaml::to_string(&object).map_err(|e| StoreError::InvalidObject {
            path: path.clone(),
            message: e.to_string(),
        })?;
        write_atomically(&path, text.as_bytes())?;
        Ok(object)
    }

    /// Deletes the object `key`; returns false when it was not stored.
    pub fn remove(&mut self, key: &ObjectKey) -> Result<bool, StoreError> {
        remove_file(&self.object_path(key)?)
    }

    /// Deletes the volume folder of PVC `namespace/name`, if any.
    pub fn remove_volume(&mut self, namespace: &str, name: &str) -> Result<bool, StoreError> {
        let dir = self.volume_dir(namespace, name)?;
        match fs::remove_dir_all(&dir) {
            Ok(()) => {
                if let Some(parent) = dir.parent() {
                    atomic::sync_dir(parent)?;
                }
                Ok(true)
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(e) => Err(StoreError::io(&dir, "removing the volume")(e)),
        }
    }

    /// Lists the volume folders as `(namespace, name)`.
    pub fn volumes(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut volumes = Vec::new();
        let root = self.root.join("volumes");
        // Only real folders count. A file or a symbolic link there was not
        // made by the store, and a link may lead out of the state folder.
        for namespace in read_dir_sorted(&root)? {
            let Some(namespace_name) = file_name(&namespace) else {
                continue;
            };
            if !is_real_dir(&namespace) {
                continue;
            }
            for volume in read_dir_sorted(&namespace)? {
                if !is_real_dir(&volume) {
                    continue;
                }
                if let Some(name) = file_name(&volume) {
                    volumes.push((namespace_name.clone(), name));
                }
            }
        }
        Ok(volumes)
    }
}

/// Reads one object file. Text that is not UTF-8 or not YAML is an
/// invalid object file, which the user has to fix; other read errors are
/// failures of the store.
fn read_object(path: &Path) -> Result<Value, StoreError> {
    let bytes = fs::read(path).map_err(StoreError::io(path, "reading"))?;
    parse_object(path, bytes)
}

/// Parses the content of the object file `path`.
fn parse_object(path: &Path, bytes: Vec<u8>) -> Result<Value, StoreError> {
    let text = String::from_utf8(bytes).map_err(|e| StoreError::InvalidObject {
        path: path.to_path_buf(),
        message: format!(
            "the file is not UTF-8 text (invalid byte at offset {})",
            e.utf8_error().valid_up_to()
        ),
    })?;
    serde_yaml::from_str(&text).map_err(|e| StoreError::InvalidObject {
        path: path.to_path_buf(),
        message: e.to_string(),
    })
}

fn file_name(path: &Path) -> Option<String> {
    path.file_name()?.to_str().map(str::to_string)
}

/// True for a folder that is not a symbolic link.
fn is_real_dir(path: &Path) -> bool {
    fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_dir())
}

fn read_dir_sorted(dir: &Path) -> Result<Vec<PathBuf>, StoreError> {
    let entries = match fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(StoreError::io(dir, "listing")(e)),
    };
    let mut paths: Vec<PathBuf> = entries.flatten().map(|e| e.path()).collect();
    paths.sort();
    Ok(paths)
}

fn collect_yaml_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), StoreError> {
    for path in read_dir_sorted(dir)? {
        if path.is_dir() {
            collect_yaml_files(&path, files)?;
            continue;
        }
        let name = file_name(&path).unwrap_or_default();
        if name.ends_with(".yaml") && !name.starts_with('.') {
            files.push(path);
        }
    }
    Ok(())
}
