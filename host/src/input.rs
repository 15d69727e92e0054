//! Reads Kubernetes objects from YAML or JSON files.
//!
//! A file may hold several YAML documents, a JSON object, a JSON array, or
//! a `List` as `kubectl get -o yaml` prints it; each object remembers the
//! file and document it came from, so that errors can point there.

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};

use bootsource_guest::templates::common::CommonTemplateFile;
use serde::Deserialize;
use serde_json::Value;

mod nesting;

/// Largest input file read, in bytes (64 MiB). A cluster snapshot of every
/// boot-source object is a few MiB at most.
pub const MAX_FILE_BYTES: u64 = 64 << 20;

/// Deepest nesting of collections accepted in an input document, counting
/// each block level and each `[` or `{`. Kubernetes objects nest about 15
/// levels, and serde_json stops at 128.
pub const MAX_NESTING_DEPTH: usize = 100;

/// Where an object came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Origin {
    pub file: PathBuf,
    /// 1-based position of the YAML document (or JSON array item).
    pub document: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} (document {})", self.file.display(), self.document)
    }
}

/// Objects read from files, in file and document order.
#[derive(Debug, Clone, Default)]
pub struct Objects {
    pub values: Vec<Value>,
    pub origins: Vec<Origin>,
}

/// Failures of reading input files.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    #[error("{}: failed to read: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: the file is {size} bytes, more than the maximum of {MAX_FILE_BYTES} bytes", path.display())]
    TooLarge { path: PathBuf, size: u64 },
    #[error("{}: the file is not valid UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{}: invalid YAML in document {document}: {message}", path.display())]
    Yaml {
        path: PathBuf,
        document: usize,
        message: String,
    },
    #[error(
        "{}: document {document} nests deeper than {MAX_NESTING_DEPTH} levels at line {line}; \
         bootsource reads at most {MAX_NESTING_DEPTH} levels of YAML or JSON nesting",
        path.display()
    )]
    TooDeep {
        path: PathBuf,
        document: usize,
        line: usize,
    },
    #[error("{}: invalid JSON: {message}", path.display())]
    Json { path: PathBuf, message: String },
    #[error("{}: the file holds no objects; pass a YAML or JSON file with at least one Kubernetes object", path.display())]
    Empty { path: PathBuf },
}

/// Reads every object of every file; `-` reads standard input.
pub fn read_objects(paths: &[PathBuf]) -> Result<Objects, InputError> {
    let mut objects = Objects::default();
    for path in paths {
        let text = read_text(path)?;
        let documents = parse_documents(path, &text)?;
        let before = objects.values.len();
        for (index, document) in documents.into_iter().enumerate() {
            for value in flatten_list(document) {
                objects.values.push(value);
                objects.origins.push(Origin {
                    file: path.clone(),
                    document: index + 1,
                });
            }
        }
        if objects.values.len() == before {
            return Err(InputError::Empty { path: path.clone() });
        }
    }
    Ok(objects)
}

/// Reads common-template files: a file, or every file in a folder whose
/// name ends in exactly `.yaml` (`.yml` is skipped, as HCO does), in name
/// order. A path that does not exist gives no templates, like HCO's
/// missing folder; the caller warns about it.
pub fn read_common_templates(path: &Path) -> Result<Option<Vec<CommonTemplateFile>>, InputError> {
    if !path.exists() {
        return Ok(None);
    }
    let files = if path.is_dir() {
        let entries = fs::read_dir(path).map_err(|source| InputError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|e| e.path())
            .filter(|p| {
                p.is_file()
                    && p.file_name()
                        .and_then(|n| n.to_str())
                        .is_some_and(|n| n.ends_with(".yaml"))
            })
            .collect();
        files.sort();
        files
    } else {
        vec![path.to_path_buf()]
    };
    let mut result = Vec::new();
    for file in files {
        let text = read_text(&file)?;
        let mut documents = parse_documents(&file, &text)?;
        let templates = if documents.is_empty() {
            Value::Null
        } else {
            documents.remove(0)
        };
        result.push(CommonTemplateFile {
            source: file.display().to_string(),
            templates,
        });
    }
    Ok(Some(result))
}

/// Reads a whole text file, or standard input for `-`, of at most
/// [`MAX_FILE_BYTES`] bytes.
pub fn read_text(path: &Path) -> Result<String, InputError> {
    let read_error = |source| InputError::Read {
        path: path.to_path_buf(),
        source,
    };
    let mut bytes = Vec::new();
    if path == Path::new("-") {
        std::io::stdin()
            .take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    } else {
        let file = fs::File::open(path).map_err(read_error)?;
        let size = file.metadata().map_err(read_error)?.len();
        if size > MAX_FILE_BYTES {
            return Err(InputError::TooLarge {
                path: path.to_path_buf(),
                size,
            });
        }
        file.take(MAX_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(read_error)?;
    }
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(InputError::TooLarge {
            path: path.to_path_buf(),
            size: bytes.len() as u64,
        });
    }
    String::from_utf8(bytes).map_err(|_| InputError::NotUtf8 {
        path: path.to_path_buf(),
    })
}

/// Parses JSON when the text starts with `{` or `[`, YAML otherwise. Empty
/// YAML documents are skipped. Text nesting deeper than
/// [`MAX_NESTING_DEPTH`] is rejected before parsing.
pub fn parse_documents(path: &Path, text: &str) -> Result<Vec<Value>, InputError> {
    if let Some(found) = nesting::find_too_deep(text, MAX_NESTING_DEPTH) {
        return Err(InputError::TooDeep {
            path: path.to_path_buf(),
            document: found.document,
            line: found.line,
        });
    }
    let trimmed = text.trim_start();
    if trimmed.starts_with('{') || trimmed.starts_with('[') {
        let value: Value = serde_json::from_str(text).map_err(|e| InputError::Json {
            path: path.to_path_buf(),
            message: e.to_string(),
        })?;
        return Ok(match value {
            Value::Array(items) if items.iter().all(|i| i.get("kind").is_some()) => items,
            other => vec![other],
        });
    }
    let mut documents = Vec::new();
    for (index, document) in serde_yaml::Deserializer::from_str(text).enumerate() {
        let yaml_error = |message: String| InputError::Yaml {
            path: path.to_path_buf(),
            document: index + 1,
            message,
        };
        let value =
            serde_yaml::Value::deserialize(document).map_err(|e| yaml_error(e.to_string()))?;
        if value.is_null() {
            continue;
        }
        let json = serde_json::to_value(&value)
            .map_err(|e| yaml_error(format!("cannot be represented as JSON: {e}")))?;
        documents.push(json);
    }
    Ok(documents)
}

/// Expands a `List` (or any `*List` kind with `items`) into its items.
fn flatten_list(value: Value) -> Vec<Value> {
    let is_list = value
        .get("kind")
        .and_then(Value::as_str)
        .is_some_and(|kind| kind.ends_with("List"))
        && value.get("items").is_some_and(Value::is_array);
    if !is_list {
        return vec![value];
    }
    match value {
        Value::Object(mut map) => match map.remove("items") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    }
}
