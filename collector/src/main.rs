//! The `posture-collector` binary: all of it is [`posture_collector::main`].

fn main() -> std::process::ExitCode {
    posture_collector::main(std::env::args_os())
}
