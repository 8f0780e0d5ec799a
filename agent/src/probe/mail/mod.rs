//! Email: the record parsers (sans-I/O) that the mail probe builds on.

pub mod dmarc;
pub mod spf;
