//! Dispatch of `shaders/tokens.wgsl`: embedding, patchify, area resampling, positional add, mean pooling.

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
    d: u32,
}

/// One invocation per item, `items` of them, 256 per workgroup.
fn run(ctx: &GpuContext, entry: &'static str, items: usize, p: [usize; 3], bufs: &[&GpuBuf]) {
    run4(ctx, entry, items, [p[0], p[1], p[2], 0], bufs)
}

fn run4(ctx: &GpuContext, entry: &'static str, items: usize, p: [usize; 4], bufs: &[&GpuBuf]) {
    if items == 0 {
        return;
    }
    let params = Params { a: p[0] as u32, b: p[1] as u32, c: p[2] as u32, d: p[3] as u32 };
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&params), bufs, groups_1d(items, 256));
}

/// out [n_tok, c] = table[tokens]; tokens u32 [n_tok]; table [vocab, c]
pub fn embed_fwd(ctx: &GpuContext, out: &GpuBuf, tokens: &GpuBuf, table: &GpuBuf, n_tok: usize, c: usize) {
    run(ctx, "embed_fwd", n_tok * c, [n_tok, c, 0], &[out, tokens, table]);
}

/// dtable [vocab, c] += scatter of dout [n_tok, c] by tokens u32 [n_tok]: the tokens indexed
/// by vocabulary row (scratch), then each row's sum — see `cpu::tokens::embed_bwd_index`.
pub fn embed_bwd(ctx: &GpuContext, dtable: &GpuBuf, tokens: &GpuBuf, dout: &GpuBuf, n_tok: usize, c: usize, vocab: usize) {
    let idx = ctx.scratch(vocab + 1 + n_tok);
    embed_bwd_index(ctx, &idx, tokens, n_tok, vocab);
    run(ctx, "embed_bwd", vocab * c, [n_tok, c, vocab], &[dtable, &idx, dout]);
}

/// idx u32 [vocab + 1 + n_tok] = [start[0..=vocab] | order]: start[v] = #{j : tokens[j] < v},
/// order[start[v]..start[v+1]] = the positions of v in tokens, ascending; the order's last
/// words, one per token ≥ vocab, are left as they were (the twin leaves them 0).
pub fn embed_bwd_index(ctx: &GpuContext, idx: &GpuBuf, tokens: &GpuBuf, n_tok: usize, vocab: usize) {
    run(ctx, "embed_bwd_start", vocab + 1, [n_tok, 0, vocab], &[idx, tokens]);
    run(ctx, "embed_bwd_order", n_tok, [n_tok, 0, vocab], &[idx, tokens]);
}

/// out [n, (s/p)², p·p·3] from images [n, s, s, 3]
pub fn patchify(ctx: &GpuContext, out: &GpuBuf, images: &GpuBuf, n: usize, s: usize, p: usize) {
    let g = s / p.max(1);
    run(ctx, "patchify", n * g * g * p * p * 3, [n, s, p], &[out, images]);
}

/// out [n, s_out, s_out, ch] = area resampling of x [n, s_in, s_in, ch]
pub fn area_resize_fwd(ctx: &GpuContext, out: &GpuBuf, x: &GpuBuf, n: usize, s_in: usize, s_out: usize, ch: usize) {
    run4(ctx, "area_resize_fwd", n * s_out * s_out * ch, [n, s_in, s_out, ch], &[out, x]);
}

/// dx [n, s_in, s_in, ch] += the transpose of the resampling applied to dout [n, s_out, s_out, ch]
pub fn area_resize_bwd(ctx: &GpuContext, dx: &GpuBuf, dout: &GpuBuf, n: usize, s_in: usize, s_out: usize, ch: usize) {
    run4(ctx, "area_resize_bwd", n * s_in * s_in * ch, [n, s_in, s_out, ch], &[dx, dout]);
}

/// x [n, t, c] += pos [t, c]
pub fn add_pos_fwd(ctx: &GpuContext, x: &GpuBuf, pos: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "add_pos_fwd", n * t * c, [n, t, c], &[x, pos]);
}

/// dpos [t, c] += Σ_i dx [n, t, c]
pub fn add_pos_bwd(ctx: &GpuContext, dpos: &GpuBuf, dx: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "add_pos_bwd", t * c, [n, t, c], &[dpos, dx]);
}

/// out [n, c] = masked mean over t of x [n, t, c]; lens u32 [n]
pub fn mean_pool_fwd(ctx: &GpuContext, out: &GpuBuf, x: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "mean_pool_fwd", n * c, [n, t, c], &[out, x, lens]);
}

/// dx [n, t, c] += dout [n, c] / len for valid positions; lens u32 [n]
pub fn mean_pool_bwd(ctx: &GpuContext, dx: &GpuBuf, dout: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize) {
    run(ctx, "mean_pool_bwd", n * t * c, [n, t, c], &[dx, dout, lens]);
}
