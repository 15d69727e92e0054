//! `bootsource webhook` over real HTTPS on 127.0.0.1: every endpoint and
//! every kind of bad input, certificate reloading, the deployable policy
//! files under `policies/`, the command line, and verdict parity with the
//! other admission surfaces.

mod cli;
mod endpoints;
mod parity;
mod policies;
mod support;
