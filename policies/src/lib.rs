//! # posture-policies
//!
//! The pure core of posture: the data model that agents send and the collector stores
//! ([`model`]), the mandated standards as executable policy ([`rules`]), role inference
//! ([`roles`]) and compliance scoring with its roll-up to organisations and the nation
//! ([`score`]).
//!
//! This crate performs no I/O beyond reading policy files it is pointed at: no sockets, no
//! database, no async runtime and no clock. Functions that depend on the time take `now` as an
//! argument, so a recorded observation evaluates the same way today and next year.
//!
//! Facts live in Rust, judgement in policy: probes compute facts (accepted suites, an SPF
//! record's lookup count, whether a chain validates) and the CEL conditions in
//! `policies/standards/*.yaml` only compare those facts with a standard's thresholds.

pub mod csv;
pub mod error;
pub mod model;
pub mod roles;
pub mod rules;
pub mod score;

pub use error::{Error, Result};
pub use rules::{Check, PolicySet, Standard};
