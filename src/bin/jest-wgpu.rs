//! The `jest-wgpu` binary: see `jest_wgpu::cli`.

fn main() {
    // Mesa's Vulkan drivers probe Wayland and print "XDG_RUNTIME_DIR is invalid" when it is
    // unset (headless servers, CI); give them a directory so the output stays clean. Done first,
    // while the process has a single thread.
    #[cfg(target_os = "linux")]
    if std::env::var_os("XDG_RUNTIME_DIR").is_none() {
        std::env::set_var("XDG_RUNTIME_DIR", std::env::temp_dir());
    }
    // Rust ignores SIGPIPE, so printing into a closed pipe (`… | head`) would panic; a command
    // line tool should end quietly there, as cat and grep do.
    #[cfg(unix)]
    // SAFETY: called before any other thread exists; SIG_DFL is a valid disposition for SIGPIPE.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
    if let Err(e) = jest_wgpu::cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
