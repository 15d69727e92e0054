//! On-disk cache of compiled guest modules.
//!
//! Compiling `bootsource.wasm` takes seconds; loading the machine code that
//! wasmtime produced for it takes milliseconds. Each short CLI call would
//! otherwise pay the compile, so the compiled form is kept in the user's
//! cache folder, keyed by the sha256 of the module bytes and by the
//! engine's compatibility hash (wasmtime version and compile settings).
//!
//! The folder is `$BOOTSOURCE_CACHE_DIR`, else `$XDG_CACHE_HOME/bootsource`,
//! else `$HOME/.cache/bootsource`. Setting `BOOTSOURCE_CACHE_DIR` to an
//! empty value turns the cache off. A cache that cannot be read or written
//! never fails a call: the module is compiled as without a cache.

use std::collections::hash_map::DefaultHasher;
use std::fs;
use std::hash::{Hash, Hasher};
use std::io::Write;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};
use wasmtime::{Engine, Module};

/// Environment variable that names the cache folder, or turns the cache
/// off when set to an empty value.
pub const CACHE_DIR_ENV: &str = "BOOTSOURCE_CACHE_DIR";

/// Compiles `wasm` for `engine`, or loads the compiled form from the cache.
pub fn load_or_compile(engine: &Engine, wasm: &[u8]) -> wasmtime::Result<Module> {
    let Some(dir) = cache_dir() else {
        return Module::new(engine, wasm);
    };
    let path = dir.join(file_name(engine, wasm));
    if path.is_file() {
        // SAFETY: the file was written by `store` below from
        // `Module::serialize` of an engine with the same compatibility hash
        // (part of the file name), inside the user's own cache folder, and
        // replaced only by an atomic rename. wasmtime also checks the
        // version and settings in the file header and returns an error,
        // not undefined behaviour, on a mismatch.
        if let Ok(module) = unsafe { Module::deserialize_file(engine, &path) } {
            return Ok(module);
        }
    }
    let module = Module::new(engine, wasm)?;
    if let Ok(bytes) = module.serialize() {
        // A failed write only costs the next call a compile.
        let _ = store(&dir, &path, &bytes);
    }
    Ok(module)
}

/// Returns the cache folder, or `None` when the cache is off or no folder is
/// set.
fn cache_dir() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os(CACHE_DIR_ENV) {
        return (!dir.is_empty()).then(|| PathBuf::from(dir));
    }
    if let Some(dir) = std::env::var_os("XDG_CACHE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("bootsource"));
    }
    let home = std::env::var_os("HOME").filter(|d| !d.is_empty())?;
    Some(PathBuf::from(home).join(".cache").join("bootsource"))
}

/// `module-<sha256 of the wasm, 32 hex>-<engine hash, 16 hex>.cwasm`.
fn file_name(engine: &Engine, wasm: &[u8]) -> String {
    let digest = Sha256::digest(wasm);
    let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    let mut hasher = DefaultHasher::new();
    engine.precompile_compatibility_hash().hash(&mut hasher);
    format!("module-{hex}-{:016x}.cwasm", hasher.finish())
}

/// Writes `bytes` to `path` through a temporary file and a rename, so a
/// reader sees either no file or a whole one.
fn store(dir: &Path, path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    fs::create_dir_all(dir)?;
    let tmp = dir.join(format!(".tmp-{}-{}", std::process::id(), unique()));
    let result = (|| {
        let mut file = fs::File::create(&tmp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        fs::rename(&tmp, path)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Returns a per-process counter value, so two threads never share a
/// temporary file.
fn unique() -> u64 {
    use std::sync::atomic::{AtomicU64, Ordering};
    static NEXT: AtomicU64 = AtomicU64::new(0);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::default()
    }

    const EMPTY_MODULE: &[u8] = b"\0asm\x01\0\0\0";

    #[test]
    fn file_name_depends_on_module_bytes() {
        let engine = engine();
        let other = b"\0asm\x01\0\0\0\0\x01\x00";
        assert_ne!(file_name(&engine, EMPTY_MODULE), file_name(&engine, other));
    }

    #[test]
    fn stored_module_is_loaded_back() {
        let dir =
            std::env::temp_dir().join(format!("bootsource-cache-test-{}", std::process::id()));
        let engine = engine();
        let module = Module::new(&engine, EMPTY_MODULE).expect("compile");
        let path = dir.join(file_name(&engine, EMPTY_MODULE));
        store(&dir, &path, &module.serialize().expect("serialize")).expect("store");
        // SAFETY: written just above by `Module::serialize` of this engine.
        let loaded = unsafe { Module::deserialize_file(&engine, &path) };
        let _ = fs::remove_dir_all(&dir);
        assert!(loaded.is_ok(), "{loaded:?}");
    }
}
