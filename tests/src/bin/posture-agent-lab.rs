//! The `posture-agent` program, built with the lab so that end-to-end tests can run it as a
//! separate process (to measure its peak memory, or trace what it sends) without depending on
//! another package's binary being built.

use std::process::ExitCode;

fn main() -> ExitCode {
    posture_agent::main(std::env::args_os())
}
