//! Serde models of the Kubernetes objects the stages read and write.

pub mod cdi;
pub mod core;
pub mod dict;
pub mod hco_fields;
pub mod hyperconverged;
pub mod meta;
