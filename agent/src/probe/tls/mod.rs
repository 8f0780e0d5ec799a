//! The TLS probe: which protocol versions, suites and groups a server accepts, and what
//! certificate it presents. [`wire`], [`suites`] and [`groups`] are sans-I/O.

pub mod capture;
pub mod conn;
pub mod groups;
pub mod intercept;
pub mod scan;
pub mod suites;
pub mod wire;
