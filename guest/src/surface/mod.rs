//! Export surfaces: one module per ABI the logic is served through. The
//! `opa` feature builds the OPA flavour: the OPA Wasm exports replace the
//! waPC ones, because a host tells the two apart by their exports.

pub mod kubewarden;
pub mod opa;
#[cfg(all(target_arch = "wasm32", not(feature = "opa")))]
mod wapc;
