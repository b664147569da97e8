//! Per-kernel GPU time from timestamp queries (`jest-wgpu bench --profile`): every dispatch's
//! compute pass writes a timestamp as it begins and as it ends; each submit resolves them and
//! reads them back (blocking — a profiling run only).
//!
//! Kernel i of a submit is charged end_i − max(begin_i, end_{i−1}): the time the queue moved
//! forward while it ran. (A pass's begin timestamp may be written before the pass before it has
//! finished, so end − begin alone would count the wait for that one as well.) Summed, these
//! are the GPU's busy time over the profiled dispatches.
// (the browser never profiles: only the hooks in `GpuContext` are used there)
#![cfg_attr(target_arch = "wasm32", allow(dead_code))]

use std::collections::BTreeMap;

#[cfg(not(target_arch = "wasm32"))]
use anyhow::{bail, Result};

#[cfg(not(target_arch = "wasm32"))]
use super::context::{GpuContext, FLUSH_EVERY};

#[cfg(not(target_arch = "wasm32"))]
impl GpuContext {
    /// Start timing every dispatch on the GPU (`bench --profile`; each submit then waits for
    /// the GPU). Needs timestamp queries, which most native adapters have.
    pub fn start_profiling(&self) -> Result<()> {
        if !self.device.features().contains(wgpu::Features::TIMESTAMP_QUERY) {
            bail!("adapter {} has no timestamp queries, which kernel profiling needs", self.adapter.name);
        }
        self.flush();
        *self.profiler.borrow_mut() = Some(Profiler::new(&self.device, &self.queue, FLUSH_EVERY));
        Ok(())
    }

    /// Stop profiling: each kernel's GPU time and calls since `start_profiling`, longest first.
    pub fn stop_profiling(&self) -> Result<Vec<KernelTime>> {
        let waited = self.wait(); // (the last submit's timestamps are collected in its flush)
        let profiler = self.profiler.borrow_mut().take(); // stopped, whatever `wait` said
        waited?;
        self.check()?;
        Ok(profiler.map(|p| p.times()).unwrap_or_default())
    }
}

/// Time and calls of one kernel (entry point) over a profiled run.
#[derive(Clone, Debug, PartialEq, serde::Serialize)]
pub struct KernelTime {
    pub kernel: &'static str,
    pub calls: u64,
    pub ns: f64,
}

pub(super) struct Profiler {
    set: wgpu::QuerySet,
    resolve: wgpu::Buffer,
    readback: wgpu::Buffer,
    /// the kernels of the open submit, in dispatch order (pass i writes queries 2i, 2i + 1)
    pending: Vec<&'static str>,
    period_ns: f64,
    totals: BTreeMap<&'static str, (u64, f64)>,
}

impl Profiler {
    /// Room for `max_dispatches` passes a submit.
    pub(super) fn new(device: &wgpu::Device, queue: &wgpu::Queue, max_dispatches: usize) -> Profiler {
        let count = 2 * max_dispatches as u32;
        let bytes = count as u64 * wgpu::QUERY_SIZE as u64;
        let buffer = |label, usage| device.create_buffer(&wgpu::BufferDescriptor { label: Some(label), size: bytes, usage, mapped_at_creation: false });
        Profiler {
            set: device.create_query_set(&wgpu::QuerySetDescriptor { label: Some("kernel timestamps"), ty: wgpu::QueryType::Timestamp, count }),
            resolve: buffer("timestamps", wgpu::BufferUsages::QUERY_RESOLVE | wgpu::BufferUsages::COPY_SRC),
            readback: buffer("timestamps read-back", wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST),
            pending: Vec::with_capacity(max_dispatches),
            period_ns: queue.get_timestamp_period() as f64,
            totals: BTreeMap::new(),
        }
    }

    /// The timestamp writes of the next pass, running `kernel`.
    pub(super) fn pass(&mut self, kernel: &'static str) -> wgpu::ComputePassTimestampWrites<'_> {
        let i = self.pending.len() as u32;
        self.pending.push(kernel);
        wgpu::ComputePassTimestampWrites { query_set: &self.set, beginning_of_pass_write_index: Some(2 * i), end_of_pass_write_index: Some(2 * i + 1) }
    }

    /// Before the submit: resolve this submit's timestamps into the read-back buffer.
    pub(super) fn record_resolve(&self, enc: &mut wgpu::CommandEncoder) {
        let n = 2 * self.pending.len() as u32;
        if n > 0 {
            enc.resolve_query_set(&self.set, 0..n, &self.resolve, 0);
            enc.copy_buffer_to_buffer(&self.resolve, 0, &self.readback, 0, n as u64 * wgpu::QUERY_SIZE as u64);
        }
    }

    /// After the submit: wait for it, read the timestamps and charge each kernel its time.
    #[cfg(not(target_arch = "wasm32"))]
    pub(super) fn collect(&mut self, device: &wgpu::Device) -> anyhow::Result<()> {
        // this submit's kernels, taken whatever happens below (a failed read-back loses them)
        let pending = std::mem::take(&mut self.pending);
        if pending.is_empty() {
            return Ok(());
        }
        let ticks = self.read_ticks(device, 2 * pending.len())?;
        let mut prev_end = 0u64;
        for (i, kernel) in pending.into_iter().enumerate() {
            let (begin, end) = (ticks[2 * i], ticks[2 * i + 1]);
            let start = if i == 0 { begin } else { begin.max(prev_end) };
            let entry = self.totals.entry(kernel).or_insert((0, 0.0));
            entry.0 += 1;
            entry.1 += end.saturating_sub(start) as f64 * self.period_ns;
            prev_end = prev_end.max(end);
        }
        Ok(())
    }

    /// The first `n` resolved timestamps (blocking); the read-back buffer is unmapped again on
    /// every path that mapped it.
    #[cfg(not(target_arch = "wasm32"))]
    fn read_ticks(&self, device: &wgpu::Device, n: usize) -> anyhow::Result<Vec<u64>> {
        let slice = self.readback.slice(..n as u64 * wgpu::QUERY_SIZE as u64);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        device
            .poll(wgpu::PollType::Wait { submission_index: None, timeout: Some(super::context::POLL_TIMEOUT) })
            .map_err(|e| anyhow::anyhow!("GPU stopped answering while profiling ({e})"))?;
        rx.recv()?.map_err(|e| anyhow::anyhow!("reading the kernel timestamps back failed ({e})"))?;
        let ticks = slice.get_mapped_range().map(|view| bytemuck::pod_collect_to_vec(&view));
        self.readback.unmap();
        ticks.map_err(|e| anyhow::anyhow!("mapping the kernel timestamps: {e:?}"))
    }

    /// Kernel times since profiling began, longest first.
    pub(super) fn times(&self) -> Vec<KernelTime> {
        let mut v: Vec<KernelTime> = self.totals.iter().map(|(&kernel, &(calls, ns))| KernelTime { kernel, calls, ns }).collect();
        v.sort_by(|a, b| b.ns.total_cmp(&a.ns).then(a.kernel.cmp(b.kernel)));
        v
    }
}
