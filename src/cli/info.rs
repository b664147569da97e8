//! `jest-wgpu info`: the adapters wgpu sees, the backend `auto` would pick and why, key limits.

use anyhow::Result;
use serde_json::json;

use super::backend_choice::{self, BackendChoice, Chosen};
use crate::gpu::list_adapters;

pub fn run(as_json: bool) -> Result<()> {
    let adapters = list_adapters();
    if adapters.is_empty() {
        eprintln!("no GPU adapters found (for software Vulkan on Debian: apt-get install mesa-vulkan-drivers libvulkan1)");
    }
    for a in &adapters {
        eprintln!(
            "adapter: {} [{} {}{}] driver {}\n  max storage buffer binding {} MiB, {} invocations/workgroup, {} KiB workgroup memory",
            a.name,
            a.backend,
            a.device_type,
            if a.hardware { ", hardware" } else { ", software" },
            a.driver,
            a.max_storage_buffer_binding_size >> 20,
            a.max_compute_invocations_per_workgroup,
            a.max_compute_workgroup_storage_size >> 10
        );
    }
    let (chosen, why) = backend_choice::open(BackendChoice::Auto)?;
    eprintln!("backend auto → {why}");
    let auto = match chosen {
        Chosen::Cpu(_) => "cpu",
        Chosen::Gpu(_) => "gpu",
    };
    if as_json {
        println!("{}", json!({ "adapters": adapters, "auto": auto, "reason": why, "threads": rayon::current_num_threads() }));
    }
    Ok(())
}
