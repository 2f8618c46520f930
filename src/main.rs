//! The `promtui` binary: everything, including argument parsing, lives in the library so
//! tests can check the command line the README documents.

/// mimalloc instead of glibc malloc: see Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    promtui::cli::run()
}
