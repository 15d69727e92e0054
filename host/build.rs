//! Builds the guest for wasm32-unknown-unknown and hands its path to the
//! crate, so that the `bootsource` binary carries the module it was built
//! with. `BOOTSOURCE_GUEST_WASM=PATH` embeds a prebuilt module instead.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-unknown-unknown";
const PROFILE: &str = "wasm";

fn main() {
    println!("cargo:rerun-if-env-changed=BOOTSOURCE_GUEST_WASM");
    let manifest_dir =
        PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let guest_dir = manifest_dir
        .join("../guest")
        .canonicalize()
        .unwrap_or_else(|_| manifest_dir.join("../guest"));

    let wasm = match env::var_os("BOOTSOURCE_GUEST_WASM") {
        Some(path) => PathBuf::from(path),
        None => build_guest(&guest_dir),
    };
    println!(
        "cargo:rustc-env=BOOTSOURCE_EMBEDDED_WASM={}",
        wasm.display()
    );
}

fn build_guest(guest_dir: &Path) -> PathBuf {
    for path in ["src", "assets", "Cargo.toml"] {
        println!("cargo:rerun-if-changed={}", guest_dir.join(path).display());
    }
    let out_dir = PathBuf::from(env::var("OUT_DIR").expect("cargo sets OUT_DIR"));
    // target/<profile>/build/<pkg>/out -> target/guest-wasm-<hash>, shared
    // by the debug and release builds of the host. The hash of the guest's
    // path keeps two checkouts that share a target folder apart.
    let folder = format!(
        "guest-wasm-{:016x}",
        fnv1a64(guest_dir.to_string_lossy().as_bytes())
    );
    let target_dir = out_dir
        .ancestors()
        .nth(4)
        .map(|target| target.join(&folder))
        .unwrap_or_else(|| out_dir.join(&folder));

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let mut command = Command::new(cargo);
    command
        .args(["build", "--lib", "--target", TARGET, "--profile", PROFILE])
        .arg("--manifest-path")
        .arg(guest_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags and wrappers are for the host target; they
    // must not leak into the guest build.
    for var in [
        "RUSTFLAGS",
        "CARGO_ENCODED_RUSTFLAGS",
        "CARGO_BUILD_TARGET",
        "CARGO_TARGET_DIR",
        "RUSTC_WORKSPACE_WRAPPER",
        "RUSTC_WRAPPER",
        "CARGO_MAKEFLAGS",
        "CARGO_LLVM_COV",
        "LLVM_PROFILE_FILE",
    ] {
        command.env_remove(var);
    }
    let status = command
        .status()
        .expect("failed to run cargo for the guest build");
    if !status.success() {
        panic!(
            "building the guest for {TARGET} failed; if the target is missing, run \
             `rustup target add {TARGET}`, or set BOOTSOURCE_GUEST_WASM to a prebuilt module"
        );
    }
    target_dir
        .join(TARGET)
        .join(PROFILE)
        .join("bootsource_guest.wasm")
}

/// 64-bit FNV-1a, as `bootsource_guest::hash::fnv1a64` computes it. A
/// build script cannot use the guest crate without compiling it a second
/// time for the build machine, so it keeps this copy.
fn fnv1a64(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}
