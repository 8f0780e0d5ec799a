//! The `posture-agent` binary: parse the command line, call [`posture_agent::run`], map its
//! error to an exit code.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use posture_agent::cli::Cli;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // clap's own help and version requests are successes.
            return if e.use_stderr() {
                ExitCode::from(64)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    match posture_agent::run(cli, &mut out) {
        Ok(()) => {
            let _ = out.flush();
            ExitCode::SUCCESS
        }
        // A reader that stopped early (`| head`) is not an error worth reporting.
        Err(posture_agent::Error::Output(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => {
            ExitCode::SUCCESS
        }
        Err(e) => {
            let _ = out.flush();
            eprintln!("posture-agent: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}
