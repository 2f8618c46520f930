//! The `promtui` binary: everything, including argument parsing, lives in the library so
//! tests can check the command line the README documents.

/// mimalloc instead of glibc malloc: see Cargo.toml.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Collects the calling thread's mimalloc heap (see `promtui::alloc`).
fn collect_thread_heap() {
    // SAFETY: mi_collect takes no pointers; it walks the calling thread's own heap and the
    // allocator's shared structures under the allocator's own synchronization.
    unsafe { libmimalloc_sys::mi_collect(false) }
}

fn main() -> std::process::ExitCode {
    promtui::alloc::set_collector(collect_thread_heap);
    promtui::cli::run()
}
