//! The wgpu context: instance, adapter, device, queue and pipeline cache — built once, reused.
//!
//! Every dispatch goes through `GpuContext::dispatch`: binding 0 of group 0 is the kernel's
//! uniform parameter block, bindings 1.. are its storage buffers in the order given. Work is
//! recorded into one command encoder and submitted on read-back, `sync`, or every
//! `FLUSH_EVERY` dispatches. Shader-compilation and validation errors are caught with error
//! scopes / the uncaptured-error handler and reported with the kernel's name; a lost device or
//! a GPU that stops answering gives an error, never a hang.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context as _, Result};

/// A WGSL source file from `shaders/`, compiled into the binary.
#[derive(Clone, Copy, Debug)]
pub struct Shader {
    pub name: &'static str,
    pub source: &'static str,
}

/// `shader!("a.wgsl")` or `shader!("lib_core.wgsl", "a.wgsl")`: the files are concatenated
/// (WGSL has no includes; `*_core.wgsl` files hold shared functions and no bindings).
/// The name is the last file's.
macro_rules! shader {
    ($file:literal) => {
        Shader { name: $file, source: include_str!(concat!("../../shaders/", $file)) }
    };
    ($lib:literal, $file:literal) => {
        Shader {
            name: $file,
            source: concat!(include_str!(concat!("../../shaders/", $lib)), "\n", include_str!(concat!("../../shaders/", $file))),
        }
    };
}
pub(crate) use shader;

/// Submit the open encoder after this many dispatches (bounds memory held by bind groups).
const FLUSH_EVERY: u32 = 256;
/// How long a read-back may wait for the GPU before we call it lost.
#[cfg(not(target_arch = "wasm32"))]
const POLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

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

fn summarise(a: &wgpu::Adapter) -> AdapterSummary {
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
fn instance() -> wgpu::Instance {
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

/// The device and everything built once for it.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pipelines: RefCell<HashMap<(&'static str, &'static str), wgpu::ComputePipeline>>,
    encoder: RefCell<Option<wgpu::CommandEncoder>>,
    queued: Cell<u32>,
    /// First uncaptured device error, with the kernel that was being dispatched.
    error: Arc<Mutex<Option<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    current: Arc<Mutex<&'static str>>,
}

impl GpuContext {
    /// Open the best adapter (high performance first). `allow_software` = false refuses CPU
    /// rasterisers such as lavapipe.
    pub async fn new(allow_software: bool) -> Result<GpuContext> {
        let inst = instance();
        let adapter = inst
            .request_adapter(&wgpu::RequestAdapterOptions {
                power_preference: wgpu::PowerPreference::HighPerformance,
                force_fallback_adapter: false,
                compatible_surface: None,
                apply_limit_buckets: false,
            })
            .await
            .map_err(|e| {
                anyhow!(
                    "no GPU adapter found ({e}). Install a Vulkan driver (on Debian: `apt-get install \
                     mesa-vulkan-drivers libvulkan1` for the lavapipe software adapter) or use --backend cpu"
                )
            })?;
        let adapter_summary = summarise(&adapter);
        if !allow_software && !adapter_summary.hardware {
            bail!("only a software adapter is available ({})", adapter_summary.name);
        }
        let limits = adapter.limits();
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("jest-wgpu"),
                required_features: wgpu::Features::empty(),
                required_limits: limits.clone(),
                experimental_features: wgpu::ExperimentalFeatures::default(),
                memory_hints: wgpu::MemoryHints::Performance,
                trace: wgpu::Trace::Off,
            })
            .await
            .with_context(|| format!("could not open a device on adapter {}", adapter_summary.name))?;
        let error = Arc::new(Mutex::new(None::<String>));
        let lost = Arc::new(Mutex::new(None::<String>));
        let current = Arc::new(Mutex::new("(none)"));
        {
            let (error, current) = (error.clone(), current.clone());
            device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
                let mut slot = error.lock().unwrap();
                if slot.is_none() {
                    // the Display of wgpu::Error is terse ("Validation Error"): use the details
                    let msg = match &e {
                        wgpu::Error::Validation { description, .. } => format!("validation error: {}", description.trim()),
                        wgpu::Error::Internal { description, .. } => format!("internal error: {}", description.trim()),
                        other => other.to_string(),
                    };
                    *slot = Some(format!("kernel {}: {msg}", current.lock().unwrap()));
                }
            }));
        }
        {
            let lost = lost.clone();
            device.set_device_lost_callback(move |reason, msg| {
                *lost.lock().unwrap() = Some(format!("GPU device lost ({reason:?}): {msg}"));
            });
        }
        Ok(GpuContext {
            device,
            queue,
            adapter: adapter_summary,
            limits,
            pipelines: RefCell::new(HashMap::new()),
            encoder: RefCell::new(None),
            queued: Cell::new(0),
            error,
            lost,
            current,
        })
    }

    /// Blocking constructor for native code.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(allow_software: bool) -> Result<GpuContext> {
        pollster::block_on(Self::new(allow_software))
    }

    /// The compiled pipeline for `shader`'s `entry`, compiled on first use. Compilation and
    /// validation errors are caught in an error scope and name the file and entry point.
    pub fn pipeline(&self, shader: &Shader, entry: &'static str) -> Result<wgpu::ComputePipeline> {
        if let Some(p) = self.pipelines.borrow().get(&(shader.name, entry)) {
            return Ok(p.clone());
        }
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let module = self.device.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some(shader.name),
            source: wgpu::ShaderSource::Wgsl(shader.source.into()),
        });
        let pipeline = self.device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
            label: Some(entry),
            layout: None,
            module: &module,
            entry_point: Some(entry),
            compilation_options: Default::default(),
            cache: None,
        });
        let fut = scope.pop();
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(e) = pollster::block_on(fut) {
            bail!("shader {} (entry point `{entry}`) failed to compile: {e}", shader.name);
        }
        #[cfg(target_arch = "wasm32")]
        {
            let error = self.error.clone();
            let name = shader.name;
            wasm_bindgen_futures::spawn_local(async move {
                if let Some(e) = fut.await {
                    let mut slot = error.lock().unwrap();
                    if slot.is_none() {
                        *slot = Some(format!("shader {name} (entry `{entry}`) failed to compile: {e}"));
                    }
                }
            });
        }
        self.pipelines.borrow_mut().insert((shader.name, entry), pipeline.clone());
        Ok(pipeline)
    }

    /// Any device error so far (validation, lost device).
    pub fn check(&self) -> Result<()> {
        if let Some(msg) = self.lost.lock().unwrap().clone() {
            let msg = msg.trim_end_matches('.');
            #[cfg(not(target_arch = "wasm32"))]
            bail!("{msg}. Restart the run; use --resume to continue from the last checkpoint");
            #[cfg(target_arch = "wasm32")]
            bail!("{msg}; restart the demo");
        }
        if let Some(msg) = self.error.lock().unwrap().take() {
            bail!("GPU error in {msg}");
        }
        Ok(())
    }

    /// Record one compute dispatch. `params` is the uniform block (binding 0, padded to 16 bytes),
    /// `bufs` the storage buffers (bindings 1..), `groups` the workgroup counts.
    pub fn dispatch(
        &self,
        shader: &Shader,
        entry: &'static str,
        params: &[u8],
        bufs: &[&wgpu::Buffer],
        groups: [u32; 3],
    ) {
        if groups.contains(&0) || self.lost.lock().unwrap().is_some() {
            return; // a lost device is reported by the next read-back or sync
        }
        *self.current.lock().unwrap() = entry;
        let pipeline = match self.pipeline(shader, entry) {
            Ok(p) => p,
            Err(e) => {
                let mut slot = self.error.lock().unwrap();
                if slot.is_none() {
                    *slot = Some(format!("{e:#}"));
                }
                return;
            }
        };
        let mut padded = params.to_vec();
        padded.resize(params.len().div_ceil(16).max(1) * 16, 0);
        // (create + write rather than mapped-at-creation: the latter panics on a lost device)
        let uniform = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params"),
            size: padded.len() as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.queue.write_buffer(&uniform, 0, &padded);
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: uniform.as_entire_binding() }];
        for (i, b) in bufs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.as_entire_binding() });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &pipeline.get_bind_group_layout(0),
            entries: &entries,
        });
        {
            let mut enc = self.encoder.borrow_mut();
            let enc = enc.get_or_insert_with(|| {
                self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") })
            });
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes: None });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        self.queued.set(self.queued.get() + 1);
        if self.queued.get() >= FLUSH_EVERY {
            self.flush();
        }
    }

    /// Record a buffer-to-buffer copy (bytes offsets, multiple of 4).
    pub fn copy(&self, src: &wgpu::Buffer, src_off: u64, dst: &wgpu::Buffer, dst_off: u64, bytes: u64) {
        if bytes == 0 {
            return;
        }
        let mut enc = self.encoder.borrow_mut();
        let enc = enc.get_or_insert_with(|| {
            self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") })
        });
        enc.copy_buffer_to_buffer(src, src_off, dst, dst_off, bytes);
    }

    /// Submit what is recorded.
    pub fn flush(&self) {
        if let Some(enc) = self.encoder.borrow_mut().take() {
            self.queue.submit([enc.finish()]);
        }
        self.queued.set(0);
    }

    /// Submit, wait for the queue, and report errors — with a timeout, never a hang.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn wait(&self) -> Result<()> {
        self.flush();
        self.device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(POLL_TIMEOUT) })
            .map_err(|e| anyhow!("GPU stopped answering ({e}); the device may be lost"))?;
        self.check()
    }

    /// Copy a storage buffer back to the host. Works on native and in the browser (where the
    /// map callback fires from the event loop): the one read-back path of the crate.
    pub async fn read_bytes_async(&self, buf: &wgpu::Buffer, bytes: u64) -> Result<Vec<u8>> {
        if bytes == 0 {
            return Ok(Vec::new());
        }
        self.check()?;
        let staging = self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("readback"),
            size: bytes,
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        self.copy(buf, 0, &staging, 0, bytes);
        self.flush();
        let (tx, rx) = futures_channel::oneshot::channel();
        staging.map_async(wgpu::MapMode::Read, .., move |r| {
            let _ = tx.send(r);
        });
        #[cfg(not(target_arch = "wasm32"))]
        self.wait()?; // drives the callback; errors (lost device, timeout) instead of hanging
        let mapped = rx.await;
        if !matches!(mapped, Ok(Ok(()))) {
            // a destroyed device fails the map before its lost callback runs: prefer the
            // lost-device message when there is one
            self.check()?;
        }
        mapped
            .map_err(|_| anyhow!("GPU read-back was cancelled: the GPU device was probably lost"))?
            .map_err(|e| anyhow!("GPU read-back failed ({e}): the GPU device was probably lost"))?;
        self.check()?;
        let data = staging.get_mapped_range(..).map_err(|e| anyhow!("mapping read-back buffer: {e:?}"))?.to_vec();
        staging.unmap();
        Ok(data)
    }

    /// A new storage buffer, zero-filled, of `words` 4-byte words (at least one).
    pub fn storage(&self, words: usize, label: &'static str) -> wgpu::Buffer {
        self.device.create_buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: (words.max(1) * 4) as u64,
            usage: wgpu::BufferUsages::STORAGE | wgpu::BufferUsages::COPY_SRC | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

/// Workgroup counts for `n` items at `per_group` items per workgroup, folded into x·y so that
/// no dimension passes 65,535. Kernels recover the linear index as
/// `gid.x + gid.y * nwg.x * WG` (see `elementwise.wgsl`).
pub fn groups_1d(n: usize, per_group: usize) -> [u32; 3] {
    let g = n.div_ceil(per_group).max(1);
    if g <= 65_535 {
        [g as u32, 1, 1]
    } else {
        let y = g.div_ceil(65_535);
        [g.div_ceil(y) as u32, y as u32, 1]
    }
}
