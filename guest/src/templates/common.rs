//! The common (system-defined) templates: the built-in set and files given
//! in their place.
//!
//! Upstream HCO reads every file ending in exactly `.yaml` in its
//! `dataImportCronTemplates/` folder; each file is a YAML list of
//! templates, and a name that appears twice, in one file or across files,
//! stops the operator. A missing folder or file means no common templates.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{from_value, Error};
use crate::hco_version::HcoVersion;
use crate::model::dict::DataImportCronTemplate;

/// The current upstream common templates (HCO `main`,
/// `assets/dataImportCronTemplates/dataImportCronTemplates.yaml`), as JSON.
const BUILT_IN: &str = include_str!("../../assets/common-templates.json");

/// One common-templates file: where it came from and its parsed content.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CommonTemplateFile {
    /// File name, for messages.
    pub source: String,
    /// The file's content; must be a list of templates.
    pub templates: Value,
}

/// Returns the built-in common-templates file.
pub fn built_in() -> CommonTemplateFile {
    CommonTemplateFile {
        source: "built-in (HCO main)".into(),
        templates: serde_json::from_str(BUILT_IN).unwrap_or(Value::Array(Vec::new())),
    }
}

/// Reads the common templates from `files`, in order, and rejects names
/// that appear more than once. HCO 1.18 and later default
/// `retentionPolicy: None` and `importsToKeep: 1` on every template that
/// has a spec, so that deleting a cron also removes its imports.
pub fn load(
    files: &[CommonTemplateFile],
    version: HcoVersion,
) -> Result<Vec<DataImportCronTemplate>, Error> {
    let mut templates = Vec::new();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for file in files {
        let parsed: Vec<DataImportCronTemplate> = match &file.templates {
            Value::Null => Vec::new(),
            Value::Array(_) => from_value(&file.templates)
                .map_err(|e| e.within(&format!("commonTemplates[{:?}]", file.source)))?,
            _ => {
                return Err(Error::invalid(format!(
                    "common-templates file {} is not a list of DataImportCronTemplates",
                    file.source
                ))
                .hint("write a YAML list: each item has metadata.name and spec"))
            }
        };
        for template in parsed {
            *seen.entry(template.name().to_string()).or_default() += 1;
            templates.push(template);
        }
    }
    let duplicates: Vec<String> = seen
        .iter()
        .filter(|(_, count)| **count > 1)
        .map(|(name, _)| format!("duplicate DataImportCronTemplate found: {name}"))
        .collect();
    if !duplicates.is_empty() {
        return Err(Error::invalid(duplicates.join("; "))
            .at("commonTemplates")
            .hint("give each common template a unique metadata.name"));
    }
    if version.defaults_retention() {
        for template in &mut templates {
            if let Some(spec) = &mut template.spec {
                spec.retention_policy.get_or_insert_with(|| "None".into());
                spec.imports_to_keep.get_or_insert(1);
            }
        }
    }
    Ok(templates)
}
