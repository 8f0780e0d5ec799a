//! Repository-wide and end-to-end tests: shipped files are valid, and the agent's TLS engine
//! judges real servers on loopback correctly.

#![allow(clippy::unwrap_used)]

mod checkdmarc;
mod cli;
mod config;
mod demo;
mod dns_domain;
mod dnssec;
mod hostile;
mod mail;
mod mail_domain;
mod reference;
mod shipped_files;
mod spf;
mod spf_suite;
mod tls;
mod web;
