//! Dispatch of `shaders/optim.wgsl`: sumsq (global grad norm², split over workgroups for a
//! flat buffer) and AdamW.

use super::context::{groups_1d, shader, GpuContext, Shader};
use super::GpuBuf;
use crate::backend::AdamHp;

pub const SRC: Shader = shader!("optim.wgsl");

/// The uniform block: AdamHp (48 bytes) then the element count.
#[repr(C)]
#[derive(Clone, Copy, bytemuck::Pod, bytemuck::Zeroable)]
struct Params {
    hp: AdamHp,
    n: u32,
    _p: [u32; 3],
}

const _: () = assert!(std::mem::size_of::<AdamHp>() == 48);

fn params(hp: &AdamHp, n: usize) -> Params {
    Params { hp: *hp, n: n as u32, _p: [0; 3] }
}

/// Above this many words `sumsq` splits the sum over workgroups (one workgroup would walk a
/// flat buffer of every gradient alone).
pub const SUMSQ_ONE_GROUP_MAX: usize = 1 << 16;

/// Workgroups of `sumsq_partial` for n words: at least 16 words a thread, at most 256 groups.
pub fn sumsq_groups(n: usize) -> usize {
    n.div_ceil(256 * 16).clamp(1, 256)
}

/// acc[0] += Σ x² — one dispatch for up to `SUMSQ_ONE_GROUP_MAX` words, else `sumsq_partial`
/// into `sumsq_groups(n)` partial sums and `sum_into` (two dispatches).
pub fn sumsq(ctx: &GpuContext, acc: &GpuBuf, x: &GpuBuf) {
    if x.len == 0 {
        return;
    }
    if x.len <= SUMSQ_ONE_GROUP_MAX {
        let p = params(&bytemuck::Zeroable::zeroed(), x.len);
        ctx.dispatch(&SRC, "sumsq", bytemuck::bytes_of(&p), &[acc, x], [1, 1, 1]);
        return;
    }
    let g = sumsq_groups(x.len);
    let partials = ctx.scratch(g);
    sumsq_partial(ctx, &partials, x);
    sum_into(ctx, acc, &partials);
}

/// partials[w] = Σ x[i]² over the words of workgroup w of `partials.len` (grid-stride, 256 a
/// step) — see `cpu::optim::sumsq_partials`.
pub fn sumsq_partial(ctx: &GpuContext, partials: &GpuBuf, x: &GpuBuf) {
    let p = params(&bytemuck::Zeroable::zeroed(), x.len);
    ctx.dispatch(&SRC, "sumsq_partial", bytemuck::bytes_of(&p), &[partials, x], [partials.len as u32, 1, 1]);
}

/// acc[0] += Σ x[i]   (one workgroup)
pub fn sum_into(ctx: &GpuContext, acc: &GpuBuf, x: &GpuBuf) {
    let p = params(&bytemuck::Zeroable::zeroed(), x.len);
    ctx.dispatch(&SRC, "sum_into", bytemuck::bytes_of(&p), &[acc, x], [1, 1, 1]);
}

/// One AdamW step on param with grad, moments m, v and gnorm2 [1] — see `Backend::adamw`.
pub fn adamw(ctx: &GpuContext, param: &GpuBuf, grad: &GpuBuf, m: &GpuBuf, v: &GpuBuf, gnorm2: &GpuBuf, hp: &AdamHp) {
    if param.len == 0 {
        return;
    }
    let p = params(hp, param.len);
    ctx.dispatch(&SRC, "adamw", bytemuck::bytes_of(&p), &[param, grad, m, v, gnorm2], groups_1d(param.len, 256));
}
