//! Adapter discovery: the wgpu instance this crate asks for adapters, and what it reports of
//! each (`jest-wgpu info`, the backend choice, the GPU context).

/// Facts about one adapter, for `jest-wgpu info` and the backend choice.
#[derive(Clone, Debug, serde::Serialize)]
pub struct AdapterSummary {
    pub name: String,
    pub backend: String,
    pub device_type: String,
    pub driver: String,
    /// true for real hardware (integrated, discrete or virtual GPU), false for CPU rasterisers
    pub hardware: bool,
    pub max_storage_buffer_binding_size: u64,
    pub max_compute_invocations_per_workgroup: u32,
    pub max_compute_workgroup_storage_size: u32,
}

pub(super) fn summarise(a: &wgpu::Adapter) -> AdapterSummary {
    let info = a.get_info();
    let l = a.limits();
    AdapterSummary {
        name: info.name.clone(),
        backend: format!("{:?}", info.backend),
        device_type: format!("{:?}", info.device_type),
        driver: format!("{} {}", info.driver, info.driver_info).trim().to_string(),
        hardware: !matches!(info.device_type, wgpu::DeviceType::Cpu | wgpu::DeviceType::Other),
        max_storage_buffer_binding_size: l.max_storage_buffer_binding_size,
        max_compute_invocations_per_workgroup: l.max_compute_invocations_per_workgroup,
        max_compute_workgroup_storage_size: l.max_compute_workgroup_storage_size,
    }
}

/// Vulkan / Metal / DX12 / WebGPU by default (GL on software rasterisers compiles kernels
/// 100× slower and is no compute target); `WGPU_BACKEND=gl` still selects it.
pub(super) fn instance() -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if std::env::var_os("WGPU_BACKEND").is_none() {
        desc.backends = wgpu::Backends::PRIMARY;
    }
    wgpu::Instance::new(desc)
}

/// All adapters wgpu can see (native only; the browser exposes one through `request_adapter`).
#[cfg(not(target_arch = "wasm32"))]
pub fn list_adapters() -> Vec<AdapterSummary> {
    let inst = instance();
    let adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
    adapters.iter().map(summarise).collect()
}
