//! Link options of the OPA flavour: OPA hosts provide the memory as the
//! import `env.memory`, so the module must import it rather than define
//! its own. Other builds are left as they are.

use std::env;

/// Stack of the OPA flavour, in bytes. OPA's JavaScript SDK creates the
/// imported memory with 5 pages (320 KiB) by default, and the stack and the
/// static data must fit in it for the module to load without options.
const OPA_STACK_BYTES: u32 = 128 * 1024;

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let opa = env::var_os("CARGO_FEATURE_OPA").is_some();
    let wasm32 = env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|arch| arch == "wasm32");
    if opa && wasm32 {
        println!("cargo:rustc-cdylib-link-arg=--import-memory");
        println!("cargo:rustc-cdylib-link-arg=-zstack-size={OPA_STACK_BYTES}");
    }
}
