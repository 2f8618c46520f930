//! The `promtui` binary: parse arguments and dispatch. Everything else lives in the library.

mod cli;

fn main() -> std::process::ExitCode {
    cli::run()
}
