//! Dispatch of `shaders/rng.wgsl` (with `rng_core.wgsl` prepended): normals, raw hashes, Gumbel noise.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("rng_core.wgsl", "rng.wgsl");

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    seed: u32,
    stream: u32,
    std: f32,
}

/// One invocation per element of `out`: the entry point `entry` with (n, seed, stream, std).
fn fill(ctx: &GpuContext, entry: &'static str, out: &GpuBuf, seed: u32, stream: u32, std: f32) {
    if out.len == 0 {
        return;
    }
    let p = Params { n: out.len as u32, seed, stream, std };
    ctx.dispatch(&SRC, entry, bytemuck::bytes_of(&p), &[out], groups_1d(out.len, 256));
}

/// out[i] = std · N(0,1) from hash(seed, stream, 2i), hash(seed, stream, 2i+1)
pub fn randn(ctx: &GpuContext, out: &GpuBuf, seed: u32, stream: u32, std: f32) {
    fill(ctx, "randn", out, seed, stream, std)
}

/// out[i] = hash(seed, stream, i) as u32 words (checks GPU/CPU bit-equality of the hash)
pub fn hash_fill(ctx: &GpuContext, out: &GpuBuf, seed: u32, stream: u32) {
    fill(ctx, "hash_fill", out, seed, stream, 0.0)
}

/// out[i] = −ln(−ln u(seed, stream, i)), the sampler's Gumbel noise (checks it against the twin)
pub fn gumbel_fill(ctx: &GpuContext, out: &GpuBuf, seed: u32, stream: u32) {
    fill(ctx, "gumbel_fill", out, seed, stream, 0.0)
}
