//! Repository-wide tests: every data file the repository ships is valid.

#![allow(clippy::unwrap_used)]

mod shipped_files;
