//! Probes: network in, [`posture_policies::model::Observation`] out.

pub mod dns;
pub mod domain;
pub mod mail;
pub mod net;
pub mod rdap;
pub mod takeover;
pub mod tls;
pub mod web;
