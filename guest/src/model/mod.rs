//! Serde models of the Kubernetes objects the stages read and write.

pub mod dict;
pub mod hyperconverged;
pub mod meta;
