//! Helpers for tests that run the `bootsource` binary as a process.

use std::fs;
use std::path::PathBuf;
use std::process::{Command, Output};

/// Runs the binary with `args`, logging at info level.
pub fn bootsource(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_bootsource"))
        .args(args)
        .env("RUST_LOG", "info")
        .output()
        .expect("the binary runs")
}

/// Returns the process's stderr as text.
pub fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Returns the process's stdout as text.
pub fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Creates an empty folder `name` under the target folder for one test.
pub fn scratch(name: &str) -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).expect("scratch folder");
    dir
}
