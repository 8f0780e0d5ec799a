//! Email: the record parsers (sans-I/O) that the mail probe builds on.

pub mod check;
pub mod dkim;
pub mod dmarc;
pub mod mtasts;
pub mod spf;
pub mod spf_check;
pub mod tlsrpt;
