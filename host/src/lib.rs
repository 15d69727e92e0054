//! bootsource host: runs the guest module and applies what it returns.
//!
//! The host does the I/O the guest cannot: it reads files, loads
//! `bootsource.wasm` under wasmtime and prints or applies the plan.

pub mod cli;
pub mod controller;
pub mod input;
pub mod module_cache;
pub mod output;
pub mod poll_result;
pub mod registry;
pub mod runtime;
pub mod store;
pub mod webhook;
