//! Dispatch of `shaders/attention.wgsl`: forward, and the two-pass deterministic backward.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;

pub const SRC: Shader = shader!("attention.wgsl");

/// Longest sequence the kernels handle (private per-invocation arrays of this size).
pub const MAX_T: usize = 128;

#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    n: u32,
    t: u32,
    c: u32,
    heads: u32,
    hd: u32,
    scale: f32,
    _p: [u32; 2],
}

fn params(n: usize, t: usize, c: usize, heads: usize) -> Params {
    assert!(t <= MAX_T, "attention: t={t} exceeds {MAX_T}");
    assert!(heads > 0 && c.is_multiple_of(heads), "attention: c={c} not divisible by heads={heads}");
    let hd = c / heads;
    Params { n: n as u32, t: t as u32, c: c as u32, heads: heads as u32, hd: hd as u32, scale: 1.0 / (hd as f32).sqrt(), _p: [0; 2] }
}

/// out [n,t,c], att [n,heads,t,t] from qkv [n,t,3c] and lens u32 [n] — see `Backend::attention_fwd`.
#[allow(clippy::too_many_arguments)]
pub fn attention_fwd(ctx: &GpuContext, out: &GpuBuf, att: &GpuBuf, qkv: &GpuBuf, lens: &GpuBuf, n: usize, t: usize, c: usize, heads: usize) {
    let p = params(n, t, c, heads);
    if n * t == 0 {
        return;
    }
    let groups = groups_1d(n * heads * t, 64);
    ctx.dispatch(&SRC, "attention_fwd", bytemuck::bytes_of(&p), &[out, att, qkv, lens], groups);
}

/// dqkv [n,t,3c] += ∂/∂qkv; datt [n,heads,t,t] ← ∂ℓ/∂scores — see `Backend::attention_bwd`.
#[allow(clippy::too_many_arguments)]
pub fn attention_bwd(
    ctx: &GpuContext,
    dqkv: &GpuBuf,
    datt: &GpuBuf,
    dout: &GpuBuf,
    qkv: &GpuBuf,
    att: &GpuBuf,
    lens: &GpuBuf,
    n: usize,
    t: usize,
    c: usize,
    heads: usize,
) {
    let p = params(n, t, c, heads);
    if n * t == 0 {
        return;
    }
    let groups = groups_1d(n * heads * t, 64);
    let bufs = [dqkv, datt, dout, qkv, att, lens];
    ctx.dispatch(&SRC, "attention_bwd_q", bytemuck::bytes_of(&p), &bufs, groups);
    ctx.dispatch(&SRC, "attention_bwd_kv", bytemuck::bytes_of(&p), &bufs, groups);
}
