//! Extraction of the disk from containerdisk layers: a tar file, gzip
//! compressed or not, holding `disk/<name>.qcow2` or `disk/<name>.img`.

use std::fs::File;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use flate2::read::GzDecoder;

use crate::store::{remove_file, write_atomically};

/// First two bytes of a gzip stream (RFC 1952).
const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];

/// Extracts the disk of the image whose layers are the files `layers`, in
/// manifest order, into `dest_dir` as `disk.qcow2` or `disk.img` (the
/// suffix of the disk in the image). A later layer's disk replaces an
/// earlier one's. The disk is written to `tmp_dir` first and renamed into
/// place after an fsync, so `dest_dir` never contains half a disk. Returns the
/// disk's path, or a message when no layer contains a disk.
pub fn extract_disk(
    layers: &[PathBuf],
    tmp_dir: &Path,
    dest_dir: &Path,
) -> Result<PathBuf, String> {
    let tmp = tmp_dir.join("disk.partial");
    let mut found: Option<&'static str> = None;
    for layer in layers {
        if let Some(suffix) = extract_from_layer(layer, &tmp)? {
            found = Some(suffix);
        }
    }
    let Some(suffix) = found else {
        return Err(
            "no layer holds disk/*.qcow2 or disk/*.img; is this a containerdisk image?".into(),
        );
    };
    std::fs::create_dir_all(dest_dir)
        .map_err(|e| format!("{}: creating the folder failed: {e}", dest_dir.display()))?;
    let dest = dest_dir.join(format!("disk.{suffix}"));
    crate::store::atomic_commit(&tmp, &dest).map_err(|e| e.to_string())?;
    let other = dest_dir.join(if suffix == "qcow2" {
        "disk.img"
    } else {
        "disk.qcow2"
    });
    remove_file(&other).map_err(|e| e.to_string())?;
    Ok(dest)
}

/// Writes an empty disk file into `dest_dir`, standing in for an import.
pub fn write_empty_disk(dest_dir: &Path) -> Result<PathBuf, String> {
    let dest = dest_dir.join("disk.img");
    write_atomically(&dest, b"").map_err(|e| e.to_string())?;
    Ok(dest)
}

/// Copies the disk of one layer to `tmp`; returns its suffix, or `None`
/// when the layer contains no disk.
fn extract_from_layer(layer: &Path, tmp: &Path) -> Result<Option<&'static str>, String> {
    let describe = |e: io::Error| format!("{}: reading the layer failed: {e}", layer.display());
    let mut file = File::open(layer).map_err(describe)?;
    let mut magic = [0u8; 2];
    let read = file.read(&mut magic).map_err(describe)?;
    file.seek(SeekFrom::Start(0)).map_err(describe)?;
    let reader: Box<dyn Read> = if read == 2 && magic == GZIP_MAGIC {
        Box::new(GzDecoder::new(BufReader::new(file)))
    } else {
        Box::new(BufReader::new(file))
    };
    let mut archive = tar::Archive::new(reader);
    let entries = archive
        .entries()
        .map_err(|e| format!("{}: not a tar layer: {e}", layer.display()))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| format!("{}: broken tar entry: {e}", layer.display()))?;
        if !entry.header().entry_type().is_file() {
            continue;
        }
        let path = entry
            .path()
            .map_err(|e| format!("{}: unreadable entry name: {e}", layer.display()))?
            .to_string_lossy()
            .into_owned();
        let Some(suffix) = disk_suffix(&path) else {
            continue;
        };
        let mut out =
            File::create(tmp).map_err(|e| format!("{}: creating failed: {e}", tmp.display()))?;
        io::copy(&mut entry, &mut out)
            .map_err(|e| format!("{}: extracting {path} failed: {e}", layer.display()))?;
        out.flush()
            .and_then(|()| out.sync_all())
            .map_err(|e| format!("{}: fsync failed: {e}", tmp.display()))?;
        return Ok(Some(suffix));
    }
    Ok(None)
}

/// Returns `qcow2` or `img` when `path` is a disk of a containerdisk:
/// directly under `disk/`, with a leading `./` or `/` allowed.
fn disk_suffix(path: &str) -> Option<&'static str> {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let name = path.strip_prefix("disk/")?;
    if name.contains('/') {
        return None;
    }
    if name.ends_with(".qcow2") {
        Some("qcow2")
    } else if name.ends_with(".img") {
        Some("img")
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disk_paths_recognised() {
        let cases = [
            ("disk/fedora.qcow2", Some("qcow2")),
            ("./disk/disk.img", Some("img")),
            ("disk/nested/disk.qcow2", None),
            ("etc/disk.qcow2", None),
            ("disk/readme.txt", None),
        ];
        for (path, expected) in cases {
            assert_eq!(disk_suffix(path), expected, "{path}");
        }
    }
}
