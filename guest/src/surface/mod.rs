//! Export surfaces: one module per ABI the logic is served through.

pub mod kubewarden;
#[cfg(target_arch = "wasm32")]
mod wapc;
