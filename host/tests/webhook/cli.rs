//! The `bootsource webhook` command: its help text, start-up errors, and
//! the request log in both formats from a running process.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, ChildStderr, Command, Stdio};
use std::time::Duration;

use hyper::StatusCode;
use serde_json::Value;

use crate::support::{unique, write_atomically, TestCa};

fn bootsource() -> Command {
    Command::new(env!("CARGO_BIN_EXE_bootsource"))
}

#[test]
fn help_states_units_and_defaults() {
    let output = bootsource()
        .args(["webhook", "--help"])
        .output()
        .expect("the binary runs");
    assert!(output.status.success());
    let help = String::from_utf8_lossy(&output.stdout);
    // Each option and a word its help must contain: the unit, the format
    // or the default.
    let cases = [
        ("--listen <ADDRESS>", "port"),
        ("--tls-cert <FILE>", "PEM"),
        ("--tls-key <FILE>", "PEM"),
        ("--max-body-bytes <BYTES>", "bytes"),
        ("--request-timeout <SECONDS>", "seconds"),
        ("--hco-version <VERSION>", "HCO release"),
        ("--os-images-namespace <NAMESPACE>", "namespace"),
        ("--log-format <LOG_FORMAT>", "json"),
        ("--module <PATH>", "bootsource.wasm"),
    ];
    for (option, word) in cases {
        let start = help
            .find(option)
            .unwrap_or_else(|| panic!("{option} missing from:\n{help}"));
        let rest = &help[start + option.len()..];
        let end = rest.find("\n  -").unwrap_or(rest.len());
        let text = &rest[..end];
        assert!(text.contains(word), "{option}: {word:?} not in {text:?}");
    }
    assert!(help.contains("[default: 3145728]"), "{help}");
    assert!(help.contains("[default: 10]"), "{help}");
}

#[test]
fn missing_certificate_fails_with_path() {
    let dir = temporary_dir();
    let output = bootsource()
        .args(["webhook", "--listen", "127.0.0.1:0", "--log-format", "text"])
        .arg("--tls-cert")
        .arg(dir.join("absent.crt"))
        .arg("--tls-key")
        .arg(dir.join("absent.key"))
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("absent.crt"), "{stderr}");
    assert!(stderr.contains("failed to read the file"), "{stderr}");
}

#[test]
fn zero_limits_are_rejected() {
    let dir = temporary_dir();
    for option in ["--max-body-bytes", "--request-timeout"] {
        let output = bootsource()
            .args(["webhook", "--listen", "127.0.0.1:0", option, "0"])
            .arg("--tls-cert")
            .arg(dir.join("absent.crt"))
            .arg("--tls-key")
            .arg(dir.join("absent.key"))
            .output()
            .expect("the binary runs");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(1), "{option}: {stderr}");
        assert!(stderr.contains(option), "{option}: {stderr}");
        assert!(stderr.contains("'0'"), "{option}: {stderr}");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn invalid_settings_fail_at_start() {
    let (dir, _ca) = certificate_dir();
    let output = bootsource()
        .args(["webhook", "--listen", "127.0.0.1:0", "--hco-version", "9.9"])
        .arg("--tls-cert")
        .arg(dir.join("tls.crt"))
        .arg("--tls-key")
        .arg(dir.join("tls.key"))
        .output()
        .expect("the binary runs");
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Checked when the command line is parsed: the option is named.
    assert!(
        stderr.contains("'9.9'") && stderr.contains("--hco-version"),
        "{stderr}"
    );
}

#[tokio::test]
async fn json_log_records_each_request() {
    let (dir, ca) = certificate_dir();
    let mut process = RunningWebhook::start(&dir, "json");
    let address = process.address_from_json();

    let (status, _) = get_healthz(&ca, &address).await;
    assert_eq!(status, StatusCode::OK);

    let line = process.next_line_containing("\"path\":\"/healthz\"");
    let record: Value = serde_json::from_str(&line).expect("the log line is JSON");
    assert_eq!(record["status"], 200, "{line}");
    assert_eq!(record["method"], "GET", "{line}");
    assert_eq!(record["level"], "INFO", "{line}");
    assert!(record["duration_ms"].is_number(), "{line}");
    drop(process);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test]
async fn text_log_records_each_request() {
    let (dir, ca) = certificate_dir();
    let mut process = RunningWebhook::start(&dir, "text");
    let line = process.next_line_containing("webhook listening");
    let address = line
        .split("address=")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .unwrap_or_else(|| panic!("no address in {line:?}"))
        .to_string();

    let (status, _) = get_healthz(&ca, &address).await;
    assert_eq!(status, StatusCode::OK);

    let line = process.next_line_containing("/healthz");
    assert!(line.contains("INFO"), "{line}");
    assert!(line.contains("status=200"), "{line}");
    assert!(serde_json::from_str::<Value>(&line).is_err(), "{line}");
    drop(process);
    let _ = std::fs::remove_dir_all(&dir);
}

fn temporary_dir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "bootsource-webhook-cli-{}-{}",
        std::process::id(),
        unique()
    ));
    std::fs::create_dir_all(&dir).expect("temporary folder");
    dir
}

/// Writes `tls.crt` and `tls.key` signed by a new test CA into a new
/// folder.
fn certificate_dir() -> (PathBuf, TestCa) {
    let dir = temporary_dir();
    let ca = TestCa::new();
    let (cert, key, _) = ca.server_cert("cli");
    write_atomically(&dir.join("tls.crt"), &cert);
    write_atomically(&dir.join("tls.key"), &key);
    (dir, ca)
}

/// A `bootsource webhook` process on 127.0.0.1 with a free port. Dropping
/// it kills the process.
struct RunningWebhook {
    child: Child,
    stderr: BufReader<ChildStderr>,
}

impl RunningWebhook {
    fn start(dir: &std::path::Path, log_format: &str) -> Self {
        let mut child = bootsource()
            .args([
                "webhook",
                "--listen",
                "127.0.0.1:0",
                "--log-format",
                log_format,
            ])
            .arg("--tls-cert")
            .arg(dir.join("tls.crt"))
            .arg("--tls-key")
            .arg(dir.join("tls.key"))
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stderr(Stdio::piped())
            .spawn()
            .expect("the binary starts");
        let stderr = BufReader::new(child.stderr.take().expect("stderr is piped"));
        RunningWebhook { child, stderr }
    }

    /// Reads log lines until one contains `needle`; panics at the end of
    /// the output.
    fn next_line_containing(&mut self, needle: &str) -> String {
        let mut seen = String::new();
        loop {
            let mut line = String::new();
            let read = self
                .stderr
                .read_line(&mut line)
                .expect("stderr is readable");
            assert!(
                read > 0,
                "the process ended before logging {needle:?}:\n{seen}"
            );
            // Strip the ANSI colour codes a text log may carry.
            let plain = strip_ansi(&line);
            if plain.contains(needle) {
                return plain.trim_end().to_string();
            }
            seen.push_str(&plain);
        }
    }

    /// Reads the bound address from the JSON start-up log line.
    fn address_from_json(&mut self) -> String {
        let line = self.next_line_containing("webhook listening");
        let record: Value = serde_json::from_str(&line).expect("the log line is JSON");
        record["address"]
            .as_str()
            .unwrap_or_else(|| panic!("no address in {line}"))
            .to_string()
    }
}

impl Drop for RunningWebhook {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn strip_ansi(text: &str) -> String {
    let mut plain = String::with_capacity(text.len());
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' {
            for c in chars.by_ref() {
                if c.is_ascii_alphabetic() {
                    break;
                }
            }
        } else {
            plain.push(c);
        }
    }
    plain
}

/// Sends `GET /healthz` to a webhook process at `address`, trusting `ca`.
async fn get_healthz(ca: &TestCa, address: &str) -> (StatusCode, Vec<u8>) {
    let address = address.parse().expect("a socket address");
    let client = crate::support::Client::new(ca, address);
    tokio::time::timeout(
        Duration::from_secs(30),
        client.send("GET", "/healthz", None, Vec::new()),
    )
    .await
    .expect("the request finishes in time")
}
