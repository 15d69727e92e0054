//! Object metadata and references shared by every Kubernetes kind.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The subset of Kubernetes `ObjectMeta` that boot-source logic reads or
/// writes. Other metadata fields are accepted and dropped, as a client with
/// an older schema would do.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectMeta {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub uid: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub resource_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub creation_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deletion_timestamp: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner_references: Option<Vec<Value>>,
}

impl ObjectMeta {
    /// Returns the name, or `""` when unset.
    pub fn name(&self) -> &str {
        self.name.as_deref().unwrap_or("")
    }

    /// Returns the namespace, or `""` when unset.
    pub fn namespace(&self) -> &str {
        self.namespace.as_deref().unwrap_or("")
    }

    /// Returns the value of annotation `key`, if present.
    pub fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations.as_ref()?.get(key).map(String::as_str)
    }

    /// Returns the value of label `key`, if present.
    pub fn label(&self, key: &str) -> Option<&str> {
        self.labels.as_ref()?.get(key).map(String::as_str)
    }

    /// Sets annotation `key` to `value`, creating the map if needed.
    pub fn set_annotation(&mut self, key: &str, value: impl Into<String>) {
        self.annotations
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.into());
    }

    /// Removes annotation `key`; an emptied map stays as an empty map.
    pub fn remove_annotation(&mut self, key: &str) -> Option<String> {
        self.annotations.as_mut()?.remove(key)
    }

    /// Sets label `key` to `value`, creating the map if needed.
    pub fn set_label(&mut self, key: &str, value: impl Into<String>) {
        self.labels
            .get_or_insert_with(BTreeMap::new)
            .insert(key.to_string(), value.into());
    }
}

/// Identifies one Kubernetes object: what the plan acts on and what an error
/// is about.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ObjectRef {
    pub api_version: String,
    pub kind: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    pub name: String,
}

impl ObjectRef {
    /// Creates a reference; an empty namespace means cluster-scoped.
    pub fn new(api_version: &str, kind: &str, namespace: &str, name: &str) -> Self {
        ObjectRef {
            api_version: api_version.to_string(),
            kind: kind.to_string(),
            namespace: (!namespace.is_empty()).then(|| namespace.to_string()),
            name: name.to_string(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.namespace {
            Some(ns) => write!(f, "{} {}/{}", self.kind, ns, self.name),
            None if self.name.is_empty() => write!(f, "{} (unnamed)", self.kind),
            None => write!(f, "{} {}", self.kind, self.name),
        }
    }
}

/// Checks for a DNS-1123 label, the form the API server wants for
/// namespaces: 1 to 63 of `[a-z0-9-]`, a letter or digit at both ends.
pub fn is_dns_label(text: &str) -> bool {
    text.len() <= 63 && is_dns_word(text)
}

/// Checks for a DNS-1123 subdomain, the form the API server wants for
/// object names: at most 253 characters in dot-separated labels.
pub fn is_dns_subdomain(text: &str) -> bool {
    text.len() <= 253 && text.split('.').all(is_dns_word)
}

/// Checks for one or more of `[a-z0-9-]` with a letter or digit at both
/// ends.
fn is_dns_word(text: &str) -> bool {
    let alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    text.starts_with(alnum) && text.ends_with(alnum) && text.chars().all(|c| alnum(c) || c == '-')
}
