//! Repository-wide and end-to-end tests: shipped files are valid, and the agent's TLS engine
//! judges real servers on loopback correctly.

#![allow(clippy::unwrap_used)]

/// The exit code of a finished `scan` (0, 1 for failing findings, 2 for targets that could
/// not be scanned at all); any other error fails the test.
pub(crate) fn scanned(result: Result<(), posture_agent::Error>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e @ (posture_agent::Error::Failing { .. } | posture_agent::Error::Unscanned(_))) => {
            e.exit_code()
        }
        Err(e) => panic!("{e}"),
    }
}

mod alerts;
mod attacks;
mod checkdmarc;
mod cli;
mod collector;
mod config;
mod demo;
mod dns_domain;
mod dnssec;
mod faults;
mod hostile;
mod load;
mod mail;
mod mail_domain;
mod pages;
mod prometheus;
mod reference;
mod service;
mod shipped_files;
mod spf;
mod spf_suite;
mod tls;
mod web;
