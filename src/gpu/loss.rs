//! Dispatch of `shaders/loss.wgsl`: per-pair loss and gradient, then a one-workgroup reduction.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("loss.wgsl");

/// lmat, dsims [b,b], stats [3] from sims [b,b] and tb = [t′, β] — see `Backend::siglip_loss`.
pub fn siglip_loss(ctx: &GpuContext, lmat: &GpuBuf, dsims: &GpuBuf, stats: &GpuBuf, sims: &GpuBuf, tb: &GpuBuf, b: usize) {
    if b == 0 {
        return;
    }
    let p = [b as u32, 0, 0, 0];
    ctx.dispatch(&SRC, "siglip_pairs", bytemuck::cast_slice(&p), &[lmat, dsims, sims, tb], groups_1d(b * b, 256));
    ctx.dispatch(&SRC, "siglip_reduce", bytemuck::cast_slice(&p), &[stats, sims, tb], [1, 1, 1]);
}
