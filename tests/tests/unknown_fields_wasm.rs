//! The guest's unknown-field tests, compiled into this crate with
//! `wasm_parity` set: every request they send through a guest operation
//! also runs in the built wasm module, must give a byte-identical
//! response, and meets the same assertions.

#[path = "../../guest/tests/unknown_fields.rs"]
mod unknown_fields;
