//! Admission checks: what the upstream validating webhooks reject, plus
//! warnings for mistakes they let through.

pub mod dataimportcron;
pub mod hyperconverged;

use serde::{Deserialize, Serialize};

/// Whether a finding rejects the object or only warns.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Severity {
    Error,
    Warning,
}

/// One finding about one field.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Finding {
    pub severity: Severity,
    pub field: String,
    pub message: String,
}

impl Finding {
    /// A finding that rejects the object.
    pub fn error(field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Error,
            field: field.into(),
            message: message.into(),
        }
    }

    /// A finding that only warns.
    pub fn warning(field: impl Into<String>, message: impl Into<String>) -> Self {
        Finding {
            severity: Severity::Warning,
            field: field.into(),
            message: message.into(),
        }
    }
}
