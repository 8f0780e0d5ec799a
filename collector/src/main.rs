//! The `posture-collector` binary (a scaffold until the collector issue lands).

use std::process::ExitCode;

fn main() -> ExitCode {
    eprintln!("{}", posture_collector::STATUS);
    // EX_UNAVAILABLE: the service is not available in this build.
    ExitCode::from(69)
}
