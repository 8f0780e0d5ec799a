//! The policy files: they load, every example gives the status it claims, and they cover the
//! catalogue in standards.md.

#![allow(clippy::unwrap_used)]

mod catalogue;
mod lint;
mod schema;
