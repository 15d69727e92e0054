//! bootsource guest: the boot-source logic of HCO, SSP and CDI as pure,
//! deterministic functions from JSON documents to JSON documents.
//!
//! Nothing here reads a clock, a file, the network or a random source:
//! everything comes in through the request, so the same request gives the
//! same response natively, in a WebAssembly host and in a browser.

pub mod admission;
pub mod apply;
pub mod contract;
pub mod crons;
pub mod error;
pub mod hco_version;
pub mod imports;
pub mod model;
pub mod mutation;
pub mod plan;
pub mod schedule;
pub mod simulate;
pub mod snapshot;
pub mod templates;
pub mod validation;

pub mod surface;

pub use contract::dispatch;
pub use error::Error;
