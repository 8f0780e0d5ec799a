//! Probes: network in, [`posture_policies::model::Observation`] out.

pub mod mail;
pub mod tls;
pub mod web;
