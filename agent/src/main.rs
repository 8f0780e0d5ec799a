//! The `posture-agent` binary: everything is in [`posture_agent::main`], so the lab can run
//! the same program.

use std::process::ExitCode;

fn main() -> ExitCode {
    posture_agent::main(std::env::args_os())
}
