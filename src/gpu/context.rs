//! The wgpu context: instance, adapter, device, queue and pipeline cache — built once, reused.
//!
//! Every dispatch goes through `GpuContext::dispatch`: binding 0 of group 0 is the kernel's
//! uniform parameter block (a slot of one arena per submit), bindings 1.. are its storage
//! buffers in the order given. Work is recorded into one command encoder and submitted on
//! read-back, `sync`, or every `FLUSH_EVERY` dispatches. Shader-compilation and validation
//! errors are caught with error scopes / the uncaptured-error handler and reported with the
//! kernel's name; a lost device or a GPU that stops answering gives an error, never a hang.

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use anyhow::{anyhow, bail, Context as _, Result};

use super::adapter::{instance, summarise, AdapterSummary};
use super::profile::Profiler;
use super::GpuBuf;

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

/// Compiled pipelines and their bind group layouts by (shader file, entry point).
type PipelineCache = HashMap<(&'static str, &'static str), (wgpu::ComputePipeline, wgpu::BindGroupLayout)>;

/// Submit the open encoder after this many dispatches (bounds memory held by bind groups).
pub(super) const FLUSH_EVERY: usize = 256;
/// Uniform parameter blocks between two submits share one buffer, a 256-byte slot each: 256 is
/// the largest `min_uniform_buffer_offset_alignment` WebGPU allows, so every adapter takes the
/// same layout. One buffer, written once per submit, replaces a buffer created and written per
/// dispatch: one driver allocation fewer for every dispatch.
const SLOT: usize = 256;
const ARENA_BYTES: usize = FLUSH_EVERY * SLOT;
/// How long a read-back may wait for the GPU before we call it lost.
#[cfg(not(target_arch = "wasm32"))]
pub(super) const POLL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// The device and everything built once for it.
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub adapter: AdapterSummary,
    pub limits: wgpu::Limits,
    pipelines: RefCell<PipelineCache>,
    encoder: RefCell<Option<wgpu::CommandEncoder>>,
    /// Uniform parameter blocks of the dispatches recorded since the last submit, a slot each
    /// (so also their count): `arena_host` is copied into `arena` just before the submit (queue
    /// writes land before its commands).
    arena: wgpu::Buffer,
    arena_host: RefCell<Vec<u8>>,
    /// Dispatches recorded since the context was built (for `bench`).
    dispatched: Cell<u64>,
    /// First uncaptured device error, with the kernel that was being dispatched.
    error: Arc<Mutex<Option<String>>>,
    lost: Arc<Mutex<Option<String>>>,
    current: Arc<Mutex<&'static str>>,
    /// Timestamps around every dispatch while `bench --profile` measures (native only).
    pub(super) profiler: RefCell<Option<Profiler>>,
    /// Scratch for partial sums (split-K matmul, bias_grad, sumsq) and embed_bwd's token
    /// index, grown on demand.
    scratch: RefCell<Option<GpuBuf>>,
    /// Whether long sums over few workgroups (weight and bias gradients) are split over more
    /// workgroups: on GPUs, not on software adapters, whose few cores the workgroups already
    /// fill (lavapipe's matmul 512³ ran at half speed split).
    split_sums: Cell<bool>,
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
                     mesa-vulkan-drivers libvulkan1` for the lavapipe software adapter)"
                )
            })?;
        if !allow_software && !summarise(&adapter).hardware {
            bail!("only a software adapter is available ({})", adapter.get_info().name);
        }
        Self::on_adapter(adapter).await
    }

    /// Open a device on `adapter` (any backend, wgpu's noop one included) and build the context.
    pub async fn on_adapter(adapter: wgpu::Adapter) -> Result<GpuContext> {
        let adapter_summary = summarise(&adapter);
        let limits = adapter.limits();
        // timestamps for `bench --profile`, where the adapter has them (native: the browser
        // demo never profiles)
        let features = if cfg!(target_arch = "wasm32") { wgpu::Features::empty() } else { adapter.features() & wgpu::Features::TIMESTAMP_QUERY };
        let (device, queue) = adapter
            .request_device(&wgpu::DeviceDescriptor {
                label: Some("jest-wgpu"),
                required_features: features,
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
        let split_sums = adapter.get_info().device_type != wgpu::DeviceType::Cpu;
        let arena = device.create_buffer(&wgpu::BufferDescriptor {
            label: Some("params arena"),
            size: ARENA_BYTES as u64,
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        });
        Ok(GpuContext {
            device,
            queue,
            adapter: adapter_summary,
            limits,
            pipelines: RefCell::new(HashMap::new()),
            encoder: RefCell::new(None),
            arena,
            arena_host: RefCell::new(Vec::with_capacity(ARENA_BYTES)),
            dispatched: Cell::new(0),
            error,
            lost,
            current,
            profiler: RefCell::new(None),
            scratch: RefCell::new(None),
            split_sums: Cell::new(split_sums),
        })
    }

    /// Blocking constructor for native code.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn new_blocking(allow_software: bool) -> Result<GpuContext> {
        pollster::block_on(Self::new(allow_software))
    }

    /// A context on wgpu's noop backend: every call goes through wgpu (validation, tracking,
    /// recording, submission) but nothing executes and read-backs return zeros. `bench` times a
    /// step on it to measure wgpu's own CPU cost of the step, the floor under any GPU's time.
    #[cfg(not(target_arch = "wasm32"))]
    pub fn noop_blocking() -> Result<GpuContext> {
        let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
        desc.backends = wgpu::Backends::NOOP;
        // (its default, unbounded limits overflow wgpu's fixed-size tables: report a GPU's)
        let limits = wgpu::Limits {
            max_storage_buffer_binding_size: 1 << 31,
            max_buffer_size: 1 << 32,
            ..wgpu::Limits::default()
        };
        desc.backend_options.noop = wgpu::NoopBackendOptions { enable: true, limits: Some(limits), ..Default::default() };
        let adapter = pollster::block_on(wgpu::Instance::new(desc).request_adapter(&wgpu::RequestAdapterOptions::default()))
            .map_err(|e| anyhow!("wgpu's noop backend is not available ({e})"))?;
        let ctx = pollster::block_on(Self::on_adapter(adapter))?;
        ctx.set_split_sums(true); // record what a hardware GPU runs
        Ok(ctx)
    }

    /// The compiled pipeline for `shader`'s `entry` and its bind group layout, compiled on first
    /// use. Compilation and validation errors are caught in an error scope and name the file
    /// and entry point.
    pub fn pipeline(&self, shader: &Shader, entry: &'static str) -> Result<(wgpu::ComputePipeline, wgpu::BindGroupLayout)> {
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
        let layout = pipeline.get_bind_group_layout(0);
        self.pipelines.borrow_mut().insert((shader.name, entry), (pipeline.clone(), layout.clone()));
        Ok((pipeline, layout))
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
    /// `bufs` the storage buffers or views into them (bindings 1..), `groups` the workgroup counts.
    pub fn dispatch(
        &self,
        shader: &Shader,
        entry: &'static str,
        params: &[u8],
        bufs: &[&GpuBuf],
        groups: [u32; 3],
    ) {
        if groups.contains(&0) || self.lost.lock().unwrap().is_some() {
            return; // a lost device is reported by the next read-back or sync
        }
        *self.current.lock().unwrap() = entry;
        let (pipeline, layout) = match self.pipeline(shader, entry) {
            Ok(p) => p,
            Err(e) => {
                let mut slot = self.error.lock().unwrap();
                if slot.is_none() {
                    *slot = Some(format!("{e:#}"));
                }
                return;
            }
        };
        assert!(params.len() <= SLOT, "kernel {entry}: a parameter block of {} bytes is over {SLOT}", params.len());
        let offset = {
            let mut host = self.arena_host.borrow_mut();
            let offset = host.len();
            host.extend_from_slice(params);
            host.resize(offset + SLOT, 0);
            offset
        };
        // (the binding covers the block rounded up to 16 bytes, as WGSL's uniform layout asks)
        let size = wgpu::BufferSize::new(params.len().div_ceil(16).max(1) as u64 * 16);
        let uniform = wgpu::BufferBinding { buffer: &self.arena, offset: offset as u64, size };
        let mut entries = vec![wgpu::BindGroupEntry { binding: 0, resource: wgpu::BindingResource::Buffer(uniform) }];
        for (i, b) in bufs.iter().enumerate() {
            entries.push(wgpu::BindGroupEntry { binding: i as u32 + 1, resource: b.binding() });
        }
        let bind_group = self.device.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some(entry),
            layout: &layout,
            entries: &entries,
        });
        {
            let mut enc = self.encoder.borrow_mut();
            let enc = enc.get_or_insert_with(|| {
                self.device.create_command_encoder(&wgpu::CommandEncoderDescriptor { label: Some("step") })
            });
            // a pass per dispatch: errors inside a pass surface when it ends, so this is what
            // lets them name their kernel. (One pass for all of a submit's dispatches took a fifth
            // to a third off wgpu's CPU time of a step on the noop backend: 0.6–1 ms of `default`'s
            // 2.7–3.7, in interleaved runs of `bench`.)
            let mut profiler = self.profiler.borrow_mut();
            let timestamp_writes = profiler.as_mut().map(|p| p.pass(entry));
            let mut pass = enc.begin_compute_pass(&wgpu::ComputePassDescriptor { label: Some(entry), timestamp_writes });
            pass.set_pipeline(&pipeline);
            pass.set_bind_group(0, &bind_group, &[]);
            pass.dispatch_workgroups(groups[0], groups[1], groups[2]);
        }
        self.dispatched.set(self.dispatched.get() + 1);
        if self.arena_host.borrow().len() >= ARENA_BYTES {
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

    /// Submit what is recorded, after the parameter blocks it reads.
    pub fn flush(&self) {
        let mut host = self.arena_host.borrow_mut();
        if !host.is_empty() {
            self.queue.write_buffer(&self.arena, 0, &host);
            host.clear();
        }
        if let Some(mut enc) = self.encoder.borrow_mut().take() {
            if let Some(p) = self.profiler.borrow().as_ref() {
                p.record_resolve(&mut enc);
            }
            self.queue.submit([enc.finish()]);
        }
        #[cfg(not(target_arch = "wasm32"))]
        if let Some(p) = self.profiler.borrow_mut().as_mut() {
            if let Err(e) = p.collect(&self.device) {
                self.error.lock().unwrap().get_or_insert(format!("profiling: {e:#}"));
            }
        }
    }

    /// Dispatches recorded since this context was built.
    pub fn dispatch_count(&self) -> u64 {
        self.dispatched.get()
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
    pub async fn read_bytes_async(&self, buf: &wgpu::Buffer, offset: u64, bytes: u64) -> Result<Vec<u8>> {
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
        self.copy(buf, offset, &staging, 0, bytes);
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

    /// Whether `matmul` and `bias_grad` split long sums over workgroups (see the field).
    pub fn split_sums(&self) -> bool {
        self.split_sums.get()
    }

    /// Split long sums or not, whatever the adapter (tests run the split path on lavapipe).
    pub fn set_split_sums(&self, on: bool) {
        self.split_sums.set(on);
    }

    /// `words` of scratch (contents undefined) for what one backend call's kernels pass each
    /// other: partial sums, embed_bwd's token index. One buffer, grown when asked for more,
    /// serves every call: wgpu orders each dispatch's writes before later dispatches' reads, and
    /// no call leaves anything in it for another.
    pub fn scratch(&self, words: usize) -> GpuBuf {
        let mut slot = self.scratch.borrow_mut();
        if slot.as_ref().is_none_or(|b| b.len < words) {
            let len = words.max(slot.as_ref().map_or(0, |b| 2 * b.len)).max(1 << 16);
            *slot = Some(GpuBuf { buf: self.storage(len, "scratch"), off: 0, len });
        }
        let b = slot.as_ref().unwrap();
        GpuBuf { buf: b.buf.clone(), off: 0, len: words }
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
