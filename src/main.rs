//! The `promtui` binary: everything, including argument parsing, lives in the library so
//! tests can check the command line the README documents.

fn main() -> std::process::ExitCode {
    promtui::cli::run()
}
