//! Export surfaces: one module per ABI the logic is served through.

#[cfg(target_arch = "wasm32")]
mod wapc;
