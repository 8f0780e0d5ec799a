//! The `posture-collector` program, built with the lab so that end-to-end tests can run it as
//! a separate process without depending on another package's binary being built.

fn main() -> std::process::ExitCode {
    posture_collector::main(std::env::args_os())
}
