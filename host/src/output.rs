//! Printing plans and guest errors for people and for machines.

use bootsource_guest::plan::{ActionKind, Plan, Warning};
use bootsource_guest::Error;

use crate::input::Origin;

/// Output format of commands that print a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Aligned columns for people.
    Table,
    /// The full document as JSON.
    Json,
    /// The full document as YAML.
    Yaml,
}

/// Formats a serializable document as JSON or YAML.
pub fn document<T: serde::Serialize>(value: &T, format: Format) -> String {
    match format {
        Format::Yaml => serde_yaml::to_string(value)
            .unwrap_or_else(|e| format!("# failed to encode YAML: {e}\n")),
        _ => {
            let mut text = serde_json::to_string_pretty(value)
                .unwrap_or_else(|e| format!("failed to encode JSON: {e}"));
            text.push('\n');
            text
        }
    }
}

/// Formats rows as left-aligned columns separated by two spaces.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let mut line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                text.push_str(cell);
            } else {
                text.push_str(&format!("{cell:<width$}  "));
            }
        }
        out.push_str(text.trim_end());
        out.push('\n');
    };
    line(header.to_vec());
    for row in rows {
        line(row.iter().map(String::as_str).collect());
    }
    out
}

/// Formats a plan for people: the effective boot sources, when the
/// templates stage ran, then one line per planned action.
pub fn plan_tables(plan: &Plan) -> String {
    let mut out = String::new();
    if !plan.boot_sources.is_empty() {
        out.push_str(&boot_source_table(plan));
        out.push('\n');
    }
    if plan.actions.is_empty() {
        out.push_str("no actions: the objects are up to date\n");
        return out;
    }
    let rows: Vec<Vec<String>> = plan
        .actions
        .iter()
        .map(|a| {
            let verb = match a.action {
                ActionKind::Create => "create",
                ActionKind::Apply => "apply",
                ActionKind::Patch if a.subresource.as_deref() == Some("status") => "patch status",
                ActionKind::Patch => "patch",
                ActionKind::Delete => "delete",
            };
            vec![verb.to_string(), a.object.to_string(), a.reason.clone()]
        })
        .collect();
    out.push_str(&table(&["ACTION", "OBJECT", "REASON"], &rows));
    out
}

/// Formats the effective boot sources of a plan as a table.
pub fn boot_source_table(plan: &Plan) -> String {
    let rows: Vec<Vec<String>> = plan
        .boot_sources
        .iter()
        .map(|b| {
            let kind = if b.deployed {
                b.kind.as_str().to_string()
            } else {
                format!(
                    "{} (not deployed: no supported architecture)",
                    b.kind.as_str()
                )
            };
            vec![
                b.template.clone(),
                b.data_source.clone(),
                b.source.clone(),
                b.schedule.clone(),
                kind,
                b.namespace.clone(),
            ]
        })
        .collect();
    table(
        &[
            "TEMPLATE",
            "DATASOURCE",
            "SOURCE",
            "SCHEDULE",
            "KIND",
            "NAMESPACE",
        ],
        &rows,
    )
}

/// Formats a plan warning as `field: message`, leaving out a field that
/// the message already starts with.
pub fn warning_text(warning: &Warning) -> String {
    match &warning.field {
        Some(field) if !warning.message.starts_with(field.as_str()) => {
            format!("{field}: {}", warning.message)
        }
        _ => warning.message.clone(),
    }
}

/// Formats a guest error with the file and document its object came from.
pub fn guest_error(error: &Error, origins: &[Origin]) -> String {
    let mut text = String::new();
    if let Some(origin) = error.object_index.and_then(|i| origins.get(i)) {
        text.push_str(&format!("{origin}: "));
    }
    if let Some(object) = &error.object {
        text.push_str(&format!("{object}: "));
    }
    if let Some(field) = &error.field {
        text.push_str(&format!("{field}: "));
    }
    text.push_str(&error.message);
    if let Some(hint) = &error.hint {
        text.push_str(&format!("\n  fix: {hint}"));
    }
    text
}
