//! Sets the `wasm_parity` cfg, under which the guest's stage tests, compiled
//! into this crate, send every guest call through the wasm module as well.

fn main() {
    println!("cargo::rustc-check-cfg=cfg(wasm_parity)");
    println!("cargo::rustc-cfg=wasm_parity");
}
