//! Errors returned as values across the module contract.

use serde::{Deserialize, Serialize};

use crate::model::meta::ObjectRef;

/// What kind of failure an [`Error`] reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ErrorKind {
    /// The request document or one of the objects in it is invalid.
    InvalidInput,
    /// The operation name is not one this module serves.
    UnknownOperation,
}

/// A failure that names the object and field it concerns and, where one
/// exists, what to write instead.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Error {
    pub kind: ErrorKind,
    /// The object the error is about, when it is about one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object: Option<Box<ObjectRef>>,
    /// Position of that object in the request's `objects` list, so that a
    /// host can map it back to the file it came from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_index: Option<usize>,
    /// Path of the offending field inside the object, e.g.
    /// `spec.dataImportCronTemplates[1].metadata.name`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    pub message: String,
    /// What to write instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hint: Option<String>,
}

impl Error {
    /// Creates an invalid-input error with only a message.
    pub fn invalid(message: impl Into<String>) -> Self {
        Error {
            kind: ErrorKind::InvalidInput,
            object: None,
            object_index: None,
            field: None,
            message: message.into(),
            hint: None,
        }
    }

    /// Sets the field path.
    pub fn at(mut self, field: impl Into<String>) -> Self {
        self.field = Some(field.into());
        self
    }

    /// Sets the object the error is about.
    pub fn on(mut self, object: ObjectRef, index: Option<usize>) -> Self {
        self.object = Some(Box::new(object));
        self.object_index = index;
        self
    }

    /// Sets the hint on what to write instead.
    pub fn hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }

    /// Prefixes the field path with `prefix`, for errors found in a part of
    /// an object that was parsed on its own.
    pub fn within(mut self, prefix: &str) -> Self {
        self.field = Some(match self.field.take() {
            None => prefix.to_string(),
            Some(f) if f.starts_with('[') => format!("{prefix}{f}"),
            Some(f) => format!("{prefix}.{f}"),
        });
        self
    }
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if let Some(object) = &self.object {
            write!(f, "{object}: ")?;
        }
        if let Some(field) = &self.field {
            write!(f, "{field}: ")?;
        }
        write!(f, "{}", self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

impl std::error::Error for Error {}

/// Deserializes `value` into `T`, turning a failure into an [`Error`] whose
/// field is the path inside `value` where it happened.
pub fn from_value<T: serde::de::DeserializeOwned>(value: &serde_json::Value) -> Result<T, Error> {
    serde_path_to_error::deserialize(value).map_err(|err| {
        let path = format_path(err.path());
        let inner = err.into_inner().to_string();
        let hint = hint_for(&inner);
        let mut error = Error::invalid(inner);
        if !path.is_empty() {
            error.field = Some(path);
        }
        error.hint = hint;
        error
    })
}

/// Formats a serde path as `a.b[2]["key.with/dots"]`.
fn format_path(path: &serde_path_to_error::Path) -> String {
    use serde_path_to_error::Segment;
    let mut out = String::new();
    for segment in path.iter() {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } | Segment::Enum { variant: key } => {
                if key.contains(['.', '/', '[', ']', ' ']) {
                    out.push_str(&format!("[{key:?}]"));
                } else {
                    if !out.is_empty() {
                        out.push('.');
                    }
                    out.push_str(key);
                }
            }
            Segment::Unknown => {
                if !out.is_empty() {
                    out.push('.');
                }
                out.push('?');
            }
        }
    }
    if out == "." {
        out.clear();
    }
    out
}

/// Suggests a fix for the common serde type errors that YAML users hit.
fn hint_for(message: &str) -> Option<String> {
    if message.contains("invalid type: boolean") && message.contains("expected a string") {
        Some("quote the value, e.g. \"false\" instead of false".into())
    } else if message.contains("invalid type: integer") && message.contains("expected a string") {
        Some("quote the value so that it is a string".into())
    } else if message.contains("invalid type: string") && message.contains("expected i32") {
        Some("write a number without quotes".into())
    } else if message.starts_with("unknown field") {
        Some("check the spelling; the field is not part of this API".into())
    } else {
        None
    }
}
