//! Crash-safe file replacement: temporary file, fsync, rename, fsync of the
//! folder.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::Path;

use super::StoreError;

/// Replaces `path` with `bytes` so that a crash leaves either the old or
/// the new content. Creates the parent folders when missing.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), StoreError> {
    let parent = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(parent).map_err(StoreError::io(parent, "creating the folder"))?;
    let file_name = path
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("object");
    let tmp = parent.join(format!(".{file_name}.tmp"));
    {
        let mut file = File::create(&tmp).map_err(StoreError::io(&tmp, "creating"))?;
        file.write_all(bytes)
            .map_err(StoreError::io(&tmp, "writing"))?;
        file.sync_all().map_err(StoreError::io(&tmp, "fsync"))?;
    }
    commit(&tmp, path)
}

/// Renames the finished file `tmp` over `path` and flushes the folder.
pub fn commit(tmp: &Path, path: &Path) -> Result<(), StoreError> {
    fs::rename(tmp, path).map_err(StoreError::io(path, "renaming into place"))?;
    sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Removes `path` and flushes its folder; returns false when it was
/// already gone.
pub fn remove_file(path: &Path) -> Result<bool, StoreError> {
    match fs::remove_file(path) {
        Ok(()) => {
            sync_dir(path.parent().unwrap_or(Path::new(".")))?;
            Ok(true)
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(StoreError::io(path, "removing")(e)),
    }
}

/// Flushes a folder, so that renames and removals in it survive a crash.
pub fn sync_dir(dir: &Path) -> Result<(), StoreError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(StoreError::io(dir, "fsync of the folder"))
}
