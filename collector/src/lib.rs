//! # posture-collector
//!
//! The national collector: it will receive findings from agents, evaluate them against the
//! standards in [`posture_policies`], keep history, compute scores per domain, organisation,
//! standard and nationally, expose them as Prometheus metrics and serve its own dashboard.
//!
//! This crate is a scaffold: it holds the workspace's place for the collector and exposes
//! only what the binary reports. The service itself is built by a later issue.

/// What the collector binary says about its state.
pub const STATUS: &str = "posture-collector is not built yet: this release ships the agent's offline \
evaluation only (`posture-agent evaluate`).";

/// The scoring method the collector will publish, re-exported so dashboards and the agent agree.
pub const SCORE_METHOD: &str = posture_policies::score::METHOD_VERSION;
