//! Dispatch of `shaders/tokens.wgsl`: embedding, patchify, downsampling, positional add, mean pooling.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("tokens.wgsl");

/// Four u32 parameters; their meaning per entry point is listed in `tokens.wgsl`.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    a: u32,
    b: u32,
    c: u32,
    _pad: u32,
}

/// One invocation per item, `items` of them, 256 per workgroup.
fn run(ctx: &GpuContext, entry: &'static str, items: usize, p: [usize; 3], bufs: &[&wgpu::Buffer]) {
    if items == 0 {
        return;
    }
    let params = Params { a: p[0] as u32, b: p[1] as u32, c: p[2] as u32, _pad: 0 };
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&params), bufs, groups_1d(items, 256));
}

/// out [n_tok, c] = table[tokens]; tokens u32 [n_tok]; table [vocab, c]
pub fn embed_fwd(ctx: &GpuContext, out: &GpuBuf, tokens: &GpuBuf, table: &GpuBuf, n_tok: usize, c: usize) {
    run(ctx, "embed_fwd", n_tok * c, [n_tok, c, 0], &[&out.buf, &tokens.buf, &table.buf]);
}

/// dtable [vocab, c] += scatter of dout [n_tok, c] by tokens u32 [n_tok]
pub fn embed_bwd(ctx: &GpuContext, dtable: &GpuBuf, tokens: &GpuBuf, dout: &GpuBuf, n_tok: usize, c: usize, vocab: usize) {
    run(ctx, "embed_bwd", vocab * c, [n_tok, c, vocab], &[&dtable.buf, &tokens.buf, &dout.buf]);
}

/// out [n, (s/p)², p·p·3] from images [n, s, s, 3]
pub fn patchify(ctx: &GpuContext, out: &GpuBuf, images: &GpuBuf, n: usize, s: usize, p: usize) {
    let g = s / p.max(1);
    run(ctx, "patchify", n * g * g * p * p * 3, [n, s, p], &[&out.buf, &images.buf]);
}

/// out [n, s/2, s/2, 3] = 2×2 average of images [n, s, s, 3]
pub fn downsample2x(ctx: &GpuContext, out: &GpuBuf, images: &GpuBuf, n: usize, s: usize) {
    let h = s / 2;
    run(ctx, "downsample2x", n * h * h * 3, [n, s, 0], &[&out.buf, &images.buf]);
}

/// x [n, t, c] += pos [t, c]
pub fn add_pos_fwd(ctx: &GpuContext, x: &GpuBuf, pos: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "add_pos_fwd", n * t * c, [n, t, c], &[&x.buf, &pos.buf]);
}

/// dpos [t, c] += Σ_i dx [n, t, c]
pub fn add_pos_bwd(ctx: &GpuContext, dpos: &GpuBuf, dx: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "add_pos_bwd", t * c, [n, t, c], &[&dpos.buf, &dx.buf]);
}

/// out [n, c] = masked mean over t of x [n, t, c]; lens u32 [n]
pub fn mean_pool_fwd(ctx: &GpuContext, out: &GpuBuf, x: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "mean_pool_fwd", n * c, [n, t, c], &[&out.buf, &x.buf, &lens.buf]);
}

/// dx [n, t, c] += dout [n, c] / len for valid positions; lens u32 [n]
pub fn mean_pool_bwd(ctx: &GpuContext, dx: &GpuBuf, dout: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "mean_pool_bwd", n * t * c, [n, t, c], &[&dx.buf, &dout.buf, &lens.buf]);
}

/// out [(g/2)², c] = 2×2 average of the g×g positional grid pos [g·g, c]
pub fn pos_pool2x_fwd(ctx: &GpuContext, out: &GpuBuf, pos: &GpuBuf, g: usize, c: usize) {
    run(ctx, "pos_pool2x_fwd", (g / 2) * (g / 2) * c, [g, c, 0], &[&out.buf, &pos.buf]);
}

/// dpos [g·g, c] += ¼ dlow of the cell each position was pooled into
pub fn pos_pool2x_bwd(ctx: &GpuContext, dpos: &GpuBuf, dlow: &GpuBuf, g: usize, c: usize) {
    run(ctx, "pos_pool2x_bwd", g * g * c, [g, c, 0], &[&dpos.buf, &dlow.buf]);
}
