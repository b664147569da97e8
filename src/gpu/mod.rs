//! The GPU backend: every kernel as WGSL in `shaders/`, dispatched through one `GpuContext`.

pub mod adapter;
pub mod attention;
pub mod context;
pub mod elementwise;
pub mod loss;
pub mod matmul;
pub mod norm;
pub mod optim;
pub mod profile;
pub mod rng;
pub mod select;
pub mod tokens;

use std::rc::Rc;

use anyhow::Result;

#[cfg(not(target_arch = "wasm32"))]
pub use adapter::list_adapters;
pub use adapter::AdapterSummary;
pub use context::{GpuContext, Shader};

use crate::backend::{AdamHp, Backend, BackendKind, ScoreMode};

/// A device buffer of `len` 4-byte words, `off` words into `buf`: a whole buffer (off = 0), or a
/// view into one made by `Backend::view` (the parameters' flat buffers), its offset a multiple
/// of the adapter's storage-binding alignment. Kernels see only the `len` words from `off`.
#[derive(Clone, Debug)]
pub struct GpuBuf {
    pub buf: wgpu::Buffer,
    pub off: usize,
    pub len: usize,
}

impl GpuBuf {
    /// The storage binding of exactly these words (one word for an empty buffer, which
    /// `zeros` gives a word and no kernel dispatches over).
    pub fn binding(&self) -> wgpu::BindingResource<'_> {
        wgpu::BindingResource::Buffer(wgpu::BufferBinding {
            buffer: &self.buf,
            offset: self.off as u64 * 4,
            size: wgpu::BufferSize::new(self.len.max(1) as u64 * 4),
        })
    }
}

/// Runs every kernel through wgpu.
#[derive(Clone)]
pub struct GpuBackend {
    pub ctx: Rc<GpuContext>,
}

impl GpuBackend {
    pub fn new(ctx: GpuContext) -> GpuBackend {
        GpuBackend { ctx: Rc::new(ctx) }
    }
    /// Open the best adapter, software ones included (blocking; native).
    #[cfg(not(target_arch = "wasm32"))]
    pub fn open() -> Result<GpuBackend> {
        Ok(GpuBackend::new(GpuContext::new_blocking(true)?))
    }

    /// `buf`'s first words = `bytes` (4 a word), after the work recorded so far.
    fn write_words(&self, buf: &GpuBuf, bytes: &[u8]) {
        // (a view sits between other tensors: wgpu's own bounds check no longer covers it)
        let words = bytes.len() / 4;
        assert!(words <= buf.len, "write of {words} words into a buffer of {}", buf.len);
        // keep ordering with recorded work: submit what is queued first
        self.ctx.flush();
        if !bytes.is_empty() {
            self.ctx.queue.write_buffer(&buf.buf, buf.off as u64 * 4, bytes);
        }
    }
}

impl Backend for GpuBackend {
    type Buf = GpuBuf;

    fn kind(&self) -> BackendKind {
        BackendKind::Gpu
    }
    fn adapter_name(&self) -> String {
        format!("{} ({})", self.ctx.adapter.name, self.ctx.adapter.backend)
    }
    fn max_buffer_bytes(&self) -> u64 {
        self.ctx.limits.max_storage_buffer_binding_size.min(self.ctx.limits.max_buffer_size)
    }

    fn zeros(&self, len: usize) -> GpuBuf {
        GpuBuf { buf: self.ctx.storage(len, "tensor"), off: 0, len }
    }
    fn upload(&self, data: &[f32]) -> GpuBuf {
        let b = self.zeros(data.len());
        self.write(&b, data);
        b
    }
    fn upload_u32(&self, data: &[u32]) -> GpuBuf {
        let b = self.zeros(data.len());
        self.write_u32(&b, data);
        b
    }
    fn write(&self, buf: &GpuBuf, data: &[f32]) {
        self.write_words(buf, bytemuck::cast_slice(data));
    }
    fn write_u32(&self, buf: &GpuBuf, data: &[u32]) {
        self.write_words(buf, bytemuck::cast_slice(data));
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn read(&self, buf: &GpuBuf) -> Result<Vec<f32>> {
        pollster::block_on(self.read_async(buf))
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn read_u32(&self, buf: &GpuBuf) -> Result<Vec<u32>> {
        pollster::block_on(self.read_u32_async(buf))
    }
    #[cfg(target_arch = "wasm32")]
    fn read(&self, _buf: &GpuBuf) -> Result<Vec<f32>> {
        anyhow::bail!("synchronous read-back is not available in the browser; use Backend::read_async")
    }
    #[cfg(target_arch = "wasm32")]
    fn read_u32(&self, _buf: &GpuBuf) -> Result<Vec<u32>> {
        anyhow::bail!("synchronous read-back is not available in the browser; use Backend::read_async")
    }
    async fn read_async(&self, buf: &GpuBuf) -> Result<Vec<f32>> {
        let bytes = self.ctx.read_bytes_async(&buf.buf, buf.off as u64 * 4, buf.len as u64 * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
    async fn read_u32_async(&self, buf: &GpuBuf) -> Result<Vec<u32>> {
        let bytes = self.ctx.read_bytes_async(&buf.buf, buf.off as u64 * 4, buf.len as u64 * 4).await?;
        Ok(bytemuck::pod_collect_to_vec(&bytes))
    }
    fn len(&self, buf: &GpuBuf) -> usize {
        buf.len
    }
    fn view_align(&self) -> Option<usize> {
        Some((self.ctx.limits.min_storage_buffer_offset_alignment as usize / 4).max(1))
    }
    fn view(&self, whole: &GpuBuf, off: usize, len: usize) -> GpuBuf {
        let align = self.view_align().unwrap_or(1);
        assert!(off.is_multiple_of(align), "view at word {off} is not a multiple of the adapter's alignment ({align} words)");
        assert!(off + len <= whole.len, "view [{off}, {}) is past the buffer's {} words", off + len, whole.len);
        GpuBuf { buf: whole.buf.clone(), off: whole.off + off, len }
    }
    fn copy(&self, dst: &GpuBuf, dst_off: usize, src: &GpuBuf, src_off: usize, len: usize) {
        assert!(src_off + len <= src.len.max(1) && dst_off + len <= dst.len.max(1), "copy of {len} words from [{src_off}..] of {} words to [{dst_off}..] of {}", src.len, dst.len);
        let (src_at, dst_at, bytes) = ((src.off + src_off) as u64 * 4, (dst.off + dst_off) as u64 * 4, len as u64 * 4);
        if src.buf == dst.buf && len > 0 {
            // WebGPU copies never stay within one buffer (two views of a flat one): go through a
            // temporary buffer
            let tmp = self.ctx.storage(len, "copy within a buffer");
            self.ctx.copy(&src.buf, src_at, &tmp, 0, bytes);
            self.ctx.copy(&tmp, 0, &dst.buf, dst_at, bytes);
        } else {
            self.ctx.copy(&src.buf, src_at, &dst.buf, dst_at, bytes);
        }
    }
    #[cfg(not(target_arch = "wasm32"))]
    fn sync(&self) -> Result<()> {
        self.ctx.wait()
    }
    #[cfg(target_arch = "wasm32")]
    fn sync(&self) -> Result<()> {
        self.ctx.flush();
        self.ctx.check()
    }

    fn fill(&self, x: &GpuBuf, value: f32) {
        elementwise::fill(&self.ctx, x, value)
    }
    fn add_inplace(&self, dst: &GpuBuf, src: &GpuBuf) {
        elementwise::add_inplace(&self.ctx, dst, src)
    }
    fn gelu_fwd(&self, out: &GpuBuf, x: &GpuBuf) {
        elementwise::gelu_fwd(&self.ctx, out, x)
    }
    fn gelu_bwd(&self, dx: &GpuBuf, x: &GpuBuf, dy: &GpuBuf) {
        elementwise::gelu_bwd(&self.ctx, dx, x, dy)
    }

    fn matmul(&self, c: &GpuBuf, a: &GpuBuf, b: &GpuBuf, bias: Option<&GpuBuf>, m: usize, k: usize, n: usize, ta: bool, tb: bool, acc: bool) {
        matmul::matmul(&self.ctx, c, a, b, bias, m, k, n, ta, tb, acc)
    }
    fn bias_grad(&self, db: &GpuBuf, dy: &GpuBuf, m: usize, n: usize) {
        matmul::bias_grad(&self.ctx, db, dy, m, n)
    }

    fn layernorm_fwd(&self, out: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf, x: &GpuBuf, w: &GpuBuf, b: &GpuBuf, rows: usize, cols: usize) {
        norm::layernorm_fwd(&self.ctx, out, mean, rstd, x, w, b, rows, cols)
    }
    fn layernorm_bwd(&self, dx: &GpuBuf, dw: &GpuBuf, db: &GpuBuf, dy: &GpuBuf, x: &GpuBuf, mean: &GpuBuf, rstd: &GpuBuf, w: &GpuBuf, rows: usize, cols: usize) {
        norm::layernorm_bwd(&self.ctx, dx, dw, db, dy, x, mean, rstd, w, rows, cols)
    }
    fn l2norm_fwd(&self, out: &GpuBuf, nrm: &GpuBuf, x: &GpuBuf, rows: usize, cols: usize) {
        norm::l2norm_fwd(&self.ctx, out, nrm, x, rows, cols)
    }
    fn l2norm_bwd(&self, dx: &GpuBuf, dout: &GpuBuf, out: &GpuBuf, nrm: &GpuBuf, rows: usize, cols: usize) {
        norm::l2norm_bwd(&self.ctx, dx, dout, out, nrm, rows, cols)
    }

    fn embed_fwd(&self, out: &GpuBuf, tok: &GpuBuf, table: &GpuBuf, n_tok: usize, c: usize) {
        tokens::embed_fwd(&self.ctx, out, tok, table, n_tok, c)
    }
    fn embed_bwd(&self, dtable: &GpuBuf, tok: &GpuBuf, dout: &GpuBuf, n_tok: usize, c: usize, vocab: usize) {
        tokens::embed_bwd(&self.ctx, dtable, tok, dout, n_tok, c, vocab)
    }
    fn patchify(&self, out: &GpuBuf, images: &GpuBuf, n: usize, s: usize, p: usize) {
        tokens::patchify(&self.ctx, out, images, n, s, p)
    }
    fn area_resize_fwd(&self, out: &GpuBuf, x: &GpuBuf, n: usize, s_in: usize, s_out: usize, ch: usize) {
        tokens::area_resize_fwd(&self.ctx, out, x, n, s_in, s_out, ch)
    }
    fn area_resize_bwd(&self, dx: &GpuBuf, dout: &GpuBuf, n: usize, s_in: usize, s_out: usize, ch: usize) {
        tokens::area_resize_bwd(&self.ctx, dx, dout, n, s_in, s_out, ch)
    }
    fn add_pos_fwd(&self, x: &GpuBuf, pos: &GpuBuf, n: usize, t: usize, c: usize) {
        tokens::add_pos_fwd(&self.ctx, x, pos, n, t, c)
    }
    fn add_pos_bwd(&self, dpos: &GpuBuf, dx: &GpuBuf, n: usize, t: usize, c: usize) {
        tokens::add_pos_bwd(&self.ctx, dpos, dx, n, t, c)
    }
    fn mean_pool_fwd(&self, out: &GpuBuf, x: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize) {
        tokens::mean_pool_fwd(&self.ctx, out, x, lens, n, t, c)
    }
    fn mean_pool_bwd(&self, dx: &GpuBuf, dout: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize) {
        tokens::mean_pool_bwd(&self.ctx, dx, dout, lens, n, t, c)
    }

    fn attention_fwd(&self, out: &GpuBuf, att: &GpuBuf, qkv: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize, heads: usize) {
        attention::attention_fwd(&self.ctx, out, att, qkv, lens, n, t, c, heads)
    }
    fn attention_bwd(&self, dqkv: &GpuBuf, datt: &GpuBuf, dout: &GpuBuf, qkv: &GpuBuf, att: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize, heads: usize) {
        attention::attention_bwd(&self.ctx, dqkv, datt, dout, qkv, att, lens, n, t, c, heads)
    }

    fn siglip_loss(&self, lmat: &GpuBuf, dsims: &GpuBuf, stats: &GpuBuf, sims: &GpuBuf, tb: &GpuBuf, b: usize) {
        loss::siglip_loss(&self.ctx, lmat, dsims, stats, sims, tb, b)
    }

    fn sumsq(&self, acc: &GpuBuf, x: &GpuBuf) {
        optim::sumsq(&self.ctx, acc, x)
    }
    fn adamw(&self, param: &GpuBuf, grad: &GpuBuf, m: &GpuBuf, v: &GpuBuf, gnorm2: &GpuBuf, hp: &AdamHp) {
        optim::adamw(&self.ctx, param, grad, m, v, gnorm2, hp)
    }

    fn score_matrix(&self, a: &GpuBuf, u_l: &GpuBuf, v_l: &GpuBuf, tb_l: &GpuBuf, u_r: &GpuBuf, v_r: &GpuBuf, tb_r: &GpuBuf, bsz: usize, d: usize, mode: ScoreMode, gain: f32) {
        select::score_matrix(&self.ctx, a, u_l, v_l, tb_l, u_r, v_r, tb_r, bsz, d, mode, gain)
    }
    fn joint_sample(&self, idx: &GpuBuf, a: &GpuBuf, sums: &GpuBuf, bsz: usize, b: usize, chunks: usize, joint: bool, seed: u32, step: u32) {
        select::joint_sample(&self.ctx, idx, a, sums, bsz, b, chunks, joint, seed, step)
    }
    fn gather_rows(&self, out: &GpuBuf, src: &GpuBuf, idx: &GpuBuf, rows: usize, width: usize) {
        select::gather_rows(&self.ctx, out, src, idx, rows, width)
    }

    fn randn(&self, out: &GpuBuf, seed: u32, stream: u32, std: f32) {
        rng::randn(&self.ctx, out, seed, stream, std)
    }
}

/// Every WGSL program the library compiles (validated by naga in the tests).
pub fn all_shaders() -> Vec<Shader> {
    vec![
        elementwise::SRC,
        matmul::SRC,
        norm::SRC,
        tokens::SRC,
        attention::SRC,
        loss::SRC,
        optim::SRC,
        rng::SRC,
        select::SCORES,
        select::SAMPLER,
        select::GATHER,
    ]
}
