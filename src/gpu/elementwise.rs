//! Dispatch of `shaders/elementwise.wgsl`.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("elementwise.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    value: f32,
    _p: [u32; 2],
}

fn run(ctx: &GpuContext, entry: &'static str, n: usize, value: f32, bufs: &[&GpuBuf]) {
    let p = Params { n: n as u32, value, _p: [0; 2] };
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&p), bufs, groups_1d(n, 256));
}

/// x[i] = value   (x [n])
pub fn fill(ctx: &GpuContext, x: &GpuBuf, value: f32) {
    run(ctx, "fill", x.len, value, &[x]);
}
/// dst[i] += src[i]   (dst, src [n])
pub fn add_inplace(ctx: &GpuContext, dst: &GpuBuf, src: &GpuBuf) {
    run(ctx, "add_inplace", dst.len, 0.0, &[dst, src]);
}
/// out[i] = gelu(x[i])   (out, x [n]) — see `Backend::gelu_fwd`
pub fn gelu_fwd(ctx: &GpuContext, out: &GpuBuf, x: &GpuBuf) {
    run(ctx, "gelu_fwd", out.len, 0.0, &[out, x]);
}
/// dx[i] += dy[i] · gelu'(x[i])   (dx, x, dy [n])
pub fn gelu_bwd(ctx: &GpuContext, dx: &GpuBuf, x: &GpuBuf, dy: &GpuBuf) {
    run(ctx, "gelu_bwd", dx.len, 0.0, &[dx, x, dy]);
}
