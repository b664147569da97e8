//! The `jest-wgpu` binary: see `jest_wgpu::cli`.

fn main() {
    if let Err(e) = jest_wgpu::cli::main() {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
