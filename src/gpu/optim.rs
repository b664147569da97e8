//! Dispatch of `shaders/optim.wgsl`: sumsq (global grad norm²) and AdamW.

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

/// acc[0] += Σ x²
pub fn sumsq(ctx: &GpuContext, acc: &GpuBuf, x: &GpuBuf) {
    if x.len == 0 {
        return;
    }
    let p = params(&bytemuck::Zeroable::zeroed(), x.len);
    ctx.dispatch(&SRC, "sumsq", bytemuck::bytes_of(&p), &[&acc.buf, &x.buf], [1, 1, 1]);
}

/// One AdamW step on param with grad, moments m, v and gnorm2 [1] — see `Backend::adamw`.
pub fn adamw(ctx: &GpuContext, param: &GpuBuf, grad: &GpuBuf, m: &GpuBuf, v: &GpuBuf, gnorm2: &GpuBuf, hp: &AdamHp) {
    if param.len == 0 {
        return;
    }
    let p = params(hp, param.len);
    ctx.dispatch(&SRC, "adamw", bytemuck::bytes_of(&p), &[&param.buf, &grad.buf, &m.buf, &v.buf, &gnorm2.buf], groups_1d(param.len, 256));
}
